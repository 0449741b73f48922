//! The repository's metadata read so that damage stops only what depends on it.
//!
//! `create` and `prune` need every index and manifest (they decide what is stored and
//! what is garbage) and stop at the first unreadable one. A restore, a point-in-time
//! restore and `verify` need only what the chosen snapshot uses: [`Catalog`] and [`Index`]
//! read every object they can, keep a note of each one they cannot, and use those notes
//! to name the damage when, and only when, something needed was in it.

use crate::crypto::Repo;
use crate::format::{self, pack_name, Location, Manifest};
use crate::restore::open_blob;
use crate::{Error, Result};
use std::collections::HashMap;

/// An object that could not be read, and why.
#[derive(Clone, Debug)]
pub struct Unreadable {
    pub name: String,
    pub error: String,
}

/// Every readable snapshot manifest, and the unreadable ones.
pub struct Catalog {
    /// Oldest first (time, LSN, id), as [`crate::create::snapshots`].
    pub manifests: Vec<Manifest>,
    /// Manifests that could not be read, with their snapshot id (from the object name).
    pub damaged: Vec<(String, Unreadable)>,
}

impl Catalog {
    pub fn load(repo: &Repo) -> Result<Catalog> {
        let mut manifests = Vec::new();
        let mut damaged = Vec::new();
        for name in repo.store.list("snapshots/")? {
            let read = repo.get_object(&name).and_then(|body| {
                serde_json::from_slice::<Manifest>(&body)
                    .map_err(|e| Error::Corrupt(format!("{name}: bad manifest: {e}")))
            });
            match read {
                Ok(m) => manifests.push(m),
                Err(e) => {
                    let id = name.trim_start_matches("snapshots/").to_string();
                    let error = e.to_string();
                    damaged.push((id, Unreadable { name, error }));
                }
            }
        }
        manifests.sort_by(|a, b| (a.time, a.lsn, &a.id).cmp(&(b.time, b.lsn, &b.id)));
        Ok(Catalog { manifests, damaged })
    }

    fn damage_of(&self, id: &str) -> Option<&Unreadable> {
        self.damaged.iter().find(|(d, _)| d == id).map(|(_, u)| u)
    }

    /// A snapshot by id or unique prefix (`None` or `latest`: the newest). A damaged
    /// manifest is never skipped in silence: naming it, or asking for the latest when the
    /// newest is damaged, is an error that says so.
    pub fn find(&self, id: Option<&str>) -> Result<&Manifest> {
        match id {
            None | Some("latest") => {
                let latest = self.manifests.last();
                // Snapshot ids start with the time in hex, so they sort by time.
                let newer = self
                    .damaged
                    .iter()
                    .filter(|(d, _)| latest.is_none_or(|m| d.as_str() > m.id.as_str()))
                    .max_by(|a, b| a.0.cmp(&b.0));
                if let Some((d, u)) = newer {
                    return Err(Error::Corrupt(format!(
                        "the latest snapshot {d} is damaged ({}); choose an older snapshot by \
                         id (`backup verify` lists the restorable ones)",
                        u.error
                    )));
                }
                latest.ok_or_else(|| Error::NotFound("the repository has no snapshots".into()))
            }
            Some(p) => {
                let hits: Vec<_> = self
                    .manifests
                    .iter()
                    .filter(|m| m.id.starts_with(p))
                    .collect();
                let bad: Vec<_> = self
                    .damaged
                    .iter()
                    .filter(|(d, _)| d.starts_with(p))
                    .collect();
                match (hits.as_slice(), bad.as_slice()) {
                    ([one], []) => Ok(one),
                    ([], [(d, u)]) => Err(Error::Corrupt(format!(
                        "snapshot {d} is damaged: {}",
                        u.error
                    ))),
                    ([], []) => Err(Error::NotFound(format!("snapshot {p}"))),
                    _ => Err(Error::Invalid(format!("snapshot id {p} is ambiguous"))),
                }
            }
        }
    }

    /// The snapshots to apply to restore `target`, its full ancestor first; a damaged
    /// ancestor is named as such.
    pub fn chain<'m>(&'m self, target: &'m Manifest) -> Result<Vec<&'m Manifest>> {
        crate::create::chain(&self.manifests, target).map_err(|e| self.explain_chain(target, e))
    }

