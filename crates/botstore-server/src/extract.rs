//! Reading requests: the body (with the size limit and the slow-body timeout), JSON
//! bodies, the raw path tail, preconditions from `If-Match` / `If-None-Match`.

use crate::problem::ApiError;
use crate::state::Shared;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Query, Request};
use axum::http::{header, HeaderMap, Uri};
use botstore::{Precondition, Version};
use botstore_api::ProblemType;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::de::DeserializeOwned;

/// The whole request body, refused with 413 when over `body_limit` and with 408 when it
/// does not arrive within `body_timeout` (a slow client cannot hold a request open).
pub struct RawBody(pub Bytes);

impl FromRequest<Shared> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &Shared) -> Result<Self, ApiError> {
        let limit = state.settings.body_limit;
        if let Some(len) = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
        {
            if len > limit as u64 {
                return Err(too_large(limit));
            }
        }
        let body: Body = req.into_body();
        let limited = Limited::new(body, limit);
        match tokio::time::timeout(state.settings.body_timeout, limited.collect()).await {
            Err(_) => Err(ApiError::new(
                ProblemType::RequestTimeout,
                format!(
                    "the request body did not arrive within {:?}",
                    state.settings.body_timeout
                ),
            )),
            Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large(limit)),
            Ok(Err(e)) => Err(ApiError::malformed(format!("reading the body: {e}"))),
            Ok(Ok(c)) => Ok(RawBody(c.to_bytes())),
        }
    }
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        ProblemType::PayloadTooLarge,
        format!("the body is larger than this server's limit of {limit} bytes"),
    )
}

/// Is the content type JSON (or absent, which JSON endpoints take as JSON)?
fn is_json_type(headers: &HeaderMap) -> bool {
    match headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    {
        None => true,
        Some(ct) => {
            let essence = ct.split(';').next().unwrap_or("").trim();
            essence.eq_ignore_ascii_case("application/json")
                || essence.to_ascii_lowercase().ends_with("+json")
        }
    }
}

/// A JSON request body of type `T`.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<Shared> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &Shared) -> Result<Self, ApiError> {
        if !is_json_type(req.headers()) {
            return Err(ApiError::new(
                ProblemType::UnsupportedMediaType,
                "this endpoint takes application/json",
            ));
        }
        let RawBody(bytes) = RawBody::from_request(req, state).await?;
        parse_object(&bytes).map(JsonBody)
    }
}

/// A JSON object body of type `T`. Every request body of the API that is a JSON
/// document of its own is an object; serde's derived structs would also take a
/// positional array (`[null]`), which the schema does not allow and no client means.
pub fn parse_object<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => parse_json(bytes),
        _ => Err(ApiError::malformed("body: expected a JSON object")),
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| ApiError::malformed(format!("body: {e}")))
}

/// The query string as `T` (unknown parameters are errors: a typo must not be ignored).
pub fn query<T: DeserializeOwned>(uri: &Uri) -> Result<T, ApiError> {
    Query::<T>::try_from_uri(uri)
        .map(|Query(t)| t)
        .map_err(|e| ApiError::malformed(format!("query: {}", e.body_text())))
}

/// A method or `:verb` a resource does not take; `takes` lists what it does.
pub fn unknown_verb(takes: &str, method: &axum::http::Method, verb: Option<&str>) -> ApiError {
    ApiError::new(
        ProblemType::UnknownEndpoint,
        format!(
            "{takes}; not {method} {}",
            verb.map(|v| format!(":{v}")).unwrap_or_default()
        ),
    )
}

/// The raw (still percent-encoded) path after `prefix`.
pub fn tail<'a>(uri: &'a Uri, prefix: &str) -> &'a str {
    let p = uri.path();
    p.strip_prefix(prefix)
        .map(|t| t.trim_start_matches('/'))
        .unwrap_or("")
}

/// An entity tag: `"42"`, `W/"42"` or a bare `42`.
fn parse_etag(s: &str) -> Option<Version> {
    let s = s.trim();
    let s = s.strip_prefix("W/").unwrap_or(s);
    let s = s
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(s);
    Version::parse(s)
}

/// The write precondition of `If-Match` / `If-None-Match: *`.
pub fn precondition(headers: &HeaderMap) -> Result<Precondition, ApiError> {
    let if_match = headers.get(header::IF_MATCH);
    let if_none = headers.get(header::IF_NONE_MATCH);
    match (if_match, if_none) {
        (Some(_), Some(_)) => Err(ApiError::malformed(
            "send If-Match or If-None-Match, not both",
        )),
        (Some(v), None) => {
            let s = v
                .to_str()
                .map_err(|_| ApiError::malformed("If-Match is not ASCII"))?;
            if s.trim() == "*" {
                return Err(ApiError::malformed(
                    "If-Match: * is not supported; send the version (ETag) the write expects",
                ));
            }
            if s.contains(',') {
                return Err(ApiError::malformed("If-Match takes one entity tag"));
            }
            parse_etag(s).map(Precondition::IfVersion).ok_or_else(|| {
                ApiError::malformed(format!("If-Match {s:?} is not a botstore ETag"))
            })
        }
        (None, Some(v)) => match v.to_str().map(str::trim) {
            Ok("*") => Ok(Precondition::IfAbsent),
            _ => Err(ApiError::malformed(
                "writes take only If-None-Match: * (create only if absent)",
            )),
        },
        (None, None) => Ok(Precondition::Any),
    }
}

/// Does `If-None-Match` on a GET name this version (so the answer is 304)?
pub fn none_match_hits(headers: &HeaderMap, v: Version) -> bool {
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|s| {
            s.split(',')
                .any(|t| t.trim() == "*" || parse_etag(t) == Some(v))
        })
}

pub fn etag(v: Version) -> String {
    format!("\"{}\"", v.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_parse_in_their_usual_forms() {
        for s in ["\"42\"", "W/\"42\"", "42", " \"42\" "] {
            assert_eq!(parse_etag(s), Some(Version(42)), "{s}");
        }
        assert_eq!(parse_etag("\"x\""), None);
    }
}
