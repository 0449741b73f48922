//! The engine comparison of issue 18 (docs/BENCHMARKS.md, "Engine comparison"): the same
//! workloads and the same records on the embedded engine and on fjall 3, in one run.
//!
//! * [`compare`]: each workload once per engine (the store on the embedded engine, then on
//!   the fjall prototype backend in each variant asked for, an fsync-anchor slice before
//!   every durable one), then the same operations on raw fjall (one keyspace, no botstore
//!   above it), next to raw redb where the workload has that baseline.
//! * [`write_corpus`]: bot records as JSON Lines (conversation states, user profiles,
//!   LangGraph checkpoints along growing threads, transcript activities; text from the
//!   dialog corpus of [`crate::gen`]), the input of `botstore import` and of [`import`].
//! * [`import`]: that file into a fresh store on one engine, in the batches
//!   `botstore import` makes (1,000 records or 4 MiB, one batch committing while the next
//!   is parsed), then a compaction, and the bytes on disk against the live logical bytes.

use crate::fjall_backend::{fjall_error, FjallBackend};
use crate::gen::Generator;
use crate::harness::{threads_blocking, EngineKind, Window};
use crate::workloads::key_of;
use crate::{BenchConfig, BenchError, Result, Workload, WorkloadReport};
use botstore::{Mutation, Namespace, Precondition, Store, StoreOptions, Ttl, Value};
use fjall::{Database, KeyspaceCreateOptions, PersistMode};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};
use std::hint::black_box;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

fn fj(e: fjall::Error) -> BenchError {
    BenchError(fjall_error(e).to_string())
}

/// Run every workload of `cfg` on each engine of `engines` (the first one also runs the
/// raw-redb baseline; the others' `ratio` is against that same baseline figure), then the
/// raw-fjall rows of the workloads that have one (get, put, put-concurrent).
pub async fn compare(cfg: &BenchConfig, engines: &[EngineKind]) -> Result<Vec<WorkloadReport>> {
    let mut out = Vec::new();
    for w in &cfg.workloads {
        let mut first: Vec<WorkloadReport> = Vec::new();
        for (i, e) in engines.iter().enumerate() {
            let mut c = cfg.clone();
            c.workloads = vec![*w];
            c.engine = *e;
            if i > 0 {
                c.baseline = None;
            }
            let mut rows = crate::run(&c).await?;
            for r in &mut rows {
                if r.workload == "fsync-anchor" {
                    r.workload = format!("fsync-anchor (before {w}@{})", e.name());
                }
            }
            if i == 0 {
                first = rows.clone();
            } else {
                let base = |name: &str| name.split('@').next().unwrap_or_default().to_string();
                for r in &mut rows {
                    let twin = first
                        .iter()
                        .find(|f| base(&f.workload) == base(&r.workload) && f.readers == r.readers);
                    if let Some(b) = twin.and_then(|f| f.baseline_ops_per_sec) {
                        r.baseline = Some("redb".into());
                        r.baseline_ops_per_sec = Some(b);
                        r.ratio = (b > 0.0).then(|| r.ops_per_sec / b);
                    }
                }
            }
            out.extend(rows);
        }
        out.extend(raw_fjall(cfg, *w).await?);
    }
    Ok(out)
}

/// The raw-fjall database of a workload at `root`, with its one keyspace.
fn open_raw(root: &Path, cache_size: usize) -> Result<(Database, fjall::Keyspace)> {
    let db = Database::builder(root)
        .cache_size(cache_size as u64)
        .open()
        .map_err(fj)?;
    let ks = db
        .keyspace("kv", KeyspaceCreateOptions::default)
        .map_err(fj)?;
    Ok((db, ks))
}

