//! `backup create`: of the store on --data (opened here), or with --remote of a running
//! server, which streams one read view's records (`POST /v1/admin/backup/records`) into
//! the same writer; the repository and its key stay on this side. Also how backup
//! counts are printed, so that create, restore, ls and drill say the same things.

use super::{absolute, blocking, fail, open_repo, CreateArgs};
use crate::cli::Cli;
use crate::exit::{remote_error, Failure};
use crate::output::{human_bytes, json_doc};
use crate::progress::bytes_bar;
use botstore::{ErrorKind, StoreOptions};
use botstore_api::ProblemType;
use botstore_backup::transfer::TransferSource;
use botstore_backup::{CreateOptions, CreateSummary, DeltaCounts, Plan, StoreCounts};
use std::io::{Read, Write};

pub async fn create(cli: &Cli, a: &CreateArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let summary = match &cli.remote {
        Some(url) => create_remote(cli, url, a).await?,
        None => create_local(cli, a).await?,
    };
    if cli.json {
        json_doc(out, &summary)?;
    } else {
        writeln!(out, "{}", summary_text(&summary))?;
    }
    Ok(())
}

/// What `create` prints for people.
pub fn summary_text(s: &CreateSummary) -> String {
    if s.kind == "unchanged" {
        return format!(
            "no change since snapshot {} (lsn {}); nothing written",
            s.snapshot, s.lsn
        );
    }
    let mut t = format!(
        "snapshot {} ({}{}) at lsn {}: {}",
        s.snapshot,
        s.kind,
        s.parent
            .as_deref()
            .map(|p| format!(" of {p}"))
            .unwrap_or_default(),
        s.lsn,
        counts_text(&s.counts)
    );
    if let Some(c) = &s.changes {
        t.push_str(&format!("; changes: {}", changes_text(c)));
    }
    t.push_str(&format!(
        "; {} of records in {} ({} new), {} added in {:.2}s",
        human_bytes(s.stream_bytes),
        plural(s.chunks, "chunk", "chunks"),
        s.chunks_new,
        human_bytes(s.bytes_added),
        s.seconds
    ));
    if let Some(r) = s.dedup_ratio {
        t.push_str(&format!(", dedup {r:.1}x"));
    }
    if let Some(r) = s.mib_per_second {
        t.push_str(&format!(" ({r:.1} MiB/s)"));
    }
    t
}

pub fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `3 items, 1 stream (5 entries), 0 leases`: the store at a snapshot.
pub fn counts_text(c: &StoreCounts) -> String {
    let mut t = format!(
        "{}, {} ({})",
        plural(c.items, "item", "items"),
        plural(c.streams, "stream", "streams"),
        plural(c.entries, "entry", "entries")
    );
    if let Some(l) = c.leases {
        t.push_str(&format!(", {}", plural(l, "lease", "leases")));
    }
    t
}

/// `1 item written, 1 item deleted, 2 entries written`: what a delta changed.
pub fn changes_text(d: &DeltaCounts) -> String {
    let mut parts = Vec::new();
    let mut add = |n: u64, one: &str, many: &str, what: &str| {
        if n > 0 {
            parts.push(format!("{} {what}", plural(n, one, many)));
        }
    };
    add(d.items.written, "item", "items", "written");
    add(d.items.deleted, "item", "items", "deleted");
    add(d.entries.written, "entry", "entries", "written");
    add(d.entries.deleted, "entry", "entries", "deleted");
    add(
        d.entry_ranges_deleted,
        "entry range",
        "entry ranges",
        "deleted",
    );
    add(d.streams.deleted, "stream", "streams", "deleted");
    add(d.leases.written, "lease", "leases", "written");
    add(d.leases.deleted, "lease", "leases", "deleted");
    add(
        d.namespace_ttls.written,
        "namespace TTL",
        "namespace TTLs",
        "set",
    );
    add(
        d.namespace_ttls.deleted,
        "namespace TTL",
        "namespace TTLs",
        "removed",
    );
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(", ")
    }
}

