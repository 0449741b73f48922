//! botstore: storage for chatbots and AI agents.
//!
//! * [`model`]: namespaces, items, versions, preconditions, streams, leases, changes.
//! * [`Store`]: the public API; validates input ([`Limits`]) and talks to a [`Backend`].
//! * [`StoreApi`]: the data operations as a dyn-compatible trait, implemented by [`Store`]
//!   and by `botstore-client`'s `Client`, so front ends are written once for both.
//! * [`apply`] and [`read`]: the semantics, written once over the [`kv`] interface.
//! * [`Backend`]: the seam for engines; [`memory::MemoryBackend`] here,
//!   `botstore-embedded` (redb + write-ahead log) in its own crate.
//! * [`conformance`] (feature `conformance`): the suite every backend must pass.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use botstore_core::{Namespace, Precondition, Store, Value};
//! let store = Store::memory();
//! let ns = Namespace::new(["tenant-a", "users", "u42"]);
//! let v1 = store.put(&ns, "profile", Value::json(&serde_json::json!({"name": "Ada"}))).await?;
//! // A conditional write with a stale version changes nothing and reports the current one.
//! let err = store.put_if(&ns, "profile", Value::json(&serde_json::json!({})), Precondition::IfVersion(botstore_core::Version(0))).await.unwrap_err();
//! assert_eq!(err, botstore_core::Error::PreconditionFailed { current: Some(v1) });
//! # Ok::<(), botstore_core::Error>(()) }).unwrap();
//! ```

#![deny(unsafe_code)]
#![deny(missing_docs)]

pub mod api;
pub mod apply;
pub mod backend;
pub mod codec;
pub mod commit;
pub mod compression;
pub mod envelope;
pub mod error;
pub mod feed;
pub mod kv;
pub mod limits;
pub mod load;
pub mod memory;
pub mod metrics;
pub mod model;
pub mod read;
pub mod record_check;
pub mod replay;
pub mod restore;
pub mod scrub;
pub mod store;
pub mod value_codec;
pub mod verify;

// The conformance suite is test code compiled outside cfg(test): a violation must panic,
// with a message naming what broke, so it unwraps and expects freely.
#[cfg(feature = "conformance")]
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub mod conformance;

pub use api::{ChangePage, Compacted, StoreApi, WriteOptions};
pub use apply::{Batch, BatchResults};
pub use backend::{Backend, CompactReport, Durability, Metric, MetricValue, Space, WriteGroup};
pub use commit::{CommitMetrics, CommitOptions};
pub use compression::{CompressionOptions, CompressionSpec, ZstdCodec};
pub use error::{Error, ErrorKind, Result, Rule};
pub use kv::{KvRead, Table, WriteSet};
pub use limits::Limits;
pub use load::{BulkLoader, LoadOp, LoadReport};
pub use model::*;
pub use read::Scan;
pub use store::{
    parse_duration, BatchError, Clock, Maintenance, Retention, Store, StoreOptions, StoreStats,
};
pub use value_codec::{CodecStack, ValueCodec, ValueContext};
pub use verify::{Damage, VerifyOptions, VerifyReport};
