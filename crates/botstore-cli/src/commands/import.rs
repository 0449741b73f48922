//! `import FILE|-`: load JSON Lines (format: [`crate::jsonl`]).
//!
//! The input is read line by line (constant memory) and committed in atomic batches of up
//! to [`BATCH_RECORDS`] records or about [`BATCH_BYTES`] of values. Consecutive entries of
//! one stream go into one append. While a batch commits, the next one is parsed; it is
//! only submitted once the one before it committed, so when a line is bad, every batch
//! before the one holding it is committed and nothing of that batch is.

use super::Ctx;
use crate::cli::ImportArgs;
use crate::exit::Failure;
use crate::jsonl::{self, Record};
use crate::output::{self, human_bytes};
use crate::progress;
use anyhow::Context;
use botstore::{BatchError, ErrorKind, Mutation, Outcome, Precondition, StoreApi, Ttl};
use serde_json::json;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::sync::Arc;
use std::time::Instant;
use tokio::task::JoinHandle;

/// Most records in one batch.
pub const BATCH_RECORDS: usize = 1000;
/// A batch is closed once its values reach this many bytes.
pub const BATCH_BYTES: usize = 4 << 20;

/// A batch being filled.
#[derive(Default)]
struct Batch {
    mutations: Vec<Mutation>,
    /// The line of each mutation (its first line, for a multi-entry append).
    lines: Vec<usize>,
    first_line: usize,
    last_line: usize,
    records: usize,
    bytes: usize,
    items: u64,
    entries: u64,
}

impl Batch {
    fn push(&mut self, r: Record, line: usize) {
        if self.records == 0 {
            self.first_line = line;
        }
        self.last_line = line;
        self.records += 1;
        self.bytes += r.value_len();
        match r {
            Record::Item {
                ns,
                key,
                value,
                ttl,
                subject,
            } => {
                self.items += 1;
                self.bytes += key.len();
                self.lines.push(line);
                self.mutations.push(Mutation::Put {
                    ns,
                    key,
                    value,
                    precondition: Precondition::Any,
                    // No ttl_s: the item never expired where it came from.
                    ttl: ttl.map_or(Ttl::Never, Ttl::After),
                    subject,
                    fence: None,
                });
            }
            Record::Entry { ns, stream, value } => {
                self.entries += 1;
                if let Some(Mutation::Append {
                    ns: n,
                    stream: s,
                    entries,
                    ..
                }) = self.mutations.last_mut()
                {
                    if *n == ns && *s == stream {
                        entries.push(value);
                        return;
                    }
                }
                self.bytes += stream.len();
                self.lines.push(line);
                self.mutations.push(Mutation::Append {
                    ns,
                    stream,
                    entries: vec![value],
                    expected_last: None,
                });
            }
        }
    }

    fn is_full(&self) -> bool {
        self.records >= BATCH_RECORDS || self.bytes >= BATCH_BYTES
    }
}

/// A batch submitted to the store, with what is needed to report on it.
struct InFlight {
    /// The outer error: the request as a whole failed (a server out of reach, a token
    /// refused); the inner one names the mutation that failed.
    task: JoinHandle<anyhow::Result<Result<Vec<Outcome>, BatchError>>>,
    lines: Vec<usize>,
    first_line: usize,
    last_line: usize,
    items: u64,
    entries: u64,
}

/// What has been committed so far.
#[derive(Default)]
struct Done {
    /// The last line of the last committed batch (0: none).
    through: usize,
    items: u64,
    entries: u64,
    batches: u64,
}

impl Done {
    fn imported(&self) -> String {
        match self.through {
            0 => "nothing was imported".into(),
            n => format!("lines 1-{n} were imported"),
        }
    }
}

fn submit(store: &Arc<dyn StoreApi>, b: Batch) -> InFlight {
    let store = Arc::clone(store);
    let mutations = b.mutations;
    InFlight {
        task: tokio::spawn(async move {
            match store.batch(mutations).await {
                Err(e) if e.error.is_request_failure() => Err(e.error.into()),
                r => Ok(r),
            }
        }),
        lines: b.lines,
        first_line: b.first_line,
        last_line: b.last_line,
        items: b.items,
        entries: b.entries,
    }
}

