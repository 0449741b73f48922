//! `botstore backup ...`: encrypted, incremental backups of the data folder
//! (crates/botstore-backup; format in docs/BACKUP-FORMAT.md).
//!
//! `create` opens the embedded store in --data itself (the folder must be free), or with
//! --remote takes the records from a running server (`backup_create.rs`). `follow` needs
//! --data; every other subcommand works on the repository alone.

use crate::cli::Cli;
use crate::exit::Failure;
use crate::output::{human_bytes, json_doc};
use crate::progress::bytes_bar;
use anyhow::Context;
use botstore::ErrorKind;
use botstore_backup::{KdfParams, LocalRepo, Repo, RestoreOptions, Secret};
use clap::{Args, Subcommand};
use create_cmd::counts_text;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[path = "backup_create.rs"]
mod create_cmd;
#[path = "backup_ls.rs"]
mod ls;
#[path = "backup_pitr.rs"]
mod pitr;
#[path = "backup_retention.rs"]
mod retention;
#[path = "backup_verify.rs"]
mod verify;

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Create an encrypted repository in a local folder.
    Init(InitArgs),
    /// Back up --data, or with --remote URL a running server (its token needs admin): a
    /// consistent snapshot from one read view (writers may carry on); a delta of the
    /// latest snapshot of the same source when the change feed covers it; nothing when
    /// the store has not changed since that snapshot.
    ///
    /// With --remote the server streams the records and this process chunks, encrypts
    /// and writes them: the repository and its key stay on this side.
    Create(CreateArgs),
    /// List snapshots, oldest first, then a line per source of change-feed segments (LSN
    /// range, count, bytes). With --json: one array, snapshots then every segment
    /// (`"kind": "segment"`).
    Ls(RepoArgs),
    /// Check the repository; names every missing or corrupt object and blob.
    Verify(VerifyArgs),
    /// Restore a snapshot (default: the latest) into a new data folder.
    Restore(RestoreArgs),
    /// Restore the latest snapshot into a scratch folder, check it, and report the time it
    /// took (the measured recovery time).
    Drill(RepoArgs),
    /// Records added, removed and changed between snapshots A and B, by namespace.
    Diff(DiffArgs),
    /// Forget snapshots by a retention policy (restic's --keep-* rules, per source); a
    /// kept delta keeps its parent chain. Run `backup prune` to free the space.
    Forget(ForgetArgs),
    /// Delete packs and index entries no snapshot references (safe to interrupt).
    Prune(PruneArgs),
    /// Ship the change feed of --data into the repository every --every (default 1s) for
    /// point-in-time restore, until SIGINT/SIGTERM (then a last segment is written). For
    /// a running server, start it with --backup-repo instead: it ships them itself.
    Follow(pitr::FollowArgs),
}

#[derive(Debug, Args)]
pub struct RepoArgs {
    /// The repository folder.
    #[arg(long, env = "BOTSTORE_BACKUP_REPO", value_name = "PATH")]
    pub repo: PathBuf,
    /// A file whose first line is the password (else BOTSTORE_BACKUP_PASSWORD).
    #[arg(long, value_name = "FILE", conflicts_with = "key_file")]
    pub password_file: Option<PathBuf>,
    /// A file holding a 32-byte key (raw, or 64 hex characters) instead of a password.
    #[arg(long, value_name = "FILE")]
    pub key_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    #[command(flatten)]
    pub repo: RepoArgs,
    /// argon2id memory in MiB (for passwords).
    #[arg(long, default_value_t = 64, value_name = "MIB")]
    pub kdf_memory_mib: u32,
    /// argon2id passes.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub kdf_iterations: u32,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    #[command(flatten)]
    pub repo: RepoArgs,
    /// A full snapshot even when a delta is possible.
    #[arg(long)]
    pub full: bool,
    /// Name of the source in the repository (default: the data folder's absolute path;
    /// with --remote, the server's URL). Deltas follow the latest snapshot of the same
    /// source, so a backup over --remote continues one made on --data given this name.
    #[arg(long, value_name = "NAME")]
    pub source: Option<String>,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub repo: RepoArgs,
    /// Also read, decrypt and check every blob against its chunk id.
    #[arg(long)]
    pub read_data: bool,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub repo: RepoArgs,
    /// The new data folder.
    #[arg(long, value_name = "DIR")]
    pub to: PathBuf,
    /// Snapshot id or unique prefix (default: the latest).
    #[arg(long, value_name = "ID")]
    pub snapshot: Option<String>,
    /// Replace the store of a folder that is not empty.
    #[arg(long)]
    pub force: bool,
    /// Point in time: the store exactly after the change with this LSN (the latest
    /// snapshot at or below it, then the shipped change-feed segments).
    #[arg(long, value_name = "N", conflicts_with = "at")]
    pub lsn: Option<u64>,
    /// Point in time: the store as of TIME (RFC 3339, UTC, or ms since the epoch).
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
    /// Restore only this namespace subtree (e.g. tenant/a).
    #[arg(long, value_name = "PREFIX")]
    pub ns: Option<String>,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    #[command(flatten)]
    pub repo: RepoArgs,
    /// The older snapshot (id, unique prefix or `latest`).
    pub a: String,
    /// The newer snapshot.
    pub b: String,
}

