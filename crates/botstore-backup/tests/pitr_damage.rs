//! Point-in-time restore reads only the base snapshot's chain and the segments between it
//! and the target: damage to a newer snapshot or a later segment does not stop it.

// Test code: helpers outside #[test] fns unwrap too; a panic is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use botstore::codec::{self, Table};
use botstore::{Namespace, Store, Value};
use botstore_backup::{
    create, follow, restore_at, CreateOptions, Error, FollowOptions, KdfParams, LocalRepo,
    PointInTime, Repo, RestoreOptions, Secret,
};
use botstore_embedded::{open_store, Durability, EmbeddedOptions};
use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

type Dump = BTreeMap<(Table, Vec<u8>), Vec<u8>>;

fn open(dir: &Path) -> Store {
    let opts = EmbeddedOptions {
        durability: Durability::Relaxed {
            max_loss: Duration::from_millis(10),
        },
        ..Default::default()
    };
    open_store(dir, opts, Default::default()).unwrap()
}

/// Every table but the change feed, the journal generation and leases; and the last LSN.
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

async fn put(store: &Store, i: u64) {
    let ns = Namespace::new(["tenant", if i.is_multiple_of(2) { "a" } else { "b" }]);
    let v = Value::json(&serde_json::json!({"i": i, "pad": "x".repeat((i % 40) as usize)}));
    store.put(&ns, &format!("k{}", i % 23), v).await.unwrap();
}

fn flip(path: &Path) {
    let mut b = std::fs::read(path).unwrap();
    let at = b.len() / 2;
    b[at] ^= 0x08;
    std::fs::write(path, &b).unwrap();
}

fn pit(lsn: u64) -> PointInTime {
    PointInTime {
        lsn: Some(lsn),
        ..Default::default()
    }
}

const NONE: RestoreOptions<'static> = RestoreOptions {
    snapshot: None,
    force: false,
    progress: None,
};

#[tokio::test(flavor = "multi_thread")]
async fn damage_to_a_newer_snapshot_or_a_later_segment_does_not_stop_an_earlier_target() {
    let d = tempfile::tempdir().unwrap();
    let store = open(&d.path().join("data"));
    let kdf = KdfParams {
        m_kib: 256,
        t: 1,
        p: 1,
    };
    let secret = Secret::Password(b"pw".to_vec());
    let repo_dir = d.path().join("repo");
    let repo = Arc::new(Repo::init(Box::new(LocalRepo::new(&repo_dir)), &secret, kdf).unwrap());
    for i in 0..100 {
        put(&store, i).await;
    }
    create(&repo, &store, &CreateOptions::new("src")).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let follower = {
        let (repo, store, stop) = (repo.clone(), store.clone(), stop.clone());
        std::thread::spawn(move || {
            let opts = FollowOptions {
                every: Duration::from_millis(30),
                ..FollowOptions::new("src")
            };
            follow(&repo, &store, &opts, &stop)
        })
    };
    let mut states = BTreeMap::new();
    for i in 100..400 {
        put(&store, i).await;
        let (l, dd) = dump(&store);
        states.insert(l, dd);
        if i % 50 == 0 {
            tokio::time::sleep(Duration::from_millis(80)).await;
        }
    }
    stop.store(true, Ordering::SeqCst);
    let last = follower.join().unwrap().unwrap();
    // A newer snapshot on top (a delta), then damage it and the last segment.
    let delta = create(&repo, &store, &CreateOptions::new("src")).unwrap();
    assert_eq!(delta.kind, "delta");
    let segs = botstore_backup::segment::list_all(&repo).unwrap();
    assert!(segs.len() >= 3, "{segs:?}");
    let (first_seg, last_seg) = (segs[0].clone(), segs[segs.len() - 1].clone());
    assert_eq!(last_seg.1, last);
    flip(&repo_dir.join(format!("snapshots/{}", delta.snapshot)));
    flip(&repo_dir.join(&last_seg.2));

    // A target inside the first segment: the full snapshot and that segment suffice.
    let target = *states.range(first_seg.0..=first_seg.1).last().unwrap().0;
    let to = d.path().join("r1");
    let s = restore_at(&repo, &to, &NONE, &pit(target)).unwrap();
    assert_eq!(s.lsn, target);
    assert!(
        dump(&open(&to)).1 == states[&target],
        "restore to {target} differs"
    );

    // The final state needs the damaged segment: refused, naming it.
    let e = restore_at(&repo, &d.path().join("r2"), &NONE, &pit(last)).unwrap_err();
    assert!(matches!(e, Error::Corrupt(_)), "{e}");
    assert!(e.to_string().contains(&last_seg.2), "{e}");
    assert!(!d.path().join("r2").join("store.redb").exists());
}
