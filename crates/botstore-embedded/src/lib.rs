//! botstore's embedded engine: redb behind a write-ahead journal with group commit.
//!
//! * [`journal`]: the write-ahead journal (framing, append + `fdatasync`, replay).
//! * [`writer`]: the write path the core's group commit calls (journal, memtable, timers);
//!   [`flusher`]: the thread that commits full memtables to redb; [`checkpoint`]: durable
//!   redb commits that recycle the journal.
//! * [`tables`]: the store's tables in redb and read views over redb read transactions.
//! * [`io`]: the one seam both files are opened through (plain files in production; the
//!   fault-injecting `faults` module with the `faults` feature, for tests).
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
pub mod faults;
pub mod flusher;
pub mod io;
pub mod journal;
pub mod load;
pub mod memtable;
pub mod tables;
pub mod writer;

use botstore::backend::{Backend, CompactReport, Metric, MetricValue, Space, WriteGroup};
use botstore::kv::KvRead;
use botstore::{Error, Result};
use journal::Journal;
pub use load::{LoadOp, LoadReport, Loader};
use redb::{Database, ReadableDatabase};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
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
    /// Groups that are durable in the journal but not yet committed to redb: the active
    /// memtable and the one the flusher thread is committing (empty when none).
    mem: RwLock<Memtables>,
    pub metrics: WriterMetrics,
}

impl Shared {
    pub fn db(&self) -> Result<RwLockReadGuard<'_, Database>> {
        self.db
            .read()
            .map_err(|_| Error::Closed("database lock poisoned".into()))
    }
    /// A consistent view: the memtable snapshot is taken before the redb transaction opens,
    /// so a group being moved from one to the other is seen in both or in redb, never in
    /// neither.
    pub fn view(&self) -> Result<memtable::EngineView> {
        let m = self.memtables()?;
        let txn = self.db()?.begin_read().map_err(Error::storage)?;
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
        if !path.exists() {
            create_database_file(&dir, &path)?;
        }
        let db = opts
            .files
            .open_database(Database::builder().set_cache_size(opts.cache_size), &path)
            .map_err(|e| match e {
                redb::DatabaseError::DatabaseAlreadyOpen => Error::Storage(format!(
                    "data folder {} is in use by another botstore process",
                    dir.display()
                )),
                e => Error::Storage(format!("cannot open {}: {e}", path.display())),
            })?;
        // Replay the journal, then start a new generation: stale frames are never replayed.
        let generation = tables::journal_generation(&db.begin_read().map_err(Error::storage)?)?;
        let journal_path = dir.join("wal.log");
        let journal = Journal::open_with(
            &opts.files,
            &journal_path,
            opts.journal_capacity,
            generation,
        )?;
        let (frames, _) = journal::read_frames(journal.file(), generation)?;
        let recovered = (frames.len(), frames.iter().map(|f| f.writes.len()).sum());
        let next = generation + 1;
        {
            let mut txn = db.begin_write().map_err(Error::storage)?;
            txn.set_durability(redb::Durability::Immediate)
                .map_err(Error::storage)?;
            txn.set_quick_repair(true);
            tables::create_all(&txn)?;
            for f in &frames {
                tables::apply_writes(
                    &txn,
                    f.writes
                        .iter()
                        .map(|(t, k, v)| (*t, k.as_slice(), v.as_deref())),
                )?;
            }
            tables::set_journal_generation(&txn, next)?;
            txn.commit().map_err(Error::storage)?;
        }
        let mut journal = journal;
        journal.restart(next);
        let shared = Arc::new(Shared {
            db: RwLock::new(db),
            mem: RwLock::new(Memtables::default()),
            metrics: WriterMetrics::default(),
        });
        let writer = Writer::new(WriterState::new(Arc::clone(&shared), journal, opts));
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
        self.writer.lock()?.compact()?;
        Ok(CompactReport {
            disk_bytes_before: before,
            disk_bytes_after: self.space()?.disk_bytes,
        })
    }

    fn sync(&self) -> Result<()> {
        self.writer.lock()?.checkpoint_now()
    }

    fn close(&self) -> Result<()> {
        EmbeddedBackend::close(self)
    }

    fn metrics(&self) -> Vec<Metric> {
        let m = &self.shared.metrics;
        let n = |a: &AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
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
        ]
    }
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
