//! `bench`: a thin dispatcher to the `botstore-bench` binary (crates/botstore-bench), which
//! holds the benchmark harness (raw-redb baseline, HDR histograms, an HTTP load generator)
//! so that `botstore` itself does not link it. The binary is looked for next to this
//! executable, then on PATH; it gets the global options the benchmark uses (`--json`,
//! `--durability`, `--cache-mib`, `--remote`; the token in `BOTSTORE_TOKEN`, not on its
//! command line) and every argument after `bench`, and its exit code is ours.

use crate::cli::{BenchArgs, Cli};
use crate::exit::Failure;
use botstore::ErrorKind;
use clap::parser::ValueSource;
use clap::ArgMatches;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// The benchmark binary's name (without the platform's executable suffix).
const BENCH_BIN: &str = "botstore-bench";

/// How to get the binary when it is missing.
pub const HOW_TO_GET: &str = "build it with `cargo build --release -p botstore-bench` \
(it lands next to `botstore` in target/release), or put `botstore-bench` on PATH";

/// Run `botstore-bench` with `cli`'s global options and `a`'s arguments: on Unix it
/// replaces this process; elsewhere its exit code becomes ours.
pub fn dispatch(cli: &Cli, a: &BenchArgs, matches: &ArgMatches) -> ExitCode {
    // `--json` given after `bench` is one of the forwarded arguments; errors here honour it.
    let json = cli.json || a.args.iter().any(|s| s == "--json");
    let Some(bin) = find() else {
        let e = anyhow::Error::new(Failure::new(
            ErrorKind::Internal,
            format!("`botstore bench` runs the botstore-bench binary, which is neither next to this executable nor on PATH: {HOW_TO_GET}"),
        ));
        return ExitCode::from(crate::exit::report(&e, json));
    };
    let mut cmd = Command::new(&bin);
    cmd.args(forwarded(cli, matches)).args(&a.args);
    if let Some(t) = &cli.token {
        cmd.env("BOTSTORE_TOKEN", t);
    }
    run(cmd, &bin, json)
}

/// The global options `bench` has always used, as given (on the command line or from the
/// environment; defaults are the benchmark's own too).
fn forwarded(cli: &Cli, matches: &ArgMatches) -> Vec<OsString> {
    let mut out: Vec<OsString> = Vec::new();
    if cli.json {
        out.push("--json".into());
    }
    for (id, flag) in [("durability", "--durability"), ("cache_mib", "--cache-mib")] {
        let given = matches!(
            matches.value_source(id),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        );
        if let (true, Some(mut raw)) = (given, matches.get_raw(id)) {
            if let Some(v) = raw.next() {
                out.push(flag.into());
                out.push(v.to_owned());
            }
        }
    }
    if let Some(url) = &cli.remote {
        out.push("--remote".into());
        out.push(url.into());
    }
    out
}

#[cfg(unix)]
fn run(mut cmd: Command, bin: &Path, json: bool) -> ExitCode {
    use std::os::unix::process::CommandExt;
    // Its usage lines then read `botstore bench ...`.
    cmd.arg0("botstore bench");
    let e = cmd.exec();
    failed(bin, e, json)
}

#[cfg(not(unix))]
fn run(mut cmd: Command, bin: &Path, json: bool) -> ExitCode {
    match cmd.status() {
        Ok(s) => ExitCode::from(s.code().map_or(4, |c| c.clamp(0, 255) as u8)),
        Err(e) => failed(bin, e, json),
    }
}

fn failed(bin: &Path, e: std::io::Error, json: bool) -> ExitCode {
    let e = anyhow::Error::new(e).context(format!("cannot run {}", bin.display()));
    ExitCode::from(crate::exit::report(&e, json))
}

/// `botstore-bench` next to the running executable, else the first on PATH.
fn find() -> Option<PathBuf> {
    let name = format!("{BENCH_BIN}{}", std::env::consts::EXE_SUFFIX);
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join(&name)));
    let on_path: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join(&name)).collect())
        .unwrap_or_default();
    beside.into_iter().chain(on_path).find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        p.is_file()
    }
}
