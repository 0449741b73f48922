//! Point-in-time restore: the latest snapshot at or below the target, then the change
//! records of the segments after it, replayed ([`botstore::replay`]) up to the target LSN
//! or time, exactly. `ns` restores one namespace subtree.

use crate::catalog::{Catalog, Index};
use crate::counts::StoreCounts;
use crate::crypto::Repo;
use crate::format::Manifest;
use crate::restore::{check_target, in_subtree, load_chain, RestoreOptions};
use crate::segment::{self, SegmentManifest};
use crate::{Error, Result};
use botstore::codec::{self, Table};
use botstore::LoadOp;
use botstore::Namespace;
use serde::Serialize;
use std::path::Path;
use std::time::Instant;

/// Where to restore to. With neither `lsn` nor `at`, the snapshot itself.
#[derive(Clone, Debug, Default)]
pub struct PointInTime {
    /// The store exactly after the change with this LSN.
    pub lsn: Option<u64>,
    /// The store as of this time (ms since the epoch): every change committed at or before
    /// it, none after.
    pub at: Option<i64>,
    /// Only this namespace subtree (store-wide `meta` is kept).
    pub ns: Option<Namespace>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PitrSummary {
    pub snapshot: String,
    pub chain: Vec<String>,
    pub snapshot_lsn: u64,
    /// The LSN of the restored store.
    pub lsn: u64,
    /// Commit time (ms) of the last change replayed (`None`: none was).
    pub last_change_time: Option<i64>,
    pub segments: u64,
    pub changes_applied: u64,
    /// The restored store.
    #[serde(flatten)]
    pub counts: StoreCounts,
    pub file_bytes: u64,
    pub seconds: f64,
    /// Newer base snapshots passed over because they cannot be restored (why, each).
    pub skipped: Vec<String>,
}

/// Segments covering `from ..= to` back to back (`to = None`: as far as they go); the
/// first may start before `from`. `None` if `from` (or `to`) is not covered.
fn segment_chain(
    all: &[(u64, u64, String)],
    from: u64,
    to: Option<u64>,
) -> Option<Vec<(u64, u64, String)>> {
    let mut out = Vec::new();
    let mut next = from;
    while to.is_none_or(|t| next <= t) {
        match all.iter().find(|(a, b, _)| *a <= next && *b >= next) {
            Some(s) => {
                out.push(s.clone());
                next = s.1 + 1;
            }
            None if out.is_empty() => return None,
            None => break,
        }
    }
    if let Some(t) = to {
        if next <= t {
            return None;
        }
    }
    Some(out)
}

/// The snapshot and segments that reach the target.
struct Plan<'m> {
    snapshot: &'m Manifest,
    chain: Vec<&'m Manifest>,
    segments: Vec<(u64, u64, String)>,
    /// Newer bases passed over because they cannot be restored.
    skipped: Vec<String>,
}

fn plan<'m>(
    repo: &Repo,
    catalog: &'m Catalog,
    only: Option<&str>,
    pit: &PointInTime,
) -> Result<Plan<'m>> {
    let pinned = match only {
        Some(id) => Some(catalog.find(Some(id))?),
        // The snapshot itself (no target): the latest, refused if it is damaged.
        None if pit.lsn.is_none() && pit.at.is_none() => Some(catalog.find(None)?),
        None => None,
    };
    let mut cands: Vec<&Manifest> = match pinned {
        Some(m) => vec![m],
        None => catalog.manifests.iter().collect(),
    };
    cands.retain(|m| match (pit.lsn, pit.at) {
        (Some(l), _) => m.lsn <= l,
        (None, Some(t)) => m.time <= t,
        (None, None) => true,
    });
    cands.sort_by_key(|m| std::cmp::Reverse((m.lsn, m.time)));
    if cands.is_empty() {
        let damaged = match catalog.damaged.len() {
            0 => String::new(),
            n => format!(" ({n} snapshot manifest(s) are damaged; `backup verify` names them)"),
        };
        return Err(Error::NotFound(match (pit.lsn, pit.at) {
            (Some(l), _) => format!("no snapshot at or below lsn {l}{damaged}"),
            (None, Some(t)) => format!("no snapshot taken at or before {t} ms{damaged}"),
            _ => format!("the repository has no snapshots{damaged}"),
        }));
    }
    let mut reach = Vec::new();
    let mut skipped = Vec::new();
    for m in cands {
        // A base whose chain is damaged is passed over (an older one and more segments
        // reach the same target), and said so; a pinned one is an error.
        let chain = match catalog.chain(m) {
            Ok(c) => c,
            Err(e) if pinned.is_none() => {
                skipped.push(e.to_string());
                continue;
            }
            Err(e) => return Err(e),
        };
        let segs = segment::list(repo, &segment::folder(repo, &m.source))?;
        let found = match (pit.lsn, pit.at) {
            (Some(l), _) if l == m.lsn => Some(Vec::new()),
            (Some(l), _) => segment_chain(&segs, m.lsn + 1, Some(l)),
            // As far as the segments go; the time check comes with their manifests.
            (None, Some(_)) => Some(segment_chain(&segs, m.lsn + 1, None).unwrap_or_default()),
            (None, None) => Some(Vec::new()),
        };
        if let Some(segments) = found {
            return Ok(Plan {
                snapshot: m,
                chain,
                segments,
                skipped,
            });
        }
        let end = segment_chain(&segs, m.lsn + 1, None)
            .and_then(|c| c.last().map(|s| s.1))
            .unwrap_or(m.lsn);
        reach.push(format!(
            "snapshot {} (lsn {}) reaches lsn {end}",
            m.id, m.lsn
        ));
    }
    reach.extend(skipped);
    Err(Error::NotFound(format!(
        "no snapshot and segments reach lsn {}: {}",
        pit.lsn.unwrap_or(0),
        reach.join("; ")
    )))
}

