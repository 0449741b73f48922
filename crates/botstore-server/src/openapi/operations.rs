//! The table of every endpoint: its parameters (with their real schemas, from
//! [`botstore_api::schema`]), request body, success answers and the problems it answers.

use super::{s, BodySpec};
use botstore_api::schema;
use botstore_api::wire::*;
use serde_json::{json, Value as Json};

#[derive(Clone, Copy)]
pub enum In {
    Path,
    Query,
    /// A query parameter whose schema is an object, sent as one query parameter per
    /// property (OpenAPI `style: form, explode: true`): the fence, whose three
    /// parameters go together or not at all.
    QueryObject,
    Header,
}

#[derive(Clone, Copy)]
pub struct Param {
    pub name: &'static str,
    pub location: In,
    pub required: bool,
    pub description: &'static str,
    /// The parameter's JSON schema.
    pub schema: fn() -> Json,
}

const fn p(
    name: &'static str,
    location: In,
    schema: fn() -> Json,
    description: &'static str,
) -> Param {
    Param {
        name,
        location,
        required: matches!(location, In::Path),
        description,
        schema,
    }
}

pub struct Operation {
    pub id: &'static str,
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    pub auth: bool,
    pub params: &'static [Param],
    pub request: BodySpec,
    /// Success answers; the problems each operation answers are in [`problems`].
    pub responses: &'static [(u16, BodySpec)],
}

fn str_any() -> Json {
    json!({"type": "string"})
}
fn uint() -> Json {
    json!({"type": "integer", "minimum": 0, "maximum": u64::MAX})
}
fn boolean() -> Json {
    json!({"type": "boolean"})
}
fn depth() -> Json {
    json!({"type": "integer", "minimum": 0, "maximum": u64::MAX})
}
fn direction() -> Json {
    json!({"type": "string", "enum": ["forward", "backward"]})
}
/// `If-Match`: one ETag (`"42"`, `W/"42"` or a bare `42`); the schema states the bare
/// form, the one a header generator can produce.
fn etag() -> Json {
    json!({"type": "string", "pattern": "^[0-9]{1,19}$", "description": "An ETag: 42, \"42\" or W/\"42\""})
}
/// `If-None-Match` on a write: only `*`.
fn star() -> Json {
    json!({"type": "string", "enum": ["*"]})
}
fn fence() -> Json {
    json!({
        "type": "object",
        "properties": {
            // The lease is looked up, not checked against the name rules: a fence on a
            // name no lease can have is simply stale (409).
            "fence_ns": str_any(),
            "fence_name": str_any(),
            "fence_token": uint(),
        },
        "required": ["fence_ns", "fence_name", "fence_token"],
        "additionalProperties": false,
    })
}

const NS: Param = p(
    "ns",
    In::Path,
    schema::segment_param,
    "Namespace segments, each percent-encoded, joined by '/'.",
);
const KEY: Param = p(
    "key",
    In::Path,
    schema::name,
    "The key, percent-encoded ('/' as %2F).",
);
const STREAM: Param = p(
    "stream",
    In::Path,
    schema::name,
    "The stream name, percent-encoded.",
);
const NAME: Param = p(
    "name",
    In::Path,
    schema::name,
    "The lease name, percent-encoded.",
);
const PREFIX: Param = p(
    "prefix",
    In::Path,
    schema::segment_param,
    "A namespace prefix (the root: the path without it).",
);
const IF_MATCH: Param = p(
    "If-Match",
    In::Header,
    etag,
    "Write only if the item has this ETag.",
);
const IF_NONE: Param = p(
    "If-None-Match",
    In::Header,
    str_any,
    "304 if the item's ETag is one of these (or `*`).",
);
const IF_ABSENT: Param = p(
    "If-None-Match",
    In::Header,
    star,
    "`*`: write only if absent.",
);
const LIMIT: Param = p(
    "limit",
    In::Query,
    schema::page_limit,
    "Page size, 1-10000 (default 100).",
);
const CURSOR: Param = p(
    "cursor",
    In::Query,
    schema::cursor,
    "Continue a previous page (its `cursor`).",
);
const FENCE: Param = p(
    "fence",
    In::QueryObject,
    fence,
    "Fencing: fence_ns, fence_name and fence_token together; the write happens only \
     while that lease's token is fence_token. Needs read permission on fence_ns.",
);

