//! Benchmarks of botstore's embedded engine on realistic bot workloads.
//!
//! [`run`] runs the [`Workload`]s a [`BenchConfig`] names against a fresh embedded store
//! (`botstore_embedded`: a write-ahead journal with group commit in front of redb) and returns
//! one [`WorkloadReport`] per measured operation; [`render_table`] prints them.
//!
//! * Records come from [`gen::Generator`]: Bot Framework activities, conversation states and
//!   LangGraph-style checkpoints whose text is real English dialog (`data/dialog.txt`, from
//!   the `chatterbot-corpus` package), mixed by a seeded RNG.
//! * Latency is recorded per operation in an HDR histogram; reports give p50/p99/p99.9 in
//!   microseconds and the rate in operations per second.
//! * With a [`Baseline`] (`redb`), every workload also runs the same operations on raw redb
//!   in the same run (a fresh database in a temp folder, one table key -> value, one
//!   `Durability::Immediate` commit per write operation), and the report carries
//!   `baseline_ops_per_sec` and `ratio`.
//!
//! **Direction of `ratio`:** `ratio = botstore ops/s / baseline ops/s`. Above 1 botstore is
//! faster than raw redb; 0.8 means botstore takes 1.25x the time per operation.
//!
//! * When a durable write workload runs, an `fsync-anchor` row is added: a loop of 1 KiB
//!   appends + `fdatasync` to a growing file in the data folder, run for `anchor_duration`
//!   right before each durable workload (the row sums every slice). Durable write rows carry
//!   `anchor_ratio = ops/s / the ops/s of the slice measured right before them`.
//! * The `memory` workload loads N items of 1 KiB, serves random gets and reports resident
//!   memory (`VmRSS`, `VmHWM`) beyond the configured engine cache size.
//!
//! `run` must be called from a multi-thread tokio runtime: writers are tokio tasks; readers
//! are OS threads (a bot's reads never wait for the writer, so they are plain CPU work).
//!
//! [`remote`] benchmarks a running server over HTTP (`botstore bench --remote URL`): GETs,
//! durable PUTs and the bot workloads from keep-alive connections, closed-loop or at a fixed
//! rate, next to `redis-benchmark` and `wrk` in the same run.

#![deny(unsafe_code)]

pub mod engines;
pub mod fjall_backend;
pub mod gen;
mod harness;
mod memory;
pub mod remote;
mod sysload;
mod workloads;

pub use botstore_embedded::Durability;
pub use harness::EngineKind;
pub use memory::MemoryReport;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// What went wrong in a benchmark run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BenchError(pub String);

impl fmt::Display for BenchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for BenchError {}

macro_rules! from_errors {
    ($($t:ty),* $(,)?) => {$(
        impl From<$t> for BenchError {
            fn from(e: $t) -> Self {
                BenchError(e.to_string())
            }
        }
    )*};
}
from_errors!(
    botstore::Error,
    botstore::BatchError,
    std::io::Error,
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SetDurabilityError,
    tokio::task::JoinError,
    serde_json::Error,
);

pub type Result<T, E = BenchError> = std::result::Result<T, E>;

/// A named workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Workload {
    /// Conversation state read-modify-write: get, modify, `put_if(IfVersion)`, retry on
    /// `PreconditionFailed`. Rows: `state`.
    State,
    /// Activity appends to per-conversation streams (writers) and tail reads of the last 10
    /// (readers). Rows: `transcript-append`, `transcript-tail`.
    Transcript,
    /// LangGraph-style checkpoints growing by one message per step plus a `latest` pointer
    /// (writers, one atomic batch per step) and reads of the latest checkpoint (readers).
    /// Rows: `checkpoint-write`, `checkpoint-read`.
    Checkpoint,
    /// Point gets of 1 KiB items from reader threads (1 and 2 unless `readers` is set). The
    /// baseline copies the value out (`value().to_vec()`), as `Store::get` returns an owned
    /// value; the no-copy form is in `extra.baseline_nocopy_ops_per_sec`.
    Get,
    /// Atomic batches of 100 puts of 1 KiB from one writer. An op is one batch.
    PutBatch,
    /// Single durable puts of 1 KiB from one writer.
    Put,
    /// Single durable puts of 1 KiB from 64 concurrent writer tasks (or `writers`).
    PutConcurrent,
    /// Load `memory_items` items of 1 KiB, serve random gets, report resident memory.
    Memory,
}

