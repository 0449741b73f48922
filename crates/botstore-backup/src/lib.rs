//! Encrypted, deduplicated, incremental backups of a botstore store.
//!
//! * [`repo`]: where objects live ([`Repository`], [`LocalRepo`] for a folder).
//! * [`crypto`]: the repository key, wrapped under a password (argon2id) or a key file.
//! * [`format`]: the record stream, index and snapshot manifest encodings.
//! * [`source`]: where a snapshot's records come from; [`transfer`]: the same records as
//!   one byte stream, which a server sends a client that makes the backup.
//! * [`counts`]: the counts every operation reports.
//! * [`create`], [`restore`], [`verify`], [`diff`], [`forget`], [`prune`]: the operations.
//!
//! Layout and byte formats: `docs/BACKUP-FORMAT.md`.

#![deny(unsafe_code)]

pub mod catalog;
pub mod counts;
pub mod create;
pub mod crypto;
pub mod diff;
pub mod drill;
pub mod follow;
pub mod forget;
pub mod format;
pub mod pitr;
pub mod prune;
pub mod repo;
pub mod restore;
pub mod segment;
pub mod source;
pub mod transfer;
pub mod verify;

pub use counts::{DeltaCounts, StoreCounts};
pub use create::{create, CreateOptions, CreateSummary, Plan, Progress};
pub use crypto::{KdfParams, Repo, Secret};
pub use diff::{diff, DiffReport, NsDiff};
pub use follow::{follow, FollowEvent, FollowOptions, FollowStats};
pub use forget::{forget, ForgetReport, KeepPolicy};
pub use format::Manifest;
pub use pitr::{restore_at, PitrSummary, PointInTime};
pub use prune::{prune, PruneOptions, PruneReport};
pub use repo::{LocalRepo, Repository};
pub use restore::{restore, RestoreOptions, RestoreSummary};
pub use source::{RecordSource, SourceHeader, SourceKind, ViewSource};
pub use verify::{verify, VerifyReport};

/// Errors of backup operations. Each message names the object or blob concerned.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("wrong password or key file for the repository at {0}")]
    WrongKey(String),
    /// The `config` object is there but damaged (unparseable, failing its checksum, or
    /// with malformed fields): never reported as a wrong secret.
    #[error("repository config is damaged: {0}")]
    ConfigDamaged(String),
    #[error("not a botstore backup repository: {0}")]
    NotARepository(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("corrupt backup data: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Io(String),
    #[error("the backup was interrupted")]
    Cancelled,
    #[error(transparent)]
    Store(#[from] botstore::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Lower-case hex.
pub fn hex(b: &[u8]) -> String {
    const D: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for &x in b {
        s.push(D[(x >> 4) as usize] as char);
        s.push(D[(x & 15) as usize] as char);
    }
    s
}

pub fn unhex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// `n` random bytes from the OS generator.
pub fn random<const N: usize>() -> [u8; N] {
    use rand::RngCore;
    let mut b = [0u8; N];
    rand::rng().fill_bytes(&mut b);
    b
}
