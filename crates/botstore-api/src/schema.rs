//! JSON schemas of the API's strings, from the store's real rules ([`botstore::Limits`]
//! with its defaults, the namespace and name rules of `limits.rs`, the duration forms of
//! `parse_duration`): what the OpenAPI document states for path and query parameters,
//! and what the wire types' schemas use (`#[schemars(schema_with = ...)]`), so that a
//! schema-driven client or fuzzer can tell a valid request from an invalid one.
//!
//! Lengths: the store counts *bytes* (UTF-8) and JSON Schema counts characters, so
//! `maxLength` is the byte limit (a longer string is always refused) and the description
//! says that the limit is in bytes. Control characters are C0, DEL and C1
//! (`char::is_control`).

use botstore::Limits;
use schemars::generate::SchemaGenerator;
use schemars::Schema;
use serde_json::{json, Value as Json};

/// A character a segment, key or name may hold (`/` aside): no control characters.
const CHAR: &str = r"[^\u0000-\u001f\u007f-\u009f]";
const SEG_CHAR: &str = r"[^\u0000-\u001f\u007f-\u009f/]";

fn limits() -> Limits {
    Limits::default()
}

/// One namespace segment: 1-128 bytes, no `/`, no control characters, not `.` or `..`.
fn segment() -> String {
    format!(
        r"(?!\.\.?(?:/|$)){SEG_CHAR}{{1,{}}}",
        limits().max_segment_len
    )
}

/// A namespace: 1-16 segments joined by `/` (in a URL path each segment is
/// percent-encoded on its own).
pub fn namespace() -> Json {
    let l = limits();
    let seg = segment();
    json!({
        "type": "string",
        "minLength": 1,
        "maxLength": l.max_depth * (l.max_segment_len + 1) - 1,
        "pattern": format!("^{seg}(?:/{seg}){{0,{}}}$", l.max_depth - 1),
        "description": format!(
            "1-{} segments joined by '/'; each 1-{} bytes, without '/' or control \
             characters, and not '.' or '..'",
            l.max_depth, l.max_segment_len
        ),
    })
}

/// A namespace as an OpenAPI path parameter: one segment. OpenAPI percent-encodes a
/// path parameter's value whole (`/` as `%2F`), and an encoded `/` stays inside its
/// segment, so a client that follows the document sends one segment; namespaces of
/// more segments are sent as raw `a/b/c` in the path, which OpenAPI path templates
/// cannot express (the description says so).
pub fn segment_param() -> Json {
    let l = limits();
    json!({
        "type": "string",
        "minLength": 1,
        "maxLength": l.max_segment_len,
        "pattern": format!("^{}$", segment()),
        "description": format!(
            "A namespace segment: 1-{} bytes, without '/' or control characters, not '.' \
             or '..'. Deeper namespaces (up to {} segments) go in the raw path as \
             seg/seg/..., each segment percent-encoded on its own.",
            l.max_segment_len, l.max_depth
        ),
    })
}

/// A token scope's namespace pattern: segments or `*`, joined by `/`.
pub fn scope_pattern_schema(_: &mut SchemaGenerator) -> Schema {
    let seg = r"(?:\*|[^*/\u0000-\u001f\u007f-\u009f]+)";
    to_schema(json!({
        "type": "string",
        "pattern": format!("^/*{seg}(?:/{seg})*/*$"),
        "description": "Segments or '*' (a whole segment), joined by '/'; '*' alone is everything",
    }))
}

/// An RFC 6902 JSON Patch: an array of operations.
pub fn json_patch() -> Json {
    let path = json!({"type": "string", "pattern": "^(/([^~/]|~[01])*)*$"});
    let op = |names: &[&str], extra: &[&str]| {
        let mut props = serde_json::Map::new();
        props.insert("op".into(), json!({"enum": names}));
        props.insert("path".into(), path.clone());
        let mut required = vec!["op", "path"];
        for e in extra {
            props.insert(
                (*e).into(),
                if *e == "from" {
                    path.clone()
                } else {
                    json!({})
                },
            );
            required.push(e);
        }
        json!({"type": "object", "properties": props, "required": required, "additionalProperties": false})
    };
    json!({
        "type": "array",
        "items": {"oneOf": [
            op(&["add", "replace", "test"], &["value"]),
            op(&["remove"], &[]),
            op(&["move", "copy"], &["from"]),
        ]},
    })
}

pub fn opt_json_patch_schema(_: &mut SchemaGenerator) -> Schema {
    to_schema(json!({"anyOf": [json_patch(), {"type": "null"}]}))
}

/// A namespace prefix: a namespace, or the empty string for the root.
pub fn prefix() -> Json {
    let mut s = namespace();
    s["minLength"] = json!(0);
    if let Some(p) = s["pattern"].as_str() {
        s["pattern"] = json!(format!("^$|{p}"));
    }
    s["description"] = json!("A namespace, or '' for every namespace (the root).");
    s
}

/// A key, stream name or lease name: 1-1024 bytes, no control characters, not `.` or
/// `..` (a key may hold `/`, sent as `%2F` in a path).
pub fn name() -> Json {
    let l = limits();
    json!({
        "type": "string",
        "minLength": 1,
        "maxLength": l.max_key_len,
        "pattern": format!(r"^(?!\.\.?$){CHAR}+$"),
        "description": format!(
            "1-{} bytes without control characters; not '.' or '..'",
            l.max_key_len
        ),
    })
}

