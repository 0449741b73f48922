//! [`StoreApi`]: the data operations every front end uses (the CLI, the Python binding,
//! the conformance suite), written once for a local [`Store`] and a remote client.
//!
//! The trait is dyn-compatible, so a front end holds an `Arc<dyn StoreApi>` and does not
//! care where the data lives. Its methods return [`BoxFuture`]s rather than using the
//! `async-trait` crate: the core already depends on `futures`, the boxing is the same
//! either way, and the signatures stay plain Rust that rustdoc and error messages show as
//! they are (no macro-rewritten lifetimes).
//!
//! Only three writes are required ([`StoreApi::apply`], [`StoreApi::batch`],
//! [`StoreApi::write_many`]); every single-purpose write (`put`, `delete`, `append`,
//! leases, ...) has a default built on `apply`, so a new mutation needs a [`Mutation`]
//! variant and, at most, a default method here. A remote client overrides the ones that
//! have their own endpoint.
//!
//! Errors are [`crate::Error`] for both: a remote store's problem documents come back as
//! the core errors they stand for; what only a remote store can fail with is
//! [`Error::Refused`] (the server's HTTP layer refused the request) and
//! [`Error::Unavailable`] (transport or protocol failure).

use crate::error::{Error, Result};
use crate::limits::Limits;
use crate::model::*;
use crate::read::Scan;
use crate::store::{BatchError, Maintenance, Store, StoreStats};
use futures::future::BoxFuture;
use std::time::Duration;

/// The options of a single-item write beyond the value: precondition, TTL, subject and
/// fencing token.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WriteOptions {
    /// What must hold of the current item for the write to happen.
    pub precondition: Precondition,
    /// How long the item lives from this write.
    pub ttl: Ttl,
    /// The subject the item is about; `None` keeps the current item's subject.
    pub subject: Option<String>,
    /// A fencing token the write requires, if any.
    pub fence: Option<Fence>,
}

/// A page of the change feed.
#[derive(Clone, Debug, PartialEq)]
pub struct ChangePage {
    /// The changes of this page, in commit order.
    pub changes: Vec<Change>,
    /// Pass as `since` to continue. A server skips changes the caller may not read, so
    /// this can be past the last change of the page.
    pub next_since: u64,
    /// The store's last LSN when the page was read.
    pub last_lsn: u64,
}

/// What [`StoreApi::compact`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Compacted {
    /// Items removed because their TTL passed.
    pub expired_items: u64,
    /// Change-feed records dropped by the retention policy.
    pub forgotten_changes: u64,
    /// Bytes on disk before the compaction (`None`: not on disk).
    pub disk_bytes_before: Option<u64>,
    /// Bytes on disk after it.
    pub disk_bytes_after: Option<u64>,
    /// Values sealed again with the newest compression dictionary.
    pub resealed_values: u64,
}

fn unexpected<T>(o: Outcome) -> Result<T> {
    Err(Error::Storage(format!("unexpected outcome {o:?}")))
}

fn written(o: Outcome) -> Result<Version> {
    match o.version() {
        Some(v) => Ok(v),
        None => unexpected(o),
    }
}

/// The store's data operations, local or remote (see the [module](self) docs).
pub trait StoreApi: Send + Sync {
    /// The limits input is checked against before it is sent (a remote store's limits
    /// are not published: the defaults, which the server checks again anyway).
    fn limits(&self) -> Limits;

    /// The store's time, for times relative to now.
    fn now(&self) -> Millis;

    // ------------------------------------------------------------ writes

    /// Apply one mutation.
    fn apply(&self, m: Mutation) -> BoxFuture<'_, Result<Outcome>>;

    /// Apply mutations atomically: all or nothing. A failure of a remote request as a
    /// whole is `index` 0 with an error for which [`Error::is_request_failure`] holds.
    fn batch(&self, mutations: Vec<Mutation>) -> BoxFuture<'_, Result<Vec<Outcome>, BatchError>>;

    /// Apply mutations one by one in one commit: each succeeds or fails on its own; the
    /// outer error is for the batch as a whole.
    fn write_many(&self, mutations: Vec<Mutation>) -> BoxFuture<'_, Result<Vec<Result<Outcome>>>>;

