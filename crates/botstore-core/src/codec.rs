//! How the data model maps onto ordered byte tables: the table set, key encodings and
//! record encodings. Every backend stores exactly these bytes, so semantics, backups and the
//! write-ahead log are backend-neutral. Byte layouts: `docs/FORMAT.md`.

use crate::envelope;
use crate::error::{Error, Result};
use crate::model::*;
use crate::value_codec::{CodecStack, ValueContext};

pub use crate::kv::Table;

/// Meta key holding the last assigned LSN (be64).
pub const META_LAST_LSN: &[u8] = b"last_lsn";

// ---------------------------------------------------------------- keys

/// Segment terminator in encoded namespaces.
pub const SEG_END: u8 = 0x00;
/// Separator between an encoded namespace and a key.
pub const KEY_SEP: u8 = 0x01;

/// `seg1 0x00 seg2 0x00 ...`. Segments never hold control characters, so this is
/// unambiguous and sorts namespaces by segments; every descendant of `ns` starts with it.
pub fn ns_enc(ns: &Namespace) -> Vec<u8> {
    let mut out = Vec::with_capacity(ns_enc_len(ns));
    ns_enc_into(&mut out, ns);
    out
}

fn ns_enc_len(ns: &Namespace) -> usize {
    ns.0.iter().map(|s| s.len() + 1).sum()
}

fn ns_enc_into(out: &mut Vec<u8>, ns: &Namespace) {
    for s in &ns.0 {
        out.extend_from_slice(s.as_bytes());
        out.push(SEG_END);
    }
}

/// Decode [`ns_enc`] output (the whole slice).
pub fn ns_dec(mut b: &[u8]) -> Result<Namespace> {
    let mut segs = Vec::new();
    while !b.is_empty() {
        let end = b
            .iter()
            .position(|&c| c == SEG_END)
            .ok_or_else(|| Error::Corrupt("namespace without terminator".into()))?;
        segs.push(utf8(&b[..end])?);
        b = &b[end + 1..];
    }
    Ok(Namespace(segs))
}

/// `ns_enc(ns) ++ 0x01 ++ name`: the key of an item, a stream or a lease.
pub fn named_key(ns: &Namespace, name: &str) -> Vec<u8> {
    // Sized once: this runs on every get and every write.
    let mut k = Vec::with_capacity(ns_enc_len(ns) + 1 + name.len());
    ns_enc_into(&mut k, ns);
    k.push(KEY_SEP);
    k.extend_from_slice(name.as_bytes());
    k
}

/// Split a [`named_key`] into namespace and name.
pub fn split_named_key(k: &[u8]) -> Result<(Namespace, String)> {
    let mut i = 0;
    loop {
        if i >= k.len() {
            return Err(Error::Corrupt("key without namespace separator".into()));
        }
        if k[i] == KEY_SEP {
            return Ok((ns_dec(&k[..i])?, utf8(&k[i + 1..])?));
        }
        let end = k[i..]
            .iter()
            .position(|&c| c == SEG_END)
            .ok_or_else(|| Error::Corrupt("namespace without terminator".into()))?;
        i += end + 1;
    }
}

/// Key of one stream entry.
pub fn entry_key(stream_key: &[u8], seq: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(stream_key.len() + 9);
    k.extend_from_slice(stream_key);
    k.push(SEG_END);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// Key of an expiry-index entry: the expiry time as big-endian u64 (times before the epoch
/// as 0), so the index sorts by time, then the item's key.
pub fn expiry_key(expires_at: Millis, item_key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(8 + item_key.len());
    k.extend_from_slice(&(expires_at.max(0) as u64).to_be_bytes());
    k.extend_from_slice(item_key);
    k
}

/// The smallest byte string greater than every string that starts with `prefix`
/// (`None`: no such bound, the prefix is all 0xFF).
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut p = prefix.to_vec();
    while let Some(last) = p.pop() {
        if last < 0xFF {
            p.push(last + 1);
            return Some(p);
        }
    }
    None
}

fn utf8(b: &[u8]) -> Result<String> {
    String::from_utf8(b.to_vec()).map_err(|_| Error::Corrupt("name is not UTF-8".into()))
}

/// A big-endian u64 from exactly 8 bytes; `Corrupt` for any other length.
pub fn be64(b: &[u8]) -> Result<u64> {
    b.try_into()
        .map(u64::from_be_bytes)
        .map_err(|_| Error::Corrupt("expected 8 bytes".into()))
}

// ---------------------------------------------------------------- records

/// Record format version of every record written by this build.
pub const RECORD_VERSION: u8 = 1;

