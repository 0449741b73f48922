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
    /// A namespace from its segments, in order (not validated here: the store checks them).
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
    /// The segments, outermost first.
    pub fn segments(&self) -> &[String] {
        &self.0
    }
    /// The number of segments (0 for the root).
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// Whether this is the root (no segments).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Whether `prefix`'s segments are this namespace's first segments (whole segments:
    /// `a/bc` does not start with `a/b`); every namespace starts with the root.
    pub fn starts_with(&self, prefix: &Namespace) -> bool {
        self.0.starts_with(&prefix.0)
    }
    /// This namespace with `segment` appended as its innermost segment.
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
    /// The MIME type; [`JSON`] for JSON values (the default a front end assumes).
    pub content_type: String,
    /// The value's bytes as the caller wrote them (before any codec seals them).
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
    /// Whether the content type is exactly [`JSON`].
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
    /// The namespace the item lives in.
    pub ns: Namespace,
    /// The item's key within its namespace.
    pub key: String,
    /// The item's current value.
    pub value: Value,
    /// The version of the write that produced this value (the ETag).
    pub version: Version,
    /// When the item was first written: kept by later writes, reset only after a delete or
    /// expiry.
    pub created_at: Millis,
    /// When the item was last written (put or patch).
    pub updated_at: Millis,
    /// When the item's TTL passes (it reads as absent from then on); `None`: never.
    pub expires_at: Option<Millis>,
    /// The id of the person (or other subject) the item is about, if the writer gave one;
    /// kept by later writes that give none.
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
    /// The namespace of the lease.
    pub ns: Namespace,
    /// The lease's name within its namespace.
    pub name: String,
    /// The fencing token the writer holds (from [`Outcome::Lease`]).
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
    /// Write an item's value (create or replace).
    Put {
        /// The item's namespace.
        ns: Namespace,
        /// The item's key.
        key: String,
        /// The new value.
        value: Value,
        /// What must hold of the current item for the put to happen.
        precondition: Precondition,
        /// How long the item lives from this write.
        ttl: Ttl,
        /// The subject the item is about; `None` keeps the current item's subject.
        subject: Option<String>,
        /// A fencing token the write requires, if any.
        fence: Option<Fence>,
    },
    /// Delete an item (deleting a missing one succeeds with `existed: false`).
    Delete {
        /// The item's namespace.
        ns: Namespace,
        /// The item's key.
        key: String,
        /// What must hold of the current item for the delete to happen.
        precondition: Precondition,
        /// A fencing token the write requires, if any.
        fence: Option<Fence>,
    },
    /// Patch an item's JSON value in place; keeps its TTL and subject.
    Patch {
        /// The item's namespace.
        ns: Namespace,
        /// The item's key.
        key: String,
        /// The patch to apply to the current value.
        patch: PatchOp,
        /// What must hold of the current item for the patch to happen.
        precondition: Precondition,
        /// A fencing token the write requires, if any.
        fence: Option<Fence>,
    },
    /// Renew an item's TTL without sending its value again. The version stays the same, so
    /// a reader that keeps an item alive never breaks a writer's `If-Match`; the change feed
    /// records the new expiry. `NotFound` when the item does not exist or has expired.
    Touch {
        /// The item's namespace.
        ns: Namespace,
        /// The item's key.
        key: String,
        /// The new TTL, counted from now (`Ttl::Default`: the namespace default, or none).
        ttl: Ttl,
        /// A fencing token the write requires, if any.
        fence: Option<Fence>,
    },
    /// Append entries to a stream (created by its first append), with consecutive sequence
    /// numbers.
    Append {
        /// The stream's namespace.
        ns: Namespace,
        /// The stream's name.
        stream: String,
        /// The values to append, in order.
        entries: Vec<Value>,
        /// If set, the append fails with `SequenceMismatch` unless this is the stream's
        /// current last sequence (0 for a new stream).
        expected_last: Option<u64>,
    },
    /// Remove a stream's oldest entries.
    Trim {
        /// The stream's namespace.
        ns: Namespace,
        /// The stream's name.
        stream: String,
        /// Where to cut.
        to: TrimTo,
    },
    /// Delete a whole stream (all entries and its metadata).
    DeleteStream {
        /// The stream's namespace.
        ns: Namespace,
        /// The stream's name.
        stream: String,
    },
    /// Acquire a lease, or re-acquire it as its live holder (keeping the token); fails with
    /// `LeaseHeld` while another holder's lease is live.
    LeaseAcquire {
        /// The lease's namespace.
        ns: Namespace,
        /// The lease's name.
        name: String,
        /// Who asks for the lease (an opaque id of the caller's choice).
        holder: String,
        /// How long the lease lasts from this write unless renewed.
        ttl: Duration,
    },
    /// Extend a lease whose token is still current (not released, not taken over; a lapsed
    /// lease nobody took over can be renewed); fails with `StaleFence` otherwise.
    LeaseRenew {
        /// The lease's namespace.
        ns: Namespace,
        /// The lease's name.
        name: String,
        /// The lease's current fencing token.
        token: u64,
        /// The new lifetime, counted from this write.
        ttl: Duration,
    },
    /// Release a lease whose token is still current; fails with `StaleFence` otherwise.
    LeaseRelease {
        /// The lease's namespace.
        ns: Namespace,
        /// The lease's name.
        name: String,
        /// The lease's current fencing token.
        token: u64,
    },
    /// Set (or clear) the default TTL of every namespace under a prefix.
    SetNamespaceTtl {
        /// The prefix; the deepest prefix with a default applies to a namespace.
        prefix: Namespace,
        /// The default TTL for later writes; `None` clears it (existing items keep their
        /// expiry).
        ttl: Option<Duration>,
    },
    /// Remove an item whose TTL passed, if it still has this version (the sweeper's write).
    Expire {
        /// The item's namespace.
        ns: Namespace,
        /// The item's key.
        key: String,
        /// The version the sweeper saw expire; a newer write keeps the item.
        version: Version,
    },
    /// Seal the values of the records at `keys` of `table` (items or stream entries)
    /// again with the store's codecs, changing nothing else: no new version, no change
    /// record (`compact` rewriting values to the newest compression dictionary). Keys
    /// that hold nothing, or a damaged record, are passed over.
    Reseal {
        /// [`crate::kv::Table::Items`] or [`crate::kv::Table::Entries`].
        table: crate::kv::Table,
        /// The records' keys in that table.
        keys: Vec<Vec<u8>>,
    },
    /// Drop up to `max` change-feed records below `before_lsn` (retention; no change record).
    ForgetChanges {
        /// Only records with a smaller LSN are dropped, oldest first.
        before_lsn: u64,
        /// The most records one mutation drops (keeps a retention pass's batch small).
        max: u32,
    },
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
            Mutation::SetNamespaceTtl { .. }
            | Mutation::ForgetChanges { .. }
            | Mutation::Reseal { .. } => Topic::Upkeep,
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
            Mutation::ForgetChanges { .. } | Mutation::Reseal { .. } => None,
        }
    }

    /// True when the mutation covers every namespace under [`Mutation::namespace`] (or the
    /// whole store), not just that one.
    pub fn covers_prefix(&self) -> bool {
        matches!(
            self,
            Mutation::SetNamespaceTtl { .. }
                | Mutation::ForgetChanges { .. }
                | Mutation::Reseal { .. }
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
        /// The version of the write (the item's new ETag).
        version: Version,
    },
    /// A delete: `existed` is false when there was nothing to delete.
    Deleted {
        /// Whether a live item (or stream) was there to delete.
        existed: bool,
    },
    /// An append: the sequence numbers the entries received.
    Appended {
        /// The first appended entry's sequence.
        first_seq: u64,
        /// The last appended entry's sequence (the stream's new last).
        last_seq: u64,
    },
    /// A trim of a stream, or a change-feed retention pass.
    Trimmed {
        /// How many entries (or change records) were removed.
        removed: u64,
    },
    /// A lease acquire or renew: the lease as it now is.
    Lease(Lease),
    /// A lease release.
    Released,
    /// A write with nothing more to report (setting a namespace TTL).
    Done,
}