/// The raw-fjall rows of a workload: one keyspace of fjall's defaults, the same keys and
/// values as the botstore rows, durable writes synced per write (`SyncData` inside the
/// batch commit, which holds fjall's journal lock: fjall 3 has no group commit of its own).
async fn raw_fjall(cfg: &BenchConfig, w: Workload) -> Result<Vec<WorkloadReport>> {
    let root = cfg
        .data_dir
        .clone()
        .unwrap_or_else(std::env::temp_dir)
        .join("raw-fjall");
    let _ = std::fs::remove_dir_all(&root);
    let size = cfg.value_size.unwrap_or(1024);
    let mut rows = Vec::new();
    match w {
        Workload::Put | Workload::PutConcurrent => {
            let writers = if w == Workload::Put {
                1
            } else {
                cfg.writers.unwrap_or(64).max(1)
            };
            let name = w.name();
            let anchor = crate::harness::fsync_slice(
                cfg.data_dir.as_deref().unwrap_or(&std::env::temp_dir()),
                cfg.anchor_duration,
            )
            .await?;
            cfg.say(&format!("{name}: raw fjall, {writers} writer thread(s)"));
            let (db, ks) = open_raw(&root, cfg.cache_size)?;
            let pool = Arc::new(Generator::new(cfg.seed).pool(256, size));
            let seed = cfg.seed;
            let win = Window::new(cfg.warmup, cfg.duration);
            let (db2, ks2) = (db.clone(), ks.clone());
            let t = threads_blocking(writers, win, move |i, t, w| {
                let mut rng = SmallRng::seed_from_u64(seed ^ (i as u64 + 1));
                while let Some(t0) = w.next() {
                    let k = key_of("p", rng.random());
                    let v = pool[rng.random_range(0..pool.len())].clone();
                    let mut b = db2.batch().durability(Some(PersistMode::SyncData));
                    b.insert(&ks2, k, v);
                    b.commit().map_err(fj)?;
                    t.done(w, t0);
                }
                Ok(())
            })
            .await?;
            let mut row = t.report(&format!("{name}@raw-fjall"), &win, writers, 0, size);
            let a = anchor.ops_per_sec();
            if a > 0.0 {
                row.anchor_ratio = Some(row.ops_per_sec / a);
                row.extra.insert("anchor_ops_per_sec".into(), a);
            }
            drop((ks, db));
            rows.push(row);
        }
        Workload::Get => {
            let n = cfg.keys.unwrap_or(10_000).max(1);
            let mut g = Generator::new(cfg.seed);
            let pool = g.pool(256, size);
            let (db, ks) = open_raw(&root, cfg.cache_size)?;
            let keys: Arc<Vec<String>> = Arc::new((0..n as u64).map(|i| key_of("k", i)).collect());
            let mut b = db.batch();
            for (i, k) in keys.iter().enumerate() {
                b.insert(&ks, k.as_str(), pool[i % pool.len()].as_slice());
            }
            b.commit().map_err(fj)?;
            db.persist(PersistMode::SyncAll).map_err(fj)?;
            let counts = cfg.readers.map_or(vec![1, 2], |r| vec![r.max(1)]);
            let mut one = None;
            for r in counts {
                cfg.say(&format!("get: raw fjall, {r} reader thread(s)"));
                let win = Window::new(cfg.warmup, cfg.duration);
                let (ks2, keys2, seed) = (ks.clone(), keys.clone(), cfg.seed);
                let t = threads_blocking(r, win, move |i, t, w| {
                    let mut rng = SmallRng::seed_from_u64(seed ^ (i as u64 + 1));
                    while let Some(t0) = w.next() {
                        let k = &keys2[rng.random_range(0..keys2.len())];
                        let v = ks2
                            .get(k)
                            .map_err(fj)?
                            .ok_or_else(|| BenchError(format!("{k} is missing")))?;
                        black_box(v.to_vec());
                        t.done(w, t0);
                    }
                    Ok(())
                })
                .await?;
                let mut row = t.report("get@raw-fjall", &win, 0, r, size);
                match one {
                    None => one = Some(row.ops_per_sec),
                    Some(o) if o > 0.0 => {
                        row.extra
                            .insert("speedup_vs_1_reader".into(), row.ops_per_sec / o);
                    }
                    Some(_) => {}
                }
                rows.push(row);
            }
            drop((ks, db));
        }
        _ => {}
    }
    let _ = std::fs::remove_dir_all(&root);
    Ok(rows)
}

// ---------------------------------------------------------------- the corpus

/// What [`write_corpus`] wrote.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct CorpusReport {
    pub bytes: u64,
    pub lines: u64,
    /// Records and value bytes per kind: `state`, `profile`, `checkpoint`, `activity`.
    pub kinds: Vec<(String, u64, u64)>,
}

