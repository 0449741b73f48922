use super::dicts::{dict_key, DictRecord};
use super::*;
use crate::backend::{Backend, CompactReport, Space, WriteGroup};
use crate::codec::{named_key, ItemRecord};
use crate::envelope;
use crate::kv::Table;
use crate::memory::MemoryBackend;
use crate::model::{Namespace, Value, Version};
use crate::store::{Store, StoreOptions};
use crate::value_codec::CodecStack;
use proptest::prelude::*;
use std::sync::Mutex;

const WORDS: &[&str] = &[
    "hello",
    "how",
    "are",
    "you",
    "today",
    "the",
    "weather",
    "is",
    "fine",
    "thanks",
    "user",
    "assistant",
    "message",
    "content",
    "role",
    "tool",
    "call",
    "order",
    "status",
    "shipped",
];

/// A JSON document of about `len` bytes, shaped like a bot's message list.
fn doc(seed: u64, len: usize) -> Vec<u8> {
    let mut s = seed | 1;
    let mut next = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let mut out = String::from("{\"messages\":[");
    while out.len() < len {
        let n = next();
        out.push_str(&format!(
            "{{\"role\":\"{}\",\"id\":{},\"content\":\"{} {} {}\"}},",
            WORDS[(n % 2) as usize + 10],
            n % 100_000,
            WORDS[(n >> 8) as usize % WORDS.len()],
            WORDS[(n >> 16) as usize % WORDS.len()],
            WORDS[(n >> 24) as usize % WORDS.len()],
        ));
    }
    out.truncate(len);
    out.into_bytes()
}

fn ctx(key: &[u8]) -> ValueContext<'_> {
    ValueContext {
        table: Table::Items,
        key,
        version: Some(Version(1)),
        subject: None,
        change_copy: false,
    }
}

fn inline_opts() -> CompressionOptions {
    CompressionOptions {
        train_after_values: 40,
        min_samples: 8,
        dict_size: 4096,
        background_training: false,
        ..CompressionOptions::default()
    }
}

/// A codec over an empty store, and its stack.
fn codec(opts: CompressionOptions) -> (Arc<ZstdCodec>, CodecStack) {
    let z = Arc::new(ZstdCodec::open(opts, 1 << 24, &crate::kv::EmptyView));
    let s = CodecStack::new(vec![Arc::clone(&z) as Arc<dyn ValueCodec>]).unwrap();
    (z, s)
}

fn seal(s: &CodecStack, key: &[u8], v: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    s.seal(&ctx(key), v, &mut out).unwrap();
    out
}

/// Train the codec's dictionary for prefix `t` and make it active, as the commit thread
/// would: sample, hand out the record, report it written.
fn train(z: &ZstdCodec, s: &CodecStack) -> Vec<(Table, Vec<u8>, Vec<u8>)> {
    let key = named_key(&Namespace::new(["t", "u"]), "k");
    for i in 0..40 {
        seal(s, &key, &doc(i, 600));
    }
    let recs = z.records_to_write();
    assert_eq!(recs.len(), 1, "one dictionary trained");
    z.records_written(true);
    recs
}

#[test]
fn small_and_incompressible_values_stay_plain() {
    let (_, s) = codec(CompressionOptions::default());
    let key = named_key(&Namespace::new(["t"]), "k");
    let small = doc(1, 127);
    let mut want = vec![1, 0, 4, 0];
    want.extend_from_slice(&small);
    assert_eq!(seal(&s, &key, &small), want);
    // Noise does not shrink: raw.
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let noise: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect();
    let sealed = seal(&s, &key, &noise);
    assert_eq!(&sealed[..4], &[1, 0, 4, 0]);
    assert_eq!(&sealed[4..], &noise[..]);
}

