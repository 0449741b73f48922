//! The counts every backup command reports, in one vocabulary: what a snapshot holds
//! ([`StoreCounts`]: the whole store at its LSN) and, for a delta, what it changed
//! ([`DeltaCounts`], counted from its record stream). `create`, `restore`, `ls` and
//! `drill` print these and nothing else, so their numbers can be compared.

use crate::format::Record;
use crate::Result;
use botstore::codec::{self, Table};
use botstore::kv::KvRead;
use serde::{Deserialize, Serialize};
use std::ops::Bound;

/// The store at a snapshot's LSN.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreCounts {
    pub items: u64,
    pub streams: u64,
    /// Entries of all streams.
    pub entries: u64,
    /// Lease records (`None` in manifests written before leases were counted).
    pub leases: Option<u64>,
}

impl StoreCounts {
    /// Counts of the store in a read view, and its value bytes: items, streams and
    /// entries from the namespace counters, leases by a scan of their table.
    pub fn of_view(view: &dyn KvRead) -> Result<(StoreCounts, u64)> {
        let mut c = StoreCounts {
            leases: Some(0),
            ..StoreCounts::default()
        };
        let mut bytes = 0;
        view.scan(
            Table::Namespaces,
            (Bound::Unbounded, Bound::Unbounded),
            false,
            &mut |_, v| {
                let s = codec::decode_ns_stats(v)?;
                c.items += s.items;
                c.streams += s.streams;
                c.entries += s.stream_entries;
                bytes += s.item_bytes + s.stream_bytes;
                Ok(true)
            },
        )?;
        let mut leases = 0;
        view.scan(
            Table::Leases,
            (Bound::Unbounded, Bound::Unbounded),
            false,
            &mut |_, _| {
                leases += 1;
                Ok(true)
            },
        )?;
        c.leases = Some(leases);
        Ok((c, bytes))
    }

    /// What a finished load wrote.
    pub fn of_load(r: &botstore::LoadReport) -> StoreCounts {
        StoreCounts {
            items: r.items,
            streams: r.streams,
            entries: r.stream_entries,
            leases: Some(r.leases),
        }
    }

    /// Whether `other` (e.g. a restored store) has these counts; leases are compared only
    /// when both sides know them.
    pub fn agrees_with(&self, other: &StoreCounts) -> bool {
        (self.items, self.streams, self.entries) == (other.items, other.streams, other.entries)
            && match (self.leases, other.leases) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }
}

/// Records written and deleted of one kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changed {
    pub written: u64,
    pub deleted: u64,
}

impl Changed {
    pub fn is_zero(&self) -> bool {
        self.written == 0 && self.deleted == 0
    }
}

/// What a delta's record stream carries, by kind of record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeltaCounts {
    pub items: Changed,
    /// Stream metas written (a stream appended to, trimmed or created) and deleted.
    pub streams: Changed,
    /// Entries written (appended) and deleted one by one.
    pub entries: Changed,
    /// Ranges of entries deleted: one per trimmed or deleted stream.
    pub entry_ranges_deleted: u64,
    pub leases: Changed,
    pub namespace_ttls: Changed,
}

impl DeltaCounts {
    /// Count one record of the stream (`meta` is bookkeeping and not counted).
    pub fn add(&mut self, r: &Record) {
        let (t, put) = match *r {
            Record::Put(t, ..) => (t, true),
            Record::Delete(t, _) => (t, false),
            Record::DeleteRange(Table::Entries, ..) => {
                self.entry_ranges_deleted += 1;
                return;
            }
            Record::DeleteRange(..) => return,
        };
        let c = match t {
            Table::Items => &mut self.items,
            Table::Streams => &mut self.streams,
            Table::Entries => &mut self.entries,
            Table::Leases => &mut self.leases,
            Table::NsTtl => &mut self.namespace_ttls,
            _ => return,
        };
        if put {
            c.written += 1;
        } else {
            c.deleted += 1;
        }
    }

    /// Nothing but bookkeeping.
    pub fn is_empty(&self) -> bool {
        *self == DeltaCounts::default()
    }
}

/// Below this a rate or ratio is mostly fixed costs and says nothing.
const MEANINGFUL_BYTES: u64 = 1 << 20;

/// MiB per second, for at least 1 MiB moved in at least 1 s; else `None`.
pub fn rate(bytes: u64, seconds: f64) -> Option<f64> {
    (bytes >= MEANINGFUL_BYTES && seconds >= 1.0).then(|| bytes as f64 / (1 << 20) as f64 / seconds)
}

/// `stream / added`, when something was deduplicated (`reused`) and the stream is at
/// least 1 MiB; else `None`.
pub fn dedup_ratio(stream: u64, added: u64, reused: bool) -> Option<f64> {
    (reused && stream >= MEANINGFUL_BYTES).then(|| stream as f64 / added.max(1) as f64)
}
