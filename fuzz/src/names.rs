//! `names_and_cursors`: the strings a caller types or sends: namespaces (`a/b/c`), keys,
//! values, scan cursors, TTLs (`90s`), versions (ETags) and durability settings. The limits
//! must reject what would not encode cleanly, and what they accept must round-trip through
//! the key encodings the tables are ordered by.

use botstore::codec;
use botstore::read::{decode_cursor, encode_cursor};
use botstore::{Error, Limits, Namespace, Value, Version};

/// Input: `ns_len u8 | key_len u8 | ns bytes | key bytes | rest` (lengths cut to what is
/// there). Namespace and key are read as lossy UTF-8; `rest` is the cursor (lossy UTF-8)
/// and, as raw bytes, a value.
pub fn check(data: &[u8]) {
    let (ns_len, key_len, rest) = match data {
        [a, b, rest @ ..] => (usize::from(*a), usize::from(*b), rest),
        _ => (0, 0, data),
    };
    let (ns_b, rest) = rest.split_at(ns_len.min(rest.len()));
    let (key_b, tail) = rest.split_at(key_len.min(rest.len()));
    let ns_s = String::from_utf8_lossy(ns_b);
    let key = String::from_utf8_lossy(key_b).into_owned();
    let cursor = String::from_utf8_lossy(tail);
    let limits = Limits::default();

    // Namespaces.
    let ns = Namespace::parse(&ns_s);
    let as_ns = limits.check_namespace(&ns);
    let as_prefix = limits.check_prefix(&ns);
    typed(&as_ns);
    typed(&as_prefix);
    assert_eq!(as_ns.is_ok(), as_prefix.is_ok() && !ns.is_empty());
    let ns_enc = codec::ns_enc(&ns);
    if as_prefix.is_ok() {
        assert_eq!(codec::ns_dec(&ns_enc), Ok(ns.clone()));
        // The written form parses back to the same namespace.
        assert_eq!(Namespace::parse(&ns.to_string()), ns);
        // No separator byte inside a segment: the encoding has one terminator per segment.
        assert_eq!(
            ns_enc
                .iter()
                .filter(|&&b| b == codec::SEG_END || b == codec::KEY_SEP)
                .count(),
            ns.len()
        );
    }

    // Keys.
    let key_ok = limits.check_key(&key);
    typed(&key_ok);
    let mut key_prefix = ns_enc.clone();
    key_prefix.push(codec::KEY_SEP);
    if as_ns.is_ok() && key_ok.is_ok() {
        let k = codec::named_key(&ns, &key);
        assert!(k.starts_with(&key_prefix));
        assert_eq!(codec::split_named_key(&k), Ok((ns.clone(), key.clone())));
        // Every key of `ns` sorts inside the range a scan of `ns` reads.
        if let Some(end) = codec::prefix_end(&key_prefix) {
            assert!(k < end);
        }
    }

    // Values: a JSON value passes the check exactly when it parses as JSON.
    let json = Value::json_text(tail.to_vec());
    let checked = limits.check_value(&json);
    typed(&checked);
    let parsed = serde_json::from_slice::<serde_json::Value>(tail);
    assert_eq!(
        checked.is_ok(),
        parsed.is_ok(),
        "check_value and serde_json disagree: {checked:?} vs {parsed:?}"
    );
    if checked.is_ok() {
        assert!(json.to_json().is_ok());
    }
    // Any content type (the key's text stands in for one).
    typed(&limits.check_value(&Value::bytes(key.clone(), tail.to_vec())));
    typed(&limits.check_subject(&Some(key.clone())));

    // Cursors: decoding never panics; one that decodes is in range and is the only
    // spelling of its key (so a cursor cannot be forged into another range by re-spelling).
    for prefix in [&[][..], &ns_enc[..], &key_prefix[..]] {
        let r = decode_cursor(&cursor, prefix);
        typed(&r);
        if let Ok(k) = r {
            assert!(k.starts_with(prefix));
            assert_eq!(encode_cursor(&k), cursor);
        }
    }
    assert_eq!(decode_cursor(&encode_cursor(tail), &[]), Ok(tail.to_vec()));

    // Other strings callers pass in.
    typed(&botstore::parse_duration(&key));
    if let Ok(d) = botstore::parse_duration(&key) {
        assert!(d.as_millis() >= 1);
    }
    if let Some(v) = Version::parse(&key) {
        assert_eq!(Version::parse(&v.etag()), Some(v));
    }
    typed(&botstore_embedded::Durability::parse(&key));
}

/// Rejections of caller input are `InvalidInput`, nothing else.
fn typed<T: std::fmt::Debug>(r: &Result<T, Error>) {
    if let Err(e) = r {
        assert!(
            matches!(e, Error::InvalidInput { .. }),
            "caller input rejected with {e:?}"
        );
    }
}
