//! Reading the journal back after a crash: the valid prefix of frames, and a classification
//! of everything after it, so that a torn tail (normal after a crash) is told apart from
//! damage in the middle (a bad frame followed by valid frames of the same generation),
//! and a journal that belongs to another store or to a newer checkpoint is noticed.
//!
//! The scan works on the file's bytes in memory ([`scan`]), so it is a pure function of
//! those bytes and what the store expects ([`Expect`]); the fuzz target calls it directly.
//!
//! After the prefix ends, every later offset is tried: frames are not aligned, so the scan
//! looks for a frame magic at each byte, then checks the header and the checksum. A valid
//! frame found that way is skipped as a whole (frames inside it are values, not frames).

use super::{decode_body, Frame};

pub const MAGIC_V1: [u8; 4] = *b"BSJ1";
pub const MAGIC_V2: [u8; 4] = *b"BSJ2";
/// Version 3: version 2's layout, with the check covering the magic and the body length
/// too, so that damage there cannot turn a frame into another valid one (a version 2 frame
/// whose magic reads `BSJ1` and whose length grew by 8 checked again as a version 1 frame
/// of another store).
pub const MAGIC_V3: [u8; 4] = *b"BSJ3";
/// magic, body_len, crc, generation, first and last LSN.
pub const HEADER_V1: usize = 4 + 4 + 4 + 8 + 8 + 8;
/// magic, body_len, crc, store id, generation, first and last LSN.
pub const HEADER_V2: usize = 4 + 4 + 4 + 8 + 8 + 8 + 8;

/// A frame header as written; nothing in it is verified before the checksum is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The frame format's version (1, 2 or 3).
    pub version: u8,
    /// `None` for a version 1 frame (written before stores had an id).
    pub store_id: Option<u64>,
    pub generation: u64,
    pub first_lsn: u64,
    pub last_lsn: u64,
    pub header_len: usize,
    pub body_len: usize,
}

impl Header {
    pub fn frame_len(&self) -> usize {
        self.header_len + self.body_len
    }
}

fn le32(b: &[u8], i: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(i..i + 4)?.try_into().ok()?))
}

fn le64(b: &[u8], i: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(i..i + 8)?.try_into().ok()?))
}

/// The header at the start of `b`, if `b` starts with a frame magic and holds a header.
pub fn parse_header(b: &[u8]) -> Option<Header> {
    let magic = b.get(0..4)?;
    let (version, header_len, fields) = if magic == MAGIC_V1 {
        (1, HEADER_V1, 12)
    } else if magic == MAGIC_V2 {
        (2, HEADER_V2, 20)
    } else if magic == MAGIC_V3 {
        (3, HEADER_V2, 20)
    } else {
        return None;
    };
    let store_id = if header_len == HEADER_V2 {
        Some(le64(b, 12)?)
    } else {
        None
    };
    Some(Header {
        version,
        store_id,
        generation: le64(b, fields)?,
        first_lsn: le64(b, fields + 8)?,
        last_lsn: le64(b, fields + 16)?,
        header_len,
        body_len: le32(b, 4)? as usize,
    })
}

/// The frame at the start of `b` if it is whole and its checksum holds: header and body.
pub fn checked_frame(b: &[u8]) -> Option<(Header, &[u8])> {
    let h = parse_header(b)?;
    let end = h.header_len.checked_add(h.body_len)?;
    let frame = b.get(..end)?;
    if frame_check(h.version, frame) != le32(frame, 8)? {
        return None;
    }
    Some((h, &frame[h.header_len..]))
}

/// The check of a whole frame (its check field, bytes 8..12, left out): of every byte
/// after the field, and from version 3 on of the magic and body length before it too.
pub fn frame_check(version: u8, frame: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    if version >= 3 {
        h.update(&frame[..8.min(frame.len())]);
    }
    h.update(frame.get(12..).unwrap_or(&[]));
    h.finalize()
}

/// Whose frames the store accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// Any frame (tools that read a journal without its store).
    Any,
    /// A store written by a build without store ids: version 1 frames only.
    Legacy,
    /// The store with this id: version 2 frames with this id (version 1 frames are older
    /// than the id, so only ever stale).
    Id(u64),
}

/// What the store expects of its journal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expect {
    /// The generation recorded by the last checkpoint: only its frames are replayed.
    pub generation: u64,
    pub owner: Owner,
}

