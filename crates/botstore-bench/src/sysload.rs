//! How busy the rest of the machine was during a measurement.
//!
//! A background thread samples `/proc/stat` (all CPUs) and `/proc/self/stat` (this process)
//! every 100 ms. For a time window, [`other_cpu_pct`] gives the share of the machine's CPU
//! time that *other* processes used: on a shared 2-core machine a compiler running next to
//! a benchmark changes its figures, and the reports say so instead of hiding it.

use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

#[derive(Clone, Copy)]
struct Sample {
    at: Instant,
    /// Busy jiffies of all CPUs (user, nice, system, irq, softirq, steal).
    busy: u64,
    /// All jiffies of all CPUs (busy + idle + iowait).
    total: u64,
    /// utime + stime of this process.
    own: u64,
}

static SAMPLES: OnceLock<Mutex<Vec<Sample>>> = OnceLock::new();

fn read() -> Option<Sample> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    if cpu.len() < 8 {
        return None;
    }
    // user nice system idle iowait irq softirq steal
    let busy = cpu[0] + cpu[1] + cpu[2] + cpu[5] + cpu[6] + cpu[7];
    let total = busy + cpu[3] + cpu[4];
    let me = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after_comm = &me[me.rfind(')')? + 2..];
    let f: Vec<&str> = after_comm.split_whitespace().collect();
    // Fields 14 and 15 of the file (utime, stime) are 11 and 12 after the state field.
    let own = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(Sample {
        at: Instant::now(),
        busy,
        total,
        own,
    })
}

/// Start the sampler (once per process).
pub fn start() {
    SAMPLES.get_or_init(|| {
        let _ = std::thread::Builder::new()
            .name("bench-sysload".into())
            .spawn(|| loop {
                if let (Some(s), Some(m)) = (read(), SAMPLES.get()) {
                    if let Ok(mut v) = m.lock() {
                        if v.len() >= 20_000 {
                            v.drain(..10_000);
                        }
                        v.push(s);
                    }
                }
                std::thread::sleep(Duration::from_millis(100));
            });
        Mutex::new(read().into_iter().collect())
    });
}

/// Percent of the machine's CPU time (all cores) that other processes used between `from`
/// and `to` (`None` without samples around the window).
pub fn other_cpu_pct(from: Instant, to: Instant) -> Option<f64> {
    let v = SAMPLES.get()?.lock().ok()?;
    let a = v
        .iter()
        .rev()
        .find(|s| s.at <= from)
        .or_else(|| v.first())?;
    let b = v.iter().find(|s| s.at >= to).or_else(|| v.last())?;
    let total = b.total.checked_sub(a.total)?;
    if total == 0 {
        return None;
    }
    let other = b
        .busy
        .saturating_sub(a.busy)
        .saturating_sub(b.own.saturating_sub(a.own));
    Some(100.0 * other as f64 / total as f64)
}

/// Percent of the machine's CPU time (all cores) that this process used between `from`
/// and `to` (`None` without samples around the window).
pub fn own_cpu_pct(from: Instant, to: Instant) -> Option<f64> {
    let v = SAMPLES.get()?.lock().ok()?;
    let a = v
        .iter()
        .rev()
        .find(|s| s.at <= from)
        .or_else(|| v.first())?;
    let b = v.iter().find(|s| s.at >= to).or_else(|| v.last())?;
    let total = b.total.checked_sub(a.total)?;
    if total == 0 {
        return None;
    }
    Some(100.0 * b.own.saturating_sub(a.own) as f64 / total as f64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn samples_parse() {
        let s = super::read().expect("proc files");
        assert!(s.total >= s.busy);
    }
}
