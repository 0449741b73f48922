//! Snapshots made from a record transfer stream (what a server sends `backup create
//! --remote`) are the snapshots a local backup makes: the same chunks, digest and counts;
//! deltas count what they changed; a cut or mismatched stream writes nothing.

// Test code: helpers outside #[test] fns unwrap too; a panic is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use botstore::{Namespace, Store, TrimTo, Value};
use botstore_backup::counts::Changed;
use botstore_backup::transfer::{self, TransferSource};
use botstore_backup::{
    create, restore, CreateOptions, CreateSummary, DeltaCounts, KdfParams, LocalRepo, Plan, Repo,
    RestoreOptions, Secret, StoreCounts, ViewSource,
};
use botstore_embedded::{open_store, Durability, EmbeddedOptions};
use std::path::Path;
use std::time::Duration;

fn open(dir: &Path) -> Store {
    let opts = EmbeddedOptions {
        durability: Durability::Relaxed {
            max_loss: Duration::from_millis(10),
        },
        ..Default::default()
    };
    open_store(dir, opts, Default::default()).unwrap()
}

fn init_repo(dir: &Path) -> Repo {
    let kdf = KdfParams {
        m_kib: 256,
        t: 1,
        p: 1,
    };
    Repo::init(
        Box::new(LocalRepo::new(dir)),
        &Secret::Password(b"pw".to_vec()),
        kdf,
    )
    .unwrap()
}

/// What a server would send for `since`.
fn transfer_bytes(store: &Store, since: Option<u64>) -> Vec<u8> {
    let mut src = ViewSource::open(store, since).unwrap();
    let mut out = Vec::new();
    transfer::serve(&mut src, &mut |p| {
        out.extend_from_slice(&p);
        Ok(())
    })
    .unwrap();
    out
}

/// A backup from transfer bytes, as the CLI makes one over --remote.
fn create_from(
    repo: &Repo,
    opts: &CreateOptions,
    bytes: &[u8],
) -> botstore_backup::Result<CreateSummary> {
    let plan = Plan::new(repo, opts)?;
    let mut src = TransferSource::open(bytes)?;
    plan.write(&mut src)
}

fn noise(i: u64, size: usize) -> Value {
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut s = String::new();
    while s.len() < size {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.push_str(&format!("{:x}", x % 100_000));
    }
    Value::json(&serde_json::json!({ "i": i, "s": s }))
}

async fn populate(store: &Store) {
    let ns = Namespace::new(["t", "users"]);
    let mut batch = Vec::new();
    for i in 0..4000u64 {
        batch.push(botstore::Mutation::put(
            ns.clone(),
            format!("u{i:05}"),
            noise(i, 300),
        ));
    }
    store.write_many(batch).await.unwrap();
    let conv = Namespace::new(["t", "conv"]);
    store
        .append(&conv, "c1", (0..10).map(|e| noise(e, 50)).collect(), None)
        .await
        .unwrap();
    store
        .acquire_lease(&conv, "worker", "bot-1", Duration::from_secs(600))
        .await
        .unwrap();
}

