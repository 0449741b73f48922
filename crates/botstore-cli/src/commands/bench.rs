//! `bench`: run botstore-bench's workloads and print the table (or JSON, one object per
//! workload and line). With `--remote URL`, against a running server over HTTP.

use crate::cli::BenchArgs;
use anyhow::bail;
use botstore_bench::remote::{self, RemoteConfig, RemoteWorkload};
use botstore_bench::{render_table, run, BenchConfig, Progress, Workload};
use botstore_embedded::Durability;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

/// The embedded benchmark, or with `remote` (`--remote URL`, `--token`) the HTTP one.
pub async fn bench(
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
