//! Input rules. The [`crate::Store`] checks every request against these before anything
//! reaches a backend, so nothing below it sees unchecked input.

use crate::error::{Error, Result, Rule};
use crate::model::{Mutation, Namespace, Value};

/// The limits a store enforces. `Limits::default()` is what `botstore` uses unless told.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Bytes in one namespace segment (default 128).
    pub max_segment_len: usize,
    /// Segments in one namespace (default 16).
    pub max_depth: usize,
    /// Bytes in a key, stream name or lease name (default 1024).
    pub max_key_len: usize,
    /// Bytes in one value (default 16 MiB).
    pub max_value_size: usize,
    /// Mutations in one batch (default 10,000).
    pub max_batch_len: usize,
    /// Sum of value bytes in one batch (default 64 MiB).
    pub max_batch_bytes: usize,
    /// Bytes in a subject id (default 256).
    pub max_subject_len: usize,
    /// Largest page a scan or read returns (default 10,000).
    pub max_page: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_segment_len: 128,
            max_depth: 16,
            max_key_len: 1024,
            max_value_size: 16 << 20,
            max_batch_len: 10_000,
            max_batch_bytes: 64 << 20,
            max_subject_len: 256,
            max_page: 10_000,
        }
    }
}

fn has_control(s: &str) -> bool {
    // ASCII fast path (runs on every request); `char::is_control` for the rest.
    if s.is_ascii() {
        return s.bytes().any(|b| b < 0x20 || b == 0x7f);
    }
    s.chars().any(char::is_control)
}

impl Limits {
    /// A namespace prefix: like a namespace but may be the root (empty).
    pub fn check_prefix(&self, ns: &Namespace) -> Result<()> {
        if ns.len() > self.max_depth {
            return Err(Error::invalid(
                Rule::NamespaceDepth,
                format!("{} segments, at most {}", ns.len(), self.max_depth),
            ));
        }
        for seg in ns.segments() {
            if seg.is_empty() {
                return Err(Error::invalid(
                    Rule::SegmentEmpty,
                    format!("in namespace {ns}"),
                ));
            }
            if seg.len() > self.max_segment_len {
                return Err(Error::invalid(
                    Rule::SegmentLength,
                    format!(
                        "segment of {} bytes, at most {}",
                        seg.len(),
                        self.max_segment_len
                    ),
                ));
            }
            if seg == "." || seg == ".." || seg.contains('/') || has_control(seg) {
                return Err(Error::invalid(
                    Rule::SegmentCharacters,
                    format!("segment {seg:?}: no '/', control characters, '.' or '..'"),
                ));
            }
        }
        Ok(())
    }

    /// A namespace that holds items: at least one segment.
    pub fn check_namespace(&self, ns: &Namespace) -> Result<()> {
        if ns.is_empty() {
            return Err(Error::invalid(
                Rule::NamespaceEmpty,
                "a namespace needs at least one segment",
            ));
        }
        self.check_prefix(ns)
    }

    /// A key, stream name or lease name.
    pub fn check_key(&self, key: &str) -> Result<()> {
        if key.is_empty() {
            return Err(Error::invalid(
                Rule::KeyEmpty,
                "keys and names cannot be empty",
            ));
        }
        if key.len() > self.max_key_len {
            return Err(Error::invalid(
                Rule::KeyLength,
                format!("{} bytes, at most {}", key.len(), self.max_key_len),
            ));
        }
        if has_control(key) {
            return Err(Error::invalid(
                Rule::KeyCharacters,
                format!("{key:?} has control characters"),
            ));
        }
        // URL paths resolve `.` and `..` away (even percent-encoded), so such a name
        // could be written through one front end and never read through the HTTP API.
        if key == "." || key == ".." {
            return Err(Error::invalid(
                Rule::KeyCharacters,
                format!("{key:?}: a key or name cannot be '.' or '..'"),
            ));
        }
        Ok(())
    }

    /// A value: size, content type, and for JSON, that it parses.
    pub fn check_value(&self, v: &Value) -> Result<()> {
        if v.data.len() > self.max_value_size {
            return Err(Error::invalid(
                Rule::ValueSize,
                format!("{} bytes, at most {}", v.data.len(), self.max_value_size),
            ));
        }
        if !is_media_type(&v.content_type) {
            return Err(Error::invalid(
                Rule::ContentType,
                "content type must be a media type (type/subtype[; parameters]) of at most \
                 255 bytes",
            ));
        }
        if v.is_json() {
            // Not `IgnoredAny`: it skips strings unchecked, so invalid UTF-8 and lone
            // surrogate escapes would be stored and then fail to parse on every read.
            serde_json::from_slice::<JsonCheck>(&v.data)
                .map_err(|e| Error::invalid(Rule::Json, format!("not valid JSON: {e}")))?;
        }
        Ok(())
    }

