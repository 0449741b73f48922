//! `backup follow` (continuous archiving of the change feed) and point-in-time restore
//! (`backup restore --lsn N | --at TIME [--ns PREFIX]`).

use super::{absolute, blocking, fail, open_repo, RepoArgs, RestoreArgs};
use crate::cli::Cli;
use crate::exit::Failure;
use crate::output::{human_bytes, human_time, json_doc};
use crate::progress::bytes_bar;
use botstore::{ErrorKind, Namespace, StoreOptions};
use botstore_backup::{FollowEvent, FollowOptions, FollowStats, PointInTime, RestoreOptions};
use clap::Args;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Args)]
pub struct FollowArgs {
    #[command(flatten)]
    pub repo: RepoArgs,
    /// How often change-feed segments are shipped.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub every: Duration,
    /// Also take a snapshot (a delta when possible) this often, e.g. 1h.
    #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub snapshot_every: Option<Duration>,
    /// Name of the source (default: the data folder's absolute path), as for create.
    #[arg(long, value_name = "NAME")]
    pub source: Option<String>,
    /// On a gap in the change feed, stop with an error instead of taking a new full
    /// snapshot.
    #[arg(long)]
    pub no_snapshot_on_gap: bool,
}

/// A time for `--at`: RFC 3339 (`2026-05-01T12:00:00Z`, `2026-05-01 12:00:00`, UTC) or
/// milliseconds since the epoch.
pub fn parse_time(s: &str) -> anyhow::Result<i64> {
    let s = s.trim();
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(ms);
    }
    let t = humantime::parse_rfc3339_weak(s).map_err(|e| {
        Failure::invalid(format!(
            "--at {s:?}: {e} (give RFC 3339 such as 2026-05-01T12:00:00Z, or ms since the epoch)"
        ))
    })?;
    Ok(t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64))
}

fn event_line(e: &FollowEvent) -> (String, serde_json::Value) {
    match e {
        FollowEvent::Snapshot(s, why) => (
            format!(
                "snapshot {} ({}, {why}) at lsn {}: {} added",
                s.snapshot,
                s.kind,
                s.lsn,
                human_bytes(s.bytes_added)
            ),
            serde_json::json!({"event": "snapshot", "reason": why, "snapshot": s.snapshot, "kind": s.kind, "lsn": s.lsn, "bytes_added": s.bytes_added}),
        ),
        FollowEvent::Segment(m, added) => (
            format!(
                "segment lsn {}..={}: {} changes, {} added",
                m.first_lsn,
                m.last_lsn,
                m.changes,
                human_bytes(*added)
            ),
            serde_json::json!({"event": "segment", "first_lsn": m.first_lsn, "last_lsn": m.last_lsn, "changes": m.changes, "bytes_added": added}),
        ),
        FollowEvent::Gap {
            shipped,
            first_available,
            store_lsn,
        } => {
            let msg = botstore_backup::follow::gap_message(*shipped, *first_available, *store_lsn);
            (
                format!("warning: {msg}"),
                serde_json::json!({"event": "gap", "shipped": shipped, "first_available": first_available, "store_lsn": store_lsn, "message": msg}),
            )
        }
        FollowEvent::Failed(err) => (
            format!("error: {err} (retrying)"),
            serde_json::json!({"event": "error", "message": err.to_string()}),
        ),
    }
}

