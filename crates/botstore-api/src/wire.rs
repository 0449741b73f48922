//! JSON bodies of the API and their conversions to and from core types.
//!
//! Values: a JSON value travels inline as `value`; any other content type travels as
//! `value_base64` (standard alphabet, padded) with its `content_type`. Namespaces travel
//! as strings, `tenant-a/users/u42` (segments never hold `/`, so this is unambiguous).
//! Durations (TTLs) are strings such as `30s`, `15m`, `24h`, `30d`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use botstore::{
    Change, ChangeKind, Fence, Item, Lease, Mutation, Namespace, NamespaceStats, Outcome, PatchOp,
    Precondition, StreamEntry, StreamInfo, TrimTo, Ttl, Value, Version, JSON,
};
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;
use std::time::Duration;

/// A request body had a shape the API does not accept. Maps to `malformed-request`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WireError(pub String);

fn err<T>(s: impl Into<String>) -> Result<T, WireError> {
    Err(WireError(s.into()))
}

/// `Some(v)` for any present value, `null` included (plain `Option` would read `null`
/// as absent, and `null` is a JSON value a caller may store).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<serde_json::Value>, D::Error> {
    serde_json::Value::deserialize(d).map(Some)
}
fn present_raw<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Box<RawValue>>, D::Error> {
    Box::<RawValue>::deserialize(d).map(Some)
}

/// Parse a TTL string: `never`, or a duration (`30s`, `15m`, `24h`, `30d`).
pub fn parse_ttl(s: Option<&str>) -> Result<Ttl, botstore::Error> {
    match s {
        None => Ok(Ttl::Default),
        Some("never") => Ok(Ttl::Never),
        Some(d) => botstore::parse_duration(d).map(Ttl::After),
    }
}

/// A duration as the API writes it: whole seconds when exact, else milliseconds.
pub fn format_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

fn ns_string(ns: &Namespace) -> String {
    ns.to_string()
}

// ------------------------------------------------------------------ values

/// A value given in a request body. JSON travels as text and is stored exactly as sent
/// (never parsed into a tree and re-printed: key order, number formats and big integers
/// survive).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ValueIn {
    /// A JSON value (content type `application/json`).
    #[serde(
        default,
        deserialize_with = "present_raw",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<serde_json::Value>")]
    pub value: Option<Box<RawValue>>,
    /// Bytes of any other content type, base64 (standard alphabet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_base64: Option<String>,
    /// Content type of `value_base64` (default `application/octet-stream`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
}

/// JSON text as a raw value, if it is JSON (`None`: send it as base64 instead).
fn raw_json(v: &Value) -> Option<Box<RawValue>> {
    if !v.is_json() {
        return None;
    }
    let text = std::str::from_utf8(&v.data).ok()?;
    // Whitespace around the value would not survive as a raw value; such (rare) values
    // travel as base64 so that the bytes stay exact.
    if text.trim() != text {
        return None;
    }
    RawValue::from_string(text.to_owned()).ok()
}

impl ValueIn {
    pub fn from_value(v: &Value) -> ValueIn {
        if let Some(raw) = raw_json(v) {
            return ValueIn {
                value: Some(raw),
                ..Default::default()
            };
        }
        ValueIn {
            value: None,
            value_base64: Some(STANDARD.encode(&v.data)),
            content_type: Some(v.content_type.clone()),
        }
    }

    pub fn into_value(self) -> Result<Value, WireError> {
        match (self.value, self.value_base64) {
            (Some(_), Some(_)) => err("give either value or value_base64, not both"),
            (None, None) => err("a value is required: value (JSON) or value_base64"),
            (Some(j), None) => {
                if self.content_type.as_deref().is_some_and(|c| c != JSON) {
                    return err("value holds JSON; use value_base64 for other content types");
                }
                Ok(Value {
                    content_type: JSON.into(),
                    data: j.get().as_bytes().to_vec(),
                })
            }
            (None, Some(b)) => Ok(Value {
                content_type: self
                    .content_type
                    .unwrap_or_else(|| "application/octet-stream".into()),
                data: STANDARD
                    .decode(b.as_bytes())
                    .map_err(|e| WireError(format!("value_base64: {e}")))?,
            }),
        }
    }
}

