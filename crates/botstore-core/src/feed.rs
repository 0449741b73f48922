//! The change feed without a second copy of each value.
//!
//! A put writes its item record at version = the change's LSN, and a change record that
//! holds the item's metadata but not its value ([`codec::encode_put_ref`]). While the item
//! still has that version, the feed reads the value from the item; when a later write
//! overwrites or removes it and the feed still keeps the change (its LSN is at or above the
//! oldest change kept), the old record moves to [`Table::History`] under its version, in the
//! same write set, and the feed reads it from there. Retention deletes the history below
//! the oldest change it keeps, so each value is stored once while the item holds it and once
//! more only for as long as the feed needs an overwritten version.
//!
//! Appends work the same way: the entries carry the LSN of the append that wrote them, the
//! change names the stream and the sequences, and a trim or a stream's deletion moves the
//! entries the feed still refers to into the history under (LSN, sequence). The LSN in the
//! entry tells a kept entry from one of a stream deleted and made again.
//!
//! Every other change (deletes, trims, leases, TTL settings, a `touch`, which keeps the
//! version, so its expiry could not be told from a later one's) is a whole record, as
//! before; so are the changes a backup's segments carry, which [`read_change`] produces.

use crate::codec::{self, ChangeRecord, ItemRecord, Table};
use crate::error::{Error, Result};
use crate::kv::KvRead;
use crate::model::{Change, ChangeKind};
use crate::value_codec::CodecStack;

/// Decode the change record `b` at `lsn`, reading a put's value from the store's items or
/// history through `v` when the record refers to it.
pub fn read_change(v: &dyn KvRead, codecs: &CodecStack, lsn: u64, b: &[u8]) -> Result<Change> {
    match codec::decode_change_record(codecs, lsn, b)? {
        ChangeRecord::Whole(c) => Ok(c),
        ChangeRecord::PutRef {
            lsn,
            at,
            ns,
            key,
            meta,
        } => {
            let k = codec::named_key(&ns, &key);
            let rec = referenced_record(v, codecs, lsn, &k)?.ok_or_else(|| {
                Error::Corrupt(format!(
                    "change lsn {lsn}: version {lsn} of {ns}/{key} is neither the item nor in \
                     the history"
                ))
            })?;
            let item = ItemRecord {
                value: rec.value,
                ..meta
            };
            Ok(Change {
                lsn,
                at,
                kind: ChangeKind::Put(item.into_item(ns, key)),
            })
        }
        ChangeRecord::AppendRef {
            lsn,
            at,
            ns,
            stream,
            first_seq,
            count,
        } => {
            let sk = codec::named_key(&ns, &stream);
            let mut entries = Vec::with_capacity(count.min(1024) as usize);
            for seq in (first_seq..).take(count as usize) {
                let ek = codec::entry_key(&sk, seq);
                let rec = referenced_entry(v, lsn, seq, &ek)?.ok_or_else(|| {
                    Error::Corrupt(format!(
                        "change lsn {lsn}: entry {seq} of {ns}/{stream} is neither in the \
                         stream nor in the history"
                    ))
                })?;
                entries.push(codec::decode_entry_with(codecs, &ek, seq, &rec)?);
            }
            Ok(Change {
                lsn,
                at,
                kind: ChangeKind::Append {
                    ns,
                    stream,
                    entries,
                },
            })
        }
    }
}

/// The record of entry `seq` (key `ek`) that the append at `lsn` wrote: the history's, or
/// the stream's own while it still holds that entry (and not one of a stream deleted and
/// made again, whose sequences start over: its entries carry another LSN).
fn referenced_entry(v: &dyn KvRead, lsn: u64, seq: u64, ek: &[u8]) -> Result<Option<Vec<u8>>> {
    if let Some(h) = v.get(Table::History, &codec::entry_history_key(lsn, seq))? {
        let (hk, rec) = codec::decode_history(&h)?;
        if hk != ek || codec::entry_lsn(rec)? != Some(lsn) {
            return Err(Error::Corrupt(format!(
                "history entry {seq} of the append at lsn {lsn} holds another record ({})",
                codec::describe_key(Table::Entries, hk)
            )));
        }
        return Ok(Some(rec.to_vec()));
    }
    match v.get(Table::Entries, ek)? {
        Some(b) if codec::entry_lsn(&b)? == Some(lsn) => Ok(Some(b)),
        _ => Ok(None),
    }
}

