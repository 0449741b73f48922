//! `botstore serve`: the HTTP/JSON API over a botstore store.
//!
//! * [`config`]: the TOML file and flags, merged and resolved.
//! * [`routes`]: one module per group of endpoints; [`openapi`] describes them.
//! * [`auth`] and [`tokens`]: bearer tokens, scopes, the rate limit.
//! * [`middleware`]: request ids, timeouts, problem documents, metrics, log lines.
//! * [`listener`]: TCP or TLS, HTTP/1.1 and HTTP/2, graceful shutdown.
//!
//! The API itself (paths, JSON bodies, problem types) is defined in `botstore-api`.

#![deny(unsafe_code)]

pub mod auth;
pub mod backup;
pub mod config;
pub mod extract;
pub mod listener;
pub mod logging;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod preface;
pub mod problem;
pub mod routes;
pub mod state;
pub mod tokens;

pub use config::{ServeConfig, Settings};

use botstore::{Retention, StoreOptions};
use state::AppState;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::watch;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("configuration: {0}")]
    Config(String),
    #[error("cannot listen on {addr}: {detail}")]
    Listen { addr: SocketAddr, detail: String },
    #[error(transparent)]
    Store(#[from] botstore::Error),
    #[error(transparent)]
    Tokens(#[from] tokens::TokenError),
}

/// A server running on the current tokio runtime.
pub struct Server {
    /// The address it listens on (the real port when the configuration said port 0).
    pub addr: SocketAddr,
    stop: watch::Sender<bool>,
    state: state::Shared,
    task: tokio::task::JoinHandle<Result<(), ServerError>>,
    maintenance: tokio::task::JoinHandle<()>,
    scrub: Option<tokio::task::JoinHandle<()>>,
    backup: Option<backup::BackupTask>,
}

impl Server {
    /// Check everything that can be checked first, bind, open the store, and start
    /// serving.
    ///
    /// The order is what a refused start leaves behind: nothing. The configuration, the
    /// TLS files and the backup repository's key are checked, and a data folder that
    /// another process holds is refused, before the port is bound; the port is bound
    /// before the data folder is created or a token is written. So a second server on
    /// the same folder says the folder is in use (not that the port is taken), and a
    /// server whose port is taken leaves no folder and no `admin.token`.
    pub async fn start(config: ServeConfig) -> Result<Server, ServerError> {
        let settings = config.resolve()?;
        let tls = match &settings.tls {
            Some((c, k)) => Some(listener::tls_acceptor(c, k)?),
            None => None,
        };
        let backup_repo = match &settings.backup {
            Some(b) => Some(backup::BackupTask::open_repo(b).await?),
            None => None,
        };
        let location = settings.data.to_string_lossy().into_owned();
        botstore::check_not_in_use(&location)?;
        let tcp = tokio::net::TcpListener::bind(settings.listen)
            .await
            .map_err(|e| ServerError::Listen {
                addr: settings.listen,
                detail: listen_detail(&e),
            })?;
        let addr = tcp.local_addr().map_err(|e| ServerError::Listen {
            addr: settings.listen,
            detail: e.to_string(),
        })?;
        let store = botstore::open(
            &location,
            botstore::OpenOptions {
                durability: settings.durability,
                cache_bytes: Some(settings.cache_mib << 20),
                store: StoreOptions {
                    retention: Retention {
                        max_age: Some(settings.changes_retention),
                        max_changes: None,
                    },
                    compression: settings.compression.clone(),
                    ..StoreOptions::default()
                },
            },
        )?;
        let tokens = tokens::TokenStore::open(&settings.data)?;
        if settings.insecure_dev {
            // Warned about below, with the address actually bound.
        } else if tokens.list()?.iter().all(|t| t.revoked_at.is_some()) {
            let path = bootstrap_admin_token(&tokens, &settings.data)?;
            tracing::warn!(
                "no tokens yet: created an admin token and wrote it to {} (readable by this \
                 user only). Use it to create scoped tokens (`botstore token create`), then \
                 revoke it.",
                path.display()
            );
        }
        if settings.insecure_dev {
            tracing::warn!(
                "!!! --insecure-dev: serving WITHOUT authentication on {addr}. Anyone who can \
                 reach this address can read and change every item. Never use this outside \
                 local development. !!!"
            );
        }
        let (stop, stop_rx) = watch::channel(false);
        let limiter = settings
            .rate_limit
            .map(|r| state::rate_limiter(r, settings.rate_burst));
        // The repository was opened (and its key checked) before anything else.
        let backup = match (&settings.backup, backup_repo) {
            (Some(b), Some(repo)) => Some(backup::BackupTask::start(b, repo, store.clone())?),
            _ => None,
        };
        let maintenance = store.spawn_maintenance(settings.maintenance_interval);
        let scrub = settings.scrub_every.map(|every| {
            store.spawn_scrub(
                every.min(std::time::Duration::from_secs(60)),
                every,
                Some(settings.scrub_rate),
            )
        });
        let state = Arc::new(AppState {
            store,
            tokens,
            settings: settings.clone(),
            metrics: metrics::Metrics::default(),
            backup: backup.as_ref().map(|b| b.shared.clone()),
            limiter,
            ready: AtomicBool::new(false),
            shutdown: stop_rx.clone(),
        });
        let app = routes::router(Arc::clone(&state));
        let task = tokio::spawn({
            let settings = settings.clone();
            async move { listener::run(&settings, tcp, tls, app, stop_rx).await }
        });
        state.ready.store(true, Ordering::Release);
        tracing::info!(
            "listening on {addr} ({}; data in {}; durability {:?})",
            if settings.tls.is_some() {
                "https"
            } else {
                "http"
            },
            settings.data.display(),
            settings.durability
        );
        Ok(Server {
            addr,
            stop,
            state,
            task,
            maintenance,
            scrub,
            backup,
        })
    }

    /// Stop accepting, finish in-flight requests (within the grace period), make every
    /// write durable and close the store.
    pub async fn stop(self) -> Result<(), ServerError> {
        self.state.ready.store(false, Ordering::Release);
        let _ = self.stop.send(true);
        let served = match self.task.await {
            Ok(r) => r,
            Err(e) => Err(ServerError::Config(format!("server task failed: {e}"))),
        };
        self.maintenance.abort();
        let _ = self.maintenance.await;
        if let Some(s) = self.scrub {
            s.abort();
            let _ = s.await;
        }
        // Every request has finished: the last segment holds every acknowledged write.
        if let Some(b) = self.backup {
            b.stop().await;
        }
        let store = self.state.store.clone();
        let synced = tokio::task::spawn_blocking(move || store.sync())
            .await
            .map_err(|e| botstore::Error::Storage(e.to_string()))
            .and_then(|r| r);
        drop(self.state);
        served?;
        match synced {
            Ok(()) => tracing::info!("store flushed and closed"),
            // A full disk (or a failing one): the final checkpoint cannot be written, but
            // every acknowledged write is in the journal, which the next open replays. Not
            // a reason to exit with an error and look like a crash.
            Err(
                e @ (botstore::Error::NoSpace(_)
                | botstore::Error::Storage(_)
                | botstore::Error::ReadOnly(_)),
            ) => {
                tracing::error!(
                    error = %e,
                    "final checkpoint failed; the journal keeps the acknowledged writes and \
                     the next open replays them"
                );
            }
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }
}

/// Why binding failed, in words that say what to do about the usual causes.
fn listen_detail(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::AddrInUse => format!(
            "{e}: another process (another botstore serve?) listens there; stop it or \
             choose another address (--listen, or `listen` in the config file)"
        ),
        std::io::ErrorKind::PermissionDenied => {
            format!("{e}: ports below 1024 need privileges; choose a port above 1023")
        }
        std::io::ErrorKind::AddrNotAvailable => {
            format!("{e}: no network interface of this machine has that address")
        }
        _ => e.to_string(),
    }
}

/// The file the first admin token is written to when a server starts with no tokens.
pub const ADMIN_TOKEN_FILE: &str = "admin.token";

/// Make an admin token for a data folder that has none, and write it where only this
/// user can read it: the way in for a new install, without printing a secret to logs.
fn bootstrap_admin_token(
    tokens: &tokens::TokenStore,
    data: &std::path::Path,
) -> Result<std::path::PathBuf, ServerError> {
    use botstore_api::wire::{Perm, Scope, TokenCreateRequest};
    use std::io::Write;
    let made = tokens.create(&TokenCreateRequest {
        scopes: vec![Scope {
            ns: "*".into(),
            perms: vec![Perm::Read, Perm::Write, Perm::Admin],
        }],
        ttl: None,
        label: Some("bootstrap admin (made at first start)".into()),
    })?;
    let path = data.join(ADMIN_TOKEN_FILE);
    let io = |e: std::io::Error| ServerError::Config(format!("writing {}: {e}", path.display()));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&path).map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // `mode` only applies to a new file; an old one keeps its mode unless told.
        f.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(io)?;
    }
    writeln!(f, "{}", made.token).map_err(io)?;
    f.sync_all().map_err(io)?;
    Ok(path)
}

/// SIGTERM and SIGINT, listened for from the moment this is made (so a signal that
/// arrives while the store opens is not lost, and does not kill the process unflushed).
struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> Result<Signals, ServerError> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let err = |e: std::io::Error| ServerError::Config(format!("signal handler: {e}"));
            Ok(Signals {
                term: signal(SignalKind::terminate()).map_err(err)?,
                int: signal(SignalKind::interrupt()).map_err(err)?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Signals {})
        }
    }

    async fn wait(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.term.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = self.int.recv() => tracing::info!("SIGINT: shutting down"),
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// `botstore serve`: logs, serve until SIGTERM or SIGINT, then shut down cleanly.
pub async fn serve(config: ServeConfig) -> Result<(), ServerError> {
    let json = config.log_format.as_deref() == Some("json");
    logging::init(json);
    let mut signals = Signals::install()?;
    let server = Server::start(config).await?;
    signals.wait().await;
    server.stop().await
}
