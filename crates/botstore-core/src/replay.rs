//! Replaying change records onto the primary tables (point-in-time restore).
//!
//! [`replay`] turns one [`Change`] into the writes it made to the primary tables
//! ([`crate::restore::PRIMARY`]), reading what it needs (stream metas, entry sizes) through
//! a `get` function over the state the earlier changes produced. The derived tables
//! (expiry, namespace counters) are rebuilt afterwards, as for any restore.
//!
//! What a change carries is enough for items (a put holds the whole new item), streams
//! (appended entries with their seq and time; trims name the first kept seq), and
//! namespace TTLs. Lease changes name the lease but not its holder, token or expiry, so
//! they are **not** replayed: a point-in-time restore has the leases of its snapshot.

use crate::codec::{self, ItemRecord, Table};
use crate::error::Result;
use crate::kv::{KvRead, WriteSet};
use crate::model::{Change, ChangeKind, StreamInfo};

/// A read of the state being replayed onto: `(table, key) -> value`.
pub type Get<'a> = dyn FnMut(Table, &[u8]) -> Result<Option<Vec<u8>>> + 'a;

/// The writes `change` made to the primary tables, including `meta/last_lsn`. `get` reads
/// the state before the change.
pub fn replay(get: &mut Get, change: &Change) -> Result<WriteSet> {
    let mut w = WriteSet::new();
    match &change.kind {
        ChangeKind::Put(item) => {
            let rec = ItemRecord {
                version: item.version,
                created_at: item.created_at,
                updated_at: item.updated_at,
                expires_at: item.expires_at,
                subject: item.subject.clone(),
                value: item.value.clone(),
            };
            w.insert(
                (Table::Items, codec::named_key(&item.ns, &item.key)),
                Some(rec.encode()),
            );
        }
        ChangeKind::Delete { ns, key } | ChangeKind::Expire { ns, key } => {
            w.insert((Table::Items, codec::named_key(ns, key)), None);
        }
        ChangeKind::Append {
            ns,
            stream,
            entries,
        } => {
            let sk = codec::named_key(ns, stream);
            let (mut info, mut stored) = match get(Table::Streams, &sk)? {
                Some(b) => (
                    codec::decode_stream_info(&b)?,
                    codec::decode_stream_stored(&b)?,
                ),
                None => (
                    StreamInfo {
                        first_seq: 1,
                        ..Default::default()
                    },
                    0,
                ),
            };
            for e in entries {
                info.last_seq = info.last_seq.max(e.seq);
                info.len += 1;
                info.bytes += e.value.data.len() as u64;
                stored += e.value.data.len() as u64 + 4;
                w.insert(
                    (Table::Entries, codec::entry_key(&sk, e.seq)),
                    Some(codec::encode_entry(e.at, Some(change.lsn), &e.value)),
                );
            }
            w.insert(
                (Table::Streams, sk),
                Some(codec::encode_stream_record(&info, stored)),
            );
        }
        ChangeKind::Trim {
            ns,
            stream,
            first_kept,
            deleted_stream,
        } => {
            let sk = codec::named_key(ns, stream);
            if let Some(b) = get(Table::Streams, &sk)? {
                let mut info = codec::decode_stream_info(&b)?;
                let mut stored = codec::decode_stream_stored(&b)?;
                let cut = if *deleted_stream {
                    info.last_seq + 1
                } else {
                    *first_kept
                };
                let (mut removed, mut bytes) = (0u64, 0u64);
                for s in info.first_seq..cut {
                    let ek = codec::entry_key(&sk, s);
                    if let Some(b) = get(Table::Entries, &ek)? {
                        let sealed = codec::entry_sealed_value(&b)?;
                        bytes += crate::compression::sealed_len(sealed)?;
                        stored = stored.saturating_sub(sealed.len() as u64);
                        removed += 1;
                        w.insert((Table::Entries, ek), None);
                    }
                }
                if *deleted_stream {
                    w.insert((Table::Streams, sk), None);
                } else {
                    info.first_seq = info.first_seq.max(cut);
                    info.len = info.len.saturating_sub(removed);
                    info.bytes = info.bytes.saturating_sub(bytes);
                    w.insert(
                        (Table::Streams, sk),
                        Some(codec::encode_stream_record(&info, stored)),
                    );
                }
            }
        }
        // Too little to rebuild a lease (no holder, token or expiry): leases are restored
        // as of the snapshot.
        ChangeKind::Lease { .. } => {}
        ChangeKind::NamespaceTtl { prefix, ttl_ms } => {
            w.insert(
                (Table::NsTtl, codec::ns_enc(prefix)),
                ttl_ms.map(|ms| ms.to_be_bytes().to_vec()),
            );
        }
    }
    w.insert(
        (Table::Meta, codec::META_LAST_LSN.to_vec()),
        Some(change.lsn.to_be_bytes().to_vec()),
    );
    Ok(w)
}

/// [`replay`] with reads from a view (e.g. a memory store's).
pub fn replay_on(view: &dyn KvRead, change: &Change) -> Result<WriteSet> {
    replay(&mut |t, k| view.get(t, k), change)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Namespace, Store, TrimTo, Value};
    use std::collections::BTreeMap;
    use std::ops::Bound;

    fn v(i: u32) -> Value {
        Value::json(&serde_json::json!({ "i": i }))
    }

    /// Replaying a memory store's whole change feed onto an empty state gives its primary
    /// tables (leases aside).
    #[tokio::test]
    async fn replaying_the_feed_rebuilds_the_primary_tables() {
        let s = Store::memory();
        let ns = Namespace::new(["a", "b"]);
        let other = Namespace::new(["c"]);
        for i in 0..20u32 {
            s.put(&ns, &format!("k{}", i % 7), v(i)).await.unwrap();
            s.append(&other, "log", vec![v(i)], None).await.unwrap();
        }
        s.delete(&ns, "k3", crate::Precondition::Any).await.unwrap();
        s.trim(&other, "log", TrimTo::KeepLast(5)).await.unwrap();
        s.append(&ns, "gone", vec![v(1), v(2)], None).await.unwrap();
        s.delete_stream(&ns, "gone").await.unwrap();
        s.append(&ns, "gone", vec![v(3)], None).await.unwrap();
        s.set_namespace_ttl(&other, Some(std::time::Duration::from_secs(60)))
            .await
            .unwrap();
        let mut state: BTreeMap<(Table, Vec<u8>), Vec<u8>> = BTreeMap::new();
        for c in s.changes(0, 10_000).await.unwrap() {
            let w = replay(&mut |t, k| Ok(state.get(&(t, k.to_vec())).cloned()), &c).unwrap();
            for (tk, v) in w {
                match v {
                    Some(v) => state.insert(tk, v),
                    None => state.remove(&tk),
                };
            }
        }
        let view = s.backend().read().unwrap();
        for t in [
            Table::Items,
            Table::Streams,
            Table::Entries,
            Table::NsTtl,
            Table::Meta,
        ] {
            let mut want = Vec::new();
            view.scan(
                t,
                (Bound::Unbounded, Bound::Unbounded),
                false,
                &mut |k, v| {
                    want.push((k.to_vec(), v.to_vec()));
                    Ok(true)
                },
            )
            .unwrap();
            let got: Vec<_> = state
                .iter()
                .filter(|((tt, _), _)| *tt == t)
                .map(|((_, k), v)| (k.clone(), v.clone()))
                .collect();
            assert_eq!(got, want, "table {}", t.name());
        }
    }
}
