//! Single-bit flips in a real `store.redb` (items, stream entries, leases, the change
//! feed, counters) are never served as genuine: for each flip, on a fresh copy of the
//! data folder, every read returns the acknowledged bytes or fails loudly, and when a read
//! saw the damage, `verify` reports it.
//!
//! `BOTSTORE_FLIPS` sets the number of flips (default 60; the figure is measured
//! with 1000 in release, docs/BENCHMARKS.md), `BOTSTORE_FLIP_SEED` the seed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use botstore::{
    Change, Direction, Item, Namespace, Scan, Store, StreamEntry, Value, VerifyOptions,
};
use botstore_embedded::{open_store, EmbeddedOptions};
use std::collections::BTreeMap;
use std::path::Path;

type Entries = Vec<(u64, Vec<u8>)>;

#[derive(Debug, PartialEq)]
struct Contents {
    items: BTreeMap<(String, String), (Vec<u8>, u64)>,
    /// What scans returned (compared with the acknowledged items, not with `get`: a
    /// damaged branch can hide a record from lookups that a scan still finds).
    scanned: BTreeMap<(String, String), (Vec<u8>, u64)>,
    entries: BTreeMap<(String, String), Entries>,
    changes: Vec<Change>,
    leases: Vec<Option<(String, u64)>>,
}

fn nss() -> Vec<Namespace> {
    (0..20)
        .map(|i| Namespace::new(["t", &format!("user{i}")]))
        .collect()
}

async fn build(dir: &Path) {
    let s = open_store(dir, EmbeddedOptions::default(), Default::default()).unwrap();
    for (i, ns) in nss().iter().enumerate() {
        for k in 0..100 {
            let text = format!("turn {k} of user {i}: ").repeat(30);
            let v = serde_json::json!({"user": i, "turn": k, "text": text});
            s.put(ns, &format!("k{k:04}"), Value::json(&v))
                .await
                .unwrap();
        }
        let entries = (0..20)
            .map(|e| Value::json(&serde_json::json!({"msg": e, "pad": "x".repeat(200)})))
            .collect();
        s.append(ns, "transcript", entries, None).await.unwrap();
        s.acquire_lease(ns, "turn", "worker-1", std::time::Duration::from_secs(3600))
            .await
            .unwrap();
    }
    s.close().unwrap();
}

/// Everything a reader can see, through the API. `Err` when any read failed.
async fn read_all(s: &Store) -> botstore::Result<(Contents, usize)> {
    let mut c = Contents {
        items: BTreeMap::new(),
        scanned: BTreeMap::new(),
        entries: BTreeMap::new(),
        changes: Vec::new(),
        leases: Vec::new(),
    };
    let mut missing = 0;
    let item = |it: &Item| (it.value.data.to_vec(), it.version.0);
    for ns in nss() {
        for k in 0..100 {
            let key = format!("k{k:04}");
            match s.get(&ns, &key).await? {
                Some(it) => {
                    c.items.insert((ns.to_string(), key), item(&it));
                }
                None => missing += 1,
            }
        }
        // A scan must agree with the lookups.
        let mut cursor = None;
        loop {
            let page = s
                .scan(&Scan {
                    ns: ns.clone(),
                    cursor,
                    limit: 37,
                    ..Scan::default()
                })
                .await?;
            for it in &page.items {
                c.scanned.insert((ns.to_string(), it.key.clone()), item(it));
            }
            match page.cursor {
                Some(cur) => cursor = Some(cur),
                None => break,
            }
        }
        let es: Vec<StreamEntry> = s
            .read_stream(&ns, "transcript", None, Direction::Forward, 1000)
            .await?;
        c.entries.insert(
            (ns.to_string(), "transcript".into()),
            es.iter().map(|e| (e.seq, e.value.data.to_vec())).collect(),
        );
        c.leases.push(
            s.get_lease(&ns, "turn")
                .await?
                .map(|l| (l.holder.clone(), l.token)),
        );
    }
    c.changes = s.changes(0, 10_000).await?;
    Ok((c, missing))
}

fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[tokio::test(flavor = "multi_thread")]
async fn bit_flips_in_store_redb_are_never_served_as_genuine() {
    let flips: usize = std::env::var("BOTSTORE_FLIPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let mut rng: u64 = std::env::var("BOTSTORE_FLIP_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed_f11b);
    let base = tempfile::tempdir().unwrap();
    build(base.path()).await;
    let pristine = std::fs::read(base.path().join("store.redb")).unwrap();
    let journal = std::fs::read(base.path().join("wal.log")).unwrap_or_default();
    let expected = {
        let s = open_store(base.path(), EmbeddedOptions::default(), Default::default()).unwrap();
        let (c, missing) = read_all(&s).await.unwrap();
        assert_eq!(missing, 0);
        assert!(s
            .verify(&VerifyOptions::default(), &mut |_| {})
            .unwrap()
            .is_clean());
        s.close().unwrap();
        c
    };
    let nonzero: Vec<usize> = (0..pristine.len()).filter(|&i| pristine[i] != 0).collect();

    let (mut served_clean, mut refused_open, mut read_errors, mut missing_reads) = (0, 0, 0, 0);
    let mut wrong = Vec::new();
    let mut unreported = Vec::new();
    for _ in 0..flips {
        let at = nonzero[(next(&mut rng) % nonzero.len() as u64) as usize];
        let bit = (next(&mut rng) % 8) as u8;
        let dir = tempfile::tempdir().unwrap();
        let mut damaged = pristine.clone();
        damaged[at] ^= 1 << bit;
        std::fs::write(dir.path().join("store.redb"), &damaged).unwrap();
        std::fs::write(dir.path().join("wal.log"), &journal).unwrap();
        let s = match open_store(dir.path(), EmbeddedOptions::default(), Default::default()) {
            Ok(s) => s,
            Err(_) => {
                refused_open += 1;
                continue;
            }
        };
        let seen = read_all(&s).await;
        let report = s.verify(&VerifyOptions::default(), &mut |_| {});
        let reported = report.as_ref().map_or(true, |r| !r.is_clean());
        match seen {
            Err(_) => {
                read_errors += 1;
                if !reported {
                    unreported.push((at, bit, "read error"));
                }
            }
            Ok((c, missing)) => {
                // What a read returned must be exactly what was acknowledged.
                for (k, v) in c.items.iter().chain(&c.scanned) {
                    if expected.items.get(k) != Some(v) {
                        wrong.push((at, bit, format!("item {k:?}")));
                    }
                }
                // Every entry a read returned is the acknowledged one at its sequence; a
                // damaged branch may hide entries from a range read (counted as hidden).
                let mut hidden_entries = false;
                for (stream, got) in &c.entries {
                    let want = expected.entries.get(stream).cloned().unwrap_or_default();
                    if got.iter().any(|e| !want.contains(e)) {
                        wrong.push((at, bit, format!("stream entries of {stream:?}")));
                    }
                    hidden_entries |= got.len() < want.len();
                }
                if hidden_entries && !reported {
                    unreported.push((at, bit, "stream entries hidden"));
                }
                let missing = missing + usize::from(hidden_entries);
                if c.changes != expected.changes {
                    wrong.push((at, bit, "change feed".into()));
                }
                if c.leases != expected.leases {
                    wrong.push((at, bit, "leases".into()));
                }
                if missing > 0 {
                    missing_reads += 1;
                    if !reported {
                        unreported.push((at, bit, "item missing"));
                    }
                } else {
                    served_clean += 1;
                }
            }
        }
        let _ = s.close();
    }
    eprintln!(
        "{flips} flips: {served_clean} served every record intact, {read_errors} failed a read \
         loudly, {refused_open} refused to open, {missing_reads} hid a record from a lookup \
         (all reported by verify unless listed: {unreported:?}); wrong reads: {}",
        wrong.len()
    );
    assert!(wrong.is_empty(), "wrong bytes served: {wrong:?}");
    assert!(
        unreported.is_empty(),
        "damage seen by reads but not by verify: {unreported:?}"
    );
}