/// A value in a response body: `value` for JSON, `value_base64` otherwise.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ValueOut {
    pub content_type: String,
    #[serde(
        default,
        deserialize_with = "present_raw",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<serde_json::Value>")]
    pub value: Option<Box<RawValue>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_base64: Option<String>,
}

impl ValueOut {
    pub fn from_value(v: &Value) -> ValueOut {
        if v.is_json() {
            if let Ok(text) = std::str::from_utf8(&v.data) {
                if let Ok(raw) = RawValue::from_string(text.to_owned()) {
                    return ValueOut {
                        content_type: JSON.into(),
                        value: Some(raw),
                        value_base64: None,
                    };
                }
            }
        }
        ValueOut {
            content_type: v.content_type.clone(),
            value: None,
            value_base64: Some(STANDARD.encode(&v.data)),
        }
    }

    pub fn into_value(self) -> Result<Value, WireError> {
        match (self.value, self.value_base64) {
            (Some(raw), None) => Ok(Value {
                content_type: self.content_type,
                data: raw.get().as_bytes().to_vec(),
            }),
            (None, Some(b)) => Ok(Value {
                content_type: self.content_type,
                data: STANDARD
                    .decode(b.as_bytes())
                    .map_err(|e| WireError(format!("value_base64: {e}")))?,
            }),
            _ => err("a value needs exactly one of value and value_base64"),
        }
    }
}

// ------------------------------------------------------------------ items

/// An item with its metadata (scans, batch reads, the change feed).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ItemOut {
    pub ns: String,
    pub key: String,
    /// The version; its decimal form is the ETag.
    pub version: u64,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
    pub updated_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    pub content_type: String,
    #[serde(
        default,
        deserialize_with = "present_raw",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<serde_json::Value>")]
    pub value: Option<Box<RawValue>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_base64: Option<String>,
}

impl ItemOut {
    pub fn from_item(i: &Item) -> ItemOut {
        let v = ValueOut::from_value(&i.value);
        ItemOut {
            ns: ns_string(&i.ns),
            key: i.key.clone(),
            version: i.version.0,
            created_at: i.created_at,
            updated_at: i.updated_at,
            expires_at: i.expires_at,
            subject: i.subject.clone(),
            content_type: v.content_type,
            value: v.value,
            value_base64: v.value_base64,
        }
    }

    pub fn into_item(self) -> Result<Item, WireError> {
        let value = ValueOut {
            content_type: self.content_type,
            value: self.value,
            value_base64: self.value_base64,
        }
        .into_value()?;
        Ok(Item {
            ns: Namespace::parse(&self.ns),
            key: self.key,
            value,
            version: Version(self.version),
            created_at: self.created_at,
            updated_at: self.updated_at,
            expires_at: self.expires_at,
            subject: self.subject,
        })
    }
}

/// A page of items.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ItemPage {
    pub items: Vec<ItemOut>,
    /// Pass as `cursor` to continue; absent when there is no more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// Body of `POST /v1/get`: read many items in one request.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetManyRequest {
    pub keys: Vec<ItemRef>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemRef {
    pub ns: String,
    pub key: String,
}

/// The items of a get-many, in request order; `null` where an item does not exist.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct GetManyResponse {
    pub items: Vec<Option<ItemOut>>,
}

/// A page of namespaces.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct NamespacePage {
    pub namespaces: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// The result of a single-item write.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Written {
    pub version: u64,
}

/// The result of a single-item delete.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Deleted {
    /// False when there was nothing to delete.
    pub existed: bool,
}

// ------------------------------------------------------------------ mutations

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

