//! Record checks: every record a backend stores carries a check bound to its address, and
//! every read verifies it, so that damaged or misplaced bytes fail loudly as
//! [`Error::Corrupt`] instead of being served as genuine.
//!
//! A stored record is `body ++ crc32(table id, key length, key, body)` (CRC-32, 4 bytes,
//! little-endian; `docs/FORMAT.md`). Covering the key and the table makes a record that
//! moved (a flipped key byte in a B-tree leaf, a value under another key) fail its check
//! like a flipped value byte; a CRC detects every single-bit flip and every burst of up to
//! 32 bits, which is the damage a disk, a controller or a stray write does.
//!
//! [`Checked`] is the layer that does it, wrapped around every backend by
//! [`crate::Store`]: the seal is appended to each value of a write set before
//! [`Backend::write`] sees it, and a [`Checked`] read view verifies and strips it, and checks
//! that a scan's keys come in order and inside the range asked for. Backends, journals and
//! backups therefore hold sealed records as opaque bytes, and the semantics never see a
//! seal. The security issue's keyed MAC replaces the CRC here, in this one module.

use crate::backend::{Backend, CompactReport, Metric, Space, WriteGroup};
use crate::error::{Error, Result};
use crate::kv::{KvRead, Table};
use std::ops::Bound;
use std::sync::{Arc, Mutex};

/// Bytes the check adds to every stored record.
pub const CHECK_LEN: usize = 4;

/// The check of `body` stored at `key` in `table`.
pub fn checksum(table: Table, key: &[u8], body: &[u8]) -> u32 {
    // The table id and the key length, as one update (the same CRC as two).
    let mut head = [table as u8; 5];
    head[1..].copy_from_slice(&(key.len() as u32).to_le_bytes());
    let mut h = crc32fast::Hasher::new();
    h.update(&head);
    h.update(key);
    h.update(body);
    h.finalize()
}

/// Append the check to `body`, making it the record stored at `key` in `table`.
pub fn seal(table: Table, key: &[u8], body: &mut Vec<u8>) {
    let c = checksum(table, key, body);
    body.extend_from_slice(&c.to_le_bytes());
}

/// `body` sealed, as a new vector.
pub fn sealed(table: Table, key: &[u8], body: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(body.len() + CHECK_LEN);
    v.extend_from_slice(body);
    seal(table, key, &mut v);
    v
}

/// The body of the stored record `stored` at `key` in `table`, if its check holds.
/// `origin` names where the bytes came from, for the error (`store.redb in DIR`).
pub fn open<'v>(table: Table, key: &[u8], stored: &'v [u8], origin: &str) -> Result<&'v [u8]> {
    let n = stored
        .len()
        .checked_sub(CHECK_LEN)
        .ok_or_else(|| damaged(table, key, origin, "shorter than its check"))?;
    let (body, check) = stored.split_at(n);
    let want = u32::from_le_bytes([check[0], check[1], check[2], check[3]]);
    if checksum(table, key, body) != want {
        return Err(damaged(
            table,
            key,
            origin,
            "its bytes do not match their check",
        ));
    }
    Ok(body)
}

/// [`open`] on an owned record: the check is cut off in place.
pub fn open_vec(table: Table, key: &[u8], mut stored: Vec<u8>, origin: &str) -> Result<Vec<u8>> {
    let n = open(table, key, &stored, origin)?.len();
    stored.truncate(n);
    Ok(stored)
}

/// The `Corrupt` error for the record at `key` of `table`.
pub fn damaged(table: Table, key: &[u8], origin: &str, why: &str) -> Error {
    Error::Corrupt(format!(
        "damaged record in {origin}: {} {}: {why}",
        table.name(),
        crate::codec::describe_key(table, key)
    ))
}

/// The record-check layer over a backend (see the module documentation).
pub struct Checked {
    inner: Arc<dyn Backend>,
    origin: String,
    /// Scans skip damaged records and note them here (`export --skip-damaged`).
    skipped: Option<Arc<Mutex<Vec<String>>>>,
}

impl Checked {
    /// `backend` with record checks; a backend that is already a [`Checked`] layer is
    /// returned as it is (the layer is idempotent).
    pub fn wrap(backend: Arc<dyn Backend>) -> Arc<dyn Backend> {
        if backend.unchecked().is_some() {
            return backend;
        }
        let origin = backend.origin();
        Arc::new(Checked {
            inner: backend,
            origin,
            skipped: None,
        })
    }

    /// `backend` (under no layer) with record checks whose scans skip a damaged record,
    /// noting it in `skipped`, instead of failing. Lookups still fail.
    pub fn skipping(
        backend: Arc<dyn Backend>,
        skipped: Arc<Mutex<Vec<String>>>,
    ) -> Arc<dyn Backend> {
        let origin = backend.origin();
        Arc::new(Checked {
            inner: backend,
            origin,
            skipped: Some(skipped),
        })
    }

    /// The backend under the layer: its read views return sealed records.
    pub fn inner(&self) -> &Arc<dyn Backend> {
        &self.inner
    }
}