/// The share of the corpus's value bytes each kind of record makes up.
const KINDS: [(&str, f64); 4] = [
    ("state", 0.30),
    ("profile", 0.10),
    ("checkpoint", 0.35),
    ("activity", 0.25),
];
/// Tenants the records are spread over.
const TENANTS: u64 = 50;
/// Steps of a LangGraph thread (each step stores a checkpoint with every message so far).
const THREAD_STEPS: u64 = 24;

/// Write about `mib` MiB of bot records as JSON Lines to `path` (seeded, so the same
/// arguments give the same file).
pub fn write_corpus(path: &Path, mib: u64, seed: u64) -> Result<CorpusReport> {
    let mut g = Generator::new(seed);
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let target = mib << 20;
    let mut rep = CorpusReport {
        kinds: KINDS.iter().map(|(k, _)| (k.to_string(), 0, 0)).collect(),
        ..Default::default()
    };
    // The open LangGraph thread and the open transcript: a thread grows one message per
    // step, a conversation one activity per line.
    let mut thread: Option<(String, u64, u64, Vec<Json>)> = None;
    let mut convo: Option<(String, u64, u64)> = None;
    let mut seq = 0u64;
    while rep.bytes < target {
        // The kind furthest below its share of the value bytes written so far.
        let total: u64 = rep.kinds.iter().map(|k| k.2).sum::<u64>().max(1);
        let kind = (0..KINDS.len())
            .min_by(|&a, &b| {
                let da = rep.kinds[a].2 as f64 / total as f64 - KINDS[a].1;
                let db = rep.kinds[b].2 as f64 / total as f64 - KINDS[b].1;
                da.total_cmp(&db)
            })
            .unwrap_or(0);
        seq += 1;
        let tenant = g.rng().random_range(0..TENANTS);
        let (line, vlen) = match kind {
            0 => {
                let conv = g.uuid();
                let v = g.state(&conv, 2048);
                let ns = json!(["tenant", format!("t{tenant}"), "conversations"]);
                let n = crate::gen::json_len(&v) as u64;
                (json!({"ns": ns, "key": conv, "value": v}), n)
            }
            1 => {
                let notes = g.text(280);
                let v = json!({"id": format!("user-{seq}"), "name": g.line(),
                    "locale": "en-GB", "timezone": "Europe/London", "plan": "free",
                    "preferences": {"tone": "friendly", "language": "en", "notifications": true},
                    "notes": notes, "created": crate::gen::rfc3339(crate::gen::now_ms())});
                let ns = json!(["tenant", format!("t{tenant}"), "users"]);
                let n = crate::gen::json_len(&v) as u64;
                (
                    json!({"ns": ns, "key": format!("u{seq:08}"), "value": v}),
                    n,
                )
            }
            2 => {
                let (id, t, step, msgs) = match thread.take() {
                    Some(open) if open.2 < THREAD_STEPS => open,
                    _ => (g.uuid(), tenant, 0, Vec::new()),
                };
                let mut msgs = msgs;
                msgs.push(g.message(step % 2 == 0, 300));
                let v = g.checkpoint(&id, step, &msgs);
                let ns = json!(["tenant", format!("t{t}"), "threads", id.clone()]);
                let n = crate::gen::json_len(&v) as u64;
                let line = json!({"ns": ns, "key": format!("checkpoint/{step:08}"), "value": v});
                thread = Some((id, t, step + 1, msgs));
                (line, n)
            }
            _ => {
                let (id, t, turn) = match convo.take() {
                    Some(open) if open.2 < 20 => open,
                    _ => (g.uuid(), tenant, 0),
                };
                let v = g.activity(&id, turn % 2 == 0, 1024);
                let ns = json!(["tenant", format!("t{t}"), "transcripts"]);
                let n = crate::gen::json_len(&v) as u64;
                convo = Some((id.clone(), t, turn + 1));
                (json!({"ns": ns, "stream": id, "entry": v}), n)
            }
        };
        let text = serde_json::to_vec(&line)?;
        out.write_all(&text)?;
        out.write_all(b"\n")?;
        rep.bytes += text.len() as u64 + 1;
        rep.lines += 1;
        rep.kinds[kind].1 += 1;
        rep.kinds[kind].2 += vlen;
    }
    out.flush()?;
    Ok(rep)
}

