//! The change feed: `GET /v1/changes` as a (long-polled) page, or with
//! `Accept: text/event-stream` as Server-Sent Events. Changes the token may not read are
//! skipped; waits end when the server starts shutting down.

use crate::auth::Caller;
use crate::problem::ApiError;
use crate::state::Shared;
use axum::extract::State;
use axum::http::{header, HeaderMap, Uri};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use botstore::Change;
use botstore_api::wire::{ChangeOut, ChangesPage, Perm};
use serde::Deserialize;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangesQuery {
    pub since: Option<u64>,
    pub limit: Option<usize>,
    pub wait: Option<String>,
}

fn visible(caller: &Caller, c: &Change) -> bool {
    caller.may(Perm::Read, ChangeOut::namespace(c))
}

/// Up to `limit` visible changes after `since`, reading past invisible ones; and the
/// LSN to continue from.
async fn page(
    s: &Shared,
    caller: &Caller,
    since: u64,
    limit: usize,
) -> Result<(Vec<Change>, u64), ApiError> {
    let mut out = Vec::new();
    let mut next = since;
    loop {
        let batch = s.store.changes(next, limit).await?;
        let done = batch.len() < limit;
        for c in batch {
            next = c.lsn;
            if visible(caller, &c) {
                out.push(c);
                if out.len() == limit {
                    return Ok((out, next));
                }
            }
        }
        if done {
            return Ok((out, next));
        }
    }
}

pub async fn changes(
    State(s): State<Shared>,
    caller: Caller,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    caller.need_some_under(Perm::Read, &botstore::Namespace::root())?;
    let q: ChangesQuery = crate::extract::query(&uri)?;
    let limit = q.limit.unwrap_or(100);
    s.store.limits().check_page(limit)?;
    let wants_sse = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/event-stream"));
    // A Last-Event-ID that is no LSN is refused, not ignored: reading from 0 instead
    // would replay the whole feed to a client that meant to resume.
    let last_event_id = headers
        .get("last-event-id")
        .map(|v| {
            v.to_str()
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| ApiError::malformed("Last-Event-ID is not an LSN (a number)"))
        })
        .transpose()?;
    let since = last_event_id.or(q.since).unwrap_or(0);
    if wants_sse {
        return Ok(sse(s, caller, since).into_response());
    }
    let wait = match q.wait.as_deref() {
        None => Duration::ZERO,
        Some(w) => botstore::parse_duration(w)?.min(s.settings.long_poll_max),
    };
    // Subscribe before reading, so a commit between the read and the wait still wakes us.
    let mut commits = s.store.commits();
    let mut shutdown = s.shutdown.clone();
    let deadline = tokio::time::Instant::now() + wait;
    let (changes, next_since) = loop {
        let (changes, next) = page(&s, &caller, since, limit).await?;
        if !changes.is_empty() || wait.is_zero() || *shutdown.borrow() {
            break (changes, next);
        }
        tokio::select! {
            r = commits.changed() => if r.is_err() { break (changes, next) },
            _ = shutdown.changed() => break (changes, next),
            _ = tokio::time::sleep_until(deadline) => break (changes, next),
        }
        if tokio::time::Instant::now() >= deadline {
            break page(&s, &caller, since, limit).await?;
        }
    };
    let last_lsn = s.store.last_lsn().await?;
    Ok(Json(ChangesPage {
        changes: changes.iter().map(ChangeOut::from_change).collect(),
        next_since,
        last_lsn,
    })
    .into_response())
}

struct Follow {
    s: Shared,
    caller: Arc<Caller>,
    since: u64,
    buf: VecDeque<Change>,
    commits: tokio::sync::watch::Receiver<u64>,
    shutdown: tokio::sync::watch::Receiver<bool>,
}

fn sse(s: Shared, caller: Caller, since: u64) -> impl IntoResponse {
    let st = Follow {
        commits: s.store.commits(),
        shutdown: s.shutdown.clone(),
        s,
        caller: Arc::new(caller),
        since,
        buf: VecDeque::new(),
    };
    let stream = futures::stream::unfold(st, |mut st| async move {
        loop {
            if let Some(c) = st.buf.pop_front() {
                let data = serde_json::to_string(&ChangeOut::from_change(&c)).unwrap_or_default();
                let ev = Event::default()
                    .event("change")
                    .id(c.lsn.to_string())
                    .data(data);
                return Some((Ok::<_, std::convert::Infallible>(ev), st));
            }
            if *st.shutdown.borrow() {
                return None;
            }
            match page(&st.s, &st.caller, st.since, 256).await {
                Ok((changes, next)) => {
                    st.since = next;
                    if !changes.is_empty() {
                        st.buf.extend(changes);
                        continue;
                    }
                }
                Err(e) => {
                    let msg = e.0.detail.clone().unwrap_or_default();
                    tracing::warn!(error = %msg, "change-feed event stream ended");
                    let ev = Event::default().event("error").data(msg);
                    st.shutdown = {
                        // End after this event.
                        let (tx, rx) = tokio::sync::watch::channel(true);
                        drop(tx);
                        rx
                    };
                    return Some((Ok(ev), st));
                }
            }
            tokio::select! {
                r = st.commits.changed() => if r.is_err() { return None },
                _ = st.shutdown.changed() => return None,
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
