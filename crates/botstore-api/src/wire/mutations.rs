//! [`MutationIn`]: one mutation of a batch, tagged by `op`: its wire type, how it is read
//! (through `FlatMutation`, which keeps JSON values as their exact text), and its
//! conversions to and from the core's `Mutation`. Everything the wire knows about one kind
//! of mutation is in this file, so a new operation is one place here.

use super::streams::TrimIn;
use super::value::{present, present_raw, ValueIn};
use super::{duration, err, format_duration, ns_string, parse_ttl, ConvertError, WireError};
use botstore::{Fence, Mutation, Namespace, PatchOp, Precondition, Ttl, Version};
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FenceIn {
    pub ns: String,
    pub name: String,
    #[serde(deserialize_with = "crate::wire::int::u64")]
    pub token: u64,
}

/// One mutation of a batch, tagged by `op`. (Deserialized by hand, see
/// [`FlatMutation`]: serde's tagged enums buffer their input, which would parse JSON
/// values into trees and lose their exact text.)
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(tag = "op", rename_all = "snake_case")]
#[schemars(deny_unknown_fields)]
pub enum MutationIn {
    #[schemars(extend(
        "oneOf" = [
            {"required": ["value"], "properties": {"content_type": {"enum": ["application/json", null]}}},
            {"required": ["value_base64"], "properties": {"value_base64": {"type": "string"}}}
        ],
        "allOf" = [
            {"not": {"required": ["value", "value_base64"], "properties": {"value_base64": {"type": "string"}}}},
            {"not": {"required": ["if_version", "if_absent"], "properties": {"if_version": {"type": "integer"}, "if_absent": {"const": true}}}}
        ]
    ))]
    Put {
        #[schemars(schema_with = "crate::schema::namespace_schema")]
        ns: String,
        #[schemars(schema_with = "crate::schema::name_schema")]
        key: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        #[schemars(with = "Option<serde_json::Value>")]
        value: Option<Box<RawValue>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(regex(pattern = crate::schema::BASE64))]
        value_base64: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(schema_with = "crate::schema::opt_content_type_schema")]
        content_type: Option<String>,
        /// Only if the item has this version (`If-Match`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        if_version: Option<u64>,
        /// Only if the item does not exist (`If-None-Match: *`).
        #[serde(default, skip_serializing_if = "is_false")]
        #[schemars(with = "Option<bool>")]
        if_absent: bool,
        /// `never` or a duration; absent: the namespace default.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(schema_with = "crate::schema::opt_ttl_schema")]
        ttl: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(schema_with = "crate::schema::opt_subject_schema")]
        subject: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fence: Option<FenceIn>,
    },
    Delete {
        #[schemars(schema_with = "crate::schema::namespace_schema")]
        ns: String,
        #[schemars(schema_with = "crate::schema::name_schema")]
        key: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        if_version: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fence: Option<FenceIn>,
    },
    #[schemars(extend(
        "oneOf" = [{"required": ["merge"]}, {"required": ["json_patch"], "properties": {"json_patch": {"type": "array"}}}],
        "allOf" = [
            {"not": {"required": ["merge", "json_patch"], "properties": {"json_patch": {"type": "array"}}}},
            {"not": {"required": ["if_version", "if_absent"], "properties": {"if_version": {"type": "integer"}, "if_absent": {"const": true}}}}
        ]
    ))]
    Patch {
        #[schemars(schema_with = "crate::schema::namespace_schema")]
        ns: String,
        #[schemars(schema_with = "crate::schema::name_schema")]
        key: String,
        /// An RFC 7396 JSON Merge Patch.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        merge: Option<serde_json::Value>,
        /// An RFC 6902 JSON Patch (array of operations).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(schema_with = "crate::schema::opt_json_patch_schema")]
        json_patch: Option<serde_json::Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        if_version: Option<u64>,
        /// Only if the item does not exist (`If-None-Match: *`).
        #[serde(default, skip_serializing_if = "is_false")]
        #[schemars(with = "Option<bool>")]
        if_absent: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fence: Option<FenceIn>,
    },
    /// Renew an item's TTL without sending its value; its version stays the same.
    Touch {
        #[schemars(schema_with = "crate::schema::namespace_schema")]
        ns: String,
        #[schemars(schema_with = "crate::schema::name_schema")]
        key: String,
        /// `never` or a duration; absent: the namespace default.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(schema_with = "crate::schema::opt_ttl_schema")]
        ttl: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fence: Option<FenceIn>,
    },
    Append {
        #[schemars(schema_with = "crate::schema::namespace_schema")]
        ns: String,
        #[schemars(schema_with = "crate::schema::name_schema")]
        stream: String,
        #[schemars(length(min = 1))]
        entries: Vec<ValueIn>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expected_last: Option<u64>,
    },
    #[schemars(extend("oneOf" = [
        {"required": ["keep_last"], "properties": {"keep_last": {"type": "integer"}}},
        {"required": ["before"], "properties": {"before": {"type": "integer"}}},
        {"required": ["older_than"], "properties": {"older_than": {"type": "integer"}}}
    ]))]
    Trim {
        #[schemars(schema_with = "crate::schema::namespace_schema")]
        ns: String,
        #[schemars(schema_with = "crate::schema::name_schema")]
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
        #[schemars(schema_with = "crate::schema::namespace_schema")]
        ns: String,
        #[schemars(schema_with = "crate::schema::name_schema")]
        stream: String,
    },
    LeaseAcquire {
        #[schemars(schema_with = "crate::schema::namespace_schema")]
        ns: String,
        #[schemars(schema_with = "crate::schema::name_schema")]
        name: String,
        #[schemars(schema_with = "crate::schema::name_schema")]
        holder: String,
        #[schemars(schema_with = "crate::schema::duration_schema")]
        ttl: String,
    },
    LeaseRenew {
        #[schemars(schema_with = "crate::schema::namespace_schema")]
        ns: String,
        #[schemars(schema_with = "crate::schema::name_schema")]
        name: String,
        token: u64,
        #[schemars(schema_with = "crate::schema::duration_schema")]
        ttl: String,
    },
    LeaseRelease {
        #[schemars(schema_with = "crate::schema::namespace_schema")]
        ns: String,
        #[schemars(schema_with = "crate::schema::name_schema")]
        name: String,
        token: u64,
    },
    SetNamespaceTtl {
        #[schemars(schema_with = "crate::schema::namespace_schema")]
        prefix: String,
        /// Absent or `null`: clear the default TTL.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(schema_with = "crate::schema::opt_duration_schema")]
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
    #[serde(default, deserialize_with = "crate::wire::int::opt_u64")]
    if_version: Option<u64>,
    if_absent: Option<bool>,
    ttl: Option<String>,
    subject: Option<String>,
    fence: Option<FenceIn>,
    #[serde(default, deserialize_with = "present")]
    merge: Option<serde_json::Value>,
    json_patch: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "crate::wire::value::opt_value_list")]
    entries: Option<Vec<ValueIn>>,
    #[serde(default, deserialize_with = "crate::wire::int::opt_u64")]
    expected_last: Option<u64>,
    #[serde(default, deserialize_with = "crate::wire::int::opt_u64")]
    keep_last: Option<u64>,
    #[serde(default, deserialize_with = "crate::wire::int::opt_u64")]
    before: Option<u64>,
    #[serde(default, deserialize_with = "crate::wire::int::opt_i64")]
    older_than: Option<i64>,
    holder: Option<String>,
    #[serde(default, deserialize_with = "crate::wire::int::opt_u64")]
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

