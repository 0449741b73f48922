//! The journal reader meets torn writes, flipped bits and garbage: it must return the
//! longest valid prefix of frames and never panic or replay a damaged frame.

use botstore::codec::Table;
use botstore::kv::WriteSet;
use botstore_embedded::journal::{read_frames, Journal};
use proptest::prelude::*;
use std::os::unix::fs::FileExt;

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
