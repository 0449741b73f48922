//! The background scrub walks the store and reports through /metrics.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use botstore_api::wire::{Perm, Scope, TokenCreateRequest};
use botstore_server::{ServeConfig, Server};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scrub_checks_every_record_and_says_so_in_metrics() {
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let admin = botstore_server::tokens::TokenStore::open(dir.path())
        .unwrap()
        .create(&TokenCreateRequest {
            scopes: vec![Scope {
                ns: "*".into(),
                perms: vec![Perm::Read, Perm::Write, Perm::Admin],
            }],
            ttl: None,
            label: None,
        })
        .unwrap();
    let server = Server::start(ServeConfig {
        data: Some(dir.path().to_owned()),
        listen: Some("127.0.0.1:0".into()),
        scrub_every: Some("1s".into()),
        ..Default::default()
    })
    .await
    .unwrap();
    let base = format!("http://{}", server.addr);
    let http = reqwest::Client::new();
    for i in 0..20 {
        let r = http
            .put(format!("{base}/v1/items/t/u/k{i}"))
            .bearer_auth(&admin.token)
            .header("content-type", "application/json")
            .body(format!("{{\"n\":{i}}}"))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.status());
    }
    let gauge = |text: &str, name: &str| -> Option<f64> {
        text.lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = http
            .get(format!("{base}/metrics"))
            .bearer_auth(&admin.token)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        // A scrub that ran after the writes has seen at least the 20 items.
        if gauge(&text, "botstore_scrub_records").unwrap_or(0.0) >= 20.0 {
            assert_eq!(gauge(&text, "botstore_scrub_damaged_records"), Some(0.0));
            assert!(gauge(&text, "botstore_scrub_last_completed_timestamp_seconds").unwrap() > 0.0);
            break;
        }
        assert!(Instant::now() < deadline, "no scrub within 30 s:\n{text}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    server.stop().await.unwrap();
}