/// A wire error or a core rule (a TTL that does not parse).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConvertError {
    #[error(transparent)]
    Wire(#[from] WireError),
    #[error(transparent)]
    Core(#[from] botstore::Error),
}

fn duration(s: &str) -> Result<Duration, ConvertError> {
    Ok(botstore::parse_duration(s)?)
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
                    ttl: match ttl {
                        Ttl::Default => None,
                        Ttl::Never => Some("never".into()),
                        Ttl::After(d) => Some(format_duration(*d)),
                    },
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
            Mutation::Expire { .. } | Mutation::ForgetChanges { .. } => return None,
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

/// Where a trim cuts: exactly one field.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrimIn {
    /// Keep only the last N entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_last: Option<u64>,
    /// Remove every entry with a sequence below this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<u64>,
    /// Remove every entry appended before this time (ms since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub older_than: Option<i64>,
}

impl TrimIn {
    pub fn into_trim(self) -> Result<TrimTo, WireError> {
        match (self.keep_last, self.before, self.older_than) {
            (Some(n), None, None) => Ok(TrimTo::KeepLast(n)),
            (None, Some(s), None) => Ok(TrimTo::Before(s)),
            (None, None, Some(t)) => Ok(TrimTo::OlderThan(t)),
            _ => err("give exactly one of keep_last, before and older_than"),
        }
    }
    pub fn from_trim(t: TrimTo) -> TrimIn {
        match t {
            TrimTo::KeepLast(n) => TrimIn {
                keep_last: Some(n),
                ..Default::default()
            },
            TrimTo::Before(s) => TrimIn {
                before: Some(s),
                ..Default::default()
            },
            TrimTo::OlderThan(t) => TrimIn {
                older_than: Some(t),
                ..Default::default()
            },
        }
    }
}

/// Body of `POST /v1/batch`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    pub mutations: Vec<MutationIn>,
    /// All or nothing (default). With `false`, each mutation succeeds or fails on its
    /// own and the response lists a status per mutation.
    #[serde(default = "yes")]
    pub atomic: bool,
}

fn yes() -> bool {
    true
}

/// What a mutation did, tagged by `result`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum OutcomeOut {
    Written { version: u64 },
    Deleted { existed: bool },
    Appended { first_seq: u64, last_seq: u64 },
    Trimmed { removed: u64 },
    Lease { lease: LeaseOut },
    Released,
    Done,
}

impl OutcomeOut {
    pub fn from_outcome(o: &Outcome) -> OutcomeOut {
        match o {
            Outcome::Written { version } => OutcomeOut::Written { version: version.0 },
            Outcome::Deleted { existed } => OutcomeOut::Deleted { existed: *existed },
            Outcome::Appended {
                first_seq,
                last_seq,
            } => OutcomeOut::Appended {
                first_seq: *first_seq,
                last_seq: *last_seq,
            },
            Outcome::Trimmed { removed } => OutcomeOut::Trimmed { removed: *removed },
            Outcome::Lease(l) => OutcomeOut::Lease {
                lease: LeaseOut::from_lease(l),
            },
            Outcome::Released => OutcomeOut::Released,
            Outcome::Done => OutcomeOut::Done,
        }
    }
    pub fn into_outcome(self) -> Outcome {
        match self {
            OutcomeOut::Written { version } => Outcome::Written {
                version: Version(version),
            },
            OutcomeOut::Deleted { existed } => Outcome::Deleted { existed },
            OutcomeOut::Appended {
                first_seq,
                last_seq,
            } => Outcome::Appended {
                first_seq,
                last_seq,
            },
            OutcomeOut::Trimmed { removed } => Outcome::Trimmed { removed },
            OutcomeOut::Lease { lease } => Outcome::Lease(lease.into_lease()),
            OutcomeOut::Released => Outcome::Released,
            OutcomeOut::Done => Outcome::Done,
        }
    }
}

/// One mutation's result in a non-atomic batch: `outcome` on success, `problem` on
/// failure; `status` is the HTTP status the mutation alone would have had.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct BatchResult {
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<OutcomeOut>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<crate::Problem>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct BatchResponse {
    pub results: Vec<BatchResult>,
}

// ------------------------------------------------------------------ streams

