//! Hostile input (issue 3, point 7): requests without a valid token or outside the
//! token's scopes, oversized, malformed and slow requests, and names with tricks in them.
//! Each is refused with a 4xx (a problem document where the server writes the answer, not
//! hyper's HTTP/1 parser), nothing is read or written (checked with an admin token
//! afterwards: the store's last LSN is unchanged and the items are as they were), and a
//! well-behaved client on its own connections keeps getting prompt 200s all along.
//!
//! Cases the URL parser of a client would rewrite (`..` segments, raw bytes, huge heads,
//! slow bodies) go over raw TCP.

// Test code: helpers outside #[test] fns unwrap too; a panic is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use botstore_api::wire::{Perm, Scope, TokenCreateRequest, TokenCreated};
use botstore_api::{Problem, PROBLEM_JSON};
use botstore_server::tokens::TokenStore;
use botstore_server::{ServeConfig, Server};
use reqwest::{Method, StatusCode};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
/// reqwest's builder, with ring installed as the process's rustls provider: reqwest is
/// built without a provider of its own (see the workspace's Cargo.toml), and a client it
/// configures itself needs one even for `http://`.
fn http() -> reqwest::ClientBuilder {
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
}

/// The server's body limit in these tests.
const BODY_LIMIT: usize = 64 * 1024;
/// Its body and header timeouts.
const TIMEOUT: Duration = Duration::from_secs(1);
/// How long after a timeout the answer may come on this shared 2-core machine (debug
/// build, other tests running beside).
const SLACK: Duration = Duration::from_millis(2500);
/// Slowest answer the well-behaved client accepts while the hostile ones misbehave.
const PROMPT: Duration = Duration::from_millis(1500);

const A_SECRET: &str = "A-SECRET-3f9c";
const B_SECRET: &str = "B-SECRET-77d1";

// ------------------------------------------------------------------ the server

struct Env {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    server: Server,
    addr: SocketAddr,
    base: String,
    http: reqwest::Client,
    admin: String,
}

fn token_req(ns: &str, perms: &[Perm], ttl: Option<&str>) -> TokenCreateRequest {
    TokenCreateRequest {
        scopes: vec![Scope {
            ns: ns.into(),
            perms: perms.to_vec(),
        }],
        ttl: ttl.map(str::to_owned),
        label: Some(format!("hostile test {ns}")),
    }
}

