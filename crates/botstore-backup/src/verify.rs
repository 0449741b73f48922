//! `backup verify`: every object readable, every chunk of every snapshot and change-feed
//! segment indexed and its pack present; with `read_data`, every blob decrypted and checked
//! against its id. Then, for each snapshot, whether it can still be restored: its manifest,
//! every base snapshot of its chain and every chunk they name must be intact (damage
//! elsewhere in the repository does not count against it).

use crate::catalog::{Catalog, Index};
use crate::crypto::Repo;
use crate::format::{self, pack_name, Location, Manifest};
use crate::restore::open_blob;
use crate::segment;
use crate::{hex, Error, Result};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

#[derive(Clone, Debug, Default, Serialize)]
pub struct VerifyReport {
    pub snapshots: u64,
    /// Change-feed segment manifests.
    pub segments: u64,
    pub indexes: u64,
    pub packs: u64,
    /// Chunk references (of snapshots and segments).
    pub chunks: u64,
    /// Blobs decrypted and checked (`read_data`).
    pub chunks_read: u64,
    pub bytes_read: u64,
    /// Whether every blob was read (`read_data`); without it, a snapshot is restorable
    /// as far as the repository's structure says.
    pub data_checked: bool,
    /// One line per problem, naming the object or blob.
    pub problems: Vec<String>,
    /// Snapshots that can be restored (of `snapshots`).
    pub restorable: u64,
    /// Every snapshot (damaged manifests too), oldest first.
    pub status: Vec<SnapshotStatus>,
}

/// Whether one snapshot can be restored, and if not, why.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct SnapshotStatus {
    pub id: String,
    /// `full` or `delta`; `None` when the manifest itself is unreadable.
    pub kind: Option<String>,
    pub lsn: Option<u64>,
    pub restorable: bool,
    /// The damaged or missing objects it needs (empty when restorable).
    pub damage: Vec<String>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// At most this many reasons are listed per snapshot (then a count of the others).
const REASONS: usize = 5;

/// What is wrong with each copy of a chunk that the structure check finds bad (no index
/// entry, pack missing or too short); `None`: a copy is present.
fn structure(
    repo: &Repo,
    index: &Index,
    pack_sizes: &mut BTreeMap<String, Option<u64>>,
    c: &str,
) -> Result<Option<String>> {
    let Some(id) = format::unhex32(c) else {
        return Ok(Some(format!("malformed chunk id {c}")));
    };
    let Some(first) = index.map.get(&id) else {
        return Ok(Some(format!(
            "chunk {c} is missing (no index entry){}",
            index.missing_hint()
        )));
    };
    let others = index.alternates.get(&id).map(Vec::as_slice).unwrap_or(&[]);
    let mut why = None;
    for loc in std::iter::once(first).chain(others) {
        let size = match pack_sizes.get(&loc.pack) {
            Some(s) => *s,
            None => {
                let s = repo.store.size(&pack_name(&loc.pack))?;
                pack_sizes.insert(loc.pack.clone(), s);
                s
            }
        };
        let w = match size {
            None => format!(
                "chunk {c} is missing: pack {} does not exist",
                pack_name(&loc.pack)
            ),
            Some(s) if s < loc.offset + loc.len as u64 => format!(
                "chunk {c} is missing: pack {} is truncated ({s} bytes)",
                pack_name(&loc.pack)
            ),
            Some(_) => return Ok(None),
        };
        why.get_or_insert(w);
    }
    Ok(why)
}

