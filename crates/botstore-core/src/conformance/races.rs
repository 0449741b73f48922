//! Concurrency: many tasks racing conditional writes, creates, patches, appends, batches.

use super::*;
use crate::{Error, Mutation, PatchOp, Precondition, Result, Version};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use tokio::sync::Barrier;

/// Tasks in each race.
pub const TASKS: usize = 16;
/// Rounds of the round-based races.
pub const ROUNDS: usize = 8;

async fn join_all<T: Send + 'static>(hs: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::with_capacity(hs.len());
    for h in hs {
        out.push(h.await.expect("a racing task panicked"));
    }
    out
}

/// Each round every task reads the same version and tries `put_if(IfVersion)`: exactly one
/// wins, every loser is told the winner's version.
pub async fn race_conditional_updates(make: &dyn MakeStore) {
    let env = Env::new(make).await;
    let n = ns(&["race", "cas"]);
    env.store
        .put(&n, "k", jv(json!({"round": 0})))
        .await
        .unwrap();
    let barrier = Arc::new(Barrier::new(TASKS));
    let mut hs = Vec::new();
    for t in 0..TASKS {
        let (s, n, barrier) = (env.store.clone(), n.clone(), Arc::clone(&barrier));
        hs.push(tokio::spawn(async move {
            let mut log: Vec<(Version, Result<Version>)> = Vec::new();
            for round in 0..ROUNDS {
                barrier.wait().await;
                let cur = s.get(&n, "k").await.unwrap().expect("item").version;
                barrier.wait().await;
                let r = s
                    .put_if(
                        &n,
                        "k",
                        jv(json!({"round": round + 1, "by": t})),
                        Precondition::IfVersion(cur),
                    )
                    .await;
                log.push((cur, r));
                barrier.wait().await;
            }
            log
        }));
    }
    let logs = join_all(hs).await;
    let mut last = Version(0);
    for round in 0..ROUNDS {
        let attempts: Vec<&(Version, Result<Version>)> = logs.iter().map(|l| &l[round]).collect();
        let read = attempts[0].0;
        assert!(
            attempts.iter().all(|a| a.0 == read),
            "round {round}: all tasks read the same version"
        );
        if round > 0 {
            assert_eq!(read, last, "round {round}: everyone reads the last winner");
        }
        let wins: Vec<Version> = attempts
            .iter()
            .filter_map(|a| a.1.as_ref().ok().copied())
            .collect();
        assert_eq!(
            wins.len(),
            1,
            "round {round}: exactly one winner, got {wins:?}"
        );
        let w = wins[0];
        for a in &attempts {
            match &a.1 {
                Ok(_) => {}
                Err(Error::PreconditionFailed { current }) => {
                    assert_eq!(*current, Some(w), "round {round}: losers see the winner")
                }
                Err(e) => panic!("round {round}: unexpected error {e:?}"),
            }
        }
        last = w;
    }
    let it = env.store.get(&n, "k").await.unwrap().unwrap();
    assert_eq!(it.version, last);
    assert_eq!(it.value.to_json().unwrap()["round"], json!(ROUNDS));
}

/// A compare-and-swap counter incremented by many tasks with retries loses no increment.
pub async fn race_cas_counter(make: &dyn MakeStore) {
    const PER_TASK: u64 = 10;
    let env = Env::new(make).await;
    let n = ns(&["race", "counter"]);
    env.store.put(&n, "c", jv(json!(0))).await.unwrap();
    let mut hs = Vec::new();
    for _ in 0..TASKS {
        let (s, n) = (env.store.clone(), n.clone());
        hs.push(tokio::spawn(async move {
            let mut versions = Vec::new();
            let mut conflicts = 0u64;
            for _ in 0..PER_TASK {
                loop {
                    let it = s.get(&n, "c").await.unwrap().expect("counter");
                    let c = it.value.to_json().unwrap().as_u64().expect("number");
                    match s
                        .put_if(
                            &n,
                            "c",
                            jv(json!(c + 1)),
                            Precondition::IfVersion(it.version),
                        )
                        .await
                    {
                        Ok(v) => {
                            versions.push(v);
                            break;
                        }
                        Err(Error::PreconditionFailed { current: Some(cur) }) => {
                            assert!(cur > it.version, "versions only grow");
                            conflicts += 1;
                            tokio::task::yield_now().await;
                        }
                        Err(e) => panic!("unexpected {e:?}"),
                    }
                }
            }
            (versions, conflicts)
        }));
    }
    let results = join_all(hs).await;
    let all: Vec<Version> = results.iter().flat_map(|r| r.0.clone()).collect();
    let unique: HashSet<Version> = all.iter().copied().collect();
    assert_eq!(all.len() as u64, TASKS as u64 * PER_TASK);
    assert_eq!(
        unique.len(),
        all.len(),
        "every successful write has its own version"
    );
    assert_eq!(
        doc(&env.store, &n, "c").await,
        json!(TASKS as u64 * PER_TASK),
        "no increment was lost"
    );
}

