//! The write semantics, written once for every backend: preconditions, patches, leases and
//! fencing, streams, TTL, per-namespace counters and the change feed. A backend hands a
//! group of batches and a read view to [`apply_group`] and stores the returned write set
//! atomically; that is all a backend has to do to get identical behaviour.

use crate::codec::{self, ItemRecord, LeaseRecord, Table};
use crate::error::{Error, Result};
use crate::kv::{KvRead, Layered, WriteSet};
use crate::model::*;
use crate::value_codec::CodecStack;
use std::ops::Bound;

/// A batch of mutations as a backend receives it.
#[derive(Clone, Debug)]
pub struct Batch {
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

    fn item(&self, key: &[u8]) -> Result<Option<ItemRecord>> {
        self.tx
            .get(Table::Items, key)?
            .map(|b| ItemRecord::decode_with(&b, self.codecs, key))
            .transpose()
    }

    fn stats(&mut self, ns: &Namespace, f: impl FnOnce(&mut NamespaceStats)) -> Result<()> {
        let k = codec::ns_enc(ns);
        let mut s = match self.tx.get(Table::Namespaces, &k)? {
            Some(b) => codec::decode_ns_stats(&b)?,
            None => NamespaceStats::default(),
        };
        f(&mut s);
        if s.is_empty() {
            self.tx.delete(Table::Namespaces, k);
        } else {
            self.tx
                .put(Table::Namespaces, k, codec::encode_ns_stats(&s));
        }
        Ok(())
    }

    fn check_fence(&self, fence: &Option<Fence>) -> Result<()> {
        let Some(f) = fence else { return Ok(()) };
        let rec = self
            .tx
            .get(Table::Leases, &codec::named_key(&f.ns, &f.name))?
            .map(|b| LeaseRecord::decode(&b))
            .transpose()?;
        match rec {
            Some(r) if r.token == f.token && !r.released => Ok(()),
            Some(r) => Err(Error::StaleFence {
                presented: f.token,
                current: (!r.released).then_some(r.token),
            }),
            None => Err(Error::StaleFence {
                presented: f.token,
                current: None,
            }),
        }
    }

    fn default_ttl(&self, ns: &Namespace) -> Result<Option<u64>> {
        for depth in (1..=ns.len()).rev() {
            let p = Namespace(ns.0[..depth].to_vec());
            if let Some(b) = self.tx.get(Table::NsTtl, &codec::ns_enc(&p))? {
                return Ok(Some(codec::be64(&b)?));
            }
        }
        Ok(None)
    }

    /// Remove the physical item record at `key` (live or expired) and its index entries.
    fn remove_item(&mut self, ns: &Namespace, key: Vec<u8>, old: &ItemRecord) -> Result<()> {
        if let Some(e) = old.expires_at {
            self.tx.delete(Table::Expiry, codec::expiry_key(e, &key));
        }
        self.tx.delete(Table::Items, key);
        let n = old.value.data.len() as u64;
        self.stats(ns, |s| {
            s.items = s.items.saturating_sub(1);
            s.item_bytes = s.item_bytes.saturating_sub(n);
        })
    }

    /// Write a new item record (replacing `old` physically, if any) and its change record.
    #[allow(clippy::too_many_arguments)]
    fn write_item(
        &mut self,
        ns: &Namespace,
        key_str: &str,
        key: Vec<u8>,
        old: Option<&ItemRecord>,
        value: Value,
        expires_at: Option<Millis>,
        subject: Option<String>,
        now: Millis,
    ) -> Result<Outcome> {
        let live_old = old.filter(|o| !o.is_expired(now));
        let lsn = self.next_lsn();
        if let Some(o) = old {
            if let Some(e) = o.expires_at {
                self.tx.delete(Table::Expiry, codec::expiry_key(e, &key));
            }
        }
        if let Some(e) = expires_at {
            self.tx.put(
                Table::Expiry,
                codec::expiry_key(e, &key),
                lsn.to_be_bytes().to_vec(),
            );
        }
        let rec = ItemRecord {
            version: Version(lsn),
            created_at: live_old.map_or(now, |o| o.created_at),
            updated_at: now,
            expires_at,
            subject,
            value,
        };
        let (old_n, new_n) = (
            old.map(|o| o.value.data.len() as u64),
            rec.value.data.len() as u64,
        );
        self.stats(ns, |s| {
            if let Some(n) = old_n {
                s.item_bytes = s.item_bytes.saturating_sub(n);
            } else {
                s.items += 1;
            }
            s.item_bytes += new_n;
        })?;
        let bytes = rec.encode_with(self.codecs, &key)?;
        self.tx.put(Table::Items, key, bytes);
        let item = rec.into_item(ns.clone(), key_str.to_owned());
        self.change(lsn, now, &ChangeKind::Put(item))?;
        Ok(Outcome::Written {
            version: Version(lsn),
        })
    }

