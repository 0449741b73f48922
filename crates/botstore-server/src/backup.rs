//! `serve --backup-repo R`: continuous archiving from inside the server. A thread runs
//! `botstore_backup::follow` against the server's own open store (so no second process
//! needs the data folder's lock): a change-feed segment every `backup_every`, a snapshot
//! every `backup_snapshot_every`. [`BackupTask::stop`] ships a last segment after the
//! listener has drained. Counters feed `/metrics` (`botstore_backup_*`).

use crate::config::BackupSettings;
use crate::ServerError;
use botstore::Store;
use botstore_backup::{FollowEvent, FollowOptions, FollowStats, LocalRepo, Repo, Secret};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long the last drill's record is cached for `/metrics`.
const DRILL_REFRESH: Duration = Duration::from_secs(60);

/// What `/metrics` reads.
pub struct BackupShared {
    pub stats: FollowStats,
    repo: Arc<Repo>,
    drill: Mutex<Option<(Instant, Option<f64>)>>,
}

impl BackupShared {
    /// The measured recovery time of the repository's latest drill (`backup drill`), if
    /// any; re-read at most once a minute.
    pub fn drill_recovery_seconds(&self) -> Option<f64> {
        let mut g = self.drill.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, v)) = *g {
            if at.elapsed() < DRILL_REFRESH {
                return v;
            }
        }
        let v = botstore_backup::drill::latest(&self.repo)
            .ok()
            .flatten()
            .map(|d| d.recovery_seconds);
        *g = Some((Instant::now(), v));
        v
    }
}

pub struct BackupTask {
    pub shared: Arc<BackupShared>,
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<botstore_backup::Result<u64>>,
}

/// The repository key: `backup_key_file`, `backup_password_file`, or
/// `BOTSTORE_BACKUP_PASSWORD`.
fn secret(s: &BackupSettings) -> Result<Secret, ServerError> {
    let bad = |e: botstore_backup::Error| ServerError::Config(format!("backup: {e}"));
    if let Some(k) = &s.key_file {
        return Secret::from_key_file(k).map_err(bad);
    }
    if let Some(p) = &s.password_file {
        return Secret::from_password_file(p).map_err(bad);
    }
    match std::env::var("BOTSTORE_BACKUP_PASSWORD") {
        Ok(p) if !p.is_empty() => Ok(Secret::Password(p.into_bytes())),
        _ => Err(ServerError::Config(
            "backup_repo needs a key: backup_password_file, backup_key_file or \
             BOTSTORE_BACKUP_PASSWORD"
                .into(),
        )),
    }
}

fn log_event(e: &FollowEvent) {
    match e {
        FollowEvent::Snapshot(s, why) => tracing::info!(
            "backup: snapshot {} ({}, {why}) at lsn {}, {} bytes added in {:.2}s",
            s.snapshot,
            s.kind,
            s.lsn,
            s.bytes_added,
            s.seconds
        ),
        FollowEvent::Segment(m, added) => tracing::debug!(
            "backup: segment lsn {}..={} ({} changes, {added} bytes)",
            m.first_lsn,
            m.last_lsn,
            m.changes
        ),
        FollowEvent::Gap {
            shipped,
            first_available,
            store_lsn,
        } => tracing::warn!(
            "backup: {}; taking a new full snapshot now",
            botstore_backup::follow::gap_message(*shipped, *first_available, *store_lsn)
        ),
        FollowEvent::Failed(err) => tracing::error!("backup: {err} (retrying)"),
    }
}

impl BackupTask {
    /// Open the repository: a wrong key or a missing repository fails the start, before
    /// the server binds its port or touches the data folder.
    pub async fn open_repo(s: &BackupSettings) -> Result<Repo, ServerError> {
        let secret = secret(s)?;
        let path = s.repo.clone();
        tokio::task::spawn_blocking(move || Repo::open(Box::new(LocalRepo::new(&path)), &secret))
            .await
            .map_err(|e| ServerError::Config(format!("backup: {e}")))?
            .map_err(|e| ServerError::Config(format!("backup: {e}")))
    }

    /// Start following `store` into `repo` (from [`BackupTask::open_repo`]).
    pub fn start(s: &BackupSettings, repo: Repo, store: Store) -> Result<BackupTask, ServerError> {
        let shared = Arc::new(BackupShared {
            stats: FollowStats::default(),
            repo: Arc::new(repo),
            drill: Mutex::new(None),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let (every, snapshot_every, source) = (s.every, s.snapshot_every, s.source.clone());
        let thread = {
            let (shared, stop) = (shared.clone(), stop.clone());
            std::thread::Builder::new()
                .name("botstore-backup".into())
                .spawn(move || {
                    let opts = FollowOptions {
                        every,
                        snapshot_every,
                        stats: Some(&shared.stats),
                        on_event: Some(&log_event),
                        ..FollowOptions::new(source)
                    };
                    botstore_backup::follow(&shared.repo, &store, &opts, &stop)
                })
                .map_err(|e| ServerError::Config(format!("backup: cannot start: {e}")))?
        };
        tracing::info!(
            "backup: following into {} every {:?}{}",
            s.repo.display(),
            s.every,
            s.snapshot_every
                .map(|d| format!(", a snapshot every {d:?}"))
                .unwrap_or_default()
        );
        Ok(BackupTask {
            shared,
            stop,
            thread,
        })
    }

    /// Ship a last segment and stop.
    pub async fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        let thread = self.thread;
        match tokio::task::spawn_blocking(move || thread.join()).await {
            Ok(Ok(Ok(lsn))) => {
                tracing::info!("backup: stopped; the repository holds the store up to lsn {lsn}")
            }
            Ok(Ok(Err(e))) => tracing::error!("backup: the last segment failed: {e}"),
            _ => tracing::error!("backup: the backup thread panicked"),
        }
    }
}