/// A little-endian byte reader that turns every overrun into `Error::Corrupt`.
pub struct Reader<'a> {
    b: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    /// A reader over `b`; `what` names the record kind in its errors (`truncated item
    /// record`).
    pub fn new(b: &'a [u8], what: &'static str) -> Self {
        Reader { b, what }
    }
    fn err(&self) -> Error {
        Error::Corrupt(format!("truncated {} record", self.what))
    }
    /// The next `n` bytes; `Corrupt` if fewer are left.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.b.len() < n {
            return Err(self.err());
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Ok(h)
    }
    /// The next byte.
    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    /// The next 2 bytes as a little-endian u16.
    pub fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(
            self.take(2)?.try_into().map_err(|_| self.err())?,
        ))
    }
    /// The next 4 bytes as a little-endian u32.
    pub fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().map_err(|_| self.err())?,
        ))
    }
    /// The next 8 bytes as a little-endian u64.
    pub fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().map_err(|_| self.err())?,
        ))
    }
    /// The next 8 bytes as a little-endian i64.
    pub fn i64(&mut self) -> Result<i64> {
        Ok(self.u64()? as i64)
    }
    /// A UTF-8 string prefixed by its u16 length; `Corrupt` if it is not UTF-8.
    pub fn str16(&mut self) -> Result<String> {
        let n = self.u16()? as usize;
        utf8(self.take(n)?)
    }
    /// Bytes prefixed by their u16 length.
    pub fn bytes16(&mut self) -> Result<&'a [u8]> {
        let n = self.u16()? as usize;
        self.take(n)
    }
    /// Bytes prefixed by their u32 length.
    pub fn bytes32(&mut self) -> Result<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    /// Everything not read yet (the reader is empty afterwards).
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.b)
    }
    /// Read the record-format byte; `Corrupt` unless it is [`RECORD_VERSION`].
    pub fn version(&mut self) -> Result<()> {
        let v = self.u8()?;
        if v != RECORD_VERSION {
            return Err(Error::Corrupt(format!(
                "{} record has unknown version {v}",
                self.what
            )));
        }
        Ok(())
    }
}

fn put_str16(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u16).to_le_bytes());
    out.extend_from_slice(s);
}

/// What an item record holds (the namespace and key are in the table key).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemRecord {
    /// The version of the write that produced the record.
    pub version: Version,
    /// When the item was first written.
    pub created_at: Millis,
    /// When the item was last written.
    pub updated_at: Millis,
    /// When the item expires; `None`: never.
    pub expires_at: Option<Millis>,
    /// The subject the item is about, if any.
    pub subject: Option<String>,
    /// The value, opened (plain bytes, not the sealed envelope).
    pub value: Value,
}

const HAS_EXPIRY: u8 = 1;
const HAS_SUBJECT: u8 = 2;

