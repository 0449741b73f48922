//! Where a snapshot's records come from: a [`RecordSource`] serves the primary records of
//! one consistent read view, all of them (full) or those the change feed says changed
//! since a parent's LSN (delta). [`ViewSource`] reads a [`Store`] in this process; the
//! server serves the same records over HTTP ([`crate::transfer`]) to a client that feeds
//! them into the same writer ([`crate::create::Plan::write`]), so a snapshot means the
//! same whichever side read the store.

use crate::counts::StoreCounts;
use crate::format::Record;
use crate::{Error, Result};
use botstore::codec::{self, Table};
use botstore::kv::KvRead;
use botstore::model::ChangeKind;
use botstore::restore::PRIMARY;
use botstore::{CodecStack, Store};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::ops::Bound;

/// What a source serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// Every primary record.
    Full,
    /// The records of every key changed after `since_lsn`.
    Delta,
    /// Nothing changed after `since_lsn` (= `lsn`): no records.
    Unchanged,
}

/// The read view a source serves: its LSN, when it was taken, and the store's counts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceHeader {
    pub kind: SourceKind,
    /// The parent's LSN a delta (or `unchanged`) is relative to; `None` for a full one.
    pub since_lsn: Option<u64>,
    /// The store's last LSN in the view.
    pub lsn: u64,
    /// When the view was taken (ms since the epoch).
    pub time: i64,
    pub counts: StoreCounts,
    /// Value bytes of items and stream entries in the view.
    pub value_bytes: u64,
}

impl SourceHeader {
    /// Refuse a header whose fields contradict each other (from outside bytes).
    pub fn check(&self) -> Result<()> {
        let ok = match (self.kind, self.since_lsn) {
            (SourceKind::Full, None) => true,
            (SourceKind::Delta, Some(s)) => s < self.lsn,
            (SourceKind::Unchanged, Some(s)) => s == self.lsn,
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(Error::Corrupt(format!(
                "record source header is inconsistent: kind {:?}, since_lsn {:?}, lsn {}",
                self.kind, self.since_lsn, self.lsn
            )))
        }
    }
}

/// A consistent read view's primary records, in stream order.
pub trait RecordSource {
    fn header(&self) -> &SourceHeader;
    /// Hand every record to `f`, in order. An error (of the store, of `f`, or a cut
    /// stream) ends the backup; nothing is taken as complete that did not end properly.
    fn records(&mut self, f: &mut dyn FnMut(&Record) -> Result<()>) -> Result<()>;
}

/// The records of a [`Store`] in this process, from one read view.
pub struct ViewSource<'s> {
    view: Box<dyn KvRead + 's>,
    codecs: &'s CodecStack,
    header: SourceHeader,
}

impl<'s> ViewSource<'s> {
    /// Take a read view of `store`. With `since` (a parent snapshot's LSN): `unchanged`
    /// if the store is still at it, a delta if the change feed still holds every change
    /// after it; otherwise (and without `since`) full.
    pub fn open(store: &'s Store, since: Option<u64>) -> Result<ViewSource<'s>> {
        let view = store.backend().read()?;
        let time = crate::now_ms();
        let lsn = botstore::read::last_lsn(&*view)?;
        let (counts, value_bytes) = StoreCounts::of_view(&*view)?;
        let kind = match since {
            Some(p) if p == lsn => SourceKind::Unchanged,
            Some(p)
                if p < lsn
                    && botstore::read::first_change_lsn(&*view)?.is_some_and(|f| f <= p + 1) =>
            {
                SourceKind::Delta
            }
            _ => SourceKind::Full,
        };
        let since_lsn = match kind {
            SourceKind::Full => None,
            _ => since,
        };
        Ok(ViewSource {
            view,
            codecs: store.codecs(),
            header: SourceHeader {
                kind,
                since_lsn,
                lsn,
                time,
                counts,
                value_bytes,
            },
        })
    }
}

impl RecordSource for ViewSource<'_> {
    fn header(&self) -> &SourceHeader {
        &self.header
    }

    fn records(&mut self, f: &mut dyn FnMut(&Record) -> Result<()>) -> Result<()> {
        match (self.header.kind, self.header.since_lsn) {
            (SourceKind::Full, _) => emit_full(&*self.view, f),
            (SourceKind::Delta, Some(since)) => emit_delta(&*self.view, self.codecs, since, f),
            _ => Ok(()),
        }
    }
}

type Visit<'a> = dyn FnMut(&[u8], &[u8]) -> Result<()> + 'a;

/// Scan `table` in key order, stopping at the first error of `f`.
fn scan_all(
    view: &dyn KvRead,
    table: Table,
    range: (Bound<&[u8]>, Bound<&[u8]>),
    f: &mut Visit,
) -> Result<()> {
    let mut err = None;
    view.scan(table, range, false, &mut |k, v| match f(k, v) {
        Ok(()) => Ok(true),
        Err(e) => {
            err = Some(e);
            Ok(false)
        }
    })?;
    err.map_or(Ok(()), Err)
}

