//! The fjall prototype backend of the engine comparison passes the shared conformance
//! suite, so the comparison's fjall rows measure a backend that keeps botstore's semantics
//! (and a move to fjall would start from one that does). A small block cache keeps the
//! many stores of the suite light.

use botstore::Store;
use botstore_bench::fjall_backend::{FjallBackend, FjallVariant};
use botstore_bench::Durability;

mod defaults {
    use super::*;
    botstore::conformance_tests!(|opts| async move {
        let dir = tempfile::tempdir().unwrap();
        let b = FjallBackend::open(
            dir.path(),
            FjallVariant::Defaults,
            Durability::Immediate,
            4 << 20,
        )
        .unwrap();
        Store::with_options(botstore::conformance::keep_alive(b, dir), opts)
    });
}

/// Key-value separation: values of 1 KiB and more live in blob files, so reads of large
/// values take the other path.
mod kv_separated {
    use super::*;
    botstore::conformance_tests!(|opts| async move {
        let dir = tempfile::tempdir().unwrap();
        let b = FjallBackend::open(
            dir.path(),
            FjallVariant::KvSeparated,
            Durability::Immediate,
            4 << 20,
        )
        .unwrap();
        Store::with_options(botstore::conformance::keep_alive(b, dir), opts)
    });
}
