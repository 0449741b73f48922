//! Value compression: a zstd [`ValueCodec`] at the front of every store's codec stack,
//! with dictionaries trained per namespace prefix. Backend-neutral: it sees values, and
//! stores its dictionaries as records of the `meta` table like any other record (record
//! check, journal, backups), so it works on every engine.
//!
//! * A value below [`CompressionOptions::min_size`], or one that does not shrink, stays raw
//!   (a plain envelope). Otherwise its payload is one zstd frame, flag `ZSTD`; compressed
//!   with a dictionary, also flag `DICT` and the dictionary's id in the envelope header.
//! * The prefix is the value's first namespace segment (`tenant-a` of
//!   `tenant-a/users/u42`): bot data is laid out per tenant or per application first,
//!   and the values under one first segment share their shape (JSON field names, the
//!   bot's phrases), which is what a dictionary captures. Deeper prefixes would split the
//!   samples of one tenant over many dictionaries; the root alone would mix tenants.
//! * Until a prefix has a dictionary, its values are compressed without one and a sample
//!   of them is kept in memory; once the prefix has seen enough values
//!   ([`CompressionOptions::train_after_values`] or `train_after_bytes`), a dictionary is
//!   trained from the sample, off the commit thread ([`dicts`]). The trained dictionary is
//!   handed to the commit thread, which writes it into the next group
//!   ([`ValueCodec::records_to_write`]); only once that group is on disk does the codec
//!   seal values with it, so no value ever references a dictionary that is not stored.
//!   Dictionaries are never deleted.
//! * The change feed's copies are compressed without a dictionary
//!   ([`ValueContext::change_copy`]): a point-in-time restore replays them into another
//!   store, which does not hold this store's dictionaries.
//! * Opening: a damaged frame, a missing dictionary or a flag this build does not know is
//!   [`Error::Corrupt`] naming the record, never other bytes.

pub mod dicts;

use crate::envelope::{flags, Header};
use crate::error::{Error, Result};
use crate::kv::KvRead;
use crate::value_codec::{ValueCodec, ValueContext};
use dicts::{Dict, Dictionaries};
use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;
use zstd::zstd_safe::{self, CCtx, DCtx};

/// How a store compresses values (`StoreOptions::compression`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompressionOptions {
    /// Compress new values (default: on). Off, values are written raw; values already
    /// compressed still read.
    pub enabled: bool,
    /// The zstd level (default 3; 1 to 19, negative levels are faster still).
    pub level: i32,
    /// Values shorter than this stay raw (default 128 bytes).
    pub min_size: usize,
    /// Train and use dictionaries per prefix (default: on).
    pub dictionaries: bool,
    /// First namespace segments whose values are never compressed.
    pub off_prefixes: Vec<String>,
    /// A prefix's dictionary is trained once it has seen this many values (default 1,000)
    /// ...
    pub train_after_values: usize,
    /// ... or this many value bytes (default 1 MiB), and at least `min_samples` values.
    pub train_after_bytes: usize,
    /// The fewest sampled values a dictionary is trained from (default 32).
    pub min_samples: usize,
    /// The largest dictionary trained (default 32 KiB).
    pub dict_size: usize,
    /// Train on a thread of its own (default); `false` trains on the commit thread, in the
    /// write that reached the threshold (tests that want the moment known).
    pub background_training: bool,
}

impl Default for CompressionOptions {
    fn default() -> Self {
        CompressionOptions {
            enabled: true,
            level: 3,
            min_size: 128,
            dictionaries: true,
            off_prefixes: Vec::new(),
            train_after_values: 1000,
            train_after_bytes: 1 << 20,
            min_samples: 32,
            dict_size: 32 << 10,
            background_training: true,
        }
    }
}

impl CompressionOptions {
    /// Compression off: values are written raw (and compressed ones still read).
    pub fn off() -> Self {
        CompressionOptions {
            enabled: false,
            ..Self::default()
        }
    }