/// `backup follow`: runs until SIGINT or SIGTERM, then ships a last segment.
pub async fn follow(cli: &Cli, a: &FollowArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let data = cli.data.clone();
    if !data.join("store.redb").exists() {
        return Err(Failure::new(
            ErrorKind::NotFound,
            format!("no store in {} (give --data DIR)", data.display()),
        )
        .into());
    }
    let repo = open_repo(&a.repo)?;
    let source = a.source.clone().unwrap_or_else(|| absolute(&data));
    let store = crate::commands::open_local(cli, &data, StoreOptions::default())?;
    let stop = Arc::new(AtomicBool::new(false));
    let lines: Arc<Mutex<Vec<String>>> = Arc::default();
    let json = cli.json;
    let (every, snapshot_every, on_gap) = (a.every, a.snapshot_every, !a.no_snapshot_on_gap);
    let worker = {
        let (stop, lines) = (stop.clone(), lines.clone());
        tokio::task::spawn_blocking(move || {
            let on = |e: &FollowEvent| {
                let (text, doc) = event_line(e);
                let line = if json { doc.to_string() } else { text };
                // Printed as they happen (stderr for warnings and errors).
                if matches!(e, FollowEvent::Gap { .. } | FollowEvent::Failed(_)) && !json {
                    eprintln!("{line}");
                } else {
                    lines.lock().map(|mut l| l.push(line)).ok();
                }
            };
            let stats = FollowStats::default();
            let o = FollowOptions {
                every,
                snapshot_every,
                snapshot_on_gap: on_gap,
                stats: Some(&stats),
                on_event: Some(&on),
                ..FollowOptions::new(source)
            };
            let r = botstore_backup::follow(&repo, &store, &o, &stop);
            let _ = store.sync();
            r.map(|lsn| (lsn, stats))
        })
    };
    tokio::pin!(worker);
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let result = loop {
        tokio::select! {
            r = &mut worker => break r,
            _ = tokio::signal::ctrl_c() => stop.store(true, Ordering::SeqCst),
            _ = sigterm.recv() => stop.store(true, Ordering::SeqCst),
            _ = tick.tick() => {}
        }
        let pending: Vec<String> = lines
            .lock()
            .map(|mut l| std::mem::take(&mut *l))
            .unwrap_or_default();
        for l in pending {
            writeln!(out, "{l}")?;
        }
        out.flush()?;
    };
    for l in lines
        .lock()
        .map(|mut l| std::mem::take(&mut *l))
        .unwrap_or_default()
    {
        writeln!(out, "{l}")?;
    }
    let (lsn, stats) = result
        .map_err(|e| anyhow::anyhow!("follow task failed: {e}"))?
        .map_err(fail)?;
    let segs = stats.segments_total.load(Ordering::Relaxed);
    let added = stats.bytes_added_total.load(Ordering::Relaxed);
    if json {
        json_doc(
            out,
            &serde_json::json!({"event": "stopped", "last_lsn": lsn, "segments": segs, "bytes_added": added}),
        )?;
    } else {
        writeln!(
            out,
            "stopped: the repository holds the store up to lsn {lsn} ({segs} segments, {} added this run)",
            human_bytes(added)
        )?;
    }
    Ok(())
}

/// `backup restore` with `--lsn`, `--at` or `--ns`.
pub async fn restore(a: &RestoreArgs, json: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    let pit = PointInTime {
        lsn: a.lsn,
        at: a.at.as_deref().map(parse_time).transpose()?,
        ns: a.ns.as_deref().map(Namespace::parse),
    };
    let repo = open_repo(&a.repo)?;
    let (to, snapshot, force) = (a.to.clone(), a.snapshot.clone(), a.force);
    let bar = bytes_bar(Some(0), json);
    let b2 = bar.clone();
    let s = blocking(move || {
        let p = |done: u64, total: u64| {
            b2.set_length(total);
            b2.set_position(done);
        };
        let opts = RestoreOptions {
            snapshot,
            force,
            progress: Some(&p),
        };
        botstore_backup::restore_at(&repo, &to, &opts, &pit).map_err(fail)
    })
    .await;
    bar.finish_and_clear();
    let s = s?;
    // Newer bases passed over are worth knowing even when the restore worked.
    for why in &s.skipped {
        eprintln!("note: passed over a newer base: {why}");
    }
    if json {
        json_doc(out, &s)?;
    } else {
        writeln!(
            out,
            "restored {}lsn {}{} into {}: snapshot {} (lsn {}) and {} change(s) from {} segment(s); {} in {:.2}s",
            a.ns.as_deref().map(|n| format!("namespace {n} at ")).unwrap_or_default(),
            s.lsn,
            s.last_change_time
                .map(|t| format!(" (last change {})", human_time(t)))
                .unwrap_or_default(),
            a.to.display(),
            s.snapshot,
            s.snapshot_lsn,
            s.changes_applied,
            s.segments,
            super::counts_text(&s.counts),
            s.seconds
        )?;
    }
    Ok(())
}
