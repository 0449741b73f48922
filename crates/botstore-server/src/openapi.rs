//! `GET /openapi.json`: OpenAPI 3.1, generated from [`OPERATIONS`] and the JSON schemas of
//! the wire types (schemars, JSON Schema 2020-12, which is OpenAPI 3.1's dialect). The
//! table names each endpoint's request and response types; the API test
//! (`tests/api.rs`) calls every operation and validates the real answers against this
//! document, so the two cannot drift apart unnoticed.

use botstore_api::wire::*;
use botstore_api::Problem;
use schemars::generate::{SchemaGenerator, SchemaSettings};
use schemars::{JsonSchema, Schema};
use serde_json::{json, Map, Value as Json};
use std::sync::OnceLock;

type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

fn s<T: JsonSchema>(g: &mut SchemaGenerator) -> Schema {
    g.subschema_for::<T>()
}

/// A request or response body.
#[derive(Clone, Copy)]
pub enum BodySpec {
    None,
    /// `application/json` of this type.
    Json(SchemaFn),
    /// Any bytes, with the item's own content type.
    Raw,
    /// `text/event-stream`.
    EventStream,
    /// `text/plain` (the metrics exposition).
    Text,
    /// A JSON Merge Patch or JSON Patch document.
    Patch,
}

#[derive(Clone, Copy)]
pub enum In {
    Path,
    Query,
    Header,
}

#[derive(Clone, Copy)]
pub struct Param {
    pub name: &'static str,
    pub location: In,
    pub required: bool,
    pub description: &'static str,
    /// `string`, `integer` or `boolean`.
    pub ty: &'static str,
}