    /// Refuse settings zstd or the trainer cannot use.
    pub fn check(&self) -> Result<()> {
        let bad = |detail: String| Error::InvalidInput {
            rule: crate::Rule::Range,
            detail,
        };
        let (lo, hi) = (zstd_safe::min_c_level(), zstd_safe::max_c_level());
        if self.level < lo || self.level > hi || self.level == 0 {
            return Err(bad(format!(
                "compression level {}: expected {lo} to {hi}, not 0",
                self.level
            )));
        }
        if !(1024..=(1 << 20)).contains(&self.dict_size) {
            return Err(bad(format!(
                "dictionary size {}: expected 1 KiB to 1 MiB",
                self.dict_size
            )));
        }
        Ok(())
    }
}

/// Compression settings as a person gives them: each one optional, laid over the
/// defaults ([`CompressionSpec::apply`]). The text form (`--compression`) is a
/// comma-separated list of `on`, `off`, `level=N`, `min-size=BYTES`,
/// `dictionaries=on|off` and `off-prefix=NAME` (repeatable: a first namespace segment
/// whose values stay raw), e.g. `level=6,off-prefix=blobs`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CompressionSpec {
    /// [`CompressionOptions::enabled`].
    pub enabled: Option<bool>,
    /// [`CompressionOptions::level`].
    pub level: Option<i32>,
    /// [`CompressionOptions::min_size`].
    pub min_size: Option<usize>,
    /// [`CompressionOptions::dictionaries`].
    pub dictionaries: Option<bool>,
    /// [`CompressionOptions::off_prefixes`].
    pub off_prefixes: Option<Vec<String>>,
}

impl CompressionSpec {
    /// Parse the text form.
    pub fn parse(s: &str) -> Result<Self> {
        let bad = |detail: String| Error::InvalidInput {
            rule: crate::Rule::Range,
            detail,
        };
        let on_off = |k: &str, v: &str| match v {
            "on" | "true" => Ok(true),
            "off" | "false" => Ok(false),
            _ => Err(bad(format!("compression {k}={v:?}: expected on or off"))),
        };
        let mut spec = CompressionSpec::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part.split_once('=') {
                None if part == "on" => spec.enabled = Some(true),
                None if part == "off" => spec.enabled = Some(false),
                Some(("level", v)) => {
                    spec.level =
                        Some(v.parse().map_err(|_| {
                            bad(format!("compression level {v:?}: expected a number"))
                        })?)
                }
                Some(("min-size", v)) => {
                    spec.min_size =
                        Some(v.parse().map_err(|_| {
                            bad(format!("compression min-size {v:?}: expected bytes"))
                        })?)
                }
                Some(("dictionaries", v)) => spec.dictionaries = Some(on_off("dictionaries", v)?),
                Some(("off-prefix", v)) if !v.is_empty() && !v.contains('/') => spec
                    .off_prefixes
                    .get_or_insert_with(Vec::new)
                    .push(v.to_string()),
                _ => {
                    return Err(bad(format!(
                        "compression setting {part:?}: expected on, off, level=N, \
                         min-size=BYTES, dictionaries=on|off or off-prefix=NAME"
                    )))
                }
            }
        }
        let mut o = CompressionOptions::default();
        spec.apply(&mut o);
        o.check()?;
        Ok(spec)
    }

    /// Lay the settings given over `o`.
    pub fn apply(&self, o: &mut CompressionOptions) {
        if let Some(v) = self.enabled {
            o.enabled = v;
        }
        if let Some(v) = self.level {
            o.level = v;
        }
        if let Some(v) = self.min_size {
            o.min_size = v;
        }
        if let Some(v) = self.dictionaries {
            o.dictionaries = v;
        }
        if let Some(v) = &self.off_prefixes {
            o.off_prefixes = v.clone();
        }
    }

    /// The defaults with these settings laid over them.
    pub fn options(&self) -> CompressionOptions {
        let mut o = CompressionOptions::default();
        self.apply(&mut o);
        o
    }
}

/// The first namespace segment of an item, stream or entry key (`crate::codec::named_key`,
/// `entry_key`): the bytes before the first segment terminator, empty at the root.
pub fn prefix_of(key: &[u8]) -> &[u8] {
    if key.first() == Some(&crate::codec::KEY_SEP) {
        return &[];
    }
    let end = key
        .iter()
        .position(|&c| c == crate::codec::SEG_END)
        .unwrap_or(key.len());
    &key[..end]
}

/// The zstd codec of a store. Built by `Store::with_options` from the store's
/// [`CompressionOptions`] and the dictionaries stored in it; one per store, since its
/// dictionaries are the store's.
pub struct ZstdCodec {
    opts: CompressionOptions,
    /// The largest value a frame may claim to hold (the store's value size limit).
    max_len: usize,
    dicts: Arc<Dictionaries>,
}

