//! Items: put/get, versions, timestamps, preconditions, get_many.

use super::*;
use crate::{Error, Mutation, PatchOp, Precondition, Ttl, Value, Version, JSON};
use serde_json::json;
use std::collections::HashSet;

/// JSON values round-trip byte for byte with the JSON content type.
pub async fn put_get_json(make: &dyn MakeStore) {
    let env = Env::new(make).await;
    let s = &env.store;
    let n = ns(&["t", "items"]);
    let d = json!({"name": "Ada", "n": [1, 2, 3], "nested": {"a": null, "b": 1.5}});
    let v = s.put(&n, "k", jv(d.clone())).await.unwrap();
    let it = s
        .get(&n, "k")
        .await
        .unwrap()
        .expect("written item is readable");
    assert_eq!(it.ns, n);
    assert_eq!(it.key, "k");
    assert_eq!(it.version, v);
    assert_eq!(it.value.content_type, JSON);
    assert_eq!(it.value.to_json().unwrap(), d);
    assert_eq!(it.value, jv(d));
    assert_eq!((it.created_at, it.updated_at), (T0, T0));
    assert_eq!(it.expires_at, None);
    assert_eq!(it.subject, None);

    // JSON text is stored as given (whitespace and key order kept).
    let text = "{ \"b\" : 1,  \"a\": [true, null] }";
    s.put(&n, "text", Value::json_text(text)).await.unwrap();
    let it = s.get(&n, "text").await.unwrap().unwrap();
    assert_eq!(it.value.data, text.as_bytes());
    assert!(it.value.is_json());

    // Scalars are JSON too.
    for (i, d) in [json!(1), json!("s"), json!(null), json!([]), json!(true)]
        .into_iter()
        .enumerate()
    {
        let k = format!("scalar{i}");
        s.put(&n, &k, jv(d.clone())).await.unwrap();
        assert_eq!(doc(s, &n, &k).await, d);
    }

    // Keys are opaque text: slashes, spaces and non-ASCII are fine.
    let odd = "a/b c/ü/🦀/..";
    s.put(&n, odd, jv(json!(1))).await.unwrap();
    assert_eq!(doc(s, &n, odd).await, json!(1));

    // Missing items, other namespaces and other keys are absent.
    assert_eq!(s.get(&n, "missing").await.unwrap(), None);
    assert_eq!(s.get(&ns(&["t", "other"]), "k").await.unwrap(), None);
    assert_eq!(s.get(&ns(&["t"]), "k").await.unwrap(), None);
    assert_eq!(s.get(&ns(&["t", "items", "k"]), "k").await.unwrap(), None);
    assert_eq!(s.get(&n, "K").await.unwrap(), None);
}

/// Opaque values keep their bytes and content type; a put can change the content type.
pub async fn put_get_bytes(make: &dyn MakeStore) {
    let env = Env::new(make).await;
    let s = &env.store;
    let n = ns(&["t", "blobs"]);
    let all: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
    let cases = [
        Value::bytes("application/octet-stream", all),
        Value::bytes("text/plain; charset=utf-8", "héllo\n"),
        Value::bytes("image/png", Vec::new()),
        // Not JSON, so not checked as JSON.
        Value::bytes("text/x-not-json", "{"),
    ];
    for (i, v) in cases.iter().enumerate() {
        let k = format!("b{i}");
        let ver = s.put(&n, &k, v.clone()).await.unwrap();
        let it = s.get(&n, &k).await.unwrap().expect("written");
        assert_eq!(&it.value, v, "value {i} round-trips");
        assert_eq!(it.version, ver);
        assert!(!it.value.is_json());
        assert!(it.value.to_json().is_err(), "bytes do not parse as JSON");
    }
    // Overwrite bytes with JSON and back.
    s.put(&n, "b0", jv(json!({"now": "json"}))).await.unwrap();
    let it = s.get(&n, "b0").await.unwrap().unwrap();
    assert_eq!(it.value.content_type, JSON);
    s.put(&n, "b0", Value::bytes("text/plain", "x"))
        .await
        .unwrap();
    let it = s.get(&n, "b0").await.unwrap().unwrap();
    assert_eq!(it.value, Value::bytes("text/plain", "x"));
}

