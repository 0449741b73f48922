//! The store a Python object works on: the embedded engine in this process or a server
//! over HTTP. Each operation is written once here, with one signature for both, and
//! returns a future the binding either blocks on or hands to asyncio.

use crate::errors::Outcome;
use botstore::{
    Direction, Item, Lease, Mutation, Namespace, Outcome as Done, Page, Scan, Store, StoreStats,
    StreamEntry, StreamInfo, TrimTo,
};
use botstore_client::{Client, WriteOptions};
use std::time::Duration;

#[derive(Clone)]
pub enum Db {
    Local(Store),
    Remote(Client),
}

macro_rules! either {
    ($db:expr, $s:ident => $e:expr) => {
        match $db {
            Db::Local($s) => $e.map_err(Into::into),
            Db::Remote($s) => $e.map_err(Into::into),
        }
    };
}

impl Db {
    pub async fn get(self, ns: Namespace, key: String) -> Outcome<Option<Item>> {
        match self {
            // Reads of the embedded store never wait: no trip through the runtime.
            Db::Local(s) => s.get_now(&ns, &key).map_err(Into::into),
            Db::Remote(c) => c.get(&ns, &key).await.map_err(Into::into),
        }
    }

    pub async fn get_many(self, keys: Vec<(Namespace, String)>) -> Outcome<Vec<Option<Item>>> {
        either!(self, s => s.get_many(&keys).await)
    }

    pub async fn apply(self, m: Mutation) -> Outcome<Done> {
        match (self, m) {
            (Db::Local(s), m) => s.apply(m).await.map_err(Into::into),
            // Single puts and deletes as PUT / DELETE on the item: the value travels as
            // the raw body (no base64, no JSON escaping), so a value up to the store's
            // limit fits the server's body limit.
            (
                Db::Remote(c),
                Mutation::Put {
                    ns,
                    key,
                    value,
                    precondition,
                    ttl,
                    subject,
                    fence,
                },
            ) => {
                let opts = WriteOptions {
                    precondition,
                    ttl,
                    subject,
                    fence,
                };
                let version = c.put_with(&ns, &key, value, &opts).await?;
                Ok(Done::Written { version })
            }
            (
                Db::Remote(c),
                Mutation::Delete {
                    ns,
                    key,
                    precondition,
                    fence,
                },
            ) => {
                let existed = c
                    .delete_with(&ns, &key, precondition, fence.as_ref())
                    .await?;
                Ok(Done::Deleted { existed })
            }
            (Db::Remote(c), m) => c.apply(m).await.map_err(Into::into),
        }
    }

    pub async fn batch(self, ms: Vec<Mutation>) -> Outcome<Vec<Done>> {
        either!(self, s => s.batch(ms).await)
    }

    pub async fn write_many(
        self,
        ms: Vec<Mutation>,
    ) -> Outcome<Vec<Result<Done, botstore::Error>>> {
        either!(self, s => s.write_many(ms).await)
    }

    pub async fn scan(self, req: Scan) -> Outcome<Page<Item>> {
        either!(self, s => s.scan(&req).await)
    }

    pub async fn list_namespaces(
        self,
        prefix: Namespace,
        max_depth: Option<usize>,
        limit: usize,
        cursor: Option<String>,
    ) -> Outcome<Page<Namespace>> {
        either!(self, s => s.list_namespaces(&prefix, max_depth, limit, cursor.as_deref()).await)
    }

    pub async fn read_stream(
        self,
        ns: Namespace,
        stream: String,
        from: Option<u64>,
        dir: Direction,
        limit: usize,
    ) -> Outcome<Vec<StreamEntry>> {
        either!(self, s => s.read_stream(&ns, &stream, from, dir, limit).await)
    }

    pub async fn stream_info(self, ns: Namespace, stream: String) -> Outcome<Option<StreamInfo>> {
        either!(self, s => s.stream_info(&ns, &stream).await)
    }

    pub async fn trim(self, ns: Namespace, stream: String, to: TrimTo) -> Outcome<u64> {
        either!(self, s => s.trim(&ns, &stream, to).await)
    }

    pub async fn delete_stream(self, ns: Namespace, stream: String) -> Outcome<bool> {
        either!(self, s => s.delete_stream(&ns, &stream).await)
    }

    pub async fn list_streams(
        self,
        prefix: Namespace,
        limit: usize,
        cursor: Option<String>,
    ) -> Outcome<Page<(Namespace, String)>> {
        either!(self, s => s.list_streams(&prefix, limit, cursor.as_deref()).await)
    }

    pub async fn set_namespace_ttl(self, prefix: Namespace, ttl: Option<Duration>) -> Outcome<()> {
        either!(self, s => s.set_namespace_ttl(&prefix, ttl).await)
    }

    pub async fn get_lease(self, ns: Namespace, name: String) -> Outcome<Option<Lease>> {
        either!(self, s => s.get_lease(&ns, &name).await)
    }

    pub async fn stats(self, prefix: Namespace) -> Outcome<StoreStats> {
        match self {
            Db::Local(s) => s.stats(&prefix).await.map_err(Into::into),
            Db::Remote(c) => c.stats(&prefix).await.map(|r| r.stats).map_err(Into::into),
        }
    }
}
