//! The client's error: a core [`botstore::Error`] when the server answered with a problem
//! document (so a remote caller sees the errors a local one would), or a transport or
//! protocol failure when it did not answer, or not in the API's terms.

use botstore::{BatchError, ErrorKind};
use botstore_api::Problem;

/// What can go wrong on a call.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    /// The server refused or failed the request: `error` is the core error the problem
    /// document stands for ([`Problem::into_error`]); `problem` is the document itself
    /// (`None` for the few errors the client finds before sending anything).
    #[error("{error}")]
    Store {
        error: botstore::Error,
        problem: Option<Box<Problem>>,
    },
    /// An atomic batch failed at `error.index`; nothing of it was written.
    #[error("{error}")]
    Batch {
        error: BatchError,
        problem: Option<Box<Problem>>,
    },
    /// The server could not be reached, or the connection failed or timed out.
    #[error("{0}")]
    Transport(String),
    /// The server answered something the API does not say it answers (a proxy's error
    /// page, a body that does not parse, a missing header).
    #[error("{0}")]
    Protocol(String),
}

impl ClientError {
    pub(crate) fn store(error: botstore::Error) -> Self {
        ClientError::Store {
            error,
            problem: None,
        }
    }

    pub(crate) fn from_problem(p: Problem) -> Self {
        let error = p.clone().into_error();
        ClientError::Store {
            error,
            problem: Some(Box::new(p)),
        }
    }

    /// The core error, for problem documents and batch failures.
    pub fn store_error(&self) -> Option<&botstore::Error> {
        match self {
            ClientError::Store { error, .. } => Some(error),
            ClientError::Batch { error, .. } => Some(&error.error),
            _ => None,
        }
    }

    /// The server's problem document, when there was one.
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            ClientError::Store { problem, .. } | ClientError::Batch { problem, .. } => {
                problem.as_deref()
            }
            _ => None,
        }
    }

    /// The class of the error, as for a local store: transport and protocol failures are
    /// `Internal`.
    pub fn kind(&self) -> ErrorKind {
        match self.store_error() {
            Some(e) => e.kind(),
            None => ErrorKind::Internal,
        }
    }

    /// An atomic batch's failure as the store reports it (`index` 0 for failures of the
    /// request as a whole).
    pub fn into_batch_error(self) -> BatchError {
        match self {
            ClientError::Batch { error, .. } => error,
            other => BatchError {
                index: 0,
                error: other.into(),
            },
        }
    }
}

impl ClientError {
    /// The core error this stands for, as [`botstore::StoreApi`] reports it: problem
    /// documents become the core errors they stand for, except refusals of the request
    /// by the server's HTTP layer ([`Problem::is_request_refusal`]), which become
    /// [`botstore::Error::Refused`] with their status, type and message
    /// (`server answered Unauthorized (401): ...`); transport and protocol failures
    /// become [`botstore::Error::Unavailable`] with the client's message.
    pub fn into_error(self) -> botstore::Error {
        match self {
            ClientError::Store {
                error,
                problem: Some(p),
            } if p.is_request_refusal() => botstore::Error::Refused {
                message: format!(
                    "server answered {} ({}): {}",
                    p.title,
                    p.status,
                    p.detail.as_deref().unwrap_or("")
                ),
                status: p.status,
                problem_type: p.type_.clone(),
                kind: error.kind(),
            },
            ClientError::Store { error, .. } => error,
            ClientError::Batch { error, .. } => error.error,
            ClientError::Transport(m) | ClientError::Protocol(m) => botstore::Error::Unavailable(m),
        }
    }
}

/// For code written against `botstore::Result`: transport and protocol failures become
/// `Error::Storage` (they are "the storage failed" from the caller's side), refusals the
/// nearest core error. [`ClientError::into_error`] keeps both apart.
impl From<ClientError> for botstore::Error {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Store { error, .. } => error,
            ClientError::Batch { error, .. } => error.error,
            ClientError::Transport(m) | ClientError::Protocol(m) => botstore::Error::Storage(m),
        }
    }
}
