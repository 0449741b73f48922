//! What every workload uses: the measurement window, per-worker tallies, opening and closing
//! the embedded store and the baseline database, and the fsync anchor.

use crate::fjall_backend::{FjallBackend, FjallVariant};
use crate::{BenchConfig, BenchError, Result, WorkloadReport};
use botstore::{Backend, Store, StoreOptions};
use botstore_embedded::{EmbeddedBackend, EmbeddedOptions};
use hdrhistogram::Histogram;
use redb::{Database, TableDefinition};
use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The baseline's one table.
pub const KV: TableDefinition<&[u8], &[u8]> = TableDefinition::new("kv");

/// Operations that start in `[start, end)` are measured; workers stop at `end`.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    pub start: Instant,
    pub end: Instant,
}

impl Window {
    pub fn new(warmup: Duration, duration: Duration) -> Window {
        let start = Instant::now() + warmup;
        Window {
            start,
            end: start + duration,
        }
    }
    /// The start time of the next operation, or `None` when the window is over.
    pub fn next(&self) -> Option<Instant> {
        let now = Instant::now();
        (now < self.end).then_some(now)
    }
}

/// One worker's measurements.
#[derive(Clone, Debug)]
pub struct Tally {
    pub hist: Histogram<u64>,
    pub ops: u64,
    pub last: Option<Instant>,
    pub counters: BTreeMap<&'static str, u64>,
}

impl Default for Tally {
    fn default() -> Self {
        Tally::new()
    }
}

impl Tally {
    pub fn new() -> Tally {
        Tally {
            // Nanoseconds, 1 ns .. 100 s, 3 significant digits.
            hist: Histogram::new_with_bounds(1, 100_000_000_000, 3)
                .unwrap_or_else(|_| Histogram::new(3).unwrap_or_else(|_| unreachable!())),
            ops: 0,
            last: None,
            counters: BTreeMap::new(),
        }
    }

    /// Record an operation that ran from `t0` to now (if it started in the window).
    pub fn done(&mut self, w: &Window, t0: Instant) {
        let t1 = Instant::now();
        if t0 >= w.start {
            let ns = (t1 - t0).as_nanos().clamp(1, u64::MAX as u128) as u64;
            self.hist.saturating_record(ns);
            self.ops += 1;
            self.last = Some(t1);
        }
    }

    pub fn count(&mut self, name: &'static str, n: u64) {
        *self.counters.entry(name).or_default() += n;
    }

    pub fn merge(&mut self, o: &Tally) {
        let _ = self.hist.add(&o.hist);
        self.ops += o.ops;
        self.last = match (self.last, o.last) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        for (k, v) in &o.counters {
            *self.counters.entry(k).or_default() += v;
        }
    }

    /// Seconds from the window's start to the end of the last measured operation (at least
    /// the window's length when operations stopped early).
    pub fn seconds(&self, w: &Window) -> f64 {
        let end = self.last.map_or(w.end, |l| l.max(w.end));
        (end - w.start).as_secs_f64().max(1e-9)
    }

    pub fn ops_per_sec(&self, w: &Window) -> f64 {
        self.ops as f64 / self.seconds(w)
    }

    fn us(&self, q: f64) -> f64 {
        if self.ops == 0 {
            return 0.0;
        }
        self.hist.value_at_quantile(q) as f64 / 1000.0
    }

    /// A report row from this tally.
    pub fn report(
        &self,
        name: &str,
        w: &Window,
        writers: usize,
        readers: usize,
        size: usize,
    ) -> WorkloadReport {
        let mut extra = BTreeMap::new();
        if let Some(p) = crate::sysload::other_cpu_pct(w.start, w.end) {
            extra.insert("other_cpu_pct".to_string(), p);
        }
        WorkloadReport {
            extra,
            workload: name.into(),
            writers,
            readers,
            value_size: size,
            seconds: self.seconds(w),
            ops: self.ops,
            ops_per_sec: self.ops_per_sec(w),
            p50_us: self.us(0.5),
            p99_us: self.us(0.99),
            p999_us: self.us(0.999),
            max_us: if self.ops == 0 {
                0.0
            } else {
                self.hist.max() as f64 / 1000.0
            },
            ..Default::default()
        }
    }

