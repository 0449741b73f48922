//! Leases and fencing tokens.

use super::*;
use crate::{Error, Fence, Mutation, PatchOp, Precondition, Ttl};
use serde_json::json;
use std::time::Duration;

const TTL: Duration = Duration::from_secs(10);

/// Acquire; a second holder gets LeaseHeld; the holder acquiring again keeps its token.
pub async fn lease_acquire_and_held(make: &dyn MakeStore) {
    let env = Env::new(make).await;
    let s = &env.store;
    let n = ns(&["t", "leases"]);
    assert_eq!(s.get_lease(&n, "job").await.unwrap(), None);
    let l = s.acquire_lease(&n, "job", "alice", TTL).await.unwrap();
    assert_eq!(
        (l.ns.clone(), l.name.as_str(), l.holder.as_str()),
        (n.clone(), "job", "alice")
    );
    assert_eq!(l.expires_at, T0 + 10_000);
    assert!(l.token > 0);
    assert_eq!(s.get_lease(&n, "job").await.unwrap(), Some(l.clone()));

    env.advance(9_999);
    let before = env.last_lsn().await;
    match s.acquire_lease(&n, "job", "bob", TTL).await {
        Err(Error::LeaseHeld {
            holder,
            expires_at_ms,
        }) => assert_eq!((holder.as_str(), expires_at_ms), ("alice", T0 + 10_000)),
        other => panic!("expected LeaseHeld, got {other:?}"),
    }
    assert_eq!(
        env.last_lsn().await,
        before,
        "a refused acquire writes nothing"
    );
    assert_eq!(s.get_lease(&n, "job").await.unwrap(), Some(l.clone()));

    // Other names and namespaces are independent.
    let other = s.acquire_lease(&n, "job2", "bob", TTL).await.unwrap();
    assert!(other.token > l.token);
    s.acquire_lease(&ns(&["t", "leases2"]), "job", "bob", TTL)
        .await
        .unwrap();

    // The live holder acquiring again extends the lease and keeps the token.
    let again = s.acquire_lease(&n, "job", "alice", TTL).await.unwrap();
    assert_eq!(again.token, l.token);
    assert_eq!(again.expires_at, T0 + 9_999 + 10_000);
    assert_eq!(s.get_lease(&n, "job").await.unwrap(), Some(again));
}

/// After expiry another holder acquires, with a larger token; the old token is stale.
pub async fn lease_expiry_gives_bigger_token(make: &dyn MakeStore) {
    let env = Env::new(make).await;
    let s = &env.store;
    let n = ns(&["t", "leases"]);
    let a = s.acquire_lease(&n, "job", "alice", TTL).await.unwrap();
    env.advance(10_000);
    assert_eq!(
        s.get_lease(&n, "job").await.unwrap(),
        None,
        "an expired lease is not reported"
    );
    let b = s.acquire_lease(&n, "job", "bob", TTL).await.unwrap();
    assert!(b.token > a.token, "tokens grow with every new holder");
    assert_eq!(b.holder, "bob");
    assert_eq!(b.expires_at, T0 + 20_000);
    match s.renew_lease(&n, "job", a.token, TTL).await {
        Err(Error::StaleFence { presented, current }) => {
            assert_eq!((presented, current), (a.token, Some(b.token)))
        }
        other => panic!("expected StaleFence, got {other:?}"),
    }
    assert!(matches!(
        s.release_lease(&n, "job", a.token).await,
        Err(Error::StaleFence { .. })
    ));
    assert_eq!(s.get_lease(&n, "job").await.unwrap(), Some(b.clone()));
    // The old holder comes back after bob's lease expires: a token larger again.
    env.advance(10_000);
    let a2 = s.acquire_lease(&n, "job", "alice", TTL).await.unwrap();
    assert!(a2.token > b.token);
}