/// The problems (status codes) an operation answers, besides its successes. Every
/// operation that takes a token answers 401, 403 and 429 (with a rate limit), every one
/// that reads the store 500 (storage failure, damaged data) and 503 (closed, shutting
/// down); a body brings 408, 413 and 415; a write 507 (disk full) and 503 (read-only);
/// the rest are per operation.
pub fn problems(op: &Operation) -> Vec<u16> {
    let mut out = vec![];
    let store = !matches!(op.id, "home" | "healthz" | "readyz" | "openapi");
    if store {
        out.extend([400, 500, 503]);
    }
    if op.auth || op.id == "metrics" {
        out.extend([401, 403, 429]);
    }
    if !matches!(op.request, BodySpec::None) {
        out.extend([408, 413, 415]);
    }
    let write = op.method != "get"
        && !matches!(
            op.id,
            "getMany" | "createToken" | "revokeToken" | "backupRecords"
        );
    if write {
        out.push(507);
    }
    out.extend(match op.id {
        "getItem" | "getLease" | "revokeToken" | "streamInfo" => &[404][..],
        "putItem" | "deleteItem" => &[409, 412][..],
        "patchItem" => &[404, 409, 412][..],
        "batch" | "appendStream" | "acquireLease" | "renewLease" | "releaseLease" => {
            &[404, 409, 412][..]
        }
        _ => &[][..],
    });
    if op.id == "revokeToken" {
        out.push(409);
    }
    out.sort_unstable();
    out.dedup();
    out
}

macro_rules! params {
    ($($x:expr),* $(,)?) => { &[$($x),*] };
}

