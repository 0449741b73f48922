//! `backup prune`: delete the data no snapshot references.
//!
//! 1. Every chunk a snapshot or a change-feed segment references is located (an index entry whose pack exists).
//! 2. Packs holding only unreferenced blobs are garbage; packs whose referenced blobs are
//!    less than `repack_below` of their bytes are rewritten: their live blobs are copied,
//!    as they are, into new packs (a blob's AAD is its chunk id, not its pack).
//! 3. One new index naming every referenced chunk is written (after the new packs).
//! 4. Then the old indexes are deleted, and last the garbage and rewritten packs.
//!
//! Killed at any step, the repository still verifies: until step 3 nothing was removed;
//! after it the new index alone names every referenced chunk, and every pack an index
//! names exists until its index is gone. A later prune finishes the work.
//!
//! Prune must not run while a backup writes to the same repository.

use crate::create::snapshots;
use crate::crypto::Repo;
use crate::format::{self, pack_name, Location};
use crate::{hex, Error, Result};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// Called with (phase, done, total).
pub type PruneProgress<'a> = dyn Fn(&str, u64, u64) + Sync + 'a;
/// Index entries grouped by pack.
type PackBlobs = (String, Vec<([u8; 32], Location)>);

pub struct PruneOptions<'a> {
    pub dry_run: bool,
    /// Rewrite a pack whose referenced bytes are below this fraction of it (0: never).
    pub repack_below: f64,
    /// New packs are cut at this size.
    pub pack_size: usize,
    /// Called with (phase, done, total): `repack` and `delete` count bytes.
    pub progress: Option<&'a PruneProgress<'a>>,
}

