//! Bad input: every rule is an `InvalidInput` naming the rule, and nothing is written.

use super::*;
use crate::{
    parse_duration, BatchError, Direction, Error, Limits, Mutation, Namespace, PatchOp,
    Precondition, Result, Rule, Scan, TrimTo, Ttl, Value,
};
use serde_json::json;
use std::fmt::Debug;
use std::future::Future;
use std::time::Duration;

const LEASE_TTL: Duration = Duration::from_secs(10);

/// Panics unless `r` resolves to `InvalidInput(rule)` and the store's LSN did not move.
async fn refused<T: Debug>(env: &Env, rule: Rule, what: &str, r: impl Future<Output = Result<T>>) {
    let before = env.last_lsn().await;
    match r.await {
        Err(Error::InvalidInput { rule: got, detail }) if got == rule => {
            assert!(!detail.is_empty(), "{what}: the error explains itself");
            let msg = Error::InvalidInput {
                rule: got,
                detail: detail.clone(),
            }
            .to_string();
            assert!(
                msg.contains(&rule.to_string()),
                "{what}: {msg} names {rule}"
            );
        }
        other => panic!("{what}: expected InvalidInput({rule}), got {other:?}"),
    }
    assert_eq!(env.last_lsn().await, before, "{what}: nothing written");
}

/// Panics unless the batch fails at `index` with `InvalidInput(rule)`, writing nothing.
async fn refused_batch(env: &Env, rule: Rule, index: usize, what: &str, ms: Vec<Mutation>) {
    let before = env.last_lsn().await;
    match env.store.batch(ms).await {
        Err(BatchError {
            index: i,
            error: Error::InvalidInput { rule: got, .. },
        }) if got == rule && i == index => {}
        other => {
            panic!("{what}: expected batch error {index}: InvalidInput({rule}), got {other:?}")
        }
    }
    assert_eq!(env.last_lsn().await, before, "{what}: nothing written");
}

/// Panics unless the store holds nothing at all.
async fn assert_empty(env: &Env) {
    let st = env.store.stats(&Namespace::root()).await.unwrap();
    assert_eq!(st.namespaces, vec![], "nothing was written");
    assert_eq!(st.last_lsn, 0, "no LSN was assigned");
    assert!(env.store.changes(0, 10).await.unwrap().is_empty());
}

/// Every entry point that takes a namespace refuses `bad` with `rule`.
async fn refuse_namespace(env: &Env, bad: &Namespace, rule: Rule) {
    let s = &env.store;
    let w = |op: &str| format!("{op} in {bad:?}");
    let v = jv(json!(1));
    refused(env, rule, &w("put"), s.put(bad, "k", v.clone())).await;
    refused(
        env,
        rule,
        &w("put_if"),
        s.put_if(bad, "k", v.clone(), Precondition::IfAbsent),
    )
    .await;
    refused(
        env,
        rule,
        &w("delete"),
        s.delete(bad, "k", Precondition::Any),
    )
    .await;
    refused(
        env,
        rule,
        &w("patch"),
        s.patch(bad, "k", PatchOp::Merge(json!({})), Precondition::Any),
    )
    .await;
    refused(
        env,
        rule,
        &w("append"),
        s.append(bad, "s", vec![v.clone()], None),
    )
    .await;
    refused(env, rule, &w("trim"), s.trim(bad, "s", TrimTo::KeepLast(1))).await;
    refused(env, rule, &w("delete_stream"), s.delete_stream(bad, "s")).await;
    refused(
        env,
        rule,
        &w("acquire_lease"),
        s.acquire_lease(bad, "l", "me", LEASE_TTL),
    )
    .await;
    refused(
        env,
        rule,
        &w("renew_lease"),
        s.renew_lease(bad, "l", 1, LEASE_TTL),
    )
    .await;
    refused(env, rule, &w("release_lease"), s.release_lease(bad, "l", 1)).await;
    refused(
        env,
        rule,
        &w("set_namespace_ttl"),
        s.set_namespace_ttl(bad, Some(LEASE_TTL)),
    )
    .await;
    refused_batch(
        env,
        rule,
        1,
        &w("batch"),
        vec![
            Mutation::put(ns(&["ok"]), "k", v.clone()),
            Mutation::put(bad.clone(), "k", v.clone()),
        ],
    )
    .await;
    let r = s
        .write_many(vec![
            Mutation::put(bad.clone(), "k", v.clone()),
            Mutation::delete(bad.clone(), "k"),
        ])
        .await
        .expect("write_many reports per item");
    for x in r {
        refused(env, rule, &w("write_many"), async { x }).await;
    }
    refused(env, rule, &w("get"), s.get(bad, "k")).await;
    refused(
        env,
        rule,
        &w("get_many"),
        s.get_many(&[(ns(&["ok"]), "k".into()), (bad.clone(), "k".into())]),
    )
    .await;
    refused(
        env,
        rule,
        &w("scan"),
        s.scan(&Scan {
            ns: bad.clone(),
            limit: 10,
            ..Default::default()
        }),
    )
    .await;
    refused(
        env,
        rule,
        &w("read_stream"),
        s.read_stream(bad, "s", None, Direction::Forward, 10),
    )
    .await;
    refused(env, rule, &w("stream_info"), s.stream_info(bad, "s")).await;
    refused(env, rule, &w("get_lease"), s.get_lease(bad, "l")).await;
    if rule != Rule::NamespaceEmpty {
        // Prefixes follow the same rules, except that the root is a valid prefix.
        refused(
            env,
            rule,
            &w("recursive scan"),
            s.scan(&Scan {
                ns: bad.clone(),
                recursive: true,
                limit: 10,
                ..Default::default()
            }),
        )
        .await;
        refused(
            env,
            rule,
            &w("list_namespaces"),
            s.list_namespaces(bad, None, 10, None),
        )
        .await;
        refused(env, rule, &w("stats"), s.stats(bad)).await;
        refused(env, rule, &w("namespace_ttls"), s.namespace_ttls(bad)).await;
    }
}