impl fmt::Debug for ZstdCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZstdCodec")
            .field("opts", &self.opts)
            .field("dictionaries", &self.dicts.count())
            .finish()
    }
}

impl ZstdCodec {
    /// The codec for the store `view` reads, with the dictionaries stored in it. A
    /// dictionary record that cannot be read is logged and not loaded, and no dictionary
    /// is trained while this codec lives (a new one could take a damaged one's id); the
    /// values that use it read as [`Error::Corrupt`].
    pub fn open(opts: CompressionOptions, max_len: usize, view: &dyn KvRead) -> Self {
        ZstdCodec {
            dicts: Arc::new(Dictionaries::load(&opts, view)),
            opts,
            max_len,
        }
    }

    /// A codec that only opens values, and only those compressed without a dictionary
    /// (the change feed's copies in backup segments).
    pub fn reader(max_len: usize) -> Self {
        let opts = CompressionOptions::off();
        ZstdCodec {
            dicts: Arc::new(Dictionaries::empty(&opts)),
            opts,
            max_len,
        }
    }

    /// The options it was built with.
    pub fn options(&self) -> &CompressionOptions {
        &self.opts
    }

    /// The dictionaries: how many are in use, and waiting for training (tests, metrics).
    pub fn dictionaries(&self) -> &Arc<Dictionaries> {
        &self.dicts
    }

    fn is_off(&self, prefix: &[u8]) -> bool {
        self.opts
            .off_prefixes
            .iter()
            .any(|p| p.as_bytes() == prefix)
    }

    fn corrupt(ctx: &ValueContext<'_>, why: impl fmt::Display) -> Error {
        Error::Corrupt(format!(
            "{} record {}: compressed value: {why}",
            ctx.table.name(),
            crate::codec::describe_key(ctx.table, ctx.key)
        ))
    }
}

impl ValueCodec for ZstdCodec {
    fn name(&self) -> &'static str {
        "zstd"
    }

    fn flags(&self) -> u8 {
        flags::ZSTD | flags::DICT
    }

    fn encode(
        &self,
        ctx: &ValueContext<'_>,
        header: &mut Header,
        payload: Vec<u8>,
    ) -> Result<Vec<u8>> {
        if !self.opts.enabled || payload.len() < self.opts.min_size {
            return Ok(payload);
        }
        let prefix = prefix_of(ctx.key);
        if self.is_off(prefix) {
            return Ok(payload);
        }
        let dict = if ctx.change_copy || !self.opts.dictionaries {
            None
        } else {
            let d = self.dicts.newest(prefix);
            if d.is_none() {
                self.dicts.sample(prefix, &payload);
            }
            d
        };
        let Some(out) = compress(&payload, dict.as_deref(), self.opts.level) else {
            // zstd could not compress (no memory for a context): the value stays raw.
            return Ok(payload);
        };
        let overhead = if dict.is_some() { 4 } else { 0 };
        if out.len() + overhead >= payload.len() {
            return Ok(payload);
        }
        header.flags |= flags::ZSTD;
        if let Some(d) = dict {
            header.flags |= flags::DICT;
            header.dict_id = Some(d.id);
        }
        Ok(out)
    }

    fn decode(&self, ctx: &ValueContext<'_>, header: &Header, payload: Vec<u8>) -> Result<Vec<u8>> {
        if header.flags & flags::ZSTD == 0 {
            return Err(Self::corrupt(ctx, "a dictionary id without compression"));
        }
        let dict = match header.dict_id {
            None => None,
            Some(id) => Some(self.dicts.get(id).ok_or_else(|| {
                Self::corrupt(
                    ctx,
                    format_args!("needs dictionary {id}, which this store does not hold"),
                )
            })?),
        };
        decompress(&payload, dict.as_deref(), self.max_len).map_err(|why| Self::corrupt(ctx, why))
    }

    fn records_to_write(&self) -> Vec<(crate::kv::Table, Vec<u8>, Vec<u8>)> {
        self.dicts.records_to_write()
    }

    fn records_written(&self, ok: bool) {
        self.dicts.records_written(ok);
    }

    fn wants_reseal(&self, ctx: &ValueContext<'_>, header: &Header, len: usize) -> bool {
        if !self.opts.enabled || ctx.change_copy {
            return false;
        }
        let prefix = prefix_of(ctx.key);
        if self.is_off(prefix) {
            return false;
        }
        let newest = if self.opts.dictionaries {
            self.dicts.newest(prefix).map(|d| d.id)
        } else {
            None
        };
        if header.flags == 0 {
            // Raw: written before compression, or too small, or it did not shrink.
            return len >= self.opts.min_size;
        }
        header.flags & flags::ZSTD != 0 && newest.is_some() && header.dict_id != newest
    }
}

