//! TTL: per item, per namespace default, sweeping.

use super::*;
use crate::{ChangeKind, Error, Mutation, Namespace, PatchOp, Precondition, Scan, Ttl, Value};
use serde_json::json;
use std::time::Duration;

fn put_ttl(n: &Namespace, key: &str, v: Value, ttl: Ttl) -> Mutation {
    Mutation::Put {
        ns: n.clone(),
        key: key.into(),
        value: v,
        precondition: Precondition::Any,
        ttl,
        subject: None,
        fence: None,
    }
}

async fn visible(s: &Subject, n: &Namespace, key: &str) -> bool {
    let by_get = s.get(n, key).await.unwrap().is_some();
    let by_many = s.get_many(&[(n.clone(), key.to_string())]).await.unwrap()[0].is_some();
    let by_scan = scan_all(
        s,
        Scan {
            ns: n.clone(),
            ..Default::default()
        },
        100,
    )
    .await
    .iter()
    .any(|i| i.key == key);
    assert_eq!(
        (by_get, by_many),
        (by_get, by_get),
        "get and get_many agree on {key}"
    );
    assert_eq!(by_get, by_scan, "get and scan agree on {key}");
    by_get
}

/// An item with Ttl::After is visible until its expiry time and invisible from then on.
pub async fn ttl_per_item(make: &dyn MakeStore) {
    let env = Env::new(make).await;
    let s = &env.store;
    let n = ns(&["t", "ttl"]);
    s.apply(put_ttl(
        &n,
        "k",
        jv(json!(1)),
        Ttl::After(Duration::from_secs(10)),
    ))
    .await
    .unwrap();
    s.put(&n, "forever", jv(json!(2))).await.unwrap();
    let it = s.get(&n, "k").await.unwrap().unwrap();
    assert_eq!(it.expires_at, Some(T0 + 10_000));
    assert_eq!(
        s.get(&n, "forever").await.unwrap().unwrap().expires_at,
        None
    );
    env.advance(9_999);
    assert!(visible(s, &n, "k").await, "visible until the expiry time");
    env.advance(1);
    assert!(!visible(s, &n, "k").await, "gone at the expiry time");
    assert!(visible(s, &n, "forever").await);
    env.advance(1_000_000);
    assert!(!visible(s, &n, "k").await);

    // A put without a TTL makes the item permanent; one with a TTL resets it.
    s.apply(put_ttl(
        &n,
        "k2",
        jv(json!(1)),
        Ttl::After(Duration::from_secs(5)),
    ))
    .await
    .unwrap();
    s.put(&n, "k2", jv(json!(2))).await.unwrap();
    env.advance(10_000);
    assert!(visible(s, &n, "k2").await, "a plain put clears the TTL");
    s.apply(put_ttl(
        &n,
        "k2",
        jv(json!(3)),
        Ttl::After(Duration::from_millis(1)),
    ))
    .await
    .unwrap();
    assert!(visible(s, &n, "k2").await);
    env.advance(1);
    assert!(!visible(s, &n, "k2").await);
}