/// Every write returns a version greater than every version before it, store-wide.
pub async fn versions_monotonic_unique(make: &dyn MakeStore) {
    let env = Env::new(make).await;
    let s = &env.store;
    let spaces = [ns(&["t", "a"]), ns(&["t", "b"]), ns(&["u"])];
    let mut seen = HashSet::new();
    let mut last = Version(0);
    for i in 0..60u64 {
        let n = &spaces[(i % 3) as usize];
        let k = format!("k{}", i % 4);
        let v = s.put(n, &k, jv(json!(i))).await.unwrap();
        assert!(v > last, "version {v:?} after {last:?}");
        assert!(seen.insert(v), "version {v:?} reused");
        last = v;
        let it = s.get(n, &k).await.unwrap().unwrap();
        assert_eq!(it.version, v, "get returns the latest version");
        assert_eq!(doc(s, n, &k).await, json!(i));
        assert!(env.last_lsn().await >= v.0, "last_lsn covers every version");
    }
    // Patches, deletes and re-creates move forward too.
    let n = &spaces[0];
    let v = s
        .patch(n, "k0", PatchOp::Merge(json!({"x": 1})), Precondition::Any)
        .await
        .unwrap();
    assert!(v > last);
    last = v;
    assert!(s.delete(n, "k0", Precondition::Any).await.unwrap());
    let v = s.put(n, "k0", jv(json!("again"))).await.unwrap();
    assert!(v > last, "a re-created item gets a new, larger version");
    // Other mutations advance the store too, so later writes stay above them.
    s.append(n, "s", vec![jv(json!(1))], None).await.unwrap();
    let after = env.last_lsn().await;
    let v2 = s.put(n, "k1", jv(json!(0))).await.unwrap();
    assert!(v2.0 > after && v2 > v);
    assert_eq!(env.last_lsn().await, v2.0, "a put's version is its LSN");
}

/// `created_at` survives updates, `updated_at` follows each write; a re-created item starts
/// over.
pub async fn timestamps_created_kept_updated_changes(make: &dyn MakeStore) {
    let env = Env::new(make).await;
    let s = &env.store;
    let n = ns(&["t", "ts"]);
    s.put(&n, "k", jv(json!(1))).await.unwrap();
    env.advance(5_000);
    s.put(&n, "k", jv(json!(2))).await.unwrap();
    let it = s.get(&n, "k").await.unwrap().unwrap();
    assert_eq!((it.created_at, it.updated_at), (T0, T0 + 5_000));
    env.advance(3_000);
    s.patch(&n, "k", PatchOp::Merge(json!({"a": 1})), Precondition::Any)
        .await
        .unwrap();
    let it = s.get(&n, "k").await.unwrap().unwrap();
    assert_eq!((it.created_at, it.updated_at), (T0, T0 + 8_000));
    env.advance(1_000);
    s.patch(
        &n,
        "k",
        json_patch(json!([{"op": "add", "path": "/b", "value": 2}])),
        Precondition::Any,
    )
    .await
    .unwrap();
    let it = s.get(&n, "k").await.unwrap().unwrap();
    assert_eq!((it.created_at, it.updated_at), (T0, T0 + 9_000));
    // A failed write changes no timestamp.
    env.advance(1_000);
    let _ = s
        .put_if(&n, "k", jv(json!(0)), Precondition::IfAbsent)
        .await
        .unwrap_err();
    let again = s.get(&n, "k").await.unwrap().unwrap();
    assert_eq!(again, it);
    // Deleted and written again: a new item.
    assert!(s.delete(&n, "k", Precondition::Any).await.unwrap());
    env.advance(1_000);
    s.put(&n, "k", jv(json!(3))).await.unwrap();
    let it = s.get(&n, "k").await.unwrap().unwrap();
    assert_eq!((it.created_at, it.updated_at), (T0 + 11_000, T0 + 11_000));
}

/// A subject given on a put is stored, and kept by patches.
pub async fn subject_is_kept(make: &dyn MakeStore) {
    let env = Env::new(make).await;
    let s = &env.store;
    let n = ns(&["t", "subj"]);
    s.apply(Mutation::Put {
        ns: n.clone(),
        key: "k".into(),
        value: jv(json!({"a": 1})),
        precondition: Precondition::Any,
        ttl: Ttl::Default,
        subject: Some("user-42".into()),
        fence: None,
    })
    .await
    .unwrap();
    let it = s.get(&n, "k").await.unwrap().unwrap();
    assert_eq!(it.subject.as_deref(), Some("user-42"));
    s.patch(&n, "k", PatchOp::Merge(json!({"b": 2})), Precondition::Any)
        .await
        .unwrap();
    let it = s.get(&n, "k").await.unwrap().unwrap();
    assert_eq!(
        it.subject.as_deref(),
        Some("user-42"),
        "a patch keeps the subject"
    );
    assert_eq!(it.value.to_json().unwrap(), json!({"a": 1, "b": 2}));
}

