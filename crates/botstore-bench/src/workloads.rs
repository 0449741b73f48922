//! The workloads: each runs on a fresh embedded store, then (with a baseline) the same
//! operations on a fresh raw redb database.

use crate::gen::Generator;
use crate::harness::{
    add_record_check_cost, baseline_db, redb_write, threads_blocking, writer_extra, Engine, Tally,
    Window, KV,
};
use crate::{BenchConfig, BenchError, Result, Workload, WorkloadReport};
use botstore::{Direction, Error, Mutation, Namespace, Precondition, Store, Value};
use futures::executor::block_on;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use redb::{Database, ReadableDatabase, ReadableTable};
use serde_json::{json, Value as Json};
use std::hint::black_box;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

pub async fn run(w: Workload, cfg: &BenchConfig, dir: &Path) -> Result<Vec<WorkloadReport>> {
    std::fs::create_dir_all(dir)?;
    match w {
        Workload::Get => get(cfg, dir).await,
        Workload::PutBatch => put_batch(cfg, dir).await,
        Workload::Put => put(cfg, dir, "put", 1).await,
        Workload::PutConcurrent => put(cfg, dir, "put-concurrent", cfg.writers.unwrap_or(64)).await,
        Workload::State => state(cfg, dir).await,
        Workload::Transcript => transcript(cfg, dir).await,
        Workload::Checkpoint => checkpoint(cfg, dir).await,
        Workload::Memory => Err(BenchError("memory runs in its own module".into())),
    }
}

fn missing(what: &str) -> BenchError {
    BenchError(format!("{what} is missing (the preload did not write it?)"))
}

/// A key that spreads over the key space like real ids do.
pub fn key_of(prefix: &str, i: u64) -> String {
    // splitmix64: a bijection, so distinct i give distinct keys.
    let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    format!("{prefix}{z:016x}")
}

/// Spawn `n` writer tasks on the runtime, each running `op(i, tally, window)`.
async fn tasks<F, Fut>(n: usize, w: Window, op: F) -> Result<Tally>
where
    F: Fn(usize, Window) -> Fut,
    Fut: std::future::Future<Output = Result<Tally>> + Send + 'static,
{
    let hs: Vec<_> = (0..n).map(|i| tokio::spawn(op(i, w))).collect();
    let mut all = Tally::new();
    for h in hs {
        all.merge(&h.await??);
    }
    Ok(all)
}

async fn preload_items(store: &Store, ns: &Namespace, items: &[(String, Vec<u8>)]) -> Result<()> {
    for chunk in items.chunks(500) {
        let ms = chunk
            .iter()
            .map(|(k, v)| Mutation::put(ns.clone(), k.clone(), Value::json_text(v.clone())))
            .collect();
        store.batch(ms).await?;
    }
    Ok(())
}

fn preload_redb(db: &Database, items: &[(String, Vec<u8>)]) -> Result<()> {
    redb_write(db, |t| {
        for (k, v) in items {
            t.insert(k.as_bytes(), v.as_slice())?;
        }
        Ok(())
    })
}

fn close_redb(db: Arc<Database>, dir: std::path::PathBuf) {
    drop(db);
    let _ = std::fs::remove_dir_all(dir);
}

// ---------------------------------------------------------------- get

