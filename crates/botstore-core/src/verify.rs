//! `verify`: walk every table of a store and report every damaged record with its address.
//!
//! The walk reads the backend's sealed records itself (not through the checking view,
//! which stops at the first damage), so it goes on past damage and lists all of it. For
//! each record it checks, in order:
//!
//! * key order: a scan must see keys strictly ascending (a damaged B-tree index);
//! * the record check ([`crate::record_check`]): the bytes and their address;
//! * a point lookup of the same key finds the same record (a damaged branch of the index
//!   can hide a record from `get` that a scan still sees);
//! * the record decodes (through the store's value codecs for values);
//!
//! and then that the derived tables (namespace counters, expiry index) agree with the
//! items and streams they are derived from. Damage is reported, never repaired.

use crate::backend::Backend;
use crate::codec::{self, ItemRecord, LeaseRecord};
use crate::error::{Error, Result};
use crate::kv::Table;
use crate::model::NamespaceStats;
use crate::record_check;
use crate::restore;
use crate::value_codec::CodecStack;
use std::collections::BTreeMap;
use std::ops::Bound;
use std::time::Duration;

/// How a verify walks.
#[derive(Clone, Debug, Default)]
pub struct VerifyOptions {
    /// At most this many records per second (`None`: as fast as it can), so that a
    /// background scrub leaves the disk to the store's work.
    pub records_per_second: Option<u32>,
}

/// One damaged record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damage {
    /// The table it is in.
    pub table: Table,
    /// Its address as a person reads it (`ns/key`, `ns/stream#seq`, `lsn 42`, or hex).
    pub address: String,
    /// What is wrong with it.
    pub problem: String,
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.table.name(),
            self.address,
            self.problem
        )
    }
}

/// What a verify found.
#[derive(Clone, Debug, Default)]
pub struct VerifyReport {
    /// Records checked, per table (in [`Table::ALL`] order).
    pub records: Vec<(Table, u64)>,
    /// Bytes of the records checked.
    pub bytes: u64,
    /// Every damaged record (and every disagreement of a derived table).
    pub damage: Vec<Damage>,
    /// Where the store's bytes are (`store.redb in DIR`).
    pub origin: String,
}

impl VerifyReport {
    /// Records checked in all.
    pub fn total_records(&self) -> u64 {
        self.records.iter().map(|(_, n)| n).sum()
    }
    /// True when nothing is damaged.
    pub fn is_clean(&self) -> bool {
        self.damage.is_empty()
    }
}

/// Walk `raw` (a backend whose read views return sealed records: the layer under
/// [`record_check::Checked`]). `progress` is called with the records checked so far.
pub fn verify(
    raw: &dyn Backend,
    codecs: &CodecStack,
    opts: &VerifyOptions,
    progress: &mut dyn FnMut(u64),
) -> Result<VerifyReport> {
    let view = raw.read()?;
    // The same snapshot, read as the store reads it (for the feed's references).
    let checked = record_check::CheckedView::new(Box::new(&*view), "");
    let mut report = VerifyReport {
        origin: raw.origin(),
        ..VerifyReport::default()
    };
    let mut derived = restore::DerivedBuilder::new();
    let mut expected_expiry: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let mut found_ns: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let mut found_expiry: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let mut pacer = Pacer::new(opts.records_per_second);
    let mut done = 0u64;
    for table in Table::ALL {
        let mut n = 0u64;
        let mut prev: Option<Vec<u8>> = None;
        let mut walk = |k: &[u8], v: &[u8]| -> Result<bool> {
            n += 1;
            done += 1;
            report.bytes += (k.len() + v.len()) as u64;
            let mut damage = |problem: String| {
                report.damage.push(Damage {
                    table,
                    address: codec::describe_key(table, k),
                    problem,
                })
            };
            if prev.as_deref().is_some_and(|p| k <= p) {
                damage("key out of order in a scan (damaged index)".into());
            }
            prev = Some(k.to_vec());
            match record_check::open(table, k, v, "") {
                Err(_) => damage("its bytes do not match their record check".into()),
                Ok(body) => {
                    match view.get(table, k) {
                        Ok(Some(g)) if g == v => {}
                        Ok(Some(_)) => {
                            damage("a lookup of its key finds other bytes (damaged index)".into())
                        }
                        Ok(None) => {
                            damage("a lookup of its key does not find it (damaged index)".into())
                        }
                        Err(e) => damage(format!("a lookup of its key fails: {e}")),
                    }
                    if let Err(e) = decode(table, k, body, codecs) {
                        damage(format!("does not decode: {e}"));
                    } else {
                        match table {
                            Table::Items => {
                                if let Ok(r) = ItemRecord::decode_with(body, codecs, k) {
                                    let facts = restore::ItemFacts {
                                        version: r.version.0,
                                        expires_at: r.expires_at,
                                        value_bytes: r.value.data.len() as u64,
                                        stored_bytes: ItemRecord::sealed_value(body)
                                            .map_or(0, |(_, _, s)| s.len() as u64),
                                    };
                                    if let Ok(Some((ek, ev))) = derived.item_with(k, facts) {
                                        expected_expiry.insert(ek, ev);
                                    }
                                }
                            }
                            Table::Streams => {
                                let _ = derived.stream(k, body);
                            }
                            // A namespace whose counters went back to zero may keep its
                            // record; it stands for nothing, like no record.
                            Table::Namespaces => {
                                let zero = codec::decode_ns_stats(body)
                                    .is_ok_and(|s| s == NamespaceStats::default());
                                if !zero {
                                    // In the layout written now: a record from before
                                    // stored bytes were counted reads as plain envelopes.
                                    let now = codec::decode_ns_stats(body)
                                        .and_then(|s| {
                                            Ok(codec::encode_ns_record(
                                                &s,
                                                &codec::decode_ns_stored(body)?,
                                            ))
                                        })
                                        .unwrap_or_else(|_| body.to_vec());
                                    found_ns.insert(k.to_vec(), now);
                                }
                            }
                            Table::Expiry => {
                                found_expiry.insert(k.to_vec(), body.to_vec());
                            }
                            // A put that refers to its item's version: that version is
                            // still there (the item, or the history).
                            Table::Changes => {
                                let lsn = codec::be64(k).unwrap_or_default();
                                if let Some(m) =
                                    crate::feed::missing_reference(&checked, codecs, lsn, body)
                                {
                                    damage(m);
                                }
                            }
                            _ => {}
                        }
                    }
                }
            }
            if done.is_multiple_of(1024) {
                progress(done);
            }
            pacer.tick();
            Ok(true)
        };
        view.scan(
            table,
            (Bound::Unbounded, Bound::Unbounded),
            false,
            &mut walk,
        )?;
        report.records.push((table, n));
    }
    progress(done);
    // Counters and the expiry index are derived from items and streams: with damage there,
    // they would disagree for that reason alone, so they are compared only without it.
    if report
        .damage
        .iter()
        .any(|d| matches!(d.table, Table::Items | Table::Streams))
    {
        return Ok(report);
    }
    compare(
        &mut report,
        Table::Namespaces,
        derived.namespace_records().collect(),
        &found_ns,
        "namespace counters",
    );
    compare(
        &mut report,
        Table::Expiry,
        expected_expiry,
        &found_expiry,
        "expiry index",
    );
    Ok(report)
}

