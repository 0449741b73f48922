//! Every decoder that reads bytes from disk or from a caller answers arbitrary bytes with a
//! value or a typed error, never a panic.

use botstore::codec::{self, ItemRecord, LeaseRecord};
use botstore::{envelope, read};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn record_decoders_take_any_bytes(b in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = ItemRecord::decode(&b);
        let _ = LeaseRecord::decode(&b);
        let _ = codec::decode_entry(1, &b);
        let _ = codec::decode_stream_info(&b);
        let _ = codec::decode_ns_stats(&b);
        let _ = codec::decode_change(1, &b);
        let _ = codec::ns_dec(&b);
        let _ = codec::split_named_key(&b);
        let _ = envelope::open(&b);
        let _ = envelope::open_plain(&b);
    }

    #[test]
    fn change_decoder_takes_mutated_records(flip in 0usize..64, byte in any::<u8>()) {
        let item = botstore::Item {
            ns: botstore::Namespace::new(["t", "u"]),
            key: "k".into(),
            value: botstore::Value::json_text("{\"a\":1}"),
            version: botstore::Version(3),
            created_at: 1,
            updated_at: 2,
            expires_at: Some(9),
            subject: Some("s".into()),
        };
        let mut b = codec::encode_change(5, &botstore::ChangeKind::Put(item));
        let i = flip % b.len();
        b[i] = byte;
        let _ = codec::decode_change(1, &b);
        b.truncate(i);
        let _ = codec::decode_change(1, &b);
    }

    #[test]
    fn cursors_from_callers_are_checked(s in ".{0,64}") {
        match read::decode_cursor(&s, b"t\0\x01") {
            Ok(k) => prop_assert!(k.starts_with(b"t\0\x01")),
            Err(e) => prop_assert_eq!(e.kind(), botstore::ErrorKind::InvalidInput),
        }
    }
}
