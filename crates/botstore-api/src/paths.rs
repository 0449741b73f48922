//! The URL layout. Resources that live in a namespace are addressed as
//! `/v1/<kind>/<segment>/<segment>/.../<name>`: every segment and the name are
//! percent-encoded on their own, so a key may hold `/` (sent as `%2F`) while a namespace
//! segment never can (the core refuses a decoded segment with `/`). Operations that are
//! not plain reads or writes of the resource are custom methods: a raw `:verb` after the
//! name (`/v1/streams/chat/t1:append`); a `:` inside a name is sent encoded (`%3A`).

use botstore::Namespace;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// The API version prefix.
pub const V1: &str = "/v1";

/// Everything but RFC 3986 unreserved characters is escaped in a path segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encode one path segment (or query value).
pub fn encode(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

/// A namespace as path segments: `tenant-a/users/u42`. The root is the empty string.
pub fn ns_path(ns: &Namespace) -> String {
    ns.segments()
        .iter()
        .map(|s| encode(s))
        .collect::<Vec<_>>()
        .join("/")
}

/// `/v1/<kind>/<ns>/<name>[:verb]`.
pub fn named(kind: &str, ns: &Namespace, name: &str, verb: Option<&str>) -> String {
    let mut p = format!("{V1}/{kind}/");
    let nsp = ns_path(ns);
    if !nsp.is_empty() {
        p.push_str(&nsp);
        p.push('/');
    }
    p.push_str(&encode(name));
    if let Some(v) = verb {
        p.push(':');
        p.push_str(v);
    }
    p
}

/// `/v1/<kind>/<prefix>` (the root prefix gives `/v1/<kind>`).
pub fn prefixed(kind: &str, prefix: &Namespace) -> String {
    let nsp = ns_path(prefix);
    if nsp.is_empty() {
        format!("{V1}/{kind}")
    } else {
        format!("{V1}/{kind}/{nsp}")
    }
}

pub fn item(ns: &Namespace, key: &str) -> String {
    named("items", ns, key, None)
}
pub fn stream(ns: &Namespace, name: &str, verb: Option<&str>) -> String {
    named("streams", ns, name, verb)
}
pub fn lease(ns: &Namespace, name: &str, verb: Option<&str>) -> String {
    named("leases", ns, name, verb)
}

/// A path that could not be decoded. Namespace and name rules (empty segments, `..`,
/// control characters, lengths) are the core's to check; this is only about encoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("path segment {0:?} is not valid percent-encoded UTF-8")]
    Encoding(String),
    #[error("the path names no resource: expected /<namespace>/<name>")]
    MissingName,
    #[error("unknown method {0:?} in the path")]
    UnknownVerb(String),
}

fn decode(seg: &str) -> Result<String, PathError> {
    percent_decode_str(seg)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| PathError::Encoding(seg.chars().take(64).collect()))
}

/// A decoded `<ns>/<name>[:verb]` path tail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourcePath {
    pub ns: Namespace,
    pub name: String,
    pub verb: Option<String>,
}

/// Decode the tail of a path after `/v1/<kind>/` (raw, still percent-encoded). With
/// `verbs`, a raw `:` in the last segment starts a custom method name.
pub fn parse_named(tail: &str, verbs: bool) -> Result<ResourcePath, PathError> {
    let (ns_part, last) = match tail.rsplit_once('/') {
        Some((ns, last)) => (ns, last),
        None => ("", tail),
    };
    let (name_raw, verb) = match last.rsplit_once(':') {
        Some((n, v)) if verbs => (n, Some(decode(v)?)),
        _ => (last, None),
    };
    if name_raw.is_empty() && ns_part.is_empty() && verb.is_none() {
        return Err(PathError::MissingName);
    }
    Ok(ResourcePath {
        ns: parse_prefix(ns_part)?,
        name: decode(name_raw)?,
        verb,
    })
}

/// Decode a namespace (prefix) path tail: `a/b/c`; the empty string is the root. Empty
/// segments are kept, so that the core reports them (`a//b` is an error, not `a/b`).
pub fn parse_prefix(tail: &str) -> Result<Namespace, PathError> {
    if tail.is_empty() {
        return Ok(Namespace::root());
    }
    tail.split('/')
        .map(decode)
        .collect::<Result<Vec<_>, _>>()
        .map(Namespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_with_slashes_colons_and_unicode() {
        let ns = Namespace::new(["tenant a", "users", "ü42"]);
        for key in ["profile", "a/b", "x:append", "100%", "..", " ", "日本"] {
            let p = item(&ns, key);
            let tail = p.strip_prefix("/v1/items/").unwrap();
            let r = parse_named(tail, true).unwrap();
            assert_eq!((r.ns, r.name.as_str(), r.verb), (ns.clone(), key, None));
        }
        let p = stream(&ns, "t:1", Some("append"));
        let r = parse_named(p.strip_prefix("/v1/streams/").unwrap(), true).unwrap();
        assert_eq!(r.name, "t:1");
        assert_eq!(r.verb.as_deref(), Some("append"));
    }

    #[test]
    fn encoded_slash_stays_inside_its_segment() {
        let r = parse_named("a%2Fb/key", false).unwrap();
        assert_eq!(r.ns, Namespace(vec!["a/b".into()]));
        assert_eq!(r.name, "key");
    }

    #[test]
    fn bad_utf8_is_an_error() {
        assert!(matches!(
            parse_named("a/%FF", false),
            Err(PathError::Encoding(_))
        ));
        assert!(matches!(parse_prefix("%C3"), Err(PathError::Encoding(_))));
    }

    #[test]
    fn empty_segments_are_kept_for_the_core_to_refuse() {
        assert_eq!(parse_prefix("a//b").unwrap().len(), 3);
    }
}
