//! The conformance suite against the memory backend.
#![cfg(feature = "conformance")]

use botstore_core::memory::MemoryBackend;
use botstore_core::Store;
use std::sync::Arc;

// One named test per check, plus `conformance::model_check`.
botstore_core::conformance_tests!(|opts| async move {
    Store::with_options(Arc::new(MemoryBackend::new()), opts)
});

/// `run_all` is the one-call form other crates may use; make sure it runs as documented.
#[tokio::test(flavor = "multi_thread")]
async fn run_all_in_one_test() {
    botstore_core::conformance::run_all(|opts| async move {
        Store::with_options(Arc::new(MemoryBackend::new()), opts)
    })
    .await
}

/// The suite again with every value compressed: no minimum size, and dictionaries
/// trained after a few values, on the commit thread (so every check writes values sealed
/// with and without one).
mod compressed {
    use super::*;
    use botstore_core::CompressionOptions;

    botstore_core::conformance_tests!(|mut opts| async move {
        opts.compression = CompressionOptions {
            min_size: 0,
            train_after_values: 16,
            train_after_bytes: 1 << 20,
            min_samples: 8,
            dict_size: 4096,
            background_training: false,
            ..CompressionOptions::default()
        };
        Store::with_options(Arc::new(MemoryBackend::new()), opts)
    });
}
