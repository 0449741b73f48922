//! `serve --backup-repo`: the server archives its own change feed while it serves, its
//! metrics say how far the archive reaches, a clean stop ships the last segment, and a
//! point-in-time restore to the last acknowledged write gives exactly the served data.

use botstore::Namespace;
use botstore_backup::{KdfParams, LocalRepo, PointInTime, Repo, RestoreOptions, Secret};
use botstore_server::{ServeConfig, Server};
use std::time::{Duration, Instant};
/// reqwest's builder, with ring installed as the process's rustls provider: reqwest is
/// built without a provider of its own (see the workspace's Cargo.toml), and a client it
/// configures itself needs one even for `http://`.
fn http() -> reqwest::ClientBuilder {
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
}

fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_archives_as_it_serves_and_restores_to_the_last_write() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let repo_dir = dir.path().join("repo");
    let key_file = dir.path().join("backup.key");
    std::fs::write(&key_file, botstore_backup::hex(&[7u8; 32])).unwrap();
    let secret = Secret::from_key_file(&key_file).unwrap();
    Repo::init(
        Box::new(LocalRepo::new(&repo_dir)),
        &secret,
        KdfParams::default(),
    )
    .unwrap();

    let server = Server::start(ServeConfig {
        data: Some(data.clone()),
        listen: Some("127.0.0.1:0".into()),
        insecure_dev: Some(true),
        backup_repo: Some(repo_dir.clone()),
        backup_every: Some("100ms".into()),
        backup_key_file: Some(key_file.clone()),
        ..Default::default()
    })
    .await
    .unwrap();
    let base = format!("http://{}", server.addr);
    let http = http().build().unwrap();
    let mut last = 0u64;
    for i in 0..200 {
        let r = http
            .put(format!("{base}/v1/items/tenant-a/users/u{}/state", i % 20))
            .body(format!("{{\"turn\":{i}}}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: serde_json::Value = r.json().await.unwrap();
        last = v["version"].as_u64().unwrap();
    }

    // The archive catches up with the last write within a few ticks; /metrics says so.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = http
            .get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let lsn = metric(&text, "botstore_backup_last_lsn").unwrap_or(0.0);
        if lsn >= last as f64 {
            assert!(
                metric(&text, "botstore_backup_segments_total").unwrap_or(0.0) >= 1.0,
                "{text}"
            );
            assert!(
                metric(&text, "botstore_backup_last_success_timestamp_seconds").unwrap_or(0.0)
                    > 0.0
            );
            assert_eq!(
                metric(&text, "botstore_backup_failures_total"),
                Some(0.0),
                "{text}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the archive did not reach LSN {last}:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Writes after that are shipped by the clean stop.
    let r = http
        .put(format!("{base}/v1/items/tenant-a/users/late/state"))
        .body("\"last\"")
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    let final_lsn = v["version"].as_u64().unwrap();
    server.stop().await.unwrap();

    let repo = Repo::open(Box::new(LocalRepo::new(&repo_dir)), &secret).unwrap();
    let to = dir.path().join("restored");
    let s = botstore_backup::restore_at(
        &repo,
        &to,
        &RestoreOptions {
            snapshot: None,
            force: false,
            progress: None,
        },
        &PointInTime {
            lsn: Some(final_lsn),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(s.lsn, final_lsn);
    let restored = botstore::open(&to.to_string_lossy(), Default::default()).unwrap();
    let source = botstore::open(&data.to_string_lossy(), Default::default()).unwrap();
    for u in (0..20).map(|i| format!("u{i}")).chain(["late".to_string()]) {
        let ns = Namespace::new(["tenant-a", "users", u.as_str()]);
        let a = source.get(&ns, "state").await.unwrap().unwrap();
        let b = restored.get(&ns, "state").await.unwrap().unwrap();
        assert_eq!(a, b, "{u}");
    }
    assert_eq!(restored.last_lsn().await.unwrap(), final_lsn);
}