async fn get(cfg: &BenchConfig, dir: &Path) -> Result<Vec<WorkloadReport>> {
    let size = cfg.value_size.unwrap_or(1024);
    let n = cfg.keys.unwrap_or(10_000).max(1);
    let counts = cfg.readers.map_or(vec![1, 2], |r| vec![r.max(1)]);
    let mut g = Generator::new(cfg.seed);
    let pool = g.pool(256, size);
    let items: Vec<(String, Vec<u8>)> = (0..n as u64)
        .map(|i| (key_of("k", i), pool[i as usize % pool.len()].clone()))
        .collect();
    let keys: Arc<Vec<String>> = Arc::new(items.iter().map(|(k, _)| k.clone()).collect());
    let ns = Namespace::new(["bench", "get"]);
    cfg.say(&format!("get: preloading {n} items of {size} B"));
    let eng = Engine::open(cfg, dir)?;
    preload_items(&eng.store, &ns, &items).await?;
    eng.sync().await?;
    let base = match cfg.baseline {
        Some(_) => {
            let (db, d) = baseline_db(cfg, dir)?;
            preload_redb(&db, &items)?;
            Some((db, d))
        }
        None => None,
    };
    drop(items);
    let mut rows: Vec<WorkloadReport> = Vec::new();
    for &r in &counts {
        cfg.say(&format!("get: botstore, {r} reader thread(s)"));
        let w = Window::new(cfg.warmup, cfg.duration);
        let (store, keys2, ns2, seed) = (eng.store.clone(), keys.clone(), ns.clone(), cfg.seed);
        let t = threads_blocking(r, w, move |i, t, w| {
            let mut rng = SmallRng::seed_from_u64(seed ^ (i as u64 + 1));
            while let Some(t0) = w.next() {
                let k = &keys2[rng.random_range(0..keys2.len())];
                let it = block_on(store.get(&ns2, k))?.ok_or_else(|| missing(k))?;
                black_box(it.value.data.len());
                t.done(w, t0);
            }
            Ok(())
        })
        .await?;
        let mut row = t.report("get", &w, 0, r, size);
        add_record_check_cost(&mut row, size, 1.0, r);
        if let Some((db, _)) = &base {
            // The baseline hands the value to its caller as an owned copy, as Store::get
            // does (reading the value is most of the cost of a cold row: the key search does
            // not touch it). The no-copy form is measured too and kept in `extra`.
            for copy in [true, false] {
                cfg.say(&format!(
                    "get: redb{}, {r} reader thread(s)",
                    if copy { "" } else { " (value not read)" }
                ));
                let w = Window::new(cfg.warmup, cfg.duration);
                let (db, keys2) = (db.clone(), keys.clone());
                let b = threads_blocking(r, w, move |i, t, w| {
                    let mut rng = SmallRng::seed_from_u64(seed ^ (i as u64 + 1));
                    while let Some(t0) = w.next() {
                        let k = &keys2[rng.random_range(0..keys2.len())];
                        let txn = db.begin_read()?;
                        let table = txn.open_table(KV)?;
                        let v = table.get(k.as_bytes())?.ok_or_else(|| missing(k))?;
                        if copy {
                            black_box(v.value().to_vec());
                        } else {
                            black_box(v.value().len());
                        }
                        drop(v);
                        drop(table);
                        drop(txn);
                        t.done(w, t0);
                    }
                    Ok(())
                })
                .await?;
                if copy {
                    b.baseline_into(&mut row, &w);
                } else {
                    let ops = b.ops_per_sec(&w);
                    row.extra.insert("baseline_nocopy_ops_per_sec".into(), ops);
                    if ops > 0.0 {
                        row.extra
                            .insert("ratio_vs_nocopy".into(), row.ops_per_sec / ops);
                    }
                }
            }
        }
        rows.push(row);
    }
    if rows.len() == 2 && rows[0].ops_per_sec > 0.0 {
        let s = rows[1].ops_per_sec / rows[0].ops_per_sec;
        rows[1].extra.insert("speedup_vs_1_reader".into(), s);
        if let (Some(a), Some(b)) = (rows[0].baseline_ops_per_sec, rows[1].baseline_ops_per_sec) {
            if a > 0.0 {
                rows[1]
                    .extra
                    .insert("baseline_speedup_vs_1_reader".into(), b / a);
            }
        }
    }
    eng.close().await?;
    if let Some((db, d)) = base {
        close_redb(db, d);
    }
    Ok(rows)
}

// ---------------------------------------------------------------- put-batch

const BATCH: usize = 100;

