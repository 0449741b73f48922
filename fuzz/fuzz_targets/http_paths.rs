#![no_main]
//! `http_paths`: request paths as the server decodes them. The path tail after
//! `/v1/<kind>/` goes to `botstore_api::paths::parse_named` / `parse_prefix`, and the
//! decoded namespace and name to the core's `Limits` checks; a whole request target goes
//! through `http::Uri`, the server's `extract::tail` and `extract::query` (the scan and
//! change-feed queries), and a scan cursor from the query to `read::decode_cursor` with
//! the range the scan would read (the server-level cursor path; the cursor decoder itself
//! is also fuzzed by `names_and_cursors`).
//!
//! Input: one mode byte (bit 0: custom verbs allowed), then the path text (lossy UTF-8).
//!
//! Must hold: no panic; decoding errors are `PathError`s and query errors
//! malformed-request problems; rule breaks are `InvalidInput`; a valid name or prefix
//! re-encodes (`paths::named` / `paths::prefixed`) to a path of URL-safe characters that
//! decodes back to it; a cursor that decodes lies in the scan's range and is the only
//! spelling of its key.

use botstore::codec;
use botstore::read::{decode_cursor, encode_cursor};
use botstore::{Error, Limits, Namespace};
use botstore_api::paths::{self, parse_named, parse_prefix};
use botstore_api::ProblemType;
use botstore_server::extract;
use botstore_server::routes::feed::ChangesQuery;
use botstore_server::routes::items::{NamespacesQuery, ScanQuery};
use libfuzzer_sys::fuzz_target;

fn typed<T: std::fmt::Debug>(what: &str, r: &Result<T, Error>) {
    if let Err(e) = r {
        assert!(
            matches!(e, Error::InvalidInput { .. }),
            "{what}: caller input rejected with {e:?}"
        );
    }
}

/// Only characters that need no escaping in a path, `%` escapes, `/` and the verb's `:`.
fn url_safe(p: &str) -> bool {
    p.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.~%/:".contains(&b))
}

fn plain_verb(v: &str) -> bool {
    !v.is_empty()
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn named(tail: &str, verbs: bool, limits: &Limits) {
    let Ok(r) = parse_named(tail, verbs) else {
        return;
    };
    if !verbs {
        assert!(r.verb.is_none());
    }
    let ns_ok = limits.check_namespace(&r.ns);
    let key_ok = limits.check_key(&r.name);
    typed("namespace", &ns_ok);
    typed("name", &key_ok);
    if ns_ok.is_err() || key_ok.is_err() {
        return;
    }
    // A valid name round-trips through the client's encoder.
    let verb = r.verb.as_deref().filter(|v| plain_verb(v));
    if r.verb.is_some() && verb.is_none() {
        return;
    }
    for kind in ["items", "streams", "leases"] {
        let p = paths::named(kind, &r.ns, &r.name, verb);
        assert!(url_safe(&p), "{p:?} has characters a path must escape");
        let back_tail = p
            .strip_prefix(&format!("/v1/{kind}/"))
            .expect("named() keeps its prefix");
        let back = parse_named(back_tail, verb.is_some() || verbs)
            .unwrap_or_else(|e| panic!("{p:?} (from {tail:?}) does not parse back: {e}"));
        assert_eq!(back.ns, r.ns, "{p:?} from {tail:?}");
        assert_eq!(back.name, r.name, "{p:?} from {tail:?}");
        assert_eq!(back.verb.as_deref(), verb, "{p:?} from {tail:?}");
        assert_eq!(
            back_tail.split('/').count(),
            r.ns.len() + 1,
            "{p:?}: one path segment per namespace segment, and the name"
        );
    }
}

fn prefix(tail: &str, limits: &Limits) -> Option<Namespace> {
    let ns = parse_prefix(tail).ok()?;
    let ok = limits.check_prefix(&ns);
    typed("prefix", &ok);
    ok.ok()?;
    for kind in ["scan", "namespaces", "stats", "namespace-ttls"] {
        let p = paths::prefixed(kind, &ns);
        assert!(url_safe(&p), "{p:?} has characters a path must escape");
        let t = p
            .strip_prefix(&format!("/v1/{kind}"))
            .expect("prefixed() keeps its prefix")
            .trim_start_matches('/');
        assert_eq!(
            parse_prefix(t).ok().as_ref(),
            Some(&ns),
            "{p:?} from {tail:?}"
        );
    }
    Some(ns)
}

/// A whole request target, as the scan, namespaces and changes handlers read it.
fn target(text: &str, limits: &Limits) {
    for base in ["/v1/scan", "/v1/namespaces", "/v1/changes"] {
        let Ok(uri) = format!("{base}/{text}").parse::<http::Uri>() else {
            continue;
        };
        let tail = extract::tail(&uri, base);
        let ns = parse_prefix(tail)
            .ok()
            .filter(|ns| limits.check_prefix(ns).is_ok());
        match base {
            "/v1/scan" => match extract::query::<ScanQuery>(&uri) {
                Err(e) => assert_eq!(e.0.kind(), Some(ProblemType::MalformedRequest)),
                Ok(q) => {
                    let (Some(ns), Some(c)) = (ns, q.cursor) else {
                        continue;
                    };
                    if let Some(l) = q.limit {
                        typed("limit", &limits.check_page(l));
                    }
                    // The range a scan reads: the namespace's items, or everything under
                    // it when recursive.
                    let mut range = codec::ns_enc(&ns);
                    if !q.recursive {
                        range.push(codec::KEY_SEP);
                    }
                    let r = decode_cursor(&c, &range);
                    typed("cursor", &r);
                    if let Ok(k) = r {
                        assert!(k.starts_with(&range), "cursor {c:?} escapes its scan");
                        assert_eq!(encode_cursor(&k), c, "cursor {c:?} has another spelling");
                    }
                }
            },
            "/v1/namespaces" => {
                if let Err(e) = extract::query::<NamespacesQuery>(&uri) {
                    assert_eq!(e.0.kind(), Some(ProblemType::MalformedRequest));
                }
            }
            _ => match extract::query::<ChangesQuery>(&uri) {
                Err(e) => assert_eq!(e.0.kind(), Some(ProblemType::MalformedRequest)),
                Ok(q) => {
                    if let Some(w) = q.wait {
                        typed("wait", &botstore::parse_duration(&w));
                    }
                    if let Some(l) = q.limit {
                        typed("limit", &limits.check_page(l));
                    }
                }
            },
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let (mode, rest) = match data {
        [m, rest @ ..] => (*m, rest),
        [] => (0, data),
    };
    let text = String::from_utf8_lossy(rest);
    let limits = Limits::default();
    named(&text, mode & 1 == 1, &limits);
    prefix(&text, &limits);
    target(&text, &limits);
});
