//! `records`: every decoder of stored records and value envelopes. Their bytes come from
//! disk (a damaged or foreign data folder, a backup) or from a replicated change feed, so a
//! decoder must return `Error::Corrupt` on anything it cannot read, never panic; and what
//! it does read must encode back to something that decodes to the same value.

use botstore::codec::{self, ItemRecord, LeaseRecord, Table};
use botstore::compression::dicts::{dict_key, DictRecord};
use botstore::compression::{self, CompressionOptions, ZstdCodec};
use botstore::envelope;
use botstore::{CodecStack, Error, ValueContext};
use std::ops::Bound;
use std::sync::{Arc, OnceLock};

const LSN: u64 = 42;
const SEQ: u64 = 7;

fn corrupt_only<T>(r: &Result<T, Error>) {
    if let Err(e) = r {
        assert!(matches!(e, Error::Corrupt(_)), "decoder returned {e:?}");
    }
}

pub fn check(data: &[u8]) {
    if let Some(&b) = data.first() {
        if let Some(t) = Table::from_u8(b) {
            assert_eq!(t as u8, b);
        }
    }
    let _ = codec::be64(data);

    let item = ItemRecord::decode(data);
    corrupt_only(&item);
    if let Ok(rec) = item {
        let b = rec.encode();
        assert_eq!(ItemRecord::decode(&b), Ok(rec.clone()));
        // A record decoded from `data` carries all of `data`'s value: the encoding is no
        // longer (envelope header padding and unknown flag bits are all it may drop).
        assert!(b.len() <= data.len());
        let plain = botstore::CodecStack::plain();
        let ch = codec::encode_change(
            &plain,
            -1,
            &botstore::ChangeKind::Put(rec.into_item(botstore::Namespace::new(["n"]), "k".into())),
        )
        .expect("a plain stack cannot fail");
        assert!(codec::decode_change(&plain, LSN, &ch).is_ok());
    }

    let lease = LeaseRecord::decode(data);
    corrupt_only(&lease);
    if let Ok(l) = lease {
        assert_eq!(LeaseRecord::decode(&l.encode()), Ok(l));
    }

    let entry = codec::decode_entry(SEQ, data);
    corrupt_only(&entry);
    let lsn = codec::entry_lsn(data);
    corrupt_only(&lsn);
    if let Ok(e) = entry {
        assert_eq!(e.seq, SEQ);
        let lsn = lsn.expect("an entry that decodes has a header");
        let b = codec::encode_entry(e.at, lsn, &e.value);
        assert_eq!(codec::decode_entry(SEQ, &b), Ok(e));
        assert_eq!(codec::entry_lsn(&b), Ok(lsn));
    }

    // The history's records and the feed's references, read without a store.
    corrupt_only(&codec::decode_history(data));
    for key in [&LSN.to_be_bytes()[..], &codec::entry_history_key(LSN, SEQ)] {
        corrupt_only(&botstore::feed::verify_history(&botstore::CodecStack::plain(), key, data));
    }

    let info = codec::decode_stream_info(data);
    corrupt_only(&info);
    let stored = codec::decode_stream_stored(data);
    corrupt_only(&stored);
    if let (Ok(s), Ok(stored)) = (info, stored) {
        let b = codec::encode_stream_record(&s, stored);
        // Fixed layout: the encoding is the bytes it was decoded from (a record from
        // before stored bytes were counted is its first 33 bytes).
        let n = if data.len() == 33 { 33 } else { b.len() };
        assert_eq!(&data[..n], &b[..n]);
        assert_eq!(codec::decode_stream_info(&b), Ok(s));
        assert_eq!(codec::decode_stream_stored(&b), Ok(stored));
    }

    let stats = codec::decode_ns_stats(data);
    corrupt_only(&stats);
    let stored = codec::decode_ns_stored(data);
    corrupt_only(&stored);
    if let (Ok(s), Ok(st)) = (stats, stored) {
        let b = codec::encode_ns_record(&s, &st);
        let n = if data.len() == 41 { 41 } else { b.len() };
        assert_eq!(&data[..n], &b[..n]);
        assert_eq!(codec::decode_ns_stats(&b), Ok(s));
        assert_eq!(codec::decode_ns_stored(&b), Ok(st));
    }

    compressed(data);

    let plain = botstore::CodecStack::plain();
    let record = codec::decode_change_record(&plain, LSN, data);
    corrupt_only(&record);
    if let Ok(codec::ChangeRecord::AppendRef {
        ns,
        stream,
        first_seq,
        count,
        at,
        ..
    }) = &record
    {
        let b = codec::encode_append_ref(*at, ns, stream, *first_seq, *count);
        assert_eq!(codec::decode_change_record(&plain, LSN, &b), record);
    }
    let change = codec::decode_change(&plain, LSN, data);
    corrupt_only(&change);
    if let Ok(c) = change {
        assert_eq!(c.lsn, LSN);
        let b = codec::encode_change(&plain, c.at, &c.kind).expect("a plain stack cannot fail");
        assert_eq!(codec::decode_change(&plain, LSN, &b), Ok(c));
    }

    let ns = codec::ns_dec(data);
    corrupt_only(&ns);
    if let Ok(ns) = ns {
        // One encoding per namespace: segments end at their terminator.
        assert_eq!(codec::ns_enc(&ns), data);
    }

    let named = codec::split_named_key(data);
    corrupt_only(&named);
    if let Ok((ns, name)) = named {
        assert_eq!(codec::named_key(&ns, &name), data);
        let enc = codec::ns_enc(&ns);
        assert!(data.starts_with(&enc));
    }

    let env = envelope::open(data);
    corrupt_only(&env);
    if let Ok((h, payload)) = env {
        let mut out = Vec::new();
        envelope::seal(&h, payload, &mut out).expect("a header that opened seals again");
        assert_eq!(
            envelope::open(&out).expect("resealed envelope opens"),
            (h, payload)
        );
    }

    let plain = envelope::open_plain(data);
    corrupt_only(&plain);
    if let Ok(payload) = plain {
        let (h, p) = envelope::open(data).expect("open_plain accepted it");
        assert_eq!(h.flags & !envelope::flags::SUPPORTED, 0);
        assert_eq!(p, payload);
        let mut out = Vec::new();
        envelope::seal_plain(payload, &mut out);
        assert_eq!(envelope::open_plain(&out), Ok(payload));
    }
}

