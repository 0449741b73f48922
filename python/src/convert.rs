//! Python arguments into the core's types: namespaces, values, TTLs, preconditions.
//! Refusals are `InvalidInput` with the rule the core would name, never a panic.

use crate::errors::{invalid, Outcome};
use botstore::{Namespace, Precondition, Rule, Ttl, Value};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyByteArray, PyBytes, PyList, PyString, PyTuple};
use std::time::Duration;

/// The content type of values given as bytes without one.
pub const OCTET_STREAM: &str = "application/octet-stream";

/// `"a/b/c"` or a sequence of segments (tuple, list, any iterable of `str`).
pub fn namespace(obj: &Bound<'_, PyAny>) -> PyResult<Namespace> {
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Namespace::parse(s.to_str()?));
    }
    if let Ok(t) = obj.cast::<PyTuple>() {
        return t
            .iter()
            .map(|seg| segment(&seg))
            .collect::<PyResult<Vec<_>>>()
            .map(Namespace);
    }
    if let Ok(l) = obj.cast::<PyList>() {
        return l
            .iter()
            .map(|seg| segment(&seg))
            .collect::<PyResult<Vec<_>>>()
            .map(Namespace);
    }
    match obj.try_iter() {
        Ok(it) => it
            .map(|seg| segment(&seg?))
            .collect::<PyResult<Vec<_>>>()
            .map(Namespace),
        Err(_) => Err(type_error(
            obj,
            "a namespace: a str like 'a/b' or a sequence of str",
        )),
    }
}

fn segment(obj: &Bound<'_, PyAny>) -> PyResult<String> {
    match obj.cast::<PyString>() {
        Ok(s) => Ok(s.to_str()?.to_owned()),
        Err(_) => Err(type_error(obj, "namespace segments must be str")),
    }
}

fn type_error(obj: &Bound<'_, PyAny>, want: &str) -> PyErr {
    let got = obj
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into());
    pyo3::exceptions::PyTypeError::new_err(format!("expected {want}, got {got}"))
}

static JSON_DUMPS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static JSON_LOADS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

fn json_fn<'py>(
    py: Python<'py>,
    cell: &PyOnceLock<Py<PyAny>>,
    name: &str,
) -> PyResult<Bound<'py, PyAny>> {
    let f = cell.get_or_try_init(py, || {
        Ok::<_, PyErr>(py.import("json")?.getattr(name)?.unbind())
    })?;
    Ok(f.bind(py).clone())
}

/// A value to write: bytes as they are; a `str` with an explicit content type as its
/// UTF-8; anything else as JSON (`json.dumps`, compact, non-ASCII kept).
pub fn value(obj: &Bound<'_, PyAny>, content_type: Option<&str>) -> PyResult<Outcome<Value>> {
    let raw = if let Ok(b) = obj.cast::<PyBytes>() {
        Some(b.as_bytes().to_vec())
    } else if let Ok(b) = obj.cast::<PyByteArray>() {
        Some(b.to_vec())
    } else if obj.is_instance_of::<pyo3::types::PyMemoryView>() {
        Some(
            obj.call_method0("tobytes")?
                .cast::<PyBytes>()?
                .as_bytes()
                .to_vec(),
        )
    } else {
        None
    };
    if let Some(data) = raw {
        return Ok(Ok(Value::bytes(content_type.unwrap_or(OCTET_STREAM), data)));
    }
    match (obj.cast::<PyString>(), content_type) {
        (Ok(s), Some(ct)) if ct != botstore::JSON => {
            return Ok(Ok(Value::bytes(ct, s.to_str()?.as_bytes().to_vec())));
        }
        (_, Some(ct)) if ct != botstore::JSON => {
            return Ok(Err(invalid(
                Rule::ContentType,
                format!("content type {ct:?} needs a bytes or str value, not a JSON object"),
            )));
        }
        _ => {}
    }
    let py = obj.py();
    let kwargs = pyo3::types::PyDict::new(py);
    kwargs.set_item("ensure_ascii", false)?;
    kwargs.set_item("separators", (",", ":"))?;
    kwargs.set_item("allow_nan", false)?;
    match json_fn(py, &JSON_DUMPS, "dumps")?.call((obj,), Some(&kwargs)) {
        Ok(text) => Ok(Ok(Value::json_text(
            text.cast::<PyString>()?.to_str()?.as_bytes().to_vec(),
        ))),
        Err(e)
            if e.is_instance_of::<pyo3::exceptions::PyTypeError>(py)
                || e.is_instance_of::<pyo3::exceptions::PyValueError>(py) =>
        {
            Ok(Err(invalid(
                Rule::Json,
                format!("value is neither bytes nor JSON-serialisable: {e}"),
            )))
        }
        Err(e) => Err(e),
    }
}