pub fn verify(
    repo: &Repo,
    read_data: bool,
    progress: Option<&(dyn Fn(u64, u64) + Sync)>,
) -> Result<VerifyReport> {
    let mut r = VerifyReport {
        data_checked: read_data,
        ..Default::default()
    };
    let index = Index::load(repo)?;
    r.indexes = (repo.store.list("index/")?.len()) as u64;
    for u in &index.damaged {
        r.problems.push(format!("index {}: {}", u.name, u.error));
    }
    let catalog = Catalog::load(repo)?;
    r.snapshots = (catalog.manifests.len() + catalog.damaged.len()) as u64;
    for (_, u) in &catalog.damaged {
        r.problems.push(format!("snapshot {}: {}", u.name, u.error));
    }
    let mut segments: Vec<(String, Vec<String>)> = Vec::new();
    for (_, _, name) in segment::list_all(repo)? {
        r.segments += 1;
        match segment::read_manifest(repo, &name) {
            Ok(m) => segments.push((name, m.chunks)),
            Err(e) => r.problems.push(format!("segment {name}: {e}")),
        }
    }
    // What is wrong with each bad chunk (hex id), found by the structure check and, with
    // `read_data`, by reading every blob.
    let mut bad: HashMap<String, String> = HashMap::new();
    let mut pack_sizes: BTreeMap<String, Option<u64>> = BTreeMap::new();
    let users = catalog
        .manifests
        .iter()
        .map(|m| (format!("snapshot {}", m.id), &m.chunks))
        .chain(segments.iter().map(|(n, c)| (format!("segment {n}"), c)));
    for (what, chunks) in users {
        for c in chunks {
            r.chunks += 1;
            if let Some(why) = structure(repo, &index, &mut pack_sizes, c)? {
                r.problems.push(format!("{what}: {why}"));
                bad.entry(c.clone()).or_insert(why);
            }
        }
    }
    for m in &catalog.manifests {
        if let Err(e) = catalog.chain(m) {
            r.problems.push(format!("snapshot {}: {e}", m.id));
        }
    }
    r.packs = repo.store.list("packs/")?.len() as u64;
    if read_data {
        read_blobs(
            repo,
            &catalog.manifests,
            &segments,
            &index,
            &mut r,
            &mut bad,
            progress,
        )?;
    }
    r.status = status(&catalog, &bad);
    r.restorable = r.status.iter().filter(|s| s.restorable).count() as u64;
    Ok(r)
}

