//! The embedded engine passes the shared conformance suite, with both durabilities. A small
//! journal and a short checkpoint interval make checkpoints and journal wrap-around happen
//! during the suite, not only in the crash tests.

use botstore::Store;
use botstore_embedded::{Durability, EmbeddedBackend, EmbeddedOptions};
use std::time::Duration;

fn options(durability: Durability) -> EmbeddedOptions {
    EmbeddedOptions {
        durability,
        journal_capacity: 256 << 10,
        checkpoint_interval: Duration::from_millis(50),
        cache_size: 8 << 20,
        ..EmbeddedOptions::default()
    }
}

mod immediate {
    use super::*;
    botstore::conformance_tests!(|opts| async move {
        let dir = tempfile::tempdir().unwrap();
        let b = EmbeddedBackend::open(dir.path(), options(Durability::Immediate)).unwrap();
        Store::with_options(botstore::conformance::keep_alive(b, dir), opts)
    });
}

mod relaxed {
    use super::*;
    botstore::conformance_tests!(|opts| async move {
        let dir = tempfile::tempdir().unwrap();
        let d = Durability::Relaxed {
            max_loss: Duration::from_millis(5),
        };
        let b = EmbeddedBackend::open(dir.path(), options(d)).unwrap();
        Store::with_options(botstore::conformance::keep_alive(b, dir), opts)
    });
}

/// A 4 KiB memtable: groups move to redb almost at once, so reads constantly merge the
/// memtable with redb and cross the moment a group moves.
mod small_memtable {
    use super::*;
    botstore::conformance_tests!(|opts| async move {
        let dir = tempfile::tempdir().unwrap();
        let o = EmbeddedOptions {
            memtable_bytes: 4 << 10,
            ..options(Durability::Immediate)
        };
        let b = EmbeddedBackend::open(dir.path(), o).unwrap();
        Store::with_options(botstore::conformance::keep_alive(b, dir), opts)
    });
}
