//! Exit codes and how errors are reported.
//!
//! The exit code comes from the first [`botstore::Error`] (or [`Failure`], an error the CLI
//! itself raises) found in the error's chain, by [`botstore::Error::kind`]:
//! 0 ok, 1 not found, 2 bad input, 3 precondition failed, 4 anything else.

use botstore::{BatchError, ErrorKind};
use botstore_api::ProblemType;
use botstore_client::ClientError;
use std::fmt;

/// An error the CLI raises itself (a missing item, a bad import line, ...) with the class
/// that picks its exit code.
#[derive(Debug)]
pub struct Failure {
    pub kind: ErrorKind,
    pub message: String,
}

impl Failure {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Failure {
            kind,
            message: message.into(),
        }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidInput, message)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

pub fn code(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::NotFound => 1,
        ErrorKind::InvalidInput => 2,
        ErrorKind::Conflict => 3,
        ErrorKind::Internal => 4,
    }
}

pub fn kind_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::NotFound => "not_found",
        ErrorKind::InvalidInput => "invalid_input",
        ErrorKind::Conflict => "conflict",
        ErrorKind::Internal => "internal",
    }
}

/// The class of an error: that of the outermost botstore error or [`Failure`] in its chain,
/// `Internal` when there is none (I/O errors and the like).
pub fn kind_of(err: &anyhow::Error) -> ErrorKind {
    for e in err.chain() {
        if let Some(f) = e.downcast_ref::<Failure>() {
            return f.kind;
        }
        if let Some(b) = e.downcast_ref::<botstore::Error>() {
            return b.kind();
        }
        if let Some(b) = e.downcast_ref::<BatchError>() {
            return b.error.kind();
        }
    }
    ErrorKind::Internal
}

/// A client error as the CLI reports it: the core error it stands for. A server that
/// cannot be reached, or answers nonsense, is `Error::Unavailable` (exit code 4, "cannot
/// reach server at URL: ..."); a refusal of the HTTP layer is `Error::Refused` (its kind,
/// exit 2 for most, told as what it is: "server answered Unauthorized (401): ...").
pub fn remote_error(e: ClientError) -> anyhow::Error {
    e.into_error().into()
}

/// What to do about an error, when the CLI knows: a server that wants a token.
fn hint(err: &anyhow::Error) -> Option<&'static str> {
    let refused = err.chain().find_map(|e| {
        e.downcast_ref::<botstore::Error>()
            .or_else(|| e.downcast_ref::<BatchError>().map(|b| &b.error))
    })?;
    match refused {
        botstore::Error::Refused { problem_type, .. }
            if ProblemType::from_uri(problem_type) == Some(ProblemType::Unauthorized) =>
        {
            Some(" (give a token with --token or BOTSTORE_TOKEN)")
        }
        _ => None,
    }
}

/// The message of an error as the CLI prints it: the whole chain, and a hint when there
/// is one.
pub fn message(err: &anyhow::Error) -> String {
    let mut m = format!("{err:#}");
    if let Some(h) = hint(err) {
        m.push_str(h);
    }
    m
}

/// True when the error is a closed stdout (`botstore export | head`): not worth a message.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Print the error to stderr (as JSON with `--json`) and return its exit code.
pub fn report(err: &anyhow::Error, json: bool) -> u8 {
    let kind = kind_of(err);
    let code = code(kind);
    let message = message(err);
    if json {
        let doc = serde_json::json!({
            "error": message,
            "kind": kind_name(kind),
            "exit_code": code,
        });
        eprintln!("{doc}");
    } else {
        eprintln!("error: {message}");
    }
    code
}
