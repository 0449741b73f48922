//! Mutations to and from core types, the body of `POST /v1/batch` and what each mutation
//! did.

use super::leases::LeaseOut;
use super::mutations::{FenceIn, MutationIn};
use super::streams::TrimIn;
use super::value::ValueIn;
use super::{duration, err, format_duration, ns_string, parse_ttl, ConvertError, WireError};
use botstore::{Fence, Mutation, Namespace, Outcome, PatchOp, Precondition, Ttl, Version};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

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

/// A TTL in its wire form: absent for the namespace default, `never`, or a duration.
fn ttl_string(ttl: &Ttl) -> Option<String> {
    match ttl {
        Ttl::Default => None,
        Ttl::Never => Some("never".into()),
        Ttl::After(d) => Some(format_duration(*d)),
    }
}