/// Every endpoint.
pub static OPERATIONS: &[Operation] = &[
    Operation {
        id: "getItem",
        method: "get",
        path: "/v1/items/{ns}/{key}",
        summary: "Read an item: its bytes, with metadata in headers.",
        auth: true,
        params: params![NS, KEY, IF_NONE],
        request: BodySpec::None,
        responses: &[(200, BodySpec::Raw), (304, BodySpec::None)],
    },
    Operation {
        id: "putItem",
        method: "put",
        path: "/v1/items/{ns}/{key}",
        summary: "Write an item (the body is the value).",
        auth: true,
        params: params![
            NS,
            KEY,
            IF_MATCH,
            IF_ABSENT,
            p("ttl", In::Query, schema::ttl, "`never` or a duration."),
            p(
                "subject",
                In::Query,
                schema::subject,
                "The person the item is about."
            ),
            FENCE
        ],
        request: BodySpec::RawIn,
        responses: &[(200, BodySpec::Json(s::<Written>))],
    },
    Operation {
        id: "patchItem",
        method: "patch",
        path: "/v1/items/{ns}/{key}",
        summary: "Patch a JSON item (merge patch or JSON Patch).",
        auth: true,
        params: params![NS, KEY, IF_MATCH, FENCE],
        request: BodySpec::Patch,
        responses: &[(200, BodySpec::Json(s::<Written>))],
    },
    Operation {
        id: "deleteItem",
        method: "delete",
        path: "/v1/items/{ns}/{key}",
        summary: "Delete an item.",
        auth: true,
        params: params![NS, KEY, IF_MATCH, FENCE],
        request: BodySpec::None,
        responses: &[(200, BodySpec::Json(s::<Deleted>))],
    },
    Operation {
        id: "getMany",
        method: "post",
        path: "/v1/get",
        summary: "Read many items.",
        auth: true,
        params: &[],
        request: BodySpec::Json(s::<GetManyRequest>),
        responses: &[(200, BodySpec::Json(s::<GetManyResponse>))],
    },
    Operation {
        id: "scan",
        method: "get",
        path: "/v1/scan/{ns}",
        summary: "List the items of a namespace (or, recursive, a prefix) in key order.",
        auth: true,
        params: params![
            NS,
            p(
                "prefix",
                In::Query,
                schema::key_bound,
                "Only keys with this prefix (not with recursive)."
            ),
            p(
                "start",
                In::Query,
                schema::key_bound,
                "Only keys >= start (not with recursive)."
            ),
            p(
                "end",
                In::Query,
                schema::key_bound,
                "Only keys < end (not with recursive)."
            ),
            p(
                "recursive",
                In::Query,
                boolean,
                "Include every namespace below."
            ),
            LIMIT,
            CURSOR
        ],
        request: BodySpec::None,
        responses: &[(200, BodySpec::Json(s::<ItemPage>))],
    },
    Operation {
        id: "listNamespaces",
        method: "get",
        path: "/v1/namespaces/{prefix}",
        summary: "List namespaces under a prefix.",
        auth: true,
        params: params![
            PREFIX,
            p("depth", In::Query, depth, "Truncate to this many segments."),
            LIMIT,
            CURSOR
        ],
        request: BodySpec::None,
        responses: &[(200, BodySpec::Json(s::<NamespacePage>))],
    },
    Operation {
        id: "batch",
        method: "post",
        path: "/v1/batch",
        summary: "Apply many mutations in one commit, atomically or each on its own.",
        auth: true,
        params: &[],
        request: BodySpec::Json(s::<BatchRequest>),
        responses: &[(200, BodySpec::Json(s::<BatchResponse>))],
    },
    Operation {
        id: "readStream",
        method: "get",
        path: "/v1/streams/{ns}/{stream}",
        summary: "Read stream entries.",
        auth: true,
        params: params![
            NS,
            STREAM,
            p("from", In::Query, uint, "First sequence to read."),
            LIMIT,
            p("direction", In::Query, direction, "forward or backward.")
        ],
        request: BodySpec::None,
        responses: &[(200, BodySpec::Json(s::<StreamEntries>))],
    },
    Operation {
        id: "streamInfo",
        method: "get",
        path: "/v1/streams/{ns}/{stream}:info",
        summary: "A stream's length and bounds.",
        auth: true,
        params: params![NS, STREAM],
        request: BodySpec::None,
        responses: &[(200, BodySpec::Json(s::<StreamInfoOut>))],
    },
    Operation {
        id: "appendStream",
        method: "post",
        path: "/v1/streams/{ns}/{stream}:append",
        summary: "Append entries to a stream.",
        auth: true,
        params: params![NS, STREAM],
        request: BodySpec::Json(s::<AppendRequest>),
        responses: &[(200, BodySpec::Json(s::<Appended>))],
    },
    Operation {
        id: "trimStream",
        method: "post",
        path: "/v1/streams/{ns}/{stream}:trim",
        summary: "Remove old entries of a stream.",
        auth: true,
        params: params![NS, STREAM],
        request: BodySpec::Json(s::<TrimIn>),
        responses: &[(200, BodySpec::Json(s::<Trimmed>))],
    },
    Operation {
        id: "deleteStream",
        method: "delete",
        path: "/v1/streams/{ns}/{stream}",
        summary: "Delete a stream.",
        auth: true,
        params: params![NS, STREAM],
        request: BodySpec::None,
        responses: &[(200, BodySpec::Json(s::<Deleted>))],
    },
    Operation {
        id: "listStreams",
        method: "get",
        path: "/v1/stream-list/{prefix}",
        summary: "List the streams under a prefix (every depth).",
        auth: true,
        params: params![PREFIX, LIMIT, CURSOR],
        request: BodySpec::None,
        responses: &[(200, BodySpec::Json(s::<StreamList>))],
    },
    Operation {
        id: "getLease",
        method: "get",
        path: "/v1/leases/{ns}/{name}",
        summary: "Read a live lease.",
        auth: true,
        params: params![NS, NAME],
        request: BodySpec::None,
        responses: &[(200, BodySpec::Json(s::<LeaseOut>))],
    },
    Operation {
        id: "acquireLease",
        method: "post",
        path: "/v1/leases/{ns}/{name}:acquire",
        summary: "Acquire a lease (a new fencing token).",
        auth: true,
        params: params![NS, NAME],
        request: BodySpec::Json(s::<LeaseAcquireRequest>),
        responses: &[(200, BodySpec::Json(s::<LeaseOut>))],
    },
    Operation {
        id: "renewLease",
        method: "post",
        path: "/v1/leases/{ns}/{name}:renew",
        summary: "Extend a lease you hold.",
        auth: true,
        params: params![NS, NAME],
        request: BodySpec::Json(s::<LeaseRenewRequest>),
        responses: &[(200, BodySpec::Json(s::<LeaseOut>))],
    },
    Operation {
        id: "releaseLease",
        method: "post",
        path: "/v1/leases/{ns}/{name}:release",
        summary: "Give a lease up.",
        auth: true,
        params: params![NS, NAME],
        request: BodySpec::Json(s::<LeaseReleaseRequest>),
        responses: &[(204, BodySpec::None)],
    },
    Operation {
        id: "getNamespaceTtls",
        method: "get",
        path: "/v1/namespace-ttls/{prefix}",
        summary: "Default TTLs set under a prefix.",
        auth: true,
        params: params![PREFIX],
        request: BodySpec::None,
        responses: &[(200, BodySpec::Json(s::<NamespaceTtls>))],
    },
    Operation {
        id: "setNamespaceTtl",
        method: "put",
        path: "/v1/namespace-ttls/{prefix}",
        summary: "Set or clear the default TTL of a prefix.",
        auth: true,
        params: params![PREFIX],
        request: BodySpec::Json(s::<NamespaceTtlRequest>),
        responses: &[(204, BodySpec::None)],
    },
    Operation {
        id: "changes",
        method: "get",
        path: "/v1/changes",
        summary: "The change feed: a page (long poll with wait), or Server-Sent Events.",
        auth: true,
        params: params![
            p("since", In::Query, uint, "Changes after this LSN."),
            LIMIT,
            p(
                "wait",
                In::Query,
                schema::duration,
                "Long poll up to this long (at most 60s)."
            ),
            p(
                "Last-Event-ID",
                In::Header,
                etag,
                "Event streams: resume after this LSN."
            )
        ],
        request: BodySpec::None,
        responses: &[
            (200, BodySpec::Json(s::<ChangesPage>)),
            (200, BodySpec::EventStream),
        ],
    },
    Operation {
        id: "stats",
        method: "get",
        path: "/v1/stats/{prefix}",
        summary: "Items and bytes per namespace.",
        auth: true,
        params: params![PREFIX],
        request: BodySpec::None,
        responses: &[(200, BodySpec::Json(s::<StatsOut>))],
    },
    Operation {
        id: "compact",
        method: "post",
        path: "/v1/admin/compact",
        summary: "Run the TTL sweep, change-feed retention and a compaction (admin).",
        auth: true,
        params: &[],
        request: BodySpec::None,
        responses: &[(200, BodySpec::Json(s::<CompactOut>))],
    },
    Operation {
        id: "backupRecords",
        method: "post",
        path: "/v1/admin/backup/records",
        summary: "The primary records of one read view, full or changed since `since_lsn`, as a record transfer stream (docs/BACKUP-FORMAT.md) for a backup made by the client (admin).",
        auth: true,
        params: &[],
        request: BodySpec::Json(s::<BackupRecordsRequest>),
        responses: &[(200, BodySpec::Binary)],
    },
    Operation {
        id: "createToken",
        method: "post",
        path: "/v1/tokens",
        summary: "Create a token (admin). The secret is shown once.",
        auth: true,
        params: &[],
        request: BodySpec::Json(s::<TokenCreateRequest>),
        responses: &[(201, BodySpec::Json(s::<TokenCreated>))],
    },
    Operation {
        id: "listTokens",
        method: "get",
        path: "/v1/tokens",
        summary: "List tokens (admin).",
        auth: true,
        params: &[],
        request: BodySpec::None,
        responses: &[(200, BodySpec::Json(s::<TokenList>))],
    },
    Operation {
        id: "revokeToken",
        method: "delete",
        path: "/v1/tokens/{id}",
        summary: "Revoke a token (admin).",
        auth: true,
        params: params![p("id", In::Path, str_any, "The token id.")],
        request: BodySpec::None,
        responses: &[(204, BodySpec::None)],
    },
    Operation {
        id: "home",
        method: "get",
        path: "/",
        summary: "A page for people: what this server is, its version, and links to this document, health, metrics and the docs. No data, no secret.",
        auth: false,
        params: &[],
        request: BodySpec::None,
        responses: &[(200, BodySpec::Html)],
    },
    Operation {
        id: "healthz",
        method: "get",
        path: "/healthz",
        summary: "Liveness.",
        auth: false,
        params: &[],
        request: BodySpec::None,
        responses: &[(200, BodySpec::Json(s::<Health>))],
    },
    Operation {
        id: "readyz",
        method: "get",
        path: "/readyz",
        summary: "Readiness: 503 while starting or draining, and while writes are blocked (disk full, read-only), with the reason in `status`.",
        auth: false,
        params: &[],
        request: BodySpec::None,
        responses: &[
            (200, BodySpec::Json(s::<Health>)),
            (503, BodySpec::Json(s::<Health>)),
        ],
    },
    Operation {
        id: "metrics",
        method: "get",
        path: "/metrics",
        summary:
            "Prometheus metrics (a token with read on `*`, unless the server sets metrics_public).",
        auth: true,
        params: &[],
        request: BodySpec::None,
        responses: &[(200, BodySpec::Text)],
    },
    Operation {
        id: "openapi",
        method: "get",
        path: "/openapi.json",
        summary: "This document.",
        auth: false,
        params: &[],
        request: BodySpec::None,
        responses: &[(
            200,
            BodySpec::Json(|_| schemars::json_schema!({"type": "object"})),
        )],
    },
];
