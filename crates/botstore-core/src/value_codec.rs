//! The value codec stack: what happens to a value's bytes between the semantics and the
//! backend. Every stored value (items, stream entries, and the copies of both in change
//! records) is sealed into an envelope ([`crate::envelope`]) by [`CodecStack::seal`] and
//! opened by [`CodecStack::open`]; each codec of the stack transforms the payload in turn
//! (compression, then encryption) and records what it did in the envelope's flags and
//! header fields, so that a store can be read back whatever codecs wrote it.
//!
//! A codec gets the record's context ([`ValueContext`]: table, the record's key — which
//! encodes namespace and key, or stream and sequence — version and subject), so it can bind
//! its output to the record's address (authenticated encryption with the key as associated
//! data), pick a dictionary per namespace, or a key per person. Dictionaries and keys come
//! from providers the codec holds; the stack only orders the codecs.
//!
//! The empty stack writes the plain envelope (`docs/FORMAT.md`) at no cost.

use crate::envelope::{self, Header};
use crate::error::{Error, Result};
use crate::kv::Table;
use crate::model::Version;
use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

/// Where a value lives: what a codec may bind its output to.
#[derive(Clone, Copy, Debug)]
pub struct ValueContext<'a> {
    /// The table of the record that holds the value ([`Table::Items`] or
    /// [`Table::Entries`]; a change record's copy of an item has the item's context).
    pub table: Table,
    /// The record's key in that table (`crate::codec::named_key` for items,
    /// `crate::codec::entry_key` for stream entries).
    pub key: &'a [u8],
    /// The item's version (`None` for stream entries).
    pub version: Option<Version>,
    /// The person the value is about, when the writer named one.
    pub subject: Option<&'a str>,
    /// True for the change feed's copy of a value. Such a copy must open without the
    /// store's own state (a point-in-time restore replays it into another store), so a
    /// codec keeps it self-contained: compression uses no dictionary for it.
    pub change_copy: bool,
}

/// One stage of the stack.
pub trait ValueCodec: Send + Sync + fmt::Debug {
    /// A short name for errors and logs (`zstd`, `aead`, ...).
    fn name(&self) -> &'static str;

    /// The envelope flag bits this codec owns ([`envelope::flags`]); no two codecs of a
    /// stack may share one. A sealed value whose flags intersect these is handed to
    /// [`ValueCodec::decode`].
    fn flags(&self) -> u8;

    /// Transform `payload`, setting the flags and header fields it needs in `header`
    /// (return it unchanged, flags untouched, to pass a value through).
    fn encode(
        &self,
        ctx: &ValueContext<'_>,
        header: &mut Header,
        payload: Vec<u8>,
    ) -> Result<Vec<u8>>;

    /// Undo [`ValueCodec::encode`]. Damage or a wrong context is [`Error::Corrupt`], never
    /// other bytes.
    fn decode(&self, ctx: &ValueContext<'_>, header: &Header, payload: Vec<u8>) -> Result<Vec<u8>>;

    /// Records the codec needs stored before a value may reference them (a compression
    /// dictionary): the commit thread adds them to the next group's writes and reports
    /// with [`ValueCodec::records_written`] whether that group is on disk. None by default.
    fn records_to_write(&self) -> Vec<(Table, Vec<u8>, Vec<u8>)> {
        Vec::new()
    }

    /// Whether the records last returned by [`ValueCodec::records_to_write`] were written
    /// (`false`: the group failed; the codec offers them again).
    fn records_written(&self, _ok: bool) {}

    /// Whether a value sealed with `header` would be sealed differently now (an older
    /// dictionary, or none where one exists): `compact` rewrites such values.
    fn wants_reseal(&self, _ctx: &ValueContext<'_>, _header: &Header, _len: usize) -> bool {
        false
    }
}

/// The ordered codecs of a store: sealing runs them first to last, opening last to first.
#[derive(Clone, Debug, Default)]
pub struct CodecStack {
    codecs: Vec<Arc<dyn ValueCodec>>,
    owned: u8,
}

impl CodecStack {
    /// No codecs: plain envelopes.
    pub fn plain() -> Self {
        Self::default()
    }

