//! One module per group of commands. Each command calls the library and prints; `run`
//! opens the store and hands the command to its module.

mod bench;
mod changes;
mod export;
mod import;
mod items;
mod stats;
mod streams;

use crate::cli::{Cli, Command, StreamCommand};
use anyhow::Context;
use botstore::{Namespace, Store, StoreOptions};
use botstore_embedded::{open_store, EmbeddedOptions};
use std::io::{self, BufWriter, Write};

/// What every command gets: the store and how to print.
pub struct Ctx {
    pub store: Store,
    /// `--json`: machine-readable output.
    pub json: bool,
}

/// Open the store, run the command, flush stdout. The store is dropped (checkpointed and
/// closed) before this returns.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    // The benchmark makes its own stores; it never opens --data.
    if let Command::Bench(a) = cli.command {
        let mut out = BufWriter::new(io::stdout().lock());
        let r = bench::bench(&a, cli.json, cli.durability, cli.cache_mib, &mut out).await;
        let flushed = out.flush().context("writing to stdout");
        return r.and(flushed);
    }
    let opts = EmbeddedOptions {
        durability: cli.durability,
        cache_size: cli.cache_mib << 20,
        ..EmbeddedOptions::default()
    };
    let store_opts = StoreOptions {
        retention: botstore::Retention {
            max_age: Some(cli.changes_retention),
            max_changes: None,
        },
        ..StoreOptions::default()
    };
    let store = open_store(&cli.data, opts, store_opts)?;
    let ctx = Ctx {
        store,
        json: cli.json,
    };
    let mut out = BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let r = dispatch(&ctx, cli.command, &mut out).await;
    let flushed = out.flush().context("writing to stdout");
    r.and(flushed)
}

async fn dispatch(ctx: &Ctx, command: Command, out: &mut dyn Write) -> anyhow::Result<()> {
    match command {
        Command::Put(a) => items::put(ctx, a, out).await,
        Command::Get(a) => items::get(ctx, a, out).await,
        Command::Del(a) => items::del(ctx, a, out).await,
        Command::Ls(a) => items::ls(ctx, a, out).await,
        Command::Ns(a) => items::ns(ctx, a, out).await,
        Command::Stream(StreamCommand::Append(a)) => streams::append(ctx, a, out).await,
        Command::Stream(StreamCommand::Read(a)) => streams::read(ctx, a, out).await,
        Command::Stream(StreamCommand::Trim(a)) => streams::trim(ctx, a, out).await,
        Command::Changes(a) => changes::changes(ctx, a, out).await,
        Command::Stats(a) => stats::stats(ctx, a, out).await,
        Command::Compact => stats::compact(ctx, out).await,
        Command::Import(a) => import::import(ctx, a, out).await,
        Command::Export(a) => export::export(ctx, a, out).await,
        Command::Bench(_) => Ok(()), // handled in `run`
    }
}

/// `a/b/c` as a namespace.
pub fn parse_ns(s: &str) -> Namespace {
    Namespace::parse(s)
}

/// All of stdin.
pub fn read_stdin() -> anyhow::Result<Vec<u8>> {
    let mut buf = Vec::new();
    io::Read::read_to_end(&mut io::stdin().lock(), &mut buf).context("reading stdin")?;
    Ok(buf)
}