/// Each round every task tries to create the same key with IfAbsent: exactly one wins.
pub async fn race_if_absent_create(make: &dyn MakeStore) {
    let env = Env::new(make).await;
    let n = ns(&["race", "create"]);
    let barrier = Arc::new(Barrier::new(TASKS));
    let mut hs = Vec::new();
    for t in 0..TASKS {
        let (s, n, barrier) = (env.store.clone(), n.clone(), Arc::clone(&barrier));
        hs.push(tokio::spawn(async move {
            let mut log = Vec::new();
            for round in 0..ROUNDS {
                barrier.wait().await;
                let r = s
                    .put_if(
                        &n,
                        "lock",
                        jv(json!({"owner": t, "round": round})),
                        Precondition::IfAbsent,
                    )
                    .await;
                barrier.wait().await;
                let owner = s.get(&n, "lock").await.unwrap().expect("created");
                barrier.wait().await;
                if let Ok(v) = &r {
                    assert!(
                        s.delete(&n, "lock", Precondition::IfVersion(*v))
                            .await
                            .unwrap(),
                        "the winner deletes its own item"
                    );
                }
                log.push((r, owner));
            }
            log
        }));
    }
    let logs = join_all(hs).await;
    for round in 0..ROUNDS {
        let winners: Vec<(usize, Version)> = logs
            .iter()
            .enumerate()
            .filter_map(|(t, l)| l[round].0.as_ref().ok().map(|v| (t, *v)))
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: exactly one create wins");
        let (t, v) = winners[0];
        for l in &logs {
            let (r, owner) = &l[round];
            assert_eq!(owner.version, v, "everyone reads the winner's item");
            assert_eq!(owner.value.to_json().unwrap()["owner"], json!(t));
            match r {
                Ok(_) => {}
                Err(Error::PreconditionFailed { current }) => assert_eq!(*current, Some(v)),
                Err(e) => panic!("unexpected {e:?}"),
            }
        }
    }
    assert_eq!(env.store.get(&n, "lock").await.unwrap(), None);
}

/// Many tasks merge-patching different fields of one item, and appending to one array with
/// JSON Patch, lose nothing.
pub async fn race_merge_patches(make: &dyn MakeStore) {
    const PER_TASK: usize = 10;
    let env = Env::new(make).await;
    let n = ns(&["race", "patch"]);
    env.store
        .put(&n, "doc", jv(json!({"log": []})))
        .await
        .unwrap();
    let mut hs = Vec::new();
    for t in 0..TASKS {
        let (s, n) = (env.store.clone(), n.clone());
        hs.push(tokio::spawn(async move {
            let mut vs = Vec::new();
            for j in 0..PER_TASK {
                let field = format!("f{t}");
                vs.push(
                    s.patch(
                        &n,
                        "doc",
                        PatchOp::Merge(json!({ field: j, "shared": {format!("t{t}"): j} })),
                        Precondition::Any,
                    )
                    .await
                    .unwrap(),
                );
                if j % 2 == 0 {
                    vs.push(
                        s.patch(
                            &n,
                            "doc",
                            json_patch(
                                json!([{"op": "add", "path": "/log/-", "value": format!("{t}-{j}")}]),
                            ),
                            Precondition::Any,
                        )
                        .await
                        .unwrap(),
                    );
                }
            }
            vs
        }));
    }
    let vs: Vec<Version> = join_all(hs).await.into_iter().flatten().collect();
    let unique: HashSet<Version> = vs.iter().copied().collect();
    assert_eq!(unique.len(), vs.len());
    let d = doc(&env.store, &n, "doc").await;
    for t in 0..TASKS {
        assert_eq!(d[format!("f{t}")], json!(PER_TASK - 1), "field of task {t}");
        assert_eq!(d["shared"][format!("t{t}")], json!(PER_TASK - 1));
    }
    let log: BTreeSet<String> = d["log"]
        .as_array()
        .expect("log array")
        .iter()
        .map(|v| v.as_str().expect("string").to_owned())
        .collect();
    let want: BTreeSet<String> = (0..TASKS)
        .flat_map(|t| (0..PER_TASK).step_by(2).map(move |j| format!("{t}-{j}")))
        .collect();
    assert_eq!(
        d["log"].as_array().unwrap().len(),
        want.len(),
        "no duplicates"
    );
    assert_eq!(log, want, "every JSON Patch append is there");
    let it = env.store.get(&n, "doc").await.unwrap().unwrap();
    assert_eq!(
        Some(&it.version),
        vs.iter().max(),
        "the last patch is the version"
    );
}

