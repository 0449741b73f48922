//! `journal_replay`: the write-ahead journal as replay finds it after a crash. Its bytes are
//! whatever the disk holds (torn frames, zeroes, frames of older generations, bit rot), so
//! replay must stop cleanly at the first bad frame and never panic.

use botstore::kv::WriteSet;
use botstore_embedded::journal::replay::{frame_check, parse_header};
use botstore_embedded::journal::{
    encode_frame, encode_frame_v1, encode_frame_v2, read_frames, Frame,
};
use std::cell::RefCell;
use std::fs::File;
use std::os::unix::fs::FileExt;

/// Header bytes of a version 1 frame: magic, body_len, crc, generation, first and last
/// LSN (versions 2 and 3 add the store id; `parse_header` tells them apart).
const HEADER: usize = 4 + 4 + 4 + 8 + 8 + 8;

thread_local! {
    /// Two anonymous temp files (no name, gone with the process), reused across inputs.
    static FILES: RefCell<Option<(File, File)>> = const { RefCell::new(None) };
}

fn fill(f: &File, data: &[u8]) {
    f.set_len(0).expect("truncate temp file");
    f.write_all_at(data, 0).expect("write temp file");
}

fn anon() -> File {
    tempfile::tempfile().expect("create temp file")
}

/// Input: one byte, then the journal file's bytes. The byte's low 7 bits are the
/// generation replay asks for. Its high bit asks the harness to recompute the checksum of
/// every frame-shaped chunk first: a mutated frame almost never keeps a valid CRC, so
/// without this the fuzzer would only ever reach the "bad checksum, end of log" path and
/// never the body decoder or the LSN checks behind it.
pub fn check(data: &[u8]) {
    let Some((&g, log)) = data.split_first() else {
        return;
    };
    let generation = u64::from(g & 0x7F);
    let mut log = log.to_vec();
    if g & 0x80 != 0 {
        fix_checksums(&mut log);
    }
    FILES.with(|cell| {
        let mut cell = cell.borrow_mut();
        let (file, scratch) = cell.get_or_insert_with(|| (anon(), anon()));
        fill(file, &log);
        check_file(file, scratch, &log, generation);
    });
}

/// Walk the bytes as consecutive frames (by their `body_len`) and set each one's CRC (by
/// its version's rule: a chunk without a frame magic gets version 2's).
pub fn fix_checksums(log: &mut [u8]) {
    let mut off = 0usize;
    while off + HEADER <= log.len() {
        let (header, version) =
            parse_header(&log[off..]).map_or((HEADER, 2), |h| (h.header_len, h.version));
        let body_len = u32::from_le_bytes(log[off + 4..off + 8].try_into().unwrap()) as usize;
        let Some(end) = (off + header)
            .checked_add(body_len)
            .filter(|&e| e <= log.len())
        else {
            return;
        };
        let crc = frame_check(version, &log[off..end]);
        log[off + 8..off + 12].copy_from_slice(&crc.to_le_bytes());
        off = end;
    }
}

fn check_file(file: &File, scratch: &File, log: &[u8], generation: u64) {
    let (frames, end) =
        read_frames(file, generation).expect("reading a regular file does not fail");
    assert!(end as usize <= log.len(), "replay ended past the file");

    // Every frame is of the asked generation, LSNs continue, and the frames tile the
    // file from offset 0 to `end`.
    let mut off = 0usize;
    let mut again = Vec::new();
    let mut expected = Vec::new();
    let mut buf = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        assert_eq!(f.generation, generation);
        if i > 0 {
            assert_eq!(Some(f.first_lsn), frames[i - 1].last_lsn.checked_add(1));
        }
        let h = parse_header(&log[off..]).expect("a replayed frame has a header");
        let original = &log[off..off + h.frame_len()];

        // Re-encode the writes the way the writer frames them (a WriteSet: ordered, one
        // write per key, the last one wins as it does when replay applies them in order).
        let mut ws = WriteSet::new();
        for (t, k, v) in &f.writes {
            ws.insert((*t, k.clone()), v.clone());
        }
        match (h.version, h.store_id) {
            (3, Some(id)) => encode_frame(&mut buf, id, f.generation, f.first_lsn, f.last_lsn, &ws),
            (_, Some(id)) => {
                encode_frame_v2(&mut buf, id, f.generation, f.first_lsn, f.last_lsn, &ws)
            }
            (_, None) => encode_frame_v1(&mut buf, f.generation, f.first_lsn, f.last_lsn, &ws),
        }
        let canonical = f
            .writes
            .windows(2)
            .all(|w| (w[0].0, &w[0].1) < (w[1].0, &w[1].1));
        if canonical {
            // The layout has one encoding per write set: the frame must be byte-identical.
            assert_eq!(
                buf, original,
                "frame {i} does not re-encode to its own bytes"
            );
        }
        again.extend_from_slice(&buf);
        expected.push(Frame {
            generation: f.generation,
            first_lsn: f.first_lsn,
            last_lsn: f.last_lsn,
            writes: ws.into_iter().map(|((t, k), v)| (t, k, v)).collect(),
        });
        off += original.len();
    }
    assert_eq!(off as u64, end, "frames do not end where replay says");

    // The re-encoded frames read back as the same frames.
    fill(scratch, &again);
    let (back, back_end) = read_frames(scratch, generation).expect("read re-encoded frames");
    assert_eq!(back_end as usize, again.len());
    assert_eq!(back, expected, "re-encoded frames read back differently");
}