    /// A subject, if given: 1 to `max_subject_len` bytes without control characters.
    pub fn check_subject(&self, s: &Option<String>) -> Result<()> {
        if let Some(s) = s {
            if s.is_empty() || s.len() > self.max_subject_len || has_control(s) {
                return Err(Error::invalid(
                    Rule::SubjectLength,
                    format!(
                        "subject must be 1-{} bytes without control characters",
                        self.max_subject_len
                    ),
                ));
            }
        }
        Ok(())
    }

    /// A page size: 1 to `max_page`; returns it.
    pub fn check_page(&self, limit: usize) -> Result<usize> {
        if limit == 0 || limit > self.max_page {
            return Err(Error::invalid(
                Rule::Limit,
                format!("limit must be 1-{}", self.max_page),
            ));
        }
        Ok(limit)
    }

    /// One mutation, as the store receives it from a caller.
    pub fn check_mutation(&self, m: &Mutation) -> Result<()> {
        // The rules of each kind of mutation live beside its semantics (apply/<topic>.rs).
        crate::apply::check(self, m)
    }

    /// A batch: its length and total value bytes, then every mutation.
    pub fn check_batch(&self, ms: &[Mutation]) -> Result<()> {
        if ms.is_empty() || ms.len() > self.max_batch_len {
            return Err(Error::invalid(
                Rule::BatchSize,
                format!(
                    "{} mutations; a batch holds 1-{}",
                    ms.len(),
                    self.max_batch_len
                ),
            ));
        }
        self.check_batch_bytes(ms)?;
        ms.iter().try_for_each(|m| self.check_mutation(m))
    }

    /// The sum of value bytes in one batch (an atomic batch or a `write_many`).
    pub fn check_batch_bytes(&self, ms: &[Mutation]) -> Result<()> {
        let bytes: usize = ms.iter().map(value_bytes).sum();
        if bytes > self.max_batch_bytes {
            return Err(Error::invalid(
                Rule::BatchSize,
                format!(
                    "{bytes} value bytes in one batch, at most {}",
                    self.max_batch_bytes
                ),
            ));
        }
        Ok(())
    }
}

/// Checks JSON text as strictly as parsing it into a `serde_json::Value` would (UTF-8,
/// escapes, surrogates, trailing characters), without building the tree.
struct JsonCheck;

impl<'de> serde::Deserialize<'de> for JsonCheck {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_any(JsonCheck)
    }
}

impl<'de> serde::de::Visitor<'de> for JsonCheck {
    type Value = JsonCheck;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> std::result::Result<Self, E> {
        Ok(self)
    }
    fn visit_i64<E>(self, _: i64) -> std::result::Result<Self, E> {
        Ok(self)
    }
    fn visit_u64<E>(self, _: u64) -> std::result::Result<Self, E> {
        Ok(self)
    }
    fn visit_f64<E>(self, _: f64) -> std::result::Result<Self, E> {
        Ok(self)
    }
    fn visit_str<E>(self, _: &str) -> std::result::Result<Self, E> {
        Ok(self)
    }
    fn visit_unit<E>(self) -> std::result::Result<Self, E> {
        Ok(self)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(
        self,
        mut a: A,
    ) -> std::result::Result<Self, A::Error> {
        while a.next_element::<JsonCheck>()?.is_some() {}
        Ok(self)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut a: A,
    ) -> std::result::Result<Self, A::Error> {
        while a.next_entry::<JsonCheck, JsonCheck>()?.is_some() {}
        Ok(self)
    }
}

fn value_bytes(m: &Mutation) -> usize {
    match m {
        Mutation::Put { value, .. } => value.data.len(),
        Mutation::Append { entries, .. } => entries.iter().map(|e| e.data.len()).sum(),
        _ => 0,
    }
}

/// TTLs must be at least 1 ms and at most 100 years.
pub fn check_ttl(ttl: &std::time::Duration) -> Result<()> {
    const MAX: u128 = 100 * 365 * 24 * 3600 * 1000;
    let ms = ttl.as_millis();
    if ms == 0 || ms > MAX {
        return Err(Error::invalid(
            Rule::Ttl,
            "a TTL must be between 1 ms and 100 years",
        ));
    }
    Ok(())
}

/// A media type as HTTP carries it: `type/subtype` of RFC 9110 tokens, then optional
/// `; parameters` of printable ASCII; at most 255 bytes. A stored content type is served
/// back as the `Content-Type` of every read, so nothing else may be stored.
pub fn is_media_type(s: &str) -> bool {
    fn token(t: &str) -> bool {
        !t.is_empty()
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+.^_`|~-".contains(&b))
    }
    let (essence, params) = match s.split_once(';') {
        Some((e, p)) => (e.trim_end_matches(' '), Some(p)),
        None => (s, None),
    };
    let shape = essence
        .split_once('/')
        .is_some_and(|(t, sub)| token(t) && token(sub));
    shape && params.is_none_or(|p| p.bytes().all(|b| (b' '..=b'~').contains(&b))) && s.len() <= 255
}
