//! `botstore serve`'s logs and RUST_LOG: the default (`info`) logs refused requests and
//! not successful ones; `RUST_LOG=botstore_server=debug` logs every request in its span
//! (JSON lines with `--log-format json`); a RUST_LOG that does not parse is said on
//! stderr and `info` is used.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_botstore");

/// Serve a fresh folder with `rust_log` and `args`, send GET /healthz (200) and GET
/// /v1/items/a/k without a token (401), stop with SIGTERM; every stderr line.
fn serve_and_log(rust_log: Option<&str>, args: &[&str]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(BIN);
    cmd.arg("serve")
        .arg("--data")
        .arg(dir.path().join("data"))
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG");
    if let Some(v) = rust_log {
        cmd.env("RUST_LOG", v);
    }
    let mut child = cmd.spawn().unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line.clone());
            all.push(line);
        }
        all
    });
    let addr = loop {
        let Ok(line) = rx.recv_timeout(Duration::from_secs(30)) else {
            let _ = child.kill();
            panic!("serve did not start: {:?}", reader.join());
        };
        if let Some(i) = line.find("listening on ") {
            let rest = &line[i + "listening on ".len()..];
            break rest.split([' ', '"']).next().unwrap().to_owned();
        }
    };
    assert_eq!(status_of(&addr, "/healthz"), 200);
    assert_eq!(status_of(&addr, "/v1/items/a/k"), 401);
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    assert!(child.wait().unwrap().success());
    reader.join().unwrap()
}

/// The status code of a plain HTTP/1.1 GET.
fn status_of(addr: &str, path: &str) -> u16 {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    text.split(' ').nth(1).unwrap().parse().unwrap()
}

fn lines_with<'a>(lines: &'a [String], needle: &str) -> Vec<&'a String> {
    lines.iter().filter(|l| l.contains(needle)).collect()
}

#[test]
fn default_is_info_refusals_logged_successes_not() {
    let lines = serve_and_log(None, &[]);
    assert_eq!(lines_with(&lines, "request refused").len(), 1, "{lines:#?}");
    assert!(lines_with(&lines, "status=200").is_empty(), "{lines:#?}");
    assert!(lines_with(&lines, "RUST_LOG").is_empty(), "{lines:#?}");
}

#[test]
fn debug_for_the_server_logs_every_request_in_its_span_as_json() {
    let lines = serve_and_log(
        Some("warn,botstore_server=debug"),
        &["--log-format", "json"],
    );
    let requests: Vec<serde_json::Value> = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|j| j["fields"]["message"] == "request")
        .collect();
    assert_eq!(requests.len(), 1, "{lines:#?}");
    let r = &requests[0];
    assert_eq!(r["level"], "DEBUG");
    assert_eq!(r["fields"]["status"], 200);
    assert_eq!(r["span"]["name"], "request", "{r}");
    assert_eq!(r["span"]["id"], r["fields"]["id"], "{r}");
    // `warn` for the rest: the startup line (info, botstore_server) stays, nothing else
    // at info from other targets; every line is JSON.
    for l in &lines {
        let j: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
        let target = j["target"].as_str().unwrap();
        let level = j["level"].as_str().unwrap();
        assert!(
            target.starts_with("botstore_server") || level == "WARN" || level == "ERROR",
            "{l}"
        );
    }
}

#[test]
fn a_rust_log_that_does_not_parse_is_said_and_info_is_used() {
    let lines = serve_and_log(Some("botstore_server=loud"), &[]);
    let said = lines_with(
        &lines,
        "RUST_LOG=\"botstore_server=loud\" is not a list of LEVEL",
    );
    assert_eq!(said.len(), 1, "{lines:#?}");
    assert!(said[0].ends_with("logging at info"), "{}", said[0]);
    assert_eq!(lines_with(&lines, "request refused").len(), 1, "{lines:#?}");
    assert!(lines_with(&lines, "status=200").is_empty(), "{lines:#?}");
}
