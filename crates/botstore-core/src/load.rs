//! Bulk loading of a new store from primary-table records: what a restore writes into.
//!
//! A loader writes records straight into a new store, bypassing the semantics and the
//! change feed; the derived tables (expiry index, namespace counters) are rebuilt by the
//! engine (see [`crate::restore::DerivedBuilder`]). A loader must make a crash mid-load
//! harmless: the new store becomes visible only when [`BulkLoader::finish`] succeeds.

use crate::error::Result;
use crate::kv::Table;

/// One write of a load.
#[derive(Clone, Copy, Debug)]
pub enum LoadOp<'a> {
    /// Put `value` at `key` of `table`.
    Put(Table, &'a [u8], &'a [u8]),
    /// Delete `key` of `table`.
    Delete(Table, &'a [u8]),
    /// Delete every key in `start .. end` (end excluded).
    DeleteRange(Table, &'a [u8], &'a [u8]),
}

/// What a finished load wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Items loaded.
    pub items: u64,
    /// Streams loaded.
    pub streams: u64,
    /// Entries of those streams (from their metas).
    pub stream_entries: u64,
    /// Lease records loaded.
    pub leases: u64,
    /// Entries of the expiry index rebuilt.
    pub expiry_entries: u64,
    /// Namespaces whose counters were rebuilt.
    pub namespaces: u64,
    /// Size of the new store's files.
    pub file_bytes: u64,
}

/// A store being loaded. Engines that can be restored into implement it; front ends get
/// one from `botstore::create_loader`.
pub trait BulkLoader: Send {
    /// Apply writes to primary tables, in order. Derived tables and the change feed are
    /// refused: they are rebuilt, never loaded.
    fn apply(&mut self, ops: &[LoadOp<'_>]) -> Result<()>;

    /// The value of a key as loaded so far (this load's writes included): point-in-time
    /// restore reads stream metas and entries through this while it replays changes.
    fn get(&mut self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>>;

    /// Rebuild the derived tables, make everything durable and put the new store in place.
    fn finish(self: Box<Self>) -> Result<LoadReport>;
}
