//! An item read with `GET /v1/items/...`: the body is the value, the metadata is in
//! headers (`ETag`, `botstore-created-at`, ...). Kept apart from the HTTP plumbing so that
//! it can be tested on plain header maps.

use botstore::{Item, Namespace, Value, Version};
use botstore_api::{CREATED_AT_HEADER, EXPIRES_AT_HEADER, SUBJECT_HEADER, UPDATED_AT_HEADER};
use percent_encoding::percent_decode_str;
use reqwest::header::{HeaderMap, CONTENT_TYPE, ETAG};

fn text<'a>(h: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, String> {
    match h.get(name) {
        None => Ok(None),
        // UTF-8, not only ASCII: a stored content type may hold any printable character.
        Some(v) => std::str::from_utf8(v.as_bytes())
            .map(|s| Some(s.trim()))
            .map_err(|_| format!("header {name} is not UTF-8 text")),
    }
}

fn required<'a>(h: &'a HeaderMap, name: &str) -> Result<&'a str, String> {
    text(h, name)?.ok_or_else(|| format!("the answer has no {name} header"))
}

fn millis(h: &HeaderMap, name: &str) -> Result<Option<i64>, String> {
    text(h, name)?
        .map(|s| {
            s.parse::<i64>()
                .map_err(|_| format!("header {name}: {s:?} is not a time in ms"))
        })
        .transpose()
}

/// The version in an `ETag` header (`"42"`, or weak `W/"42"`).
pub fn etag_version(h: &HeaderMap) -> Result<Option<Version>, String> {
    match text(h, ETAG.as_str())? {
        None => Ok(None),
        Some(s) => Version::parse(s)
            .map(Some)
            .ok_or_else(|| format!("ETag {s:?} is not a version")),
    }
}

/// Build the item from the answer to a single-item GET.
pub fn item_from_parts(
    ns: &Namespace,
    key: &str,
    headers: &HeaderMap,
    body: Vec<u8>,
) -> Result<Item, String> {
    let version = etag_version(headers)?.ok_or("the answer has no ETag header")?;
    let content_type = required(headers, CONTENT_TYPE.as_str())?.to_owned();
    let created_at = millis(headers, CREATED_AT_HEADER)?
        .ok_or_else(|| format!("the answer has no {CREATED_AT_HEADER} header"))?;
    let updated_at = millis(headers, UPDATED_AT_HEADER)?
        .ok_or_else(|| format!("the answer has no {UPDATED_AT_HEADER} header"))?;
    let expires_at = millis(headers, EXPIRES_AT_HEADER)?;
    let subject = text(headers, SUBJECT_HEADER)?
        .map(|s| {
            percent_decode_str(s)
                .decode_utf8()
                .map(|c| c.into_owned())
                .map_err(|_| format!("header {SUBJECT_HEADER} is not percent-encoded UTF-8"))
        })
        .transpose()?;
    Ok(Item {
        ns: ns.clone(),
        key: key.to_owned(),
        value: Value {
            content_type,
            data: body,
        },
        version,
        created_at,
        updated_at,
        expires_at,
        subject,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn an_item_comes_from_body_and_headers() {
        let h = headers(&[
            ("etag", "\"42\""),
            ("content-type", "application/json"),
            ("botstore-created-at", "1000"),
            ("botstore-updated-at", "2000"),
            ("botstore-expires-at", "3000"),
            ("botstore-subject", "user%2042%20%C3%A9"),
        ]);
        let ns = Namespace::new(["a", "b"]);
        let item = item_from_parts(&ns, "k", &h, b"{\"x\":1}".to_vec()).unwrap();
        assert_eq!(item.version, Version(42));
        assert_eq!(item.value, Value::json_text("{\"x\":1}"));
        assert_eq!((item.created_at, item.updated_at), (1000, 2000));
        assert_eq!(item.expires_at, Some(3000));
        assert_eq!(item.subject.as_deref(), Some("user 42 é"));
        assert_eq!((item.ns, item.key.as_str()), (ns, "k"));
    }

    #[test]
    fn optional_headers_may_be_missing_and_weak_etags_parse() {
        let h = headers(&[
            ("etag", "W/\"7\""),
            ("content-type", "image/png"),
            ("botstore-created-at", "1"),
            ("botstore-updated-at", "1"),
        ]);
        let item = item_from_parts(&Namespace::new(["a"]), "k", &h, vec![0, 255]).unwrap();
        assert_eq!(item.version, Version(7));
        assert_eq!(item.value, Value::bytes("image/png", vec![0, 255]));
        assert_eq!((item.expires_at, item.subject), (None, None));
    }

    #[test]
    fn missing_or_broken_metadata_is_an_error_not_a_panic() {
        let ns = Namespace::new(["a"]);
        let full = [
            ("etag", "\"1\""),
            ("content-type", "application/json"),
            ("botstore-created-at", "1"),
            ("botstore-updated-at", "1"),
        ];
        for skip in 0..full.len() {
            let pairs: Vec<_> = full
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != skip)
                .map(|(_, p)| *p)
                .collect();
            let e = item_from_parts(&ns, "k", &headers(&pairs), vec![]).unwrap_err();
            assert!(e.contains(full[skip].0) || e.contains("ETag"), "{e}");
        }
        let bad = [
            ("etag", "\"x\""),
            ("botstore-created-at", "soon"),
            ("botstore-subject", "%FF"),
        ];
        for (k, v) in bad {
            let mut h = headers(&full);
            h.insert(k, HeaderValue::from_static(v));
            assert!(item_from_parts(&ns, "k", &h, vec![]).is_err(), "{k}: {v}");
        }
    }
}