/// Namespace rules: empty, too deep, empty segment, segment too long, bad characters.
pub async fn invalid_namespaces(make: &dyn MakeStore) {
    let env = Env::new(make).await;
    let long = "x".repeat(129);
    let deep: Vec<String> = (0..17).map(|i| format!("d{i}")).collect();
    let cases: Vec<(Namespace, Rule)> = vec![
        (Namespace::root(), Rule::NamespaceEmpty),
        (Namespace::new(deep), Rule::NamespaceDepth),
        (ns(&["t", ""]), Rule::SegmentEmpty),
        (ns(&["", "t"]), Rule::SegmentEmpty),
        (ns(&["t", &long]), Rule::SegmentLength),
        (ns(&["a/b"]), Rule::SegmentCharacters),
        (ns(&["t", "/"]), Rule::SegmentCharacters),
        (ns(&["t", ".."]), Rule::SegmentCharacters),
        (ns(&["."]), Rule::SegmentCharacters),
        (ns(&["t", "a\nb"]), Rule::SegmentCharacters),
        (ns(&["t", "a\0"]), Rule::SegmentCharacters),
        (ns(&["t", "\u{1}"]), Rule::SegmentCharacters),
        (ns(&["t", "\u{7f}"]), Rule::SegmentCharacters),
        (ns(&["t", "\u{85}"]), Rule::SegmentCharacters),
        (ns(&["\t"]), Rule::SegmentCharacters),
    ];
    for (bad, rule) in &cases {
        refuse_namespace(&env, bad, *rule).await;
    }
    assert_empty(&env).await;
    // The edges are fine.
    let s = &env.store;
    let edge: Vec<String> = (0..16).map(|i| format!("d{i}")).collect();
    for good in [
        Namespace::new(edge),
        ns(&["t", &"x".repeat(128)]),
        ns(&["..."]),
        ns(&[".a", "a.", "ü", "🦀", "a b", "a:b", "a\\b"]),
    ] {
        s.put(&good, "k", jv(json!(1))).await.unwrap();
        assert_eq!(doc(s, &good, "k").await, json!(1));
    }
}

