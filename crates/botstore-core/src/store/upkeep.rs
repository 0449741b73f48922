//! The store's upkeep: TTL sweeps, change-feed retention, the maintenance pass and its
//! thread, stats, compaction and resealing values with the newest dictionary.

use super::*;

/// Space and counters of a store.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StoreStats {
    /// Every namespace under the prefix asked for that holds something, with its counters,
    /// in order.
    pub namespaces: Vec<(Namespace, NamespaceStats)>,
    /// Logical bytes (item and stream values) of the whole store, whatever the prefix the
    /// stats were asked for: what `disk_bytes` is shared out against.
    pub store_logical_bytes: u64,
    /// Bytes the backend uses on disk; `None` when it keeps nothing on disk or cannot tell.
    pub disk_bytes: Option<u64>,
    /// The LSN of the last commit (0 for a store never written).
    pub last_lsn: u64,
    /// The backend's name ([`Backend::name`]).
    pub backend: String,
    /// What the values of each namespace take as stored (`stored[i]` is
    /// `namespaces[i]`'s; empty when the source did not say, e.g. an older server).
    pub stored: Vec<StoredBytes>,
}

impl StoreStats {
    /// The counters of every namespace listed, added up.
    pub fn totals(&self) -> NamespaceStats {
        let mut t = NamespaceStats::default();
        for (_, n) in &self.namespaces {
            t.items += n.items;
            t.item_bytes += n.item_bytes;
            t.streams += n.streams;
            t.stream_entries += n.stream_entries;
            t.stream_bytes += n.stream_bytes;
        }
        t
    }

    /// The stored bytes of namespace `i` of [`StoreStats::namespaces`] (plain envelopes'
    /// size when the source did not say).
    pub fn stored_bytes(&self, i: usize) -> StoredBytes {
        self.stored.get(i).copied().unwrap_or_else(|| {
            self.namespaces
                .get(i)
                .map(|(_, s)| StoredBytes::plain(s))
                .unwrap_or_default()
        })
    }

    /// Logical bytes (item and stream values) of the namespaces listed.
    pub fn logical_bytes(&self) -> u64 {
        self.namespaces
            .iter()
            .map(|(_, s)| s.item_bytes + s.stream_bytes)
            .sum()
    }

    /// An estimate of the bytes on disk that one namespace accounts for: the store's
    /// bytes on disk shared out in proportion to logical bytes. The engines do not track
    /// pages per namespace, so this is an estimate and is named as one wherever shown.
    pub fn estimated_disk_bytes(&self, ns: &NamespaceStats) -> Option<u64> {
        let disk = self.disk_bytes?;
        let total = self.store_logical_bytes;
        if total == 0 {
            return Some(0);
        }
        let mine = ns.item_bytes + ns.stream_bytes;
        Some((disk as u128 * mine as u128 / total as u128) as u64)
    }
}

/// What one maintenance pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Maintenance {
    /// Items removed because their TTL passed.
    pub expired_items: u64,
    /// Change-feed records dropped by the retention policy.
    pub forgotten_changes: u64,
}

impl Store {
    /// Remove up to `limit` items whose TTL has passed. Returns how many were removed.
    pub async fn sweep_expired(&self, limit: usize) -> Result<u64> {
        let now = self.now();
        let due = self.reading(|v| read::expired(v, now, limit))?;
        if due.is_empty() {
            return Ok(0);
        }
        let ms = due
            .into_iter()
            .map(|(ns, key, version)| Mutation::Expire { ns, key, version })
            .collect();
        let results = self.commit(self.batch_of(ms, false)).await?;
        Ok(results
            .iter()
            .filter(|r| matches!(r, Ok(Outcome::Deleted { existed: true })))
            .count() as u64)
    }

    /// Apply change-feed retention once (up to `limit` records).
    pub async fn trim_changes(&self, limit: usize) -> Result<u64> {
        let r = &self.opts.retention;
        let (cut_age, cut_count) = self.reading(|v| {
            let last = read::last_lsn(v)?;
            let by_count = r.max_changes.map(|n| last.saturating_sub(n) + 1);
            let by_age = match r.max_age {
                None => None,
                Some(age) => {
                    let cutoff = self.now() - age.as_millis() as i64;
                    let mut before = None;
                    let mut seen = 0usize;
                    v.scan(
                        Table::Changes,
                        (Bound::Unbounded, Bound::Unbounded),
                        false,
                        &mut |k, val| {
                            let lsn = crate::codec::be64(k)?;
                            let at = crate::codec::change_time(val)?;
                            seen += 1;
                            if at >= cutoff || seen > limit {
                                before = Some(lsn);
                                return Ok(false);
                            }
                            before = Some(lsn + 1);
                            Ok(true)
                        },
                    )?;
                    before
                }
            };
            Ok((by_age, by_count))
        })?;
        // The later of the two cuts, where a rule is set.
        let Some(before) = cut_age.into_iter().chain(cut_count).max() else {
            return Ok(0);
        };
        let m = Mutation::ForgetChanges {
            before_lsn: before,
            max: limit.min(u32::MAX as usize) as u32,
        };
        // Not through `commit`: forgetting old changes is no news for feed followers.
        let results = match &*self.committer {
            Ok(c) => c.submit(self.batch_of(vec![m], true)).await?,
            Err(e) => return Err(e.clone()),
        };
        match results.into_iter().last() {
            Some(Ok(Outcome::Trimmed { removed })) => Ok(removed),
            Some(Err(e)) => Err(e),
            _ => Ok(0),
        }
    }

    /// One pass of background upkeep: TTL sweep and change-feed retention.
    pub async fn maintain(&self) -> Result<Maintenance> {
        let mut m = Maintenance::default();
        loop {
            let n = self.sweep_expired(1000).await?;
            m.expired_items += n;
            if n < 1000 {
                break;
            }
        }
        m.forgotten_changes = self.trim_changes(10_000).await?;
        Ok(m)
    }

