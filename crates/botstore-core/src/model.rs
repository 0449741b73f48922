//! The data model: namespaces, items, versions, preconditions, streams, leases, changes.
//! Everything here is plain data; validation lives in [`crate::limits`].

use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// Milliseconds since the Unix epoch.
pub type Millis = i64;

/// A namespace: a tuple of segments such as `["tenant-a", "users", "u42"]`.
/// Written `tenant-a/users/u42` on the command line.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Namespace(pub Vec<String>);

impl Namespace {
    pub fn new<S: Into<String>>(segments: impl IntoIterator<Item = S>) -> Self {
        Namespace(segments.into_iter().map(Into::into).collect())
    }
    /// The root: the prefix of every namespace (only valid as a prefix, never for items).
    pub fn root() -> Self {
        Namespace(Vec::new())
    }
    /// Parse `a/b/c`. Empty string gives the root. Validation happens in the store.
    pub fn parse(s: &str) -> Self {
        let s = s.trim_matches('/');
        if s.is_empty() {
            return Namespace::root();
        }
        Namespace(s.split('/').map(str::to_owned).collect())
    }
    pub fn segments(&self) -> &[String] {
        &self.0
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn starts_with(&self, prefix: &Namespace) -> bool {
        self.0.starts_with(&prefix.0)
    }
    pub fn child(&self, segment: impl Into<String>) -> Self {
        let mut v = self.0.clone();
        v.push(segment.into());
        Namespace(v)
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("/"))
    }
}
impl fmt::Debug for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl<S: Into<String>> FromIterator<S> for Namespace {
    fn from_iter<T: IntoIterator<Item = S>>(iter: T) -> Self {
        Namespace::new(iter)
    }
}

/// An item's version: the store-wide sequence number (LSN) of the write that produced it,
/// so versions are unique across the store and grow with every write. Its string form (the
/// decimal number) is the ETag.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Version(pub u64);

impl Version {
    /// The ETag form, quoted as HTTP wants it: `"42"`.
    pub fn etag(&self) -> String {
        format!("\"{}\"", self.0)
    }
    /// Parse `42` or `"42"` (or a weak `W/"42"`).
    pub fn parse(s: &str) -> Option<Version> {
        let s = s.trim();
        let s = s.strip_prefix("W/").unwrap_or(s);
        let s = s.trim_matches('"');
        s.parse().ok().map(Version)
    }
}
impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}
impl fmt::Debug for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}

/// The content type of JSON values.
pub const JSON: &str = "application/json";

/// A stored value: bytes with a content type. JSON values have the content type
/// `application/json` and hold valid JSON text; they are parsed only when asked
/// ([`Value::to_json`]), so reads copy bytes and nothing more.
#[derive(Clone, PartialEq, Eq)]
pub struct Value {
    pub content_type: String,
    pub data: Vec<u8>,
}

impl Value {
    /// A JSON value.
    pub fn json(v: &serde_json::Value) -> Self {
        Value {
            content_type: JSON.into(),
            data: serde_json::to_vec(v).unwrap_or_default(),
        }
    }
    /// A JSON value from any serialisable type.
    pub fn to_json_value<T: Serialize>(v: &T) -> crate::Result<Self> {
        let data = serde_json::to_vec(v)
            .map_err(|e| crate::Error::invalid(crate::Rule::Json, e.to_string()))?;
        Ok(Value {
            content_type: JSON.into(),
            data,
        })
    }
    /// JSON text that is still to be checked (the store checks it on write).
    pub fn json_text(text: impl Into<Vec<u8>>) -> Self {
        Value {
            content_type: JSON.into(),
            data: text.into(),
        }
    }
    /// Opaque bytes with a content type.
    pub fn bytes(content_type: impl Into<String>, data: impl Into<Vec<u8>>) -> Self {
        Value {
            content_type: content_type.into(),
            data: data.into(),
        }
    }
    pub fn is_json(&self) -> bool {
        self.content_type == JSON
    }
    /// Parse as JSON (fails for non-JSON content types).
    pub fn to_json(&self) -> crate::Result<serde_json::Value> {
        if !self.is_json() {
            return Err(crate::Error::invalid(
                crate::Rule::Json,
                format!("value has content type {:?}, not JSON", self.content_type),
            ));
        }
        serde_json::from_slice(&self.data)
            .map_err(|e| crate::Error::Corrupt(format!("stored JSON does not parse: {e}")))
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_json() {
            write!(f, "json:{}", String::from_utf8_lossy(&self.data))
        } else {
            write!(f, "{}:{} bytes", self.content_type, self.data.len())
        }
    }
}

/// An item as read from the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    pub ns: Namespace,
    pub key: String,
    pub value: Value,
    pub version: Version,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub expires_at: Option<Millis>,
    pub subject: Option<String>,
}

/// The condition a write needs to hold before it changes anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Precondition {
    /// Unconditional.
    #[default]
    Any,
    /// The item exists with exactly this version (HTTP `If-Match`).
    IfVersion(Version),
    /// The item does not exist (HTTP `If-None-Match: *`).
    IfAbsent,
}

