//! `StoreBase` (every operation, blocking and asyncio) and its two constructors,
//! `Store` (embedded) and `RemoteStore` (HTTP).
//!
//! Each operation is split in two: a `prepare_*` that converts the Python arguments
//! (with the GIL) into a `'static` future over [`botstore::StoreApi`] (the operations,
//! written once in the core for the embedded store and a server), and two one-line methods that
//! either block on it with the GIL released or hand it to asyncio
//! (pyo3-async-runtimes, on one shared tokio runtime). So the blocking and the async
//! API cannot drift apart, and concurrent coroutines' writes meet in the engine's group
//! commit.

use crate::convert::{self, seconds};
use crate::errors::{invalid, Failure, Outcome};
use crate::types::{self, PyItem, PyLease, PyPage, PyStreamEntry, PyStreamInfo};
use botstore::Durability;
use botstore::{
    BatchError, Direction, Mutation, Namespace, Outcome as Done, Page, PatchOp, Precondition, Rule,
    Scan, StoreApi, TrimTo, Version,
};
use futures::future::Either;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};
use pyo3::IntoPyObjectExt;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// How often an embedded store sweeps expired items and old change-feed records.
const MAINTENANCE_EVERY: Duration = Duration::from_secs(10);

use crate::aio::runtime;

/// How long a blocking call polls for its answer before it parks (embedded store, and
/// only while no other blocking call of this process is waiting: a lone caller is a
/// bot's turn loop, for which a parked thread's wake-up (tens to hundreds of
/// microseconds on a busy VM) would be most of a write; many callers would only burn
/// the cores the engine needs). Long enough to cover an fsync.
const SPIN: Duration = Duration::from_micros(500);

/// Blocking calls waiting right now, in this process.
static WAITING: AtomicUsize = AtomicUsize::new(0);

/// Run `fut` to completion with the GIL released; with `spin`, poll it for up to
/// [`SPIN`] before parking when it is the only blocking call waiting.
fn block<T: Send>(
    py: Python<'_>,
    spin: bool,
    fut: impl Future<Output = Outcome<T>> + Send,
) -> PyResult<T> {
    let runtime = runtime()?;
    py.detach(|| {
        let mut fut = std::pin::pin!(fut);
        let alone = WAITING.fetch_add(1, Ordering::Relaxed) == 0;
        let _waiting = scopeguard(|| {
            WAITING.fetch_sub(1, Ordering::Relaxed);
        });
        if spin && alone {
            let _runtime = runtime.enter();
            let mut cx = Context::from_waker(Waker::noop());
            let start = Instant::now();
            loop {
                if let Poll::Ready(r) = fut.as_mut().poll(&mut cx) {
                    return r;
                }
                if start.elapsed() >= SPIN || WAITING.load(Ordering::Relaxed) > 1 {
                    break;
                }
                std::hint::spin_loop();
            }
        }
        runtime.block_on(fut)
    })
    .map_err(|f| f.into_pyerr(py))
}

/// Runs `f` when dropped (also on unwind).
fn scopeguard(f: impl FnOnce()) -> impl Drop {
    struct Guard<F: FnOnce()>(Option<F>);
    impl<F: FnOnce()> Drop for Guard<F> {
        fn drop(&mut self) {
            if let Some(f) = self.0.take() {
                f();
            }
        }
    }
    Guard(Some(f))
}

/// `fut` as an asyncio awaitable. Polled once first: most embedded operations (reads,
/// and writes that fail their checks) finish on that poll, and come back as an
/// awaitable that is already done, without the round trip through the runtime and the
/// event loop that a pending one needs.
fn spawn<'py, T>(
    py: Python<'py>,
    fut: impl Future<Output = Outcome<T>> + Send + 'static,
) -> PyResult<Bound<'py, PyAny>>
where
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    let mut fut = Box::pin(fut);
    let first = {
        let _runtime = runtime()?.enter();
        let mut cx = Context::from_waker(Waker::noop());
        fut.as_mut().poll(&mut cx)
    };
    match first {
        Poll::Ready(r) => {
            let result = match r {
                Ok(v) => Ok(v.into_py_any(py)?),
                Err(f) => Err(f.into_pyerr(py)),
            };
            Ok(Bound::new(
                py,
                Done_ {
                    result: Mutex::new(Some(result)),
                },
            )?
            .into_any())
        }
        Poll::Pending => crate::aio::pending(py, fut),
    }
}

/// An awaitable that is already finished: `await` gives its value (or raises).
#[pyclass(frozen, module = "botstore._native", name = "Done")]
pub struct Done_ {
    result: Mutex<Option<PyResult<Py<PyAny>>>>,
}

