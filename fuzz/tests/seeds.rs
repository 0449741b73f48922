//! The seed corpus (`fuzz/seeds/<target>/`) and the saved crash reproducers
//! (`fuzz/regressions/<target>/`), replayed through the fuzz checks without libFuzzer:
//!
//! ```text
//! cargo test --manifest-path fuzz/Cargo.toml                        # replay
//! cargo test --manifest-path fuzz/Cargo.toml -- --ignored write_seeds  # regenerate seeds
//! ```
//!
//! Seeds are made by the real encoders, so they are valid inputs that the fuzzer mutates
//! from (a frame with a correct checksum is hard to find by chance).

use arbitrary::{Arbitrary, Unstructured};
use botstore::codec::{self, ItemRecord, LeaseRecord, Table};
use botstore::kv::WriteSet;
use botstore::{
    envelope, ChangeKind, Item, Namespace, NamespaceStats, StreamEntry, StreamInfo, Value, Version,
};
use botstore_fuzz::{damaged, damaged_store, journal, names, records, store_ops, transfer};
use std::path::{Path, PathBuf};

const TARGETS: [&str; 7] = [
    "journal_replay",
    "damaged_journal",
    "damaged_store",
    "records",
    "names_and_cursors",
    "store_ops",
    "transfer_stream",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn check(target: &str, data: &[u8]) {
    match target {
        "journal_replay" => journal::check(data),
        "records" => records::check(data),
        "names_and_cursors" => names::check(data),
        "transfer_stream" => transfer::check(data),
        "damaged_journal" => {
            let input = damaged::Input::arbitrary_take_rest(Unstructured::new(data)).unwrap();
            damaged::run(&input);
        }
        "damaged_store" => {
            let input = damaged_store::Input::arbitrary_take_rest(Unstructured::new(data)).unwrap();
            damaged_store::run(&input);
        }
        "store_ops" => {
            let input = store_ops::Input::arbitrary_take_rest(Unstructured::new(data)).unwrap();
            store_ops::run(&input);
        }
        t => panic!("unknown target {t}"),
    }
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.retain(|p| p.is_file() && p.extension().is_none_or(|e| e != "md"));
    v.sort();
    v
}

#[test]
fn seeds_and_regressions_pass() {
    let mut n = 0;
    for t in TARGETS {
        let seeds = files(&root().join("seeds").join(t));
        assert!(!seeds.is_empty(), "no seeds for {t}");
        for f in seeds
            .iter()
            .chain(&files(&root().join("regressions").join(t)))
        {
            eprintln!("{t}: {}", f.display());
            check(t, &std::fs::read(f).unwrap());
            n += 1;
        }
    }
    eprintln!("{n} inputs replayed");
}

// ------------------------------------------------------------------ seed generation

/// `(table, key, Some(value) to put | None to delete)`.
type Write<'a> = (Table, &'a [u8], Option<&'a [u8]>);

fn ws(writes: &[Write]) -> WriteSet {
    writes
        .iter()
        .map(|(t, k, v)| ((*t, k.to_vec()), v.map(<[u8]>::to_vec)))
        .collect()
}

fn frame(gen: u64, first: u64, last: u64, w: &WriteSet) -> Vec<u8> {
    let mut out = Vec::new();
    botstore_embedded::journal::encode_frame(&mut out, 0x5eed, gen, first, last, w);
    out
}

fn journal_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let ns = Namespace::new(["t", "users", "u1"]);
    let key = codec::named_key(&ns, "profile");
    let item = ItemRecord {
        version: Version(5),
        created_at: 1,
        updated_at: 2,
        expires_at: None,
        subject: None,
        value: Value::json_text("{\"a\":1}"),
    }
    .encode();
    let w1 = ws(&[
        (Table::Items, &key, Some(&item)),
        (
            Table::Changes,
            &5u64.to_be_bytes(),
            Some(&[1, 0, 0, 0, 0, 0, 0, 0, 0, 2]),
        ),
        (Table::Meta, codec::META_LAST_LSN, Some(&5u64.to_be_bytes())),
    ]);
    let w2 = ws(&[
        (Table::Items, &key, None),
        (Table::Expiry, &codec::expiry_key(9, &key), None),
        (Table::Namespaces, &codec::ns_enc(&ns), Some(&[1; 41])),
    ]);
    let mut two = vec![0x80 | 7u8];
    two.extend(frame(7, 5, 5, &w1));
    two.extend(frame(7, 6, 8, &w2));
    // A frame of an older generation after a current one: replay stops there.
    let mut stale = vec![7u8];
    stale.extend(frame(7, 1, 1, &w1));
    stale.extend(frame(6, 2, 2, &w2));
    // A preallocated file: a frame, then zeroes.
    let mut zeros = vec![0u8];
    zeros.extend(frame(0, 1, 3, &w2));
    zeros.extend([0u8; 64]);
    // A torn write: the second frame is cut short.
    let mut torn = vec![0x80 | 3u8];
    torn.extend(frame(3, 10, 10, &w1));
    let f2 = frame(3, 11, 11, &w2);
    torn.extend(&f2[..f2.len() - 5]);
    // An empty write set.
    let mut empty = vec![1u8];
    empty.extend(frame(1, 1, 1, &WriteSet::new()));
    vec![
        ("two_frames", two),
        ("stale_generation", stale),
        ("zero_tail", zeros),
        ("torn", torn),
        ("empty_frame", empty),
    ]
}

