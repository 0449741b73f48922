//! What reads return (`Item`, `Page`, `StreamEntry`, `StreamInfo`) and what batches take
//! (`Put`, `Delete`). Read results own their bytes; Python sees immutable objects.

use crate::convert;
use crate::errors::Outcome;
use botstore::{Fence, Mutation, Namespace, Precondition, Value};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};

/// An item as read.
#[pyclass(frozen, module = "botstore._native", name = "Item")]
pub struct PyItem {
    ns: Namespace,
    key: String,
    value: Value,
    #[pyo3(get)]
    version: u64,
    #[pyo3(get)]
    created_at: i64,
    #[pyo3(get)]
    updated_at: i64,
    #[pyo3(get)]
    expires_at: Option<i64>,
}

impl From<botstore::Item> for PyItem {
    fn from(i: botstore::Item) -> Self {
        PyItem {
            ns: i.ns,
            key: i.key,
            value: i.value,
            version: i.version.0,
            created_at: i.created_at,
            updated_at: i.updated_at,
            expires_at: i.expires_at,
        }
    }
}

#[pymethods]
impl PyItem {
    #[getter]
    fn namespace<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        convert::ns_tuple(py, &self.ns)
    }
    #[getter]
    fn key(&self) -> &str {
        &self.key
    }
    #[getter]
    fn value<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.value.data)
    }
    #[getter]
    fn content_type(&self) -> &str {
        &self.value.content_type
    }
    /// The value parsed as JSON; `InvalidInput` when it is not JSON.
    fn json<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        convert::parse_json(py, &self.value.content_type, &self.value.data)
    }
    fn __repr__(&self) -> String {
        format!(
            "Item(namespace={:?}, key={:?}, version={}, content_type={:?}, {} bytes)",
            self.ns.to_string(),
            self.key,
            self.version,
            self.value.content_type,
            self.value.data.len()
        )
    }
}

/// A page of a scan and the cursor that continues it.
#[pyclass(frozen, module = "botstore._native", name = "Page")]
pub struct PyPage {
    #[pyo3(get)]
    items: Py<pyo3::types::PyList>,
    #[pyo3(get)]
    cursor: Option<String>,
}

impl PyPage {
    pub fn new(py: Python<'_>, page: botstore::Page<botstore::Item>) -> PyResult<Self> {
        let items = pyo3::types::PyList::new(py, page.items.into_iter().map(PyItem::from))?;
        Ok(PyPage {
            items: items.unbind(),
            cursor: page.cursor,
        })
    }
}

#[pymethods]
impl PyPage {
    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "Page({} items, cursor={:?})",
            self.items.bind(py).len(),
            self.cursor
        )
    }
}

/// One stream entry.
#[pyclass(frozen, module = "botstore._native", name = "StreamEntry")]
pub struct PyStreamEntry {
    #[pyo3(get)]
    seq: u64,
    #[pyo3(get)]
    at: i64,
    value: Value,
}

impl From<botstore::StreamEntry> for PyStreamEntry {
    fn from(e: botstore::StreamEntry) -> Self {
        PyStreamEntry {
            seq: e.seq,
            at: e.at,
            value: e.value,
        }
    }
}

#[pymethods]
impl PyStreamEntry {
    #[getter]
    fn value<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.value.data)
    }
    #[getter]
    fn content_type(&self) -> &str {
        &self.value.content_type
    }
    fn json<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        convert::parse_json(py, &self.value.content_type, &self.value.data)
    }
    fn __repr__(&self) -> String {
        format!(
            "StreamEntry(seq={}, at={}, content_type={:?}, {} bytes)",
            self.seq,
            self.at,
            self.value.content_type,
            self.value.data.len()
        )
    }
}

/// Length and bounds of a stream (empty: `len == 0`, `first_seq == last_seq + 1`).
#[pyclass(frozen, module = "botstore._native", name = "StreamInfo")]
pub struct PyStreamInfo {
    #[pyo3(get)]
    len: u64,
    #[pyo3(get)]
    first_seq: u64,
    #[pyo3(get)]
    last_seq: u64,
    #[pyo3(get)]
    bytes: u64,
}

impl From<botstore::StreamInfo> for PyStreamInfo {
    fn from(i: botstore::StreamInfo) -> Self {
        PyStreamInfo {
            len: i.len,
            first_seq: i.first_seq,
            last_seq: i.last_seq,
            bytes: i.bytes,
        }
    }
}

#[pymethods]
impl PyStreamInfo {
    fn __repr__(&self) -> String {
        format!(
            "StreamInfo(len={}, first_seq={}, last_seq={}, bytes={})",
            self.len, self.first_seq, self.last_seq, self.bytes
        )
    }
}

