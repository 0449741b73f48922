//! `backup verify`: every object readable, every chunk of every snapshot indexed and its
//! pack present; with `read_data`, every blob decrypted and checked against its id.

use crate::create::chain;
use crate::crypto::Repo;
use crate::format::{self, pack_name, Location, Manifest};
use crate::restore::open_blob;
use crate::{hex, Error, Result};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

#[derive(Clone, Debug, Default, Serialize)]
pub struct VerifyReport {
    pub snapshots: u64,
    pub indexes: u64,
    pub packs: u64,
    pub chunks: u64,
    /// Blobs decrypted and checked (`read_data`).
    pub chunks_read: u64,
    pub bytes_read: u64,
    /// One line per problem, naming the object or blob.
    pub problems: Vec<String>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

pub fn verify(
    repo: &Repo,
    read_data: bool,
    progress: Option<&(dyn Fn(u64, u64) + Sync)>,
) -> Result<VerifyReport> {
    let mut r = VerifyReport::default();
    let mut index: HashMap<[u8; 32], Location> = HashMap::new();
    for name in repo.store.list("index/")? {
        r.indexes += 1;
        match repo
            .get_object(&name)
            .and_then(|b| format::decode_index(&name, &b))
        {
            Ok(e) => index.extend(e),
            Err(e) => r.problems.push(format!("index {name}: {e}")),
        }
    }
    let mut manifests: Vec<Manifest> = Vec::new();
    for name in repo.store.list("snapshots/")? {
        r.snapshots += 1;
        match repo.get_object(&name).and_then(|b| {
            serde_json::from_slice::<Manifest>(&b)
                .map_err(|e| Error::Corrupt(format!("bad manifest: {e}")))
        }) {
            Ok(m) => manifests.push(m),
            Err(e) => r.problems.push(format!("snapshot {name}: {e}")),
        }
    }
    let mut pack_sizes: BTreeMap<String, Option<u64>> = BTreeMap::new();
    for m in &manifests {
        if let Err(e) = chain(&manifests, m) {
            r.problems.push(format!("snapshot {}: {e}", m.id));
        }
        for c in &m.chunks {
            r.chunks += 1;
            let loc = format::unhex32(c).and_then(|id| index.get(&id));
            let Some(loc) = loc else {
                r.problems.push(format!(
                    "snapshot {}: chunk {c} is missing (no index entry)",
                    m.id
                ));
                continue;
            };
            let size = match pack_sizes.get(&loc.pack) {
                Some(s) => *s,
                None => {
                    let s = repo.store.size(&pack_name(&loc.pack))?;
                    pack_sizes.insert(loc.pack.clone(), s);
                    s
                }
            };
            match size {
                None => r.problems.push(format!(
                    "snapshot {}: chunk {c} is missing: pack {} does not exist",
                    m.id,
                    pack_name(&loc.pack)
                )),
                Some(s) if s < loc.offset + loc.len as u64 => r.problems.push(format!(
                    "snapshot {}: chunk {c} is missing: pack {} is truncated ({s} bytes)",
                    m.id,
                    pack_name(&loc.pack)
                )),
                Some(_) => {}
            }
        }
    }
    r.packs = repo.store.list("packs/")?.len() as u64;
    if read_data {
        let mut by_pack: BTreeMap<&str, Vec<(&[u8; 32], &Location)>> = BTreeMap::new();
        for (id, l) in &index {
            by_pack.entry(&l.pack).or_default().push((id, l));
        }
        let total: u64 = index.values().map(|l| l.len as u64).sum();
        for (pack, mut blobs) in by_pack {
            blobs.sort_by_key(|(_, l)| l.offset);
            let name = pack_name(pack);
            let data = match repo.store.get(&name) {
                Ok(d) => d,
                Err(Error::NotFound(_)) => {
                    for (id, _) in &blobs {
                        r.problems.push(format!(
                            "chunk {} is missing: pack {name} does not exist",
                            hex(*id)
                        ));
                    }
                    continue;
                }
                Err(e) => return Err(e),
            };
            if hex(blake3::hash(&data).as_bytes()) != pack {
                r.problems.push(format!(
                    "pack {name}: content does not match its name (damaged)"
                ));
            }
            for (id, l) in blobs {
                r.chunks_read += 1;
                r.bytes_read += l.len as u64;
                let end = (l.offset + l.len as u64) as usize;
                let res = match data.get(l.offset as usize..end) {
                    Some(blob) => open_blob(repo, id, blob, l.plain_len).map(|_| ()),
                    None => Err("the pack is truncated".into()),
                };
                if let Err(why) = res {
                    r.problems.push(format!(
                        "chunk {} in {name} at offset {}: {why}",
                        hex(id),
                        l.offset
                    ));
                }
                if let Some(p) = progress {
                    p(r.bytes_read, total);
                }
            }
        }
    }
    Ok(r)
}