/// Pins the compressed envelope layouts of docs/FORMAT.md.
#[test]
fn compressed_envelope_layout_is_pinned() {
    let (z, s) = codec(inline_opts());
    let key = named_key(&Namespace::new(["t", "u"]), "k");
    let v = doc(7, 1000);
    let sealed = seal(&s, &key, &v);
    assert_eq!(&sealed[..4], &[1, flags::ZSTD, 4, 0]);
    assert_eq!(&sealed[4..8], &[0x28, 0xb5, 0x2f, 0xfd], "a zstd frame");
    assert_eq!(
        zstd_safe::get_frame_content_size(&sealed[4..]).ok(),
        Some(Some(1000))
    );
    assert!(sealed.len() < 600, "{}", sealed.len());
    assert_eq!(&*s.open(&ctx(&key), &sealed).unwrap(), &v[..]);
    assert_eq!(sealed_len(&sealed).unwrap(), 1000);

    train(&z, &s);
    let with = seal(&s, &key, &v);
    assert_eq!(
        &with[..8],
        &[1, flags::ZSTD | flags::DICT, 8, 0, 1, 0, 0, 0]
    );
    assert_eq!(&with[8..12], &[0x28, 0xb5, 0x2f, 0xfd]);
    assert!(with.len() < sealed.len(), "{} {}", with.len(), sealed.len());
    assert_eq!(&*s.open(&ctx(&key), &with).unwrap(), &v[..]);
    assert_eq!(sealed_len(&with).unwrap(), 1000);
    // The change feed's copy never uses the dictionary.
    let mut copy = Vec::new();
    let cc = ValueContext {
        change_copy: true,
        ..ctx(&key)
    };
    s.seal(&cc, &v, &mut copy).unwrap();
    assert_eq!(&copy[..4], &[1, flags::ZSTD, 4, 0]);
    // A reader with no dictionaries opens the copy.
    let reader = CodecStack::new(vec![Arc::new(ZstdCodec::reader(1 << 20))]).unwrap();
    assert_eq!(&*reader.open(&cc, &copy).unwrap(), &v[..]);
}