/// The namespace default applies to later writes with Ttl::Default; the longest prefix
/// wins; Ttl::Never and Ttl::After override it; clearing it stops it.
pub async fn ttl_namespace_default(make: &dyn MakeStore) {
    let env = Env::new(make).await;
    let s = &env.store;
    let (t, ta, tb, u) = (ns(&["t"]), ns(&["t", "a"]), ns(&["t", "b"]), ns(&["u"]));
    s.put(&ta, "before", jv(json!(0))).await.unwrap();
    s.set_namespace_ttl(&t, Some(Duration::from_secs(3600)))
        .await
        .unwrap();
    s.set_namespace_ttl(&ta, Some(Duration::from_secs(60)))
        .await
        .unwrap();
    let mut ttls = s.namespace_ttls(&Namespace::root()).await.unwrap();
    ttls.sort();
    assert_eq!(
        ttls,
        vec![
            (t.clone(), Duration::from_secs(3600)),
            (ta.clone(), Duration::from_secs(60))
        ]
    );
    assert_eq!(
        s.namespace_ttls(&ta).await.unwrap(),
        vec![(ta.clone(), Duration::from_secs(60))]
    );
    let exp = |n: &Namespace, k: &'static str| {
        let n = n.clone();
        async move { s.get(&n, k).await.unwrap().expect("item").expires_at }
    };
    assert_eq!(
        exp(&ta, "before").await,
        None,
        "existing items keep their TTL"
    );

    s.put(&ta, "x", jv(json!(1))).await.unwrap();
    s.put(&ns(&["t", "a", "deep", "er"]), "x", jv(json!(1)))
        .await
        .unwrap();
    s.put(&tb, "x", jv(json!(1))).await.unwrap();
    s.put(&t, "x", jv(json!(1))).await.unwrap();
    s.put(&u, "x", jv(json!(1))).await.unwrap();
    s.put(&ns(&["tt"]), "x", jv(json!(1))).await.unwrap();
    s.apply(put_ttl(&ta, "never", jv(json!(1)), Ttl::Never))
        .await
        .unwrap();
    s.apply(put_ttl(
        &ta,
        "own",
        jv(json!(1)),
        Ttl::After(Duration::from_secs(7200)),
    ))
    .await
    .unwrap();
    s.patch(
        &tb,
        "patched",
        PatchOp::Merge(json!({"a": 1})),
        Precondition::Any,
    )
    .await
    .unwrap();
    assert_eq!(
        exp(&ta, "x").await,
        Some(T0 + 60_000),
        "longest prefix wins"
    );
    assert_eq!(
        exp(&ns(&["t", "a", "deep", "er"]), "x").await,
        Some(T0 + 60_000)
    );
    assert_eq!(exp(&tb, "x").await, Some(T0 + 3_600_000));
    assert_eq!(exp(&t, "x").await, Some(T0 + 3_600_000));
    assert_eq!(
        exp(&tb, "patched").await,
        Some(T0 + 3_600_000),
        "patch-created items too"
    );
    assert_eq!(exp(&u, "x").await, None);
    assert_eq!(exp(&ns(&["tt"]), "x").await, None, "tt is not under t");
    assert_eq!(exp(&ta, "never").await, None, "Ttl::Never overrides");
    assert_eq!(
        exp(&ta, "own").await,
        Some(T0 + 7_200_000),
        "Ttl::After overrides"
    );

    env.advance(60_000);
    assert!(!visible(s, &ta, "x").await);
    assert!(visible(s, &tb, "x").await);
    assert!(visible(s, &ta, "never").await);

    // Clearing the deeper default falls back to the shorter prefix; clearing both, to none.
    s.set_namespace_ttl(&ta, None).await.unwrap();
    s.put(&ta, "y", jv(json!(1))).await.unwrap();
    assert_eq!(exp(&ta, "y").await, Some(T0 + 60_000 + 3_600_000));
    s.set_namespace_ttl(&t, None).await.unwrap();
    s.put(&ta, "z", jv(json!(1))).await.unwrap();
    assert_eq!(exp(&ta, "z").await, None);
    assert!(s
        .namespace_ttls(&Namespace::root())
        .await
        .unwrap()
        .is_empty());
}

