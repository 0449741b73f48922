//! `backup restore`: a snapshot (its full ancestor and every delta up to it) into a new
//! data folder, loaded straight into the embedded engine's file.

use crate::catalog::{Catalog, Index};
use crate::counts::{rate, StoreCounts};
use crate::crypto::Repo;
use crate::format::{decode_record, Manifest, Record};
use crate::{hex, Error, Result};
use botstore::codec::Table;
use botstore::LoadOp;
use serde::Serialize;
use std::path::Path;
use std::sync::mpsc;
use std::time::Instant;

pub struct RestoreOptions<'a> {
    /// Snapshot id or unique prefix (`None`: the latest).
    pub snapshot: Option<String>,
    /// Replace the store of a non-empty target folder.
    pub force: bool,
    /// Called with (stream bytes done, total).
    pub progress: Option<&'a (dyn Fn(u64, u64) + Sync)>,
}

#[derive(Clone, Debug, Serialize)]
pub struct RestoreSummary {
    pub snapshot: String,
    /// The snapshots applied, full first.
    pub chain: Vec<String>,
    pub lsn: u64,
    /// The restored store (counted by the loader; [`Manifest::counts`] is what the
    /// snapshot says it holds).
    #[serde(flatten)]
    pub counts: StoreCounts,
    /// What the snapshot's manifest says the store held (`counts` should agree).
    #[serde(skip)]
    pub manifest_counts: StoreCounts,
    pub stream_bytes: u64,
    pub file_bytes: u64,
    pub seconds: f64,
    /// Record stream MiB per second, for restores of at least 1 s and 1 MiB.
    pub mib_per_second: Option<f64>,
}

/// Decrypt and check a blob; the error says what is wrong with it.
pub fn open_blob(
    repo: &Repo,
    id: &[u8; 32],
    blob: &[u8],
    plain_len: u32,
) -> Result<Vec<u8>, String> {
    let z = repo
        .open_sealed(id, blob)
        .ok_or("authentication failed (the data was altered or damaged)")?;
    let plain = zstd::bulk::decompress(&z, plain_len as usize)
        .map_err(|e| format!("cannot decompress: {e}"))?;
    if repo.chunk_id(&plain) != *id {
        return Err("content does not match its id".into());
    }
    Ok(plain)
}

