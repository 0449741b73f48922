//! The one error type of the library. Every variant is something a caller can act on;
//! [`Error::kind`] gives the stable machine-readable name (used by the CLI's exit codes
//! and, later, the HTTP problem types).

use crate::model::Version;

/// A rule that input broke. Its `Display` form (`segment.length`, ...) is stable and is
/// what error messages, the CLI and the HTTP API name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// An item, stream or lease namespace with no segment (only prefixes may be the root).
    NamespaceEmpty,
    /// More segments than [`crate::Limits::max_depth`].
    NamespaceDepth,
    /// An empty namespace segment.
    SegmentEmpty,
    /// A segment longer than [`crate::Limits::max_segment_len`] bytes.
    SegmentLength,
    /// A segment that is `.`, `..`, or holds `/` or a control character.
    SegmentCharacters,
    /// An empty key, stream name or lease name.
    KeyEmpty,
    /// A key or name longer than [`crate::Limits::max_key_len`] bytes.
    KeyLength,
    /// A key or name that is `.` or `..`, or holds a control character.
    KeyCharacters,
    /// A value larger than [`crate::Limits::max_value_size`] bytes (a patched value too).
    ValueSize,
    /// A batch with too many mutations or too many value bytes.
    BatchSize,
    /// A content type that is empty, over 255 bytes or holds a control character.
    ContentType,
    /// A subject that is empty, longer than [`crate::Limits::max_subject_len`] bytes or
    /// holds a control character.
    SubjectLength,
    /// A TTL outside 1 ms to 100 years, or a duration that does not parse.
    Ttl,
    /// A page size of 0 or above [`crate::Limits::max_page`].
    Limit,
    /// A cursor this store did not issue, or one from another scan.
    Cursor,
    /// A JSON value that does not parse, nests too deep, or a value that is not JSON where
    /// JSON is needed.
    Json,
    /// An option or range that makes no sense (a key filter on a recursive scan, a bad
    /// setting).
    Range,
}

impl Rule {
    /// Every rule, for the inverse of `Display` ([`Rule::from_name`]).
    pub const ALL: [Rule; 17] = [
        Rule::NamespaceEmpty,
        Rule::NamespaceDepth,
        Rule::SegmentEmpty,
        Rule::SegmentLength,
        Rule::SegmentCharacters,
        Rule::KeyEmpty,
        Rule::KeyLength,
        Rule::KeyCharacters,
        Rule::ValueSize,
        Rule::BatchSize,
        Rule::ContentType,
        Rule::SubjectLength,
        Rule::Ttl,
        Rule::Limit,
        Rule::Cursor,
        Rule::Json,
        Rule::Range,
    ];

    /// The rule whose stable name (`key.length`, ...) this is.
    pub fn from_name(name: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|r| r.to_string() == name)
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Rule::NamespaceEmpty => "namespace.empty",
            Rule::NamespaceDepth => "namespace.depth",
            Rule::SegmentEmpty => "segment.empty",
            Rule::SegmentLength => "segment.length",
            Rule::SegmentCharacters => "segment.characters",
            Rule::KeyEmpty => "key.empty",
            Rule::KeyLength => "key.length",
            Rule::KeyCharacters => "key.characters",
            Rule::ValueSize => "value.size",
            Rule::BatchSize => "batch.size",
            Rule::ContentType => "value.content_type",
            Rule::SubjectLength => "subject.length",
            Rule::Ttl => "ttl",
            Rule::Limit => "limit",
            Rule::Cursor => "cursor",
            Rule::Json => "value.json",
            Rule::Range => "range",
        })
    }
}

