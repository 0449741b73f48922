//! The ordered key-value interface that backends provide, and the layered write set the
//! semantics engine writes into.

use crate::error::Result;
use std::collections::BTreeMap;
use std::ops::Bound;

/// The tables of the store: the seam's address space. Every backend stores exactly these
/// tables; what the records in them mean is the core's business ([`crate::codec`]). The discriminant is persisted (write-ahead log frames).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Table {
    /// item key -> item record
    Items = 1,
    /// be64(expires_at) ++ item key -> be64(version)
    Expiry = 2,
    /// stream key -> stream meta
    Streams = 3,
    /// stream key ++ 0x00 ++ be64(seq) -> entry record
    Entries = 4,
    /// lease key -> lease record
    Leases = 5,
    /// be64(lsn) -> change record
    Changes = 6,
    /// namespace -> namespace stats
    Namespaces = 7,
    /// namespace prefix -> be64(default ttl ms)
    NsTtl = 8,
    /// name -> value (e.g. `last_lsn`)
    Meta = 9,
    /// be64(version) -> item key ++ item record: an item version the change feed still
    /// refers to, kept when the item was overwritten or removed
    History = 10,
}

impl Table {
    /// Every table, in id order (ids 1 to 10).
    pub const ALL: [Table; 10] = [
        Table::Items,
        Table::Expiry,
        Table::Streams,
        Table::Entries,
        Table::Leases,
        Table::Changes,
        Table::Namespaces,
        Table::NsTtl,
        Table::Meta,
        Table::History,
    ];
    /// The table's stable name (`items`, `ns_ttl`, ...), as engines name their tables.
    pub fn name(self) -> &'static str {
        match self {
            Table::Items => "items",
            Table::Expiry => "expiry",
            Table::Streams => "streams",
            Table::Entries => "entries",
            Table::Leases => "leases",
            Table::Changes => "changes",
            Table::Namespaces => "namespaces",
            Table::NsTtl => "ns_ttl",
            Table::Meta => "meta",
            Table::History => "history",
        }
    }
    /// Whether the table is the change feed's (`changes`, and the item versions it keeps in
    /// `history`): not the store's contents, so never in a backup's snapshot.
    pub fn is_feed(self) -> bool {
        matches!(self, Table::Changes | Table::History)
    }
    /// The table with this id (`Table as u8`); `None` for an unknown id.
    pub fn from_u8(b: u8) -> Option<Table> {
        Table::ALL.get((b as usize).wrapping_sub(1)).copied()
    }
}

/// A consistent read view of the store's tables (a snapshot: it does not see writes that
/// commit after it was opened).
pub trait KvRead {
    /// The value stored at `key` in `table`, if any.
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>>;

    /// Visit keys in `range` in order (descending when `reverse`), until `visit` returns
    /// `Ok(false)`.
    // The visitor type is spelled out so that backends see exactly what they implement.
    #[allow(clippy::type_complexity)]
    fn scan(
        &self,
        table: Table,
        range: (Bound<&[u8]>, Bound<&[u8]>),
        reverse: bool,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> Result<bool>,
    ) -> Result<()>;
}

/// A borrowed view is a view (to lend one to a layer that takes its inner view by box).
impl<T: KvRead + ?Sized> KvRead for &T {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
        (**self).get(table, key)
    }
    fn scan(
        &self,
        table: Table,
        range: (Bound<&[u8]>, Bound<&[u8]>),
        reverse: bool,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> Result<bool>,
    ) -> Result<()> {
        (**self).scan(table, range, reverse, visit)
    }
}

/// The loop a backend's [`KvRead::scan`] ends in: hand `entries` (already in ascending
/// order) to `visit`, descending when `reverse`, until it returns `Ok(false)`.
pub fn visit_in_order<T>(
    entries: impl DoubleEndedIterator<Item = T>,
    reverse: bool,
    mut visit: impl FnMut(T) -> Result<bool>,
) -> Result<()> {
    if reverse {
        for e in entries.rev() {
            if !visit(e)? {
                break;
            }
        }
    } else {
        for e in entries {
            if !visit(e)? {
                break;
            }
        }
    }
    Ok(())
}

/// A set of writes: `Some(value)` puts, `None` deletes. Ordered, so that applying it and
/// framing it in a log is deterministic.
pub type WriteSet = BTreeMap<(Table, Vec<u8>), Option<Vec<u8>>>;

/// Write layers over a read view: each layer sees the ones below it; a layer is either
/// merged into the one below (commit) or dropped (rollback). The engine uses three: the
/// group (all batches of one group commit), the batch and the single mutation.
pub struct Layered<'a> {
    base: &'a dyn KvRead,
    layers: Vec<WriteSet>,
}

impl<'a> Layered<'a> {
    /// Layers over `base`, with one (the bottom) layer open.
    pub fn new(base: &'a dyn KvRead) -> Self {
        Layered {
            base,
            layers: vec![WriteSet::new()],
        }
    }
    /// Open a new top layer.
    pub fn begin(&mut self) {
        self.layers.push(WriteSet::new());
    }
    /// Merge the top layer into the one below it (never the bottom layer).
    pub fn commit(&mut self) {
        if self.layers.len() > 1 {
            if let Some(top) = self.layers.pop() {
                if let Some(below) = self.layers.last_mut() {
                    below.extend(top);
                }
            }
        }
    }
    /// Drop the top layer's writes (never the bottom layer).
    pub fn rollback(&mut self) {
        if self.layers.len() > 1 {
            self.layers.pop();
        }
    }
    /// The value at `key` as the layers see it: the topmost layer's write, else the base.
    pub fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let k = (table, key.to_vec());
        for l in self.layers.iter().rev() {
            if let Some(v) = l.get(&k) {
                return Ok(v.clone());
            }
        }
        self.base.get(table, key)
    }
    /// Scan the base only (older data; used for retention, where layers hold only newer keys).
    pub fn base(&self) -> &dyn KvRead {
        self.base
    }
    /// Put `value` at `key` in the top layer.
    pub fn put(&mut self, table: Table, key: Vec<u8>, value: Vec<u8>) {
        if let Some(l) = self.layers.last_mut() {
            l.insert((table, key), Some(value));
        }
    }
    /// Delete `key` in the top layer.
    pub fn delete(&mut self, table: Table, key: Vec<u8>) {
        if let Some(l) = self.layers.last_mut() {
            l.insert((table, key), None);
        }
    }
    /// The bottom layer: everything committed so far.
    pub fn into_writes(mut self) -> WriteSet {
        while self.layers.len() > 1 {
            self.commit();
        }
        self.layers.pop().unwrap_or_default()
    }
}

/// An empty read view (a new store).
pub struct EmptyView;

impl KvRead for EmptyView {
    fn get(&self, _: Table, _: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(None)
    }
    fn scan(
        &self,
        _: Table,
        _: (Bound<&[u8]>, Bound<&[u8]>),
        _: bool,
        _: &mut dyn FnMut(&[u8], &[u8]) -> Result<bool>,
    ) -> Result<()> {
        Ok(())
    }
}
