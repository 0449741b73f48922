//! Helpers shared by the CLI's integration tests (each test file is its own crate, so
//! not every file uses every helper).
#![allow(dead_code)]

use serde_json::Value as Json;

/// What one run of `botstore` gave.
pub struct Run {
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Run {
    pub fn out(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn json(&self) -> Json {
        serde_json::from_slice(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.out()))
    }
    #[track_caller]
    pub fn ok(self) -> Self {
        assert_eq!(
            self.code,
            0,
            "stderr: {}\nstdout: {}",
            self.stderr,
            self.out()
        );
        self
    }
    #[track_caller]
    pub fn fails(self, code: i32, stderr_has: &str) -> Self {
        assert_eq!(
            self.code,
            code,
            "stderr: {}\nstdout: {}",
            self.stderr,
            self.out()
        );
        assert!(
            self.stderr.contains(stderr_has),
            "stderr should mention {stderr_has:?}: {}",
            self.stderr
        );
        self
    }
}

/// The address a `botstore serve` child (spawned with `stderr(Stdio::piped())`) says it
/// listens on, from its log line `listening on ADDR`; its stderr is read to the end on a
/// thread of its own, so the child never blocks on a full pipe.
pub fn listen_addr(child: &mut std::process::Child) -> String {
    use std::io::{BufRead, BufReader};
    let stderr = child.stderr.take().expect("the child's stderr is piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Some(rest) = line.split("listening on ").nth(1) {
                let addr: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || ".:[]".contains(*c))
                    .collect();
                let _ = tx.send(addr);
            }
        }
    });
    rx.recv_timeout(std::time::Duration::from_secs(60))
        .expect("serve says where it listens")
}
