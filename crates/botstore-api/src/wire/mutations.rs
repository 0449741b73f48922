//! [`MutationIn`]: one mutation of a batch, tagged by `op`, and how it is read (through
//! `FlatMutation`, which keeps JSON values as their exact text).

#[cfg(doc)]
use super::streams::TrimIn;
use super::value::{present, present_raw, ValueIn};
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FenceIn {
    pub ns: String,
    pub name: String,
    pub token: u64,
}

/// One mutation of a batch, tagged by `op`. (Deserialized by hand, see
/// [`FlatMutation`]: serde's tagged enums buffer their input, which would parse JSON
/// values into trees and lose their exact text.)
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum MutationIn {
    Put {
        ns: String,
        key: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        #[schemars(with = "Option<serde_json::Value>")]
        value: Option<Box<RawValue>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value_base64: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content_type: Option<String>,
        /// Only if the item has this version (`If-Match`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        if_version: Option<u64>,
        /// Only if the item does not exist (`If-None-Match: *`).
        #[serde(default, skip_serializing_if = "is_false")]
        if_absent: bool,
        /// `never` or a duration; absent: the namespace default.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ttl: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        subject: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fence: Option<FenceIn>,
    },
    Delete {
        ns: String,
        key: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        if_version: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fence: Option<FenceIn>,
    },
    Patch {
        ns: String,
        key: String,
        /// An RFC 7396 JSON Merge Patch.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        merge: Option<serde_json::Value>,
        /// An RFC 6902 JSON Patch (array of operations).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        json_patch: Option<serde_json::Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        if_version: Option<u64>,
        /// Only if the item does not exist (`If-None-Match: *`).
        #[serde(default, skip_serializing_if = "is_false")]
        if_absent: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fence: Option<FenceIn>,
    },
    /// Renew an item's TTL without sending its value; its version stays the same.
    Touch {
        ns: String,
        key: String,
        /// `never` or a duration; absent: the namespace default.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ttl: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fence: Option<FenceIn>,
    },
    Append {
        ns: String,
        stream: String,
        entries: Vec<ValueIn>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expected_last: Option<u64>,
    },
    Trim {
        ns: String,
        stream: String,
        /// Exactly one of `keep_last`, `before` and `older_than` (see [`TrimIn`]).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        keep_last: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        older_than: Option<i64>,
    },
    DeleteStream {
        ns: String,
        stream: String,
    },
    LeaseAcquire {
        ns: String,
        name: String,
        holder: String,
        ttl: String,
    },
    LeaseRenew {
        ns: String,
        name: String,
        token: u64,
        ttl: String,
    },
    LeaseRelease {
        ns: String,
        name: String,
        token: u64,
    },
    SetNamespaceTtl {
        prefix: String,
        /// Absent or `null`: clear the default TTL.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ttl: Option<String>,
    },
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Every field any mutation may have: what a mutation is read into before its `op`
/// picks the variant. Unknown fields are refused here, fields of another op below.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FlatMutation {
    op: String,
    ns: Option<String>,
    key: Option<String>,
    stream: Option<String>,
    name: Option<String>,
    prefix: Option<String>,
    #[serde(default, deserialize_with = "present_raw")]
    value: Option<Box<RawValue>>,
    value_base64: Option<String>,
    content_type: Option<String>,
    if_version: Option<u64>,
    if_absent: Option<bool>,
    ttl: Option<String>,
    subject: Option<String>,
    fence: Option<FenceIn>,
    #[serde(default, deserialize_with = "present")]
    merge: Option<serde_json::Value>,
    json_patch: Option<serde_json::Value>,
    entries: Option<Vec<ValueIn>>,
    expected_last: Option<u64>,
    keep_last: Option<u64>,
    before: Option<u64>,
    older_than: Option<i64>,
    holder: Option<String>,
    token: Option<u64>,
}

