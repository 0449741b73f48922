//! The write semantics, written once for every backend: preconditions, patches, leases and
//! fencing, streams, TTL, per-namespace counters and the change feed. A backend hands a
//! group of batches and a read view to [`apply_group`] and stores the returned write set
//! atomically; that is all a backend has to do to get identical behaviour.
//!
//! One file per topic: `items`, `streams`, `leases`, `ttl` (namespace TTLs and
//! change-feed retention); this file holds the group and batch logic they share.

use crate::codec::{self, ItemRecord, LeaseRecord, Table};
use crate::error::{Error, Result, Rule};
use crate::kv::{KvRead, Layered, WriteSet};
use crate::limits::{check_ttl, Limits};
use crate::model::*;
use crate::value_codec::CodecStack;
use std::ops::Bound;

mod items;
mod leases;
mod streams;
mod ttl;

/// A batch of mutations as a backend receives it.
#[derive(Clone, Debug)]
pub struct Batch {
    /// The mutations, applied in order.
    pub mutations: Vec<Mutation>,
    /// All or nothing. When false each mutation succeeds or fails on its own.
    pub atomic: bool,
    /// The time the batch is applied at (ms since the epoch).
    pub now: Millis,
    /// The largest value a patch may produce.
    pub max_value_size: usize,
}

/// The result of one batch: one entry per mutation. For an atomic batch that failed, the
/// list ends at the failing mutation (an `Err`) and nothing of the batch was written.
pub type BatchResults = Vec<Result<Outcome>>;

/// True when the results of an atomic batch say it was committed.
pub fn committed(results: &BatchResults) -> bool {
    results.iter().all(Result::is_ok)
}

/// What [`apply_group`] produced.
pub struct Applied {
    /// Each batch's results, in order.
    pub results: Vec<BatchResults>,
    /// The writes of every batch that succeeded (an atomic batch that failed leaves none).
    pub writes: WriteSet,
    /// The LSNs the group assigned: `first_lsn..=last_lsn` (empty, `last_lsn == first_lsn - 1`,
    /// when it assigned none).
    pub first_lsn: u64,
    /// The last LSN the group assigned (the store's last LSN after it).
    pub last_lsn: u64,
}

/// Apply a group of batches on top of `base`, in order.
pub fn apply_group(base: &dyn KvRead, batches: &[Batch], codecs: &CodecStack) -> Result<Applied> {
    let tx = Layered::new(base);
    let last_lsn = match tx.get(Table::Meta, codec::META_LAST_LSN)? {
        Some(b) => codec::be64(&b)?,
        None => 0,
    };
    let mut ap = Applier {
        tx,
        last_lsn,
        codecs,
        first_lsn: last_lsn + 1,
        feed_floor: None,
    };
    let start_lsn = last_lsn;
    let mut all = Vec::with_capacity(batches.len());
    for b in batches {
        all.push(ap.batch(b)?);
    }
    let Applier {
        mut tx, last_lsn, ..
    } = ap;
    if last_lsn != start_lsn {
        tx.put(
            Table::Meta,
            codec::META_LAST_LSN.to_vec(),
            last_lsn.to_be_bytes().to_vec(),
        );
    }
    Ok(Applied {
        results: all,
        writes: tx.into_writes(),
        first_lsn: start_lsn + 1,
        last_lsn,
    })
}

struct Applier<'a> {
    tx: Layered<'a>,
    last_lsn: u64,
    codecs: &'a CodecStack,
    /// The first LSN this group assigns.
    first_lsn: u64,
    /// The oldest LSN whose change the feed may still keep: the oldest change at the
    /// group's start, or the group's first LSN when there was none. Found on first use.
    /// Retention in the same group only raises the true floor, so a stale one keeps an
    /// item version the next retention pass deletes, never drops one still referred to.
    feed_floor: Option<u64>,
}

/// Storage errors abort the whole group; everything else is the mutation's own result.
fn is_fatal(e: &Error) -> bool {
    matches!(e, Error::Storage(_) | Error::Corrupt(_))
}