impl Workload {
    pub const ALL: [Workload; 8] = [
        Workload::State,
        Workload::Transcript,
        Workload::Checkpoint,
        Workload::Get,
        Workload::PutBatch,
        Workload::Put,
        Workload::PutConcurrent,
        Workload::Memory,
    ];
    /// Everything but `memory` (which loads a million items and is best run on its own, so
    /// that the process's high-water mark is its own).
    pub const DEFAULT: [Workload; 7] = [
        Workload::State,
        Workload::Transcript,
        Workload::Checkpoint,
        Workload::Get,
        Workload::PutBatch,
        Workload::Put,
        Workload::PutConcurrent,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Workload::State => "state",
            Workload::Transcript => "transcript",
            Workload::Checkpoint => "checkpoint",
            Workload::Get => "get",
            Workload::PutBatch => "put-batch",
            Workload::Put => "put",
            Workload::PutConcurrent => "put-concurrent",
            Workload::Memory => "memory",
        }
    }

    /// True when the workload writes (and so is durable under `Durability::Immediate`).
    pub fn writes(self) -> bool {
        !matches!(self, Workload::Get | Workload::Memory)
    }

    /// Parse a comma-separated list; `all` is every workload, `default` every one but memory.
    pub fn parse_list(s: &str) -> Result<Vec<Workload>> {
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "all" => out.extend(Workload::ALL),
                "default" => out.extend(Workload::DEFAULT),
                p => out.push(p.parse()?),
            }
        }
        let mut seen = std::collections::HashSet::new();
        out.retain(|w| seen.insert(*w));
        if out.is_empty() {
            return Err(BenchError("no workload named".into()));
        }
        Ok(out)
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Workload {
    type Err = BenchError;
    fn from_str(s: &str) -> Result<Self> {
        Workload::ALL
            .into_iter()
            .find(|w| w.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Workload::ALL.iter().map(|w| w.name()).collect();
                BenchError(format!(
                    "unknown workload {s:?} (one of {}, all, default)",
                    names.join(", ")
                ))
            })
    }
}

/// What to compare against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Baseline {
    /// Raw redb 4: a fresh database, one table key -> value, `Durability::Immediate` commits.
    Redb,
}

impl FromStr for Baseline {
    type Err = BenchError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "redb" => Ok(Baseline::Redb),
            _ => Err(BenchError(format!("unknown baseline {s:?} (redb)"))),
        }
    }
}

impl fmt::Display for Baseline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("redb")
    }
}

/// A progress callback: called with a short line before each phase.
pub type Progress = Arc<dyn Fn(&str) + Send + Sync>;