/// Standard base64 with padding, in its canonical form (the unused bits of the last
/// character zero), as the decoder takes it.
pub const BASE64: &str =
    "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/][AQgw]==|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=)?$";

/// A key range bound or key prefix of a scan: any string (a bound need not name a key
/// that could exist).
pub fn key_bound() -> Json {
    json!({"type": "string"})
}

/// A subject id: 1-256 bytes without control characters.
pub fn subject() -> Json {
    let l = limits();
    json!({
        "type": "string",
        "minLength": 1,
        "maxLength": l.max_subject_len,
        "pattern": format!("^{CHAR}+$"),
        "description": format!("1-{} bytes without control characters", l.max_subject_len),
    })
}

/// A duration of 1 ms to 100 years: a number and a unit (`ms`, `s` (the default), `m`,
/// `h`, `d`). The pattern bounds the digits per unit so that every match is in range
/// (up to about 11 years in the coarser units; longer TTLs up to 100 years are taken
/// too, the pattern just does not promise them).
const DURATION: &str =
    "0*(?:[1-9][0-9]{0,11}ms|[1-9][0-9]{0,8}s?|[1-9][0-9]{0,6}m|[1-9][0-9]{0,4}h|[1-9][0-9]{0,3}d)";

pub fn duration() -> Json {
    json!({
        "type": "string",
        "pattern": format!("^{DURATION}$"),
        "description": "A duration of 1 ms to 100 years: a number and ms, s, m, h or d (90s, 15m, 24h, 7d)",
    })
}

/// A TTL: `never` or a duration.
pub fn ttl() -> Json {
    json!({
        "type": "string",
        "pattern": format!("^(?:never|{DURATION})$"),
        "description": "'never' or a duration of 1 ms to 100 years (90s, 15m, 24h, 7d)",
    })
}

/// A page size: 1 to 10,000.
pub fn page_limit() -> Json {
    json!({
        "type": "integer",
        "minimum": 1,
        "maximum": limits().max_page,
        "description": format!("Page size, 1-{} (default 100)", limits().max_page),
    })
}

fn to_schema(v: Json) -> Schema {
    Schema::try_from(v).unwrap_or_default()
}

/// `schema_with` forms of the above, for the wire types.
pub fn namespace_schema(_: &mut SchemaGenerator) -> Schema {
    to_schema(namespace())
}
pub fn prefix_schema(_: &mut SchemaGenerator) -> Schema {
    to_schema(prefix())
}
pub fn name_schema(_: &mut SchemaGenerator) -> Schema {
    to_schema(name())
}
pub fn duration_schema(_: &mut SchemaGenerator) -> Schema {
    to_schema(duration())
}
pub fn ttl_schema(_: &mut SchemaGenerator) -> Schema {
    to_schema(ttl())
}
pub fn opt_ttl_schema(_: &mut SchemaGenerator) -> Schema {
    to_schema(json!({"anyOf": [ttl(), {"type": "null"}]}))
}
pub fn opt_duration_schema(_: &mut SchemaGenerator) -> Schema {
    to_schema(json!({"anyOf": [duration(), {"type": "null"}]}))
}
/// A content type: 1-255 bytes without control characters.
pub fn opt_content_type_schema(_: &mut SchemaGenerator) -> Schema {
    to_schema(json!({"anyOf": [
        {"type": "string", "minLength": 3, "maxLength": 255, "pattern": MEDIA_TYPE},
        {"type": "null"},
    ]}))
}
/// RFC 9110 `type/subtype` (tokens) with optional parameters in printable ASCII: what a
/// content type must look like to be stored and served back as a `Content-Type` header.
pub const MEDIA_TYPE: &str =
    r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+/[!#$%&'*+.^_`|~0-9A-Za-z-]+(?: *;[ -~]*)?$";

/// Does `s` have the shape of [`MEDIA_TYPE`]?
pub fn is_media_type(s: &str) -> bool {
    botstore::limits::is_media_type(s)
}

/// A token's label: at most 256 bytes without control characters.
pub fn opt_label_schema(_: &mut SchemaGenerator) -> Schema {
    to_schema(json!({"anyOf": [
        {"type": "string", "maxLength": 256, "pattern": format!("^{CHAR}*$")},
        {"type": "null"},
    ]}))
}
/// An opaque page cursor, as a page gave it (URL-safe base64).
pub fn cursor() -> Json {
    json!({"type": "string", "minLength": 1, "pattern": "^[A-Za-z0-9_-]+$",
           "description": "The cursor of the previous page, as it was given"})
}
pub fn opt_subject_schema(_: &mut SchemaGenerator) -> Schema {
    to_schema(json!({"anyOf": [subject(), {"type": "null"}]}))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn accepts(schema: &Json, s: &str) -> bool {
        // A small check of the patterns with the store's own rules: the ECMA-262 regexes
        // are checked by the server's tests with a JSON Schema validator; here only the
        // lengths and the simple cases.
        let max = schema["maxLength"].as_u64().unwrap_or(u64::MAX) as usize;
        s.chars().count() <= max
    }

    #[test]
    fn lengths_follow_the_limits() {
        let l = Limits::default();
        assert_eq!(name()["maxLength"], l.max_key_len);
        assert!(accepts(&name(), &"k".repeat(l.max_key_len)));
        assert!(!accepts(&name(), &"k".repeat(l.max_key_len + 1)));
        assert_eq!(page_limit()["maximum"], l.max_page);
        assert_eq!(subject()["maxLength"], l.max_subject_len);
    }
}