#[pymethods]
impl Done_ {
    fn __await__(slf: Py<Self>) -> Py<Self> {
        slf
    }
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }
    fn __next__(&self) -> PyResult<Py<PyAny>> {
        let taken = self.result.lock().ok().and_then(|mut r| r.take());
        match taken {
            Some(Ok(v)) => Err(pyo3::exceptions::PyStopIteration::new_err((v,))),
            Some(Err(e)) => Err(e),
            None => Err(pyo3::exceptions::PyRuntimeError::new_err(
                "cannot reuse an already awaited botstore result",
            )),
        }
    }
}

/// A failure found while preparing: raise it now.
fn ready<T>(py: Python<'_>, o: Outcome<T>) -> PyResult<T> {
    o.map_err(|f| f.into_pyerr(py))
}

// ---------------------------------------------------------------- results for Python

/// Results whose Python form needs the GIL to build (converted where they land).
pub struct ItemOut(Option<botstore::Item>);
pub struct ItemsOut(Vec<Option<botstore::Item>>);
pub struct PageOut(Page<botstore::Item>);
pub struct NamespacesOut(Page<Namespace>);
pub struct StreamsOut(Page<(Namespace, String)>);
pub struct EntriesOut(Vec<botstore::StreamEntry>);
pub struct StatsOut(botstore::StoreStats);
/// Per mutation: a put's version, a delete's `existed`, or (non-atomic) its failure.
pub struct BatchOut(Vec<Result<Done, Failure>>);

macro_rules! into_py {
    ($t:ty, |$s:ident, $py:ident| $body:expr) => {
        impl<'py> IntoPyObject<'py> for $t {
            type Target = PyAny;
            type Output = Bound<'py, PyAny>;
            type Error = PyErr;
            fn into_pyobject(self, $py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                let $s = self;
                $body
            }
        }
    };
}

into_py!(ItemOut, |s, py| match s.0 {
    Some(i) => Ok(Bound::new(py, PyItem::from(i))?.into_any()),
    None => Ok(py.None().into_bound(py)),
});
into_py!(ItemsOut, |s, py| Ok(PyList::new(
    py,
    s.0.into_iter().map(|i| i.map(PyItem::from))
)?
.into_any()));
into_py!(PageOut, |s, py| Ok(
    Bound::new(py, PyPage::new(py, s.0)?)?.into_any()
));
into_py!(NamespacesOut, |s, py| {
    let list = PyList::empty(py);
    for ns in &s.0.items {
        list.append(convert::ns_tuple(py, ns)?)?;
    }
    Ok((list, s.0.cursor).into_pyobject(py)?.into_any())
});
into_py!(StreamsOut, |s, py| {
    let list = PyList::empty(py);
    for (ns, name) in &s.0.items {
        list.append((convert::ns_tuple(py, ns)?, name))?;
    }
    Ok((list, s.0.cursor).into_pyobject(py)?.into_any())
});
into_py!(EntriesOut, |s, py| Ok(PyList::new(
    py,
    s.0.into_iter().map(PyStreamEntry::from)
)?
.into_any()));
into_py!(StatsOut, |s, py| {
    let st = s.0;
    let d = PyDict::new(py);
    let t = st.totals();
    d.set_item("namespaces", st.namespaces.len())?;
    d.set_item("items", t.items)?;
    d.set_item("item_bytes", t.item_bytes)?;
    d.set_item("streams", t.streams)?;
    d.set_item("stream_entries", t.stream_entries)?;
    d.set_item("stream_bytes", t.stream_bytes)?;
    d.set_item("store_logical_bytes", st.store_logical_bytes)?;
    d.set_item("disk_bytes", st.disk_bytes)?;
    d.set_item("last_lsn", st.last_lsn)?;
    Ok(d.into_any())
});
into_py!(BatchOut, |s, py| {
    let list = PyList::empty(py);
    for r in s.0 {
        match r {
            Ok(Done::Written { version }) => list.append(version.0)?,
            Ok(Done::Deleted { existed }) => list.append(existed)?,
            Ok(other) => list.append(format!("{other:?}"))?,
            Err(f) => list.append(f.into_pyerr(py).into_value(py))?,
        }
    }
    Ok(list.into_any())
});

fn written(o: Done) -> Outcome<u64> {
    match o {
        Done::Written { version } => Ok(version.0),
        o => Err(Failure::Store(botstore::Error::Storage(format!(
            "unexpected outcome {o:?}"
        )))),
    }
}

fn deleted(o: Done) -> Outcome<bool> {
    match o {
        Done::Deleted { existed } => Ok(existed),
        o => Err(Failure::Store(botstore::Error::Storage(format!(
            "unexpected outcome {o:?}"
        )))),
    }
}

fn lease_acquire(
    ns: &Bound<'_, PyAny>,
    name: String,
    holder: String,
    ttl: f64,
) -> PyResult<Outcome<Mutation>> {
    let ns = convert::namespace(ns)?;
    Ok(seconds(ttl, "ttl").map(|ttl| Mutation::LeaseAcquire {
        ns,
        name,
        holder,
        ttl,
    }))
}

