//! Atomic batches and write_many.

use super::*;
use crate::{BatchError, Error, Fence, Mutation, Outcome, PatchOp, Precondition, Rule, Version};
use serde_json::json;

/// A batch across namespaces applies in order, all of it, each mutation seeing the ones
/// before it.
pub async fn batch_atomic_across_namespaces(make: &dyn MakeStore) {
    let env = Env::new(make).await;
    let s = &env.store;
    let (a, b, c) = (ns(&["t", "a"]), ns(&["t", "b"]), ns(&["u", "c"]));
    let before = env.last_lsn().await;
    let out = s
        .batch(vec![
            Mutation::put(a.clone(), "x", jv(json!({"v": 1}))).when(Precondition::IfAbsent),
            Mutation::put(b.clone(), "y", jv(json!({"v": 2}))),
            Mutation::delete(a.clone(), "absent"),
            Mutation::Append {
                ns: c.clone(),
                stream: "s".into(),
                entries: vec![jv(json!("e1")), jv(json!("e2"))],
                expected_last: Some(0),
            },
            Mutation::Patch {
                ns: b.clone(),
                key: "y".into(),
                patch: PatchOp::Merge(json!({"w": 3})),
                precondition: Precondition::Any,
                fence: None,
            },
            Mutation::delete(a.clone(), "x"),
            Mutation::put(a.clone(), "x", jv(json!("again"))).when(Precondition::IfAbsent),
        ])
        .await
        .expect("batch commits");
    assert_eq!(out.len(), 7);
    let v: Vec<Version> = out.iter().filter_map(Outcome::version).collect();
    assert_eq!(v.len(), 4);
    assert!(
        v.windows(2).all(|w| w[0] < w[1]),
        "versions grow within a batch"
    );
    assert!(v[0].0 > before);
    assert_eq!(out[2], Outcome::Deleted { existed: false });
    assert_eq!(
        out[3],
        Outcome::Appended {
            first_seq: 1,
            last_seq: 2
        }
    );
    assert_eq!(out[5], Outcome::Deleted { existed: true });
    assert_eq!(doc(s, &a, "x").await, json!("again"));
    assert_eq!(doc(s, &b, "y").await, json!({"v": 2, "w": 3}));
    let it = s.get(&b, "y").await.unwrap().unwrap();
    assert_eq!(it.version, v[2], "the patch saw the put before it");
    assert_eq!(s.get(&a, "x").await.unwrap().unwrap().version, v[3]);
    assert_eq!(s.stream_info(&c, "s").await.unwrap().unwrap().len, 2);
    assert_eq!(env.last_lsn().await, v[3].0);
    // Every write of the batch carries the same time.
    let changes = s.changes(before, 100).await.unwrap();
    assert!(changes.iter().all(|c| c.at == T0));
}

async fn assert_batch_fails(
    env: &Env,
    batch: Vec<Mutation>,
    index: usize,
    check: impl Fn(&Error) -> bool,
) {
    let s = &env.store;
    let before = env.last_lsn().await;
    let stats = s.stats(&crate::Namespace::root()).await.unwrap().namespaces;
    let snapshot = scan_all(
        s,
        crate::Scan {
            recursive: true,
            ..Default::default()
        },
        1000,
    )
    .await;
    match s.batch(batch).await {
        Err(BatchError { index: i, error }) => {
            assert_eq!(i, index, "failing index ({error:?})");
            assert!(check(&error), "unexpected error at {i}: {error:?}");
        }
        Ok(o) => panic!("batch should fail at {index}, committed {o:?}"),
    }
    assert_eq!(
        env.last_lsn().await,
        before,
        "a failed batch assigns no LSN"
    );
    assert_eq!(
        s.stats(&crate::Namespace::root()).await.unwrap().namespaces,
        stats,
        "a failed batch changes no counter"
    );
    let after = scan_all(
        s,
        crate::Scan {
            recursive: true,
            ..Default::default()
        },
        1000,
    )
    .await;
    assert_eq!(after, snapshot, "a failed batch writes nothing");
    assert!(s.changes(before, 10).await.unwrap().is_empty());
}

