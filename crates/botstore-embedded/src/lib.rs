//! botstore's embedded engine: redb behind a write-ahead journal with group commit.
//!
//! * [`journal`]: the write-ahead journal (framing, append + `fdatasync`, replay).
//! * [`writer`]: the write path the core's group commit calls (journal, memtable, timers);
//!   [`flusher`]: the thread that commits full memtables to redb; [`checkpoint`]: durable
//!   redb commits that recycle the journal.
//! * [`tables`]: the store's tables in redb and read views over redb read transactions.
//! * [`faults`] and [`recovery`]: a full disk or an I/O error blocks writes (typed errors,
//!   reads go on) until a retry succeeds; a store opened on a full disk is read-only until
//!   then.
//! * [`io`]: the one seam both files are opened through (plain files in production; the
//!   fault-injecting `fault_injection` module with the `faults` feature, for tests).
//!
//! Why a journal in front of redb: a redb commit with `Durability::Immediate` costs more than
//! one flush (about 0.42x the disk's `fdatasync` rate on the reference machine), so single
//! durable writes could not approach the disk's limit. A group's write set is framed and
//! made durable with one `fdatasync` of a file overwritten in place, then committed to redb with
//! `Durability::None`; a periodic checkpoint makes redb durable and recycles the journal.
//! See docs/ARCHITECTURE.md.
//!
//! Files in the data folder: `store.redb` (redb), `wal.log` (journal).

#![deny(unsafe_code)]

pub mod checkpoint;
#[cfg(feature = "faults")]
pub mod fault_injection;
pub mod faults;
pub mod flusher;
mod in_use;
pub mod io;
pub mod journal;
pub mod load;
pub mod memtable;
pub mod recovery;
pub mod repair;
pub mod tables;
pub mod writer;

#[cfg(test)]
mod fault_tests;

use botstore::backend::{Backend, CompactReport, Metric, MetricValue, Space, WriteGroup};
use botstore::kv::KvRead;
use botstore::{Error, Result};
pub use in_use::check_not_in_use;
use journal::{replay, Journal};
pub use load::{LoadOp, LoadReport, Loader};
use redb::{Database, ReadableDatabase};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;
use writer::{Upkeep, Writer, WriterState};

pub use botstore::Durability;

/// Options of the embedded engine.
#[derive(Clone, Debug)]
pub struct EmbeddedOptions {
    pub durability: Durability,
    /// redb's page cache (default 64 MiB).
    pub cache_size: usize,
    /// Journal bytes after which the writer checkpoints and starts again (default 64 MiB).
    pub journal_capacity: u64,
    /// Checkpoint at least this often while writes arrive (default 5 s).
    pub checkpoint_interval: Duration,
    /// Memtable bytes after which the writer commits them to redb (default 16 MiB).
    pub memtable_bytes: usize,
    /// How the engine opens `wal.log` and `store.redb` (default: the plain files; tests
    /// with the `faults` feature pass a fault-injecting layer).
    pub files: io::FileLayer,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        EmbeddedOptions {
            durability: Durability::Immediate,
            cache_size: 64 << 20,
            journal_capacity: 64 << 20,
            checkpoint_interval: Duration::from_secs(5),
            memtable_bytes: 16 << 20,
            files: io::FileLayer::Plain,
        }
    }
}

/// Counters of the writer (for metrics and benchmarks).
#[derive(Debug)]
pub struct WriterMetrics {
    /// Seconds per journal `fdatasync`.
    pub fsync_seconds: botstore::metrics::AtomicHistogram,
    /// Batches (requests) per commit group.
    pub group_batches: botstore::metrics::AtomicHistogram,
    pub groups: AtomicU64,
    pub batches: AtomicU64,
    pub fsyncs: AtomicU64,
    pub checkpoints: AtomicU64,
    /// Memtable commits to redb (checkpoints included).
    pub flushes: AtomicU64,
    /// Groups that failed for a full disk (`Error::NoSpace`).
    pub write_failures_no_space: AtomicU64,
    /// Groups that failed for another storage error (I/O, a broken redb handle).
    pub write_failures_io: AtomicU64,
    /// Groups refused because the store is read-only.
    pub write_failures_read_only: AtomicU64,
}

