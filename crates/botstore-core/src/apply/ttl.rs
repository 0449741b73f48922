//! Upkeep of time and history: namespace default TTLs and change-feed retention.

use super::*;

/// The input rules of the upkeep mutations (see [`Limits::check_mutation`]): checked by the
/// store before anything is written.
pub(super) fn check(l: &Limits, m: &Mutation) -> Result<()> {
    match m {
        Mutation::ForgetChanges { .. } => Ok(()),
        Mutation::Reseal { table, keys } => {
            if !matches!(table, Table::Items | Table::Entries) {
                return Err(Error::invalid(
                    Rule::Range,
                    format!("reseal of table {}: only items and entries", table.name()),
                ));
            }
            if keys.len() > l.max_batch_len {
                return Err(Error::invalid(
                    Rule::BatchSize,
                    format!("reseal of {} keys; at most {}", keys.len(), l.max_batch_len),
                ));
            }
            Ok(())
        }
        Mutation::SetNamespaceTtl { prefix, ttl } => {
            l.check_namespace(prefix)?;
            ttl.as_ref().map_or(Ok(()), check_ttl)
        }
        _ => Err(misrouted(m)),
    }
}

impl Applier<'_> {
    pub(super) fn upkeep_mutation(&mut self, m: &Mutation, b: &Batch) -> Result<Outcome> {
        let now = b.now;
        match m {
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
                // The item versions only the forgotten changes referred to go with them.
                let history_cut = match keys.last() {
                    Some(k) if n >= u64::from(*max) => codec::be64(k)?.saturating_add(1),
                    _ => *before_lsn,
                };
                for k in keys {
                    self.tx.delete(Table::Changes, k);
                }
                let mut old = Vec::new();
                let end = history_cut.to_be_bytes();
                self.tx.base().scan(
                    Table::History,
                    (Bound::Unbounded, Bound::Excluded(&end[..])),
                    false,
                    &mut |k, _| {
                        old.push(k.to_vec());
                        Ok(true)
                    },
                )?;
                for k in old {
                    self.tx.delete(Table::History, k);
                }
                Ok(Outcome::Trimmed { removed: n })
            }
            Mutation::Reseal { table, keys } => {
                let mut n = 0;
                for k in keys {
                    match self.reseal(*table, k) {
                        Ok(true) => n += 1,
                        Ok(false) => {}
                        // A damaged record is verify's to report, not a reason to fail
                        // the writes grouped with this one.
                        Err(Error::Corrupt(_)) => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok(Outcome::Trimmed { removed: n })
            }
            _ => Err(misrouted(m)),
        }
    }

    /// Seal the value of the record at `(table, key)` again; true when its bytes changed.
    fn reseal(&mut self, table: Table, key: &[u8]) -> Result<bool> {
        let Some(old) = self.tx.get(table, key)? else {
            return Ok(false);
        };
        let new = match table {
            Table::Items => {
                ItemRecord::decode_with(&old, self.codecs, key)?.encode_with(self.codecs, key)?
            }
            Table::Entries => {
                let seq = key
                    .len()
                    .checked_sub(8)
                    .filter(|i| *i >= 1)
                    .map(|i| codec::be64(&key[i..]))
                    .ok_or_else(|| Error::Corrupt("entry key too short".into()))??;
                let e = codec::decode_entry_with(self.codecs, key, seq, &old)?;
                codec::encode_entry_with(self.codecs, key, e.at, codec::entry_lsn(&old)?, &e.value)?
            }
            t => {
                return Err(Error::invalid(
                    Rule::Range,
                    format!("reseal of table {}", t.name()),
                ))
            }
        };
        if new == old {
            return Ok(false);
        }
        let sealed_len = |b: &[u8]| -> Result<u64> {
            Ok(match table {
                Table::Items => ItemRecord::sealed_value(b)?.2.len(),
                _ => codec::entry_sealed_value(b)?.len(),
            } as u64)
        };
        let (was, now) = (sealed_len(&old)?, sealed_len(&new)?);
        self.tx.put(table, key.to_vec(), new);
        // An entry's key is its stream's key, 0x00 and the sequence (checked above).
        let sk = match table {
            Table::Entries => &key[..key.len() - 9],
            _ => key,
        };
        let ns = codec::ns_dec(crate::restore::key_namespace(sk)?)?;
        if table == Table::Entries {
            if let Some((info, stored)) = self.stream_info(sk)? {
                let stored = stored.saturating_sub(was) + now;
                self.tx.put(
                    Table::Streams,
                    sk.to_vec(),
                    codec::encode_stream_record(&info, stored),
                );
            }
        }
        self.stats(&ns, |_, st| {
            let field = match table {
                Table::Items => &mut st.items,
                _ => &mut st.entries,
            };
            *field = field.saturating_sub(was) + now;
        })?;
        Ok(true)
    }

    pub(super) fn default_ttl(&self, ns: &Namespace) -> Result<Option<u64>> {
        for depth in (1..=ns.len()).rev() {
            let p = Namespace(ns.0[..depth].to_vec());
            if let Some(b) = self.tx.get(Table::NsTtl, &codec::ns_enc(&p))? {
                return Ok(Some(codec::be64(&b)?));
            }
        }
        Ok(None)
    }
}
