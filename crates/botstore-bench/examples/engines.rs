//! The engine comparison of issue 18 (docs/BENCHMARKS.md, "Engine comparison"):
//!
//! ```text
//! cargo build --release -p botstore-bench --example engines
//! E=target/release/examples/engines
//! $E corpus /tmp/bot200.jsonl 200                 # 200 MiB of bot records (JSON Lines)
//! $E import /tmp/bot200.jsonl /tmp/engines embedded,fjall,fjall-lz4-32k,fjall-kv
//! $E import /tmp/bot200.jsonl /tmp/engines embedded,fjall,fjall-lz4-32k --trim-feed
//! $E compare -e embedded,fjall -w get,put,put-concurrent --baseline redb -d 4s
//! $E compare -e fjall -w memory --memory-items 1000000 -d 3s   # one engine per process
//! ```
//!
//! `compare` options: `-e/--engines LIST` (embedded, fjall, fjall-lz4-32k, fjall-kv, fjall-16m),
//! `-w/--workloads LIST`, `-d/--duration SECS`, `--warmup SECS`, `--baseline redb`,
//! `--data-dir PATH`, `--keys N`, `--writers N`, `--readers N`, `--memory-items N`,
//! `--anchor SECS`, `--json PATH`. `import` takes `--json PATH` and `--trim-feed` (trim the
//! change feed to nothing before the compaction) after its arguments.

// A developer's measurement run, not a tool: a bad argument ends it with a message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use botstore_bench::engines::{compare, import, write_corpus};
use botstore_bench::{render_table, Baseline, BenchConfig, EngineKind, Workload};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

fn engines(s: &str) -> Vec<EngineKind> {
    s.split(',')
        .map(|e| e.trim().parse().unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

fn secs(s: &str) -> Duration {
    Duration::from_secs_f64(s.trim_end_matches('s').parse().expect("seconds"))
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json_out = args
        .iter()
        .position(|a| a == "--json")
        .map(|i| PathBuf::from(&args[i + 1]));
    let mut cfg = BenchConfig {
        progress: Some(Arc::new(|s: &str| eprintln!("  {s}"))),
        ..Default::default()
    };
    match args.first().map(String::as_str) {
        Some("corpus") => {
            let path = PathBuf::from(&args[1]);
            let mib: u64 = args[2].parse().expect("MiB");
            let seed = args.get(3).map_or(42, |s| s.parse().expect("seed"));
            let r = write_corpus(&path, mib, seed).unwrap();
            println!("{}", serde_json::to_string_pretty(&r).unwrap());
        }
        Some("import") => {
            let file = PathBuf::from(&args[1]);
            let root = PathBuf::from(&args[2]);
            let trim = args.iter().any(|a| a == "--trim-feed");
            let mut out = Vec::new();
            for e in engines(&args[3]) {
                eprintln!("import into {}", e.name());
                let r = import(&cfg, &file, e, &root.join(e.name()), trim)
                    .await
                    .unwrap();
                println!(
                    "{:14} {:8.1} s {:7.1} MiB/s  disk {:6.1} MB after import, {:6.1} MB after compact ({:.1} s)  live logical {:6.1} MB  ratio {:.3}{}",
                    r.engine,
                    r.import_seconds,
                    r.import_mib_per_sec,
                    r.disk_after_import as f64 / 1e6,
                    r.disk_after_compact as f64 / 1e6,
                    r.compact_seconds,
                    r.logical_bytes as f64 / 1e6,
                    r.disk_per_logical,
                    r.journal_bytes
                        .map(|j| format!("  (journals {:.1} MB)", j as f64 / 1e6))
                        .unwrap_or_default()
                );
                for (f, n) in &r.files {
                    println!("    {f}: {:.1} MB", *n as f64 / 1e6);
                }
                let tables: Vec<String> = r
                    .tables
                    .iter()
                    .filter(|t| t.1 > 0)
                    .map(|(t, n)| format!("{t} {:.1} MB", *n as f64 / 1e6))
                    .collect();
                if !tables.is_empty() {
                    println!("    tables: {}", tables.join(", "));
                }
                out.push(r);
            }
            if let Some(p) = json_out {
                std::fs::write(p, serde_json::to_vec_pretty(&out).unwrap()).unwrap();
            }
        }
        Some("compare") => {
            let mut list = vec![EngineKind::Embedded];
            let mut it = args.iter().skip(1);
            while let Some(a) = it.next() {
                let mut v = || it.next().expect("a value").clone();
                match a.as_str() {
                    "-e" | "--engines" => list = engines(&v()),
                    "-w" | "--workloads" => cfg.workloads = Workload::parse_list(&v()).unwrap(),
                    "-d" | "--duration" => cfg.duration = secs(&v()),
                    "--warmup" => cfg.warmup = secs(&v()),
                    "--anchor" => cfg.anchor_duration = secs(&v()),
                    "--baseline" => cfg.baseline = Some(v().parse::<Baseline>().unwrap()),
                    "--data-dir" => cfg.data_dir = Some(PathBuf::from(v())),
                    "--keys" => cfg.keys = Some(v().parse().unwrap()),
                    "--writers" => cfg.writers = Some(v().parse().unwrap()),
                    "--readers" => cfg.readers = Some(v().parse().unwrap()),
                    "--memory-items" => cfg.memory_items = v().parse().unwrap(),
                    "--json" => {
                        v();
                    }
                    o => panic!("unknown option {o}"),
                }
            }
            let rows = compare(&cfg, &list).await.unwrap();
            print!("{}", render_table(&rows));
            if let Some(p) = json_out {
                std::fs::write(p, serde_json::to_vec_pretty(&rows).unwrap()).unwrap();
            }
        }
        _ => {
            eprintln!(
                "usage: engines corpus FILE MIB [SEED] | import FILE DIR ENGINES | compare ..."
            );
            std::process::exit(2);
        }
    }
}