/// A lease: `holder` has `(namespace, name)` until `expires_at` (ms since the epoch);
/// `token` grows with every acquire. Pass it as `fence=` to a write to make the write
/// fail with `StaleFence` once someone else has acquired the lease.
#[pyclass(frozen, module = "botstore._native", name = "Lease")]
pub struct PyLease {
    ns: Namespace,
    #[pyo3(get)]
    name: String,
    #[pyo3(get)]
    holder: String,
    #[pyo3(get)]
    token: u64,
    #[pyo3(get)]
    expires_at: i64,
}

impl From<botstore::Lease> for PyLease {
    fn from(l: botstore::Lease) -> Self {
        PyLease {
            ns: l.ns,
            name: l.name,
            holder: l.holder,
            token: l.token,
            expires_at: l.expires_at,
        }
    }
}

impl PyLease {
    pub fn fence(&self) -> Fence {
        Fence {
            ns: self.ns.clone(),
            name: self.name.clone(),
            token: self.token,
        }
    }
}

#[pymethods]
impl PyLease {
    #[getter]
    fn namespace<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        convert::ns_tuple(py, &self.ns)
    }
    fn __repr__(&self) -> String {
        format!(
            "Lease(namespace={:?}, name={:?}, holder={:?}, token={}, expires_at={})",
            self.ns.to_string(),
            self.name,
            self.holder,
            self.token,
            self.expires_at
        )
    }
}

/// The fence of an optional `fence=` argument.
pub fn fence_of(lease: Option<&Bound<'_, PyLease>>) -> Option<Fence> {
    lease.map(|l| l.get().fence())
}

/// A put in a batch. Arguments are checked when the batch runs, as a `put` checks them.
#[pyclass(frozen, module = "botstore._native", name = "Put")]
pub struct PyPut {
    mutation: Outcome<Mutation>,
}

#[pymethods]
impl PyPut {
    #[new]
    #[pyo3(signature = (ns, key, value, *, content_type=None, if_version=None, if_absent=false, ttl=None, fence=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        ns: &Bound<'_, PyAny>,
        key: String,
        value: &Bound<'_, PyAny>,
        content_type: Option<&str>,
        if_version: Option<u64>,
        if_absent: bool,
        ttl: Option<convert::TtlArg>,
        fence: Option<&Bound<'_, PyLease>>,
    ) -> PyResult<Self> {
        Ok(PyPut {
            mutation: put_mutation(
                convert::namespace(ns)?,
                key,
                value,
                content_type,
                if_version,
                if_absent,
                ttl,
                fence_of(fence),
            )?,
        })
    }
}

/// A put as a mutation (shared by `put` and `Put`).
#[allow(clippy::too_many_arguments)]
pub fn put_mutation(
    ns: Namespace,
    key: String,
    value: &Bound<'_, PyAny>,
    content_type: Option<&str>,
    if_version: Option<u64>,
    if_absent: bool,
    ttl: Option<convert::TtlArg>,
    fence: Option<Fence>,
) -> PyResult<Outcome<Mutation>> {
    let value = match convert::value(value, content_type)? {
        Ok(v) => v,
        Err(f) => return Ok(Err(f)),
    };
    Ok((|| {
        Ok(Mutation::Put {
            ns,
            key,
            value,
            precondition: convert::precondition(if_version, if_absent)?,
            ttl: convert::ttl(ttl)?,
            subject: None,
            fence,
        })
    })())
}

/// A delete in a batch.
#[pyclass(frozen, module = "botstore._native", name = "Delete")]
pub struct PyDelete {
    mutation: Mutation,
}

#[pymethods]
impl PyDelete {
    #[new]
    #[pyo3(signature = (ns, key, *, if_version=None, fence=None))]
    fn new(
        ns: &Bound<'_, PyAny>,
        key: String,
        if_version: Option<u64>,
        fence: Option<&Bound<'_, PyLease>>,
    ) -> PyResult<Self> {
        Ok(PyDelete {
            mutation: delete_mutation(convert::namespace(ns)?, key, if_version, fence_of(fence)),
        })
    }
}

pub fn delete_mutation(
    ns: Namespace,
    key: String,
    if_version: Option<u64>,
    fence: Option<Fence>,
) -> Mutation {
    Mutation::Delete {
        ns,
        key,
        precondition: if_version.map_or(Precondition::Any, |v| {
            Precondition::IfVersion(botstore::Version(v))
        }),
        fence,
    }
}

/// The mutations of a batch's `Put` / `Delete` objects, in order; one whose arguments
/// were refused when it was made carries that failure instead.
pub fn batch_mutations(ops: &Bound<'_, PyAny>) -> PyResult<Vec<Outcome<Mutation>>> {
    let mut out = Vec::new();
    for op in ops.try_iter()? {
        let op = op?;
        if let Ok(p) = op.cast::<PyPut>() {
            out.push(p.get().mutation.clone());
        } else if let Ok(d) = op.cast::<PyDelete>() {
            out.push(Ok(d.get().mutation.clone()));
        } else {
            return Err(pyo3::exceptions::PyTypeError::new_err(
                "batch takes botstore.Put and botstore.Delete objects",
            ));
        }
    }
    Ok(out)
}