/// A Python object as a JSON value (for patches): `json.dumps`, then parsed.
pub fn json_value(obj: &Bound<'_, PyAny>) -> PyResult<Outcome<serde_json::Value>> {
    let v = match value(obj, None)? {
        Ok(v) => v,
        Err(f) => return Ok(Err(f)),
    };
    Ok(serde_json::from_slice(&v.data).map_err(|e| invalid(Rule::Json, format!("not JSON: {e}"))))
}

/// Parse JSON bytes with Python's `json.loads`.
pub fn parse_json<'py>(
    py: Python<'py>,
    content_type: &str,
    data: &[u8],
) -> PyResult<Bound<'py, PyAny>> {
    if content_type != botstore::JSON {
        return crate::errors::raise(
            py,
            invalid(
                Rule::Json,
                format!("value has content type {content_type:?}, not JSON"),
            ),
        );
    }
    json_fn(py, &JSON_LOADS, "loads")?.call1((PyBytes::new(py, data),))
}

/// `if_version` / `if_absent` as one precondition (both at once is refused).
pub fn precondition(if_version: Option<u64>, if_absent: bool) -> Outcome<Precondition> {
    match (if_version, if_absent) {
        (Some(_), true) => Err(invalid(
            Rule::Range,
            "give if_version or if_absent, not both",
        )),
        (Some(v), false) => Ok(Precondition::IfVersion(botstore::Version(v))),
        (None, true) => Ok(Precondition::IfAbsent),
        (None, false) => Ok(Precondition::Any),
    }
}

/// Seconds as a duration: positive and finite.
pub fn seconds(s: f64, what: &str) -> Outcome<Duration> {
    if !(s.is_finite() && s > 0.0) || s > 1e12 {
        return Err(invalid(
            Rule::Ttl,
            format!("{what} must be a positive number of seconds, got {s}"),
        ));
    }
    Ok(Duration::from_secs_f64(s))
}

/// A write's `ttl`: seconds, or `"never"`.
#[derive(FromPyObject)]
pub enum TtlArg {
    Seconds(f64),
    Word(String),
}

/// `ttl=None` is the namespace's default; a number of seconds expires the item then;
/// `"never"` keeps it forever whatever the namespace's default.
pub fn ttl(ttl: Option<TtlArg>) -> Outcome<Ttl> {
    match ttl {
        None => Ok(Ttl::Default),
        Some(TtlArg::Seconds(s)) => seconds(s, "ttl").map(Ttl::After),
        Some(TtlArg::Word(w)) if w == "never" => Ok(Ttl::Never),
        Some(TtlArg::Word(w)) => Err(invalid(
            Rule::Ttl,
            format!("ttl {w:?}: give seconds or \"never\""),
        )),
    }
}

/// A namespace as a Python tuple of str.
pub fn ns_tuple<'py>(py: Python<'py>, ns: &Namespace) -> PyResult<Bound<'py, PyTuple>> {
    PyTuple::new(py, ns.segments())
}
