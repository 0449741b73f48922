//! `Store`: the public API. It checks every request against [`Limits`], stamps the time,
//! and hands reads and batches to the backend. Nothing below it sees unchecked input.

use crate::apply::{committed, Batch};
use crate::backend::{Backend, CompactReport, Metric};
use crate::codec::Table;
use crate::commit::Committer;
use crate::error::{Error, Result, Rule};
use crate::limits::{check_ttl, Limits};
use crate::model::*;
use crate::read::{self, Scan};
use crate::value_codec::CodecStack;
use std::ops::Bound;
use std::sync::Arc;
use std::time::Duration;

mod options;
mod upkeep;

pub use options::{parse_duration, Clock, Retention, StoreOptions};
pub use upkeep::{Maintenance, StoreStats};

/// An atomic batch failed at mutation `index`; nothing of it was written.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("batch mutation {index} failed: {error}")]
pub struct BatchError {
    /// The position in the batch of the mutation that failed (from 0).
    pub index: usize,
    /// Why it failed.
    pub error: Error,
}

impl From<BatchError> for Error {
    fn from(e: BatchError) -> Self {
        e.error
    }
}
/// The store. Cheap to clone; clones share the backend.
#[derive(Clone)]
pub struct Store {
    /// The backend behind the record-check layer: what this store reads and writes.
    backend: Arc<dyn Backend>,
    /// The backend itself, whose views return sealed records (for `verify`, and for reads:
    /// [`Store::reading`] puts the check on them without a second boxed view).
    raw: Arc<dyn Backend>,
    /// Where the records come from, for damage reports (`store.redb in DIR`).
    origin: Arc<str>,
    /// Set by [`Store::skipping_damaged`]: scans note damaged records here and go on.
    skipped: Option<Arc<std::sync::Mutex<Vec<String>>>>,
    /// The background scrub's last results (shared by clones).
    scrub: Arc<crate::scrub::ScrubStatus>,
    opts: Arc<StoreOptions>,
    /// The group commit thread (or why it could not start).
    committer: Arc<std::result::Result<Committer, Error>>,
    /// Counts commits made through this store (and its clones); see [`Store::commits`].
    commits: Arc<tokio::sync::watch::Sender<u64>>,
    /// The compression codec at the front of the stack (`None`: the stack given already
    /// claimed its flags).
    zstd: Option<Arc<crate::compression::ZstdCodec>>,
}

impl Store {
    /// A store over `backend` with the default options (starts its commit thread).
    pub fn new(backend: Arc<dyn Backend>) -> Self {
        Self::with_options(backend, StoreOptions::default())
    }

    /// A store over `backend` with `opts` (starts its commit thread; if that fails, every
    /// write returns the error).
    pub fn with_options(backend: Arc<dyn Backend>, mut opts: StoreOptions) -> Self {
        // Every record is checked on the way in and out (crate::record_check).
        let raw = backend.unchecked().unwrap_or_else(|| Arc::clone(&backend));
        let backend = crate::record_check::Checked::wrap(backend);
        let origin: Arc<str> = backend.origin().into();
        let zstd = Self::compression_codec(&backend, &mut opts);
        let committer = Committer::start(
            Arc::clone(&backend),
            Arc::clone(&opts.codecs),
            opts.commit.clone(),
        );
        Store {
            backend,
            raw,
            origin,
            skipped: None,
            scrub: Arc::default(),
            opts: Arc::new(opts),
            committer: Arc::new(committer),
            commits: Arc::new(tokio::sync::watch::channel(0).0),
            zstd,
        }
    }