    /// Attach a baseline measurement to `r`.
    pub fn baseline_into(&self, r: &mut WorkloadReport, w: &Window) {
        let ops = self.ops_per_sec(w);
        r.baseline = Some("redb".into());
        r.baseline_ops_per_sec = Some(ops);
        r.baseline_p50_us = Some(self.us(0.5));
        r.baseline_p99_us = Some(self.us(0.99));
        r.ratio = (ops > 0.0).then(|| r.ops_per_sec / ops);
        if let Some(p) = crate::sysload::other_cpu_pct(w.start, w.end) {
            r.extra.insert("baseline_other_cpu_pct".into(), p);
        }
    }
}

/// True for report rows that are durable writes (they get `anchor_ratio`).
pub fn is_durable_write(name: &str) -> bool {
    matches!(
        name,
        "state" | "transcript-append" | "checkpoint-write" | "put-batch" | "put" | "put-concurrent"
    )
}

/// The engine under the store a workload runs on (`BenchConfig::engine`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EngineKind {
    /// botstore's embedded engine: journal, memtables, flusher, redb.
    #[default]
    Embedded,
    /// The fjall prototype backend ([`crate::fjall_backend`]), in one of its variants.
    Fjall(FjallVariant),
}

impl EngineKind {
    /// `embedded`, or a fjall variant's name (`fjall`, `fjall-lz4-32k`, `fjall-kv`).
    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Embedded => "embedded",
            EngineKind::Fjall(v) => v.name(),
        }
    }

    /// Every engine, in the order a comparison runs them.
    pub fn all() -> Vec<EngineKind> {
        std::iter::once(EngineKind::Embedded)
            .chain(FjallVariant::ALL.into_iter().map(EngineKind::Fjall))
            .collect()
    }
}

impl std::str::FromStr for EngineKind {
    type Err = BenchError;
    fn from_str(s: &str) -> Result<Self> {
        EngineKind::all()
            .into_iter()
            .find(|e| e.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = EngineKind::all().iter().map(|e| e.name()).collect();
                BenchError(format!(
                    "unknown engine {s:?} (one of {})",
                    names.join(", ")
                ))
            })
    }
}

/// The backend under an [`Engine`]'s store, kept for its writer counters.
#[derive(Clone)]
pub enum Handle {
    Embedded(Arc<EmbeddedBackend>),
    Fjall(Arc<FjallBackend>),
}

impl Handle {
    fn counters(&self) -> Counters {
        match self {
            Handle::Embedded(b) => counters_of(b),
            Handle::Fjall(b) => {
                let c = b.counters();
                Counters {
                    groups: c.groups.load(Ordering::Relaxed),
                    batches: c.batches.load(Ordering::Relaxed),
                    fsyncs: c.fsyncs.load(Ordering::Relaxed),
                    checkpoints: 0,
                }
            }
        }
    }

    fn close(&self) -> botstore::Result<()> {
        match self {
            Handle::Embedded(b) => b.close(),
            Handle::Fjall(b) => b.close(),
        }
    }
}

/// A store on the configured engine with a handle on its backend (for the writer's
/// counters).
pub struct Engine {
    pub store: Store,
    pub backend: Handle,
    pub dir: PathBuf,
}

/// The writer's counters at one moment.
#[derive(Clone, Copy, Debug, Default)]
pub struct Counters {
    pub groups: u64,
    pub batches: u64,
    pub fsyncs: u64,
    pub checkpoints: u64,
}