#[derive(Debug, Args)]
pub struct ForgetArgs {
    #[command(flatten)]
    pub repo: RepoArgs,
    /// Keep the N newest snapshots.
    #[arg(long, value_name = "N")]
    pub keep_last: Option<u32>,
    /// Keep the newest snapshot of each of the last N hours that have one (UTC).
    #[arg(long, value_name = "N")]
    pub keep_hourly: Option<u32>,
    /// ... of each of the last N days.
    #[arg(long, value_name = "N")]
    pub keep_daily: Option<u32>,
    /// ... of each of the last N ISO weeks.
    #[arg(long, value_name = "N")]
    pub keep_weekly: Option<u32>,
    /// ... of each of the last N months.
    #[arg(long, value_name = "N")]
    pub keep_monthly: Option<u32>,
    /// ... of each of the last N years.
    #[arg(long, value_name = "N")]
    pub keep_yearly: Option<u32>,
    /// Show what would be forgotten; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Prune afterwards.
    #[arg(long)]
    pub prune: bool,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    #[command(flatten)]
    pub repo: RepoArgs,
    /// Show what would be deleted; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Rewrite packs whose referenced bytes are below this percentage (0: never).
    #[arg(long, default_value_t = 50, value_name = "PERCENT")]
    pub repack_below: u32,
}

/// A backup error with the exit code of its class.
fn fail(e: botstore_backup::Error) -> anyhow::Error {
    use botstore_backup::Error as E;
    let kind = match &e {
        E::WrongKey(_) | E::NotARepository(_) | E::Invalid(_) => ErrorKind::InvalidInput,
        E::NotFound(_) => ErrorKind::NotFound,
        E::Store(s) => s.kind(),
        _ => ErrorKind::Internal,
    };
    Failure::new(kind, e.to_string()).into()
}

fn secret(a: &RepoArgs) -> anyhow::Result<Secret> {
    if let Some(k) = &a.key_file {
        return Secret::from_key_file(k).map_err(fail);
    }
    if let Some(p) = &a.password_file {
        return Secret::from_password_file(p).map_err(fail);
    }
    match std::env::var("BOTSTORE_BACKUP_PASSWORD") {
        Ok(p) if !p.is_empty() => Ok(Secret::Password(p.into_bytes())),
        _ => Err(Failure::invalid(
            "no key: give --password-file FILE, --key-file FILE or BOTSTORE_BACKUP_PASSWORD",
        )
        .into()),
    }
}

fn open_repo(a: &RepoArgs) -> anyhow::Result<Repo> {
    Repo::open(Box::new(LocalRepo::new(&a.repo)), &secret(a)?).map_err(fail)
}

/// Run blocking backup work off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .context("backup task failed")?
}

