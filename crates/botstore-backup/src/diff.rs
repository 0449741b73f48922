//! `backup diff A B`: what changed between two snapshots, by namespace.
//!
//! Each snapshot's state is rebuilt from its chain (full ancestor, then its deltas) as a
//! map of record key to a hash and length of its value, so the comparison holds only
//! keys and hashes in memory, never values.

use crate::catalog::{Catalog, Index};
use crate::crypto::Repo;
use crate::format::{decode_record, Manifest, Record};
use crate::{Error, Result};
use botstore::codec::{self, Table};
use serde::Serialize;
use std::collections::BTreeMap;
use std::ops::Bound;

/// Changes in one namespace (`(meta)` for the store's own records).
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct NsDiff {
    pub added: u64,
    pub removed: u64,
    pub changed: u64,
    /// Value bytes of added records, and of changed records as they are in B.
    pub bytes_added: u64,
    /// Value bytes of removed records, and of changed records as they were in A.
    pub bytes_removed: u64,
}

impl NsDiff {
    fn add(&mut self, o: &NsDiff) {
        self.added += o.added;
        self.removed += o.removed;
        self.changed += o.changed;
        self.bytes_added += o.bytes_added;
        self.bytes_removed += o.bytes_removed;
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct DiffReport {
    pub a: String,
    pub b: String,
    pub lsn_a: u64,
    pub lsn_b: u64,
    /// Per namespace, sorted; only namespaces with a change.
    pub namespaces: BTreeMap<String, NsDiff>,
    /// Per table (`items`, `streams`, `entries`, ...).
    pub tables: BTreeMap<String, NsDiff>,
    pub total: NsDiff,
}

/// A value's digest and length.
type State = BTreeMap<(u8, Vec<u8>), ([u8; 16], u64)>;

/// The namespace a record key belongs to.
fn namespace_of(t: Table, k: &[u8]) -> String {
    let ns_bytes = match t {
        Table::NsTtl => Some(k),
        Table::Meta => None,
        _ => k.iter().position(|&c| c == codec::KEY_SEP).map(|i| &k[..i]),
    };
    match ns_bytes.map(codec::ns_dec) {
        Some(Ok(ns)) => ns.to_string(),
        _ => "(meta)".into(),
    }
}

/// The store at `target`, as key -> (value digest, value length).
fn state(repo: &Repo, catalog: &Catalog, index: &Index, target: &Manifest) -> Result<State> {
    let mut st = State::new();
    for m in catalog.chain(target)? {
        let mut carry: Vec<u8> = Vec::new();
        for c in &m.chunks {
            carry.extend_from_slice(&index.read(repo, c)?);
            let mut at = 0;
            while let Some((r, used)) = decode_record(&carry[at..])? {
                match r {
                    Record::Put(t, k, v) => {
                        let mut h = [0u8; 16];
                        h.copy_from_slice(&blake3::hash(v).as_bytes()[..16]);
                        st.insert((t as u8, k.to_vec()), (h, v.len() as u64));
                    }
                    Record::Delete(t, k) => {
                        st.remove(&(t as u8, k.to_vec()));
                    }
                    Record::DeleteRange(t, a, b) => {
                        let doomed: Vec<_> = st
                            .range((
                                Bound::Included((t as u8, a.to_vec())),
                                Bound::Excluded((t as u8, b.to_vec())),
                            ))
                            .map(|(k, _)| k.clone())
                            .collect();
                        for k in doomed {
                            st.remove(&k);
                        }
                    }
                }
                at += used;
            }
            carry.drain(..at);
        }
        if !carry.is_empty() {
            return Err(Error::Corrupt(format!(
                "snapshot {}: the record stream ends inside a record",
                m.id
            )));
        }
    }
    Ok(st)
}

/// Compare snapshots `a` and `b` (ids, unique prefixes or `latest`).
pub fn diff(repo: &Repo, a: &str, b: &str) -> Result<DiffReport> {
    let catalog = Catalog::load(repo)?;
    let ma = catalog.find(Some(a))?;
    let mb = catalog.find(Some(b))?;
    let index = Index::load(repo)?;
    let sa = state(repo, &catalog, &index, ma)?;
    let sb = state(repo, &catalog, &index, mb)?;
    let mut namespaces: BTreeMap<String, NsDiff> = BTreeMap::new();
    let mut tables: BTreeMap<String, NsDiff> = BTreeMap::new();
    let mut note = |t: u8, k: &[u8], d: NsDiff| {
        let table = Table::from_u8(t);
        let ns = table.map_or_else(|| "(meta)".into(), |t| namespace_of(t, k));
        if let Some(t) = table {
            // The change counter of the meta table is noise: every snapshot moves the LSN.
            if t == Table::Meta {
                return;
            }
        }
        namespaces.entry(ns).or_default().add(&d);
        let tname = table.map_or("?", |t| t.name()).to_string();
        tables.entry(tname).or_default().add(&d);
    };
    // Merge the two sorted maps.
    let mut ia = sa.iter().peekable();
    let mut ib = sb.iter().peekable();
    loop {
        match (ia.peek(), ib.peek()) {
            (None, None) => break,
            (Some((ka, va)), Some((kb, vb))) if ka == kb => {
                if va.0 != vb.0 {
                    let d = NsDiff {
                        changed: 1,
                        bytes_added: vb.1,
                        bytes_removed: va.1,
                        ..Default::default()
                    };
                    note(ka.0, &ka.1, d);
                }
                ia.next();
                ib.next();
            }
            (Some((ka, va)), kb) if kb.is_none_or(|(kb, _)| ka < kb) => {
                let d = NsDiff {
                    removed: 1,
                    bytes_removed: va.1,
                    ..Default::default()
                };
                note(ka.0, &ka.1, d);
                ia.next();
            }
            (_, Some((kb, vb))) => {
                let d = NsDiff {
                    added: 1,
                    bytes_added: vb.1,
                    ..Default::default()
                };
                note(kb.0, &kb.1, d);
                ib.next();
            }
            (Some(_), None) => unreachable!("handled above"),
        }
    }
    let mut total = NsDiff::default();
    for d in tables.values() {
        total.add(d);
    }
    Ok(DiffReport {
        a: ma.id.clone(),
        b: mb.id.clone(),
        lsn_a: ma.lsn,
        lsn_b: mb.lsn,
        namespaces,
        tables,
        total,
    })
}
