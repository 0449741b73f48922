//! Items: put, JSON patches, delete and TTL expiry, with their preconditions, the expiry
//! index and the per-namespace counters.

use super::*;

/// The input rules of the item mutations (see [`Limits::check_mutation`]): checked by the
/// store before anything is written.
pub(super) fn check(l: &Limits, m: &Mutation) -> Result<()> {
    match m {
        Mutation::Put {
            ns,
            key,
            value,
            subject,
            ttl,
            ..
        } => {
            l.check_namespace(ns)?;
            l.check_key(key)?;
            l.check_value(value)?;
            l.check_subject(subject)?;
            if let Ttl::After(d) = ttl {
                check_ttl(d)?;
            }
            Ok(())
        }
        Mutation::Delete { ns, key, .. } | Mutation::Patch { ns, key, .. } => {
            l.check_namespace(ns)?;
            l.check_key(key)
        }
        Mutation::Touch { ns, key, ttl, .. } => {
            l.check_namespace(ns)?;
            l.check_key(key)?;
            match ttl {
                Ttl::After(d) => check_ttl(d),
                Ttl::Default | Ttl::Never => Ok(()),
            }
        }
        Mutation::Expire { ns, key, .. } => {
            l.check_namespace(ns)?;
            l.check_key(key)
        }
        _ => Err(misrouted(m)),
    }
}

impl Applier<'_> {
    pub(super) fn item_mutation(&mut self, m: &Mutation, b: &Batch) -> Result<Outcome> {
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
                let expires_at = self.expires_at(ns, ttl, now)?;
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
            Mutation::Touch {
                ns,
                key,
                ttl,
                fence,
            } => {
                self.check_fence(fence)?;
                let k = codec::named_key(ns, key);
                let Some(mut rec) = self.item(&k)?.filter(|o| !o.is_expired(now)) else {
                    return Err(Error::not_found(format!("item {ns}/{key}")));
                };
                let expires_at = self.expires_at(ns, ttl, now)?;
                // The version stays: the expiry index keeps pointing at it, and the sweeper
                // removes the item only if it still has that version.
                if let Some(e) = rec.expires_at {
                    self.tx.delete(Table::Expiry, codec::expiry_key(e, &k));
                }
                if let Some(e) = expires_at {
                    self.tx.put(
                        Table::Expiry,
                        codec::expiry_key(e, &k),
                        rec.version.0.to_be_bytes().to_vec(),
                    );
                }
                rec.expires_at = expires_at;
                let version = rec.version;
                let bytes = rec.encode_with(self.codecs, &k)?;
                self.tx.put(Table::Items, k, bytes);
                let lsn = self.next_lsn();
                let item = rec.into_item(ns.clone(), key.clone());
                self.change(lsn, now, &ChangeKind::Put(item))?;
                Ok(Outcome::Written { version })
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
            _ => Err(misrouted(m)),
        }
    }

    /// Remove the physical item record at `key` (live or expired) and its index entries.
    /// When an item written (or touched) at `now` with `ttl` expires: `Ttl::Default` takes
    /// the namespace's default, if it has one.
    fn expires_at(&self, ns: &Namespace, ttl: &Ttl, now: Millis) -> Result<Option<Millis>> {
        Ok(match ttl {
            Ttl::Never => None,
            Ttl::After(d) => Some(now.saturating_add(d.as_millis() as i64)),
            Ttl::Default => self
                .default_ttl(ns)?
                .map(|ms| now.saturating_add(ms as i64)),
        })
    }

    pub(super) fn remove_item(
        &mut self,
        ns: &Namespace,
        key: Vec<u8>,
        old: &ItemRecord,
    ) -> Result<()> {
        if let Some(e) = old.expires_at {
            self.tx.delete(Table::Expiry, codec::expiry_key(e, &key));
        }
        let stored = self.retire_item(&key, old)?;
        self.tx.delete(Table::Items, key);
        let n = old.value.data.len() as u64;
        self.stats(ns, |s, st| {
            s.items = s.items.saturating_sub(1);
            s.item_bytes = s.item_bytes.saturating_sub(n);
            st.items = st.items.saturating_sub(stored);
        })
    }

    /// Write a new item record (replacing `old` physically, if any) and its change record.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn write_item(
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
        let old_stored = match old {
            Some(o) => self.retire_item(&key, o)?,
            None => 0,
        };
        let bytes = rec.encode_with(self.codecs, &key)?;
        let new_stored = ItemRecord::sealed_value(&bytes)?.2.len() as u64;
        self.stats(ns, |s, st| {
            if let Some(n) = old_n {
                s.item_bytes = s.item_bytes.saturating_sub(n);
            } else {
                s.items += 1;
            }
            s.item_bytes += new_n;
            st.items = st.items.saturating_sub(old_stored) + new_stored;
        })?;
        self.tx.put(Table::Items, key, bytes);
        // The value stays in the item record alone; the change refers to it (crate::feed).
        self.tx.put(
            Table::Changes,
            lsn.to_be_bytes().to_vec(),
            codec::encode_put_ref(now, ns, key_str, &rec),
        );
        Ok(Outcome::Written {
            version: Version(lsn),
        })
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
