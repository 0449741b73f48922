//! `botstore serve` as a process (issue 3, point 5): on SIGTERM it stops accepting,
//! finishes in-flight requests, flushes and exits 0; every write it acknowledged with a
//! 2xx is there after a restart, and the same holds after SIGKILL (immediate durability).
//! Long polls and event streams open at SIGTERM do not hold the shutdown up.

// Test code: helpers outside #[test] fns unwrap too; a panic is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BIN: &str = env!("CARGO_BIN_EXE_botstore");
/// The grace period the servers get: shutdowns must be far quicker than this.
const GRACE: &str = "20s";
/// Longest a shutdown may take here (debug build, shared 2-core machine).
const PROMPT_EXIT: Duration = Duration::from_secs(8);

// ------------------------------------------------------------------ the process

/// An admin token made with `botstore token create --json`.
fn admin_token(data: &Path) -> String {
    let out = Command::new(BIN)
        .args([
            "token",
            "create",
            "--ns",
            "*",
            "--perm",
            "read,write,admin",
            "--json",
        ])
        .arg("--data")
        .arg(data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "token create: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["token"].as_str().unwrap().to_owned()
}

/// `botstore serve` on `data`, on a free port.
struct Served {
    child: Child,
    addr: SocketAddr,
    base: String,
    log: Arc<Mutex<Vec<String>>>,
}

/// The address in a `listening on 127.0.0.1:PORT (...)` log line.
fn listening_on(line: &str) -> Option<SocketAddr> {
    let rest = &line[line.find("listening on ")? + "listening on ".len()..];
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || ".:[]".contains(c)))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

impl Served {
    fn start(data: &Path) -> Served {
        // Signal handlers are installed before the store opens, so no grace period is
        // needed after `listening on` (`sigterm_right_after_listening_on_exits_0`).
        Served::spawn(data, &[])
    }

    /// Without tokens (nothing to set up first).
    fn start_insecure(data: &Path) -> Served {
        Served::spawn(data, &["--insecure-dev"])
    }

