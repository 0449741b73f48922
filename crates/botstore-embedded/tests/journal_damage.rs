//! The journal reader meets torn writes, flipped bits and garbage: it must return the
//! longest valid prefix of frames, never panic or replay a damaged frame, and never drop a
//! frame that valid frames of its generation follow without saying so: damage at any frame
//! is either a torn tail (only when nothing valid follows) or a refusal with the right
//! counts. The end-to-end tests (a real store, damaged, refused, repaired) are in
//! `journal_repair.rs`.

// Test code: helpers outside #[test] fns unwrap too; a panic is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use botstore::codec::Table;
use botstore::kv::WriteSet;
use botstore_embedded::journal::replay::checked_frame;
use botstore_embedded::journal::replay::{scan, Expect, Owner};
use botstore_embedded::journal::{
    encode_frame, encode_frame_v1, encode_frame_v2, read_frames, Journal,
};
use proptest::prelude::*;
use std::os::unix::fs::FileExt;

const ID: u64 = 0x5eed;

fn expect(generation: u64) -> Expect {
    Expect {
        generation,
        owner: Owner::Id(ID),
    }
}

/// A journal of `sizes.len()` frames of generation 3 (frame i holds LSN i+1), over stale
/// frames of generation 2 when `stale`; returns the bytes and each frame's end offset.
fn journal(sizes: &[usize], stale: bool) -> (Vec<u8>, Vec<u64>) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("wal.log");
    let mut j = Journal::open(&p, 1 << 20, 2).unwrap();
    j.store_id = ID;
    if stale {
        for i in 0..sizes.len() + 3 {
            j.append(100 + i as u64, 100 + i as u64, &ws(i as u64, 300))
                .unwrap();
        }
    }
    j.restart(3);
    let mut ends = vec![0u64];
    for (i, n) in sizes.iter().enumerate() {
        j.append(i as u64 + 1, i as u64 + 1, &ws(i as u64, *n))
            .unwrap();
        ends.push(j.offset());
    }
    let mut bytes = std::fs::read(&p).unwrap();
    if !stale {
        bytes.truncate(j.offset() as usize + 64);
    }
    (bytes, ends)
}

/// How a test damages the bytes.
#[derive(Debug, Clone)]
enum Harm {
    Flip(prop::sample::Index, u8),
    Overwrite(prop::sample::Index, Vec<u8>),
    Zero(prop::sample::Index, usize),
}

fn harm() -> impl Strategy<Value = Harm> {
    prop_oneof![
        (any::<prop::sample::Index>(), 1u8..=255).prop_map(|(i, x)| Harm::Flip(i, x)),
        (
            any::<prop::sample::Index>(),
            proptest::collection::vec(any::<u8>(), 1..40)
        )
            .prop_map(|(i, v)| Harm::Overwrite(i, v)),
        (any::<prop::sample::Index>(), 1usize..600).prop_map(|(i, n)| Harm::Zero(i, n)),
    ]
}

