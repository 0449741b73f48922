//! The dictionaries of a store: their records in the `meta` table, the prepared zstd
//! dictionaries of those in use, and the sampling and training of new ones.
//!
//! Record: key `zstd_dict/` ++ be32(id), value `ver u8 | prefix bytes16 | dictionary`
//! (docs/FORMAT.md). Ids start at 1 and only grow; a prefix's newest dictionary is the one
//! with its highest id. A dictionary goes through three states: *pending* (trained, in
//! memory only), *in flight* (handed to the commit thread with a group's writes) and
//! *active* (that group is on disk: values may be sealed with it). Records are never
//! deleted, so every value that names a dictionary finds it.

use super::CompressionOptions;
use crate::codec::{self, Reader, Table};
use crate::error::{Error, Result};
use crate::kv::KvRead;
use std::collections::HashMap;
use std::ops::Bound;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::time::Duration;
use zstd::zstd_safe::{CDict, DDict};

/// The key prefix of dictionary records in the `meta` table.
pub const DICT_KEY_PREFIX: &[u8] = b"zstd_dict/";

/// The `meta` key of dictionary `id`.
pub fn dict_key(id: u32) -> Vec<u8> {
    let mut k = DICT_KEY_PREFIX.to_vec();
    k.extend_from_slice(&id.to_be_bytes());
    k
}

/// A dictionary record: the prefix it was trained for and its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DictRecord {
    /// The dictionary's id (from the key).
    pub id: u32,
    /// The first namespace segment it was trained on.
    pub prefix: Vec<u8>,
    /// The zstd dictionary.
    pub dict: Vec<u8>,
}

impl DictRecord {
    /// Layout: ver u8 | prefix bytes16 | dictionary (the rest).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(3 + self.prefix.len() + self.dict.len());
        out.push(codec::RECORD_VERSION);
        out.extend_from_slice(&(self.prefix.len() as u16).to_le_bytes());
        out.extend_from_slice(&self.prefix);
        out.extend_from_slice(&self.dict);
        out
    }

    /// Decode the record at `key` (a [`dict_key`]).
    pub fn decode(key: &[u8], b: &[u8]) -> Result<DictRecord> {
        let id = key
            .strip_prefix(DICT_KEY_PREFIX)
            .and_then(|k| <[u8; 4]>::try_from(k).ok())
            .map(u32::from_be_bytes)
            .ok_or_else(|| Error::Corrupt("dictionary record with a malformed key".into()))?;
        let mut r = Reader::new(b, "dictionary");
        r.version()?;
        let prefix = r.bytes16()?.to_vec();
        let dict = r.rest().to_vec();
        if dict.is_empty() {
            return Err(Error::Corrupt(format!("dictionary {id} is empty")));
        }
        Ok(DictRecord { id, prefix, dict })
    }
}

/// A dictionary in use, prepared for compression and decompression.
pub struct Dict {
    /// Its id, as envelopes name it.
    pub id: u32,
    /// The prefix it belongs to.
    pub prefix: Vec<u8>,
    /// Its size in bytes.
    pub len: usize,
    cdict: CDict<'static>,
    ddict: DDict<'static>,
}

impl Dict {
    /// Prepare `dict` (zstd copies it); `None` when zstd refuses it.
    pub fn build(id: u32, prefix: Vec<u8>, dict: &[u8], level: i32) -> Option<Dict> {
        Some(Dict {
            id,
            prefix,
            len: dict.len(),
            cdict: CDict::try_create(dict, level)?,
            ddict: DDict::try_create(dict)?,
        })
    }
    pub(super) fn cdict(&self) -> &CDict<'static> {
        &self.cdict
    }
    pub(super) fn ddict(&self) -> &DDict<'static> {
        &self.ddict
    }
}

/// Sampled values are cut to this many bytes: enough for the trainer, and it bounds the
/// memory of a prefix whose values are large.
const SAMPLE_MAX: usize = 8 << 10;
/// All prefixes' samples together hold at most this many bytes; prefixes seen once the
/// budget is spent are not sampled until others' training frees it.
const SAMPLE_BUDGET: usize = 32 << 20;
/// The most dictionaries a store trains (each costs its prepared tables in memory).
pub const MAX_DICTS: usize = 256;
/// A prefix whose training failed this often is not trained again while the store is open.
const MAX_ATTEMPTS: u32 = 3;

#[derive(Default)]
struct Active {
    by_id: HashMap<u32, Arc<Dict>>,
    newest: HashMap<Vec<u8>, Arc<Dict>>,
}

impl Active {
    fn add(&mut self, d: Arc<Dict>) {
        let newer = self.newest.get(&d.prefix).is_none_or(|n| n.id < d.id);
        if newer {
            self.newest.insert(d.prefix.clone(), Arc::clone(&d));
        }
        self.by_id.insert(d.id, d);
    }
}

