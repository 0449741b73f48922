//! Leases: `POST /v1/leases/{ns}/{name}:acquire|:renew|:release`, `GET` to read one.

use crate::auth::Caller;
use crate::extract::{parse_object, tail, RawBody};
use crate::problem::ApiError;
use crate::state::Shared;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use botstore_api::paths::parse_named;
use botstore_api::wire::{
    LeaseAcquireRequest, LeaseOut, LeaseReleaseRequest, LeaseRenewRequest, Perm,
};

pub const LEASES: &str = "/v1/leases/";

fn unknown_verb(method: &Method, verb: Option<&str>) -> ApiError {
    crate::extract::unknown_verb(
        "leases take GET, POST :acquire, :renew and :release",
        method,
        verb,
    )
}

pub async fn get_lease(
    State(s): State<Shared>,
    caller: Caller,
    method: Method,
    uri: Uri,
) -> Result<Response, ApiError> {
    let r = parse_named(tail(&uri, LEASES), true)?;
    caller.need(Perm::Read, &r.ns)?;
    if r.verb.is_some() {
        return Err(unknown_verb(&method, r.verb.as_deref()));
    }
    let lease = s.store.get_lease(&r.ns, &r.name).await?.ok_or_else(|| {
        ApiError::not_found(format!(
            "no live lease {:?} in {:?}",
            r.name,
            r.ns.to_string()
        ))
    })?;
    Ok(Json(LeaseOut::from_lease(&lease)).into_response())
}

fn ttl(s: &str) -> Result<std::time::Duration, ApiError> {
    Ok(botstore::parse_duration(s)?)
}

pub async fn post_lease(
    State(s): State<Shared>,
    caller: Caller,
    method: Method,
    uri: Uri,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let r = parse_named(tail(&uri, LEASES), true)?;
    caller.need(Perm::Write, &r.ns)?;
    match r.verb.as_deref() {
        Some("acquire") => {
            let q: LeaseAcquireRequest = parse_object(&body)?;
            let l = s
                .store
                .acquire_lease(&r.ns, &r.name, &q.holder, ttl(&q.ttl)?)
                .await?;
            Ok(Json(LeaseOut::from_lease(&l)).into_response())
        }
        Some("renew") => {
            let q: LeaseRenewRequest = parse_object(&body)?;
            let l = s
                .store
                .renew_lease(&r.ns, &r.name, q.token, ttl(&q.ttl)?)
                .await?;
            Ok(Json(LeaseOut::from_lease(&l)).into_response())
        }
        Some("release") => {
            let q: LeaseReleaseRequest = parse_object(&body)?;
            s.store.release_lease(&r.ns, &r.name, q.token).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        v => Err(unknown_verb(&method, v)),
    }
}
