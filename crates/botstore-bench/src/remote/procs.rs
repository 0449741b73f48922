//! The server's own CPU time, when it runs on this machine: which process listens on a
//! TCP port (`/proc/net/tcp*` gives the socket's inode, `/proc/<pid>/fd` who holds it), and
//! that process's user + system time (`/proc/<pid>/stat`). With the request count this gives
//! the server's CPU per request, free of the load generator's share of the machine.

use std::time::Instant;

/// Linux reports process times in `USER_HZ` ticks, which is 100 on every mainstream
/// architecture.
const TICKS_PER_SEC: f64 = 100.0;

/// The pid of the process listening on TCP `port` (any local address), if it is visible.
pub fn listener_pid(port: u16) -> Option<u32> {
    let want = format!(":{port:04X}");
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
            if f.len() > 9 && f[1].ends_with(&want) && f[3] == "0A" {
                inodes.push(format!("socket:[{}]", f[9]));
            }
        }
    }
    if inodes.is_empty() {
        return None;
    }
    for e in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(e.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if let Ok(link) = std::fs::read_link(fd.path()) {
                if inodes.iter().any(|i| link.as_os_str() == i.as_str()) {
                    return Some(pid);
                }
            }
        }
    }
    None
}

/// User + system CPU seconds of `pid` so far.
pub fn cpu_secs(pid: u32) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_comm = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = after_comm.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / TICKS_PER_SEC)
}

/// A process's CPU time at one moment.
#[derive(Clone, Copy, Debug)]
pub struct CpuMark {
    pid: u32,
    cpu: f64,
    at: Instant,
}

impl CpuMark {
    pub fn now(pid: u32) -> Option<CpuMark> {
        Some(CpuMark {
            pid,
            cpu: cpu_secs(pid)?,
            at: Instant::now(),
        })
    }

    /// (cores used on average, CPU seconds) from this mark to now.
    pub fn since(&self) -> Option<(f64, f64)> {
        let end = CpuMark::now(self.pid)?;
        let cpu = (end.cpu - self.cpu).max(0.0);
        let secs = (end.at - self.at).as_secs_f64();
        (secs > 0.0).then_some((cpu / secs, cpu))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_its_own_listener_and_cpu() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        assert_eq!(listener_pid(port), Some(std::process::id()));
        assert!(cpu_secs(std::process::id()).is_some());
        drop(l);
        assert_eq!(listener_pid(port), None);
    }
}