impl Default for PruneOptions<'_> {
    fn default() -> Self {
        PruneOptions {
            dry_run: false,
            repack_below: 0.5,
            pack_size: 16 << 20,
            progress: None,
        }
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct PruneReport {
    pub snapshots: u64,
    pub chunks_referenced: u64,
    pub packs_before: u64,
    pub bytes_before: u64,
    pub packs_kept: u64,
    pub packs_deleted: u64,
    pub packs_rewritten: u64,
    pub packs_written: u64,
    pub indexes_deleted: u64,
    /// Bytes removed from `packs/` (deleted minus written).
    pub bytes_freed: u64,
    pub bytes_after: u64,
    pub dry_run: bool,
    pub seconds: f64,
}

pub fn prune(repo: &Repo, opts: &PruneOptions) -> Result<PruneReport> {
    let started = std::time::Instant::now();
    let progress = |phase: &str, done: u64, total: u64| {
        if let Some(p) = opts.progress {
            p(phase, done, total);
        }
    };
    let all = snapshots(repo)?;
    let mut referenced: HashSet<[u8; 32]> = all
        .iter()
        .flat_map(|m| m.chunks.iter())
        .map(|c| {
            format::unhex32(c).ok_or_else(|| Error::Corrupt(format!("malformed chunk id {c}")))
        })
        .collect::<Result<_>>()?;
    // Change-feed segments (`backup follow`) are live data too.
    referenced.extend(crate::segment::chunk_refs(repo)?);
    let index_names = repo.store.list("index/")?;
    let mut candidates: HashMap<[u8; 32], Vec<Location>> = HashMap::new();
    for name in &index_names {
        let body = repo.get_object(name)?;
        for (id, l) in format::decode_index(name, &body)? {
            if referenced.contains(&id) {
                candidates.entry(id).or_default().push(l);
            }
        }
    }
    let mut pack_sizes: BTreeMap<String, u64> = BTreeMap::new();
    for name in repo.store.list("packs/")? {
        let id = name.rsplit('/').next().unwrap_or_default().to_string();
        let size = repo.store.size(&name)?.unwrap_or(0);
        pack_sizes.insert(id, size);
    }
    let mut r = PruneReport {
        snapshots: all.len() as u64,
        chunks_referenced: referenced.len() as u64,
        packs_before: pack_sizes.len() as u64,
        bytes_before: pack_sizes.values().sum(),
        dry_run: opts.dry_run,
        ..Default::default()
    };
    // One location per referenced chunk, in a pack that exists.
    let mut live: BTreeMap<String, Vec<([u8; 32], Location)>> = BTreeMap::new();
    for id in &referenced {
        let loc = candidates
            .get(id)
            .and_then(|ls| ls.iter().find(|l| pack_sizes.contains_key(&l.pack)))
            .ok_or_else(|| {
                Error::Corrupt(format!(
                    "chunk {} is referenced but stored in no pack; run `backup verify` (nothing was pruned)",
                    hex(id)
                ))
            })?;
        live.entry(loc.pack.clone())
            .or_default()
            .push((*id, loc.clone()));
    }
    let mut keep_entries: Vec<([u8; 32], Location)> = Vec::new();
    let mut rewrite: Vec<PackBlobs> = Vec::new();
    for (pack, blobs) in live {
        let used: u64 = blobs.iter().map(|(_, l)| l.len as u64).sum();
        let size = pack_sizes[&pack];
        if opts.repack_below > 0.0 && (used as f64) < opts.repack_below * size as f64 {
            rewrite.push((pack, blobs));
        } else {
            keep_entries.extend(blobs);
        }
    }
    let kept: BTreeSet<String> = keep_entries.iter().map(|(_, l)| l.pack.clone()).collect();
    r.packs_kept = kept.len() as u64;
    r.packs_rewritten = rewrite.len() as u64;
    let doomed: Vec<String> = pack_sizes
        .keys()
        .filter(|p| !kept.contains(*p))
        .cloned()
        .collect();
    r.packs_deleted = doomed.len() as u64;
    let doomed_bytes: u64 = doomed.iter().map(|p| pack_sizes[p]).sum();
    if opts.dry_run {
        let rewritten_live: u64 = rewrite
            .iter()
            .flat_map(|(_, b)| b.iter())
            .map(|(_, l)| l.len as u64)
            .sum();
        r.bytes_freed = doomed_bytes - rewritten_live;
        r.bytes_after = r.bytes_before - r.bytes_freed;
        r.seconds = started.elapsed().as_secs_f64();
        return Ok(r);
    }
    // 2. Copy the live blobs of rewritten packs into new packs.
    let repack_total: u64 = rewrite
        .iter()
        .flat_map(|(_, b)| b.iter())
        .map(|(_, l)| l.len as u64)
        .sum();
    let mut repacked = 0u64;
    let mut written = 0u64;
    let mut pack: Vec<u8> = Vec::new();
    let mut in_pack: Vec<([u8; 32], u64, u32, u32)> = Vec::new();
    let mut flush = |pack: &mut Vec<u8>,
                     in_pack: &mut Vec<([u8; 32], u64, u32, u32)>,
                     keep_entries: &mut Vec<([u8; 32], Location)>|
     -> Result<()> {
        if pack.is_empty() {
            return Ok(());
        }
        let pid = hex(blake3::hash(pack).as_bytes());
        repo.store.put(&pack_name(&pid), pack)?;
        r.packs_written += 1;
        written += pack.len() as u64;
        for (id, offset, len, plain_len) in in_pack.drain(..) {
            keep_entries.push((
                id,
                Location {
                    pack: pid.clone(),
                    offset,
                    len,
                    plain_len,
                },
            ));
        }
        pack.clear();
        Ok(())
    };
    for (old, mut blobs) in rewrite {
        blobs.sort_by_key(|(_, l)| l.offset);
        let data = repo.store.get(&pack_name(&old))?;
        for (id, l) in blobs {
            let end = l.offset as usize + l.len as usize;
            let blob = data.get(l.offset as usize..end).ok_or_else(|| {
                Error::Corrupt(format!(
                    "{} is truncated (nothing was pruned)",
                    pack_name(&old)
                ))
            })?;
            // Never copy damage into a new pack.
            crate::restore::open_blob(repo, &id, blob, l.plain_len).map_err(|why| {
                Error::Corrupt(format!(
                    "chunk {} in {} at offset {}: {why} (nothing was pruned)",
                    hex(&id),
                    pack_name(&old),
                    l.offset
                ))
            })?;
            in_pack.push((id, pack.len() as u64, l.len, l.plain_len));
            pack.extend_from_slice(blob);
            repacked += l.len as u64;
            progress("repack", repacked, repack_total);
            if pack.len() >= opts.pack_size {
                flush(&mut pack, &mut in_pack, &mut keep_entries)?;
            }
        }
    }
    flush(&mut pack, &mut in_pack, &mut keep_entries)?;
    // 3. The new index, before anything is deleted.
    keep_entries.sort_by(|a, b| (&a.1.pack, a.1.offset).cmp(&(&b.1.pack, b.1.offset)));
    let new_index = format!("index/{}", hex(&crate::random::<16>()));
    repo.put_object(&new_index, &format::encode_index(&keep_entries))?;
    // 4. Old indexes, then packs.
    for name in &index_names {
        repo.store.delete(name)?;
        r.indexes_deleted += 1;
    }
    let mut deleted = 0u64;
    for p in &doomed {
        repo.store.delete(&pack_name(p))?;
        deleted += pack_sizes[p];
        progress("delete", deleted, doomed_bytes);
    }
    repo.store.clean_tmp()?;
    r.bytes_freed = doomed_bytes.saturating_sub(written);
    r.bytes_after = r.bytes_before - r.bytes_freed;
    r.seconds = started.elapsed().as_secs_f64();
    Ok(r)
}
