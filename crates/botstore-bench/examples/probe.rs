//! Where the time of one durable single put goes: the embedded writer's steps, run one by
//! one on the engine's own public pieces (`apply_group`, `Journal`, `tables`), timed apart.
//!
//! ```text
//! cargo run --release -p botstore-bench --example probe -- write|read [seconds, default 2]
//! ```
//!
//! Steps: (1) the thread handoff of a request and its answer (std mpsc to a thread, tokio
//! oneshot back to a task), (2) `apply_group` of one put on a redb read view, (3) the journal
//! append + `fdatasync`, (4) the redb `Durability::None` commit of the write set, (5) a
//! redb `Durability::Immediate` commit of the same write set (the baseline's cost).
//! Since the memtable (commit 7167293) the engine no longer does step (4) per group on the
//! acknowledgement path: a flusher thread commits a whole memtable at once. The step is
//! still what redb costs per write set.
//!
//! `probe read [seconds]` times the layers of a point get, from a raw redb get up to
//! `Store::get`, on one and two threads.

// A developer's measurement run, not a tool: any failure ends the run, and a panic
// naming the step is the report wanted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use botstore::apply::{apply_group, Batch};
use botstore::{Mutation, Namespace, Value};
use botstore_bench::gen::Generator;
use botstore_embedded::journal::Journal;
use botstore_embedded::tables::{self, RedbView};
use hdrhistogram::Histogram;
use redb::{Database, ReadableDatabase};
use std::time::{Duration, Instant};

fn hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("histogram")
}

fn show(name: &str, h: &Histogram<u64>, secs: f64) {
    println!(
        "{name:<34} n={:>7} mean={:>8.1}us p50={:>8.1}us p99={:>8.1}us  ({:.0}/s)",
        h.len(),
        h.mean() / 1000.0,
        h.value_at_quantile(0.5) as f64 / 1000.0,
        h.value_at_quantile(0.99) as f64 / 1000.0,
        h.len() as f64 / secs
    );
}

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_else(|| "write".into());
    let secs: f64 = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0);
    let dur = Duration::from_secs_f64(secs);
    match mode.as_str() {
        "write" => write_path(dur, secs),
        "read" => read_path(dur, secs),
        m => eprintln!("probe: unknown mode {m:?} (write, read)"),
    }
}

/// Time `op` in a loop on `threads` threads for `dur`; print the merged histogram.
fn timed(name: &str, threads: usize, dur: Duration, op: &(dyn Fn(u64) + Sync)) {
    let h = std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    let mut h = hist();
                    let end = Instant::now() + dur;
                    let mut i = t as u64 * 1_000_003;
                    while Instant::now() < end {
                        i += 1;
                        let t0 = Instant::now();
                        op(i);
                        h.saturating_record(t0.elapsed().as_nanos() as u64);
                    }
                    h
                })
            })
            .collect();
        let mut all = hist();
        for x in hs {
            all.add(x.join().expect("thread")).expect("merge");
        }
        all
    });
    show(&format!("{name} [{threads} thr]"), &h, dur.as_secs_f64());
}