struct Sampler {
    samples: Vec<Vec<u8>>,
    sample_bytes: usize,
    seen_values: usize,
    seen_bytes: usize,
    need_values: usize,
    need_bytes: usize,
    /// Training, or trained and waiting to be written: sample no more.
    busy: bool,
    attempts: u32,
}

type Trained = (Arc<Dict>, Vec<u8>, Vec<u8>);

struct Training {
    samplers: HashMap<Vec<u8>, Sampler>,
    sampled_bytes: usize,
    running: usize,
    pending: Vec<Trained>,
    in_flight: Vec<Trained>,
    next_id: u32,
    /// A dictionary record could not be read: train none (a new one might reuse its id).
    frozen: bool,
    /// Dictionaries active, pending or in flight.
    total: usize,
}

/// The dictionaries of one store.
pub struct Dictionaries {
    opts: CompressionOptions,
    active: RwLock<Active>,
    train: Mutex<Training>,
    idle: Condvar,
}

impl Dictionaries {
    pub(super) fn empty(opts: &CompressionOptions) -> Self {
        Dictionaries {
            opts: opts.clone(),
            active: RwLock::new(Active::default()),
            train: Mutex::new(Training {
                samplers: HashMap::new(),
                sampled_bytes: 0,
                running: 0,
                pending: Vec::new(),
                in_flight: Vec::new(),
                next_id: 1,
                frozen: false,
                total: 0,
            }),
            idle: Condvar::new(),
        }
    }

    /// The dictionaries stored in `view`'s `meta` table.
    pub(super) fn load(opts: &CompressionOptions, view: &dyn KvRead) -> Self {
        let me = Self::empty(opts);
        let mut active = Active::default();
        let mut max_id = 0u32;
        let mut damaged = false;
        let end = codec::prefix_end(DICT_KEY_PREFIX).unwrap_or_default();
        let scanned = view.scan(
            Table::Meta,
            (Bound::Included(DICT_KEY_PREFIX), Bound::Excluded(&end[..])),
            false,
            &mut |k, v| {
                let built = DictRecord::decode(k, v).and_then(|r| {
                    max_id = max_id.max(r.id);
                    Dict::build(r.id, r.prefix, &r.dict, opts.level).ok_or_else(|| {
                        Error::Corrupt(format!("zstd refuses dictionary {}", r.id))
                    })
                });
                match built {
                    Ok(d) => active.add(Arc::new(d)),
                    Err(e) => {
                        tracing::error!(error = %e, "a compression dictionary cannot be read; values that use it will not open");
                        damaged = true;
                    }
                }
                Ok(true)
            },
        );
        if let Err(e) = scanned {
            tracing::error!(error = %e, "the compression dictionaries cannot be read; values that use them will not open");
            damaged = true;
        }
        if let Ok(mut t) = me.train.lock() {
            t.next_id = max_id.saturating_add(1);
            t.frozen = damaged || max_id == u32::MAX;
            t.total = active.by_id.len();
        }
        if let Ok(mut a) = me.active.write() {
            *a = active;
        }
        me
    }

