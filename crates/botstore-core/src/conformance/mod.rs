//! The conformance suite every backend must pass (feature `conformance`).
//!
//! In the style of `object_store`'s integration suite: every check is a plain
//! `pub async fn check(make: &dyn MakeStore)` that builds the stores it needs through the
//! factory, drives them through [`StoreApi`] (the API every front end uses) and asserts on
//! behaviour (it panics on the first violation, with a message naming what broke). What
//! only a local store has (its upkeep passes, the last LSN, `sync`) the checks take from
//! the [`Subject`]'s local [`Store`]. The factory receives the
//! [`StoreOptions`] the check wants (a manual [`crate::Clock`] for TTL and lease checks,
//! small [`crate::Limits`] for size checks, a [`crate::Retention`] for change-feed checks)
//! and must return a fresh, empty store built with exactly those options: a [`Store`], or
//! a [`Subject`] whose operations go elsewhere (a client talking to a server in front of
//! that store: `crates/botstore-server/tests/conformance_remote.rs`).
//!
//! # Running it from a backend crate
//!
//! Enable the feature in the backend's dev-dependencies
//! (`botstore = { workspace = true, features = ["conformance"] }`), then either generate
//! one named `#[test]` per check (recommended: failures are named):
//!
//! ```ignore
//! // tests/conformance.rs
//! use botstore::Store;
//! use std::sync::Arc;
//!
//! botstore::conformance_tests!(|opts| async move {
//!     Store::with_options(Arc::new(MyBackend::new()), opts)
//! });
//! ```
//!
//! The macro expands to a module `conformance` holding one `#[test]` per entry of
//! [`CHECKS`], plus `model_check` (the property test against a reference model) and
//! `list_is_complete`. Paths in the factory resolve as in the calling module (the generated
//! module does `use super::*`). The tests build their own tokio runtime, so the backend crate
//! needs no tokio test macros. Or run everything in one test:
//!
//! ```ignore
//! #[tokio::test(flavor = "multi_thread")]
//! async fn conformance() {
//!     botstore::conformance::run_all(|opts| async move {
//!         Store::with_options(Arc::new(MyBackend::new()), opts)
//!     })
//!     .await
//! }
//! ```
//!
//! A factory that needs a directory per store can tie the directory's lifetime to the store
//! with [`keep_alive`]: the guard (a `tempfile::TempDir`, say) is dropped right after the
//! backend, when the check drops the store.
//!
//! ```ignore
//! botstore::conformance_tests!(|opts| async move {
//!     let dir = tempfile::tempdir().unwrap();
//!     let backend = MyBackend::open(dir.path()).unwrap();
//!     Store::with_options(botstore::conformance::keep_alive(backend, dir), opts)
//! });
//! ```

use crate::api::StoreApi;
use crate::backend::Backend;
use crate::store::{Clock, Maintenance, Store, StoreOptions};
use futures::future::BoxFuture;
use std::future::Future;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

mod batch;
mod changes;
mod invalid;
mod items;
mod leases;
pub mod model;
mod patch;
mod races;
mod scan;
mod streams;
mod ttl;

pub use batch::*;
pub use changes::*;
pub use invalid::*;
pub use items::*;
pub use leases::*;
pub use model::{model_check, model_check_with};
pub use patch::*;
pub use races::*;
pub use scan::*;
pub use streams::*;
pub use ttl::*;

/// What a check drives: the operations (`api`, which the checks call through
/// [`Deref`](std::ops::Deref)) and the local store they end up in (`local`), for what
/// only a local store has. For a plain [`Store`] both are the same store.
#[derive(Clone)]
pub struct Subject {
    /// The operations the checks call (the store itself, or a client in front of it).
    pub api: Arc<dyn StoreApi>,
    /// The local store the operations end up in.
    pub local: Store,
    /// Dropped with the last clone of the subject (a server's task, say).
    _guard: Option<Arc<dyn Send + Sync>>,
}

impl Subject {
    /// Operations that go through `api` (a client) and end up in `local`; `guard` lives
    /// as long as the subject (stop the server when it is dropped).
    pub fn new(api: Arc<dyn StoreApi>, local: Store, guard: impl Send + Sync + 'static) -> Self {
        Subject {
            api,
            local,
            _guard: Some(Arc::new(guard)),
        }
    }

    /// The change feed's records through the API (its page's changes).
    pub async fn changes(&self, since: u64, limit: usize) -> crate::Result<Vec<crate::Change>> {
        self.api.changes(since, limit).await.map(|p| p.changes)
    }

    // What only the local store has.

