//! Damage in one part of a repository stops only what depends on it: an intact snapshot
//! restores whatever else is damaged, `verify` says which snapshots are still restorable,
//! and a damaged `config` is told apart from a wrong password.

// Test code: helpers outside #[test] fns unwrap too; a panic is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use botstore::codec::Table;
use botstore::{Mutation, Namespace, Store, Value};
use botstore_backup::create::{load_index, snapshots};
use botstore_backup::format::{pack_name, unhex32};
use botstore_backup::{
    create, restore, restore_at, verify, CreateOptions, Error, KdfParams, LocalRepo, PointInTime,
    Repo, RestoreOptions, Secret,
};
use botstore_embedded::{open_store, Durability, EmbeddedOptions};
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::path::{Path, PathBuf};
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

fn open_repo(dir: &Path, secret: &Secret) -> Result<Repo, Error> {
    Repo::open(Box::new(LocalRepo::new(dir)), secret)
}

type Dump = BTreeMap<(Table, Vec<u8>), Vec<u8>>;

/// Every table but the change feed (and the engine-private journal generation).
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

/// `n` items of about 400 bytes of noise each, in a few namespaces; `round` changes them.
async fn write_items(store: &Store, keys: impl Iterator<Item = u64>, round: u64) {
    let mut batch = Vec::new();
    for i in keys {
        let mut x = (i + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ round;
        let noise: String = (0..400)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                char::from(b'a' + (x % 26) as u8)
            })
            .collect();
        let ns = Namespace::new(["tenant", &format!("t{}", i % 5)]);
        let v = Value::json(&serde_json::json!({"i": i, "round": round, "noise": noise}));
        batch.push(Mutation::put(ns, format!("k{i:05}"), v));
    }
    store.write_many(batch).await.unwrap();
}

fn restore_opts(snapshot: Option<&str>) -> RestoreOptions<'static> {
    RestoreOptions {
        snapshot: snapshot.map(str::to_owned),
        force: false,
        progress: None,
    }
}

fn flip(path: &Path, at: usize) {
    let mut b = std::fs::read(path).unwrap();
    let at = at.min(b.len() - 1);
    b[at] ^= 0x10;
    std::fs::write(path, &b).unwrap();
}

/// A full snapshot, then a delta on it; returns (repo dir, full id, delta id, the
/// source's tables at the full snapshot).
async fn full_then_delta(d: &Path) -> (PathBuf, String, String, Dump) {
    let src = open(&d.join("src"));
    write_items(&src, 0..1500, 0).await;
    let repo_dir = d.join("repo");
    let repo = Repo::init(Box::new(LocalRepo::new(&repo_dir)), &pw(), KDF).unwrap();
    let full = create(&repo, &src, &CreateOptions::new("src")).unwrap();
    assert_eq!(full.kind, "full");
    let at_full = dump(&src);
    write_items(&src, (0..1500).step_by(37), 1).await;
    let delta = create(&repo, &src, &CreateOptions::new("src")).unwrap();
    assert_eq!(delta.kind, "delta");
    (repo_dir, full.snapshot, delta.snapshot, at_full)
}

/// The packs holding chunks of `id` and of no other snapshot.
fn packs_only_used_by(repo: &Repo, id: &str) -> Vec<String> {
    let all = snapshots(repo).unwrap();
    let index = load_index(repo).unwrap();
    let packs_of = |m: &botstore_backup::Manifest| -> BTreeSet<String> {
        m.chunks
            .iter()
            .map(|c| index[&unhex32(c).unwrap()].pack.clone())
            .collect()
    };
    let mut mine = BTreeSet::new();
    let mut others = BTreeSet::new();
    for m in &all {
        if m.id == id {
            mine.extend(packs_of(m));
        } else {
            others.extend(packs_of(m));
        }
    }
    mine.difference(&others).map(|p| pack_name(p)).collect()
}