    /// The store's compression codec, with the dictionaries stored in `backend`, put in
    /// front of `opts.codecs`. Even with compression off it opens compressed values.
    fn compression_codec(
        backend: &Arc<dyn Backend>,
        opts: &mut StoreOptions,
    ) -> Option<Arc<crate::compression::ZstdCodec>> {
        use crate::compression::ZstdCodec;
        let mut c = opts.compression.clone();
        if let Err(e) = c.check() {
            tracing::error!(error = %e, "compression options refused; writing values raw");
            c = crate::compression::CompressionOptions::off();
        }
        let max = opts.limits.max_value_size;
        let zstd = Arc::new(match backend.read() {
            Ok(view) => ZstdCodec::open(c, max, &*view),
            Err(e) => {
                tracing::error!(error = %e, "cannot read the compression dictionaries");
                ZstdCodec::open(c, max, &Unreadable(e))
            }
        });
        match opts
            .codecs
            .with_first(Arc::clone(&zstd) as Arc<dyn crate::ValueCodec>)
        {
            Ok(stack) => {
                opts.codecs = Arc::new(stack);
                Some(zstd)
            }
            Err(e) => {
                tracing::warn!(error = %e, "the codec stack given claims the compression flags; values are not compressed");
                None
            }
        }
    }

    /// The compression codec (its options and dictionaries); `None` when the codec stack
    /// given to the store claimed its flags.
    pub fn compression(&self) -> Option<&Arc<crate::compression::ZstdCodec>> {
        self.zstd.as_ref()
    }

    /// An in-memory store (nothing persists).
    pub fn memory() -> Self {
        Self::new(Arc::new(crate::memory::MemoryBackend::new()))
    }