const fn p(name: &'static str, location: In, ty: &'static str, description: &'static str) -> Param {
    Param {
        name,
        location,
        required: matches!(location, In::Path),
        description,
        ty,
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
    /// Success answers; every operation also answers problem documents.
    pub responses: &'static [(u16, BodySpec)],
}

const NS: Param = p(
    "ns",
    In::Path,
    "string",
    "Namespace segments, each percent-encoded, joined by '/'.",
);
const KEY: Param = p(
    "key",
    In::Path,
    "string",
    "The key, percent-encoded ('/' as %2F).",
);
const STREAM: Param = p(
    "stream",
    In::Path,
    "string",
    "The stream name, percent-encoded.",
);
const NAME: Param = p(
    "name",
    In::Path,
    "string",
    "The lease name, percent-encoded.",
);
const PREFIX: Param = p(
    "prefix",
    In::Path,
    "string",
    "A namespace prefix (may be empty).",
);
const IF_MATCH: Param = p(
    "If-Match",
    In::Header,
    "string",
    "Write only if the item has this ETag.",
);
const IF_NONE: Param = p(
    "If-None-Match",
    In::Header,
    "string",
    "`*`: write only if absent. On GET: 304 if unchanged.",
);
const FENCE: [Param; 3] = [
    p("fence_ns", In::Query, "string", "Fencing lease namespace."),
    p("fence_name", In::Query, "string", "Fencing lease name."),
    p(
        "fence_token",
        In::Query,
        "integer",
        "Fencing token the write requires.",
    ),
];

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
            IF_NONE,
            p("ttl", In::Query, "string", "`never` or a duration."),
            p(
                "subject",
                In::Query,
                "string",
                "The person the item is about."
            ),
            FENCE[0],
            FENCE[1],
            FENCE[2]
        ],
        request: BodySpec::Raw,
        responses: &[(200, BodySpec::Json(s::<Written>))],
    },
    Operation {
        id: "patchItem",
        method: "patch",
        path: "/v1/items/{ns}/{key}",
        summary: "Patch a JSON item (merge patch or JSON Patch).",
        auth: true,
        params: params![NS, KEY, IF_MATCH, FENCE[0], FENCE[1], FENCE[2]],
        request: BodySpec::Patch,
        responses: &[(200, BodySpec::Json(s::<Written>))],
    },
    Operation {
        id: "deleteItem",
        method: "delete",
        path: "/v1/items/{ns}/{key}",
        summary: "Delete an item.",
        auth: true,
        params: params![NS, KEY, IF_MATCH, FENCE[0], FENCE[1], FENCE[2]],
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
            p("prefix", In::Query, "string", "Only keys with this prefix."),
            p("start", In::Query, "string", "Only keys >= start."),
            p("end", In::Query, "string", "Only keys < end."),
            p(
                "recursive",
                In::Query,
                "boolean",
                "Include every namespace below."
            ),
            p("limit", In::Query, "integer", "Page size (default 100)."),
            p("cursor", In::Query, "string", "Continue a previous page.")
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
            p(
                "depth",
                In::Query,
                "integer",
                "Truncate to this many segments."
            ),
            p("limit", In::Query, "integer", "Page size (default 100)."),
            p("cursor", In::Query, "string", "Continue a previous page.")
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
            p("from", In::Query, "integer", "First sequence to read."),
            p(
                "limit",
                In::Query,
                "integer",
                "At most this many (default 100)."
            ),
            p("direction", In::Query, "string", "forward or backward.")
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
        params: params![
            PREFIX,
            p("limit", In::Query, "integer", "Page size (default 100)."),
            p("cursor", In::Query, "string", "Continue a previous page.")
        ],
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
            p("since", In::Query, "integer", "Changes after this LSN."),
            p("limit", In::Query, "integer", "Page size (default 100)."),
            p(
                "wait",
                In::Query,
                "string",
                "Long poll up to this long (at most 60s)."
            ),
            p(
                "Last-Event-ID",
                In::Header,
                "string",
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
        params: params![p("id", In::Path, "string", "The token id.")],
        request: BodySpec::None,
        responses: &[(204, BodySpec::None)],
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
        summary: "Prometheus metrics.",
        auth: false,
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

fn body(b: BodySpec, g: &mut SchemaGenerator) -> Option<Json> {
    let content = match b {
        BodySpec::None => return None,
        BodySpec::Json(f) => json!({"application/json": {"schema": f(g)}}),
        BodySpec::Raw => {
            json!({"*/*": {"schema": {"type": "string", "contentMediaType": "application/octet-stream"}}})
        }
        BodySpec::EventStream => json!({"text/event-stream": {"schema": {"type": "string"}}}),
        BodySpec::Text => json!({"text/plain": {"schema": {"type": "string"}}}),
        BodySpec::Patch => json!({
            "application/merge-patch+json": {"schema": {}},
            "application/json-patch+json": {"schema": {"type": "array", "items": {"type": "object"}}}
        }),
    };
    Some(content)
}

fn build() -> Json {
    let mut g = SchemaSettings::draft2020_12()
        .with(|s| s.definitions_path = "/components/schemas".into())
        .into_generator();
    let problem = g.subschema_for::<Problem>();
    let mut paths: Map<String, Json> = Map::new();
    for op in OPERATIONS {
        let mut responses = Map::new();
        for (status, b) in op.responses {
            let key = status.to_string();
            let entry = responses
                .entry(key)
                .or_insert_with(|| json!({"description": "Success"}));
            // (The entry is always an object: it is inserted as one just above.)
            if let (Some(c), Json::Object(obj)) = (body(*b, &mut g), entry) {
                let merged = obj.entry("content").or_insert_with(|| json!({}));
                if let (Some(m), Some(new)) = (merged.as_object_mut(), c.as_object()) {
                    for (k, v) in new {
                        m.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        responses.insert(
            "default".into(),
            json!({"description": "A problem (RFC 9457)", "content": {"application/problem+json": {"schema": problem}}}),
        );
        let params: Vec<Json> = op
            .params
            .iter()
            .map(|p| {
                json!({
                    "name": p.name,
                    "in": match p.location { In::Path => "path", In::Query => "query", In::Header => "header" },
                    "required": p.required,
                    "description": p.description,
                    "schema": {"type": p.ty},
                })
            })
            .collect();
        let mut o = json!({
            "operationId": op.id,
            "summary": op.summary,
            "parameters": params,
            "responses": responses,
        });
        if let Some(c) = body(op.request, &mut g) {
            o["requestBody"] = json!({"required": true, "content": c});
        }
        if !op.auth {
            o["security"] = json!([]);
        }
        let item = paths.entry(op.path.to_owned()).or_insert_with(|| json!({}));
        item[op.method] = o;
    }
    let schemas = g.take_definitions(true);
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "botstore",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Storage for chatbots and AI agents. See docs/HTTP-API.md.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    })
}

/// The document (built once).
pub fn document() -> &'static Json {
    static DOC: OnceLock<Json> = OnceLock::new();
    DOC.get_or_init(build)
}
