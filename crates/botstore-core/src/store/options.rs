//! How a [`Store`](super::Store) is set up: its clock, the change feed's retention, its
//! options, and the duration syntax of TTLs and settings.

use crate::commit::CommitOptions;
use crate::error::{Error, Result, Rule};
use crate::limits::{check_ttl, Limits};
use crate::model::*;
use crate::value_codec::CodecStack;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Where the store gets the time. Tests use a manual clock to move time by hand.
#[derive(Clone, Debug, Default)]
pub enum Clock {
    /// The system clock (wall time; a time before the epoch reads as 0).
    #[default]
    System,
    /// A clock that reads the shared number, in ms since the epoch, and moves only when
    /// someone stores into it.
    Manual(Arc<AtomicI64>),
}

impl Clock {
    /// A manual clock starting at `start`, and the handle that sets its time.
    pub fn manual(start: Millis) -> (Clock, Arc<AtomicI64>) {
        let a = Arc::new(AtomicI64::new(start));
        (Clock::Manual(Arc::clone(&a)), a)
    }
    /// The time now, in ms since the Unix epoch.
    pub fn now(&self) -> Millis {
        match self {
            Clock::System => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64),
            Clock::Manual(a) => a.load(Ordering::SeqCst),
        }
    }
}

/// How long the change feed keeps records.
#[derive(Clone, Debug)]
pub struct Retention {
    /// Drop changes older than this (default 24 h).
    pub max_age: Option<Duration>,
    /// Keep at most this many changes (default: no count limit).
    pub max_changes: Option<u64>,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            max_age: Some(Duration::from_secs(24 * 3600)),
            max_changes: None,
        }
    }
}

/// Options of a [`Store`].
#[derive(Clone, Debug, Default)]
pub struct StoreOptions {
    /// The input limits every request is checked against.
    pub limits: Limits,
    /// How long the change feed keeps records (enforced by maintenance passes).
    pub retention: Retention,
    /// Where write and read times come from.
    pub clock: Clock,
    /// The value codecs every stored value passes through after compression (none by
    /// default).
    pub codecs: Arc<CodecStack>,
    /// How values are compressed (zstd with dictionaries per prefix, on by default): the
    /// store puts its [`crate::ZstdCodec`] in front of `codecs`.
    pub compression: crate::compression::CompressionOptions,
    /// How batches are grouped into one backend write.
    pub commit: CommitOptions,
}

/// Parse a human duration such as `90s`, `15m`, `1h`, `7d`.
pub fn parse_duration(s: &str) -> Result<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().map_err(|_| {
        Error::invalid(
            Rule::Ttl,
            format!("{s:?}: expected a number and a unit (ms, s, m, h, d)"),
        )
    })?;
    let per = match unit {
        "ms" => 1,
        "" | "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => {
            return Err(Error::invalid(
                Rule::Ttl,
                format!("{s:?}: unknown unit {unit:?} (ms, s, m, h, d)"),
            ))
        }
    };
    // Overflow is simply too long a TTL (and must not panic on user input).
    let d = Duration::from_millis(n.saturating_mul(per));
    check_ttl(&d)?;
    Ok(d)
}
