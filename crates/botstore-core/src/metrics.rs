//! A lock-free fixed-bucket histogram, for the counters the engine and the server export
//! (fsync latency, group-commit sizes, request latency). Recording is two relaxed atomic
//! adds; reading is a snapshot that may be a few samples inconsistent, as metrics may.

use std::sync::atomic::{AtomicU64, Ordering};

/// Histogram over fixed upper bounds (`le`), Prometheus style: an observation lands in the
/// first bucket whose bound is >= the value, or in the overflow bucket.
#[derive(Debug)]
pub struct AtomicHistogram {
    bounds: &'static [f64],
    /// One count per bound, plus the overflow (+Inf) bucket. Not cumulative.
    counts: Box<[AtomicU64]>,
    /// Sum of observations, in millionths of the unit (so integer atomics suffice).
    sum_micro: AtomicU64,
}

/// A point-in-time copy of a histogram.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// The buckets' upper bounds, ascending, in the histogram's unit.
    pub bounds: &'static [f64],
    /// Cumulative counts per bound (the Prometheus `le` buckets), then the total.
    pub cumulative: Vec<u64>,
    /// How many values were observed.
    pub count: u64,
    /// The sum of the observed values (to the microunit; negative and non-finite values add
    /// 0).
    pub sum: f64,
}

/// Latency buckets in seconds: 50 µs to 10 s.
pub const LATENCY_SECONDS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 10.0,
];

/// Size buckets (batches per group, mutations per request): powers of two to 4096.
pub const SIZES: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 4096.0,
];

impl AtomicHistogram {
    /// An empty histogram with these bucket upper bounds (ascending).
    pub fn new(bounds: &'static [f64]) -> Self {
        AtomicHistogram {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_micro: AtomicU64::new(0),
        }
    }

    /// Count `v` in the first bucket whose bound is at least `v` (past the last bound: the
    /// overflow bucket).
    pub fn observe(&self, v: f64) {
        let i = self.bounds.partition_point(|b| *b < v);
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        let micro = if v.is_finite() && v > 0.0 {
            (v * 1e6) as u64
        } else {
            0
        };
        self.sum_micro.fetch_add(micro, Ordering::Relaxed);
    }

    /// The counts so far (concurrent observations may or may not be included).
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut cumulative = Vec::with_capacity(self.counts.len());
        let mut acc = 0;
        for c in self.counts.iter() {
            acc += c.load(Ordering::Relaxed);
            cumulative.push(acc);
        }
        HistogramSnapshot {
            bounds: self.bounds,
            count: acc,
            cumulative,
            sum: self.sum_micro.load(Ordering::Relaxed) as f64 / 1e6,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_the_first_bucket_at_or_above_them() {
        let h = AtomicHistogram::new(&[1.0, 2.0, 4.0]);
        for v in [0.5, 1.0, 1.5, 4.0, 9.0] {
            h.observe(v);
        }
        let s = h.snapshot();
        assert_eq!(s.cumulative, vec![2, 3, 4, 5]);
        assert_eq!(s.count, 5);
        assert!((s.sum - 16.0).abs() < 1e-6);
    }
}