/// Store options are hidden from the help of the subcommands they do not apply to:
/// every one but `create` and `follow` works on the repository alone (and accepts them
/// unused, so that BOTSTORE_DATA or BOTSTORE_REMOTE in the environment do not get in the
/// way), and `follow` refuses a --remote option given on the command line. (A subcommand that defines an argument of a
/// global's id gets no copy of the global; the value still reaches the global's field.)
pub fn hide_store_options(cmd: clap::Command) -> clap::Command {
    const REMOTE: [&str; 4] = ["remote", "token", "ca_cert", "timeout"];
    const LOCAL: [&str; 4] = ["data", "durability", "changes_retention", "cache_mib"];
    let global = |id: &str| cmd.get_arguments().find(|a| a.get_id() == id).cloned();
    let remote: Vec<clap::Arg> = REMOTE.iter().filter_map(|id| global(id)).collect();
    let local: Vec<clap::Arg> = LOCAL.iter().filter_map(|id| global(id)).collect();
    let names: Vec<String> = cmd
        .find_subcommand("backup")
        .map(|b| {
            b.get_subcommands()
                .map(|c| c.get_name().to_owned())
                .collect()
        })
        .unwrap_or_default();
    cmd.mut_subcommand("backup", |mut b| {
        for name in &names {
            let hide: Vec<clap::Arg> = match name.as_str() {
                "create" => vec![],
                "follow" => remote.clone(),
                _ => remote.iter().chain(local.iter()).cloned().collect(),
            };
            b = b.mut_subcommand(name, |mut sc| {
                for a in hide {
                    sc = sc.arg(a.hide(true));
                }
                sc
            });
        }
        b
    })
}

/// Whether `id` was given on the command line, before `backup`, after it, or after its
/// subcommand (an environment variable is no mistake: it is ignored where it does not
/// apply).
fn given(matches: &clap::ArgMatches, id: &str) -> bool {
    use clap::parser::ValueSource;
    let on = |m: &clap::ArgMatches| m.value_source(id) == Some(ValueSource::CommandLine);
    let backup = matches.subcommand_matches("backup");
    on(matches)
        || backup.is_some_and(on)
        || backup
            .and_then(|b| b.subcommand())
            .is_some_and(|(_, m)| on(m))
}

