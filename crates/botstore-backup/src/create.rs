//! `backup create`: a snapshot of a store from one consistent read view.
//!
//! The primary tables are streamed as records (table, then key order) through a
//! content-defined chunker; each new chunk is compressed, sealed and appended to a pack.
//! When the latest snapshot of the same source is still covered by the store's change
//! feed, only the records the changes touched are written (a delta).

use crate::crypto::Repo;
use crate::format::{self, encode_record, pack_name, Location, Manifest, Record};
use crate::{hex, Error, Result};
use botstore::codec::{self, Table};
use botstore::kv::KvRead;
use botstore::model::ChangeKind;
use botstore::restore::PRIMARY;
use botstore::Store;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Bound;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Instant;

/// Chunk sizes: a 200 MiB store gives about 400 chunks.
pub const CHUNK_MIN: u32 = 128 << 10;
pub const CHUNK_AVG: u32 = 512 << 10;
pub const CHUNK_MAX: u32 = 2 << 20;
/// Bytes of records buffered before the chunker runs over them.
const FEED: usize = 4 << 20;

/// How far a backup is.
#[derive(Clone, Debug, Default)]
pub struct Progress {
    pub records: u64,
    pub stream_bytes: u64,
    /// Value bytes of the store (a full snapshot's stream is a bit larger).
    pub estimated_bytes: u64,
}

pub struct CreateOptions<'a> {
    /// Names the source in manifests; incrementals follow the latest snapshot of the same
    /// source.
    pub source: String,
    /// A full snapshot even when a delta is possible.
    pub full: bool,
    /// A pack is written once it holds this many bytes (default 16 MiB).
    pub pack_size: usize,
    pub zstd_level: i32,
    /// Threads that compress and seal new chunks (default: the machine's cores).
    pub threads: usize,
    pub progress: Option<&'a (dyn Fn(&Progress) + Sync)>,
    /// Set to stop the backup (it then fails with [`Error::Cancelled`]; what was written
    /// stays reusable).
    pub cancel: Option<&'a AtomicBool>,
}

impl<'a> CreateOptions<'a> {
    pub fn new(source: impl Into<String>) -> Self {
        CreateOptions {
            source: source.into(),
            full: false,
            pack_size: 16 << 20,
            zstd_level: 3,
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            progress: None,
            cancel: None,
        }
    }
}

/// What a backup did.
#[derive(Clone, Debug, Serialize)]
pub struct CreateSummary {
    pub snapshot: String,
    pub kind: String,
    pub parent: Option<String>,
    pub lsn: u64,
    /// Records in the snapshot's stream (puts, deletes and range deletes).
    pub records: u64,
    /// Records written as new or changed (puts), and deletions.
    pub records_changed: u64,
    pub records_deleted: u64,
    /// Records of the store not in this snapshot's stream (a delta's untouched ones).
    pub records_unchanged: u64,
    pub chunks: u64,
    pub chunks_new: u64,
    pub stream_bytes: u64,
    /// Bytes added to the repository (packs, index, manifest).
    pub bytes_added: u64,
    /// `stream_bytes / bytes_added`.
    pub dedup_ratio: f64,
    pub seconds: f64,
    /// Record stream MiB per second.
    pub mib_per_second: f64,
}

/// Every index entry of the repository.
pub fn load_index(repo: &Repo) -> Result<HashMap<[u8; 32], Location>> {
    let mut all = HashMap::new();
    for name in repo.store.list("index/")? {
        let body = repo.get_object(&name)?;
        all.extend(format::decode_index(&name, &body)?);
    }
    Ok(all)
}

/// Every snapshot manifest, oldest first.
pub fn snapshots(repo: &Repo) -> Result<Vec<Manifest>> {
    let mut out = Vec::new();
    for name in repo.store.list("snapshots/")? {
        let body = repo.get_object(&name)?;
        let m: Manifest = serde_json::from_slice(&body)
            .map_err(|e| Error::Corrupt(format!("{name}: bad manifest: {e}")))?;
        out.push(m);
    }
    out.sort_by(|a, b| (a.time, a.lsn, &a.id).cmp(&(b.time, b.lsn, &b.id)));
    Ok(out)
}

