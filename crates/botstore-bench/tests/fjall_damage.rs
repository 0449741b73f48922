//! What the comparison says of fjall's block checksums, held as a test: a bit flipped in
//! a table file of a closed fjall store makes the reads that meet it fail with
//! `Error::Corrupt`, never return other bytes and never panic; every other read returns
//! the acknowledged value.

// Helpers outside #[test] functions unwrap too: a panic is the test failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use botstore::{Error, Namespace, Store, StoreOptions, Value};
use botstore_bench::fjall_backend::{FjallBackend, FjallVariant};
use botstore_bench::Durability;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const ITEMS: u64 = 300;

fn value(i: u64) -> Vec<u8> {
    let words = [
        "order", "refund", "pizza", "thanks", "delivery", "status", "help",
    ];
    let text: Vec<&str> = (0..150)
        .map(|j| words[((i * 7 + j * 13) % 7) as usize])
        .collect();
    serde_json::to_vec(&serde_json::json!({"id": i, "text": text.join(" ")})).unwrap()
}

fn open(dir: &Path) -> (Store, Arc<FjallBackend>) {
    let b = Arc::new(
        FjallBackend::open(dir, FjallVariant::Defaults, Durability::Immediate, 4 << 20).unwrap(),
    );
    (Store::with_options(b.clone(), StoreOptions::default()), b)
}

fn files(dir: &Path, out: &mut Vec<(PathBuf, u64)>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let m = e.metadata().unwrap();
        if m.is_dir() {
            files(&e.path(), out);
        } else {
            out.push((e.path(), m.len()));
        }
    }
}

fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let t = to.join(e.file_name());
        if e.metadata().unwrap().is_dir() {
            copy(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), &t).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn flipped_bits_in_tables_fail_reads_with_corrupt() {
    let root = tempfile::tempdir().unwrap();
    let src = root.path().join("src");
    let ns = Namespace::new(["tenant", "users"]);
    {
        let (store, backend) = open(&src);
        for i in 0..ITEMS {
            store
                .put(&ns, &format!("u{i:04}"), Value::json_text(value(i)))
                .await
                .unwrap();
        }
        // Into the last level, LZ4-compressed, and nothing left to replay from the journal.
        store.compact().await.unwrap();
        drop(store);
        botstore::Backend::close(&*backend).unwrap();
    }
    let mut all = Vec::new();
    files(&src, &mut all);
    // The largest table file holds the items (the change feed's copies are the other).
    let tables: Vec<_> = all
        .iter()
        .filter(|(p, _)| p.components().any(|c| c.as_os_str() == "tables"))
        .collect();
    let (table, len) = tables.iter().max_by_key(|(_, n)| *n).unwrap();
    let rel = table.strip_prefix(&src).unwrap().to_path_buf();
    let mut failed_cases = 0;
    for case in 0..12u64 {
        let dir = root.path().join(format!("case{case}"));
        copy(&src, &dir);
        let path = dir.join(&rel);
        let mut bytes = std::fs::read(&path).unwrap();
        // Spread over the file, skipping zero bytes (padding) so that something changes
        // that a reader would decode.
        let mut at = (*len * (2 * case + 1) / 26) as usize;
        while bytes[at] == 0 {
            at += 1;
        }
        bytes[at] ^= 1 << (case % 8);
        std::fs::write(&path, bytes).unwrap();
        let Ok(backend) =
            FjallBackend::open(&dir, FjallVariant::Defaults, Durability::Immediate, 4 << 20)
        else {
            // Refusing to open is a loud failure too.
            failed_cases += 1;
            continue;
        };
        let store = Store::with_options(Arc::new(backend), StoreOptions::default());
        let mut errors = 0;
        for i in 0..ITEMS {
            match store.get(&ns, &format!("u{i:04}")).await {
                Ok(Some(item)) => assert_eq!(item.value.data, value(i), "case {case}, item {i}"),
                Ok(None) => panic!("case {case}: item {i} answered absent"),
                Err(Error::Corrupt(_)) => errors += 1,
                Err(e) => panic!("case {case}, item {i}: not Corrupt: {e}"),
            }
        }
        match store.changes(0, 10_000).await {
            Ok(cs) => assert_eq!(cs.len() as u64, ITEMS, "case {case}"),
            Err(Error::Corrupt(_)) => errors += 1,
            Err(e) => panic!("case {case}, changes: not Corrupt: {e}"),
        }
        if errors > 0 {
            failed_cases += 1;
        }
    }
    // Each flip lands in a data, index or filter block that the reads above load.
    assert_eq!(failed_cases, 12, "every flip was seen by some read");
}
