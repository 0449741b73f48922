//! Benchmarks of a botstore server over HTTP (`botstore bench --remote URL`).
//!
//! [`run`] preloads what a workload needs through the API, then drives it from
//! `concurrency` keep-alive HTTP/1.1 connections (hyper's low-level client, one connection
//! per task, on a runtime of `client_threads` threads so that the load generator leaves the
//! server the rest of the machine), closed-loop or at a fixed request rate. Every non-2xx
//! answer and every broken connection counts as an error and is reported.
//!
//! With [`RemoteBaseline::Redis`], the same run measures `redis-benchmark` next to the
//! matching workload: GET and SET against the Redis at `redis_host:redis_port`, and SET
//! against a throwaway `redis-server` with `appendfsync always` (started on
//! `redis_durable_port`, killed afterwards) as the anchor for durable PUTs. With `wrk`,
//! random GETs are also measured by `wrk`, a C load generator, to separate the cost of our
//! client from the server's.
//!
//! Rows: `get`, `put`, `state`, `transcript-append`, `transcript-tail`; open-loop rows
//! are named `<workload>@<rate>/s` (or `@50%` for half the closed-loop peak); anchors
//! `redis-get`, `redis-set`, `redis-set-always`, and `get-wrk`.

mod external;
mod http;
mod load;
mod procs;

pub use external::{parse_redis_csv, parse_wrk, RedisResult, WrkResult};
pub use http::Target;

use crate::gen::Generator;
use crate::harness::{Tally, Window};
use crate::{BenchError, Progress, Result, WorkloadReport};
use botstore::Namespace;
use botstore_api::paths;
use bytes::Bytes;
use hyper::{Method, Uri};
use load::{Job, Measured};
use rand::rngs::SmallRng;
use rand::SeedableRng;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A workload over HTTP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RemoteWorkload {
    /// `GET /v1/items/{ns}/{key}` of random preloaded items (10,000 of 1 KiB by default).
    Get,
    /// `PUT /v1/items/{ns}/{key}` of 1 KiB JSON values under random keys (out of a million),
    /// acknowledged when durable.
    Put,
    /// Conversation state read-modify-write: GET, count the turn, PUT with `If-Match`,
    /// again on `412` (counted as `retries`). 10,000 states of 2 KiB by default.
    State,
    /// Half the connections append one activity to a random one of 1,000 transcripts
    /// (`POST .../{stream}:append`), the other half read the last 10 entries of one.
    Transcript,
}

impl RemoteWorkload {
    pub const ALL: [RemoteWorkload; 4] = [
        RemoteWorkload::Get,
        RemoteWorkload::Put,
        RemoteWorkload::State,
        RemoteWorkload::Transcript,
    ];

    pub fn name(self) -> &'static str {
        match self {
            RemoteWorkload::Get => "get",
            RemoteWorkload::Put => "put",
            RemoteWorkload::State => "state",
            RemoteWorkload::Transcript => "transcript",
        }
    }

    /// A comma-separated list; `default` and `all` are all four.
    pub fn parse_list(s: &str) -> Result<Vec<RemoteWorkload>> {
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "all" | "default" => out.extend(RemoteWorkload::ALL),
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

impl fmt::Display for RemoteWorkload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for RemoteWorkload {
    type Err = BenchError;
    fn from_str(s: &str) -> Result<Self> {
        RemoteWorkload::ALL
            .into_iter()
            .find(|w| w.name() == s)
            .ok_or_else(|| {
                BenchError(format!(
                    "unknown workload {s:?} with --remote (one of get, put, state, transcript, all)"
                ))
            })
    }
}

/// Open-loop request rate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Rate {
    /// This many requests per second in total, over all connections.
    PerSec(f64),
    /// Measure the peak closed-loop first, then run at half of it (both rows reported).
    HalfPeak,
}

impl FromStr for Rate {
    type Err = BenchError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "half" | "half-peak" | "50%" => Ok(Rate::HalfPeak),
            _ => s
                .parse::<f64>()
                .ok()
                .filter(|r| r.is_finite() && *r > 0.0)
                .map(Rate::PerSec)
                .ok_or_else(|| {
                    BenchError(format!(
                        "bad rate {s:?}: requests per second (e.g. 20000) or `half`"
                    ))
                }),
        }
    }
}

/// What the remote workloads are compared with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemoteBaseline {
    /// `redis-benchmark`: GET/SET against a Redis, SET against a throwaway Redis with
    /// `appendfsync always`.
    Redis,
}

impl FromStr for RemoteBaseline {
    type Err = BenchError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "redis" => Ok(RemoteBaseline::Redis),
            _ => Err(BenchError(format!(
                "unknown baseline {s:?} with --remote (redis)"
            ))),
        }
    }
}

