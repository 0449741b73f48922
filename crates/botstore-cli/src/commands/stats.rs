//! `stats` and `compact`.
//!
//! `stats` rolls the store's per-namespace counters up here, in the CLI, so that it works
//! the same on --data and on --remote (the server answers one row per namespace): a
//! line per namespace `--depth` segments below the prefix, summing every namespace under
//! it, biggest first, cut to `--top` lines, then the total of everything under the prefix.

use super::{parse_ns, Ctx};
use crate::cli::StatsArgs;
use crate::output::{self, human_bytes};
use botstore::{Namespace, NamespaceStats, StoreStats};
use serde_json::json;
use std::collections::BTreeMap;
use std::io::Write;

/// Lines shown without --top (people); --json shows every line unless told.
const DEFAULT_TOP: usize = 20;

/// One line of the table: a namespace and the sum of everything at or under it.
#[derive(Debug, Default)]
struct Line {
    /// How many of the store's namespaces it sums.
    namespaces: u64,
    stats: NamespaceStats,
    /// What its values take as stored.
    stored: u64,
}

fn add(t: &mut NamespaceStats, n: &NamespaceStats) {
    t.items += n.items;
    t.item_bytes += n.item_bytes;
    t.streams += n.streams;
    t.stream_entries += n.stream_entries;
    t.stream_bytes += n.stream_bytes;
}

/// Logical bytes: what lines are ranked by.
fn bytes(n: &NamespaceStats) -> u64 {
    n.item_bytes + n.stream_bytes
}

/// The namespaces of `s` rolled up to `depth` segments below `prefix` (0: not at all),
/// biggest first, ties by name.
fn roll_up(s: &StoreStats, prefix: &Namespace, depth: usize) -> Vec<(Namespace, Line)> {
    let keep = prefix.len().saturating_add(depth);
    let mut lines: BTreeMap<Namespace, Line> = BTreeMap::new();
    for (i, (ns, n)) in s.namespaces.iter().enumerate() {
        let key = if depth == 0 || ns.len() <= keep {
            ns.clone()
        } else {
            Namespace::new(ns.segments()[..keep].iter().cloned())
        };
        let line = lines.entry(key).or_default();
        line.namespaces += 1;
        add(&mut line.stats, n);
        line.stored += s.stored_bytes(i).total();
    }
    let mut lines: Vec<(Namespace, Line)> = lines.into_iter().collect();
    // Stable: equal sizes stay in name order.
    lines.sort_by_key(|(_, l)| std::cmp::Reverse(bytes(&l.stats)));
    lines
}

