//! `botstore`: the command-line tool. Parses arguments, calls the library, prints.
//! Exit codes: see [`exit`] (and `botstore --help`).

mod cli;
mod commands;
mod exit;
mod jsonl;
mod list_streams;
mod output;
mod progress;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let json = cli.json;
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|rt| rt.block_on(commands::run(cli)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`botstore export | head`): nothing left to say.
        Err(e) if exit::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => ExitCode::from(exit::report(&e, json)),
    }
}
