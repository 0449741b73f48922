//! `backup create`: a snapshot of a store from one consistent read view.
//!
//! A [`RecordSource`] serves the primary records (table, then key order; for a delta,
//! only those the change feed says changed since the parent); they go through a
//! content-defined chunker, and each new chunk is compressed, sealed and appended to a
//! pack. The source is a store in this process ([`create`]) or a server streaming its
//! records ([`crate::transfer`]); the snapshot is the same either way.

use crate::counts::{dedup_ratio, rate, DeltaCounts, StoreCounts};
use crate::crypto::Repo;
use crate::format::{self, encode_record, pack_name, Location, Manifest, Record};
use crate::source::{RecordSource, SourceKind, ViewSource};
use crate::{hex, Error, Result};
use botstore::Store;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
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

/// What a backup did. `kind` is `full`, `delta` or `unchanged` (nothing changed since
/// `snapshot`, the latest of the source: nothing was written).
#[derive(Clone, Debug, Serialize)]
pub struct CreateSummary {
    pub snapshot: String,
    pub kind: String,
    pub parent: Option<String>,
    pub lsn: u64,
    /// The store at `lsn`.
    #[serde(flatten)]
    pub counts: StoreCounts,
    /// What a delta changed since its parent.
    pub changes: Option<DeltaCounts>,
    pub chunks: u64,
    pub chunks_new: u64,
    pub stream_bytes: u64,
    /// Bytes added to the repository (packs, index, manifest).
    pub bytes_added: u64,
    /// `stream_bytes / bytes_added`, when chunks were reused and the stream is at least
    /// 1 MiB (else the ratio says nothing).
    pub dedup_ratio: Option<f64>,
    pub seconds: f64,
    /// Record stream MiB per second, for runs of at least 1 s and 1 MiB.
    pub mib_per_second: Option<f64>,
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
}

