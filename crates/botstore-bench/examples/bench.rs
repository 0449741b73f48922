//! Run botstore-bench from the command line (the real CLI is `botstore bench`).
//!
//! ```text
//! cargo run --release -p botstore-bench --example bench -- \
//!     --workloads get,put-batch,put,put-concurrent --baseline redb --duration 3s
//! ```
//!
//! Options: `--workloads LIST` (comma-separated; `all`, `default`), `--writers N`,
//! `--readers N`, `--duration D`, `--warmup D`, `--value-size BYTES`, `--baseline redb`,
//! `--data-dir PATH`, `--durability immediate|relaxed[:D]`, `--cache-mib N`, `--keys N`,
//! `--memory-items N`, `--anchor D`, `--seed N`, `--json PATH` (also write the reports as
//! JSON). Durations: `3s`, `500ms`, `1.5` (seconds).

use botstore_bench::{render_table, run, BenchConfig, Durability, Workload};
use std::sync::Arc;
use std::time::Duration;

fn duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("bad duration {s:?} (3s, 500ms, 1.5)");
    if let Some(ms) = s.strip_suffix("ms") {
        return ms
            .parse::<u64>()
            .map(Duration::from_millis)
            .map_err(|_| bad());
    }
    let secs = s.strip_suffix('s').unwrap_or(s);
    secs.parse::<f64>()
        .ok()
        .filter(|x| x.is_finite() && *x >= 0.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(bad)
}

fn parse_args() -> Result<(BenchConfig, Option<String>), String> {
    let mut cfg = BenchConfig::default();
    let mut json = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "-h" || a == "--help" {
            println!(
                "{}",
                include_str!("bench.rs")
                    .lines()
                    .take(14)
                    .collect::<Vec<_>>()
                    .join("\n")
            );
            std::process::exit(0);
        }
        let mut val = || args.next().ok_or_else(|| format!("{a} needs a value"));
        let num = |v: String| {
            v.parse::<usize>()
                .map_err(|_| format!("{a}: not a number: {v:?}"))
        };
        match a.as_str() {
            "--workloads" | "-w" => {
                cfg.workloads = Workload::parse_list(&val()?).map_err(|e| e.to_string())?
            }
            "--writers" => cfg.writers = Some(num(val()?)?),
            "--readers" => cfg.readers = Some(num(val()?)?),
            "--duration" | "-d" => cfg.duration = duration(&val()?)?,
            "--warmup" => cfg.warmup = duration(&val()?)?,
            "--value-size" => cfg.value_size = Some(num(val()?)?),
            "--baseline" => {
                cfg.baseline = Some(
                    val()?
                        .parse()
                        .map_err(|e: botstore_bench::BenchError| e.to_string())?,
                )
            }
            "--data-dir" => cfg.data_dir = Some(val()?.into()),
            "--durability" => {
                cfg.durability = Durability::parse(&val()?).map_err(|e| e.to_string())?
            }
            "--cache-mib" => cfg.cache_size = num(val()?)? << 20,
            "--keys" => cfg.keys = Some(num(val()?)?),
            "--memory-items" => cfg.memory_items = num(val()?)?,
            "--anchor" => cfg.anchor_duration = duration(&val()?)?,
            "--seed" => cfg.seed = num(val()?)? as u64,
            "--json" => json = Some(val()?),
            _ => return Err(format!("unknown option {a:?} (see --help)")),
        }
    }
    cfg.progress = Some(Arc::new(|s: &str| eprintln!("... {s}")));
    Ok((cfg, json))
}

fn main() {
    let (cfg, json) = match parse_args() {
        Ok(x) => x,
        Err(e) => {
            eprintln!("bench: {e}");
            std::process::exit(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bench: cannot start the tokio runtime: {e}");
            std::process::exit(1);
        }
    };
    match rt.block_on(run(&cfg)) {
        Ok(reports) => {
            println!("{}", render_table(&reports));
            if let Some(p) = json {
                let written = serde_json::to_string_pretty(&reports)
                    .map_err(|e| e.to_string())
                    .and_then(|text| std::fs::write(&p, text).map_err(|e| e.to_string()));
                if let Err(e) = written {
                    eprintln!("bench: cannot write {p}: {e}");
                    std::process::exit(1);
                }
            }
        }
        Err(e) => {
            eprintln!("bench: {e}");
            std::process::exit(1);
        }
    }
}