fn lease_renew(lease: &Bound<'_, PyLease>, ttl: f64) -> Outcome<Mutation> {
    let f = lease.get().fence();
    seconds(ttl, "ttl").map(|ttl| Mutation::LeaseRenew {
        ns: f.ns,
        name: f.name,
        token: f.token,
        ttl,
    })
}

fn lease_release(lease: &Bound<'_, PyLease>) -> Mutation {
    let f = lease.get().fence();
    Mutation::LeaseRelease {
        ns: f.ns,
        name: f.name,
        token: f.token,
    }
}

// ---------------------------------------------------------------- StoreBase

/// The store a Python object works on: the operations (embedded or remote), and the
/// embedded store itself when it is one, for what only it has (reads that never wait,
/// the checkpoint at close).
#[derive(Clone)]
struct Db {
    api: Arc<dyn StoreApi>,
    local: Option<botstore::Store>,
}

impl Db {
    fn local(store: botstore::Store) -> Db {
        Db {
            api: Arc::new(store.clone()),
            local: Some(store),
        }
    }

    fn remote(client: botstore_client::Client) -> Db {
        Db {
            api: Arc::new(client),
            local: None,
        }
    }
}

/// The operations both stores have; see the package's type stubs for each one.
#[pyclass(subclass, frozen, module = "botstore._native")]
pub struct StoreBase {
    db: RwLock<Option<Db>>,
    maintenance: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// The embedded store (blocking calls spin before they park).
    local: bool,
}

impl StoreBase {
    /// Whether blocking calls spin before parking: for the embedded store, whose answers
    /// come from a thread of this process within microseconds.
    fn spins(&self) -> bool {
        self.local
    }

    fn db(&self) -> Outcome<Db> {
        match self.db.read() {
            Ok(g) => g.clone().ok_or_else(|| {
                Failure::Store(botstore::Error::Closed("the store was closed".into()))
            }),
            Err(_) => Err(Failure::Store(botstore::Error::Closed(
                "the store's lock was poisoned".into(),
            ))),
        }
    }

