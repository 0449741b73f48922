//! `GET /openapi.json`: OpenAPI 3.1, generated from [`OPERATIONS`] and the JSON schemas of
//! the wire types (schemars, JSON Schema 2020-12, which is OpenAPI 3.1's dialect). The
//! table names each endpoint's request and response types; the API test
//! (`tests/api.rs`) calls every operation and validates the real answers against this
//! document, so the two cannot drift apart unnoticed.

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
    /// An item's value: JSON for a JSON value, else any bytes with the item's own
    /// content type.
    Raw,
    /// A value sent: JSON (the default) or bytes of another content type.
    RawIn,
    /// `text/event-stream`.
    EventStream,
    /// `text/plain` (the metrics exposition).
    Text,
    /// `text/html` (the page at `/`).
    Html,
    /// `application/octet-stream`: bytes of a format of their own (the record transfer).
    Binary,
    /// A JSON Merge Patch or JSON Patch document.
    Patch,
}

mod operations;

pub use operations::{In, Operation, Param, OPERATIONS};

fn body(b: BodySpec, g: &mut SchemaGenerator) -> Option<Json> {
    let content = match b {
        BodySpec::None => return None,
        BodySpec::Json(f) => json!({"application/json": {"schema": f(g)}}),
        BodySpec::Raw => json!({
            "application/json": {"schema": {}},
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            "*/*": {"schema": {"type": "string", "format": "binary"}},
        }),
        BodySpec::RawIn => json!({
            "application/json": {"schema": {}},
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        }),
        BodySpec::EventStream => json!({"text/event-stream": {"schema": {"type": "string"}}}),
        BodySpec::Text => json!({"text/plain": {"schema": {"type": "string"}}}),
        BodySpec::Html => json!({"text/html": {"schema": {"type": "string"}}}),
        BodySpec::Binary => json!({
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        }),
        BodySpec::Patch => json!({
            "application/merge-patch+json": {"schema": {}},
            "application/json-patch+json": {"schema": botstore_api::schema::json_patch()}
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
        let problem_doc = |what: &str| json!({"description": what, "content": {"application/problem+json": {"schema": problem}}});
        for status in operations::problems(op) {
            responses
                .entry(status.to_string())
                .or_insert_with(|| problem_doc(problem_status(status)));
        }
        responses.insert("default".into(), problem_doc("A problem (RFC 9457)"));
        let params: Vec<Json> = op
            .params
            .iter()
            .map(|p| {
                let mut j = json!({
                    "name": p.name,
                    "in": match p.location {
                        In::Path => "path",
                        In::Query | In::QueryObject => "query",
                        In::Header => "header",
                    },
                    "required": p.required,
                    "description": p.description,
                    "schema": (p.schema)(),
                });
                if matches!(p.location, In::QueryObject) {
                    j["style"] = json!("form");
                    j["explode"] = json!(true);
                }
                j
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
    let mut schemas = Json::Object(g.take_definitions(true));
    let mut paths = Json::Object(paths);
    bound_integers(&mut schemas);
    bound_integers(&mut paths);
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

/// JSON Schema validators ignore schemars' `format: uint64` and friends, so a number
/// of 10^21 would pass for a token; the formats' real ranges become `minimum` and
/// `maximum`, which every validator (and generator) knows.
fn bound_integers(v: &mut Json) {
    match v {
        Json::Object(m) => {
            let range = match m.get("format").and_then(Json::as_str) {
                Some("uint64") => Some((json!(0), json!(u64::MAX))),
                Some("int64") => Some((json!(i64::MIN), json!(i64::MAX))),
                Some("uint32") => Some((json!(0), json!(u32::MAX))),
                Some("uint16") => Some((json!(0), json!(u16::MAX))),
                Some("uint") => Some((json!(0), json!(u64::MAX))),
                _ => None,
            };
            if let Some((lo, hi)) = range {
                m.entry("minimum").or_insert(lo);
                m.entry("maximum").or_insert(hi);
            }
            for x in m.values_mut() {
                bound_integers(x);
            }
        }
        Json::Array(a) => a.iter_mut().for_each(bound_integers),
        _ => {}
    }
}

/// What a problem status means, for the document.
fn problem_status(status: u16) -> &'static str {
    match status {
        400 => "Invalid input or a malformed request",
        401 => "No valid token",
        403 => "The token does not cover this",
        404 => "Not found",
        408 => "The body did not arrive in time",
        409 => "A conflict (lease held, stale fence, sequence mismatch, patch failed, last admin token)",
        412 => "A precondition failed",
        413 => "The body is over the server's limit",
        415 => "Unsupported content type",
        429 => "Over the token's rate limit",
        500 => "Storage failure or damaged data",
        503 => "Unavailable (shutting down, or the store is read-only)",
        507 => "The disk is full",
        _ => "A problem",
    }
}

/// The document (built once).
pub fn document() -> &'static Json {
    static DOC: OnceLock<Json> = OnceLock::new();
    DOC.get_or_init(build)
}
