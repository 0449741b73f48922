//! Items: `GET|HEAD|PUT|PATCH|DELETE /v1/items/{ns}/{key}`, `POST /v1/get`,
//! `GET /v1/scan/{ns}`, `GET /v1/namespaces/{prefix}`.
//!
//! A single item travels as its raw bytes with its own content type, and its metadata in
//! headers: no JSON wrapping on the hot path.

use crate::auth::Caller;
use crate::extract::{
    etag, none_match_hits, parse_json, precondition, query, tail, JsonBody, RawBody,
};
use crate::problem::ApiError;
use crate::state::Shared;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use botstore::{Fence, Item, Mutation, Namespace, Outcome, PatchOp, Scan, Value, JSON};
use botstore_api::wire::{
    self, Deleted, GetManyRequest, GetManyResponse, ItemOut, ItemPage, NamespacePage, Perm, Written,
};
use botstore_api::{paths, ProblemType};
use serde::Deserialize;

pub const ITEMS: &str = "/v1/items/";

fn header_value(s: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(s).ok()
}

/// The item's metadata headers (shared by GET, HEAD and 304 answers).
fn item_headers(h: &mut HeaderMap, item: &Item) {
    if let Some(v) = header_value(&etag(item.version)) {
        h.insert(header::ETAG, v);
    }
    let mut put = |name: &'static str, v: String| {
        if let Some(v) = header_value(&v) {
            h.insert(HeaderName::from_static(name), v);
        }
    };
    put(botstore_api::CREATED_AT_HEADER, item.created_at.to_string());
    put(botstore_api::UPDATED_AT_HEADER, item.updated_at.to_string());
    if let Some(t) = item.expires_at {
        put(botstore_api::EXPIRES_AT_HEADER, t.to_string());
    }
    if let Some(s) = &item.subject {
        put(botstore_api::SUBJECT_HEADER, paths::encode(s));
    }
}

pub async fn get_item(
    State(s): State<Shared>,
    caller: Caller,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let r = botstore_api::paths::parse_named(tail(&uri, ITEMS), false)?;
    caller.need(Perm::Read, &r.ns)?;
    let item = s.store.get(&r.ns, &r.name).await?.ok_or_else(|| {
        ApiError::not_found(format!("no item {:?} in {:?}", r.name, r.ns.to_string()))
    })?;
    if none_match_hits(&headers, item.version) {
        let mut resp = StatusCode::NOT_MODIFIED.into_response();
        item_headers(resp.headers_mut(), &item);
        return Ok(resp);
    }
    let ct = header_value(&item.value.content_type)
        .unwrap_or_else(|| HeaderValue::from_static("application/octet-stream"));
    let mut resp = if method == Method::HEAD {
        let mut r = Response::new(Body::empty());
        if let Some(v) = header_value(&item.value.data.len().to_string()) {
            r.headers_mut().insert(header::CONTENT_LENGTH, v);
        }
        r
    } else {
        Response::new(Body::from(item.value.data.clone()))
    };
    resp.headers_mut().insert(header::CONTENT_TYPE, ct);
    item_headers(resp.headers_mut(), &item);
    Ok(resp)
}

/// Query of PUT, PATCH and DELETE on an item.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WriteQuery {
    pub ttl: Option<String>,
    pub subject: Option<String>,
    pub fence_ns: Option<String>,
    pub fence_name: Option<String>,
    pub fence_token: Option<u64>,
}

impl WriteQuery {
    fn fence(&self) -> Result<Option<Fence>, ApiError> {
        match (&self.fence_ns, &self.fence_name, self.fence_token) {
            (None, None, None) => Ok(None),
            (Some(ns), Some(name), Some(token)) => Ok(Some(Fence {
                ns: Namespace::parse(ns),
                name: name.clone(),
                token,
            })),
            _ => Err(ApiError::malformed(
                "a fence needs fence_ns, fence_name and fence_token together",
            )),
        }
    }
}

fn written(version: botstore::Version) -> Response {
    let mut r = Json(Written { version: version.0 }).into_response();
    if let Some(v) = header_value(&etag(version)) {
        r.headers_mut().insert(header::ETAG, v);
    }
    r
}

pub async fn put_item(
    State(s): State<Shared>,
    caller: Caller,
    uri: Uri,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let r = botstore_api::paths::parse_named(tail(&uri, ITEMS), false)?;
    caller.need(Perm::Write, &r.ns)?;
    let q: WriteQuery = query(&uri)?;
    let fence = q.fence()?;
    caller.need_fence(fence.as_ref())?;
    let content_type = match headers.get(header::CONTENT_TYPE) {
        None => JSON.to_owned(),
        Some(v) => {
            let ct = v
                .to_str()
                .map_err(|_| ApiError::malformed("Content-Type is not ASCII"))?
                .trim();
            // Stored and served back as the item's Content-Type: it must be one.
            if !botstore_api::schema::is_media_type(ct) {
                return Err(botstore::Error::InvalidInput {
                    rule: botstore::Rule::ContentType,
                    detail: "Content-Type must be a media type (type/subtype[; parameters]) \
                             of at most 255 bytes without control characters"
                        .into(),
                }
                .into());
            }
            // `application/json; charset=utf-8` is JSON.
            let essence = ct.split(';').next().unwrap_or("").trim();
            if essence.eq_ignore_ascii_case(JSON) {
                JSON.to_owned()
            } else {
                ct.to_owned()
            }
        }
    };
    let m = Mutation::Put {
        ns: r.ns,
        key: r.name,
        value: Value {
            content_type,
            data: body.to_vec(),
        },
        precondition: precondition(&headers)?,
        ttl: wire::parse_ttl(q.ttl.as_deref())?,
        subject: q.subject.clone(),
        fence,
    };
    match s.store.apply(m).await? {
        Outcome::Written { version } => Ok(written(version)),
        o => Err(ApiError::new(
            ProblemType::Storage,
            format!("unexpected outcome {o:?}"),
        )),
    }
}