/// An expired item counts as absent for writes: IfAbsent holds, IfVersion fails with None,
/// delete reports nothing, a new write starts a new item.
pub async fn ttl_expired_item_is_absent_for_writes(make: &dyn MakeStore) {
    let env = Env::new(make).await;
    let s = &env.store;
    let n = ns(&["t", "ttlw"]);
    let short = Ttl::After(Duration::from_secs(1));
    let v = s
        .apply(put_ttl(&n, "k", jv(json!(1)), short))
        .await
        .unwrap()
        .version()
        .unwrap();
    s.apply(put_ttl(&n, "d", jv(json!(1)), short))
        .await
        .unwrap();
    s.apply(put_ttl(&n, "m", jv(json!({"old": 1})), short))
        .await
        .unwrap();
    s.apply(put_ttl(&n, "j", jv(json!({"old": 1})), short))
        .await
        .unwrap();
    env.advance(1_000);
    assert_precondition(
        s.put_if(&n, "k", jv(json!(2)), Precondition::IfVersion(v))
            .await,
        None,
    );
    assert!(!s.delete(&n, "d", Precondition::Any).await.unwrap());
    assert_precondition(s.delete(&n, "d", Precondition::IfVersion(v)).await, None);
    let v2 = s
        .put_if(&n, "k", jv(json!(2)), Precondition::IfAbsent)
        .await
        .expect("an expired item is absent");
    let it = s.get(&n, "k").await.unwrap().unwrap();
    assert_eq!(it.version, v2);
    assert_eq!(it.created_at, T0 + 1_000, "a new item");
    assert_eq!(it.expires_at, None);
    // A merge patch starts from {}, a JSON Patch finds nothing.
    s.patch(
        &n,
        "m",
        PatchOp::Merge(json!({"new": 1})),
        Precondition::IfAbsent,
    )
    .await
    .unwrap();
    assert_eq!(doc(s, &n, "m").await, json!({"new": 1}));
    assert!(matches!(
        s.patch(
            &n,
            "j",
            json_patch(json!([{"op": "add", "path": "/x", "value": 1}])),
            Precondition::Any
        )
        .await,
        Err(crate::Error::NotFound { .. })
    ));
    // Counters only count what is physically there: k and m replaced, j still waiting.
    let st = ns_stats(s, &n).await;
    assert_eq!(
        st.items, 3,
        "k and m replaced, the expired j until swept (d was deleted)"
    );
    assert_eq!(s.sweep_expired(100).await.unwrap(), 1);
    assert_eq!(ns_stats(s, &n).await.items, 2);
}

/// sweep_expired removes expired items physically, counts them, emits an Expire change each,
/// and leaves live and rewritten items alone.
pub async fn ttl_sweep_removes_and_emits(make: &dyn MakeStore) {
    let env = Env::new(make).await;
    let s = &env.store;
    let (a, b) = (ns(&["t", "a"]), ns(&["t", "b"]));
    for i in 0..5 {
        s.apply(put_ttl(
            &a,
            &format!("e{i}"),
            jv(json!("12345")),
            Ttl::After(Duration::from_secs(10 + i)),
        ))
        .await
        .unwrap();
    }
    s.apply(put_ttl(
        &b,
        "e",
        jv(json!(1)),
        Ttl::After(Duration::from_secs(10)),
    ))
    .await
    .unwrap();
    s.apply(put_ttl(
        &b,
        "rewritten",
        jv(json!(1)),
        Ttl::After(Duration::from_secs(10)),
    ))
    .await
    .unwrap();
    s.put(&a, "live", jv(json!(1))).await.unwrap();
    s.put(&b, "rewritten", jv(json!(2))).await.unwrap();
    assert_eq!(ns_stats(s, &a).await.items, 6);
    assert_eq!(ns_stats(s, &a).await.item_bytes, 5 * 7 + 1);
    assert_eq!(ns_stats(s, &b).await.items, 2);

    assert_eq!(s.sweep_expired(100).await.unwrap(), 0, "nothing due yet");
    env.advance(11_000); // e0, e1 of a and e of b are due
    let lsn = env.last_lsn().await;
    assert_eq!(s.sweep_expired(2).await.unwrap(), 2, "the limit holds");
    assert_eq!(s.sweep_expired(100).await.unwrap(), 1);
    assert_eq!(s.sweep_expired(100).await.unwrap(), 0);
    let st = ns_stats(s, &a).await;
    assert_eq!((st.items, st.item_bytes), (4, 3 * 7 + 1));
    assert_eq!(ns_stats(s, &b).await.items, 1);
    let changes = s.changes(lsn, 100).await.unwrap();
    let mut expired: Vec<String> = changes
        .iter()
        .map(|c| match &c.kind {
            ChangeKind::Expire { ns, key } => format!("{ns}/{key}"),
            k => panic!("a sweep only emits Expire changes, got {k:?}"),
        })
        .collect();
    expired.sort();
    assert_eq!(expired, ["t/a/e0", "t/a/e1", "t/b/e"]);
    assert!(changes.iter().all(|c| c.at == T0 + 11_000));
    assert!(visible(s, &b, "rewritten").await);
    assert!(visible(s, &a, "e2").await);

    env.advance(1_000_000);
    assert_eq!(s.sweep_expired(100).await.unwrap(), 3);
    let st = ns_stats(s, &a).await;
    assert_eq!((st.items, st.item_bytes), (1, 1));
    // An emptied namespace disappears from the counters.
    s.apply(put_ttl(
        &ns(&["t", "c"]),
        "only",
        jv(json!(1)),
        Ttl::After(Duration::from_secs(1)),
    ))
    .await
    .unwrap();
    env.advance(1_000);
    assert_eq!(s.sweep_expired(100).await.unwrap(), 1);
    let all = s.stats(&ns(&["t"])).await.unwrap().namespaces;
    assert!(all.iter().all(|(n, _)| *n != ns(&["t", "c"])));
}