/// The item record of version `version` at item key `k`: the history's, or the item's own
/// while it still has that version.
fn referenced_record(
    v: &dyn KvRead,
    codecs: &CodecStack,
    version: u64,
    k: &[u8],
) -> Result<Option<ItemRecord>> {
    if let Some(h) = v.get(Table::History, &version.to_be_bytes())? {
        let (hk, rec) = codec::decode_history(&h)?;
        if hk != k {
            return Err(Error::Corrupt(format!(
                "history version {version} belongs to {}, not to {}",
                codec::describe_key(Table::Items, hk),
                codec::describe_key(Table::Items, k)
            )));
        }
        return checked_version(ItemRecord::decode_with(rec, codecs, k)?, version).map(Some);
    }
    match v.get(Table::Items, k)? {
        Some(b) => {
            let (ver, _, _) = ItemRecord::sealed_value(&b)?;
            if ver.0 != version {
                return Ok(None);
            }
            ItemRecord::decode_with(&b, codecs, k).map(Some)
        }
        None => Ok(None),
    }
}

fn checked_version(rec: ItemRecord, version: u64) -> Result<ItemRecord> {
    if rec.version.0 == version {
        Ok(rec)
    } else {
        Err(Error::Corrupt(format!(
            "history version {version} holds version {}",
            rec.version.0
        )))
    }
}

/// For verify: when `b` is a put reference whose item version is neither the item's nor in
/// the history, what is missing. A damaged item or history record is not this record's
/// damage (verify reports it at that record), so it gives `None` here, as a whole change
/// record does.
pub fn missing_reference(
    v: &dyn KvRead,
    codecs: &CodecStack,
    lsn: u64,
    b: &[u8],
) -> Option<String> {
    let (ns, key) = match codec::decode_change_record(codecs, lsn, b) {
        Ok(ChangeRecord::PutRef { ns, key, .. }) => (ns, key),
        Ok(ChangeRecord::AppendRef {
            ns,
            stream,
            first_seq,
            count,
            ..
        }) => {
            let sk = codec::named_key(&ns, &stream);
            let lost: Vec<u64> = (first_seq..)
                .take(count as usize)
                .filter(|seq| {
                    let ek = codec::entry_key(&sk, *seq);
                    matches!(referenced_entry(v, lsn, *seq, &ek), Ok(None))
                })
                .collect();
            return (!lost.is_empty()).then(|| {
                format!(
                    "it refers to entries {lost:?} of {ns}/{stream}, which are lost: neither \
                     in the stream nor in the history"
                )
            });
        }
        _ => return None,
    };
    match v.get(Table::History, &lsn.to_be_bytes()) {
        Ok(None) => {}
        _ => return None,
    }
    let now = match v.get(Table::Items, &codec::named_key(&ns, &key)) {
        Ok(Some(item)) => match ItemRecord::sealed_value(&item) {
            Ok((ver, _, _)) if ver.0 == lsn => return None,
            Ok((ver, _, _)) => format!("the item is at version {}", ver.0),
            Err(_) => return None,
        },
        Ok(None) => "the item is gone".to_string(),
        Err(_) => return None,
    };
    Some(format!(
        "it refers to version {lsn} of {ns}/{key}, which is lost: {now}, and the history \
         has no version {lsn}"
    ))
}

/// Check a [`Table::History`] record the way reads decode it (verify).
pub fn verify_history(codecs: &CodecStack, key: &[u8], body: &[u8]) -> Result<()> {
    let (k, rec) = codec::decode_history(body)?;
    if key.len() == 16 {
        let (lsn, seq) = (codec::be64(&key[..8])?, codec::be64(&key[8..])?);
        if codec::entry_lsn(rec)? != Some(lsn) || !k.ends_with(&seq.to_be_bytes()) {
            return Err(Error::Corrupt(format!(
                "history entry {seq} of the append at lsn {lsn} holds another entry"
            )));
        }
        return codec::decode_entry_with(codecs, k, seq, rec).map(drop);
    }
    let version = codec::be64(key)?;
    codec::split_named_key(k)?;
    checked_version(ItemRecord::decode_with(rec, codecs, k)?, version).map(drop)
}
