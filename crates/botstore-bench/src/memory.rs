//! The memory workload: load many 1 KiB items, serve random gets, and report how much
//! resident memory the process holds beyond the engine's configured cache.

use crate::gen::Generator;
use crate::harness::{threads_blocking, writer_extra, Engine, Tally, Window};
use crate::workloads::key_of;
use crate::{BenchConfig, BenchError, Result, WorkloadReport};
use botstore::{Mutation, Namespace, Value};
use futures::executor::block_on;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::hint::black_box;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

const MIB: f64 = 1024.0 * 1024.0;
const LOAD_BATCH: usize = 100;
const LOADERS: usize = 4;

/// Resident memory of the memory workload (MiB = 2^20 bytes).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MemoryReport {
    pub items: u64,
    pub cache_mib: f64,
    /// `VmRSS` before the store was opened.
    pub rss_before_mib: f64,
    /// `VmRSS` after the gets.
    pub rss_mib: f64,
    /// `VmHWM` (peak resident) at the end.
    pub hwm_mib: f64,
    /// `rss_mib - cache_mib`: the figure the target (< 256 MiB) is about.
    pub rss_beyond_cache_mib: f64,
    pub hwm_beyond_cache_mib: f64,
    /// Time to load the items.
    pub load_seconds: f64,
    /// Bytes on disk after loading (store file + journal).
    pub disk_mib: f64,
}

/// `(VmRSS, VmHWM)` of this process in bytes, from `/proc/self/status`.
pub fn resident() -> Option<(u64, u64)> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| {
        s.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|n| n.parse::<u64>().ok())
            .map(|kb| kb * 1024)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

pub async fn run(cfg: &BenchConfig, dir: &Path) -> Result<WorkloadReport> {
    let size = cfg.value_size.unwrap_or(1024);
    let n = cfg.memory_items.max(1) as u64;
    let readers = cfg.readers.unwrap_or(2).max(1);
    let seed = cfg.seed;
    std::fs::create_dir_all(dir)?;
    let (rss0, _) = resident().ok_or_else(|| BenchError("cannot read /proc/self/status".into()))?;
    let pool = Arc::new(Generator::new(seed).pool(1024, size));
    let ns = Namespace::new(["bench", "memory"]);
    let eng = Engine::open(cfg, dir)?;
    cfg.say(&format!(
        "memory: loading {n} items of {size} B (cache {} MiB)",
        cfg.cache_size >> 20
    ));
    let c0 = eng.counters();
    let load_start = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let mut hs = Vec::new();
    for _ in 0..LOADERS {
        let (store, ns, pool, next) = (eng.store.clone(), ns.clone(), pool.clone(), next.clone());
        hs.push(tokio::spawn(async move {
            loop {
                let from = next.fetch_add(LOAD_BATCH as u64, Ordering::Relaxed);
                if from >= n {
                    return Ok::<(), BenchError>(());
                }
                let ms = (from..(from + LOAD_BATCH as u64).min(n))
                    .map(|i| {
                        let v = pool[(i as usize * 7919) % pool.len()].clone();
                        Mutation::put(ns.clone(), key_of("item-", i), Value::json_text(v))
                    })
                    .collect();
                store.batch(ms).await?;
            }
        }));
    }
    for h in hs {
        h.await??;
    }
    eng.sync().await?;
    let load_seconds = load_start.elapsed().as_secs_f64();
    let c1 = eng.counters();
    cfg.say(&format!(
        "memory: loaded in {load_seconds:.1} s; random gets from {readers} thread(s)"
    ));
    let w = Window::new(cfg.warmup, cfg.duration);
    let (store, ns2) = (eng.store.clone(), ns.clone());
    let t: Tally = threads_blocking(readers, w, move |i, t, w| {
        let mut rng = SmallRng::seed_from_u64(seed ^ (i as u64 + 1));
        while w.next().is_some() {
            let k = key_of("item-", rng.random_range(0..n));
            let t0 = Instant::now();
            let it = block_on(store.get(&ns2, &k))?
                .ok_or_else(|| BenchError(format!("{k} is missing after the load")))?;
            black_box(it.value.data.len());
            t.done(w, t0);
        }
        Ok(())
    })
    .await?;
    let (rss, hwm) =
        resident().ok_or_else(|| BenchError("cannot read /proc/self/status".into()))?;
    let disk = eng
        .store
        .stats(&Namespace::root())
        .await?
        .disk_bytes
        .unwrap_or(0);
    let mut row = t.report("memory", &w, 0, readers, size);
    writer_extra(
        &mut row,
        c0,
        c1,
        std::time::Duration::from_secs_f64(load_seconds),
    );
    row.extra
        .insert("load_items_per_sec".into(), n as f64 / load_seconds);
    let cache = cfg.cache_size as f64 / MIB;
    row.memory = Some(MemoryReport {
        items: n,
        cache_mib: cache,
        rss_before_mib: rss0 as f64 / MIB,
        rss_mib: rss as f64 / MIB,
        hwm_mib: hwm as f64 / MIB,
        rss_beyond_cache_mib: rss as f64 / MIB - cache,
        hwm_beyond_cache_mib: hwm as f64 / MIB - cache,
        load_seconds,
        disk_mib: disk as f64 / MIB,
    });
    eng.close().await?;
    Ok(row)
}
