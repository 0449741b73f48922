//! Crash safety: a real process is killed with SIGKILL in the middle of writes (and while it
//! creates or opens the store), then the store is reopened and checked against what the
//! killed process was told.
//!
//! How it works. This test binary re-executes itself as the child
//! (`current_exe() child_process --exact --nocapture --test-threads=1`, with the data folder
//! in `BOTSTORE_CRASH_CHILD` and the options in `BOTSTORE_CRASH_CONF`); `child_process`
//! returns at once when the variable is absent, so a normal run only runs the parents.
//!
//! The child opens the embedded store and runs [`TASKS`] tokio tasks. Task `t` owns the
//! namespace `crash/t<t>` (keys `k00`..`k11` and the stream `log`) and submits atomic batches
//! one after the other. Batch `id` of task `t` is a pure function of `(t, id)` and the task's
//! state before it ([`plan`]): 1-6 mutations mixing unconditional puts, puts conditional on
//! the current version or on absence, deletes (of present and absent keys), appends with
//! `expected_last` and trims, with values of 100 B - 8 KiB derived from `(t, id, index)`;
//! about one batch in 16 also holds a put that cannot succeed, so the whole batch must be
//! rejected. The child prints `SENT t id` before submitting and `ACK t id <versions>` (or
//! `ACK t id rejected`) after the acknowledgement, and checks every outcome against its own
//! model (an `ERR` line and exit on a mismatch). Some rounds also compact the store every
//! 40 ms, so some kills land in a compaction.
//!
//! The parent reads those lines, kills the child at a chosen point (after the n-th ACK plus
//! a random delay, right after the store opened, at a random point of opening, or when the
//! data folder is in a watched state), reads what the pipe still holds, and then reopens the
//! store in-process and checks:
//!
//! * every task's state (every item's exact bytes and version, the stream's bounds and
//!   entries) equals its acknowledged batches applied in order, optionally plus its one
//!   batch that was sent but not acknowledged, applied as a whole; anything else (a lost
//!   acknowledged batch, part of a batch) fails;
//! * versions grow across crashes; the change feed has every LSN from 1 to the last LSN,
//!   no gap; the last LSN is at least every acknowledged version, and the change at each
//!   acknowledged put's version is that put (namespace, key, exact bytes);
//! * the per-namespace counters (`Store::stats`) equal a recount by scan, and the stream
//!   metadata (length, bytes, bounds) equals its entries.
//!
//! The next round runs on the same folder, so every round recovers on top of the previous
//! recovery. The tests:
//!
//! * `sigkill_while_writing_loses_no_acknowledged_batch`: `Durability::Immediate`, a
//!   256 KiB journal (checkpoints and wrap-around every few dozen batches; 64 KiB in every
//!   fourth round: a checkpoint after nearly every group), a 50 ms checkpoint interval;
//!   `BOTSTORE_CRASH_ROUNDS` kills (default 24);
//! * `sigkill_with_relaxed_durability_loses_nothing_written`: the same with
//!   `Durability::Relaxed` (a quarter of the rounds, at least 3);
//! * `sigkill_while_opening_and_replaying`: a 16 MiB journal and no timed checkpoints, so a
//!   killed writer leaves hundreds of frames; then four kills at random points of the
//!   replaying open before the check (3 cycles);
//! * `sigkill_while_creating_a_new_store`: kills while a new data folder is created, half of
//!   them exactly while redb initialises its file.
//!
//! `BOTSTORE_CRASH_SEED` sets the seed of the kill points (default: from the clock; each
//! test prints its seed, and a failure message names it and the kill point).

// Test code: helpers outside #[test] fns unwrap too; a panic is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use botstore::{
    ChangeKind, Direction, Error, Mutation, Namespace, NamespaceStats, Outcome, Precondition, Scan,
    Store, StoreOptions, TrimTo, Value, Version,
};
use botstore_embedded::{Durability, EmbeddedBackend, EmbeddedOptions};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

const CHILD_ENV: &str = "BOTSTORE_CRASH_CHILD";
const CONF_ENV: &str = "BOTSTORE_CRASH_CONF";
const CHILD_TEST: &str = "child_process";
/// Starts every line the child means for the parent (the test harness prints
/// `test child_process ... ` without a newline before the child's first line).
const MARK: &str = "@@ ";
/// Concurrent writer tasks in the child.
const TASKS: usize = 8;
/// Keys per task.
const KEYS: usize = 12;
const STREAM: &str = "log";
const CT: &str = "application/octet-stream";
/// A child that is never killed gives up after this long (so nothing is left running if
/// the parent dies).
const CHILD_MAX_LIFE: Duration = Duration::from_secs(120);
/// The parent gives up on a child that prints nothing for this long.
const SILENCE: Duration = Duration::from_secs(60);

// ====================================================================== deterministic data

/// splitmix64: small, seedable, good enough for test data.
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed ^ 0x6A09_E667_F3BC_C908)
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The bytes of value `idx` of batch `id` of task `task`: a readable header, then words
/// and noise, so that values compress (and their prefix gets a dictionary: the kills land
/// around dictionary writes and compressed values too).
fn payload(task: usize, id: u64, idx: usize, len: usize, rng: &mut Rng) -> Vec<u8> {
    const WORDS: [&str; 8] = [
        "\"role\":\"user\",",
        "\"content\":\"",
        "hello ",
        "how can I help ",
        "order status ",
        "\"}, ",
        "thanks ",
        "{\"type\":\"message\",",
    ];
    let mut v = format!("t{task} b{id} i{idx} ").into_bytes();
    while v.len() < len {
        let r = rng.next();
        if r.is_multiple_of(3) {
            v.extend_from_slice(&r.to_le_bytes());
        } else {
            v.extend_from_slice(WORDS[(r >> 8) as usize % WORDS.len()].as_bytes());
        }
    }
    v.truncate(len.max(1));
    v
}

/// Value sizes: log-uniform in 100 B ..= 8 KiB, so frames vary a lot in size.
fn value_len(rng: &mut Rng) -> usize {
    (100.0 * (8192.0f64 / 100.0).powf(rng.unit())) as usize
}