    fn mutation(&mut self, m: &Mutation, b: &Batch) -> Result<Outcome> {
        let now = b.now;
        match m {
            Mutation::Put {
                ns,
                key,
                value,
                precondition,
                ttl,
                subject,
                fence,
            } => {
                self.check_fence(fence)?;
                let k = codec::named_key(ns, key);
                let old = self.item(&k)?;
                let live = old.as_ref().filter(|o| !o.is_expired(now));
                check_pre(precondition, live.map(|o| o.version))?;
                let expires_at = match ttl {
                    Ttl::Never => None,
                    Ttl::After(d) => Some(now.saturating_add(d.as_millis() as i64)),
                    Ttl::Default => self
                        .default_ttl(ns)?
                        .map(|ms| now.saturating_add(ms as i64)),
                };
                let subject = subject
                    .clone()
                    .or_else(|| live.and_then(|o| o.subject.clone()));
                self.write_item(
                    ns,
                    key,
                    k,
                    old.as_ref(),
                    value.clone(),
                    expires_at,
                    subject,
                    now,
                )
            }
            Mutation::Patch {
                ns,
                key,
                patch,
                precondition,
                fence,
            } => {
                self.check_fence(fence)?;
                let k = codec::named_key(ns, key);
                let old = self.item(&k)?;
                let live = old.as_ref().filter(|o| !o.is_expired(now));
                check_pre(precondition, live.map(|o| o.version))?;
                let mut doc = match (live, patch) {
                    (Some(o), _) => o.value.to_json().map_err(|_| {
                        Error::PatchFailed(format!(
                            "the item holds {:?}, not JSON",
                            o.value.content_type
                        ))
                    })?,
                    (None, PatchOp::Merge(_)) => serde_json::Value::Object(Default::default()),
                    (None, PatchOp::Json(_)) => {
                        return Err(Error::not_found(format!("item {ns}/{key}")));
                    }
                };
                match patch {
                    PatchOp::Merge(p) => json_patch::merge(&mut doc, p),
                    // `doc` is a scratch copy, dropped on failure, so no undo is needed:
                    // `patch` would undo the applied ops, and its undo panics when an
                    // op cannot be reversed (a child moved over its parent).
                    PatchOp::Json(p) => json_patch::patch_unsafe(&mut doc, p)
                        .map_err(|e| Error::PatchFailed(e.to_string()))?,
                }
                if json_depth(&doc) > MAX_JSON_DEPTH {
                    return Err(Error::invalid(
                        crate::Rule::Json,
                        format!("patched value nests deeper than {MAX_JSON_DEPTH} levels, so it could not be read back"),
                    ));
                }
                let value = Value::json(&doc);
                if value.data.len() > b.max_value_size {
                    return Err(Error::invalid(
                        crate::Rule::ValueSize,
                        format!(
                            "patched value is {} bytes, at most {}",
                            value.data.len(),
                            b.max_value_size
                        ),
                    ));
                }
                let expires_at = match live {
                    Some(o) => o.expires_at,
                    None => self
                        .default_ttl(ns)?
                        .map(|ms| now.saturating_add(ms as i64)),
                };
                let subject = live.and_then(|o| o.subject.clone());
                self.write_item(ns, key, k, old.as_ref(), value, expires_at, subject, now)
            }
            Mutation::Delete {
                ns,
                key,
                precondition,
                fence,
            } => {
                self.check_fence(fence)?;
                let k = codec::named_key(ns, key);
                let old = self.item(&k)?;
                let live = old.as_ref().filter(|o| !o.is_expired(now)).is_some();
                check_pre(
                    precondition,
                    old.as_ref().filter(|_| live).map(|o| o.version),
                )?;
                if let Some(o) = &old {
                    self.remove_item(ns, k, o)?;
                }
                if live {
                    let lsn = self.next_lsn();
                    self.change(
                        lsn,
                        now,
                        &ChangeKind::Delete {
                            ns: ns.clone(),
                            key: key.clone(),
                        },
                    )?;
                }
                Ok(Outcome::Deleted { existed: live })
            }
            Mutation::Expire { ns, key, version } => {
                let k = codec::named_key(ns, key);
                match self.item(&k)? {
                    Some(o) if o.version == *version && o.is_expired(now) => {
                        self.remove_item(ns, k, &o)?;
                        let lsn = self.next_lsn();
                        self.change(
                            lsn,
                            now,
                            &ChangeKind::Expire {
                                ns: ns.clone(),
                                key: key.clone(),
                            },
                        )?;
                        Ok(Outcome::Deleted { existed: true })
                    }
                    _ => Ok(Outcome::Deleted { existed: false }),
                }
            }
            Mutation::Append {
                ns,
                stream,
                entries,
                expected_last,
            } => {
                let sk = codec::named_key(ns, stream);
                let existing = self.stream_info(&sk)?;
                let mut info = existing.unwrap_or(StreamInfo {
                    first_seq: 1,
                    ..Default::default()
                });
                if let Some(exp) = expected_last {
                    if *exp != info.last_seq {
                        return Err(Error::SequenceMismatch {
                            expected: *exp,
                            current: info.last_seq,
                        });
                    }
                }
                let first = info.last_seq + 1;
                let mut added = Vec::with_capacity(entries.len());
                let mut bytes = 0u64;
                for v in entries {
                    info.last_seq += 1;
                    let ek = codec::entry_key(&sk, info.last_seq);
                    let rec = codec::encode_entry_with(self.codecs, &ek, now, v)?;
                    self.tx.put(Table::Entries, ek, rec);
                    bytes += v.data.len() as u64;
                    added.push(StreamEntry {
                        seq: info.last_seq,
                        at: now,
                        value: v.clone(),
                    });
                }
                let n = entries.len() as u64;
                info.len += n;
                info.bytes += bytes;
                self.tx
                    .put(Table::Streams, sk, codec::encode_stream_info(&info));
                let new_stream = existing.is_none();
                self.stats(ns, |s| {
                    s.streams += new_stream as u64;
                    s.stream_entries += n;
                    s.stream_bytes += bytes;
                })?;
                let lsn = self.next_lsn();
                self.change(
                    lsn,
                    now,
                    &ChangeKind::Append {
                        ns: ns.clone(),
                        stream: stream.clone(),
                        entries: added,
                    },
                )?;
                Ok(Outcome::Appended {
                    first_seq: first,
                    last_seq: info.last_seq,
                })
            }
            Mutation::Trim { ns, stream, to } => {
                let sk = codec::named_key(ns, stream);
                let mut info = self
                    .stream_info(&sk)?
                    .ok_or_else(|| Error::not_found(format!("stream {ns}/{stream}")))?;
                let end = info.last_seq + 1;
                let cut = match *to {
                    TrimTo::KeepLast(n) => end.saturating_sub(n).max(info.first_seq),
                    TrimTo::Before(s) => s.clamp(info.first_seq, end),
                    TrimTo::OlderThan(t) => {
                        let mut s = info.first_seq;
                        while s < end {
                            let ek = codec::entry_key(&sk, s);
                            match self.tx.get(Table::Entries, &ek)? {
                                Some(b)
                                    if codec::decode_entry_with(self.codecs, &ek, s, &b)?.at
                                        < t =>
                                {
                                    s += 1
                                }
                                _ => break,
                            }
                        }
                        s
                    }
                };
                let removed = self.remove_entries(ns, &sk, &mut info, cut)?;
                if removed > 0 {
                    self.tx
                        .put(Table::Streams, sk, codec::encode_stream_info(&info));
                    let lsn = self.next_lsn();
                    self.change(
                        lsn,
                        now,
                        &ChangeKind::Trim {
                            ns: ns.clone(),
                            stream: stream.clone(),
                            first_kept: cut,
                            deleted_stream: false,
                        },
                    )?;
                }
                Ok(Outcome::Trimmed { removed })
            }
            Mutation::DeleteStream { ns, stream } => {
                let sk = codec::named_key(ns, stream);
                let Some(mut info) = self.stream_info(&sk)? else {
                    return Ok(Outcome::Deleted { existed: false });
                };
                let end = info.last_seq + 1;
                self.remove_entries(ns, &sk, &mut info, end)?;
                self.tx.delete(Table::Streams, sk);
                self.stats(ns, |s| s.streams = s.streams.saturating_sub(1))?;
                let lsn = self.next_lsn();
                self.change(
                    lsn,
                    now,
                    &ChangeKind::Trim {
                        ns: ns.clone(),
                        stream: stream.clone(),
                        first_kept: end,
                        deleted_stream: true,
                    },
                )?;
                Ok(Outcome::Deleted { existed: true })
            }
            Mutation::LeaseAcquire {
                ns,
                name,
                holder,
                ttl,
            } => {
                let k = codec::named_key(ns, name);
                let old = self.lease(&k)?;
                let expires_at = now.saturating_add(ttl.as_millis() as i64);
                let token = match &old {
                    Some(o) if o.is_live(now) && o.holder != *holder => {
                        return Err(Error::LeaseHeld {
                            holder: o.holder.clone(),
                            expires_at_ms: o.expires_at,
                        });
                    }
                    // The live holder acquiring again keeps its token: its own writes stay valid.
                    Some(o) if o.is_live(now) => o.token,
                    _ => 0,
                };
                let lsn = self.next_lsn();
                let token = if token == 0 { lsn } else { token };
                self.put_lease(k, holder, token, expires_at, false);
                self.change(
                    lsn,
                    now,
                    &ChangeKind::Lease {
                        ns: ns.clone(),
                        name: name.clone(),
                        released: false,
                    },
                )?;
                Ok(Outcome::Lease(Lease {
                    ns: ns.clone(),
                    name: name.clone(),
                    holder: holder.clone(),
                    token,
                    expires_at,
                }))
            }
            Mutation::LeaseRenew {
                ns,
                name,
                token,
                ttl,
            } => {
                let k = codec::named_key(ns, name);
                let o = self.current_lease(&k, *token)?;
                let expires_at = now.saturating_add(ttl.as_millis() as i64);
                self.put_lease(k, &o.holder, o.token, expires_at, false);
                let lsn = self.next_lsn();
                self.change(
                    lsn,
                    now,
                    &ChangeKind::Lease {
                        ns: ns.clone(),
                        name: name.clone(),
                        released: false,
                    },
                )?;
                Ok(Outcome::Lease(Lease {
                    ns: ns.clone(),
                    name: name.clone(),
                    holder: o.holder,
                    token: o.token,
                    expires_at,
                }))
            }
            Mutation::LeaseRelease { ns, name, token } => {
                let k = codec::named_key(ns, name);
                let o = self.current_lease(&k, *token)?;
                self.put_lease(k, &o.holder, o.token, now, true);
                let lsn = self.next_lsn();
                self.change(
                    lsn,
                    now,
                    &ChangeKind::Lease {
                        ns: ns.clone(),
                        name: name.clone(),
                        released: true,
                    },
                )?;
                Ok(Outcome::Released)
            }
            Mutation::SetNamespaceTtl { prefix, ttl } => {
                let k = codec::ns_enc(prefix);
                let ms = ttl.map(|d| d.as_millis() as u64);
                match ms {
                    Some(ms) => self.tx.put(Table::NsTtl, k, ms.to_be_bytes().to_vec()),
                    None => self.tx.delete(Table::NsTtl, k),
                }
                let lsn = self.next_lsn();
                self.change(
                    lsn,
                    now,
                    &ChangeKind::NamespaceTtl {
                        prefix: prefix.clone(),
                        ttl_ms: ms,
                    },
                )?;
                Ok(Outcome::Done)
            }
            Mutation::ForgetChanges { before_lsn, max } => {
                let mut keys = Vec::new();
                let end = before_lsn.to_be_bytes();
                self.tx.base().scan(
                    Table::Changes,
                    (Bound::Unbounded, Bound::Excluded(&end[..])),
                    false,
                    &mut |k, _| {
                        if keys.len() >= *max as usize {
                            return Ok(false);
                        }
                        keys.push(k.to_vec());
                        Ok(keys.len() < *max as usize)
                    },
                )?;
                let n = keys.len() as u64;
                for k in keys {
                    self.tx.delete(Table::Changes, k);
                }
                Ok(Outcome::Trimmed { removed: n })
            }
        }
    }