    fn prepare_get(
        &self,
        ns: &Bound<'_, PyAny>,
        key: String,
    ) -> PyResult<impl Future<Output = Outcome<ItemOut>> + Send + 'static> {
        let py = ns.py();
        let db = ready(py, self.db())?;
        let ns = convert::namespace(ns)?;
        Ok(async move {
            let item = match &db.local {
                // Reads of the embedded store never wait: no trip through the runtime.
                Some(s) => s.get_now(&ns, &key),
                None => db.api.get(&ns, &key).await,
            };
            Ok(ItemOut(item?))
        })
    }

    fn prepare_get_many(
        &self,
        keys: &Bound<'_, PyAny>,
    ) -> PyResult<impl Future<Output = Outcome<ItemsOut>> + Send + 'static> {
        let py = keys.py();
        let db = ready(py, self.db())?;
        let mut ks = Vec::new();
        for pair in keys.try_iter()? {
            let pair = pair?;
            let (ns, key): (Bound<'_, PyAny>, String) = pair.extract()?;
            ks.push((convert::namespace(&ns)?, key));
        }
        Ok(async move { Ok(ItemsOut(db.api.get_many(&ks).await?)) })
    }

    fn prepare_apply(
        &self,
        py: Python<'_>,
        m: Outcome<Mutation>,
    ) -> PyResult<impl Future<Output = Outcome<Done>> + Send + 'static> {
        let db = ready(py, self.db())?;
        let m = ready(py, m)?;
        Ok(async move { Ok(db.api.apply(m).await?) })
    }

    #[allow(clippy::too_many_arguments)]
    fn prepare_put(
        &self,
        ns: &Bound<'_, PyAny>,
        key: String,
        value: &Bound<'_, PyAny>,
        content_type: Option<&str>,
        if_version: Option<u64>,
        if_absent: bool,
        ttl: Option<convert::TtlArg>,
        fence: Option<&Bound<'_, PyLease>>,
    ) -> PyResult<impl Future<Output = Outcome<u64>> + Send + 'static> {
        let py = ns.py();
        let m = types::put_mutation(
            convert::namespace(ns)?,
            key,
            value,
            content_type,
            if_version,
            if_absent,
            ttl,
            types::fence_of(fence),
        )?;
        let fut = self.prepare_apply(py, m)?;
        Ok(async move { written(fut.await?) })
    }

    fn prepare_delete(
        &self,
        ns: &Bound<'_, PyAny>,
        key: String,
        if_version: Option<u64>,
        fence: Option<&Bound<'_, PyLease>>,
    ) -> PyResult<impl Future<Output = Outcome<bool>> + Send + 'static> {
        let m = types::delete_mutation(
            convert::namespace(ns)?,
            key,
            if_version,
            types::fence_of(fence),
        );
        let fut = self.prepare_apply(ns.py(), Ok(m))?;
        Ok(async move { deleted(fut.await?) })
    }

    fn prepare_touch(
        &self,
        py: Python<'_>,
        ns: &Bound<'_, PyAny>,
        key: String,
        ttl: Option<convert::TtlArg>,
        fence: Option<&Bound<'_, PyLease>>,
    ) -> PyResult<impl Future<Output = Outcome<u64>> + Send + 'static> {
        let ns = convert::namespace(ns)?;
        let m = convert::ttl(ttl).map(|ttl| Mutation::Touch {
            ns,
            key,
            ttl,
            fence: types::fence_of(fence),
        });
        let fut = self.prepare_apply(py, m)?;
        Ok(async move { written(fut.await?) })
    }

    #[allow(clippy::too_many_arguments)]
    fn prepare_patch(
        &self,
        ns: &Bound<'_, PyAny>,
        key: String,
        merge: Option<&Bound<'_, PyAny>>,
        ops: Option<&Bound<'_, PyAny>>,
        if_version: Option<u64>,
        fence: Option<&Bound<'_, PyLease>>,
    ) -> PyResult<impl Future<Output = Outcome<u64>> + Send + 'static> {
        let py = ns.py();
        let ns = convert::namespace(ns)?;
        let patch = match (merge, ops) {
            (Some(doc), None) => convert::json_value(doc)?.map(PatchOp::Merge),
            (None, Some(ops)) => convert::json_value(ops)?.and_then(|v| {
                serde_json::from_value(v)
                    .map(PatchOp::Json)
                    .map_err(|e| invalid(Rule::Json, format!("not a JSON Patch (RFC 6902): {e}")))
            }),
            _ => Err(invalid(Rule::Range, "give merge= or ops= (one of them)")),
        };
        let m = patch.map(|patch| Mutation::Patch {
            ns,
            key,
            patch,
            precondition: if_version
                .map_or(Precondition::Any, |v| Precondition::IfVersion(Version(v))),
            fence: types::fence_of(fence),
        });
        let fut = self.prepare_apply(py, m)?;
        Ok(async move { written(fut.await?) })
    }

    /// An acquire or renew; the lease it gives.
    fn prepare_lease(
        &self,
        py: Python<'_>,
        m: Outcome<Mutation>,
    ) -> PyResult<impl Future<Output = Outcome<PyLease>> + Send + 'static> {
        let fut = self.prepare_apply(py, m)?;
        Ok(async move {
            match fut.await? {
                Done::Lease(l) => Ok(PyLease::from(l)),
                o => Err(Failure::Store(botstore::Error::Storage(format!(
                    "unexpected outcome {o:?}"
                )))),
            }
        })
    }

    fn prepare_release(
        &self,
        py: Python<'_>,
        lease: &Bound<'_, PyLease>,
    ) -> PyResult<impl Future<Output = Outcome<()>> + Send + 'static> {
        let fut = self.prepare_apply(py, Ok(lease_release(lease)))?;
        Ok(async move { fut.await.map(|_| ()) })
    }

    fn prepare_get_lease(
        &self,
        ns: &Bound<'_, PyAny>,
        name: String,
    ) -> PyResult<impl Future<Output = Outcome<Option<PyLease>>> + Send + 'static> {
        let db = ready(ns.py(), self.db())?;
        let ns = convert::namespace(ns)?;
        Ok(async move { Ok(db.api.get_lease(&ns, &name).await?.map(PyLease::from)) })
    }

    #[allow(clippy::too_many_arguments)]
    fn prepare_scan(
        &self,
        ns: &Bound<'_, PyAny>,
        prefix: Option<String>,
        start: Option<String>,
        end: Option<String>,
        recursive: bool,
        cursor: Option<String>,
        limit: usize,
    ) -> PyResult<impl Future<Output = Outcome<PageOut>> + Send + 'static> {
        let db = ready(ns.py(), self.db())?;
        let req = Scan {
            ns: convert::namespace(ns)?,
            recursive,
            key_prefix: prefix,
            start,
            end,
            cursor,
            limit,
        };
        Ok(async move { Ok(PageOut(db.api.scan(&req).await?)) })
    }

    fn prepare_list_namespaces(
        &self,
        prefix: &Bound<'_, PyAny>,
        max_depth: Option<usize>,
        limit: usize,
        cursor: Option<String>,
    ) -> PyResult<impl Future<Output = Outcome<NamespacesOut>> + Send + 'static> {
        let db = ready(prefix.py(), self.db())?;
        let prefix = convert::namespace(prefix)?;
        Ok(async move {
            let page = db
                .api
                .list_namespaces(&prefix, max_depth, limit, cursor.as_deref())
                .await?;
            Ok(NamespacesOut(page))
        })
    }

    fn prepare_batch(
        &self,
        ops: &Bound<'_, PyAny>,
        atomic: bool,
    ) -> PyResult<impl Future<Output = Outcome<BatchOut>> + Send + 'static> {
        let py = ops.py();
        let db = ready(py, self.db())?;
        let ms = types::batch_mutations(ops)?;
        if atomic {
            // A refused argument fails the whole batch before anything is sent.
            let mut ok = Vec::with_capacity(ms.len());
            for (index, m) in ms.into_iter().enumerate() {
                match m {
                    Ok(m) => ok.push(m),
                    Err(f) => {
                        let error = f.into_store_error();
                        return ready(py, Err(Failure::Batch(BatchError { index, error })));
                    }
                }
            }
            return Ok(Either::Left(async move {
                let done = db.api.batch(ok).await?;
                Ok(BatchOut(done.into_iter().map(Ok).collect()))
            }));
        }
        // Not atomic: a refused argument fails in its own slot; the rest are written.
        let mut slots: Vec<Option<Result<Done, Failure>>> = Vec::with_capacity(ms.len());
        let mut sent = Vec::new();
        let mut ok = Vec::new();
        for (i, m) in ms.into_iter().enumerate() {
            match m {
                Ok(m) => {
                    sent.push(i);
                    ok.push(m);
                    slots.push(None);
                }
                Err(f) => slots.push(Some(Err(f))),
            }
        }
        Ok(Either::Right(async move {
            if !ok.is_empty() {
                let done = db.api.write_many(ok).await?;
                for (i, r) in sent.into_iter().zip(done) {
                    slots[i] = Some(r.map_err(Failure::Store));
                }
            }
            Ok(BatchOut(
                slots
                    .into_iter()
                    .map(|s| {
                        s.unwrap_or_else(|| {
                            Err(Failure::Store(botstore::Error::Storage(
                                "a batch result is missing".into(),
                            )))
                        })
                    })
                    .collect(),
            ))
        }))
    }

    fn prepare_append(
        &self,
        ns: &Bound<'_, PyAny>,
        stream: String,
        values: &Bound<'_, PyAny>,
        content_type: Option<&str>,
        expected_last: Option<u64>,
    ) -> PyResult<impl Future<Output = Outcome<(u64, u64)>> + Send + 'static> {
        let py = ns.py();
        let ns = convert::namespace(ns)?;
        let mut entries = Vec::new();
        for v in values.try_iter()? {
            entries.push(ready(py, convert::value(&v?, content_type)?)?);
        }
        let m = Mutation::Append {
            ns,
            stream,
            entries,
            expected_last,
        };
        let fut = self.prepare_apply(py, Ok(m))?;
        Ok(async move {
            match fut.await? {
                Done::Appended {
                    first_seq,
                    last_seq,
                } => Ok((first_seq, last_seq)),
                o => Err(Failure::Store(botstore::Error::Storage(format!(
                    "unexpected outcome {o:?}"
                )))),
            }
        })
    }

    fn prepare_read_stream(
        &self,
        ns: &Bound<'_, PyAny>,
        stream: String,
        start: Option<u64>,
        reverse: bool,
        limit: usize,
    ) -> PyResult<impl Future<Output = Outcome<EntriesOut>> + Send + 'static> {
        let db = ready(ns.py(), self.db())?;
        let ns = convert::namespace(ns)?;
        let dir = if reverse {
            Direction::Backward
        } else {
            Direction::Forward
        };
        Ok(async move {
            let entries = db.api.read_stream(&ns, &stream, start, dir, limit).await?;
            Ok(EntriesOut(entries))
        })
    }

    fn prepare_stream_info(
        &self,
        ns: &Bound<'_, PyAny>,
        stream: String,
    ) -> PyResult<impl Future<Output = Outcome<Option<PyStreamInfo>>> + Send + 'static> {
        let db = ready(ns.py(), self.db())?;
        let ns = convert::namespace(ns)?;
        Ok(async move {
            let info = db.api.stream_info(&ns, &stream).await?;
            Ok(info.map(PyStreamInfo::from))
        })
    }

    fn prepare_trim(
        &self,
        ns: &Bound<'_, PyAny>,
        stream: String,
        keep_last: Option<u64>,
        before: Option<u64>,
    ) -> PyResult<impl Future<Output = Outcome<u64>> + Send + 'static> {
        let py = ns.py();
        let db = ready(py, self.db())?;
        let ns = convert::namespace(ns)?;
        let to = ready(
            py,
            match (keep_last, before) {
                (Some(n), None) => Ok(TrimTo::KeepLast(n)),
                (None, Some(s)) => Ok(TrimTo::Before(s)),
                _ => Err(invalid(
                    Rule::Range,
                    "give keep_last or before (one of them)",
                )),
            },
        )?;
        Ok(async move { Ok(db.api.trim(&ns, &stream, to).await?) })
    }

    fn prepare_delete_stream(
        &self,
        ns: &Bound<'_, PyAny>,
        stream: String,
    ) -> PyResult<impl Future<Output = Outcome<bool>> + Send + 'static> {
        let db = ready(ns.py(), self.db())?;
        let ns = convert::namespace(ns)?;
        Ok(async move { Ok(db.api.delete_stream(&ns, &stream).await?) })
    }

    fn prepare_list_streams(
        &self,
        prefix: &Bound<'_, PyAny>,
        limit: usize,
        cursor: Option<String>,
    ) -> PyResult<impl Future<Output = Outcome<StreamsOut>> + Send + 'static> {
        let db = ready(prefix.py(), self.db())?;
        let prefix = convert::namespace(prefix)?;
        Ok(async move {
            let page = db
                .api
                .list_streams(&prefix, limit, cursor.as_deref())
                .await?;
            Ok(StreamsOut(page))
        })
    }

    fn prepare_set_namespace_ttl(
        &self,
        prefix: &Bound<'_, PyAny>,
        ttl: Option<f64>,
    ) -> PyResult<impl Future<Output = Outcome<()>> + Send + 'static> {
        let py = prefix.py();
        let db = ready(py, self.db())?;
        let ttl = match ttl {
            Some(s) => Some(ready(py, seconds(s, "ttl"))?),
            None => None,
        };
        let prefix = convert::namespace(prefix)?;
        Ok(async move { Ok(db.api.set_namespace_ttl(&prefix, ttl).await?) })
    }

    fn prepare_stats(
        &self,
        prefix: &Bound<'_, PyAny>,
    ) -> PyResult<impl Future<Output = Outcome<StatsOut>> + Send + 'static> {
        let db = ready(prefix.py(), self.db())?;
        let prefix = convert::namespace(prefix)?;
        Ok(async move { Ok(StatsOut(db.api.stats(&prefix).await?)) })
    }
}

