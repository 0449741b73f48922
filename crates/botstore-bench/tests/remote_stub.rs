//! The HTTP load generator against a stub server (a few lines of HTTP/1.1 over tokio, the
//! API's item and stream calls on a map): every remote workload runs, closed and open loop,
//! and a server that answers 500 shows up as errors. The real server is tested from the
//! CLI's tests (`crates/botstore-cli/tests/bench_remote.rs`).

// Test code: helpers outside #[test] fns unwrap too; a panic is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use botstore_bench::remote::{run, Rate, RemoteConfig, RemoteWorkload};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

#[derive(Default)]
struct Stub {
    items: HashMap<String, (u64, Vec<u8>)>,
    streams: HashMap<String, u64>,
    lsn: u64,
    /// Answer 500 to every PUT.
    fail_puts: bool,
}

async fn serve(stub: Arc<Mutex<Stub>>) -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (s, _) = l.accept().await.unwrap();
            let stub = stub.clone();
            tokio::spawn(async move {
                let (r, mut w) = s.into_split();
                let mut r = BufReader::new(r);
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let mut parts = line.split_whitespace();
                    let (method, path) = (
                        parts.next().unwrap_or("").to_string(),
                        parts.next().unwrap_or("").to_string(),
                    );
                    let (mut len, mut if_match) = (0usize, None);
                    loop {
                        let mut h = String::new();
                        r.read_line(&mut h).await.unwrap();
                        let h = h.trim_end();
                        if h.is_empty() {
                            break;
                        }
                        let (k, v) = h.split_once(':').unwrap();
                        match k.to_ascii_lowercase().as_str() {
                            "content-length" => len = v.trim().parse().unwrap(),
                            "if-match" => if_match = Some(v.trim().trim_matches('"').to_string()),
                            _ => {}
                        }
                    }
                    let mut body = vec![0; len];
                    r.read_exact(&mut body).await.unwrap();
                    let (status, etag, out) = answer(&stub, &method, &path, if_match, body);
                    let etag = etag
                        .map(|v| format!("etag: \"{v}\"\r\n"))
                        .unwrap_or_default();
                    let head = format!(
                        "HTTP/1.1 {status}\r\ncontent-length: {}\r\n{etag}\r\n",
                        out.len()
                    );
                    // One write: head and body in two would meet Nagle and delayed ACKs.
                    let mut msg = head.into_bytes();
                    msg.extend_from_slice(&out);
                    w.write_all(&msg).await.unwrap();
                }
            });
        }
    });
    format!("http://{addr}")
}

fn answer(
    stub: &Mutex<Stub>,
    method: &str,
    path: &str,
    if_match: Option<String>,
    body: Vec<u8>,
) -> (&'static str, Option<u64>, Vec<u8>) {
    let mut s = stub.lock().unwrap();
    let path = path.split('?').next().unwrap().to_string();
    match (
        method,
        path.strip_prefix("/v1/items/"),
        path.strip_prefix("/v1/streams/"),
    ) {
        ("GET", Some(k), _) => match s.items.get(k) {
            Some((v, data)) => ("200 OK", Some(*v), data.clone()),
            None => ("404 Not Found", None, b"{}".to_vec()),
        },
        ("PUT", Some(k), _) => {
            if s.fail_puts {
                return (
                    "500 Internal Server Error",
                    None,
                    b"{\"type\":\"storage\"}".to_vec(),
                );
            }
            let cur = s.items.get(k).map(|x| x.0);
            if let Some(m) = if_match {
                if cur.map(|c| c.to_string()) != Some(m) {
                    return ("412 Precondition Failed", cur, b"{}".to_vec());
                }
            }
            serde_json::from_slice::<serde_json::Value>(&body).expect("PUT body is JSON");
            s.lsn += 1;
            let v = s.lsn;
            s.items.insert(k.to_string(), (v, body));
            (
                "200 OK",
                Some(v),
                format!("{{\"version\":{v}}}").into_bytes(),
            )
        }
        ("POST", _, Some(st)) if st.ends_with(":append") => {
            let b: serde_json::Value = serde_json::from_slice(&body).expect("append body is JSON");
            let n = b["entries"].as_array().expect("entries").len() as u64;
            let last = s.streams.entry(st.to_string()).or_default();
            *last += n;
            let out = format!("{{\"first_seq\":{},\"last_seq\":{}}}", *last - n + 1, *last);
            ("200 OK", None, out.into_bytes())
        }
        ("GET", _, Some(_)) => ("200 OK", None, b"{\"entries\":[]}".to_vec()),
        _ => ("404 Not Found", None, b"{}".to_vec()),
    }
}

fn cfg(url: String) -> RemoteConfig {
    RemoteConfig {
        url,
        concurrency: 4,
        duration: Duration::from_millis(300),
        warmup: Duration::from_millis(50),
        keys: Some(50),
        ..RemoteConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_remote_workload_runs_against_a_stub() {
    let url = serve(Arc::new(Mutex::new(Stub::default()))).await;
    let reports = run(&RemoteConfig {
        workloads: RemoteWorkload::ALL.to_vec(),
        rate: Some(Rate::HalfPeak),
        ..cfg(url)
    })
    .await
    .unwrap();
    let names: Vec<&str> = reports.iter().map(|r| r.workload.as_str()).collect();
    for want in [
        "get",
        "get@50%",
        "put",
        "put@50%",
        "state",
        "state@50%",
        "transcript-append",
        "transcript-tail",
        "transcript-append@50%",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    for r in &reports {
        assert!(r.ops > 0 && r.ops_per_sec > 0.0, "{}: no ops", r.workload);
        assert_eq!(r.errors, Some(0), "{}: {:?}", r.workload, r.notes);
        assert!(r.p50_us > 0.0 && r.p50_us <= r.p99_us && r.p99_us <= r.p999_us);
        assert_eq!(r.extra["connections"], 4.0);
        if r.workload.ends_with("@50%") {
            assert!(r.extra["target_rate"] > 0.0 && r.extra.contains_key("service_p99_us"));
        }
    }
    let table = botstore_bench::remote::render_table(&reports);
    assert!(table.contains("| get@50%") && table.contains("closed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_requests_are_counted_and_described() {
    let stub = Arc::new(Mutex::new(Stub::default()));
    let url = serve(stub.clone()).await;
    stub.lock().unwrap().fail_puts = true;
    let reports = run(&RemoteConfig {
        workloads: vec![RemoteWorkload::Put],
        rate: Some(Rate::PerSec(500.0)),
        ..cfg(url.clone())
    })
    .await
    .unwrap();
    let r = &reports[0];
    assert_eq!(r.workload, "put@500/s");
    assert_eq!(r.ops, 0);
    assert!(r.errors.unwrap() > 50, "{r:?}");
    assert_eq!(r.extra["http_500"], r.errors.unwrap() as f64);
    assert!(r.notes.iter().any(|n| n.contains("500")), "{:?}", r.notes);
    // A preload that fails stops the run with the server's answer.
    let e = run(&RemoteConfig {
        workloads: vec![RemoteWorkload::Get],
        ..cfg(url)
    })
    .await
    .unwrap_err();
    assert!(e.0.contains("500"), "{e}");
}