/// What to run and how.
#[derive(Clone)]
pub struct BenchConfig {
    /// Workloads in the order to run them.
    pub workloads: Vec<Workload>,
    /// Writer tasks (`None`: each workload's default: 4 for state/transcript/checkpoint, 1 for
    /// put and put-batch, 64 for put-concurrent). `put` always has one writer.
    pub writers: Option<usize>,
    /// Reader threads (`None`: 2 for transcript/checkpoint/memory; `get` runs 1 and 2).
    pub readers: Option<usize>,
    /// Measured time per workload (and again for its baseline).
    pub duration: Duration,
    /// Unmeasured time before the measurement starts (per workload and per baseline).
    pub warmup: Duration,
    /// Record size in bytes (`None`: 1024; 2048 for state; for checkpoint, each new message's
    /// size, default 256).
    pub value_size: Option<usize>,
    pub baseline: Option<Baseline>,
    /// Where stores are created (a fresh subfolder per workload, removed afterwards).
    /// `None`: a temporary folder.
    pub data_dir: Option<PathBuf>,
    pub durability: Durability,
    /// redb page cache of the embedded engine and of the baseline database.
    pub cache_size: usize,
    /// Preloaded items for get, conversations for state/transcript (`None`: 10,000 for get
    /// and state, 1,000 transcript streams).
    pub keys: Option<usize>,
    /// Items the memory workload loads.
    pub memory_items: usize,
    /// Length of the fsync anchor loop (run once before each durable workload).
    pub anchor_duration: Duration,
    pub seed: u64,
    /// The engine under the store (the embedded engine unless a comparison asks for
    /// another; rows of another engine are named `workload@engine`).
    pub engine: EngineKind,
    pub progress: Option<Progress>,
}

impl Default for BenchConfig {
    fn default() -> Self {
        BenchConfig {
            workloads: Workload::DEFAULT.to_vec(),
            writers: None,
            readers: None,
            duration: Duration::from_secs(3),
            warmup: Duration::from_millis(500),
            value_size: None,
            baseline: None,
            data_dir: None,
            durability: Durability::Immediate,
            cache_size: 64 << 20,
            keys: None,
            memory_items: 1_000_000,
            anchor_duration: Duration::from_secs(2),
            seed: 42,
            engine: EngineKind::Embedded,
            progress: None,
        }
    }
}

impl fmt::Debug for BenchConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BenchConfig")
            .field("workloads", &self.workloads)
            .field("writers", &self.writers)
            .field("readers", &self.readers)
            .field("duration", &self.duration)
            .field("warmup", &self.warmup)
            .field("value_size", &self.value_size)
            .field("baseline", &self.baseline)
            .field("data_dir", &self.data_dir)
            .field("durability", &self.durability)
            .field("cache_size", &self.cache_size)
            .field("keys", &self.keys)
            .field("memory_items", &self.memory_items)
            .field("anchor_duration", &self.anchor_duration)
            .field("seed", &self.seed)
            .field("engine", &self.engine)
            .finish_non_exhaustive()
    }
}

impl BenchConfig {
    fn say(&self, s: &str) {
        if let Some(p) = &self.progress {
            p(s);
        }
    }
}

/// The measurement of one operation of one workload.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkloadReport {
    /// Row name: the workload, or `workload-operation` for workloads with several
    /// operations (`transcript-append`), or `fsync-anchor`.
    pub workload: String,
    /// Concurrent writer tasks and reader threads of the phase this row was measured in.
    pub writers: usize,
    pub readers: usize,
    /// Record size in bytes.
    pub value_size: usize,
    /// Measured seconds.
    pub seconds: f64,
    /// Completed operations in the measured time.
    pub ops: u64,
    pub ops_per_sec: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
    /// The baseline that ran (`redb`), if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<String>,
    /// The same operations on the baseline, in the same run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_ops_per_sec: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_p50_us: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_p99_us: Option<f64>,
    /// `ops_per_sec / baseline_ops_per_sec` (above 1: botstore is faster).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratio: Option<f64>,
    /// For durable writes: `ops_per_sec` / the fsync rate measured right before this workload
    /// (a slice of the `fsync-anchor` loop; its rate is in `extra.anchor_ops_per_sec`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchor_ratio: Option<f64>,
    /// The memory workload's figures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemoryReport>,
    /// Further counters: writer groups/batches/fsyncs per second, retries, speedups, and
    /// `other_cpu_pct` / `baseline_other_cpu_pct`: the share of the machine's CPU that other
    /// processes used while this row (its baseline) was measured.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, f64>,
    /// Requests that failed (remote workloads: any non-2xx answer or broken connection;
    /// the counts per kind are in `extra`, e.g. `http_500`, `io`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<u64>,
    /// What a reader of the figures should know: the commands an anchor ran, the first
    /// error, request slots an open loop could not send.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Run the configured workloads. Call from a multi-thread tokio runtime.