/// The layers of a point get, from raw redb up to `Store::get`, on 1 and 2 threads.
fn read_path(dur: Duration, _secs: f64) {
    use botstore::codec::{named_key, Table};
    use botstore::kv::KvRead;
    use std::hint::black_box;
    let dir = tempfile::tempdir().expect("tempdir");
    let n = 10_000u64;
    let pool = Generator::new(1).pool(256, 1024);
    let ns = Namespace::new(["bench", "get"]);
    let keys: Vec<String> = (0..n)
        .map(|i| format!("k{:016x}", i.wrapping_mul(0x9E37_79B9_7F4A_7C15)))
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let backend = std::sync::Arc::new(
        botstore_embedded::EmbeddedBackend::open(dir.path().join("s"), Default::default())
            .expect("open"),
    );
    let store = botstore::Store::new(backend.clone());
    rt.block_on(async {
        for (c, chunk) in keys.chunks(500).enumerate() {
            let ms = chunk
                .iter()
                .enumerate()
                .map(|(j, k)| {
                    Mutation::put(
                        ns.clone(),
                        k.clone(),
                        Value::json_text(pool[(c * 500 + j) % 256].clone()),
                    )
                })
                .collect();
            store.batch(ms).await.expect("preload");
        }
    });
    store.sync().expect("sync");
    // A raw redb copy of the store file's items table, read the same way the engine does.
    let raw = Database::builder()
        .set_cache_size(64 << 20)
        .create(dir.path().join("raw.redb"))
        .expect("redb");
    {
        let txn = raw.begin_write().expect("write");
        {
            let mut t = txn.open_table(tables::def(Table::Items)).expect("table");
            let src = botstore::Backend::read(&*backend).expect("read");
            for k in &keys {
                let nk = named_key(&ns, k);
                let v = src.get(Table::Items, &nk).expect("get").expect("present");
                t.insert(nk.as_slice(), v.as_slice()).expect("insert");
            }
        }
        txn.commit().expect("commit");
    }
    let nkeys: Vec<Vec<u8>> = keys.iter().map(|k| named_key(&ns, k)).collect();
    println!(
        "size of the boxed read view (RedbView): {} bytes",
        std::mem::size_of::<RedbView>()
    );
    let pick = |i: u64| ((i.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 20) % n) as usize;
    for threads in [1, 2] {
        timed("raw redb get (no copy)", threads, dur, &|i| {
            let txn = raw.begin_read().expect("read");
            let t = txn.open_table(tables::def(Table::Items)).expect("table");
            let v = t
                .get(nkeys[pick(i)].as_slice())
                .expect("get")
                .expect("present");
            black_box(v.value().len());
        });
        timed("RedbView::get (+ to_vec)", threads, dur, &|i| {
            let v = RedbView::new(raw.begin_read().expect("read"));
            black_box(
                v.get(Table::Items, &nkeys[pick(i)])
                    .expect("get")
                    .expect("present")
                    .len(),
            );
        });
        timed("+ named_key, decode, into_item", threads, dur, &|i| {
            let v = RedbView::new(raw.begin_read().expect("read"));
            let it = botstore::read::get_item(
                &v,
                &botstore::CodecStack::plain(),
                &ns,
                &keys[pick(i)],
                0,
            )
            .expect("get")
            .expect("present");
            black_box(it.value.data.len());
        });
        timed(
            "fix: decode from the redb guard (1 copy)",
            threads,
            dur,
            &|i| {
                let txn = raw.begin_read().expect("read");
                let t = txn.open_table(tables::def(Table::Items)).expect("table");
                let nk = named_key(&ns, &keys[pick(i)]);
                let g = t.get(nk.as_slice()).expect("get").expect("present");
                let rec = botstore::codec::ItemRecord::decode(g.value()).expect("decode");
                let it = rec.into_item(ns.clone(), keys[pick(i)].clone());
                black_box(it.value.data.len());
            },
        );
        timed(
            "+ Box<dyn KvRead> + RwLock (backend.read)",
            threads,
            dur,
            &|i| {
                let v = botstore::Backend::read(&*backend).expect("read");
                let it = botstore::read::get_item(
                    &*v,
                    &botstore::CodecStack::plain(),
                    &ns,
                    &keys[pick(i)],
                    0,
                )
                .expect("get")
                .expect("present");
                black_box(it.value.data.len());
            },
        );
        timed("Store::get_now (+ limits, clock)", threads, dur, &|i| {
            let it = store
                .get_now(&ns, &keys[pick(i)])
                .expect("get")
                .expect("present");
            black_box(it.value.data.len());
        });
        timed("block_on(Store::get)", threads, dur, &|i| {
            let it = futures::executor::block_on(store.get(&ns, &keys[pick(i)]))
                .expect("get")
                .expect("present");
            black_box(it.value.data.len());
        });
    }
    drop(store);
    let _ = backend.close();
}