fn record_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let ns = Namespace::new(["t", "c1"]);
    let full = ItemRecord {
        version: Version(5),
        created_at: 1_700_000_000_000,
        updated_at: 1_700_000_000_001,
        expires_at: Some(1_700_000_360_000),
        subject: Some("user-1".into()),
        value: Value::json_text("{\"name\":\"Ada\"}"),
    };
    let bare = ItemRecord {
        version: Version(1),
        created_at: 0,
        updated_at: 0,
        expires_at: None,
        subject: None,
        value: Value::bytes("text/plain", "hi"),
    };
    let item = Item {
        ns: ns.clone(),
        key: "k".into(),
        value: full.value.clone(),
        version: full.version,
        created_at: full.created_at,
        updated_at: full.updated_at,
        expires_at: full.expires_at,
        subject: full.subject.clone(),
    };
    let entry = StreamEntry {
        seq: 3,
        at: 9,
        value: Value::json_text("{\"type\":\"message\"}"),
    };
    let change = |k: ChangeKind| {
        codec::encode_change(&botstore::CodecStack::plain(), 1_700_000_000_000, &k).unwrap()
    };
    let mut envelope_full = Vec::new();
    envelope::seal(
        &envelope::Header {
            flags: envelope::flags::ZSTD | envelope::flags::DICT | envelope::flags::ENCRYPTED,
            dict_id: Some(7),
            key_id: Some(9),
            nonce: vec![0xAA; 12],
            tag: vec![0xBB; 16],
        },
        b"payload",
        &mut envelope_full,
    )
    .unwrap();
    let mut envelope_plain = Vec::new();
    envelope::seal_plain(b"{}", &mut envelope_plain);
    vec![
        ("item_full", full.encode()),
        ("item_bare", bare.encode()),
        (
            "lease",
            LeaseRecord {
                holder: "worker-1".into(),
                token: 17,
                expires_at: 1_700_000_030_000,
                released: false,
            }
            .encode(),
        ),
        ("entry", codec::encode_entry(entry.at, None, &entry.value)),
        (
            "stream_info",
            codec::encode_stream_info(&StreamInfo {
                len: 3,
                first_seq: 1,
                last_seq: 3,
                bytes: 60,
            }),
        ),
        (
            "ns_stats",
            codec::encode_ns_stats(&NamespaceStats {
                items: 2,
                item_bytes: 30,
                streams: 1,
                stream_entries: 3,
                stream_bytes: 60,
            }),
        ),
        ("change_put", change(ChangeKind::Put(item))),
        (
            "change_delete",
            change(ChangeKind::Delete {
                ns: ns.clone(),
                key: "k".into(),
            }),
        ),
        (
            "change_expire",
            change(ChangeKind::Expire {
                ns: ns.clone(),
                key: "k".into(),
            }),
        ),
        (
            "change_append",
            change(ChangeKind::Append {
                ns: ns.clone(),
                stream: "transcript".into(),
                entries: vec![entry.clone(), StreamEntry { seq: 4, ..entry }],
            }),
        ),
        (
            "change_trim",
            change(ChangeKind::Trim {
                ns: ns.clone(),
                stream: "transcript".into(),
                first_kept: 4,
                deleted_stream: true,
            }),
        ),
        (
            "change_lease",
            change(ChangeKind::Lease {
                ns: ns.clone(),
                name: "lock".into(),
                released: true,
            }),
        ),
        (
            "change_ns_ttl",
            change(ChangeKind::NamespaceTtl {
                prefix: ns.clone(),
                ttl_ms: Some(3_600_000),
            }),
        ),
        ("named_key", codec::named_key(&ns, "profile")),
        ("ns", codec::ns_enc(&ns)),
        ("envelope_full", envelope_full),
        ("envelope_plain", envelope_plain),
    ]
}

