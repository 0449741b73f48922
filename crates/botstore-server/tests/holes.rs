//! The server's smaller holes (issue 11, point 6): a fence outside the token's scope,
//! `/metrics` without a token, revoking the last admin token, and an OpenAPI document
//! that states the real limits.

// Test code: helpers outside #[test] fns unwrap too; a panic is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use botstore_api::wire::{Perm, Scope, TokenCreateRequest};
use botstore_server::tokens::TokenStore;
use botstore_server::{ServeConfig, Server};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value as Json};
use std::path::PathBuf;

fn http() -> reqwest::Client {
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().build().unwrap()
}

fn token_req(ns: &str, perms: &[Perm]) -> TokenCreateRequest {
    TokenCreateRequest {
        scopes: vec![Scope {
            ns: ns.into(),
            perms: perms.to_vec(),
        }],
        ttl: None,
        label: None,
    }
}

struct Env {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    server: Server,
    base: String,
    http: reqwest::Client,
    admin: String,
    admin_id: String,
}

impl Env {
    async fn start(tweak: impl FnOnce(&mut ServeConfig)) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        let made = TokenStore::open(&path)
            .unwrap()
            .create(&token_req("*", &[Perm::Read, Perm::Write, Perm::Admin]))
            .unwrap();
        let mut cfg = ServeConfig {
            data: Some(path.clone()),
            listen: Some("127.0.0.1:0".into()),
            maintenance_interval: Some("1h".into()),
            ..Default::default()
        };
        tweak(&mut cfg);
        let server = Server::start(cfg).await.unwrap();
        Env {
            _dir: dir,
            dir: path,
            base: format!("http://{}", server.addr),
            server,
            http: http(),
            admin: made.token,
            admin_id: made.info.id,
        }
    }

    /// A token made in the token file, as `botstore token create` does (the server
    /// takes it within a second: see `until_taken`).
    fn token(&self, ns: &str, perms: &[Perm]) -> String {
        TokenStore::open(&self.dir)
            .unwrap()
            .create(&token_req(ns, perms))
            .unwrap()
            .token
    }

    fn with(&self, token: &str, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token)
    }

    async fn lsn(&self) -> u64 {
        let r = self
            .with(&self.admin, Method::GET, "/v1/changes?limit=1")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json::<Json>().await.unwrap()["last_lsn"]
            .as_u64()
            .unwrap()
    }
}