fn task_ns(t: usize) -> Namespace {
    Namespace::new(["crash".to_string(), format!("t{t}")])
}

fn key_name(k: usize) -> String {
    format!("k{k:02}")
}

// ====================================================================== the model

#[derive(Clone, Debug, PartialEq)]
struct ItemModel {
    data: Vec<u8>,
    /// `None`: written by a batch whose acknowledgement was never seen.
    version: Option<u64>,
}

#[derive(Clone, Debug, PartialEq)]
struct StreamModel {
    first_seq: u64,
    last_seq: u64,
    entries: VecDeque<(u64, Vec<u8>)>,
}

/// Everything one task owns.
#[derive(Clone, Debug, Default, PartialEq)]
struct TaskModel {
    items: BTreeMap<String, ItemModel>,
    stream: Option<StreamModel>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Cond {
    Any,
    Absent,
    /// `IfVersion` of the version the item has before the batch.
    Current,
}

#[derive(Clone, Debug)]
enum Op {
    Put {
        key: String,
        data: Vec<u8>,
        cond: Cond,
    },
    Delete {
        key: String,
    },
    Append {
        entries: Vec<Vec<u8>>,
    },
    Trim {
        keep: u64,
    },
    /// A put conditional on a version no item has: the whole batch must be rejected.
    Fail {
        key: String,
    },
}

/// What a mutation of a committed batch must report.
#[derive(Debug, PartialEq)]
enum Expect {
    Written,
    Deleted(bool),
    Appended(u64, u64),
    Trimmed(u64),
}

/// Batch `id` of task `task`, given the task's state before it. Keys are distinct within a
/// batch, so a conditional put's precondition refers to the state before the batch.
fn plan(task: usize, id: u64, m: &TaskModel) -> Vec<Op> {
    let mut rng = Rng::new(((task as u64) << 48) ^ id.wrapping_mul(0xD6E8_FEB8_6659_FD93));
    let n = 1 + rng.below(6) as usize;
    let mut keys: Vec<usize> = (0..KEYS).collect();
    for i in (1..keys.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        keys.swap(i, j);
    }
    let mut keys = keys.into_iter().map(key_name);
    let mut key = || keys.next().expect("more keys than mutations");
    let mut stream_exists = m.stream.is_some();
    let mut ops = Vec::with_capacity(n + 1);
    for i in 0..n {
        let r = rng.below(100);
        let op = if r < 35 {
            let len = value_len(&mut rng);
            Op::Put {
                key: key(),
                data: payload(task, id, i, len, &mut rng),
                cond: Cond::Any,
            }
        } else if r < 55 {
            let k = key();
            let cond = if m.items.contains_key(&k) {
                Cond::Current
            } else {
                Cond::Absent
            };
            let len = value_len(&mut rng);
            Op::Put {
                key: k,
                data: payload(task, id, i, len, &mut rng),
                cond,
            }
        } else if r < 70 {
            Op::Delete { key: key() }
        } else if r < 90 || !stream_exists {
            stream_exists = true;
            let entries = (0..rng.range(1, 3) as usize)
                .map(|j| {
                    let len = rng.range(50, 1000) as usize;
                    payload(task, id, 100 + i * 10 + j, len, &mut rng)
                })
                .collect();
            Op::Append { entries }
        } else {
            Op::Trim {
                keep: rng.range(3, 27),
            }
        };
        ops.push(op);
    }
    if rng.below(16) == 0 {
        let at = rng.below(n as u64 + 1) as usize;
        ops.insert(at, Op::Fail { key: key() });
    }
    ops
}

/// The state after `ops`, and what each mutation must report; `None` if the batch must be
/// rejected (it changes nothing).
fn apply_plan(m: &TaskModel, ops: &[Op]) -> Option<(TaskModel, Vec<Expect>)> {
    if ops.iter().any(|o| matches!(o, Op::Fail { .. })) {
        return None;
    }
    let mut m = m.clone();
    let mut ex = Vec::with_capacity(ops.len());
    for op in ops {
        match op {
            Op::Put { key, data, .. } => {
                m.items.insert(
                    key.clone(),
                    ItemModel {
                        data: data.clone(),
                        version: None,
                    },
                );
                ex.push(Expect::Written);
            }
            Op::Delete { key } => ex.push(Expect::Deleted(m.items.remove(key).is_some())),
            Op::Append { entries } => {
                let s = m.stream.get_or_insert(StreamModel {
                    first_seq: 1,
                    last_seq: 0,
                    entries: VecDeque::new(),
                });
                let first = s.last_seq + 1;
                for e in entries {
                    s.last_seq += 1;
                    s.entries.push_back((s.last_seq, e.clone()));
                }
                ex.push(Expect::Appended(first, s.last_seq));
            }
            Op::Trim { keep } => {
                let s = m
                    .stream
                    .as_mut()
                    .expect("plan trims only a stream that exists");
                let cut = (s.last_seq + 1).saturating_sub(*keep).max(s.first_seq);
                let mut removed = 0;
                while s.entries.front().is_some_and(|(seq, _)| *seq < cut) {
                    s.entries.pop_front();
                    removed += 1;
                }
                s.first_seq = s.first_seq.max(cut);
                ex.push(Expect::Trimmed(removed));
            }
            Op::Fail { .. } => unreachable!(),
        }
    }
    Some((m, ex))
}

/// The keys of the puts of `ops`, in order (the versions of an ACK line follow this order).
fn put_keys(ops: &[Op]) -> Vec<(&String, &Vec<u8>)> {
    ops.iter()
        .filter_map(|o| match o {
            Op::Put { key, data, .. } => Some((key, data)),
            _ => None,
        })
        .collect()
}

fn to_mutations(ns: &Namespace, ops: &[Op], m: &TaskModel) -> Vec<Mutation> {
    let mut last_seq = m.stream.as_ref().map_or(0, |s| s.last_seq);
    ops.iter()
        .map(|op| match op {
            Op::Put { key, data, cond } => {
                let pre = match cond {
                    Cond::Any => Precondition::Any,
                    Cond::Absent => Precondition::IfAbsent,
                    Cond::Current => Precondition::IfVersion(Version(
                        m.items[key].version.expect("the child knows every version"),
                    )),
                };
                Mutation::put(ns.clone(), key.as_str(), Value::bytes(CT, data.clone())).when(pre)
            }
            Op::Delete { key } => Mutation::delete(ns.clone(), key.as_str()),
            Op::Append { entries } => {
                let expected_last = Some(last_seq);
                last_seq += entries.len() as u64;
                Mutation::Append {
                    ns: ns.clone(),
                    stream: STREAM.into(),
                    entries: entries
                        .iter()
                        .map(|e| Value::bytes(CT, e.clone()))
                        .collect(),
                    expected_last,
                }
            }
            Op::Trim { keep } => Mutation::Trim {
                ns: ns.clone(),
                stream: STREAM.into(),
                to: TrimTo::KeepLast(*keep),
            },
            Op::Fail { key } => Mutation::put(
                ns.clone(),
                key.as_str(),
                Value::bytes(CT, b"never".to_vec()),
            )
            .when(Precondition::IfVersion(Version(u64::MAX))),
        })
        .collect()
}

/// Read what task `t` owns from the store. The second list holds inconsistencies found
/// on the way (stream metadata that disagrees with the entries).
async fn read_task(store: &Store, t: usize) -> Result<(TaskModel, Vec<String>), Error> {
    let ns = task_ns(t);
    let mut problems = Vec::new();
    let page = store
        .scan(&Scan {
            ns: ns.clone(),
            limit: 10_000,
            ..Default::default()
        })
        .await?;
    assert!(page.cursor.is_none(), "more than 10,000 items in {ns}");
    let mut m = TaskModel::default();
    for it in page.items {
        if it.value.content_type != CT {
            problems.push(format!("{ns}/{}: content type {:?}", it.key, it.value));
        }
        m.items.insert(
            it.key,
            ItemModel {
                data: it.value.data,
                version: Some(it.version.0),
            },
        );
    }
    if let Some(info) = store.stream_info(&ns, STREAM).await? {
        let entries: VecDeque<(u64, Vec<u8>)> = store
            .read_stream(&ns, STREAM, None, Direction::Forward, 10_000)
            .await?
            .into_iter()
            .map(|e| (e.seq, e.value.data))
            .collect();
        let bytes: u64 = entries.iter().map(|(_, d)| d.len() as u64).sum();
        if info.len != entries.len() as u64 || info.bytes != bytes {
            problems.push(format!(
                "{ns}/{STREAM}: info says {} entries / {} bytes, the entries are {} / {bytes}",
                info.len,
                info.bytes,
                entries.len()
            ));
        }
        if let (Some(f), Some(l)) = (entries.front(), entries.back()) {
            if f.0 != info.first_seq || l.0 != info.last_seq {
                problems.push(format!(
                    "{ns}/{STREAM}: info says seqs {}..={}, the entries are {}..={}",
                    info.first_seq, info.last_seq, f.0, l.0
                ));
            }
        }
        m.stream = Some(StreamModel {
            first_seq: info.first_seq,
            last_seq: info.last_seq,
            entries,
        });
    }
    Ok((m, problems))
}

fn show(d: &[u8]) -> String {
    let s: String = d
        .iter()
        .take(20)
        .map(|b| {
            if b.is_ascii_graphic() || *b == b' ' {
                *b as char
            } else {
                '.'
            }
        })
        .collect();
    format!("{} bytes {s:?}", d.len())
}

/// Where `actual` differs from `expected` (versions are compared where expected knows them).
fn diff(expected: &TaskModel, actual: &TaskModel) -> Vec<String> {
    let mut out = Vec::new();
    let keys: std::collections::BTreeSet<&String> =
        expected.items.keys().chain(actual.items.keys()).collect();
    for k in keys {
        match (expected.items.get(k), actual.items.get(k)) {
            (Some(e), None) => out.push(format!("{k}: missing (expected {})", show(&e.data))),
            (None, Some(a)) => out.push(format!(
                "{k}: unexpected {} v{:?}",
                show(&a.data),
                a.version
            )),
            (Some(e), Some(a)) => {
                if e.data != a.data {
                    out.push(format!(
                        "{k}: holds {}, expected {}",
                        show(&a.data),
                        show(&e.data)
                    ));
                }
                if e.version.is_some() && e.version != a.version {
                    out.push(format!(
                        "{k}: version {:?}, expected {:?}",
                        a.version, e.version
                    ));
                }
            }
            (None, None) => {}
        }
    }
    match (&expected.stream, &actual.stream) {
        (None, None) => {}
        (Some(_), None) => out.push("stream: missing".into()),
        (None, Some(a)) => out.push(format!(
            "stream: unexpected ({}..={})",
            a.first_seq, a.last_seq
        )),
        (Some(e), Some(a)) => {
            if (e.first_seq, e.last_seq) != (a.first_seq, a.last_seq) {
                out.push(format!(
                    "stream: seqs {}..={}, expected {}..={}",
                    a.first_seq, a.last_seq, e.first_seq, e.last_seq
                ));
            }
            if e.entries != a.entries {
                let first_bad = e
                    .entries
                    .iter()
                    .zip(&a.entries)
                    .position(|(x, y)| x != y)
                    .unwrap_or(e.entries.len().min(a.entries.len()));
                out.push(format!(
                    "stream: {} entries, expected {}; first difference at position {first_bad}",
                    a.entries.len(),
                    e.entries.len()
                ));
            }
        }
    }
    if out.len() > 12 {
        let more = out.len() - 12;
        out.truncate(12);
        out.push(format!("... and {more} more"));
    }
    out
}

fn recount(m: &TaskModel) -> NamespaceStats {
    let (entries, bytes) = m.stream.as_ref().map_or((0, 0), |s| {
        (
            s.entries.len() as u64,
            s.entries.iter().map(|(_, d)| d.len() as u64).sum(),
        )
    });
    NamespaceStats {
        items: m.items.len() as u64,
        item_bytes: m.items.values().map(|i| i.data.len() as u64).sum(),
        streams: m.stream.is_some() as u64,
        stream_entries: entries,
        stream_bytes: bytes,
    }
}

// ====================================================================== the child

#[derive(Clone, Debug)]
struct Conf {
    durability: Durability,
    journal: u64,
    interval: Duration,
    /// Submit batches (false: open the store, then wait to be killed).
    write: bool,
    /// Also compact the store this often (milliseconds; 0: never).
    compact_ms: u64,
    /// The first batch id of every task.
    start: Vec<u64>,
}

impl Conf {
    fn options(&self) -> EmbeddedOptions {
        EmbeddedOptions {
            durability: self.durability,
            journal_capacity: self.journal,
            checkpoint_interval: self.interval,
            ..Default::default()
        }
    }

