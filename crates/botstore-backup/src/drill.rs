//! Records of restore drills (`drills/<time>`): what `backup drill` measured, so that the
//! server's metrics can expose the last measured recovery time.

use crate::crypto::Repo;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// One drill (a sealed JSON object `drills/<time ms, 16 hex digits>`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct DrillRecord {
    /// When the drill finished (ms since the epoch).
    pub time: i64,
    pub snapshot: String,
    pub lsn: u64,
    /// Restore and check time: the measured recovery time.
    pub recovery_seconds: f64,
    pub records: u64,
    pub stream_bytes: u64,
    pub ok: bool,
}

/// Store a drill record; returns its object name.
pub fn record(repo: &Repo, r: &DrillRecord) -> Result<String> {
    let name = format!("drills/{:016x}", r.time.max(0));
    let body = serde_json::to_vec(r).map_err(|e| Error::Io(format!("drill record: {e}")))?;
    repo.put_object(&name, &body)?;
    Ok(name)
}

/// The newest drill record, if any.
pub fn latest(repo: &Repo) -> Result<Option<DrillRecord>> {
    let Some(name) = repo.store.list("drills/")?.pop() else {
        return Ok(None);
    };
    let body = repo.get_object(&name)?;
    serde_json::from_slice(&body)
        .map(Some)
        .map_err(|e| Error::Corrupt(format!("{name}: bad drill record: {e}")))
}