/// A failing mutation anywhere in a batch leaves nothing written and names its index.
pub async fn batch_failure_writes_nothing(make: &dyn MakeStore) {
    let env = Env::new(make).await;
    let s = &env.store;
    let (a, b, c) = (ns(&["t", "a"]), ns(&["t", "b"]), ns(&["u", "c"]));
    let vc = s.put(&a, "c", jv(json!({"n": 1}))).await.unwrap();
    s.append(&c, "s", vec![jv(json!(1))], None).await.unwrap();
    let lease = s
        .acquire_lease(&c, "l", "me", std::time::Duration::from_secs(60))
        .await
        .unwrap();

    // Precondition in the middle.
    assert_batch_fails(
        &env,
        vec![
            Mutation::put(a.clone(), "new", jv(json!(1))),
            Mutation::put(b.clone(), "new", jv(json!(2))),
            Mutation::put(a.clone(), "c", jv(json!(3)))
                .when(Precondition::IfVersion(Version(vc.0 + 100))),
            Mutation::put(b.clone(), "later", jv(json!(4))),
        ],
        2,
        |e| *e == Error::PreconditionFailed { current: Some(vc) },
    )
    .await;
    // A failing JSON Patch test.
    assert_batch_fails(
        &env,
        vec![
            Mutation::delete(a.clone(), "c"),
            Mutation::put(a.clone(), "c", jv(json!({"n": 5}))),
            Mutation::Patch {
                ns: a.clone(),
                key: "c".into(),
                patch: json_patch(json!([{"op": "test", "path": "/n", "value": 1}])),
                precondition: Precondition::Any,
                fence: None,
            },
        ],
        2,
        |e| matches!(e, Error::PatchFailed(_)),
    )
    .await;
    // A stream sequence mismatch at the end.
    assert_batch_fails(
        &env,
        vec![
            Mutation::put(b.clone(), "x", jv(json!(1))),
            Mutation::Append {
                ns: c.clone(),
                stream: "s".into(),
                entries: vec![jv(json!(2))],
                expected_last: Some(1),
            },
            Mutation::Append {
                ns: c.clone(),
                stream: "s".into(),
                entries: vec![jv(json!(3))],
                expected_last: Some(1),
            },
        ],
        2,
        |e| {
            *e == Error::SequenceMismatch {
                expected: 1,
                current: 2,
            }
        },
    )
    .await;
    // A stale fence first.
    assert_batch_fails(
        &env,
        vec![
            Mutation::Put {
                ns: b.clone(),
                key: "fenced".into(),
                value: jv(json!(1)),
                precondition: Precondition::Any,
                ttl: crate::Ttl::Default,
                subject: None,
                fence: Some(Fence {
                    ns: c.clone(),
                    name: "l".into(),
                    token: lease.token + 1,
                }),
            },
            Mutation::put(b.clone(), "x", jv(json!(1))),
        ],
        0,
        |e| matches!(e, Error::StaleFence { .. }),
    )
    .await;
    // The batch sees its own writes: a second IfAbsent create of the same key fails.
    assert_batch_fails(
        &env,
        vec![
            Mutation::put(b.clone(), "dup", jv(json!(1))).when(Precondition::IfAbsent),
            Mutation::put(b.clone(), "dup", jv(json!(2))).when(Precondition::IfAbsent),
        ],
        1,
        |e| matches!(e, Error::PreconditionFailed { current: Some(_) }),
    )
    .await;
    // Trimming a stream that does not exist, after a lease acquire and a stream delete.
    assert_batch_fails(
        &env,
        vec![
            Mutation::LeaseAcquire {
                ns: c.clone(),
                name: "other".into(),
                holder: "me".into(),
                ttl: std::time::Duration::from_secs(5),
            },
            Mutation::DeleteStream {
                ns: c.clone(),
                stream: "s".into(),
            },
            Mutation::Trim {
                ns: c.clone(),
                stream: "s".into(),
                to: crate::TrimTo::KeepLast(0),
            },
        ],
        2,
        |e| matches!(e, Error::NotFound { .. }),
    )
    .await;
    assert_eq!(s.get_lease(&c, "other").await.unwrap(), None);
    assert_eq!(s.stream_info(&c, "s").await.unwrap().unwrap().len, 1);
    // An invalid mutation: refused before anything runs, with its index.
    assert_batch_fails(
        &env,
        vec![
            Mutation::put(a.clone(), "ok", jv(json!(1))),
            Mutation::put(a.clone(), "ok2", jv(json!(1))),
            Mutation::put(a.clone(), "", jv(json!(1))),
        ],
        2,
        |e| {
            matches!(
                e,
                Error::InvalidInput {
                    rule: Rule::KeyEmpty,
                    ..
                }
            )
        },
    )
    .await;
    assert_eq!(s.get(&a, "c").await.unwrap().unwrap().version, vc);
}