    fn encode(&self) -> String {
        let d = match self.durability {
            Durability::Immediate => "immediate".to_string(),
            Durability::Relaxed { max_loss } => format!("relaxed:{}", max_loss.as_millis()),
        };
        let start: Vec<String> = self.start.iter().map(u64::to_string).collect();
        format!(
            "{d};{};{};{};{};{}",
            self.journal,
            self.interval.as_millis(),
            self.write as u8,
            self.compact_ms,
            start.join(",")
        )
    }

    fn decode(s: &str) -> Conf {
        let f: Vec<&str> = s.split(';').collect();
        let durability = match f[0].split_once(':') {
            None => Durability::Immediate,
            Some((_, ms)) => Durability::Relaxed {
                max_loss: Duration::from_millis(ms.parse().unwrap()),
            },
        };
        Conf {
            durability,
            journal: f[1].parse().unwrap(),
            interval: Duration::from_millis(f[2].parse().unwrap()),
            write: f[3] == "1",
            compact_ms: f[4].parse().unwrap(),
            start: f[5].split(',').map(|x| x.parse().unwrap()).collect(),
        }
    }
}

/// One line to the parent. A parent that went away ends the child.
fn say(line: &str) {
    let mut o = std::io::stdout().lock();
    if writeln!(o, "{MARK}{line}").and_then(|_| o.flush()).is_err() {
        std::process::exit(4);
    }
}

/// A write did not do what the model says: tell the parent and stop.
fn child_error(line: &str) -> ! {
    say(&format!("ERR {line}"));
    std::process::exit(5);
}

fn child_fail(line: &str) -> ! {
    say(&format!("FATAL {line}"));
    std::process::exit(2);
}

/// The child's side: it only does something when started by a parent test.
#[test]
fn child_process() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let conf = Conf::decode(&std::env::var(CONF_ENV).expect("BOTSTORE_CRASH_CONF"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    say("OPENING");
    let backend = match EmbeddedBackend::open(PathBuf::from(dir), conf.options()) {
        Ok(b) => Arc::new(b),
        Err(e) => child_fail(&format!("open: {e}")),
    };
    say(&format!(
        "OPEN {} {}",
        backend.recovered.0, backend.recovered.1
    ));
    if !conf.write {
        std::thread::sleep(CHILD_MAX_LIFE);
        child_fail("never killed");
    }
    // Dictionaries come due after 64 values, so that every round writes values sealed
    // with one and kills land around the dictionary's write and its training.
    let opts = StoreOptions {
        compression: botstore::CompressionOptions {
            train_after_values: 64,
            min_samples: 16,
            ..Default::default()
        },
        ..StoreOptions::default()
    };
    let store = Store::with_options(backend.clone(), opts);
    // Report checkpoints, so the parent can tell how many happened before the kill.
    std::thread::spawn(move || {
        let mut seen = 0;
        loop {
            let n = backend.metrics().checkpoints.load(Ordering::Relaxed);
            if n != seen {
                seen = n;
                say(&format!("CKPT {n}"));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    });
    rt.block_on(async move {
        if conf.compact_ms > 0 {
            let store = store.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(conf.compact_ms)).await;
                    match store.compact().await {
                        Ok(_) => say("COMPACTED"),
                        Err(e) => say(&format!("NOTE compaction failed: {e}")),
                    }
                }
            });
        }
        for (t, start) in conf.start.iter().copied().enumerate() {
            tokio::spawn(child_task(store.clone(), t, start));
        }
        tokio::time::sleep(CHILD_MAX_LIFE).await;
    });
    child_fail("never killed");
}

