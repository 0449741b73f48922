//! Encodings: the record stream (what chunks are cut from), index objects and snapshot
//! manifests. Byte layouts: `docs/BACKUP-FORMAT.md`.

use crate::{hex, unhex, Error, Result};
use botstore::codec::Table;
use serde::{Deserialize, Serialize};

pub const OP_PUT: u8 = 1;
pub const OP_DELETE: u8 = 2;
pub const OP_DELETE_RANGE: u8 = 3;

pub fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// A varint at the start of `b`: `(value, bytes used)`; `None` if `b` ends first.
pub fn get_varint(b: &[u8]) -> Option<(u64, usize)> {
    let mut n = 0u64;
    for (i, &c) in b.iter().enumerate().take(10) {
        n |= ((c & 0x7f) as u64) << (7 * i);
        if c & 0x80 == 0 {
            return Some((n, i + 1));
        }
    }
    None
}

/// One record of the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Record<'a> {
    Put(Table, &'a [u8], &'a [u8]),
    Delete(Table, &'a [u8]),
    /// Keys `start .. end` (end excluded) are deleted.
    DeleteRange(Table, &'a [u8], &'a [u8]),
}

/// Layout: op u8 | table u8 | varint key length | key | (put: varint value length | value;
/// range: varint end length | end).
pub fn encode_record(out: &mut Vec<u8>, r: &Record) {
    let (op, t, k, v) = match *r {
        Record::Put(t, k, v) => (OP_PUT, t, k, Some(v)),
        Record::Delete(t, k) => (OP_DELETE, t, k, None),
        Record::DeleteRange(t, k, e) => (OP_DELETE_RANGE, t, k, Some(e)),
    };
    out.push(op);
    out.push(t as u8);
    put_varint(out, k.len() as u64);
    out.extend_from_slice(k);
    if let Some(v) = v {
        put_varint(out, v.len() as u64);
        out.extend_from_slice(v);
    }
}

/// Decode the record at the start of `b`: `Ok(None)` when `b` holds only part of one.
pub fn decode_record(b: &[u8]) -> Result<Option<(Record<'_>, usize)>> {
    if b.len() < 2 {
        return Ok(None);
    }
    let op = b[0];
    let t = Table::from_u8(b[1])
        .ok_or_else(|| Error::Corrupt(format!("record with unknown table {}", b[1])))?;
    let mut at = 2;
    let field = |at: &mut usize| -> Option<&[u8]> {
        let (n, used) = get_varint(&b[*at..])?;
        let start = *at + used;
        let end = start.checked_add(usize::try_from(n).ok()?)?;
        if end > b.len() {
            return None;
        }
        *at = end;
        Some(&b[start..end])
    };
    let Some(k) = field(&mut at) else {
        return Ok(None);
    };
    let r = match op {
        OP_PUT => match field(&mut at) {
            Some(v) => Record::Put(t, k, v),
            None => return Ok(None),
        },
        OP_DELETE => Record::Delete(t, k),
        OP_DELETE_RANGE => match field(&mut at) {
            Some(e) => Record::DeleteRange(t, k, e),
            None => return Ok(None),
        },
        _ => return Err(Error::Corrupt(format!("record with unknown op {op}"))),
    };
    Ok(Some((r, at)))
}

/// Where a chunk is: its blob in a pack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// Pack object id (hex).
    pub pack: String,
    pub offset: u64,
    /// Blob length (nonce + ciphertext + tag).
    pub len: u32,
    /// Plaintext (chunk) length.
    pub plain_len: u32,
}

pub fn pack_name(pack: &str) -> String {
    format!("packs/{}/{pack}", &pack[..2.min(pack.len())])
}

const INDEX_MAGIC: &[u8; 4] = b"BSX1";

/// Index body: magic `BSX1` | count u32 | per entry: chunk id [32] | pack id [32] |
/// offset u64 | blob length u32 | plain length u32 (all little-endian).
pub fn encode_index(entries: &[([u8; 32], Location)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + entries.len() * 80);
    out.extend_from_slice(INDEX_MAGIC);
    out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    for (id, l) in entries {
        out.extend_from_slice(id);
        out.extend_from_slice(&unhex(&l.pack).unwrap_or_else(|| vec![0; 32]));
        out.extend_from_slice(&l.offset.to_le_bytes());
        out.extend_from_slice(&l.len.to_le_bytes());
        out.extend_from_slice(&l.plain_len.to_le_bytes());
    }
    out
}