    /// Put a value unconditionally; returns the new version.
    fn put<'a>(
        &'a self,
        ns: &'a Namespace,
        key: &'a str,
        value: Value,
    ) -> BoxFuture<'a, Result<Version>> {
        self.put_with(ns, key, value, WriteOptions::default())
    }

    /// Put a value if the precondition holds.
    fn put_if<'a>(
        &'a self,
        ns: &'a Namespace,
        key: &'a str,
        value: Value,
        pre: Precondition,
    ) -> BoxFuture<'a, Result<Version>> {
        let opts = WriteOptions {
            precondition: pre,
            ..WriteOptions::default()
        };
        self.put_with(ns, key, value, opts)
    }

    /// Put with a precondition, TTL, subject and fence.
    fn put_with<'a>(
        &'a self,
        ns: &'a Namespace,
        key: &'a str,
        value: Value,
        opts: WriteOptions,
    ) -> BoxFuture<'a, Result<Version>> {
        let m = Mutation::Put {
            ns: ns.clone(),
            key: key.into(),
            value,
            precondition: opts.precondition,
            ttl: opts.ttl,
            subject: opts.subject,
            fence: opts.fence,
        };
        Box::pin(async move { written(self.apply(m).await?) })
    }

    /// Delete an item if the precondition holds; `Ok(false)` when there was nothing.
    fn delete<'a>(
        &'a self,
        ns: &'a Namespace,
        key: &'a str,
        pre: Precondition,
    ) -> BoxFuture<'a, Result<bool>> {
        self.delete_with(ns, key, pre, None)
    }

    /// Delete with a precondition and a fence.
    fn delete_with<'a>(
        &'a self,
        ns: &'a Namespace,
        key: &'a str,
        pre: Precondition,
        fence: Option<&'a Fence>,
    ) -> BoxFuture<'a, Result<bool>> {
        let m = Mutation::Delete {
            ns: ns.clone(),
            key: key.into(),
            precondition: pre,
            fence: fence.cloned(),
        };
        Box::pin(async move {
            match self.apply(m).await? {
                Outcome::Deleted { existed } => Ok(existed),
                o => unexpected(o),
            }
        })
    }

    /// Apply a JSON Merge Patch or JSON Patch atomically inside the store.
    fn patch<'a>(
        &'a self,
        ns: &'a Namespace,
        key: &'a str,
        patch: PatchOp,
        pre: Precondition,
    ) -> BoxFuture<'a, Result<Version>> {
        self.patch_with(ns, key, patch, pre, None)
    }

    /// Patch with a precondition and a fence.
    fn patch_with<'a>(
        &'a self,
        ns: &'a Namespace,
        key: &'a str,
        patch: PatchOp,
        pre: Precondition,
        fence: Option<&'a Fence>,
    ) -> BoxFuture<'a, Result<Version>> {
        let m = Mutation::Patch {
            ns: ns.clone(),
            key: key.into(),
            patch,
            precondition: pre,
            fence: fence.cloned(),
        };
        Box::pin(async move { written(self.apply(m).await?) })
    }

    /// Append entries; with `expected_last`, only if that is the stream's last sequence.
    /// Returns the first and last sequence written.
    fn append<'a>(
        &'a self,
        ns: &'a Namespace,
        stream: &'a str,
        entries: Vec<Value>,
        expected_last: Option<u64>,
    ) -> BoxFuture<'a, Result<(u64, u64)>> {
        let m = Mutation::Append {
            ns: ns.clone(),
            stream: stream.into(),
            entries,
            expected_last,
        };
        Box::pin(async move {
            match self.apply(m).await? {
                Outcome::Appended {
                    first_seq,
                    last_seq,
                } => Ok((first_seq, last_seq)),
                o => unexpected(o),
            }
        })
    }

    /// Remove entries from the front of a stream; returns how many were removed.
    fn trim<'a>(
        &'a self,
        ns: &'a Namespace,
        stream: &'a str,
        to: TrimTo,
    ) -> BoxFuture<'a, Result<u64>> {
        let m = Mutation::Trim {
            ns: ns.clone(),
            stream: stream.into(),
            to,
        };
        Box::pin(async move {
            match self.apply(m).await? {
                Outcome::Trimmed { removed } => Ok(removed),
                o => unexpected(o),
            }
        })
    }

    /// Delete a whole stream; `Ok(false)` when there was none.
    fn delete_stream<'a>(
        &'a self,
        ns: &'a Namespace,
        stream: &'a str,
    ) -> BoxFuture<'a, Result<bool>> {
        let m = Mutation::DeleteStream {
            ns: ns.clone(),
            stream: stream.into(),
        };
        Box::pin(async move {
            match self.apply(m).await? {
                Outcome::Deleted { existed } => Ok(existed),
                o => unexpected(o),
            }
        })
    }

    /// Acquire a lease (`LeaseHeld` when another holder has it).
    fn acquire_lease<'a>(
        &'a self,
        ns: &'a Namespace,
        name: &'a str,
        holder: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Lease>> {
        let m = Mutation::LeaseAcquire {
            ns: ns.clone(),
            name: name.into(),
            holder: holder.into(),
            ttl,
        };
        Box::pin(async move {
            match self.apply(m).await? {
                Outcome::Lease(l) => Ok(l),
                o => unexpected(o),
            }
        })
    }

    /// Renew a lease held with `token`.
    fn renew_lease<'a>(
        &'a self,
        ns: &'a Namespace,
        name: &'a str,
        token: u64,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Lease>> {
        let m = Mutation::LeaseRenew {
            ns: ns.clone(),
            name: name.into(),
            token,
            ttl,
        };
        Box::pin(async move {
            match self.apply(m).await? {
                Outcome::Lease(l) => Ok(l),
                o => unexpected(o),
            }
        })
    }

    /// Release a lease held with `token`.
    fn release_lease<'a>(
        &'a self,
        ns: &'a Namespace,
        name: &'a str,
        token: u64,
    ) -> BoxFuture<'a, Result<()>> {
        let m = Mutation::LeaseRelease {
            ns: ns.clone(),
            name: name.into(),
            token,
        };
        Box::pin(async move { self.apply(m).await.map(|_| ()) })
    }

    /// Set (or, with `None`, clear) the default TTL of every namespace under `prefix`.
    fn set_namespace_ttl<'a>(
        &'a self,
        prefix: &'a Namespace,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, Result<()>> {
        let m = Mutation::SetNamespaceTtl {
            prefix: prefix.clone(),
            ttl,
        };
        Box::pin(async move { self.apply(m).await.map(|_| ()) })
    }

    // ------------------------------------------------------------ reads

    /// Read an item (`None`: missing or expired).
    fn get<'a>(&'a self, ns: &'a Namespace, key: &'a str) -> BoxFuture<'a, Result<Option<Item>>>;

    /// Several items from one consistent view, in the order asked.
    fn get_many<'a>(
        &'a self,
        keys: &'a [(Namespace, String)],
    ) -> BoxFuture<'a, Result<Vec<Option<Item>>>>;

    /// An ordered page of items.
    fn scan<'a>(&'a self, req: &'a Scan) -> BoxFuture<'a, Result<Page<Item>>>;

    /// Namespaces under `prefix`, truncated to `max_depth` segments, paged.
    fn list_namespaces<'a>(
        &'a self,
        prefix: &'a Namespace,
        max_depth: Option<usize>,
        limit: usize,
        cursor: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Page<Namespace>>>;

    /// The streams under `prefix` (at every depth) as `(namespace, name)`, paged.
    fn list_streams<'a>(
        &'a self,
        prefix: &'a Namespace,
        limit: usize,
        cursor: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Page<(Namespace, String)>>>;

    /// Up to `limit` entries of a stream from `from` in direction `dir`.
    fn read_stream<'a>(
        &'a self,
        ns: &'a Namespace,
        stream: &'a str,
        from: Option<u64>,
        dir: Direction,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<StreamEntry>>>;

    /// Length and bounds of a stream (`None`: no such stream).
    fn stream_info<'a>(
        &'a self,
        ns: &'a Namespace,
        stream: &'a str,
    ) -> BoxFuture<'a, Result<Option<StreamInfo>>>;

    /// The lease (`None`: not held, or expired).
    fn get_lease<'a>(
        &'a self,
        ns: &'a Namespace,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<Lease>>>;

    /// The default TTLs set at or under `prefix`.
    fn namespace_ttls<'a>(
        &'a self,
        prefix: &'a Namespace,
    ) -> BoxFuture<'a, Result<Vec<(Namespace, Duration)>>>;

    /// Up to `limit` changes with an LSN above `since` (that the caller may read), and
    /// the `since` that continues after them.
    fn changes(&self, since: u64, limit: usize) -> BoxFuture<'_, Result<ChangePage>>;

    /// Counters per namespace under `prefix`, bytes on disk, the last LSN.
    fn stats<'a>(&'a self, prefix: &'a Namespace) -> BoxFuture<'a, Result<StoreStats>>;

    // ------------------------------------------------------------ upkeep

    /// Upkeep until there is nothing left to do (expired items, change records past
    /// retention), then a compaction.
    fn compact(&self) -> BoxFuture<'_, Result<Compacted>>;
}