    /// [`Store::last_lsn`] of the local store.
    pub async fn last_lsn(&self) -> crate::Result<u64> {
        self.local.last_lsn().await
    }
    /// [`Store::first_change_lsn`] of the local store.
    pub async fn first_change_lsn(&self) -> crate::Result<Option<u64>> {
        self.local.first_change_lsn().await
    }
    /// [`Store::sweep_expired`] on the local store.
    pub async fn sweep_expired(&self, limit: usize) -> crate::Result<u64> {
        self.local.sweep_expired(limit).await
    }
    /// [`Store::trim_changes`] on the local store.
    pub async fn trim_changes(&self, limit: usize) -> crate::Result<u64> {
        self.local.trim_changes(limit).await
    }
    /// [`Store::maintain`] on the local store.
    pub async fn maintain(&self) -> crate::Result<Maintenance> {
        self.local.maintain().await
    }
    /// [`Store::sync`] of the local store.
    pub fn sync(&self) -> crate::Result<()> {
        self.local.sync()
    }
}

impl From<Store> for Subject {
    fn from(s: Store) -> Self {
        Subject {
            api: Arc::new(s.clone()),
            local: s,
            _guard: None,
        }
    }
}

impl std::ops::Deref for Subject {
    type Target = dyn StoreApi;
    fn deref(&self) -> &Self::Target {
        &*self.api
    }
}

/// Builds a fresh, empty store with the given options. Implemented for every
/// `Fn(StoreOptions) -> impl Future<Output = Store or Subject>` (use [`factory`] to help
/// inference).
pub trait MakeStore: Send + Sync {
    /// A fresh, empty store (or subject) built with exactly `opts`.
    fn make(&self, opts: StoreOptions) -> BoxFuture<'static, Subject>;
}

impl<F, Fut> MakeStore for F
where
    F: Fn(StoreOptions) -> Fut + Send + Sync,
    Fut: Future + Send + 'static,
    Fut::Output: Into<Subject>,
{
    fn make(&self, opts: StoreOptions) -> BoxFuture<'static, Subject> {
        let fut = self(opts);
        Box::pin(async move { fut.await.into() })
    }
}

/// A backend that owns `guard` and drops it after the backend (see [`keep_alive`]).
pub struct KeepAlive<B> {
    backend: B,
    _guard: Box<dyn Send + Sync>,
}

/// Wrap `backend` so that `guard` (a temporary directory, say) lives exactly as long as it.
pub fn keep_alive<B: Backend>(backend: B, guard: impl Send + Sync + 'static) -> Arc<dyn Backend> {
    Arc::new(KeepAlive {
        backend,
        _guard: Box::new(guard),
    })
}

impl<B: Backend> Backend for KeepAlive<B> {
    fn name(&self) -> &'static str {
        self.backend.name()
    }
    fn read(&self) -> crate::Result<Box<dyn crate::kv::KvRead + '_>> {
        self.backend.read()
    }
    fn write(&self, group: crate::WriteGroup) -> crate::Result<()> {
        self.backend.write(group)
    }
    fn space(&self) -> crate::Result<crate::Space> {
        self.backend.space()
    }
    fn compact(&self) -> crate::Result<crate::CompactReport> {
        self.backend.compact()
    }
    fn sync(&self) -> crate::Result<()> {
        self.backend.sync()
    }
    fn close(&self) -> crate::Result<()> {
        self.backend.close()
    }
    fn metrics(&self) -> Vec<crate::Metric> {
        self.backend.metrics()
    }
}

/// Returns its argument; it only pins the closure's signature so that `|opts| async move
/// { ... }` needs no type annotations.
pub fn factory<F, Fut>(f: F) -> F
where
    F: Fn(StoreOptions) -> Fut + Send + Sync,
    Fut: Future + Send + 'static,
    Fut::Output: Into<Subject>,
{
    f
}

/// One check of the suite.
pub type Check = for<'a> fn(&'a dyn MakeStore) -> BoxFuture<'a, ()>;

macro_rules! check_list {
    ($($name:ident),* $(,)?) => {
        /// Every check of the suite, by name, in the order [`run_all`] runs them.
        pub static CHECKS: &[(&str, Check)] = &[$(
            (stringify!($name), {
                fn wrap(m: &dyn MakeStore) -> BoxFuture<'_, ()> {
                    Box::pin($name(m))
                }
                wrap as Check
            })
        ),*];
    };
}