fn assert_restores_to(repo: &Repo, to: &Path, id: &str, want: &Dump) {
    let s = restore(repo, to, &restore_opts(Some(id))).unwrap();
    assert_eq!(s.snapshot, id);
    assert!(
        dump(&open(to)) == *want,
        "restored tables differ from the source"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_damaged_delta_manifest_does_not_block_restoring_the_full_snapshot() {
    let d = tempfile::tempdir().unwrap();
    let (repo_dir, full, delta, at_full) = full_then_delta(d.path()).await;
    flip(&repo_dir.join(format!("snapshots/{delta}")), 40);
    let repo = open_repo(&repo_dir, &pw()).unwrap();
    assert_restores_to(&repo, &d.path().join("dst"), &full, &at_full);
    // The damaged one is refused by name, and "latest" does not quietly mean an older one.
    let e = restore(&repo, &d.path().join("dst2"), &restore_opts(Some(&delta))).unwrap_err();
    assert!(matches!(e, Error::Corrupt(_)), "{e}");
    assert!(
        e.to_string()
            .contains(&format!("snapshot {delta} is damaged")),
        "{e}"
    );
    let e = restore(&repo, &d.path().join("dst3"), &restore_opts(None)).unwrap_err();
    assert!(
        e.to_string()
            .contains(&format!("the latest snapshot {delta} is damaged")),
        "{e}"
    );
    assert!(!d.path().join("dst3").join("store.redb").exists());
    // Point-in-time restore to the full snapshot's LSN needs only that snapshot.
    let lsn = snapshots_lsn(&repo, &full);
    let s = restore_at(
        &repo,
        &d.path().join("dst4"),
        &restore_opts(None),
        &PointInTime {
            lsn: Some(lsn),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(s.snapshot, full);
    assert!(dump(&open(&d.path().join("dst4"))) == at_full);
    // verify: the full snapshot restorable, the delta not, and why.
    let r = verify(&repo, true, None).unwrap();
    assert!(!r.ok());
    assert_eq!((r.snapshots, r.restorable), (2, 1));
    let st: BTreeMap<_, _> = r.status.iter().map(|s| (s.id.clone(), s)).collect();
    assert!(st[&full].restorable && st[&full].damage.is_empty());
    assert!(!st[&delta].restorable);
    assert!(
        st[&delta].damage[0].starts_with("its manifest is damaged"),
        "{:?}",
        st[&delta].damage
    );
}

fn snapshots_lsn(repo: &Repo, id: &str) -> u64 {
    // The full snapshot's manifest is intact: read it alone.
    let body = repo.get_object(&format!("snapshots/{id}")).unwrap();
    serde_json::from_slice::<botstore_backup::Manifest>(&body)
        .unwrap()
        .lsn
}

#[tokio::test(flavor = "multi_thread")]
async fn damage_to_a_pack_only_the_delta_uses_marks_exactly_that_snapshot() {
    let d = tempfile::tempdir().unwrap();
    let (repo_dir, full, delta, at_full) = full_then_delta(d.path()).await;
    let repo = open_repo(&repo_dir, &pw()).unwrap();
    let r = verify(&repo, true, None).unwrap();
    assert!(r.ok() && r.restorable == 2, "{r:?}");
    let packs = packs_only_used_by(&repo, &delta);
    assert!(!packs.is_empty());
    // A flipped byte: only reading the data finds it.
    flip(&repo_dir.join(&packs[0]), 100);
    let r = verify(&repo, false, None).unwrap();
    assert!(r.ok() && r.restorable == 2, "{:?}", r.problems);
    let r = verify(&repo, true, None).unwrap();
    assert!(!r.ok());
    let not: Vec<_> = r.status.iter().filter(|s| !s.restorable).collect();
    assert_eq!(not.len(), 1, "{:?}", r.status);
    assert_eq!(not[0].id, delta);
    assert!(
        not[0].damage[0].contains(&packs[0]) && not[0].damage[0].contains("authentication failed"),
        "{:?}",
        not[0].damage
    );
    assert_restores_to(&repo, &d.path().join("dst"), &full, &at_full);
    // Gone altogether: the structure check alone finds it.
    std::fs::remove_file(repo_dir.join(&packs[0])).unwrap();
    let r = verify(&repo, false, None).unwrap();
    let not: Vec<_> = r.status.iter().filter(|s| !s.restorable).collect();
    assert_eq!(not.len(), 1);
    assert_eq!(not[0].id, delta);
    assert!(
        not[0].damage[0].contains("does not exist"),
        "{:?}",
        not[0].damage
    );
    let e = restore(&repo, &d.path().join("dst2"), &restore_opts(Some(&delta))).unwrap_err();
    assert!(e.to_string().contains(&packs[0]), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_damaged_index_stops_only_the_snapshots_whose_chunks_it_alone_locates() {
    let d = tempfile::tempdir().unwrap();
    let (repo_dir, full, delta, at_full) = full_then_delta(d.path()).await;
    let repo = open_repo(&repo_dir, &pw()).unwrap();
    let run = snapshots(&repo)
        .unwrap()
        .into_iter()
        .find(|m| m.id == delta)
        .unwrap()
        .run;
    let index = format!("index/{run}");
    flip(&repo_dir.join(&index), 50);
    assert_restores_to(&repo, &d.path().join("dst"), &full, &at_full);
    let e = restore(&repo, &d.path().join("dst2"), &restore_opts(Some(&delta))).unwrap_err();
    assert!(e.to_string().contains("no readable index entry"), "{e}");
    assert!(e.to_string().contains(&index), "{e}");
    let r = verify(&repo, false, None).unwrap();
    assert!(r
        .problems
        .iter()
        .any(|p| p.starts_with(&format!("index {index}"))));
    let ok: Vec<_> = r
        .status
        .iter()
        .map(|s| (s.id.clone(), s.restorable))
        .collect();
    assert_eq!(ok, vec![(full, true), (delta, false)]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delta_on_a_damaged_base_is_passed_over_by_point_in_time_restore() {
    let d = tempfile::tempdir().unwrap();
    let (repo_dir, full, delta, _) = full_then_delta(d.path()).await;
    let repo = open_repo(&repo_dir, &pw()).unwrap();
    let all = snapshots(&repo).unwrap();
    let delta_lsn = all.iter().find(|m| m.id == delta).unwrap().lsn;
    flip(&repo_dir.join(format!("snapshots/{full}")), 40);
    // The delta's base is damaged: restore names it, and no segments reach the delta's
    // LSN from anywhere else.
    let e = restore(&repo, &d.path().join("dst"), &restore_opts(Some(&delta))).unwrap_err();
    assert!(
        e.to_string()
            .contains(&format!("its base snapshot {full} is damaged")),
        "{e}"
    );
    let e = restore_at(
        &repo,
        &d.path().join("dst2"),
        &restore_opts(None),
        &PointInTime {
            lsn: Some(delta_lsn),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("is damaged"), "{e}");
    let r = verify(&repo, false, None).unwrap();
    assert_eq!(r.restorable, 0);
    assert!(r.status.iter().all(|s| !s.restorable));
}

/// The repository's config, and the chunk id of a fixed input (which tells whether a
/// repository opened with the same keys).
fn config_and_keys(d: &Path) -> (Vec<u8>, [u8; 32]) {
    let repo = Repo::init(Box::new(LocalRepo::new(d)), &pw(), KDF).unwrap();
    (
        std::fs::read(d.join("config")).unwrap(),
        repo.chunk_id(b"probe"),
    )
}

#[test]
fn every_flipped_bit_in_config_is_damage_never_a_wrong_password() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("repo");
    let (config, probe) = config_and_keys(&dir);
    let mut damaged = 0;
    for at in 0..config.len() {
        for bit in [0x01u8, 0x20] {
            let mut c = config.clone();
            c[at] ^= bit;
            std::fs::write(dir.join("config"), &c).unwrap();
            match open_repo(&dir, &pw()) {
                Err(Error::ConfigDamaged(m)) => {
                    damaged += 1;
                    assert!(m.contains("config"), "{m}");
                }
                // Only a change that alters no value can open, and then with the same keys
                // (a flip in the name of the checksum field itself, say).
                Ok(r) => assert_eq!(r.chunk_id(b"probe"), probe, "flip at {at}"),
                Err(e) => panic!(
                    "flip of {bit:#x} at {at} ({:?}): {e}",
                    String::from_utf8_lossy(&c[at.saturating_sub(10)..(at + 10).min(c.len())])
                ),
            }
        }
    }
    assert!(damaged > config.len(), "{damaged}");
    // Truncated: damage too.
    std::fs::write(dir.join("config"), &config[..config.len() / 2]).unwrap();
    let e = open_repo(&dir, &pw()).err().unwrap();
    assert!(
        e.to_string().starts_with("repository config is damaged: "),
        "{e}"
    );
    assert!(e.to_string().contains("put back a copy"), "{e}");
    // Intact, with a wrong password: the password message, nothing about damage.
    std::fs::write(dir.join("config"), &config).unwrap();
    let e = open_repo(&dir, &Secret::Password(b"wrong".to_vec()))
        .err()
        .unwrap();
    assert!(matches!(e, Error::WrongKey(_)), "{e}");
    assert!(!e.to_string().contains("damaged"), "{e}");
    assert!(open_repo(&dir, &pw()).is_ok());
}

#[test]
fn a_config_without_a_checksum_still_opens() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("repo");
    let (config, probe) = config_and_keys(&dir);
    // As written before configs had a checksum.
    let mut v: serde_json::Value = serde_json::from_slice(&config).unwrap();
    v.as_object_mut().unwrap().remove("checksum").unwrap();
    std::fs::write(dir.join("config"), serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    assert_eq!(open_repo(&dir, &pw()).unwrap().chunk_id(b"probe"), probe);
    // A wrong password cannot be told from damage there, and the message says both.
    let e = open_repo(&dir, &Secret::Password(b"wrong".to_vec()))
        .err()
        .unwrap();
    assert!(matches!(e, Error::WrongKey(_)), "{e}");
    assert!(e.to_string().contains("no checksum"), "{e}");
    // Malformed fields are still damage.
    v["keys"][0]["nonce"] = serde_json::json!("abcd");
    std::fs::write(dir.join("config"), serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    let e = open_repo(&dir, &pw()).err().unwrap();
    assert!(matches!(e, Error::ConfigDamaged(_)), "{e}");
    assert!(e.to_string().contains("key slot 1: the nonce"), "{e}");
}
