//! Change-feed segments: the store's change records between two LSNs, shipped by
//! `backup follow` for point-in-time restore.
//!
//! A segment's content is its change records back to back, each `varint(lsn) |
//! varint(length) | change record` (the store's own change encoding, `FORMAT.md`, which
//! holds the commit time). The content is cut into chunks, sealed and packed exactly like
//! a snapshot's record stream; the segment manifest (`segments/<tag>/<first>-<last>`, a
//! sealed JSON object) lists the chunks. Layout: `docs/BACKUP-FORMAT.md`.

use crate::catalog::Index;
use crate::create::{CHUNK_AVG, CHUNK_MAX, CHUNK_MIN};
use crate::crypto::Repo;
use crate::format::{self, get_varint, pack_name, put_varint, Location};
use crate::{hex, Error, Result};
use botstore::model::Change;
use serde::{Deserialize, Serialize};

/// A segment manifest.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SegmentManifest {
    /// The LSNs it covers, both included: every change of the store in this range is in
    /// the segment (LSNs with no change record have none to hold).
    pub first_lsn: u64,
    pub last_lsn: u64,
    /// Commit times (ms) of its first and last change record (0 when it holds none).
    pub first_time: i64,
    pub last_time: i64,
    /// When the read view it was cut from was taken (ms): the store had no change after
    /// `last_lsn` at that moment, so the segment describes the store up to this time.
    pub time: i64,
    pub changes: u64,
    pub stream_bytes: u64,
    /// The source, as in snapshot manifests.
    pub source: String,
    /// Keyed BLAKE3 (chunk-id key) of the content, hex.
    pub digest: String,
    /// Chunk ids (hex), in order.
    pub chunks: Vec<String>,
    /// The follow run whose index (`index/<run>`) holds the chunks.
    pub run: String,
}

/// The folder of a source's segments: `segments/<tag>/`, with `tag` the first 16 hex
/// characters of the keyed hash of the source name (which stays secret).
pub fn folder(repo: &Repo, source: &str) -> String {
    let h = repo.chunk_id(format!("botstore segment source\0{source}").as_bytes());
    format!("segments/{}/", &hex(&h)[..16])
}

pub fn name(folder: &str, first: u64, last: u64) -> String {
    format!("{folder}{first:020}-{last:020}")
}

/// `(first, last)` from a segment object name.
pub fn parse_name(name: &str) -> Option<(u64, u64)> {
    let base = name.rsplit('/').next()?;
    let (a, b) = base.split_once('-')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// Every segment object of a folder as `(first, last, name)`, by first LSN.
pub fn list(repo: &Repo, folder: &str) -> Result<Vec<(u64, u64, String)>> {
    let mut out: Vec<_> = repo
        .store
        .list(folder)?
        .into_iter()
        .filter_map(|n| parse_name(&n).map(|(a, b)| (a, b, n)))
        .collect();
    out.sort();
    Ok(out)
}

/// Every segment object of the repository, any source.
pub fn list_all(repo: &Repo) -> Result<Vec<(u64, u64, String)>> {
    list(repo, "segments/")
}

pub fn read_manifest(repo: &Repo, name: &str) -> Result<SegmentManifest> {
    let body = repo.get_object(name)?;
    serde_json::from_slice(&body)
        .map_err(|e| Error::Corrupt(format!("{name}: bad segment manifest: {e}")))
}

/// A segment manifest with its object name.
pub type Named = (String, SegmentManifest);

/// Every readable segment manifest of the repository (any source) with its object name,
/// by source folder then first LSN (`backup ls`), and the unreadable ones.
pub fn manifests(repo: &Repo) -> Result<(Vec<Named>, Vec<crate::catalog::Unreadable>)> {
    // `list_all` sorts by first LSN; regroup by folder (one per source), keeping that order.
    let mut out = Vec::new();
    let mut damaged = Vec::new();
    for (_, _, name) in list_all(repo)? {
        match read_manifest(repo, &name) {
            Ok(m) => out.push((name, m)),
            Err(e) => damaged.push(crate::catalog::Unreadable {
                error: e.to_string(),
                name,
            }),
        }
    }
    out.sort_by(|(a, ma), (b, mb)| {
        let folder = |n: &str| n.rsplit_once('/').map_or(String::new(), |(f, _)| f.into());
        (folder(a), ma.first_lsn).cmp(&(folder(b), mb.first_lsn))
    });
    Ok((out, damaged))
}

/// Every chunk id the segments reference (for prune: segment chunks are live data).
pub fn chunk_refs(repo: &Repo) -> Result<std::collections::HashSet<[u8; 32]>> {
    let mut out = std::collections::HashSet::new();
    for (_, _, name) in list_all(repo)? {
        for c in read_manifest(repo, &name)?.chunks {
            out.insert(
                format::unhex32(&c)
                    .ok_or_else(|| Error::Corrupt(format!("{name}: malformed chunk id {c}")))?,
            );
        }
    }
    Ok(out)
}

/// Append one change to a segment's content.
pub fn encode_change(out: &mut Vec<u8>, lsn: u64, record: &[u8]) {
    put_varint(out, lsn);
    put_varint(out, record.len() as u64);
    out.extend_from_slice(record);
}

/// The changes of a segment's content, in order; `codecs` opens the values they copy (the
/// stack of the store that wrote them).
pub fn decode_changes(
    name: &str,
    codecs: &botstore::CodecStack,
    mut b: &[u8],
) -> Result<Vec<Change>> {
    let bad = || Error::Corrupt(format!("{name}: malformed change record"));
    let mut out = Vec::new();
    while !b.is_empty() {
        let (lsn, n) = get_varint(b).ok_or_else(bad)?;
        b = &b[n..];
        let (len, n) = get_varint(b).ok_or_else(bad)?;
        b = &b[n..];
        let len = usize::try_from(len).map_err(|_| bad())?;
        if len > b.len() {
            return Err(bad());
        }
        let c = botstore::codec::decode_change(codecs, lsn, &b[..len])
            .map_err(|e| Error::Corrupt(format!("{name}: change {lsn}: {e}")))?;
        out.push(c);
        b = &b[len..];
    }
    Ok(out)
}

/// Read a segment's content: every chunk checked, then its digest.
pub fn read_content(
    repo: &Repo,
    index: &Index,
    name: &str,
    m: &SegmentManifest,
) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(m.stream_bytes as usize);
    for c in &m.chunks {
        out.extend_from_slice(&index.read(repo, c)?);
    }
    if hex(repo.hasher().update(&out).finalize().as_bytes()) != m.digest {
        return Err(Error::Corrupt(format!(
            "{name}: content digest does not match the segment manifest"
        )));
    }
    Ok(out)
}

