//! The body of `POST /v1/batch` and what each mutation did.

use super::leases::LeaseOut;
use super::mutations::MutationIn;
use botstore::{Outcome, Version};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Body of `POST /v1/batch`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    #[schemars(length(min = 1, max = 10_000))]
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
