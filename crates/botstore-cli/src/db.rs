//! Where the commands' data lives: the embedded store on `--data`, or a botstore server
//! (`--remote`). [`Db`] has the operations the commands need, with one signature for
//! both, so each command is written once; errors keep their class (a remote `412` is a
//! `PreconditionFailed` like a local one), which keeps exit codes the same.

use crate::exit::Failure;
use botstore::{
    BatchError, Change, Direction, ErrorKind, Item, Limits, Millis, Mutation, Namespace, Outcome,
    Page, Precondition, Scan, Store, StoreStats, StreamEntry, StreamInfo, TrimTo, Value, Version,
};
use botstore_api::ProblemType;
use botstore_client::{Client, ClientError, WriteOptions};
use std::time::{SystemTime, UNIX_EPOCH};

/// The store the commands work on.
#[derive(Clone)]
pub enum Db {
    Local(Store),
    Remote(Client),
}

/// What `compact` did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Compacted {
    pub expired_items: u64,
    pub forgotten_changes: u64,
    pub disk_bytes_before: Option<u64>,
    pub disk_bytes_after: Option<u64>,
}

/// A client error as the CLI reports it: store errors stay `botstore::Error` (their
/// kind picks the exit code); a server that cannot be reached, or answers nonsense, is
/// exit code 4 with the client's message ("cannot reach server at URL: ...").
pub fn remote_error(e: ClientError) -> anyhow::Error {
    match e {
        // Refusals of the HTTP layer (401, 403, 413, 429, ...) keep their class (exit 2
        // for most) but are told as what they are, not as a storage rule.
        ClientError::Store {
            error,
            problem: Some(p),
        } if p.is_request_refusal() => {
            let detail = p.detail.as_deref().unwrap_or("");
            let mut msg = format!("server answered {} ({}): {detail}", p.title, p.status);
            if p.kind() == Some(ProblemType::Unauthorized) {
                msg.push_str(" (give a token with --token or BOTSTORE_TOKEN)");
            }
            Failure::new(error.kind(), msg).into()
        }
        ClientError::Store { error, .. } => error.into(),
        ClientError::Batch { error, .. } => error.into(),
        ClientError::Transport(m) | ClientError::Protocol(m) => {
            Failure::new(ErrorKind::Internal, m).into()
        }
    }
}

