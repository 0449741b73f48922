//! A prototype [`Backend`] on fjall 3, the engine comparison's other side (issue 18,
//! docs/ARCHITECTURE.md "Choosing the engine"): every table of the seam is a fjall
//! keyspace of one fjall database, a read view is a fjall snapshot (one sequence number
//! across every keyspace), and a group is one fjall write batch (atomic across keyspaces)
//! with one `fdatasync` of fjall's journal under `Durability::Immediate`.
//!
//! So the core (semantics, group commit, codec stack, record checks) is the same as on the
//! embedded engine, and only what is under the seam differs: fjall's journal, memtables,
//! flushes and compactions in place of botstore's journal, memtables, flusher and redb.
//! It lives in the benchmark crate because it is a measurement, not a supported engine:
//! no crash, fault or repair work has been done on it, relaxed durability is "flush to the
//! OS, sync on `sync`" with no bound on the loss, and no location of `botstore::open`
//! names it.

use botstore::{
    Backend, CompactReport, Durability, Error, KvRead, Result, Space, Table, WriteGroup,
};
use fjall::config::{BlockSizePolicy, CompressionPolicy};
use fjall::{
    CompressionType, Database, Keyspace, KeyspaceCreateOptions, KvSeparationOptions, PersistMode,
    Readable, Snapshot,
};
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// How the fjall keyspaces are configured: the variants the comparison measures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FjallVariant {
    /// fjall's defaults: 4 KiB data blocks, no compression on L0 and L1, LZ4 below.
    #[default]
    Defaults,
    /// LZ4 on every level and 32 KiB data blocks (fjall 3 has no zstd: LZ4 or nothing).
    Lz4Large,
    /// The defaults plus key-value separation (values of 1 KiB and more in blob files,
    /// LZ4-compressed).
    KvSeparated,
    /// The defaults with the embedded engine's memtable size: 16 MiB per keyspace (fjall's
    /// default is 64 MiB per keyspace; its cap on all memtables together is not
    /// implemented in 3.1).
    SmallMemtables,
}

impl FjallVariant {
    /// Every variant, in the order the comparison runs them.
    pub const ALL: [FjallVariant; 4] = [
        FjallVariant::Defaults,
        FjallVariant::Lz4Large,
        FjallVariant::KvSeparated,
        FjallVariant::SmallMemtables,
    ];

    /// The name used on the command line and in report rows.
    pub fn name(self) -> &'static str {
        match self {
            FjallVariant::Defaults => "fjall",
            FjallVariant::Lz4Large => "fjall-lz4-32k",
            FjallVariant::KvSeparated => "fjall-kv",
            FjallVariant::SmallMemtables => "fjall-16m",
        }
    }

    fn options(self) -> KeyspaceCreateOptions {
        let o = KeyspaceCreateOptions::default();
        match self {
            FjallVariant::Defaults => o,
            FjallVariant::Lz4Large => o
                .data_block_compression_policy(CompressionPolicy::all(CompressionType::Lz4))
                .data_block_size_policy(BlockSizePolicy::all(32 * 1024)),
            FjallVariant::KvSeparated => o.with_kv_separation(Some(
                KvSeparationOptions::default()
                    .compression(CompressionType::Lz4)
                    .separation_threshold(1024),
            )),
            FjallVariant::SmallMemtables => o.max_memtable_size(16 << 20),
        }
    }
}

/// The backend's writer counters (read by the benchmark, like the embedded engine's).
#[derive(Debug, Default)]
pub struct FjallCounters {
    /// Groups written (one fjall batch each).
    pub groups: AtomicU64,
    /// Batches in those groups.
    pub batches: AtomicU64,
    /// Journal syncs (`fdatasync`).
    pub fsyncs: AtomicU64,
}

/// A store's tables in one fjall database.
pub struct FjallBackend {
    db: Database,
    /// One keyspace per table, in `Table::ALL` order.
    keyspaces: Vec<Keyspace>,
    durability: Durability,
    dir: PathBuf,
    counters: FjallCounters,
}

/// fjall's errors as the seam's: what a damaged file gives (a failed block checksum, a
/// block that does not decode) is `Corrupt`, never data; the rest is a storage error.
pub fn fjall_error(e: fjall::Error) -> Error {
    use fjall::LsmError as L;
    match &e {
        fjall::Error::Storage(
            L::ChecksumMismatch { .. }
            | L::Decompress(_)
            | L::InvalidTag(_)
            | L::InvalidTrailer
            | L::InvalidHeader(_)
            | L::InvalidVersion(_)
            | L::Unrecoverable
            | L::Utf8(_),
        )
        | fjall::Error::Decompress(_)
        | fjall::Error::InvalidTag(_)
        | fjall::Error::InvalidTrailer
        | fjall::Error::InvalidVersion(_)
        | fjall::Error::JournalRecovery(_)
        | fjall::Error::Unrecoverable => Error::Corrupt(format!("fjall: {e}")),
        _ => Error::Storage(format!("fjall: {e}")),
    }
}

