//! `botstore`: the command-line tool. Parses arguments, calls the library, prints.
//! Exit codes: see [`exit`] (and `botstore --help`).

mod cli;
mod commands;
mod exit;
mod jsonl;
mod output;
mod progress;

use clap::{CommandFactory, FromArgMatches};
use std::process::ExitCode;

fn main() -> ExitCode {
    // The matches are kept: `serve` asks them where a global option's value came from.
    let matches = commands::backup::hide_store_options(cli::Cli::command()).get_matches();
    let cli = match cli::Cli::from_arg_matches(&matches) {
        Ok(c) => c.with_env(),
        Err(e) => e.exit(),
    };
    // The benchmark is its own binary: hand over before starting a runtime.
    if let cli::Command::Bench(a) = &cli.command {
        return commands::bench::dispatch(&cli, a, &matches);
    }
    let json = cli.json;
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|rt| rt.block_on(commands::run(cli, &matches)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`botstore export | head`): nothing left to say.
        Err(e) if exit::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => ExitCode::from(exit::report(&e, json)),
    }
}