    /// A stack of `codecs`, sealing in this order. Fails when two claim the same flag.
    pub fn new(codecs: Vec<Arc<dyn ValueCodec>>) -> Result<Self> {
        let mut owned = 0u8;
        for c in &codecs {
            if c.flags() == 0 || owned & c.flags() != 0 {
                return Err(Error::InvalidInput {
                    rule: crate::Rule::Range,
                    detail: format!(
                        "codec {} claims envelope flags {:#04x}, none or already taken",
                        c.name(),
                        c.flags()
                    ),
                });
            }
            owned |= c.flags();
        }
        Ok(CodecStack { codecs, owned })
    }

    /// True when the stack has no codecs.
    pub fn is_plain(&self) -> bool {
        self.codecs.is_empty()
    }

    /// This stack with `first` put in front of its codecs (it seals first, opens last).
    pub fn with_first(&self, first: Arc<dyn ValueCodec>) -> Result<Self> {
        let mut codecs = Vec::with_capacity(self.codecs.len() + 1);
        codecs.push(first);
        codecs.extend(self.codecs.iter().cloned());
        Self::new(codecs)
    }

    /// Every codec's [`ValueCodec::records_to_write`].
    pub fn records_to_write(&self) -> Vec<(Table, Vec<u8>, Vec<u8>)> {
        self.codecs
            .iter()
            .flat_map(|c| c.records_to_write())
            .collect()
    }

    /// Tell every codec whether its records were written ([`ValueCodec::records_written`]).
    pub fn records_written(&self, ok: bool) {
        for c in &self.codecs {
            c.records_written(ok);
        }
    }

    /// Whether the envelope `sealed` would be sealed differently now
    /// ([`ValueCodec::wants_reseal`]); `false` for bytes that are no envelope.
    pub fn wants_reseal(&self, ctx: &ValueContext<'_>, sealed: &[u8]) -> bool {
        let Ok((header, payload)) = envelope::open(sealed) else {
            return false;
        };
        self.codecs
            .iter()
            .any(|c| c.wants_reseal(ctx, &header, payload.len()))
    }

    /// Seal `plain` into an envelope appended to `out`.
    pub fn seal(&self, ctx: &ValueContext<'_>, plain: &[u8], out: &mut Vec<u8>) -> Result<()> {
        if self.codecs.is_empty() {
            envelope::seal_plain(plain, out);
            return Ok(());
        }
        let mut header = Header::default();
        let mut payload = plain.to_vec();
        for c in &self.codecs {
            payload = c.encode(ctx, &mut header, payload)?;
        }
        envelope::seal(&header, &payload, out)
    }

    /// Open an envelope sealed by [`CodecStack::seal`] (by this stack or by any stack whose
    /// codecs this one has).
    pub fn open<'b>(&self, ctx: &ValueContext<'_>, bytes: &'b [u8]) -> Result<Cow<'b, [u8]>> {
        let (header, payload) = envelope::open(bytes)?;
        if header.flags == 0 {
            return Ok(Cow::Borrowed(payload));
        }
        let missing = header.flags & !self.owned & !envelope::flags::DICT;
        if missing != 0 {
            return Err(Error::Corrupt(format!(
                "{} record {}: its value was sealed with envelope flags {:#04x}, which need a \
                 codec this store was not opened with",
                ctx.table.name(),
                crate::codec::describe_key(ctx.table, ctx.key),
                header.flags
            )));
        }
        let mut out = payload.to_vec();
        for c in self.codecs.iter().rev() {
            if header.flags & c.flags() != 0 {
                out = c.decode(ctx, &header, out)?;
            }
        }
        Ok(Cow::Owned(out))
    }
}

/// A codec for tests of the stack itself (feature `conformance`): it XORs the payload with
/// a byte stream derived from the context and appends a check of the context, so a value
/// opened under another address, or damaged, fails as [`Error::Corrupt`]. No protection.
#[cfg(any(test, feature = "conformance"))]
#[derive(Debug, Default)]
pub struct ScrambleTestCodec;

#[cfg(any(test, feature = "conformance"))]
impl ScrambleTestCodec {
    /// The flag it claims: the top bit, which no real codec uses.
    pub const FLAG: u8 = 0b1000_0000;