/// Concurrent appends to one stream get disjoint, gapless sequence ranges.
pub async fn race_appends(make: &dyn MakeStore) {
    const PER_TASK: usize = 10;
    let env = Env::new(make).await;
    let n = ns(&["race", "stream"]);
    let mut hs = Vec::new();
    for t in 0..TASKS {
        let (s, n) = (env.store.clone(), n.clone());
        hs.push(tokio::spawn(async move {
            let mut ranges = Vec::new();
            for j in 0..PER_TASK {
                let count = 1 + (t + j) % 3;
                let entries = (0..count).map(|e| jv(json!([t, j, e]))).collect();
                let (first, last) = s.append(&n, "log", entries, None).await.unwrap();
                assert_eq!(last - first + 1, count as u64);
                ranges.push((first, last, t, j));
            }
            ranges
        }));
    }
    let mut ranges: Vec<(u64, u64, usize, usize)> =
        join_all(hs).await.into_iter().flatten().collect();
    ranges.sort_unstable();
    let mut next = 1;
    let mut want = BTreeMap::new();
    for &(first, last, t, j) in &ranges {
        assert_eq!(first, next, "ranges are disjoint and gapless");
        for (e, seq) in (first..=last).enumerate() {
            want.insert(seq, json!([t, j, e]));
        }
        next = last + 1;
    }
    let total = next - 1;
    let info = env.store.stream_info(&n, "log").await.unwrap().unwrap();
    assert_eq!((info.len, info.first_seq, info.last_seq), (total, 1, total));
    let entries = env
        .store
        .read_stream(&n, "log", None, crate::Direction::Forward, 10_000)
        .await
        .unwrap();
    let got: BTreeMap<u64, serde_json::Value> = entries
        .into_iter()
        .map(|e| (e.seq, e.value.to_json().unwrap()))
        .collect();
    assert_eq!(got, want, "every entry is where its append said");
}

/// Atomic transfers between two items in different namespaces, done by many tasks with
/// IfVersion retries, keep the total.
pub async fn race_atomic_transfers(make: &dyn MakeStore) {
    const PER_TASK: usize = 6;
    let env = Env::new(make).await;
    let (a, b) = (ns(&["race", "bank", "a"]), ns(&["race", "bank", "b"]));
    env.store.put(&a, "acct", jv(json!(1000))).await.unwrap();
    env.store.put(&b, "acct", jv(json!(1000))).await.unwrap();
    let mut hs = Vec::new();
    for t in 0..TASKS {
        let (s, a, b) = (env.store.clone(), a.clone(), b.clone());
        hs.push(tokio::spawn(async move {
            let mut moved = 0i64;
            for j in 0..PER_TASK {
                let amount = ((t * 7 + j * 3) % 11) as i64 - 5;
                loop {
                    let got = s
                        .get_many(&[(a.clone(), "acct".into()), (b.clone(), "acct".into())])
                        .await
                        .unwrap();
                    let (ia, ib) = (got[0].clone().unwrap(), got[1].clone().unwrap());
                    let va = ia.value.to_json().unwrap().as_i64().unwrap();
                    let vb = ib.value.to_json().unwrap().as_i64().unwrap();
                    let r = s
                        .batch(vec![
                            Mutation::put(a.clone(), "acct", jv(json!(va - amount)))
                                .when(Precondition::IfVersion(ia.version)),
                            Mutation::put(b.clone(), "acct", jv(json!(vb + amount)))
                                .when(Precondition::IfVersion(ib.version)),
                        ])
                        .await;
                    match r {
                        Ok(o) => {
                            assert_eq!(o.len(), 2);
                            moved += amount;
                            break;
                        }
                        Err(e) => {
                            assert!(e.index <= 1);
                            assert!(
                                matches!(e.error, Error::PreconditionFailed { current: Some(_) }),
                                "{e:?}"
                            );
                            tokio::task::yield_now().await;
                        }
                    }
                }
            }
            moved
        }));
    }
    let moved: i64 = join_all(hs).await.into_iter().sum();
    let va = doc(&env.store, &a, "acct").await.as_i64().unwrap();
    let vb = doc(&env.store, &b, "acct").await.as_i64().unwrap();
    assert_eq!(va + vb, 2000, "the total is kept");
    assert_eq!(va, 1000 - moved, "every committed transfer is in");
}

