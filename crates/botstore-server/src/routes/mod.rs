//! The router. Paths under `/v1/items`, `/v1/streams`, `/v1/leases` and the prefix
//! endpoints take the rest of the path raw and decode it themselves
//! ([`botstore_api::paths`]), so that percent-encoded slashes stay inside their segment.

pub mod admin;
pub mod backup;
pub mod batch;
pub mod feed;
pub mod home;
pub mod items;
pub mod leases;
pub mod ops;
pub mod streams;

use crate::middleware::outer;
use crate::state::Shared;
use axum::routing::{delete, get, post};
use axum::Router;

pub fn router(state: Shared) -> Router {
    let item = get(items::get_item)
        .put(items::put_item)
        .patch(items::patch_item)
        .delete(items::delete_item);
    let stream = get(streams::get_stream)
        .post(streams::post_stream)
        .delete(streams::delete_stream);
    let lease = get(leases::get_lease).post(leases::post_lease);
    let ttl = get(admin::get_ttls).put(admin::put_ttl);
    Router::new()
        .route("/v1/items/{*rest}", item)
        .route("/v1/get", post(items::get_many))
        .route("/v1/scan", get(items::scan))
        .route("/v1/scan/{*rest}", get(items::scan))
        .route("/v1/namespaces", get(items::namespaces))
        .route("/v1/namespaces/{*rest}", get(items::namespaces))
        .route("/v1/batch", post(batch::batch))
        .route("/v1/streams/{*rest}", stream)
        .route("/v1/stream-list", get(streams::list_streams))
        .route("/v1/stream-list/{*rest}", get(streams::list_streams))
        .route("/v1/leases/{*rest}", lease)
        .route("/v1/namespace-ttls", ttl.clone())
        .route("/v1/namespace-ttls/{*rest}", ttl)
        .route("/v1/changes", get(feed::changes))
        .route("/v1/stats", get(admin::stats))
        .route("/v1/stats/{*rest}", get(admin::stats))
        .route("/v1/admin/compact", post(admin::compact))
        .route("/v1/admin/backup/records", post(backup::records))
        .route(
            "/v1/tokens",
            post(admin::create_token).get(admin::list_tokens),
        )
        .route("/v1/tokens/{id}", delete(admin::revoke_token))
        .route("/", get(home::home))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/openapi.json", get(ops::openapi))
        .fallback(unknown_endpoint)
        .layer(axum::middleware::from_fn_with_state(state.clone(), outer))
        .with_state(state)
}

async fn unknown_endpoint(uri: axum::http::Uri) -> crate::problem::ApiError {
    crate::problem::ApiError::new(
        botstore_api::ProblemType::UnknownEndpoint,
        format!("no endpoint {}; see /openapi.json", uri.path()),
    )
}

/// The methods a resource under a catch-all route really takes, for the `Allow` header
/// of a 405: the route itself takes the union for every resource of its kind (a stream
/// takes GET and DELETE, its `:append` only POST, its `:info` only GET). `None`: the
/// router's own `Allow` is right.
pub fn allow_for(path: &str) -> Option<&'static str> {
    let (kind, tail) = if let Some(t) = path.strip_prefix(streams::STREAMS) {
        ("streams", t)
    } else if let Some(t) = path.strip_prefix(leases::LEASES) {
        ("leases", t)
    } else {
        return None;
    };
    let last = tail.rsplit('/').next().unwrap_or("");
    let verb = last.rsplit_once(':').map(|(_, v)| v);
    Some(match (kind, verb) {
        ("streams", None) => "GET,HEAD,DELETE",
        ("streams", Some("info")) => "GET,HEAD",
        ("leases", None) => "GET,HEAD",
        _ => "POST",
    })
}
