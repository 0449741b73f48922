//! The anchors measured in the same run by other programs: `redis-benchmark` against a
//! Redis (GET, SET; SET with `appendfsync always` on a throwaway `redis-server` this code
//! starts and stops), and `wrk`, a C load generator, against our own server.

use crate::{BenchError, Result};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One `redis-benchmark` test (a line of its `--csv` output).
#[derive(Clone, Debug, PartialEq)]
pub struct RedisResult {
    pub test: String,
    pub rps: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
}

/// The command line that `redis_benchmark` runs (for reports).
pub fn redis_benchmark_cmd(
    host: &str,
    port: u16,
    conns: usize,
    requests: u64,
    size: usize,
    keys: usize,
    tests: &str,
) -> Vec<String> {
    [
        "redis-benchmark",
        "-h",
        host,
        "-p",
        &port.to_string(),
        "-c",
        &conns.to_string(),
        "-n",
        &requests.to_string(),
        "-d",
        &size.to_string(),
        "-r",
        &keys.to_string(),
        "-t",
        tests,
        "--csv",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Run `redis-benchmark` and parse its CSV output.
pub fn redis_benchmark(cmd: &[String]) -> Result<Vec<RedisResult>> {
    let out = Command::new(&cmd[0])
        .args(&cmd[1..])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| BenchError(format!("running redis-benchmark: {e} (is it installed?)")))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let rows = parse_redis_csv(&text);
    if !out.status.success() || rows.is_empty() {
        return Err(BenchError(format!(
            "redis-benchmark failed ({}): {} {}",
            out.status,
            text.trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(rows)
}

/// `"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms",
/// "p99_latency_ms","max_latency_ms"` lines (Redis 7); older versions print only
/// `"test","rps"`.
pub fn parse_redis_csv(text: &str) -> Vec<RedisResult> {
    let mut header: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for line in text.lines() {
        let f: Vec<String> = line
            .split(',')
            .map(|s| s.trim().trim_matches('"').to_string())
            .collect();
        if f.first().map(String::as_str) == Some("test") {
            header = f;
            continue;
        }
        if f.len() < 2 {
            continue;
        }
        let Ok(rps) = f[1].parse::<f64>() else {
            continue;
        };
        let col = |name: &str| {
            header
                .iter()
                .position(|h| h == name)
                .and_then(|i| f.get(i))
                .and_then(|x| x.parse::<f64>().ok())
                .map_or(0.0, |ms| ms * 1000.0)
        };
        out.push(RedisResult {
            test: f[0].clone(),
            rps,
            p50_us: col("p50_latency_ms"),
            p99_us: col("p99_latency_ms"),
            max_us: col("max_latency_ms"),
        });
    }
    out
}

/// A throwaway `redis-server` with `appendonly yes` and `appendfsync always` in a temporary
/// folder; stopped (killed) and removed on drop.
pub struct DurableRedis {
    child: Child,
    _dir: tempfile::TempDir,
    pub cmd: Vec<String>,
}

impl DurableRedis {
    /// Start it on `port` next to `near` (the temporary folder goes there when given, so
    /// that it is on the same disk as the server's data; otherwise the system's).
    pub fn start(port: u16, near: Option<&Path>) -> Result<DurableRedis> {
        let mut b = tempfile::Builder::new();
        b.prefix("botstore-bench-redis");
        let dir = match near {
            Some(p) => b.tempdir_in(p)?,
            None => b.tempdir()?,
        };
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Err(BenchError(format!(
                "port {port} is in use: pick another with --redis-durable-port"
            )));
        }
        let cmd: Vec<String> = [
            "redis-server",
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--save",
            "",
            "--dir",
            &dir.path().display().to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let child = Command::new(&cmd[0])
            .args(&cmd[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| BenchError(format!("starting redis-server: {e} (is it installed?)")))?;
        let r = DurableRedis {
            child,
            _dir: dir,
            cmd,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !ping(port) {
            if Instant::now() > deadline {
                return Err(BenchError(format!(
                    "redis-server on port {port} did not answer PING within 10 s"
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(r)
    }
}

impl Drop for DurableRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// True when a Redis answers `PING` on 127.0.0.1:`port`.
pub fn ping(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    if s.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 7];
    s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}

/// True when `prog` is on the PATH.
pub fn installed(prog: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(prog).is_file()))
}

/// What `wrk` measured.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WrkResult {
    pub rps: f64,
    pub requests: u64,
    pub p50_us: f64,
    pub p99_us: f64,
    /// Non-2xx/3xx answers plus socket errors.
    pub errors: u64,
}

/// A `wrk` run of random GETs.
#[derive(Clone, Copy, Debug)]
pub struct WrkGet<'a> {
    /// The server, `http://host:port`.
    pub url: &'a str,
    pub token: Option<&'a str>,
    /// Requests go to this path followed by a zero-padded 6-digit number below `keys`.
    pub path_prefix: &'a str,
    pub keys: usize,
    pub threads: usize,
    pub conns: usize,
    pub secs: f64,
    /// Where the Lua script is written.
    pub script_dir: &'a Path,
}

/// `wrk -t THREADS -c CONNS -d SECONDS --latency -s SCRIPT URL`; the script GETs random
/// keys with the token. Returns the figures and the command line.
pub fn wrk_get(a: &WrkGet<'_>) -> Result<(WrkResult, Vec<String>)> {
    let WrkGet {
        url,
        token,
        path_prefix,
        keys,
        threads,
        conns,
        secs,
        script_dir,
    } = *a;
    let script = script_dir.join("bench-get.lua");
    let auth = token
        .map(|t| format!("wrk.headers[\"Authorization\"] = \"Bearer {t}\"\n"))
        .unwrap_or_default();
    std::fs::write(
        &script,
        format!(
            "math.randomseed(42)\n{auth}request = function()\n  return wrk.format(\"GET\", \
             \"{path_prefix}\" .. string.format(\"%06d\", math.random(0, {} - 1)))\nend\n",
            keys.max(1)
        ),
    )?;
    let cmd: Vec<String> = vec![
        "wrk".into(),
        "-t".into(),
        threads.max(1).to_string(),
        "-c".into(),
        conns.max(threads.max(1)).to_string(),
        "-d".into(),
        format!("{}s", secs.ceil().max(1.0) as u64),
        "--latency".into(),
        "-s".into(),
        script.display().to_string(),
        url.to_string(),
    ];
    let out = Command::new(&cmd[0])
        .args(&cmd[1..])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| BenchError(format!("running wrk: {e}")))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let r = parse_wrk(&text);
    if !out.status.success() || r.rps == 0.0 {
        return Err(BenchError(format!(
            "wrk failed ({}): {} {}",
            out.status,
            text.trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok((r, cmd))
}

fn wrk_time_us(s: &str) -> Option<f64> {
    let s = s.trim();
    let (num, mul) = if let Some(x) = s.strip_suffix("us") {
        (x, 1.0)
    } else if let Some(x) = s.strip_suffix("ms") {
        (x, 1e3)
    } else if let Some(x) = s.strip_suffix('m') {
        (x, 60e6)
    } else if let Some(x) = s.strip_suffix('s') {
        (x, 1e6)
    } else {
        return None;
    };
    num.parse::<f64>().ok().map(|x| x * mul)
}

pub fn parse_wrk(text: &str) -> WrkResult {
    let mut r = WrkResult::default();
    for line in text.lines() {
        let l = line.trim();
        let f: Vec<&str> = l.split_whitespace().collect();
        if let Some(x) = l.strip_prefix("Requests/sec:") {
            r.rps = x.trim().parse().unwrap_or(0.0);
        } else if let Some(x) = l.strip_prefix("Non-2xx or 3xx responses:") {
            r.errors += x.trim().parse::<u64>().unwrap_or(0);
        } else if let Some(x) = l.strip_prefix("Socket errors:") {
            // connect 0, read 0, write 0, timeout 0
            r.errors += x
                .split(',')
                .filter_map(|p| p.split_whitespace().last()?.parse::<u64>().ok())
                .sum::<u64>();
        } else if f.len() == 2 && f[0] == "50%" {
            r.p50_us = wrk_time_us(f[1]).unwrap_or(0.0);
        } else if f.len() == 2 && f[0] == "99%" {
            r.p99_us = wrk_time_us(f[1]).unwrap_or(0.0);
        } else if f.len() >= 3 && f[1] == "requests" && f[2] == "in" {
            r.requests = f[0].parse().unwrap_or(0);
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_csv_parses() {
        let t = "\"test\",\"rps\",\"avg_latency_ms\",\"min_latency_ms\",\"p50_latency_ms\",\
                 \"p95_latency_ms\",\"p99_latency_ms\",\"max_latency_ms\"\n\
                 \"SET\",\"97560.98\",\"0.271\",\"0.064\",\"0.255\",\"0.359\",\"0.511\",\"0.895\"\n\
                 \"GET\",\"103092.78\",\"0.255\",\"0.072\",\"0.255\",\"0.311\",\"0.383\",\"0.519\"\n";
        let r = parse_redis_csv(t);
        assert_eq!(r.len(), 2);
        assert_eq!(r[1].test, "GET");
        assert!((r[1].rps - 103092.78).abs() < 1e-6);
        assert!((r[0].p99_us - 511.0).abs() < 1e-6);
        assert_eq!(parse_redis_csv("\"GET\",\"5.0\"\n")[0].p50_us, 0.0);
    }

    #[test]
    fn wrk_output_parses() {
        let t = "Running 5s test @ http://127.0.0.1:8080\n  1 threads and 50 connections\n\
                 \x20 Latency Distribution\n     50%  401.00us\n     75%  600.00us\n     90%    1.00ms\n\
                 \x20    99%    1.20ms\n  123456 requests in 5.00s, 100.00MB read\n\
                 \x20 Socket errors: connect 0, read 2, write 0, timeout 1\n\
                 \x20 Non-2xx or 3xx responses: 12\nRequests/sec:  24690.10\nTransfer/sec:     20.00MB\n";
        let r = parse_wrk(t);
        assert!((r.rps - 24690.1).abs() < 1e-6);
        assert_eq!(r.requests, 123456);
        assert!((r.p50_us - 401.0).abs() < 1e-6);
        assert!((r.p99_us - 1200.0).abs() < 1e-6);
        assert_eq!(r.errors, 15);
    }
}