fn wall_clock() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Db {
    /// The limits input is checked against before it is sent (import checks each line).
    /// A server's limits are not published; it runs with the defaults unless built
    /// otherwise, and it checks everything again anyway.
    pub fn limits(&self) -> Limits {
        match self {
            Db::Local(s) => s.limits().clone(),
            Db::Remote(_) => Limits::default(),
        }
    }

    /// The time, for times relative to now (`trim --older-than`).
    pub fn now(&self) -> Millis {
        match self {
            Db::Local(s) => s.now(),
            Db::Remote(_) => wall_clock(),
        }
    }

    pub async fn put(
        &self,
        ns: &Namespace,
        key: &str,
        value: Value,
        opts: WriteOptions,
    ) -> anyhow::Result<Version> {
        match self {
            Db::Local(s) => {
                let m = Mutation::Put {
                    ns: ns.clone(),
                    key: key.into(),
                    value,
                    precondition: opts.precondition,
                    ttl: opts.ttl,
                    subject: opts.subject,
                    fence: opts.fence,
                };
                let o = s.apply(m).await?;
                o.version().ok_or_else(|| {
                    botstore::Error::Storage(format!("unexpected outcome of a put: {o:?}")).into()
                })
            }
            Db::Remote(c) => c
                .put_with(ns, key, value, &opts)
                .await
                .map_err(remote_error),
        }
    }

    pub async fn get(&self, ns: &Namespace, key: &str) -> anyhow::Result<Option<Item>> {
        match self {
            Db::Local(s) => Ok(s.get(ns, key).await?),
            Db::Remote(c) => c.get(ns, key).await.map_err(remote_error),
        }
    }

    pub async fn delete(
        &self,
        ns: &Namespace,
        key: &str,
        pre: Precondition,
    ) -> anyhow::Result<bool> {
        match self {
            Db::Local(s) => Ok(s.delete(ns, key, pre).await?),
            Db::Remote(c) => c.delete(ns, key, pre).await.map_err(remote_error),
        }
    }

    pub async fn scan(&self, req: &Scan) -> anyhow::Result<Page<Item>> {
        match self {
            Db::Local(s) => Ok(s.scan(req).await?),
            Db::Remote(c) => c.scan(req).await.map_err(remote_error),
        }
    }

    pub async fn list_namespaces(
        &self,
        prefix: &Namespace,
        max_depth: Option<usize>,
        limit: usize,
        cursor: Option<&str>,
    ) -> anyhow::Result<Page<Namespace>> {
        match self {
            Db::Local(s) => Ok(s.list_namespaces(prefix, max_depth, limit, cursor).await?),
            Db::Remote(c) => c
                .list_namespaces(prefix, max_depth, limit, cursor)
                .await
                .map_err(remote_error),
        }
    }

    pub async fn append(
        &self,
        ns: &Namespace,
        stream: &str,
        entries: Vec<Value>,
        expected_last: Option<u64>,
    ) -> anyhow::Result<(u64, u64)> {
        match self {
            Db::Local(s) => Ok(s.append(ns, stream, entries, expected_last).await?),
            Db::Remote(c) => c
                .append(ns, stream, entries, expected_last)
                .await
                .map_err(remote_error),
        }
    }

    pub async fn stream_info(
        &self,
        ns: &Namespace,
        stream: &str,
    ) -> anyhow::Result<Option<StreamInfo>> {
        match self {
            Db::Local(s) => Ok(s.stream_info(ns, stream).await?),
            Db::Remote(c) => c.stream_info(ns, stream).await.map_err(remote_error),
        }
    }

    pub async fn read_stream(
        &self,
        ns: &Namespace,
        stream: &str,
        from: Option<u64>,
        dir: Direction,
        limit: usize,
    ) -> anyhow::Result<Vec<StreamEntry>> {
        match self {
            Db::Local(s) => Ok(s.read_stream(ns, stream, from, dir, limit).await?),
            Db::Remote(c) => c
                .read_stream(ns, stream, from, dir, limit)
                .await
                .map_err(remote_error),
        }
    }

    pub async fn trim(&self, ns: &Namespace, stream: &str, to: TrimTo) -> anyhow::Result<u64> {
        match self {
            Db::Local(s) => Ok(s.trim(ns, stream, to).await?),
            Db::Remote(c) => c.trim(ns, stream, to).await.map_err(remote_error),
        }
    }

    /// Up to `limit` changes above `since`, and the `since` that continues after them.
    /// (A server skips changes the token may not read, so its answer says where to go on.)
    pub async fn changes(&self, since: u64, limit: usize) -> anyhow::Result<(Vec<Change>, u64)> {
        match self {
            Db::Local(s) => {
                let list = s.changes(since, limit).await?;
                let next = list.last().map_or(since, |c| c.lsn);
                Ok((list, next))
            }
            Db::Remote(c) => {
                let page = c.changes(since, limit, None).await.map_err(remote_error)?;
                Ok((page.changes, page.next_since))
            }
        }
    }

    pub async fn stats(&self, prefix: &Namespace) -> anyhow::Result<StoreStats> {
        match self {
            Db::Local(s) => Ok(s.stats(prefix).await?),
            Db::Remote(c) => Ok(c.stats(prefix).await.map_err(remote_error)?.stats),
        }
    }

    /// Upkeep until there is nothing left to do (expired items, change records past
    /// retention), then a compaction.
    pub async fn compact(&self) -> anyhow::Result<Compacted> {
        let mut done = Compacted::default();
        match self {
            Db::Local(s) => {
                loop {
                    let m = s.maintain().await?;
                    done.expired_items += m.expired_items;
                    done.forgotten_changes += m.forgotten_changes;
                    if m == botstore::Maintenance::default() {
                        break;
                    }
                }
                let r = s.compact().await?;
                done.disk_bytes_before = r.disk_bytes_before;
                done.disk_bytes_after = r.disk_bytes_after;
            }
            Db::Remote(c) => {
                // One call is one upkeep pass and a compaction; go on while a pass finds
                // work, as the local loop does.
                for pass in 0.. {
                    let r = c.compact().await.map_err(remote_error)?;
                    done.expired_items += r.expired_items;
                    done.forgotten_changes += r.forgotten_changes;
                    if pass == 0 {
                        done.disk_bytes_before = Some(r.bytes_before);
                    }
                    done.disk_bytes_after = Some(r.bytes_after);
                    if (r.expired_items, r.forgotten_changes) == (0, 0) || pass >= 100 {
                        break;
                    }
                }
            }
        }
        Ok(done)
    }

    /// An atomic batch. The outer error is for the request as a whole (a server that
    /// cannot be reached, a refused token); the inner one names the failing mutation.
    pub async fn batch(
        &self,
        mutations: Vec<Mutation>,
    ) -> anyhow::Result<Result<Vec<Outcome>, BatchError>> {
        match self {
            Db::Local(s) => Ok(s.batch(mutations).await),
            Db::Remote(c) => match c.batch(mutations).await {
                Ok(o) => Ok(Ok(o)),
                Err(ClientError::Batch { error, .. }) => Ok(Err(error)),
                Err(e) => Err(remote_error(e)),
            },
        }
    }

    /// A page of the streams under `prefix` (every depth).
    pub async fn list_streams(
        &self,
        prefix: &Namespace,
        limit: usize,
        cursor: Option<&str>,
    ) -> anyhow::Result<Page<(Namespace, String)>> {
        match self {
            Db::Local(s) => Ok(s.list_streams(prefix, limit, cursor).await?),
            Db::Remote(c) => c
                .list_streams(prefix, limit, cursor)
                .await
                .map_err(remote_error),
        }
    }
}
