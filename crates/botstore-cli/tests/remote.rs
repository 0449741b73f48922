//! `--remote`, `serve` and `token` with the real binary: a `botstore serve` on a loopback
//! port, and the same commands run against it and against a local data folder, which
//! must print the same and exit the same. Also tokens, refusals, an unreachable server,
//! the serve configuration's precedence, TLS, and import/export through the server.

// Test code: helpers outside #[test] fns unwrap too; a panic is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Run;
use serde_json::{json, Value as Json};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

// ------------------------------------------------------------------ running botstore

/// `botstore` with none of its environment variables set (the caller's could leak in).
fn botstore() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_botstore"));
    for v in [
        "BOTSTORE_DATA",
        "BOTSTORE_REMOTE",
        "BOTSTORE_TOKEN",
        "BOTSTORE_CA_CERT",
    ] {
        c.env_remove(v);
    }
    c.env("NO_COLOR", "1");
    c
}

fn run(mut cmd: Command, stdin: Option<&[u8]>) -> Run {
    cmd.stdout(Stdio::piped())
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

fn local(data: &Path, args: &[&str], stdin: Option<&[u8]>) -> Run {
    let mut c = botstore();
    c.arg("--data").arg(data).args(args);
    run(c, stdin)
}

fn admin_token(data: &Path) -> String {
    let r = local(
        data,
        &[
            "token",
            "create",
            "--ns",
            "*",
            "--perm",
            "read,write,admin",
            "--label",
            "admin",
        ],
        None,
    )
    .ok();
    let t = r.out().trim().to_owned();
    assert!(t.starts_with("bst_"), "{t}");
    t
}

/// A `botstore serve` on a free loopback port, stopped (SIGTERM) when dropped.
struct Served {
    child: Option<Child>,
    url: String,
    data: PathBuf,
    admin: String,
    log: Arc<Mutex<String>>,
    _dir: tempfile::TempDir,
}

/// The address in a `listening on ADDR` log line (text or JSON format).
fn listening_addr(line: &str) -> Option<String> {
    let rest = line.split("listening on ").nth(1)?;
    let addr: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || ".:[]".contains(*c))
        .collect();
    (!addr.is_empty()).then_some(addr)
}

impl Served {
    fn start(args: &[&str]) -> Served {
        Self::start_in(tempfile::tempdir().expect("temp dir"), args, "http")
    }

