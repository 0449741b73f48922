//! The change feed, its retention, per-namespace counters, maintenance.

use super::*;
use crate::{
    Change, ChangeKind, Mutation, Namespace, NamespaceStats, PatchOp, Precondition, Retention,
    TrimTo, Ttl, Value, Version,
};
use serde_json::json;
use std::time::Duration;

/// A short, comparable form of a change.
fn describe(c: &Change) -> String {
    match &c.kind {
        ChangeKind::Put(i) => format!(
            "put {}/{}={}",
            i.ns,
            i.key,
            String::from_utf8_lossy(&i.value.data)
        ),
        ChangeKind::Delete { ns, key } => format!("delete {ns}/{key}"),
        ChangeKind::Expire { ns, key } => format!("expire {ns}/{key}"),
        ChangeKind::Append {
            ns,
            stream,
            entries,
        } => format!(
            "append {ns}/{stream} {:?}",
            entries.iter().map(|e| e.seq).collect::<Vec<_>>()
        ),
        ChangeKind::Trim {
            ns,
            stream,
            first_kept,
            deleted_stream,
        } => {
            if *deleted_stream {
                format!("delete stream {ns}/{stream}")
            } else {
                format!("trim {ns}/{stream} from {first_kept}")
            }
        }
        ChangeKind::Lease { ns, name, released } => {
            format!(
                "lease {ns}/{name}{}",
                if *released { " released" } else { "" }
            )
        }
        ChangeKind::NamespaceTtl { prefix, ttl_ms } => format!("ns ttl {prefix} {ttl_ms:?}"),
    }
}