/// Wait for a submitted batch; on failure, say which line and what was imported.
async fn settle(f: InFlight, done: &mut Done) -> anyhow::Result<()> {
    match f.task.await {
        Ok(Ok(Ok(_))) => {
            done.through = f.last_line;
            done.items += f.items;
            done.entries += f.entries;
            done.batches += 1;
            Ok(())
        }
        Ok(Ok(Err(BatchError { index, error }))) => {
            let kind = error.kind();
            let msg = if kind == ErrorKind::Internal {
                format!(
                    "the batch of lines {}-{} failed: {error}; {}",
                    f.first_line,
                    f.last_line,
                    done.imported()
                )
            } else {
                let line = f.lines.get(index).copied().unwrap_or(f.first_line);
                format!("line {line}: {error}; {}", done.imported())
            };
            Err(Failure::new(kind, msg).into())
        }
        Ok(Err(e)) => {
            let kind = crate::exit::kind_of(&e);
            Err(Failure::new(
                kind,
                format!(
                    "the batch of lines {}-{} failed: {}; {}",
                    f.first_line,
                    f.last_line,
                    crate::exit::message(&e),
                    done.imported()
                ),
            )
            .into())
        }
        Err(e) => Err(anyhow::anyhow!(
            "the batch of lines {}-{} failed: {e}; {}",
            f.first_line,
            f.last_line,
            done.imported()
        )),
    }
}

pub async fn import(ctx: &Ctx, a: ImportArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let started = Instant::now();
    let (mut input, total): (Box<dyn BufRead>, Option<u64>) = if a.file.as_os_str() == "-" {
        (
            Box::new(BufReader::with_capacity(1 << 20, io::stdin())),
            None,
        )
    } else {
        let f = File::open(&a.file)
            .map_err(|e| Failure::invalid(format!("cannot open {}: {e}", a.file.display())))?;
        let len = f.metadata().ok().map(|m| m.len());
        (Box::new(BufReader::with_capacity(1 << 20, f)), len)
    };
    let bar = progress::bytes_bar(total, ctx.json);
    let limits = ctx.db.limits();
    let mut done = Done::default();
    let mut in_flight: Option<InFlight> = None;
    let mut batch = Batch::default();
    let mut line = Vec::with_capacity(64 << 10);
    let mut line_no = 0usize;
    let mut bytes_read = 0u64;
    loop {
        line.clear();
        let n = input
            .read_until(b'\n', &mut line)
            .with_context(|| format!("reading line {}", line_no + 1))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        bytes_read += n as u64;
        let text = line.trim_ascii();
        if text.is_empty() {
            continue;
        }
        let parsed = jsonl::parse_line(text).and_then(|r| {
            jsonl::check(&r, &limits)
                .map(|()| r)
                .map_err(|e| e.to_string())
        });
        let record = match parsed {
            Ok(r) => r,
            Err(why) => {
                // Report the earlier batch's own failure first, if it has one.
                if let Some(f) = in_flight.take() {
                    settle(f, &mut done).await?;
                }
                bar.finish_and_clear();
                return Err(Failure::invalid(format!(
                    "line {line_no}: {why}; {}",
                    done.imported()
                ))
                .into());
            }
        };
        batch.push(record, line_no);
        if batch.is_full() {
            if let Some(f) = in_flight.take() {
                settle(f, &mut done).await?;
            }
            in_flight = Some(submit(&ctx.db, std::mem::take(&mut batch)));
            bar.set_position(bytes_read);
        }
    }
    if let Some(f) = in_flight.take() {
        settle(f, &mut done).await?;
    }
    if batch.records > 0 {
        settle(submit(&ctx.db, batch), &mut done).await?;
    }
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    let rate = bytes_read as f64 / (1 << 20) as f64 / secs.max(1e-9);
    if ctx.json {
        return output::json_doc(
            out,
            &json!({
                "items": done.items,
                "entries": done.entries,
                "lines": line_no,
                "bytes": bytes_read,
                "batches": done.batches,
                "seconds": secs,
            }),
        );
    }
    writeln!(
        out,
        "imported {} items and {} stream entries from {line_no} lines ({}) in {secs:.2}s ({rate:.1} MiB/s)",
        done.items,
        done.entries,
        human_bytes(bytes_read),
    )?;
    Ok(())
}
