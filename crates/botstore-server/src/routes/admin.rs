//! Stats, namespace TTLs, tokens and compaction.

use crate::auth::Caller;
use crate::extract::{tail, JsonBody};
use crate::problem::ApiError;
use crate::state::Shared;
use crate::tokens::TokenError;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use botstore_api::paths::parse_prefix;
use botstore_api::wire::{
    CompactOut, NamespaceStatsOut, NamespaceTtl, NamespaceTtlRequest, NamespaceTtls, Perm,
    StatsOut, TokenCreateRequest, TokenCreated, TokenList,
};
use botstore_api::ProblemType;
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoQuery {}

pub async fn stats(
    State(s): State<Shared>,
    caller: Caller,
    uri: Uri,
) -> Result<Json<StatsOut>, ApiError> {
    let prefix = parse_prefix(tail(&uri, "/v1/stats"))?;
    let _: NoQuery = crate::extract::query(&uri)?;
    caller.need_some_under(Perm::Read, &prefix)?;
    let st = s.store.stats(&prefix).await?;
    Ok(Json(StatsOut {
        backend: st.backend.clone(),
        last_lsn: st.last_lsn,
        disk_bytes: st.disk_bytes,
        store_logical_bytes: st.store_logical_bytes,
        namespaces: st
            .namespaces
            .iter()
            .enumerate()
            .filter(|(_, (ns, _))| caller.may(Perm::Read, ns))
            .map(|(i, (ns, n))| {
                NamespaceStatsOut::new(ns, n, &st.stored_bytes(i), st.estimated_disk_bytes(n))
            })
            .collect(),
    }))
}

pub async fn get_ttls(
    State(s): State<Shared>,
    caller: Caller,
    uri: Uri,
) -> Result<Json<NamespaceTtls>, ApiError> {
    let prefix = parse_prefix(tail(&uri, "/v1/namespace-ttls"))?;
    caller.need_some_under(Perm::Read, &prefix)?;
    let ttls = s.store.namespace_ttls(&prefix).await?;
    Ok(Json(NamespaceTtls {
        ttls: ttls
            .into_iter()
            .filter(|(ns, _)| caller.0.allows_some_under(Perm::Read, ns))
            .map(|(ns, d)| NamespaceTtl {
                prefix: ns.to_string(),
                ttl_ms: d.as_millis() as u64,
            })
            .collect(),
    }))
}

pub async fn put_ttl(
    State(s): State<Shared>,
    caller: Caller,
    uri: Uri,
    JsonBody(req): JsonBody<NamespaceTtlRequest>,
) -> Result<Response, ApiError> {
    let prefix = parse_prefix(tail(&uri, "/v1/namespace-ttls"))?;
    caller.need_all_under(Perm::Write, &prefix)?;
    let ttl = req
        .ttl
        .as_deref()
        .map(botstore::parse_duration)
        .transpose()?;
    s.store.set_namespace_ttl(&prefix, ttl).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn compact(
    State(s): State<Shared>,
    caller: Caller,
) -> Result<Json<CompactOut>, ApiError> {
    caller.need_admin()?;
    let m = s.store.maintain().await?;
    let r = s.store.compact().await?;
    Ok(Json(CompactOut {
        expired_items: m.expired_items,
        forgotten_changes: m.forgotten_changes,
        bytes_before: r.disk_bytes_before.unwrap_or(0),
        bytes_after: r.disk_bytes_after.unwrap_or(0),
        resealed_values: r.resealed_values,
    }))
}

fn token_error(e: TokenError) -> ApiError {
    match e {
        TokenError::Invalid(d) => ApiError::new(ProblemType::InvalidInput, d),
        TokenError::LastAdmin(d) => ApiError::new(ProblemType::LastAdminToken, d),
        other => ApiError::new(ProblemType::Storage, other.to_string()),
    }
}

pub async fn create_token(
    State(s): State<Shared>,
    caller: Caller,
    JsonBody(req): JsonBody<TokenCreateRequest>,
) -> Result<Response, ApiError> {
    caller.need_admin()?;
    let made: TokenCreated = s.tokens.create(&req).map_err(token_error)?;
    tracing::info!(token = %made.info.id, by = ?caller.0.token_id, "token created");
    Ok((StatusCode::CREATED, Json(made)).into_response())
}

pub async fn list_tokens(
    State(s): State<Shared>,
    caller: Caller,
) -> Result<Json<TokenList>, ApiError> {
    caller.need_admin()?;
    Ok(Json(TokenList {
        tokens: s.tokens.list().map_err(token_error)?,
    }))
}

pub async fn revoke_token(
    State(s): State<Shared>,
    caller: Caller,
    uri: Uri,
) -> Result<Response, ApiError> {
    caller.need_admin()?;
    let id = percent_encoding::percent_decode_str(tail(&uri, "/v1/tokens")).decode_utf8_lossy();
    let id = id.as_ref();
    if s.tokens.revoke(id).map_err(token_error)? {
        tracing::info!(token = %id, by = ?caller.0.token_id, "token revoked");
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::not_found(format!("no token with id {id:?}")))
    }
}