async fn child_task(store: Store, t: usize, start: u64) {
    let ns = task_ns(t);
    let mut model = match read_task(&store, t).await {
        Ok((m, _)) => m,
        Err(e) => child_fail(&format!("task {t} cannot read its state: {e}")),
    };
    let mut id = start;
    loop {
        let ops = plan(t, id, &model);
        let expected = apply_plan(&model, &ops);
        let muts = to_mutations(&ns, &ops, &model);
        say(&format!("SENT {t} {id}"));
        let result = store.batch(muts).await;
        match (result, expected) {
            (Ok(outcomes), Some((mut next, expects))) => {
                if outcomes.len() != expects.len() {
                    child_error(&format!(
                        "{t} {id} outcomes {outcomes:?}, expected {expects:?}"
                    ));
                }
                let mut versions = Vec::new();
                for (o, e) in outcomes.iter().zip(&expects) {
                    let ok = match (o, e) {
                        (Outcome::Written { version }, Expect::Written) => {
                            versions.push(version.0);
                            true
                        }
                        (Outcome::Deleted { existed }, Expect::Deleted(x)) => existed == x,
                        (
                            Outcome::Appended {
                                first_seq,
                                last_seq,
                            },
                            Expect::Appended(f, l),
                        ) => (first_seq, last_seq) == (f, l),
                        (Outcome::Trimmed { removed }, Expect::Trimmed(r)) => removed == r,
                        _ => false,
                    };
                    if !ok {
                        child_error(&format!("{t} {id} outcome {o:?}, expected {e:?}"));
                    }
                }
                for ((k, _), v) in put_keys(&ops).into_iter().zip(&versions) {
                    next.items.get_mut(k).expect("put key").version = Some(*v);
                }
                model = next;
                let vs: Vec<String> = versions.iter().map(u64::to_string).collect();
                say(format!("ACK {t} {id} {}", vs.join(" ")).trim_end());
            }
            (Err(e), None) if matches!(e.error, Error::PreconditionFailed { .. }) => {
                let at = ops.iter().position(|o| matches!(o, Op::Fail { .. }));
                if at != Some(e.index) {
                    child_error(&format!(
                        "{t} {id} rejected at {}, expected {at:?}",
                        e.index
                    ));
                }
                say(&format!("ACK {t} {id} rejected"));
            }
            (r, e) => child_error(&format!(
                "{t} {id} got {r:?}, expected {}",
                if e.is_some() { "success" } else { "rejection" }
            )),
        }
        id += 1;
    }
}