/// Everything that can go wrong in botstore.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum Error {
    /// The item, stream or lease does not exist (or has expired).
    #[error("not found: {what}")]
    NotFound {
        /// What was looked for (`item ns/key`, `stream ns/name`, ...).
        what: String,
    },

    /// The input broke a rule; nothing was written.
    #[error("invalid input ({rule}): {detail}")]
    InvalidInput {
        /// The rule the input broke.
        rule: Rule,
        /// What was wrong, for people (sizes, the offending text).
        detail: String,
    },

    /// A write's precondition did not hold; nothing was written. `current` is the
    /// item's current version (`None`: the item does not exist).
    #[error("precondition failed: current version is {}", current.map(|v| v.to_string()).unwrap_or_else(|| "absent".into()))]
    PreconditionFailed {
        /// The item's current version; `None`: it does not exist.
        current: Option<Version>,
    },

    /// A stream append named an expected last sequence that is not the stream's.
    #[error(
        "stream sequence mismatch: expected last sequence {expected}, stream's last is {current}"
    )]
    SequenceMismatch {
        /// The last sequence the append expected.
        expected: u64,
        /// The stream's actual last sequence (0 for a stream with no entries yet).
        current: u64,
    },

    /// Another holder has the lease and it has not expired.
    #[error("lease is held by {holder:?} until {expires_at_ms} (ms since epoch)")]
    LeaseHeld {
        /// Who holds the lease.
        holder: String,
        /// When the holder's lease lapses, in ms since the Unix epoch.
        expires_at_ms: i64,
    },

    /// A write presented a fencing token that is no longer the lease's current token.
    #[error("fencing token {presented} is stale: the lease's current token is {current:?}")]
    StaleFence {
        /// The token the write presented.
        presented: u64,
        /// The lease's current token; `None` when the lease is released or does not exist.
        current: Option<u64>,
    },

    /// A JSON Patch failed (a `test` operation did not match, a path is missing, ...)
    /// or the target is not JSON; nothing was written.
    #[error("patch failed: {0}")]
    PatchFailed(String),

    /// Stored bytes could not be decoded: a bug or disk corruption.
    #[error("corrupt data: {0}")]
    Corrupt(String),

    /// The storage engine or the disk failed.
    #[error("storage error: {0}")]
    Storage(String),

    /// The store was closed, or its writer stopped after a fatal storage error.
    #[error("store is closed: {0}")]
    Closed(String),

    /// The disk is full (ENOSPC): the write was not made. Reads go on; writes resume by
    /// themselves once space is freed.
    #[error("no space left: {0}")]
    NoSpace(String),

    /// The store is open for reading only (opened read-only, or on a disk with no room to
    /// start the write path): the write was not made.
    #[error("store is read-only: {0}")]
    ReadOnly(String),

    /// A remote store's HTTP layer refused the request itself, not its data (401, 403,
    /// 413, 429, 503, a malformed request, a problem type this version does not know).
    /// `message` is what users are shown (`server answered Unauthorized (401): ...`),
    /// `problem_type` the problem document's type URI, and `kind` the class the refusal
    /// maps to (the CLI's exit code), as `Problem::into_error` decides it.
    #[error("{message}")]
    Refused {
        /// The HTTP status the server answered.
        status: u16,
        /// The problem document's type URI.
        problem_type: String,
        /// The message users are shown.
        message: String,
        /// The class the refusal maps to.
        kind: ErrorKind,
    },

    /// A remote store could not be reached, the connection failed or timed out, or the
    /// server answered something the API does not say it answers. The message names the
    /// server and the cause (`cannot reach server at URL: ...`).
    #[error("{0}")]
    Unavailable(String),
}

impl Error {
    pub(crate) fn invalid(rule: Rule, detail: impl Into<String>) -> Self {
        Error::InvalidInput {
            rule,
            detail: detail.into(),
        }
    }

    pub(crate) fn not_found(what: impl Into<String>) -> Self {
        Error::NotFound { what: what.into() }
    }

    /// Wrap any storage-engine error.
    pub fn storage(e: impl std::fmt::Display) -> Self {
        Error::Storage(e.to_string())
    }

    /// The stable name of this error's kind.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::InvalidInput { .. } => ErrorKind::InvalidInput,
            Error::PreconditionFailed { .. }
            | Error::SequenceMismatch { .. }
            | Error::LeaseHeld { .. }
            | Error::StaleFence { .. }
            | Error::PatchFailed(_) => ErrorKind::Conflict,
            Error::Corrupt(_)
            | Error::Storage(_)
            | Error::Closed(_)
            | Error::NoSpace(_)
            | Error::ReadOnly(_)
            | Error::Unavailable(_) => ErrorKind::Internal,
            Error::Refused { kind, .. } => *kind,
        }
    }

    /// True for failures of a remote request as a whole ([`Error::Refused`],
    /// [`Error::Unavailable`]) rather than of one operation: an atomic batch that fails
    /// this way names no mutation.
    pub fn is_request_failure(&self) -> bool {
        matches!(self, Error::Refused { .. } | Error::Unavailable(_))
    }
}

/// Coarse classes of [`Error`], one per CLI exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// exit code 1
    NotFound,
    /// exit code 2
    InvalidInput,
    /// exit code 3: a precondition, sequence, lease or fence did not hold
    Conflict,
    /// exit code 4
    Internal,
}

/// The result of every fallible botstore operation: `Error` unless given another.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod rule_tests {
    use super::Rule;

    #[test]
    fn every_rule_is_listed_once_and_its_name_parses_back() {
        for (i, r) in Rule::ALL.iter().enumerate() {
            assert_eq!(Rule::from_name(&r.to_string()), Some(*r));
            // Exhaustive on purpose: a new rule does not compile here until it is in ALL.
            let pos = match r {
                Rule::NamespaceEmpty => 0,
                Rule::NamespaceDepth => 1,
                Rule::SegmentEmpty => 2,
                Rule::SegmentLength => 3,
                Rule::SegmentCharacters => 4,
                Rule::KeyEmpty => 5,
                Rule::KeyLength => 6,
                Rule::KeyCharacters => 7,
                Rule::ValueSize => 8,
                Rule::BatchSize => 9,
                Rule::ContentType => 10,
                Rule::SubjectLength => 11,
                Rule::Ttl => 12,
                Rule::Limit => 13,
                Rule::Cursor => 14,
                Rule::Json => 15,
                Rule::Range => 16,
            };
            assert_eq!(pos, i, "{r}");
        }
    }
}