impl ItemRecord {
    /// Layout: ver u8 | version u64 | created i64 | updated i64 | flags u8 |
    /// [expires i64] | [subject str16] | content type str16 | envelope.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = self.encode_header();
        envelope::seal_plain(&self.value.data, &mut out);
        out
    }

    /// Everything before the value's envelope.
    fn encode_header(&self) -> Vec<u8> {
        // Room for the whole record and its record check, so neither grows it again.
        let mut out = Vec::with_capacity(
            48 + self.value.content_type.len()
                + self.subject.as_ref().map_or(0, String::len)
                + self.value.data.len()
                + crate::record_check::CHECK_LEN,
        );
        self.write_header(&mut out);
        out
    }

    /// Append what [`ItemRecord::encode_header`] returns to `out`.
    fn write_header(&self, out: &mut Vec<u8>) {
        out.push(RECORD_VERSION);
        out.extend_from_slice(&self.version.0.to_le_bytes());
        out.extend_from_slice(&self.created_at.to_le_bytes());
        out.extend_from_slice(&self.updated_at.to_le_bytes());
        let mut fl = 0;
        if self.expires_at.is_some() {
            fl |= HAS_EXPIRY;
        }
        if self.subject.is_some() {
            fl |= HAS_SUBJECT;
        }
        out.push(fl);
        if let Some(e) = self.expires_at {
            out.extend_from_slice(&e.to_le_bytes());
        }
        if let Some(s) = &self.subject {
            put_str16(out, s.as_bytes());
        }
        put_str16(out, self.value.content_type.as_bytes());
    }

    /// [`ItemRecord::encode`] with the value sealed by `codecs`, bound to the item's `key`
    /// ([`named_key`]).
    pub fn encode_with(&self, codecs: &CodecStack, key: &[u8]) -> Result<Vec<u8>> {
        self.encode_in(codecs, key, false)
    }

    /// [`ItemRecord::encode_with`], for the change feed's copy when `change_copy`.
    fn encode_in(&self, codecs: &CodecStack, key: &[u8], change_copy: bool) -> Result<Vec<u8>> {
        if codecs.is_plain() {
            return Ok(self.encode());
        }
        let mut out = self.encode_header();
        let ctx = ValueContext {
            table: Table::Items,
            key,
            version: Some(self.version),
            subject: self.subject.as_deref(),
            change_copy,
        };
        codecs.seal(&ctx, &self.value.data, &mut out)?;
        Ok(out)
    }

    /// [`ItemRecord::decode`] of a record whose value `codecs` sealed at `key`.
    pub fn decode_with(b: &[u8], codecs: &CodecStack, key: &[u8]) -> Result<Self> {
        Self::decode_in(b, codecs, key, false)
    }

    fn decode_in(b: &[u8], codecs: &CodecStack, key: &[u8], change_copy: bool) -> Result<Self> {
        let (mut rec, sealed) = Self::decode_header(b)?;
        let ctx = ValueContext {
            table: Table::Items,
            key,
            version: Some(rec.version),
            subject: rec.subject.as_deref(),
            change_copy,
        };
        rec.value.data = codecs.open(&ctx, sealed)?.into_owned();
        Ok(rec)
    }

    /// Decode a record whose value is in a plain envelope (no codec flags); `Corrupt`
    /// otherwise, or if the bytes are damaged.
    pub fn decode(b: &[u8]) -> Result<Self> {
        let (mut rec, sealed) = Self::decode_header(b)?;
        rec.value.data = envelope::open_plain(sealed)?.to_vec();
        Ok(rec)
    }

    /// The sealed value (its envelope) of an item record, and the context it was sealed
    /// in, without opening it (what `compact` looks at).
    pub fn sealed_value(b: &[u8]) -> Result<(Version, Option<String>, &[u8])> {
        let (rec, sealed) = Self::decode_header(b)?;
        Ok((rec.version, rec.subject, sealed))
    }

    /// Everything but the value, and the sealed value's bytes.
    fn decode_header(b: &[u8]) -> Result<(Self, &[u8])> {
        let mut r = Reader::new(b, "item");
        r.version()?;
        let version = Version(r.u64()?);
        let created_at = r.i64()?;
        let updated_at = r.i64()?;
        let fl = r.u8()?;
        let expires_at = if fl & HAS_EXPIRY != 0 {
            Some(r.i64()?)
        } else {
            None
        };
        let subject = if fl & HAS_SUBJECT != 0 {
            Some(r.str16()?)
        } else {
            None
        };
        let content_type = r.str16()?;
        let rec = ItemRecord {
            version,
            created_at,
            updated_at,
            expires_at,
            subject,
            value: Value {
                content_type,
                data: Vec::new(),
            },
        };
        Ok((rec, r.rest()))
    }

    /// The [`Item`] this record is, at `(ns, key)`.
    pub fn into_item(self, ns: Namespace, key: String) -> Item {
        Item {
            ns,
            key,
            value: self.value,
            version: self.version,
            created_at: self.created_at,
            updated_at: self.updated_at,
            expires_at: self.expires_at,
            subject: self.subject,
        }
    }

    /// Whether the record's expiry is at or before `now` (an expired item reads as absent).
    pub fn is_expired(&self, now: Millis) -> bool {
        self.expires_at.is_some_and(|e| e <= now)
    }
}

/// Layout: ver u8 | at i64 | content type str16 | envelope (version 1, without `lsn`), or
/// version 2 with the LSN of the append that wrote it ([`entry_head`]).
pub fn encode_entry(at: Millis, lsn: Option<u64>, v: &Value) -> Vec<u8> {
    let mut out = entry_head(at, lsn, v);
    envelope::seal_plain(&v.data, &mut out);
    out
}

/// The record format of an entry that carries the LSN of the append that wrote it.
const ENTRY_WITH_LSN: u8 = 2;

/// Everything before an entry's envelope. Version 2 (with `lsn`): ver u8 | at i64 |
/// lsn u64 | content type str16.
fn entry_head(at: Millis, lsn: Option<u64>, v: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        32 + v.content_type.len() + v.data.len() + crate::record_check::CHECK_LEN,
    );
    out.push(if lsn.is_some() {
        ENTRY_WITH_LSN
    } else {
        RECORD_VERSION
    });
    out.extend_from_slice(&at.to_le_bytes());
    if let Some(l) = lsn {
        out.extend_from_slice(&l.to_le_bytes());
    }
    put_str16(&mut out, v.content_type.as_bytes());
    out
}

/// Decode a stream entry with sequence `seq` whose value is in a plain envelope; `Corrupt`
/// otherwise.
pub fn decode_entry(seq: u64, b: &[u8]) -> Result<StreamEntry> {
    let (at, _, content_type, sealed) = entry_header(b)?;
    let data = envelope::open_plain(sealed)?.to_vec();
    Ok(StreamEntry {
        seq,
        at,
        value: Value { content_type, data },
    })
}

