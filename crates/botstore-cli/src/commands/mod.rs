//! One module per group of commands. Each command calls the library and prints; `run`
//! opens the store and hands the command to its module.

pub mod backup;
pub mod bench;
mod changes;
mod export;
mod import;
mod items;
pub mod repair;
mod serve;
mod stats;
mod streams;
mod token;
mod verify;

use crate::cli::{Cli, Command, StreamCommand};
use crate::exit::{remote_error, Failure};
use anyhow::Context;
use botstore::{Namespace, StoreApi, StoreOptions};
use botstore_client::{Client, ClientOptions};
use clap::ArgMatches;
use std::io::{self, BufWriter, Write};
use std::sync::Arc;

/// What every command gets: the store (the embedded one on `--data`, or a server with
/// `--remote`; the commands are written once for both) and how to print.
pub struct Ctx {
    pub db: Arc<dyn StoreApi>,
    /// `--json`: machine-readable output.
    pub json: bool,
}

/// The client of `--remote`.
/// The store in the data folder `data`, with the durability and cache the command line
/// asked for (`botstore::open` picks the engine).
pub fn open_local(
    cli: &Cli,
    data: &std::path::Path,
    mut store: StoreOptions,
) -> botstore::Result<botstore::Store> {
    if let Some(c) = &cli.compression {
        c.apply(&mut store.compression);
    }
    botstore::open(
        &data.to_string_lossy(),
        botstore::OpenOptions {
            durability: cli.durability,
            cache_bytes: Some(cli.cache_mib << 20),
            store,
        },
    )
}

pub fn connect(cli: &Cli, url: &str) -> anyhow::Result<Client> {
    let ca_certs_pem = match &cli.ca_cert {
        None => None,
        Some(p) => Some(std::fs::read(p).map_err(|e| {
            Failure::invalid(format!("cannot read --ca-cert {}: {e}", p.display()))
        })?),
    };
    let opts = ClientOptions {
        timeout: cli.timeout,
        ca_certs_pem,
        ..ClientOptions::default()
    };
    Client::with_options(url, cli.token.clone(), opts).map_err(remote_error)
}

/// For the commands that work on --data only (`serve`, `verify`, `repair`): refuse a
/// --remote option given on the command line (before or after the subcommand), naming it.
/// Their environment variables (BOTSTORE_REMOTE, ...) are no mistake and are ignored.
pub fn refuse_remote_options(matches: &ArgMatches, command: &str) -> Result<(), Failure> {
    use clap::parser::ValueSource;
    let sub = matches.subcommand_matches(command);
    for (id, flag) in [
        ("remote", "--remote"),
        ("token", "--token"),
        ("ca_cert", "--ca-cert"),
        ("timeout", "--timeout"),
    ] {
        let given = |m: &ArgMatches| m.value_source(id) == Some(ValueSource::CommandLine);
        if given(matches) || sub.is_some_and(given) {
            let what = match command {
                "serve" => "serve runs a server on --data",
                "verify" => {
                    "verify works on --data (a server scrubs its store itself: see \
                     botstore_scrub_* in /metrics)"
                }
                _ => "repair works on a local data folder (--data)",
            };
            return Err(Failure::invalid(format!(
                "{flag} is for commands that talk to a server; {what}, and {flag} does not \
                 apply to it"
            )));
        }
    }
    Ok(())
}

/// For a command that opens no store (`token`): refuse the store's options given on the
/// command line, naming them (`BOTSTORE_DATA` and the rest still apply where they mean
/// something).
pub fn refuse_store_options(matches: &ArgMatches, command: &str) -> Result<(), Failure> {
    use clap::parser::ValueSource;
    let sub = matches.subcommand_matches(command);
    for (id, flag) in [
        ("durability", "--durability"),
        ("changes_retention", "--changes-retention"),
        ("cache_mib", "--cache-mib"),
        ("compression", "--compression"),
    ] {
        let given = |m: &ArgMatches| m.value_source(id) == Some(ValueSource::CommandLine);
        if given(matches) || sub.is_some_and(given) {
            return Err(Failure::invalid(format!(
                "{flag} is a setting of the store; {command} opens no store (tokens live in \
                 tokens.json beside it), so {flag} does not apply to it"
            )));
        }
    }
    Ok(())
}

/// Open the store (or connect to the server), run the command, flush stdout. A local
/// store is dropped (checkpointed and closed) before this returns.
pub async fn run(cli: Cli, matches: &ArgMatches) -> anyhow::Result<()> {
    // The server opens the store itself, and tokens live beside the store, not in it
    // (token commands work while a server holds the store open).
    if let Command::Serve(a) = &cli.command {
        refuse_remote_options(matches, "serve")?;
        return serve::serve(&cli, a, matches).await;
    }
    if let Command::Backup(b) = &cli.command {
        let mut out = BufWriter::new(io::stdout().lock());
        let r = backup::run(&cli, matches, b, &mut out).await;
        let flushed = out.flush().context("writing to stdout");
        return r.and(flushed);
    }
    if let Command::Repair(a) = &cli.command {
        refuse_remote_options(matches, "repair")?;
        // Repair works on the files: the store must not be opened first.
        let mut out = BufWriter::new(io::stdout().lock());
        let r = repair::run(&cli, a, &mut out);
        let flushed = out.flush().context("writing to stdout");
        return r.and(flushed);
    }
    if let Command::Token(t) = &cli.command {
        refuse_store_options(matches, "token")?;
        let mut out = BufWriter::new(io::stdout().lock());
        let r = token::run(&cli, &t.command, &mut out).await;
        let flushed = out.flush().context("writing to stdout");
        return r.and(flushed);
    }
    if let Command::Verify(a) = &cli.command {
        refuse_remote_options(matches, "verify")?;
        let mut out = BufWriter::new(io::stdout().lock());
        let r = verify::verify(&cli, a, &mut out).await;
        let flushed = out.flush().context("writing to stdout");
        return r.and(flushed);
    }
    // Damaged records an `export --skip-damaged` passed over.
    let skipped = Arc::new(std::sync::Mutex::new(Vec::new()));
    let skip_damaged = matches!(&cli.command, Command::Export(a) if a.skip_damaged);
    if skip_damaged && cli.remote.is_some() {
        return Err(Failure::invalid("--skip-damaged works on --data, not on --remote").into());
    }
    let db: Arc<dyn StoreApi> = match &cli.remote {
        Some(url) => Arc::new(connect(&cli, url)?),
        None if skip_damaged => Arc::new(
            open_local(&cli, &cli.data, StoreOptions::default())?
                .skipping_damaged(Arc::clone(&skipped)),
        ),
        None => {
            let store_opts = StoreOptions {
                retention: botstore::Retention {
                    max_age: Some(cli.changes_retention),
                    max_changes: None,
                },
                ..StoreOptions::default()
            };
            Arc::new(open_local(&cli, &cli.data, store_opts)?)
        }
    };
    let ctx = Ctx { db, json: cli.json };
    let mut out = BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let r = dispatch(&ctx, cli.command, &mut out).await;
    let flushed = out.flush().context("writing to stdout");
    if let Ok(list) = skipped.lock() {
        for s in list.iter() {
            eprintln!("skipped: {s}");
        }
        if !list.is_empty() {
            eprintln!("skipped {} damaged records", list.len());
        }
    }
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
        // Handled in `run` (`bench` in `main`: it runs another binary).
        Command::Bench(_)
        | Command::Serve(_)
        | Command::Token(_)
        | Command::Backup(_)
        | Command::Verify(_)
        | Command::Repair(_) => Ok(()),
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