/// Where a frame lies in the file and what it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub offset: u64,
    pub len: u64,
    pub generation: u64,
    pub first_lsn: u64,
    pub last_lsn: u64,
    /// Key/value writes in the frame (0 when its body does not decode).
    pub writes: usize,
}

/// Damage in the middle of the log: the prefix ends at a bad frame (or at a valid frame
/// whose LSNs do not continue the prefix), and valid frames of this generation follow.
#[derive(Debug, PartialEq)]
pub struct Damage {
    /// Where the prefix ends: the first byte of the bad frame.
    pub offset: u64,
    /// Its number in the log, counting from 0 (= frames in the prefix).
    pub frame: usize,
    /// Why the frame there is not accepted.
    pub reason: String,
    /// The LSNs the bad frame's header claims, when it has a readable header of this
    /// store and generation (unverified: the checksum failed).
    pub claimed: Option<(u64, u64)>,
    /// The valid frames of this generation after the damage, in file order.
    pub following: Vec<Frame>,
    pub following_spans: Vec<Span>,
    /// Offsets of following frames whose checksum holds but whose body does not decode.
    pub undecodable: Vec<u64>,
}

impl Damage {
    /// LSNs of the frames that follow: first..=last.
    pub fn following_lsns(&self) -> Option<(u64, u64)> {
        Some((
            self.following_spans.first()?.first_lsn,
            self.following_spans.last()?.last_lsn,
        ))
    }

    pub fn following_writes(&self) -> usize {
        self.following_spans.iter().map(|s| s.writes).sum()
    }
}

/// Bytes after the prefix that look like the start of a frame of this log but are not
/// whole: a torn write (or damage to the last frame, which cannot be told apart).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Torn {
    pub offset: u64,
    pub bytes: u64,
}

/// Everything a scan found.
#[derive(Debug, Default, PartialEq)]
pub struct Scan {
    /// The valid prefix: the frames replay applies.
    pub frames: Vec<Frame>,
    pub spans: Vec<Span>,
    /// Where the prefix ends.
    pub end: u64,
    pub file_len: u64,
    /// Damage in the middle (valid frames of this generation follow the prefix).
    pub damage: Option<Damage>,
    /// A torn tail that was dropped (only when `damage` is `None`).
    pub torn: Option<Torn>,
    /// Valid frames of this store of a newer generation than expected.
    pub newer: Vec<Span>,
    /// Valid frames of another store (their store id, where they are).
    pub foreign: Vec<(Option<u64>, Span)>,
    /// Valid frames of older generations (left from before a checkpoint: normal).
    pub stale: usize,
}

impl Scan {
    /// True when replaying the prefix loses nothing that the journal holds.
    pub fn is_clean(&self) -> bool {
        self.damage.is_none() && self.newer.is_empty() && self.foreign.is_empty()
    }

    /// Valid frames of this store anywhere in the file, of any generation.
    pub fn any_valid_frames(&self) -> bool {
        !self.frames.is_empty()
            || self.damage.is_some()
            || !self.newer.is_empty()
            || self.stale > 0
            || !self.foreign.is_empty()
    }
}

enum Class {
    Current,
    Newer,
    Stale,
    Foreign,
}

fn classify(h: &Header, e: &Expect) -> Class {
    let ours = match (e.owner, h.store_id) {
        (Owner::Any, _) | (Owner::Legacy, None) => true,
        (Owner::Legacy, Some(_)) => false,
        (Owner::Id(id), Some(f)) => id == f,
        // Version 1 frames predate this store's id: only stale ones can be its own.
        (Owner::Id(_), None) => h.generation < e.generation,
    };
    if !ours {
        Class::Foreign
    } else if h.generation == e.generation {
        Class::Current
    } else if h.generation > e.generation {
        Class::Newer
    } else {
        Class::Stale
    }
}

fn span(offset: usize, h: &Header, writes: usize) -> Span {
    Span {
        offset: offset as u64,
        len: h.frame_len() as u64,
        generation: h.generation,
        first_lsn: h.first_lsn,
        last_lsn: h.last_lsn,
        writes,
    }
}