async fn put_batch(cfg: &BenchConfig, dir: &Path) -> Result<Vec<WorkloadReport>> {
    let size = cfg.value_size.unwrap_or(1024);
    let writers = cfg.writers.unwrap_or(1).max(1);
    let pool = Arc::new(Generator::new(cfg.seed).pool(256, size));
    let ns = Namespace::new(["bench", "batch"]);
    let seed = cfg.seed;
    cfg.say(&format!(
        "put-batch: botstore, {writers} writer(s), {BATCH} puts per batch"
    ));
    let eng = Engine::open(cfg, dir)?;
    let w = Window::new(cfg.warmup, cfg.duration);
    let counters = eng.counters_over(&w);
    let t = tasks(writers, w, |i, w| {
        let (store, pool, ns) = (eng.store.clone(), pool.clone(), ns.clone());
        async move {
            let mut rng = SmallRng::seed_from_u64(seed ^ (i as u64 + 1));
            let mut t = Tally::new();
            while w.next().is_some() {
                let ms: Vec<Mutation> = (0..BATCH)
                    .map(|_| {
                        let k = key_of("b", rng.random());
                        let v = pool[rng.random_range(0..pool.len())].clone();
                        Mutation::put(ns.clone(), k, Value::json_text(v))
                    })
                    .collect();
                let t0 = Instant::now();
                store.batch(ms).await?;
                t.done(&w, t0);
            }
            Ok(t)
        }
    })
    .await?;
    let mut row = t.report("put-batch", &w, writers, 0, size);
    add_record_check_cost(&mut row, size, BATCH as f64, 1);
    let (c0, c1) = counters.await?;
    writer_extra(&mut row, c0, c1, w.end - w.start);
    row.extra
        .insert("puts_per_sec".into(), row.ops_per_sec * BATCH as f64);
    eng.close().await?;
    if cfg.baseline.is_some() {
        cfg.say("put-batch: redb");
        let (db, d) = baseline_db(cfg, dir)?;
        let w = Window::new(cfg.warmup, cfg.duration);
        let (db2, pool2) = (db.clone(), pool.clone());
        let b = threads_blocking(writers, w, move |i, t, w| {
            let mut rng = SmallRng::seed_from_u64(seed ^ (i as u64 + 1));
            while w.next().is_some() {
                let kv: Vec<(String, &[u8])> = (0..BATCH)
                    .map(|_| {
                        let k = key_of("b", rng.random());
                        (k, pool2[rng.random_range(0..pool2.len())].as_slice())
                    })
                    .collect();
                let t0 = Instant::now();
                redb_write(&db2, |tab| {
                    for (k, v) in &kv {
                        tab.insert(k.as_bytes(), *v)?;
                    }
                    Ok(())
                })?;
                t.done(w, t0);
            }
            Ok(())
        })
        .await?;
        b.baseline_into(&mut row, &w);
        close_redb(db, d);
    }
    Ok(vec![row])
}

// ---------------------------------------------------------------- put, put-concurrent

async fn put(
    cfg: &BenchConfig,
    dir: &Path,
    name: &str,
    writers: usize,
) -> Result<Vec<WorkloadReport>> {
    let size = cfg.value_size.unwrap_or(1024);
    let writers = writers.max(1);
    let pool = Arc::new(Generator::new(cfg.seed).pool(256, size));
    let ns = Namespace::new(["bench", "put"]);
    let seed = cfg.seed;
    cfg.say(&format!("{name}: botstore, {writers} writer task(s)"));
    let eng = Engine::open(cfg, dir)?;
    let w = Window::new(cfg.warmup, cfg.duration);
    let counters = eng.counters_over(&w);
    let t = tasks(writers, w, |i, w| {
        let (store, pool, ns) = (eng.store.clone(), pool.clone(), ns.clone());
        async move {
            let mut rng = SmallRng::seed_from_u64(seed ^ (i as u64 + 1));
            let mut t = Tally::new();
            while w.next().is_some() {
                let k = key_of("p", rng.random());
                let v = Value::json_text(pool[rng.random_range(0..pool.len())].clone());
                let t0 = Instant::now();
                store.put(&ns, &k, v).await?;
                t.done(&w, t0);
            }
            Ok(t)
        }
    })
    .await?;
    let mut row = t.report(name, &w, writers, 0, size);
    add_record_check_cost(&mut row, size, 1.0, 1);
    let (c0, c1) = counters.await?;
    writer_extra(&mut row, c0, c1, w.end - w.start);
    eng.close().await?;
    if cfg.baseline.is_some() {
        cfg.say(&format!("{name}: redb, {writers} writer thread(s)"));
        let (db, d) = baseline_db(cfg, dir)?;
        let w = Window::new(cfg.warmup, cfg.duration);
        let (db2, pool2) = (db.clone(), pool.clone());
        let b = threads_blocking(writers, w, move |i, t, w| {
            let mut rng = SmallRng::seed_from_u64(seed ^ (i as u64 + 1));
            while w.next().is_some() {
                let k = key_of("p", rng.random());
                let v = pool2[rng.random_range(0..pool2.len())].as_slice();
                let t0 = Instant::now();
                redb_write(&db2, |tab| {
                    tab.insert(k.as_bytes(), v)?;
                    Ok(())
                })?;
                t.done(w, t0);
            }
            Ok(())
        })
        .await?;
        b.baseline_into(&mut row, &w);
        close_redb(db, d);
    }
    Ok(vec![row])
}

