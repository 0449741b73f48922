//! What every handler shares.

use crate::config::Settings;
use crate::metrics::Metrics;
use crate::tokens::TokenStore;
use botstore::Store;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::watch;

pub struct AppState {
    pub store: Store,
    pub tokens: TokenStore,
    pub settings: Settings,
    pub metrics: Metrics,
    /// The backup task's counters (`serve --backup-repo`).
    pub backup: Option<Arc<crate::backup::BackupShared>>,
    pub limiter: Option<DefaultKeyedRateLimiter<String>>,
    /// False while starting and once draining: `/readyz` answers 503.
    pub ready: AtomicBool,
    /// Turns true when shutdown starts: long polls and event streams end.
    pub shutdown: watch::Receiver<bool>,
}

pub type Shared = Arc<AppState>;

impl AppState {
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }
}

/// A per-token limiter of `per_sec` requests per second with `burst` (default: one
/// second's worth).
pub fn rate_limiter(per_sec: f64, burst: Option<u32>) -> DefaultKeyedRateLimiter<String> {
    let period = std::time::Duration::from_secs_f64(1.0 / per_sec);
    let burst = burst
        .or_else(|| Some(per_sec.ceil() as u32))
        .and_then(NonZeroU32::new)
        .unwrap_or(NonZeroU32::MIN);
    let quota = Quota::with_period(period)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MAX))
        .allow_burst(burst);
    RateLimiter::keyed(quota)
}