// ====================================================================== the parent

/// When the parent kills the child.
#[derive(Clone, Copy, Debug)]
enum Kill {
    /// This long after the child said it is about to open the store.
    Opening(Duration),
    /// This long after the store is open (writes have just started).
    Open(Duration),
    /// This long after the n-th acknowledgement.
    Acks(usize, Duration),
    /// As soon as the data folder is in a given state (polled from "about to open" on, until
    /// the store is open).
    Watch(fn(&Path) -> bool),
}

/// redb's file magic: written last when redb creates a file.
const REDB_MAGIC: [u8; 9] = [b'r', b'e', b'd', b'b', 0x1A, 0x0A, 0xA9, 0x0D, 0x0A];

/// A redb file in the folder (`store.redb`, or any file whose name holds "redb", should the
/// engine build it under a temporary name) has bytes but not yet redb's magic number: redb
/// is initialising it.
fn redb_file_without_magic(dir: &Path) -> bool {
    use std::io::Read;
    let Ok(files) = std::fs::read_dir(dir) else {
        return false;
    };
    files.flatten().any(|e| {
        if !e.file_name().to_string_lossy().contains("redb") {
            return false;
        }
        let Ok(mut f) = std::fs::File::open(e.path()) else {
            return false;
        };
        let mut head = [0u8; 9];
        f.metadata().is_ok_and(|m| m.len() > 0)
            && f.read_exact(&mut head).is_ok()
            && head != REDB_MAGIC
    })
}

#[derive(Debug, PartialEq)]
enum Ack {
    Rejected,
    Versions(Vec<u64>),
}

/// What one child printed.
#[derive(Debug)]
struct ChildLog {
    /// Per task: every acknowledged batch id with its outcome, in order.
    acks: Vec<Vec<(u64, Ack)>>,
    /// Per task: the last batch id sent.
    sent: Vec<Option<u64>>,
    errors: Vec<String>,
    opened: bool,
    checkpoints: u64,
    compactions: u64,
    notes: Vec<String>,
    /// A `Kill::Watch` saw its state (the kill came while the folder was in it).
    watched: bool,
}

impl Default for ChildLog {
    fn default() -> Self {
        ChildLog {
            acks: (0..TASKS).map(|_| Vec::new()).collect(),
            sent: vec![None; TASKS],
            errors: Vec::new(),
            opened: false,
            checkpoints: 0,
            compactions: 0,
            notes: Vec::new(),
            watched: false,
        }
    }
}

impl ChildLog {
    fn total_acks(&self) -> usize {
        self.acks.iter().map(Vec::len).sum()
    }
    fn any_sent(&self) -> bool {
        self.sent.iter().any(Option::is_some)
    }
}

#[derive(Debug, Default)]
struct Report {
    kills: usize,
    kills_while_opening: usize,
    kills_open_no_ack: usize,
    kills_after_checkpoint: usize,
    acks: usize,
    rejected: usize,
    in_flight_applied: usize,
    in_flight_lost: usize,
    frames_replayed: usize,
    checkpoints: u64,
    compactions: u64,
    /// The most compression dictionaries a reopened store held.
    dictionaries: usize,
    notes: Vec<String>,
    slowest_check_open: Duration,
}

struct Harness {
    name: &'static str,
    seed: u64,
    root: tempfile::TempDir,
    data: PathBuf,
    conf: Conf,
    models: Vec<TaskModel>,
    rng: Rng,
    /// The change feed is known good up to this LSN.
    verified_lsn: u64,
    /// The child log not yet checked (at most one child writes between two checks).
    pending: Option<ChildLog>,
    children: usize,
    /// How the last child was killed (for failure messages).
    last_kill: String,
    report: Report,
}

fn seed() -> u64 {
    match std::env::var("BOTSTORE_CRASH_SEED") {
        Ok(s) => s.parse().expect("BOTSTORE_CRASH_SEED: a number"),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64),
    }
}

impl Harness {
    fn new(name: &'static str, durability: Durability, journal: u64, interval: Duration) -> Self {
        let seed = seed();
        println!("{name}: BOTSTORE_CRASH_SEED={seed}");
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("data");
        Harness {
            name,
            seed,
            data,
            root,
            conf: Conf {
                durability,
                journal,
                interval,
                write: true,
                compact_ms: 0,
                start: vec![0; TASKS],
            },
            models: vec![TaskModel::default(); TASKS],
            rng: Rng::new(seed ^ name.len() as u64),
            verified_lsn: 0,
            pending: None,
            children: 0,
            last_kill: String::new(),
            report: Report::default(),
        }
    }

    fn fail(&self, what: String) -> ! {
        panic!(
            "{} (seed {}; rerun with BOTSTORE_CRASH_SEED={}), child {} killed at {}: {what}",
            self.name, self.seed, self.seed, self.children, self.last_kill
        )
    }