/// The operations, each declared once: `fn name | aname(&self, py, args) -> T { prepare }`
/// becomes the blocking method `name` (runs the future with the GIL released) and its
/// asyncio twin `aname` (hands it to the event loop), with the same attributes (Python
/// signature, lints) and arguments, so the two cannot drift apart. `prepare` gives the
/// operation's future (it may use `?`). PyO3's `#[pymethods]` does not expand macros
/// inside it, so the macro emits the whole block; the methods without a twin go in
/// `single { ... }`.
macro_rules! twins {
    (
        $(
            $(#[$attr:meta])*
            fn $name:ident | $aname:ident(&$self:ident, $py:ident $(, $arg:ident: $ty:ty)* $(,)?) -> $out:ty
            $prepare:block
        )*
        single { $($single:tt)* }
    ) => {
        #[pymethods]
        impl StoreBase {
            $(
                $(#[$attr])*
                fn $name(&$self, $py: Python<'_>, $($arg: $ty),*) -> PyResult<$out> {
                    let fut = $prepare?;
                    block($py, $self.spins(), fut)
                }
                $(#[$attr])*
                fn $aname<'py>(&$self, $py: Python<'py>, $($arg: $ty),*) -> PyResult<Bound<'py, PyAny>> {
                    let fut = $prepare?;
                    spawn($py, fut)
                }
            )*
            $($single)*
        }
    };
}

twins! {
    fn get | aget(&self, py, ns: &Bound<'_, PyAny>, key: String) -> ItemOut {
        self.prepare_get(ns, key)
    }

    fn get_many | aget_many(&self, py, keys: &Bound<'_, PyAny>) -> ItemsOut {
        self.prepare_get_many(keys)
    }

    #[pyo3(signature = (ns, key, value, *, content_type=None, if_version=None, if_absent=false, ttl=None, fence=None))]
    #[allow(clippy::too_many_arguments)]
    fn put | aput(
        &self,
        py,
        ns: &Bound<'_, PyAny>,
        key: String,
        value: &Bound<'_, PyAny>,
        content_type: Option<&str>,
        if_version: Option<u64>,
        if_absent: bool,
        ttl: Option<convert::TtlArg>,
        fence: Option<&Bound<'_, PyLease>>,
    ) -> u64 {
        self.prepare_put(ns, key, value, content_type, if_version, if_absent, ttl, fence)
    }

    #[pyo3(signature = (ns, key, *, if_version=None, fence=None))]
    fn delete | adelete(
        &self,
        py,
        ns: &Bound<'_, PyAny>,
        key: String,
        if_version: Option<u64>,
        fence: Option<&Bound<'_, PyLease>>,
    ) -> bool {
        self.prepare_delete(ns, key, if_version, fence)
    }

    #[pyo3(signature = (ns, key, *, ttl=None, fence=None))]
    fn touch | atouch(
        &self,
        py,
        ns: &Bound<'_, PyAny>,
        key: String,
        ttl: Option<convert::TtlArg>,
        fence: Option<&Bound<'_, PyLease>>,
    ) -> u64 {
        self.prepare_touch(py, ns, key, ttl, fence)
    }

    #[pyo3(signature = (ns, key, *, merge=None, ops=None, if_version=None, fence=None))]
    #[allow(clippy::too_many_arguments)]
    fn patch | apatch(
        &self,
        py,
        ns: &Bound<'_, PyAny>,
        key: String,
        merge: Option<&Bound<'_, PyAny>>,
        ops: Option<&Bound<'_, PyAny>>,
        if_version: Option<u64>,
        fence: Option<&Bound<'_, PyLease>>,
    ) -> u64 {
        self.prepare_patch(ns, key, merge, ops, if_version, fence)
    }

    fn acquire_lease | aacquire_lease(
        &self,
        py,
        ns: &Bound<'_, PyAny>,
        name: String,
        holder: String,
        ttl: f64,
    ) -> PyLease {
        let m = lease_acquire(ns, name, holder, ttl)?;
        self.prepare_lease(py, m)
    }

    fn renew_lease | arenew_lease(&self, py, lease: &Bound<'_, PyLease>, ttl: f64) -> PyLease {
        self.prepare_lease(py, lease_renew(lease, ttl))
    }

    fn release_lease | arelease_lease(&self, py, lease: &Bound<'_, PyLease>) -> () {
        self.prepare_release(py, lease)
    }

    fn get_lease | aget_lease(&self, py, ns: &Bound<'_, PyAny>, name: String) -> Option<PyLease> {
        self.prepare_get_lease(ns, name)
    }

    #[pyo3(signature = (ns, *, prefix=None, start=None, end=None, recursive=false, cursor=None, limit=1000))]
    #[allow(clippy::too_many_arguments)]
    fn scan | ascan(
        &self,
        py,
        ns: &Bound<'_, PyAny>,
        prefix: Option<String>,
        start: Option<String>,
        end: Option<String>,
        recursive: bool,
        cursor: Option<String>,
        limit: usize,
    ) -> PageOut {
        self.prepare_scan(ns, prefix, start, end, recursive, cursor, limit)
    }

    #[pyo3(signature = (prefix=None, *, max_depth=None, limit=1000, cursor=None))]
    fn list_namespaces | alist_namespaces(
        &self,
        py,
        prefix: Option<&Bound<'_, PyAny>>,
        max_depth: Option<usize>,
        limit: usize,
        cursor: Option<String>,
    ) -> NamespacesOut {
        let root = PyTuple::empty(py).into_any();
        self.prepare_list_namespaces(prefix.unwrap_or(&root), max_depth, limit, cursor)
    }

    #[pyo3(signature = (ops, *, atomic=true))]
    fn batch | abatch(&self, py, ops: &Bound<'_, PyAny>, atomic: bool) -> BatchOut {
        self.prepare_batch(ops, atomic)
    }

    #[pyo3(signature = (ns, stream, values, *, content_type=None, expected_last=None))]
    fn append | aappend(
        &self,
        py,
        ns: &Bound<'_, PyAny>,
        stream: String,
        values: &Bound<'_, PyAny>,
        content_type: Option<&str>,
        expected_last: Option<u64>,
    ) -> (u64, u64) {
        self.prepare_append(ns, stream, values, content_type, expected_last)
    }

    #[pyo3(signature = (ns, stream, *, start=None, reverse=false, limit=1000))]
    fn read_stream | aread_stream(
        &self,
        py,
        ns: &Bound<'_, PyAny>,
        stream: String,
        start: Option<u64>,
        reverse: bool,
        limit: usize,
    ) -> EntriesOut {
        self.prepare_read_stream(ns, stream, start, reverse, limit)
    }

    fn stream_info | astream_info(
        &self,
        py,
        ns: &Bound<'_, PyAny>,
        stream: String,
    ) -> Option<PyStreamInfo> {
        self.prepare_stream_info(ns, stream)
    }

    #[pyo3(signature = (ns, stream, *, keep_last=None, before=None))]
    fn trim | atrim(
        &self,
        py,
        ns: &Bound<'_, PyAny>,
        stream: String,
        keep_last: Option<u64>,
        before: Option<u64>,
    ) -> u64 {
        self.prepare_trim(ns, stream, keep_last, before)
    }

    fn delete_stream | adelete_stream(&self, py, ns: &Bound<'_, PyAny>, stream: String) -> bool {
        self.prepare_delete_stream(ns, stream)
    }

    #[pyo3(signature = (prefix=None, *, limit=1000, cursor=None))]
    fn list_streams | alist_streams(
        &self,
        py,
        prefix: Option<&Bound<'_, PyAny>>,
        limit: usize,
        cursor: Option<String>,
    ) -> StreamsOut {
        let root = PyTuple::empty(py).into_any();
        self.prepare_list_streams(prefix.unwrap_or(&root), limit, cursor)
    }

    fn set_namespace_ttl | aset_namespace_ttl(
        &self,
        py,
        prefix: &Bound<'_, PyAny>,
        ttl: Option<f64>,
    ) -> () {
        self.prepare_set_namespace_ttl(prefix, ttl)
    }

    #[pyo3(signature = (prefix=None))]
    fn stats | astats(&self, py, prefix: Option<&Bound<'_, PyAny>>) -> StatsOut {
        let root = PyTuple::empty(py).into_any();
        self.prepare_stats(prefix.unwrap_or(&root))
    }

    single {
    /// Flush and close. Idempotent; later calls raise `StorageError`. The data folder
    /// is free for another `Store` when this returns (unless a coroutine of this store
    /// is still running).
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let db = self.db.write().ok().and_then(|mut g| g.take());
        let maintenance = self.maintenance.lock().ok().and_then(|mut m| m.take());
        let closed = py.detach(move || {
            if let Some(h) = maintenance {
                h.abort();
                // The task holds a clone of the store: wait until it is dropped.
                // (It runs on the runtime, so the runtime exists.)
                if let Ok(runtime) = runtime() {
                    let _ = runtime.block_on(h);
                }
            }
            // Finishes the writes in flight, checkpoints and stops the engine's threads.
            let closed = match db.as_ref().and_then(|d| d.local.as_ref()) {
                Some(store) => store.close(),
                None => Ok(()),
            };
            // The last reference: the database file (and its lock) closes here.
            drop(db);
            closed
        });
        ready(py, closed.map_err(Failure::Store))
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) -> PyResult<()> {
        self.close(py)
    }
    }
}

