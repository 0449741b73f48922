//! `damaged_journal`: a real journal of a few frames (made by the writer's encoder, over
//! stale frames of the previous generation when asked), damaged as the input says (bit
//! flips, overwrites, zeroed runs, truncation), then scanned as open scans it. Must hold:
//!
//! * no panic;
//! * the frames replay would apply are exactly a prefix of the written ones: every frame
//!   before the first damaged one, and nothing else (unless the damage happens to form a
//!   frame with a valid checksum: then that frame's bytes must really check);
//! * whenever a written frame of the generation is intact after the first damaged one, the
//!   scan reports damage (open refuses): no valid frame is ever dropped in silence;
//! * no frame is reported as newer or of another store unless the damage forged it (wrote
//!   its check field too): damage alone never passes for another store's journal.

use arbitrary::Arbitrary;
use botstore::codec::Table;
use botstore::kv::WriteSet;
use botstore_embedded::journal::replay::{checked_frame, scan, Expect, Owner};
use botstore_embedded::journal::{encode_frame, Frame};

const ID: u64 = 0x5eed_cafe;
const GEN: u64 = 7;

#[derive(Arbitrary, Debug)]
pub enum Harm {
    Flip { at: u16, mask: u8 },
    Overwrite { at: u16, bytes: Vec<u8> },
    Zero { at: u16, len: u8 },
    Truncate { at: u16 },
}

#[derive(Arbitrary, Debug)]
pub struct Input {
    /// Value sizes of the frames (at most 8 frames are written).
    pub sizes: Vec<u8>,
    /// Also write stale frames of the previous generation first (the current generation
    /// then overwrites their start, as after a checkpoint).
    pub stale: bool,
    pub harms: Vec<Harm>,
}

fn ws(i: usize, n: u8) -> WriteSet {
    let mut w = WriteSet::new();
    w.insert(
        (Table::Items, vec![b'k', i as u8]),
        Some(vec![i as u8; n as usize]),
    );
    if i % 2 == 1 {
        w.insert((Table::Expiry, vec![i as u8]), None);
    }
    w
}

pub fn run(input: &Input) {
    let sizes: Vec<u8> = input.sizes.iter().copied().take(8).collect();
    if sizes.is_empty() {
        return;
    }
    let mut bytes = Vec::new();
    let mut buf = Vec::new();
    if input.stale {
        for i in 0..sizes.len() + 2 {
            encode_frame(
                &mut buf,
                ID,
                GEN - 1,
                50 + i as u64,
                50 + i as u64,
                &ws(i, 200),
            );
            bytes.extend_from_slice(&buf);
        }
    }
    let mut ends = vec![0usize];
    let mut written = Vec::new();
    let mut current = Vec::new();
    for (i, n) in sizes.iter().enumerate() {
        let lsn = i as u64 + 1;
        let w = ws(i, *n);
        encode_frame(&mut buf, ID, GEN, lsn, lsn, &w);
        current.extend_from_slice(&buf);
        ends.push(current.len());
        written.push(Frame {
            generation: GEN,
            first_lsn: lsn,
            last_lsn: lsn,
            writes: w.into_iter().map(|((t, k), v)| (t, k, v)).collect(),
        });
    }
    let total = current.len();
    if bytes.len() < total {
        bytes.resize(total, 0);
    }
    bytes[..total].copy_from_slice(&current);
    bytes.extend_from_slice(&[0; 64]);
    let original = bytes.clone();

    for h in input.harms.iter().take(4) {
        // Positions fall in the current generation's frames (what is left of them).
        let total = total.min(bytes.len());
        if total == 0 {
            break;
        }
        match h {
            Harm::Flip { at, mask } => {
                let p = *at as usize % total;
                bytes[p] ^= mask;
            }
            Harm::Overwrite { at, bytes: b } => {
                let p = *at as usize % total;
                let n = b.len().min(total - p);
                bytes[p..p + n].copy_from_slice(&b[..n]);
            }
            Harm::Zero { at, len } => {
                let p = *at as usize % total;
                let n = (*len as usize).min(total - p);
                bytes[p..p + n].fill(0);
            }
            Harm::Truncate { at } => bytes.truncate((*at as usize % total).min(bytes.len())),
        }
    }
    // A frame is intact when every one of its bytes is there, unchanged.
    let intact = |i: usize| {
        bytes.len() >= ends[i + 1] && bytes[ends[i]..ends[i + 1]] == original[ends[i]..ends[i + 1]]
    };
    let first_damaged = (0..sizes.len())
        .find(|&i| !intact(i))
        .unwrap_or(sizes.len());

    let s = scan(
        &bytes,
        &Expect {
            generation: GEN,
            owner: Owner::Id(ID),
        },
    );
    assert!(s.end as usize <= bytes.len());
    assert!(
        s.frames.len() >= first_damaged,
        "an intact prefix frame was not replayed"
    );
    assert_eq!(
        &s.frames[..first_damaged],
        &written[..first_damaged],
        "replayed frames differ"
    );
    if s.frames.len() > first_damaged {
        // Only a frame the damage made valid again (checksum and all) may follow.
        let at = s.spans[first_damaged].offset as usize;
        assert!(
            checked_frame(&bytes[at..]).is_some(),
            "replayed a frame that does not check"
        );
    }
    let intact_after = (first_damaged + 1..sizes.len()).find(|&j| intact(j));
    if let Some(j) = intact_after {
        let replayed = s.frames.iter().any(|f| f.first_lsn == j as u64 + 1);
        assert!(
            s.damage.is_some() || replayed,
            "frame {j} is intact after damaged frame {first_damaged} but the scan reports no damage"
        );
        if let Some(d) = &s.damage {
            assert!(
                replayed || d.following.iter().any(|f| f.first_lsn == j as u64 + 1),
                "intact frame {j} is not among the frames reported after the damage"
            );
        }
    }
    // A frame of a newer generation or of another store can only be one the damage forged
    // (the stale frames beyond the current ones are of an older generation and untouched):
    // where a frame was written, the damage must have rewritten its check field (the check
    // covers every other byte of a frame, so changing those alone cannot make a valid frame
    // of another kind); elsewhere its bytes must be the damage's. Anything else is an
    // intact or merely damaged journal refused as someone else's.
    let spans = s.newer.iter().chain(s.foreign.iter().map(|(_, sp)| sp));
    for sp in spans {
        let (a, b) = (sp.offset as usize, (sp.offset + sp.len) as usize);
        assert!(b <= bytes.len() && checked_frame(&bytes[a..]).is_some());
        let forged = if ends[..sizes.len()].contains(&a) {
            bytes.get(a + 8..a + 12) != original.get(a + 8..a + 12)
        } else {
            bytes[a..b] != original[a..b.min(original.len())]
        };
        assert!(
            forged,
            "a frame at {a} that the damage did not forge is reported as newer or foreign"
        );
    }
}