/// Each round every task tries to acquire the same lease: exactly one holder wins, the others
/// are told who holds it; after it is released the next round starts with a larger token.
pub async fn race_lease_acquire(make: &dyn MakeStore) {
    let env = Env::new(make).await;
    let n = ns(&["race", "lease"]);
    let ttl = std::time::Duration::from_secs(60);
    let barrier = Arc::new(Barrier::new(TASKS));
    let mut hs = Vec::new();
    for t in 0..TASKS {
        let (s, n, barrier) = (env.store.clone(), n.clone(), Arc::clone(&barrier));
        hs.push(tokio::spawn(async move {
            let mut log = Vec::new();
            for _ in 0..ROUNDS {
                barrier.wait().await;
                let r = s
                    .acquire_lease(&n, "leader", &format!("task-{t}"), ttl)
                    .await;
                barrier.wait().await;
                if let Ok(l) = &r {
                    s.release_lease(&n, "leader", l.token).await.unwrap();
                }
                barrier.wait().await;
                log.push(r);
            }
            log
        }));
    }
    let logs = join_all(hs).await;
    let mut last_token = 0;
    for round in 0..ROUNDS {
        let wins: Vec<&crate::Lease> = logs.iter().filter_map(|l| l[round].as_ref().ok()).collect();
        assert_eq!(wins.len(), 1, "round {round}: exactly one holder");
        let w = wins[0];
        assert!(w.token > last_token, "round {round}: tokens grow");
        last_token = w.token;
        for l in &logs {
            match &l[round] {
                Ok(_) => {}
                Err(Error::LeaseHeld { holder, .. }) => assert_eq!(*holder, w.holder),
                Err(e) => panic!("round {round}: unexpected {e:?}"),
            }
        }
    }
    assert_eq!(env.store.get_lease(&n, "leader").await.unwrap(), None);
}

/// Concurrent writers to one namespace keep its counters exact.
pub async fn race_namespace_counters(make: &dyn MakeStore) {
    const PER_TASK: usize = 10;
    let env = Env::new(make).await;
    let n = ns(&["race", "counters"]);
    let mut hs = Vec::new();
    for t in 0..TASKS {
        let (s, n) = (env.store.clone(), n.clone());
        hs.push(tokio::spawn(async move {
            for j in 0..PER_TASK {
                let k = format!("t{t:02}-{j}");
                s.put(&n, &k, crate::Value::bytes("x/y", vec![0u8; j + 1]))
                    .await
                    .unwrap();
                if j % 2 == 1 {
                    assert!(s.delete(&n, &k, Precondition::Any).await.unwrap());
                }
                s.append(&n, &format!("s{}", t % 4), vec![jv(json!(j))], None)
                    .await
                    .unwrap();
            }
        }));
    }
    join_all(hs).await;
    let st = ns_stats(&env.store, &n).await;
    let kept_bytes: u64 = (0..PER_TASK as u64)
        .filter(|j| j % 2 == 0)
        .map(|j| j + 1)
        .sum();
    assert_eq!(st.items, (TASKS * PER_TASK / 2) as u64);
    assert_eq!(st.item_bytes, TASKS as u64 * kept_bytes);
    assert_eq!(st.streams, 4);
    assert_eq!(st.stream_entries, (TASKS * PER_TASK) as u64);
    assert_eq!(st.stream_bytes, (TASKS * PER_TASK) as u64);
    let items = scan_all(
        &env.store,
        crate::Scan {
            ns: n.clone(),
            ..Default::default()
        },
        1000,
    )
    .await;
    assert_eq!(items.len() as u64, st.items);
}
