//! The client against a real server (in-process, on a loopback port): every operation
//! answers what the same operation on a local store answers, errors included; plus
//! tokens, long polls, TLS and the failures only a network has.

// Test code: helpers outside #[test] fns unwrap too; a panic is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use botstore::{
    Direction, Error, Fence, Mutation, Namespace, PatchOp, Precondition, Rule, Scan, Store, TrimTo,
    Ttl, Value, Version,
};
use botstore_client::{Client, ClientError, Perm, Scope, TokenCreateRequest, WriteOptions};
use botstore_server::tokens::TokenStore;
use botstore_server::{ServeConfig, Server};
use serde_json::json;
use std::fmt::Debug;
use std::time::{Duration, Instant};

struct Running {
    server: Option<Server>,
    _dir: tempfile::TempDir,
    data: std::path::PathBuf,
    url: String,
    admin: String,
}

impl Running {
    async fn start(tweak: impl FnOnce(&mut ServeConfig)) -> Running {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).expect("data dir");
        let admin = TokenStore::open(&data)
            .expect("token store")
            .create(&TokenCreateRequest {
                scopes: vec![Scope {
                    ns: "*".into(),
                    perms: vec![Perm::Read, Perm::Write, Perm::Admin],
                }],
                ttl: None,
                label: Some("test admin".into()),
            })
            .expect("admin token")
            .token;
        let mut cfg = ServeConfig {
            data: Some(data.clone()),
            listen: Some("127.0.0.1:0".into()),
            ..ServeConfig::default()
        };
        tweak(&mut cfg);
        let tls = cfg.tls_cert.is_some();
        let server = Server::start(cfg).await.expect("server starts");
        let scheme = if tls { "https" } else { "http" };
        let url = format!("{scheme}://{}", server.addr);
        Running {
            server: Some(server),
            _dir: dir,
            data,
            url,
            admin,
        }
    }

    fn client(&self) -> Client {
        Client::new(&self.url, Some(self.admin.clone())).expect("client")
    }

    fn token(&self, ns: &str, perms: &[Perm]) -> String {
        TokenStore::open(&self.data)
            .expect("token store")
            .create(&TokenCreateRequest {
                scopes: vec![Scope {
                    ns: ns.into(),
                    perms: perms.to_vec(),
                }],
                ttl: None,
                label: None,
            })
            .expect("token")
            .token
    }

    async fn stop(mut self) {
        if let Some(s) = self.server.take() {
            s.stop().await.expect("clean stop");
        }
    }
}

/// Debug text with times (13-digit ms timestamps) blanked: two stores written at
/// different moments give the same text for the same data.
fn norm<T: Debug>(v: &T) -> String {
    let s = format!("{v:?}");
    let mut out = String::with_capacity(s.len());
    let mut digits = String::new();
    let flush = |digits: &mut String, out: &mut String| {
        if digits.len() == 13 {
            out.push_str("<ms>");
        } else {
            out.push_str(digits);
        }
        digits.clear();
    };
    for c in s.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else {
            flush(&mut digits, &mut out);
            out.push(c);
        }
    }
    flush(&mut digits, &mut out);
    out
}

/// The same for atomic batches, whose errors are `BatchError`s.
macro_rules! same_batch {
    ($local:expr, $remote:expr, $ms:expr) => {{
        let l = $local.batch($ms).await;
        let r = $remote
            .batch($ms)
            .await
            .map_err(ClientError::into_batch_error);
        assert_eq!(norm(&l), norm(&r), "batch");
    }};
}

/// Run the same call on the local store and the client; the answers must match.
macro_rules! same {
    ($local:expr, $remote:expr, |$s:ident| $call:expr) => {{
        let l = {
            let $s = &$local;
            $call.await
        };
        let r = {
            let $s = &$remote;
            $call.await.map_err(Error::from)
        };
        assert_eq!(norm(&l), norm(&r), "{}", stringify!($call));
        Kept(l)
    }};
}

