//! The API end to end, in-process: every operation of the OpenAPI document is called at
//! least once, and every JSON answer (success or problem) is validated against the
//! schema the document gives for that operation and status. A handler that answers
//! something the document does not describe fails here.

// Test code: helpers outside #[test] fns unwrap too; a panic is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use botstore_api::wire::{Perm, Scope, TokenCreateRequest};
use botstore_server::{ServeConfig, Server};
use reqwest::{header, Client, Method, Response, StatusCode};
use serde_json::{json, Value as Json};
use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Duration;
/// reqwest's builder, with ring installed as the process's rustls provider: reqwest is
/// built without a provider of its own (see the workspace's Cargo.toml), and a client it
/// configures itself needs one even for `http://`.
fn http() -> reqwest::ClientBuilder {
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
}

struct Api {
    base: String,
    token: String,
    http: Client,
    doc: Json,
    seen: Mutex<BTreeSet<String>>,
}

struct Answer {
    status: StatusCode,
    headers: header::HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Json {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    fn header(&self, h: &str) -> Option<&str> {
        self.headers.get(h).and_then(|v| v.to_str().ok())
    }
    fn problem_type(&self) -> String {
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json")
        );
        self.json()["type"].as_str().unwrap_or_default().to_owned()
    }
}

impl Api {
    /// Call `op` (an operationId) and validate the answer against the document.
    async fn call(
        &self,
        op: &str,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Answer {
        let mut rb = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        if let Some(b) = body {
            rb = rb.body(b);
        }
        let r: Response = rb.send().await.expect("request");
        let status = r.status();
        let headers = r.headers().clone();
        let body = r.bytes().await.expect("body").to_vec();
        let a = Answer {
            status,
            headers,
            body,
        };
        self.validate(op, &a);
        self.seen.lock().unwrap().insert(op.to_owned());
        assert!(
            a.header("x-request-id").is_some(),
            "every answer names its request"
        );
        a
    }

    async fn json_call(&self, op: &str, method: Method, path: &str, body: Json) -> Answer {
        self.call(
            op,
            method,
            path,
            &[("content-type", "application/json")],
            Some(body.to_string().into_bytes()),
        )
        .await
    }

    fn operation(&self, op: &str) -> &Json {
        for (_, item) in self.doc["paths"].as_object().unwrap() {
            for (_, o) in item.as_object().unwrap() {
                if o["operationId"] == op {
                    return o;
                }
            }
        }
        panic!("operation {op} is not in the OpenAPI document");
    }

    fn validate(&self, op: &str, a: &Answer) {
        let o = self.operation(op);
        let status = a.status.as_u16().to_string();
        let (schema, ct) = if a.status.as_u16() >= 400 {
            let c = &o["responses"]["default"]["content"]["application/problem+json"];
            (c["schema"].clone(), "application/problem+json")
        } else {
            let resp = &o["responses"][&status];
            assert!(
                !resp.is_null(),
                "{op} answered {status}, which the document does not list"
            );
            let got = a.header("content-type").unwrap_or("");
            let content = &resp["content"];
            match content.get("application/json") {
                // An item's body: JSON when the value is JSON, else its own content
                // type, which the document must admit (`*/*` or the type itself).
                Some(_) if !got.starts_with("application/json") => {
                    let essence = got.split(';').next().unwrap_or("").trim();
                    assert!(
                        content.get("*/*").is_some() || content.get(essence).is_some(),
                        "{op} {status}: content type {got:?} is not in the document"
                    );
                    return;
                }
                Some(c) => (c["schema"].clone(), "application/json"),
                None => return, // raw bytes, text or no body
            }
        };
        if a.status == StatusCode::NOT_MODIFIED || a.body.is_empty() && a.status.as_u16() == 204 {
            return;
        }
        assert!(
            a.header("content-type").is_some_and(|c| c.starts_with(ct)),
            "{op} {status}: content type {:?}, expected {ct}",
            a.header("content-type")
        );
        let root = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "components": self.doc["components"],
            "allOf": [schema],
        });
        let v = jsonschema::validator_for(&root).expect("schema compiles");
        let instance = a.json();
        let errors: Vec<String> = v.iter_errors(&instance).map(|e| e.to_string()).collect();
        assert!(
            errors.is_empty(),
            "{op} {status} does not match the document: {errors:?}\n{instance:#}"
        );
    }
}

