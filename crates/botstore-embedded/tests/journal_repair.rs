//! A real store with acknowledged writes only in its journal (the folder is copied while
//! the store is open and before any checkpoint: the image a SIGKILL leaves), damaged in a
//! middle frame: open refuses with the counts and changes nothing; repair reports both
//! choices; each choice keeps exactly what its report says. And folders whose files do not
//! belong together refuse to open.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use botstore::{Namespace, Store, Value};
use botstore_embedded::journal::replay::parse_header;
use botstore_embedded::repair::{self, Choice};
use botstore_embedded::{open_store, EmbeddedBackend, EmbeddedOptions};
use std::path::Path;
use std::time::Duration;

const N: usize = 40;

fn opts() -> EmbeddedOptions {
    EmbeddedOptions {
        journal_capacity: 16 << 20,
        checkpoint_interval: Duration::from_secs(3600),
        ..EmbeddedOptions::default()
    }
}

fn ns() -> Namespace {
    Namespace::new(["t", "u"])
}

fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for f in ["store.redb", "wal.log"] {
        if from.join(f).exists() {
            std::fs::copy(from.join(f), to.join(f)).unwrap();
        }
    }
}

/// A crash image in `img`: N acknowledged puts (one frame each, LSNs 1..=N), in the
/// journal only. Returns the live store (closed by the caller).
async fn crash_image(live: &Path, img: &Path) -> Store {
    let s = open_store(live, opts(), Default::default()).unwrap();
    s.put(&ns(), "warm", Value::json_text("0")).await.unwrap();
    s.sync().unwrap(); // checkpoint: the journal starts again, LSNs from 2
    for i in 0..N {
        s.put(&ns(), &format!("k{i:02}"), Value::json_text(i.to_string()))
            .await
            .unwrap();
    }
    copy(live, img);
    s
}

/// Offsets of the frames at the start of the journal.
fn frame_offsets(wal: &[u8]) -> Vec<usize> {
    let mut offs = Vec::new();
    let mut o = 0;
    while let Some(h) = wal.get(o..).and_then(parse_header) {
        if h.first_lsn < 2 && !offs.is_empty() {
            break;
        }
        offs.push(o);
        o += h.frame_len();
    }
    offs
}

async fn keys(dir: &Path) -> (Vec<String>, u64) {
    let s = open_store(dir, opts(), Default::default()).unwrap();
    let mut found = Vec::new();
    for i in 0..N {
        let k = format!("k{i:02}");
        if let Some(it) = s.get(&ns(), &k).await.unwrap() {
            assert_eq!(it.value.to_json().unwrap(), serde_json::json!(i));
            found.push(k);
        }
    }
    let stats = s.stats(&Namespace::root()).await.unwrap();
    let items = stats.namespaces.iter().map(|(_, n)| n.items).sum();
    s.close().unwrap();
    (found, items)
}