/// Derived records that disagree with what their sources say they should be. Records
/// already reported damaged are not reported again.
fn compare(
    report: &mut VerifyReport,
    table: Table,
    expected: BTreeMap<Vec<u8>, Vec<u8>>,
    found: &BTreeMap<Vec<u8>, Vec<u8>>,
    what: &str,
) {
    let damaged: std::collections::HashSet<String> = report
        .damage
        .iter()
        .filter(|d| d.table == table)
        .map(|d| d.address.clone())
        .collect();
    let mut push = |k: &[u8], problem: String| {
        let address = codec::describe_key(table, k);
        if !damaged.contains(&address) {
            report.damage.push(Damage {
                table,
                address,
                problem,
            });
        }
    };
    for (k, v) in &expected {
        match found.get(k) {
            Some(f) if f == v => {}
            Some(_) => push(k, format!("{what} disagree with the records they count")),
            None => push(k, format!("missing from the {what}")),
        }
    }
    for k in found.keys() {
        if !expected.contains_key(k) {
            push(k, format!("in the {what} but no record stands for it"));
        }
    }
}

/// Decode a record of `table` the way reads do.
fn decode(table: Table, key: &[u8], body: &[u8], codecs: &CodecStack) -> Result<()> {
    match table {
        Table::Items => {
            codec::split_named_key(key)?;
            ItemRecord::decode_with(body, codecs, key).map(drop)
        }
        Table::Entries => {
            let seq = key
                .len()
                .checked_sub(8)
                .map(|i| codec::be64(&key[i..]))
                .ok_or_else(|| Error::Corrupt("entry key too short".into()))??;
            codec::decode_entry_with(codecs, key, seq, body).map(drop)
        }
        Table::Streams => {
            codec::split_named_key(key)?;
            codec::decode_stream_info(body).map(drop)
        }
        Table::Leases => {
            codec::split_named_key(key)?;
            LeaseRecord::decode(body).map(drop)
        }
        Table::Changes => codec::decode_change_record(codecs, codec::be64(key)?, body).map(drop),
        Table::Namespaces => {
            codec::ns_dec(key)?;
            codec::decode_ns_stats(body).map(drop)
        }
        Table::Expiry | Table::NsTtl => codec::be64(body).map(drop),
        Table::Meta => Ok(()),
        Table::History => crate::feed::verify_history(codecs, key, body),
    }
}

/// Sleeps enough to keep a walk under a rate.
struct Pacer {
    every: Option<Duration>,
    start: std::time::Instant,
    n: u64,
}

impl Pacer {
    fn new(rate: Option<u32>) -> Self {
        Pacer {
            every: rate
                .filter(|r| *r > 0)
                .map(|r| Duration::from_secs_f64(1.0 / f64::from(r))),
            start: std::time::Instant::now(),
            n: 0,
        }
    }
    fn tick(&mut self) {
        let Some(every) = self.every else { return };
        self.n += 1;
        if !self.n.is_multiple_of(256) {
            return;
        }
        let due = every.mul_f64(self.n as f64);
        let spent = self.start.elapsed();
        if due > spent {
            std::thread::sleep(due - spent);
        }
    }
}
