//! The one seam for storage engines.
//!
//! A backend is an ordered, transactional byte store with consistent read views. It does
//! not implement semantics: it hands each batch to [`crate::apply::apply_group`] with a read
//! view of its latest state and stores the returned write set atomically and durably. That
//! is why every backend behaves the same, and why the conformance suite can check them all.

use crate::apply::{Batch, BatchResults};
use crate::error::Result;
use crate::kv::KvRead;
use futures::future::BoxFuture;

/// What a backend reports about its space.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Space {
    /// Bytes the backend occupies on disk (`None`: not on disk).
    pub disk_bytes: Option<u64>,
}

/// What compaction did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CompactReport {
    pub disk_bytes_before: Option<u64>,
    pub disk_bytes_after: Option<u64>,
}

pub trait Backend: Send + Sync + 'static {
    /// A short name: `memory`, `embedded`, ...
    fn name(&self) -> &'static str;

    /// A consistent read view of the latest committed state. Never waits for the writer.
    fn read(&self) -> Result<Box<dyn KvRead + '_>>;

    /// Apply one batch (see [`crate::apply::apply_group`]) and make it as durable as the
    /// backend is configured to; the future resolves when it is.
    fn commit(&self, batch: Batch) -> BoxFuture<'static, Result<BatchResults>>;

    fn space(&self) -> Result<Space>;

    /// Reclaim free space. May block for a while; callers run it off the async threads.
    fn compact(&self) -> Result<CompactReport>;

    /// Make everything committed so far durable and checkpoint (a no-op where commits are
    /// already durable and there is nothing to checkpoint).
    fn sync(&self) -> Result<()>;
}
