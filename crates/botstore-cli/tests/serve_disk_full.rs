//! `botstore serve` on a real full disk (a 48 MiB tmpfs, mounted as root): writes answer
//! 507 while reads go on and `/readyz` says why; writes resume by themselves once space is
//! freed; SIGTERM while the disk is full exits 0 and loses nothing acknowledged; a restart
//! on the still full disk opens read-only (503 read-only, reads served) and becomes
//! writable by itself once space is freed. Without root or `mount` the test prints why and
//! returns.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_botstore");

struct SmallDisk(tempfile::TempDir);

impl SmallDisk {
    fn mount(mib: u64) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().ok()?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(dir.path())
            .output();
        match out {
            Ok(o) if o.status.success() => Some(SmallDisk(dir)),
            Ok(o) => {
                let why = String::from_utf8_lossy(&o.stderr);
                eprintln!("SKIPPED: cannot mount a tmpfs (needs root): {}", why.trim());
                None
            }
            Err(e) => {
                eprintln!("SKIPPED: cannot run mount: {e}");
                None
            }
        }
    }

    fn fill(&self) -> PathBuf {
        let p = self.0.path().join("filler");
        let mut f = std::fs::File::create(&p).unwrap();
        for chunk in [1 << 20, 4096] {
            let zeros = vec![0u8; chunk];
            while f.write_all(&zeros).is_ok() {}
        }
        p
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.0.path()).status();
    }
}

struct Served {
    child: Child,
    base: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Served {
    fn start(data: &Path) -> Served {
        let mut child = Command::new(BIN)
            .arg("serve")
            .arg("--data")
            .arg(data)
            .args(["--listen", "127.0.0.1:0", "--insecure-dev"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .env("NO_COLOR", "1")
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel::<SocketAddr>();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn({
            let log = log.clone();
            move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    if let Some(i) = line.find("listening on ") {
                        let rest = &line[i + "listening on ".len()..];
                        if let Some(a) = rest.split(' ').next().and_then(|a| a.parse().ok()) {
                            let _ = tx.send(a);
                        }
                    }
                    log.lock().unwrap().push(line);
                }
            }
        });
        let Ok(addr) = rx.recv_timeout(Duration::from_secs(30)) else {
            let _ = child.kill();
            panic!("serve did not start:\n{}", log.lock().unwrap().join("\n"));
        };
        Served {
            child,
            base: format!("http://{addr}"),
            log,
        }
    }

    fn logs(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// SIGTERM; the process must exit 0 within 20 s.
    fn terminate(mut self) -> String {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
        let until = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            assert!(Instant::now() < until, "no exit:\n{}", self.logs());
            std::thread::sleep(Duration::from_millis(20));
        };
        std::thread::sleep(Duration::from_millis(100)); // the log thread drains
        assert!(status.success(), "exit {status}:\n{}", self.logs());
        self.logs()
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

fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap()
}

/// PUT `k<i>`: the status and the body.
async fn put(h: &reqwest::Client, s: &Served, i: usize) -> (u16, String) {
    let r = h
        .put(format!("{}/v1/items/full/k{i}", s.base))
        .json(&serde_json::json!({"i": i, "pad": "x".repeat(4000)}))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn get_status(h: &reqwest::Client, s: &Served, path: &str) -> (u16, String) {
    let r = h.get(format!("{}{path}", s.base)).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn check(h: &reqwest::Client, s: &Served, acked: &[usize], failed: &[usize]) {
    for &i in acked {
        let (st, body) = get_status(h, s, &format!("/v1/items/full/k{i}")).await;
        assert_eq!(st, 200, "acknowledged k{i}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["i"], i);
    }
    for &i in failed {
        let (st, _) = get_status(h, s, &format!("/v1/items/full/k{i}")).await;
        assert_eq!(st, 404, "failed k{i} must be absent");
    }
}

/// Write `k<from>..` until one is refused: returns (acked, the refused index and answer).
async fn fill_until_refused(
    h: &reqwest::Client,
    s: &Served,
    from: usize,
    acked: &mut Vec<usize>,
) -> (usize, u16, String) {
    for i in from..from + 100_000 {
        match put(h, s, i).await {
            (200 | 201, _) => acked.push(i),
            (st, body) => return (i, st, body),
        }
    }
    panic!("the disk never filled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_on_a_full_disk_survives_and_sigterm_loses_nothing() {
    let Some(disk) = SmallDisk::mount(48) else {
        return;
    };
    let data = disk.0.path().join("store");
    let h = http();
    let s = Served::start(&data);
    let mut acked = Vec::new();
    let mut failed = Vec::new();
    let filler = disk.fill();
    let (i, st, body) = fill_until_refused(&h, &s, 0, &mut acked).await;
    assert_eq!(st, 507, "{body}");
    assert!(body.contains("insufficient-storage"), "{body}");
    failed.push(i);
    eprintln!("full after {} writes: {body}", acked.len());
    check(&h, &s, &acked, &failed).await;
    let (st, body) = get_status(&h, &s, "/readyz").await;
    assert_eq!(st, 503, "{body}");
    assert!(
        body.contains("not ready for writes") && body.contains("since"),
        "{body}"
    );
    let (_, metrics) = get_status(&h, &s, "/metrics").await;
    assert!(metrics.contains("botstore_writes_blocked 1"), "{metrics}");

    // Free space: readiness comes back with no traffic, then writes go through.
    std::fs::remove_file(&filler).unwrap();
    let t = Instant::now();
    while get_status(&h, &s, "/readyz").await.0 != 200 {
        assert!(t.elapsed() < Duration::from_secs(10), "never ready again");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("READY {:?} after the space was freed", t.elapsed());
    let (st, body) = put(&h, &s, i + 1).await;
    assert_eq!(st / 100, 2, "{body}");
    acked.push(i + 1);
    let (_, metrics) = get_status(&h, &s, "/metrics").await;
    assert!(metrics.contains("botstore_writes_blocked 0"), "{metrics}");

    // Full again, then SIGTERM: exit 0, the final checkpoint's failure logged.
    let filler = disk.fill();
    let (i, st, body) = fill_until_refused(&h, &s, i + 2, &mut acked).await;
    assert_eq!(st, 507, "{body}");
    failed.push(i);
    let logs = s.terminate();
    assert!(logs.contains("final checkpoint failed"), "{logs}");

    // A restart on the still full disk: read-only, reads served.
    let s = Served::start(&data);
    assert!(s.logs().contains("read-only"), "{}", s.logs());
    check(&h, &s, &acked, &failed).await;
    let (st, body) = put(&h, &s, 999_999).await;
    assert_eq!(st, 503, "{body}");
    assert!(body.contains("read-only"), "{body}");
    assert_eq!(get_status(&h, &s, "/readyz").await.0, 503);

    // Space again: writable by itself; then a clean stop and a last check.
    std::fs::remove_file(&filler).unwrap();
    let t = Instant::now();
    loop {
        let (st, body) = get_status(&h, &s, "/readyz").await;
        if st == 200 {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "still read-only: {body}\n{}",
            s.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!(
        "read-only start: WRITABLE {:?} after the space was freed",
        t.elapsed()
    );
    let (st, body) = put(&h, &s, i + 1).await;
    assert_eq!(st / 100, 2, "{body}");
    acked.push(i + 1);
    s.terminate();
    let s = Served::start(&data);
    check(&h, &s, &acked, &failed).await;
    s.terminate();
}
