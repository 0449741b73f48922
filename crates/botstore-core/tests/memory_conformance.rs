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