    fn explain_chain(&self, target: &Manifest, e: Error) -> Error {
        let mut cur = target;
        let mut seen = 0usize;
        while let Some(p) = cur.parent.as_deref().filter(|_| !cur.is_full()) {
            if let Some(u) = self.damage_of(p) {
                return Error::Corrupt(format!(
                    "snapshot {} cannot be restored: its base snapshot {p} is damaged ({})",
                    target.id, u.error
                ));
            }
            match self.manifests.iter().find(|m| m.id == p) {
                Some(m) if seen < 100_000 => cur = m,
                _ => break,
            }
            seen += 1;
        }
        e
    }
}

/// Every entry of every readable index object, and the unreadable ones.
#[derive(Default)]
pub struct Index {
    pub map: HashMap<[u8; 32], Location>,
    /// Further locations of chunks stored more than once (an interrupted run, a repack
    /// whose old index is still there): tried when the first one is damaged.
    pub alternates: HashMap<[u8; 32], Vec<Location>>,
    pub damaged: Vec<Unreadable>,
}

impl Index {
    pub fn load(repo: &Repo) -> Result<Index> {
        let mut ix = Index::default();
        for name in repo.store.list("index/")? {
            let read = repo
                .get_object(&name)
                .and_then(|b| format::decode_index(&name, &b));
            match read {
                Ok(entries) => ix.add(entries),
                Err(e) => ix.damaged.push(Unreadable {
                    error: e.to_string(),
                    name,
                }),
            }
        }
        Ok(ix)
    }

    pub fn add(&mut self, entries: Vec<([u8; 32], Location)>) {
        for (id, loc) in entries {
            match self.map.get(&id) {
                None => {
                    self.map.insert(id, loc);
                }
                Some(l) if *l == loc => {}
                Some(_) => {
                    let alt = self.alternates.entry(id).or_default();
                    if !alt.contains(&loc) {
                        alt.push(loc);
                    }
                }
            }
        }
    }

    /// Why a chunk with no entry may be missing: the damaged indexes, if any.
    pub fn missing_hint(&self) -> String {
        if self.damaged.is_empty() {
            return String::new();
        }
        let names: Vec<String> = self
            .damaged
            .iter()
            .map(|u| format!("{} ({})", u.name, u.error))
            .collect();
        format!(
            "; the index that located it may be one of the damaged ones: {}",
            names.join(", ")
        )
    }

    /// Read, authenticate, decompress and check one chunk (as
    /// [`crate::restore::read_chunk`]); when its blob is damaged, another stored copy is
    /// tried before giving up, and a chunk no readable index locates names the damaged
    /// indexes.
    pub fn read(&self, repo: &Repo, id_hex: &str) -> Result<Vec<u8>> {
        let id = format::unhex32(id_hex)
            .ok_or_else(|| Error::Corrupt(format!("malformed chunk id {id_hex}")))?;
        let Some(first) = self.map.get(&id) else {
            return Err(Error::Corrupt(format!(
                "chunk {id_hex} is missing: no readable index entry for it{}",
                self.missing_hint()
            )));
        };
        let mut why = Vec::new();
        let others = self.alternates.get(&id).map(Vec::as_slice).unwrap_or(&[]);
        for loc in std::iter::once(first).chain(others) {
            match read_at(repo, &id, loc) {
                Ok(plain) => return Ok(plain),
                Err(Error::Corrupt(w)) => why.push(w),
                Err(e) => return Err(e),
            }
        }
        Err(Error::Corrupt(format!(
            "chunk {id_hex} {}",
            why.join("; another copy: ")
        )))
    }
}

/// One stored copy of a chunk; a [`Error::Corrupt`] says what is wrong with it.
fn read_at(repo: &Repo, id: &[u8; 32], loc: &Location) -> Result<Vec<u8>> {
    let pack = pack_name(&loc.pack);
    let blob = match repo.store.get_range(&pack, loc.offset, loc.len as u64) {
        Ok(b) => b,
        Err(Error::NotFound(_)) => {
            return Err(Error::Corrupt(format!(
                "is missing: pack {pack} does not exist"
            )))
        }
        Err(Error::Corrupt(w)) => return Err(Error::Corrupt(format!("is missing: {w}"))),
        Err(e) => return Err(e),
    };
    open_blob(repo, id, &blob, loc.plain_len)
        .map_err(|why| Error::Corrupt(format!("in {pack} at offset {}: {why}", loc.offset)))
}