impl FlatMutation {
    fn present(&self) -> [(&'static str, bool); 22] {
        [
            ("ns", self.ns.is_some()),
            ("key", self.key.is_some()),
            ("stream", self.stream.is_some()),
            ("name", self.name.is_some()),
            ("prefix", self.prefix.is_some()),
            ("value", self.value.is_some()),
            ("value_base64", self.value_base64.is_some()),
            ("content_type", self.content_type.is_some()),
            ("if_version", self.if_version.is_some()),
            ("if_absent", self.if_absent.is_some()),
            ("ttl", self.ttl.is_some()),
            ("subject", self.subject.is_some()),
            ("fence", self.fence.is_some()),
            ("merge", self.merge.is_some()),
            ("json_patch", self.json_patch.is_some()),
            ("entries", self.entries.is_some()),
            ("expected_last", self.expected_last.is_some()),
            ("keep_last", self.keep_last.is_some()),
            ("before", self.before.is_some()),
            ("older_than", self.older_than.is_some()),
            ("holder", self.holder.is_some()),
            ("token", self.token.is_some()),
        ]
    }

    /// Refuse fields that belong to other ops.
    fn only(&self, allowed: &[&str]) -> Result<(), String> {
        for (field, there) in self.present() {
            if there && !allowed.contains(&field) {
                return Err(format!(
                    "op {:?} takes no field {field:?} (it takes {})",
                    self.op,
                    allowed.join(", ")
                ));
            }
        }
        Ok(())
    }

    fn into_mutation_in(self) -> Result<MutationIn, String> {
        fn need<T>(v: Option<T>, op: &str, field: &str) -> Result<T, String> {
            v.ok_or_else(|| format!("op {op:?} needs {field:?}"))
        }
        let op = self.op.clone();
        let op = op.as_str();
        Ok(match op {
            "put" => {
                self.only(&[
                    "ns",
                    "key",
                    "value",
                    "value_base64",
                    "content_type",
                    "if_version",
                    "if_absent",
                    "ttl",
                    "subject",
                    "fence",
                ])?;
                MutationIn::Put {
                    ns: need(self.ns, op, "ns")?,
                    key: need(self.key, op, "key")?,
                    value: self.value,
                    value_base64: self.value_base64,
                    content_type: self.content_type,
                    if_version: self.if_version,
                    if_absent: self.if_absent.unwrap_or(false),
                    ttl: self.ttl,
                    subject: self.subject,
                    fence: self.fence,
                }
            }
            "touch" => {
                self.only(&["ns", "key", "ttl", "fence"])?;
                MutationIn::Touch {
                    ns: need(self.ns, op, "ns")?,
                    key: need(self.key, op, "key")?,
                    ttl: self.ttl,
                    fence: self.fence,
                }
            }
            "delete" => {
                self.only(&["ns", "key", "if_version", "fence"])?;
                MutationIn::Delete {
                    ns: need(self.ns, op, "ns")?,
                    key: need(self.key, op, "key")?,
                    if_version: self.if_version,
                    fence: self.fence,
                }
            }
            "patch" => {
                self.only(&[
                    "ns",
                    "key",
                    "merge",
                    "json_patch",
                    "if_version",
                    "if_absent",
                    "fence",
                ])?;
                MutationIn::Patch {
                    ns: need(self.ns, op, "ns")?,
                    key: need(self.key, op, "key")?,
                    merge: self.merge,
                    json_patch: self.json_patch,
                    if_version: self.if_version,
                    if_absent: self.if_absent.unwrap_or(false),
                    fence: self.fence,
                }
            }
            "append" => {
                self.only(&["ns", "stream", "entries", "expected_last"])?;
                MutationIn::Append {
                    ns: need(self.ns, op, "ns")?,
                    stream: need(self.stream, op, "stream")?,
                    entries: need(self.entries, op, "entries")?,
                    expected_last: self.expected_last,
                }
            }
            "trim" => {
                self.only(&["ns", "stream", "keep_last", "before", "older_than"])?;
                MutationIn::Trim {
                    ns: need(self.ns, op, "ns")?,
                    stream: need(self.stream, op, "stream")?,
                    keep_last: self.keep_last,
                    before: self.before,
                    older_than: self.older_than,
                }
            }
            "delete_stream" => {
                self.only(&["ns", "stream"])?;
                MutationIn::DeleteStream {
                    ns: need(self.ns, op, "ns")?,
                    stream: need(self.stream, op, "stream")?,
                }
            }
            "lease_acquire" => {
                self.only(&["ns", "name", "holder", "ttl"])?;
                MutationIn::LeaseAcquire {
                    ns: need(self.ns, op, "ns")?,
                    name: need(self.name, op, "name")?,
                    holder: need(self.holder, op, "holder")?,
                    ttl: need(self.ttl, op, "ttl")?,
                }
            }
            "lease_renew" => {
                self.only(&["ns", "name", "token", "ttl"])?;
                MutationIn::LeaseRenew {
                    ns: need(self.ns, op, "ns")?,
                    name: need(self.name, op, "name")?,
                    token: need(self.token, op, "token")?,
                    ttl: need(self.ttl, op, "ttl")?,
                }
            }
            "lease_release" => {
                self.only(&["ns", "name", "token"])?;
                MutationIn::LeaseRelease {
                    ns: need(self.ns, op, "ns")?,
                    name: need(self.name, op, "name")?,
                    token: need(self.token, op, "token")?,
                }
            }
            "set_namespace_ttl" => {
                self.only(&["prefix", "ttl"])?;
                MutationIn::SetNamespaceTtl {
                    prefix: need(self.prefix, op, "prefix")?,
                    ttl: self.ttl,
                }
            }
            other => {
                return Err(format!(
                    "unknown op {other:?}: put, delete, patch, append, trim, delete_stream, \
                     lease_acquire, lease_renew, lease_release or set_namespace_ttl"
                ))
            }
        })
    }
}

impl<'de> Deserialize<'de> for MutationIn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        FlatMutation::deserialize(d)?
            .into_mutation_in()
            .map_err(serde::de::Error::custom)
    }
}
