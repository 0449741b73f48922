//! Continuous archiving (`follow`) and point-in-time restore, on real files.

// Test code: helpers outside #[test] fns unwrap too; a panic is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use botstore::codec::{self, Table};
use botstore::{Mutation, Namespace, Precondition, Store, TrimTo, Ttl, Value};
use botstore_backup::{
    create, follow, restore_at, CreateOptions, FollowOptions, FollowStats, KdfParams, LocalRepo,
    PointInTime, Repo, RestoreOptions, Secret,
};
use botstore_embedded::{open_store, Durability, EmbeddedOptions};
use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const KDF: KdfParams = KdfParams {
    m_kib: 256,
    t: 1,
    p: 1,
};

fn pw() -> Secret {
    Secret::Password(b"correct horse".to_vec())
}

fn open(dir: &Path) -> Store {
    let opts = EmbeddedOptions {
        durability: Durability::Relaxed {
            max_loss: Duration::from_millis(10),
        },
        ..Default::default()
    };
    open_store(dir, opts, Default::default()).unwrap()
}

type Dump = BTreeMap<(Table, Vec<u8>), Vec<u8>>;

/// Every table but the change feed, the engine-private journal generation and the
/// leases (a point-in-time restore has the snapshot's leases).
fn dump(store: &Store) -> (u64, Dump) {
    let v = store.backend().read().unwrap();
    let mut out = Dump::new();
    for t in Table::ALL {
        if t.is_feed() || t == Table::Leases {
            continue;
        }
        v.scan(
            t,
            (Bound::Unbounded, Bound::Unbounded),
            false,
            &mut |k, val| {
                if !(t == Table::Meta && k == b"journal_generation") {
                    out.insert((t, k.to_vec()), val.to_vec());
                }
                Ok(true)
            },
        )
        .unwrap();
    }
    let lsn = v
        .get(Table::Meta, codec::META_LAST_LSN)
        .unwrap()
        .map_or(0, |b| codec::be64(&b).unwrap());
    (lsn, out)
}