impl Engine {
    pub fn open(cfg: &BenchConfig, dir: &Path) -> Result<Engine> {
        let dir = dir.join("botstore");
        let _ = std::fs::remove_dir_all(&dir);
        let (backend, handle): (Arc<dyn Backend>, Handle) = match cfg.engine {
            EngineKind::Embedded => {
                let opts = EmbeddedOptions {
                    durability: cfg.durability,
                    cache_size: cfg.cache_size,
                    ..Default::default()
                };
                let b = Arc::new(EmbeddedBackend::open(&dir, opts)?);
                (b.clone(), Handle::Embedded(b))
            }
            EngineKind::Fjall(v) => {
                let b = Arc::new(FjallBackend::open(
                    &dir,
                    v,
                    cfg.durability,
                    cfg.cache_size as u64,
                )?);
                (b.clone(), Handle::Fjall(b))
            }
        };
        // `BOTSTORE_BENCH_COMPRESSION=off` (or any `--compression` settings) measures the
        // store with other compression settings than the default (docs/BENCHMARKS.md).
        let mut so = StoreOptions::default();
        if let Ok(spec) = std::env::var("BOTSTORE_BENCH_COMPRESSION") {
            botstore::CompressionSpec::parse(&spec)?.apply(&mut so.compression);
        }
        let store = Store::with_options(backend, so);
        Ok(Engine {
            store,
            backend: handle,
            dir,
        })
    }

    pub fn counters(&self) -> Counters {
        self.backend.counters()
    }

    /// The writer's counters at the start and at the end of the window (sampled by a task).
    pub fn counters_over(&self, w: &Window) -> tokio::task::JoinHandle<(Counters, Counters)> {
        let b = self.backend.clone();
        let (start, end) = (w.start, w.end);
        tokio::spawn(async move {
            tokio::time::sleep_until(tokio::time::Instant::from_std(start)).await;
            let a = b.counters();
            tokio::time::sleep_until(tokio::time::Instant::from_std(end)).await;
            (a, b.counters())
        })
    }

    /// Checkpoint (so a measurement starts with an empty journal).
    pub async fn sync(&self) -> Result<()> {
        let s = self.store.clone();
        tokio::task::spawn_blocking(move || s.sync()).await??;
        Ok(())
    }

    /// Checkpoint, stop the writer and remove the files.
    pub async fn close(self) -> Result<()> {
        let Engine {
            store,
            backend,
            dir,
        } = self;
        tokio::task::spawn_blocking(move || {
            drop(store);
            backend.close()
        })
        .await??;
        let _ = std::fs::remove_dir_all(dir);
        Ok(())
    }
}

fn counters_of(b: &EmbeddedBackend) -> Counters {
    let m = b.metrics();
    Counters {
        groups: m.groups.load(Ordering::Relaxed),
        batches: m.batches.load(Ordering::Relaxed),
        fsyncs: m.fsyncs.load(Ordering::Relaxed),
        checkpoints: m.checkpoints.load(Ordering::Relaxed),
    }
}

/// Put the writer's activity between two snapshots into `extra` (per second of `secs`).
pub fn writer_extra(r: &mut WorkloadReport, before: Counters, after: Counters, over: Duration) {
    let secs = over.as_secs_f64().max(1e-9);
    let d = |a: u64, b: u64| a.saturating_sub(b) as f64;
    let groups = d(after.groups, before.groups);
    let batches = d(after.batches, before.batches);
    let fsyncs = d(after.fsyncs, before.fsyncs);
    r.extra
        .insert("writer_groups_per_sec".into(), groups / secs);
    r.extra
        .insert("writer_fsyncs_per_sec".into(), fsyncs / secs);
    if groups > 0.0 {
        r.extra.insert("batches_per_group".into(), batches / groups);
    }
    r.extra.insert(
        "checkpoints".into(),
        d(after.checkpoints, before.checkpoints),
    );
}