impl Env {
    async fn start(tweak: impl FnOnce(&mut ServeConfig)) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        let admin = TokenStore::open(&path)
            .unwrap()
            .create(&token_req(
                "*",
                &[Perm::Read, Perm::Write, Perm::Admin],
                None,
            ))
            .unwrap()
            .token;
        let mut cfg = ServeConfig {
            data: Some(path.clone()),
            listen: Some("127.0.0.1:0".into()),
            body_limit: Some(BODY_LIMIT),
            body_timeout: Some("1s".into()),
            header_timeout: Some("1s".into()),
            // No background writes (TTL sweep, feed retention) to move the LSN.
            maintenance_interval: Some("1h".into()),
            ..Default::default()
        };
        tweak(&mut cfg);
        let server = Server::start(cfg).await.unwrap();
        let addr = server.addr;
        Env {
            _dir: dir,
            dir: path,
            server,
            addr,
            base: format!("http://{addr}"),
            http: http().build().unwrap(),
            admin,
        }
    }

    /// A token made in the data folder's token file, as `botstore token create` does
    /// (the running server reads it within a second).
    fn token(&self, ns: &str, perms: &[Perm], ttl: Option<&str>) -> TokenCreated {
        TokenStore::open(&self.dir)
            .unwrap()
            .create(&token_req(ns, perms, ttl))
            .unwrap()
    }

    /// A token (with read permission somewhere), once the server takes it.
    async fn live_token(&self, ns: &str, perms: &[Perm]) -> String {
        let t = self.token(ns, perms, None).token;
        let until = Instant::now() + Duration::from_secs(5);
        loop {
            let r = self
                .with(&t, Method::GET, "/v1/changes?limit=1")
                .send()
                .await
                .unwrap();
            if r.status() != 401 {
                return t;
            }
            assert!(
                Instant::now() < until,
                "the server never took the new token"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn req(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, format!("{}{path}", self.base))
    }

    fn with(&self, token: &str, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.req(method, path).bearer_auth(token)
    }

    fn admin(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.with(&self.admin, method, path)
    }

    /// The store's last LSN, read with the admin token.
    async fn lsn(&self) -> u64 {
        let r = self
            .admin(Method::GET, "/v1/changes?limit=1")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: serde_json::Value = r.json().await.unwrap();
        v["last_lsn"].as_u64().unwrap()
    }

    async fn put(&self, path: &str, body: serde_json::Value) -> u64 {
        let r = self
            .admin(Method::PUT, path)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            200,
            "admin PUT {path}: {}",
            r.text().await.unwrap()
        );
        let v: serde_json::Value = r.json().await.unwrap();
        v["version"].as_u64().unwrap()
    }

    /// An item's version and bytes, read with the admin token.
    async fn item(&self, path: &str) -> Option<(u64, Vec<u8>)> {
        let r = self.admin(Method::GET, path).send().await.unwrap();
        if r.status() == 404 {
            return None;
        }
        assert_eq!(r.status(), 200, "admin GET {path}");
        let etag = r.headers()["etag"]
            .to_str()
            .unwrap()
            .trim_matches('"')
            .parse()
            .unwrap();
        Some((etag, r.bytes().await.unwrap().to_vec()))
    }

    /// Writes of the setup: an item in tenant-a and one in tenant-b, a stream in
    /// tenant-b. Returns the LSN after them.
    async fn seed(&self) -> u64 {
        self.put(
            "/v1/items/tenant-a/users/u1/profile",
            serde_json::json!({"secret": A_SECRET}),
        )
        .await;
        self.put(
            "/v1/items/tenant-b/users/u1/profile",
            serde_json::json!({"secret": B_SECRET}),
        )
        .await;
        let r = self
            .admin(
                Method::POST,
                "/v1/streams/tenant-b/conv/c1/transcript:append",
            )
            .json(&serde_json::json!({"entries": [{"value": {"text": B_SECRET}}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        self.put("/v1/items/ok/bystander/k", serde_json::json!({"ok": true}))
            .await;
        self.lsn().await
    }

    /// Nothing was written since `lsn`, and the seeded items are as they were.
    async fn unchanged(&self, lsn: u64) {
        assert_eq!(self.lsn().await, lsn, "a refused request wrote something");
        let a = self
            .item("/v1/items/tenant-a/users/u1/profile")
            .await
            .unwrap();
        assert!(String::from_utf8_lossy(&a.1).contains(A_SECRET));
        let b = self
            .item("/v1/items/tenant-b/users/u1/profile")
            .await
            .unwrap();
        assert!(String::from_utf8_lossy(&b.1).contains(B_SECRET));
    }

    async fn stop(self) {
        self.server.stop().await.unwrap();
    }
}

// ------------------------------------------------------------------ checking answers

/// The problem document of a refusal: status, content type, `type`, `instance` = the
/// request id. The body must not leak the seeded secrets.
async fn refused(what: &str, r: reqwest::Response, status: u16, kind: &str) -> Problem {
    let got = r.status();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap_or("").to_owned());
    let rid = r
        .headers()
        .get("x-request-id")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = r.text().await.unwrap();
    assert_eq!(got.as_u16(), status, "{what}: status (body {body})");
    check_problem(what, ct.as_deref(), rid.as_deref(), &body, status, kind)
}

fn check_problem(
    what: &str,
    ct: Option<&str>,
    rid: Option<&str>,
    body: &str,
    status: u16,
    kind: &str,
) -> Problem {
    assert_eq!(ct, Some(PROBLEM_JSON), "{what}: content type (body {body})");
    assert!(
        !body.contains(A_SECRET) && !body.contains(B_SECRET),
        "{what}: the refusal leaks data: {body}"
    );
    let p: Problem = serde_json::from_str(body).unwrap_or_else(|e| panic!("{what}: {e}: {body}"));
    assert_eq!(
        p.type_,
        format!("urn:botstore:problem:{kind}"),
        "{what}: {body}"
    );
    assert_eq!(p.status, status, "{what}: {body}");
    assert!(rid.is_some(), "{what}: no x-request-id");
    assert_eq!(
        p.instance.as_deref(),
        rid,
        "{what}: instance is not the request id"
    );
    p
}

// ------------------------------------------------------------------ the bystander

/// A well-behaved client on its own connections, reading an item every `every` while
/// the test misbehaves. [`Bystander::finish`] checks that every answer was a prompt 200.
struct Bystander {
    stop: Arc<AtomicBool>,
    /// Requests answered so far.
    answered: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<(usize, Vec<String>, Duration)>,
}

impl Bystander {
    fn start(env: &Env, every: Duration) -> Bystander {
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicUsize::new(0));
        let url = format!("{}/v1/items/ok/bystander/k", env.base);
        let token = env.admin.clone();
        let task = tokio::spawn({
            let stop = stop.clone();
            let answered = answered.clone();
            async move {
                let http = http().build().unwrap();
                let (mut n, mut bad, mut slowest) = (0, Vec::new(), Duration::ZERO);
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    let r = http
                        .get(&url)
                        .bearer_auth(&token)
                        .timeout(Duration::from_secs(10))
                        .send()
                        .await;
                    match r {
                        Ok(r) if r.status() == 200 => {
                            let _ = r.bytes().await;
                        }
                        Ok(r) => bad.push(format!("status {}", r.status())),
                        Err(e) => bad.push(format!("error {e}")),
                    }
                    slowest = slowest.max(t.elapsed());
                    n += 1;
                    answered.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(every).await;
                }
                (n, bad, slowest)
            }
        });
        Bystander {
            stop,
            answered,
            task,
        }
    }

    async fn finish(self) {
        // On a loaded machine the test's own requests can all be done before the
        // bystander's task first runs: give it up to PROMPT to get one answer, so the
        // check below is about the server, not about scheduling.
        let t = Instant::now();
        while self.answered.load(Ordering::Relaxed) == 0 && t.elapsed() < PROMPT {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        self.stop.store(true, Ordering::Relaxed);
        let (n, bad, slowest) = self.task.await.unwrap();
        assert!(n >= 1, "the bystander got no request through");
        assert!(bad.is_empty(), "the bystander was refused: {bad:?}");
        assert!(slowest < PROMPT, "the bystander waited {slowest:?}");
    }
}

// ------------------------------------------------------------------ raw HTTP/1.1

#[derive(Debug)]
struct RawResp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl RawResp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn problem(&self, what: &str, status: u16, kind: &str) -> Problem {
        let body = String::from_utf8_lossy(&self.body);
        assert_eq!(self.status, status, "{what}: status (body {body})");
        check_problem(
            what,
            self.header("content-type"),
            self.header("x-request-id"),
            &body,
            status,
            kind,
        )
    }
}

/// A complete response at the start of `buf` (with its body), if there is one yet.
fn parse_response(buf: &[u8], eof: bool) -> Option<RawResp> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&buf[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let rest = &buf[end + 4..];
    let get = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let body = if let Some(len) = get("content-length") {
        let len: usize = len.parse().ok()?;
        if rest.len() < len {
            return None;
        }
        rest[..len].to_vec()
    } else if get("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
        let mut body = Vec::new();
        let mut at = 0;
        loop {
            let line_end = rest[at..].windows(2).position(|w| w == b"\r\n")? + at;
            let size =
                usize::from_str_radix(std::str::from_utf8(&rest[at..line_end]).ok()?.trim(), 16)
                    .ok()?;
            let start = line_end + 2;
            if size == 0 {
                break;
            }
            if rest.len() < start + size + 2 {
                return None;
            }
            body.extend_from_slice(&rest[start..start + size]);
            at = start + size + 2;
        }
        body
    } else if status == 304 || status == 204 || (100..200).contains(&status) {
        Vec::new()
    } else if eof {
        rest.to_vec()
    } else {
        return None;
    };
    Some(RawResp {
        status,
        headers,
        body,
    })
}

/// What became of a raw exchange.
#[derive(Debug)]
enum Raw {
    Answer(RawResp),
    /// The server closed (or reset) the connection without a complete answer; the
    /// bytes it sent.
    Closed(Vec<u8>),
    /// Nothing happened within the deadline.
    Silent,
}

/// Read an answer on `s` until `deadline`.
async fn read_answer(s: &mut TcpStream, deadline: Duration) -> Raw {
    let until = tokio::time::Instant::now() + deadline;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some(r) = parse_response(&buf, false) {
            return Raw::Answer(r);
        }
        match tokio::time::timeout_at(until, s.read(&mut chunk)).await {
            Err(_) => return Raw::Silent,
            Ok(Ok(0)) | Ok(Err(_)) => {
                return match parse_response(&buf, true) {
                    Some(r) => Raw::Answer(r),
                    None => Raw::Closed(buf),
                }
            }
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Send `req` (write errors are ignored: the server may answer and close before
/// reading all of it) and read the answer.
async fn raw(addr: SocketAddr, req: &[u8]) -> Raw {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let _ = s.write_all(req).await;
    read_answer(&mut s, Duration::from_secs(10)).await
}

async fn raw_answer(what: &str, addr: SocketAddr, req: &[u8]) -> RawResp {
    match raw(addr, req).await {
        Raw::Answer(r) => r,
        other => panic!("{what}: no answer: {other:?}"),
    }
}

fn head(method: &str, target: &str, token: Option<&str>, extra: &str) -> Vec<u8> {
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    format!(
        "{method} {target} HTTP/1.1\r\nHost: botstore\r\n{auth}{extra}Connection: close\r\n\r\n"
    )
    .into_bytes()
}

// ------------------------------------------------------------------ tokens and scopes

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_malformed_and_unknown_tokens_get_401_and_touch_nothing() {
    let env = Env::start(|_| {}).await;
    let lsn = env.seed().await;
    let bystander = Bystander::start(&env, Duration::from_millis(25));
    let item = "/v1/items/tenant-a/users/u1/profile";

    // No Authorization header at all, on every kind of endpoint.
    let batch = serde_json::json!({"mutations": [
        {"op": "put", "ns": "tenant-a/users/u1", "key": "profile", "value": 1}]});
    let no_token: Vec<(&str, reqwest::RequestBuilder)> = vec![
        ("GET item", env.req(Method::GET, item)),
        ("HEAD item", env.req(Method::HEAD, item)),
        (
            "PUT item",
            env.req(Method::PUT, item).json(&serde_json::json!(1)),
        ),
        ("DELETE item", env.req(Method::DELETE, item)),
        (
            "POST batch",
            env.req(Method::POST, "/v1/batch").json(&batch),
        ),
        (
            "POST get",
            env.req(Method::POST, "/v1/get").json(
                &serde_json::json!({"keys": [{"ns": "tenant-a/users/u1", "key": "profile"}]}),
            ),
        ),
        ("GET scan", env.req(Method::GET, "/v1/scan?recursive=true")),
        ("GET changes", env.req(Method::GET, "/v1/changes?since=0")),
        (
            "GET stream",
            env.req(Method::GET, "/v1/streams/tenant-b/conv/c1/transcript"),
        ),
        (
            "POST tokens",
            env.req(Method::POST, "/v1/tokens")
                .json(&serde_json::json!({"scopes": [{"ns": "*", "perms": ["admin"]}]})),
        ),
        ("GET tokens", env.req(Method::GET, "/v1/tokens")),
        ("POST compact", env.req(Method::POST, "/v1/admin/compact")),
    ];
    for (what, rb) in no_token {
        let r = rb.send().await.unwrap();
        if what.starts_with("HEAD") {
            // No body to a HEAD; the status and content type still say it.
            assert_eq!(r.status(), 401, "{what}");
            continue;
        }
        refused(&format!("no token: {what}"), r, 401, "unauthorized").await;
    }

    // Malformed Authorization headers.
    let id = env.admin.split('_').nth(1).unwrap().to_owned();
    let secret = env.admin.rsplit('_').next().unwrap().to_owned();
    let bad_headers: Vec<(&str, reqwest::header::HeaderValue)> = vec![
        ("basic auth", "Basic YWRtaW46YWRtaW4=".parse().unwrap()),
        ("bare scheme", "Bearer".parse().unwrap()),
        ("empty token", "Bearer ".parse().unwrap()),
        ("no scheme", env.admin.parse().unwrap()),
        (
            "other scheme",
            format!("Token {}", env.admin).parse().unwrap(),
        ),
        ("prefix only", "Bearer bst_".parse().unwrap()),
        ("no secret", format!("Bearer bst_{id}").parse().unwrap()),
        (
            "no secret, trailing _",
            format!("Bearer bst_{id}_").parse().unwrap(),
        ),
        (
            "trailing garbage",
            format!("Bearer {}x", env.admin).parse().unwrap(),
        ),
        (
            "secret cut short",
            format!("Bearer {}", &env.admin[..env.admin.len() - 1])
                .parse()
                .unwrap(),
        ),
        (
            "forged secret",
            format!("Bearer bst_{id}_{}", "A".repeat(secret.len()))
                .parse()
                .unwrap(),
        ),
        (
            "unknown id",
            format!("Bearer bst_0000000000000000_{secret}")
                .parse()
                .unwrap(),
        ),
        (
            "two tokens",
            format!("Bearer {} {}", env.admin, env.admin)
                .parse()
                .unwrap(),
        ),
        (
            "non-ASCII",
            reqwest::header::HeaderValue::from_bytes(b"Bearer bst_\xff\xfe").unwrap(),
        ),
        (
            "long",
            format!("Bearer bst_{}", "x".repeat(8000)).parse().unwrap(),
        ),
    ];
    for (what, h) in bad_headers {
        for (m, body) in [(Method::GET, None), (Method::PUT, Some("{\"x\":1}"))] {
            let mut rb = env.req(m.clone(), item).header("authorization", h.clone());
            if let Some(b) = body {
                rb = rb.header("content-type", "application/json").body(b);
            }
            let r = rb.send().await.unwrap();
            refused(&format!("{m} with {what}"), r, 401, "unauthorized").await;
        }
    }

    // Two Authorization headers: the first one counts; a bad first one is refused.
    let r = env
        .req(Method::GET, item)
        .header("authorization", "Bearer bst_nope_nope")
        .header("authorization", format!("Bearer {}", env.admin))
        .send()
        .await
        .unwrap();
    refused(
        "a bad first of two Authorization headers",
        r,
        401,
        "unauthorized",
    )
    .await;

    env.unchanged(lsn).await;
    bystander.finish().await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_outside_their_scope_get_403_and_touch_nothing() {
    let env = Env::start(|_| {}).await;
    let lsn = env.seed().await;
    let bystander = Bystander::start(&env, Duration::from_millis(25));
    let rw = env
        .live_token("tenant-a/*", &[Perm::Read, Perm::Write])
        .await;
    let ro = env.live_token("tenant-a/*", &[Perm::Read]).await;
    let b_item = "/v1/items/tenant-b/users/u1/profile";
    let a_item = "/v1/items/tenant-a/users/u1/profile";
    let json = |v: serde_json::Value| serde_json::to_vec(&v).unwrap();
    let put = |ns: &str, key: &str| serde_json::json!({"op": "put", "ns": ns, "key": key, "value": {"x": 1}});

    // (what, token, method, path, content type, body)
    type Case<'a> = (&'a str, &'a str, Method, String, Option<&'a str>, Vec<u8>);
    let cases: Vec<Case> = vec![
        // A tenant-a token reaching into tenant-b.
        (
            "read a tenant-b item",
            &rw,
            Method::GET,
            b_item.into(),
            None,
            vec![],
        ),
        (
            "write a tenant-b item",
            &rw,
            Method::PUT,
            b_item.into(),
            None,
            json(serde_json::json!({"x": 1})),
        ),
        (
            "delete a tenant-b item",
            &rw,
            Method::DELETE,
            b_item.into(),
            None,
            vec![],
        ),
        (
            "patch a tenant-b item",
            &rw,
            Method::PATCH,
            b_item.into(),
            Some("application/merge-patch+json"),
            json(serde_json::json!({"x": 1})),
        ),
        (
            "read a tenant-b stream",
            &rw,
            Method::GET,
            "/v1/streams/tenant-b/conv/c1/transcript".into(),
            None,
            vec![],
        ),
        (
            "stream info in tenant-b",
            &rw,
            Method::GET,
            "/v1/streams/tenant-b/conv/c1/transcript:info".into(),
            None,
            vec![],
        ),
        (
            "append to a tenant-b stream",
            &rw,
            Method::POST,
            "/v1/streams/tenant-b/conv/c1/transcript:append".into(),
            None,
            json(serde_json::json!({"entries": [{"value": 1}]})),
        ),
        (
            "trim a tenant-b stream",
            &rw,
            Method::POST,
            "/v1/streams/tenant-b/conv/c1/transcript:trim".into(),
            None,
            json(serde_json::json!({"keep_last": 0})),
        ),
        (
            "delete a tenant-b stream",
            &rw,
            Method::DELETE,
            "/v1/streams/tenant-b/conv/c1/transcript".into(),
            None,
            vec![],
        ),
        (
            "take a tenant-b lease",
            &rw,
            Method::POST,
            "/v1/leases/tenant-b/locks/l1:acquire".into(),
            None,
            json(serde_json::json!({"holder": "x", "ttl": "30s"})),
        ),
        (
            "scan tenant-b",
            &rw,
            Method::GET,
            "/v1/scan/tenant-b/users/u1".into(),
            None,
            vec![],
        ),
        (
            "scan tenant-b recursively",
            &rw,
            Method::GET,
            "/v1/scan/tenant-b?recursive=true".into(),
            None,
            vec![],
        ),
        (
            "scan the root recursively",
            &rw,
            Method::GET,
            "/v1/scan?recursive=true".into(),
            None,
            vec![],
        ),
        (
            "get-many with a tenant-b key",
            &rw,
            Method::POST,
            "/v1/get".into(),
            None,
            json(serde_json::json!({"keys": [
            {"ns": "tenant-a/users/u1", "key": "profile"}, {"ns": "tenant-b/users/u1", "key": "profile"}]})),
        ),
        (
            "list tenant-b namespaces",
            &rw,
            Method::GET,
            "/v1/namespaces/tenant-b".into(),
            None,
            vec![],
        ),
        (
            "stats of tenant-b",
            &rw,
            Method::GET,
            "/v1/stats/tenant-b".into(),
            None,
            vec![],
        ),
        (
            "namespace TTLs of tenant-b",
            &rw,
            Method::GET,
            "/v1/namespace-ttls/tenant-b".into(),
            None,
            vec![],
        ),
        (
            "a TTL on tenant-b",
            &rw,
            Method::PUT,
            "/v1/namespace-ttls/tenant-b".into(),
            None,
            json(serde_json::json!({"ttl": "1s"})),
        ),
        (
            "a TTL on the root",
            &rw,
            Method::PUT,
            "/v1/namespace-ttls".into(),
            None,
            json(serde_json::json!({"ttl": "1s"})),
        ),
        (
            "an encoded slash to climb out of tenant-a",
            &rw,
            Method::PUT,
            "/v1/items/tenant-a%2F..%2Ftenant-b/users/u1/profile".into(),
            None,
            json(serde_json::json!({"x": 1})),
        ),
        (
            "a namespace that only starts like tenant-a",
            &rw,
            Method::PUT,
            "/v1/items/tenant-ab/users/u1/profile".into(),
            None,
            json(serde_json::json!({"x": 1})),
        ),
        // A batch with one mutation out of scope writes none of them.
        (
            "a batch reaching into tenant-b",
            &rw,
            Method::POST,
            "/v1/batch".into(),
            None,
            json(
                serde_json::json!({"mutations": [put("tenant-a/users/u1", "profile"), put("tenant-b/users/u1", "profile")]}),
            ),
        ),
        (
            "a non-atomic batch reaching into tenant-b",
            &rw,
            Method::POST,
            "/v1/batch".into(),
            None,
            json(
                serde_json::json!({"atomic": false, "mutations": [put("tenant-a/users/u1", "profile"), put("tenant-b/users/u1", "profile")]}),
            ),
        ),
        (
            "a batch setting a TTL on the root",
            &rw,
            Method::POST,
            "/v1/batch".into(),
            None,
            json(
                serde_json::json!({"mutations": [{"op": "set_namespace_ttl", "prefix": "", "ttl": "1s"}]}),
            ),
        ),
        (
            "a batch setting a TTL on tenant-b",
            &rw,
            Method::POST,
            "/v1/batch".into(),
            None,
            json(
                serde_json::json!({"mutations": [{"op": "set_namespace_ttl", "prefix": "tenant-b", "ttl": "1s"}]}),
            ),
        ),
        // Administration needs admin on `*`.
        (
            "create a token",
            &rw,
            Method::POST,
            "/v1/tokens".into(),
            None,
            json(serde_json::json!({"scopes": [{"ns": "*", "perms": ["admin"]}]})),
        ),
        (
            "create a token in its own scope",
            &rw,
            Method::POST,
            "/v1/tokens".into(),
            None,
            json(serde_json::json!({"scopes": [{"ns": "tenant-a/*", "perms": ["read"]}]})),
        ),
        (
            "list tokens",
            &rw,
            Method::GET,
            "/v1/tokens".into(),
            None,
            vec![],
        ),
        (
            "revoke the admin token",
            &rw,
            Method::DELETE,
            format!("/v1/tokens/{}", env.admin.split('_').nth(1).unwrap()),
            None,
            vec![],
        ),
        (
            "compact",
            &rw,
            Method::POST,
            "/v1/admin/compact".into(),
            None,
            vec![],
        ),
        // A read-only token writing in its own scope.
        (
            "read-only: put",
            &ro,
            Method::PUT,
            a_item.into(),
            None,
            json(serde_json::json!({"x": 1})),
        ),
        (
            "read-only: put a new item",
            &ro,
            Method::PUT,
            "/v1/items/tenant-a/users/u1/new".into(),
            None,
            json(serde_json::json!({"x": 1})),
        ),
        (
            "read-only: delete",
            &ro,
            Method::DELETE,
            a_item.into(),
            None,
            vec![],
        ),
        (
            "read-only: patch",
            &ro,
            Method::PATCH,
            a_item.into(),
            Some("application/merge-patch+json"),
            json(serde_json::json!({"x": 1})),
        ),
        (
            "read-only: append",
            &ro,
            Method::POST,
            "/v1/streams/tenant-a/conv/c1/t:append".into(),
            None,
            json(serde_json::json!({"entries": [{"value": 1}]})),
        ),
        (
            "read-only: trim",
            &ro,
            Method::POST,
            "/v1/streams/tenant-a/conv/c1/t:trim".into(),
            None,
            json(serde_json::json!({"keep_last": 0})),
        ),
        (
            "read-only: delete a stream",
            &ro,
            Method::DELETE,
            "/v1/streams/tenant-a/conv/c1/t".into(),
            None,
            vec![],
        ),
        (
            "read-only: take a lease",
            &ro,
            Method::POST,
            "/v1/leases/tenant-a/locks/l1:acquire".into(),
            None,
            json(serde_json::json!({"holder": "x", "ttl": "30s"})),
        ),
        (
            "read-only: a batch",
            &ro,
            Method::POST,
            "/v1/batch".into(),
            None,
            json(serde_json::json!({"mutations": [put("tenant-a/users/u1", "profile")]})),
        ),
        (
            "read-only: a namespace TTL",
            &ro,
            Method::PUT,
            "/v1/namespace-ttls/tenant-a".into(),
            None,
            json(serde_json::json!({"ttl": "1s"})),
        ),
    ];
    for (what, token, method, path, ct, body) in cases {
        let mut rb = env
            .with(token, method, &path)
            .header("content-type", ct.unwrap_or("application/json"));
        if !body.is_empty() {
            rb = rb.body(body);
        }
        let p = refused(what, rb.send().await.unwrap(), 403, "forbidden").await;
        if what.contains("batch reaching") {
            assert_eq!(p.index, Some(1), "{what}: the refused mutation's index");
        }
    }

    // What a scoped token may read shows nothing of tenant-b.
    for path in [
        "/v1/changes?since=0",
        "/v1/namespaces",
        "/v1/namespaces?depth=1",
        "/v1/stats",
        "/v1/namespace-ttls",
        "/v1/scan/tenant-a?recursive=true",
    ] {
        let r = env.with(&rw, Method::GET, path).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let text = r.text().await.unwrap();
        assert!(
            !text.contains("tenant-b") && !text.contains(B_SECRET),
            "{path} shows tenant-b: {text}"
        );
    }
    // The change feed as Server-Sent Events too: tenant-a's change comes, tenant-b's not.
    let mut r = env
        .with(&rw, Method::GET, "/v1/changes?since=0")
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut text = String::new();
    let until = tokio::time::Instant::now() + Duration::from_millis(700);
    while let Ok(Ok(Some(c))) = tokio::time::timeout_at(until, r.chunk()).await {
        text.push_str(&String::from_utf8_lossy(&c));
    }
    drop(r);
    assert!(
        text.contains(A_SECRET),
        "the event stream did not show tenant-a: {text}"
    );
    assert!(
        !text.contains("tenant-b") && !text.contains(B_SECRET),
        "the event stream shows tenant-b: {text}"
    );

    // A cursor of a tenant-b scan does not carry a tenant-a scan into tenant-b.
    let b_key =
        botstore::codec::named_key(&botstore::Namespace::new(["tenant-b", "users", "u1"]), "");
    for cursor in [
        botstore::read::encode_cursor(&b_key),
        botstore::read::encode_cursor(b"tenant-b"),
        botstore::read::encode_cursor(b""),
    ] {
        for path in [
            format!("/v1/scan/tenant-a/users/u1?cursor={cursor}"),
            format!("/v1/scan/tenant-a?recursive=true&cursor={cursor}"),
        ] {
            let r = env.with(&rw, Method::GET, &path).send().await.unwrap();
            let p = refused(&format!("a forged cursor: {path}"), r, 400, "invalid-input").await;
            assert_eq!(p.rule.as_deref(), Some("cursor"));
        }
    }

    // The read-only token does read.
    let r = env.with(&ro, Method::GET, a_item).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(env.item("/v1/items/tenant-a/users/u1/new").await.is_none());
    assert!(env
        .item("/v1/items/tenant-ab/users/u1/profile")
        .await
        .is_none());

    env.unchanged(lsn).await;
    bystander.finish().await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_and_expired_tokens_are_refused_within_a_second() {
    let env = Env::start(|_| {}).await;
    env.seed().await;
    let bystander = Bystander::start(&env, Duration::from_millis(25));
    let item = "/v1/items/tenant-a/users/u1/profile";
    let all = [Perm::Read, Perm::Write];
    // Made while the server runs, in the token file (as the CLI does).
    let by_file = env.token("tenant-a/*", &all, None);
    let by_api = env.token("tenant-a/*", &all, None);
    let expiring = env.token("tenant-a/*", &all, Some("1s"));
    let made = Instant::now();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // The server picked them up; all of them work now (the expiring one may just have
    // run out on a slow machine, so it is only checked below).
    for t in [&by_file, &by_api] {
        let r = env.with(&t.token, Method::GET, item).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let r = env
            .with(&t.token, Method::PUT, "/v1/items/tenant-a/users/u1/ok")
            .json(&serde_json::json!(1))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let lsn = env.lsn().await;

    // Revoked in the file by another process: refused within a second.
    assert!(TokenStore::open(&env.dir)
        .unwrap()
        .revoke(&by_file.info.id)
        .unwrap());
    // Revoked through the API: refused at once.
    let r = env
        .admin(Method::DELETE, &format!("/v1/tokens/{}", by_api.info.id))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    for (m, body) in [(Method::GET, None), (Method::PUT, Some("{\"x\":2}"))] {
        let mut rb = env.with(&by_api.token, m.clone(), item);
        if let Some(b) = body {
            rb = rb.header("content-type", "application/json").body(b);
        }
        let p = refused(
            &format!("{m} with a token revoked through the API"),
            rb.send().await.unwrap(),
            401,
            "unauthorized",
        )
        .await;
        assert!(p.detail.unwrap().contains("revoked"));
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(made.elapsed() > Duration::from_millis(1050));
    for (what, t, word) in [
        ("revoked in the file", &by_file, "revoked"),
        ("expired", &expiring, "expired"),
    ] {
        for (m, body) in [
            (Method::GET, None),
            (Method::PUT, Some("{\"x\":2}")),
            (Method::DELETE, None),
        ] {
            let mut rb = env.with(&t.token, m.clone(), item);
            if let Some(b) = body {
                rb = rb.header("content-type", "application/json").body(b);
            }
            let p = refused(
                &format!("{m} with a token {what}"),
                rb.send().await.unwrap(),
                401,
                "unauthorized",
            )
            .await;
            assert!(
                p.detail.as_deref().unwrap_or("").contains(word),
                "{what}: {p:?}"
            );
        }
        let r = env
            .with(&t.token, Method::GET, "/v1/changes?since=0&wait=1s")
            .send()
            .await
            .unwrap();
        refused(
            &format!("the change feed with a token {what}"),
            r,
            401,
            "unauthorized",
        )
        .await;
    }

    assert_eq!(env.lsn().await, lsn);
    env.unchanged(lsn).await;
    bystander.finish().await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_over_its_rate_gets_429_with_retry_after_and_others_are_served() {
    let env = Env::start(|c| {
        c.rate_limit = Some(10.0);
        c.rate_burst = Some(10);
    })
    .await;
    let lsn = env.seed().await;
    // The admin token of the bystander has its own bucket; it stays under the rate.
    let bystander = Bystander::start(&env, Duration::from_millis(250));
    let hog = env
        .token("tenant-a/*", &[Perm::Read, Perm::Write], None)
        .token;
    let other = env.token("tenant-a/*", &[Perm::Read], None).token;
    let item = "/v1/items/tenant-a/users/u1/profile";

    tokio::time::sleep(Duration::from_millis(1100)).await; // the server sees the new token

    // Reads: the burst passes, then 429s.
    let mut ok = 0;
    let mut limited = None;
    for _ in 0..60 {
        let r = env.with(&hog, Method::GET, item).send().await.unwrap();
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(r);
            break;
        }
        assert_eq!(r.status(), 200);
        ok += 1;
    }
    assert!(ok >= 5, "only {ok} requests before the limit");
    let r = limited.expect("60 requests at once never hit a limit of 10/s");
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    refused("over the rate", r, 429, "rate-limited").await;
    // Writes: each 429 wrote nothing; each 200 wrote its item, and nothing else was.
    let mut written = 0;
    let mut refused_key = None;
    for i in 0..60 {
        let path = format!("/v1/items/tenant-a/rate/k{i}");
        let r = env
            .with(&hog, Method::PUT, &path)
            .json(&serde_json::json!(i))
            .send()
            .await
            .unwrap();
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(
                r.headers().get("retry-after").is_some(),
                "no Retry-After on a 429"
            );
            refused("a write over the rate", r, 429, "rate-limited").await;
            refused_key = Some(path);
            break;
        }
        assert_eq!(r.status(), 200);
        written += 1;
    }
    let refused_key = refused_key.expect("60 writes at once never hit a limit of 10/s");
    assert!(
        env.item(&refused_key).await.is_none(),
        "a write refused with 429 was done"
    );
    env.unchanged(lsn + written).await;
    // Another token is not held back by the hog.
    let r = env.with(&other, Method::GET, item).send().await.unwrap();
    assert_eq!(r.status(), 200);
    // After Retry-After the hog is served again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = env.with(&hog, Method::GET, item).send().await.unwrap();
    assert_eq!(r.status(), 200);

    bystander.finish().await;
    env.stop().await;
}

// ------------------------------------------------------------------ bodies

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_get_413_with_or_without_a_length() {
    let env = Env::start(|_| {}).await;
    let lsn = env.seed().await;
    let bystander = Bystander::start(&env, Duration::from_millis(25));
    let path = "/v1/items/tenant-a/users/u1/big";
    let big = format!("\"{}\"", "x".repeat(BODY_LIMIT));

    // With Content-Length, over the limit by a little.
    let r = env
        .admin(Method::PUT, path)
        .header("content-type", "application/json")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    refused(
        "PUT with Content-Length over the limit",
        r,
        413,
        "payload-too-large",
    )
    .await;
    // A JSON body over the limit (batch, append, get-many, tokens).
    let entries: Vec<serde_json::Value> = (0..BODY_LIMIT / 8)
        .map(|i| serde_json::json!({"value": i}))
        .collect();
    let mutation =
        serde_json::json!({"op": "append", "ns": "tenant-a/c", "stream": "s", "entries": entries});
    for (what, p, body) in [
        (
            "batch",
            "/v1/batch",
            serde_json::json!({"mutations": [mutation]}),
        ),
        (
            "append",
            "/v1/streams/tenant-a/c/s:append",
            serde_json::json!({"entries": entries}),
        ),
    ] {
        let r = env.admin(Method::POST, p).json(&body).send().await.unwrap();
        refused(
            &format!("{what} over the limit"),
            r,
            413,
            "payload-too-large",
        )
        .await;
    }

    // A Content-Length far over the limit, with no body behind it: refused at once,
    // without waiting for the body.
    let t = Instant::now();
    let req = head(
        "PUT",
        path,
        Some(&env.admin),
        "Content-Type: application/json\r\nContent-Length: 99999999999\r\n",
    );
    raw_answer("a huge Content-Length", env.addr, &req)
        .await
        .problem("a huge Content-Length", 413, "payload-too-large");
    assert!(
        t.elapsed() < TIMEOUT,
        "the refusal waited for the body: {:?}",
        t.elapsed()
    );

    // Chunked, with no length up front: refused once the limit is passed.
    let mut req = head(
        "PUT",
        path,
        Some(&env.admin),
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n",
    );
    let chunk = vec![b'7'; 8192];
    for _ in 0..(BODY_LIMIT / chunk.len() + 2) {
        req.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        req.extend_from_slice(&chunk);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    raw_answer("chunked over the limit", env.addr, &req)
        .await
        .problem("chunked over the limit", 413, "payload-too-large");
    // Chunked, endless: the server stops reading at the limit and answers.
    let mut s = TcpStream::connect(env.addr).await.unwrap();
    s.write_all(&head(
        "POST",
        "/v1/batch",
        Some(&env.admin),
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n",
    ))
    .await
    .unwrap();
    let mut sent = 0;
    while sent <= BODY_LIMIT + chunk.len() {
        let mut c = format!("{:x}\r\n", chunk.len()).into_bytes();
        c.extend_from_slice(&chunk);
        c.extend_from_slice(b"\r\n");
        if s.write_all(&c).await.is_err() {
            break;
        }
        sent += chunk.len();
    }
    match read_answer(&mut s, Duration::from_secs(10)).await {
        Raw::Answer(r) => {
            r.problem("endless chunked body", 413, "payload-too-large");
        }
        other => panic!("endless chunked body: {other:?}"),
    }

    assert!(env.item(path).await.is_none());
    env.unchanged(lsn).await;
    bystander.finish().await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_bodies_get_400_and_write_nothing() {
    let env = Env::start(|_| {}).await;
    let lsn = env.seed().await;
    let bystander = Bystander::start(&env, Duration::from_millis(25));
    let ns = "tenant-a/users/u1";

    // (what, body, problem type, rule) for POST /v1/batch.
    let deep_array = format!("{}{}", "[".repeat(20_000), "]".repeat(20_000));
    let deep_object = "{\"a\":".repeat(10_000) + "1" + &"}".repeat(10_000);
    let mut bad_utf8 =
        br#"{"mutations": [{"op": "put", "ns": "tenant-a/users/u1", "key": "k"#.to_vec();
    bad_utf8.extend_from_slice(b"\xff\xfe");
    bad_utf8.extend_from_slice(br#"", "value": 1}]}"#);
    let mut bad_utf8_value =
        br#"{"mutations": [{"op": "put", "ns": "tenant-a/users/u1", "key": "k", "value": ""#
            .to_vec();
    bad_utf8_value.extend_from_slice(b"\xc3\x28");
    bad_utf8_value.extend_from_slice(br#""}]}"#);
    let batch_cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("cut short", br#"{"mutations": ["#.to_vec(), "malformed-request"),
        ("not JSON", b"hello".to_vec(), "malformed-request"),
        ("empty", Vec::new(), "malformed-request"),
        ("a JSON string", br#""mutations""#.to_vec(), "malformed-request"),
        ("mutations not a list", br#"{"mutations": {"op": "put"}}"#.to_vec(), "malformed-request"),
        ("trailing garbage", br#"{"mutations": []} x"#.to_vec(), "malformed-request"),
        ("a lone surrogate escape in a key", br#"{"mutations": [{"op": "put", "ns": "tenant-a", "key": "\ud800", "value": 1}]}"#.to_vec(), "malformed-request"),
        ("invalid UTF-8 in a key", bad_utf8, "malformed-request"),
        ("invalid UTF-8 in a value string", bad_utf8_value, "malformed-request"),
        ("an unknown op", format!(r#"{{"mutations": [{{"op": "drop_everything", "ns": "{ns}"}}]}}"#).into_bytes(), "malformed-request"),
        ("no op", format!(r#"{{"mutations": [{{"ns": "{ns}", "key": "k", "value": 1}}]}}"#).into_bytes(), "malformed-request"),
        ("put with an unknown field", format!(r#"{{"mutations": [{{"op": "put", "ns": "{ns}", "key": "k", "value": 1, "if_verison": 3}}]}}"#).into_bytes(), "malformed-request"),
        ("delete with a put field", format!(r#"{{"mutations": [{{"op": "delete", "ns": "{ns}", "key": "profile", "if_absent": true}}]}}"#).into_bytes(), "malformed-request"),
        ("append with an unknown field", format!(r#"{{"mutations": [{{"op": "append", "ns": "{ns}", "stream": "s", "entries": [], "expect_last": 3}}]}}"#).into_bytes(), "malformed-request"),
        ("a value given twice", format!(r#"{{"mutations": [{{"op": "put", "ns": "{ns}", "key": "k", "value": 1, "value_base64": "AA=="}}]}}"#).into_bytes(), "malformed-request"),
        ("no value", format!(r#"{{"mutations": [{{"op": "put", "ns": "{ns}", "key": "k"}}]}}"#).into_bytes(), "malformed-request"),
        ("bad base64", format!(r#"{{"mutations": [{{"op": "put", "ns": "{ns}", "key": "k", "value_base64": "!!!", "content_type": "text/plain"}}]}}"#).into_bytes(), "malformed-request"),
        ("two preconditions", format!(r#"{{"mutations": [{{"op": "put", "ns": "{ns}", "key": "k", "value": 1, "if_version": 1, "if_absent": true}}]}}"#).into_bytes(), "malformed-request"),
        ("a negative version", format!(r#"{{"mutations": [{{"op": "put", "ns": "{ns}", "key": "k", "value": 1, "if_version": -1}}]}}"#).into_bytes(), "malformed-request"),
        ("a version past u64", format!(r#"{{"mutations": [{{"op": "put", "ns": "{ns}", "key": "k", "value": 1, "if_version": 18446744073709551616}}]}}"#).into_bytes(), "malformed-request"),
        ("a TTL that is no duration", format!(r#"{{"mutations": [{{"op": "put", "ns": "{ns}", "key": "k", "value": 1, "ttl": "soon"}}]}}"#).into_bytes(), "invalid-input"),
        ("a JSON patch that is no patch", format!(r#"{{"mutations": [{{"op": "patch", "ns": "{ns}", "key": "profile", "json_patch": {{"op": "explode"}}}}]}}"#).into_bytes(), "malformed-request"),
        ("nesting 20000 arrays deep", deep_array.clone().into_bytes(), "malformed-request"),
        ("a value nested 10000 objects deep", format!(r#"{{"mutations": [{{"op": "put", "ns": "{ns}", "key": "k", "value": {deep_object}}}]}}"#).into_bytes(), "invalid-input"),
        // One good mutation before the bad one: the batch is refused whole.
        ("a good mutation, then a bad one", format!(r#"{{"mutations": [{{"op": "put", "ns": "{ns}", "key": "k", "value": 1}}, {{"op": "put", "ns": "{ns}", "key": "k2", "valu": 1}}]}}"#).into_bytes(), "malformed-request"),
        ("a good mutation, then a broken rule", format!(r#"{{"mutations": [{{"op": "put", "ns": "{ns}", "key": "k", "value": 1}}, {{"op": "put", "ns": "{ns}/..", "key": "k2", "value": 1}}]}}"#).into_bytes(), "invalid-input"),
    ];
    for (what, body, kind) in batch_cases {
        let r = env
            .admin(Method::POST, "/v1/batch")
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        refused(&format!("batch: {what}"), r, 400, kind).await;
    }

    // Single-item writes: the body is the value; a JSON one must parse.
    let item = "/v1/items/tenant-a/users/u1/profile";
    // (what, method, content type, body, status, problem type)
    type ItemCase<'a> = (&'a str, Method, Option<&'a str>, Vec<u8>, u16, &'a str);
    let item_cases: Vec<ItemCase> = vec![
        (
            "PUT JSON cut short",
            Method::PUT,
            Some("application/json"),
            b"{\"a\":".to_vec(),
            400,
            "invalid-input",
        ),
        (
            "PUT JSON with invalid UTF-8",
            Method::PUT,
            Some("application/json"),
            b"\"\xff\xfe\"".to_vec(),
            400,
            "invalid-input",
        ),
        (
            "PUT JSON with a lone surrogate",
            Method::PUT,
            None,
            br#""\udc00""#.to_vec(),
            400,
            "invalid-input",
        ),
        (
            "PUT nothing as JSON",
            Method::PUT,
            None,
            Vec::new(),
            400,
            "invalid-input",
        ),
        (
            "PUT JSON nested 20000 deep",
            Method::PUT,
            Some("application/json; charset=utf-8"),
            deep_array.clone().into_bytes(),
            400,
            "invalid-input",
        ),
        (
            "PUT a content type with a control character",
            Method::PUT,
            Some("text/plain\tx"),
            b"hi".to_vec(),
            400,
            "invalid-input",
        ),
        (
            "PATCH merge cut short",
            Method::PATCH,
            Some("application/merge-patch+json"),
            b"{\"a\":".to_vec(),
            400,
            "malformed-request",
        ),
        (
            "PATCH merge nested 20000 deep",
            Method::PATCH,
            Some("application/merge-patch+json"),
            deep_array.clone().into_bytes(),
            400,
            "malformed-request",
        ),
        (
            "PATCH json-patch not a list",
            Method::PATCH,
            Some("application/json-patch+json"),
            b"{\"op\":\"remove\"}".to_vec(),
            400,
            "malformed-request",
        ),
        (
            "PATCH with no content type",
            Method::PATCH,
            None,
            b"{}".to_vec(),
            415,
            "unsupported-media-type",
        ),
        (
            "PATCH as text",
            Method::PATCH,
            Some("text/plain"),
            b"{}".to_vec(),
            415,
            "unsupported-media-type",
        ),
    ];
    for (what, m, ct, body, status, kind) in item_cases {
        let mut rb = env.admin(m, item).body(body);
        if let Some(ct) = ct {
            rb = rb.header("content-type", ct);
        }
        refused(what, rb.send().await.unwrap(), status, kind).await;
    }

    // Other JSON endpoints.
    // (what, method, path, content type, body, status, problem type)
    type JsonCase<'a> = (
        &'a str,
        Method,
        &'a str,
        Option<&'a str>,
        &'a [u8],
        u16,
        &'a str,
    );
    let json_cases: Vec<JsonCase> = vec![
        (
            "append: not JSON",
            Method::POST,
            "/v1/streams/tenant-a/c/s:append",
            None,
            b"entries",
            400,
            "malformed-request",
        ),
        (
            "append: invalid UTF-8",
            Method::POST,
            "/v1/streams/tenant-a/c/s:append",
            None,
            b"{\"entries\": [{\"value\": \"\xff\"}]}",
            400,
            "malformed-request",
        ),
        (
            "trim: two cuts",
            Method::POST,
            "/v1/streams/tenant-b/conv/c1/transcript:trim",
            None,
            br#"{"keep_last": 0, "before": 9}"#,
            400,
            "malformed-request",
        ),
        (
            "lease: no holder",
            Method::POST,
            "/v1/leases/tenant-a/l/x:acquire",
            None,
            br#"{"ttl": "30s"}"#,
            400,
            "malformed-request",
        ),
        (
            "get-many: keys not a list",
            Method::POST,
            "/v1/get",
            None,
            br#"{"keys": "all"}"#,
            400,
            "malformed-request",
        ),
        (
            "tokens: scopes cut short",
            Method::POST,
            "/v1/tokens",
            None,
            br#"{"scopes": [{"ns": "*""#,
            400,
            "malformed-request",
        ),
        (
            "namespace TTL: a number",
            Method::PUT,
            "/v1/namespace-ttls/tenant-a",
            None,
            br#"{"ttl": 5}"#,
            400,
            "malformed-request",
        ),
        (
            "batch as text/plain",
            Method::POST,
            "/v1/batch",
            Some("text/plain"),
            br#"{"mutations": []}"#,
            415,
            "unsupported-media-type",
        ),
        (
            "batch as form data",
            Method::POST,
            "/v1/batch",
            Some("application/x-www-form-urlencoded"),
            b"mutations=1",
            415,
            "unsupported-media-type",
        ),
    ];
    for (what, m, path, ct, body, status, kind) in json_cases {
        let r = env
            .admin(m, path)
            .header("content-type", ct.unwrap_or("application/json"))
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        refused(what, r, status, kind).await;
    }

    // Headers and queries that do not parse.
    let header_cases: Vec<(&str, &str, &str)> = vec![
        ("If-Match not an ETag", "if-match", "\"abc\""),
        ("If-Match with a list", "if-match", "\"1\", \"2\""),
        ("If-Match: *", "if-match", "*"),
        ("If-Match negative", "if-match", "\"-1\""),
        ("If-Match past u64", "if-match", "\"18446744073709551616\""),
        ("If-None-Match with a version", "if-none-match", "\"1\""),
    ];
    for (what, h, v) in header_cases {
        let r = env
            .admin(Method::PUT, item)
            .header(h, v)
            .json(&serde_json::json!(1))
            .send()
            .await
            .unwrap();
        refused(what, r, 400, "malformed-request").await;
    }
    let r = env
        .admin(Method::PUT, item)
        .header(
            "if-match",
            reqwest::header::HeaderValue::from_bytes(b"\"1\xff\"").unwrap(),
        )
        .json(&serde_json::json!(1))
        .send()
        .await
        .unwrap();
    refused("If-Match not ASCII", r, 400, "malformed-request").await;
    let r = env
        .admin(Method::DELETE, item)
        .header("if-match", "\"1\"")
        .header("if-none-match", "*")
        .send()
        .await
        .unwrap();
    refused("If-Match and If-None-Match", r, 400, "malformed-request").await;
    for (what, m, q) in [
        ("a misspelt query parameter", Method::PUT, "?tll=30s"),
        ("a TTL that is no duration", Method::PUT, "?ttl=forever"),
        (
            "a fence without its token",
            Method::PUT,
            "?fence_ns=a&fence_name=l",
        ),
        (
            "a fence token that is no number",
            Method::DELETE,
            "?fence_ns=a&fence_name=l&fence_token=x",
        ),
        ("a subject on DELETE", Method::DELETE, "?subject=u1"),
    ] {
        let r = env
            .admin(m, &format!("{item}{q}"))
            .json(&serde_json::json!(1))
            .send()
            .await
            .unwrap();
        let kind = if what.contains("TTL") {
            "invalid-input"
        } else {
            "malformed-request"
        };
        refused(what, r, 400, kind).await;
    }
    for (what, path, kind) in [
        (
            "a limit that is no number",
            "/v1/changes?limit=lots",
            "malformed-request",
        ),
        (
            "a page too large",
            "/v1/changes?limit=100000000",
            "invalid-input",
        ),
        (
            "a negative since",
            "/v1/changes?since=-1",
            "malformed-request",
        ),
        (
            "a wait that is no duration",
            "/v1/changes?wait=forever",
            "invalid-input",
        ),
        (
            "an unknown scan parameter",
            "/v1/scan/tenant-a?recursve=true",
            "malformed-request",
        ),
        (
            "a scan cursor that is no cursor",
            "/v1/scan/tenant-a/users/u1?cursor=%FF%FE",
            "invalid-input",
        ),
        (
            "a namespace cursor that is no cursor",
            "/v1/namespaces?cursor=!!",
            "invalid-input",
        ),
        (
            "a stream direction",
            "/v1/streams/tenant-a/c/s?direction=sideways",
            "malformed-request",
        ),
    ] {
        let r = env.admin(Method::GET, path).send().await.unwrap();
        refused(what, r, 400, kind).await;
    }

    for k in ["k", "k2", "new"] {
        assert!(env
            .item(&format!("/v1/items/tenant-a/users/u1/{k}"))
            .await
            .is_none());
    }
    env.unchanged(lsn).await;
    bystander.finish().await;
    env.stop().await;
}

// ------------------------------------------------------------------ names

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_with_tricks_get_400_and_write_nothing() {
    let env = Env::start(|_| {}).await;
    let lsn = env.seed().await;
    let bystander = Bystander::start(&env, Duration::from_millis(25));
    let scoped = env
        .live_token("tenant-a/*", &[Perm::Read, Perm::Write])
        .await;
    let long_key = "k".repeat(2000);
    let long_seg = "s".repeat(200);
    let deep = ["d"; 17].join("/");

    // (what, path tail after /v1/items/, problem type, rule). Sent raw: a client's URL
    // parser would resolve the dot segments before sending.
    let cases: Vec<(&str, String, &str, Option<&str>)> = vec![
        (
            "a `..` segment",
            "tenant-a/../tenant-b/users/u1/profile".into(),
            "invalid-input",
            Some("segment.characters"),
        ),
        (
            "a `..` segment at the end",
            "tenant-a/users/../profile".into(),
            "invalid-input",
            Some("segment.characters"),
        ),
        (
            "a `.` segment",
            "./tenant-a/users/u1/profile".into(),
            "invalid-input",
            Some("segment.characters"),
        ),
        (
            "an encoded `..`",
            "tenant-a/%2E%2E/tenant-b/users/u1/profile".into(),
            "invalid-input",
            Some("segment.characters"),
        ),
        (
            "an encoded `.`",
            "tenant-a/%2e/users/u1/profile".into(),
            "invalid-input",
            Some("segment.characters"),
        ),
        (
            "`%2F` inside a namespace segment",
            "tenant-a%2Fusers/u1/profile".into(),
            "invalid-input",
            Some("segment.characters"),
        ),
        (
            "`%2F..%2F` inside a namespace segment",
            "tenant-a%2F..%2Ftenant-b/users/u1/profile".into(),
            "invalid-input",
            Some("segment.characters"),
        ),
        (
            "an empty segment",
            "tenant-a//u1/profile".into(),
            "invalid-input",
            Some("segment.empty"),
        ),
        (
            "no namespace",
            "profile".into(),
            "invalid-input",
            Some("namespace.empty"),
        ),
        (
            "an empty key",
            "tenant-a/users/u1/".into(),
            "invalid-input",
            Some("key.empty"),
        ),
        (
            "`%00` in a key",
            "tenant-a/users/u1/pro%00file".into(),
            "invalid-input",
            Some("key.characters"),
        ),
        (
            "`%0A` in a key",
            "tenant-a/users/u1/pro%0Afile".into(),
            "invalid-input",
            Some("key.characters"),
        ),
        (
            "`%0D%0A` header injection in a key",
            "tenant-a/users/u1/k%0D%0AX-Evil:%201".into(),
            "invalid-input",
            Some("key.characters"),
        ),
        (
            "`%7F` in a key",
            "tenant-a/users/u1/k%7F".into(),
            "invalid-input",
            Some("key.characters"),
        ),
        (
            "a C1 control (U+0085) in a key",
            "tenant-a/users/u1/k%C2%85".into(),
            "invalid-input",
            Some("key.characters"),
        ),
        (
            "`%00` in a namespace segment",
            "tenant-a/us%00ers/u1/profile".into(),
            "invalid-input",
            Some("segment.characters"),
        ),
        (
            "`%09` in a namespace segment",
            "tenant-a/us%09ers/u1/profile".into(),
            "invalid-input",
            Some("segment.characters"),
        ),
        (
            "a key of 2000 bytes",
            format!("tenant-a/users/u1/{long_key}"),
            "invalid-input",
            Some("key.length"),
        ),
        (
            "a segment of 200 bytes",
            format!("tenant-a/{long_seg}/profile"),
            "invalid-input",
            Some("segment.length"),
        ),
        (
            "17 segments",
            format!("{deep}/profile"),
            "invalid-input",
            Some("namespace.depth"),
        ),
        (
            "`%FF` in a key",
            "tenant-a/users/u1/k%FF".into(),
            "malformed-request",
            None,
        ),
        (
            "`%FF` in a namespace segment",
            "tenant-a/%FF/u1/profile".into(),
            "malformed-request",
            None,
        ),
        (
            "a cut UTF-8 sequence (`%C3`)",
            "tenant-a/users/u1/k%C3".into(),
            "malformed-request",
            None,
        ),
        (
            "an overlong `/` (`%C0%AF`)",
            "tenant-a%C0%AF..%C0%AFtenant-b/users/u1/profile".into(),
            "malformed-request",
            None,
        ),
        (
            "an encoded surrogate (`%ED%A0%80`)",
            "tenant-a/users/u1/k%ED%A0%80".into(),
            "malformed-request",
            None,
        ),
    ];
    for (what, tail, kind, rule) in &cases {
        for (m, body) in [("PUT", Some("{\"x\":1}")), ("GET", None), ("DELETE", None)] {
            let target = format!("/v1/items/{tail}");
            let mut req = head(
                m,
                &target,
                Some(&env.admin),
                &body
                    .map(|b| {
                        format!(
                            "Content-Type: application/json\r\nContent-Length: {}\r\n",
                            b.len()
                        )
                    })
                    .unwrap_or_default(),
            );
            req.extend_from_slice(body.unwrap_or("").as_bytes());
            let what = format!("{m} {what}");
            let p = raw_answer(&what, env.addr, &req)
                .await
                .problem(&what, 400, kind);
            assert_eq!(p.rule.as_deref(), *rule, "{what}: {p:?}");
        }
        // Streams and leases decode their names the same way.
        let (ns, name) = tail.rsplit_once('/').unwrap_or(("", tail));
        let sep = if ns.is_empty() { "" } else { "/" };
        for target in [
            format!("/v1/streams/{ns}{sep}{name}:append"),
            format!("/v1/leases/{ns}{sep}{name}:acquire"),
        ] {
            let body = if target.contains("streams") {
                r#"{"entries": [{"value": 1}]}"#
            } else {
                r#"{"holder": "h", "ttl": "30s"}"#
            };
            let mut req = head(
                "POST",
                &target,
                Some(&env.admin),
                &format!(
                    "Content-Type: application/json\r\nContent-Length: {}\r\n",
                    body.len()
                ),
            );
            req.extend_from_slice(body.as_bytes());
            let what = format!("POST {target}");
            raw_answer(&what, env.addr, &req)
                .await
                .problem(&what, 400, kind);
        }
    }

    // Prefix endpoints take the same tricks.
    for (what, target, kind) in [
        (
            "scan under `..`",
            "/v1/scan/tenant-a/..?recursive=true",
            "invalid-input",
        ),
        ("scan of `.`", "/v1/scan/tenant-a/.", "invalid-input"),
        (
            "scan with `%2F`",
            "/v1/scan/tenant-a%2Fusers/u1",
            "invalid-input",
        ),
        (
            "scan with `%FF`",
            "/v1/scan/tenant-a/%FF",
            "malformed-request",
        ),
        (
            "namespaces under `..`",
            "/v1/namespaces/tenant-a/..",
            "invalid-input",
        ),
        (
            "stats under `%00`",
            "/v1/stats/tenant-a/%00",
            "invalid-input",
        ),
        (
            "namespace TTLs under `..`",
            "/v1/namespace-ttls/..",
            "invalid-input",
        ),
    ] {
        raw_answer(what, env.addr, &head("GET", target, Some(&env.admin), ""))
            .await
            .problem(what, 400, kind);
    }
    // A scoped token cannot climb out of its scope with dot segments: the scope check
    // sees the segments as sent, and the core refuses `..` after it.
    for (what, target, status, kind) in [
        (
            "`..` after the scope",
            "/v1/items/tenant-a/../tenant-b/users/u1/profile",
            400,
            "invalid-input",
        ),
        (
            "`..` before the scope",
            "/v1/items/../tenant-a/users/u1/profile",
            403,
            "forbidden",
        ),
        (
            "scan `tenant-a/..` recursively",
            "/v1/scan/tenant-a/..?recursive=true",
            400,
            "invalid-input",
        ),
        (
            "`%2F` to climb",
            "/v1/items/tenant-a%2F..%2Ftenant-b/users/u1/profile",
            403,
            "forbidden",
        ),
    ] {
        raw_answer(what, env.addr, &head("GET", target, Some(&scoped), ""))
            .await
            .problem(&format!("scoped: {what}"), status, kind);
    }

    // Raw bytes that are not URL characters in the request target: hyper's parser refuses
    // them before the server sees the request (a bare 400, no problem document), or the
    // server does (a malformed-request problem). Either way a 400, nothing written.
    for (what, target) in [
        (
            "a raw 0xFF byte in the path",
            &b"/v1/items/tenant-a/users/u1/k\xff"[..],
        ),
        (
            "a raw cut UTF-8 sequence in the path",
            &b"/v1/items/tenant-a/users/u1/k\xc3"[..],
        ),
        (
            "a raw overlong `/` in a segment",
            &b"/v1/items/tenant-a\xc0\xaf..\xc0\xaftenant-b/users/u1/profile"[..],
        ),
        (
            "a raw NUL in the path",
            &b"/v1/items/tenant-a/users/u1/k\x00"[..],
        ),
        (
            "a raw tab in the path",
            &b"/v1/items/tenant-a/users/u1/k\tx"[..],
        ),
    ] {
        let mut req = b"PUT ".to_vec();
        req.extend_from_slice(target);
        req.extend_from_slice(
            format!(
                " HTTP/1.1\r\nHost: botstore\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 1\r\nConnection: close\r\n\r\n1",
                env.admin
            )
            .as_bytes(),
        );
        match raw(env.addr, &req).await {
            Raw::Answer(r) => {
                assert_eq!(r.status, 400, "{what}: {r:?}");
                if r.header("content-type").is_some() || !r.body.is_empty() {
                    r.problem(what, 400, "malformed-request");
                }
            }
            Raw::Closed(b) => assert!(
                b.is_empty(),
                "{what}: closed after {:?}",
                String::from_utf8_lossy(&b)
            ),
            Raw::Silent => panic!("{what}: no answer"),
        }
    }

    // Raw UTF-8 that is valid is taken leniently, as the same name as its percent-encoded
    // spelling (one write; counted below).
    let mut req = b"PUT /v1/items/tenant-a/odd/k\xc3\xa9 HTTP/1.1\r\nHost: b\r\nContent-Length: 1\r\nConnection: close\r\n".to_vec();
    req.extend_from_slice(format!("Authorization: Bearer {}\r\n\r\n1", env.admin).as_bytes());
    let r = raw_answer("raw UTF-8 in the path", env.addr, &req).await;
    assert_eq!(r.status, 200, "raw UTF-8 in the path: {r:?}");
    assert!(env.item("/v1/items/tenant-a/odd/k%C3%A9").await.is_some());

    // Through reqwest too (the names it does not rewrite).
    for (what, path) in [
        ("`%2F` in a segment", "/v1/items/tenant-a%2Fb/k"),
        ("`%00` in a key", "/v1/items/tenant-a/k%00"),
        (
            "a key of 2000 bytes",
            &*format!("/v1/items/tenant-a/{long_key}"),
        ),
    ] {
        let r = env
            .admin(Method::PUT, path)
            .json(&serde_json::json!(1))
            .send()
            .await
            .unwrap();
        refused(what, r, 400, "invalid-input").await;
    }

    // A key may hold `/` (as `%2F`), dots included: a name, not a path. A key that is
    // `.` or `..` is refused (a URL resolves it away, so it could never be read).
    for (key, status) in [
        ("a%2F..%2Fb", 200),
        ("..", 400),
        ("%2E", 400),
        ("%2e%2E", 400),
    ] {
        let methods: &[(&str, &str)] = if status == 200 {
            &[("PUT", "1")]
        } else {
            &[("PUT", "1"), ("GET", ""), ("DELETE", "")]
        };
        for &(m, body) in methods {
            let path = format!("/v1/items/tenant-a/odd/{key}");
            let mut req = head(
                m,
                &path,
                Some(&env.admin),
                &format!("Content-Length: {}\r\n", body.len()),
            );
            req.extend_from_slice(body.as_bytes());
            let r = raw_answer(&path, env.addr, &req).await;
            match (m, status) {
                ("PUT", 200) => assert_eq!(r.status, 200, "{m} {path}: {r:?}"),
                (_, 200) => {}
                _ => {
                    let p = r.problem(&format!("{m} {path}"), 400, "invalid-input");
                    assert_eq!(p.rule.as_deref(), Some("key.characters"));
                }
            }
        }
    }
    let r = env
        .admin(Method::GET, "/v1/scan/tenant-a/odd")
        .send()
        .await
        .unwrap();
    let page: serde_json::Value = r.json().await.unwrap();
    let keys: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["a/../b", "ké"]);
    // Those two writes are the only ones.
    assert_eq!(env.lsn().await, lsn + 2);
    env.unchanged(lsn + 2).await;
    bystander.finish().await;
    env.stop().await;
}

// ------------------------------------------------------------------ slow and huge

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_bodies_get_408_and_the_server_keeps_serving() {
    let env = Env::start(|_| {}).await;
    env.seed().await;
    let bystander = Bystander::start(&env, Duration::from_millis(25));
    let put = |key: &str, len: usize| {
        head(
            "PUT",
            &format!("/v1/items/tenant-a/slow/{key}"),
            Some(&env.admin),
            &format!("Content-Type: application/json\r\nContent-Length: {len}\r\n"),
        )
    };

    // 20 connections send their headers and part of the body, then stall.
    let started = Instant::now();
    let mut stalled = Vec::new();
    for i in 0..20 {
        let mut s = TcpStream::connect(env.addr).await.unwrap();
        let mut req = put(&format!("k{i}"), 1000);
        req.extend_from_slice(b"{\"x\": \"");
        s.write_all(&req).await.unwrap();
        stalled.push(s);
    }
    // 5 more dribble a byte every 150 ms: still too slow for the whole body.
    let mut dribblers = Vec::new();
    for i in 0..5 {
        let req = put(&format!("d{i}"), 1000);
        let addr = env.addr;
        dribblers.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(&req).await.unwrap();
            let t = Instant::now();
            loop {
                tokio::select! {
                    a = read_answer(&mut s, Duration::from_secs(10)) => return (a, t.elapsed()),
                    _ = tokio::time::sleep(Duration::from_millis(150)) => {
                        if s.write_all(b" ").await.is_err() {
                            return (read_answer(&mut s, Duration::from_secs(5)).await, t.elapsed());
                        }
                    }
                }
            }
        }));
    }
    // While they hang, a normal client is served promptly.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..5 {
        let t = Instant::now();
        let r = env
            .admin(Method::GET, "/v1/items/ok/bystander/k")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(
            t.elapsed() < PROMPT,
            "a normal GET took {:?} beside slow bodies",
            t.elapsed()
        );
        let r = env
            .admin(Method::PUT, "/v1/items/ok/bystander/other")
            .json(&serde_json::json!(1))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let lsn = env.lsn().await;
    for (i, mut s) in stalled.into_iter().enumerate() {
        let what = format!("stalled body {i}");
        match read_answer(&mut s, TIMEOUT + SLACK).await {
            Raw::Answer(r) => {
                r.problem(&what, 408, "request-timeout");
            }
            other => panic!("{what}: {other:?} after {:?}", started.elapsed()),
        }
    }
    assert!(
        started.elapsed() < TIMEOUT + SLACK,
        "408s took {:?}",
        started.elapsed()
    );
    for (i, d) in dribblers.into_iter().enumerate() {
        let (a, took) = d.await.unwrap();
        let what = format!("dribbled body {i}");
        match a {
            Raw::Answer(r) => {
                r.problem(&what, 408, "request-timeout");
            }
            other => panic!("{what}: {other:?}"),
        }
        assert!(took < TIMEOUT + SLACK, "{what}: answered after {took:?}");
    }
    // A slow body on a JSON endpoint, and on one that does not exist for the token.
    let mut s = TcpStream::connect(env.addr).await.unwrap();
    s.write_all(&head(
        "POST",
        "/v1/batch",
        Some(&env.admin),
        "Content-Type: application/json\r\nContent-Length: 500\r\n",
    ))
    .await
    .unwrap();
    s.write_all(b"{\"mutations\": [").await.unwrap();
    match read_answer(&mut s, TIMEOUT + SLACK).await {
        Raw::Answer(r) => {
            r.problem("stalled batch", 408, "request-timeout");
        }
        other => panic!("stalled batch: {other:?}"),
    }
    // Without a token, the body is not waited for.
    let mut s = TcpStream::connect(env.addr).await.unwrap();
    s.write_all(&head(
        "PUT",
        "/v1/items/tenant-a/slow/x",
        None,
        "Content-Length: 500\r\n",
    ))
    .await
    .unwrap();
    let t = Instant::now();
    match read_answer(&mut s, TIMEOUT + SLACK).await {
        Raw::Answer(r) => {
            r.problem("stalled body without a token", 401, "unauthorized");
        }
        other => panic!("stalled body without a token: {other:?}"),
    }
    assert!(t.elapsed() < TIMEOUT, "a 401 waited for the body");

    for i in 0..20 {
        assert!(env
            .item(&format!("/v1/items/tenant-a/slow/k{i}"))
            .await
            .is_none());
    }
    env.unchanged(lsn).await;
    bystander.finish().await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_huge_request_heads_are_cut_off_and_the_server_keeps_serving() {
    let env = Env::start(|_| {}).await;
    let lsn = env.seed().await;
    let bystander = Bystander::start(&env, Duration::from_millis(25));

    // A head that stops half-way, and one dribbled a byte every 150 ms (slowloris): cut
    // off after the header timeout, with a 408 or by closing the connection.
    let started = Instant::now();
    let mut half = Vec::new();
    for _ in 0..10 {
        let mut s = TcpStream::connect(env.addr).await.unwrap();
        s.write_all(b"GET /v1/items/ok/bystander/k HTTP/1.1\r\nHost: botstore\r\nX-Slow: ")
            .await
            .unwrap();
        half.push(s);
    }
    let mut loris = Vec::new();
    for _ in 0..5 {
        let addr = env.addr;
        loris.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            let t = Instant::now();
            let line = b"GET /healthz HTTP/1.1\r\nHost: botstore\r\n";
            let mut i = 0;
            loop {
                let b = if i < line.len() { line[i] } else { b'x' };
                i += 1;
                tokio::select! {
                    a = read_answer(&mut s, Duration::from_secs(10)) => return (a, t.elapsed()),
                    _ = tokio::time::sleep(Duration::from_millis(150)) => {
                        if s.write_all(&[b]).await.is_err() {
                            return (read_answer(&mut s, Duration::from_secs(2)).await, t.elapsed());
                        }
                    }
                }
                if t.elapsed() > Duration::from_secs(10) {
                    return (Raw::Silent, t.elapsed());
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let t = Instant::now();
    let r = env
        .admin(Method::GET, "/v1/items/ok/bystander/k")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(t.elapsed() < PROMPT);

    let cut_off = |what: &str, a: Raw| match a {
        Raw::Answer(r) => assert_eq!(r.status, 408, "{what}: {r:?}"),
        Raw::Closed(_) => {}
        Raw::Silent => panic!("{what}: still open after the header timeout"),
    };
    for (i, mut s) in half.into_iter().enumerate() {
        cut_off(
            &format!("half a head {i}"),
            read_answer(&mut s, TIMEOUT + SLACK).await,
        );
    }
    assert!(started.elapsed() < TIMEOUT + SLACK + Duration::from_millis(500));
    for (i, l) in loris.into_iter().enumerate() {
        let (a, took) = l.await.unwrap();
        cut_off(&format!("slowloris {i}"), a);
        assert!(
            took < TIMEOUT + SLACK,
            "slowloris {i} was cut off after {took:?}"
        );
    }

    // Huge heads: 431 (or the connection closed), and the next client is served.
    let big = "x".repeat(200 * 1024);
    let many: String = (0..500).map(|i| format!("X-H{i}: v\r\n")).collect();
    let long_target = format!("/v1/items/tenant-a/users/u1/{}", "k".repeat(200 * 1024));
    for (what, req) in [
        (
            "a 200 KiB header",
            head(
                "GET",
                "/v1/items/ok/bystander/k",
                Some(&env.admin),
                &format!("X-Big: {big}\r\n"),
            ),
        ),
        (
            "a 200 KiB token",
            head("GET", "/v1/items/ok/bystander/k", Some(&big), ""),
        ),
        (
            "500 headers",
            head("GET", "/v1/items/ok/bystander/k", Some(&env.admin), &many),
        ),
        (
            "a 200 KiB path",
            head(
                "PUT",
                &long_target,
                Some(&env.admin),
                "Content-Length: 1\r\n",
            ),
        ),
    ] {
        match raw(env.addr, &req).await {
            Raw::Answer(r) => assert!(
                matches!(r.status, 431 | 414 | 400 | 413),
                "{what}: {} {:?}",
                r.status,
                String::from_utf8_lossy(&r.body)
            ),
            Raw::Closed(_) => {}
            Raw::Silent => panic!("{what}: no answer"),
        }
        let t = Instant::now();
        let r = env
            .admin(Method::GET, "/v1/items/ok/bystander/k")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "after {what}");
        assert!(t.elapsed() < PROMPT, "after {what}: {:?}", t.elapsed());
    }
    // Garbage that is not HTTP at all, and an HTTP/2 preface followed by garbage.
    for (what, req) in [
        ("not HTTP", &b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03hello\r\n\r\n"[..]),
        ("a bad request line", &b"GET\r\n\r\n"[..]),
        ("an HTTP/2 preface, then garbage", &b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\xff\xff\xff\xff\xff\xff\xff\xff\xff"[..]),
        ("a bad Content-Length", &b"PUT /v1/items/tenant-a/x/k HTTP/1.1\r\nHost: b\r\nContent-Length: 12abc\r\n\r\n"[..]),
        ("two Content-Lengths", &b"PUT /v1/items/tenant-a/x/k HTTP/1.1\r\nHost: b\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n12"[..]),
    ] {
        match raw(env.addr, req).await {
            Raw::Answer(r) => assert!((400..500).contains(&r.status), "{what}: {r:?}"),
            Raw::Closed(_) => {}
            Raw::Silent => panic!("{what}: no answer"),
        }
    }
    assert!(env.item("/v1/items/tenant-a/x/k").await.is_none());

    env.unchanged(lsn).await;
    bystander.finish().await;
    env.stop().await;
}

/// A connection that sends nothing, or only the first bytes of the HTTP/2 preface, is
/// closed after the header timeout like any slow request head: otherwise idle
/// connections pile up until the server runs out of file descriptors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed_after_the_header_timeout() {
    let env = Env::start(|_| {}).await;
    env.seed().await;
    let bystander = Bystander::start(&env, Duration::from_millis(25));
    let started = Instant::now();
    let mut idle = Vec::new();
    for i in 0..10 {
        let mut s = TcpStream::connect(env.addr).await.unwrap();
        match i % 3 {
            0 => {}
            1 => s.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap(),
            _ => s.write_all(b"G").await.unwrap(),
        }
        idle.push(s);
    }
    let mut open = Vec::new();
    for (i, mut s) in idle.into_iter().enumerate() {
        let left = (TIMEOUT + SLACK).saturating_sub(started.elapsed());
        match read_answer(&mut s, left).await {
            Raw::Answer(r) => assert_eq!(r.status, 408, "idle connection {i}: {r:?}"),
            Raw::Closed(_) => {}
            Raw::Silent => open.push(match i % 3 {
                0 => format!("{i}: sent nothing"),
                1 => format!("{i}: sent 16 bytes of the HTTP/2 preface"),
                _ => format!("{i}: sent `G`"),
            }),
        }
    }
    assert!(
        open.is_empty(),
        "still open {:?} after connecting, with a header timeout of {TIMEOUT:?}: {open:?}",
        started.elapsed()
    );
    bystander.finish().await;
    env.stop().await;
}

/// Unknown fields in JSON bodies are refused, as unknown query parameters are and as
/// batch mutations' own fields are: a misspelt field must not be dropped silently, when
/// it is a precondition (`expected_last`), the batch's atomicity or a token's expiry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_fields_in_request_bodies_are_refused() {
    let env = Env::start(|_| {}).await;
    let lsn = env.seed().await;
    let tokens_before = TokenStore::open(&env.dir).unwrap().list().unwrap().len();
    let ns = "tenant-a/unknown";
    let cases: Vec<(&str, Method, String, serde_json::Value)> = vec![
        (
            "batch: `atomc` for `atomic`",
            Method::POST,
            "/v1/batch".into(),
            serde_json::json!({"atomc": false, "mutations": [{"op": "put", "ns": ns, "key": "k1", "value": 1}]}),
        ),
        (
            "batch: trim with `keep_frist`",
            Method::POST,
            "/v1/batch".into(),
            serde_json::json!({"mutations": [{"op": "trim", "ns": ns, "stream": "s", "keep_last": 5, "keep_frist": 1}]}),
        ),
        (
            "batch: an entry with `contnet_type`",
            Method::POST,
            "/v1/batch".into(),
            serde_json::json!({"mutations": [{"op": "append", "ns": ns, "stream": "s", "entries": [{"value_base64": "aGk=", "contnet_type": "text/plain"}]}]}),
        ),
        (
            "batch: a fence with `tokne`",
            Method::POST,
            "/v1/batch".into(),
            serde_json::json!({"mutations": [{"op": "put", "ns": ns, "key": "k2", "value": 1, "fence": {"ns": ns, "name": "l", "token": 0, "tokne": 5}}]}),
        ),
        (
            "append: `expected` for `expected_last`",
            Method::POST,
            format!("/v1/streams/{ns}/s:append"),
            serde_json::json!({"entries": [{"value": 1}], "expected": 99}),
        ),
        (
            "append: an entry with `ttl`",
            Method::POST,
            format!("/v1/streams/{ns}/s:append"),
            serde_json::json!({"entries": [{"value": 1, "ttl": "1s"}]}),
        ),
        (
            "trim: `keep` for `keep_last`",
            Method::POST,
            "/v1/streams/tenant-b/conv/c1/transcript:trim".into(),
            serde_json::json!({"keep_last": 5, "keep": 0}),
        ),
        (
            "lease: `tll` for `ttl`",
            Method::POST,
            format!("/v1/leases/{ns}/l:acquire"),
            serde_json::json!({"holder": "h", "ttl": "30s", "tll": "1s"}),
        ),
        (
            "namespace TTL: `tll`",
            Method::PUT,
            format!("/v1/namespace-ttls/{ns}"),
            serde_json::json!({"tll": "1s"}),
        ),
        (
            "get-many: `kyes`",
            Method::POST,
            "/v1/get".into(),
            serde_json::json!({"keys": [], "kyes": [{"ns": ns, "key": "k"}]}),
        ),
        (
            "token: `tll` for `ttl`",
            Method::POST,
            "/v1/tokens".into(),
            serde_json::json!({"scopes": [{"ns": "tenant-a/*", "perms": ["read"]}], "tll": "1h"}),
        ),
        (
            "token: a scope with `perm`",
            Method::POST,
            "/v1/tokens".into(),
            serde_json::json!({"scopes": [{"ns": "tenant-a/*", "perms": ["read"], "perm": ["admin"]}]}),
        ),
    ];
    let mut accepted = Vec::new();
    for (what, m, path, body) in cases {
        let r = env.admin(m, &path).json(&body).send().await.unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        let kind = serde_json::from_str::<Problem>(&text)
            .ok()
            .and_then(|p| p.kind());
        if status != 400 || kind != Some(botstore_api::ProblemType::MalformedRequest) {
            accepted.push(format!("{what} -> {status} {text}"));
        }
    }
    let lsn_after = env.lsn().await;
    let tokens_after = TokenStore::open(&env.dir).unwrap().list().unwrap().len();
    assert!(
        accepted.is_empty(),
        "{} bodies with unknown fields were taken (LSN {lsn} -> {lsn_after}, tokens {tokens_before} -> {tokens_after}):\n{}",
        accepted.len(),
        accepted.join("\n")
    );
    env.unchanged(lsn).await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_endpoints_and_methods_get_problems() {
    let env = Env::start(|_| {}).await;
    let lsn = env.seed().await;
    for (what, m, path, status, kind) in [
        (
            "an unknown path",
            Method::GET,
            "/v1/nothing",
            404,
            "unknown-endpoint",
        ),
        (
            "an unknown version",
            Method::GET,
            "/v2/items/tenant-a/users/u1/profile",
            404,
            "unknown-endpoint",
        ),
        (
            "an unknown stream verb",
            Method::POST,
            "/v1/streams/tenant-a/c/s:explode",
            404,
            "unknown-endpoint",
        ),
        (
            "an unknown lease verb",
            Method::POST,
            "/v1/leases/tenant-a/l/x:steal",
            404,
            "unknown-endpoint",
        ),
        (
            "POST on an item",
            Method::POST,
            "/v1/items/tenant-a/users/u1/profile",
            405,
            "method-not-allowed",
        ),
        (
            "DELETE on the batch",
            Method::DELETE,
            "/v1/batch",
            405,
            "method-not-allowed",
        ),
        (
            "TRACE",
            Method::TRACE,
            "/v1/items/tenant-a/users/u1/profile",
            405,
            "method-not-allowed",
        ),
    ] {
        let r = env
            .admin(m, path)
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        refused(what, r, status, kind).await;
    }
    env.unchanged(lsn).await;
    env.stop().await;
}
