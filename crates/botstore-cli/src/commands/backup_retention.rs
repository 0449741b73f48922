//! `backup diff`, `backup forget`, `backup prune`.

use super::{blocking, fail, open_repo, DiffArgs, ForgetArgs, RepoArgs};
use crate::output::{human_bytes, human_time, json_doc};
use crate::progress::bytes_bar;
use botstore_backup::{KeepPolicy, PruneOptions};
use std::io::Write;

pub async fn diff(a: &DiffArgs, json: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    let repo = open_repo(&a.repo)?;
    let (x, y) = (a.a.clone(), a.b.clone());
    let d = blocking(move || botstore_backup::diff(&repo, &x, &y).map_err(fail)).await?;
    if json {
        return json_doc(out, &d);
    }
    writeln!(
        out,
        "{} (lsn {}) -> {} (lsn {})",
        d.a, d.lsn_a, d.b, d.lsn_b
    )?;
    writeln!(
        out,
        "{:<40} {:>10} {:>10} {:>10} {:>12} {:>12}",
        "namespace", "added", "removed", "changed", "bytes +", "bytes -"
    )?;
    let rows = d
        .namespaces
        .iter()
        .map(|(n, v)| (n.as_str(), v))
        .chain(std::iter::once(("total", &d.total)));
    for (ns, v) in rows {
        writeln!(
            out,
            "{:<40} {:>10} {:>10} {:>10} {:>12} {:>12}",
            ns,
            v.added,
            v.removed,
            v.changed,
            human_bytes(v.bytes_added),
            human_bytes(v.bytes_removed)
        )?;
    }
    Ok(())
}

pub async fn forget(a: &ForgetArgs, json: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    let repo = open_repo(&a.repo)?;
    let policy = KeepPolicy {
        last: a.keep_last,
        hourly: a.keep_hourly,
        daily: a.keep_daily,
        weekly: a.keep_weekly,
        monthly: a.keep_monthly,
        yearly: a.keep_yearly,
    };
    let dry = a.dry_run;
    let r = blocking(move || botstore_backup::forget(&repo, &policy, dry).map_err(fail)).await?;
    if json && !a.prune {
        return json_doc(out, &r);
    }
    if !json {
        for k in &r.keep {
            writeln!(
                out,
                "keep    {}  {}  {:<5} {}  ({})",
                k.id,
                human_time(k.time),
                k.kind,
                k.source,
                k.reasons.join(", ")
            )?;
        }
        for k in &r.forget {
            writeln!(
                out,
                "{} {}  {}  {:<5} {}",
                if dry { "would forget" } else { "forget" },
                k.id,
                human_time(k.time),
                k.kind,
                k.source
            )?;
        }
        writeln!(
            out,
            "{} snapshots kept, {} {}",
            r.keep.len(),
            r.forget.len(),
            if dry {
                "would be forgotten"
            } else {
                "forgotten"
            }
        )?;
    }
    if a.prune {
        if json {
            let mut buf = Vec::new();
            prune(&a.repo, dry, 50, true, &mut buf).await?;
            let p: serde_json::Value = serde_json::from_slice(&buf)?;
            return json_doc(out, &serde_json::json!({"forget": r, "prune": p}));
        }
        prune(&a.repo, dry, 50, false, out).await?;
    }
    Ok(())
}

pub async fn prune(
    a: &RepoArgs,
    dry_run: bool,
    repack_below: u32,
    json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let repo = open_repo(a)?;
    let bar = bytes_bar(Some(0), json);
    let b2 = bar.clone();
    let r = blocking(move || {
        let p = |phase: &str, done: u64, total: u64| {
            b2.set_message(phase.to_string());
            b2.set_length(total);
            b2.set_position(done);
        };
        let opts = PruneOptions {
            dry_run,
            repack_below: f64::from(repack_below) / 100.0,
            progress: Some(&p),
            ..PruneOptions::default()
        };
        botstore_backup::prune(&repo, &opts).map_err(fail)
    })
    .await;
    bar.finish_and_clear();
    let r = r?;
    if json {
        return json_doc(out, &r);
    }
    writeln!(
        out,
        "{}{} snapshots reference {} chunks; packs: {} before ({}), {} kept, {} rewritten into {}, {} deleted; {} indexes replaced; {} freed, {} left ({:.2}s)",
        if dry_run { "dry run: " } else { "" },
        r.snapshots,
        r.chunks_referenced,
        r.packs_before,
        human_bytes(r.bytes_before),
        r.packs_kept,
        r.packs_rewritten,
        r.packs_written,
        r.packs_deleted,
        r.indexes_deleted,
        human_bytes(r.bytes_freed),
        human_bytes(r.bytes_after),
        r.seconds
    )?;
    Ok(())
}