    fn training(&self) -> Option<MutexGuard<'_, Training>> {
        self.train.lock().ok()
    }

    /// The newest active dictionary of `prefix`.
    pub fn newest(&self, prefix: &[u8]) -> Option<Arc<Dict>> {
        self.active.read().ok()?.newest.get(prefix).cloned()
    }

    /// The active dictionary `id`.
    pub fn get(&self, id: u32) -> Option<Arc<Dict>> {
        self.active.read().ok()?.by_id.get(&id).cloned()
    }

    /// How many dictionaries are in use.
    pub fn count(&self) -> usize {
        self.active.read().map_or(0, |a| a.by_id.len())
    }

    /// The ids of the dictionaries in use, with their prefixes, in id order.
    pub fn list(&self) -> Vec<(u32, Vec<u8>, usize)> {
        let mut v: Vec<_> = self.active.read().map_or_else(
            |_| Vec::new(),
            |a| {
                a.by_id
                    .values()
                    .map(|d| (d.id, d.prefix.clone(), d.len))
                    .collect()
            },
        );
        v.sort();
        v
    }

    /// Wait (at most `timeout`) until no training runs; true when none does.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        let Some(g) = self.training() else {
            return false;
        };
        self.idle
            .wait_timeout_while(g, timeout, |t| t.running > 0)
            .is_ok_and(|(t, _)| t.running == 0)
    }

    /// How many trained dictionaries wait to be written.
    pub fn waiting(&self) -> usize {
        self.training()
            .map_or(0, |t| t.pending.len() + t.in_flight.len())
    }

    /// Note a value of `prefix` that was compressed without a dictionary; train one when
    /// the prefix has seen enough.
    pub(super) fn sample(self: &Arc<Self>, prefix: &[u8], value: &[u8]) {
        let Some(mut t) = self.training() else {
            return;
        };
        if t.frozen || t.total >= MAX_DICTS {
            return;
        }
        if !t.samplers.contains_key(prefix) {
            if t.sampled_bytes >= SAMPLE_BUDGET {
                return;
            }
            t.samplers.insert(
                prefix.to_vec(),
                Sampler {
                    samples: Vec::new(),
                    sample_bytes: 0,
                    seen_values: 0,
                    seen_bytes: 0,
                    need_values: self.opts.train_after_values.max(1),
                    need_bytes: self.opts.train_after_bytes.max(1),
                    busy: false,
                    attempts: 0,
                },
            );
        }
        let budget_left = t.sampled_bytes < SAMPLE_BUDGET;
        let Some(s) = t.samplers.get_mut(prefix) else {
            return;
        };
        if s.busy || s.attempts >= MAX_ATTEMPTS {
            return;
        }
        s.seen_values += 1;
        s.seen_bytes += value.len();
        let mut added = 0;
        if budget_left {
            let piece = &value[..value.len().min(SAMPLE_MAX)];
            s.samples.push(piece.to_vec());
            s.sample_bytes += piece.len();
            added = piece.len();
        }
        let ready = (s.seen_values >= s.need_values || s.seen_bytes >= s.need_bytes)
            && s.samples.len() >= self.opts.min_samples.max(1);
        let job = if ready {
            s.busy = true;
            let n = s.sample_bytes;
            s.sample_bytes = 0;
            Some((std::mem::take(&mut s.samples), n))
        } else {
            None
        };
        t.sampled_bytes += added;
        let Some((samples, n)) = job else {
            return;
        };
        t.sampled_bytes = t.sampled_bytes.saturating_sub(n);
        t.running += 1;
        drop(t);
        let prefix = prefix.to_vec();
        if self.opts.background_training {
            let me = Arc::clone(self);
            let again = prefix.clone();
            let spawned = std::thread::Builder::new()
                .name("botstore-dict-train".into())
                .spawn(move || me.train_one(prefix, samples));
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "cannot start a dictionary training thread");
                if let Some(mut t) = self.training() {
                    t.running -= 1;
                    if let Some(s) = t.samplers.get_mut(&again) {
                        s.busy = false;
                    }
                }
                self.idle.notify_all();
            }
        } else {
            self.train_one(prefix, samples);
        }
    }

    fn train_one(&self, prefix: Vec<u8>, samples: Vec<Vec<u8>>) {
        let started = std::time::Instant::now();
        let raw = zstd::dict::from_samples(&samples, self.opts.dict_size);
        let Some(mut t) = self.training() else {
            return;
        };
        t.running = t.running.saturating_sub(1);
        let id = t.next_id;
        let built = match &raw {
            Ok(raw) if !t.frozen => Dict::build(id, prefix.clone(), raw, self.opts.level),
            _ => None,
        };
        match (built, raw) {
            (Some(d), Ok(raw)) => {
                t.next_id = id.saturating_add(1);
                if t.next_id == u32::MAX {
                    t.frozen = true;
                }
                t.total += 1;
                tracing::info!(
                    id,
                    prefix = %String::from_utf8_lossy(&prefix),
                    samples = samples.len(),
                    bytes = raw.len(),
                    ms = started.elapsed().as_millis() as u64,
                    "trained a compression dictionary"
                );
                let rec = DictRecord {
                    id,
                    prefix,
                    dict: raw,
                }
                .encode();
                t.pending.push((Arc::new(d), dict_key(id), rec));
            }
            (_, r) => {
                if let Err(e) = r {
                    tracing::info!(error = %e, prefix = %String::from_utf8_lossy(&prefix), "dictionary training failed; trying again after more values");
                }
                if let Some(s) = t.samplers.get_mut(&prefix) {
                    s.busy = false;
                    s.attempts += 1;
                    s.need_values = s.need_values.saturating_mul(2);
                    s.need_bytes = s.need_bytes.saturating_mul(2);
                    s.seen_values = 0;
                    s.seen_bytes = 0;
                }
            }
        }
        drop(t);
        self.idle.notify_all();
    }

    /// The records of trained dictionaries, to be written with the next group.
    pub(super) fn records_to_write(&self) -> Vec<(Table, Vec<u8>, Vec<u8>)> {
        let Some(mut t) = self.training() else {
            return Vec::new();
        };
        if t.pending.is_empty() {
            return Vec::new();
        }
        let moved: Vec<Trained> = t.pending.drain(..).collect();
        let out = moved
            .iter()
            .map(|(_, k, v)| (Table::Meta, k.clone(), v.clone()))
            .collect();
        t.in_flight.extend(moved);
        out
    }

    /// The group holding the records last handed out was written (`ok`) or failed.
    pub(super) fn records_written(&self, ok: bool) {
        let Some(mut t) = self.training() else {
            return;
        };
        if t.in_flight.is_empty() {
            return;
        }
        let done: Vec<Trained> = t.in_flight.drain(..).collect();
        if !ok {
            t.pending.extend(done);
            return;
        }
        let Ok(mut a) = self.active.write() else {
            return;
        };
        for (d, _, _) in done {
            t.samplers.remove(&d.prefix);
            a.add(d);
        }
    }
}