pub async fn run(cfg: &BenchConfig) -> Result<Vec<WorkloadReport>> {
    if cfg.workloads.is_empty() {
        return Err(BenchError("no workload to run".into()));
    }
    if cfg.duration.is_zero() {
        return Err(BenchError("duration must be above zero".into()));
    }
    sysload::start();
    let tmp;
    let root = match &cfg.data_dir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            d.clone()
        }
        None => {
            tmp = tempfile::Builder::new()
                .prefix("botstore-bench")
                .tempdir()?;
            tmp.path().to_path_buf()
        }
    };
    let mut reports = Vec::new();
    let durable = cfg.durability == Durability::Immediate;
    let mut slices = Vec::new();
    for (i, w) in cfg.workloads.iter().enumerate() {
        // The disk's fsync rate drifts (a shared virtual disk can change several-fold within
        // a minute), so the anchor is measured right before each durable workload and that
        // workload's rows are compared with the slice next to them.
        let anchor = if durable && w.writes() && !cfg.anchor_duration.is_zero() {
            cfg.say(&format!(
                "fsync-anchor before {w}: 1 KiB append + fdatasync loop"
            ));
            let s = harness::fsync_slice(&root, cfg.anchor_duration).await?;
            let rate = s.ops_per_sec();
            slices.push(s);
            Some(rate)
        } else {
            None
        };
        let dir = root.join(format!("{:02}-{}", i, w.name()));
        let mut rows = match w {
            Workload::Memory => vec![memory::run(cfg, &dir).await?],
            w => workloads::run(*w, cfg, &dir).await?,
        };
        let _ = std::fs::remove_dir_all(&dir);
        if let Some(a) = anchor.filter(|a| *a > 0.0) {
            for r in rows
                .iter_mut()
                .filter(|r| harness::is_durable_write(&r.workload))
            {
                r.anchor_ratio = Some(r.ops_per_sec / a);
                r.extra.insert("anchor_ops_per_sec".into(), a);
            }
        }
        if cfg.engine != EngineKind::Embedded {
            for r in &mut rows {
                r.workload = format!("{}@{}", r.workload, cfg.engine.name());
            }
        }
        reports.extend(rows);
    }
    if !slices.is_empty() {
        reports.insert(0, harness::anchor_report(&slices));
    }
    Ok(reports)
}

/// The reports as a Markdown table (one row per report, then the memory figures if any).
/// `W/R`: writers/readers; `ratio`: ops/s over the baseline's; `vs fsync`: ops/s over the
/// fsync anchor measured right before; `others' CPU`: the share of the machine's CPU other
/// processes used during the measurement (botstore phase / baseline phase).
pub fn render_table(reports: &[WorkloadReport]) -> String {
    let mut rows: Vec<[String; 11]> = vec![[
        "workload".into(),
        "W/R".into(),
        "size".into(),
        "ops/s".into(),
        "p50 µs".into(),
        "p99 µs".into(),
        "p99.9 µs".into(),
        "baseline ops/s".into(),
        "ratio".into(),
        "vs fsync".into(),
        "others' CPU".into(),
    ]];
    for r in reports {
        rows.push([
            r.workload.clone(),
            format!("{}/{}", r.writers, r.readers),
            r.value_size.to_string(),
            num(r.ops_per_sec),
            lat(r.p50_us),
            lat(r.p99_us),
            lat(r.p999_us),
            r.baseline_ops_per_sec.map(num).unwrap_or_default(),
            r.ratio.map(|x| format!("{x:.2}")).unwrap_or_default(),
            r.anchor_ratio
                .map(|x| format!("{x:.2}x"))
                .unwrap_or_default(),
            others_cpu(r),
        ]);
    }
    let widths: Vec<usize> = (0..11)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for (i, r) in rows.iter().enumerate() {
        out.push('|');
        for (c, cell) in r.iter().enumerate() {
            let pad = widths[c] - cell.chars().count();
            if c == 0 {
                out.push_str(&format!(" {cell}{} |", " ".repeat(pad)));
            } else {
                out.push_str(&format!(" {}{cell} |", " ".repeat(pad)));
            }
        }
        out.push('\n');
        if i == 0 {
            out.push('|');
            for (c, w) in widths.iter().enumerate() {
                if c == 0 {
                    out.push_str(&format!(":{}|", "-".repeat(w + 1)));
                } else {
                    out.push_str(&format!("{}:|", "-".repeat(w + 1)));
                }
            }
            out.push('\n');
        }
    }
    for r in reports {
        if let Some(m) = &r.memory {
            out.push_str(&format!(
                "\n{}: {} items of {} B, cache {:.0} MiB: VmRSS {:.0} MiB ({:.0} MiB beyond the cache), \
                 VmHWM {:.0} MiB ({:.0} MiB beyond the cache); before the store: {:.0} MiB; \
                 load {:.1} s\n",
                r.workload,
                m.items,
                r.value_size,
                m.cache_mib,
                m.rss_mib,
                m.rss_beyond_cache_mib,
                m.hwm_mib,
                m.hwm_beyond_cache_mib,
                m.rss_before_mib,
                m.load_seconds
            ));
        }
    }
    out
}