impl FjallBackend {
    /// Open (or create) the database in `dir` with `cache_size` bytes of block cache.
    pub fn open(
        dir: &Path,
        variant: FjallVariant,
        durability: Durability,
        cache_size: u64,
    ) -> Result<FjallBackend> {
        let db = Database::builder(dir)
            .cache_size(cache_size)
            .open()
            .map_err(fjall_error)?;
        let mut keyspaces = Vec::with_capacity(Table::ALL.len());
        for t in Table::ALL {
            keyspaces.push(
                db.keyspace(t.name(), || variant.options())
                    .map_err(fjall_error)?,
            );
        }
        Ok(FjallBackend {
            db,
            keyspaces,
            durability,
            dir: dir.to_path_buf(),
            counters: FjallCounters::default(),
        })
    }

    fn keyspace(&self, t: Table) -> &Keyspace {
        // Table ids are 1..=9 and `keyspaces` holds one per id, in order.
        &self.keyspaces[t as usize - 1]
    }

    /// The writer's counters.
    pub fn counters(&self) -> &FjallCounters {
        &self.counters
    }

    /// Bytes on disk: tables, blob files and journals.
    pub fn disk_bytes(&self) -> Result<u64> {
        self.db.disk_space().map_err(fjall_error)
    }

    /// Bytes on disk of each table's keyspace (tables and blob files; journals aside).
    pub fn table_bytes(&self) -> Vec<(String, u64)> {
        Table::ALL
            .iter()
            .map(|t| (t.name().to_string(), self.keyspace(*t).disk_space()))
            .collect()
    }

    /// Bytes of fjall's journals alone.
    pub fn journal_bytes(&self) -> Result<u64> {
        self.db.journal_disk_space().map_err(fjall_error)
    }
}

struct FjallView<'a> {
    backend: &'a FjallBackend,
    snapshot: Snapshot,
}

impl KvRead for FjallView<'_> {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self
            .snapshot
            .get(self.backend.keyspace(table), key)
            .map_err(fjall_error)?
            .map(|v| v.to_vec()))
    }

    fn scan(
        &self,
        table: Table,
        range: (Bound<&[u8]>, Bound<&[u8]>),
        reverse: bool,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> Result<bool>,
    ) -> Result<()> {
        let it = self
            .snapshot
            .range::<&[u8], _>(self.backend.keyspace(table), range);
        botstore::kv::visit_in_order(it, reverse, |g: fjall::Guard| {
            let (k, v) = g.into_inner().map_err(fjall_error)?;
            visit(&k, &v)
        })
    }
}

impl Backend for FjallBackend {
    fn name(&self) -> &'static str {
        "fjall"
    }

    fn read(&self) -> Result<Box<dyn KvRead + '_>> {
        Ok(Box::new(FjallView {
            backend: self,
            snapshot: self.db.snapshot(),
        }))
    }

    fn write(&self, group: WriteGroup) -> Result<()> {
        let sync = matches!(self.durability, Durability::Immediate);
        let mut batch = self.db.batch().durability(Some(if sync {
            PersistMode::SyncData
        } else {
            PersistMode::Buffer
        }));
        for ((t, k), v) in group.writes {
            match v {
                Some(v) => batch.insert(self.keyspace(t), k, v),
                None => batch.remove(self.keyspace(t), k),
            }
        }
        batch.commit().map_err(fjall_error)?;
        self.counters.groups.fetch_add(1, Ordering::Relaxed);
        self.counters
            .batches
            .fetch_add(group.batches as u64, Ordering::Relaxed);
        if sync {
            self.counters.fsyncs.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    fn space(&self) -> Result<Space> {
        Ok(Space {
            disk_bytes: Some(self.disk_bytes()?),
        })
    }

    /// Flush every memtable and compact every keyspace into its last level.
    fn compact(&self) -> Result<CompactReport> {
        let before = self.disk_bytes()?;
        for ks in &self.keyspaces {
            ks.rotate_memtable_and_wait().map_err(fjall_error)?;
            ks.major_compact().map_err(fjall_error)?;
        }
        self.db.persist(PersistMode::SyncAll).map_err(fjall_error)?;
        Ok(CompactReport {
            disk_bytes_before: Some(before),
            disk_bytes_after: Some(self.disk_bytes()?),
            resealed_values: 0,
        })
    }

    fn sync(&self) -> Result<()> {
        self.db.persist(PersistMode::SyncAll).map_err(fjall_error)
    }

    fn origin(&self) -> String {
        format!("fjall database in {}", self.dir.display())
    }
}