/// Restore into `to` the store at `pit` (`opts.snapshot` pins the base snapshot).
pub fn restore_at(
    repo: &Repo,
    to: &Path,
    opts: &RestoreOptions,
    pit: &PointInTime,
) -> Result<PitrSummary> {
    let started = Instant::now();
    if pit.lsn.is_some() && pit.at.is_some() {
        return Err(Error::Invalid(
            "give either a target lsn or a time, not both".into(),
        ));
    }
    check_target(to, opts.force)?;
    let catalog = Catalog::load(repo)?;
    let plan = plan(repo, &catalog, opts.snapshot.as_deref(), pit)?;
    // Read and check every segment manifest before anything is written.
    let mut segs: Vec<(String, SegmentManifest)> = Vec::new();
    for (a, b, name) in &plan.segments {
        let m = segment::read_manifest(repo, name)?;
        if (m.first_lsn, m.last_lsn) != (*a, *b) {
            return Err(Error::Corrupt(format!(
                "{name}: its manifest covers lsn {}..={}",
                m.first_lsn, m.last_lsn
            )));
        }
        segs.push((name.clone(), m));
    }
    if let Some(t) = pit.at {
        let covered = segs.last().map_or(plan.snapshot.time, |(_, m)| m.time);
        if t > covered {
            return Err(Error::NotFound(format!(
                "the repository covers the store up to {covered} ms (snapshot {} and {} segment(s) \
                 after it); cannot restore to the later time {t} ms",
                plan.snapshot.id,
                segs.len()
            )));
        }
    }
    let chain = &plan.chain;
    let ns_key = pit.ns.as_ref().map(codec::ns_enc);
    let ns = ns_key.as_deref();
    let mut loader = botstore::create_loader(&to.to_string_lossy(), opts.force)?;
    load_chain(repo, &mut *loader, chain, ns, opts.progress)?;
    let index = if segs.is_empty() {
        Default::default()
    } else {
        Index::load(repo)?
    };
    // The change records' copies of values are compressed without dictionaries (the
    // store's own are not in the segments): a reading zstd codec opens them.
    let codecs = botstore::CodecStack::new(vec![std::sync::Arc::new(
        botstore::ZstdCodec::reader(1 << 30),
    )])?;
    let mut lsn = plan.snapshot.lsn;
    let mut last_time = None;
    let mut applied = 0u64;
    let mut used = 0u64;
    'segs: for (name, m) in &segs {
        used += 1;
        let content = segment::read_content(repo, &index, name, m)?;
        for c in segment::decode_changes(name, &codecs, &content)? {
            if c.lsn <= lsn {
                continue;
            }
            if pit.lsn.is_some_and(|l| c.lsn > l) || pit.at.is_some_and(|t| c.at > t) {
                break 'segs;
            }
            let w = botstore::replay::replay(&mut |t, k| loader.get(t, k), &c)?;
            let ops: Vec<LoadOp> = w
                .iter()
                .filter(|((t, k), _)| in_subtree(ns, *t, k))
                .map(|((t, k), v)| match v {
                    Some(v) => LoadOp::Put(*t, k, v),
                    None => LoadOp::Delete(*t, k),
                })
                .collect();
            loader.apply(&ops)?;
            lsn = c.lsn;
            last_time = Some(c.at);
            applied += 1;
        }
    }
    // The store continues exactly after the target (LSNs without a change record too).
    if let Some(l) = pit.lsn {
        lsn = l;
    }
    let lsn_bytes = lsn.to_be_bytes();
    loader.apply(&[LoadOp::Put(Table::Meta, codec::META_LAST_LSN, &lsn_bytes)])?;
    let report = loader.finish()?;
    Ok(PitrSummary {
        snapshot: plan.snapshot.id.clone(),
        chain: chain.iter().map(|m| m.id.clone()).collect(),
        snapshot_lsn: plan.snapshot.lsn,
        lsn,
        last_change_time: last_time,
        segments: used,
        changes_applied: applied,
        counts: StoreCounts::of_load(&report),
        file_bytes: report.file_bytes,
        seconds: started.elapsed().as_secs_f64(),
        skipped: plan.skipped.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_chains_must_be_contiguous() {
        let s = |a, b| (a, b, format!("{a}-{b}"));
        let all = vec![s(11, 20), s(21, 25), s(30, 40)];
        assert_eq!(segment_chain(&all, 11, Some(23)).unwrap().len(), 2);
        assert_eq!(segment_chain(&all, 11, Some(20)).unwrap().len(), 1);
        assert!(segment_chain(&all, 11, Some(27)).is_none());
        assert_eq!(segment_chain(&all, 12, Some(15)).unwrap().len(), 1);
        assert!(segment_chain(&all, 26, Some(31)).is_none());
        assert_eq!(segment_chain(&all, 11, None).unwrap().len(), 2);
    }
}
