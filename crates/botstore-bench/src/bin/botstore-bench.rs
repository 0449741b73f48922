//! `botstore-bench`: the benchmark harness's command line. `botstore bench ARGS` runs this
//! binary (found next to `botstore`, or on PATH) with the global options it needs (`--json`,
//! `--durability`, `--cache-mib`, `--remote`, and the token in `BOTSTORE_TOKEN`) and the rest
//! of its arguments; it can also be run directly. Output: a table, or with `--json` one JSON
//! object per workload and line. Errors and exit codes as `botstore`'s.

use anyhow::bail;
use botstore_bench::remote::{self, RemoteConfig, RemoteWorkload};
use botstore_bench::{render_table, run, BenchConfig, Durability, Progress, Workload};
use clap::{Args, Parser};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Measure bot workloads on fresh temporary stores (never on --data), optionally next to
/// raw redb in the same run; with --remote URL, a running server over HTTP. With --json:
/// one JSON object per workload, one per line.
#[derive(Debug, Parser)]
#[command(name = "botstore-bench", version, args_override_self = true)]
struct Cli {
    /// One JSON object per workload and line on stdout (errors as JSON on stderr).
    #[arg(long)]
    json: bool,

    /// When a write is on disk: `immediate` (acknowledged = flushed), `relaxed` (flushed
    /// within 10 ms) or `relaxed:<duration>`, e.g. `relaxed:50ms`.
    #[arg(long, default_value = "immediate", value_parser = parse_durability, value_name = "MODE")]
    durability: Durability,

    /// redb's page cache in MiB.
    #[arg(long, default_value_t = 64, value_name = "MIB")]
    cache_mib: usize,

    /// Benchmark the botstore server at URL (http://host:port) over HTTP instead.
    #[arg(long, env = "BOTSTORE_REMOTE", value_name = "URL")]
    remote: Option<String>,

    /// The API token for --remote.
    #[arg(
        long,
        env = "BOTSTORE_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    token: Option<String>,

    // `botstore`'s other global options, accepted (as `botstore bench` always did) and
    // unused: the benchmark makes its own stores and speaks plain HTTP.
    #[arg(long, env = "BOTSTORE_DATA", hide = true, hide_env = true)]
    data: Option<PathBuf>,
    #[arg(long, hide = true)]
    changes_retention: Option<String>,
    #[arg(long, env = "BOTSTORE_CA_CERT", hide = true, hide_env = true)]
    ca_cert: Option<PathBuf>,
    #[arg(long, hide = true)]
    timeout: Option<String>,

    #[command(flatten)]
    bench: BenchArgs,
}