impl WriterMetrics {
    /// Count a failed group by the kind of its error.
    pub fn count_failure(&self, e: &Error) {
        let c = match e {
            Error::NoSpace(_) => &self.write_failures_no_space,
            Error::ReadOnly(_) => &self.write_failures_read_only,
            Error::Storage(_) | Error::Corrupt(_) => &self.write_failures_io,
            _ => return,
        };
        c.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Default for WriterMetrics {
    fn default() -> Self {
        use botstore::metrics::{AtomicHistogram, LATENCY_SECONDS, SIZES};
        WriterMetrics {
            fsync_seconds: AtomicHistogram::new(LATENCY_SECONDS),
            group_batches: AtomicHistogram::new(SIZES),
            groups: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            fsyncs: AtomicU64::new(0),
            checkpoints: AtomicU64::new(0),
            flushes: AtomicU64::new(0),
            write_failures_no_space: AtomicU64::new(0),
            write_failures_io: AtomicU64::new(0),
            write_failures_read_only: AtomicU64::new(0),
        }
    }
}

/// The memtables readers overlay on redb.
#[derive(Clone, Default)]
pub struct Memtables {
    pub active: Arc<memtable::MemTables>,
    pub flushing: Arc<memtable::MemTables>,
}

/// State shared by the backend handle and its writer thread.
pub struct Shared {
    db: RwLock<Database>,
    /// False while the redb handle is being reopened after an I/O error, and after a
    /// reopen failed: reads then fail instead of seeing the empty stand-in handle.
    db_ok: AtomicBool,
    /// Where `store.redb` is and its cache size, to reopen it.
    db_path: PathBuf,
    /// How the files are opened (plain, or through a fault plan in tests).
    files: io::FileLayer,
    /// The store's id, written into every journal frame and recorded by every checkpoint.
    store_id: u64,
    cache_size: usize,
    /// Why writes are blocked (a copy of the writer's state, for readiness and metrics).
    blocked: Mutex<Option<faults::Blocked>>,
    /// Groups that are durable in the journal but not yet committed to redb: the active
    /// memtable and the one the flusher thread is committing (empty when none).
    mem: RwLock<Memtables>,
    pub metrics: WriterMetrics,
}

impl Shared {
    pub fn db(&self) -> Result<RwLockReadGuard<'_, Database>> {
        let g = self
            .db
            .read()
            .map_err(|_| Error::Closed("database lock poisoned".into()))?;
        if !self.db_ok.load(Ordering::Acquire) {
            return Err(Error::Storage(format!(
                "{} could not be reopened after an I/O error; retried every 500 ms",
                self.db_path.display()
            )));
        }
        Ok(g)
    }

    /// Close the redb handle and open the file again: after an I/O error redb fails every
    /// later operation (`PreviousIo`) until then. The reopened file is at its last durable
    /// commit (the caller has the rest in the memtable). A stand-in in-memory handle takes
    /// the old one's place while the file is closed; reads fail until the reopen succeeds.
    pub fn reopen_db(&self) -> Result<()> {
        let stand_in = Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .map_err(|e| Error::Storage(format!("cannot reopen the database: {e}")))?;
        let mut g = self.db_mut()?;
        self.db_ok.store(false, Ordering::Release);
        let old = std::mem::replace(&mut *g, stand_in);
        // It failed already; closing releases the file and its lock (and may meet the
        // same damage: a panic there is only noted).
        let _ = tables::guard("closing the failed database", || {
            old.close().map_err(Error::storage)
        });
        let db = open_database(&self.files, &self.db_path, self.cache_size)
            .map_err(|e| open_error(&format!("cannot reopen {}", self.db_path.display()), e))?;
        *g = db;
        self.db_ok.store(true, Ordering::Release);
        Ok(())
    }

    /// Publish why writes are blocked (`None`: they are not).
    pub fn set_blocked(&self, b: Option<&faults::Blocked>) {
        if let Ok(mut g) = self.blocked.lock() {
            *g = b.cloned();
        }
    }

    /// The error a write would get now, if writes are blocked.
    pub fn write_block(&self) -> Option<Error> {
        self.blocked
            .lock()
            .ok()
            .and_then(|g| g.as_ref().map(faults::Blocked::write_error))
    }
    /// A consistent view: the memtable snapshot is taken before the redb transaction opens,
    /// so a group being moved from one to the other is seen in both or in redb, never in
    /// neither.
    pub fn view(&self) -> Result<memtable::EngineView> {
        let m = self.memtables()?;
        let db = self.db()?;
        let txn = tables::guard("opening a read", || db.begin_read().map_err(Error::storage))?;
        Ok(memtable::Overlay {
            mem: m.active,
            below: memtable::Overlay {
                mem: m.flushing,
                below: tables::RedbView::new(txn),
            },
        })
    }

    pub fn memtables(&self) -> Result<Memtables> {
        Ok(self
            .mem
            .read()
            .map_err(|_| Error::Closed("memtable lock poisoned".into()))?
            .clone())
    }

    /// Change the memtables readers see, under the lock (the writer and the flusher both
    /// change them; a read-modify-write outside the lock could undo the other's change).
    pub fn update_memtables(&self, f: impl FnOnce(&mut Memtables)) -> Result<()> {
        f(&mut *self
            .mem
            .write()
            .map_err(|_| Error::Closed("memtable lock poisoned".into()))?);
        Ok(())
    }

    pub fn db_mut(&self) -> Result<RwLockWriteGuard<'_, Database>> {
        self.db
            .write()
            .map_err(|_| Error::Closed("database lock poisoned".into()))
    }
}

