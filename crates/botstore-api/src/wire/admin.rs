//! Administration: store and namespace statistics, compaction, tokens, health.

use super::ns_string;
use botstore::{Namespace, NamespaceStats};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct NamespaceStatsOut {
    pub ns: String,
    pub items: u64,
    pub item_bytes: u64,
    pub streams: u64,
    pub stream_entries: u64,
    pub stream_bytes: u64,
    /// The store's bytes on disk shared out by logical bytes: an estimate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_disk_bytes: Option<u64>,
    /// What the item values and the stream entry values take as stored (their envelopes,
    /// compressed where it paid); `stored_bytes / (item_bytes + stream_bytes)` is the
    /// compression ratio. Absent from servers before compression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored_item_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored_stream_bytes: Option<u64>,
}

impl NamespaceStatsOut {
    pub fn new(
        ns: &Namespace,
        s: &NamespaceStats,
        stored: &botstore::StoredBytes,
        est: Option<u64>,
    ) -> Self {
        NamespaceStatsOut {
            ns: ns_string(ns),
            items: s.items,
            item_bytes: s.item_bytes,
            streams: s.streams,
            stream_entries: s.stream_entries,
            stream_bytes: s.stream_bytes,
            estimated_disk_bytes: est,
            stored_item_bytes: Some(stored.items),
            stored_stream_bytes: Some(stored.entries),
        }
    }
    /// The stored bytes, where the server said them.
    pub fn stored(&self) -> Option<botstore::StoredBytes> {
        Some(botstore::StoredBytes {
            items: self.stored_item_bytes?,
            entries: self.stored_stream_bytes?,
        })
    }
    pub fn stats(&self) -> NamespaceStats {
        NamespaceStats {
            items: self.items,
            item_bytes: self.item_bytes,
            streams: self.streams,
            stream_entries: self.stream_entries,
            stream_bytes: self.stream_bytes,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct StatsOut {
    pub backend: String,
    pub last_lsn: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_bytes: Option<u64>,
    /// Logical bytes of the whole store (what the disk estimates are shared out against).
    pub store_logical_bytes: u64,
    pub namespaces: Vec<NamespaceStatsOut>,
}

/// What `POST /v1/admin/compact` did.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct CompactOut {
    pub expired_items: u64,
    pub forgotten_changes: u64,
    pub bytes_before: u64,
    pub bytes_after: u64,
    /// Values sealed again with the newest compression dictionary.
    #[serde(default)]
    pub resealed_values: u64,
}

// ------------------------------------------------------------------ tokens

/// A permission a scope grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Perm {
    Read,
    Write,
    Admin,
}

/// A namespace pattern and the permissions granted on it. Patterns are segments
/// separated by `/`; a `*` segment matches any one segment, and a trailing `*` matches
/// the prefix itself and everything below it (`tenant-a/*`); `*` alone matches all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scope {
    /// A namespace pattern: segments or `*`, joined by `/`.
    #[schemars(schema_with = "crate::schema::scope_pattern_schema")]
    pub ns: String,
    #[schemars(length(min = 1))]
    pub perms: Vec<Perm>,
}

/// Body of `POST /v1/tokens`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenCreateRequest {
    #[schemars(length(min = 1))]
    pub scopes: Vec<Scope>,
    /// How long the token is valid (`30d`); absent: until revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::opt_duration_schema")]
    pub ttl: Option<String>,
    /// A note for people (`token list` shows it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::opt_label_schema")]
    pub label: Option<String>,
}

/// A token as listed: never the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TokenInfo {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    pub scopes: Vec<Scope>,
    pub created_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<i64>,
}

/// The answer to a token creation: the secret, shown this once.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct TokenCreated {
    pub token: String,
    pub info: TokenInfo,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct TokenList {
    pub tokens: Vec<TokenInfo>,
}

/// Body of `POST /v1/admin/backup/records`: which records of a read view to stream.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BackupRecordsRequest {
    /// The LSN of the snapshot the backup follows: the records changed after it (a delta
    /// when the change feed still holds every change since; else all of them), or none
    /// when the store is still at it. `null` or absent: all records (a full snapshot).
    #[serde(default)]
    pub since_lsn: Option<u64>,
}

// ------------------------------------------------------------------ health

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Health {
    /// `ok`, or why not.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_lsn: Option<u64>,
}