#[derive(Debug, Args)]
struct BenchArgs {
    /// Comma-separated: state, transcript, checkpoint, get, put, put-batch, put-concurrent,
    /// memory; or `default`, `all`. With --remote: get, put, state, transcript (`default`,
    /// `all`: the four).
    #[arg(long, short = 'w', default_value = "default")]
    workloads: String,
    /// Writer tasks (default: per workload).
    #[arg(long)]
    writers: Option<usize>,
    /// Reader threads (default: per workload).
    #[arg(long)]
    readers: Option<usize>,
    /// Measured time per workload (and again for its baseline).
    #[arg(long, short = 'd', default_value = "3s", value_parser = parse_ttl)]
    duration: Duration,
    /// Unmeasured time before each measurement (default: 500ms; 1s with --remote).
    #[arg(long, value_parser = parse_ttl)]
    warmup: Option<Duration>,
    /// Record size in bytes (default: per workload; 1024 for get and put).
    #[arg(long)]
    value_size: Option<usize>,
    /// Run the same operations on raw redb in the same run and report the ratio
    /// (botstore ops/s divided by baseline ops/s). With --remote: `redis`, i.e.
    /// redis-benchmark GET against the Redis at --redis, and SET against a throwaway
    /// redis-server with `appendfsync always` (started on --redis-durable-port, then killed).
    #[arg(long, value_name = "redb|redis")]
    baseline: Option<String>,
    /// Preloaded items / conversations (default: per workload).
    #[arg(long)]
    keys: Option<usize>,
    /// Items the `memory` workload loads.
    #[arg(long, default_value_t = 1_000_000)]
    memory_items: usize,
    /// Where the temporary stores go (default: the system's temporary folder). With
    /// --remote: where the throwaway Redis keeps its append-only file.
    #[arg(long, value_name = "DIR")]
    bench_dir: Option<std::path::PathBuf>,
    /// Seed of the record generator.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// With --remote: keep-alive HTTP connections, one request in flight on each.
    #[arg(
        long,
        short = 'c',
        default_value_t = 50,
        help_heading = "With --remote"
    )]
    concurrency: usize,
    /// With --remote: open loop at this many requests per second in total (latency is
    /// counted from when each request was due), or `half`: measure the closed-loop peak,
    /// then run at half of it. Default: closed loop.
    #[arg(long, value_name = "REQ/S|half", help_heading = "With --remote")]
    rate: Option<String>,
    /// With --remote: threads of the load generator (1 leaves the server the rest of the
    /// machine, as redis-benchmark's single thread does).
    #[arg(long, default_value_t = 1, help_heading = "With --remote")]
    client_threads: usize,
    /// With --remote: also measure random GETs with wrk (a C load generator), if installed.
    #[arg(long, help_heading = "With --remote")]
    wrk: bool,
    /// With --remote --baseline redis: the Redis for the GET/SET anchor.
    #[arg(
        long,
        default_value = "127.0.0.1:6379",
        value_name = "HOST:PORT",
        help_heading = "With --remote"
    )]
    redis: String,
    /// With --remote --baseline redis: port of the throwaway `appendfsync always` Redis.
    #[arg(long, default_value_t = 6390, help_heading = "With --remote")]
    redis_durable_port: u16,
    /// With --remote --baseline redis: redis-benchmark -n for GET/SET.
    #[arg(long, default_value_t = 200_000, help_heading = "With --remote")]
    redis_requests: u64,
    /// With --remote --baseline redis: redis-benchmark -n for the durable SET.
    #[arg(long, default_value_t = 100_000, help_heading = "With --remote")]
    redis_durable_requests: u64,
}

fn parse_durability(s: &str) -> Result<Durability, String> {
    Durability::parse(s).map_err(|e| e.to_string())
}

fn parse_ttl(s: &str) -> Result<Duration, String> {
    botstore::parse_duration(s).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|rt| {
            rt.block_on(async {
                let mut out = BufWriter::new(std::io::stdout().lock());
                let r = bench(
                    &cli.bench,
                    json,
                    cli.durability,
                    cli.cache_mib,
                    cli.remote.as_deref(),
                    cli.token.as_deref(),
                    &mut out,
                )
                .await;
                let flushed = out.flush().map_err(anyhow::Error::from);
                r.and(flushed)
            })
        });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => ExitCode::from(report(&e, json)),
    }
}

/// Print the error to stderr (as JSON with `--json`) and return its exit code, as
/// `botstore` does: that of the first botstore error in the chain, else 4.
fn report(err: &anyhow::Error, json: bool) -> u8 {
    use botstore::ErrorKind;
    let kind = err
        .chain()
        .find_map(|e| {
            e.downcast_ref::<botstore::Error>()
                .map(botstore::Error::kind)
                .or_else(|| {
                    e.downcast_ref::<botstore::BatchError>()
                        .map(|b| b.error.kind())
                })
        })
        .unwrap_or(ErrorKind::Internal);
    let (code, name) = match kind {
        ErrorKind::NotFound => (1, "not_found"),
        ErrorKind::InvalidInput => (2, "invalid_input"),
        ErrorKind::Conflict => (3, "conflict"),
        ErrorKind::Internal => (4, "internal"),
    };
    let message = format!("{err:#}");
    if json {
        let doc = serde_json::json!({ "error": message, "kind": name, "exit_code": code });
        eprintln!("{doc}");
    } else {
        eprintln!("error: {message}");
    }
    code
}

