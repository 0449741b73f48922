//! botstore: storage for chatbots and AI agents.
//!
//! This crate is what front ends and applications depend on: everything of
//! [`botstore_core`] (the data model, [`Store`], the semantics, the [`Backend`] seam, the
//! memory backend, the conformance suite), plus [`open`], which chooses the backend from a
//! location, so that no front end names an engine:
//!
//! | location | backend |
//! |---|---|
//! | `memory:` | [`memory::MemoryBackend`] (nothing persists) |
//! | a folder path, `embedded:PATH` or `file://PATH` | the embedded engine (feature `embedded`, on by default) |
//! | `postgres://...` | not built yet (the scale-out work adds it) |
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use botstore::{Namespace, OpenOptions, Value};
//! let dir = tempfile::tempdir().unwrap();
//! let store = botstore::open(dir.path().to_str().unwrap(), OpenOptions::default())?;
//! let ns = Namespace::new(["tenant-a", "users", "u42"]);
//! store.put(&ns, "profile", Value::json(&serde_json::json!({"name": "Ada"}))).await?;
//! assert!(store.get(&ns, "profile").await?.is_some());
//! store.close()?;
//! # Ok::<(), botstore::Error>(()) }).unwrap();
//! ```

#![deny(unsafe_code)]
#![deny(missing_docs)]

pub use botstore_core::*;

mod open;

pub use open::{check_not_in_use, create_loader, open, open_backend, Location, OpenOptions};

/// Inspecting and repairing an embedded data folder whose journal open refused (damage in
/// the middle, files that do not belong together): what `botstore repair` runs.
#[cfg(feature = "embedded")]
pub use botstore_embedded::repair;