// ------------------------------------------------------------ to and from the core

fn precondition(if_version: Option<u64>, if_absent: bool) -> Result<Precondition, WireError> {
    match (if_version, if_absent) {
        (Some(_), true) => err("give if_version or if_absent, not both"),
        (Some(v), false) => Ok(Precondition::IfVersion(Version(v))),
        (None, true) => Ok(Precondition::IfAbsent),
        (None, false) => Ok(Precondition::Any),
    }
}

fn fence(f: Option<FenceIn>) -> Option<Fence> {
    f.map(|f| Fence {
        ns: Namespace::parse(&f.ns),
        name: f.name,
        token: f.token,
    })
}

fn fence_out(f: &Option<Fence>) -> Option<FenceIn> {
    f.as_ref().map(|f| FenceIn {
        ns: ns_string(&f.ns),
        name: f.name.clone(),
        token: f.token,
    })
}

impl MutationIn {
    pub fn into_mutation(self) -> Result<Mutation, ConvertError> {
        Ok(match self {
            MutationIn::Put {
                ns,
                key,
                value,
                value_base64,
                content_type,
                if_version,
                if_absent,
                ttl,
                subject,
                fence: f,
            } => Mutation::Put {
                ns: Namespace::parse(&ns),
                key,
                value: ValueIn {
                    value,
                    value_base64,
                    content_type,
                }
                .into_value()?,
                precondition: precondition(if_version, if_absent)?,
                ttl: parse_ttl(ttl.as_deref())?,
                subject,
                fence: fence(f),
            },
            MutationIn::Delete {
                ns,
                key,
                if_version,
                fence: f,
            } => Mutation::Delete {
                ns: Namespace::parse(&ns),
                key,
                precondition: precondition(if_version, false)?,
                fence: fence(f),
            },
            MutationIn::Patch {
                ns,
                key,
                merge,
                json_patch,
                if_version,
                if_absent,
                fence: f,
            } => Mutation::Patch {
                ns: Namespace::parse(&ns),
                key,
                patch: patch_op(merge, json_patch)?,
                precondition: precondition(if_version, if_absent)?,
                fence: fence(f),
            },
            MutationIn::Touch {
                ns,
                key,
                ttl,
                fence: f,
            } => Mutation::Touch {
                ns: Namespace::parse(&ns),
                key,
                ttl: parse_ttl(ttl.as_deref())?,
                fence: fence(f),
            },
            MutationIn::Append {
                ns,
                stream,
                entries,
                expected_last,
            } => Mutation::Append {
                ns: Namespace::parse(&ns),
                stream,
                entries: entries
                    .into_iter()
                    .map(ValueIn::into_value)
                    .collect::<Result<_, _>>()?,
                expected_last,
            },
            MutationIn::Trim {
                ns,
                stream,
                keep_last,
                before,
                older_than,
            } => Mutation::Trim {
                ns: Namespace::parse(&ns),
                stream,
                to: TrimIn {
                    keep_last,
                    before,
                    older_than,
                }
                .into_trim()?,
            },
            MutationIn::DeleteStream { ns, stream } => Mutation::DeleteStream {
                ns: Namespace::parse(&ns),
                stream,
            },
            MutationIn::LeaseAcquire {
                ns,
                name,
                holder,
                ttl,
            } => Mutation::LeaseAcquire {
                ns: Namespace::parse(&ns),
                name,
                holder,
                ttl: duration(&ttl)?,
            },
            MutationIn::LeaseRenew {
                ns,
                name,
                token,
                ttl,
            } => Mutation::LeaseRenew {
                ns: Namespace::parse(&ns),
                name,
                token,
                ttl: duration(&ttl)?,
            },
            MutationIn::LeaseRelease { ns, name, token } => Mutation::LeaseRelease {
                ns: Namespace::parse(&ns),
                name,
                token,
            },
            MutationIn::SetNamespaceTtl { prefix, ttl } => Mutation::SetNamespaceTtl {
                prefix: Namespace::parse(&prefix),
                ttl: ttl.as_deref().map(duration).transpose()?,
            },
        })
    }