/// A database being opened: dropped early (an open that fails), it is closed with
/// [`close_quietly`], not by redb's `Drop`, which panics on a damaged file.
struct ClosingDb(Option<Database>);

impl ClosingDb {
    fn get(&self) -> Result<&Database> {
        self.0
            .as_ref()
            .ok_or_else(|| Error::Closed("the database was handed on".into()))
    }
    fn take(mut self) -> Result<Database> {
        self.0
            .take()
            .ok_or_else(|| Error::Closed("the database was handed on".into()))
    }
}

impl Drop for ClosingDb {
    fn drop(&mut self) {
        if let Some(db) = self.0.take() {
            close_quietly(db);
        }
    }
}

/// Close `db`, catching a panic of redb's on a damaged file.
fn close_quietly(db: Database) {
    let _ = tables::guard("closing the database", || {
        db.close().map_err(Error::storage)
    });
}

impl Drop for Shared {
    /// redb closes a database in its `Drop` with a last commit, which panics when the file
    /// is damaged; that panic would escape any drop of the store. The database is closed
    /// here instead, the panic caught (the damage was reported by the reads that met it).
    fn drop(&mut self) {
        let slot = self.db.get_mut().unwrap_or_else(|e| e.into_inner());
        let Ok(stand_in) =
            Database::builder().create_with_backend(redb::backends::InMemoryBackend::new())
        else {
            return;
        };
        close_quietly(std::mem::replace(slot, stand_in));
    }
}

/// The embedded backend.
pub struct EmbeddedBackend {
    shared: Arc<Shared>,
    writer: Arc<Writer>,
    upkeep: Mutex<Upkeep>,
    dir: PathBuf,
    /// What the last open replayed from the journal: (frames, writes).
    pub recovered: (usize, usize),
}