/// Find a snapshot by id or unique id prefix (`latest` or `None`: the newest).
pub fn find_snapshot<'m>(all: &'m [Manifest], id: Option<&str>) -> Result<&'m Manifest> {
    match id {
        None | Some("latest") => all
            .last()
            .ok_or_else(|| Error::NotFound("the repository has no snapshots".into())),
        Some(p) => {
            let hits: Vec<_> = all.iter().filter(|m| m.id.starts_with(p)).collect();
            match hits.as_slice() {
                [one] => Ok(one),
                [] => Err(Error::NotFound(format!("snapshot {p}"))),
                _ => Err(Error::Invalid(format!("snapshot id {p} is ambiguous"))),
            }
        }
    }
}

/// The snapshots to apply to restore `target`: its full ancestor first.
pub fn chain<'m>(all: &'m [Manifest], target: &'m Manifest) -> Result<Vec<&'m Manifest>> {
    let mut out = vec![target];
    let mut cur = target;
    while !cur.is_full() {
        let p = cur
            .parent
            .as_deref()
            .ok_or_else(|| Error::Corrupt(format!("delta snapshot {} has no parent", cur.id)))?;
        cur = all.iter().find(|m| m.id == p).ok_or_else(|| {
            Error::NotFound(format!("snapshot {p} (parent of {}) is missing", cur.id))
        })?;
        if out.len() > 100_000 {
            return Err(Error::Corrupt("snapshot parents form a cycle".into()));
        }
        out.push(cur);
    }
    out.reverse();
    Ok(out)
}

/// A new chunk for the pack writer.
struct NewChunk {
    id: [u8; 32],
    data: Vec<u8>,
}

/// Where chunks go: hashing, dedup, and the hand-off to the pack writer.
struct Sink<'a> {
    repo: &'a Repo,
    known: &'a HashMap<[u8; 32], Location>,
    seen: HashSet<[u8; 32]>,
    tx: mpsc::SyncSender<NewChunk>,
    chunks: Vec<String>,
    chunks_new: u64,
    digest: blake3::Hasher,
    cancel: Option<&'a AtomicBool>,
}

impl Sink<'_> {
    fn chunk(&mut self, data: &[u8]) -> Result<()> {
        if self.cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
            return Err(Error::Cancelled);
        }
        self.digest.update(data);
        let id = self.repo.chunk_id(data);
        self.chunks.push(hex(&id));
        if !self.known.contains_key(&id) && self.seen.insert(id) {
            self.chunks_new += 1;
            self.tx
                .send(NewChunk {
                    id,
                    data: data.to_vec(),
                })
                .map_err(|_| Error::Io("the pack writer stopped".into()))?;
        }
        Ok(())
    }
}

/// The record stream and its content-defined cut points.
struct Chunker {
    buf: Vec<u8>,
    records: u64,
    bytes: u64,
    puts: u64,
    deletes: u64,
}

impl Chunker {
    fn record(&mut self, r: &Record) {
        let before = self.buf.len();
        encode_record(&mut self.buf, r);
        self.bytes += (self.buf.len() - before) as u64;
        self.records += 1;
        match r {
            Record::Put(..) => self.puts += 1,
            _ => self.deletes += 1,
        }
    }

    /// Cut chunks from the buffer; the last (possibly incomplete) one stays unless `last`.
    fn feed(&mut self, sink: &mut Sink, last: bool) -> Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let cuts: Vec<(usize, usize)> =
            fastcdc::v2020::FastCDC::new(&self.buf, CHUNK_MIN, CHUNK_AVG, CHUNK_MAX)
                .map(|c| (c.offset, c.length))
                .collect();
        let keep = if last { cuts.len() } else { cuts.len() - 1 };
        let mut end = 0;
        for &(off, len) in &cuts[..keep] {
            sink.chunk(&self.buf[off..off + len])?;
            end = off + len;
        }
        self.buf.drain(..end);
        Ok(())
    }
}

type IndexEntries = Vec<([u8; 32], Location)>;
type Visit<'a> = dyn FnMut(&[u8], &[u8]) -> Result<()> + 'a;

/// A new chunk, compressed and sealed.
struct Sealed {
    id: [u8; 32],
    blob: Vec<u8>,
    plain_len: u32,
}

