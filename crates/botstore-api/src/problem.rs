//! RFC 9457 problem documents. Every error response of the API is one, with a stable
//! `type` per error kind (`urn:botstore:problem:<name>`) so that clients branch on the
//! type, never on the human-readable `title` or `detail`.

use botstore::{Error, Rule, Version};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The kinds of problem the API reports. The name (and so the `type` URI) is stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemType {
    /// 404: the item, stream or lease does not exist (or has expired).
    NotFound,
    /// 400: the input broke a storage rule (`rule` names it); nothing was written.
    InvalidInput,
    /// 400: the request itself could not be read (bad JSON, bad UTF-8, bad header).
    MalformedRequest,
    /// 412: an `If-Match` / `If-None-Match` precondition did not hold.
    PreconditionFailed,
    /// 409: a stream append named the wrong expected last sequence.
    SequenceMismatch,
    /// 409: another holder has the lease.
    LeaseHeld,
    /// 409: a fencing token is stale.
    StaleFence,
    /// 409: a JSON Patch did not apply.
    PatchFailed,
    /// 401: no token, or a token that is unknown, revoked or expired.
    Unauthorized,
    /// 403: the token's scopes do not cover this namespace and permission.
    Forbidden,
    /// 404: no such endpoint.
    UnknownEndpoint,
    /// 405: the endpoint does not take this method.
    MethodNotAllowed,
    /// 413: the body is larger than the server's limit.
    PayloadTooLarge,
    /// 415: the body's content type is not one the endpoint takes.
    UnsupportedMediaType,
    /// 408: the request body did not arrive in time.
    RequestTimeout,
    /// 429: the token's request rate is over its limit.
    RateLimited,
    /// 500: stored bytes did not decode (a bug or disk corruption).
    Corrupt,
    /// 500: the storage engine or the disk failed.
    Storage,
    /// 503: the store is closed or shutting down.
    Unavailable,
    /// 507: the disk is full; the write was not made (reads go on).
    InsufficientStorage,
    /// 503: the store is open for reading only; the write was not made.
    ReadOnly,
    /// 409: revoking this token would leave no live admin token (nobody could manage
    /// tokens over the API any more); nothing was changed.
    LastAdminToken,
}

pub const TYPE_PREFIX: &str = "urn:botstore:problem:";