/// Other processes' share of the machine's CPU while the row (and its baseline) ran.
fn others_cpu(r: &WorkloadReport) -> String {
    let p = |k: &str| r.extra.get(k).map(|x| format!("{x:.0}%"));
    match (p("other_cpu_pct"), p("baseline_other_cpu_pct")) {
        (Some(a), Some(b)) => format!("{a}/{b}"),
        (Some(a), None) => a,
        _ => String::new(),
    }
}

pub(crate) fn num(x: f64) -> String {
    if x >= 100.0 {
        let s = format!("{:.0}", x);
        let mut out = String::new();
        for (i, ch) in s.chars().enumerate() {
            if i > 0 && (s.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(ch);
        }
        out
    } else {
        format!("{x:.1}")
    }
}

pub(crate) fn lat(us: f64) -> String {
    if us >= 100.0 {
        format!("{us:.0}")
    } else {
        format!("{us:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workload_names_round_trip() {
        for w in Workload::ALL {
            assert_eq!(w.name().parse::<Workload>().unwrap(), w);
        }
        assert_eq!(Workload::parse_list("all").unwrap().len(), 8);
        assert_eq!(
            Workload::parse_list("get, put,get").unwrap(),
            vec![Workload::Get, Workload::Put]
        );
        assert!(Workload::parse_list("nope").is_err());
        assert_eq!("redb".parse::<Baseline>().unwrap(), Baseline::Redb);
    }

    #[test]
    fn report_serialises_with_the_required_names() {
        let mut r = WorkloadReport {
            workload: "get".into(),
            ops: 10,
            ops_per_sec: 1234.5,
            p50_us: 1.5,
            p99_us: 9.0,
            p999_us: 20.0,
            ..Default::default()
        };
        let v = serde_json::to_value(&r).unwrap();
        for k in ["workload", "ops_per_sec", "p50_us", "p99_us", "p999_us"] {
            assert!(v.get(k).is_some(), "{k} missing in {v}");
        }
        assert!(v.get("ratio").is_none() && v.get("baseline_ops_per_sec").is_none());
        r.baseline = Some("redb".into());
        r.baseline_ops_per_sec = Some(1000.0);
        r.ratio = Some(1.2345);
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["baseline_ops_per_sec"], serde_json::json!(1000.0));
        assert_eq!(v["ratio"], serde_json::json!(1.2345));
        let back: WorkloadReport = serde_json::from_value(v).unwrap();
        assert_eq!(back, r);
        let t = render_table(&[r]);
        assert!(t.contains("| get") && t.contains("1,234") && t.contains("1.23"));
    }
}
