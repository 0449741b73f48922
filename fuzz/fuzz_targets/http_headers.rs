#![no_main]
//! `http_headers`: the `If-Match` / `If-None-Match` parsing of the server
//! (`botstore_server::extract::precondition` and `none_match_hits`) on header maps built
//! from the input.
//!
//! Input: 8 bytes of a version, then records `selector u8 | len u8 | value bytes`; the
//! selector picks the header name (If-Match, If-None-Match, or another), values that are
//! no valid header value are skipped.
//!
//! Must hold: no panic; a refusal is a malformed-request problem; a precondition read
//! from If-Match is the version its entity tag names; the server's own ETag of a version
//! reads back as that version (`precondition`) and hits it (`none_match_hits`), and
//! `If-None-Match: *` hits every version.

use botstore::{Precondition, Version};
use botstore_api::ProblemType;
use botstore_server::extract::{etag, none_match_hits, precondition};
use http::header::{HeaderMap, HeaderName, HeaderValue, IF_MATCH, IF_NONE_MATCH};
use libfuzzer_sys::fuzz_target;

fn names(sel: u8) -> HeaderName {
    match sel % 4 {
        0 => IF_MATCH,
        1 => IF_NONE_MATCH,
        2 => HeaderName::from_static("etag"),
        _ => HeaderName::from_static("x-other"),
    }
}

fuzz_target!(|data: &[u8]| {
    let (v, mut rest) = match data.split_first_chunk::<8>() {
        Some((v, rest)) => (u64::from_le_bytes(*v), rest),
        None => (0, data),
    };
    let version = Version(v);
    let mut map = HeaderMap::new();
    while let [sel, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (value, next) = tail.split_at(n);
        if let Ok(hv) = HeaderValue::from_bytes(value) {
            map.append(names(*sel), hv);
        }
        rest = next;
    }

    match precondition(&map) {
        Err(e) => assert_eq!(e.0.kind(), Some(ProblemType::MalformedRequest), "{e:?}"),
        Ok(Precondition::IfVersion(got)) => {
            let h = map.get(IF_MATCH).expect("IfVersion comes from If-Match");
            let s = h
                .to_str()
                .expect("a version came from a non-ASCII If-Match");
            assert!(
                s.contains(&got.0.to_string()),
                "If-Match {s:?} read as {got:?}"
            );
            assert!(map.get(IF_NONE_MATCH).is_none());
        }
        Ok(Precondition::IfAbsent) => {
            assert!(map.get(IF_MATCH).is_none());
            let s = map.get(IF_NONE_MATCH).unwrap().to_str().unwrap();
            assert_eq!(s.trim(), "*");
        }
        Ok(Precondition::Any) => {
            assert!(map.get(IF_MATCH).is_none() && map.get(IF_NONE_MATCH).is_none());
        }
    }
    let hit = none_match_hits(&map, version);
    if hit {
        let s = map.get(IF_NONE_MATCH).unwrap().to_str().unwrap();
        assert!(
            s.contains('*') || s.contains(&v.to_string()),
            "If-None-Match {s:?} hit version {v}"
        );
    }

    // The server's own ETag reads back.
    let tag = etag(version);
    let mut own = HeaderMap::new();
    own.insert(IF_MATCH, HeaderValue::from_str(&tag).unwrap());
    assert_eq!(
        precondition(&own).ok(),
        Some(Precondition::IfVersion(version)),
        "{tag}"
    );
    let mut own = HeaderMap::new();
    own.insert(IF_NONE_MATCH, HeaderValue::from_str(&tag).unwrap());
    assert!(none_match_hits(&own, version), "{tag}");
    own.insert(IF_NONE_MATCH, HeaderValue::from_static("*"));
    assert!(none_match_hits(&own, version));
    assert_eq!(precondition(&own).ok(), Some(Precondition::IfAbsent));
    // A list with the tag in it hits too (a GET's If-None-Match may list several).
    let list = format!("\"x\", W/{tag} , \"{}\"", v.wrapping_add(1));
    own.insert(IF_NONE_MATCH, HeaderValue::from_str(&list).unwrap());
    assert!(none_match_hits(&own, version), "{list}");
});