impl EmbeddedBackend {
    /// Open (or create) a store in `dir`. Replays the journal if the last run did not shut
    /// down cleanly. Fails with a clear error if another process has the store open.
    pub fn open(dir: impl AsRef<Path>, opts: EmbeddedOptions) -> Result<EmbeddedBackend> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir).map_err(|e| {
            Error::Storage(format!("cannot create data folder {}: {e}", dir.display()))
        })?;
        let path = dir.join("store.redb");
        let journal_path = dir.join("wal.log");
        // Every check reads; nothing is written before they pass (a refused open leaves
        // the folder as it was).
        let journal_bytes = journal::read_file(&opts.files, &journal_path)?;
        if !path.exists() {
            let any = replay::scan(
                &journal_bytes,
                &replay::Expect {
                    generation: 0,
                    owner: replay::Owner::Any,
                },
            );
            if any.any_valid_frames() {
                return Err(journal::checks::missing_database(&any, &journal_path, &dir));
            }
            create_database_file(&dir, &path)?;
        }
        let db = open_database(&opts.files, &path, opts.cache_size).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => in_use::in_use_error(&dir),
            e => open_error(&format!("cannot open {}", path.display()), e),
        })?;
        // Until the database is handed to `Shared`, an early return closes it the safe way.
        let db = ClosingDb(Some(db));
        let (generation, store_id, settled) = tables::guard("reading store.redb", || {
            let r = db.get()?.begin_read().map_err(Error::storage)?;
            Ok((
                tables::journal_generation(&r)?,
                tables::store_id(&r)?,
                tables::settled(&r)?,
            ))
        })?;
        let scan = replay::scan(
            &journal_bytes,
            &replay::Expect {
                generation,
                owner: store_id.map_or(replay::Owner::Legacy, replay::Owner::Id),
            },
        );
        drop(journal_bytes);
        if let Some(e) = journal::checks::refusal(&scan, &journal_path, &dir) {
            return Err(e);
        }
        if let Some(t) = scan.torn {
            tracing::warn!(
                journal = %journal_path.display(),
                offset = t.offset,
                bytes = t.bytes,
                frames_kept = scan.frames.len(),
                "journal ends in a torn frame, dropped: a write cut short by a crash, never \
                 acknowledged (damage to the last frame looks the same)"
            );
        }
        // Replay the journal, then start a new generation: stale frames are never replayed.
        let mut journal = Journal::open_file(
            &opts.files,
            &journal_path,
            opts.journal_capacity,
            generation,
        )?;
        let store_id = store_id.unwrap_or_else(tables::new_store_id);
        journal.store_id = store_id;
        let allocated = journal.ensure_allocated();
        let end = scan.end;
        let frames = scan.frames;
        let recovered = (frames.len(), frames.iter().map(|f| f.writes.len()).sum());
        // Nothing to replay and nothing to set up: no commit, and the generation stays
        // (the journal holds no valid frame of it), so an open only to read writes nothing
        // to redb. Otherwise one commit replays, sets up and starts the next generation.
        let next = if frames.is_empty() && settled {
            generation
        } else {
            generation + 1
        };
        let replayed = allocated.and_then(|()| {
            if next == generation {
                return Ok(());
            }
            replay_commit(db.get()?, &frames, next, store_id, &dir)
        });
        let db = db.take()?;
        let shared = Arc::new(Shared {
            db: RwLock::new(db),
            db_ok: AtomicBool::new(true),
            db_path: path,
            files: opts.files.clone(),
            store_id,
            cache_size: opts.cache_size,
            blocked: Mutex::new(None),
            mem: RwLock::new(Memtables::default()),
            metrics: WriterMetrics::default(),
        });
        let mut state = match replayed {
            Ok(()) => {
                journal.restart(next);
                WriterState::new(Arc::clone(&shared), journal, opts)
            }
            // A full disk: open for reading, the journal's frames served from a memtable.
            Err(Error::NoSpace(why)) => {
                journal.resume_at(end);
                read_only_state(&shared, journal, opts, frames, &why)?
            }
            Err(e) => return Err(e),
        };
        state.timers.last_checkpoint = std::time::Instant::now();
        let writer = Writer::new(state);
        let upkeep = Upkeep::start(Arc::clone(&writer))?;
        Ok(EmbeddedBackend {
            shared,
            writer,
            upkeep: Mutex::new(upkeep),
            dir,
            recovered,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn metrics(&self) -> &WriterMetrics {
        &self.shared.metrics
    }

    /// Checkpoint and stop the write path. Later writes fail with `Error::Closed`.
    pub fn close(&self) -> Result<()> {
        let r = self.writer.close();
        self.upkeep
            .lock()
            .map_err(|_| Error::Closed("backend lock poisoned".into()))?
            .join();
        r
    }

    fn file_len(&self, name: &str) -> u64 {
        std::fs::metadata(self.dir.join(name)).map_or(0, |m| m.len())
    }
}

impl Drop for EmbeddedBackend {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

impl Backend for EmbeddedBackend {
    fn name(&self) -> &'static str {
        "embedded"
    }

    fn read(&self) -> Result<Box<dyn KvRead + '_>> {
        Ok(Box::new(self.shared.view()?))
    }

    fn write(&self, group: WriteGroup) -> Result<()> {
        self.writer.write(group)
    }

    fn space(&self) -> Result<Space> {
        Ok(Space {
            disk_bytes: Some(self.file_len("store.redb") + self.file_len("wal.log")),
        })
    }

    fn compact(&self) -> Result<CompactReport> {
        let before = self.space()?.disk_bytes;
        self.writer.run("compaction", WriterState::compact)?;
        Ok(CompactReport {
            resealed_values: 0,
            disk_bytes_before: before,
            disk_bytes_after: self.space()?.disk_bytes,
        })
    }

    fn sync(&self) -> Result<()> {
        self.writer.run("a checkpoint", WriterState::checkpoint_now)
    }

    fn close(&self) -> Result<()> {
        EmbeddedBackend::close(self)
    }

    fn origin(&self) -> String {
        format!("store.redb in {}", self.dir.display())
    }

    fn metrics(&self) -> Vec<Metric> {
        let m = &self.shared.metrics;
        let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
        vec![
            Metric {
                name: "botstore_journal_fsync_duration_seconds",
                help: "Time of one journal fdatasync.",
                value: MetricValue::Histogram(m.fsync_seconds.snapshot()),
            },
            Metric {
                name: "botstore_journal_fsyncs_total",
                help: "Journal fdatasyncs.",
                value: MetricValue::Counter(n(&m.fsyncs)),
            },
            Metric {
                name: "botstore_checkpoints_total",
                help: "Checkpoints (durable engine commits).",
                value: MetricValue::Counter(n(&m.checkpoints)),
            },
            Metric {
                name: "botstore_memtable_flushes_total",
                help: "Memtable commits to the engine.",
                value: MetricValue::Counter(n(&m.flushes)),
            },
            Metric {
                name: "botstore_writes_blocked",
                help:
                    "1 while writes fail (disk full, I/O error, read-only) until a retry succeeds.",
                value: MetricValue::Gauge(if self.shared.write_block().is_some() {
                    1.0
                } else {
                    0.0
                }),
            },
            Metric {
                name: "botstore_write_failures_no_space_total",
                help: "Write groups failed because the disk is full (HTTP 507).",
                value: MetricValue::Counter(n(&m.write_failures_no_space)),
            },
            Metric {
                name: "botstore_write_failures_io_total",
                help: "Write groups failed for an I/O error of the engine.",
                value: MetricValue::Counter(n(&m.write_failures_io)),
            },
            Metric {
                name: "botstore_write_failures_read_only_total",
                help: "Write groups refused because the store is read-only.",
                value: MetricValue::Counter(n(&m.write_failures_read_only)),
            },
        ]
    }

    fn write_block(&self) -> Option<Error> {
        self.shared.write_block()
    }
}