/// Compress and seal chunks (several of these run at once; blob order does not matter,
/// the index says where each blob is).
fn sealer(
    repo: &Repo,
    rx: &std::sync::Mutex<mpsc::Receiver<NewChunk>>,
    tx: mpsc::SyncSender<Result<Sealed>>,
    level: i32,
) {
    let mut cx = match zstd::bulk::Compressor::new(level) {
        Ok(c) => c,
        Err(e) => {
            let _ = tx.send(Err(Error::Io(format!("zstd: {e}"))));
            return;
        }
    };
    loop {
        let next = match rx.lock() {
            Ok(r) => r.recv(),
            Err(_) => return,
        };
        let Ok(c) = next else { return };
        let r = cx
            .compress(&c.data)
            .map_err(|e| Error::Io(format!("zstd: {e}")))
            .map(|z| Sealed {
                id: c.id,
                blob: repo.seal(&c.id, z),
                plain_len: c.data.len() as u32,
            });
        let stop = r.is_err();
        if tx.send(r).is_err() || stop {
            return;
        }
    }
}

/// Write sealed chunks into packs; rewrite this run's index after every pack.
fn pack_writer(
    repo: &Repo,
    run: &str,
    rx: mpsc::Receiver<Result<Sealed>>,
    pack_size: usize,
) -> Result<(u64, IndexEntries)> {
    let mut added = 0u64;
    let mut done: Vec<([u8; 32], Location)> = Vec::new();
    let mut pack: Vec<u8> = Vec::with_capacity(pack_size + (4 << 20));
    let mut in_pack: Vec<([u8; 32], u64, u32, u32)> = Vec::new();
    let index_name = format!("index/{run}");
    let mut flush = |pack: &mut Vec<u8>,
                     in_pack: &mut Vec<([u8; 32], u64, u32, u32)>,
                     added: &mut u64|
     -> Result<()> {
        if pack.is_empty() {
            return Ok(());
        }
        let pid = hex(blake3::hash(pack).as_bytes());
        repo.store.put(&pack_name(&pid), pack)?;
        *added += pack.len() as u64;
        for (id, offset, len, plain_len) in in_pack.drain(..) {
            done.push((
                id,
                Location {
                    pack: pid.clone(),
                    offset,
                    len,
                    plain_len,
                },
            ));
        }
        *added += repo.put_object(&index_name, &format::encode_index(&done))?;
        pack.clear();
        Ok(())
    };
    for c in rx {
        let c = c?;
        in_pack.push((c.id, pack.len() as u64, c.blob.len() as u32, c.plain_len));
        pack.extend_from_slice(&c.blob);
        if pack.len() >= pack_size {
            flush(&mut pack, &mut in_pack, &mut added)?;
        }
    }
    flush(&mut pack, &mut in_pack, &mut added)?;
    Ok((added, done))
}

/// Counts of the store in a view, from its namespace counters.
fn counts(view: &dyn KvRead) -> Result<(u64, u64, u64, u64)> {
    let (mut items, mut streams, mut entries, mut bytes) = (0, 0, 0, 0);
    view.scan(
        Table::Namespaces,
        (Bound::Unbounded, Bound::Unbounded),
        false,
        &mut |_, v| {
            let s = codec::decode_ns_stats(v)?;
            items += s.items;
            streams += s.streams;
            entries += s.stream_entries;
            bytes += s.item_bytes + s.stream_bytes;
            Ok(true)
        },
    )?;
    Ok((items, streams, entries, bytes))
}

fn last_lsn(view: &dyn KvRead) -> Result<u64> {
    Ok(botstore::read::last_lsn(view)?)
}

fn first_change(view: &dyn KvRead) -> Result<Option<u64>> {
    Ok(botstore::read::first_change_lsn(view)?)
}

/// Scan `table` in key order, stopping at the first error of `f`.
fn scan_all(
    view: &dyn KvRead,
    table: Table,
    range: (Bound<&[u8]>, Bound<&[u8]>),
    f: &mut Visit,
) -> Result<()> {
    let mut err = None;
    view.scan(table, range, false, &mut |k, v| match f(k, v) {
        Ok(()) => Ok(true),
        Err(e) => {
            err = Some(e);
            Ok(false)
        }
    })?;
    err.map_or(Ok(()), Err)
}

fn emit_full(
    view: &dyn KvRead,
    ch: &mut Chunker,
    sink: &mut Sink,
    progress: &dyn Fn(&Chunker),
) -> Result<()> {
    for t in PRIMARY {
        scan_all(
            view,
            t,
            (Bound::Unbounded, Bound::Unbounded),
            &mut |k, v| {
                ch.record(&Record::Put(t, k, v));
                if ch.buf.len() >= FEED {
                    ch.feed(sink, false)?;
                    progress(ch);
                }
                Ok(())
            },
        )?;
    }
    Ok(())
}