    /// Start a child on the data folder, kill it at `kill`, and return what it printed.
    fn run_child(&mut self, kill: Kill, write: bool) -> ChildLog {
        self.children += 1;
        let stderr_path = self
            .root
            .path()
            .join(format!("child-{}.stderr", self.children));
        self.last_kill = match kill {
            Kill::Watch(_) => "a watched state of the data folder".to_string(),
            k => format!("{k:?}"),
        };
        let mut conf = self.conf.clone();
        conf.write = write;
        let mut child: Child = Command::new(std::env::current_exe().unwrap())
            .args([CHILD_TEST, "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, &self.data)
            .env(CONF_ENV, conf.encode())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr_path).unwrap())
            .spawn()
            .unwrap();
        let (tx, rx) = mpsc::channel::<String>();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match r.read_until(b'\n', &mut buf) {
                    // A line cut short by the kill has no newline: it never counts.
                    Ok(0) | Err(_) => break,
                    Ok(_) if buf.last() != Some(&b'\n') => break,
                    Ok(_) => {
                        if tx
                            .send(String::from_utf8_lossy(&buf).trim().to_string())
                            .is_err()
                        {
                            break;
                        }
                    }
                }
            }
        });
        let mut log = ChildLog::default();
        let mut killed = false;
        loop {
            let line = match rx.recv_timeout(SILENCE) {
                Ok(l) => l,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    self.fail(format!("the child printed nothing for {SILENCE:?}"));
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            };
            let fire = self.take_line(&line, &mut log, kill);
            if let Some(delay) = fire {
                if let Kill::Watch(state) = kill {
                    let give_up = Instant::now() + Duration::from_secs(10);
                    loop {
                        if state(&self.data) {
                            log.watched = true;
                            break;
                        }
                        // Once the store is open, the state will not come any more.
                        if let Ok(l) = rx.try_recv() {
                            self.take_line(&l, &mut log, kill);
                        }
                        if log.opened || Instant::now() > give_up {
                            break;
                        }
                    }
                } else if !delay.is_zero() {
                    std::thread::sleep(delay);
                }
                child.kill().unwrap();
                killed = true;
                break;
            }
        }
        let status = child.wait().unwrap();
        // Whatever the child printed before it died is still in the pipe.
        for line in rx.iter() {
            self.take_line(&line, &mut log, kill);
        }
        reader.join().unwrap();
        if !killed || status.signal() != Some(9) {
            let err = std::fs::read_to_string(&stderr_path).unwrap_or_default();
            self.fail(format!(
                "the child ended by itself ({status}) before it was killed; errors: {:?}; \
                 stderr:\n{err}",
                log.errors
            ));
        }
        self.report.kills += 1;
        self.report.kills_while_opening += !log.opened as usize;
        self.report.kills_open_no_ack += (log.opened && log.total_acks() == 0) as usize;
        self.report.kills_after_checkpoint += (log.checkpoints > 0) as usize;
        self.report.checkpoints += log.checkpoints;
        self.report.compactions += log.compactions;
        self.report.notes.extend(log.notes.iter().cloned());
        self.report.acks += log.total_acks();
        log
    }

    /// Record one line; returns the delay after which to kill when this line is the trigger.
    fn take_line(&self, line: &str, log: &mut ChildLog, kill: Kill) -> Option<Duration> {
        let Some(at) = line.find(MARK) else {
            return None; // the test harness's own lines
        };
        let line = &line[at + MARK.len()..];
        let w: Vec<&str> = line.split_whitespace().collect();
        let num = |i: usize| -> u64 {
            w.get(i)
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| self.fail(format!("bad line from the child: {line:?}")))
        };
        match w.first().copied() {
            Some("OPENING") => match kill {
                Kill::Opening(d) => return Some(d),
                Kill::Watch(_) => return Some(Duration::ZERO),
                _ => {}
            },
            Some("OPEN") => {
                log.opened = true;
                if let Kill::Open(d) = kill {
                    return Some(d);
                }
            }
            Some("CKPT") => log.checkpoints = log.checkpoints.max(num(1)),
            Some("SENT") => {
                let (t, id) = (num(1) as usize, num(2));
                log.sent[t] = Some(id);
            }
            Some("ACK") => {
                let (t, id) = (num(1) as usize, num(2));
                let ack = if w.get(3) == Some(&"rejected") {
                    Ack::Rejected
                } else {
                    Ack::Versions((3..w.len()).map(num).collect())
                };
                log.acks[t].push((id, ack));
                if let Kill::Acks(n, d) = kill {
                    if log.total_acks() == n {
                        return Some(d);
                    }
                }
            }
            Some("COMPACTED") => log.compactions += 1,
            Some("NOTE") => log.notes.push(line.to_string()),
            Some("ERR") | Some("FATAL") => log.errors.push(line.to_string()),
            _ => self.fail(format!("unknown line from the child: {line:?}")),
        }
        None
    }

    /// One round: a writing child killed at `kill`, then a check.
    fn round(&mut self, kill: Kill) {
        let log = self.run_child(kill, true);
        self.pending = Some(log);
        self.verify();
    }

    /// Reopen the store in-process and check everything against the model.
    fn verify(&mut self) {
        let log = self.pending.take().unwrap_or_default();
        if !log.errors.is_empty() {
            self.fail(format!("the child reported: {:?}", log.errors));
        }
        let t0 = Instant::now();
        let backend = EmbeddedBackend::open(&self.data, self.conf.options())
            .unwrap_or_else(|e| self.fail(format!("reopen after SIGKILL failed: {e}")));
        let open_time = t0.elapsed();
        self.report.frames_replayed += backend.recovered.0;
        let store = Store::with_options(Arc::new(backend), StoreOptions::default());
        let dicts = store.compression().map_or(0, |z| z.dictionaries().count());
        self.report.dictionaries = self.report.dictionaries.max(dicts);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let last_lsn = rt.block_on(store.last_lsn()).unwrap();
        // version -> (task, key, bytes) of every put acknowledged in this round
        let mut acked_puts: HashMap<u64, (usize, String, Vec<u8>)> = HashMap::new();
        let mut max_acked = 0;
        let mut problems = Vec::new();
        for t in 0..TASKS {
            let mut m = self.models[t].clone();
            let mut next_id = self.conf.start[t];
            let mut prev_version = self.verified_lsn;
            for (id, ack) in &log.acks[t] {
                if *id != next_id {
                    self.fail(format!("task {t}: ACK of batch {id}, expected {next_id}"));
                }
                next_id += 1;
                let ops = plan(t, *id, &m);
                match (apply_plan(&m, &ops), ack) {
                    (None, Ack::Rejected) => self.report.rejected += 1,
                    (Some((mut next, _)), Ack::Versions(vs)) => {
                        let puts = put_keys(&ops);
                        if puts.len() != vs.len() {
                            self.fail(format!(
                                "task {t} batch {id}: {} puts, versions {vs:?}",
                                puts.len()
                            ));
                        }
                        for ((k, data), v) in puts.into_iter().zip(vs) {
                            if *v <= prev_version {
                                problems.push(format!(
                                    "task {t} batch {id}: version {v} is not above {prev_version} \
                                     (versions must grow, also across crashes)"
                                ));
                            }
                            prev_version = *v;
                            max_acked = max_acked.max(*v);
                            next.items.get_mut(k).expect("put key").version = Some(*v);
                            acked_puts.insert(*v, (t, k.clone(), data.clone()));
                        }
                        m = next;
                    }
                    (p, a) => self.fail(format!(
                        "task {t} batch {id}: the child says {a:?}, the model says {}",
                        if p.is_some() { "success" } else { "rejection" }
                    )),
                }
            }
            let in_flight = log.sent[t].filter(|s| *s >= next_id);
            if let Some(s) = in_flight {
                if s != next_id {
                    self.fail(format!(
                        "task {t}: sent {s} before batch {next_id} was acknowledged"
                    ));
                }
            }
            let (actual, mut p) = rt
                .block_on(read_task(&store, t))
                .unwrap_or_else(|e| self.fail(format!("task {t}: read failed: {e}")));
            problems.append(&mut p);
            let without = diff(&m, &actual);
            let with = in_flight.and_then(|id| apply_plan(&m, &plan(t, id, &m)));
            if without.is_empty() {
                if with.is_some() {
                    self.report.in_flight_lost += 1;
                }
            } else {
                match &with {
                    Some((w, _)) if diff(w, &actual).is_empty() => {
                        self.report.in_flight_applied += 1;
                    }
                    _ => {
                        let mut msg = format!(
                            "task {t}: the state is not its {} acknowledged batches",
                            log.acks[t].len()
                        );
                        msg += &format!(" (differences: {without:?})");
                        if let (Some(id), Some((w, _))) = (in_flight, &with) {
                            msg += &format!(
                                ", nor those plus all of the unacknowledged batch {id} \
                                 (differences: {:?})",
                                diff(w, &actual)
                            );
                        }
                        problems.push(msg);
                    }
                }
            }
            // Carry on from what is there (exact versions, also of an applied in-flight batch).
            self.models[t] = actual;
            self.conf.start[t] = in_flight.map_or(next_id, |s| s + 1);
        }
        if last_lsn < max_acked {
            problems.push(format!(
                "the last LSN is {last_lsn}, below the acknowledged version {max_acked}"
            ));
        }
        // The change feed: every LSN above what was checked before, no gap, up to the last.
        let mut lsn = self.verified_lsn;
        loop {
            let page = rt.block_on(store.changes(lsn, 1000)).unwrap();
            if page.is_empty() {
                break;
            }
            for c in page {
                if c.lsn != lsn + 1 {
                    problems.push(format!("change feed: LSN {} follows {lsn}", c.lsn));
                }
                lsn = c.lsn;
                if let Some((t, k, data)) = acked_puts.remove(&c.lsn) {
                    match &c.kind {
                        ChangeKind::Put(it)
                            if it.ns == task_ns(t) && it.key == k && it.value.data == data => {}
                        other => problems.push(format!(
                            "change {}: expected the put of task {t} {k} ({}), found {:?}",
                            c.lsn,
                            show(&data),
                            other
                        )),
                    }
                }
            }
        }
        if lsn != last_lsn {
            problems.push(format!(
                "change feed ends at LSN {lsn}, the last LSN is {last_lsn}"
            ));
        }
        if !acked_puts.is_empty() {
            let mut v: Vec<u64> = acked_puts.keys().copied().collect();
            v.sort();
            problems.push(format!(
                "no change record for the acknowledged versions {:?}",
                &v[..v.len().min(20)]
            ));
        }
        // Every record checks, every reference of the feed finds what it refers to, and the
        // derived tables agree with a recount.
        match store.verify(&Default::default(), &mut |_| {}) {
            Ok(r) if r.is_clean() => {}
            Ok(r) => problems.push(format!("verify: {:?}", r.damage)),
            Err(e) => problems.push(format!("verify failed: {e}")),
        }
        // Counters against a recount.
        let stats = rt
            .block_on(store.stats(&Namespace::new(["crash"])))
            .unwrap();
        let got: BTreeMap<Namespace, NamespaceStats> = stats.namespaces.into_iter().collect();
        let want: BTreeMap<Namespace, NamespaceStats> = (0..TASKS)
            .map(|t| (task_ns(t), recount(&self.models[t])))
            .filter(|(_, s)| !s.is_empty())
            .collect();
        if got != want {
            problems.push(format!(
                "namespace counters {got:?} differ from the recount {want:?}"
            ));
        }
        if !problems.is_empty() {
            self.fail(format!(
                "after a kill with {} acknowledged batches:\n  {}",
                log.total_acks(),
                problems.join("\n  ")
            ));
        }
        self.verified_lsn = last_lsn;
        self.report.slowest_check_open = self.report.slowest_check_open.max(open_time);
        drop(store);
    }

    fn finish(self) {
        let r = &self.report;
        println!(
            "{}: {} kills ({} while opening, {} after opening but before any ACK, {} after >=1 \
             checkpoint), {} batches acknowledged ({} rejected as planned); unacknowledged \
             batches: {} found applied whole, {} found absent; {} journal frames replayed by \
             the checks (slowest check open {:?}); {} checkpoints and {} compactions seen; \
             up to {} compression dictionaries; last LSN {}; notes: {:?}",
            self.name,
            r.kills,
            r.kills_while_opening,
            r.kills_open_no_ack,
            r.kills_after_checkpoint,
            r.acks,
            r.rejected,
            r.in_flight_applied,
            r.in_flight_lost,
            r.frames_replayed,
            r.slowest_check_open,
            r.checkpoints,
            r.compactions,
            r.dictionaries,
            self.verified_lsn,
            r.notes
        );
    }

    /// A kill point for a writing round: early ones often, and anywhere up to 300 ACKs.
    fn pick_kill(&mut self, round: usize) -> Kill {
        let jitter = Duration::from_micros(self.rng.below(3000));
        match (round, self.rng.below(8)) {
            (0, _) | (_, 0) => Kill::Open(Duration::from_micros(self.rng.below(5000))),
            (1, _) | (_, 1) => Kill::Acks(self.rng.range(1, 3) as usize, jitter),
            (2, _) | (_, 2 | 3) => Kill::Acks(self.rng.range(4, 40) as usize, jitter),
            _ => Kill::Acks(self.rng.range(40, 300) as usize, jitter),
        }
    }
}

