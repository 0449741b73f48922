//! `stats` and `compact`.

use super::{parse_ns, Ctx};
use crate::cli::StatsArgs;
use crate::output::{self, human_bytes};
use botstore::NamespaceStats;
use serde_json::json;
use std::io::Write;

pub async fn stats(ctx: &Ctx, a: StatsArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let prefix = parse_ns(&a.prefix);
    // The disk estimate shares the store's bytes on disk out over the whole store's
    // logical bytes, which the stats carry whatever the prefix (local or remote alike).
    let s = ctx.db.stats(&prefix).await?;
    let total = s.totals();
    let estimate = |n: &NamespaceStats| s.estimated_disk_bytes(n);
    if ctx.json {
        let list: Vec<_> = s
            .namespaces
            .iter()
            .map(|(ns, n)| {
                json!({
                    "ns": ns.segments(),
                    "items": n.items,
                    "item_bytes": n.item_bytes,
                    "streams": n.streams,
                    "stream_entries": n.stream_entries,
                    "stream_bytes": n.stream_bytes,
                    "estimated_disk_bytes": estimate(n),
                })
            })
            .collect();
        let mut total_doc = json!(total);
        if let Some(o) = total_doc.as_object_mut() {
            o.insert("estimated_disk_bytes".into(), json!(estimate(&total)));
        }
        return output::json_doc(
            out,
            &json!({
                "namespaces": list,
                "total": total_doc,
                "disk_bytes": s.disk_bytes,
                "last_lsn": s.last_lsn,
                "backend": s.backend,
            }),
        );
    }
    let rows: Vec<[String; 7]> = s
        .namespaces
        .iter()
        .map(|(ns, n)| row(ns.to_string(), n, estimate(n)))
        .chain(std::iter::once(row(
            "TOTAL".into(),
            &total,
            estimate(&total),
        )))
        .collect();
    let header = [
        "NAMESPACE",
        "ITEMS",
        "ITEM BYTES",
        "STREAMS",
        "ENTRIES",
        "STREAM BYTES",
        "DISK (EST.)",
    ];
    let mut width: [usize; 7] = header.map(str::len);
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
    for r in &rows {
        let cells: Vec<&str> = r.iter().map(String::as_str).collect();
        print(out, &cells)?;
    }
    let disk = s.disk_bytes.map_or("n/a".into(), human_bytes);
    writeln!(
        out,
        "\non disk: {disk} (the whole store; DISK (EST.) shares it out by logical bytes); last LSN {}",
        s.last_lsn
    )?;
    Ok(())
}

fn row(name: String, n: &NamespaceStats, disk: Option<u64>) -> [String; 7] {
    [
        name,
        n.items.to_string(),
        human_bytes(n.item_bytes),
        n.streams.to_string(),
        n.stream_entries.to_string(),
        human_bytes(n.stream_bytes),
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
    Ok(())
}
