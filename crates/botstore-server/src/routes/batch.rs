//! `POST /v1/batch`: many mutations in one commit, atomic (all or nothing) or each on its
//! own. Every mutation's namespace (and its fence's, see [`Caller::need_fence`]) is
//! checked against the token before anything runs.

use crate::auth::Caller;
use crate::extract::JsonBody;
use crate::problem::ApiError;
use crate::state::Shared;
use axum::extract::State;
use axum::Json;
use botstore::{Mutation, Namespace};
use botstore_api::wire::{BatchRequest, BatchResponse, BatchResult, OutcomeOut, Perm};
use botstore_api::Problem;

/// The namespace a mutation writes and whether it covers a whole prefix.
fn target(m: &Mutation) -> (&Namespace, bool) {
    static ROOT: Namespace = Namespace(Vec::new());
    (m.namespace().unwrap_or(&ROOT), m.covers_prefix())
}

pub async fn batch(
    State(s): State<Shared>,
    caller: Caller,
    JsonBody(req): JsonBody<BatchRequest>,
) -> Result<Json<BatchResponse>, ApiError> {
    // Not atomic: a mutation whose wire form does not convert (a TTL out of range, say)
    // fails in its own slot, as an invalid mutation does in `Store::write_many`; the
    // others are written. Atomic: it fails the whole batch, with its index.
    let mut slots: Vec<Option<BatchResult>> = Vec::with_capacity(req.mutations.len());
    let mut mutations = Vec::with_capacity(req.mutations.len());
    for (i, m) in req.mutations.into_iter().enumerate() {
        let m = match m.into_mutation() {
            Ok(m) => m,
            Err(e) => {
                let mut e = ApiError::from(e);
                if req.atomic {
                    e.0.index = Some(i);
                    return Err(e);
                }
                slots.push(Some(BatchResult {
                    status: e.0.status,
                    outcome: None,
                    problem: Some(*e.0),
                }));
                continue;
            }
        };
        let (ns, prefix) = target(&m);
        let allowed = if prefix {
            caller.need_all_under(Perm::Write, ns)
        } else {
            caller.need(Perm::Write, ns)
        }
        .and_then(|()| caller.need_fence(m.fence()));
        if let Err(mut e) = allowed {
            e.0.index = Some(i);
            return Err(e);
        }
        mutations.push(m);
        slots.push(None);
    }
    s.metrics.batch_mutations.observe(mutations.len() as f64);
    let results = if req.atomic {
        s.store
            .batch(mutations)
            .await?
            .iter()
            .map(|o| BatchResult {
                status: 200,
                outcome: Some(OutcomeOut::from_outcome(o)),
                problem: None,
            })
            .collect()
    } else {
        let mut written = s.store.write_many(mutations).await?.into_iter();
        slots
            .into_iter()
            .map(|slot| match slot {
                Some(refused) => refused,
                None => match written.next() {
                    Some(Ok(o)) => BatchResult {
                        status: 200,
                        outcome: Some(OutcomeOut::from_outcome(&o)),
                        problem: None,
                    },
                    Some(Err(e)) => {
                        let p = Problem::from_error(&e);
                        BatchResult {
                            status: p.status,
                            outcome: None,
                            problem: Some(p),
                        }
                    }
                    None => {
                        let p = Problem::from_error(&botstore::Error::Storage(
                            "a batch result is missing".into(),
                        ));
                        BatchResult {
                            status: p.status,
                            outcome: None,
                            problem: Some(p),
                        }
                    }
                },
            })
            .collect()
    };
    Ok(Json(BatchResponse { results }))
}