impl Outcome {
    /// The new version of a put or patch (`None` for every other outcome).
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
    /// The lease's namespace.
    pub ns: Namespace,
    /// The lease's name.
    pub name: String,
    /// Who holds the lease.
    pub holder: String,
    /// The fencing token: the LSN of the acquire that started this holding.
    pub token: u64,
    /// When the lease lapses unless renewed.
    pub expires_at: Millis,
}

/// One entry of a stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamEntry {
    /// The entry's sequence number in its stream (from 1, consecutive).
    pub seq: u64,
    /// When the entry was appended.
    pub at: Millis,
    /// The entry's value.
    pub value: Value,
}

/// Length and bounds of a stream. An empty (or trimmed-empty) stream has `len == 0` and
/// `first_seq == last_seq + 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct StreamInfo {
    /// The number of entries.
    pub len: u64,
    /// The sequence of the oldest entry (`last_seq + 1` when the stream is empty).
    pub first_seq: u64,
    /// The sequence of the newest entry (0 before the first append); trims keep it.
    pub last_seq: u64,
    /// The sum of the entries' value bytes.
    pub bytes: u64,
}

/// Read direction for streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Direction {
    /// Oldest first.
    #[default]
    Forward,
    /// Newest first.
    Backward,
}

/// The kind of a change-feed record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    /// An item was written (put or patch); carries the new item.
    Put(Item),
    /// An item was deleted.
    Delete {
        /// The item's namespace.
        ns: Namespace,
        /// The item's key.
        key: String,
    },
    /// An item's TTL passed and the sweeper removed it.
    Expire {
        /// The item's namespace.
        ns: Namespace,
        /// The item's key.
        key: String,
    },
    /// Entries were appended to a stream.
    Append {
        /// The stream's namespace.
        ns: Namespace,
        /// The stream's name.
        stream: String,
        /// The appended entries, with their sequences.
        entries: Vec<StreamEntry>,
    },
    /// Entries below `first_kept` were removed from a stream (all of them when the stream
    /// was deleted).
    Trim {
        /// The stream's namespace.
        ns: Namespace,
        /// The stream's name.
        stream: String,
        /// The sequence of the oldest entry left (one past the last when none is).
        first_kept: u64,
        /// Whether the whole stream, metadata included, was deleted.
        deleted_stream: bool,
    },
    /// A lease was acquired, renewed or released.
    Lease {
        /// The lease's namespace.
        ns: Namespace,
        /// The lease's name.
        name: String,
        /// Whether the lease was released (false: acquired or renewed).
        released: bool,
    },
    /// A namespace default TTL was set or cleared.
    NamespaceTtl {
        /// The namespace prefix whose default changed.
        prefix: Namespace,
        /// The new default in milliseconds; `None`: cleared.
        ttl_ms: Option<u64>,
    },
}

