//! Rebuilding the derived tables from the primary ones, for restores and bulk loads.
//!
//! A backup stores only the primary tables ([`PRIMARY`]); the expiry index and the
//! per-namespace counters ([`DERIVED`]) follow from them and are rebuilt here, as pure
//! functions over the [`crate::codec`] records. The change feed is not part of a backup.

use crate::codec::{self, Reader, Table};
use crate::error::Result;
use crate::model::{NamespaceStats, StoredBytes};
use std::collections::BTreeMap;

/// Tables a backup stores, in the order it stores them.
pub const PRIMARY: [Table; 6] = [
    Table::Items,
    Table::Streams,
    Table::Entries,
    Table::Leases,
    Table::NsTtl,
    Table::Meta,
];

/// Tables rebuilt from the primary ones.
pub const DERIVED: [Table; 2] = [Table::Expiry, Table::Namespaces];

/// Whether a backup stores table `t` (it is in [`PRIMARY`]).
pub fn is_primary(t: Table) -> bool {
    PRIMARY.contains(&t)
}

/// What the derived tables need from an item record: its version, expiry and value size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ItemFacts {
    /// The item's version (an LSN).
    pub version: u64,
    /// When the item expires (ms since the epoch); `None`: never.
    pub expires_at: Option<i64>,
    /// The value's size in bytes, as the namespace counters count it.
    pub value_bytes: u64,
    /// The size of its sealed envelope (what it takes as stored).
    pub stored_bytes: u64,
}

/// Read [`ItemFacts`] from an item record without copying its value.
pub fn item_facts(record: &[u8]) -> Result<ItemFacts> {
    let mut r = Reader::new(record, "item");
    r.version()?;
    let version = r.u64()?;
    r.i64()?;
    r.i64()?;
    let flags = r.u8()?;
    let expires_at = if flags & 1 != 0 { Some(r.i64()?) } else { None };
    if flags & 2 != 0 {
        r.bytes16()?;
    }
    r.bytes16()?;
    let sealed = r.rest();
    let value_bytes = crate::compression::sealed_len(sealed)?;
    Ok(ItemFacts {
        version,
        expires_at,
        value_bytes,
        stored_bytes: sealed.len() as u64,
    })
}

/// The encoded namespace of an item, stream or lease key (the bytes before `0x01`).
pub fn key_namespace(key: &[u8]) -> Result<&[u8]> {
    // Validates the key (namespace segments, UTF-8) as a side effect.
    codec::split_named_key(key)?;
    let mut i = 0;
    while i < key.len() && key[i] != codec::KEY_SEP {
        i += key[i..]
            .iter()
            .position(|&c| c == codec::SEG_END)
            .map_or(key.len(), |p| p + 1);
    }
    Ok(&key[..i])
}

/// Accumulates the derived tables while primary records go by (any order).
#[derive(Default)]
pub struct DerivedBuilder {
    stats: BTreeMap<Vec<u8>, (NamespaceStats, StoredBytes)>,
}

impl DerivedBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// An `items` record; returns its expiry index entry `(key, value)`, if it expires.
    pub fn item(&mut self, key: &[u8], record: &[u8]) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        self.item_with(key, item_facts(record)?)
    }

    /// [`DerivedBuilder::item`] from facts the caller read itself (a record whose value
    /// only the store's codec stack opens).
    pub fn item_with(&mut self, key: &[u8], f: ItemFacts) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        let (s, st) = self.stats.entry(key_namespace(key)?.to_vec()).or_default();
        s.items += 1;
        s.item_bytes += f.value_bytes;
        st.items = st.items.saturating_add(f.stored_bytes);
        Ok(f.expires_at
            .map(|e| (codec::expiry_key(e, key), f.version.to_be_bytes().to_vec())))
    }

    /// A `streams` record (the stream meta carries its entry count and bytes).
    pub fn stream(&mut self, key: &[u8], record: &[u8]) -> Result<()> {
        let info = codec::decode_stream_info(record)?;
        let stored = codec::decode_stream_stored(record)?;
        let (s, st) = self.stats.entry(key_namespace(key)?.to_vec()).or_default();
        s.streams += 1;
        s.stream_entries += info.len;
        s.stream_bytes += info.bytes;
        st.entries = st.entries.saturating_add(stored);
        Ok(())
    }

    /// The `namespaces` table: `(encoded namespace, counters record)` in key order.
    pub fn namespace_records(self) -> impl Iterator<Item = (Vec<u8>, Vec<u8>)> {
        self.stats
            .into_iter()
            .filter(|(_, (s, _))| !s.is_empty())
            .map(|(k, (s, st))| (k, codec::encode_ns_record(&s, &st)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::ItemRecord;
    use crate::model::{Namespace, StreamInfo, Value, Version};

    #[test]
    fn derived_tables_follow_from_records() {
        let ns = Namespace::new(["t", "u"]);
        let k = codec::named_key(&ns, "k");
        let rec = ItemRecord {
            version: Version(7),
            created_at: 1,
            updated_at: 2,
            expires_at: Some(99),
            subject: Some("s".into()),
            value: Value::json_text("{\"a\":1}"),
        };
        let mut b = DerivedBuilder::new();
        let exp = b.item(&k, &rec.encode()).unwrap().unwrap();
        assert_eq!(
            exp,
            (codec::expiry_key(99, &k), 7u64.to_be_bytes().to_vec())
        );
        let sk = codec::named_key(&ns, "s");
        let info = StreamInfo {
            first_seq: 3,
            last_seq: 4,
            len: 2,
            bytes: 10,
        };
        b.stream(&sk, &codec::encode_stream_info(&info)).unwrap();
        let recs: Vec<_> = b.namespace_records().collect();
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].0, codec::ns_enc(&ns));
        let s = codec::decode_ns_stats(&recs[0].1).unwrap();
        assert_eq!(
            (
                s.items,
                s.item_bytes,
                s.streams,
                s.stream_entries,
                s.stream_bytes
            ),
            (1, 7, 1, 2, 10)
        );
    }
}