// ---------------------------------------------------------------- state

async fn state(cfg: &BenchConfig, dir: &Path) -> Result<Vec<WorkloadReport>> {
    let size = cfg.value_size.unwrap_or(2048);
    let writers = cfg.writers.unwrap_or(4).max(1);
    let n = cfg.keys.unwrap_or(10_000).max(1);
    let seed = cfg.seed;
    let mut g = Generator::new(seed);
    let items: Vec<(String, Vec<u8>)> = (0..n as u64)
        .map(|i| {
            let k = key_of("conv-", i);
            let v = serde_json::to_vec(&g.state(&k, size)).unwrap_or_default();
            (k, v)
        })
        .collect();
    let keys: Arc<Vec<String>> = Arc::new(items.iter().map(|(k, _)| k.clone()).collect());
    let ns = Namespace::new(["bench", "state"]);
    cfg.say(&format!(
        "state: preloading {n} conversation states of {size} B"
    ));
    let eng = Engine::open(cfg, dir)?;
    preload_items(&eng.store, &ns, &items).await?;
    eng.sync().await?;
    cfg.say(&format!("state: botstore, {writers} writer task(s)"));
    let w = Window::new(cfg.warmup, cfg.duration);
    let counters = eng.counters_over(&w);
    let t = tasks(writers, w, |i, w| {
        let (store, keys, ns) = (eng.store.clone(), keys.clone(), ns.clone());
        async move {
            let mut g = Generator::new(seed ^ (i as u64 + 1));
            let mut t = Tally::new();
            while let Some(t0) = w.next() {
                let k = &keys[g.rng().random_range(0..keys.len())];
                let mut retries = 0;
                loop {
                    let it = store.get(&ns, k).await?.ok_or_else(|| missing(k))?;
                    let mut s: Json = serde_json::from_slice(&it.value.data)?;
                    g.next_state(&mut s);
                    let v = Value::json_text(serde_json::to_vec(&s)?);
                    match store
                        .put_if(&ns, k, v, Precondition::IfVersion(it.version))
                        .await
                    {
                        Ok(_) => break,
                        Err(Error::PreconditionFailed { .. }) => retries += 1,
                        Err(e) => return Err(e.into()),
                    }
                }
                t.done(&w, t0);
                if t0 >= w.start {
                    t.count("retries", retries);
                }
            }
            Ok(t)
        }
    })
    .await?;
    let mut row = t.report("state", &w, writers, 0, size);
    let (c0, c1) = counters.await?;
    writer_extra(&mut row, c0, c1, w.end - w.start);
    row.extra.insert(
        "retries".into(),
        t.counters.get("retries").copied().unwrap_or(0) as f64,
    );
    eng.close().await?;
    if cfg.baseline.is_some() {
        cfg.say(&format!("state: redb, {writers} writer thread(s)"));
        let (db, d) = baseline_db(cfg, dir)?;
        preload_redb(&db, &items)?;
        let w = Window::new(cfg.warmup, cfg.duration);
        let (db2, keys2) = (db.clone(), keys.clone());
        let b = threads_blocking(writers, w, move |i, t, w| {
            let mut g = Generator::new(seed ^ (i as u64 + 1));
            while let Some(t0) = w.next() {
                let k = &keys2[g.rng().random_range(0..keys2.len())];
                redb_write(&db2, |tab| {
                    let old = tab
                        .get(k.as_bytes())?
                        .map(|v| v.value().to_vec())
                        .ok_or_else(|| missing(k))?;
                    let mut s: Json = serde_json::from_slice(&old)?;
                    g.next_state(&mut s);
                    let v = serde_json::to_vec(&s)?;
                    tab.insert(k.as_bytes(), v.as_slice())?;
                    Ok(())
                })?;
                t.done(w, t0);
            }
            Ok(())
        })
        .await?;
        b.baseline_into(&mut row, &w);
        close_redb(db, d);
    }
    Ok(vec![row])
}