/// A touch through the general entry point: a new operation needs no method of its own.
async fn touch(s: &Subject, n: &Namespace, key: &str, ttl: Ttl) -> crate::Result<crate::Version> {
    let m = Mutation::Touch {
        ns: n.clone(),
        key: key.into(),
        ttl,
        fence: None,
    };
    match s.apply(m).await? {
        crate::Outcome::Written { version } => Ok(version),
        o => panic!("a touch answers Written, got {o:?}"),
    }
}

/// `touch` renews an item's TTL without its value: the version stays (a writer holding it
/// still wins its `If-Match`), the new expiry holds for reads and for the sweeper, the feed
/// records it, and a missing or expired item is `NotFound`.
pub async fn ttl_touch_renews_keeping_the_version(make: &dyn MakeStore) {
    let env = Env::new(make).await;
    let s = &env.store;
    let n = ns(&["t", "touch"]);
    let ten = Ttl::After(Duration::from_secs(10));
    let value = jv(json!({"turns": 3}));
    let v = s.apply(put_ttl(&n, "k", value.clone(), ten)).await.unwrap();
    let v = v.version().unwrap();
    env.advance(8_000);
    let before = s.changes(0, 10_000).await.unwrap().len();
    assert_eq!(
        touch(s, &n, "k", ten).await.unwrap(),
        v,
        "touch keeps the version"
    );
    let it = s.get(&n, "k").await.unwrap().unwrap();
    assert_eq!(
        (it.version, &it.value),
        (v, &value),
        "value and version untouched"
    );
    assert_eq!(
        it.expires_at,
        Some(T0 + 8_000 + 10_000),
        "the TTL counts from the touch"
    );

    let feed = s.changes(0, 10_000).await.unwrap();
    assert_eq!(feed.len(), before + 1, "the touch is in the change feed");
    match &feed[feed.len() - 1].kind {
        ChangeKind::Put(item) => {
            assert_eq!((item.version, item.expires_at), (v, it.expires_at));
            assert_eq!(item.value, value);
        }
        k => panic!("a touch is recorded as the item's new state, got {k:?}"),
    }

    env.advance(5_000); // past the first expiry, before the renewed one
    assert!(
        visible(s, &n, "k").await,
        "the old expiry no longer applies"
    );
    assert_eq!(
        s.sweep_expired(100).await.unwrap(),
        0,
        "nor for the sweeper"
    );
    let v2 = s
        .put_if(&n, "k", jv(json!(2)), Precondition::IfVersion(v))
        .await
        .unwrap();
    assert!(v2 > v, "a writer that read before the touch still wins");

    touch(s, &n, "k", Ttl::After(Duration::from_secs(1)))
        .await
        .unwrap();
    touch(s, &n, "k", Ttl::Never).await.unwrap();
    env.advance(1_000_000);
    assert!(visible(s, &n, "k").await, "Ttl::Never makes it permanent");
    assert_eq!(s.sweep_expired(100).await.unwrap(), 0);

    let missing = touch(s, &n, "missing", ten).await;
    assert!(
        matches!(missing, Err(Error::NotFound { .. })),
        "{missing:?}"
    );
    s.apply(put_ttl(
        &n,
        "e",
        jv(json!(1)),
        Ttl::After(Duration::from_secs(1)),
    ))
    .await
    .unwrap();
    env.advance(1_000);
    let expired = touch(s, &n, "e", ten).await;
    assert!(
        matches!(expired, Err(Error::NotFound { .. })),
        "{expired:?}"
    );
    assert!(!visible(s, &n, "e").await, "an expired item is not revived");
}
