//! `botstore --remote URL backup create` against a running `botstore serve`, with the
//! real binary: full and delta snapshots taken through the server restore to the store
//! the server holds; chains continue across local and remote backups of the same
//! source; an unchanged store writes nothing; a token without admin is refused; a cut
//! record stream leaves no snapshot. Also the summaries' exact words.

// Test code: helpers outside #[test] fns unwrap too; a panic is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Run;
use serde_json::Value as Json;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `botstore` in `dir`, with the repository password set and no stray environment.
fn botstore(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_botstore"));
    for v in [
        "BOTSTORE_DATA",
        "BOTSTORE_REMOTE",
        "BOTSTORE_TOKEN",
        "BOTSTORE_CA_CERT",
        "BOTSTORE_BACKUP_REPO",
    ] {
        c.env_remove(v);
    }
    c.current_dir(dir)
        .env("NO_COLOR", "1")
        .env("BOTSTORE_BACKUP_PASSWORD", "s3cret");
    c
}

fn run(mut c: Command, args: &[&str], stdin: Option<&[u8]>) -> Run {
    c.args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
    let mut child = c.spawn().unwrap();
    if let Some(input) = stdin {
        let mut w = child.stdin.take().unwrap();
        let input = input.to_vec();
        std::thread::spawn(move || {
            let _ = w.write_all(&input);
        });
    }
    let o = child.wait_with_output().unwrap();
    Run {
        code: o.status.code().expect("exit code"),
        stdout: o.stdout,
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// `botstore --data DATA ARGS` in `dir`.
fn local(dir: &Path, data: &str, args: &[&str]) -> Run {
    let mut c = botstore(dir);
    c.args(["--data", data]);
    run(c, args, None)
}

/// `botstore --remote URL --token T ARGS` in `dir`.
fn remote(dir: &Path, url: &str, token: &str, args: &[&str], stdin: Option<&[u8]>) -> Run {
    let mut c = botstore(dir);
    c.args(["--remote", url, "--token", token]);
    run(c, args, stdin)
}

/// A `botstore serve` of `dir/data`, stopped by SIGTERM when dropped.
struct Served {
    child: Child,
    url: String,
}

impl Served {
    fn start(dir: &Path, data: &str) -> Served {
        let mut c = botstore(dir);
        c.args(["--data", data, "serve", "--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        let addr = common::listen_addr(&mut child);
        Served {
            child,
            url: format!("http://{addr}"),
        }
    }

    fn stop(mut self) {
        self.terminate();
    }

    fn terminate(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(20) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.terminate();
        }
    }
}

fn admin_token(dir: &Path, data: &str) -> String {
    let t = local(
        dir,
        data,
        &["token", "create", "--ns", "*", "--perm", "read,write,admin"],
    )
    .ok()
    .out()
    .trim()
    .to_owned();
    assert!(t.starts_with("bst_"), "{t}");
    t
}

fn snapshots(dir: &Path) -> Vec<Json> {
    local(dir, "data", &["--json", "backup", "ls", "--repo", "repo"])
        .ok()
        .json()
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["kind"] != "segment")
        .cloned()
        .collect()
}

/// The one summary line, split at "; ": the parts before the last (exact), and the last
/// (sizes and time).
fn parts(out: &str) -> (Vec<String>, String) {
    let line = out.trim_end();
    assert_eq!(line.lines().count(), 1, "{out}");
    let mut p: Vec<String> = line.split("; ").map(str::to_owned).collect();
    let last = p.pop().unwrap();
    (p, last)
}

/// `N items` lines of JSONL to import: items `u0000..` of `1 KiB` each in `t/users`.
fn items(n: usize, tag: &str) -> Vec<u8> {
    let pad = "x".repeat(1000);
    let mut s = String::new();
    for i in 0..n {
        s.push_str(&format!(
            "{{\"ns\":[\"t\",\"users\"],\"key\":\"u{i:04}\",\"value\":{{\"tag\":\"{tag}\",\"pad\":\"{pad}\"}}}}\n"
        ));
    }
    s.into_bytes()
}

/// Two exports are equal (the first difference is shown, cut short: values are long).
#[track_caller]
fn same_lines(a: &str, b: &str) {
    let cut = |s: &str| s.chars().take(160).collect::<String>();
    for (i, (x, y)) in a.lines().zip(b.lines()).enumerate() {
        assert_eq!(cut(x), cut(y), "line {i}");
        assert_eq!(x, y, "line {i}");
    }
    assert_eq!(a.lines().count(), b.lines().count());
}

#[test]
fn backups_of_a_running_server_continue_local_chains_and_restore_its_store() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    // A stopped server's folder, backed up locally under the source name `bot`.
    local(dir, "data", &["put", "t/users", "first", "{\"n\":1}"]).ok();
    local(
        dir,
        "data",
        &[
            "backup",
            "init",
            "--repo",
            "repo",
            "--kdf-memory-mib",
            "1",
            "--kdf-iterations",
            "1",
        ],
    )
    .ok();
    let full = local(
        dir,
        "data",
        &[
            "--json", "backup", "create", "--repo", "repo", "--source", "bot",
        ],
    )
    .ok()
    .json();
    assert_eq!(full["kind"], "full");
    // A tiny store: no ratio, no rate.
    assert!(full["dedup_ratio"].is_null() && full["mib_per_second"].is_null());
    let token = admin_token(dir, "data");

    // The server runs; writes go through it, backups too.
    let srv = Served::start(dir, "data");
    let url = srv.url.clone();
    // The folder is the server's now; a local backup says what to do instead.
    local(dir, "data", &["backup", "create", "--repo", "repo"]).fails(
        4,
        "to back up a running server, give --remote URL and an admin token: storage error: \
         data folder data is in use by another botstore process",
    );
    remote(dir, &url, &token, &["import", "-"], Some(&items(3000, "a"))).ok();
    remote(
        dir,
        &url,
        &token,
        &["stream", "append", "t/conv", "c1", "{\"m\":1}", "{\"m\":2}"],
        None,
    )
    .ok();
    let r = remote(
        dir,
        &url,
        &token,
        &["backup", "create", "--repo", "repo", "--source", "bot"],
        None,
    )
    .ok();
    let all = snapshots(dir);
    assert_eq!(all.len(), 2);
    let d1 = &all[1];
    let (id1, lsn1) = (d1["id"].as_str().unwrap(), d1["lsn"].as_u64().unwrap());
    assert_eq!(d1["kind"], "delta", "a delta of the local full snapshot");
    assert_eq!(d1["parent"], full["snapshot"]);
    let (head, tail) = parts(&r.out());
    assert_eq!(
        head,
        [
            format!(
                "snapshot {id1} (delta of {}) at lsn {lsn1}: 3001 items, 1 stream (2 entries), 0 leases",
                full["snapshot"].as_str().unwrap()
            ),
            "changes: 3000 items written, 2 entries written".to_owned(),
        ]
    );
    assert!(
        tail.contains(" of records in ") && tail.contains(" added in "),
        "{tail}"
    );

    // Nothing changed: nothing is written, exit 0, and --json says so.
    let r = remote(
        dir,
        &url,
        &token,
        &["backup", "create", "--repo", "repo", "--source", "bot"],
        None,
    )
    .ok();
    assert_eq!(
        r.out(),
        format!("no change since snapshot {id1} (lsn {lsn1}); nothing written\n")
    );
    let j = remote(
        dir,
        &url,
        &token,
        &[
            "--json", "backup", "create", "--repo", "repo", "--source", "bot",
        ],
        None,
    )
    .ok()
    .json();
    assert_eq!(
        (&j["kind"], &j["snapshot"], &j["lsn"], &j["bytes_added"]),
        (&"unchanged".into(), &id1.into(), &lsn1.into(), &0.into())
    );
    assert_eq!(snapshots(dir).len(), 2);

    // More writes: a second remote delta, with deletes.
    remote(dir, &url, &token, &["del", "t/users", "u0001"], None).ok();
    remote(dir, &url, &token, &["put", "t/users", "u0002", "{}"], None).ok();
    let j = remote(
        dir,
        &url,
        &token,
        &[
            "--json", "backup", "create", "--repo", "repo", "--source", "bot",
        ],
        None,
    )
    .ok()
    .json();
    assert_eq!(j["kind"], "delta");
    assert_eq!(j["parent"], id1);
    assert_eq!(
        (&j["items"], &j["streams"], &j["entries"], &j["leases"]),
        (&3000.into(), &1.into(), &2.into(), &0.into())
    );
    assert_eq!(j["changes"]["items"]["written"], 1);
    assert_eq!(j["changes"]["items"]["deleted"], 1);
    let d2 = j["snapshot"].as_str().unwrap().to_owned();
    let served_export = remote(dir, &url, &token, &["export"], None).ok().out();
    srv.stop();

    // The remote-made chain restores to the server's store, streams included.
    let r = local(
        dir,
        "data",
        &["backup", "restore", "--repo", "repo", "--to", "back"],
    )
    .ok();
    let (head, _) = parts(&r.out());
    assert_eq!(
        head,
        [format!(
            "restored snapshot {d2} (lsn {}, 3 snapshots in its chain) into back: 3000 items, 1 stream (2 entries), 0 leases",
            j["lsn"]
        )]
    );
    let data_export = local(dir, "data", &["export"]).ok().out();
    same_lines(&local(dir, "back", &["export"]).ok().out(), &data_export);
    same_lines(&served_export, &data_export);

    // And the other way: a local backup of the stopped server continues the remote chain.
    local(dir, "data", &["put", "t/users", "after", "{\"n\":2}"]).ok();
    let j = local(
        dir,
        "data",
        &[
            "--json", "backup", "create", "--repo", "repo", "--source", "bot",
        ],
    )
    .ok()
    .json();
    assert_eq!((&j["kind"], &j["parent"]), (&"delta".into(), &d2.into()));
    let r = local(dir, "data", &["backup", "drill", "--repo", "repo"]).ok();
    assert!(
        r.out().starts_with(&format!(
            "drill ok: snapshot {} (lsn {}) restored and checked against its manifest in ",
            j["snapshot"].as_str().unwrap(),
            j["lsn"]
        )) && r
            .out()
            .trim_end()
            .ends_with("s: 3001 items, 1 stream (2 entries), 0 leases"),
        "{}",
        r.out()
    );
}

#[test]
fn a_token_without_admin_is_refused_and_repository_commands_need_no_server() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    local(dir, "data", &["put", "a", "k", "1"]).ok();
    local(
        dir,
        "data",
        &[
            "backup",
            "init",
            "--repo",
            "repo",
            "--kdf-memory-mib",
            "1",
            "--kdf-iterations",
            "1",
        ],
    )
    .ok();
    let token = admin_token(dir, "data");
    let srv = Served::start(dir, "data");
    let rw = remote(
        dir,
        &srv.url,
        &token,
        &["token", "create", "--ns", "*", "--perm", "read,write"],
        None,
    )
    .ok()
    .out();
    let rw = rw.lines().find(|l| l.starts_with("bst_")).unwrap().trim();
    remote(
        dir,
        &srv.url,
        rw,
        &["backup", "create", "--repo", "repo"],
        None,
    )
    .fails(
        2,
        "backup create --remote needs a token with admin on *: server answered Forbidden (403)",
    );
    assert!(snapshots(dir).is_empty());
    // Repository commands work with --remote given (it does not apply to them) ...
    let r = remote(dir, &srv.url, rw, &["backup", "ls", "--repo", "repo"], None).ok();
    assert_eq!(r.out(), "");
    // ... and do not offer it; follow refuses it.
    let help = local(dir, "data", &["backup", "ls", "--help"]).ok().out();
    assert!(
        !help.contains("--remote") && !help.contains("--data"),
        "{help}"
    );
    let help = local(dir, "data", &["backup", "follow", "--help"])
        .ok()
        .out();
    assert!(
        !help.contains("--remote") && help.contains("--data"),
        "{help}"
    );
    let help = local(dir, "data", &["backup", "create", "--help"])
        .ok()
        .out();
    assert!(
        help.contains("--remote") && help.contains("--data"),
        "{help}"
    );
    remote(
        dir,
        &srv.url,
        &token,
        &["backup", "follow", "--repo", "repo"],
        None,
    )
    .fails(
        2,
        "backup follow reads the change feed of --data; --remote does not apply to it",
    );
    srv.stop();
}