/// What a delta must carry for one stream.
#[derive(Default)]
struct StreamTouch {
    appended: Vec<u64>,
    trimmed: bool,
    deleted: bool,
}

/// The records for every key the changes `since+1 ..= lsn` touched, read from `view`.
fn emit_delta(
    view: &dyn KvRead,
    codecs: &botstore::CodecStack,
    since: u64,
    ch: &mut Chunker,
    sink: &mut Sink,
    progress: &dyn Fn(&Chunker),
) -> Result<()> {
    let mut points: BTreeMap<(Table, Vec<u8>), ()> = BTreeMap::new();
    let mut streams: BTreeMap<Vec<u8>, StreamTouch> = BTreeMap::new();
    let from = (since + 1).to_be_bytes();
    scan_all(
        view,
        Table::Changes,
        (Bound::Included(&from[..]), Bound::Unbounded),
        &mut |k, v| {
            let c = codec::decode_change(codecs, codec::be64(k)?, v)?;
            match c.kind {
                ChangeKind::Put(item) => {
                    points.insert((Table::Items, codec::named_key(&item.ns, &item.key)), ());
                }
                ChangeKind::Delete { ns, key } | ChangeKind::Expire { ns, key } => {
                    points.insert((Table::Items, codec::named_key(&ns, &key)), ());
                }
                ChangeKind::Append {
                    ns,
                    stream,
                    entries,
                } => {
                    let s = streams.entry(codec::named_key(&ns, &stream)).or_default();
                    s.appended.extend(entries.iter().map(|e| e.seq));
                }
                ChangeKind::Trim {
                    ns,
                    stream,
                    deleted_stream,
                    ..
                } => {
                    let s = streams.entry(codec::named_key(&ns, &stream)).or_default();
                    s.trimmed = true;
                    s.deleted |= deleted_stream;
                }
                ChangeKind::Lease { ns, name, .. } => {
                    points.insert((Table::Leases, codec::named_key(&ns, &name)), ());
                }
                ChangeKind::NamespaceTtl { prefix, .. } => {
                    points.insert((Table::NsTtl, codec::ns_enc(&prefix)), ());
                }
            }
            Ok(())
        },
    )?;
    // Range deletions first, then the current value (or absence) of every touched key.
    for (sk, s) in &streams {
        points.insert((Table::Streams, sk.clone()), ());
        let all_start = [&sk[..], &[codec::SEG_END]].concat();
        let all_end = [&sk[..], &[codec::SEG_END + 1]].concat();
        if s.deleted {
            ch.record(&Record::DeleteRange(Table::Entries, &all_start, &all_end));
            scan_all(
                view,
                Table::Entries,
                (
                    Bound::Included(&all_start[..]),
                    Bound::Excluded(&all_end[..]),
                ),
                &mut |k, _| {
                    points.insert((Table::Entries, k.to_vec()), ());
                    Ok(())
                },
            )?;
        } else if s.trimmed {
            let first = match view.get(Table::Streams, sk)? {
                Some(b) => codec::decode_stream_info(&b)?.first_seq,
                None => u64::MAX,
            };
            let cut = codec::entry_key(sk, first);
            ch.record(&Record::DeleteRange(Table::Entries, &all_start, &cut));
        }
        for &seq in &s.appended {
            points.insert((Table::Entries, codec::entry_key(sk, seq)), ());
        }
    }
    points.insert((Table::Meta, codec::META_LAST_LSN.to_vec()), ());
    for (t, k) in points.keys() {
        match view.get(*t, k)? {
            Some(v) => ch.record(&Record::Put(*t, k, &v)),
            None => ch.record(&Record::Delete(*t, k)),
        }
        if ch.buf.len() >= FEED {
            ch.feed(sink, false)?;
            progress(ch);
        }
    }
    Ok(())
}

