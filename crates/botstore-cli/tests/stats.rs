//! `botstore stats`: namespaces rolled up by --depth, cut by --top, with a total line;
//! exact output on a small store (a/b/c, a/b/d, a/e, f), for people and with --json.

// Test code: helpers outside #[test] fns unwrap too; a panic is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Run;
use serde_json::{json, Value as Json};
use std::path::Path;
use std::process::{Command, Stdio};

fn run(data: &Path, args: &[&str]) -> Run {
    let o = Command::new(env!("CARGO_BIN_EXE_botstore"))
        .env_remove("BOTSTORE_DATA")
        .env_remove("BOTSTORE_REMOTE")
        .arg("--data")
        .arg(data)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run botstore");
    Run {
        code: o.status.code().expect("exit code"),
        stdout: o.stdout,
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// a/b/c: 12 B; a/b/d: 5 + 1 B; a/e: 4 B; f: 7 B and a stream of two 2-byte entries.
fn small_store() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    for args in [
        &["put", "a/b/c", "k", "\"1234567890\""][..],
        &["put", "a/b/d", "k", "[1,2]"],
        &["put", "a/b/d", "k2", "1"],
        &["put", "a/e", "k", "\"xy\""],
        &["stream", "append", "f", "s", "11", "22"],
        &["put", "f", "k", "{\"a\":1}"],
    ] {
        run(&data, args).ok();
    }
    dir
}

/// The table without its last column (DISK (EST.), the store's file size shared out,
/// which depends on the engine's page allocation) and without the `on disk:` line.
fn without_disk(table: &str) -> String {
    let cut = table
        .lines()
        .next()
        .and_then(|h| h.find("  DISK (EST.)"))
        .expect("a DISK (EST.) column");
    table
        .lines()
        .filter(|l| !l.starts_with("on disk: "))
        .map(|l| l.get(..cut).unwrap_or(l).trim_end())
        .collect::<Vec<_>>()
        .join("\n")
        .trim_end()
        .to_owned()
}

#[test]
fn stats_rolls_up_to_the_top_level_namespaces_by_default() {
    let dir = small_store();
    let data = dir.path().join("data");
    let r = run(&data, &["stats"]).ok();
    assert_eq!(
        without_disk(&r.out()),
        "\
NAMESPACE  NAMESPACES  ITEMS  ITEM BYTES  STREAMS  ENTRIES  STREAM BYTES  STORED  RATIO
a                   3      4        22 B        0        0           0 B    38 B  1.727
f                   1      1         7 B        1        2           4 B    23 B  2.091
TOTAL               4      5        29 B        1        2           4 B    61 B  1.848
"
        .trim_end()
    );
    let out = r.out();
    let last = out.lines().last().unwrap();
    assert!(
        last.starts_with("on disk: ") && last.ends_with("; last LSN 6"),
        "{out}"
    );
}

#[test]
fn stats_depth_and_top() {
    let dir = small_store();
    let data = dir.path().join("data");
    let r = run(&data, &["stats", "--depth", "2"]).ok();
    assert_eq!(
        without_disk(&r.out()),
        "\
NAMESPACE  NAMESPACES  ITEMS  ITEM BYTES  STREAMS  ENTRIES  STREAM BYTES  STORED  RATIO
a/b                 2      3        18 B        0        0           0 B    30 B  1.667
f                   1      1         7 B        1        2           4 B    23 B  2.091
a/e                 1      1         4 B        0        0           0 B     8 B  2.000
TOTAL               4      5        29 B        1        2           4 B    61 B  1.848"
    );
    // --depth 0: every namespace as it is; --top 2 keeps the two biggest and says what is
    // left out; the total still counts everything.
    let r = run(&data, &["stats", "--depth", "0", "--top", "2"]).ok();
    assert_eq!(
        without_disk(&r.out()),
        "\
NAMESPACE  NAMESPACES  ITEMS  ITEM BYTES  STREAMS  ENTRIES  STREAM BYTES  STORED  RATIO
a/b/c               1      1        12 B        0        0           0 B    16 B  1.333
f                   1      1         7 B        1        2           4 B    23 B  2.091
... and 2 more namespaces (--top 0 for all)
TOTAL               4      5        29 B        1        2           4 B    61 B  1.848"
    );
    // Depth counts below the prefix; a namespace with items of its own is its own line.
    run(&data, &["put", "a", "top", "\"123\""]).ok();
    let r = run(&data, &["stats", "a", "--top", "0"]).ok();
    assert_eq!(
        without_disk(&r.out()),
        "\
NAMESPACE  NAMESPACES  ITEMS  ITEM BYTES  STREAMS  ENTRIES  STREAM BYTES  STORED  RATIO
a/b                 2      3        18 B        0        0           0 B    30 B  1.667
a                   1      1         5 B        0        0           0 B     9 B  1.800
a/e                 1      1         4 B        0        0           0 B     8 B  2.000
TOTAL               4      5        27 B        0        0           0 B    47 B  1.741"
    );
    let r = run(&data, &["stats", "--top", "1"]).ok();
    assert!(
        r.out()
            .contains("\n... and 1 more namespace (--top 0 for all)\n"),
        "{}",
        r.out()
    );
    // An empty store: the header and a zero total.
    let empty = dir.path().join("empty");
    let r = run(&empty, &["stats"]).ok();
    assert_eq!(
        without_disk(&r.out()),
        "\
NAMESPACE  NAMESPACES  ITEMS  ITEM BYTES  STREAMS  ENTRIES  STREAM BYTES  STORED  RATIO
TOTAL               0      0         0 B        0        0           0 B     0 B      -"
    );
}

/// The JSON document with the disk figures taken out (see [`without_disk`]).
fn json_without_disk(mut j: Json) -> Json {
    match &mut j {
        Json::Object(o) => {
            o.retain(|k, _| !k.contains("disk_bytes"));
            for v in o.values_mut() {
                *v = json_without_disk(v.take());
            }
        }
        Json::Array(a) => a.iter_mut().for_each(|v| *v = json_without_disk(v.take())),
        _ => {}
    }
    j
}

#[test]
fn stats_json_rolls_up_too_and_lists_every_line() {
    let dir = small_store();
    let data = dir.path().join("data");
    let line = |ns: Json, count: u64, items: u64, ib: u64, streams: u64, e: u64, sb: u64| {
        // Small values stay raw: stored is the plain envelopes, 4 bytes more each.
        let stored = ib + 4 * items + sb + 4 * e;
        let ratio = (stored as f64 / (ib + sb) as f64 * 1000.0).round() / 1000.0;
        json!({"ns": ns, "namespace_count": count, "items": items, "item_bytes": ib,
               "streams": streams, "stream_entries": e, "stream_bytes": sb,
               "stored_bytes": stored, "stored_ratio": ratio})
    };
    let total = line(Json::Null, 4, 5, 29, 1, 2, 4);
    let total = {
        let mut t = total;
        t.as_object_mut().unwrap().remove("ns");
        t
    };
    let j = run(&data, &["--json", "stats", "--depth", "2"]).ok().json();
    assert!(j["disk_bytes"].as_u64().unwrap() > 0);
    assert_eq!(
        j["total"]["estimated_disk_bytes"], j["disk_bytes"],
        "the total shares out all of it"
    );
    assert_eq!(
        json_without_disk(j),
        json!({
            "backend": "embedded",
            "prefix": [],
            "depth": 2,
            "namespaces": [
                line(json!(["a", "b"]), 2, 3, 18, 0, 0, 0),
                line(json!(["f"]), 1, 1, 7, 1, 2, 4),
                line(json!(["a", "e"]), 1, 1, 4, 0, 0, 0),
            ],
            "more": 0,
            "total": total,
            "last_lsn": 6,
        })
    );
    // With --json every line is listed unless --top says otherwise (the default cut is
    // for people): 25 namespaces, all 25 there.
    for i in 0..25 {
        run(&data, &["put", &format!("g{i:02}"), "k", "1"]).ok();
    }
    let j = run(&data, &["--json", "stats"]).ok().json();
    assert_eq!(j["namespaces"].as_array().unwrap().len(), 27);
    assert_eq!(j["more"], 0);
    let people = run(&data, &["stats"]).ok().out();
    assert!(
        people.contains("\n... and 7 more namespaces (--top 0 for all)\n"),
        "{people}"
    );
    let j = run(&data, &["--json", "stats", "--top", "2"]).ok().json();
    let names: Vec<&Json> = j["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| &l["ns"])
        .collect();
    assert_eq!(names, [&json!(["a"]), &json!(["f"])]);
    assert_eq!(j["more"], 25);
    assert_eq!(j["total"]["namespace_count"], 29);
}

#[test]
fn stats_refuses_a_bad_depth() {
    let dir = small_store();
    let data = dir.path().join("data");
    run(&data, &["stats", "--depth=-1"]).fails(2, "--depth");
    run(&data, &["stats", "--depth", "x"]).fails(2, "--depth");
    run(&data, &["stats", "--top", "x"]).fails(2, "--top");
}

#[test]
fn stats_show_what_compression_saves_and_compact_rewrites_raw_values() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let value = |i: u32| {
        let turns: Vec<Json> = (0..12)
            .map(|t| json!({"role": if t % 2 == 0 { "user" } else { "bot" }, "text": format!("turn {t} of conversation {i}: how can I help you today?")}))
            .collect();
        json!({"conversation": i, "turns": turns}).to_string()
    };
    for i in 0..30 {
        run(
            &data,
            &[
                "--compression",
                "off",
                "put",
                "t/u",
                &format!("k{i}"),
                &value(i),
            ],
        )
        .ok();
    }
    let ratio = |j: &Json| j["total"]["stored_ratio"].as_f64().unwrap();
    let j = run(&data, &["--json", "stats"]).ok().json();
    assert!(ratio(&j) > 1.0, "raw values: {j}");
    let c = run(&data, &["--json", "compact"]).ok().json();
    assert_eq!(c["resealed_values"], 30, "{c}");
    let j = run(&data, &["--json", "stats"]).ok().json();
    assert!(ratio(&j) < 0.5, "compressed: {j}");
    for i in 0..30 {
        let got = run(&data, &["get", "t/u", &format!("k{i}")]).ok().out();
        let want: Json = serde_json::from_str(&value(i)).unwrap();
        assert_eq!(serde_json::from_str::<Json>(got.trim()).unwrap(), want);
    }
    run(&data, &["--compression", "level=99", "stats"]).fails(2, "compression level");
}