/// A proxy for one connection that passes the request on and only the first `limit`
/// bytes of the answer back, then closes both sides: a record stream cut in the middle.
fn cutting_proxy(to: String, limit: usize) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        let Ok((mut client, _)) = l.accept() else {
            return;
        };
        let mut server = TcpStream::connect(to.trim_start_matches("http://")).unwrap();
        let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut c2, &mut s2);
        });
        let mut sent = 0;
        let mut buf = vec![0u8; 16 << 10];
        while sent < limit {
            let Ok(n) = server.read(&mut buf) else { break };
            if n == 0 {
                break;
            }
            let n = n.min(limit - sent);
            if client.write_all(&buf[..n]).is_err() {
                break;
            }
            sent += n;
        }
        let _ = client.shutdown(std::net::Shutdown::Both);
        let _ = server.shutdown(std::net::Shutdown::Both);
    });
    format!("http://{addr}")
}

#[test]
fn a_cut_record_stream_leaves_no_snapshot() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    local(
        dir,
        "data",
        &[
            "backup",
            "init",
            "--repo",
            "repo",
            "--kdf-memory-mib",
            "1",
            "--kdf-iterations",
            "1",
        ],
    )
    .ok();
    let token = admin_token(dir, "data");
    let srv = Served::start(dir, "data");
    remote(
        dir,
        &srv.url,
        &token,
        &["import", "-"],
        Some(&items(3000, "a")),
    )
    .ok();
    // About 3 MiB of values, which travel as stored, compressed, records of
    // about 300 KiB in all; the proxy passes 64 KiB.
    let proxy = cutting_proxy(srv.url.clone(), 64 << 10);
    let r = remote(
        dir,
        &proxy,
        &token,
        &["backup", "create", "--repo", "repo"],
        None,
    );
    assert_eq!(r.code, 4, "stderr: {}\nstdout: {}", r.stderr, r.out());
    assert!(
        r.stderr.contains("the record stream broke off after ")
            && r.stderr.contains("no snapshot was written"),
        "{}",
        r.stderr
    );
    assert!(snapshots(dir).is_empty(), "no snapshot from a cut stream");
    // The repository is fine, and the next backup (not cut) reuses what was written.
    local(dir, "data", &["backup", "verify", "--repo", "repo"]).ok();
    let j = remote(
        dir,
        &srv.url,
        &token,
        &["--json", "backup", "create", "--repo", "repo"],
        None,
    )
    .ok()
    .json();
    assert_eq!((&j["kind"], &j["items"]), (&"full".into(), &3000.into()));
    assert_eq!(snapshots(dir).len(), 1);
    srv.stop();
}
