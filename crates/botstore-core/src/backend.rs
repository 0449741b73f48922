//! The one seam for storage engines.
//!
//! A backend is an ordered, transactional byte store with consistent read views: it
//! supplies read views ([`Backend::read`]) and stores finished write sets atomically
//! ([`Backend::write`]). It implements no semantics and never sees a [`crate::Batch`]:
//! the core's group commit ([`crate::commit`]) turns batches into a write set with
//! [`crate::apply::apply_group`] over a read view and hands the backend the result. That is
//! why every backend behaves the same, why the conformance suite can check them all, and
//! why a layer (a cache, metrics, tiering) can wrap any backend by implementing this trait
//! around another one.
//!
//! The vocabulary of the seam ([`Table`], [`KvRead`], [`WriteSet`]) is in [`crate::kv`].

use crate::error::{Error, Result};
pub use crate::kv::{KvRead, Table, WriteSet};
use crate::metrics::HistogramSnapshot;
use std::sync::Arc;
use std::time::Duration;

/// What a backend reports about its space.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Space {
    /// Bytes the backend occupies on disk (`None`: not on disk).
    pub disk_bytes: Option<u64>,
}

/// What compaction did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CompactReport {
    /// Bytes on disk before compaction (`None`: not on disk).
    pub disk_bytes_before: Option<u64>,
    /// Bytes on disk after compaction.
    pub disk_bytes_after: Option<u64>,
    /// Values sealed again with the newest compression dictionary (`Store::compact`; a
    /// backend leaves it 0).
    pub resealed_values: u64,
}

/// One group's finished writes, as the core hands them to [`Backend::write`].
#[derive(Debug)]
pub struct WriteGroup {
    /// Absolute puts and deletes, ordered (so framing them in a log is deterministic).
    pub writes: WriteSet,
    /// The LSNs the group assigned: `first_lsn..=last_lsn` (empty when
    /// `last_lsn == first_lsn - 1`). The new `last_lsn` is also among the writes
    /// (`Table::Meta`), so a backend needs these only for its own framing.
    pub first_lsn: u64,
    /// The last LSN of the group.
    pub last_lsn: u64,
    /// How many batches the group holds (for the backend's own metrics).
    pub batches: usize,
}

/// When an acknowledged write is on disk: a setting every backend honours in its own way
/// (the embedded engine: an `fdatasync` per group, or a flush within `max_loss`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Durability {
    /// Acknowledged means on disk: one `fdatasync` per group before the acknowledgement.
    #[default]
    Immediate,
    /// Acknowledged before the flush; the journal is flushed at most `max_loss` after a
    /// write, which bounds what a power loss can take. A process crash loses nothing.
    Relaxed {
        /// The longest an acknowledged write waits for its flush.
        max_loss: Duration,
    },
}

impl Durability {
    /// `immediate`, `relaxed` (10 ms) or `relaxed:25ms`.
    pub fn parse(s: &str) -> Result<Durability> {
        let bad = || Error::InvalidInput {
            rule: crate::Rule::Range,
            detail: format!("durability {s:?}: expected immediate, relaxed or relaxed:<duration>"),
        };
        match s.split_once(':') {
            None if s == "immediate" => Ok(Durability::Immediate),
            None if s == "relaxed" => Ok(Durability::Relaxed {
                max_loss: Duration::from_millis(10),
            }),
            Some(("relaxed", d)) => Ok(Durability::Relaxed {
                max_loss: crate::parse_duration(d).map_err(|_| bad())?,
            }),
            _ => Err(bad()),
        }
    }
}

/// A metric a backend exports; the server renders these as Prometheus text.
#[derive(Clone, Debug, PartialEq)]
pub struct Metric {
    /// Full metric name, e.g. `botstore_journal_fsyncs_total`.
    pub name: &'static str,
    /// One line of help.
    pub help: &'static str,
    /// The value.
    pub value: MetricValue,
}

/// The value of a [`Metric`].
#[derive(Clone, Debug, PartialEq)]
pub enum MetricValue {
    /// A monotonic counter.
    Counter(u64),
    /// A value that goes up and down.
    Gauge(f64),
    /// A histogram.
    Histogram(HistogramSnapshot),
}

/// A storage engine. See the module documentation; `crate::conformance` says how to add
/// one ("Running it from a backend crate").
pub trait Backend: Send + Sync + 'static {
    /// A short name: `memory`, `embedded`, ...
    fn name(&self) -> &'static str;

    /// A consistent read view of the latest committed state. Never waits for the writer.
    fn read(&self) -> Result<Box<dyn KvRead + '_>>;

    /// Store one group's write set atomically, as durably as the backend is configured to,
    /// and make it visible to later [`Backend::read`] views before returning.
    ///
    /// The core calls this from one thread at a time, in commit order, and applies the next
    /// group only after this returned, so a backend needs no ordering of its own. It may
    /// block (an `fdatasync`, a network round trip): it runs on the core's commit thread,
    /// never on an async worker. An error fails every batch of the group; a backend that
    /// cannot go on after it keeps failing later groups.
    fn write(&self, group: WriteGroup) -> Result<()>;

    /// Bytes on disk.
    fn space(&self) -> Result<Space>;

    /// Reclaim free space. May block for a while; callers run it off the async threads.
    fn compact(&self) -> Result<CompactReport>;

    /// Make everything written so far durable and checkpoint (a no-op where writes are
    /// already durable and there is nothing to checkpoint).
    fn sync(&self) -> Result<()>;

    /// Make everything durable and release the backend's files and threads. Later calls
    /// fail with [`crate::Error::Closed`]. Dropping the last handle closes too; this is for
    /// callers that must know when it is done (and whether it failed).
    fn close(&self) -> Result<()> {
        self.sync()
    }

    /// True when a read view's reads may block for long (a network round trip). The store
    /// then keeps them off the async runtime's workers (see `Store`'s read methods); local
    /// engines, whose reads take microseconds, say false.
    fn reads_block(&self) -> bool {
        false
    }

    /// The backend's own metrics (fsync latency, checkpoints, ...); none by default.
    fn metrics(&self) -> Vec<Metric> {
        Vec::new()
    }

    /// Where the backend keeps its bytes, for errors about damaged records
    /// (`store.redb in /var/lib/botstore`); its name by default.
    fn origin(&self) -> String {
        self.name().to_string()
    }

    /// For the layer that verifies record checks ([`crate::record_check::Checked`]): the
    /// backend under it, whose views return sealed records. [`crate::Store`] does not wrap
    /// such a layer again. Engines say `None`.
    fn unchecked(&self) -> Option<Arc<dyn Backend>> {
        None
    }

    /// The error a write would fail with now, while writes are blocked for a reason that
    /// outlasts one write (a full disk, an I/O error being retried, a store opened
    /// read-only); `None` when writes go through. Readiness checks report it (the server's
    /// `/readyz`); a layer that wraps a backend forwards it. `None` by default.
    fn write_block(&self) -> Option<crate::Error> {
        None
    }
}