/// Take a snapshot of `store` into `repo`.
pub fn create(repo: &Repo, store: &Store, opts: &CreateOptions) -> Result<CreateSummary> {
    let started = Instant::now();
    let known = load_index(repo)?;
    let all = snapshots(repo)?;
    let parent = all.iter().rev().find(|m| m.source == opts.source);
    let view = store.backend().read()?;
    let view: &dyn KvRead = &*view;
    let time = crate::now_ms();
    let lsn = last_lsn(view)?;
    let (items, streams, entries, value_bytes) = counts(view)?;
    // A delta needs every change after the parent's LSN still in the feed.
    let delta_from = match parent {
        Some(p) if !opts.full && p.lsn <= lsn => {
            let covered = p.lsn == lsn || first_change(view)?.is_some_and(|f| f <= p.lsn + 1);
            covered.then_some(p)
        }
        _ => None,
    };
    let run = hex(&crate::random::<16>());
    let id = format!("{:012x}{}", time.max(0), &hex(&crate::random::<6>()));
    let (tx, rx) = mpsc::sync_channel::<NewChunk>(4);
    let mut ch = Chunker {
        buf: Vec::with_capacity(FEED + (1 << 20)),
        records: 0,
        bytes: 0,
        puts: 0,
        deletes: 0,
    };
    let report = |c: &Chunker| {
        if let Some(p) = opts.progress {
            p(&Progress {
                records: c.records,
                stream_bytes: c.bytes,
                estimated_bytes: if delta_from.is_some() {
                    c.bytes
                } else {
                    value_bytes
                },
            });
        }
    };
    let (produced, written) = std::thread::scope(|s| {
        let (sealed_tx, sealed_rx) = mpsc::sync_channel::<Result<Sealed>>(4);
        // The chunk receiver goes away with the last sealer, so a failed writer (its
        // receiver gone, every sealer stopped) also fails the sender.
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        for _ in 0..opts.threads.max(1) {
            let (rx, tx) = (rx.clone(), sealed_tx.clone());
            s.spawn(move || sealer(repo, &rx, tx, opts.zstd_level));
        }
        drop((rx, sealed_tx));
        let writer = s.spawn(|| pack_writer(repo, &run, sealed_rx, opts.pack_size));
        let mut sink = Sink {
            repo,
            known: &known,
            seen: HashSet::new(),
            tx,
            chunks: Vec::new(),
            chunks_new: 0,
            digest: repo.hasher(),
            cancel: opts.cancel,
        };
        let produced = (|| {
            match delta_from {
                Some(p) => emit_delta(view, store.codecs(), p.lsn, &mut ch, &mut sink, &report)?,
                None => emit_full(view, &mut ch, &mut sink, &report)?,
            }
            ch.feed(&mut sink, true)?;
            report(&ch);
            Ok::<_, Error>(())
        })();
        let Sink {
            chunks,
            chunks_new,
            digest,
            tx,
            ..
        } = sink;
        drop(tx);
        let written = writer
            .join()
            .unwrap_or_else(|_| Err(Error::Io("the pack writer panicked".into())));
        (produced.map(|()| (chunks, chunks_new, digest)), written)
    });
    let (added_packs, _) = written?;
    let (chunks, chunks_new, digest) = produced?;
    let manifest = Manifest {
        id: id.clone(),
        time,
        kind: if delta_from.is_some() {
            "delta"
        } else {
            "full"
        }
        .into(),
        parent: delta_from.map(|p| p.id.clone()),
        lsn,
        items,
        streams,
        entries,
        value_bytes,
        records: ch.records,
        stream_bytes: ch.bytes,
        source: opts.source.clone(),
        digest: hex(digest.finalize().as_bytes()),
        chunks,
        run,
    };
    let body = serde_json::to_vec(&manifest).map_err(|e| Error::Io(format!("manifest: {e}")))?;
    let added = added_packs + repo.put_object(&format!("snapshots/{id}"), &body)?;
    let seconds = started.elapsed().as_secs_f64();
    let store_records = items + streams + entries;
    Ok(CreateSummary {
        snapshot: id,
        kind: manifest.kind,
        parent: manifest.parent,
        lsn,
        records: ch.records,
        records_changed: ch.puts,
        records_deleted: ch.deletes,
        records_unchanged: if delta_from.is_some() {
            store_records.saturating_sub(ch.puts)
        } else {
            0
        },
        chunks: manifest.chunks.len() as u64,
        chunks_new,
        stream_bytes: ch.bytes,
        bytes_added: added,
        dedup_ratio: ch.bytes as f64 / added.max(1) as f64,
        seconds,
        mib_per_second: ch.bytes as f64 / (1 << 20) as f64 / seconds.max(1e-9),
    })
}
