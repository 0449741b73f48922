//! The change feed: one committed change, and a page of them.

use super::items::ItemOut;
use super::streams::StreamEntryOut;
use super::{ns_string, WireError};
use botstore::{Change, ChangeKind, Namespace};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKindName {
    Put,
    Delete,
    Expire,
    Append,
    Trim,
    Lease,
    NamespaceTtl,
}

/// One committed change. `kind` says which of the optional fields are set.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ChangeOut {
    pub lsn: u64,
    pub at: i64,
    pub kind: ChangeKindName,
    /// put: the item as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<ItemOut>,
    /// delete, expire, append, trim, lease: the namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ns: Option<String>,
    /// delete, expire: the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// append, trim: the stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    /// append: the entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entries: Option<Vec<StreamEntryOut>>,
    /// trim: the first sequence kept; whether the whole stream was deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_kept: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_stream: Option<bool>,
    /// lease: its name and whether it was released.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released: Option<bool>,
    /// namespace_ttl: the prefix and the new default (absent: cleared).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_ms: Option<u64>,
}

impl ChangeOut {
    pub fn from_change(c: &Change) -> ChangeOut {
        let mut o = ChangeOut {
            lsn: c.lsn,
            at: c.at,
            kind: ChangeKindName::Put,
            item: None,
            ns: None,
            key: None,
            stream: None,
            entries: None,
            first_kept: None,
            deleted_stream: None,
            name: None,
            released: None,
            prefix: None,
            ttl_ms: None,
        };
        match &c.kind {
            ChangeKind::Put(item) => o.item = Some(ItemOut::from_item(item)),
            ChangeKind::Delete { ns, key } | ChangeKind::Expire { ns, key } => {
                o.kind = if matches!(c.kind, ChangeKind::Delete { .. }) {
                    ChangeKindName::Delete
                } else {
                    ChangeKindName::Expire
                };
                o.ns = Some(ns_string(ns));
                o.key = Some(key.clone());
            }
            ChangeKind::Append {
                ns,
                stream,
                entries,
            } => {
                o.kind = ChangeKindName::Append;
                o.ns = Some(ns_string(ns));
                o.stream = Some(stream.clone());
                o.entries = Some(entries.iter().map(StreamEntryOut::from_entry).collect());
            }
            ChangeKind::Trim {
                ns,
                stream,
                first_kept,
                deleted_stream,
            } => {
                o.kind = ChangeKindName::Trim;
                o.ns = Some(ns_string(ns));
                o.stream = Some(stream.clone());
                o.first_kept = Some(*first_kept);
                o.deleted_stream = Some(*deleted_stream);
            }
            ChangeKind::Lease { ns, name, released } => {
                o.kind = ChangeKindName::Lease;
                o.ns = Some(ns_string(ns));
                o.name = Some(name.clone());
                o.released = Some(*released);
            }
            ChangeKind::NamespaceTtl { prefix, ttl_ms } => {
                o.kind = ChangeKindName::NamespaceTtl;
                o.prefix = Some(ns_string(prefix));
                o.ttl_ms = *ttl_ms;
            }
        }
        o
    }

    /// The namespace the change is about (the prefix for namespace TTL changes).
    pub fn namespace(c: &Change) -> &Namespace {
        match &c.kind {
            ChangeKind::Put(i) => &i.ns,
            ChangeKind::Delete { ns, .. }
            | ChangeKind::Expire { ns, .. }
            | ChangeKind::Append { ns, .. }
            | ChangeKind::Trim { ns, .. }
            | ChangeKind::Lease { ns, .. } => ns,
            ChangeKind::NamespaceTtl { prefix, .. } => prefix,
        }
    }

    pub fn into_change(self) -> Result<Change, WireError> {
        let ns = || Namespace::parse(self.ns.as_deref().unwrap_or(""));
        let need =
            |o: Option<String>, f: &str| o.ok_or_else(|| WireError(format!("change without {f}")));
        let kind = match self.kind {
            ChangeKindName::Put => ChangeKind::Put(
                self.item
                    .ok_or_else(|| WireError("put change without item".into()))?
                    .into_item()?,
            ),
            ChangeKindName::Delete => ChangeKind::Delete {
                ns: ns(),
                key: need(self.key, "key")?,
            },
            ChangeKindName::Expire => ChangeKind::Expire {
                ns: ns(),
                key: need(self.key, "key")?,
            },
            ChangeKindName::Append => ChangeKind::Append {
                ns: ns(),
                stream: need(self.stream, "stream")?,
                entries: self
                    .entries
                    .unwrap_or_default()
                    .into_iter()
                    .map(StreamEntryOut::into_entry)
                    .collect::<Result<_, _>>()?,
            },
            ChangeKindName::Trim => ChangeKind::Trim {
                ns: ns(),
                stream: need(self.stream, "stream")?,
                first_kept: self.first_kept.unwrap_or(0),
                deleted_stream: self.deleted_stream.unwrap_or(false),
            },
            ChangeKindName::Lease => ChangeKind::Lease {
                ns: ns(),
                name: need(self.name, "name")?,
                released: self.released.unwrap_or(false),
            },
            ChangeKindName::NamespaceTtl => ChangeKind::NamespaceTtl {
                prefix: Namespace::parse(self.prefix.as_deref().unwrap_or("")),
                ttl_ms: self.ttl_ms,
            },
        };
        Ok(Change {
            lsn: self.lsn,
            at: self.at,
            kind,
        })
    }
}

/// A page of the change feed.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ChangesPage {
    pub changes: Vec<ChangeOut>,
    /// Pass as `since` to continue: the LSN of the last change returned (or of the
    /// store's last write the token could see when there was none).
    pub next_since: u64,
    /// The store's last LSN when the page was read.
    pub last_lsn: u64,
}