/// Index entries per follow run before a new run (and index object) starts, so that the
/// index rewritten after every segment stays small.
const RUN_ENTRIES: usize = 2048;

/// Writes segments: chunks into one pack per segment, this run's index, then the manifest.
pub struct SegmentWriter<'a> {
    repo: &'a Repo,
    zstd_level: i32,
    run: String,
    entries: Vec<([u8; 32], Location)>,
}

impl<'a> SegmentWriter<'a> {
    pub fn new(repo: &'a Repo) -> Self {
        SegmentWriter {
            repo,
            zstd_level: 1,
            run: hex(&crate::random::<16>()),
            entries: Vec::new(),
        }
    }

    /// Store a segment; returns the bytes added to the repository.
    pub fn write(&mut self, folder: &str, m: &mut SegmentManifest, content: &[u8]) -> Result<u64> {
        if self.entries.len() >= RUN_ENTRIES {
            self.run = hex(&crate::random::<16>());
            self.entries.clear();
        }
        let repo = self.repo;
        let mut pack = Vec::with_capacity(content.len() / 2 + 1024);
        let mut chunks = Vec::new();
        let mut located = Vec::new();
        if !content.is_empty() {
            for c in fastcdc::v2020::FastCDC::new(content, CHUNK_MIN, CHUNK_AVG, CHUNK_MAX) {
                let data = &content[c.offset..c.offset + c.length];
                let id = repo.chunk_id(data);
                let z = zstd::bulk::compress(data, self.zstd_level)
                    .map_err(|e| Error::Io(format!("zstd: {e}")))?;
                let blob = repo.seal(&id, z);
                located.push((id, pack.len() as u64, blob.len() as u32, data.len() as u32));
                pack.extend_from_slice(&blob);
                chunks.push(hex(&id));
            }
        }
        let mut added = 0u64;
        if !pack.is_empty() {
            let pid = hex(blake3::hash(&pack).as_bytes());
            repo.store.put(&pack_name(&pid), &pack)?;
            added += pack.len() as u64;
            for (id, offset, len, plain_len) in located {
                self.entries.push((
                    id,
                    Location {
                        pack: pid.clone(),
                        offset,
                        len,
                        plain_len,
                    },
                ));
            }
            added += repo.put_object(
                &format!("index/{}", self.run),
                &format::encode_index(&self.entries),
            )?;
        }
        m.chunks = chunks;
        m.run = self.run.clone();
        m.stream_bytes = content.len() as u64;
        m.digest = hex(repo.hasher().update(content).finalize().as_bytes());
        let body =
            serde_json::to_vec(&m).map_err(|e| Error::Io(format!("segment manifest: {e}")))?;
        added += repo.put_object(&name(folder, m.first_lsn, m.last_lsn), &body)?;
        Ok(added)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let n = name("segments/0123456789abcdef/", 12, 345);
        assert_eq!(
            n,
            "segments/0123456789abcdef/00000000000000000012-00000000000000000345"
        );
        assert_eq!(parse_name(&n), Some((12, 345)));
        assert_eq!(parse_name("segments/x/bad"), None);
    }
}
