//! A full disk, for real: each test mounts a small tmpfs (16 MiB) as root, opens a store on
//! it, fills the rest of the file system with a filler file, and checks that writes fail
//! with `Error::NoSpace`, reads go on, the backend reports writes blocked, and once the
//! filler is removed writes resume by themselves (no restart), with every acknowledged
//! write readable and every failed one absent, also after a reopen.
//!
//! Without root or `mount` (an unprivileged sandbox) each test prints why and returns.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use botstore::{Error, Namespace, Store, StoreOptions, Value};
use botstore_embedded::{open_store, EmbeddedOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A tmpfs mounted on a temporary folder, unmounted on drop.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(mib: u64) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().ok()?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(dir.path())
            .output();
        match out {
            Ok(o) if o.status.success() => Some(SmallDisk { dir }),
            Ok(o) => {
                eprintln!(
                    "SKIPPED: cannot mount a tmpfs (needs root): {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                );
                None
            }
            Err(e) => {
                eprintln!("SKIPPED: cannot run mount: {e}");
                None
            }
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fill the file system to the last page; returns the filler's path.
    fn fill(&self) -> PathBuf {
        let p = self.path().join("filler");
        let mut f = std::fs::File::create(&p).unwrap();
        for chunk in [1 << 20, 4096] {
            let zeros = vec![0u8; chunk];
            while f.write_all(&zeros).is_ok() {}
        }
        p
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

fn value(i: usize) -> Value {
    Value::bytes("application/octet-stream", vec![(i % 251) as u8; 8 << 10])
}

fn ns() -> Namespace {
    Namespace::new(["disk", "full"])
}

/// Put `k<i>` for i in `from..` until a write fails; returns the last index tried (failed).
async fn put_until_failure(store: &Store, from: usize, acked: &mut Vec<usize>) -> (usize, Error) {
    for i in from..from + 100_000 {
        match store.put(&ns(), &format!("k{i}"), value(i)).await {
            Ok(_) => acked.push(i),
            Err(e) => return (i, e),
        }
    }
    panic!("the disk never filled");
}

/// Every acknowledged key has its value; every failed one is absent.
fn check(store: &Store, acked: &[usize], failed: &[usize]) {
    for &i in acked {
        let got = store.get_now(&ns(), &format!("k{i}")).unwrap();
        assert_eq!(got.map(|it| it.value), Some(value(i)), "acknowledged k{i}");
    }
    for &i in failed {
        assert_eq!(
            store.get_now(&ns(), &format!("k{i}")).unwrap(),
            None,
            "failed k{i} must be absent"
        );
    }
}

fn blocked_gauge(store: &Store) -> f64 {
    store
        .metrics()
        .into_iter()
        .find(|m| m.name == "botstore_writes_blocked")
        .map(|m| match m.value {
            botstore::backend::MetricValue::Gauge(g) => g,
            _ => panic!("not a gauge"),
        })
        .unwrap()
}

/// Free the space; then write every 20 ms until one succeeds. Returns the time it took.
async fn free_and_resume(store: &Store, filler: &Path, key: usize) -> Duration {
    std::fs::remove_file(filler).unwrap();
    let t = Instant::now();
    loop {
        match store.put(&ns(), &format!("k{key}"), value(key)).await {
            Ok(_) => return t.elapsed(),
            Err(Error::NoSpace(_)) if t.elapsed() < Duration::from_secs(30) => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("after freeing space: {e}"),
        }
    }
}

async fn full_disk_round(opts: EmbeddedOptions, mib: u64, what: &str, cause: &str) {
    let Some(disk) = SmallDisk::mount(mib) else {
        return;
    };
    let data = disk.path().join("store");
    let store = open_store(&data, opts.clone(), StoreOptions::default()).unwrap();
    let mut acked = Vec::new();
    for i in 0..20 {
        store.put(&ns(), &format!("k{i}"), value(i)).await.unwrap();
        acked.push(i);
    }
    let filler = disk.fill();
    let (first_failed, e) = put_until_failure(&store, 20, &mut acked).await;
    assert!(matches!(e, Error::NoSpace(_)), "{what}: {e}");
    assert!(e.to_string().contains(cause), "{what}: {e}");
    eprintln!("{what}: first failure after {} writes: {e}", acked.len());
    let mut failed = vec![first_failed];
    // Later writes fail too (fail fast or a retry that fails), with the same kind.
    for i in first_failed + 1..first_failed + 5 {
        let e = store
            .put(&ns(), &format!("k{i}"), value(i))
            .await
            .unwrap_err();
        assert!(matches!(e, Error::NoSpace(_)), "{what}: {e}");
        failed.push(i);
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    // Reads go on; the backend says why writes are blocked.
    check(&store, &acked, &failed);
    let why = store.backend().write_block().expect("writes are blocked");
    assert!(why.to_string().contains("since"), "{why}");
    assert_eq!(blocked_gauge(&store), 1.0);
    let key = first_failed + 5;
    let took = free_and_resume(&store, &filler, key).await;
    eprintln!("{what}: RESUMED {took:?} after the space was freed");
    acked.push(key);
    assert!(took < Duration::from_secs(10), "{what}: {took:?}");
    assert!(store.backend().write_block().is_none());
    assert_eq!(blocked_gauge(&store), 0.0);
    for i in key + 1..key + 50 {
        store.put(&ns(), &format!("k{i}"), value(i)).await.unwrap();
        acked.push(i);
    }
    check(&store, &acked, &failed);
    store.close().unwrap();
    drop(store);
    let store = open_store(&data, opts, StoreOptions::default()).unwrap();
    check(&store, &acked, &failed);
}

/// redb's commit (a checkpoint) meets the full disk first: the journal has room (16 MiB
/// preallocated), and a checkpoint runs every 50 ms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_in_redb_commit_blocks_then_resumes() {
    let opts = EmbeddedOptions {
        journal_capacity: 4 << 20,
        memtable_bytes: 64 << 10,
        checkpoint_interval: Duration::from_millis(50),
        ..EmbeddedOptions::default()
    };
    full_disk_round(opts, 16, "redb", "checkpoint failed").await;
}

/// The journal meets the full disk first: it grows in 4 MiB steps, and the memtable is
/// too large to flush in this test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_in_journal_grow_blocks_then_resumes() {
    let opts = EmbeddedOptions {
        journal_capacity: 64 << 20,
        memtable_bytes: 64 << 20,
        checkpoint_interval: Duration::from_secs(3600),
        ..EmbeddedOptions::default()
    };
    // 32 MiB: the final checkpoint of what the test wrote must fit after the journal.
    full_disk_round(opts, 32, "journal", "journal grow failed").await;
}

/// A close on a full disk fails its checkpoint but loses nothing: the next open, on the
/// still full disk, opens read-only with every acknowledged write readable, writes answer
/// `ReadOnly`, and once space is freed the store becomes writable by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_and_reopen_on_a_full_disk_is_read_only_then_writable() {
    let Some(disk) = SmallDisk::mount(16) else {
        return;
    };
    let data = disk.path().join("store");
    let opts = EmbeddedOptions {
        journal_capacity: 4 << 20,
        memtable_bytes: 64 << 20,
        checkpoint_interval: Duration::from_secs(3600),
        ..EmbeddedOptions::default()
    };
    let store = open_store(&data, opts.clone(), StoreOptions::default()).unwrap();
    let acked: Vec<usize> = (0..200).collect();
    for &i in &acked {
        store.put(&ns(), &format!("k{i}"), value(i)).await.unwrap();
    }
    let filler = disk.fill();
    let e = store.close().unwrap_err();
    eprintln!("close on a full disk: {e}");
    assert!(matches!(e, Error::NoSpace(_)), "{e}");
    assert!(e.to_string().contains("journal keeps"), "{e}");
    drop(store);

    let store = open_store(&data, opts.clone(), StoreOptions::default()).unwrap();
    check(&store, &acked, &[]);
    let e = store.put(&ns(), "k-new", value(1)).await.unwrap_err();
    assert!(
        matches!(&e, Error::ReadOnly(m) if m.contains("no space")),
        "{e}"
    );
    assert!(matches!(
        store.backend().write_block(),
        Some(Error::ReadOnly(_))
    ));
    std::fs::remove_file(&filler).unwrap();
    // No traffic: the upkeep thread makes it writable.
    let t = Instant::now();
    while store.backend().write_block().is_some() {
        assert!(t.elapsed() < Duration::from_secs(10), "still read-only");
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!(
        "read-only open: WRITABLE {:?} after the space was freed",
        t.elapsed()
    );
    store.put(&ns(), "k-new", value(1)).await.unwrap();
    store.close().unwrap();
    drop(store);
    let store = open_store(&data, opts, StoreOptions::default()).unwrap();
    check(&store, &acked, &[]);
    assert!(store.get_now(&ns(), "k-new").unwrap().is_some());
}

/// Relaxed durability: the same, with the journal flushed on a 20 ms timer instead of per
/// group, and checkpoints every 50 ms (redb meets the full disk first).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_with_relaxed_durability_blocks_then_resumes() {
    let opts = EmbeddedOptions {
        durability: botstore::Durability::Relaxed {
            max_loss: Duration::from_millis(20),
        },
        journal_capacity: 4 << 20,
        memtable_bytes: 64 << 10,
        checkpoint_interval: Duration::from_millis(50),
        ..EmbeddedOptions::default()
    };
    full_disk_round(opts, 16, "relaxed", "no space left").await;
}