// ---------------------------------------------------------------- transcript

const PRELOAD_ENTRIES: usize = 20;
const TAIL: usize = 10;

fn seq_key(stream: &str, seq: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(stream.len() + 9);
    k.extend_from_slice(stream.as_bytes());
    k.push(0);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

fn stream_bounds(stream: &str) -> (Vec<u8>, Vec<u8>) {
    let mut lo = stream.as_bytes().to_vec();
    lo.push(0);
    let mut hi = stream.as_bytes().to_vec();
    hi.push(1);
    (lo, hi)
}

async fn transcript(cfg: &BenchConfig, dir: &Path) -> Result<Vec<WorkloadReport>> {
    let size = cfg.value_size.unwrap_or(1024);
    let writers = cfg.writers.unwrap_or(4).max(1);
    let readers = cfg.readers.unwrap_or(2);
    let n = cfg.keys.unwrap_or(1_000).max(1);
    let seed = cfg.seed;
    let convs: Arc<Vec<String>> = Arc::new((0..n as u64).map(|i| key_of("conv-", i)).collect());
    let mut g = Generator::new(seed);
    let preload: Vec<Vec<Vec<u8>>> = convs
        .iter()
        .map(|c| {
            (0..PRELOAD_ENTRIES)
                .map(|j| serde_json::to_vec(&g.activity(c, j % 2 == 0, size)).unwrap_or_default())
                .collect()
        })
        .collect();
    let ns = Namespace::new(["bench", "transcripts"]);
    cfg.say(&format!(
        "transcript: preloading {n} streams x {PRELOAD_ENTRIES} activities of {size} B"
    ));
    let eng = Engine::open(cfg, dir)?;
    for chunk in convs.iter().zip(&preload).collect::<Vec<_>>().chunks(25) {
        let ms = chunk
            .iter()
            .map(|(c, es)| Mutation::Append {
                ns: ns.clone(),
                stream: (*c).clone(),
                entries: es.iter().map(|e| Value::json_text(e.clone())).collect(),
                expected_last: None,
            })
            .collect();
        eng.store.batch(ms).await?;
    }
    eng.sync().await?;
    cfg.say(&format!(
        "transcript: botstore, {writers} writer task(s), {readers} reader thread(s)"
    ));
    let w = Window::new(cfg.warmup, cfg.duration);
    let counters = eng.counters_over(&w);
    let (store, convs2, ns2) = (eng.store.clone(), convs.clone(), ns.clone());
    let reads = threads_blocking(readers, w, move |i, t, w| {
        let mut rng = SmallRng::seed_from_u64(seed ^ 0xabcd ^ (i as u64 + 1));
        while let Some(t0) = w.next() {
            let c = &convs2[rng.random_range(0..convs2.len())];
            let es = block_on(store.read_stream(&ns2, c, None, Direction::Backward, TAIL))?;
            if es.len() != TAIL {
                return Err(missing(c));
            }
            black_box(es);
            t.done(w, t0);
        }
        Ok(())
    });
    let writes = tasks(writers, w, |i, w| {
        let (store, convs, ns) = (eng.store.clone(), convs.clone(), ns.clone());
        async move {
            let mut g = Generator::new(seed ^ (i as u64 + 1));
            let mut t = Tally::new();
            let mut turn = false;
            while w.next().is_some() {
                let c = &convs[g.rng().random_range(0..convs.len())];
                turn = !turn;
                let v = Value::json_text(serde_json::to_vec(&g.activity(c, turn, size))?);
                let t0 = Instant::now();
                store.append(&ns, c, vec![v], None).await?;
                t.done(&w, t0);
            }
            Ok(t)
        }
    });
    let (reads, writes) = tokio::join!(reads, writes);
    let (reads, writes) = (reads?, writes?);
    let mut wrow = writes.report("transcript-append", &w, writers, readers, size);
    let (c0, c1) = counters.await?;
    writer_extra(&mut wrow, c0, c1, w.end - w.start);
    let mut rrow = reads.report("transcript-tail", &w, writers, readers, size);
    rrow.extra.insert("entries_per_read".into(), TAIL as f64);
    eng.close().await?;
    if cfg.baseline.is_some() {
        cfg.say("transcript: redb");
        let (db, d) = baseline_db(cfg, dir)?;
        redb_write(&db, |t| {
            for (c, es) in convs.iter().zip(&preload) {
                for (j, e) in es.iter().enumerate() {
                    t.insert(seq_key(c, j as u64 + 1).as_slice(), e.as_slice())?;
                }
            }
            Ok(())
        })?;
        let w = Window::new(cfg.warmup, cfg.duration);
        let (db2, convs2) = (db.clone(), convs.clone());
        let reads = threads_blocking(readers, w, move |i, t, w| {
            let mut rng = SmallRng::seed_from_u64(seed ^ 0xabcd ^ (i as u64 + 1));
            while let Some(t0) = w.next() {
                let c = &convs2[rng.random_range(0..convs2.len())];
                let (lo, hi) = stream_bounds(c);
                let txn = db2.begin_read()?;
                let tab = txn.open_table(KV)?;
                let mut es = Vec::with_capacity(TAIL);
                for e in tab
                    .range::<&[u8]>(lo.as_slice()..hi.as_slice())?
                    .rev()
                    .take(TAIL)
                {
                    let (k, v) = e?;
                    es.push((k.value().to_vec(), v.value().to_vec()));
                }
                if es.len() != TAIL {
                    return Err(missing(c));
                }
                black_box(es);
                t.done(w, t0);
            }
            Ok(())
        });
        let (db3, convs3) = (db.clone(), convs.clone());
        let writes = threads_blocking(writers, w, move |i, t, w| {
            let mut g = Generator::new(seed ^ (i as u64 + 1));
            let mut turn = false;
            while w.next().is_some() {
                let c = &convs3[g.rng().random_range(0..convs3.len())];
                turn = !turn;
                let v = serde_json::to_vec(&g.activity(c, turn, size))?;
                let t0 = Instant::now();
                redb_write(&db3, |tab| {
                    let (lo, hi) = stream_bounds(c);
                    let last = match tab
                        .range::<&[u8]>(lo.as_slice()..hi.as_slice())?
                        .next_back()
                    {
                        Some(e) => {
                            let (k, _) = e?;
                            let k = k.value();
                            u64::from_be_bytes(k[k.len() - 8..].try_into().unwrap_or([0; 8]))
                        }
                        None => 0,
                    };
                    tab.insert(seq_key(c, last + 1).as_slice(), v.as_slice())?;
                    Ok(())
                })?;
                t.done(w, t0);
            }
            Ok(())
        });
        let (reads, writes) = tokio::join!(reads, writes);
        writes?.baseline_into(&mut wrow, &w);
        reads?.baseline_into(&mut rrow, &w);
        close_redb(db, d);
    }
    Ok(vec![wrow, rrow])
}

// ---------------------------------------------------------------- checkpoint

/// Steps after which a thread is done and its writer starts a new one.
const STEPS: u64 = 32;

/// One writer's LangGraph-like state: the thread it is running and its messages so far.
struct CheckpointWriter {
    g: Generator,
    writer: usize,
    thread_no: u64,
    thread: String,
    step: u64,
    messages: Vec<Json>,
    msg_size: usize,
}

/// The writes of one step.
struct Step {
    new_thread: Option<String>,
    ckpt_key: String,
    ckpt: Vec<u8>,
    latest_key: String,
    pointer: Vec<u8>,
}

impl CheckpointWriter {
    fn new(seed: u64, writer: usize, msg_size: usize) -> Self {
        CheckpointWriter {
            g: Generator::new(seed ^ (writer as u64 + 1)),
            writer,
            thread_no: 0,
            thread: format!("thread-{writer}-0"),
            step: 0,
            messages: Vec::new(),
            msg_size,
        }
    }

    fn next(&mut self) -> Result<Step> {
        if self.step >= STEPS {
            self.thread_no += 1;
            self.thread = format!("thread-{}-{}", self.writer, self.thread_no);
            self.step = 0;
            self.messages.clear();
        }
        self.step += 1;
        let human = self.step % 2 == 1;
        let m = self.g.message(human, self.msg_size);
        self.messages.push(m);
        let ckpt = self.g.checkpoint(&self.thread, self.step, &self.messages);
        let ckpt_key = format!("{}/ckpt/{:06}", self.thread, self.step);
        let pointer =
            json!({"step": self.step, "checkpoint": ckpt_key, "checkpoint_id": ckpt["id"]});
        Ok(Step {
            new_thread: (self.step == 1).then(|| self.thread.clone()),
            ckpt_key,
            ckpt: serde_json::to_vec(&ckpt)?,
            latest_key: format!("{}/latest", self.thread),
            pointer: serde_json::to_vec(&pointer)?,
        })
    }
}

fn pointer_target(p: &[u8]) -> Result<String> {
    let v: Json = serde_json::from_slice(p)?;
    v["checkpoint"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| BenchError("latest pointer without a checkpoint key".into()))
}

fn pick_thread(list: &RwLock<Vec<String>>, rng: &mut SmallRng) -> Option<String> {
    let l = list.read().ok()?;
    (!l.is_empty()).then(|| l[rng.random_range(0..l.len())].clone())
}

async fn checkpoint(cfg: &BenchConfig, dir: &Path) -> Result<Vec<WorkloadReport>> {
    let size = cfg.value_size.unwrap_or(256);
    let writers = cfg.writers.unwrap_or(4).max(1);
    let readers = cfg.readers.unwrap_or(2);
    let seed = cfg.seed;
    let ns = Namespace::new(["bench", "checkpoints"]);
    cfg.say(&format!(
        "checkpoint: botstore, {writers} writer task(s), {readers} reader thread(s)"
    ));
    let eng = Engine::open(cfg, dir)?;
    let threads_list = Arc::new(RwLock::new(Vec::<String>::new()));
    let w = Window::new(cfg.warmup, cfg.duration);
    let counters = eng.counters_over(&w);
    let (store, ns2, list2) = (eng.store.clone(), ns.clone(), threads_list.clone());
    let reads = threads_blocking(readers, w, move |i, t, w| {
        let mut rng = SmallRng::seed_from_u64(seed ^ 0xabcd ^ (i as u64 + 1));
        while w.next().is_some() {
            let Some(th) = pick_thread(&list2, &mut rng) else {
                std::thread::sleep(Duration::from_millis(1));
                continue;
            };
            let t0 = Instant::now();
            let latest_key = format!("{th}/latest");
            let p = block_on(store.get(&ns2, &latest_key))?.ok_or_else(|| missing(&latest_key))?;
            let k = pointer_target(&p.value.data)?;
            let c = block_on(store.get(&ns2, &k))?.ok_or_else(|| missing(&k))?;
            black_box(c.value.data.len());
            t.done(w, t0);
        }
        Ok(())
    });
    let writes = tasks(writers, w, |i, w| {
        let (store, ns, list) = (eng.store.clone(), ns.clone(), threads_list.clone());
        async move {
            let mut cw = CheckpointWriter::new(seed, i, size);
            let mut t = Tally::new();
            let (mut bytes, mut n) = (0u64, 0u64);
            while w.next().is_some() {
                let s = cw.next()?;
                let len = s.ckpt.len() as u64;
                let ms = vec![
                    Mutation::put(ns.clone(), s.ckpt_key, Value::json_text(s.ckpt)),
                    Mutation::put(ns.clone(), s.latest_key, Value::json_text(s.pointer)),
                ];
                let t0 = Instant::now();
                store.batch(ms).await?;
                t.done(&w, t0);
                if let Some(th) = s.new_thread {
                    if let Ok(mut l) = list.write() {
                        l.push(th);
                    }
                }
                bytes += len;
                n += 1;
            }
            t.count("ckpt_bytes", bytes);
            t.count("ckpts", n);
            Ok(t)
        }
    });
    let (reads, writes) = tokio::join!(reads, writes);
    let (reads, writes) = (reads?, writes?);
    let mut wrow = writes.report("checkpoint-write", &w, writers, readers, size);
    let (c0, c1) = counters.await?;
    writer_extra(&mut wrow, c0, c1, w.end - w.start);
    let ck = |t: &Tally, k: &str| t.counters.get(k).copied().unwrap_or(0) as f64;
    if ck(&writes, "ckpts") > 0.0 {
        wrow.extra.insert(
            "mean_checkpoint_bytes".into(),
            ck(&writes, "ckpt_bytes") / ck(&writes, "ckpts"),
        );
    }
    let mut rrow = reads.report("checkpoint-read", &w, writers, readers, size);
    eng.close().await?;
    if cfg.baseline.is_some() {
        cfg.say("checkpoint: redb");
        let (db, d) = baseline_db(cfg, dir)?;
        let list = Arc::new(RwLock::new(Vec::<String>::new()));
        let w = Window::new(cfg.warmup, cfg.duration);
        let (db2, list2) = (db.clone(), list.clone());
        let reads = threads_blocking(readers, w, move |i, t, w| {
            let mut rng = SmallRng::seed_from_u64(seed ^ 0xabcd ^ (i as u64 + 1));
            while w.next().is_some() {
                let Some(th) = pick_thread(&list2, &mut rng) else {
                    std::thread::sleep(Duration::from_millis(1));
                    continue;
                };
                let t0 = Instant::now();
                let latest_key = format!("{th}/latest");
                let txn = db2.begin_read()?;
                let tab = txn.open_table(KV)?;
                let p = tab
                    .get(latest_key.as_bytes())?
                    .map(|v| v.value().to_vec())
                    .ok_or_else(|| missing(&latest_key))?;
                let k = pointer_target(&p)?;
                let c = tab
                    .get(k.as_bytes())?
                    .map(|v| v.value().to_vec())
                    .ok_or_else(|| missing(&k))?;
                black_box(c.len());
                t.done(w, t0);
            }
            Ok(())
        });
        let (db3, list3) = (db.clone(), list.clone());
        let writes = threads_blocking(writers, w, move |i, t, w| {
            let mut cw = CheckpointWriter::new(seed, i, size);
            while w.next().is_some() {
                let s = cw.next()?;
                let t0 = Instant::now();
                redb_write(&db3, |tab| {
                    tab.insert(s.ckpt_key.as_bytes(), s.ckpt.as_slice())?;
                    tab.insert(s.latest_key.as_bytes(), s.pointer.as_slice())?;
                    Ok(())
                })?;
                t.done(w, t0);
                if let Some(th) = s.new_thread {
                    if let Ok(mut l) = list3.write() {
                        l.push(th);
                    }
                }
            }
            Ok(())
        });
        let (reads, writes) = tokio::join!(reads, writes);
        writes?.baseline_into(&mut wrow, &w);
        reads?.baseline_into(&mut rrow, &w);
        close_redb(db, d);
    }
    Ok(vec![wrow, rrow])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_distinct_and_spread() {
        let ks: std::collections::HashSet<_> = (0..10_000).map(|i| key_of("k", i)).collect();
        assert_eq!(ks.len(), 10_000);
        assert_ne!(key_of("k", 0)[..4], key_of("k", 1)[..4]);
    }

    #[test]
    fn checkpoints_grow_by_one_message_per_step() {
        let mut cw = CheckpointWriter::new(1, 0, 256);
        let a = cw.next().unwrap();
        let b = cw.next().unwrap();
        assert!(a.new_thread.is_some() && b.new_thread.is_none());
        let (ja, jb): (Json, Json) = (
            serde_json::from_slice(&a.ckpt).unwrap(),
            serde_json::from_slice(&b.ckpt).unwrap(),
        );
        assert_eq!(
            ja["channel_values"]["messages"].as_array().unwrap().len(),
            1
        );
        assert_eq!(
            jb["channel_values"]["messages"].as_array().unwrap().len(),
            2
        );
        assert_eq!(pointer_target(&b.pointer).unwrap(), b.ckpt_key);
        for _ in 2..STEPS {
            cw.next().unwrap();
        }
        assert!(cw.next().unwrap().new_thread.is_some());
    }
}