/// Whether each snapshot can be restored, given the bad chunks.
fn status(catalog: &Catalog, bad: &HashMap<String, String>) -> Vec<SnapshotStatus> {
    let mut out: Vec<SnapshotStatus> = Vec::new();
    for m in &catalog.manifests {
        let mut damage = Vec::new();
        match catalog.chain(m) {
            Err(e) => damage.push(e.to_string()),
            Ok(chain) => {
                let mut more = 0usize;
                for cm in &chain {
                    for c in &cm.chunks {
                        let Some(why) = bad.get(c) else { continue };
                        if damage.len() < REASONS {
                            damage.push(if cm.id == m.id {
                                why.clone()
                            } else {
                                format!("{why} (in its base snapshot {})", cm.id)
                            });
                        } else {
                            more += 1;
                        }
                    }
                }
                if more > 0 {
                    damage.push(format!("and {more} more damaged chunk(s)"));
                }
            }
        }
        out.push(SnapshotStatus {
            id: m.id.clone(),
            kind: Some(m.kind.clone()),
            lsn: Some(m.lsn),
            restorable: damage.is_empty(),
            damage,
        });
    }
    for (id, u) in &catalog.damaged {
        out.push(SnapshotStatus {
            id: id.clone(),
            kind: None,
            lsn: None,
            restorable: false,
            damage: vec![format!("its manifest is damaged: {}", u.error)],
        });
    }
    // Ids start with the time in hex: oldest first.
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

/// Decrypt and check every indexed blob; a chunk is bad when no stored copy of it reads.
fn read_blobs(
    repo: &Repo,
    manifests: &[Manifest],
    segments: &[(String, Vec<String>)],
    index: &Index,
    r: &mut VerifyReport,
    bad: &mut HashMap<String, String>,
    progress: Option<&(dyn Fn(u64, u64) + Sync)>,
) -> Result<()> {
    // The first snapshot or segment that uses each chunk, to name it in a problem.
    let mut owner: HashMap<[u8; 32], String> = HashMap::new();
    let users = manifests
        .iter()
        .map(|m| (format!("snapshot {}", m.id), &m.chunks))
        .chain(segments.iter().map(|(n, c)| (format!("segment {n}"), c)));
    for (what, chunks) in users {
        for c in chunks {
            if let Some(id) = format::unhex32(c) {
                owner.entry(id).or_insert_with(|| what.clone());
            }
        }
    }
    let used_by = |id: &[u8; 32]| {
        owner
            .get(id)
            .map(|w| format!(" (used by {w})"))
            .unwrap_or_default()
    };
    let mut by_pack: BTreeMap<&str, Vec<(&[u8; 32], &Location)>> = BTreeMap::new();
    let every = index.map.iter().chain(
        index
            .alternates
            .iter()
            .flat_map(|(id, locs)| locs.iter().map(move |l| (id, l))),
    );
    for (id, l) in every {
        by_pack.entry(&l.pack).or_default().push((id, l));
    }
    let total: u64 = by_pack.values().flatten().map(|(_, l)| l.len as u64).sum();
    // Per chunk: the first failure, and whether some copy read back intact.
    let mut failed: HashMap<[u8; 32], String> = HashMap::new();
    let mut intact: std::collections::HashSet<[u8; 32]> = Default::default();
    for (pack, mut blobs) in by_pack {
        blobs.sort_by_key(|(_, l)| l.offset);
        let name = pack_name(pack);
        let data = match repo.store.get(&name) {
            Ok(d) => d,
            Err(Error::NotFound(_)) => {
                for (id, _) in &blobs {
                    let why = format!("chunk {} is missing: pack {name} does not exist", hex(*id));
                    r.problems.push(format!("{why}{}", used_by(id)));
                    failed.entry(**id).or_insert(why);
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
            match res {
                Ok(()) => {
                    intact.insert(*id);
                }
                Err(why) => {
                    let why = format!("chunk {} in {name} at offset {}: {why}", hex(id), l.offset);
                    r.problems.push(format!("{why}{}", used_by(id)));
                    failed.entry(*id).or_insert(why);
                }
            }
            if let Some(p) = progress {
                p(r.bytes_read, total);
            }
        }
    }
    for (id, why) in failed {
        if !intact.contains(&id) {
            bad.entry(hex(&id)).or_insert(why);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment::{encode_change, SegmentManifest, SegmentWriter};
    use crate::{KdfParams, LocalRepo, Secret};
    use std::path::Path;

    /// A repository holding one segment of about 300 KiB of changes; returns it with the
    /// segment's object name and the path of the pack holding its first chunk.
    fn repo_with_a_segment(dir: &Path) -> (Repo, String, std::path::PathBuf) {
        let repo = Repo::init(
            Box::new(LocalRepo::new(dir)),
            &Secret::Password(b"pw".to_vec()),
            KdfParams {
                m_kib: 256,
                t: 1,
                p: 1,
            },
        )
        .unwrap();
        let mut content = Vec::new();
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for lsn in 1..=300u64 {
            let record: Vec<u8> = (0..1024)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            encode_change(&mut content, lsn, &record);
        }
        let folder = segment::folder(&repo, "src");
        let mut m = SegmentManifest {
            first_lsn: 1,
            last_lsn: 300,
            first_time: 1,
            last_time: 300,
            time: 300,
            changes: 300,
            stream_bytes: 0,
            source: "src".into(),
            digest: String::new(),
            chunks: Vec::new(),
            run: String::new(),
        };
        SegmentWriter::new(&repo)
            .write(&folder, &mut m, &content)
            .unwrap();
        let name = segment::name(&folder, 1, 300);
        let index = crate::create::load_index(&repo).unwrap();
        let loc = &index[&format::unhex32(&m.chunks[0]).unwrap()];
        let pack = dir.join(pack_name(&loc.pack));
        assert!(pack.exists());
        (repo, name, pack)
    }

    #[test]
    fn a_missing_segment_chunk_is_named() {
        let d = tempfile::tempdir().unwrap();
        let (repo, name, pack) = repo_with_a_segment(d.path());
        let r = verify(&repo, true, None).unwrap();
        assert!(r.ok(), "{:?}", r.problems);
        assert_eq!(r.segments, 1);
        assert!(r.chunks >= 1 && r.chunks_read == r.chunks, "{r:?}");
        std::fs::remove_file(&pack).unwrap();
        let r = verify(&repo, false, None).unwrap();
        assert!(!r.ok());
        let p = &r.problems[0];
        assert!(
            p.starts_with(&format!("segment {name}: chunk ")) && p.contains("does not exist"),
            "{p}"
        );
    }

    #[test]
    fn a_flipped_byte_in_a_segment_pack_is_named_with_read_data() {
        let d = tempfile::tempdir().unwrap();
        let (repo, name, pack) = repo_with_a_segment(d.path());
        let mut b = std::fs::read(&pack).unwrap();
        let at = b.len() / 2;
        b[at] ^= 1;
        std::fs::write(&pack, &b).unwrap();
        // The pack is present and long enough: only reading the data finds the damage.
        assert!(verify(&repo, false, None).unwrap().ok());
        let r = verify(&repo, true, None).unwrap();
        let pack_id = pack.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            r.problems.iter().any(|p| p.starts_with("chunk ")
                && p.contains(&pack_id)
                && p.contains("authentication failed")
                && p.ends_with(&format!("(used by segment {name})"))),
            "{:?}",
            r.problems
        );
    }

    #[test]
    fn an_unreadable_segment_manifest_is_named() {
        let d = tempfile::tempdir().unwrap();
        let (repo, name, _) = repo_with_a_segment(d.path());
        let path = d.path().join(&name);
        let mut b = std::fs::read(&path).unwrap();
        b[30] ^= 1;
        std::fs::write(&path, &b).unwrap();
        let r = verify(&repo, false, None).unwrap();
        assert!(
            r.problems
                .iter()
                .any(|p| p.starts_with(&format!("segment {name}: "))),
            "{:?}",
            r.problems
        );
    }
}
