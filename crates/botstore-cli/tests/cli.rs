//! Drives the real `botstore` binary: every command, every exit code, stdin input, --json
//! output, import errors and the export -> import -> export round trip.

// Test code: helpers outside #[test] fns unwrap too; a panic is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Run;
use serde_json::{json, Value as Json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A data folder in a temporary directory, and a way to run `botstore` on it.
struct Bs {
    dir: tempfile::TempDir,
}

fn run_in(data: &Path, args: &[&str], stdin: Option<&[u8]>) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_botstore"));
    cmd.env_remove("BOTSTORE_DATA")
        .arg("--data")
        .arg(data)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
    let mut child = cmd.spawn().expect("start botstore");
    if let Some(input) = stdin {
        let mut w = child.stdin.take().expect("stdin");
        let input = input.to_vec();
        // Write from a thread so a large input cannot deadlock against a full stdout pipe.
        std::thread::spawn(move || {
            let _ = w.write_all(&input);
        });
    }
    finish(child.wait_with_output().expect("wait for botstore"))
}

fn finish(o: Output) -> Run {
    Run {
        code: o.status.code().expect("exit code (not a signal)"),
        stdout: o.stdout,
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

impl Bs {
    fn new() -> Self {
        Bs {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }
    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }
    fn run(&self, args: &[&str]) -> Run {
        run_in(&self.data(), args, None)
    }
    fn run_stdin(&self, args: &[&str], stdin: &[u8]) -> Run {
        run_in(&self.data(), args, Some(stdin))
    }
    fn file(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).expect("write file");
        p
    }
    /// `--json get`, or None when the item is missing (exit code 1).
    fn get(&self, ns: &str, key: &str) -> Option<Json> {
        let r = self.run(&["--json", "get", ns, key]);
        match r.code {
            0 => Some(r.json()),
            1 => None,
            c => panic!("get exited {c}: {}", r.stderr),
        }
    }
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

// ------------------------------------------------------------------ items

#[test]
fn put_then_get_prints_the_value_and_json_metadata() {
    let bs = Bs::new();
    let v = bs
        .run(&[
            "put",
            "t/users/u1",
            "profile",
            r#"{"name": "Ada", "n": 12345678901234567890}"#,
        ])
        .ok();
    let version: u64 = v.out().trim().parse().expect("put prints the version");

    let got = bs.run(&["get", "t/users/u1", "profile"]).ok();
    // Printed as stored: big numbers and spacing are not re-encoded.
    assert_eq!(
        got.out(),
        "{\"name\": \"Ada\", \"n\": 12345678901234567890}\n"
    );

    let j = bs
        .run(&["--json", "get", "t/users/u1", "profile"])
        .ok()
        .json();
    assert_eq!(j["ns"], json!(["t", "users", "u1"]));
    assert_eq!(j["key"], "profile");
    assert_eq!(j["value"]["name"], "Ada");
    assert_eq!(j["version"], version);
    assert_eq!(j["content_type"], "application/json");
    assert!(j["created_at"].as_i64().expect("created_at") > 1_600_000_000_000);
    assert_eq!(j["created_at"], j["updated_at"]);
    assert_eq!(j["expires_at"], Json::Null);
    assert_eq!(j["subject"], Json::Null);

    // A second put gets a higher version and keeps created_at.
    let j2 = bs
        .run(&["--json", "put", "t/users/u1", "profile", "[]"])
        .ok()
        .json();
    assert!(j2["version"].as_u64().expect("version") > version);
    let after = bs.get("t/users/u1", "profile").expect("item");
    assert_eq!(after["value"], json!([]));
    assert_eq!(after["created_at"], j["created_at"]);
}

#[test]
fn put_reads_the_value_from_stdin() {
    let bs = Bs::new();
    bs.run_stdin(&["put", "a", "k"], b"\n  {\"from\": \"stdin\"}\n\n")
        .ok();
    assert_eq!(
        bs.get("a", "k").expect("item")["value"],
        json!({"from": "stdin"})
    );
}

#[test]
fn bytes_values_print_raw_and_go_base64_in_json() {
    let bs = Bs::new();
    let data: Vec<u8> = vec![0, 1, 2, 255, 254, b'\n', b'x'];
    bs.run_stdin(
        &["put", "a", "blob", "--bytes", "--content-type", "image/png"],
        &data,
    )
    .ok();
    let raw = bs.run(&["get", "a", "blob"]).ok();
    assert_eq!(raw.stdout, data, "non-JSON values print as raw bytes");
    let j = bs.get("a", "blob").expect("item");
    assert_eq!(j["content_type"], "image/png");
    assert_eq!(j["value_b64"], "AAEC//4KeA==");
    assert!(j.get("value").is_none());

    // From the argument, with the default content type.
    bs.run(&["put", "a", "text", "--bytes", "not json"]).ok();
    assert_eq!(bs.run(&["get", "a", "text"]).ok().out(), "not json");
    assert_eq!(
        bs.get("a", "text").expect("item")["content_type"],
        "application/octet-stream"
    );
}

#[test]
fn put_with_ttl_and_subject() {
    let bs = Bs::new();
    bs.run(&["put", "a", "k", "1", "--ttl", "1h", "--subject", "user-7"])
        .ok();
    let j = bs.get("a", "k").expect("item");
    assert_eq!(j["subject"], "user-7");
    let ttl = j["expires_at"].as_i64().expect("expires_at") - j["updated_at"].as_i64().expect("t");
    assert_eq!(ttl, 3_600_000);
}

#[test]
fn preconditions_fail_with_exit_code_3() {
    let bs = Bs::new();
    let v1 = bs.run(&["put", "a", "k", "1"]).ok().out().trim().to_owned();
    let v2 = bs
        .run(&["put", "a", "k", "2", "--if-version", &v1])
        .ok()
        .out()
        .trim()
        .to_owned();
    // The stale version again: refused, nothing written.
    bs.run(&["put", "a", "k", "3", "--if-version", &v1])
        .fails(3, &format!("precondition failed: current version is {v2}"));
    bs.run(&["put", "a", "k", "4", "--if-absent"])
        .fails(3, "precondition failed");
    bs.run(&["del", "a", "k", "--if-version", &v1])
        .fails(3, "precondition failed");
    assert_eq!(bs.get("a", "k").expect("item")["value"], json!(2));
    // --if-absent on a new key, --if-version with the ETag form.
    bs.run(&["put", "a", "new", "5", "--if-absent"]).ok();
    bs.run(&["del", "a", "k", "--if-version", &format!("\"{v2}\"")])
        .ok();
    assert!(bs.get("a", "k").is_none());
    // Both preconditions at once is a usage error.
    bs.run(&["put", "a", "k", "1", "--if-absent", "--if-version", "1"])
        .fails(2, "cannot be used with");
}

#[test]
fn del_removes_and_reports_missing_items() {
    let bs = Bs::new();
    bs.run(&["put", "a", "k", "1"]).ok();
    assert_eq!(bs.run(&["del", "a", "k"]).ok().out(), "deleted\n");
    assert!(bs.get("a", "k").is_none());
    bs.run(&["del", "a", "k"]).fails(1, "not found: item a/k");
    let j = bs.run(&["--json", "put", "a", "k", "1"]).ok().json();
    assert!(j["version"].is_u64());
    let d = bs.run(&["--json", "del", "a", "k"]).ok().json();
    assert_eq!(d["deleted"], true);
}

#[test]
fn not_found_is_exit_code_1() {
    let bs = Bs::new();
    bs.run(&["get", "a", "missing"])
        .fails(1, "not found: item a/missing");
    bs.run(&["stream", "read", "a", "nope"])
        .fails(1, "not found: stream a/nope");
    bs.run(&["stream", "trim", "a", "nope", "--keep-last", "1"])
        .fails(1, "not found");
    // --json errors are JSON on stderr.
    let r = bs
        .run(&["--json", "get", "a", "missing"])
        .fails(1, "not_found");
    let e: Json = serde_json::from_str(r.stderr.trim()).expect("JSON error");
    assert_eq!(e["exit_code"], 1);
    assert_eq!(e["kind"], "not_found");
    assert_eq!(e["error"], "not found: item a/missing");
}

#[test]
fn bad_input_is_exit_code_2_and_names_the_rule() {
    let bs = Bs::new();
    bs.run(&["put", "a", "k", "{not json"])
        .fails(2, "value.json");
    bs.run(&["put", "a//b", "k", "1"]).fails(2, "segment.empty");
    bs.run(&["put", "a", "bad\u{1}key", "1"])
        .fails(2, "key.characters");
    bs.run(&["put", "", "k", "1"]).fails(2, "namespace.empty");
    bs.run(&["put", "a", "k", "1", "--subject", ""])
        .fails(2, "subject.length");
    bs.run(&["ls", "a", "--limit", "0"]).fails(2, "(limit)");
    bs.run(&["ls", "a", "--cursor", "@@@"]).fails(2, "(cursor)");
    bs.run(&["ls", "a", "--recursive", "--prefix", "x"])
        .fails(2, "(range)");
    // Usage errors (clap) exit 2 too.
    bs.run(&["put", "a", "k", "1", "--ttl", "soon"])
        .fails(2, "ttl");
    bs.run(&["--durability", "sometimes", "get", "a", "k"])
        .fails(2, "durability");
    bs.run(&["frobnicate"]).fails(2, "unrecognized subcommand");
    bs.run(&["get", "a"]).fails(2, "required");
    bs.run(&["stream", "trim", "a", "s"]).fails(2, "required");
    bs.run(&["put", "a", "k", "1", "--content-type", "text/plain"])
        .fails(2, "--bytes");
    // Nothing was written by any of them.
    assert!(bs.get("a", "k").is_none());
}

#[test]
fn other_errors_are_exit_code_4() {
    let bs = Bs::new();
    let file = bs.file("not-a-folder", "x");
    let r = run_in(&file, &["get", "a", "k"], None);
    r.fails(4, "cannot create data folder");
}

#[test]
fn data_folder_comes_from_botstore_data_and_durability_relaxed_works() {
    let bs = Bs::new();
    let o = Command::new(env!("CARGO_BIN_EXE_botstore"))
        .env("BOTSTORE_DATA", bs.data())
        .args(["--durability", "relaxed:5ms", "put", "env", "k", "\"v\""])
        .stdin(Stdio::null())
        .output()
        .expect("run");
    finish(o).ok();
    assert!(bs.data().join("store.redb").exists());
    assert_eq!(bs.get("env", "k").expect("item")["value"], "v");
}

#[test]
fn help_documents_exit_codes() {
    let o = Command::new(env!("CARGO_BIN_EXE_botstore"))
        .arg("--help")
        .output()
        .expect("run");
    let r = finish(o).ok();
    let text = r.out();
    for line in [
        "0  ok",
        "1  not found",
        "2  bad input",
        "3  precondition failed",
        "4  any other error",
    ] {
        assert!(text.contains(line), "help lacks {line:?}:\n{text}");
    }
    for listed in [
        "bench",
        "serve",
        "token",
        "--remote",
        "--token",
        "cannot reach server",
    ] {
        assert!(text.contains(listed), "help lacks {listed:?}:\n{text}");
    }
}

// ------------------------------------------------------------------ listing

#[test]
fn ls_pages_with_cursors_and_filters() {
    let bs = Bs::new();
    for k in ["a1", "a2", "b1", "b2", "c1"] {
        bs.run(&["put", "t/x", k, &format!("\"{k}\"")]).ok();
    }
    bs.run(&["put", "t/x/deeper", "z", "{\"line\":\n1}"]).ok();

    // Human output: key, version, value per line; the cursor on stderr.
    let p1 = bs.run(&["ls", "t/x", "--limit", "2"]).ok();
    let lines: Vec<String> = p1.out().lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 2);
    let cols: Vec<&str> = lines[0].split('\t').collect();
    assert_eq!(cols[0], "a1");
    assert!(cols[1].parse::<u64>().is_ok());
    assert_eq!(cols[2], "\"a1\"");
    let cursor = p1
        .stderr
        .trim()
        .strip_prefix("next cursor: ")
        .expect("cursor on stderr")
        .to_owned();
    let p2 = bs
        .run(&["ls", "t/x", "--limit", "2", "--cursor", &cursor])
        .ok();
    assert!(p2.out().starts_with("b1\t"));

    // --json: all pages through the JSON cursor.
    let mut keys = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut args = vec!["--json", "ls", "t/x", "--limit", "2"];
        if let Some(c) = &cursor {
            args.extend(["--cursor", c]);
        }
        let j = bs.run(&args).ok().json();
        for i in j["items"].as_array().expect("items") {
            keys.push(i["key"].as_str().expect("key").to_owned());
        }
        match j["cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(keys, ["a1", "a2", "b1", "b2", "c1"]);

    let keys_of = |args: &[&str]| -> Vec<String> {
        let mut a = vec!["--json", "ls", "t/x"];
        a.extend(args);
        bs.run(&a).ok().json()["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|i| i["key"].as_str().expect("key").to_owned())
            .collect()
    };
    assert_eq!(keys_of(&["--prefix", "b"]), ["b1", "b2"]);
    assert_eq!(
        keys_of(&["--start", "a2", "--end", "c1"]),
        ["a2", "b1", "b2"]
    );
    assert_eq!(
        keys_of(&["--recursive"]),
        ["a1", "a2", "b1", "b2", "c1", "z"]
    );

    // Recursive human output names the namespace; values stay on one line.
    let r = bs.run(&["ls", "t", "-r"]).ok().out();
    assert!(r.contains("t/x/deeper\tz\t"), "{r}");
    assert!(r.lines().any(|l| l.ends_with("{\"line\": 1}")), "{r}");
}

#[test]
fn ns_lists_namespaces_by_prefix_and_depth() {
    let bs = Bs::new();
    for ns in [
        "t1/users/u1",
        "t1/users/u2",
        "t1/sessions/s1",
        "t2/users/u9",
    ] {
        bs.run(&["put", ns, "k", "1"]).ok();
    }
    bs.run(&["stream", "append", "t3/chats", "c", "1"]).ok();
    assert_eq!(
        bs.run(&["ns"]).ok().out(),
        "t1/sessions/s1\nt1/users/u1\nt1/users/u2\nt2/users/u9\nt3/chats\n"
    );
    assert_eq!(bs.run(&["ns", "--depth", "1"]).ok().out(), "t1\nt2\nt3\n");
    assert_eq!(
        bs.run(&["ns", "t1", "--depth", "1"]).ok().out(),
        "t1/sessions\nt1/users\n"
    );
    let p = bs.run(&["--json", "ns", "t1", "--limit", "2"]).ok().json();
    assert_eq!(
        p["namespaces"],
        json!([["t1", "sessions", "s1"], ["t1", "users", "u1"]])
    );
    let c = p["cursor"].as_str().expect("cursor");
    let p2 = bs.run(&["--json", "ns", "t1", "--cursor", c]).ok().json();
    assert_eq!(p2["namespaces"], json!([["t1", "users", "u2"]]));
    assert_eq!(p2["cursor"], Json::Null);
}

// ------------------------------------------------------------------ streams

fn read_values(bs: &Bs, args: &[&str]) -> Vec<Json> {
    let mut a = vec!["--json", "stream", "read"];
    a.extend(args);
    bs.run(&a).ok().json()["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["value"].clone())
        .collect()
}

#[test]
fn streams_append_read_and_trim() {
    let bs = Bs::new();
    assert_eq!(
        bs.run(&["stream", "append", "c/1", "chat", "{\"m\":1}", "{\"m\":2}"])
            .ok()
            .out(),
        "appended 1..2\n"
    );
    // One value per stdin line, blank lines skipped.
    let j = bs
        .run_stdin(
            &[
                "--json",
                "stream",
                "append",
                "c/1",
                "chat",
                "--expect-last",
                "2",
            ],
            b"{\"m\":3}\n\n{\"m\":4}\n{\"m\":5}",
        )
        .ok()
        .json();
    assert_eq!(j, json!({"first_seq": 3, "last_seq": 5}));
    bs.run(&["stream", "append", "c/1", "chat", "--expect-last", "2", "6"])
        .fails(3, "expected last sequence 2, stream's last is 5");
    bs.run(&["stream", "append", "c/1", "chat", "nope"])
        .fails(2, "value.json");

    let all: Vec<Json> = (1..=5).map(|m| json!({ "m": m })).collect();
    assert_eq!(read_values(&bs, &["c/1", "chat"]), all);
    assert_eq!(
        read_values(&bs, &["c/1", "chat", "--backward", "--limit", "2"]),
        [json!({"m": 5}), json!({"m": 4})]
    );
    assert_eq!(
        read_values(&bs, &["c/1", "chat", "--from", "4"]),
        [json!({"m": 4}), json!({"m": 5})]
    );
    let page = bs
        .run(&["--json", "stream", "read", "c/1", "chat", "--limit", "2"])
        .ok()
        .json();
    assert_eq!(page["next_from"], 3);
    assert_eq!(page["entries"][0]["seq"], 1);
    assert!(page["entries"][0]["at"].as_i64().expect("at") > 1_600_000_000_000);

    // Human output: seq, time, value.
    let human = bs
        .run(&["stream", "read", "c/1", "chat", "--limit", "1"])
        .ok();
    let text = human.out();
    let cols: Vec<&str> = text.trim_end().split('\t').collect();
    assert_eq!(cols[0], "1");
    assert!(cols[1].ends_with('Z'));
    assert_eq!(cols[2], "{\"m\":1}");
    assert!(human.stderr.contains("next: --from 2"));

    assert_eq!(
        bs.run(&["stream", "trim", "c/1", "chat", "--before", "2"])
            .ok()
            .out(),
        "removed 1\n"
    );
    let j = bs
        .run(&[
            "--json",
            "stream",
            "trim",
            "c/1",
            "chat",
            "--keep-last",
            "2",
        ])
        .ok()
        .json();
    assert_eq!(j["removed"], 2);
    assert_eq!(
        read_values(&bs, &["c/1", "chat"]),
        [json!({"m": 4}), json!({"m": 5})]
    );
    // Nothing is older than an hour; after a short sleep, everything is older than 1 ms.
    assert_eq!(
        bs.run(&["stream", "trim", "c/1", "chat", "--older-than", "1h"])
            .ok()
            .out(),
        "removed 0\n"
    );
    std::thread::sleep(std::time::Duration::from_millis(5));
    assert_eq!(
        bs.run(&["stream", "trim", "c/1", "chat", "--older-than", "1ms"])
            .ok()
            .out(),
        "removed 2\n"
    );
    assert!(read_values(&bs, &["c/1", "chat"]).is_empty());
    bs.run(&[
        "stream",
        "trim",
        "c/1",
        "chat",
        "--keep-last",
        "1",
        "--before",
        "3",
    ])
    .fails(2, "cannot be used with");
}

// ------------------------------------------------------------------ changes, stats

#[test]
fn changes_follow_commit_order() {
    let bs = Bs::new();
    bs.run(&["put", "a", "k", "{\"v\":1}"]).ok();
    bs.run(&["stream", "append", "a", "s", "1", "2"]).ok();
    bs.run(&["del", "a", "k"]).ok();

    let j = bs.run(&["--json", "changes"]).ok().json();
    let list = j["changes"].as_array().expect("changes");
    let kinds: Vec<&str> = list
        .iter()
        .map(|c| c["kind"].as_str().expect("kind"))
        .collect();
    assert_eq!(kinds, ["put", "append", "delete"]);
    assert_eq!(list[0]["lsn"], 1);
    assert_eq!(list[0]["item"]["value"], json!({"v": 1}));
    assert_eq!(list[1]["entries"][1]["value"], 2);
    assert_eq!(list[2]["key"], "k");
    assert_eq!(j["next_since"], 3);

    let j = bs
        .run(&["--json", "changes", "--since", "1", "--limit", "1"])
        .ok()
        .json();
    assert_eq!(j["changes"][0]["lsn"], 2);
    assert_eq!(j["next_since"], 2);

    let human = bs.run(&["changes", "--limit", "2"]).ok();
    let text = human.out();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2);
    assert!(
        lines[0].starts_with("1\t") && lines[0].contains("\tput\ta/k\t"),
        "{}",
        lines[0]
    );
    assert!(lines[1].contains("\tappend\ta/s\t1..2"), "{}", lines[1]);
    assert!(human.stderr.contains("next: --since 2"));
}

#[test]
fn stats_count_items_bytes_and_disk() {
    let bs = Bs::new();
    bs.run(&["put", "t/a", "k1", "\"12345678\""]).ok(); // 10 bytes
    bs.run(&["put", "t/a", "k2", "[1,2]"]).ok(); // 5 bytes
    bs.run(&["put", "u", "k", "1"]).ok();
    bs.run(&["stream", "append", "t/s", "chat", "11", "22"])
        .ok();

    // --depth 0: every namespace on its own line, biggest first (t/a 15 B, t/s 4 B, u 1 B).
    let j = bs.run(&["--json", "stats", "--depth", "0"]).ok().json();
    let ns = j["namespaces"].as_array().expect("namespaces");
    assert_eq!(ns.len(), 3);
    assert_eq!(ns[0]["ns"], json!(["t", "a"]));
    assert_eq!(ns[0]["items"], 2);
    assert_eq!(ns[0]["item_bytes"], 15);
    assert_eq!(ns[1]["stream_entries"], 2);
    assert_eq!(ns[1]["stream_bytes"], 4);
    assert_eq!(j["total"]["items"], 3);
    assert!(j["disk_bytes"].as_u64().expect("disk bytes") > 0);
    assert_eq!(j["last_lsn"], 4);

    // The per-namespace disk figure is the store's disk bytes shared out by logical bytes
    // (15 + 4 + 1 = 20 logical bytes in all), also when only a prefix is shown.
    let disk = j["disk_bytes"].as_u64().expect("disk");
    assert_eq!(ns[0]["estimated_disk_bytes"], disk * 15 / 20);
    assert_eq!(j["total"]["estimated_disk_bytes"], disk);
    let only_t = bs.run(&["--json", "stats", "t"]).ok().json();
    assert_eq!(only_t["total"]["items"], 2);
    let disk = only_t["disk_bytes"].as_u64().expect("disk");
    assert_eq!(
        only_t["namespaces"][0]["estimated_disk_bytes"],
        disk * 15 / 20
    );
    assert_eq!(only_t["total"]["estimated_disk_bytes"], disk * 19 / 20);

    // By default the top-level namespaces, rolled up: t (t/a and t/s) and u.
    let table = bs.run(&["stats"]).ok().out();
    let header = table.lines().next().expect("header");
    assert!(
        header.starts_with("NAMESPACE") && header.contains("ITEMS"),
        "{table}"
    );
    let row = table.lines().find(|l| l.starts_with("t ")).expect("t row");
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[..5], ["t", "2", "2", "15", "B"]);
    assert!(table.lines().any(|l| l.starts_with("TOTAL")));
    assert!(table.contains("on disk:"));
}

#[test]
fn compact_reports_disk_bytes() {
    let bs = Bs::new();
    for i in 0..20 {
        bs.run_stdin(
            &["put", "a", &format!("k{i}")],
            format!("\"{}\"", "x".repeat(10_000)).as_bytes(),
        )
        .ok();
    }
    for i in 0..20 {
        bs.run(&["del", "a", &format!("k{i}")]).ok();
    }
    let j = bs.run(&["--json", "compact"]).ok().json();
    assert!(j["disk_bytes_before"].as_u64().expect("before") > 0);
    assert!(j["disk_bytes_after"].as_u64().expect("after") > 0);
    assert_eq!(j["expired_items_removed"], 0);
    assert!(bs.run(&["compact"]).ok().out().contains("compacted: "));
}

#[test]
fn compact_sweeps_expired_items_and_applies_change_retention() {
    let bs = Bs::new();
    bs.run(&["put", "s", "gone", "--ttl", "1s", "1"]).ok();
    bs.run(&["put", "s", "kept", "2"]).ok();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    // Invisible at once, physically removed by the upkeep that compact runs; with a 1 s
    // retention the two puts' change records go too (the expiry's own record stays).
    let j = bs
        .run(&["--json", "--changes-retention", "1s", "compact"])
        .ok()
        .json();
    assert_eq!(j["expired_items_removed"], 1);
    assert_eq!(j["changes_forgotten"], 2);
    let stats = bs.run(&["--json", "stats"]).ok().json();
    assert_eq!(stats["namespaces"][0]["items"], 1, "{stats}");
}

// ------------------------------------------------------------------ import / export

fn item_line(i: usize) -> String {
    format!(
        "{{\"ns\":[\"imp\",\"n{}\"],\"key\":\"k{i:05}\",\"value\":{{\"i\":{i}}}}}\n",
        i % 3
    )
}

#[test]
fn import_stops_at_a_bad_line_keeping_earlier_batches() {
    let bs = Bs::new();
    // Batches hold 1000 records: lines 1-1000, 1001-2000, then the one with line 2600.
    let mut text = String::new();
    for i in 1..=2599 {
        text.push_str(&item_line(i));
    }
    text.push_str("{\"ns\":[\"imp\"],\"key\":\"bad\"\n"); // line 2600: broken JSON
    for i in 2601..=2700 {
        text.push_str(&item_line(i));
    }
    let f = bs.file("in.jsonl", &text);
    let r = bs.run(&["import", s(&f)]);
    let r = r.fails(2, "line 2600: ");
    assert!(
        r.stderr.contains("lines 1-2000 were imported"),
        "{}",
        r.stderr
    );

    assert!(bs.get("imp/n1", "k00001").is_some());
    assert!(bs.get("imp/n2", "k02000").is_some());
    assert!(
        bs.get("imp/n0", "k02001").is_none(),
        "the failing batch is absent"
    );
    assert!(bs.get("imp/n2", "k02599").is_none());
    assert!(bs.get("imp/n2", "k02601").is_none());
    let st = bs.run(&["--json", "stats", "imp"]).ok().json();
    assert_eq!(st["total"]["items"], 2000);
}

#[test]
fn import_reports_rule_violations_and_bad_records_by_line() {
    let bs = Bs::new();
    let cases: &[(&str, &str)] = &[
        (
            "{\"ns\":[\"a\"],\"key\":\"\",\"value\":1}",
            "line 3: invalid input (key.empty)",
        ),
        (
            "{\"ns\":[\"a\",\"\"],\"key\":\"k\",\"value\":1}",
            "line 3: invalid input (segment.empty)",
        ),
        (
            "{\"ns\":[\"a\"],\"key\":\"k\"}",
            "line 3: missing \"value\"",
        ),
        (
            "{\"ns\":[\"a\"],\"key\":\"k\",\"value\":1,\"colour\":2}",
            "line 3: not a record: unknown field `colour`",
        ),
        ("[1,2]", "line 3: not a record"),
        (
            "{\"ns\":[\"a\"],\"stream\":\"s\",\"entry\":1,\"ttl_s\":-1}",
            "line 3: a stream entry has no",
        ),
    ];
    for (bad, want) in cases {
        // A blank line still counts as a line.
        let text = format!("{}\n{}{bad}\n{}", "", item_line(1), item_line(2));
        let r = bs.run_stdin(&["import", "-"], text.as_bytes());
        let r = r.fails(2, want);
        assert!(r.stderr.contains("nothing was imported"), "{}", r.stderr);
        assert!(bs.get("imp/n1", "k00001").is_none());
    }
}

#[test]
fn import_from_stdin_batches_and_keeps_stream_order() {
    let bs = Bs::new();
    let mut text = String::new();
    // 2500 entries of one stream cross batch boundaries; another stream in between.
    for i in 0..2500 {
        text.push_str(&format!(
            "{{\"ns\":[\"c\"],\"stream\":\"s\",\"entry\":{i}}}\n"
        ));
        if i == 1200 {
            text.push_str("{\"ns\":[\"c\"],\"stream\":\"other\",\"entry\":\"x\"}\n");
        }
    }
    text.push_str("{\"ns\":[\"c\"],\"key\":\"k\",\"value\":null}\n");
    let j = bs
        .run_stdin(&["--json", "import", "-"], text.as_bytes())
        .ok()
        .json();
    assert_eq!(j["entries"], 2501);
    assert_eq!(j["items"], 1);
    assert_eq!(j["lines"], 2502);
    assert!(j["batches"].as_u64().expect("batches") >= 3);
    let first = read_values(&bs, &["c", "s", "--limit", "10000"]);
    assert_eq!(first, (0..2500).map(|i| json!(i)).collect::<Vec<_>>());
    assert_eq!(read_values(&bs, &["c", "other"]), [json!("x")]);
    assert_eq!(bs.get("c", "k").expect("item")["value"], Json::Null);
    // Human summary.
    let r = bs
        .run_stdin(&["import", "-"], item_line(7).as_bytes())
        .ok()
        .out();
    assert!(
        r.starts_with("imported 1 items and 0 stream entries from 1 lines"),
        "{r}"
    );
}

/// Parse an export into records, with `ttl_s` taken out (it counts down between exports).
fn records(export: &[u8]) -> (Vec<Json>, Vec<Option<u64>>) {
    let text = std::str::from_utf8(export).expect("utf-8 export");
    let mut recs = Vec::new();
    let mut ttls = Vec::new();
    for line in text.lines() {
        let mut j: Json = serde_json::from_str(line).expect("each line is JSON");
        let ttl = j.as_object_mut().expect("object").remove("ttl_s");
        ttls.push(ttl.map(|t| t.as_u64().expect("ttl_s is an integer")));
        recs.push(j);
    }
    (recs, ttls)
}

#[test]
fn export_import_export_round_trips() {
    let src = Bs::new();
    src.run(&[
        "put",
        "t/users/u1",
        "profile",
        "{\n  \"name\": \"Ada\",\n  \"tags\": [\"a\\nb\", \"é\"]\n}",
    ])
    .ok();
    src.run(&[
        "put",
        "t/users/u1",
        "weird key \"q\" / é",
        "12345678901234567890",
    ])
    .ok();
    src.run(&[
        "put",
        "t/users/u2",
        "session",
        "{\"s\":1}",
        "--ttl",
        "2h",
        "--subject",
        "u2",
    ])
    .ok();
    src.run(&["put", "t/users/u2", "pinned", "true", "--subject", "u2"])
        .ok();
    src.run_stdin(
        &[
            "put",
            "t/blobs",
            "img",
            "--bytes",
            "--content-type",
            "image/png",
        ],
        &[0, 1, 2, 250],
    )
    .ok();
    src.run(&["put", "u", "gone", "1", "--ttl", "1ms"]).ok();
    src.run(&[
        "stream",
        "append",
        "t/chats/c1",
        "transcript",
        "{\"from\":\"user\",\"text\":\"hi\"}",
        "{\"from\":\"bot\",\"text\":\"hello\"}",
        "3",
    ])
    .ok();
    src.run(&["stream", "append", "t/chats/c1", "events", "\"opened\""])
        .ok();
    src.run(&[
        "stream",
        "append",
        "t/chats/c2",
        "transcript",
        "1",
        "2",
        "3",
        "4",
    ])
    .ok();
    src.run(&[
        "stream",
        "trim",
        "t/chats/c2",
        "transcript",
        "--keep-last",
        "2",
    ])
    .ok();
    std::thread::sleep(std::time::Duration::from_millis(5));

    let e1 = src.run(&["export"]).ok();
    let (r1, t1) = records(&e1.stdout);
    // 5 live items (the 1 ms one expired), 3 + 1 + 2 stream entries.
    assert_eq!(r1.iter().filter(|r| r.get("key").is_some()).count(), 5);
    assert_eq!(r1.iter().filter(|r| r.get("stream").is_some()).count(), 6);
    assert!(r1.iter().all(|r| r["ns"].is_array()));
    let blob = r1.iter().find(|r| r["key"] == "img").expect("blob record");
    assert_eq!(blob["content_type"], "image/png");
    assert_eq!(blob["value_b64"], "AAEC+g==");
    let session_ttl = t1[r1
        .iter()
        .position(|r| r["key"] == "session")
        .expect("session")];
    assert!(
        matches!(session_ttl, Some(t) if (7190..=7200).contains(&t)),
        "{session_ttl:?}"
    );
    assert!(
        r1.iter()
            .filter(|r| r["key"] != "session")
            .all(|r| r.get("ttl_s").is_none()),
        "only the TTL item has ttl_s"
    );
    let c2: Vec<&Json> = r1
        .iter()
        .filter(|r| r["ns"] == json!(["t", "chats", "c2"]))
        .map(|r| &r["entry"])
        .collect();
    assert_eq!(c2, [&json!(3), &json!(4)]);

    let dst = Bs::new();
    let f = dst.file("e1.jsonl", std::str::from_utf8(&e1.stdout).expect("utf-8"));
    dst.run(&["import", s(&f)]).ok();
    let e2 = dst.run(&["export"]).ok();
    let (r2, t2) = records(&e2.stdout);
    assert_eq!(r1, r2, "the same records in the same order");
    for (a, b) in t1.iter().zip(&t2) {
        match (a, b) {
            (None, None) => {}
            (Some(a), Some(b)) => assert!(a.abs_diff(*b) <= 2, "ttl_s {a} vs {b}"),
            _ => panic!("ttl_s present in one export only: {a:?} {b:?}"),
        }
    }

    // The imported store holds the same values, subjects and stream order.
    for (ns, key) in [
        ("t/users/u1", "profile"),
        ("t/users/u1", "weird key \"q\" / é"),
        ("t/users/u2", "session"),
        ("t/users/u2", "pinned"),
        ("t/blobs", "img"),
    ] {
        let a = src.get(ns, key).expect("source item");
        let b = dst.get(ns, key).expect("imported item");
        for field in ["value", "value_b64", "content_type", "subject"] {
            assert_eq!(a.get(field), b.get(field), "{ns}/{key} {field}");
        }
    }
    assert_eq!(
        src.run(&["get", "t/users/u1", "weird key \"q\" / é"])
            .ok()
            .out(),
        "12345678901234567890\n"
    );
    assert_eq!(
        dst.run(&["get", "t/users/u1", "weird key \"q\" / é"])
            .ok()
            .out(),
        "12345678901234567890\n",
        "numbers are carried as text, not re-encoded"
    );
    assert_eq!(
        read_values(&src, &["t/chats/c1", "transcript"]),
        read_values(&dst, &["t/chats/c1", "transcript"])
    );

    // --ns limits the export to a prefix.
    let part = src.run(&["export", "--ns", "t/chats"]).ok();
    let (rp, _) = records(&part.stdout);
    assert_eq!(rp.len(), 6);
    assert!(rp.iter().all(|r| r["ns"][1] == "chats"));
}

#[test]
fn export_of_an_empty_store_is_empty() {
    let bs = Bs::new();
    assert!(bs.run(&["export"]).ok().stdout.is_empty());
    let j = bs.run_stdin(&["--json", "import", "-"], b"").ok().json();
    assert_eq!(j["items"], 0);
}

#[test]
fn bench_prints_one_json_object_per_workload_with_the_baseline_ratio() {
    let bs = Bs::new();
    let out = bs
        .run(&[
            "--json",
            "bench",
            "-w",
            "put,get",
            "--baseline",
            "redb",
            "-d",
            "200ms",
        ])
        .ok()
        .out();
    let rows: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    let names: Vec<&str> = rows.iter().filter_map(|r| r["workload"].as_str()).collect();
    assert!(
        names.contains(&"fsync-anchor") && names.contains(&"put") && names.contains(&"get"),
        "{names:?}"
    );
    for r in rows.iter().filter(|r| r["workload"] != "fsync-anchor") {
        for f in [
            "ops_per_sec",
            "p50_us",
            "p99_us",
            "p999_us",
            "baseline_ops_per_sec",
            "ratio",
        ] {
            assert!(r[f].as_f64().is_some_and(|x| x > 0.0), "{f} in {r}");
        }
    }
    // The benchmark never touches the --data store.
    assert!(bs.run(&["ns"]).ok().out().is_empty());
}