async fn create_local(cli: &Cli, a: &CreateArgs) -> anyhow::Result<CreateSummary> {
    let data = cli.data.clone();
    if !data.join("store.redb").exists() {
        return Err(Failure::new(
            ErrorKind::NotFound,
            format!("no store in {} (give --data DIR)", data.display()),
        )
        .into());
    }
    let repo = open_repo(&a.repo)?;
    let source = match &a.source {
        Some(s) => s.clone(),
        None => absolute(&data),
    };
    let store = crate::commands::open_local(cli, &data, StoreOptions::default()).map_err(|e| {
        let in_use = e
            .to_string()
            .contains("is in use by another botstore process");
        let e = anyhow::Error::new(e);
        if in_use {
            e.context(
                "backup create cannot open the data folder; to back up a running server, give \
                 --remote URL and an admin token",
            )
        } else {
            e
        }
    })?;
    let bar = bytes_bar(Some(0), cli.json);
    let (b2, full) = (bar.clone(), a.full);
    let summary = blocking(move || {
        let p = |pr: &botstore_backup::Progress| show(&b2, pr);
        let opts = CreateOptions {
            full,
            progress: Some(&p),
            ..CreateOptions::new(source)
        };
        let r = botstore_backup::create(&repo, &store, &opts).map_err(fail);
        drop(store);
        r
    })
    .await;
    bar.finish_and_clear();
    summary
}

/// A backup's progress on its bar: bytes of the record stream against the estimate.
fn show(bar: &indicatif::ProgressBar, pr: &botstore_backup::Progress) {
    bar.set_length(pr.estimated_bytes.max(pr.stream_bytes));
    bar.set_position(pr.stream_bytes);
}

/// The pieces of the server's answer, read on the backup thread.
struct Pieces {
    rx: tokio::sync::mpsc::Receiver<Vec<u8>>,
    cur: Vec<u8>,
    at: usize,
}

impl Read for Pieces {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.cur.len() {
            match self.rx.blocking_recv() {
                Some(p) => {
                    self.cur = p;
                    self.at = 0;
                }
                // The end of the answer (or the pump stopped): the decoder decides
                // whether the stream was complete.
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len() - self.at);
        buf[..n].copy_from_slice(&self.cur[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

async fn create_remote(cli: &Cli, url: &str, a: &CreateArgs) -> anyhow::Result<CreateSummary> {
    let client = crate::commands::connect(cli, url)?;
    let repo = open_repo(&a.repo)?;
    let source = match &a.source {
        Some(s) => s.clone(),
        None => client.base_url().to_owned(),
    };
    let (since_tx, since_rx) = tokio::sync::oneshot::channel::<Option<u64>>();
    let (piece_tx, piece_rx) = tokio::sync::mpsc::channel::<Vec<u8>>(8);
    let bar = bytes_bar(Some(0), cli.json);
    let (b2, full) = (bar.clone(), a.full);
    let work = blocking(move || {
        let p = |pr: &botstore_backup::Progress| show(&b2, pr);
        let opts = CreateOptions {
            full,
            progress: Some(&p),
            ..CreateOptions::new(source)
        };
        let plan = Plan::new(&repo, &opts).map_err(fail)?;
        let _ = since_tx.send(plan.since_lsn());
        let pieces = Pieces {
            rx: piece_rx,
            cur: Vec::new(),
            at: 0,
        };
        let mut src = TransferSource::open(pieces).map_err(fail)?;
        plan.write(&mut src).map_err(fail)
    });
    // Waiting longer than --timeout for the next piece counts as a cut stream.
    let idle = cli.timeout;
    let pump = async move {
        let Ok(since) = since_rx.await else {
            return Ok::<(), anyhow::Error>(()); // the backup failed before it asked; it says why
        };
        let mut stream = client.backup_records(since).await.map_err(|e| {
            let forbidden = matches!(
                &e,
                botstore_client::ClientError::Store { problem: Some(p), .. }
                    if ProblemType::from_uri(&p.type_) == Some(ProblemType::Forbidden)
            );
            let err = remote_error(e);
            if forbidden {
                err.context("backup create --remote needs a token with admin on *")
            } else {
                err
            }
        })?;
        let mut received = 0u64;
        loop {
            let piece = tokio::time::timeout(idle, stream.chunk())
                .await
                .map_err(|_| {
                    Failure::new(
                        ErrorKind::Internal,
                        format!(
                            "the server sent nothing for {idle:?} (--timeout); the record \
                             stream was abandoned and no snapshot written"
                        ),
                    )
                })?
                .map_err(|e| {
                    remote_error(e).context(format!(
                        "the record stream broke off after {received} bytes; no snapshot was \
                         written"
                    ))
                })?;
            match piece {
                Some(p) => {
                    received += p.len() as u64;
                    if piece_tx.send(p).await.is_err() {
                        return Ok(()); // the backup stopped reading; it says why
                    }
                }
                None => return Ok(()),
            }
        }
    };
    let (written, pumped) = tokio::join!(work, pump);
    bar.finish_and_clear();
    // A failed request or transfer explains a cut stream better than the decoder can.
    pumped?;
    written
}
