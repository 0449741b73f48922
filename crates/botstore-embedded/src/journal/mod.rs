//! The write-ahead journal: one preallocated file, `wal.log`, that holds the write sets of
//! the groups committed since the last checkpoint. A group is durable once its frame is
//! written and `fdatasync`ed; it is applied to redb without an fsync afterwards, and a
//! checkpoint (a redb commit with `Durability::Immediate`) makes the journal's contents
//! redundant, so writing starts again at offset 0 with the next generation number.
//!
//! Frame layout (little-endian; docs/FORMAT.md):
//!
//! ```text
//! magic u32 "BSJ3" | body_len u32 | crc32 u32 (of magic, body_len and everything after) |
//! store_id u64 | generation u64 | first_lsn u64 | last_lsn u64 | body
//! body: repeated { table u8 | op u8 (1 put, 0 delete) | key_len u32 | key | [val_len u32 | val] }
//! ```
//!
//! Version 2 frames ("BSJ2", whose check leaves out the magic and length) and version 1
//! frames ("BSJ1", no store id), written by earlier builds, are still read.
//!
//! Replay ([`replay`]) takes frames from offset 0 while the magic, store, generation,
//! checksum and LSN continuity hold, then scans the rest of the file: if a valid frame of
//! the same generation lies beyond the first bad one, the log is damaged in the middle and
//! open refuses; otherwise the bad bytes are a torn tail (an unacknowledged write) and are
//! dropped.

pub mod checks;
pub mod replay;

use crate::faults::io_error;
use crate::io::{DataFile, FileKind, FileLayer, JournalFile};
use botstore::codec::Table;
use botstore::kv::WriteSet;
use botstore::{Error, Result};
use std::os::unix::fs::FileExt;
use std::path::Path;

use replay::{frame_check, HEADER_V1, HEADER_V2, MAGIC_V1, MAGIC_V3};

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

/// Encode a write set as a (version 2) frame of store `store_id` into `out` (cleared
/// first).
pub fn encode_frame(
    out: &mut Vec<u8>,
    store_id: u64,
    generation: u64,
    first_lsn: u64,
    last_lsn: u64,
    writes: &WriteSet,
) {
    encode(
        out,
        3,
        Some(store_id),
        generation,
        first_lsn,
        last_lsn,
        writes,
    );
}

/// Encode a version 2 frame (its check leaves out the magic and length), as builds before
/// version 3 wrote them: for tests of reading old journals.
pub fn encode_frame_v2(
    out: &mut Vec<u8>,
    store_id: u64,
    generation: u64,
    first_lsn: u64,
    last_lsn: u64,
    writes: &WriteSet,
) {
    encode(
        out,
        2,
        Some(store_id),
        generation,
        first_lsn,
        last_lsn,
        writes,
    );
}

/// Encode a version 1 frame (no store id), as builds before store ids wrote them: for
/// tests of reading old journals.
pub fn encode_frame_v1(
    out: &mut Vec<u8>,
    generation: u64,
    first_lsn: u64,
    last_lsn: u64,
    writes: &WriteSet,
) {
    encode(out, 1, None, generation, first_lsn, last_lsn, writes);
}

/// A frame of `version` (1 without a store id, 2 or 3 with one) into `out`.
fn encode(
    out: &mut Vec<u8>,
    version: u8,
    store_id: Option<u64>,
    generation: u64,
    first_lsn: u64,
    last_lsn: u64,
    writes: &WriteSet,
) {
    out.clear();
    out.extend_from_slice(match version {
        1 => &MAGIC_V1,
        2 => &replay::MAGIC_V2,
        _ => &MAGIC_V3,
    });
    out.extend_from_slice(&[0; 8]); // body_len, crc: filled below
    if let Some(id) = store_id {
        out.extend_from_slice(&id.to_le_bytes());
    }
    let header = if store_id.is_some() {
        HEADER_V2
    } else {
        HEADER_V1
    };
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
    let body_len = (out.len() - header) as u32;
    out[4..8].copy_from_slice(&body_len.to_le_bytes());
    let crc = frame_check(version, out);
    out[8..12].copy_from_slice(&crc.to_le_bytes());
}

/// Decode a frame's body; `None` if it is not a valid body.
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

/// The whole journal file's bytes (empty if there is none), read through the file layer.
/// Nothing is created or changed on disk.
pub fn read_file(layer: &FileLayer, path: &Path) -> Result<Vec<u8>> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let err =
        |e: std::io::Error| Error::Storage(format!("cannot read journal {}: {e}", path.display()));
    let f = layer.open_file(path, FileKind::Journal).map_err(err)?;
    let len = f.metadata().map_err(err)?.len();
    let mut bytes = vec![0u8; len as usize];
    f.read_exact_at(&mut bytes, 0).map_err(err)?;
    Ok(bytes)
}

/// The valid prefix of frames of `generation` (of any store) and where it ends: what
/// replay applies, without the checks of what follows ([`replay::scan`] does those).
pub fn read_frames(file: &impl JournalFile, generation: u64) -> Result<(Vec<Frame>, u64)> {
    let len = file.metadata().map_err(Error::storage)?.len();
    let mut bytes = vec![0u8; len as usize];
    file.read_exact_at(&mut bytes, 0).map_err(Error::storage)?;
    let s = replay::scan(
        &bytes,
        &replay::Expect {
            generation,
            owner: replay::Owner::Any,
        },
    );
    Ok((s.frames, s.end))
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
    /// The store's id, written into every frame (set by open).
    pub store_id: u64,
    buf: Vec<u8>,
    unsynced: bool,
    /// Tests: the next `fdatasync`s fail with this OS error code.
    #[cfg(test)]
    pub fail_sync: Option<i32>,
}