fn entry_header(b: &[u8]) -> Result<(Millis, Option<u64>, String, &[u8])> {
    let mut r = Reader::new(b, "stream entry");
    let ver = r.u8()?;
    if ver != RECORD_VERSION && ver != ENTRY_WITH_LSN {
        return Err(Error::Corrupt(format!(
            "stream entry: unknown record format {ver}"
        )));
    }
    let at = r.i64()?;
    let lsn = if ver == ENTRY_WITH_LSN {
        Some(r.u64()?)
    } else {
        None
    };
    let content_type = r.str16()?;
    Ok((at, lsn, content_type, r.rest()))
}

/// The LSN of the append that wrote an entry record (`None` in records from before entries
/// carried it, and in the copies change records hold).
pub fn entry_lsn(b: &[u8]) -> Result<Option<u64>> {
    entry_header(b).map(|(_, lsn, _, _)| lsn)
}

/// The context a stream entry's value is sealed in, at `key` ([`entry_key`]).
pub fn entry_ctx(key: &[u8], change_copy: bool) -> ValueContext<'_> {
    ValueContext {
        table: Table::Entries,
        key,
        version: None,
        subject: None,
        change_copy,
    }
}

/// The sealed value (envelope) of a stream entry record, without opening it.
pub fn entry_sealed_value(b: &[u8]) -> Result<&[u8]> {
    entry_header(b).map(|(_, _, _, sealed)| sealed)
}

/// [`encode_entry`] with the value sealed by `codecs`, bound to the entry's `key`
/// ([`entry_key`]), and the LSN of the append that writes it, if given.
pub fn encode_entry_with(
    codecs: &CodecStack,
    key: &[u8],
    at: Millis,
    lsn: Option<u64>,
    v: &Value,
) -> Result<Vec<u8>> {
    encode_entry_in(codecs, key, at, lsn, v, false)
}

fn encode_entry_in(
    codecs: &CodecStack,
    key: &[u8],
    at: Millis,
    lsn: Option<u64>,
    v: &Value,
    change_copy: bool,
) -> Result<Vec<u8>> {
    let mut out = entry_head(at, lsn, v);
    if codecs.is_plain() {
        envelope::seal_plain(&v.data, &mut out);
    } else {
        codecs.seal(&entry_ctx(key, change_copy), &v.data, &mut out)?;
    }
    Ok(out)
}

/// [`decode_entry`] of an entry whose value `codecs` sealed at `key`.
pub fn decode_entry_with(
    codecs: &CodecStack,
    key: &[u8],
    seq: u64,
    b: &[u8],
) -> Result<StreamEntry> {
    decode_entry_in(codecs, key, seq, b, false)
}

fn decode_entry_in(
    codecs: &CodecStack,
    key: &[u8],
    seq: u64,
    b: &[u8],
    change_copy: bool,
) -> Result<StreamEntry> {
    let (at, _, content_type, sealed) = entry_header(b)?;
    let data = codecs
        .open(&entry_ctx(key, change_copy), sealed)?
        .into_owned();
    Ok(StreamEntry {
        seq,
        at,
        value: Value { content_type, data },
    })
}

