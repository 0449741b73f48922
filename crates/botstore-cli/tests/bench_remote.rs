//! `botstore bench --remote URL` against a real `botstore serve` started from the built
//! binary: a very short run of every remote workload reports throughput and no errors.
//! No timing asserts. `botstore bench` runs the `botstore-bench` binary found next to
//! `botstore`; cargo does not build another package's binary for these tests, so
//! [`bench_binary`] builds it (same target folder and profile) when it is missing.

// Test code: helpers outside #[test] fns unwrap too; a panic is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{mpsc, OnceLock};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_botstore");

/// `botstore-bench` next to `botstore`, built by cargo first if it is not there.
fn bench_binary() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = Path::new(BIN).parent().expect("the binary's folder");
        let bench = dir.join(format!("botstore-bench{}", std::env::consts::EXE_SUFFIX));
        if !bench.exists() {
            // BIN is <target>/<profile>/botstore.
            let target = dir.parent().expect("the target folder");
            let mut c = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
            c.args(["build", "-p", "botstore-bench", "--bin", "botstore-bench"])
                .arg("--target-dir")
                .arg(target);
            if dir.file_name().is_some_and(|p| p == "release") {
                c.arg("--release");
            }
            let status = c.status().expect("run cargo build -p botstore-bench");
            assert!(status.success(), "cargo build -p botstore-bench failed");
        }
        assert!(bench.exists(), "{} missing", bench.display());
        bench
    })
}

/// A `botstore serve` on a free loopback port; killed on drop.
struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn serve(data: &Path, extra: &[&str]) -> Server {
    let mut child = Command::new(BIN)
        .args(["serve", "--data"])
        .arg(data)
        .args(["--listen", "127.0.0.1:0"])
        .args(extra)
        .env_remove("BOTSTORE_REMOTE")
        .env_remove("BOTSTORE_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start botstore serve");
    // The log line `listening on ADDR` says which port port 0 became (stdout or stderr).
    let (tx, rx) = mpsc::channel();
    for pipe in [
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let line = strip_ansi(&line);
                if let Some(rest) = line.split("listening on ").nth(1) {
                    let addr = rest.split_whitespace().next().unwrap_or("").to_string();
                    let _ = tx.send(addr);
                }
                // Keep draining, so the server never blocks on a full pipe.
            }
        });
    }
    let addr = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the server printed `listening on ADDR`");
    Server {
        child,
        url: format!("http://{addr}"),
    }
}

fn bench(url: &str, token: Option<&str>, args: &[&str]) -> Output {
    bench_binary();
    let mut c = Command::new(BIN);
    c.args(["--json", "--remote", url]);
    if let Some(t) = token {
        c.args(["--token", t]);
    }
    c.arg("bench")
        .args(args)
        .env_remove("BOTSTORE_REMOTE")
        .env_remove("BOTSTORE_TOKEN")
        .output()
        .expect("run botstore bench")
}

fn reports(o: &Output) -> Vec<Value> {
    assert!(
        o.status.success(),
        "bench failed: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON report per line"))
        .collect()
}

const SHORT: &[&str] = &[
    "-d", "300ms", "--warmup", "100ms", "-c", "4", "--keys", "40",
];

#[test]
fn remote_bench_against_a_real_server_reports_throughput_and_no_errors() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(&dir.path().join("data"), &["--insecure-dev"]);
    let mut args = vec!["-w", "get,put,state,transcript", "--rate", "half"];
    args.extend_from_slice(SHORT);
    let rs = reports(&bench(&server.url, None, &args));
    let names: Vec<&str> = rs.iter().map(|r| r["workload"].as_str().unwrap()).collect();
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
        "transcript-tail@50%",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    for r in &rs {
        let name = r["workload"].as_str().unwrap();
        assert!(r["ops"].as_u64().unwrap() > 0, "{name}: no ops: {r}");
        assert!(r["ops_per_sec"].as_f64().unwrap() > 0.0, "{name}: {r}");
        assert_eq!(r["errors"].as_u64(), Some(0), "{name}: errors: {r}");
    }
}

#[test]
fn remote_bench_uses_the_token_and_reports_a_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let o = Command::new(BIN)
        .arg("--data")
        .arg(&data)
        .args([
            "--json",
            "token",
            "create",
            "--ns",
            "bench/*",
            "--perm",
            "read,write",
        ])
        .env_remove("BOTSTORE_REMOTE")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let created: Value = serde_json::from_slice(&o.stdout).unwrap();
    let token = created["token"].as_str().unwrap().to_string();
    let server = serve(&data, &[]);

    let mut args = vec!["-w", "get,put"];
    args.extend_from_slice(SHORT);
    let rs = reports(&bench(&server.url, Some(&token), &args));
    assert_eq!(rs.len(), 2);
    for r in &rs {
        assert!(r["ops"].as_u64().unwrap() > 0, "{r}");
        assert_eq!(r["errors"].as_u64(), Some(0), "{r}");
    }

    // Without the token the server refuses the preload: the run fails and says why.
    let o = bench(&server.url, None, &args);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("401"), "{err}");
}

#[test]
fn bench_help_is_the_benchmarks_own() {
    bench_binary();
    let o = Command::new(BIN)
        .args(["bench", "--help"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let help = String::from_utf8_lossy(&o.stdout);
    for want in [
        "Usage: botstore bench",
        "--workloads",
        "--baseline",
        "--concurrency",
    ] {
        assert!(help.contains(want), "{want} missing from:\n{help}");
    }
}

#[test]
fn without_the_bench_binary_bench_says_how_to_build_it() {
    // A copy of `botstore` alone in a folder, with nothing on PATH.
    let dir = tempfile::tempdir().unwrap();
    let lonely = dir.path().join(Path::new(BIN).file_name().unwrap());
    std::fs::copy(BIN, &lonely).unwrap();
    let o = Command::new(&lonely)
        .args(["bench", "-w", "get"])
        .env("PATH", dir.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(4));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("cargo build --release -p botstore-bench"),
        "{err}"
    );
}