/// Wait until the server takes a token made in its token file (it looks at most once
/// a second), by asking with it until the answer is not 401.
async fn until_taken(env: &Env, token: &str, path: &str) {
    for _ in 0..60 {
        let r = env.with(token, Method::GET, path).send().await.unwrap();
        if r.status() != StatusCode::UNAUTHORIZED {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the server never took the new token");
}

async fn problem(r: reqwest::Response, status: u16, kind: &str) -> Json {
    let got = r.status().as_u16();
    let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
    let body: Json = r.json().await.unwrap();
    assert_eq!(got, status, "{body}");
    assert_eq!(ct, "application/problem+json");
    assert_eq!(
        body["type"],
        format!("urn:botstore:problem:{kind}"),
        "{body}"
    );
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fence_outside_the_tokens_scope_is_403_in_routes_and_batches() {
    let env = Env::start(|_| {}).await;
    // Another tenant's lease, and a write token of tenant t.
    let r = env
        .with(&env.admin, Method::POST, "/v1/leases/u/x/l:acquire")
        .json(&json!({"holder": "u-worker", "ttl": "1h"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let t = env.token("t/*", &[Perm::Read, Perm::Write]);
    until_taken(&env, &t, "/v1/scan/t").await;
    let before = env.lsn().await;
    let fence = "fence_ns=u/x&fence_name=l&fence_token=1";
    for (method, body) in [
        (Method::PUT, Some("{\"a\":1}")),
        (Method::PATCH, Some("{\"a\":2}")),
        (Method::DELETE, None),
    ] {
        let mut rb = env.with(&t, method.clone(), &format!("/v1/items/t/k?{fence}"));
        if let Some(b) = body {
            let ct = if method == Method::PATCH {
                "application/merge-patch+json"
            } else {
                "application/json"
            };
            rb = rb.header("content-type", ct).body(b);
        }
        let p = problem(rb.send().await.unwrap(), 403, "forbidden").await;
        // The refusal says nothing about the lease: no current token, no holder.
        assert!(p.get("current_token").is_none(), "{method}: {p}");
        assert!(!p.to_string().contains("u-worker"), "{method}: {p}");
    }
    for m in [
        json!({"op": "put", "ns": "t", "key": "k", "value": 1, "fence": {"ns": "u/x", "name": "l", "token": 1}}),
        json!({"op": "delete", "ns": "t", "key": "k", "fence": {"ns": "u/x", "name": "l", "token": 1}}),
        json!({"op": "patch", "ns": "t", "key": "k", "merge": {"a": 1}, "fence": {"ns": "u/x", "name": "l", "token": 1}}),
        json!({"op": "touch", "ns": "t", "key": "k", "fence": {"ns": "u/x", "name": "l", "token": 1}}),
    ] {
        for atomic in [true, false] {
            let r = env
                .with(&t, Method::POST, "/v1/batch")
                .json(&json!({"atomic": atomic, "mutations": [
                    {"op": "put", "ns": "t", "key": "other", "value": 2}, m]}))
                .send()
                .await
                .unwrap();
            let p = problem(r, 403, "forbidden").await;
            assert_eq!(p["index"], 1, "{p}");
            assert!(p.get("current_token").is_none(), "{p}");
        }
    }
    assert_eq!(env.lsn().await, before, "a refused fence wrote something");
    // Inside its scope the fence works as before: a stale token is a 409 there.
    let r = env
        .with(&env.admin, Method::POST, "/v1/leases/t/l:acquire")
        .json(&json!({"holder": "t-worker", "ttl": "1h"}))
        .send()
        .await
        .unwrap();
    let lease: Json = r.json().await.unwrap();
    let token = lease["token"].as_u64().unwrap();
    let r = env
        .with(
            &t,
            Method::PUT,
            &format!("/v1/items/t/k?fence_ns=t&fence_name=l&fence_token={token}"),
        )
        .json(&json!({"a": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = env
        .with(
            &t,
            Method::PUT,
            "/v1/items/t/k?fence_ns=t&fence_name=l&fence_token=0",
        )
        .json(&json!({"a": 1}))
        .send()
        .await
        .unwrap();
    problem(r, 409, "stale-fence").await;
    // A write-only token cannot fence on a lease it may not read, even in its scope.
    let w = env.token("t/*", &[Perm::Write]);
    until_taken(&env, &w, "/v1/items/t/nothing").await;
    let r = env
        .with(
            &w,
            Method::PUT,
            &format!("/v1/items/t/k?fence_ns=t&fence_name=l&fence_token={token}"),
        )
        .json(&json!({"a": 1}))
        .send()
        .await
        .unwrap();
    problem(r, 403, "forbidden").await;
    env.server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_take_a_read_token_on_everything_unless_public() {
    let env = Env::start(|_| {}).await;
    let r = env
        .http
        .get(format!("{}/metrics", env.base))
        .send()
        .await
        .unwrap();
    problem(r, 401, "unauthorized").await;
    let tenant = env.token("t/*", &[Perm::Read]);
    until_taken(&env, &tenant, "/v1/scan/t").await;
    let r = env
        .with(&tenant, Method::GET, "/metrics")
        .send()
        .await
        .unwrap();
    problem(r, 403, "forbidden").await;
    for token in [env.admin.clone(), env.token("*", &[Perm::Read])] {
        until_taken(&env, &token, "/metrics").await;
        let r = env
            .with(&token, Method::GET, "/metrics")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.text().await.unwrap().contains("botstore_"));
    }
    env.server.stop().await.unwrap();

    let public = Env::start(|c| c.metrics_public = Some(true)).await;
    let r = public
        .http
        .get(format!("{}/metrics", public.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("botstore_"));
    public.server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_admin_token_cannot_be_revoked_over_the_api() {
    let env = Env::start(|_| {}).await;
    let file = env.dir.join(botstore_server::tokens::TOKENS_FILE);
    let before = std::fs::read(&file).unwrap();
    let r = env
        .with(
            &env.admin,
            Method::DELETE,
            &format!("/v1/tokens/{}", env.admin_id),
        )
        .send()
        .await
        .unwrap();
    let p = problem(r, 409, "last-admin-token").await;
    assert!(p["detail"].as_str().unwrap().contains(&env.admin_id), "{p}");
    assert_eq!(
        std::fs::read(&file).unwrap(),
        before,
        "the token file changed"
    );
    // The token still works.
    let r = env
        .with(&env.admin, Method::GET, "/v1/tokens")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // With a second admin token, the first can go (and the second then cannot).
    let r = env
        .with(&env.admin, Method::POST, "/v1/tokens")
        .json(&token_req("*", &[Perm::Admin]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let second: Json = r.json().await.unwrap();
    let second_token = second["token"].as_str().unwrap().to_owned();
    let second_id = second["info"]["id"].as_str().unwrap().to_owned();
    let r = env
        .with(
            &second_token,
            Method::DELETE,
            &format!("/v1/tokens/{}", env.admin_id),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = env
        .with(
            &second_token,
            Method::DELETE,
            &format!("/v1/tokens/{second_id}"),
        )
        .send()
        .await
        .unwrap();
    problem(r, 409, "last-admin-token").await;
    env.server.stop().await.unwrap();
}

#[test]
fn the_last_admin_token_cannot_be_revoked_and_expiry_counts() {
    let dir = tempfile::tempdir().unwrap();
    let ts = TokenStore::open(dir.path()).unwrap();
    let admin = ts.create(&token_req("*", &[Perm::Admin])).unwrap();
    let reader = ts.create(&token_req("*", &[Perm::Read])).unwrap();
    let tenant_admin = ts.create(&token_req("t/*", &[Perm::Admin])).unwrap();
    let before = std::fs::read(dir.path().join(botstore_server::tokens::TOKENS_FILE)).unwrap();
    assert!(matches!(
        ts.revoke(&admin.info.id),
        Err(botstore_server::tokens::TokenError::LastAdmin(_))
    ));
    assert_eq!(
        std::fs::read(dir.path().join(botstore_server::tokens::TOKENS_FILE)).unwrap(),
        before
    );
    // Other tokens go freely.
    assert!(ts.revoke(&reader.info.id).unwrap());
    assert!(ts.revoke(&tenant_admin.info.id).unwrap());
    // A second admin that expires sooner does not make the first revocable...
    let mut short = token_req("*", &[Perm::Admin]);
    short.ttl = Some("1h".into());
    let short = ts.create(&short).unwrap();
    assert!(matches!(
        ts.revoke(&admin.info.id),
        Err(botstore_server::tokens::TokenError::LastAdmin(_))
    ));
    // ...but the short one may go, since the one left lasts longer.
    assert!(ts.revoke(&short.info.id).unwrap());
    // With a second admin for good, the first one goes.
    let second = ts
        .create(&token_req("*", &[Perm::Read, Perm::Admin]))
        .unwrap();
    assert!(ts.revoke(&admin.info.id).unwrap());
    assert!(matches!(
        ts.revoke(&second.info.id),
        Err(botstore_server::tokens::TokenError::LastAdmin(_))
    ));
    // Revoking an already revoked token changes nothing and is allowed.
    assert!(ts.revoke(&admin.info.id).unwrap());
    assert!(ts.authenticate(&second.token).is_ok());
}

/// The schema of one parameter of one operation.
fn param<'a>(doc: &'a Json, path: &str, method: &str, name: &str) -> &'a Json {
    doc["paths"][path][method]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("{method} {path} has no parameter {name}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_states_the_limits_and_media_types() {
    let env = Env::start(|_| {}).await;
    let doc: Json = env
        .http
        .get(format!("{}/openapi.json", env.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let limits = botstore::Limits::default();
    let item = "/v1/items/{ns}/{key}";
    let key = &param(&doc, item, "get", "key")["schema"];
    assert_eq!(key["maxLength"], limits.max_key_len);
    assert_eq!(key["minLength"], 1);
    assert!(key["pattern"].is_string(), "{key}");
    let ns = &param(&doc, item, "get", "ns")["schema"];
    assert!(ns["pattern"].is_string(), "{ns}");
    let limit = &param(&doc, "/v1/scan/{ns}", "get", "limit")["schema"];
    assert_eq!(limit["minimum"], 1);
    assert_eq!(limit["maximum"], limits.max_page);
    let ttl = &param(&doc, item, "put", "ttl")["schema"];
    assert!(ttl["pattern"].as_str().unwrap().contains("never"), "{ttl}");
    let subject = &param(&doc, item, "put", "subject")["schema"];
    assert_eq!(subject["maxLength"], limits.max_subject_len);
    // The item GET body: JSON for JSON values, any bytes otherwise; never "a string".
    let get200 = &doc["paths"][item]["get"]["responses"]["200"]["content"];
    assert!(get200.get("application/json").is_some(), "{get200}");
    assert!(get200.get("application/octet-stream").is_some(), "{get200}");
    let put_body = &doc["paths"][item]["put"]["requestBody"]["content"];
    assert_eq!(
        put_body["application/octet-stream"]["schema"]["maxLength"],
        Json::Null,
        "byte limits are not character limits"
    );
    // Every status an item GET answers, problems as problem+json.
    let get = &doc["paths"][item]["get"]["responses"];
    for status in ["200", "304", "400", "401", "403", "404"] {
        assert!(get.get(status).is_some(), "GET item lacks {status}: {get}");
    }
    assert!(get["404"]["content"]["application/problem+json"].is_object());
    let revoke = &doc["paths"]["/v1/tokens/{id}"]["delete"]["responses"];
    assert!(revoke.get("409").is_some(), "{revoke}");
    // /metrics takes a token.
    assert!(doc["paths"]["/metrics"]["get"].get("security").is_none());
    // Batch limits in the body schema.
    let batch = doc["components"]["schemas"]["BatchRequest"]["properties"]["mutations"].clone();
    assert_eq!(batch["maxItems"], limits.max_batch_len, "{batch}");
    env.server.stop().await.unwrap();
}