/// One committed mutation, in commit order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The commit's log sequence number (store-wide, increasing).
    pub lsn: u64,
    /// The time of the batch that made the change.
    pub at: Millis,
    /// What changed.
    pub kind: ChangeKind,
}

/// A page of results plus the opaque cursor that continues it (`None`: no more).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    /// The results of this page, in order.
    pub items: Vec<T>,
    /// Pass back to get the next page; `None` when this page is the last.
    pub cursor: Option<String>,
}

/// Per-namespace counters kept by the store.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NamespaceStats {
    /// The number of items.
    pub items: u64,
    /// Sum of stored item value bytes.
    pub item_bytes: u64,
    /// The number of streams.
    pub streams: u64,
    /// The number of stream entries, over all streams.
    pub stream_entries: u64,
    /// Sum of stream entry value bytes.
    pub stream_bytes: u64,
}

/// What a namespace's values take as stored: their sealed envelopes (header and payload,
/// compressed where compression paid), next to [`NamespaceStats`]' logical bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StoredBytes {
    /// Stored bytes of the item values.
    pub items: u64,
    /// Stored bytes of the stream entry values.
    pub entries: u64,
}

impl StoredBytes {
    /// What `s`'s values take in plain envelopes (4 header bytes each): the figure of
    /// counters written before stored bytes were counted, and of a store never compressed.
    pub fn plain(s: &NamespaceStats) -> Self {
        StoredBytes {
            // Saturating: the counters may come from a damaged record.
            items: s.item_bytes.saturating_add(s.items.saturating_mul(4)),
            entries: s
                .stream_bytes
                .saturating_add(s.stream_entries.saturating_mul(4)),
        }
    }
    /// Both, added up.
    pub fn total(&self) -> u64 {
        self.items.saturating_add(self.entries)
    }
}

impl NamespaceStats {
    /// Whether the namespace holds no items and no streams.
    pub fn is_empty(&self) -> bool {
        self.items == 0 && self.streams == 0
    }
}