/// Every successful mutation gets the next LSN and a change of the right kind, in commit
/// order; failed ones get nothing.
pub async fn changes_every_mutation(make: &dyn MakeStore) {
    let env = Env::new(make).await;
    let s = &env.store;
    let n = ns(&["t", "feed"]);
    assert_eq!(env.last_lsn().await, 0, "a new store has LSN 0");
    assert!(s.changes(0, 100).await.unwrap().is_empty());
    assert_eq!(s.first_change_lsn().await.unwrap(), None);

    let mut lsns = Vec::new();
    fn step(lsns: &mut Vec<u64>, l: u64) {
        assert!(lsns.last().is_none_or(|p| l > *p), "LSNs grow");
        lsns.push(l);
    }
    let v = s.put(&n, "a", jv(json!(1))).await.unwrap();
    step(&mut lsns, env.last_lsn().await);
    assert_eq!(v.0, lsns[0], "a put's version is its LSN");
    env.advance(1);
    // Failures in between write no change.
    let _ = s
        .put_if(&n, "a", jv(json!(0)), Precondition::IfAbsent)
        .await
        .unwrap_err();
    let _ = s
        .append(&n, "s", vec![jv(json!(0))], Some(9))
        .await
        .unwrap_err();
    assert_eq!(env.last_lsn().await, lsns[0]);
    let pv = s
        .patch(&n, "a", PatchOp::Merge(json!({"b": 2})), Precondition::Any)
        .await
        .unwrap();
    step(&mut lsns, env.last_lsn().await);
    assert_eq!(pv.0, lsns[1]);
    assert!(s.delete(&n, "a", Precondition::Any).await.unwrap());
    step(&mut lsns, env.last_lsn().await);
    s.append(&n, "s", vec![jv(json!(1)), jv(json!(2))], None)
        .await
        .unwrap();
    step(&mut lsns, env.last_lsn().await);
    s.trim(&n, "s", TrimTo::KeepLast(1)).await.unwrap();
    step(&mut lsns, env.last_lsn().await);
    s.delete_stream(&n, "s").await.unwrap();
    step(&mut lsns, env.last_lsn().await);
    let l = s
        .acquire_lease(&n, "l", "me", Duration::from_secs(5))
        .await
        .unwrap();
    step(&mut lsns, env.last_lsn().await);
    s.renew_lease(&n, "l", l.token, Duration::from_secs(5))
        .await
        .unwrap();
    step(&mut lsns, env.last_lsn().await);
    s.release_lease(&n, "l", l.token).await.unwrap();
    step(&mut lsns, env.last_lsn().await);
    s.set_namespace_ttl(&n, Some(Duration::from_secs(60)))
        .await
        .unwrap();
    step(&mut lsns, env.last_lsn().await);
    s.apply(Mutation::Put {
        ns: n.clone(),
        key: "b".into(),
        value: Value::bytes("text/plain", "tmp"),
        precondition: Precondition::Any,
        ttl: Ttl::After(Duration::from_secs(1)),
        subject: None,
        fence: None,
    })
    .await
    .unwrap();
    step(&mut lsns, env.last_lsn().await);
    env.advance(1_000);
    assert_eq!(s.sweep_expired(10).await.unwrap(), 1);
    step(&mut lsns, env.last_lsn().await);
    let out = s
        .batch(vec![
            Mutation::put(n.clone(), "x", jv(json!("x"))),
            Mutation::put(n.clone(), "y", jv(json!("y"))),
        ])
        .await
        .unwrap();
    let last = env.last_lsn().await;

    let ch = s.changes(0, 100).await.unwrap();
    let got: Vec<String> = ch.iter().map(describe).collect();
    assert_eq!(
        got,
        [
            "put t/feed/a=1",
            "put t/feed/a={\"b\":2}",
            "delete t/feed/a",
            "append t/feed/s [1, 2]",
            "trim t/feed/s from 2",
            "delete stream t/feed/s",
            "lease t/feed/l",
            "lease t/feed/l",
            "lease t/feed/l released",
            "ns ttl t/feed Some(60000)",
            "put t/feed/b=tmp",
            "expire t/feed/b",
            "put t/feed/x=\"x\"",
            "put t/feed/y=\"y\"",
        ]
    );
    let ch_lsns: Vec<u64> = ch.iter().map(|c| c.lsn).collect();
    assert_eq!(&ch_lsns[..lsns.len()], &lsns[..], "each change has its LSN");
    assert!(ch_lsns.windows(2).all(|w| w[0] < w[1]), "commit order");
    assert_eq!(*ch_lsns.last().unwrap(), last);
    assert_eq!(s.first_change_lsn().await.unwrap(), Some(ch_lsns[0]));
    // Put changes carry the item as written, with its version.
    match &ch[1].kind {
        ChangeKind::Put(i) => {
            assert_eq!(i.version, pv);
            assert_eq!((i.created_at, i.updated_at), (T0, T0 + 1));
            // Merging an object into a non-object replaces it (RFC 7396).
            assert_eq!(i.value.to_json().unwrap(), json!({"b": 2}));
        }
        k => panic!("expected a put, got {k:?}"),
    }
    match &ch[10].kind {
        ChangeKind::Put(i) => assert_eq!(i.expires_at, Some(T0 + 1 + 1_000)),
        k => panic!("expected a put, got {k:?}"),
    }
    match &ch[3].kind {
        ChangeKind::Append { entries, .. } => {
            assert_eq!(entries[1].value, jv(json!(2)));
            assert_eq!(entries[0].at, T0 + 1);
        }
        k => panic!("expected an append, got {k:?}"),
    }
    let times: Vec<i64> = ch.iter().map(|c| c.at).collect();
    assert_eq!(times[0], T0);
    assert_eq!(times[1], T0 + 1);
    assert_eq!(times[11], T0 + 1_001);
    let bv: Vec<Version> = out.iter().filter_map(|o| o.version()).collect();
    assert_eq!(bv, vec![Version(ch_lsns[12]), Version(ch_lsns[13])]);
}

/// changes(since, limit) pages through the feed in order.
pub async fn changes_since_and_limit(make: &dyn MakeStore) {
    let env = Env::new(make).await;
    let s = &env.store;
    let n = ns(&["t", "feed"]);
    let mut versions = Vec::new();
    for i in 0..10 {
        versions.push(s.put(&n, &format!("k{i}"), jv(json!(i))).await.unwrap().0);
    }
    let first = s.changes(0, 3).await.unwrap();
    assert_eq!(
        first.iter().map(|c| c.lsn).collect::<Vec<_>>(),
        &versions[..3]
    );
    let mut since = 0;
    let mut all = Vec::new();
    loop {
        let page = s.changes(since, 4).await.unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 4);
        since = page.last().unwrap().lsn;
        all.extend(page.into_iter().map(|c| c.lsn));
    }
    assert_eq!(all, versions);
    assert_eq!(
        s.changes(versions[4], 2)
            .await
            .unwrap()
            .iter()
            .map(|c| c.lsn)
            .collect::<Vec<_>>(),
        &versions[5..7]
    );
    assert!(s.changes(versions[9], 10).await.unwrap().is_empty());
    assert!(s.changes(u64::MAX, 10).await.unwrap().is_empty());
}

/// The records of `table` in the local store (the feed's kept item versions, say).
fn count_records(s: &Subject, table: crate::codec::Table) -> usize {
    let view = s.local.backend().read().unwrap();
    let mut n = 0;
    view.scan(
        table,
        (std::ops::Bound::Unbounded, std::ops::Bound::Unbounded),
        false,
        &mut |_, _| {
            n += 1;
            Ok(true)
        },
    )
    .unwrap();
    n
}

