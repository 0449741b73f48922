//! `backup ls`: snapshots (with the counts every backup command reports), damaged
//! manifests, and one line per source of change-feed segments.

use super::create_cmd::{changes_text, counts_text};
use super::{blocking, fail, open_repo, RepoArgs};
use crate::output::{human_bytes, human_time, json_doc};
use botstore_backup::Manifest;
use serde::Serialize;
use std::io::Write;

pub async fn ls(a: &RepoArgs, json: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    let repo = open_repo(a)?;
    let (catalog, segs) = blocking(move || {
        // A damaged manifest is listed as such rather than hiding the others.
        let catalog = botstore_backup::catalog::Catalog::load(&repo).map_err(fail)?;
        let segs = botstore_backup::segment::manifests(&repo).map_err(fail)?;
        Ok((catalog, segs))
    })
    .await?;
    let (segs, bad_segs) = segs;
    let all = &catalog.manifests;
    if json {
        let mut list: Vec<serde_json::Value> = Vec::new();
        for m in all {
            list.push(serde_json::to_value(SnapOut::new(m))?);
        }
        for (id, u) in &catalog.damaged {
            list.push(serde_json::json!({"id": id, "kind": "damaged", "error": u.error}));
        }
        for u in &bad_segs {
            list.push(
                serde_json::json!({"name": u.name, "kind": "damaged segment", "error": u.error}),
            );
        }
        for (name, m) in &segs {
            list.push(serde_json::to_value(SegOut::new(name, m))?);
        }
        json_doc(out, &list)?;
    } else {
        for m in all {
            let mut notes = Vec::new();
            if let Some(p) = &m.parent {
                notes.push(format!("parent {p}"));
            }
            if let Some(c) = &m.changes {
                notes.push(format!("changes: {}", changes_text(c)));
            }
            writeln!(
                out,
                "{}  {}  {:<5} lsn {:<10} {}, {}  {}{}",
                m.id,
                human_time(m.time),
                m.kind,
                m.lsn,
                counts_text(&m.counts()),
                human_bytes(m.value_bytes),
                m.source,
                if notes.is_empty() {
                    String::new()
                } else {
                    format!("  ({})", notes.join("; "))
                }
            )?;
        }
        for (id, u) in &catalog.damaged {
            writeln!(
                out,
                "{id}  DAMAGED: {} (backup verify tells what is still restorable)",
                u.error
            )?;
        }
        for line in segment_summary(&segs) {
            writeln!(out, "{line}")?;
        }
        for u in &bad_segs {
            writeln!(out, "segment {}  DAMAGED: {}", u.name, u.error)?;
        }
    }
    Ok(())
}

/// A change-feed segment as `backup ls --json` prints it (without its chunk list).
#[derive(Serialize)]
struct SegOut<'a> {
    kind: &'static str,
    name: &'a str,
    source: &'a str,
    first_lsn: u64,
    last_lsn: u64,
    first_time: i64,
    last_time: i64,
    time: i64,
    changes: u64,
    stream_bytes: u64,
    chunks: usize,
}

impl<'a> SegOut<'a> {
    fn new(name: &'a str, m: &'a botstore_backup::segment::SegmentManifest) -> Self {
        SegOut {
            kind: "segment",
            name,
            source: &m.source,
            first_lsn: m.first_lsn,
            last_lsn: m.last_lsn,
            first_time: m.first_time,
            last_time: m.last_time,
            time: m.time,
            changes: m.changes,
            stream_bytes: m.stream_bytes,
            chunks: m.chunks.len(),
        }
    }
}

/// One line per source of segments (`segs` grouped by source, by first LSN): the LSN range
/// covered, how many segments and changes, their bytes, and any holes in the range.
fn segment_summary(segs: &[(String, botstore_backup::segment::SegmentManifest)]) -> Vec<String> {
    let mut lines = Vec::new();
    let mut i = 0;
    while i < segs.len() {
        let source = &segs[i].1.source;
        let j = i + segs[i..]
            .iter()
            .take_while(|(_, m)| &m.source == source)
            .count();
        let group = &segs[i..j];
        let (first, last) = (group[0].1.first_lsn, group[group.len() - 1].1.last_lsn);
        let changes: u64 = group.iter().map(|(_, m)| m.changes).sum();
        let bytes: u64 = group.iter().map(|(_, m)| m.stream_bytes).sum();
        let holes = group
            .windows(2)
            .filter(|w| w[1].1.first_lsn > w[0].1.last_lsn + 1)
            .count();
        lines.push(format!(
            "segments  lsn {first}..={last}  {} segments, {changes} changes, {}, until {}  {source}{}",
            group.len(),
            human_bytes(bytes),
            human_time(group[group.len() - 1].1.time),
            if holes > 0 {
                format!("  ({holes} gaps)")
            } else {
                String::new()
            }
        ));
        i = j;
    }
    lines
}

/// A snapshot as `backup ls --json` prints it (without its chunk list).
#[derive(Serialize)]
struct SnapOut<'a> {
    id: &'a str,
    time: i64,
    kind: &'a str,
    parent: Option<&'a str>,
    lsn: u64,
    items: u64,
    streams: u64,
    entries: u64,
    value_bytes: u64,
    leases: Option<u64>,
    records: u64,
    stream_bytes: u64,
    changes: Option<&'a botstore_backup::DeltaCounts>,
    chunks: usize,
    source: &'a str,
}

impl<'a> SnapOut<'a> {
    fn new(m: &'a Manifest) -> Self {
        SnapOut {
            id: &m.id,
            time: m.time,
            kind: &m.kind,
            parent: m.parent.as_deref(),
            lsn: m.lsn,
            items: m.items,
            streams: m.streams,
            entries: m.entries,
            value_bytes: m.value_bytes,
            leases: m.leases,
            records: m.records,
            stream_bytes: m.stream_bytes,
            changes: m.changes.as_ref(),
            chunks: m.chunks.len(),
            source: &m.source,
        }
    }
}
