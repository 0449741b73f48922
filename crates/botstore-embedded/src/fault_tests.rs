//! A failed journal `fdatasync` (EIO), injected: the group fails, its frame is retracted
//! (never replayed), reads go on, and the writer repairs itself with a checkpoint once
//! the fault clears. A real full disk is tested in `tests/disk_full.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::{journal, EmbeddedBackend, EmbeddedOptions};
use botstore::backend::Backend;
use botstore::{Error, Namespace, Store, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

const EIO: i32 = 5;

fn v(i: u8) -> Value {
    Value::bytes("application/octet-stream", vec![i; 100])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_fdatasync_fails_the_group_and_is_repaired_by_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let ns = Namespace::new(["f"]);
    let opts = EmbeddedOptions {
        checkpoint_interval: Duration::from_secs(3600),
        ..EmbeddedOptions::default()
    };
    let b = Arc::new(EmbeddedBackend::open(dir.path(), opts.clone()).unwrap());
    let store = Store::new(b.clone());
    store.put(&ns, "a", v(1)).await.unwrap();
    store.put(&ns, "b", v(2)).await.unwrap();
    b.writer.lock().unwrap().journal.fail_sync = Some(EIO);
    let e = store.put(&ns, "c", v(3)).await.unwrap_err();
    assert!(
        matches!(&e, Error::Storage(m) if m.contains("fdatasync")),
        "{e}"
    );
    // Reads go on; the failed write is nowhere, not even in the journal.
    assert_eq!(store.get_now(&ns, "a").unwrap().unwrap().value, v(1));
    assert!(store.get_now(&ns, "c").unwrap().is_none());
    {
        let w = b.writer.lock().unwrap();
        let (frames, _) = journal::read_frames(w.journal.file(), w.journal.generation).unwrap();
        assert_eq!(frames.len(), 2, "the failed frame must not be replayable");
    }
    assert!(matches!(b.write_block(), Some(Error::Storage(_))));
    // While the fault lasts, writes keep failing (the repair is a checkpoint).
    let checkpoints = b
        .metrics()
        .checkpoints
        .load(std::sync::atomic::Ordering::Relaxed);
    b.writer.lock().unwrap().journal.fail_sync = None;
    let t = Instant::now();
    while b.write_block().is_some() {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "never repaired: {:?}",
            b.write_block()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        b.metrics()
            .checkpoints
            .load(std::sync::atomic::Ordering::Relaxed)
            > checkpoints
    );
    store.put(&ns, "d", v(4)).await.unwrap();
    store.close().unwrap();
    drop(store);
    drop(b);
    let b = Arc::new(EmbeddedBackend::open(dir.path(), opts).unwrap());
    let store = Store::new(b);
    for (k, i) in [("a", 1), ("b", 2), ("d", 4)] {
        assert_eq!(store.get_now(&ns, k).unwrap().unwrap().value, v(i), "{k}");
    }
    assert!(store.get_now(&ns, "c").unwrap().is_none());
}
