//! Errors as HTTP responses: every failure becomes an RFC 9457 problem document
//! (`application/problem+json`) with a stable type. Handlers return [`ApiError`]; the
//! outer middleware ([`crate::middleware`]) stamps the request id into `instance` and turns
//! the few plain-text rejections of the framework into problems too.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use botstore_api::{Problem, ProblemType, PROBLEM_JSON};

/// A failed request.
#[derive(Debug)]
pub struct ApiError(pub Box<Problem>);

impl ApiError {
    pub fn new(t: ProblemType, detail: impl Into<String>) -> ApiError {
        ApiError(Box::new(Problem::new(t, detail)))
    }
    pub fn malformed(detail: impl Into<String>) -> ApiError {
        ApiError::new(ProblemType::MalformedRequest, detail)
    }
    pub fn forbidden(detail: impl Into<String>) -> ApiError {
        ApiError::new(ProblemType::Forbidden, detail)
    }
    pub fn not_found(detail: impl Into<String>) -> ApiError {
        ApiError::new(ProblemType::NotFound, detail)
    }
}

impl From<botstore::Error> for ApiError {
    fn from(e: botstore::Error) -> Self {
        if matches!(
            e,
            botstore::Error::Storage(_)
                | botstore::Error::Corrupt(_)
                | botstore::Error::Closed(_)
                | botstore::Error::NoSpace(_)
        ) {
            tracing::error!(error = %e, "storage failure");
        }
        ApiError(Box::new(Problem::from_error(&e)))
    }
}

impl From<botstore::BatchError> for ApiError {
    fn from(e: botstore::BatchError) -> Self {
        let mut p = ApiError::from(e.error);
        p.0.index = Some(e.index);
        p
    }
}

impl From<botstore_api::PathError> for ApiError {
    fn from(e: botstore_api::PathError) -> Self {
        ApiError::malformed(e.to_string())
    }
}

impl From<botstore_api::WireError> for ApiError {
    fn from(e: botstore_api::WireError) -> Self {
        ApiError::malformed(e.0)
    }
}

impl From<botstore_api::wire::ConvertError> for ApiError {
    fn from(e: botstore_api::wire::ConvertError) -> Self {
        match e {
            botstore_api::wire::ConvertError::Wire(w) => w.into(),
            botstore_api::wire::ConvertError::Core(c) => c.into(),
        }
    }
}

/// Render a problem. The problem also rides along in the response's extensions, so the
/// middleware can add the request id without parsing the body.
pub fn problem_response(p: Problem) -> Response {
    let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_vec(&p).unwrap_or_default();
    let mut r = (status, body).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    if p.kind() == Some(ProblemType::PreconditionFailed) {
        if let Some(v) = p.current_version {
            if let Ok(h) = HeaderValue::from_str(&format!("\"{v}\"")) {
                r.headers_mut().insert(header::ETAG, h);
            }
        }
    }
    r.extensions_mut().insert(p);
    r
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        problem_response(*self.0)
    }
}

/// The problem type for a bare status code the framework produced.
pub fn type_for_status(status: StatusCode) -> ProblemType {
    match status.as_u16() {
        404 => ProblemType::UnknownEndpoint,
        405 => ProblemType::MethodNotAllowed,
        408 => ProblemType::RequestTimeout,
        413 => ProblemType::PayloadTooLarge,
        415 => ProblemType::UnsupportedMediaType,
        429 => ProblemType::RateLimited,
        503 => ProblemType::Unavailable,
        507 => ProblemType::InsufficientStorage,
        s if (400..500).contains(&s) => ProblemType::MalformedRequest,
        _ => ProblemType::Storage,
    }
}