    /// The backend this store writes to.
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }
    /// Walk every record of the store and report the damaged ones
    /// ([`crate::verify`]). Blocks for as long as the walk takes: call it off the async
    /// workers. `progress` gets the number of records checked so far.
    pub fn verify(
        &self,
        opts: &crate::verify::VerifyOptions,
        progress: &mut dyn FnMut(u64),
    ) -> Result<crate::verify::VerifyReport> {
        crate::verify::verify(&*self.raw, &self.opts.codecs, opts, progress)
    }

    /// A handle on the same store whose scans skip damaged records instead of failing,
    /// noting each in `skipped` (for `export --skip-damaged`). Lookups of a damaged record
    /// still fail; writes go through the store as usual.
    pub fn skipping_damaged(&self, skipped: Arc<std::sync::Mutex<Vec<String>>>) -> Store {
        let mut s = self.clone();
        s.backend =
            crate::record_check::Checked::skipping(Arc::clone(&self.raw), Arc::clone(&skipped));
        s.skipped = Some(skipped);
        s
    }

    /// The input limits this store enforces.
    pub fn limits(&self) -> &Limits {
        &self.opts.limits
    }
    /// The time now by this store's clock, in ms since the Unix epoch.
    pub fn now(&self) -> Millis {
        self.opts.clock.now()
    }

    /// A receiver that wakes after every commit made through this store: how change-feed
    /// followers (long polls, server-sent events) wait for news without polling.
    pub fn commits(&self) -> tokio::sync::watch::Receiver<u64> {
        self.commits.subscribe()
    }

    /// The value codecs of this store.
    pub fn codecs(&self) -> &Arc<CodecStack> {
        &self.opts.codecs
    }

    /// The store's own metrics (group commit) followed by the backend's.
    pub fn metrics(&self) -> Vec<Metric> {
        let mut out = match &*self.committer {
            Ok(c) => c.metrics.export(),
            Err(_) => Vec::new(),
        };
        out.extend(self.backend.metrics());
        out.extend(self.scrub.export());
        out
    }

    /// The background scrub's last results.
    pub fn scrub_status(&self) -> &crate::scrub::ScrubStatus {
        &self.scrub
    }

    /// Scrub the store ([`Store::verify`] at `records_per_second`) once after `first`, then
    /// every `every`, until the handle is aborted; results go to [`Store::metrics`] and
    /// damage to the log.
    pub fn spawn_scrub(
        &self,
        first: Duration,
        every: Duration,
        records_per_second: Option<u32>,
    ) -> tokio::task::JoinHandle<()> {
        let s = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(first).await;
            loop {
                let walker = s.clone();
                let opts = crate::verify::VerifyOptions { records_per_second };
                let r =
                    tokio::task::spawn_blocking(move || walker.verify(&opts, &mut |_| {})).await;
                match r {
                    Ok(Ok(report)) => {
                        for d in &report.damage {
                            tracing::error!(damage = %d, origin = %report.origin, "scrub found a damaged record");
                        }
                        tracing::info!(
                            records = report.total_records(),
                            damaged = report.damage.len(),
                            "scrub finished"
                        );
                        s.scrub.finished(&report);
                    }
                    Ok(Err(e)) => {
                        tracing::error!(error = %e, "scrub failed");
                        s.scrub.failed();
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "scrub task failed");
                        s.scrub.failed();
                    }
                }
                tokio::time::sleep(every).await;
            }
        })
    }

    /// Finish the writes in flight, stop taking new ones, and close the backend (a final
    /// checkpoint for the embedded engine). Every clone of this store is closed with it.
    pub fn close(&self) -> Result<()> {
        if let Ok(c) = &*self.committer {
            c.stop()?;
        }
        self.backend.close()
    }

    async fn commit(&self, batch: Batch) -> Result<crate::BatchResults> {
        let r = match &*self.committer {
            Ok(c) => c.submit(batch).await,
            Err(e) => Err(e.clone()),
        };
        if r.is_ok() {
            self.commits.send_modify(|n| *n = n.wrapping_add(1));
        }
        r
    }

    fn batch_of(&self, mutations: Vec<Mutation>, atomic: bool) -> Batch {
        Batch {
            mutations,
            atomic,
            now: self.now(),
            max_value_size: self.opts.limits.max_value_size,
        }
    }

    // ------------------------------------------------------------ writes

    /// Apply one mutation.
    pub async fn apply(&self, m: Mutation) -> Result<Outcome> {
        self.opts.limits.check_mutation(&m)?;
        let mut r = self.commit(self.batch_of(vec![m], true)).await?;
        r.pop()
            .ok_or_else(|| Error::Storage("backend returned no result".into()))?
    }

    /// Apply mutations atomically: all or nothing.
    pub async fn batch(&self, mutations: Vec<Mutation>) -> Result<Vec<Outcome>, BatchError> {
        if let Err(error) = self.opts.limits.check_batch(&mutations) {
            let index = mutations
                .iter()
                .position(|m| self.opts.limits.check_mutation(m).is_err())
                .unwrap_or(0);
            return Err(BatchError { index, error });
        }
        let n = mutations.len();
        let results = self
            .commit(self.batch_of(mutations, true))
            .await
            .map_err(|error| BatchError { index: 0, error })?;
        if committed(&results) && results.len() == n {
            return Ok(results.into_iter().filter_map(Result::ok).collect());
        }
        let index = results.len().saturating_sub(1);
        let error = results
            .into_iter()
            .find_map(Result::err)
            .unwrap_or_else(|| Error::Storage("batch ended early".into()));
        Err(BatchError { index, error })
    }

    /// Apply mutations one by one in a single commit: each succeeds or fails on its own
    /// (`written`, `precondition failed`, `invalid` per item). The outer error is for the
    /// batch as a whole (too large, storage failure).
    pub async fn write_many(&self, mutations: Vec<Mutation>) -> Result<Vec<Result<Outcome>>> {
        let l = &self.opts.limits;
        if mutations.len() > l.max_batch_len {
            return Err(Error::invalid(
                Rule::BatchSize,
                format!(
                    "{} mutations; a batch holds at most {}",
                    mutations.len(),
                    l.max_batch_len
                ),
            ));
        }
        l.check_batch_bytes(&mutations)?;
        let checks: Vec<Result<()>> = mutations.iter().map(|m| l.check_mutation(m)).collect();
        let valid: Vec<Mutation> = mutations
            .into_iter()
            .zip(&checks)
            .filter(|(_, c)| c.is_ok())
            .map(|(m, _)| m)
            .collect();
        let mut results = if valid.is_empty() {
            Vec::new()
        } else {
            self.commit(self.batch_of(valid, false)).await?
        }
        .into_iter();
        Ok(checks
            .into_iter()
            .map(|c| match c {
                Ok(()) => results
                    .next()
                    .unwrap_or_else(|| Err(Error::Storage("missing result".into()))),
                Err(e) => Err(e),
            })
            .collect())
    }

    /// Put a value (unconditionally). Returns the new version.
    pub async fn put(&self, ns: &Namespace, key: &str, value: Value) -> Result<Version> {
        self.put_if(ns, key, value, Precondition::Any).await
    }

    /// Put a value if the precondition holds.
    pub async fn put_if(
        &self,
        ns: &Namespace,
        key: &str,
        value: Value,
        pre: Precondition,
    ) -> Result<Version> {
        let m = Mutation::put(ns.clone(), key, value).when(pre);
        self.written(self.apply(m).await?)
    }

    /// Delete an item if the precondition holds; `Ok(false)` when there was nothing to delete.
    pub async fn delete(&self, ns: &Namespace, key: &str, pre: Precondition) -> Result<bool> {
        match self
            .apply(Mutation::delete(ns.clone(), key).when(pre))
            .await?
        {
            Outcome::Deleted { existed } => Ok(existed),
            o => Err(Error::Storage(format!("unexpected outcome {o:?}"))),
        }
    }

    /// Apply a JSON Merge Patch or JSON Patch atomically inside the store.
    pub async fn patch(
        &self,
        ns: &Namespace,
        key: &str,
        patch: PatchOp,
        pre: Precondition,
    ) -> Result<Version> {
        let m = Mutation::Patch {
            ns: ns.clone(),
            key: key.into(),
            patch,
            precondition: pre,
            fence: None,
        };
        self.written(self.apply(m).await?)
    }

    fn written(&self, o: Outcome) -> Result<Version> {
        o.version()
            .ok_or_else(|| Error::Storage(format!("unexpected outcome {o:?}")))
    }

    // ------------------------------------------------------------ reads

    /// Run `f` on a fresh read view. A backend whose reads block (a network round trip,
    /// [`Backend::reads_block`]) is read inside `tokio::task::block_in_place` on a
    /// multi-threaded runtime, so the runtime moves its other tasks off this worker first;
    /// local engines are read in place (their reads take microseconds).
    /// The record check is laid on the raw backend's view here, on the stack, rather than
    /// through [`crate::record_check::Checked::read`]: the same check, one allocation and
    /// one indirection fewer on every read.
    fn reading<T>(&self, f: impl FnOnce(&dyn crate::kv::KvRead) -> Result<T>) -> Result<T> {
        let run = || {
            let view = crate::record_check::CheckedView::with(
                self.raw.read()?,
                &self.origin,
                self.skipped.as_deref(),
            );
            f(&view)
        };
        if self.backend.reads_block() {
            if let Ok(h) = tokio::runtime::Handle::try_current() {
                if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread {
                    return tokio::task::block_in_place(run);
                }
            }
        }
        run()
    }

    /// The live item at `(ns, key)`; `None` when absent or expired.
    pub async fn get(&self, ns: &Namespace, key: &str) -> Result<Option<Item>> {
        self.get_now(ns, key)
    }

    /// The synchronous form of [`Store::get`] (reads never wait for the writer).
    pub fn get_now(&self, ns: &Namespace, key: &str) -> Result<Option<Item>> {
        self.opts.limits.check_namespace(ns)?;
        self.opts.limits.check_key(key)?;
        self.reading(|v| read::get_item(v, &self.opts.codecs, ns, key, self.now()))
    }

    /// Several items from one consistent view, in the order asked.
    pub async fn get_many(&self, keys: &[(Namespace, String)]) -> Result<Vec<Option<Item>>> {
        for (ns, k) in keys {
            self.opts.limits.check_namespace(ns)?;
            self.opts.limits.check_key(k)?;
        }
        let now = self.now();
        self.reading(|v| {
            keys.iter()
                .map(|(ns, k)| read::get_item(v, &self.opts.codecs, ns, k, now))
                .collect()
        })
    }

    /// An ordered page of items.
    pub async fn scan(&self, req: &Scan) -> Result<Page<Item>> {
        if req.recursive {
            self.opts.limits.check_prefix(&req.ns)?;
        } else {
            self.opts.limits.check_namespace(&req.ns)?;
        }
        self.opts.limits.check_page(req.limit)?;
        self.reading(|v| read::scan_items(v, &self.opts.codecs, req, self.now()))
    }

    /// Namespaces under `prefix`, truncated to `max_depth` segments, paged.
    pub async fn list_namespaces(
        &self,
        prefix: &Namespace,
        max_depth: Option<usize>,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<Namespace>> {
        self.opts.limits.check_prefix(prefix)?;
        self.opts.limits.check_page(limit)?;
        self.reading(|v| read::list_namespaces(v, prefix, max_depth, limit, cursor))
    }

    // ------------------------------------------------------------ streams

    /// The streams under `prefix` (at every depth) as `(namespace, name)`, in order, paged.
    pub async fn list_streams(
        &self,
        prefix: &Namespace,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<(Namespace, String)>> {
        self.opts.limits.check_prefix(prefix)?;
        self.opts.limits.check_page(limit)?;
        self.reading(|v| read::list_streams(v, prefix, limit, cursor))
    }

    /// Append entries; with `expected_last`, only if that is the stream's last sequence.
    pub async fn append(
        &self,
        ns: &Namespace,
        stream: &str,
        entries: Vec<Value>,
        expected_last: Option<u64>,
    ) -> Result<(u64, u64)> {
        let m = Mutation::Append {
            ns: ns.clone(),
            stream: stream.into(),
            entries,
            expected_last,
        };
        match self.apply(m).await? {
            Outcome::Appended {
                first_seq,
                last_seq,
            } => Ok((first_seq, last_seq)),
            o => Err(Error::Storage(format!("unexpected outcome {o:?}"))),
        }
    }

    /// Up to `limit` entries of a stream from sequence `from` (inclusive; default: the
    /// first entry, or the last going backward) in direction `dir`; empty for a missing
    /// stream.
    pub async fn read_stream(
        &self,
        ns: &Namespace,
        stream: &str,
        from: Option<u64>,
        dir: Direction,
        limit: usize,
    ) -> Result<Vec<StreamEntry>> {
        self.opts.limits.check_namespace(ns)?;
        self.opts.limits.check_key(stream)?;
        self.opts.limits.check_page(limit)?;
        self.reading(|v| read::read_stream(v, &self.opts.codecs, ns, stream, from, dir, limit))
    }

    /// Remove a stream's oldest entries up to `to`; returns how many were removed.
    pub async fn trim(&self, ns: &Namespace, stream: &str, to: TrimTo) -> Result<u64> {
        let m = Mutation::Trim {
            ns: ns.clone(),
            stream: stream.into(),
            to,
        };
        match self.apply(m).await? {
            Outcome::Trimmed { removed } => Ok(removed),
            o => Err(Error::Storage(format!("unexpected outcome {o:?}"))),
        }
    }

    /// Delete a stream with all its entries; `false` when there was none.
    pub async fn delete_stream(&self, ns: &Namespace, stream: &str) -> Result<bool> {
        let m = Mutation::DeleteStream {
            ns: ns.clone(),
            stream: stream.into(),
        };
        match self.apply(m).await? {
            Outcome::Deleted { existed } => Ok(existed),
            o => Err(Error::Storage(format!("unexpected outcome {o:?}"))),
        }
    }

    /// A stream's length and bounds; `None` when it does not exist.
    pub async fn stream_info(&self, ns: &Namespace, stream: &str) -> Result<Option<StreamInfo>> {
        self.opts.limits.check_namespace(ns)?;
        self.opts.limits.check_key(stream)?;
        self.reading(|v| read::stream_info(v, ns, stream))
    }

    // ------------------------------------------------------------ leases

    /// Acquire `(ns, name)` for `holder` for `ttl`; `LeaseHeld` while another holder's
    /// lease is live. The live holder acquiring again keeps its token.
    pub async fn acquire_lease(
        &self,
        ns: &Namespace,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Lease> {
        let m = Mutation::LeaseAcquire {
            ns: ns.clone(),
            name: name.into(),
            holder: holder.into(),
            ttl,
        };
        self.lease_outcome(self.apply(m).await?)
    }

    /// Extend the lease for `ttl` from now, if `token` is still its current token
    /// (`StaleFence` otherwise).
    pub async fn renew_lease(
        &self,
        ns: &Namespace,
        name: &str,
        token: u64,
        ttl: Duration,
    ) -> Result<Lease> {
        let m = Mutation::LeaseRenew {
            ns: ns.clone(),
            name: name.into(),
            token,
            ttl,
        };
        self.lease_outcome(self.apply(m).await?)
    }

    /// Release the lease, if `token` is still its current token (`StaleFence` otherwise).
    pub async fn release_lease(&self, ns: &Namespace, name: &str, token: u64) -> Result<()> {
        let m = Mutation::LeaseRelease {
            ns: ns.clone(),
            name: name.into(),
            token,
        };
        self.apply(m).await.map(|_| ())
    }

    /// The live lease on `(ns, name)`; `None` when free (never taken, lapsed or released).
    pub async fn get_lease(&self, ns: &Namespace, name: &str) -> Result<Option<Lease>> {
        self.opts.limits.check_namespace(ns)?;
        self.opts.limits.check_key(name)?;
        self.reading(|v| read::get_lease(v, ns, name, self.now()))
    }

    fn lease_outcome(&self, o: Outcome) -> Result<Lease> {
        match o {
            Outcome::Lease(l) => Ok(l),
            o => Err(Error::Storage(format!("unexpected outcome {o:?}"))),
        }
    }

    // ------------------------------------------------------------ TTL, changes, upkeep

    /// Set or clear the default TTL of every namespace under `prefix` (the longest matching
    /// prefix wins). Applies to items written afterwards.
    pub async fn set_namespace_ttl(&self, prefix: &Namespace, ttl: Option<Duration>) -> Result<()> {
        if let Some(t) = &ttl {
            check_ttl(t)?;
        }
        self.apply(Mutation::SetNamespaceTtl {
            prefix: prefix.clone(),
            ttl,
        })
        .await
        .map(|_| ())
    }

    /// The default TTLs set at `prefix` or under it, in namespace order.
    pub async fn namespace_ttls(&self, prefix: &Namespace) -> Result<Vec<(Namespace, Duration)>> {
        self.opts.limits.check_prefix(prefix)?;
        Ok(self
            .reading(|v| read::namespace_ttls(v, prefix))?
            .into_iter()
            .map(|(n, ms)| (n, Duration::from_millis(ms)))
            .collect())
    }

    /// Up to `limit` committed changes with an LSN above `since`, in commit order.
    pub async fn changes(&self, since: u64, limit: usize) -> Result<Vec<Change>> {
        self.opts.limits.check_page(limit)?;
        self.reading(|v| read::changes(v, &self.opts.codecs, since, limit))
    }

    /// The oldest LSN still in the change feed (`None`: empty).
    pub async fn first_change_lsn(&self) -> Result<Option<u64>> {
        self.reading(read::first_change_lsn)
    }

    /// The LSN of the last commit (0 for a store never written).
    pub async fn last_lsn(&self) -> Result<u64> {
        self.reading(read::last_lsn)
    }

    /// Make everything durable now (a checkpoint).
    pub fn sync(&self) -> Result<()> {
        self.backend.sync()
    }
}

/// A read view that fails: the dictionaries of a store whose view could not be taken are
/// loaded from this, which leaves the codec frozen (no new dictionary).
struct Unreadable(Error);

impl crate::kv::KvRead for Unreadable {
    fn get(&self, _: Table, _: &[u8]) -> Result<Option<Vec<u8>>> {
        Err(self.0.clone())
    }
    fn scan(
        &self,
        _: Table,
        _: (Bound<&[u8]>, Bound<&[u8]>),
        _: bool,
        _: &mut dyn FnMut(&[u8], &[u8]) -> Result<bool>,
    ) -> Result<()> {
        Err(self.0.clone())
    }
}
