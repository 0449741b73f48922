//! Leases and fencing: acquire, renew and release, with tokens that only grow, and the
//! fence check every fenced write makes.

use super::*;

/// The input rules of the lease mutations (see [`Limits::check_mutation`]): checked by the
/// store before anything is written.
pub(super) fn check(l: &Limits, m: &Mutation) -> Result<()> {
    match m {
        Mutation::LeaseAcquire {
            ns,
            name,
            holder,
            ttl,
        } => {
            l.check_namespace(ns)?;
            l.check_key(name)?;
            l.check_key(holder)?;
            check_ttl(ttl)
        }
        Mutation::LeaseRenew { ns, name, ttl, .. } => {
            l.check_namespace(ns)?;
            l.check_key(name)?;
            check_ttl(ttl)
        }
        Mutation::LeaseRelease { ns, name, .. } => {
            l.check_namespace(ns)?;
            l.check_key(name)
        }
        _ => Err(misrouted(m)),
    }
}

impl Applier<'_> {
    pub(super) fn lease_mutation(&mut self, m: &Mutation, b: &Batch) -> Result<Outcome> {
        let now = b.now;
        match m {
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
            _ => Err(misrouted(m)),
        }
    }

    pub(super) fn check_fence(&self, fence: &Option<Fence>) -> Result<()> {
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

    pub(super) fn lease(&self, k: &[u8]) -> Result<Option<LeaseRecord>> {
        self.tx
            .get(Table::Leases, k)?
            .map(|b| LeaseRecord::decode(&b))
            .transpose()
    }

    /// The lease at `k`, if `token` is still its current token.
    pub(super) fn current_lease(&self, k: &[u8], token: u64) -> Result<LeaseRecord> {
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

    pub(super) fn put_lease(
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