/// What to run against which server.
#[derive(Clone)]
pub struct RemoteConfig {
    /// `http://host:port` of a running `botstore serve`.
    pub url: String,
    /// API token (none for a server started with `--insecure-dev`).
    pub token: Option<String>,
    pub workloads: Vec<RemoteWorkload>,
    /// Connections (one task each).
    pub concurrency: usize,
    /// Measured time per phase.
    pub duration: Duration,
    /// Unmeasured time before each phase (connections are open and busy).
    pub warmup: Duration,
    /// Value size (`None`: 1024; 2048 for `state`).
    pub value_size: Option<usize>,
    /// Open loop (`None`: closed loop only).
    pub rate: Option<Rate>,
    /// Preloaded items for get, conversations for state, streams for transcript
    /// (`None`: 10,000, 10,000, 1,000).
    pub keys: Option<usize>,
    /// Threads of the load generator's runtime (1: a current-thread runtime, like
    /// `redis-benchmark`'s single thread).
    pub client_threads: usize,
    pub baseline: Option<RemoteBaseline>,
    /// The Redis for the GET/SET anchor.
    pub redis_host: String,
    pub redis_port: u16,
    /// The port of the throwaway `appendfsync always` Redis.
    pub redis_durable_port: u16,
    /// `redis-benchmark -n` for GET/SET and for the durable SET.
    pub redis_requests: u64,
    pub redis_durable_requests: u64,
    /// Where the throwaway Redis keeps its append-only file (`None`: the system's temporary
    /// folder; put it on the server's disk for a fair durable comparison).
    pub data_dir: Option<PathBuf>,
    /// Also measure random GETs with `wrk` (if installed).
    pub wrk: bool,
    pub wrk_threads: usize,
    pub seed: u64,
    pub progress: Option<Progress>,
}

impl Default for RemoteConfig {
    fn default() -> Self {
        RemoteConfig {
            url: "http://127.0.0.1:7700".into(),
            token: None,
            workloads: RemoteWorkload::ALL.to_vec(),
            concurrency: 50,
            duration: Duration::from_secs(5),
            warmup: Duration::from_secs(1),
            value_size: None,
            rate: None,
            keys: None,
            client_threads: 1,
            baseline: None,
            redis_host: "127.0.0.1".into(),
            redis_port: 6379,
            redis_durable_port: 6390,
            redis_requests: 200_000,
            redis_durable_requests: 100_000,
            data_dir: None,
            wrk: false,
            wrk_threads: 1,
            seed: 42,
            progress: None,
        }
    }
}

impl fmt::Debug for RemoteConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteConfig")
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .field("workloads", &self.workloads)
            .field("concurrency", &self.concurrency)
            .field("duration", &self.duration)
            .field("rate", &self.rate)
            .field("baseline", &self.baseline)
            .finish_non_exhaustive()
    }
}

impl RemoteConfig {
    fn say(&self, s: &str) {
        if let Some(p) = &self.progress {
            p(s);
        }
    }
}

/// Run the configured workloads against the server. Call from a tokio runtime; the load
/// generator runs on a runtime of its own (`client_threads`) on a blocking thread.
pub async fn run(cfg: &RemoteConfig) -> Result<Vec<WorkloadReport>> {
    if cfg.duration.is_zero() {
        return Err(BenchError("duration must be above zero".into()));
    }
    if cfg.concurrency == 0 {
        return Err(BenchError("concurrency must be at least 1".into()));
    }
    if cfg.workloads.is_empty() {
        return Err(BenchError("no workload to run".into()));
    }
    crate::sysload::start();
    let cfg = cfg.clone();
    tokio::task::spawn_blocking(move || {
        let mut b = if cfg.client_threads <= 1 {
            tokio::runtime::Builder::new_current_thread()
        } else {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(cfg.client_threads);
            b
        };
        let rt = b.enable_all().thread_name("bench-client").build()?;
        rt.block_on(run_on_client_runtime(&cfg))
    })
    .await?
}

async fn run_on_client_runtime(cfg: &RemoteConfig) -> Result<Vec<WorkloadReport>> {
    let mut target = Target::parse(&cfg.url, cfg.token.as_deref())?;
    // A server on this machine: its CPU time is read from /proc for every phase.
    if let Some(port) = target.loopback_port() {
        target.server_pid = procs::listener_pid(port);
    }
    let target = Arc::new(target);
    // Fail early and clearly when nothing listens there.
    http::Conn::open(target.clone())
        .await
        .map_err(|e| BenchError(format!("{} (is `botstore serve` running?)", e.0)))?;
    // Each run writes under its own namespace, so runs against one server do not collide.
    let run_id = format!("r{:x}", crate::gen::now_ms());
    let mut rows = Vec::new();
    for w in &cfg.workloads {
        let r = match w {
            RemoteWorkload::Get => get(cfg, &target, &run_id).await?,
            RemoteWorkload::Put => put(cfg, &target, &run_id).await?,
            RemoteWorkload::State => state(cfg, &target, &run_id).await?,
            RemoteWorkload::Transcript => transcript(cfg, &target, &run_id).await?,
        };
        rows.extend(r);
    }
    Ok(rows)
}

