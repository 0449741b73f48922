//! Every decoder that reads bytes from disk or from a caller answers arbitrary bytes with a
//! value or a typed error, never a panic.

use botstore_core::codec::{self, ItemRecord, LeaseRecord};
use botstore_core::{envelope, read};
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
        let _ = codec::decode_ns_stored(&b);
        let _ = codec::decode_stream_stored(&b);
        let _ = botstore_core::compression::sealed_len(&b);
        let _ = botstore_core::compression::dicts::DictRecord::decode(b"zstd_dict/\0\0\0\x01", &b);
        let _ = codec::decode_change(&botstore_core::CodecStack::plain(), 1, &b);
        let _ = codec::ns_dec(&b);
        let _ = codec::split_named_key(&b);
        let _ = envelope::open(&b);
        let _ = envelope::open_plain(&b);
    }

    #[test]
    fn change_decoder_takes_mutated_records(flip in 0usize..64, byte in any::<u8>()) {
        let item = botstore_core::Item {
            ns: botstore_core::Namespace::new(["t", "u"]),
            key: "k".into(),
            value: botstore_core::Value::json_text("{\"a\":1}"),
            version: botstore_core::Version(3),
            created_at: 1,
            updated_at: 2,
            expires_at: Some(9),
            subject: Some("s".into()),
        };
        let mut b = codec::encode_change(&botstore_core::CodecStack::plain(), 5, &botstore_core::ChangeKind::Put(item)).unwrap();
        let i = flip % b.len();
        b[i] = byte;
        let _ = codec::decode_change(&botstore_core::CodecStack::plain(), 1, &b);
        b.truncate(i);
        let _ = codec::decode_change(&botstore_core::CodecStack::plain(), 1, &b);
    }

    #[test]
    fn cursors_from_callers_are_checked(s in ".{0,64}") {
        match read::decode_cursor(&s, b"t\0\x01") {
            Ok(k) => prop_assert!(k.starts_with(b"t\0\x01")),
            Err(e) => prop_assert_eq!(e.kind(), botstore_core::ErrorKind::InvalidInput),
        }
    }
}

/// A JSON Patch that would nest a value deeper than any read can parse is refused and
/// changes nothing (found while fuzzing: the item became unreadable).
#[tokio::test]
async fn patches_cannot_store_json_too_deep_to_read_back() {
    let store = botstore_core::Store::memory();
    let ns = botstore_core::Namespace::new(["t"]);
    let deep = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
    let v = store
        .put(
            &ns,
            "k",
            botstore_core::Value::json_text(format!("{{\"a\":{}}}", deep(100))),
        )
        .await
        .unwrap();
    let path = "/a".to_string() + &"/0".repeat(99);
    let patch: json_patch::Patch = serde_json::from_str(&format!(
        r#"[{{"op":"replace","path":"{path}","value":{}}}]"#,
        deep(100)
    ))
    .unwrap();
    let err = store
        .patch(
            &ns,
            "k",
            botstore_core::PatchOp::Json(patch),
            botstore_core::Precondition::Any,
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), botstore_core::ErrorKind::InvalidInput, "{err}");
    let it = store.get(&ns, "k").await.unwrap().unwrap();
    assert_eq!(it.version, v);
    assert!(it.value.to_json().is_ok());
}