/// Key rules (keys, stream names, lease names and holders): empty, too long, control
/// characters, `.` and `..`.
pub async fn invalid_keys(make: &dyn MakeStore) {
    let env = Env::new(make).await;
    let s = &env.store;
    let n = ns(&["t", "keys"]);
    let v = jv(json!(1));
    let long = "k".repeat(1025);
    let cases: Vec<(String, Rule)> = vec![
        (String::new(), Rule::KeyEmpty),
        (long, Rule::KeyLength),
        ("a\nb".into(), Rule::KeyCharacters),
        ("\0".into(), Rule::KeyCharacters),
        ("a\u{1}".into(), Rule::KeyCharacters),
        ("tab\t".into(), Rule::KeyCharacters),
        ("\u{7f}".into(), Rule::KeyCharacters),
        ("\u{9f}".into(), Rule::KeyCharacters),
        (".".into(), Rule::KeyCharacters),
        ("..".into(), Rule::KeyCharacters),
    ];
    for (k, rule) in &cases {
        let rule = *rule;
        let w = |op: &str| format!("{op} with key {k:?}");
        refused(&env, rule, &w("put"), s.put(&n, k, v.clone())).await;
        refused(&env, rule, &w("delete"), s.delete(&n, k, Precondition::Any)).await;
        refused(
            &env,
            rule,
            &w("patch"),
            s.patch(&n, k, PatchOp::Merge(json!({})), Precondition::Any),
        )
        .await;
        refused(&env, rule, &w("get"), s.get(&n, k)).await;
        refused(
            &env,
            rule,
            &w("get_many"),
            s.get_many(&[(n.clone(), k.clone())]),
        )
        .await;
        refused(
            &env,
            rule,
            &w("append"),
            s.append(&n, k, vec![v.clone()], None),
        )
        .await;
        refused(&env, rule, &w("trim"), s.trim(&n, k, TrimTo::KeepLast(0))).await;
        refused(&env, rule, &w("delete_stream"), s.delete_stream(&n, k)).await;
        refused(
            &env,
            rule,
            &w("read_stream"),
            s.read_stream(&n, k, None, Direction::Backward, 1),
        )
        .await;
        refused(&env, rule, &w("stream_info"), s.stream_info(&n, k)).await;
        refused(
            &env,
            rule,
            &w("acquire_lease name"),
            s.acquire_lease(&n, k, "me", LEASE_TTL),
        )
        .await;
        refused(
            &env,
            rule,
            &w("acquire_lease holder"),
            s.acquire_lease(&n, "l", k, LEASE_TTL),
        )
        .await;
        refused(
            &env,
            rule,
            &w("renew_lease"),
            s.renew_lease(&n, k, 1, LEASE_TTL),
        )
        .await;
        refused(&env, rule, &w("release_lease"), s.release_lease(&n, k, 1)).await;
        refused(&env, rule, &w("get_lease"), s.get_lease(&n, k)).await;
        refused_batch(
            &env,
            rule,
            0,
            &w("batch"),
            vec![Mutation::delete(n.clone(), k.clone())],
        )
        .await;
    }
    assert_empty(&env).await;
    // The edges are fine.
    for k in [
        "k".repeat(1024),
        "k".into(),
        " ".into(),
        "a/b/../c".into(),
        "\u{200b}".into(),
        "{\"json\": true}".into(),
    ] {
        s.put(&n, &k, v.clone()).await.unwrap();
        assert_eq!(doc(s, &n, &k).await, json!(1), "key {k:?}");
    }
}