/// A fresh raw redb database for the baseline.
pub fn baseline_db(cfg: &BenchConfig, dir: &Path) -> Result<(Arc<Database>, PathBuf)> {
    let dir = dir.join("redb");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let db = Database::builder()
        .set_cache_size(cfg.cache_size)
        .create(dir.join("baseline.redb"))?;
    {
        let txn = db.begin_write()?;
        txn.open_table(KV)?;
        txn.commit()?;
    }
    Ok((Arc::new(db), dir))
}

/// One durable redb write transaction running `f` on the table.
pub fn redb_write<T>(
    db: &Database,
    f: impl FnOnce(&mut redb::Table<&[u8], &[u8]>) -> Result<T>,
) -> Result<T> {
    let mut txn = db.begin_write()?;
    txn.set_durability(redb::Durability::Immediate)?;
    let out = {
        let mut t = txn.open_table(KV)?;
        f(&mut t)?
    };
    txn.commit()?;
    Ok(out)
}

/// One slice of the fsync anchor: 1 KiB appended to a growing file and `fdatasync`ed, in a
/// loop, for `dur`; then (for a quarter of that, at least 250 ms) the same 1 KiB writes
/// overwriting a preallocated file, which is what botstore's journal does.
pub struct AnchorSlice {
    pub grow: Tally,
    pub grow_secs: f64,
    pub prealloc: Tally,
    pub prealloc_secs: f64,
}

impl AnchorSlice {
    pub fn ops_per_sec(&self) -> f64 {
        self.grow.ops as f64 / self.grow_secs
    }
}

pub async fn fsync_slice(root: &Path, dur: Duration) -> Result<AnchorSlice> {
    let root = root.to_path_buf();
    tokio::task::spawn_blocking(move || -> Result<AnchorSlice> {
        use std::io::Write;
        use std::os::unix::fs::FileExt;
        let path = root.join("fsync-anchor.dat");
        let block = [0x5au8; 1024];
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&path)?;
        let w = Window::new(Duration::ZERO, dur);
        let mut grow = Tally::new();
        while let Some(t0) = w.next() {
            f.write_all(&block)?;
            f.sync_data()?;
            grow.done(&w, t0);
        }
        drop(f);
        let cap = 16u64 << 20;
        let f = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&path)?;
        let zeros = vec![0u8; 1 << 20];
        let mut off = 0;
        while off < cap {
            f.write_all_at(&zeros, off)?;
            off += zeros.len() as u64;
        }
        f.sync_all()?;
        let w2 = Window::new(Duration::ZERO, (dur / 4).max(Duration::from_millis(250)));
        let mut prealloc = Tally::new();
        let mut off = 0u64;
        while let Some(t0) = w2.next() {
            f.write_all_at(&block, off)?;
            f.sync_data()?;
            off = (off + 1024) % cap;
            prealloc.done(&w2, t0);
        }
        drop(f);
        let _ = std::fs::remove_file(&path);
        Ok(AnchorSlice {
            grow_secs: grow.seconds(&w),
            grow,
            prealloc_secs: prealloc.seconds(&w2),
            prealloc,
        })
    })
    .await?
}

/// The `fsync-anchor` row: every slice of the run together.
pub fn anchor_report(slices: &[AnchorSlice]) -> WorkloadReport {
    let mut grow = Tally::new();
    let mut pre = Tally::new();
    let (mut gs, mut ps) = (0.0, 0.0);
    for s in slices {
        grow.merge(&s.grow);
        pre.merge(&s.prealloc);
        gs += s.grow_secs;
        ps += s.prealloc_secs;
    }
    let gs = f64::max(gs, 1e-9);
    let mut r = WorkloadReport {
        workload: "fsync-anchor".into(),
        writers: 1,
        readers: 0,
        value_size: 1024,
        seconds: gs,
        ops: grow.ops,
        ops_per_sec: grow.ops as f64 / gs,
        p50_us: grow.us(0.5),
        p99_us: grow.us(0.99),
        p999_us: grow.us(0.999),
        max_us: if grow.ops == 0 {
            0.0
        } else {
            grow.hist.max() as f64 / 1000.0
        },
        ..Default::default()
    };
    r.extra.insert("slices".into(), slices.len() as f64);
    if !slices.is_empty() {
        let rates: Vec<f64> = slices.iter().map(AnchorSlice::ops_per_sec).collect();
        r.extra.insert(
            "slice_min_ops_per_sec".into(),
            rates.iter().copied().fold(f64::INFINITY, f64::min),
        );
        r.extra.insert(
            "slice_max_ops_per_sec".into(),
            rates.iter().copied().fold(0.0, f64::max),
        );
    }
    r.extra.insert(
        "prealloc_ops_per_sec".into(),
        pre.ops as f64 / f64::max(ps, 1e-9),
    );
    r.extra.insert("prealloc_p50_us".into(), pre.us(0.5));
    r
}