    fn seed(ctx: &ValueContext<'_>) -> u64 {
        // FNV-1a over the address: enough to make misplaced bytes visible.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |b: u8| {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        };
        eat(ctx.table as u8);
        ctx.key.iter().for_each(|b| eat(*b));
        ctx.version
            .map_or(0, |v| v.0)
            .to_le_bytes()
            .iter()
            .for_each(|b| eat(*b));
        h
    }

    fn xor(seed: u64, data: &mut [u8]) {
        let mut s = seed | 1;
        for b in data {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            *b ^= s as u8;
        }
    }
}

#[cfg(any(test, feature = "conformance"))]
impl ValueCodec for ScrambleTestCodec {
    fn name(&self) -> &'static str {
        "scramble-test"
    }
    fn flags(&self) -> u8 {
        Self::FLAG
    }
    fn encode(
        &self,
        ctx: &ValueContext<'_>,
        header: &mut Header,
        mut payload: Vec<u8>,
    ) -> Result<Vec<u8>> {
        let seed = Self::seed(ctx);
        Self::xor(seed, &mut payload);
        payload.extend_from_slice(&seed.to_le_bytes());
        header.flags |= Self::FLAG;
        Ok(payload)
    }
    fn decode(&self, ctx: &ValueContext<'_>, _: &Header, mut payload: Vec<u8>) -> Result<Vec<u8>> {
        let seed = Self::seed(ctx);
        let n = payload
            .len()
            .checked_sub(8)
            .ok_or_else(|| Error::Corrupt("scrambled value shorter than its check".into()))?;
        if payload[n..] != seed.to_le_bytes() {
            return Err(Error::Corrupt(format!(
                "scrambled value does not belong at {} {}",
                ctx.table.name(),
                crate::codec::describe_key(ctx.table, ctx.key)
            )));
        }
        payload.truncate(n);
        Self::xor(seed, &mut payload);
        Ok(payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(key: &[u8]) -> ValueContext<'_> {
        ValueContext {
            table: Table::Items,
            key,
            version: Some(Version(7)),
            subject: None,
            change_copy: false,
        }
    }

    #[test]
    fn plain_stack_writes_the_plain_envelope() {
        let mut out = Vec::new();
        CodecStack::plain()
            .seal(&ctx(b"k"), b"{}", &mut out)
            .unwrap();
        assert_eq!(out, vec![0x01, 0x00, 0x04, 0x00, b'{', b'}']);
        let opened = CodecStack::plain().open(&ctx(b"k"), &out).unwrap();
        assert_eq!(&*opened, b"{}");
    }

    #[test]
    fn codecs_round_trip_and_bind_to_the_address() {
        let s = CodecStack::new(vec![Arc::new(ScrambleTestCodec)]).unwrap();
        let mut out = Vec::new();
        s.seal(&ctx(b"k1"), b"hello world", &mut out).unwrap();
        assert!(!out.windows(5).any(|w| w == b"hello"));
        assert_eq!(&*s.open(&ctx(b"k1"), &out).unwrap(), b"hello world");
        assert!(matches!(s.open(&ctx(b"k2"), &out), Err(Error::Corrupt(_))));
        // A store without the codec refuses instead of returning the scrambled bytes.
        assert!(matches!(
            CodecStack::plain().open(&ctx(b"k1"), &out),
            Err(Error::Corrupt(_))
        ));
    }

    #[test]
    fn two_codecs_cannot_share_a_flag() {
        let c: Arc<dyn ValueCodec> = Arc::new(ScrambleTestCodec);
        assert!(CodecStack::new(vec![Arc::clone(&c), c]).is_err());
    }
}