// ---------------------------------------------------------------- import

/// What [`import`] measured on one engine.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ImportReport {
    pub engine: String,
    pub input_bytes: u64,
    pub items: u64,
    pub entries: u64,
    pub import_seconds: f64,
    pub import_mib_per_sec: f64,
    /// Bytes of the store's folder (`du`-style: every file's length) after the import and
    /// a sync, and after the compaction.
    pub disk_after_import: u64,
    pub disk_after_compact: u64,
    pub compact_seconds: f64,
    /// Item and stream value bytes (`botstore stats`).
    pub logical_bytes: u64,
    /// `disk_after_compact / logical_bytes`.
    pub disk_per_logical: f64,
    /// fjall only: its journals' bytes after the compaction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journal_bytes: Option<u64>,
    /// The biggest files after the compaction, `(name, bytes)`.
    pub files: Vec<(String, u64)>,
    /// True when the change feed was trimmed to nothing before the compaction (what a
    /// store keeps once the feed holds no copy of the values: issue 18, point 1).
    pub feed_trimmed: bool,
    /// fjall only: bytes per table after the compaction.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tables: Vec<(String, u64)>,
}

/// Bytes of every file under `dir`, and the largest ones.
fn folder_bytes(dir: &Path) -> (u64, Vec<(String, u64)>) {
    fn walk(root: &Path, p: &Path, out: &mut Vec<(String, u64)>) {
        let Ok(rd) = std::fs::read_dir(p) else {
            return;
        };
        for e in rd.flatten() {
            let path = e.path();
            match e.metadata() {
                Ok(m) if m.is_dir() => walk(root, &path, out),
                Ok(m) => out.push((
                    path.strip_prefix(root)
                        .unwrap_or(&path)
                        .display()
                        .to_string(),
                    m.len(),
                )),
                Err(_) => {}
            }
        }
    }
    let mut files = Vec::new();
    walk(dir, dir, &mut files);
    let total = files.iter().map(|f| f.1).sum();
    files.sort_by_key(|f| std::cmp::Reverse(f.1));
    files.truncate(6);
    (total, files)
}

/// One parsed line of the corpus (the subset of `botstore import`'s format it writes:
/// items with `ns`, `key`, `value`; entries with `ns`, `stream`, `entry`).
fn mutation_of(line: &[u8]) -> Result<(Mutation, bool, usize)> {
    let v: Json = serde_json::from_slice(line)?;
    let ns = match v.get("ns") {
        Some(Json::Array(a)) => Namespace::new(a.iter().map(|s| s.as_str().unwrap_or_default())),
        Some(Json::String(s)) => Namespace::parse(s),
        _ => return Err(BenchError("a line without ns".into())),
    };
    if let (Some(Json::String(key)), Some(value)) = (v.get("key"), v.get("value")) {
        let value = Value::json(value);
        let n = value.data.len();
        return Ok((
            Mutation::Put {
                ns,
                key: key.clone(),
                value,
                precondition: Precondition::Any,
                ttl: Ttl::Never,
                subject: None,
                fence: None,
            },
            true,
            n,
        ));
    }
    if let (Some(Json::String(stream)), Some(entry)) = (v.get("stream"), v.get("entry")) {
        let value = Value::json(entry);
        let n = value.data.len();
        return Ok((
            Mutation::Append {
                ns,
                stream: stream.clone(),
                entries: vec![value],
                expected_last: None,
            },
            false,
            n,
        ));
    }
    Err(BenchError(
        "a line that is neither an item nor an entry".into(),
    ))
}