impl ProblemType {
    pub const ALL: [ProblemType; 22] = [
        ProblemType::NotFound,
        ProblemType::InvalidInput,
        ProblemType::MalformedRequest,
        ProblemType::PreconditionFailed,
        ProblemType::SequenceMismatch,
        ProblemType::LeaseHeld,
        ProblemType::StaleFence,
        ProblemType::PatchFailed,
        ProblemType::Unauthorized,
        ProblemType::Forbidden,
        ProblemType::UnknownEndpoint,
        ProblemType::MethodNotAllowed,
        ProblemType::PayloadTooLarge,
        ProblemType::UnsupportedMediaType,
        ProblemType::RequestTimeout,
        ProblemType::RateLimited,
        ProblemType::Corrupt,
        ProblemType::Storage,
        ProblemType::Unavailable,
        ProblemType::InsufficientStorage,
        ProblemType::ReadOnly,
        ProblemType::LastAdminToken,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ProblemType::NotFound => "not-found",
            ProblemType::InvalidInput => "invalid-input",
            ProblemType::MalformedRequest => "malformed-request",
            ProblemType::PreconditionFailed => "precondition-failed",
            ProblemType::SequenceMismatch => "sequence-mismatch",
            ProblemType::LeaseHeld => "lease-held",
            ProblemType::StaleFence => "stale-fence",
            ProblemType::PatchFailed => "patch-failed",
            ProblemType::Unauthorized => "unauthorized",
            ProblemType::Forbidden => "forbidden",
            ProblemType::UnknownEndpoint => "unknown-endpoint",
            ProblemType::MethodNotAllowed => "method-not-allowed",
            ProblemType::PayloadTooLarge => "payload-too-large",
            ProblemType::UnsupportedMediaType => "unsupported-media-type",
            ProblemType::RequestTimeout => "request-timeout",
            ProblemType::RateLimited => "rate-limited",
            ProblemType::Corrupt => "corrupt",
            ProblemType::Storage => "storage",
            ProblemType::Unavailable => "unavailable",
            ProblemType::InsufficientStorage => "insufficient-storage",
            ProblemType::ReadOnly => "read-only",
            ProblemType::LastAdminToken => "last-admin-token",
        }
    }

    pub fn status(self) -> u16 {
        match self {
            ProblemType::NotFound | ProblemType::UnknownEndpoint => 404,
            ProblemType::InvalidInput | ProblemType::MalformedRequest => 400,
            ProblemType::PreconditionFailed => 412,
            ProblemType::SequenceMismatch
            | ProblemType::LeaseHeld
            | ProblemType::StaleFence
            | ProblemType::PatchFailed
            | ProblemType::LastAdminToken => 409,
            ProblemType::Unauthorized => 401,
            ProblemType::Forbidden => 403,
            ProblemType::MethodNotAllowed => 405,
            ProblemType::PayloadTooLarge => 413,
            ProblemType::UnsupportedMediaType => 415,
            ProblemType::RequestTimeout => 408,
            ProblemType::RateLimited => 429,
            ProblemType::Corrupt | ProblemType::Storage => 500,
            ProblemType::Unavailable | ProblemType::ReadOnly => 503,
            ProblemType::InsufficientStorage => 507,
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            ProblemType::NotFound => "Not found",
            ProblemType::InvalidInput => "Invalid input",
            ProblemType::MalformedRequest => "Malformed request",
            ProblemType::PreconditionFailed => "Precondition failed",
            ProblemType::SequenceMismatch => "Stream sequence mismatch",
            ProblemType::LeaseHeld => "Lease is held",
            ProblemType::StaleFence => "Stale fencing token",
            ProblemType::PatchFailed => "Patch failed",
            ProblemType::Unauthorized => "Unauthorized",
            ProblemType::Forbidden => "Forbidden",
            ProblemType::UnknownEndpoint => "Unknown endpoint",
            ProblemType::MethodNotAllowed => "Method not allowed",
            ProblemType::PayloadTooLarge => "Payload too large",
            ProblemType::UnsupportedMediaType => "Unsupported media type",
            ProblemType::RequestTimeout => "Request timeout",
            ProblemType::RateLimited => "Rate limited",
            ProblemType::Corrupt => "Corrupt data",
            ProblemType::Storage => "Storage error",
            ProblemType::Unavailable => "Unavailable",
            ProblemType::InsufficientStorage => "Insufficient storage",
            ProblemType::ReadOnly => "Read-only",
            ProblemType::LastAdminToken => "Last admin token",
        }
    }

    /// The `type` URI.
    pub fn uri(self) -> String {
        format!("{TYPE_PREFIX}{}", self.name())
    }

    pub fn from_uri(uri: &str) -> Option<ProblemType> {
        let name = uri.strip_prefix(TYPE_PREFIX)?;
        ProblemType::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// An RFC 9457 problem document, with botstore's extension members.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Problem {
    /// `urn:botstore:problem:<name>`; stable, branch on this.
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The request id of the request that failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// invalid-input: the rule that was broken (`key.length`, `value.json`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// precondition-failed: the item's current version (absent: the item does not exist).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_version: Option<u64>,
    /// sequence-mismatch: the sequence the request expected and the stream's last one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_seq: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_seq: Option<u64>,
    /// lease-held: who holds the lease and until when (ms since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// stale-fence: the token presented and the lease's current one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presented_token: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_token: Option<u64>,
    /// Atomic batches: the index of the mutation that failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
}

