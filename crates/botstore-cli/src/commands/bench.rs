//! `bench`: run botstore-bench's workloads and print the table (or JSON, one object per
//! workload and line).

use crate::cli::BenchArgs;
use botstore_bench::{render_table, run, BenchConfig, Workload};
use botstore_embedded::Durability;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

pub async fn bench(
    a: &BenchArgs,
    json: bool,
    durability: Durability,
    cache_mib: usize,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
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
        ..BenchConfig::default()
    };
    // A spinner naming the phase on a terminal; plain lines otherwise (logs, CI).
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
    cfg.progress = Some(Arc::new(move |msg: &str| match &sp {
        Some(s) => s.set_message(msg.to_owned()),
        None => eprintln!("bench: {msg}"),
    }));
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