    fn spawn(data: &Path, extra: &[&str]) -> Served {
        let mut child = Command::new(BIN)
            .arg("serve")
            .arg("--data")
            .arg(data)
            .args(["--listen", "127.0.0.1:0", "--shutdown-grace", GRACE])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .env("NO_COLOR", "1")
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn({
            let log = log.clone();
            move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    if let Some(a) = listening_on(&line) {
                        let _ = tx.send(a);
                    }
                    log.lock().unwrap().push(line);
                }
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "botstore serve did not say where it listens:\n{}",
                    log.lock().unwrap().join("\n")
                );
            }
        };
        Served {
            child,
            addr,
            base: format!("http://{addr}"),
            log,
        }
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig} failed");
    }

    /// Wait for the process to end, at most `limit`.
    fn wait(&mut self, limit: Duration) -> ExitStatus {
        let until = Instant::now() + limit;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            if Instant::now() > until {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "botstore serve still ran {limit:?} after the signal:\n{}",
                    self.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, and the clean exit that must follow promptly. Returns how long it took.
    fn terminate(&mut self) -> Duration {
        let t = Instant::now();
        self.signal("TERM");
        let status = self.wait(PROMPT_EXIT);
        let took = t.elapsed();
        assert!(
            status.success(),
            "SIGTERM: botstore serve exited with {status}:\n{}",
            self.logs()
        );
        took
    }

    fn logs(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// ------------------------------------------------------------------ writers

/// What the server acknowledged: per item path, the last `(version, j)` written with a
/// 2xx; per stream, every `(seq, j)` appended with a 2xx.
#[derive(Debug, Default)]
struct Acks {
    items: BTreeMap<String, (u64, u64)>,
    streams: BTreeMap<String, Vec<(u64, u64)>>,
    /// Answers that were neither a 2xx nor a failure to reach the server.
    odd: Vec<String>,
}

impl Acks {
    fn merge(&mut self, other: Acks) {
        self.items.extend(other.items);
        for (k, mut v) in other.streams {
            self.streams.entry(k).or_default().append(&mut v);
        }
        self.odd.extend(other.odd);
    }

    fn writes(&self) -> usize {
        self.items.len() + self.streams.values().map(Vec::len).sum::<usize>()
    }
}

/// reqwest's builder, with ring installed as the process's rustls provider: reqwest is
/// built without a provider of its own (see the workspace's Cargo.toml), and a client it
/// configures itself needs one even for `http://`.
fn http_builder() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
}

fn client() -> reqwest::Client {
    http_builder()
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap()
}

/// One writer: alternately overwrites one of 5 items of its own and appends one entry to
/// its own stream, one request at a time, until `stop`.
async fn writer(
    base: String,
    token: String,
    round: usize,
    w: usize,
    stop: Arc<AtomicBool>,
) -> Acks {
    let http = client();
    let mut acks = Acks::default();
    let stream = format!("/v1/streams/crash/r{round}/w{w}/log");
    let mut j = 0u64;
    while !stop.load(Ordering::Relaxed) {
        j += 1;
        let item = format!("/v1/items/crash/r{round}/w{w}/k{}", j % 5);
        let r = http
            .put(format!("{base}{item}"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"w": w, "j": j}))
            .send()
            .await;
        let ok = match r {
            Ok(r) if r.status().is_success() => match r.json::<serde_json::Value>().await {
                Ok(v) => {
                    acks.items.insert(item, (v["version"].as_u64().unwrap(), j));
                    true
                }
                Err(_) => false, // cut off after the status line: not an acknowledgement
            },
            Ok(r) => {
                acks.odd.push(format!("PUT {item}: {}", r.status()));
                false
            }
            Err(_) => false,
        };
        let r = http
            .post(format!("{base}{stream}:append"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"entries": [{"value": {"w": w, "j": j}}]}))
            .send()
            .await;
        let ok2 = match r {
            Ok(r) if r.status().is_success() => match r.json::<serde_json::Value>().await {
                Ok(v) => {
                    let (first, last) = (
                        v["first_seq"].as_u64().unwrap(),
                        v["last_seq"].as_u64().unwrap(),
                    );
                    assert_eq!(first, last);
                    acks.streams
                        .entry(stream.clone())
                        .or_default()
                        .push((first, j));
                    true
                }
                Err(_) => false,
            },
            Ok(r) => {
                acks.odd
                    .push(format!("POST {stream}:append: {}", r.status()));
                false
            }
            Err(_) => false,
        };
        if !(ok && ok2) {
            // The server is going or gone: do not spin.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    acks
}

/// `n` writers for round `round`; stop them with the returned flag.
fn writers(
    s: &Served,
    token: &str,
    round: usize,
    n: usize,
) -> (Arc<AtomicBool>, Vec<tokio::task::JoinHandle<Acks>>) {
    let stop = Arc::new(AtomicBool::new(false));
    let tasks = (0..n)
        .map(|w| {
            tokio::spawn(writer(
                s.base.clone(),
                token.to_owned(),
                round,
                w,
                stop.clone(),
            ))
        })
        .collect();
    (stop, tasks)
}

async fn collect(stop: Arc<AtomicBool>, tasks: Vec<tokio::task::JoinHandle<Acks>>) -> Acks {
    stop.store(true, Ordering::Relaxed);
    let mut all = Acks::default();
    for t in tasks {
        all.merge(t.await.unwrap());
    }
    all
}

/// Every acknowledged write is on the restarted server: items with at least the version
/// acknowledged (a later write that was cut off may have landed, and then carries a later
/// `j`), streams contiguous from 1 with every acknowledged entry at its sequence.
async fn verify(s: &Served, token: &str, acks: &Acks) {
    assert!(acks.odd.is_empty(), "unexpected answers: {:?}", acks.odd);
    let http = client();
    for (path, (version, j)) in &acks.items {
        let r = http
            .get(format!("{}{path}", s.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            200,
            "{path} (acknowledged at version {version}) is gone"
        );
        let got: u64 = r.headers()["etag"]
            .to_str()
            .unwrap()
            .trim_matches('"')
            .parse()
            .unwrap();
        let v: serde_json::Value = r.json().await.unwrap();
        let got_j = v["j"].as_u64().unwrap();
        assert!(
            got >= *version,
            "{path}: version {got}, acknowledged {version}"
        );
        if got == *version {
            assert_eq!(
                got_j, *j,
                "{path}: the acknowledged version holds another value"
            );
        } else {
            assert!(
                got_j > *j,
                "{path}: version {got} > {version} holds an older write ({got_j} <= {j})"
            );
        }
    }
    for (path, entries) in &acks.streams {
        let r = http
            .get(format!("{}{path}?limit=10000", s.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let v: serde_json::Value = r.json().await.unwrap();
        let stored: Vec<(u64, u64)> = v["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["seq"].as_u64().unwrap(),
                    e["value"]["j"].as_u64().unwrap(),
                )
            })
            .collect();
        for (i, (seq, _)) in stored.iter().enumerate() {
            assert_eq!(
                *seq,
                i as u64 + 1,
                "{path}: sequences are not contiguous from 1"
            );
        }
        for (seq, j) in entries {
            let at = stored.get(*seq as usize - 1);
            assert_eq!(
                at,
                Some(&(*seq, *j)),
                "{path}: acknowledged entry {seq} (j {j}) is not there"
            );
        }
    }
}

// ------------------------------------------------------------------ tests

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_under_write_load_exits_0_and_keeps_every_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let token = admin_token(dir.path());
    let mut s = Served::start(dir.path());
    let (stop, tasks) = writers(&s, &token, 0, 8);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let took = s.terminate();
    let acks = collect(stop, tasks).await;
    eprintln!(
        "SIGTERM under load: exit 0 after {took:?}; {} acknowledged writes",
        acks.writes()
    );
    assert!(
        acks.writes() >= 20,
        "too few writes got through: {}",
        acks.writes()
    );
    assert!(took < PROMPT_EXIT);
    let logs = s.logs();
    assert!(
        logs.contains("store flushed and closed"),
        "no clean close in the log:\n{logs}"
    );

    let mut s = Served::start(dir.path());
    verify(&s, &token, &acks).await;
    s.terminate();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_under_write_load_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let token = admin_token(dir.path());
    let mut all = Acks::default();
    for round in 0..3 {
        let mut s = Served::start(dir.path());
        // What earlier rounds were told survived the kill that ended them.
        verify(&s, &token, &all).await;
        let (stop, tasks) = writers(&s, &token, round, 6);
        tokio::time::sleep(Duration::from_millis(700 + 200 * round as u64)).await;
        s.signal("KILL");
        let status = s.wait(PROMPT_EXIT);
        assert!(!status.success(), "SIGKILL: exited with {status}");
        let acks = collect(stop, tasks).await;
        eprintln!(
            "SIGKILL round {round}: {} acknowledged writes",
            acks.writes()
        );
        assert!(
            acks.writes() >= 10,
            "round {round}: too few writes: {}",
            acks.writes()
        );
        all.merge(acks);
    }
    let mut s = Served::start(dir.path());
    verify(&s, &token, &all).await;
    s.terminate();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_is_prompt_with_a_long_poll_and_an_event_stream_open_and_finishes_in_flight_requests(
) {
    let dir = tempfile::tempdir().unwrap();
    let token = admin_token(dir.path());
    let mut s = Served::start(dir.path());
    let http = client();
    let r = http
        .put(format!("{}/v1/items/crash/poll/first", s.base))
        .bearer_auth(&token)
        .json(&1)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    let since = v["version"].as_u64().unwrap();

    // A long poll that would wait 30 s for a change.
    let poll = tokio::spawn({
        let (url, token) = (
            format!("{}/v1/changes?since={since}&wait=30s", s.base),
            token.clone(),
        );
        async move {
            let r = client()
                .get(url)
                .bearer_auth(token)
                .timeout(Duration::from_secs(40))
                .send()
                .await;
            let t = Instant::now();
            let r = r.map(|r| r.status().as_u16());
            (r.map_err(|e| e.to_string()), t)
        }
    });
    // An event stream, read until it ends.
    let sse = tokio::spawn({
        let (url, token) = (
            format!("{}/v1/changes?since={since}", s.base),
            token.clone(),
        );
        async move {
            let mut r = http_builder()
                .build()
                .unwrap()
                .get(url)
                .bearer_auth(token)
                .header("accept", "text/event-stream")
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            let mut text = String::new();
            while let Ok(Some(c)) = r.chunk().await {
                text.push_str(&String::from_utf8_lossy(&c));
            }
            (text, Instant::now())
        }
    });
    // A PUT whose body is half sent when the signal comes.
    let body = br#"{"in_flight": true, "pad": "................................"}"#;
    let mut slow = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let head = format!(
        "PUT /v1/items/crash/poll/in-flight HTTP/1.1\r\nHost: b\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    slow.write_all(&body[..10]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;

    let signalled = Instant::now();
    s.signal("TERM");
    tokio::time::sleep(Duration::from_millis(300)).await;
    // It stopped accepting.
    assert!(
        tokio::net::TcpStream::connect(s.addr).await.is_err(),
        "a new connection was accepted after SIGTERM"
    );
    // The in-flight request finishes.
    slow.write_all(&body[10..]).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut answer))
        .await
        .expect("the in-flight PUT got no answer")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "the in-flight PUT: {answer}"
    );

    let status = s.wait(PROMPT_EXIT);
    let took = signalled.elapsed();
    assert!(status.success(), "exit {status}:\n{}", s.logs());
    let (polled, poll_end) = poll.await.unwrap();
    let (events, sse_end) = sse.await.unwrap();
    eprintln!(
        "SIGTERM with a long poll and an event stream open: exit 0 after {took:?}; poll {polled:?} after {:?}, stream ended after {:?}",
        poll_end.saturating_duration_since(signalled),
        sse_end.saturating_duration_since(signalled)
    );
    assert!(took < PROMPT_EXIT, "shutdown took {took:?}");
    assert_eq!(polled, Ok(200), "the long poll");
    assert!(poll_end.saturating_duration_since(signalled) < PROMPT_EXIT);
    assert!(sse_end.saturating_duration_since(signalled) < PROMPT_EXIT);
    assert!(
        !events.contains("event: error"),
        "the event stream ended with an error: {events}"
    );

    // The in-flight write was made durable before the exit.
    let mut s = Served::start(dir.path());
    let r = http
        .get(format!("{}/v1/items/crash/poll/in-flight", s.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the in-flight PUT that got a 200 is gone");
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["in_flight"], true);
    s.terminate();
}

/// A supervisor may send SIGTERM as soon as the server says `listening on`: the handler
/// must be in place by then, or the process dies of the signal (no flush, exit 143) or,
/// when the signal lands while tokio registers it, never sees it and runs on. Four
/// servers start at once, ten times over, so that the window shows on a loaded machine.
#[test]
fn sigterm_right_after_listening_on_exits_0() {
    let mut bad = Vec::new();
    for round in 0..10 {
        let threads: Vec<_> = (0..4)
            .map(|i| {
                std::thread::spawn(move || {
                    let dir = tempfile::tempdir().unwrap();
                    let mut s = Served::start_insecure(dir.path());
                    s.signal("TERM");
                    let until = Instant::now() + PROMPT_EXIT;
                    loop {
                        if let Some(st) = s.child.try_wait().unwrap() {
                            return (!st.success())
                                .then(|| format!("{round}.{i}: exited with {st}"));
                        }
                        if Instant::now() > until {
                            return Some(format!(
                                "{round}.{i}: still running {PROMPT_EXIT:?} after SIGTERM"
                            ));
                        }
                        std::thread::sleep(Duration::from_millis(10));
                    }
                })
            })
            .collect();
        bad.extend(threads.into_iter().filter_map(|t| t.join().unwrap()));
    }
    assert!(
        bad.is_empty(),
        "SIGTERM right after `listening on`, {} of 40 servers: {bad:?}",
        bad.len()
    );
}