// Keep this list and the one in `conformance_tests!` equal (the generated
// `list_is_complete` test checks it).
check_list!(
    put_get_json,
    put_get_bytes,
    versions_monotonic_unique,
    timestamps_created_kept_updated_changes,
    subject_is_kept,
    put_preconditions,
    delete_preconditions,
    patch_preconditions,
    get_many_in_order,
    race_conditional_updates,
    race_cas_counter,
    race_if_absent_create,
    race_merge_patches,
    race_appends,
    race_atomic_transfers,
    race_lease_acquire,
    race_namespace_counters,
    batch_atomic_across_namespaces,
    batch_failure_writes_nothing,
    write_many_per_item_status,
    merge_patch_rfc7396,
    json_patch_rfc6902,
    patch_failures_change_nothing,
    lease_acquire_and_held,
    lease_expiry_gives_bigger_token,
    lease_renew_and_release,
    lease_fencing,
    scan_order_and_paging,
    scan_key_prefix_and_range,
    scan_recursive,
    scan_skips_expired,
    scan_invalid_cursor,
    list_namespaces_prefix,
    list_namespaces_depth_and_paging,
    stream_append_and_read,
    stream_expected_last,
    stream_trim,
    stream_info_and_delete,
    stream_listing,
    ttl_per_item,
    ttl_namespace_default,
    ttl_expired_item_is_absent_for_writes,
    ttl_sweep_removes_and_emits,
    ttl_touch_renews_keeping_the_version,
    changes_every_mutation,
    changes_since_and_limit,
    changes_retention_age,
    changes_retention_count,
    changes_carry_overwritten_values,
    changes_carry_trimmed_entries,
    stats_per_namespace,
    maintain_sweeps_and_trims,
    invalid_namespaces,
    invalid_keys,
    invalid_values,
    invalid_batches,
    invalid_ttls,
    invalid_limits,
);

/// Run every check (then the model check) against stores from `make`, in order; panics on
/// the first failure. Needs a multi-threaded tokio runtime (the model check blocks in place).
pub async fn run_all<F, Fut>(make: F)
where
    F: Fn(StoreOptions) -> Fut + Send + Sync,
    Fut: Future + Send + 'static,
    Fut::Output: Into<Subject>,
{
    for (name, check) in CHECKS {
        eprintln!("conformance: {name}");
        check(&make).await;
    }
    eprintln!("conformance: model_check");
    model_check_with(&make, model::default_cases(), model::MAX_OPS);
}

/// Run a future to completion on a fresh multi-threaded runtime (what the tests generated by
/// [`conformance_tests!`](crate::conformance_tests) use).
pub fn block_on<Fut: Future>(f: Fut) -> Fut::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("conformance: cannot build a tokio runtime")
        .block_on(f)
}

/// Used by [`conformance_tests!`](crate::conformance_tests): panics unless `listed` names
/// exactly the checks in [`CHECKS`].
pub fn assert_listed(listed: &[&str]) {
    let mut a: Vec<&str> = listed.to_vec();
    let mut b: Vec<&str> = CHECKS.iter().map(|(n, _)| *n).collect();
    a.sort_unstable();
    b.sort_unstable();
    assert_eq!(a, b, "conformance_tests! and CHECKS list different checks");
}