/// A record's key as a person reads it, for errors: `ns/key`, `ns/stream#seq`, or hex.
pub fn describe_key(table: Table, key: &[u8]) -> String {
    match table {
        Table::Items | Table::Streams | Table::Leases => match split_named_key(key) {
            Ok((ns, name)) => format!("{ns}/{name}"),
            Err(_) => hex(key),
        },
        Table::Entries if key.len() > 9 => {
            let (stream, seq) = key.split_at(key.len() - 8);
            match (split_named_key(&stream[..stream.len() - 1]), be64(seq)) {
                (Ok((ns, name)), Ok(seq)) => format!("{ns}/{name}#{seq}"),
                _ => hex(key),
            }
        }
        Table::Changes => match be64(key) {
            Ok(lsn) => format!("lsn {lsn}"),
            Err(_) => hex(key),
        },
        Table::History if key.len() == 16 => match (be64(&key[..8]), be64(&key[8..])) {
            (Ok(lsn), Ok(seq)) => format!("entry {seq} of the append at lsn {lsn}"),
            _ => hex(key),
        },
        Table::History => match be64(key) {
            Ok(v) => format!("version {v}"),
            Err(_) => hex(key),
        },
        _ => hex(key),
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// [`encode_stream_record`] of a stream whose entries are all in plain envelopes.
pub fn encode_stream_info(s: &StreamInfo) -> Vec<u8> {
    encode_stream_record(s, s.bytes.saturating_add(s.len.saturating_mul(4)))
}

/// Layout: ver u8 | first u64 | last u64 | len u64 | bytes u64 | stored bytes u64 (the
/// entries' sealed envelopes). Records from before stored bytes were counted end after
/// bytes ([`decode_stream_stored`] reads them as plain).
pub fn encode_stream_record(s: &StreamInfo, stored: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(41);
    out.push(RECORD_VERSION);
    for n in [s.first_seq, s.last_seq, s.len, s.bytes, stored] {
        out.extend_from_slice(&n.to_le_bytes());
    }
    out
}

/// The stored bytes of a stream's entries, from its record (see [`encode_stream_record`]).
pub fn decode_stream_stored(b: &[u8]) -> Result<u64> {
    let s = decode_stream_info(b)?;
    if b.len() == 33 {
        return Ok(s.bytes.saturating_add(s.len.saturating_mul(4)));
    }
    Reader::new(b.get(33..).unwrap_or_default(), "stream").u64()
}

/// Decode what [`encode_stream_info`] wrote.
pub fn decode_stream_info(b: &[u8]) -> Result<StreamInfo> {
    let mut r = Reader::new(b, "stream");
    r.version()?;
    Ok(StreamInfo {
        first_seq: r.u64()?,
        last_seq: r.u64()?,
        len: r.u64()?,
        bytes: r.u64()?,
    })
}

/// A lease as stored. `released` leases keep their token so that fencing stays monotonic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseRecord {
    /// Who holds (or last held) the lease.
    pub holder: String,
    /// The fencing token: the LSN of the acquire that started the holding.
    pub token: u64,
    /// When the lease lapses unless renewed.
    pub expires_at: Millis,
    /// Whether the holder released it (the token stays, so later tokens are larger).
    pub released: bool,
}

impl LeaseRecord {
    /// Layout: ver u8 | token u64 | expires i64 | released u8 | holder str16.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![RECORD_VERSION];
        out.extend_from_slice(&self.token.to_le_bytes());
        out.extend_from_slice(&self.expires_at.to_le_bytes());
        out.push(self.released as u8);
        put_str16(&mut out, self.holder.as_bytes());
        out
    }
    /// Decode what [`LeaseRecord::encode`] wrote.
    pub fn decode(b: &[u8]) -> Result<Self> {
        let mut r = Reader::new(b, "lease");
        r.version()?;
        Ok(LeaseRecord {
            token: r.u64()?,
            expires_at: r.i64()?,
            released: r.u8()? != 0,
            holder: r.str16()?,
        })
    }
    /// Whether the lease is held at `now`: not released and not lapsed.
    pub fn is_live(&self, now: Millis) -> bool {
        !self.released && self.expires_at > now
    }
}

/// [`encode_ns_record`] of a namespace whose values are all in plain envelopes.
pub fn encode_ns_stats(s: &NamespaceStats) -> Vec<u8> {
    encode_ns_record(s, &StoredBytes::plain(s))
}

/// Layout: ver u8 | items u64 | item bytes u64 | streams u64 | entries u64 | entry bytes u64
/// | stored item bytes u64 | stored entry bytes u64. Records written before stored bytes were
/// counted end after entry bytes ([`decode_ns_stored`] reads them as plain).
pub fn encode_ns_record(s: &NamespaceStats, stored: &StoredBytes) -> Vec<u8> {
    let mut out = Vec::with_capacity(57);
    out.push(RECORD_VERSION);
    for n in [
        s.items,
        s.item_bytes,
        s.streams,
        s.stream_entries,
        s.stream_bytes,
        stored.items,
        stored.entries,
    ] {
        out.extend_from_slice(&n.to_le_bytes());
    }
    out
}

/// The stored bytes of a namespace counters record: its last two fields, or, in a
/// record from before they were counted (41 bytes), the plain envelopes' size.
pub fn decode_ns_stored(b: &[u8]) -> Result<StoredBytes> {
    let s = decode_ns_stats(b)?;
    if b.len() == 41 {
        return Ok(StoredBytes::plain(&s));
    }
    let mut r = Reader::new(b.get(41..).unwrap_or_default(), "namespace stats");
    Ok(StoredBytes {
        items: r.u64()?,
        entries: r.u64()?,
    })
}

/// Decode what [`encode_ns_stats`] wrote.
pub fn decode_ns_stats(b: &[u8]) -> Result<NamespaceStats> {
    let mut r = Reader::new(b, "namespace stats");
    r.version()?;
    Ok(NamespaceStats {
        items: r.u64()?,
        item_bytes: r.u64()?,
        streams: r.u64()?,
        stream_entries: r.u64()?,
        stream_bytes: r.u64()?,
    })
}

// ---------------------------------------------------------------- change records

const CH_PUT: u8 = 1;
const CH_DELETE: u8 = 2;
const CH_EXPIRE: u8 = 3;
const CH_APPEND: u8 = 4;
const CH_TRIM: u8 = 5;
const CH_LEASE: u8 = 6;
const CH_NS_TTL: u8 = 7;
const CH_PUT_REF: u8 = 8;
const CH_APPEND_REF: u8 = 9;

/// Layout: ver u8 | at i64 | kind u8 | kind-specific fields (docs/FORMAT.md).
/// The key a copied value is sealed at, built only when a codec will read it: with the plain
/// stack (the default) change records cost no key allocation per put or entry.
fn sealing_key(codecs: &CodecStack, key: impl FnOnce() -> Vec<u8>) -> Vec<u8> {
    if codecs.is_plain() {
        Vec::new()
    } else {
        key()
    }
}