async fn start() -> (Server, Api, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let ts = botstore_server::tokens::TokenStore::open(dir.path()).unwrap();
    let admin = ts
        .create(&TokenCreateRequest {
            scopes: vec![Scope {
                ns: "*".into(),
                perms: vec![Perm::Read, Perm::Write, Perm::Admin],
            }],
            ttl: None,
            label: Some("test admin".into()),
        })
        .unwrap();
    let server = Server::start(ServeConfig {
        data: Some(dir.path().to_owned()),
        listen: Some("127.0.0.1:0".into()),
        ..Default::default()
    })
    .await
    .unwrap();
    let base = format!("http://{}", server.addr);
    let http = http().build().unwrap();
    let doc: Json = http
        .get(format!("{base}/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let api = Api {
        base,
        token: admin.token,
        http,
        doc,
        seen: Mutex::new(BTreeSet::new()),
    };
    (server, api, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_answers_what_the_document_says() {
    let (server, api, _dir) = start().await;
    let item = "/v1/items/tenant-a/users/u42/profile";

    // Items: write, read, conditional writes, patch, delete.
    let a = api
        .call(
            "putItem",
            Method::PUT,
            item,
            &[("content-type", "application/json")],
            Some(br#"{"name":"Ada"}"#.to_vec()),
        )
        .await;
    assert_eq!(a.status, 200);
    let v1 = a.json()["version"].as_u64().unwrap();
    assert_eq!(a.header("etag"), Some(format!("\"{v1}\"").as_str()));

    let a = api.call("getItem", Method::GET, item, &[], None).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body, br#"{"name":"Ada"}"#);
    assert_eq!(a.header("content-type"), Some("application/json"));
    assert_eq!(a.header("etag"), Some(format!("\"{v1}\"").as_str()));
    assert!(a.header("botstore-created-at").is_some());

    let etag = format!("\"{v1}\"");
    let a = api
        .call(
            "getItem",
            Method::GET,
            item,
            &[("if-none-match", &etag)],
            None,
        )
        .await;
    assert_eq!(a.status, 304);

    let a = api
        .call(
            "putItem",
            Method::PUT,
            item,
            &[
                ("if-match", "\"999\""),
                ("content-type", "application/json"),
            ],
            Some(b"{}".to_vec()),
        )
        .await;
    assert_eq!(a.status, 412);
    assert_eq!(a.problem_type(), "urn:botstore:problem:precondition-failed");
    assert_eq!(a.json()["current_version"], v1);
    assert_eq!(
        a.header("etag"),
        Some(etag.as_str()),
        "412 carries the current ETag"
    );

    let a = api
        .call(
            "putItem",
            Method::PUT,
            item,
            &[("if-none-match", "*")],
            Some(b"{}".to_vec()),
        )
        .await;
    assert_eq!(a.status, 412);

    let a = api
        .call(
            "putItem",
            Method::PUT,
            &format!("{item}?ttl=1h&subject=u42"),
            &[("if-match", &etag)],
            Some(br#"{"name":"Ada","lang":"en"}"#.to_vec()),
        )
        .await;
    assert_eq!(a.status, 200);
    let v2 = a.json()["version"].as_u64().unwrap();
    assert!(v2 > v1);
    let a = api.call("getItem", Method::GET, item, &[], None).await;
    assert_eq!(a.header("botstore-subject"), Some("u42"));
    assert!(a.header("botstore-expires-at").is_some());

    let a = api
        .call(
            "patchItem",
            Method::PATCH,
            item,
            &[("content-type", "application/merge-patch+json")],
            Some(br#"{"lang":null,"age":36}"#.to_vec()),
        )
        .await;
    assert_eq!(a.status, 200);
    let a = api.call("getItem", Method::GET, item, &[], None).await;
    assert_eq!(a.json(), json!({"name": "Ada", "age": 36}));
    let a = api
        .call(
            "patchItem",
            Method::PATCH,
            item,
            &[("content-type", "application/json-patch+json")],
            Some(br#"[{"op":"test","path":"/age","value":1}]"#.to_vec()),
        )
        .await;
    assert_eq!(a.status, 409);
    assert_eq!(a.problem_type(), "urn:botstore:problem:patch-failed");
    let a = api
        .call(
            "patchItem",
            Method::PATCH,
            item,
            &[("content-type", "text/plain")],
            Some(b"x".to_vec()),
        )
        .await;
    assert_eq!(a.status, 415);

    // Bytes values keep their content type; keys may hold '/'.
    let bin = "/v1/items/tenant-a/files/a%2Fb.png";
    let a = api
        .call(
            "putItem",
            Method::PUT,
            bin,
            &[("content-type", "image/png")],
            Some(vec![0, 159, 146, 150]),
        )
        .await;
    assert_eq!(a.status, 200);
    let a = api.call("getItem", Method::GET, bin, &[], None).await;
    assert_eq!(
        (a.header("content-type"), a.body.as_slice()),
        (Some("image/png"), &[0u8, 159, 146, 150][..])
    );

    let a = api.json_call("getMany", Method::POST, "/v1/get", json!({"keys": [{"ns": "tenant-a/files", "key": "a/b.png"}, {"ns": "tenant-a/x", "key": "missing"}]})).await;
    assert_eq!(a.status, 200);
    let items = a.json()["items"].clone();
    assert_eq!(items[0]["value_base64"], "AJ+Slg==");
    assert!(items[1].is_null());

    let a = api
        .call(
            "scan",
            Method::GET,
            "/v1/scan/tenant-a?recursive=true&limit=1",
            &[],
            None,
        )
        .await;
    assert_eq!(a.status, 200);
    let page = a.json();
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let cursor = page["cursor"].as_str().unwrap().to_owned();
    let a = api
        .call(
            "scan",
            Method::GET,
            &format!("/v1/scan/tenant-a?recursive=true&cursor={cursor}"),
            &[],
            None,
        )
        .await;
    assert_eq!(a.json()["items"].as_array().unwrap().len(), 1);
    let a = api
        .call("scan", Method::GET, "/v1/scan/tenant-a?limt=1", &[], None)
        .await;
    assert_eq!(a.status, 400, "unknown query parameters are refused");

    let a = api
        .call(
            "listNamespaces",
            Method::GET,
            "/v1/namespaces/tenant-a",
            &[],
            None,
        )
        .await;
    assert_eq!(
        a.json()["namespaces"],
        json!(["tenant-a/files", "tenant-a/users/u42"])
    );

    // Batches.
    let a = api
        .json_call(
            "batch",
            Method::POST,
            "/v1/batch",
            json!({"mutations": [
                {"op": "put", "ns": "tenant-a/b", "key": "k1", "value": 1},
                {"op": "put", "ns": "tenant-a/b", "key": "k2", "value": null, "if_absent": true},
                {"op": "append", "ns": "tenant-a/b", "stream": "s", "entries": [{"value": "hi"}]},
            ]}),
        )
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.json()["results"][2]["outcome"]["result"], "appended");
    let a = api
        .json_call(
            "batch",
            Method::POST,
            "/v1/batch",
            json!({"mutations": [
                {"op": "put", "ns": "tenant-a/b", "key": "k3", "value": 3},
                {"op": "put", "ns": "tenant-a/b", "key": "k1", "value": 2, "if_absent": true},
            ]}),
        )
        .await;
    assert_eq!(a.status, 412);
    assert_eq!(a.json()["index"], 1);
    let a = api
        .call("getItem", Method::GET, "/v1/items/tenant-a/b/k3", &[], None)
        .await;
    assert_eq!(a.status, 404, "an atomic batch that failed wrote nothing");
    assert_eq!(a.problem_type(), "urn:botstore:problem:not-found");
    let a = api
        .json_call(
            "batch",
            Method::POST,
            "/v1/batch",
            json!({"atomic": false, "mutations": [
                {"op": "put", "ns": "tenant-a/b", "key": "k3", "value": 3},
                {"op": "put", "ns": "tenant-a/b", "key": "k1", "value": 2, "if_absent": true},
                {"op": "put", "ns": "tenant-a/../b", "key": "k", "value": 2},
            ]}),
        )
        .await;
    assert_eq!(a.status, 200);
    let r = a.json()["results"].clone();
    assert_eq!(
        (
            r[0]["status"].as_u64(),
            r[1]["status"].as_u64(),
            r[2]["status"].as_u64()
        ),
        (Some(200), Some(412), Some(400))
    );
    assert_eq!(r[2]["problem"]["rule"], "segment.characters");

    // Streams.
    let s = "/v1/streams/tenant-a/chats/t%3A1";
    let a = api.json_call("appendStream", Method::POST, &format!("{s}:append"), json!({"entries": [{"value": {"role": "user", "text": "hi"}}, {"value_base64": "AAE=", "content_type": "audio/ogg"}], "expected_last": 0})).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.json(), json!({"first_seq": 1, "last_seq": 2}));
    let a = api
        .json_call(
            "appendStream",
            Method::POST,
            &format!("{s}:append"),
            json!({"entries": [{"value": 1}], "expected_last": 0}),
        )
        .await;
    assert_eq!(a.status, 409);
    assert_eq!(a.json()["current_seq"], 2);
    let a = api
        .call(
            "readStream",
            Method::GET,
            &format!("{s}?direction=backward&limit=1"),
            &[],
            None,
        )
        .await;
    assert_eq!(a.json()["entries"][0]["seq"], 2);
    let a = api
        .call("streamInfo", Method::GET, &format!("{s}:info"), &[], None)
        .await;
    assert_eq!(a.json()["len"], 2);
    let a = api
        .call(
            "listStreams",
            Method::GET,
            "/v1/stream-list/tenant-a",
            &[],
            None,
        )
        .await;
    assert_eq!(
        a.json()["streams"],
        json!([{"ns": "tenant-a/b", "stream": "s"}, {"ns": "tenant-a/chats", "stream": "t:1"}])
    );
    let a = api
        .json_call(
            "trimStream",
            Method::POST,
            &format!("{s}:trim"),
            json!({"keep_last": 1}),
        )
        .await;
    assert_eq!(a.json()["removed"], 1);
    let a = api.call("deleteStream", Method::DELETE, s, &[], None).await;
    assert_eq!(a.json()["existed"], true);
    let a = api
        .call("streamInfo", Method::GET, &format!("{s}:info"), &[], None)
        .await;
    assert_eq!(a.status, 404);

    // Leases.
    let l = "/v1/leases/tenant-a/locks/thread-1";
    let a = api
        .json_call(
            "acquireLease",
            Method::POST,
            &format!("{l}:acquire"),
            json!({"holder": "w1", "ttl": "30s"}),
        )
        .await;
    let token = a.json()["token"].as_u64().unwrap();
    let a = api
        .json_call(
            "acquireLease",
            Method::POST,
            &format!("{l}:acquire"),
            json!({"holder": "w2", "ttl": "30s"}),
        )
        .await;
    assert_eq!(a.status, 409);
    assert_eq!(a.json()["holder"], "w1");
    let a = api
        .json_call(
            "renewLease",
            Method::POST,
            &format!("{l}:renew"),
            json!({"token": token, "ttl": "60s"}),
        )
        .await;
    assert_eq!(a.status, 200);
    let a = api.call("getLease", Method::GET, l, &[], None).await;
    assert_eq!(a.json()["holder"], "w1");
    let a = api
        .json_call(
            "releaseLease",
            Method::POST,
            &format!("{l}:release"),
            json!({"token": token}),
        )
        .await;
    assert_eq!(a.status, 204);
    let a = api.call("getLease", Method::GET, l, &[], None).await;
    assert_eq!(a.status, 404);

    // Namespace TTLs.
    let a = api
        .json_call(
            "setNamespaceTtl",
            Method::PUT,
            "/v1/namespace-ttls/tenant-a/sessions",
            json!({"ttl": "1h"}),
        )
        .await;
    assert_eq!(a.status, 204);
    let a = api
        .call(
            "getNamespaceTtls",
            Method::GET,
            "/v1/namespace-ttls/tenant-a",
            &[],
            None,
        )
        .await;
    assert_eq!(
        a.json()["ttls"],
        json!([{"prefix": "tenant-a/sessions", "ttl_ms": 3_600_000}])
    );

    // The change feed: a page, then a long poll that a write wakes.
    let a = api
        .call(
            "changes",
            Method::GET,
            "/v1/changes?since=0&limit=2",
            &[],
            None,
        )
        .await;
    let page = a.json();
    assert_eq!(page["changes"].as_array().unwrap().len(), 2);
    assert_eq!(page["changes"][0]["kind"], "put");
    let last = page["last_lsn"].as_u64().unwrap();
    let poll_path = format!("/v1/changes?since={last}&wait=20s");
    let poll = api.call("changes", Method::GET, &poll_path, &[], None);
    let write = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        api.call(
            "putItem",
            Method::PUT,
            "/v1/items/tenant-a/late/k",
            &[],
            Some(b"7".to_vec()),
        )
        .await
    };
    let (a, _) = tokio::join!(poll, write);
    let changes = a.json()["changes"].clone();
    assert_eq!(
        changes.as_array().unwrap().len(),
        1,
        "the long poll returns the write that woke it"
    );
    assert_eq!(changes[0]["item"]["key"], "k");

    // Stats and compaction.
    let a = api
        .call("stats", Method::GET, "/v1/stats/tenant-a", &[], None)
        .await;
    assert!(a.json()["namespaces"].as_array().unwrap().len() >= 3);
    // What each namespace's values take as stored: the small values here stay raw, so
    // their plain envelopes, 4 bytes more than the logical bytes per value.
    for n in a.json()["namespaces"].as_array().unwrap() {
        let count = |k: &str| n[k].as_u64().unwrap();
        assert_eq!(
            count("stored_item_bytes") + count("stored_stream_bytes"),
            count("item_bytes")
                + 4 * count("items")
                + count("stream_bytes")
                + 4 * count("stream_entries"),
            "{n}"
        );
    }
    let a = api
        .call("compact", Method::POST, "/v1/admin/compact", &[], None)
        .await;
    assert_eq!(a.status, 200);
    assert!(a.json()["resealed_values"].is_u64());

    // The records of a read view, for a backup made by the client.
    let a = api
        .json_call(
            "backupRecords",
            Method::POST,
            "/v1/admin/backup/records",
            json!({"since_lsn": null}),
        )
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.header("content-type"), Some("application/octet-stream"));
    {
        use botstore_backup::RecordSource;
        let mut src = botstore_backup::transfer::TransferSource::open(&a.body[..]).unwrap();
        assert_eq!(src.header().kind, botstore_backup::SourceKind::Full);
        let mut n = 0;
        src.records(&mut |_| {
            n += 1;
            Ok(())
        })
        .unwrap();
        assert!(n > 3, "{n} records");
    }
    let a = api
        .json_call(
            "backupRecords",
            Method::POST,
            "/v1/admin/backup/records",
            json!({"since_lsn": "x"}),
        )
        .await;
    assert_eq!(a.status, 400);

    // Tokens.
    let a = api
        .json_call(
            "createToken",
            Method::POST,
            "/v1/tokens",
            json!({"scopes": [{"ns": "tenant-b/*", "perms": ["read"]}], "ttl": "1d"}),
        )
        .await;
    assert_eq!(a.status, 201);
    let made = a.json();
    let id = made["info"]["id"].as_str().unwrap().to_owned();
    let reader = made["token"].as_str().unwrap().to_owned();
    let r = api
        .http
        .get(format!("{}{item}", api.base))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "tenant-b token cannot read tenant-a");
    let a = api
        .call("listTokens", Method::GET, "/v1/tokens", &[], None)
        .await;
    assert_eq!(a.json()["tokens"].as_array().unwrap().len(), 2);
    let a = api
        .call(
            "revokeToken",
            Method::DELETE,
            &format!("/v1/tokens/{id}"),
            &[],
            None,
        )
        .await;
    assert_eq!(a.status, 204);
    let r = api
        .http
        .get(format!("{}/v1/items/tenant-b/x/y", api.base))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        401,
        "a revoked token is refused at once on this server"
    );

    // Operations endpoints.
    let a = api.call("home", Method::GET, "/", &[], None).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.header("content-type"), Some("text/html; charset=utf-8"));
    let page = String::from_utf8(a.body.clone()).unwrap();
    assert!(page.starts_with("<!doctype html>"), "{page}");
    let version = format!("version {}", env!("CARGO_PKG_VERSION"));
    assert!(page.contains(&version), "{page}");
    for link in ["/openapi.json", "/healthz", "/readyz", "/metrics"] {
        assert!(page.contains(&format!("href=\"{link}\"")), "{link}: {page}");
    }
    // No token needed, nothing outside the page loaded, and HEAD answers the same.
    let r = api.http.get(format!("{}/", api.base)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .starts_with("default-src 'none'"));
    assert_eq!(r.text().await.unwrap(), page);
    let r = api
        .http
        .head(format!("{}/", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/html; charset=utf-8");
    assert!(r.bytes().await.unwrap().is_empty());
    let a = api
        .call("healthz", Method::GET, "/healthz", &[], None)
        .await;
    assert_eq!(a.status, 200);
    let a = api.call("readyz", Method::GET, "/readyz", &[], None).await;
    assert_eq!(a.status, 200);
    let a = api
        .call("metrics", Method::GET, "/metrics", &[], None)
        .await;
    let text = String::from_utf8(a.body.clone()).unwrap();
    for needle in [
        "botstore_http_request_duration_seconds_bucket{op=\"item_put\",status=\"200\",le=",
        "botstore_errors_total{kind=\"precondition-failed\"} 3",
        "botstore_journal_fsync_duration_seconds_count",
        "botstore_commit_group_batches_bucket",
        "botstore_namespace_items{ns=\"tenant-a\"}",
        "botstore_namespace_stored_bytes{ns=\"tenant-a\"}",
    ] {
        assert!(text.contains(needle), "metrics lack {needle}:\n{text}");
    }
    let a = api
        .call("openapi", Method::GET, "/openapi.json", &[], None)
        .await;
    assert_eq!(a.status, 200);
    let a = api
        .call(
            "deleteItem",
            Method::DELETE,
            item,
            &[("if-match", "\"999\"")],
            None,
        )
        .await;
    assert_eq!(a.status, 412);
    let a = api
        .call("deleteItem", Method::DELETE, item, &[], None)
        .await;
    assert_eq!(a.json()["existed"], true);

    // Unknown paths and methods are problems too.
    let r = api
        .http
        .get(format!("{}/v2/nothing", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let r = api
        .http
        .post(format!("{}{item}", api.base))
        .bearer_auth(&api.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["content-type"], "application/problem+json");

    // Every documented operation was called.
    let documented: BTreeSet<String> = botstore_server::openapi::OPERATIONS
        .iter()
        .map(|o| o.id.to_owned())
        .collect();
    let seen = api.seen.lock().unwrap().clone();
    let missing: Vec<_> = documented.difference(&seen).collect();
    assert!(missing.is_empty(), "operations not exercised: {missing:?}");
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_cleartext_and_server_sent_events() {
    let (server, api, _dir) = start().await;
    let h2 = http().http2_prior_knowledge().build().unwrap();
    let r = h2
        .put(format!("{}/v1/items/a/k", api.base))
        .bearer_auth(&api.token)
        .body("1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    assert_eq!(r.status(), 200);

    let mut sse = api
        .http
        .get(format!("{}/v1/changes", api.base))
        .bearer_auth(&api.token)
        .header("accept", "text/event-stream")
        .header("last-event-id", "0")
        .send()
        .await
        .unwrap();
    assert_eq!(sse.headers()["content-type"], "text/event-stream");
    let mut text = String::new();
    // The existing change arrives; then a new write arrives as the next event.
    let _ = h2
        .put(format!("{}/v1/items/a/k2", api.base))
        .bearer_auth(&api.token)
        .body("2")
        .send()
        .await
        .unwrap();
    while text.matches("event: change").count() < 2 {
        let chunk = tokio::time::timeout(Duration::from_secs(10), sse.chunk())
            .await
            .expect("events arrive")
            .unwrap()
            .expect("stream open");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(text.contains("id: 1\n"), "{text}");
    assert!(text.contains("\"key\":\"k2\""), "{text}");
    drop(sse);
    server.stop().await.unwrap();
}