// ---------------------------------------------------------------- constructors

/// The embedded store, in this process.
#[pyclass(extends = StoreBase, subclass, frozen, module = "botstore._native")]
pub struct Store {
    #[pyo3(get)]
    path: String,
}

#[pymethods]
impl Store {
    #[new]
    #[pyo3(signature = (path=None, *, durability="immediate"))]
    fn new(
        py: Python<'_>,
        path: Option<std::path::PathBuf>,
        durability: &str,
    ) -> PyResult<PyClassInitializer<Self>> {
        // As the CLI: BOTSTORE_DATA, else ./botstore-data.
        let path = path
            .or_else(|| std::env::var_os("BOTSTORE_DATA").map(Into::into))
            .unwrap_or_else(|| "botstore-data".into());
        let durability = ready(py, Durability::parse(durability).map_err(Failure::Store))?;
        let opts = botstore::OpenOptions {
            durability,
            ..botstore::OpenOptions::default()
        };
        let location = path.to_string_lossy().into_owned();
        let store = ready(
            py,
            py.detach(move || botstore::open(&location, opts))
                .map_err(Failure::Store),
        )?;
        let maintenance = {
            let _guard = runtime()?.enter();
            store.spawn_maintenance(MAINTENANCE_EVERY)
        };
        Ok(PyClassInitializer::from(StoreBase {
            db: RwLock::new(Some(Db::local(store))),
            maintenance: Mutex::new(Some(maintenance)),
            local: true,
        })
        .add_subclass(Store {
            path: path.display().to_string(),
        }))
    }