#[test]
fn a_missing_dictionary_a_damaged_frame_or_an_unknown_flag_is_corrupt() {
    let (z, s) = codec(inline_opts());
    let key = named_key(&Namespace::new(["t", "u"]), "k");
    train(&z, &s);
    let v = doc(9, 2000);
    let with = seal(&s, &key, &v);
    // Another store (no dictionary 1) refuses, naming the record.
    let (_, other) = codec(inline_opts());
    match other.open(&ctx(&key), &with) {
        Err(crate::Error::Corrupt(m)) => {
            assert!(m.contains("dictionary 1"), "{m}");
            assert!(m.contains("t/u/k"), "{m}");
        }
        r => panic!("{r:?}"),
    }
    // A dictionary id that names another dictionary: zstd sees the frame's own id.
    let mut wrong = with.clone();
    wrong[4] = 2;
    assert!(matches!(
        s.open(&ctx(&key), &wrong),
        Err(crate::Error::Corrupt(_))
    ));
    // Cut frames and a claimed size beyond the limit.
    for cut in [with.len() - 1, with.len() - 10, 12, 9] {
        assert!(
            matches!(
                s.open(&ctx(&key), &with[..cut]),
                Err(crate::Error::Corrupt(_))
            ),
            "cut at {cut}"
        );
    }
    let small = CodecStack::new(vec![Arc::new(ZstdCodec::reader(100))]).unwrap();
    let plain = seal(&s, &named_key(&Namespace::new(["x"]), "k"), &v);
    assert_eq!(plain[1], flags::ZSTD);
    assert!(matches!(
        small.open(&ctx(&key), &plain),
        Err(crate::Error::Corrupt(_))
    ));
    // DICT without ZSTD, and the encryption flag, which no codec here owns.
    let mut dict_only = with.clone();
    dict_only[1] = flags::DICT;
    assert!(matches!(
        s.open(&ctx(&key), &dict_only),
        Err(crate::Error::Corrupt(_))
    ));
    let mut enc = vec![1, flags::ENCRYPTED | flags::ZSTD, 10, 0, 0, 0, 0, 0, 0, 0];
    enc.extend_from_slice(&plain[4..]);
    assert!(matches!(
        s.open(&ctx(&key), &enc),
        Err(crate::Error::Corrupt(_))
    ));
    assert!(sealed_len(&enc).is_err());
    // A build without the codec refuses compressed values rather than return them.
    assert!(matches!(
        CodecStack::plain().open(&ctx(&key), &plain),
        Err(crate::Error::Corrupt(_))
    ));
    assert!(envelope::open_plain(&plain).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Any value, of any size, compressible or not, with or without a dictionary, opens
    /// to exactly the bytes sealed, and says its length.
    #[test]
    fn values_round_trip(
        values in proptest::collection::vec(
            (any::<u64>(), 0usize..5000, proptest::collection::vec(any::<u8>(), 0..600), any::<bool>()),
            1..30,
        ),
        with_dict in any::<bool>(),
    ) {
        let (z, s) = codec(inline_opts());
        if with_dict {
            train(&z, &s);
        }
        for (seed, len, noise, text) in values {
            let v = if text { doc(seed, len) } else { noise };
            for key in [named_key(&Namespace::new(["t", "u"]), "k"), named_key(&Namespace::new(["x"]), "k")] {
                let sealed = seal(&s, &key, &v);
                prop_assert_eq!(&*s.open(&ctx(&key), &sealed).unwrap(), &v[..]);
                prop_assert_eq!(sealed_len(&sealed).unwrap(), v.len() as u64);
                prop_assert!(sealed.len() <= v.len() + 8);
            }
        }
    }
}

#[test]
fn prefixes_are_first_segments() {
    assert_eq!(
        prefix_of(&named_key(&Namespace::new(["a", "b"]), "k")),
        b"a"
    );
    assert_eq!(prefix_of(&named_key(&Namespace::root(), "k")), b"");
    let sk = named_key(&Namespace::new(["tenant"]), "s");
    assert_eq!(prefix_of(&crate::codec::entry_key(&sk, 3)), b"tenant");
}

#[test]
fn dictionary_records_round_trip_and_refuse_damage() {
    let r = DictRecord {
        id: 7,
        prefix: b"tenant-a".to_vec(),
        dict: vec![1, 2, 3],
    };
    let b = r.encode();
    assert_eq!(b, [&[1u8, 8, 0][..], b"tenant-a", &[1, 2, 3]].concat());
    assert_eq!(dict_key(7), b"zstd_dict/\x00\x00\x00\x07");
    assert_eq!(DictRecord::decode(&dict_key(7), &b).unwrap(), r);
    assert!(DictRecord::decode(b"zstd_dict/\x00", &b).is_err());
    for cut in 0..12 {
        assert!(
            DictRecord::decode(&dict_key(7), &b[..cut]).is_err(),
            "{cut}"
        );
    }
}

// ---------------------------------------------------------------- through a store

/// A backend that notes every group it writes, and fails the ones it is told to.
struct Recording {
    inner: MemoryBackend,
    groups: Mutex<Vec<crate::kv::WriteSet>>,
    fail_next: Mutex<usize>,
}

impl Backend for Recording {
    fn name(&self) -> &'static str {
        "recording"
    }
    fn read(&self) -> crate::Result<Box<dyn crate::kv::KvRead + '_>> {
        self.inner.read()
    }
    fn write(&self, group: WriteGroup) -> crate::Result<()> {
        {
            let mut f = self.fail_next.lock().unwrap();
            if *f > 0 {
                *f -= 1;
                return Err(crate::Error::Storage("injected".into()));
            }
        }
        self.groups.lock().unwrap().push(group.writes.clone());
        self.inner.write(group)
    }
    fn space(&self) -> crate::Result<Space> {
        self.inner.space()
    }
    fn compact(&self) -> crate::Result<CompactReport> {
        self.inner.compact()
    }
    fn sync(&self) -> crate::Result<()> {
        self.inner.sync()
    }
}

fn recording() -> Arc<Recording> {
    Arc::new(Recording {
        inner: MemoryBackend::new(),
        groups: Mutex::default(),
        fail_next: Mutex::new(0),
    })
}

fn store(b: &Arc<Recording>, c: CompressionOptions) -> Store {
    Store::with_options(
        Arc::clone(b) as Arc<dyn Backend>,
        StoreOptions {
            compression: c,
            ..Default::default()
        },
    )
}

