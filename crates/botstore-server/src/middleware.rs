//! The one middleware every request passes: request id, overall timeout, problem
//! documents for the framework's own rejections, metrics and the log line.

use crate::metrics::op_name;
use crate::problem::{problem_response, type_for_status};
use crate::state::Shared;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use botstore_api::{Problem, ProblemType, PROBLEM_JSON, REQUEST_ID_HEADER};
use http_body_util::BodyExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use tracing::Instrument;

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// A request id: the client's `x-request-id` if it is short and printable, else a new one
/// (a per-process random prefix and a counter: unique, cheap, sortable within a run).
fn request_id(req: &Request) -> String {
    if let Some(v) = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
    {
        if !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()) {
            return v.to_owned();
        }
    }
    static PREFIX: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let p = PREFIX.get_or_init(|| format!("{:08x}", rand::random::<u32>()));
    format!("{p}-{}", NEXT_ID.fetch_add(1, Ordering::Relaxed))
}

struct InFlight<'a>(&'a std::sync::atomic::AtomicI64);
impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

pub async fn outer(State(s): State<Shared>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let rid = request_id(&req);
    let op = op_name(req.method(), req.uri().path());
    let method = req.method().clone();
    let allow = crate::routes::allow_for(req.uri().path());
    s.metrics.in_flight.fetch_add(1, Ordering::Relaxed);
    let _guard = InFlight(&s.metrics.in_flight);
    // A span per request costs a formatted field set on every request (4% of a GET's
    // CPU); it is made only when debug logging is on. The log lines below carry the id.
    let span = if tracing::enabled!(tracing::Level::DEBUG) {
        tracing::debug_span!("request", id = %rid, op)
    } else {
        tracing::Span::none()
    };
    let long = op == "changes";
    let fut = next.run(req).instrument(span.clone());
    let resp = if long {
        fut.await
    } else {
        match tokio::time::timeout(s.settings.request_timeout, fut).await {
            Ok(r) => r,
            Err(_) => problem_response(Problem::new(
                ProblemType::Unavailable,
                format!(
                    "the request took longer than {:?} and was abandoned",
                    s.settings.request_timeout
                ),
            )),
        }
    };
    let mut resp = finish_problem(resp, &rid).await;
    if let Ok(v) = HeaderValue::from_str(&rid) {
        resp.headers_mut()
            .insert(HeaderName::from_static(REQUEST_ID_HEADER), v);
    }
    let status = resp.status().as_u16();
    if let (405, Some(allow)) = (status, allow) {
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static(allow));
    }
    let problem = resp.extensions().get::<Problem>().and_then(Problem::kind);
    if problem == Some(ProblemType::RateLimited) {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    let secs = started.elapsed().as_secs_f64();
    s.metrics.observe(op, status, secs, problem);
    let _e = span.enter();
    let ms = secs * 1e3;
    if status >= 500 {
        tracing::error!(id = %rid, op, %method, status, ms, "request failed");
    } else if status >= 400 {
        tracing::info!(id = %rid, op, %method, status, ms, problem = problem.map(|p| p.name()), "request refused");
    } else {
        tracing::debug!(id = %rid, op, %method, status, ms, "request");
    }
    resp
}

/// Give every error response a problem body that names the request.
async fn finish_problem(resp: Response, rid: &str) -> Response {
    if resp.status().as_u16() < 400 {
        return resp;
    }
    if let Some(p) = resp.extensions().get::<Problem>().cloned() {
        let (mut parts, _) = resp.into_parts();
        let mut p = p;
        p.instance = Some(rid.to_owned());
        let body = serde_json::to_vec(&p).unwrap_or_default();
        parts.headers.remove(header::CONTENT_LENGTH);
        parts.extensions.insert(p);
        return Response::from_parts(parts, Body::from(body));
    }
    let is_problem = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == PROBLEM_JSON.as_bytes());
    if is_problem {
        return resp;
    }
    // A rejection of the framework (plain text): keep its words as the detail.
    let status = resp.status();
    let (parts, body) = resp.into_parts();
    let text = match http_body_util::Limited::new(body, 4096).collect().await {
        Ok(c) => String::from_utf8_lossy(&c.to_bytes()).into_owned(),
        Err(_) => String::new(),
    };
    let t = type_for_status(status);
    let detail = if text.trim().is_empty() {
        t.title().to_owned()
    } else {
        text
    };
    let mut p = Problem::new(t, detail);
    p.status = status.as_u16();
    p.instance = Some(rid.to_owned());
    let mut r = problem_response(p);
    for (k, v) in parts.headers.iter() {
        if k == header::ALLOW {
            r.headers_mut().insert(k.clone(), v.clone());
        }
    }
    r
}
