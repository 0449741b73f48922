//! Streams: `/v1/streams/{ns}/{stream}` with `:append`, `:trim`, `:info`; GET reads
//! entries, DELETE removes the stream.

use crate::auth::Caller;
use crate::extract::{parse_object, tail, RawBody};
use crate::problem::ApiError;
use crate::state::Shared;
use axum::extract::State;
use axum::http::{Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use botstore::{Direction, Value};
use botstore_api::paths::parse_named;
use botstore_api::wire::{
    AppendRequest, Appended, Deleted, Perm, StreamEntries, StreamEntryOut, StreamInfoOut,
    StreamList, StreamRef, TrimIn, Trimmed,
};
use serde::Deserialize;

pub const STREAMS: &str = "/v1/streams/";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadQuery {
    pub from: Option<u64>,
    pub limit: Option<usize>,
    pub direction: Option<String>,
}

fn unknown_verb(method: &Method, verb: Option<&str>) -> ApiError {
    crate::extract::unknown_verb(
        "streams take GET, DELETE, POST :append, POST :trim and GET :info",
        method,
        verb,
    )
}

/// GET: read entries, or `:info`.
pub async fn get_stream(
    State(s): State<Shared>,
    caller: Caller,
    method: Method,
    uri: Uri,
) -> Result<Response, ApiError> {
    let r = parse_named(tail(&uri, STREAMS), true)?;
    caller.need(Perm::Read, &r.ns)?;
    match r.verb.as_deref() {
        None => {
            let q: ReadQuery = crate::extract::query(&uri)?;
            let dir = match q.direction.as_deref() {
                None | Some("forward") => Direction::Forward,
                Some("backward") => Direction::Backward,
                Some(d) => {
                    return Err(ApiError::malformed(format!(
                        "direction {d:?}: forward or backward"
                    )))
                }
            };
            let entries = s
                .store
                .read_stream(&r.ns, &r.name, q.from, dir, q.limit.unwrap_or(100))
                .await?;
            Ok(Json(StreamEntries {
                entries: entries.iter().map(StreamEntryOut::from_entry).collect(),
            })
            .into_response())
        }
        Some("info") => {
            let info = s.store.stream_info(&r.ns, &r.name).await?.ok_or_else(|| {
                ApiError::not_found(format!("no stream {:?} in {:?}", r.name, r.ns.to_string()))
            })?;
            Ok(Json(StreamInfoOut::from(info)).into_response())
        }
        v => Err(unknown_verb(&method, v)),
    }
}

/// POST `:append` and `:trim`.
pub async fn post_stream(
    State(s): State<Shared>,
    caller: Caller,
    method: Method,
    uri: Uri,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let r = parse_named(tail(&uri, STREAMS), true)?;
    caller.need(Perm::Write, &r.ns)?;
    match r.verb.as_deref() {
        Some("append") => {
            let req: AppendRequest = parse_object(&body)?;
            let entries = req
                .entries
                .into_iter()
                .map(|e| e.into_value())
                .collect::<Result<Vec<Value>, _>>()?;
            let (first_seq, last_seq) = s
                .store
                .append(&r.ns, &r.name, entries, req.expected_last)
                .await?;
            Ok(Json(Appended {
                first_seq,
                last_seq,
            })
            .into_response())
        }
        Some("trim") => {
            let req: TrimIn = parse_object(&body)?;
            let removed = s.store.trim(&r.ns, &r.name, req.into_trim()?).await?;
            Ok(Json(Trimmed { removed }).into_response())
        }
        v => Err(unknown_verb(&method, v)),
    }
}

pub async fn delete_stream(
    State(s): State<Shared>,
    caller: Caller,
    method: Method,
    uri: Uri,
) -> Result<Response, ApiError> {
    let r = parse_named(tail(&uri, STREAMS), true)?;
    caller.need(Perm::Write, &r.ns)?;
    if r.verb.is_some() {
        return Err(unknown_verb(&method, r.verb.as_deref()));
    }
    let existed = s.store.delete_stream(&r.ns, &r.name).await?;
    Ok(Json(Deleted { existed }).into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

/// `GET /v1/stream-list/{prefix}`: the streams under a prefix the token may read.
pub async fn list_streams(
    State(s): State<Shared>,
    caller: Caller,
    uri: Uri,
) -> Result<Response, ApiError> {
    let prefix = botstore_api::paths::parse_prefix(tail(&uri, "/v1/stream-list"))?;
    let q: ListQuery = crate::extract::query(&uri)?;
    caller.need_some_under(Perm::Read, &prefix)?;
    let page = s
        .store
        .list_streams(&prefix, q.limit.unwrap_or(100), q.cursor.as_deref())
        .await?;
    Ok(Json(StreamList {
        streams: page
            .items
            .into_iter()
            .filter(|(ns, _)| caller.may(Perm::Read, ns))
            .map(|(ns, stream)| StreamRef {
                ns: ns.to_string(),
                stream,
            })
            .collect(),
        cursor: page.cursor,
    })
    .into_response())
}
