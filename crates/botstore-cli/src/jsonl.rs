//! The import/export format: JSON Lines, one record a line.
//!
//! An **item**:
//!
//! ```json
//! {"ns": ["tenant-a", "users", "u42"], "key": "profile", "value": {"name": "Ada"}, "ttl_s": 3600, "subject": "u42"}
//! ```
//!
//! * `ns`: the namespace as an array of segments; `key`: the key.
//! * `value`: the JSON value, written as stored (line breaks between tokens become spaces
//!   so that a record stays on one line).
//! * A non-JSON value has `"content_type": "...", "value_b64": "..."` (standard base64
//!   with padding) instead of `value`.
//! * `ttl_s` (optional): seconds the item has left to live, rounded up, at least 1. Import
//!   accepts any positive number (fractions too). Without it the item never expires: import
//!   writes it with no TTL, whatever the target namespace's default TTL.
//! * `subject` (optional): the subject the item belongs to.
//!
//! A **stream entry**:
//!
//! ```json
//! {"ns": ["tenant-a", "chats", "c1"], "stream": "messages", "entry": {"role": "user", "text": "hi"}}
//! ```
//!
//! * `entry`: the entry's JSON value; a non-JSON entry has `"content_type": "...",
//!   "entry_b64": "..."` instead.
//! * Entries of a stream are written in sequence order and import appends them in file
//!   order. Sequence numbers and append times are not kept: import appends at the time of
//!   import, so a stream that was trimmed starts again at sequence 1.
//!
//! Blank lines are skipped. Unknown fields, a record with both or neither of `key` and
//! `stream`, and fields that do not belong to the record's kind are errors.
//! Export writes every item (in namespace and key order), then every stream's entries.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use botstore::{Item, Limits, Millis, Namespace, Value};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use std::io::{self, Write};
use std::time::Duration;

/// One parsed line.
#[derive(Debug, PartialEq)]
pub enum Record {
    Item {
        ns: Namespace,
        key: String,
        value: Value,
        ttl: Option<Duration>,
        subject: Option<String>,
    },
    Entry {
        ns: Namespace,
        stream: String,
        value: Value,
    },
}