/// Scan a journal's bytes: the valid prefix of frames of the expected generation and
/// store, with continuous LSNs, and what lies after it.
pub fn scan(bytes: &[u8], expect: &Expect) -> Scan {
    let mut out = Scan {
        file_len: bytes.len() as u64,
        ..Scan::default()
    };
    let mut off = 0usize;
    // Why the prefix ended, for a damage report.
    let mut reason = String::from("end of file");
    let mut claimed = None;
    while let Some(rest) = bytes.get(off..) {
        let Some(h) = parse_header(rest) else {
            if rest.len() >= 4 {
                reason = "no frame magic".into();
            }
            break;
        };
        let Some((h, body)) = checked_frame(rest) else {
            if matches!(classify(&h, expect), Class::Current) {
                reason = if rest.len() < h.frame_len() {
                    "the frame runs past the end of the file".into()
                } else {
                    "checksum mismatch".into()
                };
                claimed = Some((h.first_lsn, h.last_lsn));
            } else {
                reason = "unreadable frame".into();
            }
            break;
        };
        if !matches!(classify(&h, expect), Class::Current) {
            reason = format!(
                "a frame of generation {} where {} was expected",
                h.generation, expect.generation
            );
            break;
        }
        if let Some(prev) = out.frames.last() {
            if prev.last_lsn.checked_add(1) != Some(h.first_lsn) {
                reason = format!(
                    "LSN gap: the frame starts at LSN {}, the one before it ended at {}",
                    h.first_lsn, prev.last_lsn
                );
                break;
            }
        }
        let Some(f) = decode_body(h.generation, h.first_lsn, h.last_lsn, body) else {
            reason = "the frame's body does not decode".into();
            claimed = Some((h.first_lsn, h.last_lsn));
            break;
        };
        out.spans.push(span(off, &h, f.writes.len()));
        out.frames.push(f);
        off += h.frame_len();
    }
    out.end = off as u64;
    let next_valid = scan_rest(bytes, off, expect, &mut out);
    let prefix_len = out.frames.len();
    if let Some(d) = out.damage.as_mut() {
        d.reason = reason;
        d.claimed = claimed;
        d.frame = prefix_len;
    } else {
        out.torn = torn_tail(bytes, off, next_valid);
    }
    out
}

/// Classify every valid frame after the prefix; returns where the first one begins.
fn scan_rest(bytes: &[u8], start: usize, expect: &Expect, out: &mut Scan) -> Option<usize> {
    let mut off = start;
    let mut first = None;
    while off < bytes.len() {
        // Jump to the next candidate magic ("BSJ" then a version byte).
        let Some(p) = bytes[off..].windows(3).position(|w| w == b"BSJ") else {
            break;
        };
        off += p;
        let Some((h, body)) = checked_frame(&bytes[off..]) else {
            off += 1;
            continue;
        };
        first.get_or_insert(off);
        match classify(&h, expect) {
            Class::Current => {
                let f = decode_body(h.generation, h.first_lsn, h.last_lsn, body);
                let writes = f.as_ref().map_or(0, |f| f.writes.len());
                let d = out.damage.get_or_insert_with(|| Damage {
                    offset: start as u64,
                    frame: 0,
                    reason: String::new(),
                    claimed: None,
                    following: Vec::new(),
                    following_spans: Vec::new(),
                    undecodable: Vec::new(),
                });
                if f.is_none() {
                    d.undecodable.push(off as u64);
                }
                d.following_spans.push(span(off, &h, writes));
                d.following.push(f.unwrap_or(Frame {
                    generation: h.generation,
                    first_lsn: h.first_lsn,
                    last_lsn: h.last_lsn,
                    writes: Vec::new(),
                }));
            }
            Class::Newer => out.newer.push(span(off, &h, 0)),
            Class::Stale => out.stale += 1,
            Class::Foreign => out.foreign.push((h.store_id, span(off, &h, 0))),
        }
        off += h.frame_len();
    }
    first
}

/// A torn tail: bytes after the prefix that are neither zeroes nor a valid frame, up to the
/// next valid frame (of an older generation) or the end of the file, trailing zeroes not
/// counted. After a crash this also counts remains of older frames that the last frames
/// partly overwrote: the count is what replay dropped, not all of it was ever a frame.
fn torn_tail(bytes: &[u8], off: usize, next_valid: Option<usize>) -> Option<Torn> {
    let region = bytes.get(off..next_valid.unwrap_or(bytes.len()))?;
    let n = region.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    (n > 0).then_some(Torn {
        offset: off as u64,
        bytes: n as u64,
    })
}