/// Import `file` into a fresh store on `engine` in `dir`, compact it, and measure. With
/// `trim_feed`, the change feed is trimmed to nothing (a retention of 0 changes, trimmed
/// until nothing is left) before the compaction.
pub async fn import(
    cfg: &BenchConfig,
    file: &Path,
    engine: EngineKind,
    dir: &Path,
    trim_feed: bool,
) -> Result<ImportReport> {
    let _ = std::fs::remove_dir_all(dir);
    let mut fjall = None;
    let backend: Arc<dyn botstore::Backend> = match engine {
        EngineKind::Embedded => Arc::new(botstore_embedded::EmbeddedBackend::open(
            dir,
            botstore_embedded::EmbeddedOptions {
                durability: cfg.durability,
                cache_size: cfg.cache_size,
                ..Default::default()
            },
        )?),
        EngineKind::Fjall(v) => {
            let b = Arc::new(FjallBackend::open(
                dir,
                v,
                cfg.durability,
                cfg.cache_size as u64,
            )?);
            fjall = Some(b.clone());
            b
        }
    };
    let mut opts = StoreOptions::default();
    if trim_feed {
        opts.retention.max_age = None;
        opts.retention.max_changes = Some(0);
    }
    let store = Store::with_options(backend.clone(), opts);
    let input = std::fs::File::open(file)?;
    let input_bytes = input.metadata()?.len();
    let mut input = BufReader::with_capacity(1 << 20, input);
    let (mut items, mut entries) = (0u64, 0u64);
    let started = Instant::now();
    let mut in_flight: Option<tokio::task::JoinHandle<Result<()>>> = None;
    let mut batch: Vec<Mutation> = Vec::new();
    let (mut records, mut bytes) = (0usize, 0usize);
    let mut line = Vec::with_capacity(64 << 10);
    loop {
        line.clear();
        let n = input.read_until(b'\n', &mut line)?;
        let text = line.trim_ascii();
        if n > 0 && !text.is_empty() {
            let (m, is_item, vlen) = mutation_of(text)?;
            records += 1;
            bytes += vlen;
            if is_item {
                items += 1;
            } else {
                entries += 1;
            }
            // Consecutive entries of one stream go into one append, as `botstore import`.
            match (batch.last_mut(), m) {
                (
                    Some(Mutation::Append {
                        ns: n0,
                        stream: s0,
                        entries: es,
                        ..
                    }),
                    Mutation::Append {
                        ns,
                        stream,
                        entries: mut e,
                        ..
                    },
                ) if *n0 == ns && *s0 == stream => es.append(&mut e),
                (_, m) => batch.push(m),
            }
        }
        let last = n == 0;
        if (records >= 1000 || bytes >= 4 << 20 || last) && records > 0 {
            if let Some(h) = in_flight.take() {
                h.await??;
            }
            let (s, ms) = (store.clone(), std::mem::take(&mut batch));
            in_flight = Some(tokio::spawn(async move {
                s.batch(ms).await?;
                Ok(())
            }));
            records = 0;
            bytes = 0;
        }
        if last {
            break;
        }
    }
    if let Some(h) = in_flight.take() {
        h.await??;
    }
    let import_seconds = started.elapsed().as_secs_f64();
    let s2 = store.clone();
    tokio::task::spawn_blocking(move || s2.sync()).await??;
    let (disk_after_import, _) = folder_bytes(dir);
    let t = Instant::now();
    if trim_feed {
        // A pass forgets at most 10,000 changes.
        while store.trim_changes(10_000).await? > 0 {}
    }
    store.compact().await?;
    let compact_seconds = t.elapsed().as_secs_f64();
    let stats = store.stats(&Namespace::root()).await?;
    let (disk_after_compact, files) = folder_bytes(dir);
    let (journal_bytes, tables) = match &fjall {
        Some(f) => (Some(f.journal_bytes()?), f.table_bytes()),
        None => (None, Vec::new()),
    };
    let logical_bytes = stats.store_logical_bytes;
    drop(store);
    let b = backend.clone();
    tokio::task::spawn_blocking(move || b.close()).await??;
    Ok(ImportReport {
        engine: engine.name().into(),
        input_bytes,
        items,
        entries,
        import_seconds,
        import_mib_per_sec: input_bytes as f64 / (1 << 20) as f64 / import_seconds.max(1e-9),
        disk_after_import,
        disk_after_compact,
        compact_seconds,
        logical_bytes,
        disk_per_logical: disk_after_compact as f64 / logical_bytes.max(1) as f64,
        journal_bytes,
        files,
        feed_trimmed: trim_feed,
        tables,
    })
}
