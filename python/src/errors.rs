//! Core and client errors as the Python exceptions of `botstore.errors`, so an embedded
//! store and a remote one fail the same way (`PreconditionFailed.current`, ...).

use botstore::{BatchError, Error};
use botstore_client::ClientError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyModule;

/// A failure on its way to Python: built without the GIL (on a runtime thread), turned
/// into the exception with it.
#[derive(Debug, Clone)]
pub enum Failure {
    Store(Error),
    /// An atomic batch failed at this index; nothing of it was written.
    Batch(BatchError),
    /// A refusal of the request by the server (401, 403, 429, ...), not of the data.
    Refused {
        message: String,
        status: u16,
        problem_type: String,
    },
    Transport(String),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        match e {
            Error::Refused {
                message,
                status,
                problem_type,
                ..
            } => Failure::Refused {
                message,
                status,
                problem_type,
            },
            Error::Unavailable(m) => Failure::Transport(m),
            e => Failure::Store(e),
        }
    }
}

impl From<BatchError> for Failure {
    fn from(e: BatchError) -> Self {
        // A remote request refused or lost as a whole names no mutation.
        if e.error.is_request_failure() {
            return Failure::from(e.error);
        }
        Failure::Batch(e)
    }
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        Failure::from(e.into_error())
    }
}

pub type Outcome<T> = Result<T, Failure>;

static ERRORS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

fn class<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
    let m = ERRORS.get_or_try_init(py, || {
        Ok::<_, PyErr>(PyModule::import(py, "botstore.errors")?.unbind())
    })?;
    m.bind(py).getattr(name)
}

fn exception<'py, A>(py: Python<'py>, name: &str, args: A) -> PyErr
where
    A: pyo3::call::PyCallArgs<'py>,
{
    match class(py, name).and_then(|c| c.call1(args)) {
        Ok(e) => PyErr::from_value(e),
        Err(e) => e,
    }
}

fn store_error(py: Python<'_>, e: &Error) -> PyErr {
    let msg = e.to_string();
    match e {
        Error::NotFound { .. } => exception(py, "NotFound", (msg,)),
        Error::InvalidInput { rule, detail } => {
            exception(py, "InvalidInput", (msg, rule.to_string(), detail.clone()))
        }
        Error::PreconditionFailed { current } => {
            exception(py, "PreconditionFailed", (msg, current.map(|v| v.0)))
        }
        Error::SequenceMismatch { expected, current } => {
            exception(py, "SequenceMismatch", (msg, *expected, *current))
        }
        Error::LeaseHeld {
            holder,
            expires_at_ms,
        } => exception(py, "LeaseHeld", (msg, holder.clone(), *expires_at_ms)),
        Error::StaleFence { presented, current } => {
            exception(py, "StaleFence", (msg, *presented, *current))
        }
        Error::PatchFailed(_) => exception(py, "PatchFailed", (msg,)),
        Error::Corrupt(_)
        | Error::Storage(_)
        | Error::Closed(_)
        | Error::NoSpace(_)
        | Error::ReadOnly(_) => exception(py, "StorageError", (msg,)),
        Error::Refused {
            status,
            problem_type,
            ..
        } => exception(py, "RemoteError", (msg, *status, problem_type.clone())),
        Error::Unavailable(_) => exception(py, "TransportError", (msg,)),
    }
}

impl Failure {
    /// The core error a failure found before sending stands for.
    pub fn into_store_error(self) -> Error {
        match self {
            Failure::Store(e) => e,
            Failure::Batch(b) => b.error,
            f => Error::Storage(format!("{f:?}")),
        }
    }

    pub fn into_pyerr(self, py: Python<'_>) -> PyErr {
        match self {
            Failure::Store(e) => store_error(py, &e),
            Failure::Batch(b) => {
                let err = store_error(py, &b.error);
                // Which mutation failed: `e.index` beside the error's own attributes.
                let _ = err.value(py).setattr("index", b.index);
                err
            }
            Failure::Refused {
                message,
                status,
                problem_type,
            } => exception(py, "RemoteError", (message, status, problem_type)),
            Failure::Transport(m) => exception(py, "TransportError", (m,)),
        }
    }
}

/// `InvalidInput` for an argument the binding itself refuses (wrong type, bad option).
pub fn invalid(rule: botstore::Rule, detail: impl Into<String>) -> Failure {
    Failure::Store(Error::InvalidInput {
        rule,
        detail: detail.into(),
    })
}

/// A Python exception for a [`Failure`] found while still holding the GIL.
pub fn raise<T>(py: Python<'_>, f: Failure) -> PyResult<T> {
    Err(f.into_pyerr(py))
}
