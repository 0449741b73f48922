//! The write-ahead journal: one preallocated file, `wal.log`, that holds the write sets of
//! the groups committed since the last checkpoint. A group is durable once its frame is
//! written and `fdatasync`ed; it is applied to redb without an fsync afterwards, and a
//! checkpoint (a redb commit with `Durability::Immediate`) makes the journal's contents
//! redundant, so writing starts again at offset 0 with the next generation number.
//!
//! Frame layout (little-endian; docs/FORMAT.md):
//!
//! ```text
//! magic u32 "BSJ1" | body_len u32 | crc32 u32 (of everything after it) |
//! generation u64 | first_lsn u64 | last_lsn u64 | body
//! body: repeated { table u8 | op u8 (1 put, 0 delete) | key_len u32 | key | [val_len u32 | val] }
//! ```
//!
//! Replay reads frames from offset 0 while the magic, generation, checksum and LSN
//! continuity hold; the first frame that fails any of them is the end of the log (a torn
//! write, zeroes, or a frame left from an older generation).

use crate::io::{DataFile, FileKind, FileLayer, JournalFile};
use botstore::codec::Table;
use botstore::kv::WriteSet;
use botstore::{Error, Result};
use std::os::unix::fs::FileExt;
use std::path::Path;

const MAGIC: u32 = u32::from_le_bytes(*b"BSJ1");
const HEADER: usize = 4 + 4 + 4 + 8 + 8 + 8;

/// How much the journal file grows at a time.
pub const GROW_STEP: u64 = 4 << 20;

/// One decoded frame.
#[derive(Debug, PartialEq)]
pub struct Frame {
    pub generation: u64,
    pub first_lsn: u64,
    pub last_lsn: u64,
    pub writes: Vec<(Table, Vec<u8>, Option<Vec<u8>>)>,
}

/// Encode a write set as a frame into `out` (cleared first).
pub fn encode_frame(
    out: &mut Vec<u8>,
    generation: u64,
    first_lsn: u64,
    last_lsn: u64,
    writes: &WriteSet,
) {
    out.clear();
    out.extend_from_slice(&MAGIC.to_le_bytes());
    out.extend_from_slice(&[0; 8]); // body_len, crc: filled below
    out.extend_from_slice(&generation.to_le_bytes());
    out.extend_from_slice(&first_lsn.to_le_bytes());
    out.extend_from_slice(&last_lsn.to_le_bytes());
    for ((t, k), v) in writes {
        out.push(*t as u8);
        out.push(v.is_some() as u8);
        out.extend_from_slice(&(k.len() as u32).to_le_bytes());
        out.extend_from_slice(k);
        if let Some(v) = v {
            out.extend_from_slice(&(v.len() as u32).to_le_bytes());
            out.extend_from_slice(v);
        }
    }
    let body_len = (out.len() - HEADER) as u32;
    out[4..8].copy_from_slice(&body_len.to_le_bytes());
    let crc = crc32fast::hash(&out[12..]);
    out[8..12].copy_from_slice(&crc.to_le_bytes());
}

/// Decode the frame at the start of `header` + `body`; `None` if it is not a valid frame.
fn decode_body(generation: u64, first_lsn: u64, last_lsn: u64, body: &[u8]) -> Option<Frame> {
    let mut writes = Vec::new();
    let mut p = 0usize;
    let mut take = |n: usize| -> Option<&[u8]> {
        let s = body.get(p..p.checked_add(n)?)?;
        p += n;
        Some(s)
    };
    while let Some(tb) = take(1) {
        let table = Table::from_u8(tb[0])?;
        let op = take(1)?[0];
        let klen = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
        let key = take(klen)?.to_vec();
        let val = match op {
            1 => {
                let vlen = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
                Some(take(vlen)?.to_vec())
            }
            0 => None,
            _ => return None,
        };
        writes.push((table, key, val));
    }
    Some(Frame {
        generation,
        first_lsn,
        last_lsn,
        writes,
    })
}

/// Read every valid frame of `generation` from the start of the file, in order.
pub fn read_frames(file: &impl JournalFile, generation: u64) -> Result<(Vec<Frame>, u64)> {
    let len = file.metadata().map_err(Error::storage)?.len();
    let mut off = 0u64;
    let mut frames: Vec<Frame> = Vec::new();
    let mut hdr = [0u8; HEADER];
    while off + HEADER as u64 <= len {
        file.read_exact_at(&mut hdr, off).map_err(Error::storage)?;
        let word = |i: usize| u32::from_le_bytes([hdr[i], hdr[i + 1], hdr[i + 2], hdr[i + 3]]);
        let long = |i: usize| u64::from_le_bytes(hdr[i..i + 8].try_into().unwrap_or([0; 8]));
        let (magic, body_len, crc) = (word(0), word(4) as u64, word(8));
        let (gen, first, last) = (long(12), long(20), long(28));
        if magic != MAGIC || gen != generation || off + HEADER as u64 + body_len > len {
            break;
        }
        if let Some(prev) = frames.last() {
            if prev.last_lsn.checked_add(1) != Some(first) {
                break;
            }
        }
        let mut body = vec![0u8; body_len as usize];
        file.read_exact_at(&mut body, off + HEADER as u64)
            .map_err(Error::storage)?;
        let mut h = crc32fast::Hasher::new();
        h.update(&hdr[12..]);
        h.update(&body);
        if h.finalize() != crc {
            break;
        }
        match decode_body(gen, first, last, &body) {
            Some(f) => frames.push(f),
            None => break,
        }
        off += HEADER as u64 + body_len;
    }
    Ok((frames, off))
}