    fn stream_info(&self, sk: &[u8]) -> Result<Option<StreamInfo>> {
        self.tx
            .get(Table::Streams, sk)?
            .map(|b| codec::decode_stream_info(&b))
            .transpose()
    }

    /// Delete entries `info.first_seq .. cut`, updating `info` and the namespace counters.
    fn remove_entries(
        &mut self,
        ns: &Namespace,
        sk: &[u8],
        info: &mut StreamInfo,
        cut: u64,
    ) -> Result<u64> {
        let mut removed = 0;
        let mut bytes = 0;
        for s in info.first_seq..cut {
            let ek = codec::entry_key(sk, s);
            if let Some(b) = self.tx.get(Table::Entries, &ek)? {
                bytes += codec::decode_entry_with(self.codecs, &ek, s, &b)?
                    .value
                    .data
                    .len() as u64;
                removed += 1;
                self.tx.delete(Table::Entries, ek);
            }
        }
        info.first_seq = info.first_seq.max(cut);
        info.len = info.len.saturating_sub(removed);
        info.bytes = info.bytes.saturating_sub(bytes);
        self.stats(ns, |s| {
            s.stream_entries = s.stream_entries.saturating_sub(removed);
            s.stream_bytes = s.stream_bytes.saturating_sub(bytes);
        })?;
        Ok(removed)
    }

