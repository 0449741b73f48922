//! A Rust client for the botstore HTTP API (`docs/HTTP-API.md`).
//!
//! [`Client`] has the operations of [`botstore::Store`] under the same names and types,
//! sent to a `botstore serve` over HTTP/1.1 (or HTTP/2 over TLS) with a keep-alive
//! connection pool. The server's problem documents come back as the core errors they
//! stand for ([`ClientError::Store`], via [`botstore_api::Problem::into_error`]), so code
//! and exit codes behave the same against a server as against a local store.
//!
//! ```no_run
//! # async fn demo() -> Result<(), botstore_client::ClientError> {
//! use botstore::{Namespace, Precondition, Value};
//! let client = botstore_client::Client::new("http://127.0.0.1:7700", Some("bst_...".into()))?;
//! let ns = Namespace::new(["tenant-a", "users", "u42"]);
//! let v = client.put(&ns, "profile", Value::json(&serde_json::json!({"name": "Ada"}))).await?;
//! client.put_if(&ns, "profile", Value::json_text(r#"{"name":"Ada L."}"#), Precondition::IfVersion(v)).await?;
//! let item = client.get(&ns, "profile").await?;
//! # Ok(()) }
//! ```
//!
//! Differences from a local store, all forced by HTTP:
//! * a key, stream or lease name that is exactly `.` or `..` cannot be part of a URL path
//!   (URL parsing resolves it away); writes of such names go through the batch endpoint
//!   and item reads through `POST /v1/get`, but stream reads, stream info and lease reads
//!   of them fail with `invalid input (key.characters)`;
//! * a content type with spaces at either end comes back trimmed from a single-item GET
//!   (HTTP header values are trimmed);
//! * the server's limits apply, not `Limits::default()`, and it adds its own refusals
//!   (401, 403, 413, 429), which map to `InvalidInput` or `Closed` (the [`Problem`] is
//!   kept in the error).
//!
//! [`Client`] also implements [`botstore::StoreApi`], the trait the CLI, the Python
//! binding and the conformance suite are written against; there its errors are
//! [`ClientError::into_error`]: the core errors, plus `Error::Refused` for refusals of
//! the HTTP layer and `Error::Unavailable` for transport and protocol failures.
//!
//! Values in request bodies (batches, appends) are sent as `value_base64`, JSON too, so
//! that the server stores the JSON text exactly as given (its `value` field is parsed
//! into a tree, which sorts keys and rounds numbers).

#![deny(unsafe_code)]

mod api;
mod backup;
mod client;
mod error;
mod meta;
mod ops;

pub use backup::RecordStream;
/// Defined in the core (they are part of [`botstore::StoreApi`]); re-exported so the
/// old paths keep working.
pub use botstore::{ChangePage, WriteOptions};
pub use client::{Client, ClientOptions};
pub use error::ClientError;
pub use meta::{etag_version, item_from_parts};
pub use ops::RemoteStats;

/// The wire types the client's answers use where the core has no equivalent.
pub use botstore_api::wire::{
    CompactOut, Health, Perm, Scope, TokenCreateRequest, TokenCreated, TokenInfo,
};
pub use botstore_api::Problem;