pub async fn stats(ctx: &Ctx, a: StatsArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let prefix = parse_ns(&a.prefix);
    // The disk estimate shares the store's bytes on disk out over the whole store's
    // logical bytes, which the stats carry whatever the prefix (local or remote alike).
    let s = ctx.db.stats(&prefix).await?;
    let total = s.totals();
    let total_stored: u64 = (0..s.namespaces.len())
        .map(|i| s.stored_bytes(i).total())
        .sum();
    let estimate = |n: &NamespaceStats| s.estimated_disk_bytes(n);
    let mut lines = roll_up(&s, &prefix, a.depth);
    let top = a.top.unwrap_or(if ctx.json { 0 } else { DEFAULT_TOP });
    let more = if top > 0 && lines.len() > top {
        let more = lines.len() - top;
        lines.truncate(top);
        more
    } else {
        0
    };
    let count = s.namespaces.len() as u64;
    if ctx.json {
        let doc = |n: &NamespaceStats, namespaces: u64, stored: u64| {
            json!({
                "namespace_count": namespaces,
                "items": n.items,
                "item_bytes": n.item_bytes,
                "streams": n.streams,
                "stream_entries": n.stream_entries,
                "stream_bytes": n.stream_bytes,
                "stored_bytes": stored,
                "stored_ratio": ratio(stored, bytes(n)),
                "estimated_disk_bytes": estimate(n),
            })
        };
        let list: Vec<_> = lines
            .iter()
            .map(|(ns, l)| {
                let mut d = doc(&l.stats, l.namespaces, l.stored);
                d["ns"] = json!(ns.segments());
                d
            })
            .collect();
        return output::json_doc(
            out,
            &json!({
                "prefix": prefix.segments(),
                "depth": a.depth,
                "namespaces": list,
                "more": more,
                "total": doc(&total, count, total_stored),
                "disk_bytes": s.disk_bytes,
                "last_lsn": s.last_lsn,
                "backend": s.backend,
            }),
        );
    }
    let header = [
        "NAMESPACE",
        "NAMESPACES",
        "ITEMS",
        "ITEM BYTES",
        "STREAMS",
        "ENTRIES",
        "STREAM BYTES",
        "STORED",
        "RATIO",
        "DISK (EST.)",
    ];
    let rows: Vec<[String; 10]> = lines
        .iter()
        .map(|(ns, l)| {
            row(
                ns.to_string(),
                l.namespaces,
                &l.stats,
                l.stored,
                estimate(&l.stats),
            )
        })
        .chain(std::iter::once(row(
            "TOTAL".into(),
            count,
            &total,
            total_stored,
            estimate(&total),
        )))
        .collect();
    let mut width: [usize; 10] = header.map(str::len);
    for r in &rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let print = |out: &mut dyn Write, cells: &[&str]| -> std::io::Result<()> {
        let mut line = format!("{:<w$}", cells[0], w = width[0]);
        for (c, w) in cells.iter().zip(width).skip(1) {
            line.push_str(&format!("  {c:>w$}"));
        }
        writeln!(out, "{}", line.trim_end())
    };
    print(out, &header)?;
    let (total_row, rows) = rows
        .split_last()
        .map_or((None, &rows[..]), |(t, r)| (Some(t), r));
    for r in rows {
        let cells: Vec<&str> = r.iter().map(String::as_str).collect();
        print(out, &cells)?;
    }
    if more > 0 {
        let noun = if more == 1 { "namespace" } else { "namespaces" };
        writeln!(out, "... and {more} more {noun} (--top 0 for all)")?;
    }
    if let Some(t) = total_row {
        let cells: Vec<&str> = t.iter().map(String::as_str).collect();
        print(out, &cells)?;
    }
    let disk = s.disk_bytes.map_or("n/a".into(), human_bytes);
    writeln!(
        out,
        "\non disk: {disk} (the whole store; DISK (EST.) shares it out by logical bytes); \
         STORED: the values as stored (compressed), RATIO: STORED / logical bytes; last LSN {}",
        s.last_lsn
    )?;
    Ok(())
}

/// Stored over logical bytes, to 3 decimals (`None` for nothing stored).
fn ratio(stored: u64, logical: u64) -> Option<f64> {
    (logical > 0).then(|| (stored as f64 / logical as f64 * 1000.0).round() / 1000.0)
}

fn row(
    name: String,
    namespaces: u64,
    n: &NamespaceStats,
    stored: u64,
    disk: Option<u64>,
) -> [String; 10] {
    [
        name,
        namespaces.to_string(),
        n.items.to_string(),
        human_bytes(n.item_bytes),
        n.streams.to_string(),
        n.stream_entries.to_string(),
        human_bytes(n.stream_bytes),
        human_bytes(stored),
        ratio(stored, bytes(n)).map_or("-".into(), |r| format!("{r:.3}")),
        disk.map_or("n/a".into(), human_bytes),
    ]
}

/// Upkeep (remove expired items, apply change-feed retention), then reclaim disk space.
pub async fn compact(ctx: &Ctx, out: &mut dyn Write) -> anyhow::Result<()> {
    let r = ctx.db.compact().await?;
    if ctx.json {
        return output::json_doc(
            out,
            &json!({
                "expired_items_removed": r.expired_items,
                "changes_forgotten": r.forgotten_changes,
                "disk_bytes_before": r.disk_bytes_before,
                "disk_bytes_after": r.disk_bytes_after,
                "resealed_values": r.resealed_values,
            }),
        );
    }
    let show = |b: Option<u64>| b.map_or("n/a".into(), human_bytes);
    writeln!(
        out,
        "removed {} expired items and {} change records past retention; compacted: {} -> {} on disk",
        r.expired_items,
        r.forgotten_changes,
        show(r.disk_bytes_before),
        show(r.disk_bytes_after)
    )?;
    if r.resealed_values > 0 {
        writeln!(
            out,
            "rewrote {} values with the newest compression dictionary",
            r.resealed_values
        )?;
    }
    Ok(())
}
