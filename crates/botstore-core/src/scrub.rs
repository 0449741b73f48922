//! The background scrub: a [`crate::verify`] walk of the whole store, run every so often
//! at a bounded rate, whose last result is exported as metrics (`botstore_scrub_*`) and
//! whose damage is logged. A server runs it ([`crate::Store::spawn_scrub`]); damage is
//! reported, never repaired.

use crate::backend::{Metric, MetricValue};
use std::sync::atomic::{AtomicU64, Ordering};

/// The scrub's last results.
#[derive(Debug, Default)]
pub struct ScrubStatus {
    /// When the last scrub finished, in seconds since the Unix epoch (0: none yet).
    last_completed: AtomicU64,
    /// Damaged records the last scrub found.
    damaged: AtomicU64,
    /// Records the last scrub checked.
    records: AtomicU64,
    /// Scrubs finished.
    runs: AtomicU64,
    /// Scrubs that could not finish (the walk itself failed).
    failures: AtomicU64,
}

impl ScrubStatus {
    /// Note a finished walk.
    pub fn finished(&self, report: &crate::verify::VerifyReport) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.damaged
            .store(report.damage.len() as u64, Ordering::Relaxed);
        self.records
            .store(report.total_records(), Ordering::Relaxed);
        self.last_completed.store(now, Ordering::Relaxed);
        self.runs.fetch_add(1, Ordering::Relaxed);
    }

    /// Note a walk that failed.
    pub fn failed(&self) {
        self.failures.fetch_add(1, Ordering::Relaxed);
    }

    /// Damaged records the last scrub found.
    pub fn damaged(&self) -> u64 {
        self.damaged.load(Ordering::Relaxed)
    }

    /// Scrubs finished.
    pub fn runs(&self) -> u64 {
        self.runs.load(Ordering::Relaxed)
    }

    /// As metrics.
    pub fn export(&self) -> Vec<Metric> {
        let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
        vec![
            Metric {
                name: "botstore_scrub_last_completed_timestamp_seconds",
                help: "When the last background scrub finished (0: none yet).",
                value: MetricValue::Gauge(n(&self.last_completed) as f64),
            },
            Metric {
                name: "botstore_scrub_damaged_records",
                help: "Damaged records the last background scrub found.",
                value: MetricValue::Gauge(n(&self.damaged) as f64),
            },
            Metric {
                name: "botstore_scrub_records",
                help: "Records the last background scrub checked.",
                value: MetricValue::Gauge(n(&self.records) as f64),
            },
            Metric {
                name: "botstore_scrub_runs_total",
                help: "Background scrubs finished.",
                value: MetricValue::Counter(n(&self.runs)),
            },
            Metric {
                name: "botstore_scrub_failures_total",
                help: "Background scrubs that could not finish.",
                value: MetricValue::Counter(n(&self.failures)),
            },
        ]
    }
}