/// The part of a dump in the namespace subtree `prefix`.
fn subtree(d: &Dump, prefix: &Namespace) -> Dump {
    let p = codec::ns_enc(prefix);
    d.iter()
        .filter(|((t, k), _)| match t {
            Table::Meta => true,
            Table::Expiry => k[8..].starts_with(&p),
            _ => k.starts_with(&p),
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn val(i: u64) -> Value {
    Value::json(&serde_json::json!({ "i": i, "pad": "x".repeat((i % 50) as usize) }))
}

/// One write of a changing workload: puts (some with TTL and subject), deletes, appends,
/// trims, stream deletes and namespace TTLs, spread over two tenants.
async fn write(store: &Store, i: u64) {
    let ns = Namespace::new([
        "tenant",
        if i.is_multiple_of(3) { "a" } else { "b" },
        "users",
    ]);
    match i % 11 {
        0..=4 => {
            store
                .put(&ns, &format!("k{}", i % 17), val(i))
                .await
                .unwrap();
        }
        5 => {
            store
                .apply(Mutation::Put {
                    ns,
                    key: format!("t{}", i % 5),
                    value: val(i),
                    precondition: Precondition::Any,
                    ttl: Ttl::After(Duration::from_secs(3600)),
                    subject: Some(format!("s{i}")),
                    fence: None,
                })
                .await
                .unwrap();
        }
        6 => {
            store
                .delete(&ns, &format!("k{}", (i * 7) % 17), Precondition::Any)
                .await
                .unwrap();
        }
        7 | 8 => {
            store
                .append(&ns, &format!("s{}", i % 2), vec![val(i), val(i + 1)], None)
                .await
                .unwrap();
        }
        9 => {
            let _ = store
                .trim(&ns, &format!("s{}", i % 2), TrimTo::KeepLast(3))
                .await;
        }
        _ => {
            if i.is_multiple_of(4) {
                store.delete_stream(&ns, "s1").await.unwrap();
            } else {
                store
                    .set_namespace_ttl(&ns, Some(Duration::from_secs(60 + i)))
                    .await
                    .unwrap();
            }
        }
    }
}

fn restore_pit(repo: &Repo, to: &Path, pit: PointInTime) -> botstore_backup::PitrSummary {
    restore_at(
        repo,
        to,
        &RestoreOptions {
            snapshot: None,
            force: false,
            progress: None,
        },
        &pit,
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn follow_ships_segments_and_restores_to_any_lsn_or_time() {
    let d = tempfile::tempdir().unwrap();
    let store = open(&d.path().join("data"));
    let repo =
        Arc::new(Repo::init(Box::new(LocalRepo::new(d.path().join("repo"))), &pw(), KDF).unwrap());
    for i in 0..200 {
        write(&store, i).await;
    }
    create(&repo, &store, &CreateOptions::new("src")).unwrap();
    let (snap_lsn, snap_dump) = dump(&store);

    let stop = Arc::new(AtomicBool::new(false));
    let stats = Arc::new(FollowStats::default());
    let follower = {
        let (repo, store, stop, stats) = (repo.clone(), store.clone(), stop.clone(), stats.clone());
        std::thread::spawn(move || {
            let opts = FollowOptions {
                every: Duration::from_millis(50),
                stats: Some(&stats),
                ..FollowOptions::new("src")
            };
            follow(&repo, &store, &opts, &stop)
        })
    };
    // Every state the store passes through, by LSN; and one by time.
    let mut states: BTreeMap<u64, Dump> = BTreeMap::new();
    states.insert(snap_lsn, snap_dump);
    let mut at_time = None;
    for i in 200..700 {
        write(&store, i).await;
        let (l, dd) = dump(&store);
        states.insert(l, dd);
        if i % 97 == 0 {
            tokio::time::sleep(Duration::from_millis(60)).await;
        }
        if i == 450 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let t = botstore_backup::now_ms();
            tokio::time::sleep(Duration::from_millis(20)).await;
            at_time = Some((t, dump(&store)));
        }
    }
    stop.store(true, Ordering::SeqCst);
    let last = follower.join().unwrap().unwrap();
    let (final_lsn, _) = dump(&store);
    assert_eq!(last, final_lsn, "the final segment holds every change");
    let segments = stats.segments_total.load(Ordering::Relaxed);
    assert!(segments >= 3, "{segments} segments");
    assert_eq!(stats.last_lsn.load(Ordering::Relaxed), final_lsn);
    assert_eq!(stats.failures_total.load(Ordering::Relaxed), 0);

    let lsns: Vec<u64> = states.keys().copied().collect();
    let picks = [
        snap_lsn,
        lsns[1],
        lsns[lsns.len() / 3],
        lsns[lsns.len() / 2],
        lsns[lsns.len() - 2],
        final_lsn,
    ];
    for (n, &l) in picks.iter().enumerate() {
        let to = d.path().join(format!("r{n}"));
        let s = restore_pit(
            &repo,
            &to,
            PointInTime {
                lsn: Some(l),
                ..Default::default()
            },
        );
        assert_eq!(s.lsn, l);
        let r = open(&to);
        let (rl, rd) = dump(&r);
        assert_eq!(rl, l);
        assert!(
            rd == states[&l],
            "restore to lsn {l} differs from the store at {l}"
        );
        // The restored store takes new writes after the target.
        let v = r.put(&Namespace::new(["x"]), "y", val(1)).await.unwrap();
        assert_eq!(v.0, l + 1);
    }

    // By time.
    let (t, (tl, td)) = at_time.unwrap();
    let to = d.path().join("by-time");
    let s = restore_pit(
        &repo,
        &to,
        PointInTime {
            at: Some(t),
            ..Default::default()
        },
    );
    assert_eq!(s.lsn, tl);
    let (rl, rd) = dump(&open(&to));
    assert_eq!(rl, tl);
    assert!(rd == td, "restore to time {t} differs");

    // One namespace subtree.
    let ns = Namespace::new(["tenant", "a"]);
    let l = lsns[lsns.len() / 2];
    let to = d.path().join("ns");
    restore_pit(
        &repo,
        &to,
        PointInTime {
            lsn: Some(l),
            ns: Some(ns.clone()),
            ..Default::default()
        },
    );
    let (_, rd) = dump(&open(&to));
    assert!(rd == subtree(&states[&l], &ns), "subtree restore differs");
    assert!(rd.keys().any(|(t, _)| *t == Table::Items));

    // Beyond what the archive holds: a clear error, nothing restored.
    let err = restore_at(
        &repo,
        &d.path().join("beyond"),
        &RestoreOptions {
            snapshot: None,
            force: false,
            progress: None,
        },
        &PointInTime {
            lsn: Some(final_lsn + 10),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("reach"), "{err}");
    assert!(!d.path().join("beyond").join("store.redb").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_gap_in_the_change_feed_is_reported_and_a_full_snapshot_taken() {
    let d = tempfile::tempdir().unwrap();
    let store = open(&d.path().join("data"));
    let repo = Repo::init(Box::new(LocalRepo::new(d.path().join("repo"))), &pw(), KDF).unwrap();
    for i in 0..50 {
        write(&store, i).await;
    }
    // The first tick: no snapshot yet, so it takes a full one.
    let events = std::sync::Mutex::new(Vec::<String>::new());
    let on = |e: &botstore_backup::FollowEvent| {
        events.lock().unwrap().push(match e {
            botstore_backup::FollowEvent::Snapshot(_, why) => format!("snapshot {why}"),
            botstore_backup::FollowEvent::Segment(..) => "segment".into(),
            botstore_backup::FollowEvent::Gap { .. } => "gap".into(),
            botstore_backup::FollowEvent::Failed(e) => format!("failed {e}"),
        })
    };
    let opts = FollowOptions {
        on_event: Some(&on),
        ..FollowOptions::new("src")
    };
    let stop = AtomicBool::new(true);
    follow(&repo, &store, &opts, &stop).unwrap();
    for i in 50..80 {
        write(&store, i).await;
    }
    follow(&repo, &store, &opts, &stop).unwrap();
    // Changes written, then dropped from the feed before they were shipped.
    for i in 80..120 {
        write(&store, i).await;
    }
    let last = store.last_lsn().await.unwrap();
    store
        .apply(Mutation::ForgetChanges {
            before_lsn: last + 1,
            max: 1_000_000,
        })
        .await
        .unwrap();
    let mut opts2 = FollowOptions::new("src");
    opts2.snapshot_on_gap = false;
    let err = follow(&repo, &store, &opts2, &stop).unwrap_err();
    assert!(err.to_string().contains("gap in the archive"), "{err}");
    follow(&repo, &store, &opts, &stop).unwrap();
    assert_eq!(
        *events.lock().unwrap(),
        ["snapshot first", "segment", "gap", "snapshot gap"]
    );
    // The new snapshot makes the store restorable again at its LSN.
    let to = d.path().join("r");
    let s = restore_pit(
        &repo,
        &to,
        PointInTime {
            lsn: Some(last),
            ..Default::default()
        },
    );
    assert_eq!(s.lsn, last);
    assert!(dump(&open(&to)).1 == dump(&store).1);
}