pub async fn patch_item(
    State(s): State<Shared>,
    caller: Caller,
    uri: Uri,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let r = botstore_api::paths::parse_named(tail(&uri, ITEMS), false)?;
    caller.need(Perm::Write, &r.ns)?;
    let q: WriteQuery = query(&uri)?;
    if q.ttl.is_some() || q.subject.is_some() {
        return Err(ApiError::malformed(
            "PATCH takes no ttl or subject; use PUT",
        ));
    }
    let fence = q.fence()?;
    caller.need_fence(fence.as_ref())?;
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|c| {
            c.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    let patch = match ct.as_deref() {
        Some("application/merge-patch+json") => PatchOp::Merge(parse_json(&body)?),
        Some("application/json-patch+json") => PatchOp::Json(parse_json(&body)?),
        _ => {
            return Err(ApiError::new(
                ProblemType::UnsupportedMediaType,
                "PATCH takes application/merge-patch+json (RFC 7396) or \
                 application/json-patch+json (RFC 6902)",
            ))
        }
    };
    let m = Mutation::Patch {
        ns: r.ns,
        key: r.name,
        patch,
        precondition: precondition(&headers)?,
        fence,
    };
    match s.store.apply(m).await? {
        Outcome::Written { version } => Ok(written(version)),
        o => Err(ApiError::new(
            ProblemType::Storage,
            format!("unexpected outcome {o:?}"),
        )),
    }
}

pub async fn delete_item(
    State(s): State<Shared>,
    caller: Caller,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let r = botstore_api::paths::parse_named(tail(&uri, ITEMS), false)?;
    caller.need(Perm::Write, &r.ns)?;
    let q: WriteQuery = query(&uri)?;
    if q.ttl.is_some() || q.subject.is_some() {
        return Err(ApiError::malformed("DELETE takes no ttl or subject"));
    }
    let fence = q.fence()?;
    caller.need_fence(fence.as_ref())?;
    let m = Mutation::Delete {
        ns: r.ns,
        key: r.name,
        precondition: precondition(&headers)?,
        fence,
    };
    match s.store.apply(m).await? {
        Outcome::Deleted { existed } => Ok(Json(Deleted { existed }).into_response()),
        o => Err(ApiError::new(
            ProblemType::Storage,
            format!("unexpected outcome {o:?}"),
        )),
    }
}

pub async fn get_many(
    State(s): State<Shared>,
    caller: Caller,
    JsonBody(req): JsonBody<GetManyRequest>,
) -> Result<Json<GetManyResponse>, ApiError> {
    let keys: Vec<(Namespace, String)> = req
        .keys
        .into_iter()
        .map(|k| (Namespace::parse(&k.ns), k.key))
        .collect();
    for (ns, _) in &keys {
        caller.need(Perm::Read, ns)?;
    }
    let items = s.store.get_many(&keys).await?;
    Ok(Json(GetManyResponse {
        items: items
            .iter()
            .map(|i| i.as_ref().map(ItemOut::from_item))
            .collect(),
    }))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanQuery {
    pub prefix: Option<String>,
    pub start: Option<String>,
    pub end: Option<String>,
    #[serde(default)]
    pub recursive: bool,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

pub async fn scan(
    State(s): State<Shared>,
    caller: Caller,
    uri: Uri,
) -> Result<Json<ItemPage>, ApiError> {
    let ns = paths::parse_prefix(tail(&uri, "/v1/scan"))?;
    let q: ScanQuery = query(&uri)?;
    if q.recursive {
        caller.need_all_under(Perm::Read, &ns)?;
    } else {
        caller.need(Perm::Read, &ns)?;
    }
    let page = s
        .store
        .scan(&Scan {
            ns,
            recursive: q.recursive,
            key_prefix: q.prefix,
            start: q.start,
            end: q.end,
            cursor: q.cursor,
            limit: q.limit.unwrap_or(100),
        })
        .await?;
    Ok(Json(ItemPage {
        items: page.items.iter().map(ItemOut::from_item).collect(),
        cursor: page.cursor,
    }))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamespacesQuery {
    pub depth: Option<usize>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

pub async fn namespaces(
    State(s): State<Shared>,
    caller: Caller,
    uri: Uri,
) -> Result<Json<NamespacePage>, ApiError> {
    let prefix = paths::parse_prefix(tail(&uri, "/v1/namespaces"))?;
    let q: NamespacesQuery = query(&uri)?;
    caller.need_some_under(Perm::Read, &prefix)?;
    let page = s
        .store
        .list_namespaces(
            &prefix,
            q.depth,
            q.limit.unwrap_or(100),
            q.cursor.as_deref(),
        )
        .await?;
    Ok(Json(NamespacePage {
        namespaces: page
            .items
            .iter()
            // A namespace truncated by `depth` shows when the token may read under it.
            .filter(|ns| caller.0.allows_some_under(Perm::Read, ns))
            .map(|ns| ns.to_string())
            .collect(),
        cursor: page.cursor,
    }))
}