/// A read view holding one compression dictionary record (id 1, prefix `t`).
struct OneDict;

/// The dictionary of [`OneDict`]: raw content (zstd takes any bytes as one), bot-like text.
const DICT: &[u8] = br#"{"role":"user","content":"hello, how are you today? the weather is fine","id":"run-","type":"human","additional_kwargs":{},"response_metadata":{"model_name":"gpt-4o-mini","finish_reason":"stop"}}{"role":"assistant","content":"thanks, I am fine. What else can I help with?"}"#;

impl botstore::kv::KvRead for OneDict {
    fn get(&self, _: Table, _: &[u8]) -> botstore::Result<Option<Vec<u8>>> {
        Ok(None)
    }
    fn scan(
        &self,
        table: Table,
        _: (Bound<&[u8]>, Bound<&[u8]>),
        _: bool,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> botstore::Result<bool>,
    ) -> botstore::Result<()> {
        if table == Table::Meta {
            let rec = DictRecord {
                id: 1,
                prefix: b"t".to_vec(),
                dict: DICT.to_vec(),
            };
            visit(&dict_key(1), &rec.encode())?;
        }
        Ok(())
    }
}

/// A store's codec stack as a store builds it: zstd holding dictionary 1 of prefix `t`.
pub fn codecs() -> &'static CodecStack {
    static S: OnceLock<CodecStack> = OnceLock::new();
    S.get_or_init(|| {
        let opts = CompressionOptions {
            min_size: 16,
            background_training: false,
            ..CompressionOptions::default()
        };
        let z = ZstdCodec::open(opts, 1 << 20, &OneDict);
        CodecStack::new(vec![Arc::new(z)]).expect("one codec")
    })
}

/// The context values of item `t/k` are sealed in.
pub fn ctx() -> ValueContext<'static> {
    ValueContext {
        table: Table::Items,
        key: b"t\0\x01k",
        version: Some(botstore::Version(1)),
        subject: None,
        change_copy: false,
    }
}

/// `data` as a sealed value of a store with compression (and a dictionary): it opens to
/// bytes that seal and open again the same, and whose length the envelope tells, or it is
/// `Corrupt`; and as an item record of such a store.
fn compressed(data: &[u8]) {
    let stack = codecs();
    let opened = stack.open(&ctx(), data);
    corrupt_only(&opened);
    if let Ok(v) = opened {
        if let Ok(n) = compression::sealed_len(data) {
            assert_eq!(n, v.len() as u64, "the envelope's length");
        }
        let mut out = Vec::new();
        stack
            .seal(&ctx(), &v, &mut out)
            .expect("sealing cannot fail");
        assert_eq!(stack.open(&ctx(), &out).expect("resealed opens"), v);
        assert_eq!(compression::sealed_len(&out), Ok(v.len() as u64));
    }
    let len = compression::sealed_len(data);
    corrupt_only(&len);

    let item = ItemRecord::decode_with(data, stack, ctx().key);
    corrupt_only(&item);
    if let Ok(rec) = item {
        let b = rec.encode_with(stack, ctx().key).expect("encodes");
        assert_eq!(ItemRecord::decode_with(&b, stack, ctx().key), Ok(rec));
    }
}

/// Seeds: compressed envelopes with and without the dictionary, and an item record.
pub fn compressed_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let value = DICT.repeat(3);
    let mut with = Vec::new();
    codecs().seal(&ctx(), &value, &mut with).expect("seals");
    assert_eq!(with[1], envelope::flags::ZSTD | envelope::flags::DICT);
    let other = ValueContext {
        key: b"x\0\x01k",
        ..ctx()
    };
    let mut without = Vec::new();
    codecs().seal(&other, &value, &mut without).expect("seals");
    assert_eq!(without[1], envelope::flags::ZSTD);
    let rec = ItemRecord {
        version: botstore::Version(1),
        created_at: 1,
        updated_at: 2,
        expires_at: None,
        subject: None,
        value: botstore::Value::bytes("text/plain", value.clone()),
    }
    .encode_with(codecs(), ctx().key)
    .expect("encodes");
    vec![
        ("envelope_zstd_dict", with),
        ("envelope_zstd", without),
        ("item_zstd_dict", rec),
    ]
}
