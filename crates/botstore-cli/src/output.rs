//! How things are printed: JSON documents for `--json`, one-line renderings of values,
//! sizes and times for people.

use anyhow::Context;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use botstore::{Item, Millis, StreamEntry, Value};
use serde::Serialize;
use serde_json::value::RawValue;
use std::io::Write;
use std::time::{Duration, UNIX_EPOCH};

/// Write one JSON document and a newline.
pub fn json_doc<W: Write + ?Sized, T: Serialize + ?Sized>(
    out: &mut W,
    doc: &T,
) -> anyhow::Result<()> {
    serde_json::to_writer(&mut *out, doc).context("writing JSON output")?;
    out.write_all(b"\n")?;
    Ok(())
}

/// A stored value as JSON output: `value` holds JSON values as they are stored (no
/// re-encoding, so numbers and key order survive); other values go base64 in `value_b64`.
#[derive(Serialize)]
pub struct ValueOut<'a> {
    pub content_type: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_b64: Option<String>,
}

impl<'a> ValueOut<'a> {
    pub fn new(v: &'a Value) -> anyhow::Result<Self> {
        if v.is_json() {
            let raw: &RawValue = serde_json::from_slice(&v.data)
                .context("a stored JSON value does not parse (corrupt data?)")?;
            Ok(ValueOut {
                content_type: &v.content_type,
                value: Some(raw),
                value_b64: None,
            })
        } else {
            Ok(ValueOut {
                content_type: &v.content_type,
                value: None,
                value_b64: Some(BASE64.encode(&v.data)),
            })
        }
    }
}

/// An item as JSON output (`get --json`, `ls --json`). Times are ms since the Unix epoch.
#[derive(Serialize)]
pub struct ItemOut<'a> {
    pub ns: &'a [String],
    pub key: &'a str,
    pub content_type: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_b64: Option<String>,
    pub version: u64,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub expires_at: Option<Millis>,
    pub subject: Option<&'a str>,
}

impl<'a> ItemOut<'a> {
    pub fn new(i: &'a Item) -> anyhow::Result<Self> {
        let v = ValueOut::new(&i.value)?;
        Ok(ItemOut {
            ns: i.ns.segments(),
            key: &i.key,
            content_type: v.content_type,
            value: v.value,
            value_b64: v.value_b64,
            version: i.version.0,
            created_at: i.created_at,
            updated_at: i.updated_at,
            expires_at: i.expires_at,
            subject: i.subject.as_deref(),
        })
    }
}

/// A stream entry as JSON output. `at` is ms since the Unix epoch.
#[derive(Serialize)]
pub struct EntryOut<'a> {
    pub seq: u64,
    pub at: Millis,
    pub content_type: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_b64: Option<String>,
}

impl<'a> EntryOut<'a> {
    pub fn new(e: &'a StreamEntry) -> anyhow::Result<Self> {
        let v = ValueOut::new(&e.value)?;
        Ok(EntryOut {
            seq: e.seq,
            at: e.at,
            content_type: v.content_type,
            value: v.value,
            value_b64: v.value_b64,
        })
    }
}

/// A value on one line, for people: JSON as stored (line breaks turned into spaces, which
/// is safe because JSON strings cannot hold raw line breaks); other values as a summary.
pub fn value_line(v: &Value) -> String {
    if v.is_json() {
        String::from_utf8_lossy(&v.data)
            .trim()
            .replace(['\n', '\r'], " ")
    } else {
        format!("<{}, {} bytes>", v.content_type, v.data.len())
    }
}

/// `1.5 KiB`, `12.0 MiB`, `512 B`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut x = n as f64;
    let mut u = 0;
    while x >= 1024.0 && u + 1 < UNITS.len() {
        x /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{x:.1} {}", UNITS[u])
    }
}

/// RFC 3339 time (UTC, milliseconds) of a ms-since-epoch timestamp.
pub fn human_time(ms: Millis) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(t).to_string()
}