/// The journal file, positioned for writing.
pub struct Journal {
    file: DataFile,
    /// Where the next frame goes.
    offset: u64,
    /// Bytes of the file that exist (zero-filled or written).
    allocated: u64,
    /// Bytes after which the writer should checkpoint and wrap.
    capacity: u64,
    pub generation: u64,
    buf: Vec<u8>,
    unsynced: bool,
}

impl Journal {
    /// Open (or create) the journal. The file is extended with real zeroes, in steps of
    /// [`GROW_STEP`], ahead of the write offset: frames then overwrite allocated blocks, so
    /// `fdatasync` has no file-size metadata to write except once per step.
    pub fn open(path: &Path, capacity: u64, generation: u64) -> Result<Journal> {
        Self::open_with(&FileLayer::Plain, path, capacity, generation)
    }

    /// [`Journal::open`] through a file layer.
    pub fn open_with(
        layer: &FileLayer,
        path: &Path,
        capacity: u64,
        generation: u64,
    ) -> Result<Journal> {
        let file = layer
            .open_file(path, FileKind::Journal)
            .map_err(|e| Error::Storage(format!("cannot open journal {}: {e}", path.display())))?;
        let allocated = file.metadata().map_err(Error::storage)?.len();
        let mut j = Journal {
            file,
            offset: 0,
            allocated,
            capacity,
            generation,
            buf: Vec::new(),
            unsynced: false,
        };
        j.allocate(GROW_STEP.min(capacity))?;
        Ok(j)
    }

    /// Make sure the file's first `end` bytes are allocated (zero-filled if new).
    fn allocate(&mut self, end: u64) -> Result<()> {
        if end <= self.allocated {
            return Ok(());
        }
        let target = end
            .max(self.allocated + GROW_STEP)
            .min(end.max(self.capacity));
        let zeros = vec![0u8; 1 << 20];
        let mut off = self.allocated;
        while off < target {
            let n = (target - off).min(zeros.len() as u64) as usize;
            self.file
                .write_all_at(&zeros[..n], off)
                .map_err(|e| Error::Storage(format!("journal grow failed: {e}")))?;
            off += n as u64;
        }
        self.allocated = target;
        Ok(())
    }

    pub fn file(&self) -> &DataFile {
        &self.file
    }

    /// True when the next frame should go into a fresh generation (after a checkpoint).
    pub fn is_full(&self) -> bool {
        self.offset >= self.capacity
    }

    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Write a frame (not yet durable: call [`Journal::sync`]).
    pub fn append(&mut self, first_lsn: u64, last_lsn: u64, writes: &WriteSet) -> Result<()> {
        encode_frame(&mut self.buf, self.generation, first_lsn, last_lsn, writes);
        self.allocate(self.offset + self.buf.len() as u64)?;
        self.file
            .write_all_at(&self.buf, self.offset)
            .map_err(|e| Error::Storage(format!("journal write failed: {e}")))?;
        self.offset += self.buf.len() as u64;
        self.unsynced = true;
        Ok(())
    }

    /// Make every appended frame durable (`fdatasync`).
    pub fn sync(&mut self) -> Result<()> {
        if self.unsynced {
            self.file
                .sync_data()
                .map_err(|e| Error::Storage(format!("journal fdatasync failed: {e}")))?;
            self.unsynced = false;
        }
        Ok(())
    }

    /// Start a new generation at offset 0 (after a checkpoint made the old one redundant).
    pub fn restart(&mut self, generation: u64) {
        self.generation = generation;
        self.offset = 0;
        self.unsynced = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ws(n: u8) -> WriteSet {
        let mut w = WriteSet::new();
        w.insert((Table::Items, vec![n]), Some(vec![n; 3]));
        w.insert((Table::Expiry, vec![n, 1]), None);
        w
    }

    #[test]
    fn frames_round_trip_and_stop_at_damage() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("wal.log");
        let mut j = Journal::open(&p, 4096, 7).unwrap();
        j.append(1, 1, &ws(1)).unwrap();
        j.append(2, 3, &ws(2)).unwrap();
        let end2 = j.offset();
        j.append(4, 4, &ws(3)).unwrap();
        j.sync().unwrap();
        let (frames, end) = read_frames(j.file(), 7).unwrap();
        assert_eq!(frames.len(), 3);
        assert_eq!(end, j.offset());
        assert_eq!(
            frames[1].writes[0],
            (Table::Items, vec![2], Some(vec![2; 3]))
        );
        assert_eq!(frames[1].writes[1], (Table::Expiry, vec![2, 1], None));
        // Another generation's frames are not this one's.
        assert!(read_frames(j.file(), 8).unwrap().0.is_empty());
        // Flip one byte of the third frame: replay ends after the second.
        j.file().write_all_at(&[0xFF], end2 + 40).unwrap();
        let (frames, end) = read_frames(j.file(), 7).unwrap();
        assert_eq!((frames.len(), end), (2, end2));
        // After a restart, frames of the new generation come first; old ones are ignored.
        j.restart(8);
        j.append(5, 5, &ws(9)).unwrap();
        let (frames, _) = read_frames(j.file(), 8).unwrap();
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].first_lsn, 5);
    }

    #[test]
    fn a_gap_in_lsns_ends_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(&dir.path().join("wal.log"), 4096, 1).unwrap();
        j.append(1, 2, &ws(1)).unwrap();
        j.append(5, 5, &ws(2)).unwrap();
        assert_eq!(read_frames(j.file(), 1).unwrap().0.len(), 1);
    }
}
