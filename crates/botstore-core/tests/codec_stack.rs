//! The value codec stack sits between the semantics and every backend: the whole
//! conformance suite passes with a codec in the stack, no stored record holds a value's
//! plain bytes, and a store opened without the codec refuses the records instead of
//! returning other bytes.

// Test code: helpers outside #[test] fns unwrap too; a panic is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(feature = "conformance")]

use botstore_core::memory::MemoryBackend;
use botstore_core::value_codec::ScrambleTestCodec;
use botstore_core::{
    Backend, CodecStack, Direction, Error, Namespace, Store, StoreOptions, Table, Value,
};
use std::ops::Bound;
use std::sync::Arc;

fn scrambled() -> Arc<CodecStack> {
    Arc::new(CodecStack::new(vec![Arc::new(ScrambleTestCodec)]).expect("one codec"))
}

botstore_core::conformance_tests!(|opts: botstore_core::StoreOptions| async move {
    let opts = botstore_core::StoreOptions {
        codecs: scrambled(),
        ..opts
    };
    Store::with_options(Arc::new(MemoryBackend::new()), opts)
});

const MARKER: &str = "plain-marker-1234567890";

#[tokio::test]
async fn no_record_holds_a_plain_value_and_a_store_without_the_codec_refuses() {
    let backend = Arc::new(MemoryBackend::new());
    let opts = StoreOptions {
        codecs: scrambled(),
        ..StoreOptions::default()
    };
    let store = Store::with_options(Arc::clone(&backend) as Arc<dyn Backend>, opts);
    let ns = Namespace::new(["t", "u"]);
    let value = Value::json(&serde_json::json!({ "note": MARKER }));
    store.put(&ns, "k", value.clone()).await.unwrap();
    store
        .append(&ns, "s", vec![value.clone()], None)
        .await
        .unwrap();

    // Every path reads the plain value back.
    assert_eq!(store.get(&ns, "k").await.unwrap().unwrap().value, value);
    let entries = store
        .read_stream(&ns, "s", None, Direction::Forward, 10)
        .await
        .unwrap();
    assert_eq!(entries[0].value, value);
    let changes = store.changes(0, 10).await.unwrap();
    assert_eq!(changes.len(), 2);

    // No table holds the plain bytes.
    let view = backend.read().unwrap();
    for t in Table::ALL {
        view.scan(
            t,
            (Bound::Unbounded, Bound::Unbounded),
            false,
            &mut |k, v| {
                let hit = |b: &[u8]| b.windows(MARKER.len()).any(|w| w == MARKER.as_bytes());
                assert!(!hit(v), "{} record {k:?} holds the plain value", t.name());
                Ok(true)
            },
        )
        .unwrap();
    }
    drop(view);

    // The same records under a store without the codec: an error, never other bytes.
    let plain = Store::new(Arc::clone(&backend) as Arc<dyn Backend>);
    assert!(matches!(plain.get(&ns, "k").await, Err(Error::Corrupt(_))));
    assert!(matches!(
        plain
            .read_stream(&ns, "s", None, Direction::Forward, 10)
            .await,
        Err(Error::Corrupt(_))
    ));
    assert!(matches!(plain.changes(0, 10).await, Err(Error::Corrupt(_))));
}
