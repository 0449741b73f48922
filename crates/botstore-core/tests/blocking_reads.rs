//! A backend whose reads block (a network backend) is read off the runtime's workers
//! (`block_in_place` on a multi-threaded runtime), and behaves exactly like any other:
//! the whole conformance suite runs through one.
#![cfg(feature = "conformance")]

use botstore_core::backend::WriteGroup;
use botstore_core::kv::KvRead;
use botstore_core::memory::MemoryBackend;
use botstore_core::{Backend, CompactReport, Namespace, Result, Space, Store, Value};
use std::sync::Arc;

/// The memory backend, claiming that its reads block.
#[derive(Default)]
struct BlockingReads(MemoryBackend);

impl Backend for BlockingReads {
    fn name(&self) -> &'static str {
        "blocking-reads"
    }
    fn read(&self) -> Result<Box<dyn KvRead + '_>> {
        self.0.read()
    }
    fn write(&self, group: WriteGroup) -> Result<()> {
        self.0.write(group)
    }
    fn space(&self) -> Result<Space> {
        self.0.space()
    }
    fn compact(&self) -> Result<CompactReport> {
        self.0.compact()
    }
    fn sync(&self) -> Result<()> {
        self.0.sync()
    }
    fn reads_block(&self) -> bool {
        true
    }
}

botstore_core::conformance_tests!(|opts| async move {
    Store::with_options(Arc::new(BlockingReads::default()), opts)
});

/// On a current-thread runtime there is no other worker to move tasks to: reads run in
/// place rather than panicking.
#[test]
fn current_thread_runtime_reads_in_place() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let s = Store::new(Arc::new(BlockingReads::default()));
        let ns = Namespace::new(["a"]);
        s.put(&ns, "k", Value::json_text("1")).await.unwrap();
        assert!(s.get(&ns, "k").await.unwrap().is_some());
    });
}