/// The envelope header of an item's stored value (through the record check).
fn header_of(s: &Store, ns: &Namespace, key: &str) -> envelope::Header {
    let v = s.backend().read().unwrap();
    let rec = v
        .get(Table::Items, &named_key(ns, key))
        .unwrap()
        .expect("item");
    let (_, _, sealed) = ItemRecord::sealed_value(&rec).unwrap();
    envelope::open(sealed).unwrap().0
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn a_dictionary_is_on_disk_before_any_value_uses_it_and_survives_reopen() {
    rt().block_on(async {
        let b = recording();
        let ns = Namespace::new(["tenant-a", "users"]);
        let s = store(&b, inline_opts());
        let mut want = Vec::new();
        for i in 0..60u64 {
            let v = doc(i, 300 + (i as usize * 37) % 900);
            s.put(&ns, &format!("k{i}"), Value::bytes("text/plain", v.clone()))
                .await
                .unwrap();
            want.push(v);
        }
        // Trained at value 40, written with the group of value 41, used from value 42.
        assert_eq!(header_of(&s, &ns, "k39").flags, flags::ZSTD);
        assert_eq!(header_of(&s, &ns, "k40").flags, flags::ZSTD);
        let h = header_of(&s, &ns, "k42");
        assert_eq!(h.flags, flags::ZSTD | flags::DICT);
        assert_eq!(h.dict_id, Some(1));
        // Order on disk: the group with the dictionary record holds no value using it,
        // and no earlier group does either.
        let groups = b.groups.lock().unwrap().clone();
        let at = groups
            .iter()
            .position(|g| g.contains_key(&(Table::Meta, dict_key(1))))
            .expect("the dictionary was written");
        for g in &groups[..=at] {
            for ((t, k), v) in g {
                if *t == Table::Items {
                    let rec =
                        crate::record_check::open(*t, k, v.as_ref().unwrap(), "test").unwrap();
                    let (_, _, sealed) = ItemRecord::sealed_value(rec).unwrap();
                    let h = envelope::open(sealed).unwrap().0;
                    assert_eq!(h.dict_id, None, "{}", crate::codec::describe_key(*t, k));
                }
            }
        }
        let list = s.compression().unwrap().dictionaries().list();
        assert_eq!(list.len(), 1);
        assert_eq!((list[0].0, &list[0].1[..]), (1, &b"tenant-a"[..]));
        assert!(list[0].2 <= 4096, "{list:?}");
        drop(s);

        // Reopened: the dictionary is loaded, every value reads back, new values use it,
        // and the next prefix's dictionary gets the next id.
        let s = store(&b, inline_opts());
        assert_eq!(s.compression().unwrap().dictionaries().count(), 1);
        for (i, v) in want.iter().enumerate() {
            let it = s.get(&ns, &format!("k{i}")).await.unwrap().unwrap();
            assert_eq!(&it.value.data, v);
        }
        s.put(&ns, "new", Value::bytes("text/plain", doc(99, 800)))
            .await
            .unwrap();
        assert_eq!(header_of(&s, &ns, "new").dict_id, Some(1));
        let other = Namespace::new(["tenant-b"]);
        for i in 0..45u64 {
            s.put(
                &other,
                &format!("k{i}"),
                Value::bytes("text/plain", doc(i + 500, 700)),
            )
            .await
            .unwrap();
        }
        assert_eq!(header_of(&s, &other, "k44").dict_id, Some(2));
        // The change feed's copies open too, and never use a dictionary.
        let changes = s.changes(0, 1000).await.unwrap();
        assert_eq!(changes.len(), 60 + 1 + 45);
        // Without compression, a store still reads what was compressed.
        drop(s);
        let s = store(&b, CompressionOptions::off());
        let it = s.get(&ns, "k59").await.unwrap().unwrap();
        assert_eq!(&it.value.data, &want[59]);
        s.put(&ns, "raw", Value::bytes("text/plain", doc(1, 900)))
            .await
            .unwrap();
        assert_eq!(header_of(&s, &ns, "raw").flags, 0);
    });
}

#[test]
fn a_failed_group_keeps_the_dictionary_unused_until_it_is_written() {
    rt().block_on(async {
        let b = recording();
        let ns = Namespace::new(["t"]);
        let s = store(&b, inline_opts());
        for i in 0..40u64 {
            s.put(
                &ns,
                &format!("k{i}"),
                Value::bytes("text/plain", doc(i, 500)),
            )
            .await
            .unwrap();
        }
        // The dictionary is trained; the group that would carry it fails.
        *b.fail_next.lock().unwrap() = 1;
        assert!(s
            .put(&ns, "lost", Value::bytes("text/plain", doc(1, 500)))
            .await
            .is_err());
        assert_eq!(s.compression().unwrap().dictionaries().count(), 0);
        assert_eq!(s.compression().unwrap().dictionaries().waiting(), 1);
        s.put(&ns, "a", Value::bytes("text/plain", doc(2, 500)))
            .await
            .unwrap();
        assert_eq!(header_of(&s, &ns, "a").dict_id, None);
        s.put(&ns, "b", Value::bytes("text/plain", doc(3, 500)))
            .await
            .unwrap();
        assert_eq!(header_of(&s, &ns, "b").dict_id, Some(1));
    });
}

#[test]
fn compact_reseals_older_values_with_the_newest_dictionary() {
    rt().block_on(async {
        let b = recording();
        let ns = Namespace::new(["app", "conv"]);
        // Written without compression (a store from before it).
        let s = store(&b, CompressionOptions::off());
        let mut want = Vec::new();
        for i in 0..50u64 {
            let v = doc(i, 400 + i as usize * 10);
            s.put(&ns, &format!("k{i}"), Value::bytes("text/plain", v.clone()))
                .await
                .unwrap();
            want.push(v);
        }
        s.append(
            &ns,
            "log",
            (0..50)
                .map(|i| Value::bytes("text/plain", doc(i + 100, 300)))
                .collect(),
            None,
        )
        .await
        .unwrap();
        s.put(&ns, "tiny", Value::json_text("{}")).await.unwrap();
        drop(s);
        let s = store(&b, inline_opts());
        let before = s.stats(&Namespace::root()).await.unwrap();
        let lsn = s.last_lsn().await.unwrap();
        let r = s.compact().await.unwrap();
        // 50 items and 50 entries rewritten raw -> no dictionary in the first pass, all
        // of them again with the dictionary in the second.
        assert!(r.resealed_values >= 100, "{r:?}");
        for (i, v) in want.iter().enumerate() {
            let h = header_of(&s, &ns, &format!("k{i}"));
            assert_eq!(
                (h.flags, h.dict_id),
                (flags::ZSTD | flags::DICT, Some(1)),
                "k{i}"
            );
            let it = s.get(&ns, &format!("k{i}")).await.unwrap().unwrap();
            assert_eq!(&it.value.data, v);
            assert_eq!(it.version, Version(i as u64 + 1), "versions unchanged");
        }
        assert_eq!(header_of(&s, &ns, "tiny").flags, 0);
        let e = s
            .read_stream(&ns, "log", None, crate::Direction::Forward, 100)
            .await
            .unwrap();
        assert_eq!(e.len(), 50);
        for (i, e) in e.iter().enumerate() {
            assert_eq!(e.value.data, doc(i as u64 + 100, 300));
        }
        // No news in the feed, the same logical counts.
        assert_eq!(s.last_lsn().await.unwrap(), lsn);
        assert_eq!(
            s.stats(&Namespace::root()).await.unwrap().namespaces,
            before.namespaces
        );
        // Nothing left to do.
        assert_eq!(s.reseal().await.unwrap(), 0);
    });
}

#[test]
fn settings_parse_from_text() {
    let s = CompressionSpec::parse(
        "level=6, min-size=256,dictionaries=off,off-prefix=blobs,off-prefix=raw",
    )
    .unwrap();
    let o = s.options();
    assert_eq!(
        (o.enabled, o.level, o.min_size, o.dictionaries),
        (true, 6, 256, false)
    );
    assert_eq!(o.off_prefixes, vec!["blobs".to_string(), "raw".to_string()]);
    assert!(!CompressionSpec::parse("off").unwrap().options().enabled);
    assert_eq!(
        CompressionSpec::parse("").unwrap(),
        CompressionSpec::default()
    );
    for bad in [
        "level=x",
        "level=99",
        "level=0",
        "fast",
        "dictionaries=maybe",
        "off-prefix=a/b",
        "off-prefix=",
    ] {
        assert!(CompressionSpec::parse(bad).is_err(), "{bad}");
    }
}

/// Stored bytes per namespace, recounted from the records themselves.
fn recount_stored(s: &Store) -> Vec<(Namespace, crate::StoredBytes)> {
    use std::collections::BTreeMap;
    use std::ops::Bound;
    let v = s.backend().read().unwrap();
    let mut m: BTreeMap<Vec<u8>, crate::StoredBytes> = BTreeMap::new();
    let all = (Bound::Unbounded, Bound::Unbounded);
    v.scan(Table::Items, all, false, &mut |k, rec| {
        let ns = crate::restore::key_namespace(k).unwrap().to_vec();
        m.entry(ns).or_default().items += ItemRecord::sealed_value(rec).unwrap().2.len() as u64;
        Ok(true)
    })
    .unwrap();
    v.scan(Table::Entries, all, false, &mut |k, rec| {
        let ns = crate::restore::key_namespace(&k[..k.len() - 9])
            .unwrap()
            .to_vec();
        m.entry(ns).or_default().entries +=
            crate::codec::entry_sealed_value(rec).unwrap().len() as u64;
        Ok(true)
    })
    .unwrap();
    m.into_iter()
        .map(|(k, v)| (crate::codec::ns_dec(&k).unwrap(), v))
        .collect()
}

#[test]
fn stats_count_stored_bytes_exactly() {
    rt().block_on(async {
        let b = recording();
        let s = store(&b, inline_opts());
        let a = Namespace::new(["a", "x"]);
        let c = Namespace::new(["c"]);
        for i in 0..70u64 {
            s.put(
                &a,
                &format!("k{}", i % 50),
                Value::bytes("text/plain", doc(i, 100 + (i as usize * 53) % 1500)),
            )
            .await
            .unwrap();
        }
        for i in 0..10 {
            s.delete(&a, &format!("k{i}"), crate::Precondition::Any)
                .await
                .unwrap();
        }
        s.put(&c, "small", Value::bytes("text/plain", "hi"))
            .await
            .unwrap();
        for j in 0..5u64 {
            s.append(
                &c,
                "log",
                (0..20)
                    .map(|i| Value::bytes("text/plain", doc(j * 100 + i, 50 + i as usize * 40)))
                    .collect(),
                None,
            )
            .await
            .unwrap();
        }
        s.trim(&c, "log", crate::TrimTo::KeepLast(30))
            .await
            .unwrap();
        s.append(
            &c,
            "gone",
            vec![Value::bytes("text/plain", doc(1, 900))],
            None,
        )
        .await
        .unwrap();
        s.delete_stream(&c, "gone").await.unwrap();
        let check = |st: &crate::StoreStats| {
            let got: Vec<_> = st
                .namespaces
                .iter()
                .enumerate()
                .map(|(i, (ns, _))| (ns.clone(), st.stored_bytes(i)))
                .collect();
            assert_eq!(got, recount_stored(&s));
        };
        let st = s.stats(&Namespace::root()).await.unwrap();
        check(&st);
        let total: u64 = (0..st.namespaces.len())
            .map(|i| st.stored_bytes(i).total())
            .sum();
        assert!(
            total * 2 < st.logical_bytes(),
            "{total} of {}",
            st.logical_bytes()
        );
        // Compaction rewrites values and keeps the counts exact; verify derives the same.
        s.compact().await.unwrap();
        check(&s.stats(&Namespace::root()).await.unwrap());
        let report = s.verify(&Default::default(), &mut |_| {}).unwrap();
        assert!(report.damage.is_empty(), "{:?}", report.damage);
    });
}

/// Found by the `records` fuzz target: counters from a damaged record must not overflow.
#[test]
fn stored_counts_of_huge_counters_saturate() {
    let s = crate::model::NamespaceStats {
        items: u64::MAX,
        item_bytes: u64::MAX,
        streams: 1,
        stream_entries: u64::MAX / 2,
        stream_bytes: 1,
    };
    let st = crate::StoredBytes::plain(&s);
    assert_eq!(
        (st.items, st.entries, st.total()),
        (u64::MAX, u64::MAX, u64::MAX)
    );
    let mut rec = crate::codec::encode_ns_stats(&s);
    rec.truncate(41);
    assert_eq!(crate::codec::decode_ns_stored(&rec).unwrap(), st);
    let info = crate::StreamInfo {
        first_seq: 1,
        last_seq: 0,
        len: u64::MAX,
        bytes: 5,
    };
    let mut b = crate::codec::encode_stream_info(&info);
    assert_eq!(crate::codec::decode_stream_stored(&b).unwrap(), u64::MAX);
    b.truncate(33);
    assert_eq!(crate::codec::decode_stream_stored(&b).unwrap(), u64::MAX);
}

/// A store as the build before compression wrote it: plain envelopes, namespace counters
/// of five fields, stream metas of four. It reads unchanged, its stored bytes are those of
/// plain envelopes, verify finds nothing wrong, and compact compresses it in place with the
/// counts still exact.
#[test]
fn a_store_written_before_compression_reads_unchanged_and_compacts() {
    use crate::codec::{self, encode_entry, entry_key, ns_enc};
    use crate::model::{NamespaceStats, StreamInfo};
    use crate::record_check::sealed;
    rt().block_on(async {
        let b = recording();
        let ns = Namespace::new(["old", "conv"]);
        let mut w = crate::kv::WriteSet::new();
        let mut put = |t: Table, k: Vec<u8>, v: Vec<u8>| {
            let s = sealed(t, &k, &v);
            w.insert((t, k), Some(s));
        };
        let mut item_bytes = 0;
        for i in 0..60u64 {
            let v = doc(i, 200 + i as usize * 20);
            item_bytes += v.len() as u64;
            let rec = ItemRecord {
                version: Version(i + 1),
                created_at: 1,
                updated_at: 1,
                expires_at: None,
                subject: None,
                value: Value::bytes("text/plain", v),
            };
            put(Table::Items, named_key(&ns, &format!("k{i}")), rec.encode());
        }
        let sk = named_key(&ns, "log");
        let mut entry_bytes = 0;
        for s in 1..=20u64 {
            let v = Value::bytes("text/plain", doc(s + 900, 400));
            entry_bytes += v.data.len() as u64;
            put(Table::Entries, entry_key(&sk, s), encode_entry(5, None, &v));
        }
        let info = StreamInfo {
            first_seq: 1,
            last_seq: 20,
            len: 20,
            bytes: entry_bytes,
        };
        put(
            Table::Streams,
            sk,
            codec::encode_stream_info(&info)[..33].to_vec(),
        );
        let counters = NamespaceStats {
            items: 60,
            item_bytes,
            streams: 1,
            stream_entries: 20,
            stream_bytes: entry_bytes,
        };
        put(
            Table::Namespaces,
            ns_enc(&ns),
            codec::encode_ns_stats(&counters)[..41].to_vec(),
        );
        put(
            Table::Meta,
            codec::META_LAST_LSN.to_vec(),
            60u64.to_be_bytes().to_vec(),
        );
        b.inner
            .write(WriteGroup {
                writes: w,
                first_lsn: 1,
                last_lsn: 60,
                batches: 1,
            })
            .unwrap();

        let s = store(&b, inline_opts());
        let it = s.get(&ns, "k7").await.unwrap().unwrap();
        assert_eq!(it.value.data, doc(7, 340));
        let st = s.stats(&Namespace::root()).await.unwrap();
        assert_eq!(st.namespaces, vec![(ns.clone(), counters.clone())]);
        assert_eq!(st.stored_bytes(0), crate::StoredBytes::plain(&counters));
        let clean = |s: &Store| {
            let r = s.verify(&Default::default(), &mut |_| {}).unwrap();
            assert!(r.damage.is_empty(), "{:?}", r.damage);
        };
        clean(&s);

        let r = s.compact().await.unwrap();
        assert!(r.resealed_values >= 80, "{r:?}");
        let st = s.stats(&Namespace::root()).await.unwrap();
        assert_eq!(
            st.namespaces,
            vec![(ns.clone(), counters.clone())],
            "logical counts unchanged"
        );
        assert_eq!(
            vec![(ns.clone(), st.stored_bytes(0))],
            recount_stored(&s),
            "stored counts exact"
        );
        assert!(st.stored_bytes(0).total() * 3 < st.logical_bytes());
        assert_eq!(header_of(&s, &ns, "k7").dict_id, Some(1));
        assert_eq!(
            s.get(&ns, "k7").await.unwrap().unwrap().value.data,
            doc(7, 340)
        );
        let e = s
            .read_stream(&ns, "log", None, crate::Direction::Forward, 100)
            .await
            .unwrap();
        assert_eq!(e.len(), 20);
        assert_eq!(e[3].value.data, doc(904, 400));
        clean(&s);
    });
}