fn emit_full(view: &dyn KvRead, f: &mut dyn FnMut(&Record) -> Result<()>) -> Result<()> {
    for t in PRIMARY {
        scan_all(
            view,
            t,
            (Bound::Unbounded, Bound::Unbounded),
            &mut |k, v| f(&Record::Put(t, k, v)),
        )?;
    }
    Ok(())
}

/// What a delta must carry for one stream.
#[derive(Default)]
struct StreamTouch {
    appended: Vec<u64>,
    trimmed: bool,
    deleted: bool,
}

/// The records for every key the changes `since+1 ..` of `view` touched, read from
/// `view`. Range deletions first, then the current value (or absence) of every touched
/// key, and `meta/last_lsn` (which changed: a delta is only taken when the LSN moved).
fn emit_delta(
    view: &dyn KvRead,
    codecs: &CodecStack,
    since: u64,
    f: &mut dyn FnMut(&Record) -> Result<()>,
) -> Result<()> {
    let mut points: BTreeMap<(Table, Vec<u8>), ()> = BTreeMap::new();
    let mut streams: BTreeMap<Vec<u8>, StreamTouch> = BTreeMap::new();
    let from = (since + 1).to_be_bytes();
    scan_all(
        view,
        Table::Changes,
        (Bound::Included(&from[..]), Bound::Unbounded),
        &mut |k, v| {
            let c = botstore::feed::read_change(view, codecs, codec::be64(k)?, v)?;
            match c.kind {
                ChangeKind::Put(item) => {
                    points.insert((Table::Items, codec::named_key(&item.ns, &item.key)), ());
                }
                ChangeKind::Delete { ns, key } | ChangeKind::Expire { ns, key } => {
                    points.insert((Table::Items, codec::named_key(&ns, &key)), ());
                }
                ChangeKind::Append {
                    ns,
                    stream,
                    entries,
                } => {
                    let s = streams.entry(codec::named_key(&ns, &stream)).or_default();
                    s.appended.extend(entries.iter().map(|e| e.seq));
                }
                ChangeKind::Trim {
                    ns,
                    stream,
                    deleted_stream,
                    ..
                } => {
                    let s = streams.entry(codec::named_key(&ns, &stream)).or_default();
                    s.trimmed = true;
                    s.deleted |= deleted_stream;
                }
                ChangeKind::Lease { ns, name, .. } => {
                    points.insert((Table::Leases, codec::named_key(&ns, &name)), ());
                }
                ChangeKind::NamespaceTtl { prefix, .. } => {
                    points.insert((Table::NsTtl, codec::ns_enc(&prefix)), ());
                }
            }
            Ok(())
        },
    )?;
    for (sk, s) in &streams {
        points.insert((Table::Streams, sk.clone()), ());
        let all_start = [&sk[..], &[codec::SEG_END]].concat();
        let all_end = [&sk[..], &[codec::SEG_END + 1]].concat();
        if s.deleted {
            f(&Record::DeleteRange(Table::Entries, &all_start, &all_end))?;
            scan_all(
                view,
                Table::Entries,
                (
                    Bound::Included(&all_start[..]),
                    Bound::Excluded(&all_end[..]),
                ),
                &mut |k, _| {
                    points.insert((Table::Entries, k.to_vec()), ());
                    Ok(())
                },
            )?;
        } else if s.trimmed {
            let first = match view.get(Table::Streams, sk)? {
                Some(b) => codec::decode_stream_info(&b)?.first_seq,
                None => u64::MAX,
            };
            let cut = codec::entry_key(sk, first);
            f(&Record::DeleteRange(Table::Entries, &all_start, &cut))?;
        }
        for &seq in &s.appended {
            points.insert((Table::Entries, codec::entry_key(sk, seq)), ());
        }
    }
    points.insert((Table::Meta, codec::META_LAST_LSN.to_vec()), ());
    // The compression dictionaries: no change names them, and a value of the delta may
    // use one trained since the parent. They are few and small, and never change.
    let dicts = botstore::compression::dicts::DICT_KEY_PREFIX;
    let dicts_end = codec::prefix_end(dicts).unwrap_or_default();
    scan_all(
        view,
        Table::Meta,
        (Bound::Included(dicts), Bound::Excluded(&dicts_end[..])),
        &mut |k, _| {
            points.insert((Table::Meta, k.to_vec()), ());
            Ok(())
        },
    )?;
    for (t, k) in points.keys() {
        match view.get(*t, k)? {
            Some(v) => f(&Record::Put(*t, k, &v))?,
            None => f(&Record::Delete(*t, k))?,
        }
    }
    Ok(())
}