/// Body of a stream append.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AppendRequest {
    pub entries: Vec<ValueIn>,
    /// Only if this is the stream's last sequence (0: the stream is empty or new).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_last: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Appended {
    pub first_seq: u64,
    pub last_seq: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Trimmed {
    pub removed: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct StreamEntryOut {
    pub seq: u64,
    /// Append time, ms since the epoch.
    pub at: i64,
    pub content_type: String,
    #[serde(
        default,
        deserialize_with = "present_raw",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<serde_json::Value>")]
    pub value: Option<Box<RawValue>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_base64: Option<String>,
}

impl StreamEntryOut {
    pub fn from_entry(e: &StreamEntry) -> StreamEntryOut {
        let v = ValueOut::from_value(&e.value);
        StreamEntryOut {
            seq: e.seq,
            at: e.at,
            content_type: v.content_type,
            value: v.value,
            value_base64: v.value_base64,
        }
    }
    pub fn into_entry(self) -> Result<StreamEntry, WireError> {
        Ok(StreamEntry {
            seq: self.seq,
            at: self.at,
            value: ValueOut {
                content_type: self.content_type,
                value: self.value,
                value_base64: self.value_base64,
            }
            .into_value()?,
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct StreamEntries {
    pub entries: Vec<StreamEntryOut>,
}

/// A stream's address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StreamRef {
    pub ns: String,
    pub stream: String,
}

/// A page of streams under a prefix.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct StreamList {
    pub streams: Vec<StreamRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema)]
pub struct StreamInfoOut {
    pub len: u64,
    pub first_seq: u64,
    pub last_seq: u64,
    pub bytes: u64,
}

impl From<StreamInfo> for StreamInfoOut {
    fn from(i: StreamInfo) -> Self {
        StreamInfoOut {
            len: i.len,
            first_seq: i.first_seq,
            last_seq: i.last_seq,
            bytes: i.bytes,
        }
    }
}
impl From<StreamInfoOut> for StreamInfo {
    fn from(i: StreamInfoOut) -> Self {
        StreamInfo {
            len: i.len,
            first_seq: i.first_seq,
            last_seq: i.last_seq,
            bytes: i.bytes,
        }
    }
}

// ------------------------------------------------------------------ leases

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LeaseOut {
    pub ns: String,
    pub name: String,
    pub holder: String,
    /// The fencing token.
    pub token: u64,
    pub expires_at: i64,
}

impl LeaseOut {
    pub fn from_lease(l: &Lease) -> LeaseOut {
        LeaseOut {
            ns: ns_string(&l.ns),
            name: l.name.clone(),
            holder: l.holder.clone(),
            token: l.token,
            expires_at: l.expires_at,
        }
    }
    pub fn into_lease(self) -> Lease {
        Lease {
            ns: Namespace::parse(&self.ns),
            name: self.name,
            holder: self.holder,
            token: self.token,
            expires_at: self.expires_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LeaseAcquireRequest {
    pub holder: String,
    pub ttl: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LeaseRenewRequest {
    pub token: u64,
    pub ttl: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LeaseReleaseRequest {
    pub token: u64,
}

// ------------------------------------------------------------------ namespace TTLs

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NamespaceTtlRequest {
    /// A duration; `null` or absent clears the default.
    #[serde(default)]
    pub ttl: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct NamespaceTtl {
    pub prefix: String,
    pub ttl_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct NamespaceTtls {
    pub ttls: Vec<NamespaceTtl>,
}

// ------------------------------------------------------------------ change feed

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

// ------------------------------------------------------------------ stats

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
}

impl NamespaceStatsOut {
    pub fn new(ns: &Namespace, s: &NamespaceStats, est: Option<u64>) -> Self {
        NamespaceStatsOut {
            ns: ns_string(ns),
            items: s.items,
            item_bytes: s.item_bytes,
            streams: s.streams,
            stream_entries: s.stream_entries,
            stream_bytes: s.stream_bytes,
            estimated_disk_bytes: est,
        }
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
    pub ns: String,
    pub perms: Vec<Perm>,
}

/// Body of `POST /v1/tokens`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenCreateRequest {
    pub scopes: Vec<Scope>,
    /// How long the token is valid (`30d`); absent: until revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<String>,
    /// A note for people (`token list` shows it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
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

// ------------------------------------------------------------------ health

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Health {
    /// `ok`, or why not.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_lsn: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn null_is_a_value_and_absence_is_an_error() {
        let v: ValueIn = serde_json::from_value(json!({"value": null})).unwrap();
        assert_eq!(v.into_value().unwrap().data, b"null");
        let v: ValueIn = serde_json::from_value(json!({})).unwrap();
        assert!(v.into_value().is_err());
    }

    #[test]
    fn mutations_round_trip_through_the_wire() {
        let ns = Namespace::new(["t", "u"]);
        let ms = vec![
            Mutation::put(ns.clone(), "k", Value::json(&json!({"a": [1, null]})))
                .when(Precondition::IfAbsent),
            Mutation::Put {
                ns: ns.clone(),
                key: "b".into(),
                value: Value::bytes("image/png", vec![0, 255, 1]),
                precondition: Precondition::IfVersion(Version(9)),
                ttl: Ttl::After(Duration::from_secs(30)),
                subject: Some("u42".into()),
                fence: Some(Fence {
                    ns: ns.clone(),
                    name: "l".into(),
                    token: 3,
                }),
            },
            Mutation::delete(ns.clone(), "k"),
            Mutation::Patch {
                ns: ns.clone(),
                key: "k".into(),
                patch: PatchOp::Merge(json!({"a": null})),
                precondition: Precondition::Any,
                fence: None,
            },
            Mutation::Append {
                ns: ns.clone(),
                stream: "s".into(),
                entries: vec![Value::json(&json!("hi"))],
                expected_last: Some(0),
            },
            Mutation::Trim {
                ns: ns.clone(),
                stream: "s".into(),
                to: TrimTo::KeepLast(5),
            },
            Mutation::SetNamespaceTtl {
                prefix: ns.clone(),
                ttl: Some(Duration::from_millis(1500)),
            },
        ];
        for m in ms {
            let w = MutationIn::from_mutation(&m).unwrap();
            let text = serde_json::to_string(&w).unwrap();
            let back: MutationIn = serde_json::from_str(&text).unwrap();
            assert_eq!(back.into_mutation().unwrap(), m, "{text}");
        }
    }

    #[test]
    fn json_text_is_kept_exactly_in_batches_and_appends() {
        let body = r#"{"mutations": [
            {"op": "put", "ns": "a", "key": "k", "value": {"z":1, "a":1.50, "n":123456789012345678901}},
            {"op": "append", "ns": "a", "stream": "s", "entries": [{"value": [1.0, {"b":2,"a":1}]}]}
        ]}"#;
        let b: BatchRequest = serde_json::from_str(body).unwrap();
        let ms: Vec<Mutation> = b
            .mutations
            .into_iter()
            .map(|m| m.into_mutation().unwrap())
            .collect();
        match &ms[0] {
            Mutation::Put { value, .. } => assert_eq!(
                std::str::from_utf8(&value.data).unwrap(),
                r#"{"z":1, "a":1.50, "n":123456789012345678901}"#
            ),
            m => panic!("{m:?}"),
        }
        match &ms[1] {
            Mutation::Append { entries, .. } => {
                assert_eq!(entries[0].data, br#"[1.0, {"b":2,"a":1}]"#)
            }
            m => panic!("{m:?}"),
        }
    }

    #[test]
    fn fields_of_another_op_and_missing_fields_are_refused() {
        for bad in [
            json!({"op": "put", "ns": "a", "key": "k", "value": 1, "holder": "x"}),
            json!({"op": "delete", "ns": "a"}),
            json!({"op": "frobnicate", "ns": "a"}),
            json!({"ns": "a", "key": "k", "value": 1}),
        ] {
            assert!(
                serde_json::from_value::<MutationIn>(bad.clone()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn unknown_fields_and_double_values_are_refused() {
        let r: Result<MutationIn, _> = serde_json::from_value(
            json!({"op": "put", "ns": "a", "key": "k", "value": 1, "vaule": 2}),
        );
        assert!(r.is_err());
        let m: MutationIn = serde_json::from_value(
            json!({"op": "put", "ns": "a", "key": "k", "value": 1, "value_base64": "AA=="}),
        )
        .unwrap();
        assert!(m.into_mutation().is_err());
    }

    #[test]
    fn items_round_trip_json_and_bytes() {
        for value in [
            Value::json(&json!({"x": 1})),
            Value::bytes("a/b", vec![1, 2, 3]),
        ] {
            let item = Item {
                ns: Namespace::new(["a"]),
                key: "k".into(),
                value,
                version: Version(5),
                created_at: 1,
                updated_at: 2,
                expires_at: Some(3),
                subject: None,
            };
            let text = serde_json::to_string(&ItemOut::from_item(&item)).unwrap();
            let back: ItemOut = serde_json::from_str(&text).unwrap();
            assert_eq!(back.into_item().unwrap(), item);
        }
    }
}