/// The local answer of [`same!`], for the few calls whose answer is used further on
/// (not `must_use`, unlike the `Result` inside).
struct Kept<T>(T);

impl<T, E: Debug> Kept<Result<T, E>> {
    fn unwrap(self) -> T {
        self.0.unwrap()
    }
}

fn ns(s: &str) -> Namespace {
    Namespace::parse(s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_answers_as_a_local_store_does() {
    let srv = Running::start(|_| {}).await;
    let c = srv.client();
    let s = Store::memory();
    let u = ns("t/users/u1");
    let j = |v: serde_json::Value| Value::json(&v);

    // Items: writes, preconditions, the errors of each rule.
    let v1 = same!(s, c, |x| x.put(&u, "profile", j(json!({"name": "Ada"})))).unwrap();
    same!(s, c, |x| x.put_if(
        &u,
        "profile",
        j(json!({})),
        Precondition::IfVersion(Version(99))
    ));
    same!(s, c, |x| x.put_if(
        &u,
        "profile",
        j(json!({"n": 2})),
        Precondition::IfVersion(v1)
    ));
    same!(s, c, |x| x.put_if(
        &u,
        "profile",
        j(json!(1)),
        Precondition::IfAbsent
    ));
    same!(s, c, |x| x.put_if(
        &u,
        "new",
        j(json!(1)),
        Precondition::IfAbsent
    ));
    same!(s, c, |x| x.put(&u, "", j(json!(1))));
    same!(s, c, |x| x.put(&u, &"k".repeat(2000), j(json!(1))));
    same!(s, c, |x| x.put(&u, "bad", Value::json_text("{nope")));
    same!(s, c, |x| x.put(&Namespace::root(), "k", j(json!(1))));
    same!(s, c, |x| x.put(
        &Namespace::new(["a", "", "b"]),
        "k",
        j(json!(1))
    ));
    same!(s, c, |x| x.put(
        &Namespace::new(["a", ".."]),
        "k",
        j(json!(1))
    ));
    same!(s, c, |x| x.put(&u, "bytes", Value::bytes("", vec![1])));
    // Keys the path has to escape, and the two it cannot hold at all.
    for key in ["a/b", "100%", "x:append", "é ü", "..", ".", "?q#f"] {
        same!(s, c, |x| x.put(&u, key, j(json!(key))));
        same!(s, c, |x| x.get(&u, key));
    }
    for ct in [
        "image/png",
        "text/plain; charset=utf-8",
        "text/é",
        "application/json; x=1",
    ] {
        same!(s, c, |x| x.put(
            &u,
            "blob",
            Value::bytes(ct, vec![0, 255, 7])
        ));
        same!(s, c, |x| x.get(&u, "blob"));
    }
    let opts = WriteOptions {
        ttl: Ttl::After(Duration::from_secs(3600)),
        subject: Some("user 42 / é".into()),
        ..WriteOptions::default()
    };
    let l = s
        .apply(Mutation::Put {
            ns: u.clone(),
            key: "session".into(),
            value: j(json!({"s": 1})),
            precondition: Precondition::Any,
            ttl: opts.ttl,
            subject: opts.subject.clone(),
            fence: None,
        })
        .await
        .map(|o| o.version());
    let r = c
        .put_with(&u, "session", j(json!({"s": 1})), &opts)
        .await
        .map(Some)
        .map_err(Error::from);
    assert_eq!(l, r);
    same!(s, c, |x| x.get(&u, "session"));
    same!(s, c, |x| x.get(&u, "missing"));
    same!(s, c, |x| x.get(&u, ""));

    // Patches.
    same!(s, c, |x| x.patch(
        &u,
        "profile",
        PatchOp::Merge(json!({"age": 36})),
        Precondition::Any
    ));
    let failing: json_patch::Patch =
        serde_json::from_value(json!([{"op": "test", "path": "/n", "value": 3}])).unwrap();
    same!(s, c, |x| x.patch(
        &u,
        "profile",
        PatchOp::Json(failing.clone()),
        Precondition::Any
    ));
    same!(s, c, |x| x.patch(
        &u,
        "absent",
        PatchOp::Json(failing.clone()),
        Precondition::Any
    ));
    same!(s, c, |x| x.patch(
        &u,
        "absent",
        PatchOp::Merge(json!({"a": 1})),
        Precondition::Any
    ));
    same!(s, c, |x| x.patch(
        &u,
        "bytes-ish",
        PatchOp::Merge(json!(null)),
        Precondition::IfVersion(Version(1))
    ));
    same!(s, c, |x| x.get(&u, "profile"));

    // Deletes.
    same!(s, c, |x| x.delete(
        &u,
        "new",
        Precondition::IfVersion(Version(1))
    ));
    same!(s, c, |x| x.delete(&u, "new", Precondition::Any));
    same!(s, c, |x| x.delete(&u, "new", Precondition::Any));
    same!(s, c, |x| x.delete(&u, "..", Precondition::Any));

    // Reads of many, scans, namespaces.
    let keys = vec![
        (u.clone(), "profile".to_owned()),
        (u.clone(), "nope".to_owned()),
        (u.clone(), ".".to_owned()),
    ];
    same!(s, c, |x| x.get_many(&keys));
    same!(s, c, |x| x
        .get_many(&[(Namespace::new(["a", ""]), "k".to_owned())]));
    for i in 0..5 {
        same!(s, c, |x| x.put(
            &ns("t/users/u2"),
            &format!("k{i}"),
            j(json!(i))
        ));
    }
    same!(s, c, |x| x.put(&ns("t/other/deep/er"), "k", j(json!(1))));
    let mut scan = Scan {
        ns: ns("t/users/u2"),
        limit: 2,
        ..Scan::default()
    };
    loop {
        let page = same!(s, c, |x| x.scan(&scan)).unwrap();
        match page.cursor {
            Some(cur) => scan.cursor = Some(cur),
            None => break,
        }
    }
    for scan in [
        Scan {
            ns: ns("t/users/u2"),
            key_prefix: Some("k".into()),
            start: Some("k1".into()),
            end: Some("k3".into()),
            limit: 10,
            ..Scan::default()
        },
        Scan {
            ns: Namespace::root(),
            recursive: true,
            limit: 100,
            ..Scan::default()
        },
        Scan {
            ns: ns("t"),
            recursive: true,
            key_prefix: Some("k".into()),
            limit: 10,
            ..Scan::default()
        },
        Scan {
            ns: ns("t/users/u2"),
            limit: 0,
            ..Scan::default()
        },
        Scan {
            ns: ns("t/users/u2"),
            cursor: Some("not-a-cursor!".into()),
            limit: 5,
            ..Scan::default()
        },
    ] {
        same!(s, c, |x| x.scan(&scan));
    }
    same!(s, c, |x| x.list_namespaces(
        &Namespace::root(),
        None,
        100,
        None
    ));
    same!(s, c, |x| x.list_namespaces(&ns("t"), Some(2), 100, None));
    let first = same!(s, c, |x| x.list_namespaces(&ns("t"), None, 1, None)).unwrap();
    same!(s, c, |x| x.list_namespaces(
        &ns("t"),
        None,
        1,
        first.cursor.as_deref()
    ));

    // Streams.
    let ch = ns("t/chats/c1");
    let entries: Vec<Value> = (0..5).map(|i| j(json!({"i": i}))).collect();
    same!(s, c, |x| x.append(&ch, "tr", entries.clone(), None));
    same!(s, c, |x| x.append(
        &ch,
        "tr",
        vec![j(json!("late"))],
        Some(2)
    ));
    same!(s, c, |x| x.append(
        &ch,
        "tr",
        vec![Value::bytes("audio/ogg", vec![1, 2])],
        Some(5)
    ));
    same!(s, c, |x| x.append(
        &ch,
        "tr",
        vec![Value::json_text("{bad")],
        None
    ));
    same!(s, c, |x| x.read_stream(
        &ch,
        "tr",
        None,
        Direction::Forward,
        100
    ));
    same!(s, c, |x| x.read_stream(
        &ch,
        "tr",
        Some(4),
        Direction::Backward,
        2
    ));
    same!(s, c, |x| x.read_stream(
        &ch,
        "none",
        None,
        Direction::Forward,
        10
    ));
    same!(s, c, |x| x.stream_info(&ch, "tr"));
    same!(s, c, |x| x.stream_info(&ch, "none"));
    same!(s, c, |x| x.trim(&ch, "tr", TrimTo::KeepLast(3)));
    same!(s, c, |x| x.trim(&ch, "tr", TrimTo::Before(5)));
    same!(s, c, |x| x.stream_info(&ch, "tr"));
    same!(s, c, |x| x.append(&ch, "..", vec![j(json!(1))], None));
    same!(s, c, |x| x.trim(&ch, "..", TrimTo::KeepLast(0)));
    same!(s, c, |x| x.delete_stream(&ch, ".."));
    same!(s, c, |x| x.delete_stream(&ch, "tr"));
    same!(s, c, |x| x.delete_stream(&ch, "tr"));

    // Leases and fencing.
    let lk = ns("t/locks");
    let ttl = Duration::from_secs(60);
    let lease = same!(s, c, |x| x.acquire_lease(&lk, "job", "w1", ttl)).unwrap();
    same!(s, c, |x| x.acquire_lease(&lk, "job", "w2", ttl));
    same!(s, c, |x| x.renew_lease(&lk, "job", lease.token, ttl));
    same!(s, c, |x| x.renew_lease(&lk, "job", lease.token + 7, ttl));
    same!(s, c, |x| x.get_lease(&lk, "job"));
    same!(s, c, |x| x.get_lease(&lk, "free"));
    let fence = Fence {
        ns: lk.clone(),
        name: "job".into(),
        token: lease.token + 1,
    };
    let fenced_delete = |f: &Fence| Mutation::Delete {
        ns: u.clone(),
        key: "profile".into(),
        precondition: Precondition::Any,
        fence: Some(f.clone()),
    };
    let lres = s.apply(fenced_delete(&fence)).await.map(|_| true);
    let r = c
        .delete_with(&u, "profile", Precondition::Any, Some(&fence))
        .await;
    assert_eq!(lres, r.map_err(Error::from));
    let current = Fence {
        token: lease.token,
        ..fence.clone()
    };
    let fenced_put = WriteOptions {
        fence: Some(current.clone()),
        ..WriteOptions::default()
    };
    let lres = s
        .apply(Mutation::Put {
            ns: u.clone(),
            key: "fenced".into(),
            value: j(json!(1)),
            precondition: Precondition::Any,
            ttl: Ttl::Default,
            subject: None,
            fence: Some(current.clone()),
        })
        .await
        .map(|o| o.version());
    let r = c
        .put_with(&u, "fenced", j(json!(1)), &fenced_put)
        .await
        .map(Some);
    assert_eq!(lres, r.map_err(Error::from));
    same!(s, c, |x| x.release_lease(&lk, "job", lease.token));
    same!(s, c, |x| x.get_lease(&lk, "job"));
    same!(s, c, |x| x.acquire_lease(&lk, ".", "w1", ttl));
    same!(s, c, |x| x.acquire_lease(&lk, "zero", "w1", Duration::ZERO));

    // Batches, atomic and not.
    let good = vec![
        Mutation::put(ns("t/b"), "x", j(json!(1))),
        Mutation::Append {
            ns: ns("t/b"),
            stream: "s".into(),
            entries: vec![j(json!(1))],
            expected_last: None,
        },
        Mutation::SetNamespaceTtl {
            prefix: ns("t/b"),
            ttl: Some(Duration::from_secs(86_400)),
        },
    ];
    same_batch!(s, c, good.clone());
    let bad = vec![
        Mutation::put(ns("t/b"), "y", j(json!(2))),
        Mutation::put(ns("t/b"), "x", j(json!(3))).when(Precondition::IfAbsent),
        Mutation::put(ns("t/b"), "z", j(json!(4))),
    ];
    same_batch!(s, c, bad.clone());
    let invalid = vec![
        Mutation::put(ns("t/b"), "y", j(json!(2))),
        Mutation::put(ns("t/b"), "", j(json!(2))),
    ];
    same_batch!(s, c, invalid.clone());
    same!(s, c, |x| x.write_many(bad.clone()));
    same!(s, c, |x| x.write_many(invalid.clone()));
    same!(s, c, |x| x.get_many(&[
        (ns("t/b"), "x".into()),
        (ns("t/b"), "y".into()),
        (ns("t/b"), "z".into())
    ]));

    // Namespace TTLs and the change feed.
    same!(s, c, |x| x.set_namespace_ttl(
        &ns("t/sessions"),
        Some(Duration::from_secs(1800))
    ));
    same!(s, c, |x| x.set_namespace_ttl(&ns("t/b"), None));
    same!(s, c, |x| x
        .set_namespace_ttl(&ns("t"), Some(Duration::ZERO)));
    same!(s, c, |x| x.namespace_ttls(&Namespace::root()));
    let local = s.changes(0, 1000).await.unwrap();
    let remote = c.changes(0, 1000, None).await.unwrap();
    assert_eq!(norm(&local), norm(&remote.changes));
    assert_eq!(remote.last_lsn, s.last_lsn().await.unwrap());
    assert_eq!(Some(remote.next_since), local.last().map(|c| c.lsn));
    let tail = c.changes(3, 2, None).await.unwrap();
    assert_eq!(norm(&s.changes(3, 2).await.unwrap()), norm(&tail.changes));
    assert_eq!(tail.next_since, 5);
    assert_eq!(
        c.changes(0, 0, None)
            .await
            .map(|p| p.changes)
            .map_err(Error::from),
        s.changes(0, 0).await
    );

    // Stats count the same things (bytes on disk are the engine's own).
    let ls = s.stats(&ns("t")).await.unwrap();
    let rs = c.stats(&ns("t")).await.unwrap();
    assert_eq!(ls.namespaces, rs.stats.namespaces);
    assert_eq!(ls.last_lsn, rs.stats.last_lsn);
    assert_eq!(rs.stats.backend, "embedded");
    assert!(rs.stats.disk_bytes.is_some());
    assert_eq!(rs.estimated_disk_bytes.len(), rs.stats.namespaces.len());

    srv.stop().await;
}

/// `.` and `..` are refused as names everywhere (URL paths would resolve them away), so
/// the client and a local store agree on them too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dot_names_are_refused_like_a_local_store_does() {
    let srv = Running::start(|_| {}).await;
    let c = srv.client();
    let local = botstore::Store::memory();
    let n = ns("a");
    for name in [".", ".."] {
        let remote = c
            .append(&n, name, vec![Value::json_text("1")], None)
            .await
            .unwrap_err();
        let here = local
            .append(&n, name, vec![Value::json_text("1")], None)
            .await
            .unwrap_err();
        assert_eq!(remote.store_error(), Some(&here));
        assert!(matches!(
            here,
            Error::InvalidInput {
                rule: Rule::KeyCharacters,
                ..
            }
        ));
        assert!(c.put(&n, name, Value::json_text("1")).await.is_err());
        assert!(c.get(&n, name).await.is_err());
        assert!(c.stream_info(&n, name).await.is_err());
        assert!(c.get_lease(&n, name).await.is_err());
    }
    srv.stop().await;
}

/// A namespace's wire form is its string form: an empty segment or one with '/' would
/// name another namespace there. Batches and single mutations refuse them as the store
/// does, and nothing is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_the_wire_cannot_carry_are_refused_in_batches() {
    let srv = Running::start(|_| {}).await;
    let c = srv.client();
    let local = botstore::Store::memory();
    for bad in [
        Namespace::new(["a", ""]),
        Namespace::new(["a", "b/c"]),
        Namespace::new(["a", ".."]),
    ] {
        let m = Mutation::put(bad.clone(), "k", Value::json_text("1"));
        let remote = c.apply(m.clone()).await.unwrap_err();
        let here = local.apply(m.clone()).await.unwrap_err();
        assert_eq!(remote.store_error(), Some(&here), "{bad:?}");
        let ok = Mutation::put(ns("a"), "ok", Value::json_text("1"));
        let remote = c.batch(vec![ok.clone(), m.clone()]).await.unwrap_err();
        let here = local.batch(vec![ok, m]).await.unwrap_err();
        assert_eq!(remote.store_error(), Some(&here.error), "{bad:?}");
    }
    assert_eq!(c.get(&ns("a"), "k").await.unwrap(), None);
    assert_eq!(c.get(&ns("a"), "ok").await.unwrap(), None);
    // Not atomic: the bad one fails in its slot, as locally; the others are written.
    let ms = vec![
        Mutation::put(ns("a"), "one", Value::json_text("1")),
        Mutation::put(Namespace::new(["a", ""]), "k", Value::json_text("1")),
        Mutation::put(ns("a"), "two", Value::json_text("2")),
    ];
    let remote = c.write_many(ms.clone()).await.unwrap();
    let here = local.write_many(ms).await.unwrap();
    assert_eq!(remote[1], here[1]);
    assert!(remote[1].is_err() && remote[0].is_ok() && remote[2].is_ok());
    assert!(c.get(&ns("a"), "two").await.unwrap().is_some());
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_scopes_and_refusals() {
    let srv = Running::start(|_| {}).await;
    let admin = srv.client();
    let a = ns("tenant-a/users");
    admin.put(&a, "k", Value::json_text("1")).await.unwrap();

    // No token, an unknown one: 401, reported as bad input with the problem kept.
    for token in [None, Some("bst_0000_nope".to_owned())] {
        let c = Client::new(&srv.url, token).unwrap();
        let e = c.get(&a, "k").await.unwrap_err();
        assert_eq!(e.kind(), botstore::ErrorKind::InvalidInput, "{e}");
        assert_eq!(e.problem().map(|p| p.status), Some(401));
    }

    // A read-only token for tenant-a, made in the token file while the server runs: the
    // server sees it within a second or so. It reads there, nothing else.
    let ro = Client::new(&srv.url, Some(srv.token("tenant-a/*", &[Perm::Read]))).unwrap();
    let t = Instant::now();
    loop {
        match ro.get(&a, "k").await {
            Ok(item) => break assert!(item.is_some()),
            Err(e) if t.elapsed() < Duration::from_secs(5) => {
                assert_eq!(e.problem().map(|p| p.status), Some(401), "{e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("the new token is still refused: {e}"),
        }
    }
    let e = ro.put(&a, "k", Value::json_text("2")).await.unwrap_err();
    assert_eq!(e.problem().map(|p| p.status), Some(403));
    assert!(ro.get(&ns("tenant-b"), "k").await.is_err());
    assert!(
        ro.list_tokens().await.is_err(),
        "token admin needs admin on *"
    );

    // Token management through the API.
    let made = admin
        .create_token(&TokenCreateRequest {
            scopes: vec![Scope {
                ns: "tenant-b/*".into(),
                perms: vec![Perm::Read, Perm::Write],
            }],
            ttl: Some("1h".into()),
            label: Some("b writer".into()),
        })
        .await
        .unwrap();
    assert!(made.token.starts_with("bst_"));
    assert!(made.info.expires_at.is_some());
    let list = admin.list_tokens().await.unwrap();
    assert!(list
        .iter()
        .any(|t| t.id == made.info.id && t.label.as_deref() == Some("b writer")));
    let b = Client::new(&srv.url, Some(made.token.clone())).unwrap();
    b.put(&ns("tenant-b"), "k", Value::json_text("1"))
        .await
        .unwrap();
    assert!(admin.revoke_token(&made.info.id).await.unwrap());
    assert!(!admin.revoke_token("no-such-id").await.unwrap());
    let e = b.get(&ns("tenant-b"), "k").await.unwrap_err();
    assert_eq!(e.problem().map(|p| p.status), Some(401), "{e}");
    let bad = admin
        .create_token(&TokenCreateRequest {
            scopes: vec![],
            ttl: None,
            label: None,
        })
        .await
        .unwrap_err();
    assert_eq!(bad.kind(), botstore::ErrorKind::InvalidInput);

    // Health needs no token.
    let anon = Client::new(&srv.url, None).unwrap();
    assert_eq!(anon.healthz().await.unwrap().status, "ok");
    assert!(anon.readyz().await.unwrap());
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_poll_wakes_on_the_next_commit() {
    let srv = Running::start(|_| {}).await;
    let c = srv.client();
    let n = ns("feed");
    c.put(&n, "a", Value::json_text("1")).await.unwrap();
    let last = c.changes(0, 10, None).await.unwrap().last_lsn;
    let waiter = {
        let c = c.clone();
        tokio::spawn(async move {
            let t = Instant::now();
            let page = c
                .changes(last, 10, Some(Duration::from_secs(20)))
                .await
                .unwrap();
            (page, t.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    c.put(&n, "b", Value::json_text("2")).await.unwrap();
    let (page, took) = waiter.await.unwrap();
    assert_eq!(page.changes.len(), 1, "{page:?}");
    assert!(took < Duration::from_secs(10), "woke after {took:?}");
    // Nothing new: the wait runs out and the page is empty.
    let t = Instant::now();
    let page = c
        .changes(page.next_since, 10, Some(Duration::from_millis(300)))
        .await
        .unwrap();
    assert!(page.changes.is_empty());
    assert!(t.elapsed() >= Duration::from_millis(250));
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_calls_and_size_limits() {
    let srv = Running::start(|c| c.body_limit = Some(4096)).await;
    let c = srv.client();
    let n = ns("big");
    c.put(&n, "small", Value::json_text("1")).await.unwrap();
    let e = c
        .put(
            &n,
            "large",
            Value::bytes("application/octet-stream", vec![7; 10_000]),
        )
        .await
        .unwrap_err();
    assert_eq!(e.problem().map(|p| p.status), Some(413), "{e}");
    assert_eq!(e.kind(), botstore::ErrorKind::InvalidInput);
    let r = c.compact().await.unwrap();
    assert!(r.bytes_before > 0);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transport_failures_are_not_store_errors() {
    // A port nothing listens on (bound, then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let c = Client::new(&format!("http://127.0.0.1:{port}"), None).unwrap();
    let e = c.get(&ns("a"), "k").await.unwrap_err();
    match &e {
        ClientError::Transport(m) => {
            assert!(
                m.starts_with("cannot reach server at http://127.0.0.1:"),
                "{m}"
            )
        }
        other => panic!("expected a transport error, got {other:?}"),
    }
    assert_eq!(e.kind(), botstore::ErrorKind::Internal);
    assert!(matches!(Error::from(e), Error::Storage(_)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_a_self_signed_certificate() {
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let cert_pem = certified.cert.pem();
    std::fs::write(&cert, &cert_pem).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let srv = Running::start(|c| {
        c.tls_cert = Some(cert.clone());
        c.tls_key = Some(key.clone());
    })
    .await;
    assert!(srv.url.starts_with("https://127.0.0.1:"));

    let c = Client::with_ca_cert(&srv.url, Some(srv.admin.clone()), cert_pem.as_bytes()).unwrap();
    let v = c
        .put(&ns("tls"), "k", Value::json_text("{\"x\":1}"))
        .await
        .unwrap();
    let item = c.get(&ns("tls"), "k").await.unwrap().unwrap();
    assert_eq!(item.version, v);

    // Without the certificate the client does not trust the server.
    let untrusting = Client::new(&srv.url, Some(srv.admin.clone())).unwrap();
    let e = untrusting.get(&ns("tls"), "k").await.unwrap_err();
    assert!(matches!(e, ClientError::Transport(_)), "{e:?}");
    srv.stop().await;
}