/// A change record; the values it copies (a put's item, an append's entries) are sealed by
/// `codecs` at the address of the item or entry they copy.
pub fn encode_change(codecs: &CodecStack, at: Millis, kind: &ChangeKind) -> Result<Vec<u8>> {
    let mut out = vec![RECORD_VERSION];
    out.extend_from_slice(&at.to_le_bytes());
    let name = |out: &mut Vec<u8>, ns: &Namespace, n: &str| {
        put_str16(out, &ns_enc(ns));
        put_str16(out, n.as_bytes());
    };
    match kind {
        ChangeKind::Put(item) => {
            out.push(CH_PUT);
            name(&mut out, &item.ns, &item.key);
            let rec = ItemRecord {
                version: item.version,
                created_at: item.created_at,
                updated_at: item.updated_at,
                expires_at: item.expires_at,
                subject: item.subject.clone(),
                value: item.value.clone(),
            };
            let k = sealing_key(codecs, || named_key(&item.ns, &item.key));
            out.extend_from_slice(&rec.encode_in(codecs, &k, true)?);
        }
        ChangeKind::Delete { ns, key } => {
            out.push(CH_DELETE);
            name(&mut out, ns, key);
        }
        ChangeKind::Expire { ns, key } => {
            out.push(CH_EXPIRE);
            name(&mut out, ns, key);
        }
        ChangeKind::Append {
            ns,
            stream,
            entries,
        } => {
            out.push(CH_APPEND);
            name(&mut out, ns, stream);
            out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
            let sk = sealing_key(codecs, || named_key(ns, stream));
            for e in entries {
                out.extend_from_slice(&e.seq.to_le_bytes());
                let ek = sealing_key(codecs, || entry_key(&sk, e.seq));
                let rec = encode_entry_in(codecs, &ek, e.at, None, &e.value, true)?;
                out.extend_from_slice(&(rec.len() as u32).to_le_bytes());
                out.extend_from_slice(&rec);
            }
        }
        ChangeKind::Trim {
            ns,
            stream,
            first_kept,
            deleted_stream,
        } => {
            out.push(CH_TRIM);
            name(&mut out, ns, stream);
            out.extend_from_slice(&first_kept.to_le_bytes());
            out.push(*deleted_stream as u8);
        }
        ChangeKind::Lease {
            ns,
            name: n,
            released,
        } => {
            out.push(CH_LEASE);
            name(&mut out, ns, n);
            out.push(*released as u8);
        }
        ChangeKind::NamespaceTtl { prefix, ttl_ms } => {
            out.push(CH_NS_TTL);
            put_str16(&mut out, &ns_enc(prefix));
            out.push(ttl_ms.is_some() as u8);
            out.extend_from_slice(&ttl_ms.unwrap_or(0).to_le_bytes());
        }
    }
    Ok(out)
}

/// The change record of a put whose item record is written at the change's own LSN: the
/// item's metadata, and no copy of its value, which the feed reads from the item (or from
/// [`Table::History`] once the item was overwritten or removed; `crate::feed`).
pub fn encode_put_ref(at: Millis, ns: &Namespace, key: &str, rec: &ItemRecord) -> Vec<u8> {
    let mut out = vec![RECORD_VERSION];
    out.extend_from_slice(&at.to_le_bytes());
    out.push(CH_PUT_REF);
    put_str16(&mut out, &ns_enc(ns));
    put_str16(&mut out, key.as_bytes());
    rec.write_header(&mut out);
    out
}

/// The change record of an append whose entries (`first_seq`, the `count` after it) are
/// written with the change's LSN in them ([`encode_entry_with`]): no copies of their
/// values, which the feed reads from the entries (or from [`Table::History`] once they
/// were trimmed or their stream deleted; `crate::feed`).
pub fn encode_append_ref(
    at: Millis,
    ns: &Namespace,
    stream: &str,
    first_seq: u64,
    count: u32,
) -> Vec<u8> {
    let mut out = vec![RECORD_VERSION];
    out.extend_from_slice(&at.to_le_bytes());
    out.push(CH_APPEND_REF);
    put_str16(&mut out, &ns_enc(ns));
    put_str16(&mut out, stream.as_bytes());
    out.extend_from_slice(&first_seq.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    out
}

/// The [`Table::History`] key of an entry the feed still refers to: the LSN of its append
/// and its sequence (an item version's key is the version alone).
pub fn entry_history_key(lsn: u64, seq: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(16);
    k.extend_from_slice(&lsn.to_be_bytes());
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// A change record as stored: whole, or a put or append that refers to what it wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChangeRecord {
    /// A record that holds everything the change carries.
    Whole(Change),
    /// A put whose value is the item's at version `lsn` ([`encode_put_ref`]).
    PutRef {
        /// The change's LSN, which is the version it wrote.
        lsn: u64,
        /// When it was committed.
        at: Millis,
        /// The item's namespace.
        ns: Namespace,
        /// The item's key.
        key: String,
        /// The item as written, but for its value's bytes (empty here).
        meta: ItemRecord,
    },
    /// An append whose entries carry the change's LSN ([`encode_append_ref`]).
    AppendRef {
        /// The change's LSN, which its entries carry.
        lsn: u64,
        /// When it was committed (and the entries' time).
        at: Millis,
        /// The stream's namespace.
        ns: Namespace,
        /// The stream's name.
        stream: String,
        /// The first entry's sequence.
        first_seq: u64,
        /// How many entries it appended.
        count: u32,
    },
}

/// Read a change record's header: its version and the time it was committed.
fn change_header<'a>(b: &'a [u8]) -> Result<(Reader<'a>, Millis)> {
    let mut r = Reader::new(b, "change");
    r.version()?;
    let at = r.i64()?;
    Ok((r, at))
}

