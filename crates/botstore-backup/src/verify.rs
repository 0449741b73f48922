//! `backup verify`: every object readable, every chunk of every snapshot and change-feed
//! segment indexed and its pack present; with `read_data`, every blob decrypted and checked
//! against its id.

use crate::create::chain;
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
    let mut segments: Vec<(String, Vec<String>)> = Vec::new();
    for (_, _, name) in segment::list_all(repo)? {
        r.segments += 1;
        match segment::read_manifest(repo, &name) {
            Ok(m) => segments.push((name, m.chunks)),
            Err(e) => r.problems.push(format!("segment {name}: {e}")),
        }
    }
    let mut pack_sizes: BTreeMap<String, Option<u64>> = BTreeMap::new();
    let mut check = |r: &mut VerifyReport, what: &str, chunks: &[String]| -> Result<()> {
        for c in chunks {
            r.chunks += 1;
            let loc = format::unhex32(c).and_then(|id| index.get(&id));
            let Some(loc) = loc else {
                r.problems
                    .push(format!("{what}: chunk {c} is missing (no index entry)"));
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
                    "{what}: chunk {c} is missing: pack {} does not exist",
                    pack_name(&loc.pack)
                )),
                Some(s) if s < loc.offset + loc.len as u64 => r.problems.push(format!(
                    "{what}: chunk {c} is missing: pack {} is truncated ({s} bytes)",
                    pack_name(&loc.pack)
                )),
                Some(_) => {}
            }
        }
        Ok(())
    };
    for m in &manifests {
        if let Err(e) = chain(&manifests, m) {
            r.problems.push(format!("snapshot {}: {e}", m.id));
        }
        check(&mut r, &format!("snapshot {}", m.id), &m.chunks)?;
    }
    for (name, chunks) in &segments {
        check(&mut r, &format!("segment {name}"), chunks)?;
    }
    r.packs = repo.store.list("packs/")?.len() as u64;
    if read_data {
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
                            "chunk {} is missing: pack {name} does not exist{}",
                            hex(*id),
                            used_by(id)
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
                        "chunk {} in {name} at offset {}: {why}{}",
                        hex(id),
                        l.offset,
                        used_by(id)
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