/// The embedded benchmark, or with `remote` (`--remote URL`, `--token`) the HTTP one.
async fn bench(
    a: &BenchArgs,
    json: bool,
    durability: Durability,
    cache_mib: usize,
    remote: Option<&str>,
    token: Option<&str>,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    if let Some(url) = remote {
        return bench_remote(a, json, url, token, out).await;
    }
    if a.rate.is_some() || a.wrk || a.concurrency != 50 || a.client_threads != 1 {
        bail!("--rate, --wrk, --concurrency and --client-threads need --remote URL");
    }
    let mut cfg = BenchConfig {
        workloads: Workload::parse_list(&a.workloads)?,
        writers: a.writers,
        readers: a.readers,
        duration: a.duration,
        value_size: a.value_size,
        baseline: a.baseline.as_deref().map(str::parse).transpose()?,
        data_dir: a.bench_dir.clone(),
        durability,
        cache_size: cache_mib << 20,
        keys: a.keys,
        memory_items: a.memory_items,
        seed: a.seed,
        warmup: a.warmup.unwrap_or(BenchConfig::default().warmup),
        ..BenchConfig::default()
    };
    let (spinner, progress) = progress();
    cfg.progress = Some(progress);
    let reports = run(&cfg).await?;
    if let Some(s) = spinner {
        s.finish_and_clear();
    }
    if json {
        for r in &reports {
            writeln!(out, "{}", serde_json::to_string(r)?)?;
        }
    } else {
        writeln!(out, "{}", render_table(&reports))?;
    }
    Ok(())
}

async fn bench_remote(
    a: &BenchArgs,
    json: bool,
    url: &str,
    token: Option<&str>,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    if a.writers.is_some() || a.readers.is_some() {
        bail!("with --remote, --concurrency sets the connections (not --writers/--readers)");
    }
    let (redis_host, redis_port) = match a.redis.rsplit_once(':') {
        Some((h, p)) => (h.to_string(), p.parse()?),
        None => (a.redis.clone(), 6379),
    };
    let defaults = RemoteConfig::default();
    let mut cfg = RemoteConfig {
        url: url.to_string(),
        token: token.map(str::to_string),
        workloads: RemoteWorkload::parse_list(&a.workloads)?,
        concurrency: a.concurrency,
        duration: a.duration,
        warmup: a.warmup.unwrap_or(defaults.warmup),
        value_size: a.value_size,
        rate: a.rate.as_deref().map(str::parse).transpose()?,
        keys: a.keys,
        client_threads: a.client_threads,
        baseline: a.baseline.as_deref().map(str::parse).transpose()?,
        redis_host,
        redis_port,
        redis_durable_port: a.redis_durable_port,
        redis_requests: a.redis_requests,
        redis_durable_requests: a.redis_durable_requests,
        data_dir: a.bench_dir.clone(),
        wrk: a.wrk,
        seed: a.seed,
        ..defaults
    };
    let (spinner, progress) = progress();
    cfg.progress = Some(progress);
    let reports = remote::run(&cfg).await?;
    if let Some(s) = spinner {
        s.finish_and_clear();
    }
    if json {
        for r in &reports {
            writeln!(out, "{}", serde_json::to_string(r)?)?;
        }
    } else {
        writeln!(out, "{}", remote::render_table(&reports))?;
    }
    Ok(())
}

/// A spinner naming the phase on a terminal; plain lines on stderr otherwise (logs, CI).
fn progress() -> (Option<ProgressBar>, Progress) {
    let spinner = if std::io::stderr().is_terminal() {
        let s = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()).with_style(
            ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        s.enable_steady_tick(Duration::from_millis(200));
        Some(s)
    } else {
        None
    };
    let sp = spinner.clone();
    let progress: Progress = Arc::new(move |msg: &str| match &sp {
        Some(s) => s.set_message(msg.to_owned()),
        None => eprintln!("bench: {msg}"),
    });
    (spinner, progress)
}