    /// The wire form of a core mutation (the client's direction). Internal mutations
    /// (`Expire`, `ForgetChanges`) have none.
    pub fn from_mutation(m: &Mutation) -> Option<MutationIn> {
        let pre = match m {
            Mutation::Put { precondition, .. }
            | Mutation::Delete { precondition, .. }
            | Mutation::Patch { precondition, .. } => *precondition,
            _ => Precondition::Any,
        };
        let (if_version, if_absent) = match pre {
            Precondition::Any => (None, false),
            Precondition::IfVersion(v) => (Some(v.0), false),
            Precondition::IfAbsent => (None, true),
        };
        Some(match m {
            Mutation::Put {
                ns,
                key,
                value,
                ttl,
                subject,
                fence,
                ..
            } => {
                let v = ValueIn::from_value(value);
                MutationIn::Put {
                    ns: ns_string(ns),
                    key: key.clone(),
                    value: v.value,
                    value_base64: v.value_base64,
                    content_type: v.content_type,
                    if_version,
                    if_absent,
                    ttl: ttl_string(ttl),
                    subject: subject.clone(),
                    fence: fence_out(fence),
                }
            }
            // The batch form of a delete has no `if_absent`: the client sends a
            // delete-if-absent alone (DELETE with `If-None-Match: *`) or refuses it.
            Mutation::Delete { ns, key, fence, .. } => MutationIn::Delete {
                ns: ns_string(ns),
                key: key.clone(),
                if_version,
                fence: fence_out(fence),
            },
            Mutation::Patch {
                ns,
                key,
                patch,
                fence,
                ..
            } => {
                let (merge, json_patch) = match patch {
                    PatchOp::Merge(v) => (Some(v.clone()), None),
                    PatchOp::Json(p) => (None, serde_json::to_value(p).ok()),
                };
                MutationIn::Patch {
                    ns: ns_string(ns),
                    key: key.clone(),
                    merge,
                    json_patch,
                    if_version,
                    if_absent,
                    fence: fence_out(fence),
                }
            }
            Mutation::Touch {
                ns,
                key,
                ttl,
                fence,
            } => MutationIn::Touch {
                ns: ns_string(ns),
                key: key.clone(),
                ttl: ttl_string(ttl),
                fence: fence_out(fence),
            },
            Mutation::Append {
                ns,
                stream,
                entries,
                expected_last,
            } => MutationIn::Append {
                ns: ns_string(ns),
                stream: stream.clone(),
                entries: entries.iter().map(ValueIn::from_value).collect(),
                expected_last: *expected_last,
            },
            Mutation::Trim { ns, stream, to } => {
                let t = TrimIn::from_trim(*to);
                MutationIn::Trim {
                    ns: ns_string(ns),
                    stream: stream.clone(),
                    keep_last: t.keep_last,
                    before: t.before,
                    older_than: t.older_than,
                }
            }
            Mutation::DeleteStream { ns, stream } => MutationIn::DeleteStream {
                ns: ns_string(ns),
                stream: stream.clone(),
            },
            Mutation::LeaseAcquire {
                ns,
                name,
                holder,
                ttl,
            } => MutationIn::LeaseAcquire {
                ns: ns_string(ns),
                name: name.clone(),
                holder: holder.clone(),
                ttl: format_duration(*ttl),
            },
            Mutation::LeaseRenew {
                ns,
                name,
                token,
                ttl,
            } => MutationIn::LeaseRenew {
                ns: ns_string(ns),
                name: name.clone(),
                token: *token,
                ttl: format_duration(*ttl),
            },
            Mutation::LeaseRelease { ns, name, token } => MutationIn::LeaseRelease {
                ns: ns_string(ns),
                name: name.clone(),
                token: *token,
            },
            Mutation::SetNamespaceTtl { prefix, ttl } => MutationIn::SetNamespaceTtl {
                prefix: ns_string(prefix),
                ttl: ttl.map(format_duration),
            },
            Mutation::Expire { .. } | Mutation::ForgetChanges { .. } | Mutation::Reseal { .. } => {
                return None
            }
        })
    }
}

/// A patch body: exactly one of `merge` and `json_patch`.
pub fn patch_op(
    merge: Option<serde_json::Value>,
    json_patch: Option<serde_json::Value>,
) -> Result<PatchOp, WireError> {
    match (merge, json_patch) {
        (Some(m), None) => Ok(PatchOp::Merge(m)),
        (None, Some(p)) => serde_json::from_value(p)
            .map(PatchOp::Json)
            .map_err(|e| WireError(format!("json_patch: {e}"))),
        _ => err("give exactly one of merge and json_patch"),
    }
}

/// A TTL in its wire form: absent for the namespace default, `never`, or a duration.
fn ttl_string(ttl: &Ttl) -> Option<String> {
    match ttl {
        Ttl::Default => None,
        Ttl::Never => Some("never".into()),
        Ttl::After(d) => Some(format_duration(*d)),
    }
}