pub async fn run(
    cli: &Cli,
    matches: &clap::ArgMatches,
    cmd: &BackupCommand,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    if matches!(cmd, BackupCommand::Follow(_)) {
        if let Some(flag) = ["remote", "token", "ca_cert", "timeout"]
            .into_iter()
            .find(|id| given(matches, id))
        {
            return Err(Failure::invalid(format!(
                "backup follow reads the change feed of --data; --{} does not apply to it. \
                 For a running server, start it with --backup-repo REPO and it ships the \
                 feed itself (docs/OPERATIONS.md, Backups)",
                flag.replace('_', "-")
            ))
            .into());
        }
    }
    let json = cli.json;
    match cmd {
        BackupCommand::Init(a) => {
            let s = secret(&a.repo)?;
            let kdf = KdfParams {
                m_kib: a.kdf_memory_mib.saturating_mul(1024),
                t: a.kdf_iterations,
                p: 1,
            };
            let root = a.repo.repo.clone();
            let repo = blocking(move || {
                Repo::init(Box::new(LocalRepo::new(&root)), &s, kdf).map_err(fail)
            })
            .await?;
            if json {
                json_doc(
                    out,
                    &serde_json::json!({"repo": a.repo.repo, "id": repo.config.id}),
                )?;
            } else {
                writeln!(
                    out,
                    "created repository {} at {}",
                    repo.config.id,
                    a.repo.repo.display()
                )?;
            }
        }
        BackupCommand::Create(a) => create_cmd::create(cli, a, out).await?,
        BackupCommand::Diff(a) => retention::diff(a, json, out).await?,
        BackupCommand::Forget(a) => retention::forget(a, json, out).await?,
        BackupCommand::Prune(a) => {
            retention::prune(&a.repo, a.dry_run, a.repack_below, json, out).await?
        }
        BackupCommand::Ls(a) => ls::ls(a, json, out).await?,
        BackupCommand::Verify(a) => verify::verify(a, json, out).await?,
        BackupCommand::Follow(a) => pitr::follow(cli, a, out).await?,
        BackupCommand::Restore(a) if a.lsn.is_some() || a.at.is_some() || a.ns.is_some() => {
            pitr::restore(a, json, out).await?
        }
        BackupCommand::Restore(a) => {
            let repo = open_repo(&a.repo)?;
            let s = restore(
                Arc::new(repo),
                a.to.clone(),
                a.snapshot.clone(),
                a.force,
                json,
            )
            .await?;
            if !s.manifest_counts.agrees_with(&s.counts) {
                eprintln!(
                    "warning: the restored store has {}, the snapshot's manifest says {} \
                     (the source's namespace counters may have been off)",
                    counts_text(&s.counts),
                    counts_text(&s.manifest_counts)
                );
            }
            if json {
                json_doc(out, &s)?;
            } else {
                writeln!(
                    out,
                    "restored snapshot {} (lsn {}, {} in its chain) into {}: {}; {} of records in {:.2}s{}",
                    s.snapshot,
                    s.lsn,
                    create_cmd::plural(s.chain.len() as u64, "snapshot", "snapshots"),
                    a.to.display(),
                    counts_text(&s.counts),
                    human_bytes(s.stream_bytes),
                    s.seconds,
                    s.mib_per_second
                        .map(|r| format!(" ({r:.1} MiB/s)"))
                        .unwrap_or_default()
                )?;
            }
        }
        BackupCommand::Drill(a) => {
            let repo = Arc::new(open_repo(a)?);
            let scratch = std::env::temp_dir().join(format!(
                "botstore-drill-{}",
                botstore_backup::hex(&botstore_backup::random::<8>())
            ));
            let r = restore(repo.clone(), scratch.clone(), None, false, json).await;
            // The scratch store is opened once, as a recovery would.
            let opened = r
                .as_ref()
                .ok()
                .map(|_| botstore::open(&scratch.to_string_lossy(), Default::default()).map(drop));
            let _ = std::fs::remove_dir_all(&scratch);
            let s = r?;
            if let Some(Err(e)) = opened {
                return Err(e.into());
            }
            if !s.manifest_counts.agrees_with(&s.counts) {
                return Err(Failure::new(
                    ErrorKind::Internal,
                    format!(
                        "drill FAILED: snapshot {} restored with {}, but its manifest says {}",
                        s.snapshot,
                        counts_text(&s.counts),
                        counts_text(&s.manifest_counts)
                    ),
                )
                .into());
            }
            // The measured recovery time, for the server's metrics.
            let rec = botstore_backup::drill::DrillRecord {
                time: botstore_backup::now_ms(),
                snapshot: s.snapshot.clone(),
                lsn: s.lsn,
                recovery_seconds: s.seconds,
                records: s.counts.items + s.counts.entries + s.counts.leases.unwrap_or(0),
                stream_bytes: s.stream_bytes,
                ok: true,
            };
            blocking(move || botstore_backup::drill::record(&repo, &rec).map_err(fail)).await?;
            if json {
                json_doc(
                    out,
                    &serde_json::json!({
                        "snapshot": s.snapshot,
                        "lsn": s.lsn,
                        "recovery_seconds": s.seconds,
                        "items": s.counts.items,
                        "streams": s.counts.streams,
                        "entries": s.counts.entries,
                        "leases": s.counts.leases,
                        "stream_bytes": s.stream_bytes,
                    }),
                )?;
            } else {
                writeln!(
                    out,
                    "drill ok: snapshot {} (lsn {}) restored and checked against its manifest in {:.2}s: {}",
                    s.snapshot,
                    s.lsn,
                    s.seconds,
                    counts_text(&s.counts)
                )?;
            }
        }
    }
    Ok(())
}

async fn restore(
    repo: Arc<Repo>,
    to: PathBuf,
    snapshot: Option<String>,
    force: bool,
    quiet: bool,
) -> anyhow::Result<botstore_backup::RestoreSummary> {
    let bar = bytes_bar(Some(0), quiet);
    let b2 = bar.clone();
    let r = blocking(move || {
        let p = |done: u64, total: u64| {
            b2.set_length(total);
            b2.set_position(done);
        };
        let opts = RestoreOptions {
            snapshot,
            force,
            progress: Some(&p),
        };
        botstore_backup::restore(&repo, &to, &opts).map_err(fail)
    })
    .await;
    bar.finish_and_clear();
    r
}

fn absolute(p: &Path) -> String {
    std::fs::canonicalize(p)
        .unwrap_or_else(|_| p.to_path_buf())
        .display()
        .to_string()
}