fn write_path(dur: Duration, secs: f64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut g = Generator::new(1);
    let pool = g.pool(256, 1024);
    let ns = Namespace::new(["bench", "put"]);

    // (1) handoff: task -> mpsc -> thread -> oneshot -> task.
    {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let (tx, rx) = std::sync::mpsc::channel::<tokio::sync::oneshot::Sender<()>>();
        let th = std::thread::spawn(move || {
            while let Ok(a) = rx.recv() {
                let _ = a.send(());
            }
        });
        let h = rt.block_on(async move {
            tokio::spawn(async move {
                let mut h = hist();
                let end = Instant::now() + dur;
                while Instant::now() < end {
                    let (a, b) = tokio::sync::oneshot::channel();
                    let t0 = Instant::now();
                    tx.send(a).expect("send");
                    b.await.expect("answer");
                    h.saturating_record(t0.elapsed().as_nanos() as u64);
                }
                h
            })
            .await
            .expect("task")
        });
        show("handoff round trip", &h, secs);
        drop(rt);
        let _ = th.join();
    }

    let db = Database::builder()
        .set_cache_size(64 << 20)
        .create(dir.path().join("store.redb"))
        .expect("redb");
    {
        let txn = db.begin_write().expect("write");
        tables::create_all(&txn).expect("tables");
        txn.commit().expect("commit");
    }
    let mut journal = Journal::open(&dir.path().join("wal.log"), 64 << 20, 1).expect("journal");
    let (mut h_apply, mut h_journal, mut h_none, mut h_full) = (hist(), hist(), hist(), hist());
    let mut h_imm = hist();
    let mut i = 0u64;
    let end = Instant::now() + dur;
    while Instant::now() < end {
        i += 1;
        let batch = Batch {
            mutations: vec![Mutation::put(
                ns.clone(),
                format!("p{:016x}", i.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
                Value::json_text(pool[i as usize % pool.len()].clone()),
            )],
            atomic: true,
            now: 1_700_000_000_000,
            max_value_size: 16 << 20,
        };
        let t_all = Instant::now();
        // (2) apply (with the batch clone the writer makes).
        let t0 = Instant::now();
        let batches = vec![batch.clone()];
        let view = RedbView::new(db.begin_read().expect("read"));
        let writes = apply_group(&view, &batches, &botstore::CodecStack::plain())
            .expect("apply")
            .writes;
        drop(view);
        h_apply.saturating_record(t0.elapsed().as_nanos() as u64);
        // (3) journal append + fdatasync.
        let t0 = Instant::now();
        journal.append(i, i, &writes).expect("append");
        journal.sync().expect("sync");
        h_journal.saturating_record(t0.elapsed().as_nanos() as u64);
        if journal.is_full() {
            journal.restart(journal.generation + 1);
        }
        // (4) redb commit without fsync.
        let t0 = Instant::now();
        let mut txn = db.begin_write().expect("write");
        txn.set_durability(redb::Durability::None)
            .expect("durability");
        tables::apply_writes(&txn, tables::write_set_iter(&writes)).expect("writes");
        txn.commit().expect("commit");
        h_none.saturating_record(t0.elapsed().as_nanos() as u64);
        h_full.saturating_record(t_all.elapsed().as_nanos() as u64);
        // (5) every 50th put: an Immediate commit of the same write set, timed apart.
        if i.is_multiple_of(50) {
            let t0 = Instant::now();
            let mut txn = db.begin_write().expect("write");
            txn.set_durability(redb::Durability::Immediate)
                .expect("durability");
            tables::apply_writes(&txn, tables::write_set_iter(&writes)).expect("writes");
            txn.commit().expect("commit");
            h_imm.saturating_record(t0.elapsed().as_nanos() as u64);
        }
    }
    let bytes: usize = {
        let batch = Batch {
            mutations: vec![Mutation::put(
                ns.clone(),
                "k",
                Value::json_text(pool[0].clone()),
            )],
            atomic: true,
            now: 0,
            max_value_size: 16 << 20,
        };
        let view = RedbView::new(db.begin_read().expect("read"));
        let w = apply_group(&view, &[batch], &botstore::CodecStack::plain())
            .expect("apply")
            .writes;
        w.iter()
            .map(|((_, k), v)| k.len() + v.as_ref().map_or(0, Vec::len))
            .sum()
    };
    println!("write set of one 1 KiB put: {bytes} bytes (key + value bytes over all tables)");
    show("apply_group (+ batch clone)", &h_apply, secs);
    show("journal append + fdatasync", &h_journal, secs);
    show("redb commit, Durability::None", &h_none, secs);
    show("sum of the writer's steps", &h_full, secs);
    show("redb commit, Durability::Immediate", &h_imm, secs);

    // (6) the same steps for a group of 64 single-put batches (what 64 concurrent writers
    // give the writer at best), per group.
    let (mut g_apply, mut g_journal, mut g_none, mut g_full) = (hist(), hist(), hist(), hist());
    let end = Instant::now() + dur;
    let group = 64u64;
    while Instant::now() < end {
        let batches: Vec<Batch> = (0..group)
            .map(|_| {
                i += 1;
                Batch {
                    mutations: vec![Mutation::put(
                        ns.clone(),
                        format!("p{:016x}", i.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
                        Value::json_text(pool[i as usize % pool.len()].clone()),
                    )],
                    atomic: true,
                    now: 1_700_000_000_000,
                    max_value_size: 16 << 20,
                }
            })
            .collect();
        let t_all = Instant::now();
        let t0 = Instant::now();
        let cloned: Vec<Batch> = batches.to_vec();
        let view = RedbView::new(db.begin_read().expect("read"));
        let writes = apply_group(&view, &cloned, &botstore::CodecStack::plain())
            .expect("apply")
            .writes;
        drop(view);
        g_apply.saturating_record(t0.elapsed().as_nanos() as u64);
        let t0 = Instant::now();
        journal.append(i, i, &writes).expect("append");
        journal.sync().expect("sync");
        g_journal.saturating_record(t0.elapsed().as_nanos() as u64);
        if journal.is_full() {
            journal.restart(journal.generation + 1);
        }
        let t0 = Instant::now();
        let mut txn = db.begin_write().expect("write");
        txn.set_durability(redb::Durability::None)
            .expect("durability");
        tables::apply_writes(&txn, tables::write_set_iter(&writes)).expect("writes");
        txn.commit().expect("commit");
        g_none.saturating_record(t0.elapsed().as_nanos() as u64);
        g_full.saturating_record(t_all.elapsed().as_nanos() as u64);
    }
    println!("groups of {group} single-put batches:");
    show("  apply_group (+ clone), per group", &g_apply, secs);
    show("  journal append + fdatasync", &g_journal, secs);
    show("  redb commit, Durability::None", &g_none, secs);
    show("  sum, per group", &g_full, secs);
    println!(
        "  => at most {:.0} puts/s from the writer thread at the mean",
        group as f64 * 1e9 / g_full.mean()
    );
}