fn rounds() -> usize {
    std::env::var("BOTSTORE_CRASH_ROUNDS")
        .map_or(24, |s| s.parse().expect("BOTSTORE_CRASH_ROUNDS: a number"))
}

fn is_child() -> bool {
    std::env::var_os(CHILD_ENV).is_some()
}

/// The main test: SIGKILL at many points of a concurrent write load with durable
/// acknowledgements, a small journal (wrap-around and checkpoints every few dozen batches)
/// and a short checkpoint interval.
#[test]
fn sigkill_while_writing_loses_no_acknowledged_batch() {
    if is_child() {
        return;
    }
    let mut h = Harness::new(
        "immediate",
        Durability::Immediate,
        256 << 10,
        Duration::from_millis(50),
    );
    for round in 0..rounds() {
        let kill = h.pick_kill(round);
        // Every third round also compacts the store now and then (kills mid-compaction);
        // every fourth has a 64 KiB journal, so it checkpoints after nearly every group and
        // many kills land in a checkpoint.
        h.conf.compact_ms = if round % 3 == 2 { 40 } else { 0 };
        h.conf.journal = if round % 4 == 1 { 64 << 10 } else { 256 << 10 };
        h.round(kill);
    }
    // The values the rounds read back were compressed with dictionaries written before
    // the kills (the child trains one after 64 values).
    assert!(
        h.report.dictionaries >= 1,
        "no round reopened a store with a compression dictionary"
    );
    h.finish();
}