pub fn decode_index(name: &str, b: &[u8]) -> Result<Vec<([u8; 32], Location)>> {
    let bad = || Error::Corrupt(format!("{name}: malformed index"));
    if b.len() < 8 || &b[..4] != INDEX_MAGIC {
        return Err(bad());
    }
    let n = u32::from_le_bytes(b[4..8].try_into().map_err(|_| bad())?) as usize;
    if b.len() != 8 + n * 80 {
        return Err(bad());
    }
    Ok(b[8..]
        .chunks_exact(80)
        .map(|e| {
            let mut id = [0u8; 32];
            id.copy_from_slice(&e[..32]);
            let u64le = |r: &[u8]| u64::from_le_bytes(r.try_into().unwrap_or_default());
            let u32le = |r: &[u8]| u32::from_le_bytes(r.try_into().unwrap_or_default());
            (
                id,
                Location {
                    pack: hex(&e[32..64]),
                    offset: u64le(&e[64..72]),
                    len: u32le(&e[72..76]),
                    plain_len: u32le(&e[76..80]),
                },
            )
        })
        .collect())
}

/// A snapshot manifest (`snapshots/<id>`, JSON, sealed like every metadata object).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    pub id: String,
    /// ms since the epoch, when the read view was taken.
    pub time: i64,
    /// `full` or `delta`.
    pub kind: String,
    /// The snapshot a delta applies to.
    pub parent: Option<String>,
    /// The store's last LSN in the read view: the snapshot is the store at this LSN.
    pub lsn: u64,
    /// Counts of the whole store at `lsn` (also for deltas).
    pub items: u64,
    pub streams: u64,
    pub entries: u64,
    /// Lease records at `lsn` (absent in manifests written before they were counted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leases: Option<u64>,
    /// Value bytes of items and stream entries at `lsn`.
    pub value_bytes: u64,
    /// Records in this snapshot's stream, and their bytes.
    pub records: u64,
    pub stream_bytes: u64,
    /// A delta's records by kind (absent for full snapshots and older deltas).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changes: Option<crate::counts::DeltaCounts>,
    /// Where the store was (canonical path or a name given with `--source`).
    pub source: String,
    /// Keyed BLAKE3 (chunk-id key) of the record stream, hex.
    pub digest: String,
    /// Chunk ids (hex), in stream order.
    pub chunks: Vec<String>,
    /// The backup run (its index object is `index/<run>`).
    pub run: String,
}

impl Manifest {
    pub fn is_full(&self) -> bool {
        self.kind == "full"
    }

    /// The store at this snapshot's LSN.
    pub fn counts(&self) -> crate::counts::StoreCounts {
        crate::counts::StoreCounts {
            items: self.items,
            streams: self.streams,
            entries: self.entries,
            leases: self.leases,
        }
    }
}

/// A hex chunk id as bytes.
pub fn unhex32(s: &str) -> Option<[u8; 32]> {
    unhex(s).and_then(|v| v.try_into().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_report_partial() {
        let mut b = Vec::new();
        let recs = [
            Record::Put(Table::Items, b"k", b"value"),
            Record::Delete(Table::Leases, b"l"),
            Record::DeleteRange(Table::Entries, b"a", b"b"),
        ];
        for r in &recs {
            encode_record(&mut b, r);
        }
        let mut at = 0;
        for r in &recs {
            let (got, n) = decode_record(&b[at..]).unwrap().unwrap();
            assert_eq!(&got, r);
            at += n;
        }
        assert_eq!(at, b.len());
        for cut in 0..9 {
            assert!(decode_record(&b[..cut]).unwrap().is_none(), "cut {cut}");
        }
        let mut v = Vec::new();
        put_varint(&mut v, 300);
        assert_eq!(get_varint(&v), Some((300, 2)));
    }
}
