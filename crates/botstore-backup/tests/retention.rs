//! diff, forget and prune on real files.

// Test code: helpers outside #[test] fns unwrap too; a panic is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use botstore::{Mutation, Namespace, Store, Value};
use botstore_backup::{
    create, diff, forget, prune, verify, CreateOptions, KdfParams, KeepPolicy, LocalRepo,
    PruneOptions, Repo, Secret,
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

fn val(i: u64, salt: u64) -> Value {
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ salt;
    let mut s = String::new();
    while s.len() < 600 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.push_str(&format!("{:x} ", x % 100_000));
    }
    Value::json(&serde_json::json!({ "i": i, "s": s }))
}

fn ns(i: u64) -> Namespace {
    Namespace::new(["tenant", &format!("t{}", i % 3)])
}

#[tokio::test(flavor = "multi_thread")]
async fn diff_forget_prune() {
    let d = tempfile::tempdir().unwrap();
    let store = open(&d.path().join("data"));
    let repo = Repo::init(
        Box::new(LocalRepo::new(d.path().join("repo"))),
        &Secret::Password(b"pw".to_vec()),
        KdfParams {
            m_kib: 256,
            t: 1,
            p: 1,
        },
    )
    .unwrap();
    let put = |i: u64, salt: u64| Mutation::put(ns(i), format!("k{i:05}"), val(i, salt));
    store
        .write_many((0..3000).map(|i| put(i, 0)).collect())
        .await
        .unwrap();
    let opts = CreateOptions {
        pack_size: 256 << 10,
        ..CreateOptions::new("s")
    };
    let a = create(&repo, &store, &opts).unwrap();
    // 30 changed, 3 added, 6 removed; a delta.
    let mut batch: Vec<_> = (0..30).map(|i| put(i * 100, 1)).collect();
    batch.extend((3000..3003).map(|i| put(i, 0)));
    batch.extend((0..6).map(|i| Mutation::delete(ns(i * 100 + 1), format!("k{:05}", i * 100 + 1))));
    store.write_many(batch).await.unwrap();
    let b = create(&repo, &store, &opts).unwrap();
    assert_eq!(b.kind, "delta");
    let r = diff(&repo, &a.snapshot, &b.snapshot).unwrap();
    assert_eq!(
        (r.total.added, r.total.removed, r.total.changed),
        (3, 6, 30)
    );
    assert_eq!(r.tables["items"].changed, 30);
    assert_eq!(r.namespaces.values().map(|n| n.changed).sum::<u64>(), 30);
    assert!(
        r.namespaces.contains_key("tenant/t0"),
        "{:?}",
        r.namespaces.keys()
    );
    let none = diff(&repo, &b.snapshot, &b.snapshot).unwrap();
    assert_eq!(none.total, Default::default());

    // A new full snapshot with most of the data rewritten, then a delta of it.
    store
        .write_many((0..3000).map(|i| put(i, 2)).collect())
        .await
        .unwrap();
    let c = create(
        &repo,
        &store,
        &CreateOptions {
            full: true,
            ..opts.clone_like()
        },
    )
    .unwrap();
    store.write_many(vec![put(5, 3)]).await.unwrap();
    let e = create(&repo, &store, &opts).unwrap();
    assert_eq!(e.parent.as_deref(), Some(c.snapshot.as_str()));

    // keep-last 1 keeps e and, through it, c.
    let policy = KeepPolicy {
        last: Some(1),
        ..Default::default()
    };
    let dry = forget(&repo, &policy, true).unwrap();
    assert_eq!(dry.forget.len(), 2);
    assert_eq!(botstore_backup::create::snapshots(&repo).unwrap().len(), 4);
    let f = forget(&repo, &policy, false).unwrap();
    let kept: Vec<_> = f.keep.iter().map(|k| k.id.as_str()).collect();
    assert_eq!(kept, [c.snapshot.as_str(), e.snapshot.as_str()]);
    assert_eq!(botstore_backup::create::snapshots(&repo).unwrap().len(), 2);

    let before = verify(&repo, true, None).unwrap();
    assert!(before.ok(), "{:?}", before.problems);
    let p = prune(
        &repo,
        &PruneOptions {
            pack_size: 256 << 10,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(p.packs_deleted > 0 && p.bytes_freed > 0, "{p:?}");
    let after = verify(&repo, true, None).unwrap();
    assert!(after.ok(), "{:?}", after.problems);
    assert_eq!(after.indexes, 1);
    // Nothing more to prune.
    let again = prune(&repo, &PruneOptions::default()).unwrap();
    assert_eq!(
        (again.packs_deleted, again.bytes_freed),
        (0, 0),
        "{again:?}"
    );
    // The kept chain still diffs (so every chunk is readable) and a new delta follows it.
    diff(&repo, &c.snapshot, &e.snapshot).unwrap();
    store.write_many(vec![put(6, 3)]).await.unwrap();
    let g = create(&repo, &store, &opts).unwrap();
    assert_eq!(g.kind, "delta");
    assert!(verify(&repo, true, None).unwrap().ok());
}

trait CloneLike<'a> {
    fn clone_like(&self) -> CreateOptions<'a>;
}

impl<'a> CloneLike<'a> for CreateOptions<'a> {
    fn clone_like(&self) -> CreateOptions<'a> {
        CreateOptions {
            pack_size: self.pack_size,
            ..CreateOptions::new(self.source.clone())
        }
    }
}