impl Record {
    /// Bytes of the record's value.
    pub fn value_len(&self) -> usize {
        match self {
            Record::Item { value, .. } | Record::Entry { value, .. } => value.data.len(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line<'a> {
    ns: Vec<String>,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    stream: Option<String>,
    #[serde(default, borrow, deserialize_with = "present")]
    value: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    entry: Option<&'a RawValue>,
    #[serde(default)]
    value_b64: Option<String>,
    #[serde(default)]
    entry_b64: Option<String>,
    #[serde(default)]
    content_type: Option<String>,
    #[serde(default)]
    ttl_s: Option<f64>,
    #[serde(default)]
    subject: Option<String>,
}

/// A field that is present, even as `null` (which is a JSON value like any other).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&'de RawValue>::deserialize(d).map(Some)
}

/// Parse one line (without its line break). The error says what is wrong, without the
/// line number (the caller adds it).
pub fn parse_line(line: &[u8]) -> Result<Record, String> {
    let l: Line = serde_json::from_slice(line).map_err(|e| format!("not a record: {e}"))?;
    let ns = Namespace(l.ns);
    match (l.key, l.stream) {
        (Some(key), None) => {
            if l.entry.is_some() || l.entry_b64.is_some() {
                return Err("an item (with \"key\") has \"value\", not \"entry\"".into());
            }
            let value = value_of(l.value, l.value_b64, l.content_type, "value")?;
            let ttl = l.ttl_s.map(ttl_of).transpose()?;
            Ok(Record::Item {
                ns,
                key,
                value,
                ttl,
                subject: l.subject,
            })
        }
        (None, Some(stream)) => {
            if l.value.is_some() || l.value_b64.is_some() {
                return Err("a stream entry (with \"stream\") has \"entry\", not \"value\"".into());
            }
            if l.ttl_s.is_some() || l.subject.is_some() {
                return Err("a stream entry has no \"ttl_s\" or \"subject\"".into());
            }
            let value = value_of(l.entry, l.entry_b64, l.content_type, "entry")?;
            Ok(Record::Entry { ns, stream, value })
        }
        (Some(_), Some(_)) => {
            Err("a record has \"key\" (an item) or \"stream\" (a stream entry), not both".into())
        }
        (None, None) => {
            Err("a record needs \"key\" (an item) or \"stream\" (a stream entry)".into())
        }
    }
}

fn value_of(
    json: Option<&RawValue>,
    b64: Option<String>,
    content_type: Option<String>,
    field: &str,
) -> Result<Value, String> {
    match (json, b64, content_type) {
        (Some(raw), None, None) => Ok(Value::json_text(raw.get().as_bytes())),
        (Some(_), None, Some(_)) => Err(format!(
            "\"content_type\" goes with \"{field}_b64\"; \"{field}\" is always JSON"
        )),
        (None, Some(b), Some(ct)) => {
            let data = BASE64
                .decode(b.as_bytes())
                .map_err(|e| format!("\"{field}_b64\" is not base64: {e}"))?;
            Ok(Value::bytes(ct, data))
        }
        (None, Some(_), None) => Err(format!("\"{field}_b64\" needs \"content_type\"")),
        (Some(_), Some(_), _) => Err(format!(
            "a record has \"{field}\" or \"{field}_b64\", not both"
        )),
        (None, None, _) => Err(format!("missing \"{field}\" (or \"{field}_b64\")")),
    }
}

fn ttl_of(s: f64) -> Result<Duration, String> {
    if !(s.is_finite() && s > 0.0) {
        return Err(format!(
            "\"ttl_s\" must be a positive number of seconds, not {s}"
        ));
    }
    let d = Duration::from_millis((s * 1000.0).ceil().min(u64::MAX as f64) as u64);
    botstore::limits::check_ttl(&d).map_err(|e| e.to_string())?;
    Ok(d)
}

/// Check a record against the store's rules, so that a bad line is reported with its own
/// line number before its batch reaches the store. (The store checks again.)
pub fn check(r: &Record, limits: &Limits) -> botstore::Result<()> {
    let (ns, name, value, subject) = match r {
        Record::Item {
            ns,
            key,
            value,
            subject,
            ..
        } => (ns, key, value, subject.clone()),
        Record::Entry { ns, stream, value } => (ns, stream, value, None),
    };
    limits.check_namespace(ns)?;
    limits.check_key(name)?;
    limits.check_subject(&subject)?;
    if value.is_json() {
        // The JSON was checked when the line was parsed; only the size is left.
        if value.data.len() > limits.max_value_size {
            return Err(botstore::Error::InvalidInput {
                rule: botstore::Rule::ValueSize,
                detail: format!(
                    "{} bytes, at most {}",
                    value.data.len(),
                    limits.max_value_size
                ),
            });
        }
        Ok(())
    } else {
        limits.check_value(value)
    }
}

/// Write an item as one line. `now` decides `ttl_s`; an item that expired by `now` is not
/// written (returns false).
pub fn write_item<W: Write + ?Sized>(out: &mut W, item: &Item, now: Millis) -> io::Result<bool> {
    let ttl_s = match item.expires_at {
        None => None,
        Some(e) if e <= now => return Ok(false),
        Some(e) => Some(((e - now) as u64).div_ceil(1000)),
    };
    out.write_all(b"{\"ns\":")?;
    serde_json::to_writer(&mut *out, item.ns.segments())?;
    out.write_all(b",\"key\":")?;
    serde_json::to_writer(&mut *out, &item.key)?;
    write_value(out, &item.value, "value")?;
    if let Some(t) = ttl_s {
        write!(out, ",\"ttl_s\":{t}")?;
    }
    if let Some(s) = &item.subject {
        out.write_all(b",\"subject\":")?;
        serde_json::to_writer(&mut *out, s)?;
    }
    out.write_all(b"}\n")?;
    Ok(true)
}

/// Write a stream entry as one line.
pub fn write_entry<W: Write + ?Sized>(
    out: &mut W,
    ns: &Namespace,
    stream: &str,
    value: &Value,
) -> io::Result<()> {
    out.write_all(b"{\"ns\":")?;
    serde_json::to_writer(&mut *out, ns.segments())?;
    out.write_all(b",\"stream\":")?;
    serde_json::to_writer(&mut *out, stream)?;
    write_value(out, value, "entry")?;
    out.write_all(b"}\n")
}

/// `,"value":<json>` or `,"content_type":"...","value_b64":"..."`.
fn write_value<W: Write + ?Sized>(out: &mut W, v: &Value, field: &str) -> io::Result<()> {
    if v.is_json() {
        write!(out, ",\"{field}\":")?;
        let text = v.data.trim_ascii();
        if text.contains(&b'\n') || text.contains(&b'\r') {
            // Raw line breaks in valid JSON are whitespace between tokens (inside strings
            // they must be escaped), so spaces keep the value and the record on one line.
            let one_line: Vec<u8> = text
                .iter()
                .map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b })
                .collect();
            out.write_all(&one_line)
        } else {
            out.write_all(text)
        }
    } else {
        out.write_all(b",\"content_type\":")?;
        serde_json::to_writer(&mut *out, &v.content_type)?;
        write!(out, ",\"{field}_b64\":\"")?;
        out.write_all(BASE64.encode(&v.data).as_bytes())?;
        out.write_all(b"\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use botstore::Version;

    fn item(value: Value, expires_at: Option<Millis>, subject: Option<&str>) -> Item {
        Item {
            ns: Namespace::new(["t", "u"]),
            key: "k \"1\"".into(),
            value,
            version: Version(1),
            created_at: 0,
            updated_at: 0,
            expires_at,
            subject: subject.map(str::to_owned),
        }
    }

    fn line(i: &Item, now: Millis) -> Vec<u8> {
        let mut out = Vec::new();
        assert!(write_item(&mut out, i, now).unwrap());
        assert_eq!(out.pop(), Some(b'\n'));
        out
    }

    #[test]
    fn items_round_trip() {
        let i = item(
            Value::json_text("{\n  \"a\": [1, 2.50]\n}"),
            Some(10_500),
            Some("s"),
        );
        let l = line(&i, 1_000);
        assert!(!l.contains(&b'\n'));
        let Record::Item {
            ns,
            key,
            value,
            ttl,
            subject,
        } = parse_line(&l).unwrap()
        else {
            panic!("not an item")
        };
        assert_eq!(ns, i.ns);
        assert_eq!(key, i.key);
        assert_eq!(value.data, b"{   \"a\": [1, 2.50] }");
        assert_eq!(ttl, Some(Duration::from_secs(10)));
        assert_eq!(subject.as_deref(), Some("s"));

        let b = item(Value::bytes("image/png", vec![0, 159, 255]), None, None);
        match parse_line(&line(&b, 0)).unwrap() {
            Record::Item { value, ttl, .. } => {
                assert_eq!(value, b.value);
                assert_eq!(ttl, None);
            }
            r => panic!("{r:?}"),
        }
    }

    #[test]
    fn expired_items_are_skipped() {
        let i = item(Value::json_text("1"), Some(5), None);
        assert!(!write_item(&mut Vec::new(), &i, 5).unwrap());
    }

    #[test]
    fn entries_round_trip() {
        let ns = Namespace::new(["c"]);
        for v in [Value::json_text("null"), Value::bytes("text/plain", "hi")] {
            let mut out = Vec::new();
            write_entry(&mut out, &ns, "s", &v).unwrap();
            let r = parse_line(out.trim_ascii_end()).unwrap();
            assert_eq!(
                r,
                Record::Entry {
                    ns: ns.clone(),
                    stream: "s".into(),
                    value: v
                }
            );
        }
    }

    #[test]
    fn bad_records_say_why() {
        let cases: &[(&str, &str)] = &[
            ("{", "not a record"),
            ("{\"ns\":[\"a\"],\"key\":\"k\"}", "missing \"value\""),
            ("{\"ns\":[\"a\"],\"value\":1}", "needs \"key\""),
            (
                "{\"ns\":[\"a\"],\"key\":\"k\",\"stream\":\"s\",\"value\":1}",
                "not both",
            ),
            (
                "{\"ns\":[\"a\"],\"key\":\"k\",\"value\":1,\"extra\":1}",
                "unknown field",
            ),
            (
                "{\"ns\":[\"a\"],\"key\":\"k\",\"value_b64\":\"AA==\"}",
                "needs \"content_type\"",
            ),
            (
                "{\"ns\":[\"a\"],\"key\":\"k\",\"value\":1,\"ttl_s\":0}",
                "positive",
            ),
            (
                "{\"ns\":[\"a\"],\"stream\":\"s\",\"entry\":1,\"ttl_s\":5}",
                "no \"ttl_s\"",
            ),
            (
                "{\"ns\":[\"a\"],\"stream\":\"s\",\"value\":1}",
                "has \"entry\"",
            ),
            (
                "{\"ns\":[\"a\"],\"key\":\"k\",\"content_type\":\"x\",\"value_b64\":\"!\"}",
                "not base64",
            ),
        ];
        for (l, want) in cases {
            let e = parse_line(l.as_bytes()).unwrap_err();
            assert!(e.contains(want), "{l}: {e}");
        }
        // null is a value like any other.
        assert!(matches!(
            parse_line(b"{\"ns\":[\"a\"],\"key\":\"k\",\"value\":null}"),
            Ok(Record::Item { value, .. }) if value.data == b"null"
        ));
    }
}