/// Open `store.redb` (at start, and again after an I/O error: [`Shared::reopen_db`]).
fn open_database(
    files: &io::FileLayer,
    path: &Path,
    cache_size: usize,
) -> Result<Database, redb::DatabaseError> {
    // redb answers some damage to the file with a panic (see `tables::guard`).
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        files.open_database(Database::builder().set_cache_size(cache_size), path)
    }))
    .unwrap_or_else(|_| {
        Err(redb::DatabaseError::Storage(redb::StorageError::Corrupted(
            "redb stopped while opening it".into(),
        )))
    })
}

/// What a failed [`open_database`] means: damage redb found in the file is
/// [`Error::Corrupt`] (the file must be restored or repaired, a retry will not help), a full
/// disk [`Error::NoSpace`], anything else [`Error::Storage`].
fn open_error(what: &str, e: redb::DatabaseError) -> Error {
    match e {
        redb::DatabaseError::Storage(redb::StorageError::Corrupted(m)) => {
            Error::Corrupt(format!("{what}: store.redb is damaged: {m}"))
        }
        // A read past the end while opening: the header points beyond the file, which is
        // damaged or cut short (a full disk fails the write that would grow it, not this).
        redb::DatabaseError::Storage(redb::StorageError::Io(io))
            if io.kind() == std::io::ErrorKind::UnexpectedEof =>
        {
            Error::Corrupt(format!(
                "{what}: store.redb is damaged: it ends before the data its header points to \
                 ({io})"
            ))
        }
        e => faults::classify(what, Error::storage(e)),
    }
}

/// The replay, the table creation and the generation bump as one `Immediate` commit.
fn replay_commit(
    db: &Database,
    frames: &[journal::Frame],
    next: u64,
    store_id: u64,
    dir: &Path,
) -> Result<()> {
    tables::guard("the journal's replay", || {
        replay_commit_unguarded(db, frames, next, store_id, dir)
    })
}

