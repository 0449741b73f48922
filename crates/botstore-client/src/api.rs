//! [`botstore::StoreApi`] for [`Client`]: the trait's operations over HTTP, each sent to
//! its own endpoint, with [`ClientError`]s turned into core errors by
//! [`ClientError::into_error`].

use crate::client::Client;
use crate::error::ClientError;
use botstore::{
    BatchError, ChangePage, Compacted, Direction, Fence, Item, Lease, Limits, Millis, Mutation,
    Namespace, Outcome, Page, PatchOp, Precondition, Result, Scan, StoreApi, StoreStats,
    StreamEntry, StreamInfo, TrimTo, Value, Version, WriteOptions,
};
use futures::future::BoxFuture;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn core<T>(r: std::result::Result<T, ClientError>) -> Result<T> {
    r.map_err(ClientError::into_error)
}

impl StoreApi for Client {
    /// A server's limits are not published; it runs with the defaults unless built
    /// otherwise, and it checks everything again anyway.
    fn limits(&self) -> Limits {
        Limits::default()
    }

    /// This machine's wall clock (the server stamps writes with its own).
    fn now(&self) -> Millis {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    }

    /// Single puts and deletes go as `PUT` / `DELETE` on the item: the value travels as
    /// the raw body (no base64, no JSON escaping), so a value up to the store's limit fits
    /// the server's body limit. Everything else is a batch of one.
    fn apply(&self, m: Mutation) -> BoxFuture<'_, Result<Outcome>> {
        Box::pin(async move {
            match m {
                Mutation::Put {
                    ns,
                    key,
                    value,
                    precondition,
                    ttl,
                    subject,
                    fence,
                } => {
                    let opts = WriteOptions {
                        precondition,
                        ttl,
                        subject,
                        fence,
                    };
                    let version = core(Client::put_with(self, &ns, &key, value, &opts).await)?;
                    Ok(Outcome::Written { version })
                }
                Mutation::Delete {
                    ns,
                    key,
                    precondition,
                    fence,
                } => {
                    let existed = core(
                        Client::delete_with(self, &ns, &key, precondition, fence.as_ref()).await,
                    )?;
                    Ok(Outcome::Deleted { existed })
                }
                m => core(Client::apply(self, m).await),
            }
        })
    }

    fn batch(&self, mutations: Vec<Mutation>) -> BoxFuture<'_, Result<Vec<Outcome>, BatchError>> {
        Box::pin(async move {
            Client::batch(self, mutations).await.map_err(|e| match e {
                ClientError::Batch { error, .. } => error,
                other => BatchError {
                    index: 0,
                    error: other.into_error(),
                },
            })
        })
    }

    fn write_many(&self, mutations: Vec<Mutation>) -> BoxFuture<'_, Result<Vec<Result<Outcome>>>> {
        Box::pin(async move { core(Client::write_many(self, mutations).await) })
    }

    fn put_with<'a>(
        &'a self,
        ns: &'a Namespace,
        key: &'a str,
        value: Value,
        opts: WriteOptions,
    ) -> BoxFuture<'a, Result<Version>> {
        Box::pin(async move { core(Client::put_with(self, ns, key, value, &opts).await) })
    }

    fn delete_with<'a>(
        &'a self,
        ns: &'a Namespace,
        key: &'a str,
        pre: Precondition,
        fence: Option<&'a Fence>,
    ) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move { core(Client::delete_with(self, ns, key, pre, fence).await) })
    }

    fn patch_with<'a>(
        &'a self,
        ns: &'a Namespace,
        key: &'a str,
        patch: PatchOp,
        pre: Precondition,
        fence: Option<&'a Fence>,
    ) -> BoxFuture<'a, Result<Version>> {
        Box::pin(async move { core(Client::patch_with(self, ns, key, patch, pre, fence).await) })
    }

    fn append<'a>(
        &'a self,
        ns: &'a Namespace,
        stream: &'a str,
        entries: Vec<Value>,
        expected_last: Option<u64>,
    ) -> BoxFuture<'a, Result<(u64, u64)>> {
        Box::pin(
            async move { core(Client::append(self, ns, stream, entries, expected_last).await) },
        )
    }

    fn trim<'a>(
        &'a self,
        ns: &'a Namespace,
        stream: &'a str,
        to: TrimTo,
    ) -> BoxFuture<'a, Result<u64>> {
        Box::pin(async move { core(Client::trim(self, ns, stream, to).await) })
    }

    fn delete_stream<'a>(
        &'a self,
        ns: &'a Namespace,
        stream: &'a str,
    ) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move { core(Client::delete_stream(self, ns, stream).await) })
    }

    fn acquire_lease<'a>(
        &'a self,
        ns: &'a Namespace,
        name: &'a str,
        holder: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Lease>> {
        Box::pin(async move { core(Client::acquire_lease(self, ns, name, holder, ttl).await) })
    }

    fn renew_lease<'a>(
        &'a self,
        ns: &'a Namespace,
        name: &'a str,
        token: u64,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Lease>> {
        Box::pin(async move { core(Client::renew_lease(self, ns, name, token, ttl).await) })
    }

    fn release_lease<'a>(
        &'a self,
        ns: &'a Namespace,
        name: &'a str,
        token: u64,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move { core(Client::release_lease(self, ns, name, token).await) })
    }

    fn set_namespace_ttl<'a>(
        &'a self,
        prefix: &'a Namespace,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move { core(Client::set_namespace_ttl(self, prefix, ttl).await) })
    }

    fn get<'a>(&'a self, ns: &'a Namespace, key: &'a str) -> BoxFuture<'a, Result<Option<Item>>> {
        Box::pin(async move { core(Client::get(self, ns, key).await) })
    }

    fn get_many<'a>(
        &'a self,
        keys: &'a [(Namespace, String)],
    ) -> BoxFuture<'a, Result<Vec<Option<Item>>>> {
        Box::pin(async move { core(Client::get_many(self, keys).await) })
    }

    fn scan<'a>(&'a self, req: &'a Scan) -> BoxFuture<'a, Result<Page<Item>>> {
        Box::pin(async move { core(Client::scan(self, req).await) })
    }

    fn list_namespaces<'a>(
        &'a self,
        prefix: &'a Namespace,
        max_depth: Option<usize>,
        limit: usize,
        cursor: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Page<Namespace>>> {
        Box::pin(async move {
            core(Client::list_namespaces(self, prefix, max_depth, limit, cursor).await)
        })
    }

    fn list_streams<'a>(
        &'a self,
        prefix: &'a Namespace,
        limit: usize,
        cursor: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Page<(Namespace, String)>>> {
        Box::pin(async move { core(Client::list_streams(self, prefix, limit, cursor).await) })
    }

    fn read_stream<'a>(
        &'a self,
        ns: &'a Namespace,
        stream: &'a str,
        from: Option<u64>,
        dir: Direction,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<StreamEntry>>> {
        Box::pin(async move { core(Client::read_stream(self, ns, stream, from, dir, limit).await) })
    }

    fn stream_info<'a>(
        &'a self,
        ns: &'a Namespace,
        stream: &'a str,
    ) -> BoxFuture<'a, Result<Option<StreamInfo>>> {
        Box::pin(async move { core(Client::stream_info(self, ns, stream).await) })
    }

    fn get_lease<'a>(
        &'a self,
        ns: &'a Namespace,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<Lease>>> {
        Box::pin(async move { core(Client::get_lease(self, ns, name).await) })
    }

    fn namespace_ttls<'a>(
        &'a self,
        prefix: &'a Namespace,
    ) -> BoxFuture<'a, Result<Vec<(Namespace, Duration)>>> {
        Box::pin(async move { core(Client::namespace_ttls(self, prefix).await) })
    }

    fn changes(&self, since: u64, limit: usize) -> BoxFuture<'_, Result<ChangePage>> {
        Box::pin(async move { core(Client::changes(self, since, limit, None).await) })
    }

    fn stats<'a>(&'a self, prefix: &'a Namespace) -> BoxFuture<'a, Result<StoreStats>> {
        Box::pin(async move { core(Client::stats(self, prefix).await.map(|r| r.stats)) })
    }

    /// One `POST /v1/admin/compact` is one upkeep pass and a compaction; go on while a
    /// pass finds work, as a local store's loop does (at most 100 passes).
    fn compact(&self) -> BoxFuture<'_, Result<Compacted>> {
        Box::pin(async move {
            let mut done = Compacted::default();
            for pass in 0.. {
                let r = core(Client::compact(self).await)?;
                done.expired_items += r.expired_items;
                done.forgotten_changes += r.forgotten_changes;
                if pass == 0 {
                    done.disk_bytes_before = Some(r.bytes_before);
                }
                done.disk_bytes_after = Some(r.bytes_after);
                done.resealed_values += r.resealed_values;
                if (r.expired_items, r.forgotten_changes) == (0, 0) || pass >= 100 {
                    break;
                }
            }
            Ok(done)
        })
    }
}