/// Value rules: size, JSON validity, content type; subject rules; empty appends.
pub async fn invalid_values(make: &dyn MakeStore) {
    let env = Env::with(make, |o| {
        o.limits = Limits {
            max_value_size: 100,
            ..Limits::default()
        }
    })
    .await;
    let s = &env.store;
    let n = ns(&["t", "values"]);
    let big = Value::bytes("a/b", vec![7u8; 101]);
    let big_json = Value::json_text(format!("\"{}\"", "x".repeat(99)));
    let cases: Vec<(Value, Rule)> = vec![
        (big, Rule::ValueSize),
        (big_json, Rule::ValueSize),
        (Value::json_text("{"), Rule::Json),
        (Value::json_text(""), Rule::Json),
        (Value::json_text("1 2"), Rule::Json),
        (Value::json_text("{'a': 1}"), Rule::Json),
        (Value::json_text(vec![b'"', 0xff, b'"']), Rule::Json),
        (Value::json_text("\"\\ud800\""), Rule::Json),
        (Value::json_text("{\"a\\udc00\": 1}"), Rule::Json),
        (Value::json_text("[1,]"), Rule::Json),
        (Value::json_text("nul"), Rule::Json),
        (Value::bytes("", "x"), Rule::ContentType),
        (Value::bytes("text/plain\n", "x"), Rule::ContentType),
        (Value::bytes("t".repeat(256), "x"), Rule::ContentType),
    ];
    for (v, rule) in &cases {
        let rule = *rule;
        let w = |op: &str| format!("{op} of {v:?}");
        refused(&env, rule, &w("put"), s.put(&n, "k", v.clone())).await;
        refused(
            &env,
            rule,
            &w("put_if"),
            s.put_if(&n, "k", v.clone(), Precondition::IfAbsent),
        )
        .await;
        refused(
            &env,
            rule,
            &w("append"),
            s.append(&n, "s", vec![jv(json!(1)), v.clone()], None),
        )
        .await;
        refused_batch(
            &env,
            rule,
            1,
            &w("batch"),
            vec![
                Mutation::put(n.clone(), "ok", jv(json!(1))),
                Mutation::put(n.clone(), "k", v.clone()),
            ],
        )
        .await;
    }
    let with_subject = |sub: String| Mutation::Put {
        ns: n.clone(),
        key: "k".into(),
        value: jv(json!(1)),
        precondition: Precondition::Any,
        ttl: Ttl::Default,
        subject: Some(sub),
        fence: None,
    };
    for sub in [String::new(), "s".repeat(257), "a\nb".into()] {
        refused(
            &env,
            Rule::SubjectLength,
            &format!("subject {sub:?}"),
            s.apply(with_subject(sub.clone())),
        )
        .await;
    }
    refused(
        &env,
        Rule::BatchSize,
        "an empty append",
        s.append(&n, "s", vec![], None),
    )
    .await;
    assert_empty(&env).await;
    // The edges are fine.
    s.put(&n, "max", Value::bytes("a/b", vec![7u8; 100]))
        .await
        .unwrap();
    s.put(
        &n,
        "maxjson",
        Value::json_text(format!("\"{}\"", "x".repeat(98))),
    )
    .await
    .unwrap();
    s.put(
        &n,
        "ct",
        Value::bytes(format!("a/{}", "t".repeat(253)), "x"),
    )
    .await
    .unwrap();
    s.apply(with_subject("s".repeat(256))).await.unwrap();
}

/// Batch rules: empty, too many mutations, too many bytes; for batch and write_many.
pub async fn invalid_batches(make: &dyn MakeStore) {
    let env = Env::with(make, |o| {
        o.limits = Limits {
            max_value_size: 100,
            max_batch_len: 4,
            max_batch_bytes: 250,
            ..Limits::default()
        }
    })
    .await;
    let s = &env.store;
    let n = ns(&["t", "batch"]);
    let put = |k: usize, len: usize| {
        Mutation::put(
            n.clone(),
            format!("k{k}"),
            Value::bytes("a/b", vec![0u8; len]),
        )
    };
    let before = env.last_lsn().await;
    let cases: Vec<(&str, Vec<Mutation>)> = vec![
        ("empty", vec![]),
        ("too many", (0..5).map(|i| put(i, 1)).collect()),
        ("too many bytes", (0..3).map(|i| put(i, 100)).collect()),
        (
            "too many bytes in appends",
            vec![
                put(0, 100),
                Mutation::Append {
                    ns: n.clone(),
                    stream: "s".into(),
                    entries: vec![Value::bytes("a/b", vec![0u8; 100]); 2],
                    expected_last: None,
                },
            ],
        ),
    ];
    for (what, ms) in cases {
        match s.batch(ms.clone()).await {
            Err(BatchError {
                error:
                    Error::InvalidInput {
                        rule: Rule::BatchSize,
                        ..
                    },
                ..
            }) => {}
            other => panic!("batch {what}: expected InvalidInput(batch.size), got {other:?}"),
        }
        if !ms.is_empty() {
            refused(
                &env,
                Rule::BatchSize,
                &format!("write_many {what}"),
                s.write_many(ms),
            )
            .await;
        }
    }
    assert_eq!(env.last_lsn().await, before);
    assert_empty(&env).await;
    // The edges are fine.
    s.batch((0..4).map(|i| put(i, 62)).collect()).await.unwrap();
    s.write_many((0..4).map(|i| put(i, 62)).collect())
        .await
        .unwrap()
        .into_iter()
        .for_each(|r| {
            r.unwrap();
        });
}