    fn start_in(dir: tempfile::TempDir, args: &[&str], scheme: &str) -> Served {
        let data = dir.path().join("data");
        let admin = admin_token(&data);
        let mut c = botstore();
        c.arg("--data")
            .arg(&data)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = c.spawn().expect("start botstore serve");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    {
                        let mut l = log.lock().unwrap_or_else(|p| p.into_inner());
                        l.push_str(&line);
                        l.push('\n');
                    }
                    if let Some(a) = listening_addr(&line) {
                        let _ = tx.send(a);
                    }
                }
            });
        }
        let addr = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the server did not say where it listens:\n{}",
                    log.lock().unwrap_or_else(|p| p.into_inner())
                );
            }
        };
        Served {
            child: Some(child),
            url: format!("{scheme}://{addr}"),
            data,
            admin,
            log,
            _dir: dir,
        }
    }

    /// `botstore --remote URL --token T ARGS`.
    fn run(&self, args: &[&str], stdin: Option<&[u8]>) -> Run {
        self.run_as(Some(&self.admin), args, stdin)
    }

    fn run_as(&self, token: Option<&str>, args: &[&str], stdin: Option<&[u8]>) -> Run {
        let mut c = botstore();
        c.args(["--remote", &self.url]);
        if let Some(t) = token {
            c.args(["--token", t]);
        }
        c.args(args);
        run(c, stdin)
    }

    fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// SIGTERM, then wait for the graceful exit; its exit status.
    fn stop(&mut self) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(20) {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        child.wait().ok()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Times blanked: RFC 3339 times (`2026-01-02T03:04:05.678Z`) and 13-digit ms
/// timestamps, which differ between two stores written a moment apart.
/// `text` with every `"ttl_s":N` made `"ttl_s":_`, the numbers pushed to `ttls`.
fn without_ttl(text: &str, ttls: &mut Vec<u64>) -> String {
    const TAG: &str = "\"ttl_s\":";
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find(TAG) {
        let after = &rest[i + TAG.len()..];
        let digits = after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        ttls.push(after[..digits].parse().expect("ttl_s is a number"));
        out.push_str(&rest[..i + TAG.len()]);
        out.push('_');
        rest = &after[digits..];
    }
    out.push_str(rest);
    out
}

fn norm(s: &str) -> String {
    let b = s.as_bytes();
    let is_time = |i: usize| {
        let t = b"dddd-dd-ddTdd:dd:dd.dddZ";
        i + t.len() <= b.len()
            && t.iter().zip(&b[i..]).all(|(p, c)| match p {
                b'd' => c.is_ascii_digit(),
                p => p == c,
            })
    };
    let mut out = String::new();
    let mut i = 0;
    while i < b.len() {
        if is_time(i) {
            out.push_str("<time>");
            i += 24;
            continue;
        }
        if b[i].is_ascii_digit() && (i == 0 || !b[i - 1].is_ascii_digit()) {
            let n = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
            if n == 13 {
                out.push_str("<ms>");
            } else {
                out.push_str(&s[i..i + n]);
            }
            i += n;
            continue;
        }
        let ch = s[i..].chars().next().unwrap_or('?');
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

/// Drop the keys whose values depend on the engine's files, not on the data.
fn without_disk(mut j: Json) -> Json {
    match &mut j {
        Json::Object(o) => {
            o.retain(|k, _| !k.contains("disk_bytes"));
            for v in o.values_mut() {
                *v = without_disk(v.take());
            }
        }
        Json::Array(a) => {
            for v in a.iter_mut() {
                *v = without_disk(v.take());
            }
        }
        _ => {}
    }
    j
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

// ------------------------------------------------------------------ the same, remotely

#[test]
fn remote_commands_print_and_exit_as_local_ones() {
    let srv = Served::start(&[]);
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("local");

    // (arguments, stdin, whether stderr must match too)
    let steps: Vec<(Vec<&str>, Option<&[u8]>)> = vec![
        (vec!["put", "t/u/u1", "profile", "{\"name\":\"Ada\"}"], None),
        (
            vec![
                "put",
                "t/u/u1",
                "profile",
                "--if-version",
                "1",
                "{\"name\":\"Ada L.\"}",
            ],
            None,
        ),
        (
            vec!["put", "t/u/u1", "profile", "--if-version", "1", "{}"],
            None,
        ),
        (
            vec![
                "put",
                "t/u/u1",
                "settings",
                "--if-absent",
                "{\"lang\":\"en\"}",
            ],
            None,
        ),
        (vec!["put", "t/u/u1", "settings", "--if-absent", "{}"], None),
        (
            vec![
                "--json",
                "put",
                "t/u/u1",
                "weird key \"q\" / é",
                "12345678901234567890",
            ],
            None,
        ),
        (vec!["put", "t/u/u1", "bad", "nojson"], None),
        (vec!["put", "", "k", "1"], None),
        (vec!["put", "a//b", "k", "1"], None),
        (vec!["put", "t/u/u1", "", "1"], None),
        (vec!["put", "t/u/u1", "..", "\"dots\""], None),
        (
            vec![
                "put",
                "t/u/u2",
                "session",
                "--ttl",
                "2h",
                "--subject",
                "u2 é",
                "{\"s\":1}",
            ],
            None,
        ),
        (
            vec![
                "put",
                "t/blobs",
                "img",
                "--bytes",
                "--content-type",
                "image/png",
            ],
            Some(&[0, 1, 2, 250]),
        ),
        (
            vec![
                "put",
                "t/blobs",
                "txt",
                "--bytes",
                "--content-type",
                "text/é",
            ],
            Some(b"hi"),
        ),
        (vec!["put", "t/u/u3", "fromstdin"], Some(b"{\"a\": 1}\n")),
        (vec!["get", "t/u/u1", "profile"], None),
        (vec!["get", "t/blobs", "img"], None),
        (vec!["--json", "get", "t/u/u2", "session"], None),
        (vec!["--json", "get", "t/blobs", "img"], None),
        (vec!["--json", "get", "t/blobs", "txt"], None),
        (vec!["get", "t/u/u1", ".."], None),
        (vec!["get", "t/u/u1", "weird key \"q\" / é"], None),
        (vec!["get", "t/u/u1", "nope"], None),
        (vec!["--json", "get", "t/u/u1", "nope"], None),
        (vec!["get", "", "x"], None),
        (vec!["del", "t/u/u1", "settings", "--if-version", "1"], None),
        (vec!["del", "t/u/u1", "settings"], None),
        (vec!["del", "t/u/u1", "settings"], None),
        (vec!["--json", "del", "t/u/u3", "fromstdin"], None),
        (vec!["ls", "t/u/u1"], None),
        (vec!["--json", "ls", "t/u/u1", "--limit", "1"], None),
        (vec!["ls", "t/u/u1", "--limit", "1"], None),
        (vec!["ls", "-r", ""], None),
        (vec!["ls", "t/u/u1", "--start", "p", "--end", "w"], None),
        (vec!["ls", "-r", "t", "--prefix", "x"], None),
        (vec!["ls", "t/u/u1", "--cursor", "garbage!"], None),
        (vec!["ns"], None),
        (vec!["ns", "t", "--depth", "1"], None),
        (vec!["--json", "ns"], None),
        (vec!["ns", "--limit", "1"], None),
        (
            vec![
                "stream",
                "append",
                "t/c/c1",
                "tr",
                "{\"from\":\"user\"}",
                "\"b\"",
                "3",
            ],
            None,
        ),
        (
            vec![
                "stream",
                "append",
                "t/c/c1",
                "tr",
                "--expect-last",
                "1",
                "4",
            ],
            None,
        ),
        (vec!["stream", "append", "t/c/c1", "tr"], Some(b"5\n\n6\n")),
        (
            vec![
                "--json",
                "stream",
                "append",
                "t/c/c2",
                "x",
                "1",
                "--expect-last",
                "0",
            ],
            None,
        ),
        (vec!["stream", "append", "t/c/c1", "tr", "{bad"], None),
        // JSON text is kept as written: key order, number forms, integers past 64 bits.
        (
            vec![
                "stream",
                "append",
                "t/c/c3",
                "x",
                "{\"z\":1,\"a\":1.50,\"big\":12345678901234567890}",
            ],
            None,
        ),
        (vec!["--json", "stream", "read", "t/c/c3", "x"], None),
        (vec!["stream", "read", "t/c/c3", "x"], None),
        (vec!["stream", "read", "t/c/c1", "tr"], None),
        (
            vec![
                "stream",
                "read",
                "t/c/c1",
                "tr",
                "--backward",
                "--limit",
                "2",
            ],
            None,
        ),
        (
            vec![
                "--json", "stream", "read", "t/c/c1", "tr", "--from", "2", "--limit", "2",
            ],
            None,
        ),
        (vec!["stream", "read", "t/c/c1", "nope"], None),
        (
            vec!["stream", "trim", "t/c/c1", "tr", "--keep-last", "3"],
            None,
        ),
        (
            vec!["stream", "trim", "t/c/c1", "tr", "--before", "5"],
            None,
        ),
        (
            vec![
                "--json",
                "stream",
                "trim",
                "t/c/c1",
                "tr",
                "--older-than",
                "1h",
            ],
            None,
        ),
        (vec!["stream", "read", "t/c/c1", "tr"], None),
        (vec!["changes"], None),
        (vec!["changes", "--since", "3", "--limit", "2"], None),
        (
            vec!["--json", "changes", "--since", "10", "--limit", "3"],
            None,
        ),
        (vec!["--json", "changes", "--since", "1000"], None),
        (vec!["changes", "--limit", "0"], None),
    ];
    for (args, stdin) in &steps {
        let l = local(&data, args, *stdin);
        let r = srv.run(args, *stdin);
        let what = format!("botstore {args:?}");
        assert_eq!(
            l.code, r.code,
            "{what}: exit codes\nlocal: {}\nremote: {}",
            l.stderr, r.stderr
        );
        assert_eq!(norm(&l.out()), norm(&r.out()), "{what}: stdout");
        assert_eq!(l.stdout.len(), r.stdout.len(), "{what}: stdout bytes");
        assert_eq!(norm(&l.stderr), norm(&r.stderr), "{what}: stderr");
    }

    // Stats and compact: the same counts (bytes on disk are each engine's own).
    for args in [
        &["--json", "stats"][..],
        &["--json", "stats", "no/such"],
        &["--json", "stats", "t/u"],
        &["--json", "stats", "--depth", "0"],
        &["--json", "stats", "--depth", "2", "--top", "1"],
        &["--json", "compact"],
    ] {
        let l = local(&data, args, None).ok().json();
        let r = srv.run(args, None).ok().json();
        assert_eq!(without_disk(l), without_disk(r), "{args:?}");
    }
    let r = srv.run(&["stats", "t"], None).ok().out();
    assert!(r.starts_with("NAMESPACE"), "{r}");
    assert!(r.contains("TOTAL"), "{r}");
    let l = local(&data, &["stats", "t"], None).ok().out();
    let first_cols = |t: &str| -> Vec<String> {
        t.lines()
            .map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
            .collect()
    };
    assert_eq!(first_cols(&l), first_cols(&r));
    srv.run(&["compact"], None).ok();

    // Export over --remote: the same lines, streams included.
    // `ttl_s` is the time left, in whole seconds, when each export ran: the two runs may
    // straddle a second, so it may differ by one. Every other byte must be equal.
    let l = local(&data, &["export"], None).ok();
    let r = srv.run(&["export"], None).ok();
    let (mut lt, mut rt) = (Vec::new(), Vec::new());
    let l_text = without_ttl(
        &norm(std::str::from_utf8(&l.stdout).expect("utf-8")),
        &mut lt,
    );
    let r_text = without_ttl(
        &norm(std::str::from_utf8(&r.stdout).expect("utf-8")),
        &mut rt,
    );
    assert_eq!(l_text, r_text);
    assert_eq!(lt.len(), rt.len());
    for (x, y) in lt.iter().zip(&rt) {
        assert!(x.abs_diff(*y) <= 1, "ttl_s {x} vs {y}");
    }
    assert!(
        r.stdout
            .split(|b| *b == b'\n')
            .any(|l| l.windows(9).any(|w| w == b"\"stream\":")),
        "streams are exported"
    );
}

#[test]
fn import_and_export_through_the_server() {
    let dir = tempfile::tempdir().expect("temp dir");
    let src = dir.path().join("src");
    local(
        &src,
        &[
            "put",
            "t/users/u1",
            "profile",
            "{\"name\":\"Ada\",\"n\":1.50}",
        ],
        None,
    )
    .ok();
    local(
        &src,
        &[
            "put",
            "t/users/u2",
            "session",
            "{\"s\":1}",
            "--ttl",
            "2h",
            "--subject",
            "u2",
        ],
        None,
    )
    .ok();
    local(
        &src,
        &[
            "put",
            "t/blobs",
            "img",
            "--bytes",
            "--content-type",
            "image/png",
        ],
        Some(&[0, 1, 2, 250]),
    )
    .ok();
    local(&src, &["put", "t/odd", "...", "\"dots\""], None).ok();
    local(
        &src,
        &[
            "stream",
            "append",
            "t/chats/c1",
            "transcript",
            "\"hi\"",
            "{\"from\":\"bot\"}",
            "3",
        ],
        None,
    )
    .ok();
    local(
        &src,
        &["stream", "append", "t/chats/c2", "events", "1", "2"],
        None,
    )
    .ok();
    let dump = local(&src, &["export"], None).ok();
    let file = dir.path().join("dump.jsonl");
    std::fs::write(&file, &dump.stdout).expect("write dump");

    // The same file into a local folder and into the server: the same report.
    let dst = dir.path().join("dst");
    let srv = Served::start(&[]);
    let mut l = local(&dst, &["--json", "import", s(&file)], None)
        .ok()
        .json();
    let mut r = srv.run(&["--json", "import", s(&file)], None).ok().json();
    for j in [&mut l, &mut r] {
        j.as_object_mut().expect("object").remove("seconds");
    }
    assert_eq!(l, r);
    assert_eq!(r["items"], 4);
    assert_eq!(r["entries"], 5);
    let text = srv.run(&["import", "-"], Some(&dump.stdout)).ok().out();
    assert!(
        text.starts_with("imported 4 items and 5 stream entries from 9 lines"),
        "{text}"
    );

    // What the server holds: the items (export; the import ran twice, so its streams
    // hold every entry twice) and the streams (read).
    let back = srv.run(&["export"], None).ok();
    let items: Vec<&str> = std::str::from_utf8(&dump.stdout)
        .expect("utf-8")
        .lines()
        .filter(|l| l.contains("\"key\":"))
        .collect();
    let got: Vec<&str> = std::str::from_utf8(&back.stdout)
        .expect("utf-8")
        .lines()
        .filter(|l| l.contains("\"key\":"))
        .collect();
    let strip_ttl = |v: &[&str]| -> Vec<Json> {
        v.iter()
            .map(|l| {
                let mut j: Json = serde_json::from_str(l).expect("record");
                if let Some(o) = j.as_object_mut() {
                    o.remove("ttl_s");
                }
                j
            })
            .collect()
    };
    assert_eq!(strip_ttl(&items), strip_ttl(&got));
    assert_eq!(
        srv.run(&["get", "t/users/u1", "profile"], None).ok().out(),
        "{\"name\":\"Ada\",\"n\":1.50}\n",
        "numbers travel as text"
    );
    for (ns, stream) in [("t/chats/c1", "transcript"), ("t/chats/c2", "events")] {
        let want = local(&src, &["--json", "stream", "read", ns, stream], None)
            .ok()
            .json();
        let got = srv
            .run(&["--json", "stream", "read", ns, stream], None)
            .ok()
            .json();
        let values = |j: &Json| -> Vec<Json> {
            j["entries"]
                .as_array()
                .expect("entries")
                .iter()
                .map(|e| e["value"].clone())
                .collect()
        };
        // Imported twice (file, then stdin): the entries are appended twice.
        let twice = [values(&want), values(&want)].concat();
        assert_eq!(twice, values(&got), "{ns}/{stream}");
    }

    // A bad line: the same error, exit code and account of what was imported.
    let mut lines = String::new();
    for i in 1..=2500 {
        if i == 2100 {
            lines.push_str("{\"ns\":[\"t\"],\"key\":\"\",\"value\":1}\n");
        } else {
            lines.push_str(&format!(
                "{{\"ns\":[\"bulk\"],\"key\":\"k{i}\",\"value\":{i}}}\n"
            ));
        }
    }
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, &lines).expect("write");
    let l = local(&dir.path().join("dst2"), &["import", s(&bad)], None)
        .fails(2, "line 2100: invalid input (key.empty)");
    let r = srv
        .run(&["import", s(&bad)], None)
        .fails(2, "line 2100: invalid input (key.empty)");
    assert_eq!(l.stderr, r.stderr);
    assert!(
        r.stderr.contains("lines 1-2000 were imported"),
        "{}",
        r.stderr
    );
    assert_eq!(
        srv.run(&["get", "bulk", "k2000"], None).ok().out(),
        "2000\n"
    );
    srv.run(&["get", "bulk", "k2001"], None)
        .fails(1, "not found");
}

// ------------------------------------------------------------------ tokens and refusals

#[test]
fn tokens_refusals_and_an_unreachable_server() {
    let mut srv = Served::start(&[]);
    srv.run(&["put", "tenant-a/u", "k", "1"], None).ok();

    // No token, a wrong one: 401, exit code 2, said plainly.
    srv.run_as(None, &["get", "tenant-a/u", "k"], None)
        .fails(2, "server answered Unauthorized (401)");
    let r = srv.run_as(
        Some("bst_00_nope"),
        &["--json", "get", "tenant-a/u", "k"],
        None,
    );
    assert_eq!(r.code, 2);
    let err: Json = serde_json::from_str(r.stderr.trim()).expect("JSON error");
    assert_eq!(err["kind"], "invalid_input");
    assert_eq!(err["exit_code"], 2);

    // Tokens made through the server: shown once, listed, revoked.
    let made = srv
        .run(
            &[
                "--json",
                "token",
                "create",
                "--ns",
                "tenant-a/*",
                "--perm",
                "read",
                "--ttl",
                "1h",
                "--label",
                "reader",
            ],
            None,
        )
        .ok()
        .json();
    let reader = made["token"].as_str().expect("token").to_owned();
    let id = made["info"]["id"].as_str().expect("id").to_owned();
    assert_eq!(
        made["info"]["scopes"],
        json!([{"ns": "tenant-a/*", "perms": ["read"]}])
    );
    assert_eq!(
        srv.run_as(Some(&reader), &["get", "tenant-a/u", "k"], None)
            .ok()
            .out(),
        "1\n"
    );
    srv.run_as(Some(&reader), &["put", "tenant-a/u", "k", "2"], None)
        .fails(2, "server answered Forbidden (403)");
    srv.run_as(Some(&reader), &["get", "tenant-b", "k"], None)
        .fails(2, "Forbidden (403)");
    srv.run_as(Some(&reader), &["token", "list"], None)
        .fails(2, "Forbidden (403)");
    let list = srv.run(&["token", "list"], None).ok().out();
    assert!(list.starts_with("ID"), "{list}");
    assert!(
        list.contains(&id) && list.contains("reader") && list.contains("tenant-a/*:read"),
        "{list}"
    );
    let listed = srv.run(&["--json", "token", "list"], None).ok().json();
    assert_eq!(listed["tokens"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        srv.run(&["token", "revoke", &id], None).ok().out(),
        "revoked\n"
    );
    srv.run(&["token", "revoke", "nosuchid"], None)
        .fails(1, "not found: token");
    srv.run_as(Some(&reader), &["get", "tenant-a/u", "k"], None)
        .fails(2, "Unauthorized (401)");
    srv.run(
        &[
            "token", "create", "--ns", "x", "--perm", "read", "--ttl", "soon",
        ],
        None,
    )
    .fails(2, "soon");

    // A token made in the data folder while the server runs works within a second or so.
    let writer = local(
        &srv.data,
        &[
            "token",
            "create",
            "--ns",
            "tenant-b",
            "--perm",
            "read,write",
        ],
        None,
    )
    .ok()
    .out()
    .trim()
    .to_owned();
    let t = Instant::now();
    loop {
        let r = srv.run_as(Some(&writer), &["put", "tenant-b", "k", "1"], None);
        if r.code == 0 {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "still refused: {}",
            r.stderr
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let files = local(&srv.data, &["--json", "token", "list"], None)
        .ok()
        .json();
    assert_eq!(files["tokens"].as_array().map(Vec::len), Some(3));
    local(&srv.data, &["token", "revoke", "nosuchid"], None).fails(1, "not found: token");
    local(
        &srv.data,
        &["token", "create", "--ns", "a", "--perm", "sudo"],
        None,
    )
    .fails(2, "sudo");

    // The server stops cleanly on SIGTERM; then it cannot be reached: exit code 4.
    let url = srv.url.clone();
    let status = srv.stop().expect("server exit status");
    assert!(status.success(), "serve exited {status:?}:\n{}", srv.log());
    assert!(
        srv.log().contains("store flushed and closed"),
        "{}",
        srv.log()
    );
    let mut c = botstore();
    c.args(["--remote", &url, "--token", "bst_x_y", "get", "a", "k"]);
    run(c, None).fails(4, &format!("cannot reach server at {url}"));
    let mut c = botstore();
    c.args(["--remote", "localhost:7700", "get", "a", "k"]);
    run(c, None).fails(2, "expected http://host:port");
}

// ------------------------------------------------------------------ serve's settings

#[test]
fn serve_takes_a_config_file_and_flags_win() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("serve.toml");
    std::fs::write(
        &config,
        "listen = \"127.0.0.1:1\"\nbody_limit = 100\nlog_format = \"json\"\ndurability = \"relaxed:50ms\"\n",
    )
    .expect("write config");
    let config_arg = config.to_str().expect("utf-8").to_owned();
    // --listen (given by Served) and --body-limit win over the file; log_format and
    // durability come from it, since --durability is not given (its default must not
    // override the file).
    let srv = Served::start_in(
        dir,
        &["--config", &config_arg, "--body-limit", "300"],
        "http",
    );
    let log = srv.log();
    assert!(
        log.lines().next().is_some_and(|l| l.starts_with('{')),
        "JSON log lines: {log}"
    );
    assert!(
        log.contains("max_loss: 50ms"),
        "durability from the file: {log}"
    );
    let v200 = format!("\"{}\"", "x".repeat(200));
    srv.run(&["put", "a", "k", &v200], None).ok();
    let v400 = format!("\"{}\"", "x".repeat(400));
    srv.run(&["put", "a", "k", &v400], None)
        .fails(2, "server answered Payload too large (413)");
    drop(srv);

    // A global option given explicitly does override the file.
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("serve.toml");
    std::fs::write(&config, "durability = \"relaxed:50ms\"\n").expect("write config");
    let config_arg = config.to_str().expect("utf-8").to_owned();
    let srv = Served::start_in(
        dir,
        &["--config", &config_arg, "--durability", "immediate"],
        "http",
    );
    assert!(srv.log().contains("durability Immediate"), "{}", srv.log());
    drop(srv);

    // Bad settings: exit code 2, before anything listens.
    let dir = tempfile::tempdir().expect("temp dir");
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "lisen = \"x\"\n").expect("write");
    let data = dir.path().join("data");
    local(&data, &["serve", "--config", s(&bad)], None).fails(2, "lisen");
    local(
        &data,
        &["serve", "--listen", "0.0.0.0:0", "--insecure-dev"],
        None,
    )
    .fails(2, "loopback");
    local(
        &data,
        &["serve", "--config", s(&dir.path().join("missing.toml"))],
        None,
    )
    .fails(2, "missing.toml");
    local(&data, &["--remote", "http://127.0.0.1:1", "serve"], None).fails(2, "--remote");
}

#[test]
fn serve_insecure_dev_needs_no_token() {
    let srv = Served::start(&["--insecure-dev"]);
    srv.run_as(None, &["put", "dev", "k", "1"], None).ok();
    assert_eq!(
        srv.run_as(None, &["get", "dev", "k"], None).ok().out(),
        "1\n"
    );
    assert!(srv.log().contains("insecure-dev"), "{}", srv.log());
}

#[test]
fn remote_over_https_with_a_private_certificate() {
    let certified =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).expect("certificate");
    let dir = tempfile::tempdir().expect("temp dir");
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).expect("write cert");
    std::fs::write(&key, certified.signing_key.serialize_pem()).expect("write key");
    let cert_arg = s(&cert).to_owned();
    let key_arg = s(&key).to_owned();
    let srv = Served::start_in(
        dir,
        &["--tls-cert", &cert_arg, "--tls-key", &key_arg],
        "https",
    );
    assert!(srv.url.starts_with("https://"));
    srv.run(
        &["--ca-cert", &cert_arg, "put", "tls", "k", "{\"a\":1}"],
        None,
    )
    .ok();
    assert_eq!(
        srv.run(&["--ca-cert", &cert_arg, "get", "tls", "k"], None)
            .ok()
            .out(),
        "{\"a\":1}\n"
    );
    // Without --ca-cert the certificate is not trusted.
    srv.run(&["get", "tls", "k"], None)
        .fails(4, "cannot reach server");
    srv.run(&["--ca-cert", "/nonexistent.pem", "get", "tls", "k"], None)
        .fails(2, "cannot read --ca-cert");
}