impl Backend for Checked {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn origin(&self) -> String {
        self.origin.clone()
    }
    fn unchecked(&self) -> Option<Arc<dyn Backend>> {
        Some(Arc::clone(&self.inner))
    }
    fn read(&self) -> Result<Box<dyn KvRead + '_>> {
        Ok(Box::new(CheckedView::with(
            self.inner.read()?,
            &self.origin,
            self.skipped.as_deref(),
        )))
    }
    fn write(&self, mut group: WriteGroup) -> Result<()> {
        for ((t, k), v) in group.writes.iter_mut() {
            if let Some(v) = v {
                seal(*t, k, v);
            }
        }
        self.inner.write(group)
    }
    fn space(&self) -> Result<Space> {
        self.inner.space()
    }
    fn compact(&self) -> Result<CompactReport> {
        self.inner.compact()
    }
    fn sync(&self) -> Result<()> {
        self.inner.sync()
    }
    fn close(&self) -> Result<()> {
        self.inner.close()
    }
    fn reads_block(&self) -> bool {
        self.inner.reads_block()
    }
    fn metrics(&self) -> Vec<Metric> {
        self.inner.metrics()
    }
    fn write_block(&self) -> Option<Error> {
        self.inner.write_block()
    }
}

/// A read view that verifies every record it returns.
pub struct CheckedView<'a> {
    inner: Box<dyn KvRead + 'a>,
    origin: &'a str,
    skipped: Option<&'a Mutex<Vec<String>>>,
}

impl<'a> CheckedView<'a> {
    /// Verify the records of `inner` (a view of sealed records).
    pub fn new(inner: Box<dyn KvRead + 'a>, origin: &'a str) -> Self {
        Self::with(inner, origin, None)
    }

    /// [`CheckedView::new`] whose scans note a damaged record in `skipped` and go on,
    /// when given.
    pub fn with(
        inner: Box<dyn KvRead + 'a>,
        origin: &'a str,
        skipped: Option<&'a Mutex<Vec<String>>>,
    ) -> Self {
        CheckedView {
            inner,
            origin,
            skipped,
        }
    }
}

fn in_range(key: &[u8], range: &(Bound<&[u8]>, Bound<&[u8]>)) -> bool {
    let lo = match range.0 {
        Bound::Included(s) => key >= s,
        Bound::Excluded(s) => key > s,
        Bound::Unbounded => true,
    };
    let hi = match range.1 {
        Bound::Included(e) => key <= e,
        Bound::Excluded(e) => key < e,
        Bound::Unbounded => true,
    };
    lo && hi
}

impl KvRead for CheckedView<'_> {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
        match self.inner.get(table, key)? {
            Some(v) => open_vec(table, key, v, self.origin).map(Some),
            None => Ok(None),
        }
    }

    fn scan(
        &self,
        table: Table,
        range: (Bound<&[u8]>, Bound<&[u8]>),
        reverse: bool,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> Result<bool>,
    ) -> Result<()> {
        let (origin, skipped) = (self.origin, self.skipped);
        let mut prev: Vec<u8> = Vec::new();
        let mut first = true;
        self.inner.scan(table, range, reverse, &mut |k, v| {
            // A key out of order or outside the range is a damaged index, not data.
            let ordered = first
                || if reverse {
                    k < &prev[..]
                } else {
                    k > &prev[..]
                };
            if !ordered || !in_range(k, &range) {
                return Err(damaged(
                    table,
                    k,
                    origin,
                    "a scan met this key out of order (damaged index)",
                ));
            }
            first = false;
            prev.clear();
            prev.extend_from_slice(k);
            match (open(table, k, v, origin), skipped) {
                (Ok(body), _) => visit(k, body),
                (Err(e), Some(list)) => {
                    if let Ok(mut l) = list.lock() {
                        l.push(e.to_string());
                    }
                    Ok(true)
                }
                (Err(e), None) => Err(e),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seal_round_trips_and_binds_the_address() {
        let s = sealed(Table::Items, b"k1", b"hello");
        assert_eq!(s.len(), 5 + CHECK_LEN);
        assert_eq!(open(Table::Items, b"k1", &s, "t").unwrap(), b"hello");
        for (t, k) in [(Table::Items, &b"k2"[..]), (Table::Entries, &b"k1"[..])] {
            assert!(matches!(open(t, k, &s, "t"), Err(Error::Corrupt(_))));
        }
        assert!(matches!(
            open(Table::Items, b"k1", &s[..3], "t"),
            Err(Error::Corrupt(_))
        ));
    }

    #[test]
    fn every_single_bit_flip_is_caught() {
        let s = sealed(Table::Leases, b"ns\0\x01lease", b"{\"holder\":\"w1\"}");
        for i in 0..s.len() * 8 {
            let mut d = s.clone();
            d[i / 8] ^= 1 << (i % 8);
            assert!(
                open(Table::Leases, b"ns\0\x01lease", &d, "t").is_err(),
                "bit {i}"
            );
        }
        // A flip in the key is caught as well.
        for i in 0..5 * 8 {
            let mut k = b"ns\0\x01lease".to_vec();
            k[i / 8] ^= 1 << (i % 8);
            assert!(open(Table::Leases, &k, &s, "t").is_err(), "key bit {i}");
        }
    }
}
