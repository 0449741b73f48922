//! Who is asking: the `Authorization: Bearer` token checked against the token store,
//! the per-token rate limit, and the permission checks handlers call.

use crate::problem::ApiError;
use crate::state::Shared;
use crate::tokens::{AuthError, Grant};
use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts};
use botstore::{Fence, Namespace};
use botstore_api::wire::Perm;
use botstore_api::ProblemType;
use governor::clock::{Clock, DefaultClock};
use std::sync::Arc;

/// An authenticated caller. Extracting it refuses the request (401/429) when the token
/// is missing, unknown, revoked, expired or over its rate.
pub struct Caller(pub Arc<Grant>);

fn unauthorized(e: AuthError) -> ApiError {
    ApiError::new(ProblemType::Unauthorized, e.to_string())
}

pub fn authenticate(state: &Shared, parts: &Parts) -> Result<Arc<Grant>, ApiError> {
    let bearer = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let grant = match bearer {
        // Development mode takes any token, and none.
        _ if state.settings.insecure_dev => return Ok(Arc::new(Grant::all())),
        None => return Err(unauthorized(AuthError::Missing)),
        Some(t) => state.tokens.authenticate(t).map_err(unauthorized)?,
    };
    if let (Some(limiter), Some(id)) = (&state.limiter, &grant.token_id) {
        if let Err(not_until) = limiter.check_key(id) {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            return Err(ApiError::new(
                ProblemType::RateLimited,
                format!(
                    "token {id} is over its rate limit; retry in {} ms",
                    wait.as_millis().max(1)
                ),
            ));
        }
    }
    Ok(grant)
}

impl FromRequestParts<Shared> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self, ApiError> {
        authenticate(state, parts).map(Caller)
    }
}

fn perm_name(p: Perm) -> &'static str {
    match p {
        Perm::Read => "read",
        Perm::Write => "write",
        Perm::Admin => "admin",
    }
}

impl Caller {
    /// `perm` on one namespace.
    pub fn need(&self, perm: Perm, ns: &Namespace) -> Result<(), ApiError> {
        if self.0.allows(perm, ns) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "the token has no {} permission on namespace {:?}",
                perm_name(perm),
                ns.to_string()
            )))
        }
    }

    /// `perm` on everything under `prefix`.
    pub fn need_all_under(&self, perm: Perm, prefix: &Namespace) -> Result<(), ApiError> {
        if self.0.allows_all_under(perm, prefix) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "the token has no {} permission on everything under {:?}",
                perm_name(perm),
                format!("{prefix}/*")
            )))
        }
    }

    /// `perm` on something under `prefix` (listings then filter by [`Caller::may`]).
    pub fn need_some_under(&self, perm: Perm, prefix: &Namespace) -> Result<(), ApiError> {
        if self.0.allows_some_under(perm, prefix) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "the token has no {} permission under {:?}",
                perm_name(perm),
                prefix.to_string()
            )))
        }
    }

    /// A write conditioned on a lease's fencing token reads that lease's state (a refused
    /// write answers with the lease's current token), so the fence's namespace needs
    /// `read`, like `GET /v1/leases/...`. Checked on every route and batch mutation that
    /// takes a fence, before anything runs.
    pub fn need_fence(&self, fence: Option<&Fence>) -> Result<(), ApiError> {
        match fence {
            None => Ok(()),
            Some(f) if self.0.allows(Perm::Read, &f.ns) => Ok(()),
            Some(f) => Err(ApiError::forbidden(format!(
                "the token has no read permission on namespace {:?}, where the fence's \
                 lease {:?} lives",
                f.ns.to_string(),
                f.name
            ))),
        }
    }

    pub fn may(&self, perm: Perm, ns: &Namespace) -> bool {
        self.0.allows(perm, ns)
    }

    /// Administration: `admin` on every namespace.
    pub fn need_admin(&self) -> Result<(), ApiError> {
        self.need_all_under(Perm::Admin, &Namespace::root())
    }
}