impl Journal {
    /// Open (or create) the journal. The file is extended with real zeroes, in steps of
    /// [`GROW_STEP`], ahead of the write offset: frames then overwrite allocated blocks, so
    /// `fdatasync` has no file-size metadata to write except once per step.
    pub fn open(path: &Path, capacity: u64, generation: u64) -> Result<Journal> {
        let mut j = Journal::open_file(&FileLayer::Plain, path, capacity, generation)?;
        j.ensure_allocated()?;
        Ok(j)
    }

    /// [`Journal::open`] through a file layer.
    pub fn open_with(
        layer: &FileLayer,
        path: &Path,
        capacity: u64,
        generation: u64,
    ) -> Result<Journal> {
        let mut j = Journal::open_file(layer, path, capacity, generation)?;
        j.ensure_allocated()?;
        Ok(j)
    }

    /// Open (or create) the journal through `layer` without allocating anything: on a
    /// full disk the frames it holds can still be read ([`Journal::ensure_allocated`]
    /// comes later).
    pub fn open_file(
        layer: &FileLayer,
        path: &Path,
        capacity: u64,
        generation: u64,
    ) -> Result<Journal> {
        let file = layer
            .open_file(path, FileKind::Journal)
            .map_err(|e| io_error(&format!("cannot open journal {}", path.display()), &e))?;
        let allocated = file
            .metadata()
            .map_err(|e| io_error("cannot read the journal's size", &e))?
            .len();
        Ok(Journal {
            file,
            offset: 0,
            allocated,
            capacity,
            generation,
            store_id: 0,
            buf: Vec::new(),
            unsynced: false,
            #[cfg(test)]
            fail_sync: None,
        })
    }

    /// Make sure the first grow step (or the whole journal, if smaller) is allocated.
    pub fn ensure_allocated(&mut self) -> Result<()> {
        self.allocate(GROW_STEP.min(self.capacity))
    }

    /// Make sure the file's first `end` bytes are allocated (zero-filled if new). On a
    /// failure (`Error::NoSpace` for a full disk) nothing is counted as allocated beyond
    /// what was before; a later call writes the zeroes again.
    pub fn allocate(&mut self, end: u64) -> Result<()> {
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
                .map_err(|e| io_error("journal grow failed", &e))?;
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

    /// Write a frame (not yet durable: call [`Journal::sync`]). On a failure the frame is
    /// not counted and the bytes it may have left are overwritten with zeroes (best
    /// effort): the next frame goes to the same offset, and replay after a crash never
    /// finds the failed one.
    pub fn append(&mut self, first_lsn: u64, last_lsn: u64, writes: &WriteSet) -> Result<()> {
        encode_frame(
            &mut self.buf,
            self.store_id,
            self.generation,
            first_lsn,
            last_lsn,
            writes,
        );
        let end = self.offset + self.buf.len() as u64;
        self.allocate(end)?;
        if let Err(e) = self.file.write_all_at(&self.buf, self.offset) {
            let len = self.buf.len() as u64;
            self.erase(self.offset, len);
            return Err(io_error("journal write failed", &e));
        }
        self.offset = end;
        self.unsynced = true;
        Ok(())
    }

    /// Make every appended frame durable (`fdatasync`). A failure leaves the journal in
    /// doubt (Linux may have marked the failed pages clean without writing them, so a
    /// retried `fdatasync` could succeed over a hole): the caller must not acknowledge
    /// anything through this journal generation again; the writer checkpoints instead,
    /// which makes the generation redundant. See docs/ARCHITECTURE.md, "A full disk".
    pub fn sync(&mut self) -> Result<()> {
        if self.unsynced {
            #[cfg(test)]
            if let Some(code) = self.fail_sync {
                let e = std::io::Error::from_raw_os_error(code);
                return Err(io_error("journal fdatasync failed", &e));
            }
            self.file
                .sync_data()
                .map_err(|e| io_error("journal fdatasync failed", &e))?;
            self.unsynced = false;
        }
        Ok(())
    }

    /// Forget the last frame (`len` bytes, ending at the current offset) after its
    /// `fdatasync` failed: its bytes are zeroed (best effort) and a later frame goes where
    /// it was. The group it carried was reported failed and must never be replayed.
    pub fn retract(&mut self, len: u64) {
        let start = self.offset.saturating_sub(len);
        self.erase(start, len);
        self.offset = start;
    }

    /// Zero `len` bytes at `off` and try to flush them (a failure is ignored: the caller
    /// already failed, and the writer's recovery makes the bytes irrelevant).
    fn erase(&mut self, off: u64, len: u64) {
        let zeros = vec![0u8; len.min(self.allocated.saturating_sub(off)) as usize];
        if self.file.write_all_at(&zeros, off).is_ok() {
            let _ = self.file.sync_data();
        }
    }

    /// Continue the current generation after its last valid frame (`offset`, the end
    /// [`read_frames`] returned): used when the journal could not be recycled at open.
    pub fn resume_at(&mut self, offset: u64) {
        self.offset = offset;
    }

    /// The length of the last frame written (for [`Journal::retract`]).
    pub fn last_frame_len(&self) -> u64 {
        self.buf.len() as u64
    }

    /// Start a new generation at offset 0 (after a checkpoint made the old one redundant).
    /// After the final checkpoint of a clean close: every frame in the file is of an older
    /// generation, so the file is cut to nothing rather than keep its preallocated (and
    /// written) bytes on the disk while the store is closed; the next open allocates again.
    /// A crash before the cut leaves frames the next open skips as older.
    pub fn truncate_after_checkpoint(&mut self) -> Result<()> {
        self.file
            .set_len(0)
            .map_err(|e| io_error("journal truncate failed", &e))?;
        self.allocated = 0;
        Ok(())
    }

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