fn names_seed(ns: &str, key: &str, rest: &[u8]) -> Vec<u8> {
    let mut v = vec![ns.len() as u8, key.len() as u8];
    v.extend_from_slice(ns.as_bytes());
    v.extend_from_slice(key.as_bytes());
    v.extend_from_slice(rest);
    v
}

fn names_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let ns = Namespace::new(["tenant-a", "users", "u42"]);
    let cursor = botstore::read::encode_cursor(&codec::named_key(&ns, "profile"));
    vec![
        (
            "cursor",
            names_seed("tenant-a/users/u42", "profile", cursor.as_bytes()),
        ),
        (
            "json",
            names_seed("a/b", "k", b"{\"a\":[1,2.5,\"x\\u00e9\"],\"b\":null}"),
        ),
        ("ttl", names_seed("/a/", "90s", b"")),
        ("etag", names_seed("a/../b", "W/\"42\"", b"[]")),
        (
            "durability",
            names_seed("a//b", "relaxed:25ms", b"\"\\ud800\""),
        ),
    ]
}

/// Deterministic byte strings (xorshift) that decode to op sequences committing at least
/// a few changes, so the fuzzer starts from states with items and streams in them.
fn store_ops_seeds() -> Vec<(String, Vec<u8>)> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut out = Vec::new();
    let mut tries = 0;
    while out.len() < 6 && tries < 100_000 {
        tries += 1;
        let len = 64 + (next() % 448) as usize;
        let data: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        let input = store_ops::Input::arbitrary_take_rest(Unstructured::new(&data)).unwrap();
        if store_ops::run(&input) >= 4 {
            out.push((format!("ops_{}", out.len()), data));
        }
    }
    out
}

#[test]
#[ignore = "writes fuzz/seeds/; run by hand after a format change"]
fn write_seeds() {
    let write = |t: &str, name: &str, data: &[u8]| {
        let dir = root().join("seeds").join(t);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), data).unwrap();
        check(t, data);
    };
    for (n, d) in journal_seeds() {
        write("journal_replay", n, &d);
    }
    for (n, d) in record_seeds() {
        write("records", n, &d);
    }
    for (n, d) in records::compressed_seeds() {
        write("records", n, &d);
    }
    for (n, d) in names_seeds() {
        write("names_and_cursors", n, &d);
    }
    for (n, d) in transfer::seeds() {
        write("transfer_stream", n, &d);
    }
    let ops = store_ops_seeds();
    assert!(ops.len() >= 3, "too few store_ops seeds found");
    for (n, d) in ops {
        write("store_ops", &n, &d);
    }
}

#[test]
#[ignore = "writes fuzz/seeds/records/; run by hand after a record format change"]
fn write_record_seeds() {
    let dir = root().join("seeds").join("records");
    std::fs::create_dir_all(&dir).unwrap();
    for (n, d) in record_seeds()
        .into_iter()
        .chain(records::compressed_seeds())
    {
        std::fs::write(dir.join(n), &d).unwrap();
        records::check(&d);
    }
}