/// How long an item lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Ttl {
    /// The namespace's default TTL if one is set, otherwise forever.
    #[default]
    Default,
    /// Forever, whatever the namespace default.
    Never,
    /// Expire this long after the write.
    After(Duration),
}

/// A fencing token a write requires: the write is refused unless `token` is still the
/// current token of the lease `(ns, name)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fence {
    pub ns: Namespace,
    pub name: String,
    pub token: u64,
}

/// A patch applied atomically inside the store.
#[derive(Clone, Debug, PartialEq)]
pub enum PatchOp {
    /// RFC 7396 JSON Merge Patch. On a missing item it creates the item from `{}`.
    Merge(serde_json::Value),
    /// RFC 6902 JSON Patch (with `test`). On a missing item it fails with `NotFound`.
    Json(json_patch::Patch),
}

/// Where a stream trim cuts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrimTo {
    /// Keep only the last N entries.
    KeepLast(u64),
    /// Remove every entry with a sequence below this one.
    Before(u64),
    /// Remove every entry appended before this time.
    OlderThan(Millis),
}

/// One write in a batch.
#[derive(Clone, Debug, PartialEq)]
pub enum Mutation {
    Put {
        ns: Namespace,
        key: String,
        value: Value,
        precondition: Precondition,
        ttl: Ttl,
        subject: Option<String>,
        fence: Option<Fence>,
    },
    Delete {
        ns: Namespace,
        key: String,
        precondition: Precondition,
        fence: Option<Fence>,
    },
    Patch {
        ns: Namespace,
        key: String,
        patch: PatchOp,
        precondition: Precondition,
        fence: Option<Fence>,
    },
    /// Renew an item's TTL without sending its value again. The version stays the same, so
    /// a reader that keeps an item alive never breaks a writer's `If-Match`; the change feed
    /// records the new expiry. `NotFound` when the item does not exist or has expired.
    Touch {
        ns: Namespace,
        key: String,
        /// The new TTL, counted from now (`Ttl::Default`: the namespace default, or none).
        ttl: Ttl,
        fence: Option<Fence>,
    },
    Append {
        ns: Namespace,
        stream: String,
        entries: Vec<Value>,
        expected_last: Option<u64>,
    },
    Trim {
        ns: Namespace,
        stream: String,
        to: TrimTo,
    },
    /// Delete a whole stream (all entries and its metadata).
    DeleteStream { ns: Namespace, stream: String },
    LeaseAcquire {
        ns: Namespace,
        name: String,
        holder: String,
        ttl: Duration,
    },
    LeaseRenew {
        ns: Namespace,
        name: String,
        token: u64,
        ttl: Duration,
    },
    LeaseRelease {
        ns: Namespace,
        name: String,
        token: u64,
    },
    /// Set (or clear) the default TTL of every namespace under a prefix.
    SetNamespaceTtl {
        prefix: Namespace,
        ttl: Option<Duration>,
    },
    /// Remove an item whose TTL passed, if it still has this version (the sweeper's write).
    Expire {
        ns: Namespace,
        key: String,
        version: Version,
    },
    /// Drop up to `max` change-feed records below `before_lsn` (retention; no change record).
    ForgetChanges { before_lsn: u64, max: u32 },
}

/// What a mutation acts on. The input rules and the semantics of each kind of mutation
/// live in one file per topic (`apply/items.rs`, `streams.rs`, `leases.rs`, `ttl.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Topic {
    /// Items: put, delete, patch, touch, expire.
    Items,
    /// Streams: append, trim, delete.
    Streams,
    /// Leases: acquire, renew, release.
    Leases,
    /// Namespace default TTLs and change-feed retention.
    Upkeep,
}

impl Mutation {
    /// Which topic the mutation belongs to.
    pub fn topic(&self) -> Topic {
        match self {
            Mutation::Put { .. }
            | Mutation::Delete { .. }
            | Mutation::Patch { .. }
            | Mutation::Touch { .. }
            | Mutation::Expire { .. } => Topic::Items,
            Mutation::Append { .. } | Mutation::Trim { .. } | Mutation::DeleteStream { .. } => {
                Topic::Streams
            }
            Mutation::LeaseAcquire { .. }
            | Mutation::LeaseRenew { .. }
            | Mutation::LeaseRelease { .. } => Topic::Leases,
            Mutation::SetNamespaceTtl { .. } | Mutation::ForgetChanges { .. } => Topic::Upkeep,
        }
    }