    fn __repr__(&self) -> String {
        format!("Store({:?})", self.path)
    }
}

/// A `botstore serve` over HTTP.
#[pyclass(extends = StoreBase, subclass, frozen, module = "botstore._native")]
pub struct RemoteStore {
    #[pyo3(get)]
    url: String,
}

#[pymethods]
impl RemoteStore {
    #[new]
    #[pyo3(signature = (url, token=None, *, ca_cert=None, timeout=30.0))]
    fn new(
        py: Python<'_>,
        url: String,
        token: Option<String>,
        ca_cert: Option<std::path::PathBuf>,
        timeout: f64,
    ) -> PyResult<PyClassInitializer<Self>> {
        let timeout = ready(py, seconds(timeout, "timeout"))?;
        // As the CLI: BOTSTORE_TOKEN when no token is given.
        let token = token.or_else(|| std::env::var("BOTSTORE_TOKEN").ok());
        let ca_certs_pem = match ca_cert {
            Some(p) => Some(std::fs::read(&p).map_err(|e| {
                pyo3::exceptions::PyOSError::new_err(format!(
                    "cannot read the CA certificate {}: {e}",
                    p.display()
                ))
            })?),
            None => None,
        };
        let opts = botstore_client::ClientOptions {
            timeout,
            ca_certs_pem,
            ..botstore_client::ClientOptions::default()
        };
        let client = {
            let _guard = runtime()?.enter();
            botstore_client::Client::with_options(&url, token, opts).map_err(Failure::from)
        };
        let client = ready(py, client)?;
        Ok(PyClassInitializer::from(StoreBase {
            db: RwLock::new(Some(Db::remote(client))),
            maintenance: Mutex::new(None),
            local: false,
        })
        .add_subclass(RemoteStore { url }))
    }

    fn __repr__(&self) -> String {
        format!("RemoteStore({:?})", self.url)
    }
}