/// TTL rules: zero and above 100 years are refused for items, namespace defaults and leases.
pub async fn invalid_ttls(make: &dyn MakeStore) {
    let env = Env::new(make).await;
    let s = &env.store;
    let n = ns(&["t", "ttl"]);
    let bad = [
        Duration::ZERO,
        Duration::from_micros(999),
        Duration::from_secs(101 * 365 * 24 * 3600),
        Duration::MAX,
    ];
    for d in bad {
        let w = |op: &str| format!("{op} with TTL {d:?}");
        let put = Mutation::Put {
            ns: n.clone(),
            key: "k".into(),
            value: jv(json!(1)),
            precondition: Precondition::Any,
            ttl: Ttl::After(d),
            subject: None,
            fence: None,
        };
        refused(&env, Rule::Ttl, &w("put"), s.apply(put.clone())).await;
        refused_batch(&env, Rule::Ttl, 0, &w("batch"), vec![put.clone()]).await;
        let r = s.write_many(vec![put]).await.unwrap();
        refused(&env, Rule::Ttl, &w("write_many"), async { r[0].clone() }).await;
        refused(
            &env,
            Rule::Ttl,
            &w("set_namespace_ttl"),
            s.set_namespace_ttl(&n, Some(d)),
        )
        .await;
        refused(
            &env,
            Rule::Ttl,
            &w("acquire_lease"),
            s.acquire_lease(&n, "l", "me", d),
        )
        .await;
    }
    assert_empty(&env).await;
    let l = s.acquire_lease(&n, "l", "me", LEASE_TTL).await.unwrap();
    refused(
        &env,
        Rule::Ttl,
        "renew_lease with TTL 0",
        s.renew_lease(&n, "l", l.token, Duration::ZERO),
    )
    .await;
    for text in ["", "abc", "5x", "0s", "0", "-1s", "1.5s", "999999999999d"] {
        assert_invalid(parse_duration(text), Rule::Ttl);
    }
    assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
    assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
    assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
    assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
    // The edges are fine.
    for d in [
        Duration::from_millis(1),
        Duration::from_secs(100 * 365 * 24 * 3600),
    ] {
        s.apply(Mutation::Put {
            ns: n.clone(),
            key: "edge".into(),
            value: jv(json!(1)),
            precondition: Precondition::Any,
            ttl: Ttl::After(d),
            subject: None,
            fence: None,
        })
        .await
        .unwrap();
        s.set_namespace_ttl(&n, Some(d)).await.unwrap();
    }
}

/// Page limits: zero and above max_page are refused; maintenance with a zero limit does
/// nothing.
pub async fn invalid_limits(make: &dyn MakeStore) {
    let env = Env::with(make, |o| {
        o.limits = Limits {
            max_page: 50,
            ..Limits::default()
        };
        o.retention.max_age = Some(Duration::from_secs(1));
    })
    .await;
    let s = &env.store;
    let n = ns(&["t", "limits"]);
    for limit in [0, 51] {
        let w = |op: &str| format!("{op} with limit {limit}");
        refused(
            &env,
            Rule::Limit,
            &w("scan"),
            s.scan(&Scan {
                ns: n.clone(),
                limit,
                ..Default::default()
            }),
        )
        .await;
        refused(
            &env,
            Rule::Limit,
            &w("read_stream"),
            s.read_stream(&n, "s", None, Direction::Forward, limit),
        )
        .await;
        refused(&env, Rule::Limit, &w("changes"), s.changes(0, limit)).await;
        refused(
            &env,
            Rule::Limit,
            &w("list_namespaces"),
            s.list_namespaces(&n, None, limit, None),
        )
        .await;
    }
    assert_eq!(
        s.scan(&Scan {
            ns: n.clone(),
            limit: 50,
            ..Default::default()
        })
        .await
        .unwrap()
        .items,
        vec![]
    );
    // Zero-limit maintenance does nothing.
    s.apply(Mutation::Put {
        ns: n.clone(),
        key: "k".into(),
        value: jv(json!(1)),
        precondition: Precondition::Any,
        ttl: Ttl::After(Duration::from_secs(1)),
        subject: None,
        fence: None,
    })
    .await
    .unwrap();
    env.advance(10_000);
    let before = env.last_lsn().await;
    assert_eq!(s.sweep_expired(0).await.unwrap(), 0);
    assert_eq!(s.trim_changes(0).await.unwrap(), 0);
    assert_eq!(env.last_lsn().await, before);
    assert_eq!(s.changes(0, 10).await.unwrap().len(), 1);
    assert_eq!(ns_stats(s, &n).await.items, 1);
}