    /// A plain unconditional put of a value.
    pub fn put(ns: Namespace, key: impl Into<String>, value: Value) -> Self {
        Mutation::Put {
            ns,
            key: key.into(),
            value,
            precondition: Precondition::Any,
            ttl: Ttl::Default,
            subject: None,
            fence: None,
        }
    }
    /// A plain unconditional delete.
    pub fn delete(ns: Namespace, key: impl Into<String>) -> Self {
        Mutation::Delete {
            ns,
            key: key.into(),
            precondition: Precondition::Any,
            fence: None,
        }
    }
    /// The namespace the mutation writes in (for [`Mutation::SetNamespaceTtl`], the prefix
    /// it covers); `None` for the store-wide [`Mutation::ForgetChanges`]. What token scopes
    /// are checked against.
    pub fn namespace(&self) -> Option<&Namespace> {
        match self {
            Mutation::Put { ns, .. }
            | Mutation::Delete { ns, .. }
            | Mutation::Patch { ns, .. }
            | Mutation::Touch { ns, .. }
            | Mutation::Append { ns, .. }
            | Mutation::Trim { ns, .. }
            | Mutation::DeleteStream { ns, .. }
            | Mutation::LeaseAcquire { ns, .. }
            | Mutation::LeaseRenew { ns, .. }
            | Mutation::LeaseRelease { ns, .. }
            | Mutation::Expire { ns, .. } => Some(ns),
            Mutation::SetNamespaceTtl { prefix, .. } => Some(prefix),
            Mutation::ForgetChanges { .. } => None,
        }
    }

    /// True when the mutation covers every namespace under [`Mutation::namespace`] (or the
    /// whole store), not just that one.
    pub fn covers_prefix(&self) -> bool {
        matches!(
            self,
            Mutation::SetNamespaceTtl { .. } | Mutation::ForgetChanges { .. }
        )
    }

    /// The lease whose fencing token the write presents, if any.
    pub fn fence(&self) -> Option<&Fence> {
        match self {
            Mutation::Put { fence, .. }
            | Mutation::Delete { fence, .. }
            | Mutation::Patch { fence, .. }
            | Mutation::Touch { fence, .. } => fence.as_ref(),
            _ => None,
        }
    }

    /// Builder-style: set the precondition of a put, delete or patch.
    pub fn when(mut self, pre: Precondition) -> Self {
        match &mut self {
            Mutation::Put { precondition, .. }
            | Mutation::Delete { precondition, .. }
            | Mutation::Patch { precondition, .. } => *precondition = pre,
            _ => {}
        }
        self
    }
}

/// What a successful mutation did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A put or patch: the item's new version.
    Written {
        version: Version,
    },
    /// A delete: `existed` is false when there was nothing to delete.
    Deleted {
        existed: bool,
    },
    Appended {
        first_seq: u64,
        last_seq: u64,
    },
    Trimmed {
        removed: u64,
    },
    Lease(Lease),
    Released,
    Done,
}

impl Outcome {
    pub fn version(&self) -> Option<Version> {
        match self {
            Outcome::Written { version } => Some(*version),
            _ => None,
        }
    }
}

/// A lease on `(ns, name)`; `token` is the fencing token (it grows with every acquire).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub ns: Namespace,
    pub name: String,
    pub holder: String,
    pub token: u64,
    pub expires_at: Millis,
}

/// One entry of a stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamEntry {
    pub seq: u64,
    pub at: Millis,
    pub value: Value,
}

/// Length and bounds of a stream. An empty (or trimmed-empty) stream has `len == 0` and
/// `first_seq == last_seq + 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct StreamInfo {
    pub len: u64,
    pub first_seq: u64,
    pub last_seq: u64,
    pub bytes: u64,
}

/// Read direction for streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Direction {
    #[default]
    Forward,
    Backward,
}

/// The kind of a change-feed record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    /// An item was written (put or patch); carries the new item.
    Put(Item),
    /// An item was deleted.
    Delete { ns: Namespace, key: String },
    /// An item's TTL passed and the sweeper removed it.
    Expire { ns: Namespace, key: String },
    /// Entries were appended to a stream.
    Append {
        ns: Namespace,
        stream: String,
        entries: Vec<StreamEntry>,
    },
    /// Entries below `first_kept` were removed from a stream (all of them when the stream
    /// was deleted).
    Trim {
        ns: Namespace,
        stream: String,
        first_kept: u64,
        deleted_stream: bool,
    },
    /// A lease was acquired, renewed or released.
    Lease {
        ns: Namespace,
        name: String,
        released: bool,
    },
    /// A namespace default TTL was set or cleared.
    NamespaceTtl {
        prefix: Namespace,
        ttl_ms: Option<u64>,
    },
}

/// One committed mutation, in commit order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub lsn: u64,
    pub at: Millis,
    pub kind: ChangeKind,
}

/// A page of results plus the opaque cursor that continues it (`None`: no more).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub cursor: Option<String>,
}

/// Per-namespace counters kept by the store.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NamespaceStats {
    pub items: u64,
    /// Sum of stored item value bytes.
    pub item_bytes: u64,
    pub streams: u64,
    pub stream_entries: u64,
    pub stream_bytes: u64,
}

impl NamespaceStats {
    pub fn is_empty(&self) -> bool {
        self.items == 0 && self.streams == 0
    }
}