fn ws(i: u64, len: usize) -> WriteSet {
    let mut w = WriteSet::new();
    w.insert(
        (Table::Items, i.to_be_bytes().to_vec()),
        Some(vec![i as u8; len]),
    );
    w
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn damage_truncates_the_log_at_the_damaged_frame(
        sizes in proptest::collection::vec(0usize..300, 1..12),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(&dir.path().join("wal.log"), 8192, 3).unwrap();
        let mut ends = vec![0u64];
        for (i, n) in sizes.iter().enumerate() {
            j.append(i as u64 + 1, i as u64 + 1, &ws(i as u64, *n)).unwrap();
            ends.push(j.offset());
        }
        let total = j.offset();
        let pos = at.index(total as usize) as u64;
        let mut old = [0u8];
        j.file().read_exact_at(&mut old, pos).unwrap();
        j.file().write_all_at(&[byte], pos).unwrap();
        let (frames, end) = read_frames(j.file(), 3).unwrap();
        // The damaged frame is the first one whose byte range holds `pos`.
        let damaged = ends.windows(2).position(|w| pos >= w[0] && pos < w[1]).unwrap();
        if old[0] == byte {
            prop_assert_eq!(frames.len(), sizes.len());
        } else {
            prop_assert_eq!(frames.len(), damaged);
            prop_assert_eq!(end, ends[damaged]);
        }
        for (i, f) in frames.iter().enumerate() {
            prop_assert_eq!(&f.writes[0].2, &Some(vec![i as u8; sizes[i]]));
        }
    }

    #[test]
    fn garbage_files_read_as_empty_or_a_prefix(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("wal.log");
        std::fs::write(&p, &bytes).unwrap();
        let f = std::fs::File::open(&p).unwrap();
        let (frames, end) = read_frames(&f, 0).unwrap();
        prop_assert!(end <= bytes.len() as u64);
        prop_assert!(frames.is_empty() || end > 0);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Damage inside one frame: if it is the last frame of its generation, a torn tail;
    /// otherwise a refusal that names that frame, its offset, and exactly the frames after
    /// it. Never a silent loss of a frame that valid frames follow.
    #[test]
    fn damage_at_any_frame_is_a_torn_tail_or_a_refusal(
        sizes in proptest::collection::vec(0usize..300, 1..12),
        h in harm(),
        stale in any::<bool>(),
    ) {
        let (mut bytes, ends) = journal(&sizes, stale);
        let total = *ends.last().unwrap() as usize;
        let before = bytes.clone();
        let (pos, len) = match &h {
            Harm::Flip(i, x) => {
                let p = i.index(total);
                bytes[p] ^= x;
                (p, 1)
            }
            Harm::Overwrite(i, v) => {
                let p = i.index(total);
                let n = v.len().min(total - p);
                bytes[p..p + n].copy_from_slice(&v[..n]);
                (p, n)
            }
            Harm::Zero(i, n) => {
                let p = i.index(total);
                let n = (*n).min(total - p);
                bytes[p..p + n].fill(0);
                (p, n)
            }
        };
        prop_assume!(bytes != before);
        // The frames the damage touches: the first changed byte's frame to the last's.
        let first_changed = (pos..pos + len).find(|&i| bytes[i] != before[i]).unwrap();
        let last_changed = (pos..pos + len).rev().find(|&i| bytes[i] != before[i]).unwrap();
        let frame_of = |o: usize| ends.windows(2).position(|w| o as u64 >= w[0] && (o as u64) < w[1]).unwrap();
        let (a, b) = (frame_of(first_changed), frame_of(last_changed));
        let s = scan(&bytes, &expect(3));
        prop_assert!(s.newer.is_empty() && s.foreign.is_empty());
        prop_assert_eq!(s.frames.len(), a, "the prefix ends at the first damaged frame");
        prop_assert_eq!(s.end, ends[a]);
        for (i, f) in s.frames.iter().enumerate() {
            prop_assert_eq!(&f.writes[0].2, &Some(vec![i as u8; sizes[i]]));
        }
        if b + 1 == sizes.len() {
            prop_assert!(s.damage.is_none(), "nothing valid follows: a torn tail");
            prop_assert!(s.torn.is_some() || bytes[ends[a] as usize..total].iter().all(|&x| x == 0));
        } else {
            let d = s.damage.as_ref().expect("valid frames follow: damage");
            prop_assert_eq!(d.frame, a);
            prop_assert_eq!(d.offset, ends[a]);
            let n = sizes.len() - b - 1;
            prop_assert_eq!(d.following.len(), n);
            prop_assert_eq!(d.following_lsns(), Some((b as u64 + 2, sizes.len() as u64)));
            for (k, f) in d.following.iter().enumerate() {
                let i = b + 1 + k;
                prop_assert_eq!(&f.writes[0].2, &Some(vec![i as u8; sizes[i]]));
            }
        }
    }

    /// Cutting the file anywhere (a crash mid-write with nothing after it) is always a torn
    /// tail, never damage.
    #[test]
    fn truncation_is_a_torn_tail(sizes in proptest::collection::vec(0usize..300, 1..8), at in any::<prop::sample::Index>()) {
        let (bytes, ends) = journal(&sizes, false);
        let cut = at.index(*ends.last().unwrap() as usize);
        let s = scan(&bytes[..cut], &expect(3));
        prop_assert!(s.damage.is_none());
        let whole = ends.iter().filter(|&&e| e as usize <= cut).count() - 1;
        prop_assert_eq!(s.frames.len(), whole);
    }
}

#[test]
fn an_lsn_gap_between_valid_frames_is_damage() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = Journal::open(&dir.path().join("wal.log"), 1 << 16, 1).unwrap();
    j.store_id = ID;
    j.append(1, 2, &ws(1, 10)).unwrap();
    j.append(5, 5, &ws(2, 10)).unwrap();
    j.append(6, 7, &ws(3, 10)).unwrap();
    let s = scan(
        &std::fs::read(dir.path().join("wal.log")).unwrap(),
        &expect(1),
    );
    assert_eq!(s.frames.len(), 1);
    let d = s.damage.unwrap();
    assert!(d.reason.contains("LSN gap"), "{}", d.reason);
    assert_eq!(
        (d.frame, d.following.len(), d.following_lsns()),
        (1, 2, Some((5, 7)))
    );
}

