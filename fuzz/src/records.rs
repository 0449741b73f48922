//! `records`: every decoder of stored records and value envelopes. Their bytes come from
//! disk (a damaged or foreign data folder, a backup) or from a replicated change feed, so a
//! decoder must return `Error::Corrupt` on anything it cannot read, never panic; and what
//! it does read must encode back to something that decodes to the same value.

use botstore::codec::{self, ItemRecord, LeaseRecord, Table};
use botstore::envelope;
use botstore::Error;

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
    if let Ok(e) = entry {
        assert_eq!(e.seq, SEQ);
        let b = codec::encode_entry(e.at, &e.value);
        assert_eq!(codec::decode_entry(SEQ, &b), Ok(e));
    }

    let info = codec::decode_stream_info(data);
    corrupt_only(&info);
    if let Ok(s) = info {
        let b = codec::encode_stream_info(&s);
        // Fixed layout: the encoding is the bytes it was decoded from.
        assert_eq!(&data[..b.len()], &b[..]);
        assert_eq!(codec::decode_stream_info(&b), Ok(s));
    }

    let stats = codec::decode_ns_stats(data);
    corrupt_only(&stats);
    if let Ok(s) = stats {
        let b = codec::encode_ns_stats(&s);
        assert_eq!(&data[..b.len()], &b[..]);
        assert_eq!(codec::decode_ns_stats(&b), Ok(s));
    }

    let plain = botstore::CodecStack::plain();
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
