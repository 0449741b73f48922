//! How the write path tells a full disk from a broken one, and what it remembers while
//! writes are blocked.
//!
//! A full disk (`ENOSPC`, `EDQUOT`) becomes [`Error::NoSpace`] (HTTP 507), any other I/O
//! failure [`Error::Storage`]. Errors that reach the write path already turned into text
//! (redb's nested error types, [`Error::storage`]) are classified by the OS error code in
//! their message, which Rust's `io::Error` always prints (`(os error 28)`).

use botstore::Error;
use std::io;
use std::time::{Instant, SystemTime};

/// `ENOSPC` and `EDQUOT` on Linux.
const NO_SPACE_CODES: [&str; 2] = ["(os error 28)", "(os error 122)"];

/// An I/O error of the write path, typed: [`Error::NoSpace`] for a full disk or quota,
/// [`Error::Storage`] otherwise. `what` says what failed (`journal grow failed`).
pub fn io_error(what: &str, e: &io::Error) -> Error {
    if matches!(
        e.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    ) {
        Error::NoSpace(format!("{what}: {e}"))
    } else {
        Error::Storage(format!("{what}: {e}"))
    }
}

/// `e` with a full disk told apart: a [`Error::Storage`] whose text names `ENOSPC` or
/// `EDQUOT` becomes [`Error::NoSpace`]; `what` is prefixed to both.
pub fn classify(what: &str, e: Error) -> Error {
    match e {
        Error::Storage(m) if NO_SPACE_CODES.iter().any(|c| m.contains(c)) => {
            Error::NoSpace(format!("{what}: {m}"))
        }
        Error::Storage(m) => Error::Storage(format!("{what}: {m}")),
        Error::NoSpace(m) => Error::NoSpace(format!("{what}: {m}")),
        other => other,
    }
}

/// True for a full disk or an I/O error (as opposed to a refusal such as "a transaction
/// is in progress").
pub fn is_io(e: &Error) -> bool {
    match e {
        Error::NoSpace(_) => true,
        Error::Storage(m) => m.contains("(os error ") || m.contains("Previous I/O error"),
        _ => false,
    }
}

/// What must happen before writes may go on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Repair {
    /// A journal append failed (grow or write): the frame was not counted and its bytes
    /// were zeroed; the next write simply tries again at the same offset.
    Append,
    /// A journal `fdatasync` or a redb commit failed: the journal (Linux may have dropped
    /// the pages of a failed fsync) or redb (which refuses further use after an I/O error)
    /// cannot be trusted until a checkpoint has made everything durable in a fresh redb
    /// handle and started a new journal generation.
    Checkpoint,
}

/// Why writes are blocked, since when, and what clears it.
#[derive(Clone, Debug)]
pub struct Blocked {
    /// The error writes answer while blocked (`NoSpace`, `Storage` or `ReadOnly`).
    pub error: Error,
    /// When the writer became blocked (wall clock, for people).
    pub since: SystemTime,
    pub repair: Repair,
    /// redb failed: its handle must be reopened and the memtable rebuilt from the journal.
    pub reopen_db: bool,
    /// The memtable was rebuilt from the journal: it holds everything since the last
    /// checkpoint, so later reopens need no rebuild.
    pub rebuilt: bool,
    /// A relaxed-durability `fdatasync` failed: acknowledged frames may be missing from
    /// the journal on disk (a checkpoint makes them durable from the memtable).
    pub journal_in_doubt: bool,
    /// Why the last retry failed, when that is not `error` itself (a read-only store).
    pub last_retry: Option<String>,
    /// The last time recovery was tried (retries are at most [`RETRY`] apart).
    pub tried: Option<Instant>,
}

/// The free space a retry wants on the data folder's disk before it reopens redb and
/// checkpoints: a checkpoint on a disk still full fails again, and each reopen fails the
/// reads in flight at that moment.
pub const ROOM_FOR_A_CHECKPOINT: u64 = 8 << 20;

/// `Err(NoSpace)` while the disk that holds `dir` has less than [`ROOM_FOR_A_CHECKPOINT`]
/// free for this process; `Ok` when it has, or when the file system cannot say.
pub fn room_for_a_checkpoint(dir: &std::path::Path) -> botstore::Result<()> {
    let Ok(st) = rustix::fs::statvfs(dir) else {
        return Ok(());
    };
    let free = st.f_bavail.saturating_mul(st.f_frsize);
    if free < ROOM_FOR_A_CHECKPOINT {
        return Err(Error::NoSpace(format!(
            "no space left on the disk: {free} bytes free in {}, a checkpoint wants {} MiB",
            dir.display(),
            ROOM_FOR_A_CHECKPOINT >> 20
        )));
    }
    Ok(())
}

/// How often a blocked writer retries (from writes and from the upkeep thread).
pub const RETRY: std::time::Duration = std::time::Duration::from_millis(500);

impl Blocked {
    pub fn new(error: Error, repair: Repair, reopen_db: bool) -> Blocked {
        Blocked {
            error,
            since: SystemTime::now(),
            repair,
            reopen_db,
            rebuilt: false,
            journal_in_doubt: false,
            last_retry: None,
            tried: Some(Instant::now()),
        }
    }

    /// The error a write gets now: the cause, with since when and what happens next.
    pub fn write_error(&self) -> Error {
        let since = humantime_utc(self.since);
        let tail = format!("writes blocked since {since}; retried every 500 ms, reads go on");
        match &self.error {
            Error::NoSpace(m) => Error::NoSpace(format!("{m} ({tail})")),
            Error::ReadOnly(m) => Error::ReadOnly(match &self.last_retry {
                Some(r) => format!("{m} (since {since}; last retry: {r})"),
                None => format!("{m} (since {since})"),
            }),
            Error::Storage(m) => Error::Storage(format!("{m} ({tail})")),
            other => other.clone(),
        }
    }

    /// True when a retry is due.
    pub fn due(&self) -> bool {
        self.tried.is_none_or(|t| t.elapsed() >= RETRY)
    }
}

/// `2026-12-02T16:45:00Z` for a wall-clock time (UTC, whole seconds).
pub fn humantime_utc(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{m:02}:{s:02}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_disks_are_told_apart() {
        let full = io::Error::from_raw_os_error(28);
        assert!(matches!(io_error("grow", &full), Error::NoSpace(m) if m.starts_with("grow: ")));
        let eio = io::Error::from_raw_os_error(5);
        assert!(matches!(io_error("grow", &eio), Error::Storage(_)));
        let text = Error::storage(format!("commit: {full}"));
        assert!(matches!(classify("flush", text), Error::NoSpace(_)));
        assert!(matches!(
            classify("flush", Error::storage(eio)),
            Error::Storage(m) if m.starts_with("flush: ")
        ));
    }

    #[test]
    fn utc_dates() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_796_316_300);
        assert_eq!(humantime_utc(t), "2026-12-03T16:45:00Z");
        assert_eq!(
            humantime_utc(SystemTime::UNIX_EPOCH),
            "1970-01-01T00:00:00Z"
        );
    }
}