thread_local! {
    // One compression and one decompression context per thread, made on first use: a
    // context holds a few hundred KiB of tables that a value per call would allocate anew.
    static CCTX: RefCell<Option<CCtx<'static>>> = const { RefCell::new(None) };
    static DCTX: RefCell<Option<DCtx<'static>>> = const { RefCell::new(None) };
}

/// One zstd frame of `src` (with its content size), with `dict` if given; `None` when
/// zstd could not (no memory for a context).
fn compress(src: &[u8], dict: Option<&Dict>, level: i32) -> Option<Vec<u8>> {
    CCTX.with(|c| {
        let mut c = c.try_borrow_mut().ok()?;
        if c.is_none() {
            *c = CCtx::try_create();
        }
        let cctx = c.as_mut()?;
        let mut out = Vec::with_capacity(zstd_safe::compress_bound(src.len()));
        let r = match dict {
            Some(d) => cctx.compress_using_cdict(&mut out, src, d.cdict()),
            None => cctx.compress(&mut out, src, level),
        };
        r.ok().map(|_| out)
    })
}

/// The bytes of the single frame `src`, which must say its content size (at most
/// `max_len`) and decode to exactly that; why not, otherwise.
pub(crate) fn decompress(
    src: &[u8],
    dict: Option<&Dict>,
    max_len: usize,
) -> std::result::Result<Vec<u8>, String> {
    let n = match zstd_safe::get_frame_content_size(src) {
        Ok(Some(n)) => n,
        Ok(None) => return Err("the frame does not say its size".into()),
        Err(_) => return Err("not a zstd frame".into()),
    };
    let n = usize::try_from(n)
        .ok()
        .filter(|n| *n <= max_len)
        .ok_or_else(|| format!("the frame claims {n} bytes, more than a value may hold"))?;
    DCTX.with(|c| {
        let mut c = c
            .try_borrow_mut()
            .map_err(|_| "decompression context busy".to_string())?;
        if c.is_none() {
            *c = DCtx::try_create();
        }
        let dctx = c
            .as_mut()
            .ok_or_else(|| "no memory for a decompression context".to_string())?;
        let mut out = Vec::with_capacity(n);
        let r = match dict {
            Some(d) => dctx.decompress_using_ddict(&mut out, src, d.ddict()),
            None => dctx.decompress(&mut out, src),
        };
        match r {
            Ok(got) if got == n && out.len() == n => Ok(out),
            Ok(got) => Err(format!(
                "the frame holds {got} bytes, not the {n} it claims"
            )),
            Err(code) => Err(format!(
                "damaged frame ({})",
                zstd_safe::get_error_name(code)
            )),
        }
    })
}

/// The logical (opened) length of a sealed value without opening it: the payload of a
/// plain envelope, the content size a zstd frame declares. Restores and replays count
/// values with this (they hold no dictionaries). Other flags are [`Error::Corrupt`].
pub fn sealed_len(sealed: &[u8]) -> Result<u64> {
    let (h, payload) = crate::envelope::open(sealed)?;
    if h.flags == 0 {
        return Ok(payload.len() as u64);
    }
    if h.flags & !(flags::ZSTD | flags::DICT) != 0 || h.flags & flags::ZSTD == 0 {
        return Err(Error::Corrupt(format!(
            "envelope uses codec flags {:#04x}, whose length this build cannot tell",
            h.flags
        )));
    }
    match zstd_safe::get_frame_content_size(payload) {
        Ok(Some(n)) => Ok(n),
        _ => Err(Error::Corrupt(
            "compressed value does not say its size".into(),
        )),
    }
}

#[cfg(test)]
mod tests;