fn is_empty_dir(p: &Path) -> Result<bool> {
    match std::fs::read_dir(p) {
        Ok(mut rd) => Ok(rd.next().is_none()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(Error::Io(format!("cannot read {}: {e}", p.display()))),
    }
}

/// Fail unless `to` is empty (or `force`).
pub(crate) fn check_target(to: &Path, force: bool) -> Result<()> {
    if !force && !is_empty_dir(to)? {
        return Err(Error::Invalid(format!(
            "{} is not empty; restore into a new folder, or pass --force to replace its store",
            to.display()
        )));
    }
    Ok(())
}

/// Whether a primary-table key lies in the namespace subtree `prefix` (encoded): every
/// table's key starts with its namespace, but `meta` is store-wide and always kept.
pub(crate) fn in_subtree(prefix: Option<&[u8]>, t: Table, key: &[u8]) -> bool {
    match prefix {
        None => true,
        Some(p) => t == Table::Meta || key.starts_with(p),
    }
}

/// Load a snapshot chain (full first) into `loader`, checking every chunk and each
/// snapshot's record digest. Chunks are located through every readable index, so a
/// damaged index stops the restore only if it alone located a chunk the chain needs. With `ns` (an encoded namespace), only records of that subtree
/// are written. Returns (records written, stream bytes read).
pub(crate) fn load_chain(
    repo: &Repo,
    loader: &mut dyn botstore::BulkLoader,
    chain: &[&Manifest],
    ns: Option<&[u8]>,
    progress: Option<&(dyn Fn(u64, u64) + Sync)>,
) -> Result<(u64, u64)> {
    let index = Index::load(repo)?;
    let total: u64 = chain.iter().map(|m| m.stream_bytes).sum();
    let mut done = 0u64;
    let mut records = 0u64;
    for m in chain {
        // The reader thread reads, decrypts, decompresses and checks the chunks and hashes
        // the stream, a few chunks ahead of the loader (bounded: at most 4 + 2 chunks of
        // at most 2 MiB each in flight).
        let (tx, rx) = mpsc::sync_channel::<Result<Vec<u8>>>(4);
        let res = std::thread::scope(|s| {
            let reader = s.spawn(|| {
                let mut digest = repo.hasher();
                for c in &m.chunks {
                    let r = index.read(repo, c);
                    if let Ok(chunk) = &r {
                        digest.update(chunk);
                    }
                    let stop = r.is_err();
                    if tx.send(r).is_err() || stop {
                        break;
                    }
                }
                drop(tx);
                hex(digest.finalize().as_bytes())
            });
            // The tail of the previous chunk that ends inside a record.
            let mut carry: Vec<u8> = Vec::new();
            let mut n = 0usize;
            for chunk in rx.iter() {
                let chunk = chunk?;
                n += 1;
                done += chunk.len() as u64;
                // Decode the chunk in place unless a record continues into it.
                let mut buf = if carry.is_empty() {
                    chunk
                } else {
                    carry.extend_from_slice(&chunk);
                    std::mem::take(&mut carry)
                };
                let mut at = 0;
                let mut ops = Vec::new();
                while let Some((r, used)) = decode_record(&buf[at..])? {
                    let (t, k) = match r {
                        Record::Put(t, k, _)
                        | Record::Delete(t, k)
                        | Record::DeleteRange(t, k, _) => (t, k),
                    };
                    if in_subtree(ns, t, k) {
                        ops.push(match r {
                            Record::Put(t, k, v) => LoadOp::Put(t, k, v),
                            Record::Delete(t, k) => LoadOp::Delete(t, k),
                            Record::DeleteRange(t, a, b) => LoadOp::DeleteRange(t, a, b),
                        });
                    }
                    at += used;
                }
                records += ops.len() as u64;
                loader.apply(&ops)?;
                buf.drain(..at);
                carry = buf;
                if let Some(p) = progress {
                    p(done, total);
                }
            }
            let digest = reader
                .join()
                .map_err(|_| Error::Io(format!("snapshot {}: chunk reader panicked", m.id)))?;
            if n != m.chunks.len() {
                return Err(Error::Io(format!(
                    "snapshot {}: chunk reader stopped",
                    m.id
                )));
            }
            if !carry.is_empty() {
                return Err(Error::Corrupt(format!(
                    "snapshot {}: the record stream ends inside a record",
                    m.id
                )));
            }
            if digest != m.digest {
                return Err(Error::Corrupt(format!(
                    "snapshot {}: record digest does not match the manifest",
                    m.id
                )));
            }
            Ok(())
        });
        res?;
    }
    Ok((records, done))
}

/// Restore into `to`, which must be empty (or `force`).
pub fn restore(repo: &Repo, to: &Path, opts: &RestoreOptions) -> Result<RestoreSummary> {
    let started = Instant::now();
    check_target(to, opts.force)?;
    // Only the chosen snapshot's chain matters: damaged manifests of other snapshots are
    // skipped (and named if the chain needs one).
    let catalog = Catalog::load(repo)?;
    let target = catalog.find(opts.snapshot.as_deref())?;
    let chain = catalog.chain(target)?;
    let mut loader = botstore::create_loader(&to.to_string_lossy(), opts.force)?;
    let (_, done) = load_chain(repo, &mut *loader, &chain, None, opts.progress)?;
    let report = loader.finish()?;
    let seconds = started.elapsed().as_secs_f64();
    Ok(RestoreSummary {
        snapshot: target.id.clone(),
        chain: chain.iter().map(|m| m.id.clone()).collect(),
        lsn: target.lsn,
        counts: StoreCounts::of_load(&report),
        manifest_counts: target.counts(),
        stream_bytes: done,
        file_bytes: report.file_bytes,
        seconds,
        mib_per_second: rate(done, seconds),
    })
}