impl Chunker {
    fn record(&mut self, r: &Record) {
        let before = self.buf.len();
        encode_record(&mut self.buf, r);
        self.bytes += (self.buf.len() - before) as u64;
        self.records += 1;
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

/// A backup about to be written: the repository's index and the parent snapshot chosen.
/// [`Plan::since_lsn`] says what the record source should serve relative to;
/// [`Plan::write`] turns what it served into a snapshot.
pub struct Plan<'a> {
    repo: &'a Repo,
    opts: &'a CreateOptions<'a>,
    known: HashMap<[u8; 32], Location>,
    /// The latest snapshot of the same source (`None` with `full`).
    parent: Option<Manifest>,
}

impl<'a> Plan<'a> {
    pub fn new(repo: &'a Repo, opts: &'a CreateOptions<'a>) -> Result<Plan<'a>> {
        let known = load_index(repo)?;
        let parent = if opts.full {
            None
        } else {
            snapshots(repo)?
                .into_iter()
                .rev()
                .find(|m| m.source == opts.source)
        };
        Ok(Plan {
            repo,
            opts,
            known,
            parent,
        })
    }

    /// The parent's LSN: a source serves the changes after it (or says nothing changed).
    pub fn since_lsn(&self) -> Option<u64> {
        self.parent.as_ref().map(|p| p.lsn)
    }

    /// Store what `src` serves as a snapshot (nothing when it says the store is unchanged
    /// since the parent). Fails, writing no manifest, if the source fails or is cut.
    pub fn write(self, src: &mut dyn RecordSource) -> Result<CreateSummary> {
        let started = Instant::now();
        let (repo, opts) = (self.repo, self.opts);
        let h = src.header().clone();
        h.check()?;
        let parent = match h.kind {
            SourceKind::Full => None,
            _ => match (&self.parent, h.since_lsn) {
                (Some(p), Some(s)) if p.lsn == s => Some(p),
                _ => {
                    return Err(Error::Invalid(format!(
                        "the record source answered relative to lsn {:?}, not to the parent \
                         snapshot's lsn {:?}",
                        h.since_lsn,
                        self.since_lsn()
                    )))
                }
            },
        };
        if let (SourceKind::Unchanged, Some(p)) = (h.kind, parent) {
            return Ok(CreateSummary {
                snapshot: p.id.clone(),
                kind: "unchanged".into(),
                parent: None,
                lsn: h.lsn,
                counts: h.counts,
                changes: None,
                chunks: 0,
                chunks_new: 0,
                stream_bytes: 0,
                bytes_added: 0,
                dedup_ratio: None,
                seconds: started.elapsed().as_secs_f64(),
                mib_per_second: None,
            });
        }
        let is_delta = h.kind == SourceKind::Delta;
        let run = hex(&crate::random::<16>());
        let id = format!("{:012x}{}", h.time.max(0), &hex(&crate::random::<6>()));
        let (tx, rx) = mpsc::sync_channel::<NewChunk>(4);
        let mut ch = Chunker {
            buf: Vec::with_capacity(FEED + (1 << 20)),
            records: 0,
            bytes: 0,
        };
        let mut changes = DeltaCounts::default();
        let report = |c: &Chunker| {
            if let Some(p) = opts.progress {
                p(&Progress {
                    records: c.records,
                    stream_bytes: c.bytes,
                    estimated_bytes: if is_delta { c.bytes } else { h.value_bytes },
                });
            }
        };
        let known = &self.known;
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
                known,
                seen: HashSet::new(),
                tx,
                chunks: Vec::new(),
                chunks_new: 0,
                digest: repo.hasher(),
                cancel: opts.cancel,
            };
            let produced = (|| {
                src.records(&mut |r| {
                    check_record(r, is_delta)?;
                    ch.record(r);
                    if is_delta {
                        changes.add(r);
                    }
                    if ch.buf.len() >= FEED {
                        ch.feed(&mut sink, false)?;
                        report(&ch);
                    }
                    Ok(())
                })?;
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
            time: h.time,
            kind: if is_delta { "delta" } else { "full" }.into(),
            parent: parent.map(|p| p.id.clone()),
            lsn: h.lsn,
            items: h.counts.items,
            streams: h.counts.streams,
            entries: h.counts.entries,
            leases: h.counts.leases,
            value_bytes: h.value_bytes,
            records: ch.records,
            stream_bytes: ch.bytes,
            changes: is_delta.then_some(changes),
            source: opts.source.clone(),
            digest: hex(digest.finalize().as_bytes()),
            chunks,
            run,
        };
        let body =
            serde_json::to_vec(&manifest).map_err(|e| Error::Io(format!("manifest: {e}")))?;
        let added = added_packs + repo.put_object(&format!("snapshots/{id}"), &body)?;
        let seconds = started.elapsed().as_secs_f64();
        let n_chunks = manifest.chunks.len() as u64;
        Ok(CreateSummary {
            snapshot: id,
            kind: manifest.kind,
            parent: manifest.parent,
            lsn: h.lsn,
            counts: h.counts,
            changes: manifest.changes,
            chunks: n_chunks,
            chunks_new,
            stream_bytes: ch.bytes,
            bytes_added: added,
            dedup_ratio: dedup_ratio(ch.bytes, added, chunks_new < n_chunks),
            seconds,
            mib_per_second: rate(ch.bytes, seconds),
        })
    }
}

/// Refuse what a snapshot must not hold: records of tables a backup does not store, and
/// deletions in a full snapshot.
fn check_record(r: &Record, delta: bool) -> Result<()> {
    let t = match *r {
        Record::Put(t, ..) => t,
        Record::Delete(t, _) | Record::DeleteRange(t, ..) if delta => t,
        _ => {
            return Err(Error::Corrupt(
                "a full snapshot's source served a deletion".into(),
            ))
        }
    };
    if !botstore::restore::is_primary(t) {
        return Err(Error::Corrupt(format!(
            "the record source served a record of table {}, which a backup does not store",
            t.name()
        )));
    }
    Ok(())
}

/// Take a snapshot of `store` (in this process) into `repo`.
pub fn create(repo: &Repo, store: &Store, opts: &CreateOptions) -> Result<CreateSummary> {
    let plan = Plan::new(repo, opts)?;
    let mut src = ViewSource::open(store, plan.since_lsn())?;
    plan.write(&mut src)
}