/// A put's change carries the value it wrote even after the item was overwritten (in the
/// same batch too), touched, deleted or expired; retention takes the kept versions with the
/// changes that referred to them, and verify finds the store clean all along.
pub async fn changes_carry_overwritten_values(make: &dyn MakeStore) {
    let env = Env::with(make, |o| {
        o.retention = Retention {
            max_age: None,
            max_changes: Some(100),
        }
    })
    .await;
    let s = &env.store;
    let n = ns(&["t", "hist"]);
    let from = env.last_lsn().await;
    s.put(&n, "a", jv(json!({"v": 1}))).await.unwrap();
    s.put(&n, "a", jv(json!({"v": 2}))).await.unwrap();
    s.patch(&n, "a", PatchOp::Merge(json!({"w": 3})), Precondition::Any)
        .await
        .unwrap();
    s.apply(Mutation::Touch {
        ns: n.clone(),
        key: "a".into(),
        ttl: Ttl::After(Duration::from_secs(3600)),
        fence: None,
    })
    .await
    .unwrap();
    let put = |key: &str, v: serde_json::Value, ttl: Ttl| Mutation::Put {
        ns: n.clone(),
        key: key.into(),
        value: jv(v),
        precondition: Precondition::Any,
        ttl,
        subject: None,
        fence: None,
    };
    s.batch(vec![
        put("b", json!("b1"), Ttl::Never),
        put("b", json!("b2"), Ttl::Never),
        put("a", json!({"v": 4}), Ttl::Never),
    ])
    .await
    .unwrap();
    assert!(s.delete(&n, "a", Precondition::Any).await.unwrap());
    s.apply(put("e", json!("short"), Ttl::After(Duration::from_secs(1))))
        .await
        .unwrap();
    env.advance(2_000);
    assert_eq!(s.local.sweep_expired(100).await.unwrap(), 1);
    let got: Vec<String> = s
        .changes(from, 100)
        .await
        .unwrap()
        .iter()
        .map(describe)
        .collect();
    assert_eq!(
        got,
        [
            r#"put t/hist/a={"v":1}"#,
            r#"put t/hist/a={"v":2}"#,
            r#"put t/hist/a={"v":2,"w":3}"#,
            r#"put t/hist/a={"v":2,"w":3}"#,
            r#"put t/hist/b="b1""#,
            r#"put t/hist/b="b2""#,
            r#"put t/hist/a={"v":4}"#,
            "delete t/hist/a",
            r#"put t/hist/e="short""#,
            "expire t/hist/e",
        ]
    );
    let verified = s.local.verify(&Default::default(), &mut |_| {}).unwrap();
    assert!(verified.is_clean(), "{:?}", verified.damage);
    // Forgetting every change forgets the versions kept for them; the data stays.
    let last = env.last_lsn().await;
    s.local
        .apply(Mutation::ForgetChanges {
            before_lsn: last + 1,
            max: 1000,
        })
        .await
        .unwrap();
    assert!(s.changes(0, 100).await.unwrap().is_empty());
    assert_eq!(count_records(s, crate::codec::Table::History), 0);
    assert_eq!(doc(s, &n, "b").await, json!("b2"));
    // Overwriting an item whose change is gone keeps nothing.
    s.put(&n, "b", jv(json!("b3"))).await.unwrap();
    assert_eq!(count_records(s, crate::codec::Table::History), 0);
    let got: Vec<String> = s
        .changes(0, 100)
        .await
        .unwrap()
        .iter()
        .map(describe)
        .collect();
    assert_eq!(got, [r#"put t/hist/b="b3""#]);
}

/// An append's change carries its entries after they were trimmed, after their stream was
/// deleted, and after a stream of the same name was made again (its sequences start over);
/// forgetting the changes forgets the entries kept for them.
pub async fn changes_carry_trimmed_entries(make: &dyn MakeStore) {
    let env = Env::new(make).await;
    let s = &env.store;
    let n = ns(&["t", "hist"]);
    let from = env.last_lsn().await;
    let texts = |v: &[&str]| v.iter().map(|t| jv(json!(t))).collect::<Vec<_>>();
    s.append(&n, "s", texts(&["a", "b", "c"]), None)
        .await
        .unwrap();
    s.trim(&n, "s", TrimTo::KeepLast(1)).await.unwrap();
    s.append(&n, "s", texts(&["d"]), None).await.unwrap();
    s.delete_stream(&n, "s").await.unwrap();
    s.append(&n, "s", texts(&["e", "f"]), None).await.unwrap();
    let got: Vec<String> = s
        .changes(from, 100)
        .await
        .unwrap()
        .iter()
        .map(|c| match &c.kind {
            ChangeKind::Append { entries, .. } => format!(
                "append {}",
                entries
                    .iter()
                    .map(|e| format!("{}={}", e.seq, String::from_utf8_lossy(&e.value.data)))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            _ => describe(c),
        })
        .collect();
    assert_eq!(
        got,
        [
            r#"append 1="a",2="b",3="c""#,
            "trim t/hist/s from 3",
            r#"append 4="d""#,
            "delete stream t/hist/s",
            r#"append 1="e",2="f""#,
        ]
    );
    let verified = s.local.verify(&Default::default(), &mut |_| {}).unwrap();
    assert!(verified.is_clean(), "{:?}", verified.damage);
    let last = env.last_lsn().await;
    s.local
        .apply(Mutation::ForgetChanges {
            before_lsn: last + 1,
            max: 1000,
        })
        .await
        .unwrap();
    assert_eq!(count_records(s, crate::codec::Table::History), 0);
    let e = s
        .read_stream(&n, "s", None, crate::Direction::Forward, 10)
        .await
        .unwrap();
    assert_eq!(e.len(), 2, "the stream keeps its entries");
}

/// Retention by age: trim_changes drops records older than max_age (up to a limit), and
/// never touches data.
pub async fn changes_retention_age(make: &dyn MakeStore) {
    let env = Env::with(make, |o| {
        o.retention = Retention {
            max_age: Some(Duration::from_secs(3600)),
            max_changes: None,
        }
    })
    .await;
    let s = &env.store;
    let n = ns(&["t", "ret"]);
    for i in 0..5 {
        s.put(&n, &format!("old{i}"), jv(json!(i))).await.unwrap();
    }
    assert_eq!(s.trim_changes(1000).await.unwrap(), 0, "nothing is old yet");
    env.advance(3_600_001);
    for i in 0..2 {
        s.put(&n, &format!("new{i}"), jv(json!(i))).await.unwrap();
    }
    let last = env.last_lsn().await;
    assert_eq!(
        s.trim_changes(2).await.unwrap(),
        2,
        "at most `limit` at a time"
    );
    assert_eq!(s.changes(0, 100).await.unwrap().len(), 5);
    assert_eq!(s.trim_changes(1000).await.unwrap(), 3);
    assert_eq!(s.trim_changes(1000).await.unwrap(), 0);
    let rest: Vec<u64> = s
        .changes(0, 100)
        .await
        .unwrap()
        .iter()
        .map(|c| c.lsn)
        .collect();
    assert_eq!(rest, [last - 1, last]);
    assert_eq!(s.first_change_lsn().await.unwrap(), Some(last - 1));
    assert_eq!(env.last_lsn().await, last, "retention assigns no LSN");
    for i in 0..5 {
        assert_eq!(doc(s, &n, &format!("old{i}")).await, json!(i), "data stays");
    }
    // New writes continue after the last LSN.
    let v = s.put(&n, "after", jv(json!(0))).await.unwrap();
    assert_eq!(v.0, last + 1);
}

/// Retention by count: trim_changes keeps the newest max_changes records.
pub async fn changes_retention_count(make: &dyn MakeStore) {
    let env = Env::with(make, |o| {
        o.retention = Retention {
            max_age: None,
            max_changes: Some(5),
        }
    })
    .await;
    let s = &env.store;
    let n = ns(&["t", "ret"]);
    for i in 0..3 {
        s.put(&n, &format!("k{i}"), jv(json!(i))).await.unwrap();
    }
    assert_eq!(s.trim_changes(1000).await.unwrap(), 0, "under the limit");
    for i in 3..12 {
        s.put(&n, &format!("k{i}"), jv(json!(i))).await.unwrap();
    }
    let last = env.last_lsn().await;
    assert_eq!(s.trim_changes(1000).await.unwrap(), 7);
    let rest: Vec<u64> = s
        .changes(0, 100)
        .await
        .unwrap()
        .iter()
        .map(|c| c.lsn)
        .collect();
    assert_eq!(rest, (last - 4..=last).collect::<Vec<_>>());
    assert_eq!(s.trim_changes(1000).await.unwrap(), 0);
    assert_eq!(env.last_lsn().await, last);
    assert_eq!(
        scan_all(
            s,
            crate::Scan {
                ns: n.clone(),
                ..Default::default()
            },
            100
        )
        .await
        .len(),
        12
    );
}

/// Per-namespace counters: items and item bytes follow puts, overwrites, patches, deletes;
/// stats(prefix) covers the namespaces under the prefix only.
pub async fn stats_per_namespace(make: &dyn MakeStore) {
    let env = Env::new(make).await;
    let s = &env.store;
    let (a, ab, b) = (ns(&["t", "a"]), ns(&["t", "a", "b"]), ns(&["u"]));
    let st = s.stats(&Namespace::root()).await.unwrap();
    assert!(st.namespaces.is_empty());
    assert_eq!(st.last_lsn, 0);
    assert!(!st.backend.is_empty(), "a backend names itself");

    s.put(&a, "x", Value::bytes("a/b", vec![0u8; 100]))
        .await
        .unwrap();
    s.put(&a, "y", Value::bytes("a/b", vec![0u8; 50]))
        .await
        .unwrap();
    s.put(&ab, "z", jv(json!("0123456789"))).await.unwrap(); // 12 bytes
    s.put(&b, "z", jv(json!(1))).await.unwrap();
    s.append(&a, "s", vec![jv(json!(12))], None).await.unwrap();
    let want_a = NamespaceStats {
        items: 2,
        item_bytes: 150,
        streams: 1,
        stream_entries: 1,
        stream_bytes: 2,
    };
    assert_eq!(ns_stats(s, &a).await, want_a);
    let under_t = s.stats(&ns(&["t"])).await.unwrap();
    assert_eq!(
        under_t.namespaces,
        vec![
            (a.clone(), want_a.clone()),
            (
                ab.clone(),
                NamespaceStats {
                    items: 1,
                    item_bytes: 12,
                    ..Default::default()
                }
            )
        ]
    );
    assert_eq!(under_t.last_lsn, env.last_lsn().await);
    assert_eq!(
        s.stats(&Namespace::root()).await.unwrap().namespaces.len(),
        3
    );

    // Overwrite with a smaller value, patch to a known size, delete.
    s.put(&a, "x", Value::bytes("a/b", vec![0u8; 10]))
        .await
        .unwrap();
    assert_eq!(ns_stats(s, &a).await.item_bytes, 60);
    s.put(&a, "y", jv(json!({}))).await.unwrap();
    s.patch(
        &a,
        "y",
        PatchOp::Merge(json!({"k": "v"})),
        Precondition::Any,
    )
    .await
    .unwrap(); // {"k":"v"} = 9 bytes
    assert_eq!(ns_stats(s, &a).await.item_bytes, 19);
    assert!(s.delete(&a, "x", Precondition::Any).await.unwrap());
    let st = ns_stats(s, &a).await;
    assert_eq!((st.items, st.item_bytes), (1, 9));
    // A failed write does not count.
    let _ = s
        .put_if(&a, "y", jv(json!(1)), Precondition::IfAbsent)
        .await
        .unwrap_err();
    assert_eq!(ns_stats(s, &a).await.items, 1);
    // Emptied namespaces are not reported.
    assert!(s.delete(&ab, "z", Precondition::Any).await.unwrap());
    assert_eq!(s.stats(&ab).await.unwrap().namespaces, vec![]);
}

/// maintain() sweeps expired items and applies retention.
pub async fn maintain_sweeps_and_trims(make: &dyn MakeStore) {
    let env = Env::with(make, |o| {
        o.retention = Retention {
            max_age: Some(Duration::from_secs(60)),
            max_changes: None,
        }
    })
    .await;
    let s = &env.store;
    let n = ns(&["t", "maint"]);
    for i in 0..3 {
        s.apply(Mutation::Put {
            ns: n.clone(),
            key: format!("k{i}"),
            value: jv(json!(i)),
            precondition: Precondition::Any,
            ttl: Ttl::After(Duration::from_secs(30)),
            subject: None,
            fence: None,
        })
        .await
        .unwrap();
    }
    s.put(&n, "keep", jv(json!(1))).await.unwrap();
    let m = s.maintain().await.unwrap();
    assert_eq!((m.expired_items, m.forgotten_changes), (0, 0));
    env.advance(30_000);
    let m = s.maintain().await.unwrap();
    assert_eq!((m.expired_items, m.forgotten_changes), (3, 0));
    assert_eq!(ns_stats(s, &n).await.items, 1);
    env.advance(60_001);
    let m = s.maintain().await.unwrap();
    // The 4 puts (at T0) and the 3 expiries (at T0 + 30 s) are all older than 60 s.
    assert_eq!((m.expired_items, m.forgotten_changes), (0, 7));
    assert!(s.changes(0, 10).await.unwrap().is_empty());
    assert_eq!(doc(s, &n, "keep").await, json!(1));
}