    /// Run [`Store::maintain`] every `every` until the returned handle is dropped or aborted.
    pub fn spawn_maintenance(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let s = self.clone();
        tokio::spawn(async move {
            let mut t = tokio::time::interval(every);
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                t.tick().await;
                let _ = s.maintain().await;
            }
        })
    }

    /// Counters per namespace under `prefix`, bytes on disk and the last LSN.
    pub async fn stats(&self, prefix: &Namespace) -> Result<StoreStats> {
        self.opts.limits.check_prefix(prefix)?;
        // One scan of every namespace's counters, from one view: the ones under the prefix,
        // and the store-wide total the disk estimate needs.
        let mut store_logical_bytes = 0;
        let (all, last_lsn) = self.reading(|v| {
            Ok((
                read::namespace_stats_stored(v, &Namespace::root())?,
                read::last_lsn(v)?,
            ))
        })?;
        let mut namespaces = Vec::new();
        let mut stored = Vec::new();
        for (ns, n, st) in all {
            store_logical_bytes += n.item_bytes + n.stream_bytes;
            if ns.starts_with(prefix) {
                namespaces.push((ns, n));
                stored.push(st);
            }
        }
        Ok(StoreStats {
            namespaces,
            stored,
            store_logical_bytes,
            disk_bytes: self.backend.space()?.disk_bytes,
            last_lsn,
            backend: self.backend.name().into(),
        })
    }

    /// Reclaim space on disk: values sealed with an older compression dictionary (or none,
    /// or raw, where compression now applies) are sealed again with the newest
    /// ([`Store::reseal`]), then the backend compacts.
    pub async fn compact(&self) -> Result<CompactReport> {
        let resealed = self.reseal().await?;
        let b = Arc::clone(&self.backend);
        let mut r = tokio::task::spawn_blocking(move || b.compact())
            .await
            .map_err(|e| Error::Storage(format!("compaction task failed: {e}")))??;
        r.resealed_values = resealed;
        Ok(r)
    }

    /// Seal every item and stream entry value again whose envelope the codecs would now
    /// write differently ([`crate::ValueCodec::wants_reseal`]): compression dictionaries
    /// trained since the value was written. Two passes: the first also gives prefixes
    /// that had no dictionary the samples to train one, the second moves their values to
    /// it. Returns how many values were rewritten. Concurrent writes go on meanwhile.
    pub async fn reseal(&self) -> Result<u64> {
        let Some(z) = self.zstd.clone() else {
            return Ok(0);
        };
        if !z.options().enabled {
            return Ok(0);
        }
        let mut total = 0;
        for _pass in 0..2 {
            let before = z.dictionaries().count();
            let mut n = 0;
            for table in [Table::Items, Table::Entries] {
                n += self.reseal_table(table).await?;
            }
            total += n;
            // Dictionaries the pass trained: wait for them and write them down.
            let dicts = Arc::clone(z.dictionaries());
            tokio::task::spawn_blocking(move || dicts.wait_idle(Duration::from_secs(120)))
                .await
                .map_err(|e| Error::Storage(format!("waiting for training failed: {e}")))?;
            if z.dictionaries().waiting() > 0 {
                self.upkeep(Mutation::Reseal {
                    table: Table::Items,
                    keys: Vec::new(),
                })
                .await?;
            }
            if z.dictionaries().count() == before {
                break;
            }
        }
        Ok(total)
    }

    async fn reseal_table(&self, table: Table) -> Result<u64> {
        const KEYS: usize = 256;
        const LOOK: usize = 4096;
        let codecs = Arc::clone(&self.opts.codecs);
        let mut after: Option<Vec<u8>> = None;
        let mut total = 0;
        loop {
            let (keys, last) = self.reading(|v| {
                let mut keys = Vec::new();
                let mut last = None;
                let mut seen = 0;
                let lo = match &after {
                    Some(k) => Bound::Excluded(k.as_slice()),
                    None => Bound::Unbounded,
                };
                v.scan(table, (lo, Bound::Unbounded), false, &mut |k, rec| {
                    seen += 1;
                    last = Some(k.to_vec());
                    let wants = match table {
                        Table::Items => crate::codec::ItemRecord::sealed_value(rec).is_ok_and(
                            |(version, subject, sealed)| {
                                let ctx = crate::ValueContext {
                                    table,
                                    key: k,
                                    version: Some(version),
                                    subject: subject.as_deref(),
                                    change_copy: false,
                                };
                                codecs.wants_reseal(&ctx, sealed)
                            },
                        ),
                        _ => crate::codec::entry_sealed_value(rec).is_ok_and(|sealed| {
                            codecs.wants_reseal(&crate::codec::entry_ctx(k, false), sealed)
                        }),
                    };
                    if wants {
                        keys.push(k.to_vec());
                    }
                    Ok(keys.len() < KEYS && seen < LOOK)
                })?;
                Ok((keys, last))
            })?;
            if !keys.is_empty() {
                total += keys.len() as u64;
                self.upkeep(Mutation::Reseal { table, keys }).await?;
            }
            match last {
                Some(k) => after = Some(k),
                None => return Ok(total),
            }
        }
    }

    /// Submit a store-internal mutation that is no news for change-feed followers.
    async fn upkeep(&self, m: Mutation) -> Result<Outcome> {
        let results = match &*self.committer {
            Ok(c) => c.submit(self.batch_of(vec![m], true)).await?,
            Err(e) => return Err(e.clone()),
        };
        results
            .into_iter()
            .last()
            .unwrap_or_else(|| Err(Error::Storage("no result".into())))
    }
}