fn dump_export(store_dir: &Path) -> Vec<(Vec<u8>, Vec<u8>)> {
    let s = open(store_dir);
    let v = s.backend().read().unwrap();
    let mut out = Vec::new();
    for t in botstore::restore::PRIMARY {
        v.scan(
            t,
            (std::ops::Bound::Unbounded, std::ops::Bound::Unbounded),
            false,
            &mut |k, val| {
                out.push(([&[t as u8][..], k].concat(), val.to_vec()));
                Ok(true)
            },
        )
        .unwrap();
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn a_snapshot_from_a_transfer_is_the_local_snapshot() {
    let d = tempfile::tempdir().unwrap();
    let src = open(&d.path().join("src"));
    populate(&src).await;
    let repo = init_repo(&d.path().join("repo"));
    let local = create(&repo, &src, &CreateOptions::new("bot")).unwrap();
    let expect = StoreCounts {
        items: 4000,
        streams: 1,
        entries: 10,
        leases: Some(1),
    };
    assert_eq!((local.kind.as_str(), local.counts), ("full", expect));
    assert_eq!(local.dedup_ratio, None, "nothing to deduplicate against");
    // The same view through the transfer, as a full snapshot: every chunk is reused.
    let full = CreateOptions {
        full: true,
        ..CreateOptions::new("bot")
    };
    let remote = create_from(&repo, &full, &transfer_bytes(&src, None)).unwrap();
    assert_eq!(remote.kind, "full");
    assert_eq!(remote.counts, expect);
    assert_eq!(
        (remote.chunks, remote.chunks_new, remote.stream_bytes),
        (local.chunks, 0, local.stream_bytes)
    );
    assert!(remote.stream_bytes > 1 << 20);
    assert!(
        remote.dedup_ratio.is_some_and(|r| r > 1.0),
        "{:?}",
        remote.dedup_ratio
    );
    let all = botstore_backup::create::snapshots(&repo).unwrap();
    assert_eq!(all[0].digest, all[1].digest);
    assert_eq!(all[0].chunks, all[1].chunks);

    // Unchanged: nothing written, through the transfer as locally.
    let opts = CreateOptions::new("bot");
    let plan = Plan::new(&repo, &opts).unwrap();
    assert_eq!(plan.since_lsn(), Some(remote.lsn));
    let same = create_from(&repo, &opts, &transfer_bytes(&src, Some(remote.lsn))).unwrap();
    assert_eq!(
        (same.kind.as_str(), same.snapshot.as_str(), same.bytes_added),
        ("unchanged", remote.snapshot.as_str(), 0)
    );
    assert_eq!(botstore_backup::create::snapshots(&repo).unwrap().len(), 2);

    // A delta: what it changed, counted by kind.
    let users = Namespace::new(["t", "users"]);
    let conv = Namespace::new(["t", "conv"]);
    src.put(&users, "new", noise(1, 10)).await.unwrap();
    src.put(&users, "u00001", noise(2, 10)).await.unwrap();
    src.delete(&users, "u00002", botstore::Precondition::Any)
        .await
        .unwrap();
    src.append(&conv, "c1", vec![noise(3, 10), noise(4, 10)], None)
        .await
        .unwrap();
    src.trim(&conv, "c1", TrimTo::KeepLast(4)).await.unwrap();
    let since = plan.since_lsn();
    let delta = create_from(&repo, &opts, &transfer_bytes(&src, since)).unwrap();
    assert_eq!(delta.kind, "delta");
    assert_eq!(delta.parent.as_deref(), Some(remote.snapshot.as_str()));
    assert_eq!(
        delta.counts,
        StoreCounts {
            items: 4000,
            streams: 1,
            entries: 4,
            leases: Some(1),
        }
    );
    let w = |written, deleted| Changed { written, deleted };
    assert_eq!(
        delta.changes,
        Some(DeltaCounts {
            items: w(2, 1),
            streams: w(1, 0),
            // The two appended entries; the trim is one range deletion.
            entries: w(2, 0),
            entry_ranges_deleted: 1,
            leases: w(0, 0),
            namespace_ttls: w(0, 0),
        })
    );
    // The chain restores to the store, with the counts its manifest names.
    drop(src);
    let r = restore(
        &repo,
        &d.path().join("dst"),
        &RestoreOptions {
            snapshot: None,
            force: false,
            progress: None,
        },
    )
    .unwrap();
    assert_eq!(r.counts, delta.counts);
    assert_eq!(r.manifest_counts, delta.counts);
    assert_eq!(r.chain.len(), 2);
    assert_eq!(
        dump_export(&d.path().join("dst")),
        dump_export(&d.path().join("src"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cut_or_mismatched_transfer_writes_no_snapshot() {
    let d = tempfile::tempdir().unwrap();
    let src = open(&d.path().join("src"));
    populate(&src).await;
    let repo = init_repo(&d.path().join("repo"));
    let bytes = transfer_bytes(&src, None);
    let opts = CreateOptions::new("bot");
    for cut in [3, 100, bytes.len() / 2, bytes.len() - 1] {
        let e = create_from(&repo, &opts, &bytes[..cut]).unwrap_err();
        assert!(e.to_string().contains("was cut"), "cut at {cut}: {e}");
    }
    assert!(botstore_backup::create::snapshots(&repo)
        .unwrap()
        .is_empty());
    let first = create_from(&repo, &opts, &bytes).unwrap();
    // A stream relative to another LSN than the parent's is refused.
    src.put(&Namespace::new(["t"]), "x", noise(9, 5))
        .await
        .unwrap();
    let other = transfer_bytes(&src, Some(first.lsn - 1));
    let e = create_from(&repo, &opts, &other).unwrap_err();
    assert!(e.to_string().contains("not to the parent"), "{e}");
    assert_eq!(botstore_backup::create::snapshots(&repo).unwrap().len(), 1);
}