/// Renew extends the current lease; release frees it at once; tokens never go back.
pub async fn lease_renew_and_release(make: &dyn MakeStore) {
    let env = Env::new(make).await;
    let s = &env.store;
    let n = ns(&["t", "leases"]);
    let a = s.acquire_lease(&n, "job", "alice", TTL).await.unwrap();
    env.advance(8_000);
    let r = s
        .renew_lease(&n, "job", a.token, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!((r.token, r.holder.as_str()), (a.token, "alice"));
    assert_eq!(r.expires_at, T0 + 8_000 + 30_000);
    env.advance(20_000);
    assert_eq!(
        s.get_lease(&n, "job").await.unwrap(),
        Some(r.clone()),
        "renewed lease outlives its first TTL"
    );
    assert!(matches!(
        s.acquire_lease(&n, "job", "bob", TTL).await,
        Err(Error::LeaseHeld { .. })
    ));
    assert!(matches!(
        s.renew_lease(&n, "job", a.token + 1, TTL).await,
        Err(Error::StaleFence { .. })
    ));
    s.release_lease(&n, "job", a.token).await.unwrap();
    assert_eq!(s.get_lease(&n, "job").await.unwrap(), None);
    // A released token is stale: no renew, no second release.
    match s.renew_lease(&n, "job", a.token, TTL).await {
        Err(Error::StaleFence { presented, current }) => {
            assert_eq!((presented, current), (a.token, None))
        }
        other => panic!("expected StaleFence, got {other:?}"),
    }
    assert!(matches!(
        s.release_lease(&n, "job", a.token).await,
        Err(Error::StaleFence { .. })
    ));
    // Anyone may acquire right after a release, with a larger token.
    let b = s.acquire_lease(&n, "job", "bob", TTL).await.unwrap();
    assert!(b.token > a.token);
    // Even the same holder gets a new token after releasing.
    s.release_lease(&n, "job", b.token).await.unwrap();
    let b2 = s.acquire_lease(&n, "job", "bob", TTL).await.unwrap();
    assert!(b2.token > b.token);
    // Unknown leases cannot be renewed or released.
    assert!(matches!(
        s.renew_lease(&n, "nope", 1, TTL).await,
        Err(Error::StaleFence { current: None, .. })
    ));
    assert!(matches!(
        s.release_lease(&n, "nope", 1).await,
        Err(Error::StaleFence { current: None, .. })
    ));
}

fn fenced(m: Mutation, f: &Fence) -> Mutation {
    let mut m = m;
    match &mut m {
        Mutation::Put { fence, .. }
        | Mutation::Delete { fence, .. }
        | Mutation::Patch { fence, .. } => *fence = Some(f.clone()),
        _ => {}
    }
    m
}

/// Writes with a stale fencing token are refused and change nothing; the current token
/// passes.
pub async fn lease_fencing(make: &dyn MakeStore) {
    let env = Env::new(make).await;
    let s = &env.store;
    let ln = ns(&["t", "locks"]);
    let n = ns(&["t", "data"]);
    let a = s.acquire_lease(&ln, "writer", "alice", TTL).await.unwrap();
    let fa = Fence {
        ns: ln.clone(),
        name: "writer".into(),
        token: a.token,
    };
    // The current token passes, for puts, patches and deletes.
    let v1 = s
        .apply(fenced(Mutation::put(n.clone(), "k", jv(json!(1))), &fa))
        .await
        .unwrap()
        .version()
        .unwrap();
    s.apply(fenced(
        Mutation::Patch {
            ns: n.clone(),
            key: "k".into(),
            patch: PatchOp::Merge(json!({"p": 1})),
            precondition: Precondition::Any,
            fence: None,
        },
        &fa,
    ))
    .await
    .unwrap();
    s.apply(fenced(Mutation::put(n.clone(), "gone", jv(json!(1))), &fa))
        .await
        .unwrap();
    s.apply(fenced(Mutation::delete(n.clone(), "gone"), &fa))
        .await
        .unwrap();
    assert!(v1.0 > 0);

    // Alice's lease lapses and bob takes over: alice's token is stale.
    env.advance(10_000);
    let b = s.acquire_lease(&ln, "writer", "bob", TTL).await.unwrap();
    let fb = Fence {
        token: b.token,
        ..fa.clone()
    };
    let item = s.get(&n, "k").await.unwrap().unwrap();
    let before = env.last_lsn().await;
    let stale = [
        Mutation::put(n.clone(), "k", jv(json!("stale"))),
        Mutation::put(n.clone(), "new", jv(json!("stale"))),
        Mutation::Put {
            ns: n.clone(),
            key: "k".into(),
            value: jv(json!("stale")),
            precondition: Precondition::IfVersion(item.version),
            ttl: Ttl::Default,
            subject: None,
            fence: None,
        },
        Mutation::delete(n.clone(), "k"),
        Mutation::Patch {
            ns: n.clone(),
            key: "k".into(),
            patch: PatchOp::Merge(json!({"stale": true})),
            precondition: Precondition::Any,
            fence: None,
        },
    ];
    for m in stale {
        match s.apply(fenced(m.clone(), &fa)).await {
            Err(Error::StaleFence { presented, current }) => {
                assert_eq!((presented, current), (a.token, Some(b.token)), "{m:?}")
            }
            other => panic!("{m:?} with a stale fence: expected StaleFence, got {other:?}"),
        }
    }
    // A token from the future is refused too.
    let future = Fence {
        token: b.token + 1000,
        ..fa.clone()
    };
    assert!(matches!(
        s.apply(fenced(Mutation::put(n.clone(), "k", jv(json!(0))), &future))
            .await,
        Err(Error::StaleFence { .. })
    ));
    // A fence naming a lease that never existed is refused.
    let unknown = Fence {
        ns: ln.clone(),
        name: "nobody".into(),
        token: a.token,
    };
    assert!(matches!(
        s.apply(fenced(
            Mutation::put(n.clone(), "k", jv(json!(0))),
            &unknown
        ))
        .await,
        Err(Error::StaleFence { current: None, .. })
    ));
    assert_eq!(env.last_lsn().await, before, "refused writes assign no LSN");
    assert_eq!(s.get(&n, "k").await.unwrap().unwrap(), item);
    assert_eq!(s.get(&n, "new").await.unwrap(), None);

    // Bob's token works; after bob releases, bob's token is stale too.
    s.apply(fenced(Mutation::put(n.clone(), "k", jv(json!("bob"))), &fb))
        .await
        .unwrap();
    assert_eq!(doc(s, &n, "k").await, json!("bob"));
    s.release_lease(&ln, "writer", b.token).await.unwrap();
    assert!(matches!(
        s.apply(fenced(Mutation::put(n.clone(), "k", jv(json!(0))), &fb))
            .await,
        Err(Error::StaleFence { current: None, .. })
    ));
    assert_eq!(doc(s, &n, "k").await, json!("bob"));
}
