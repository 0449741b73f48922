//! Health, readiness, metrics and the OpenAPI document. No token needed, except on
//! `/metrics`: it names every tenant's namespaces and sizes, so it takes a token with
//! read permission on `*` unless `metrics_public` is set.

use crate::auth::authenticate;
use crate::problem::ApiError;
use crate::state::Shared;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use botstore::Namespace;
use botstore_api::wire::{Health, Perm};

pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        last_lsn: None,
    })
}

pub async fn readyz(State(s): State<Shared>) -> Response {
    if !s.is_ready() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Health {
                status: "not ready: starting or shutting down".into(),
                last_lsn: None,
            }),
        )
            .into_response();
    }
    let lsn = s.store.last_lsn().await;
    // Reads may go on while writes fail (a full disk): not ready, and why.
    if let Some(why) = s.store.backend().write_block() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Health {
                status: format!("not ready for writes: {why}"),
                last_lsn: lsn.ok(),
            }),
        )
            .into_response();
    }
    match lsn {
        Ok(lsn) => Json(Health {
            status: "ok".into(),
            last_lsn: Some(lsn),
        })
        .into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Health {
                status: format!("store does not answer: {e}"),
                last_lsn: None,
            }),
        )
            .into_response(),
    }
}

pub async fn metrics(State(s): State<Shared>, req: Request) -> Result<Response, ApiError> {
    if !s.settings.metrics_public {
        let (parts, _) = req.into_parts();
        let g = authenticate(&s, &parts)?;
        if !g.allows_all_under(Perm::Read, &Namespace::root()) {
            return Err(ApiError::forbidden(
                "/metrics needs a token with read permission on '*' (or metrics_public = true \
                 in the server's configuration)",
            ));
        }
    }
    let text = s.metrics.render(&s).await;
    let mut r = text.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(r)
}

pub async fn openapi() -> Response {
    let mut r = Json(crate::openapi::document()).into_response();
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=60"),
    );
    r
}
