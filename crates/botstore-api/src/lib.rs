//! The botstore HTTP API as data: the JSON bodies ([`wire`]), the URL layout ([`paths`])
//! and the RFC 9457 problem documents ([`problem`]). The server and the client both
//! build on this crate, so the two cannot disagree about a field name or a path.
//!
//! Nothing here does I/O. Conversions between wire and core types live next to the wire
//! types; they reject shapes the JSON schema cannot express (a value given twice, two
//! preconditions) with [`WireError`], and leave every storage rule to the core.

#![deny(unsafe_code)]

pub mod paths;
pub mod problem;
pub mod schema;
pub mod wire;

pub use paths::{PathError, ResourcePath};
pub use problem::{Problem, ProblemType};
pub use wire::WireError;

/// The header that carries the request id on every response (and may be sent by a client).
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// Item metadata headers on single-item GET and PUT responses.
pub const CREATED_AT_HEADER: &str = "botstore-created-at";
pub const UPDATED_AT_HEADER: &str = "botstore-updated-at";
pub const EXPIRES_AT_HEADER: &str = "botstore-expires-at";
pub const SUBJECT_HEADER: &str = "botstore-subject";
/// The content type of problem documents.
pub const PROBLEM_JSON: &str = "application/problem+json";