    fn lease(&self, k: &[u8]) -> Result<Option<LeaseRecord>> {
        self.tx
            .get(Table::Leases, k)?
            .map(|b| LeaseRecord::decode(&b))
            .transpose()
    }

    /// The lease at `k`, if `token` is still its current token.
    fn current_lease(&self, k: &[u8], token: u64) -> Result<LeaseRecord> {
        match self.lease(k)? {
            Some(o) if o.token == token && !o.released => Ok(o),
            Some(o) => Err(Error::StaleFence {
                presented: token,
                current: (!o.released).then_some(o.token),
            }),
            None => Err(Error::StaleFence {
                presented: token,
                current: None,
            }),
        }
    }

    fn put_lease(
        &mut self,
        k: Vec<u8>,
        holder: &str,
        token: u64,
        expires_at: Millis,
        released: bool,
    ) {
        let rec = LeaseRecord {
            holder: holder.to_owned(),
            token,
            expires_at,
            released,
        };
        self.tx.put(Table::Leases, k, rec.encode());
    }
}

/// serde_json refuses to parse JSON nested deeper than 128 arrays/objects; a patch must not
/// store a value that no read could parse again.
const MAX_JSON_DEPTH: usize = 127;

/// Nesting depth of arrays and objects (a scalar is 0), without recursion.
fn json_depth(v: &serde_json::Value) -> usize {
    let mut max = 0;
    let mut stack = vec![(v, 0usize)];
    while let Some((v, d)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &serde_json::Value>> = match v {
            serde_json::Value::Array(a) => Box::new(a.iter()),
            serde_json::Value::Object(o) => Box::new(o.values()),
            _ => continue,
        };
        max = max.max(d + 1);
        stack.extend(children.map(|c| (c, d + 1)));
    }
    max
}

fn check_pre(p: &Precondition, current: Option<Version>) -> Result<()> {
    let ok = match p {
        Precondition::Any => true,
        Precondition::IfAbsent => current.is_none(),
        Precondition::IfVersion(v) => current == Some(*v),
    };
    if ok {
        Ok(())
    } else {
        Err(Error::PreconditionFailed { current })
    }
}