impl StoreApi for Store {
    fn limits(&self) -> Limits {
        Store::limits(self).clone()
    }

    fn now(&self) -> Millis {
        Store::now(self)
    }

    fn apply(&self, m: Mutation) -> BoxFuture<'_, Result<Outcome>> {
        Box::pin(Store::apply(self, m))
    }

    fn batch(&self, mutations: Vec<Mutation>) -> BoxFuture<'_, Result<Vec<Outcome>, BatchError>> {
        Box::pin(Store::batch(self, mutations))
    }

    fn write_many(&self, mutations: Vec<Mutation>) -> BoxFuture<'_, Result<Vec<Result<Outcome>>>> {
        Box::pin(Store::write_many(self, mutations))
    }

    // The TTL is checked before the namespace here, as `Store::set_namespace_ttl` does.
    fn set_namespace_ttl<'a>(
        &'a self,
        prefix: &'a Namespace,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(Store::set_namespace_ttl(self, prefix, ttl))
    }

    fn get<'a>(&'a self, ns: &'a Namespace, key: &'a str) -> BoxFuture<'a, Result<Option<Item>>> {
        Box::pin(Store::get(self, ns, key))
    }

    fn get_many<'a>(
        &'a self,
        keys: &'a [(Namespace, String)],
    ) -> BoxFuture<'a, Result<Vec<Option<Item>>>> {
        Box::pin(Store::get_many(self, keys))
    }

    fn scan<'a>(&'a self, req: &'a Scan) -> BoxFuture<'a, Result<Page<Item>>> {
        Box::pin(Store::scan(self, req))
    }

    fn list_namespaces<'a>(
        &'a self,
        prefix: &'a Namespace,
        max_depth: Option<usize>,
        limit: usize,
        cursor: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Page<Namespace>>> {
        Box::pin(Store::list_namespaces(
            self, prefix, max_depth, limit, cursor,
        ))
    }

    fn list_streams<'a>(
        &'a self,
        prefix: &'a Namespace,
        limit: usize,
        cursor: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Page<(Namespace, String)>>> {
        Box::pin(Store::list_streams(self, prefix, limit, cursor))
    }

    fn read_stream<'a>(
        &'a self,
        ns: &'a Namespace,
        stream: &'a str,
        from: Option<u64>,
        dir: Direction,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<StreamEntry>>> {
        Box::pin(Store::read_stream(self, ns, stream, from, dir, limit))
    }

    fn stream_info<'a>(
        &'a self,
        ns: &'a Namespace,
        stream: &'a str,
    ) -> BoxFuture<'a, Result<Option<StreamInfo>>> {
        Box::pin(Store::stream_info(self, ns, stream))
    }

    fn get_lease<'a>(
        &'a self,
        ns: &'a Namespace,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<Lease>>> {
        Box::pin(Store::get_lease(self, ns, name))
    }

    fn namespace_ttls<'a>(
        &'a self,
        prefix: &'a Namespace,
    ) -> BoxFuture<'a, Result<Vec<(Namespace, Duration)>>> {
        Box::pin(Store::namespace_ttls(self, prefix))
    }

    fn changes(&self, since: u64, limit: usize) -> BoxFuture<'_, Result<ChangePage>> {
        Box::pin(async move {
            let changes = Store::changes(self, since, limit).await?;
            let next_since = changes.last().map_or(since, |c| c.lsn);
            let last_lsn = self.last_lsn().await?.max(next_since);
            Ok(ChangePage {
                changes,
                next_since,
                last_lsn,
            })
        })
    }

    fn stats<'a>(&'a self, prefix: &'a Namespace) -> BoxFuture<'a, Result<StoreStats>> {
        Box::pin(Store::stats(self, prefix))
    }

    fn compact(&self) -> BoxFuture<'_, Result<Compacted>> {
        Box::pin(async move {
            let mut done = Compacted::default();
            loop {
                let m = self.maintain().await?;
                done.expired_items += m.expired_items;
                done.forgotten_changes += m.forgotten_changes;
                if m == Maintenance::default() {
                    break;
                }
            }
            let r = Store::compact(self).await?;
            done.disk_bytes_before = r.disk_bytes_before;
            done.disk_bytes_after = r.disk_bytes_after;
            done.resealed_values = r.resealed_values;
            Ok(done)
        })
    }
}