#[tokio::test(flavor = "multi_thread")]
async fn damage_in_a_middle_frame_is_refused_then_repaired_both_ways() {
    let root = tempfile::tempdir().unwrap();
    let (live, img) = (root.path().join("live"), root.path().join("img"));
    let s = crash_image(&live, &img).await;
    s.close().unwrap();

    // Undamaged, the image replays all N writes.
    let ok = root.path().join("ok");
    copy(&img, &ok);
    let b = EmbeddedBackend::open(&ok, opts()).unwrap();
    assert_eq!(b.recovered.0, N);
    drop(b);

    // Flip a byte in the body of frame 20 (LSN 22).
    let wal_path = img.join("wal.log");
    let mut wal = std::fs::read(&wal_path).unwrap();
    let offs = frame_offsets(&wal);
    assert_eq!(offs.len(), N, "one frame per acknowledged put");
    wal[offs[20] + 50] ^= 0x40;
    std::fs::write(&wal_path, &wal).unwrap();
    let before = std::fs::read(&wal_path).unwrap();

    let err = EmbeddedBackend::open(&img, opts())
        .err()
        .expect("open must refuse");
    let msg = err.to_string();
    assert!(matches!(err, botstore::Error::Corrupt(_)), "{msg}");
    for part in [
        format!("offset {}", offs[20]),
        "frame 20".into(),
        "19 valid frame(s)".into(),
        format!("LSNs 23..{}", N + 1),
        "botstore repair --data".into(),
    ] {
        assert!(msg.contains(&part), "{part:?} missing from: {msg}");
    }
    assert_eq!(
        std::fs::read(&wal_path).unwrap(),
        before,
        "a refused open wrote the journal"
    );
    let files: Vec<_> = std::fs::read_dir(&img).unwrap().collect();
    assert_eq!(files.len(), 2, "a refused open created files");

    let ins = repair::inspect(&img).unwrap();
    assert!(!ins.is_clean());
    let cut = ins.plan(Choice::CutAtDamage).unwrap();
    assert_eq!((cut.kept_frames, cut.lost_frames), (20, Some(20)));
    assert_eq!(cut.lost_lsns, vec![(Some(22), N as u64 + 1)]);
    let skip = ins.plan(Choice::SkipDamaged).unwrap();
    assert_eq!((skip.kept_frames, skip.lost_frames), (39, Some(1)));
    assert_eq!(skip.lost_lsns, vec![(Some(22), 22)]);
    assert!(skip.refused.is_none());

    let img2 = root.path().join("img2");
    copy(&img, &img2);

    // Cut: k00..k19 survive, and the counters agree.
    let r = repair::repair(&img, Choice::CutAtDamage).unwrap();
    assert_eq!(
        std::fs::read(&r.kept_as).unwrap(),
        before,
        "the original journal is kept"
    );
    let (found, items) = keys(&img).await;
    let want: Vec<String> = (0..20).map(|i| format!("k{i:02}")).collect();
    assert_eq!(found, want);
    assert_eq!(items, 21); // + "warm"

    // Skip: everything but k20 survives; the counters are rebuilt to match.
    repair::repair(&img2, Choice::SkipDamaged).unwrap();
    let (found, items) = keys(&img2).await;
    let want: Vec<String> = (0..N)
        .filter(|&i| i != 20)
        .map(|i| format!("k{i:02}"))
        .collect();
    assert_eq!(found, want);
    assert_eq!(items, N as u64); // 39 + "warm"

    // A repaired store has nothing left to repair.
    assert!(repair::inspect(&img2).unwrap().is_clean());
    assert!(repair::repair(&img2, Choice::CutAtDamage).is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_journal_without_its_database_refuses_to_open() {
    let root = tempfile::tempdir().unwrap();
    let (live, img) = (root.path().join("live"), root.path().join("img"));
    crash_image(&live, &img).await.close().unwrap();
    std::fs::remove_file(img.join("store.redb")).unwrap();
    let err = EmbeddedBackend::open(&img, opts())
        .err()
        .expect("must refuse");
    assert!(err.to_string().contains("store.redb is missing"), "{err}");
    assert!(
        !img.join("store.redb").exists(),
        "a refused open created store.redb"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_journal_of_another_store_refuses_to_open() {
    let root = tempfile::tempdir().unwrap();
    let (a, b) = (root.path().join("a"), root.path().join("b"));
    let img = root.path().join("img");
    crash_image(&a, &img).await.close().unwrap();
    drop(open_store(&b, opts(), Default::default()).unwrap());
    std::fs::copy(img.join("wal.log"), b.join("wal.log")).unwrap();
    let err = EmbeddedBackend::open(&b, opts())
        .err()
        .expect("must refuse");
    assert!(
        err.to_string().contains("belongs to another store"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_older_database_with_a_newer_journal_refuses_to_open() {
    let root = tempfile::tempdir().unwrap();
    let (live, old) = (root.path().join("live"), root.path().join("old"));
    let s = open_store(&live, opts(), Default::default()).unwrap();
    s.put(&ns(), "a", Value::json_text("1")).await.unwrap();
    copy(&live, &old); // store.redb as of now
    s.sync().unwrap(); // a checkpoint: the journal moves to a newer generation
    s.put(&ns(), "b", Value::json_text("2")).await.unwrap();
    std::fs::copy(live.join("wal.log"), old.join("wal.log")).unwrap();
    s.close().unwrap();
    let err = EmbeddedBackend::open(&old, opts())
        .err()
        .expect("must refuse");
    assert!(
        err.to_string().contains("newer than the last checkpoint"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_torn_last_frame_is_dropped_and_the_store_opens() {
    let root = tempfile::tempdir().unwrap();
    let (live, img) = (root.path().join("live"), root.path().join("img"));
    crash_image(&live, &img).await.close().unwrap();
    let wal_path = img.join("wal.log");
    let mut wal = std::fs::read(&wal_path).unwrap();
    let offs = frame_offsets(&wal);
    let last = offs[N - 1];
    wal[last + 30..last + 60].fill(0); // a write cut short by the crash
    std::fs::write(&wal_path, &wal).unwrap();
    let (found, _) = keys(&img).await;
    assert_eq!(found.len(), N - 1);
}

/// A damaged magic: the bad frame's header cannot be read, so the report cannot say how
/// many frames the damaged bytes held, but the lost LSNs still follow from its neighbours.
#[tokio::test(flavor = "multi_thread")]
async fn an_unreadable_header_is_reported_as_an_unknown_frame_count() {
    let root = tempfile::tempdir().unwrap();
    let (live, img) = (root.path().join("live"), root.path().join("img"));
    crash_image(&live, &img).await.close().unwrap();
    let wal_path = img.join("wal.log");
    let mut wal = std::fs::read(&wal_path).unwrap();
    let offs = frame_offsets(&wal);
    wal[offs[10]] ^= 0xFF;
    std::fs::write(&wal_path, &wal).unwrap();
    let msg = EmbeddedBackend::open(&img, opts())
        .err()
        .unwrap()
        .to_string();
    assert!(msg.contains("frame 10: no frame magic"), "{msg}");
    assert!(msg.contains("29 valid frame(s)"), "{msg}");
    let ins = repair::inspect(&img).unwrap();
    let skip = ins.plan(Choice::SkipDamaged).unwrap();
    assert_eq!(skip.lost_frames, None);
    assert_eq!(skip.lost_lsns, vec![(Some(12), 12)]);
    assert!(skip.describe().contains("unknown number of frames"));
    let cut = ins.plan(Choice::CutAtDamage).unwrap();
    assert_eq!(cut.lost_lsns, vec![(Some(12), N as u64 + 1)]);
    repair::repair(&img, Choice::SkipDamaged).unwrap();
    let (found, items) = keys(&img).await;
    assert_eq!(found.len(), N - 1);
    assert!(!found.contains(&"k10".to_string()));
    assert_eq!(items, N as u64);
}