/// Generates one `#[test]` per conformance check (plus `model_check` and
/// `list_is_complete`) in a module named `conformance`. The argument is the store factory:
/// an expression of type `Fn(StoreOptions) -> impl Future<Output = Store>` (or
/// `Output = Subject`); it is evaluated
/// once per test. See [`crate::conformance`].
///
/// ```ignore
/// botstore::conformance_tests!(|opts| async move {
///     botstore::Store::with_options(std::sync::Arc::new(MyBackend::new()), opts)
/// });
/// ```
#[macro_export]
macro_rules! conformance_tests {
    ($make:expr) => {
        $crate::__conformance_tests!(
            $make;
            put_get_json,
            put_get_bytes,
            versions_monotonic_unique,
            timestamps_created_kept_updated_changes,
            subject_is_kept,
            put_preconditions,
            delete_preconditions,
            patch_preconditions,
            get_many_in_order,
            race_conditional_updates,
            race_cas_counter,
            race_if_absent_create,
            race_merge_patches,
            race_appends,
            race_atomic_transfers,
            race_lease_acquire,
            race_namespace_counters,
            batch_atomic_across_namespaces,
            batch_failure_writes_nothing,
            write_many_per_item_status,
            merge_patch_rfc7396,
            json_patch_rfc6902,
            patch_failures_change_nothing,
            lease_acquire_and_held,
            lease_expiry_gives_bigger_token,
            lease_renew_and_release,
            lease_fencing,
            scan_order_and_paging,
            scan_key_prefix_and_range,
            scan_recursive,
            scan_skips_expired,
            scan_invalid_cursor,
            list_namespaces_prefix,
            list_namespaces_depth_and_paging,
            stream_append_and_read,
            stream_expected_last,
            stream_trim,
            stream_info_and_delete,
            stream_listing,
            ttl_per_item,
            ttl_namespace_default,
            ttl_expired_item_is_absent_for_writes,
            ttl_sweep_removes_and_emits,
            ttl_touch_renews_keeping_the_version,
            changes_every_mutation,
            changes_since_and_limit,
            changes_retention_age,
            changes_retention_count,
            changes_carry_overwritten_values,
            changes_carry_trimmed_entries,
            stats_per_namespace,
            maintain_sweeps_and_trims,
            invalid_namespaces,
            invalid_keys,
            invalid_values,
            invalid_batches,
            invalid_ttls,
            invalid_limits,
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_tests {
    ($make:expr; $($name:ident),* $(,)?) => {
        mod conformance {
            #[allow(unused_imports)]
            use super::*;

            $(
                #[test]
                fn $name() {
                    let make = $crate::conformance::factory($make);
                    $crate::conformance::block_on($crate::conformance::$name(&make));
                }
            )*

            #[test]
            fn model_check() {
                $crate::conformance::model_check($crate::conformance::factory($make));
            }

            #[test]
            fn list_is_complete() {
                $crate::conformance::assert_listed(&[$(stringify!($name)),*]);
            }
        }
    };
}

// ---------------------------------------------------------------- helpers for the checks

/// The manual clock's start: 2023-11-14T22:13:20Z.
pub const T0: i64 = 1_700_000_000_000;

/// A store with a manual clock, and the clock's hand.
pub(crate) struct Env {
    pub store: Subject,
    pub clock: Arc<AtomicI64>,
}

impl Env {
    /// Default limits and retention, manual clock at [`T0`].
    pub async fn new(make: &dyn MakeStore) -> Env {
        Self::with(make, |_| {}).await
    }

    pub async fn with(make: &dyn MakeStore, f: impl FnOnce(&mut StoreOptions)) -> Env {
        let (clock, hand) = Clock::manual(T0);
        let mut opts = StoreOptions {
            clock,
            ..Default::default()
        };
        f(&mut opts);
        Env {
            store: make.make(opts).await,
            clock: hand,
        }
    }

    pub fn advance(&self, ms: i64) {
        self.clock.fetch_add(ms, Ordering::SeqCst);
    }

    pub async fn last_lsn(&self) -> u64 {
        self.store.last_lsn().await.expect("last_lsn")
    }
}

pub(crate) fn ns(parts: &[&str]) -> crate::Namespace {
    crate::Namespace::new(parts.iter().copied())
}

pub(crate) fn jv(v: serde_json::Value) -> crate::Value {
    crate::Value::json(&v)
}

/// The JSON document of an item that must exist.
pub(crate) async fn doc(s: &Subject, n: &crate::Namespace, key: &str) -> serde_json::Value {
    s.get(n, key)
        .await
        .expect("get")
        .unwrap_or_else(|| panic!("{n}/{key} should exist"))
        .value
        .to_json()
        .expect("stored JSON")
}

pub(crate) fn json_patch(v: serde_json::Value) -> crate::PatchOp {
    crate::PatchOp::Json(serde_json::from_value(v).expect("a valid JSON Patch document"))
}

/// Panics unless `r` is `InvalidInput` for `rule`.
#[track_caller]
pub(crate) fn assert_invalid<T: std::fmt::Debug>(r: crate::Result<T>, rule: crate::Rule) {
    match r {
        Err(crate::Error::InvalidInput { rule: got, .. }) if got == rule => {}
        other => panic!("expected InvalidInput({rule}), got {other:?}"),
    }
}

/// Panics unless `r` is `PreconditionFailed { current }`.
#[track_caller]
pub(crate) fn assert_precondition<T: std::fmt::Debug>(
    r: crate::Result<T>,
    current: Option<crate::Version>,
) {
    match r {
        Err(crate::Error::PreconditionFailed { current: c }) if c == current => {}
        other => panic!("expected PreconditionFailed {{ current: {current:?} }}, got {other:?}"),
    }
}

/// Every item of a namespace, by paging through scans of `page` items.
pub(crate) async fn scan_all(s: &Subject, req: crate::Scan, page: usize) -> Vec<crate::Item> {
    let mut req = crate::Scan { limit: page, ..req };
    let mut out = Vec::new();
    loop {
        let p = s.scan(&req).await.expect("scan");
        assert!(p.items.len() <= page, "a page holds at most `limit` items");
        out.extend(p.items);
        match p.cursor {
            Some(c) => req.cursor = Some(c),
            None => return out,
        }
    }
}

/// Counters of one namespace (default when it has none).
pub(crate) async fn ns_stats(s: &Subject, n: &crate::Namespace) -> crate::NamespaceStats {
    s.stats(n)
        .await
        .expect("stats")
        .namespaces
        .into_iter()
        .find(|(x, _)| x == n)
        .map(|(_, st)| st)
        .unwrap_or_default()
}