/// When a change was committed, without decoding the rest (retention scans use this).
pub fn change_time(b: &[u8]) -> Result<Millis> {
    change_header(b).map(|(_, at)| at)
}

/// Decode a change record written by [`encode_change`] with `codecs`. A reference record
/// ([`encode_put_ref`]) is `Corrupt` here: only a read of the store that holds the item it
/// refers to can decode it (`crate::feed::read_change`).
pub fn decode_change(codecs: &CodecStack, lsn: u64, b: &[u8]) -> Result<Change> {
    match decode_change_record(codecs, lsn, b)? {
        ChangeRecord::Whole(c) => Ok(c),
        ChangeRecord::PutRef { ns, key, .. } => Err(Error::Corrupt(format!(
            "change lsn {lsn} refers to version {lsn} of {ns}/{key} in the store that wrote it; \
             it cannot be read on its own"
        ))),
        ChangeRecord::AppendRef { ns, stream, .. } => Err(Error::Corrupt(format!(
            "change lsn {lsn} refers to entries of {ns}/{stream} in the store that wrote it; \
             it cannot be read on its own"
        ))),
    }
}

/// Decode a change record written by [`encode_change`] or [`encode_put_ref`].
pub fn decode_change_record(codecs: &CodecStack, lsn: u64, b: &[u8]) -> Result<ChangeRecord> {
    let (mut r, at) = change_header(b)?;
    let kind = r.u8()?;
    let named = |r: &mut Reader| -> Result<(Namespace, String)> {
        let ns = ns_dec(r.bytes16()?)?;
        Ok((ns, r.str16()?))
    };
    let kind = match kind {
        CH_PUT => {
            let (ns, key) = named(&mut r)?;
            let k = sealing_key(codecs, || named_key(&ns, &key));
            ChangeKind::Put(ItemRecord::decode_in(r.rest(), codecs, &k, true)?.into_item(ns, key))
        }
        CH_PUT_REF => {
            let (ns, key) = named(&mut r)?;
            let (meta, rest) = ItemRecord::decode_header(r.rest())?;
            if !rest.is_empty() || meta.version.0 != lsn {
                return Err(Error::Corrupt(format!(
                    "change lsn {lsn}: a reference to version {} of {ns}/{key}{}",
                    meta.version.0,
                    if rest.is_empty() {
                        ""
                    } else {
                        " with bytes after it"
                    }
                )));
            }
            return Ok(ChangeRecord::PutRef {
                lsn,
                at,
                ns,
                key,
                meta,
            });
        }
        CH_APPEND_REF => {
            let (ns, stream) = named(&mut r)?;
            let first_seq = r.u64()?;
            let count = r.u32()?;
            if !r.rest().is_empty() {
                return Err(Error::Corrupt(format!(
                    "change lsn {lsn}: bytes after an append reference"
                )));
            }
            return Ok(ChangeRecord::AppendRef {
                lsn,
                at,
                ns,
                stream,
                first_seq,
                count,
            });
        }
        CH_DELETE => {
            let (ns, key) = named(&mut r)?;
            ChangeKind::Delete { ns, key }
        }
        CH_EXPIRE => {
            let (ns, key) = named(&mut r)?;
            ChangeKind::Expire { ns, key }
        }
        CH_APPEND => {
            let (ns, stream) = named(&mut r)?;
            let n = r.u32()?;
            let mut entries = Vec::with_capacity(n.min(1024) as usize);
            let sk = sealing_key(codecs, || named_key(&ns, &stream));
            for _ in 0..n {
                let seq = r.u64()?;
                entries.push(decode_entry_in(
                    codecs,
                    &sealing_key(codecs, || entry_key(&sk, seq)),
                    seq,
                    r.bytes32()?,
                    true,
                )?);
            }
            ChangeKind::Append {
                ns,
                stream,
                entries,
            }
        }
        CH_TRIM => {
            let (ns, stream) = named(&mut r)?;
            ChangeKind::Trim {
                ns,
                stream,
                first_kept: r.u64()?,
                deleted_stream: r.u8()? != 0,
            }
        }
        CH_LEASE => {
            let (ns, name) = named(&mut r)?;
            ChangeKind::Lease {
                ns,
                name,
                released: r.u8()? != 0,
            }
        }
        CH_NS_TTL => {
            let prefix = ns_dec(r.bytes16()?)?;
            let has = r.u8()? != 0;
            let ms = r.u64()?;
            ChangeKind::NamespaceTtl {
                prefix,
                ttl_ms: has.then_some(ms),
            }
        }
        k => return Err(Error::Corrupt(format!("unknown change kind {k}"))),
    };
    Ok(ChangeRecord::Whole(Change { lsn, at, kind }))
}