impl Applier<'_> {
    fn batch(&mut self, b: &Batch) -> Result<BatchResults> {
        let mut results = Vec::with_capacity(b.mutations.len());
        self.tx.begin();
        let lsn_at_start = self.last_lsn;
        for m in &b.mutations {
            self.tx.begin();
            let lsn_before = self.last_lsn;
            match self.mutation(m, b) {
                Ok(o) => {
                    self.tx.commit();
                    results.push(Ok(o));
                }
                Err(e) if is_fatal(&e) => return Err(e),
                Err(e) => {
                    self.tx.rollback();
                    self.last_lsn = lsn_before;
                    results.push(Err(e));
                    if b.atomic {
                        self.tx.rollback();
                        self.last_lsn = lsn_at_start;
                        return Ok(results);
                    }
                }
            }
        }
        self.tx.commit();
        Ok(results)
    }

    fn next_lsn(&mut self) -> u64 {
        self.last_lsn += 1;
        self.last_lsn
    }

    fn change(&mut self, lsn: u64, at: Millis, kind: &ChangeKind) -> Result<()> {
        let rec = codec::encode_change(self.codecs, at, kind)?;
        self.tx.put(Table::Changes, lsn.to_be_bytes().to_vec(), rec);
        Ok(())
    }

    /// [`Applier::feed_floor`], found on first use.
    fn feed_floor(&mut self) -> Result<u64> {
        if let Some(f) = self.feed_floor {
            return Ok(f);
        }
        // The changes this group wrote so far are at or above its first LSN.
        let first_of_group = self.first_lsn;
        let f = crate::read::first_change_lsn(self.tx.base())?
            .map_or(first_of_group, |l| l.min(first_of_group));
        self.feed_floor = Some(f);
        Ok(f)
    }

    /// Keep the item record at `key` (`old`, `raw` as stored), which is about to be
    /// overwritten or removed, in [`Table::History`] if the feed still keeps the change that
    /// wrote it ([`crate::feed`]).
    fn keep_for_feed(&mut self, key: &[u8], old: &ItemRecord, raw: &[u8]) -> Result<()> {
        if old.version.0 >= self.feed_floor()? {
            self.tx.put(
                Table::History,
                old.version.0.to_be_bytes().to_vec(),
                codec::encode_history(key, raw),
            );
        }
        Ok(())
    }

    fn item(&self, key: &[u8]) -> Result<Option<ItemRecord>> {
        self.tx
            .get(Table::Items, key)?
            .map(|b| ItemRecord::decode_with(&b, self.codecs, key))
            .transpose()
    }

    /// Update the counters of `ns`: the logical ones and the stored bytes.
    fn stats(
        &mut self,
        ns: &Namespace,
        f: impl FnOnce(&mut NamespaceStats, &mut StoredBytes),
    ) -> Result<()> {
        let k = codec::ns_enc(ns);
        let (mut s, mut st) = match self.tx.get(Table::Namespaces, &k)? {
            Some(b) => (codec::decode_ns_stats(&b)?, codec::decode_ns_stored(&b)?),
            None => Default::default(),
        };
        f(&mut s, &mut st);
        if s.is_empty() {
            self.tx.delete(Table::Namespaces, k);
        } else {
            self.tx
                .put(Table::Namespaces, k, codec::encode_ns_record(&s, &st));
        }
        Ok(())
    }

    /// The item record at `key` (`old`, decoded) is about to be overwritten or removed:
    /// keep it for the feed ([`Applier::keep_for_feed`]) and return its value's stored
    /// (sealed) size.
    fn retire_item(&mut self, key: &[u8], old: &ItemRecord) -> Result<u64> {
        let Some(b) = self.tx.get(Table::Items, key)? else {
            return Ok(0);
        };
        self.keep_for_feed(key, old, &b)?;
        Ok(ItemRecord::sealed_value(&b)?.2.len() as u64)
    }

    fn mutation(&mut self, m: &Mutation, b: &Batch) -> Result<Outcome> {
        match m.topic() {
            Topic::Items => self.item_mutation(m, b),
            Topic::Streams => self.stream_mutation(m, b),
            Topic::Leases => self.lease_mutation(m, b),
            Topic::Upkeep => self.upkeep_mutation(m, b),
        }
    }
}

/// The input rules of one mutation, by topic ([`Limits::check_mutation`] calls this).
pub(crate) fn check(l: &Limits, m: &Mutation) -> Result<()> {
    match m.topic() {
        Topic::Items => items::check(l, m),
        Topic::Streams => streams::check(l, m),
        Topic::Leases => leases::check(l, m),
        Topic::Upkeep => ttl::check(l, m),
    }
}

/// A mutation handed to a topic it does not belong to: a bug in the dispatch by
/// [`Mutation::topic`], reported rather than panicking.
fn misrouted(m: &Mutation) -> Error {
    Error::Storage(format!("internal: {m:?} routed to the wrong topic"))
}