/// Put with Any / IfVersion / IfAbsent; a failed precondition changes nothing and reports the
/// current version.
pub async fn put_preconditions(make: &dyn MakeStore) {
    let env = Env::new(make).await;
    let s = &env.store;
    let n = ns(&["t", "pre"]);
    let v1 = s
        .put_if(&n, "k", jv(json!(1)), Precondition::IfAbsent)
        .await
        .expect("IfAbsent on an absent item");

    let before = env.last_lsn().await;
    assert_precondition(
        s.put_if(&n, "k", jv(json!(2)), Precondition::IfAbsent)
            .await,
        Some(v1),
    );
    assert_precondition(
        s.put_if(
            &n,
            "k",
            jv(json!(2)),
            Precondition::IfVersion(Version(v1.0 + 1000)),
        )
        .await,
        Some(v1),
    );
    assert_precondition(
        s.put_if(&n, "k", jv(json!(2)), Precondition::IfVersion(Version(0)))
            .await,
        Some(v1),
    );
    assert_eq!(env.last_lsn().await, before, "failed writes assign no LSN");
    let it = s.get(&n, "k").await.unwrap().unwrap();
    assert_eq!((it.version, it.value.to_json().unwrap()), (v1, json!(1)));

    let v2 = s
        .put_if(&n, "k", jv(json!(2)), Precondition::IfVersion(v1))
        .await
        .expect("IfVersion with the current version");
    assert!(v2 > v1);
    assert_precondition(
        s.put_if(&n, "k", jv(json!(3)), Precondition::IfVersion(v1))
            .await,
        Some(v2),
    );
    let v3 = s
        .put_if(&n, "k", jv(json!(3)), Precondition::Any)
        .await
        .unwrap();
    assert!(v3 > v2);
    assert_eq!(doc(s, &n, "k").await, json!(3));

    // An absent item: IfVersion fails with `current: None`.
    assert_precondition(
        s.put_if(&n, "nope", jv(json!(1)), Precondition::IfVersion(v3))
            .await,
        None,
    );
    assert_eq!(s.get(&n, "nope").await.unwrap(), None);
    // After a delete the old version no longer matches and IfAbsent holds again.
    assert!(s.delete(&n, "k", Precondition::Any).await.unwrap());
    assert_precondition(
        s.put_if(&n, "k", jv(json!(4)), Precondition::IfVersion(v3))
            .await,
        None,
    );
    let v4 = s
        .put_if(&n, "k", jv(json!(4)), Precondition::IfAbsent)
        .await
        .unwrap();
    assert!(v4 > v3);
    // A precondition on one key says nothing about another.
    s.put_if(&n, "k2", jv(json!(1)), Precondition::IfAbsent)
        .await
        .unwrap();
}

/// Delete with Any / IfVersion / IfAbsent.
pub async fn delete_preconditions(make: &dyn MakeStore) {
    let env = Env::new(make).await;
    let s = &env.store;
    let n = ns(&["t", "del"]);
    assert!(
        !s.delete(&n, "k", Precondition::Any).await.unwrap(),
        "deleting nothing reports existed = false"
    );
    let v = s.put(&n, "k", jv(json!(1))).await.unwrap();
    let before = env.last_lsn().await;
    assert_precondition(
        s.delete(&n, "k", Precondition::IfVersion(Version(v.0 + 1)))
            .await,
        Some(v),
    );
    assert_precondition(s.delete(&n, "k", Precondition::IfAbsent).await, Some(v));
    assert_eq!(env.last_lsn().await, before);
    assert_eq!(s.get(&n, "k").await.unwrap().unwrap().version, v);

    assert!(s.delete(&n, "k", Precondition::IfVersion(v)).await.unwrap());
    assert_eq!(s.get(&n, "k").await.unwrap(), None);
    assert!(env.last_lsn().await > before, "a delete is a write");
    assert_precondition(s.delete(&n, "k", Precondition::IfVersion(v)).await, None);
    assert!(!s.delete(&n, "k", Precondition::IfAbsent).await.unwrap());
    assert!(!s.delete(&n, "k", Precondition::Any).await.unwrap());
}

