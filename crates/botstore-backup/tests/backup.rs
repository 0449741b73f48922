//! Backup and restore on real files: an embedded store, a local repository.

// Test code: helpers outside #[test] fns unwrap too; a panic is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use botstore::codec::Table;
use botstore::{Mutation, Namespace, Store, TrimTo, Ttl, Value};
use botstore_backup::{
    create, restore, verify, CreateOptions, Error, KdfParams, LocalRepo, Repo, RestoreOptions,
    Secret,
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

fn init_repo(dir: &Path) -> Repo {
    Repo::init(Box::new(LocalRepo::new(dir)), &pw(), KDF).unwrap()
}

fn reopen_repo(dir: &Path) -> Repo {
    Repo::open(Box::new(LocalRepo::new(dir)), &pw()).unwrap()
}

/// Every table but the change feed (and the engine-private journal generation), as bytes.
type Dump = BTreeMap<(Table, Vec<u8>), Vec<u8>>;

fn dump(store: &Store) -> Dump {
    let v = store.backend().read().unwrap();
    let mut out = Dump::new();
    for t in Table::ALL {
        if t.is_feed() {
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
    out
}

/// A JSON value that looks like bot state: some repetition, some noise.
fn value(i: u64, salt: u64, size: usize) -> Value {
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ salt;
    let mut noise = String::new();
    while noise.len() < size {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        noise.push_str(&format!("{:x} ", x % 100_000));
    }
    Value::json(&serde_json::json!({
        "user": format!("user-{i}"),
        "dialog_stack": ["greet", "ask_order", "confirm"],
        "salt": salt,
        "notes": noise,
    }))
}

/// Items (some with TTL and subject), streams, a trim, a lease and a namespace TTL.
async fn populate(store: &Store, n: u64, size: usize) {
    let mut batch = Vec::new();
    for i in 0..n {
        let ns = Namespace::new(["tenant", &format!("t{}", i % 7), "users"]);
        let m = if i % 5 == 0 {
            Mutation::Put {
                ns,
                key: format!("u{i:06}"),
                value: value(i, 0, size),
                precondition: botstore::Precondition::Any,
                ttl: Ttl::After(Duration::from_secs(3600)),
                subject: Some(format!("subject-{i}")),
                fence: None,
            }
        } else {
            Mutation::put(ns, format!("u{i:06}"), value(i, 0, size))
        };
        batch.push(m);
        if batch.len() == 500 {
            store.write_many(std::mem::take(&mut batch)).await.unwrap();
        }
    }
    store.write_many(batch).await.unwrap();
    let conv = Namespace::new(["tenant", "conv"]);
    for c in 0..20 {
        let entries = (0..20)
            .map(|e| value(c * 100 + e, 7, size / 4))
            .collect::<Vec<_>>();
        store
            .append(&conv, &format!("c{c}"), entries, None)
            .await
            .unwrap();
    }
    store.trim(&conv, "c3", TrimTo::KeepLast(5)).await.unwrap();
    store
        .acquire_lease(&conv, "worker", "bot-1", Duration::from_secs(600))
        .await
        .unwrap();
    store
        .set_namespace_ttl(
            &Namespace::new(["tenant", "sessions"]),
            Some(Duration::from_secs(1800)),
        )
        .await
        .unwrap();
}

async fn assert_same(a: &Store, b: &Store) {
    assert!(dump(a) == dump(b), "table contents differ");
    let (sa, sb) = (
        a.stats(&Namespace::root()).await.unwrap(),
        b.stats(&Namespace::root()).await.unwrap(),
    );
    assert_eq!(sa.namespaces, sb.namespaces);
    assert_eq!(sa.last_lsn, sb.last_lsn);
}

fn restore_to(repo: &Repo, to: &Path, snapshot: Option<&str>) -> botstore_backup::RestoreSummary {
    restore(
        repo,
        to,
        &RestoreOptions {
            snapshot: snapshot.map(str::to_owned),
            force: false,
            progress: None,
        },
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn full_backup_restores_an_identical_store() {
    let d = tempfile::tempdir().unwrap();
    let src = open(&d.path().join("src"));
    populate(&src, 2000, 300).await;
    let repo = init_repo(&d.path().join("repo"));
    let s = create(&repo, &src, &CreateOptions::new("src")).unwrap();
    assert_eq!(s.kind, "full");
    assert!(s.chunks_new > 0 && s.bytes_added > 0);
    let r = restore_to(
        &reopen_repo(&d.path().join("repo")),
        &d.path().join("dst"),
        None,
    );
    assert_eq!(r.lsn, src.last_lsn().await.unwrap());
    let dst = open(&d.path().join("dst"));
    assert_same(&src, &dst).await;
    // Items come back with versions, timestamps, subjects and TTLs; streams and leases too.
    let ns = Namespace::new(["tenant", "t0", "users"]);
    assert_eq!(
        src.get(&ns, "u000000").await.unwrap(),
        dst.get(&ns, "u000000").await.unwrap()
    );
    let conv = Namespace::new(["tenant", "conv"]);
    assert_eq!(
        src.read_stream(&conv, "c3", None, botstore::Direction::Forward, 100)
            .await
            .unwrap(),
        dst.read_stream(&conv, "c3", None, botstore::Direction::Forward, 100)
            .await
            .unwrap()
    );
    // The restored store takes writes after the restored LSN.
    let v = dst.put(&ns, "new", Value::json_text("{}")).await.unwrap();
    assert_eq!(v.0, r.lsn + 1);
    // A second backup of an unchanged store writes nothing and names the snapshot that
    // already holds it.
    let before = repo.store.list("").unwrap();
    let again = create(&repo, &src, &CreateOptions::new("src")).unwrap();
    assert_eq!(again.kind, "unchanged");
    assert_eq!(again.snapshot, s.snapshot);
    assert_eq!((again.lsn, again.bytes_added, again.chunks), (s.lsn, 0, 0));
    assert_eq!(again.counts, s.counts);
    assert_eq!(repo.store.list("").unwrap(), before, "nothing was written");
    let full_again = create(
        &repo,
        &src,
        &CreateOptions {
            full: true,
            ..CreateOptions::new("src")
        },
    )
    .unwrap();
    assert_eq!(full_again.chunks_new, 0, "a full re-run reuses every chunk");
}

#[tokio::test(flavor = "multi_thread")]
async fn restore_refuses_a_non_empty_target() {
    let d = tempfile::tempdir().unwrap();
    let src = open(&d.path().join("src"));
    populate(&src, 50, 100).await;
    let repo = init_repo(&d.path().join("repo"));
    create(&repo, &src, &CreateOptions::new("src")).unwrap();
    let to = d.path().join("busy");
    std::fs::create_dir_all(&to).unwrap();
    std::fs::write(to.join("something"), b"x").unwrap();
    let e = restore(
        &repo,
        &to,
        &RestoreOptions {
            snapshot: None,
            force: false,
            progress: None,
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("not empty"), "{e}");
    restore(
        &repo,
        &to,
        &RestoreOptions {
            snapshot: None,
            force: true,
            progress: None,
        },
    )
    .unwrap();
    assert_same(&src, &open(&to)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_during_writes_is_the_store_at_one_lsn() {
    let d = tempfile::tempdir().unwrap();
    let src = open(&d.path().join("src"));
    populate(&src, 6000, 400).await;
    let base = dump(&src);
    let repo = Arc::new(init_repo(&d.path().join("repo")));
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..2u64 {
        let (s, stop) = (src.clone(), Arc::clone(&stop));
        writers.push(tokio::spawn(async move {
            let ns = Namespace::new(["live", &format!("w{w}")]);
            let mut log = Vec::new();
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) || i < 50 {
                let key = format!("k{}", i % 300);
                let v = value(i, w + 1, 100);
                let ver = s.put(&ns, &key, v.clone()).await.unwrap();
                log.push((ver.0, ns.clone(), key, v));
                i += 1;
            }
            log
        }));
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (r2, s2) = (Arc::clone(&repo), src.clone());
    let summary = tokio::task::spawn_blocking(move || create(&r2, &s2, &CreateOptions::new("src")))
        .await
        .unwrap()
        .unwrap();
    stop.store(true, Ordering::Relaxed);
    let mut log = Vec::new();
    for w in writers {
        log.extend(w.await.unwrap());
    }
    let l = summary.lsn;
    let (before, after) = (
        log.iter().filter(|e| e.0 <= l).count(),
        log.iter().filter(|e| e.0 > l).count(),
    );
    eprintln!("snapshot at LSN {l}: {before} writes before it, {after} after");
    restore_to(&repo, &d.path().join("dst"), None);
    let dst = open(&d.path().join("dst"));
    // Expected: the populated base, plus the latest write (at or below l) of every key.
    log.sort_by_key(|e| e.0);
    let mut expected: BTreeMap<(Namespace, String), (u64, Value)> = BTreeMap::new();
    for (ver, ns, key, v) in log.iter().filter(|e| e.0 <= l) {
        expected.insert((ns.clone(), key.clone()), (*ver, v.clone()));
    }
    for w in 0..2u64 {
        let ns = Namespace::new(["live", &format!("w{w}")]);
        for k in 0..300 {
            let key = format!("k{k}");
            let got = dst.get(&ns, &key).await.unwrap();
            let want = expected.get(&(ns.clone(), key.clone()));
            match (got, want) {
                (None, None) => {}
                (Some(g), Some((ver, v))) => {
                    assert_eq!((g.version.0, &g.value), (*ver, v), "{ns}/{key}")
                }
                (g, w) => panic!("{ns}/{key}: restored {g:?}, expected {w:?}"),
            }
        }
    }
    // Everything written before the writers started is there, byte for byte.
    let restored = dump(&dst);
    for ((t, k), v) in &base {
        if matches!(t, Table::Meta | Table::Namespaces) {
            continue;
        }
        assert_eq!(restored.get(&(*t, k.clone())), Some(v), "{t:?} {k:?}");
    }
    assert_eq!(dst.last_lsn().await.unwrap(), l);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_incremental_chain_restores_the_same_store_as_a_full_backup() {
    let d = tempfile::tempdir().unwrap();
    let src = open(&d.path().join("src"));
    populate(&src, 1500, 300).await;
    let repo = init_repo(&d.path().join("repo"));
    let full = create(&repo, &src, &CreateOptions::new("src")).unwrap();
    assert_eq!(full.kind, "full");
    let ns = Namespace::new(["tenant", "t1", "users"]);
    let conv = Namespace::new(["tenant", "conv"]);
    // Round 1: puts, deletes, appends, trims, a deleted and re-created stream, a lease, a TTL.
    for i in (1..1500).step_by(97) {
        src.put(&ns, &format!("u{i:06}"), value(i, 9, 200))
            .await
            .unwrap();
    }
    src.delete(&ns, "u000008", botstore::Precondition::Any)
        .await
        .unwrap();
    src.append(&conv, "c1", vec![value(1, 1, 50), value(2, 1, 50)], None)
        .await
        .unwrap();
    src.trim(&conv, "c2", TrimTo::KeepLast(3)).await.unwrap();
    src.delete_stream(&conv, "c4").await.unwrap();
    src.append(&conv, "c4", vec![value(3, 3, 50)], None)
        .await
        .unwrap();
    src.delete_stream(&conv, "c5").await.unwrap();
    src.acquire_lease(&conv, "other", "bot-2", Duration::from_secs(60))
        .await
        .unwrap();
    src.set_namespace_ttl(&Namespace::new(["tenant", "sessions"]), None)
        .await
        .unwrap();
    src.set_namespace_ttl(
        &Namespace::new(["tenant", "tmp"]),
        Some(Duration::from_secs(5)),
    )
    .await
    .unwrap();
    let d1 = create(&repo, &src, &CreateOptions::new("src")).unwrap();
    assert_eq!(
        (d1.kind.as_str(), d1.parent.as_deref()),
        ("delta", Some(&*full.snapshot))
    );
    // Round 2: more of the same on top of the delta.
    src.put(
        &Namespace::new(["tenant", "tmp"]),
        "x",
        Value::json_text("{}"),
    )
    .await
    .unwrap();
    src.append(&conv, "c1", vec![value(4, 1, 50)], None)
        .await
        .unwrap();
    src.trim(&conv, "c1", TrimTo::KeepLast(2)).await.unwrap();
    let d2 = create(&repo, &src, &CreateOptions::new("src")).unwrap();
    assert_eq!(d2.parent.as_deref(), Some(&*d1.snapshot));
    let f2 = create(
        &repo,
        &src,
        &CreateOptions {
            full: true,
            ..CreateOptions::new("src")
        },
    )
    .unwrap();
    assert_eq!(f2.kind, "full");
    let chain = restore_to(&repo, &d.path().join("chain"), Some(&d2.snapshot));
    assert_eq!(
        chain.chain,
        vec![full.snapshot.clone(), d1.snapshot.clone(), d2.snapshot]
    );
    restore_to(&repo, &d.path().join("full"), Some(&f2.snapshot));
    let (a, b) = (open(&d.path().join("chain")), open(&d.path().join("full")));
    assert_same(&a, &b).await;
    assert_same(&a, &src).await;
    // An older point of the chain restores too.
    restore_to(&repo, &d.path().join("mid"), Some(&d1.snapshot));
    assert_eq!(
        open(&d.path().join("mid")).last_lsn().await.unwrap(),
        d1.lsn
    );
    assert!(verify(&repo, true, None).unwrap().ok());
}

#[tokio::test(flavor = "multi_thread")]
async fn one_percent_of_scattered_changes_adds_about_one_percent() {
    let d = tempfile::tempdir().unwrap();
    let src = open(&d.path().join("src"));
    let n = 10_000u64;
    populate(&src, n, 800).await;
    let repo = init_repo(&d.path().join("repo"));
    let full = create(&repo, &src, &CreateOptions::new("src")).unwrap();
    let mut batch = Vec::new();
    for i in (0..n).step_by(100) {
        let ns = Namespace::new(["tenant", &format!("t{}", i % 7), "users"]);
        batch.push(Mutation::put(ns, format!("u{i:06}"), value(i, 42, 800)));
    }
    src.write_many(batch).await.unwrap();
    let delta = create(&repo, &src, &CreateOptions::new("src")).unwrap();
    let ratio = delta.bytes_added as f64 / full.bytes_added as f64;
    eprintln!(
        "full: {} B added in {:.2}s; 1% change: delta {} B added ({:.2}%), {:?}, {:.3}s",
        full.bytes_added,
        full.seconds,
        delta.bytes_added,
        ratio * 100.0,
        delta.changes,
        delta.seconds
    );
    assert_eq!(delta.kind, "delta");
    assert!(
        ratio < 0.05,
        "delta added {:.2}% of the full backup",
        ratio * 100.0
    );
    restore_to(&repo, &d.path().join("dst"), None);
    assert_same(&src, &open(&d.path().join("dst"))).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flipped_byte_is_named_by_verify_and_refused_by_restore() {
    let d = tempfile::tempdir().unwrap();
    let src = open(&d.path().join("src"));
    populate(&src, 800, 300).await;
    let repo_dir = d.path().join("repo");
    let repo = init_repo(&repo_dir);
    create(&repo, &src, &CreateOptions::new("src")).unwrap();
    assert!(verify(&repo, true, None).unwrap().ok());
    let packs = repo.store.list("packs/").unwrap();
    let pack = repo_dir.join(&packs[0]);
    let mut bytes = std::fs::read(&pack).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x40;
    std::fs::write(&pack, &bytes).unwrap();
    let report = verify(&repo, true, None).unwrap();
    assert!(!report.ok());
    eprintln!("{:#?}", report.problems);
    assert!(report.problems.iter().any(|p| p.starts_with("chunk ")
        && p.contains(&packs[0])
        && p.contains("authentication failed")));
    let to = d.path().join("dst");
    let e = restore(
        &repo,
        &to,
        &RestoreOptions {
            snapshot: None,
            force: false,
            progress: None,
        },
    )
    .unwrap_err();
    assert!(matches!(e, Error::Corrupt(_)), "{e}");
    assert!(e.to_string().contains(&packs[0]), "{e}");
    assert!(
        !to.join("store.redb").exists(),
        "a failed restore leaves no store"
    );
}

#[test]
fn a_wrong_password_or_key_is_a_clear_error() {
    let d = tempfile::tempdir().unwrap();
    init_repo(&d.path().join("a"));
    let e = Repo::open(
        Box::new(LocalRepo::new(d.path().join("a"))),
        &Secret::Password(b"wrong".to_vec()),
    )
    .err()
    .unwrap();
    assert!(matches!(e, Error::WrongKey(_)));
    assert!(e.to_string().contains("wrong password"), "{e}");
    // Key files: raw or hex.
    let kf = d.path().join("key");
    std::fs::write(&kf, botstore_backup::hex(&[7u8; 32]) + "\n").unwrap();
    let key = Secret::from_key_file(&kf).unwrap();
    Repo::init(Box::new(LocalRepo::new(d.path().join("b"))), &key, KDF).unwrap();
    std::fs::write(&kf, [7u8; 32]).unwrap();
    Repo::open(
        Box::new(LocalRepo::new(d.path().join("b"))),
        &Secret::from_key_file(&kf).unwrap(),
    )
    .unwrap();
    std::fs::write(&kf, [8u8; 32]).unwrap();
    assert!(matches!(
        Repo::open(
            Box::new(LocalRepo::new(d.path().join("b"))),
            &Secret::from_key_file(&kf).unwrap()
        ),
        Err(Error::WrongKey(_))
    ));
    assert!(matches!(
        Repo::open(Box::new(LocalRepo::new(d.path().join("none"))), &pw()),
        Err(Error::NotARepository(_))
    ));
    assert!(Repo::init(Box::new(LocalRepo::new(d.path().join("a"))), &pw(), KDF).is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_backup_leaves_a_valid_repository_and_is_reused() {
    let d = tempfile::tempdir().unwrap();
    let src = open(&d.path().join("src"));
    populate(&src, 12_000, 800).await;
    let repo = init_repo(&d.path().join("repo"));
    let cancel = AtomicBool::new(false);
    let stop_at_first_report =
        |_: &botstore_backup::Progress| cancel.store(true, Ordering::Relaxed);
    let e = create(
        &repo,
        &src,
        &CreateOptions {
            pack_size: 256 << 10,
            progress: Some(&stop_at_first_report),
            cancel: Some(&cancel),
            ..CreateOptions::new("src")
        },
    )
    .unwrap_err();
    assert!(matches!(e, Error::Cancelled), "{e}");
    let packs = repo.store.list("packs/").unwrap().len();
    assert!(packs > 0, "some packs were written before the interruption");
    assert!(repo.store.list("snapshots/").unwrap().is_empty());
    assert!(verify(&repo, true, None).unwrap().ok());
    let s = create(&repo, &src, &CreateOptions::new("src")).unwrap();
    eprintln!(
        "after interruption: {packs} packs kept; rerun {} of {} chunks new",
        s.chunks_new, s.chunks
    );
    assert!(s.chunks_new < s.chunks, "the rerun reuses what was written");
    assert!(verify(&repo, true, None).unwrap().ok());
    restore_to(&repo, &d.path().join("dst"), None);
    assert_same(&src, &open(&d.path().join("dst"))).await;
}