impl Problem {
    pub fn new(t: ProblemType, detail: impl Into<String>) -> Problem {
        Problem {
            type_: t.uri(),
            title: t.title().into(),
            status: t.status(),
            detail: Some(detail.into()),
            instance: None,
            rule: None,
            current_version: None,
            expected_seq: None,
            current_seq: None,
            holder: None,
            expires_at: None,
            presented_token: None,
            current_token: None,
            index: None,
        }
    }

    pub fn kind(&self) -> Option<ProblemType> {
        ProblemType::from_uri(&self.type_)
    }

    /// A refusal of the request rather than of the data (401, 403, 413, 429, 503, a
    /// malformed request, or a type this version does not know): no core error stands
    /// for it, so clients report it as what it is, with its status.
    pub fn is_request_refusal(&self) -> bool {
        use ProblemType::*;
        match self.kind() {
            None => true,
            Some(k) => matches!(
                k,
                MalformedRequest
                    | Unauthorized
                    | Forbidden
                    | UnknownEndpoint
                    | MethodNotAllowed
                    | PayloadTooLarge
                    | UnsupportedMediaType
                    | RequestTimeout
                    | RateLimited
                    | Unavailable
                    | LastAdminToken
            ),
        }
    }

    /// The problem a core error maps to.
    pub fn from_error(e: &Error) -> Problem {
        let t = match e {
            Error::NotFound { .. } => ProblemType::NotFound,
            Error::InvalidInput { .. } => ProblemType::InvalidInput,
            Error::PreconditionFailed { .. } => ProblemType::PreconditionFailed,
            Error::SequenceMismatch { .. } => ProblemType::SequenceMismatch,
            Error::LeaseHeld { .. } => ProblemType::LeaseHeld,
            Error::StaleFence { .. } => ProblemType::StaleFence,
            Error::PatchFailed(_) => ProblemType::PatchFailed,
            Error::Corrupt(_) => ProblemType::Corrupt,
            Error::Storage(_) => ProblemType::Storage,
            Error::Closed(_) => ProblemType::Unavailable,
            Error::NoSpace(_) => ProblemType::InsufficientStorage,
            Error::ReadOnly(_) => ProblemType::ReadOnly,
            // A store that is itself remote (a server in front of a client): its
            // refusal travels on as it came, its transport failure as unavailable.
            Error::Refused {
                status,
                problem_type,
                message,
                ..
            } => {
                let mut pr = Problem::new(ProblemType::Unavailable, message.clone());
                pr.type_ = problem_type.clone();
                pr.status = *status;
                pr.title = ProblemType::from_uri(problem_type)
                    .map_or_else(|| "Refused".into(), |k| k.title().into());
                return pr;
            }
            Error::Unavailable(_) => ProblemType::Unavailable,
        };
        let mut pr = Problem::new(t, e.to_string());
        match e {
            Error::InvalidInput { rule, .. } => pr.rule = Some(rule.to_string()),
            Error::PreconditionFailed { current } => pr.current_version = current.map(|v| v.0),
            Error::SequenceMismatch { expected, current } => {
                pr.expected_seq = Some(*expected);
                pr.current_seq = Some(*current);
            }
            Error::LeaseHeld {
                holder,
                expires_at_ms,
            } => {
                pr.holder = Some(holder.clone());
                pr.expires_at = Some(*expires_at_ms);
            }
            Error::StaleFence { presented, current } => {
                pr.presented_token = Some(*presented);
                pr.current_token = *current;
            }
            _ => {}
        }
        pr
    }