/// Merge and JSON patches with preconditions.
pub async fn patch_preconditions(make: &dyn MakeStore) {
    let env = Env::new(make).await;
    let s = &env.store;
    let n = ns(&["t", "patchpre"]);
    let v1 = s.put(&n, "k", jv(json!({"a": 1}))).await.unwrap();
    let merge = |d| PatchOp::Merge(d);
    let before = env.last_lsn().await;
    assert_precondition(
        s.patch(
            &n,
            "k",
            merge(json!({"a": 2})),
            Precondition::IfVersion(Version(v1.0 + 7)),
        )
        .await,
        Some(v1),
    );
    assert_precondition(
        s.patch(&n, "k", merge(json!({"a": 2})), Precondition::IfAbsent)
            .await,
        Some(v1),
    );
    assert_precondition(
        s.patch(
            &n,
            "k",
            json_patch(json!([{"op": "replace", "path": "/a", "value": 2}])),
            Precondition::IfVersion(Version(0)),
        )
        .await,
        Some(v1),
    );
    assert_eq!(env.last_lsn().await, before);
    assert_eq!(doc(s, &n, "k").await, json!({"a": 1}));

    let v2 = s
        .patch(&n, "k", merge(json!({"b": 2})), Precondition::IfVersion(v1))
        .await
        .unwrap();
    assert!(v2 > v1);
    let v3 = s
        .patch(
            &n,
            "k",
            json_patch(json!([{"op": "replace", "path": "/a", "value": 3}])),
            Precondition::IfVersion(v2),
        )
        .await
        .unwrap();
    assert!(v3 > v2);
    assert_eq!(doc(s, &n, "k").await, json!({"a": 3, "b": 2}));
    assert_eq!(s.get(&n, "k").await.unwrap().unwrap().version, v3);

    // Absent item: IfAbsent merge creates it, IfVersion fails with None.
    assert_precondition(
        s.patch(
            &n,
            "new",
            merge(json!({"x": 1})),
            Precondition::IfVersion(v3),
        )
        .await,
        None,
    );
    let vn = s
        .patch(&n, "new", merge(json!({"x": 1})), Precondition::IfAbsent)
        .await
        .unwrap();
    assert_eq!(s.get(&n, "new").await.unwrap().unwrap().version, vn);
    assert_eq!(doc(s, &n, "new").await, json!({"x": 1}));
}

/// get_many returns items in the order asked, from one view, with repeats and misses.
pub async fn get_many_in_order(make: &dyn MakeStore) {
    let env = Env::new(make).await;
    let s = &env.store;
    let (a, b) = (ns(&["t", "a"]), ns(&["t", "b"]));
    let va = s.put(&a, "x", jv(json!("ax"))).await.unwrap();
    let vb = s.put(&b, "x", jv(json!("bx"))).await.unwrap();
    let vc = s.put(&a, "z", jv(json!("az"))).await.unwrap();
    let got = s
        .get_many(&[
            (b.clone(), "x".into()),
            (a.clone(), "missing".into()),
            (a.clone(), "z".into()),
            (a.clone(), "x".into()),
            (b.clone(), "x".into()),
        ])
        .await
        .unwrap();
    let summary: Vec<Option<(String, Version)>> = got
        .iter()
        .map(|o| {
            o.as_ref().map(|i| {
                (
                    format!("{}/{}={}", i.ns, i.key, i.value.to_json().unwrap()),
                    i.version,
                )
            })
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            Some(("t/b/x=\"bx\"".into(), vb)),
            None,
            Some(("t/a/z=\"az\"".into(), vc)),
            Some(("t/a/x=\"ax\"".into(), va)),
            Some(("t/b/x=\"bx\"".into(), vb)),
        ]
    );
    assert_eq!(s.get_many(&[]).await.unwrap(), Vec::new());
    assert!(matches!(
        s.get_many(&[(a.clone(), "x".into()), (a.clone(), String::new())])
            .await,
        Err(Error::InvalidInput { .. })
    ));
}