/// write_many applies each mutation on its own and reports each result.
pub async fn write_many_per_item_status(make: &dyn MakeStore) {
    let env = Env::new(make).await;
    let s = &env.store;
    let (a, b) = (ns(&["t", "a"]), ns(&["t", "b"]));
    let vc = s.put(&a, "c", jv(json!({"n": 1}))).await.unwrap();
    let r = s
        .write_many(vec![
            Mutation::put(a.clone(), "x", jv(json!(1))),
            Mutation::put(a.clone(), "c", jv(json!(2)))
                .when(Precondition::IfVersion(Version(vc.0 + 9))),
            Mutation::put(a.clone(), "", jv(json!(3))),
            Mutation::put(b.clone(), "y", crate::Value::json_text("{not json")),
            Mutation::put(b.clone(), "y", jv(json!(4))).when(Precondition::IfAbsent),
            Mutation::Patch {
                ns: a.clone(),
                key: "c".into(),
                patch: json_patch(json!([{"op": "test", "path": "/n", "value": 2}])),
                precondition: Precondition::Any,
                fence: None,
            },
            Mutation::delete(a.clone(), "c").when(Precondition::IfVersion(vc)),
            Mutation::put(b.clone(), "y", jv(json!(5))).when(Precondition::IfAbsent),
            Mutation::delete(a.clone(), "never"),
        ])
        .await
        .expect("write_many as a whole succeeds");
    assert_eq!(r.len(), 9);
    let vx = r[0].as_ref().expect("written").version().expect("version");
    assert_eq!(r[1], Err(Error::PreconditionFailed { current: Some(vc) }));
    assert!(matches!(
        r[2],
        Err(Error::InvalidInput {
            rule: Rule::KeyEmpty,
            ..
        })
    ));
    assert!(matches!(
        r[3],
        Err(Error::InvalidInput {
            rule: Rule::Json,
            ..
        })
    ));
    let vy = r[4].as_ref().expect("written").version().expect("version");
    assert!(matches!(r[5], Err(Error::PatchFailed(_))));
    assert_eq!(r[6], Ok(Outcome::Deleted { existed: true }));
    assert_eq!(r[7], Err(Error::PreconditionFailed { current: Some(vy) }));
    assert_eq!(r[8], Ok(Outcome::Deleted { existed: false }));
    assert!(vx < vy);
    assert_eq!(doc(s, &a, "x").await, json!(1));
    assert_eq!(doc(s, &b, "y").await, json!(4));
    assert_eq!(s.get(&a, "c").await.unwrap(), None);
    assert_eq!(s.get(&a, "").await.ok().flatten(), None);

    // Nothing valid: nothing written. Nothing at all: nothing to do.
    let before = env.last_lsn().await;
    let r = s
        .write_many(vec![
            Mutation::put(a.clone(), "", jv(json!(1))),
            Mutation::put(b.clone(), "y", jv(json!(1))).when(Precondition::IfAbsent),
        ])
        .await
        .unwrap();
    assert!(r.iter().all(Result::is_err));
    assert_eq!(env.last_lsn().await, before);
    assert_eq!(s.write_many(vec![]).await.unwrap(), Vec::new());
}