/// With relaxed durability an acknowledgement comes before the journal's `fdatasync`, but
/// the frame was already written to the file: a killed process leaves it in the page cache,
/// so nothing acknowledged may be lost (only a power loss may take the last `max_loss`).
/// The same checks as with `Immediate` apply.
#[test]
fn sigkill_with_relaxed_durability_loses_nothing_written() {
    if is_child() {
        return;
    }
    let mut h = Harness::new(
        "relaxed",
        Durability::Relaxed {
            max_loss: Duration::from_millis(20),
        },
        256 << 10,
        Duration::from_millis(50),
    );
    for round in 0..(rounds() / 4).max(3) {
        let kill = h.pick_kill(round);
        h.round(kill);
    }
    h.finish();
}

/// Copy the files of a data folder (to time an open without consuming its journal).
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// SIGKILL while the store is being created, and while it replays a long journal: the next
/// open must still work and find every acknowledged batch.
#[test]
fn sigkill_while_opening_and_replaying() {
    if is_child() {
        return;
    }
    // A large journal and no timed checkpoints: a killed writer leaves many frames to replay.
    let mut h = Harness::new(
        "opening",
        Durability::Immediate,
        16 << 20,
        Duration::from_secs(3600),
    );
    for cycle in 0..3 {
        let n = h.rng.range(150, 300) as usize;
        let log = h.run_child(Kill::Acks(n, Duration::ZERO), true);
        // Time a full open on a copy, then kill real opens at random points within it.
        let copy = h.root.path().join(format!("scratch-{cycle}"));
        copy_dir(&h.data, &copy);
        let t = Instant::now();
        let b = EmbeddedBackend::open(&copy, h.conf.options()).unwrap();
        let full = t.elapsed();
        assert!(
            b.recovered.0 > 0,
            "the killed writer left no frames to replay"
        );
        drop(b);
        std::fs::remove_dir_all(&copy).unwrap();
        for _ in 0..4 {
            let d = Duration::from_micros(h.rng.below(full.as_micros() as u64 + 1));
            let l = h.run_child(Kill::Opening(d), false);
            assert!(!l.any_sent());
        }
        h.pending = Some(log);
        h.verify();
    }
    h.finish();
}

/// SIGKILL while a new store is being created (the redb file, the journal's preallocation):
/// the folder must open afterwards (as an empty store).
#[test]
fn sigkill_while_creating_a_new_store() {
    if is_child() {
        return;
    }
    let mut h = Harness::new(
        "creating",
        Durability::Immediate,
        256 << 10,
        Duration::from_millis(50),
    );
    // How long creating takes in-process: the kills are spread over that time.
    let scratch = h.root.path().join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    let t = Instant::now();
    drop(EmbeddedBackend::open(&scratch, h.conf.options()).unwrap());
    let open = t.elapsed();
    println!("creating: a new store opens in {open:?}");
    let kills = 10;
    let mut in_window = 0;
    let mut unopenable = Vec::new();
    for i in 0..kills {
        h.data = h.root.path().join(format!("fresh-{i}"));
        // Every other kill lands exactly while redb is initialising its file (the file has
        // its size but not yet its magic number, which redb writes last); the others at
        // random points of creating the store.
        let kill = if i % 2 == 0 {
            Kill::Watch(redb_file_without_magic)
        } else {
            let d = open.as_micros() as u64 * (i / 2) as u64 / (kills / 2) as u64
                + h.rng
                    .below(open.as_micros() as u64 / (kills / 2) as u64 + 1);
            Kill::Opening(Duration::from_micros(d))
        };
        let log = h.run_child(kill, false);
        assert!(!log.any_sent());
        in_window += log.watched as usize;
        // The folder must open again (then the usual checks: an empty store).
        match EmbeddedBackend::open(&h.data, h.conf.options()) {
            Ok(b) => {
                drop(b);
                h.verify();
            }
            Err(e) => unopenable.push(format!(
                "kill {i} ({}{}): {e}",
                h.last_kill,
                if log.watched {
                    ", seen: a redb file with its length but no magic yet"
                } else {
                    ""
                }
            )),
        }
    }
    println!("creating: {in_window} kills while redb initialised its file");
    assert!(
        unopenable.is_empty(),
        "a store killed while it was being created cannot be opened again \
         ({} of {kills} kills):\n  {}",
        unopenable.len(),
        unopenable.join("\n  ")
    );
    h.finish();
}