#[test]
fn frames_of_another_store_or_a_newer_generation_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("wal.log");
    let mut j = Journal::open(&p, 1 << 16, 4).unwrap();
    j.store_id = ID;
    j.append(1, 1, &ws(1, 10)).unwrap();
    let bytes = std::fs::read(&p).unwrap();
    let other = scan(
        &bytes,
        &Expect {
            generation: 4,
            owner: Owner::Id(7),
        },
    );
    assert!(other.frames.is_empty() && other.damage.is_none());
    assert_eq!(other.foreign.len(), 1);
    assert_eq!(other.foreign[0].0, Some(ID));
    // A store without an id (older build) does not own version 2 frames.
    assert_eq!(
        scan(
            &bytes,
            &Expect {
                generation: 4,
                owner: Owner::Legacy
            }
        )
        .foreign
        .len(),
        1
    );
    let older = scan(&bytes, &expect(3));
    assert_eq!((older.frames.len(), older.newer.len()), (0, 1));
    let newer_store = scan(&bytes, &expect(5));
    assert!(newer_store.is_clean());
    assert_eq!(newer_store.stale, 1);
}

/// Journals written before stores had ids (version 1 frames) still replay in their store,
/// and are only stale frames to a store that has an id.
#[test]
fn version_1_frames_of_an_older_build_still_replay() {
    let mut bytes = Vec::new();
    let mut buf = Vec::new();
    for i in 1..=3u64 {
        encode_frame_v1(&mut buf, 9, i, i, &ws(i, 20));
        bytes.extend_from_slice(&buf);
    }
    bytes.extend_from_slice(&[0; 100]);
    let s = scan(
        &bytes,
        &Expect {
            generation: 9,
            owner: Owner::Legacy,
        },
    );
    assert!(s.is_clean() && s.torn.is_none());
    assert_eq!(s.frames.len(), 3);
    assert_eq!(s.frames[2].writes[0].2, Some(vec![3; 20]));
    assert_eq!(scan(&bytes, &expect(10)).stale, 3);
    assert_eq!(scan(&bytes, &expect(9)).foreign.len(), 3);
}

/// Journals of builds before version 3 frames (version 2: the check leaves out the magic
/// and the length) still replay.
#[test]
fn version_2_frames_of_an_older_build_still_replay() {
    let mut bytes = Vec::new();
    let mut buf = Vec::new();
    for i in 1..=3u64 {
        encode_frame_v2(&mut buf, ID, 4, i, i, &ws(i, 20));
        bytes.extend_from_slice(&buf);
    }
    bytes.extend_from_slice(&[0; 100]);
    let s = scan(&bytes, &expect(4));
    assert!(s.is_clean() && s.torn.is_none());
    assert_eq!(s.frames.len(), 3);
    assert_eq!(s.frames[1].writes[0].2, Some(vec![2; 20]));
}

/// Found by the damaged_journal fuzz target: in a version 2 frame, the magic flipped to
/// `BSJ1` and the length grown by 8 still checked (the check left both out), as a
/// version 1 frame of another store, so open refused the journal as foreign instead of
/// seeing a damaged last frame. A version 3 frame's check covers them: any such damage
/// leaves no valid frame.
#[test]
fn a_frame_damaged_in_magic_and_length_is_no_frame_at_all() {
    let mut buf = Vec::new();
    let reinterpret = |frame: &[u8]| {
        let mut d = frame.to_vec();
        d[3] = b'1';
        let len = u32::from_le_bytes(d[4..8].try_into().unwrap()) + 8;
        d[4..8].copy_from_slice(&len.to_le_bytes());
        d
    };
    encode_frame_v2(&mut buf, ID, 4, 1, 1, &ws(1, 40));
    assert!(
        checked_frame(&reinterpret(&buf)).is_some(),
        "the old weakness"
    );
    encode_frame(&mut buf, ID, 4, 1, 1, &ws(1, 40));
    assert_eq!(&buf[..4], b"BSJ3");
    assert!(checked_frame(&buf).is_some());
    assert!(checked_frame(&reinterpret(&buf)).is_none());
    // Every single-bit flip of the magic or the length fails the check.
    for bit in 0..64 {
        let mut d = buf.clone();
        d[bit / 8] ^= 1 << (bit % 8);
        assert!(checked_frame(&d).is_none(), "bit {bit}");
    }
}