/// Run `n` OS threads, each looping `op(thread, tally)` until the window ends, and merge
/// their tallies.
pub fn threads<F>(n: usize, w: Window, op: F) -> Result<Tally>
where
    F: Fn(usize, &mut Tally, &Window) -> Result<()> + Send + Sync,
{
    std::thread::scope(|s| {
        let op = &op;
        let handles: Vec<_> = (0..n)
            .map(|i| {
                s.spawn(move || -> Result<Tally> {
                    let mut t = Tally::new();
                    op(i, &mut t, &w)?;
                    Ok(t)
                })
            })
            .collect();
        let mut all = Tally::new();
        for h in handles {
            let t = h
                .join()
                .map_err(|_| BenchError("a benchmark thread panicked".into()))??;
            all.merge(&t);
        }
        Ok(all)
    })
}

/// Run [`threads`] off the async threads.
pub async fn threads_blocking<F>(n: usize, w: Window, op: F) -> Result<Tally>
where
    F: Fn(usize, &mut Tally, &Window) -> Result<()> + Send + Sync + 'static,
{
    if n == 0 {
        return Ok(Tally::new());
    }
    tokio::task::spawn_blocking(move || threads(n, w, op)).await?
}

/// The time one record check takes, in ns: the CRC of a `size`-byte record under a
/// bench-sized key and its comparison, as every read and write of a record pays it
/// (`botstore::record_check`). The fastest of several rounds, so that another process on
/// the machine does not inflate it.
pub fn record_check_ns(size: usize) -> f64 {
    let key = b"bench\0get\0k00000000001234".to_vec();
    let body = vec![0x5au8; size];
    let sealed = botstore::record_check::sealed(botstore::Table::Items, &key, &body);
    let mut best = f64::MAX;
    for _ in 0..7 {
        let (t0, mut n) = (Instant::now(), 0u64);
        while t0.elapsed() < Duration::from_millis(30) {
            for _ in 0..64 {
                let b = botstore::record_check::open(
                    botstore::Table::Items,
                    black_box(&key),
                    black_box(&sealed),
                    "bench",
                );
                black_box(b.map(|b| b.len()).unwrap_or(0));
            }
            n += 64;
        }
        best = best.min(t0.elapsed().as_nanos() as f64 / n as f64);
    }
    best
}

/// Put the record checks' cost in `row.extra`: `record_check_ns` (one check) and
/// `record_check_share`, the fraction of the time of the `threads` threads that do the
/// checks (the readers for reads; the one commit thread, which seals, for writes) that
/// checks took at the measured rate, `records_per_op` records checked or sealed per
/// operation. For a CPU-bound workload that is the throughput the checks cost.
pub fn add_record_check_cost(
    row: &mut WorkloadReport,
    size: usize,
    records_per_op: f64,
    threads: usize,
) {
    let ns = record_check_ns(size);
    let threads = threads.max(1) as f64;
    let share = ns * records_per_op * row.ops_per_sec / threads / 1e9;
    row.extra.insert("record_check_ns".into(), ns);
    row.extra.insert("record_check_share".into(), share);
}