/// The phases a workload runs: closed loop, and/or open loop at a rate.
enum Phase {
    Closed,
    Open(f64),
    HalfOfPeak,
}

fn phases(cfg: &RemoteConfig) -> Vec<Phase> {
    match cfg.rate {
        None => vec![Phase::Closed],
        Some(Rate::PerSec(r)) => vec![Phase::Open(r)],
        Some(Rate::HalfPeak) => vec![Phase::Closed, Phase::HalfOfPeak],
    }
}

/// Makes the job of connection `i`.
type MakeJob<'a> = Box<dyn Fn(usize) -> Job + 'a>;

/// Run one phase of `rows` — `(row name, writer connections, reader connections, make)` —
/// at `rate` (closed loop when `None`) and make one report per row, named with `suffix`.
async fn measure(
    cfg: &RemoteConfig,
    target: &Arc<Target>,
    rows: &[(&str, usize, usize, &MakeJob<'_>)],
    rate: Option<f64>,
    suffix: &str,
    size: usize,
) -> Result<Vec<WorkloadReport>> {
    let mut jobs = Vec::new();
    let mut owner = Vec::new();
    let mut conn = 0;
    for (ri, (_, writers, readers, make)) in rows.iter().enumerate() {
        for _ in 0..(writers + readers) {
            jobs.push(make(conn));
            owner.push(ri);
            conn += 1;
        }
    }
    let w = Window::new(cfg.warmup, cfg.duration);
    let cpu = target.server_pid.map(|pid| {
        tokio::spawn(async move {
            tokio::time::sleep_until(tokio::time::Instant::from_std(w.start)).await;
            let mark = procs::CpuMark::now(pid)?;
            tokio::time::sleep_until(tokio::time::Instant::from_std(w.end)).await;
            mark.since()
        })
    });
    let (measured, dropped) = load::drive(target, jobs, w, rate).await?;
    let cpu = match cpu {
        Some(h) => h.await?,
        None => None,
    };
    // Requests of every row in the window (successful or not) share the server's CPU.
    let requests: u64 = measured.iter().map(|m| m.requests).sum();
    let mut merged: Vec<Measured> = rows.iter().map(|_| Measured::new()).collect();
    for (m, ri) in measured.iter().zip(owner) {
        merged[ri].merge(m);
    }
    let mut out = Vec::new();
    let total_conns: usize = rows.iter().map(|r| r.1 + r.2).sum();
    for ((name, writers, readers, _), m) in rows.iter().zip(&merged) {
        let name = format!("{name}{suffix}");
        let mut r = row(
            &name,
            m,
            &w,
            *writers,
            *readers,
            size,
            total_conns,
            rate,
            dropped,
        );
        server_cpu(&mut r, cpu, requests);
        out.push(r);
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn row(
    name: &str,
    m: &Measured,
    w: &Window,
    writers: usize,
    readers: usize,
    size: usize,
    conns: usize,
    rate: Option<f64>,
    dropped: u64,
) -> WorkloadReport {
    let mut r = m.tally.report(name, w, writers, readers, size);
    r.errors = Some(m.errors);
    if m.requests != m.tally.ops + m.errors {
        r.extra.insert("http_requests".into(), m.requests as f64);
        r.extra.insert(
            "http_requests_per_sec".into(),
            m.requests as f64 / r.seconds.max(1e-9),
        );
    }
    r.extra.insert("connections".into(), conns as f64);
    if let Some(p) = crate::sysload::own_cpu_pct(w.start, w.end) {
        r.extra.insert("client_cpu_pct".into(), p);
    }
    for (k, v) in &m.tally.counters {
        r.extra.insert((*k).to_string(), *v as f64);
    }
    if let Some(rate) = rate {
        r.extra.insert("target_rate".into(), rate);
        r.extra.insert("dropped_slots".into(), dropped as f64);
        if m.service.ops > 0 {
            r.extra.insert("service_p50_us".into(), us(&m.service, 0.5));
            r.extra
                .insert("service_p99_us".into(), us(&m.service, 0.99));
            r.extra.insert("lag_p50_us".into(), us(&m.lag, 0.5));
            r.extra.insert("lag_p99_us".into(), us(&m.lag, 0.99));
        }
        if dropped > 0 {
            r.notes.push(format!(
                "{name}: {dropped} request slots were never sent: the server did not keep up with {rate:.0}/s"
            ));
        }
    }
    if let Some(s) = &m.sample {
        r.notes
            .push(format!("{name}: {} errors; the first: {s}", m.errors));
    }
    r
}

/// A command line as a shell would take it back (empty and spaced words quoted).
fn shell_words(cmd: &[String]) -> String {
    cmd.iter()
        .map(|w| {
            if w.is_empty() || w.contains(char::is_whitespace) {
                format!("'{w}'")
            } else {
                w.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Put the server's CPU use over a measurement into `r`: `server_cores` (cores busy on
/// average) and `server_cpu_us_per_req` (CPU time per request of the whole phase).
fn server_cpu(r: &mut WorkloadReport, cpu: Option<(f64, f64)>, requests: u64) {
    if let Some((cores, secs)) = cpu {
        r.extra.insert("server_cores".into(), cores);
        if requests > 0 {
            r.extra
                .insert("server_cpu_us_per_req".into(), secs * 1e6 / requests as f64);
        }
    }
}

/// Run `f` (a blocking command that makes `requests` requests) and measure the CPU the
/// process listening on `port` used meanwhile.
fn with_server_cpu<T>(port: u16, f: impl FnOnce() -> Result<T>) -> Result<(T, Option<(f64, f64)>)> {
    let mark = procs::listener_pid(port).and_then(procs::CpuMark::now);
    let out = f()?;
    Ok((out, mark.and_then(|m| m.since())))
}

fn us(t: &Tally, q: f64) -> f64 {
    t.hist.value_at_quantile(q) as f64 / 1000.0
}

/// Run every phase of a workload; after a closed-loop phase, `@50%` runs at half of the
/// rate the closed loop reached (summed over `rows`).
async fn phased(
    cfg: &RemoteConfig,
    target: &Arc<Target>,
    rows: &[(&str, usize, usize, &MakeJob<'_>)],
    size: usize,
) -> Result<Vec<WorkloadReport>> {
    let mut out: Vec<WorkloadReport> = Vec::new();
    let mut peak = 0.0;
    for p in phases(cfg) {
        let rate = match p {
            Phase::Closed => None,
            Phase::Open(r) => Some(r),
            Phase::HalfOfPeak => Some(peak / 2.0),
        };
        let label = rate.map_or("closed loop".to_string(), |r| format!("{r:.0} requests/s"));
        cfg.say(&format!(
            "{}: {} connections, {label}",
            rows.iter().map(|r| r.0).collect::<Vec<_>>().join(" + "),
            rows.iter().map(|r| r.1 + r.2).sum::<usize>()
        ));
        if rate.is_some_and(|r| r <= 0.0) {
            continue;
        }
        let suffix = match (&p, rate) {
            (Phase::HalfOfPeak, _) => "@50%".to_string(),
            (_, Some(r)) => format!("@{}/s", r.round()),
            (_, None) => String::new(),
        };
        let mut rs = measure(cfg, target, rows, rate, &suffix, size).await?;
        match p {
            Phase::Closed => peak = rs.iter().map(|r| r.ops_per_sec).sum(),
            Phase::HalfOfPeak => {
                for r in &mut rs {
                    r.extra.insert("peak_ops_per_sec".into(), peak);
                }
            }
            Phase::Open(_) => {}
        }
        out.extend(rs);
    }
    Ok(out)
}

fn pool(seed: u64, n: usize, size: usize) -> Arc<Vec<Bytes>> {
    let mut g = Generator::new(seed);
    Arc::new(g.pool(n, size).into_iter().map(Bytes::from).collect())
}

fn rng(seed: u64, i: usize) -> SmallRng {
    SmallRng::seed_from_u64(seed ^ (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// Put the Redis row's figures into ours as the baseline (closed-loop rows only: an open
/// loop's rate is its target, not a capacity).
fn against(r: &mut WorkloadReport, base: &WorkloadReport) {
    if r.extra.contains_key("target_rate") {
        return;
    }
    r.baseline = Some(base.workload.clone());
    r.baseline_ops_per_sec = Some(base.ops_per_sec);
    r.baseline_p50_us = Some(base.p50_us);
    r.baseline_p99_us = Some(base.p99_us);
    r.ratio = (base.ops_per_sec > 0.0).then(|| r.ops_per_sec / base.ops_per_sec);
}

fn redis_row(
    name: &str,
    x: &RedisResult,
    conns: usize,
    size: usize,
    cmd: &[String],
) -> WorkloadReport {
    let mut r = WorkloadReport {
        workload: name.into(),
        writers: if name == "redis-get" { 0 } else { conns },
        readers: if name == "redis-get" { conns } else { 0 },
        value_size: size,
        ops_per_sec: x.rps,
        p50_us: x.p50_us,
        p99_us: x.p99_us,
        max_us: x.max_us,
        ..Default::default()
    };
    r.extra.insert("connections".into(), conns as f64);
    r.notes.push(format!("{name}: `{}`", shell_words(cmd)));
    r
}

/// The Redis GET/SET anchor against the shared Redis: SET (which also loads the keys),
/// then GET, as two runs so that each gets the server's CPU of its own.
async fn redis_get_set(
    cfg: &RemoteConfig,
    size: usize,
    keys: usize,
) -> Result<Vec<WorkloadReport>> {
    let mut out = Vec::new();
    for (test, name) in [("set", "redis-set"), ("get", "redis-get")] {
        let cmd = external::redis_benchmark_cmd(
            &cfg.redis_host,
            cfg.redis_port,
            cfg.concurrency,
            cfg.redis_requests,
            size,
            keys,
            test,
        );
        cfg.say(&format!("redis: {}", cmd.join(" ")));
        let (c2, port) = (cmd.clone(), cfg.redis_port);
        let local = is_loopback(&cfg.redis_host);
        let t0 = Instant::now();
        let (res, cpu) = tokio::task::spawn_blocking(move || {
            if local {
                with_server_cpu(port, || external::redis_benchmark(&c2))
            } else {
                Ok((external::redis_benchmark(&c2)?, None))
            }
        })
        .await??;
        let (from, to) = (t0, Instant::now());
        let x = res
            .iter()
            .find(|x| x.test.eq_ignore_ascii_case(test))
            .ok_or_else(|| BenchError(format!("redis-benchmark printed no {test} line")))?;
        let mut r = redis_row(name, x, cfg.concurrency, size, &cmd);
        r.seconds = (to - from).as_secs_f64();
        r.ops = cfg.redis_requests;
        server_cpu(&mut r, cpu, cfg.redis_requests);
        if let Some(p) = crate::sysload::other_cpu_pct(from, to) {
            r.extra.insert("other_cpu_pct".into(), p);
        }
        out.push(r);
    }
    Ok(out)
}

fn is_loopback(host: &str) -> bool {
    host == "localhost" || host.starts_with("127.") || host == "::1" || host == "[::1]"
}

/// The durable SET anchor: a throwaway Redis with `appendfsync always`.
async fn redis_set_always(cfg: &RemoteConfig, size: usize) -> Result<WorkloadReport> {
    let (port, dir, n, conns) = (
        cfg.redis_durable_port,
        cfg.data_dir.clone(),
        cfg.redis_durable_requests,
        cfg.concurrency,
    );
    let cmd = external::redis_benchmark_cmd("127.0.0.1", port, conns, n, size, 1_000_000, "set");
    cfg.say(&format!(
        "redis: SET with appendfsync always on port {port}: {}",
        cmd.join(" ")
    ));
    let c2 = cmd.clone();
    let ((res, cpu), server_cmd, from, to) = tokio::task::spawn_blocking(move || {
        let server = external::DurableRedis::start(port, dir.as_deref())?;
        let t0 = Instant::now();
        let res = with_server_cpu(port, || external::redis_benchmark(&c2));
        let t1 = Instant::now();
        let server_cmd = server.cmd.clone();
        drop(server);
        Ok::<_, BenchError>((res?, server_cmd, t0, t1))
    })
    .await??;
    let x = res
        .iter()
        .find(|x| x.test == "SET")
        .ok_or_else(|| BenchError("redis-benchmark printed no SET line".into()))?;
    let mut r = redis_row("redis-set-always", x, conns, size, &cmd);
    r.seconds = (to - from).as_secs_f64();
    r.ops = n;
    server_cpu(&mut r, cpu, n);
    if let Some(p) = crate::sysload::other_cpu_pct(from, to) {
        r.extra.insert("other_cpu_pct".into(), p);
    }
    r.notes.push(format!(
        "redis-set-always: server `{}` (killed afterwards)",
        shell_words(&server_cmd)
    ));
    Ok(r)
}

// ---------------------------------------------------------------- get

async fn get(cfg: &RemoteConfig, target: &Arc<Target>, run: &str) -> Result<Vec<WorkloadReport>> {
    let size = cfg.value_size.unwrap_or(1024);
    let n = cfg.keys.unwrap_or(10_000).clamp(1, 1_000_000);
    let ns = Namespace::new(["bench", run, "get"]);
    let keys: Vec<String> = (0..n).map(|i| format!("k{i:06}")).collect();
    let uris: Vec<Uri> = keys
        .iter()
        .map(|k| target.uri(&paths::item(&ns, k)))
        .collect::<Result<_>>()?;
    let values = pool(cfg.seed, 256, size);
    cfg.say(&format!("get: preloading {n} items of {size} B over HTTP"));
    let reqs = uris
        .iter()
        .enumerate()
        .map(|(i, u)| (Method::PUT, u.clone(), values[i % values.len()].clone()))
        .collect();
    load::preload(target, reqs, cfg.concurrency).await?;
    let redis = match cfg.baseline {
        Some(RemoteBaseline::Redis) => redis_get_set(cfg, size, n).await?,
        None => Vec::new(),
    };
    let uris = Arc::new(uris);
    let seed = cfg.seed;
    let make: MakeJob = Box::new(|i| Job::Get {
        uris: uris.clone(),
        rng: rng(seed, i),
    });
    let mut rows = phased(cfg, target, &[("get", 0, cfg.concurrency, &make)], size).await?;
    if cfg.wrk {
        if external::installed("wrk") {
            let prefix = format!("{}{}", target.base, paths::item(&ns, "k"));
            rows.push(wrk_row(cfg, target, &prefix, n, size).await?);
        } else {
            cfg.say("wrk is not installed: no get-wrk row (apt-get install wrk)");
        }
    }
    if let Some(base) = redis.iter().find(|r| r.workload == "redis-get") {
        for r in &mut rows {
            against(r, base);
        }
    }
    let mut out = redis;
    out.extend(rows);
    Ok(out)
}

async fn wrk_row(
    cfg: &RemoteConfig,
    target: &Arc<Target>,
    prefix: &str,
    keys: usize,
    size: usize,
) -> Result<WorkloadReport> {
    cfg.say("get: wrk");
    let dir = tempfile::Builder::new()
        .prefix("botstore-bench-wrk")
        .tempdir()?;
    let (url, token, path_prefix) = (target.url.clone(), cfg.token.clone(), prefix.to_string());
    let (threads, conns, secs) = (cfg.wrk_threads, cfg.concurrency, cfg.duration.as_secs_f64());
    let mark = target.server_pid.and_then(procs::CpuMark::now);
    let t0 = Instant::now();
    let (x, cmd) = tokio::task::spawn_blocking(move || {
        external::wrk_get(&external::WrkGet {
            url: &url,
            token: token.as_deref(),
            path_prefix: &path_prefix,
            keys,
            threads,
            conns,
            secs,
            script_dir: dir.path(),
        })
    })
    .await??;
    let t1 = Instant::now();
    let mut r = WorkloadReport {
        workload: "get-wrk".into(),
        writers: 0,
        readers: conns,
        value_size: size,
        seconds: (t1 - t0).as_secs_f64(),
        ops: x.requests,
        ops_per_sec: x.rps,
        p50_us: x.p50_us,
        p99_us: x.p99_us,
        errors: Some(x.errors),
        ..Default::default()
    };
    server_cpu(&mut r, mark.and_then(|m| m.since()), x.requests);
    r.extra.insert("connections".into(), conns as f64);
    if let Some(p) = crate::sysload::other_cpu_pct(t0, t1) {
        r.extra.insert("other_cpu_pct".into(), p);
    }
    r.notes.push(format!(
        "get-wrk: `{}` (its Lua script GETs {prefix}NNNNNN, NNNNNN random below {keys})",
        shell_words(&cmd)
    ));
    Ok(r)
}

// ---------------------------------------------------------------- put

async fn put(cfg: &RemoteConfig, target: &Arc<Target>, run: &str) -> Result<Vec<WorkloadReport>> {
    let size = cfg.value_size.unwrap_or(1024);
    let ns = Namespace::new(["bench", run, "put"]);
    // `item(ns, "")` ends in `/`: the key is appended per request (hex, nothing to escape).
    let prefix = paths::item(&ns, "");
    let redis = match cfg.baseline {
        Some(RemoteBaseline::Redis) => Some(redis_set_always(cfg, size).await?),
        None => None,
    };
    let bodies = pool(cfg.seed, 256, size);
    let seed = cfg.seed;
    let make: MakeJob = Box::new(|i| Job::Put {
        target: target.clone(),
        prefix: prefix.clone(),
        space: 1_000_000,
        bodies: bodies.clone(),
        rng: rng(seed, i),
    });
    let mut rows = phased(cfg, target, &[("put", cfg.concurrency, 0, &make)], size).await?;
    let mut out = Vec::new();
    if let Some(base) = redis {
        for r in &mut rows {
            against(r, &base);
        }
        out.push(base);
    }
    out.extend(rows);
    Ok(out)
}

// ---------------------------------------------------------------- state

async fn state(cfg: &RemoteConfig, target: &Arc<Target>, run: &str) -> Result<Vec<WorkloadReport>> {
    let size = cfg.value_size.unwrap_or(2048);
    let n = cfg.keys.unwrap_or(10_000).max(1);
    let ns = Namespace::new(["bench", run, "state"]);
    let mut g = Generator::new(cfg.seed);
    let mut uris = Vec::with_capacity(n);
    let mut reqs = Vec::with_capacity(n);
    for i in 0..n as u64 {
        let k = crate::workloads::key_of("conv-", i);
        let u = target.uri(&paths::item(&ns, &k))?;
        let v = serde_json::to_vec(&g.state(&k, size))?;
        reqs.push((Method::PUT, u.clone(), Bytes::from(v)));
        uris.push(u);
    }
    cfg.say(&format!(
        "state: preloading {n} conversation states of {size} B"
    ));
    load::preload(target, reqs, cfg.concurrency).await?;
    let uris = Arc::new(uris);
    let seed = cfg.seed;
    let make: MakeJob = Box::new(|i| Job::State {
        uris: uris.clone(),
        gen: Generator::new(seed ^ (i as u64 + 1)),
    });
    phased(cfg, target, &[("state", cfg.concurrency, 0, &make)], size).await
}

// ---------------------------------------------------------------- transcript

const PRELOAD_ENTRIES: usize = 20;

fn entries_body(values: &[Vec<u8>]) -> Bytes {
    let mut b = Vec::with_capacity(values.iter().map(|v| v.len() + 12).sum::<usize>() + 16);
    b.extend_from_slice(b"{\"entries\":[");
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            b.push(b',');
        }
        b.extend_from_slice(b"{\"value\":");
        b.extend_from_slice(v);
        b.push(b'}');
    }
    b.extend_from_slice(b"]}");
    Bytes::from(b)
}

async fn transcript(
    cfg: &RemoteConfig,
    target: &Arc<Target>,
    run: &str,
) -> Result<Vec<WorkloadReport>> {
    let size = cfg.value_size.unwrap_or(1024);
    let n = cfg.keys.unwrap_or(1_000).max(1);
    let ns = Namespace::new(["bench", run, "transcripts"]);
    let convs: Vec<String> = (0..n as u64)
        .map(|i| crate::workloads::key_of("conv-", i))
        .collect();
    let mut g = Generator::new(cfg.seed);
    let mut append = Vec::with_capacity(n);
    let mut tail = Vec::with_capacity(n);
    let mut reqs = Vec::with_capacity(n);
    for c in &convs {
        let u = target.uri(&paths::stream(&ns, c, Some("append")))?;
        let es: Vec<Vec<u8>> = (0..PRELOAD_ENTRIES)
            .map(|j| serde_json::to_vec(&g.activity(c, j % 2 == 0, size)))
            .collect::<std::result::Result<_, _>>()?;
        reqs.push((Method::POST, u.clone(), entries_body(&es)));
        append.push(u);
        tail.push(target.uri(&format!(
            "{}?direction=backward&limit=10",
            paths::stream(&ns, c, None)
        ))?);
    }
    cfg.say(&format!(
        "transcript: preloading {n} streams x {PRELOAD_ENTRIES} activities of {size} B"
    ));
    load::preload(target, reqs, cfg.concurrency).await?;
    let bodies: Arc<Vec<Bytes>> = Arc::new(
        (0..256)
            .map(|i| {
                let c = &convs[i % convs.len()];
                serde_json::to_vec(&g.activity(c, i % 2 == 0, size)).map(|v| entries_body(&[v]))
            })
            .collect::<std::result::Result<_, _>>()?,
    );
    let (append, tail) = (Arc::new(append), Arc::new(tail));
    let seed = cfg.seed;
    let writers = (cfg.concurrency / 2).max(1);
    let readers = cfg.concurrency.saturating_sub(writers);
    let make_append: MakeJob = Box::new(|i| Job::Append {
        uris: append.clone(),
        bodies: bodies.clone(),
        rng: rng(seed, i),
    });
    let make_tail: MakeJob = Box::new(|i| Job::Tail {
        uris: tail.clone(),
        rng: rng(seed ^ 0xabcd, i),
    });
    let mut rows: Vec<(&str, usize, usize, &MakeJob)> =
        vec![("transcript-append", writers, 0, &make_append)];
    if readers > 0 {
        rows.push(("transcript-tail", 0, readers, &make_tail));
    }
    let mut out = phased(cfg, target, &rows, size).await?;
    // Both rows share the connections: say how many each had.
    for r in &mut out {
        r.writers = writers;
        r.readers = readers;
    }
    Ok(out)
}

// ---------------------------------------------------------------- the table

/// The remote reports as a Markdown table, then their notes (commands, error samples).
/// `conns`: connections; `rate`: `closed` or the open-loop target of the phase (all its
/// rows together); `ops/s`: requests per second, except for `state`, where an op is a
/// turn of two requests or more (GET, PUT with `If-Match`, again on `412`); `errors`:
/// failed ops (any non-2xx, broken connections); `vs redis`: ops/s over the Redis anchor's
/// (`redis-get` for GETs, `redis-set-always` for PUTs); `client CPU`: this process's share of
/// the machine; `others' CPU`: everyone else's (the server, `wrk`, noise); `server cores`
/// and `server µs/req`: the CPU the server process used (cores busy on average, and CPU
/// time per request), when it runs on this machine (read from `/proc`).
pub fn render_table(reports: &[WorkloadReport]) -> String {
    let head = [
        "workload",
        "conns",
        "rate",
        "size",
        "ops/s",
        "p50 µs",
        "p99 µs",
        "p99.9 µs",
        "errors",
        "redis req/s",
        "vs redis",
        "client CPU",
        "others' CPU",
        "server cores",
        "server µs/req",
    ];
    let mut rows: Vec<Vec<String>> = vec![head.iter().map(|s| s.to_string()).collect()];
    let pct = |r: &WorkloadReport, k: &str| {
        r.extra
            .get(k)
            .map(|x| format!("{x:.0}%"))
            .unwrap_or_default()
    };
    let opt = |x: f64| if x > 0.0 { crate::lat(x) } else { "-".into() };
    for r in reports {
        rows.push(vec![
            r.workload.clone(),
            r.extra
                .get("connections")
                .map(|c| format!("{c:.0}"))
                .unwrap_or_default(),
            r.extra
                .get("target_rate")
                .map_or("closed".into(), |x| crate::num(*x)),
            r.value_size.to_string(),
            crate::num(r.ops_per_sec),
            opt(r.p50_us),
            opt(r.p99_us),
            opt(r.p999_us),
            r.errors.map(|e| e.to_string()).unwrap_or_default(),
            r.baseline_ops_per_sec.map(crate::num).unwrap_or_default(),
            r.ratio.map(|x| format!("{x:.2}")).unwrap_or_default(),
            pct(r, "client_cpu_pct"),
            pct(r, "other_cpu_pct"),
            r.extra
                .get("server_cores")
                .map(|x| format!("{x:.2}"))
                .unwrap_or_default(),
            r.extra
                .get("server_cpu_us_per_req")
                .map(|x| format!("{x:.1}"))
                .unwrap_or_default(),
        ]);
    }
    let widths: Vec<usize> = (0..head.len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for (i, r) in rows.iter().enumerate() {
        out.push('|');
        for (c, cell) in r.iter().enumerate() {
            let pad = " ".repeat(widths[c] - cell.chars().count());
            if c == 0 {
                out.push_str(&format!(" {cell}{pad} |"));
            } else {
                out.push_str(&format!(" {pad}{cell} |"));
            }
        }
        out.push('\n');
        if i == 0 {
            out.push('|');
            for (c, w) in widths.iter().enumerate() {
                let dashes = "-".repeat(w + 1);
                if c == 0 {
                    out.push_str(&format!(":{dashes}|"));
                } else {
                    out.push_str(&format!("{dashes}:|"));
                }
            }
            out.push('\n');
        }
    }
    let notes: Vec<&String> = reports.iter().flat_map(|r| &r.notes).collect();
    if !notes.is_empty() {
        out.push('\n');
        for n in notes {
            out.push_str(&format!("* {n}\n"));
        }
    }
    for r in reports
        .iter()
        .filter(|r| r.extra.contains_key("service_p99_us"))
    {
        out.push_str(&format!(
            "* {}: service time (send to answer) p50 {} µs, p99 {} µs; sent late by p50 {} µs, p99 {} µs\n",
            r.workload,
            crate::lat(r.extra["service_p50_us"]),
            crate::lat(r.extra["service_p99_us"]),
            crate::lat(r.extra.get("lag_p50_us").copied().unwrap_or(0.0)),
            crate::lat(r.extra.get("lag_p99_us").copied().unwrap_or(0.0)),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_rates_parse() {
        assert_eq!(
            RemoteWorkload::parse_list("get, put,get").unwrap(),
            vec![RemoteWorkload::Get, RemoteWorkload::Put]
        );
        assert_eq!(RemoteWorkload::parse_list("all").unwrap().len(), 4);
        assert!(RemoteWorkload::parse_list("put-batch").is_err());
        assert_eq!("half".parse::<Rate>().unwrap(), Rate::HalfPeak);
        assert_eq!("2500".parse::<Rate>().unwrap(), Rate::PerSec(2500.0));
        assert!("-1".parse::<Rate>().is_err());
        assert_eq!(
            "redis".parse::<RemoteBaseline>().unwrap(),
            RemoteBaseline::Redis
        );
    }

    #[test]
    fn entries_bodies_are_json() {
        let b = entries_body(&[b"{\"a\":1}".to_vec(), b"2".to_vec()]);
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v["entries"][0]["value"]["a"], 1);
        assert_eq!(v["entries"][1]["value"], 2);
    }
}