fn replay_commit_unguarded(
    db: &Database,
    frames: &[journal::Frame],
    next: u64,
    store_id: u64,
    dir: &Path,
) -> Result<()> {
    let what = "cannot commit the journal's replay";
    let mut txn = db
        .begin_write()
        .map_err(|e| faults::classify(what, Error::storage(e)))?;
    txn.set_durability(redb::Durability::Immediate)
        .map_err(Error::storage)?;
    txn.set_quick_repair(true);
    let r = tables::create_all(&txn).and_then(|()| {
        // Frames written by a build without record checks hold unsealed records; they are
        // replayed as they are and sealed with the rest below.
        for f in frames {
            tables::apply_writes(
                &txn,
                f.writes
                    .iter()
                    .map(|(t, k, v)| (*t, k.as_slice(), v.as_deref())),
            )?;
        }
        tables::seal_unchecked_records(&txn, &format!("store.redb in {}", dir.display()))?;
        tables::set_store_id(&txn, store_id)?;
        tables::set_journal_generation(&txn, next)
    });
    r.and_then(|()| txn.commit().map_err(Error::storage))
        .map_err(|e| faults::classify(what, e))
}

/// The writer of a store opened on a full disk: the journal's frames (not committed to
/// redb) are served from the active memtable, writes answer `Error::ReadOnly`, and the
/// upkeep thread retries (journal allocation, redb reopen, checkpoint) every 500 ms, so
/// the store becomes writable by itself once space is freed.
fn read_only_state(
    shared: &Arc<Shared>,
    journal: Journal,
    opts: EmbeddedOptions,
    frames: Vec<journal::Frame>,
    why: &str,
) -> Result<WriterState> {
    let last_lsn = frames.last().map(|f| f.last_lsn);
    let mut mem = memtable::MemTables::default();
    for f in frames {
        mem.insert(f.writes.into_iter().map(|(t, k, v)| ((t, k), v)).collect());
    }
    let mem = Arc::new(mem);
    shared.update_memtables(|m| m.active = Arc::clone(&mem))?;
    // The failed commit may have left the handle refusing reads (redb's PreviousIo).
    shared.reopen_db()?;
    let mut state = WriterState::new(Arc::clone(shared), journal, opts);
    state.mem = mem;
    state.journal_last_lsn = last_lsn;
    let e = Error::ReadOnly(format!(
        "opened read-only: no space left on the disk ({why}); writes resume by themselves \
         once space is freed"
    ));
    tracing::warn!("{e}");
    state.block(&e, faults::Repair::Checkpoint, false);
    if let Some(b) = state.blocked.as_mut() {
        b.rebuilt = true; // the memtable is the journal's replay
    }
    Ok(state)
}

/// Create a new redb file so that a crash at any point leaves either no `store.redb` or a
/// complete one: redb writes its magic number last, and refuses a file without it, so a
/// kill during a plain `create` would leave a folder that never opens again. The file is
/// made under a temporary name, flushed, then linked into place (a hard link fails if
/// another process got there first, instead of replacing its file) and the folder flushed.
fn create_database_file(dir: &Path, path: &Path) -> Result<()> {
    let io =
        |what: &str, e: std::io::Error| Error::Storage(format!("{what} in {}: {e}", dir.display()));
    // Temporary files of creations that were killed.
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let stale = e
                .file_name()
                .to_string_lossy()
                .starts_with("store.redb.new-")
                && e.metadata()
                    .and_then(|m| m.modified())
                    .map(|t| t.elapsed().unwrap_or_default() > Duration::from_secs(60))
                    .unwrap_or(false);
            if stale {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    let tmp = dir.join(format!("store.redb.new-{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    drop(
        Database::create(&tmp)
            .map_err(|e| Error::Storage(format!("cannot create {}: {e}", tmp.display())))?,
    );
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(|e| io("cannot flush the new database", e))?;
    match std::fs::hard_link(&tmp, path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io("cannot link the new database", e)),
    }
    let _ = std::fs::remove_file(&tmp);
    std::fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| io("cannot flush the data folder", e))
}

/// Open a [`botstore::Store`] on the embedded engine in `dir`.
pub fn open_store(
    dir: impl AsRef<Path>,
    opts: EmbeddedOptions,
    store: botstore::StoreOptions,
) -> Result<botstore::Store> {
    let b = EmbeddedBackend::open(dir, opts)?;
    Ok(botstore::Store::with_options(Arc::new(b), store))
}