// ---------------------------------------------------------------- history

/// A [`Table::History`] value: the item's (or entry's) key and its record as the items (or
/// entries) table held it, the value sealed at that key. Layout: ver u8 | key str16 |
/// record.
pub fn encode_history(key: &[u8], record: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(3 + key.len() + record.len());
    out.push(RECORD_VERSION);
    put_str16(&mut out, key);
    out.extend_from_slice(record);
    out
}

/// The key and record of a [`Table::History`] value.
pub fn decode_history(b: &[u8]) -> Result<(&[u8], &[u8])> {
    let mut r = Reader::new(b, "history");
    r.version()?;
    let key = r.bytes16()?;
    Ok((key, r.rest()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_keys_round_trip_and_sort_by_namespace() {
        let a = named_key(&Namespace::new(["a", "b"]), "k");
        assert_eq!(a, b"a\0b\0\x01k");
        assert_eq!(
            split_named_key(&a).unwrap(),
            (Namespace::new(["a", "b"]), "k".into())
        );
        // ns ["a"] key "zz" sorts before ns ["a","b"] items? No: 0x01 < 'b', so items of a
        // namespace come before its children's.
        let parent = named_key(&Namespace::new(["a"]), "zz");
        assert!(parent < a);
        assert!(a.starts_with(&ns_enc(&Namespace::new(["a"]))));
        assert!(
            !named_key(&Namespace::new(["ab"]), "k").starts_with(&ns_enc(&Namespace::new(["a"])))
        );
    }

    /// Pins the item record layout documented in docs/FORMAT.md.
    #[test]
    fn item_record_layout_is_pinned() {
        let rec = ItemRecord {
            version: Version(5),
            created_at: 1,
            updated_at: 2,
            expires_at: Some(3),
            subject: Some("u".into()),
            value: Value::json_text("{}"),
        };
        let b = rec.encode();
        let mut want = vec![1u8];
        want.extend_from_slice(&5u64.to_le_bytes());
        want.extend_from_slice(&1i64.to_le_bytes());
        want.extend_from_slice(&2i64.to_le_bytes());
        want.push(3);
        want.extend_from_slice(&3i64.to_le_bytes());
        want.extend_from_slice(&[1, 0, b'u']);
        want.extend_from_slice(&[16, 0]);
        want.extend_from_slice(b"application/json");
        want.extend_from_slice(&[1, 0, 4, 0, b'{', b'}']);
        assert_eq!(b, want);
        assert_eq!(ItemRecord::decode(&b).unwrap(), rec);
        for cut in 0..b.len() - 6 {
            assert!(ItemRecord::decode(&b[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn change_records_round_trip() {
        let ns = Namespace::new(["t", "c"]);
        let kinds = vec![
            ChangeKind::Delete {
                ns: ns.clone(),
                key: "k".into(),
            },
            ChangeKind::Append {
                ns: ns.clone(),
                stream: "s".into(),
                entries: vec![StreamEntry {
                    seq: 1,
                    at: 9,
                    value: Value::bytes("text/plain", "hi"),
                }],
            },
            ChangeKind::Trim {
                ns: ns.clone(),
                stream: "s".into(),
                first_kept: 4,
                deleted_stream: false,
            },
            ChangeKind::NamespaceTtl {
                prefix: ns.clone(),
                ttl_ms: Some(1000),
            },
        ];
        for k in kinds {
            let p = CodecStack::plain();
            let c = decode_change(&p, 7, &encode_change(&p, 3, &k).unwrap()).unwrap();
            assert_eq!(
                c,
                Change {
                    lsn: 7,
                    at: 3,
                    kind: k
                }
            );
        }
    }

    #[test]
    fn prefix_end_bounds_every_extension() {
        assert_eq!(prefix_end(b"a\x00"), Some(b"a\x01".to_vec()));
        assert_eq!(prefix_end(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_end(b"\xff"), None);
    }
}