    /// The core error a problem stands for, so that a remote caller sees the same
    /// errors (and the CLI the same exit codes) as a local one. Problems of the HTTP
    /// layer map to the nearest kind: 401/403/413/415/400 → invalid input, 429/503 →
    /// closed, everything else → storage.
    pub fn into_error(self) -> Error {
        let detail = self.detail.clone().unwrap_or_else(|| self.title.clone());
        let strip = |d: &str, prefix: &str| d.strip_prefix(prefix).unwrap_or(d).to_string();
        match self.kind() {
            Some(ProblemType::NotFound) => Error::NotFound {
                what: strip(&detail, "not found: "),
            },
            Some(ProblemType::InvalidInput) => {
                let rule = self
                    .rule
                    .as_deref()
                    .and_then(rule_from_name)
                    .unwrap_or(Rule::Limit);
                let prefix = format!("invalid input ({rule}): ");
                Error::InvalidInput {
                    rule,
                    detail: strip(&detail, &prefix),
                }
            }
            Some(ProblemType::PreconditionFailed) => Error::PreconditionFailed {
                current: self.current_version.map(Version),
            },
            Some(ProblemType::SequenceMismatch) => Error::SequenceMismatch {
                expected: self.expected_seq.unwrap_or(0),
                current: self.current_seq.unwrap_or(0),
            },
            Some(ProblemType::LeaseHeld) => Error::LeaseHeld {
                holder: self.holder.unwrap_or_default(),
                expires_at_ms: self.expires_at.unwrap_or(0),
            },
            Some(ProblemType::StaleFence) => Error::StaleFence {
                presented: self.presented_token.unwrap_or(0),
                current: self.current_token,
            },
            Some(ProblemType::PatchFailed) => Error::PatchFailed(strip(&detail, "patch failed: ")),
            Some(ProblemType::Corrupt) => Error::Corrupt(strip(&detail, "corrupt data: ")),
            Some(ProblemType::InsufficientStorage) => {
                Error::NoSpace(strip(&detail, "no space left: "))
            }
            Some(ProblemType::ReadOnly) => Error::ReadOnly(strip(&detail, "store is read-only: ")),
            Some(ProblemType::Unavailable) | Some(ProblemType::RateLimited) => {
                Error::Closed(format!("server: {detail}"))
            }
            Some(
                ProblemType::MalformedRequest
                | ProblemType::Unauthorized
                | ProblemType::Forbidden
                | ProblemType::PayloadTooLarge
                | ProblemType::UnsupportedMediaType
                | ProblemType::UnknownEndpoint
                | ProblemType::MethodNotAllowed
                | ProblemType::RequestTimeout
                | ProblemType::LastAdminToken,
            ) => Error::InvalidInput {
                rule: Rule::Limit,
                detail: format!("{} ({}): {detail}", self.title, self.status),
            },
            Some(ProblemType::Storage) | None => {
                Error::Storage(format!("server said {}: {detail}", self.status))
            }
        }
    }
}

/// The inverse of `Rule`'s `Display`.
pub fn rule_from_name(name: &str) -> Option<Rule> {
    Rule::from_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_core_error_survives_the_round_trip() {
        let errors = vec![
            Error::NotFound {
                what: "item a/k".into(),
            },
            Error::InvalidInput {
                rule: Rule::KeyLength,
                detail: "2000 bytes, at most 1024".into(),
            },
            Error::PreconditionFailed {
                current: Some(Version(7)),
            },
            Error::PreconditionFailed { current: None },
            Error::SequenceMismatch {
                expected: 3,
                current: 5,
            },
            Error::LeaseHeld {
                holder: "w1".into(),
                expires_at_ms: 99,
            },
            Error::StaleFence {
                presented: 1,
                current: Some(2),
            },
            Error::PatchFailed("test failed".into()),
            Error::Corrupt("bad".into()),
            Error::NoSpace("journal write failed".into()),
            Error::ReadOnly("opened on a full disk".into()),
        ];
        for e in errors {
            let p = Problem::from_error(&e);
            let json = serde_json::to_string(&p).unwrap();
            let back: Problem = serde_json::from_str(&json).unwrap();
            assert_eq!(back.into_error(), e, "{json}");
        }
    }

    #[test]
    fn type_names_are_unique_and_parse_back() {
        for t in ProblemType::ALL {
            assert_eq!(ProblemType::from_uri(&t.uri()), Some(t));
        }
    }
}
