//! The operations, one per endpoint of `docs/HTTP-API.md`, named and typed like
//! [`botstore::Store`]'s so that code moves between a local store and a server easily.

use crate::client::Client;
use crate::error::ClientError;
use crate::meta;
use botstore::{
    BatchError, ChangePage, Direction, Fence, Item, Lease, Mutation, Namespace, Outcome, Page,
    PatchOp, Precondition, Rule, Scan, StoreStats, StreamEntry, StreamInfo, TrimTo, Ttl, Value,
    Version, WriteOptions,
};
use botstore_api::paths;
use botstore_api::wire::{
    format_duration, AppendRequest, Appended, BatchRequest, BatchResponse, ChangesPage, CompactOut,
    Deleted, GetManyRequest, GetManyResponse, Health, ItemPage, ItemRef, LeaseAcquireRequest,
    LeaseOut, LeaseReleaseRequest, LeaseRenewRequest, MutationIn, NamespacePage,
    NamespaceTtlRequest, NamespaceTtls, OutcomeOut, StatsOut, StreamEntries, StreamInfoOut,
    StreamList, TokenCreateRequest, TokenCreated, TokenInfo, TokenList, Trimmed, ValueIn, Written,
};
use reqwest::header::{CONTENT_TYPE, IF_MATCH, IF_NONE_MATCH};
use reqwest::{Method, RequestBuilder, StatusCode};
use std::time::Duration;

type Result<T, E = ClientError> = std::result::Result<T, E>;

/// Stats as the server reports them: the store's figures and, per namespace (in the
/// order of `stats.namespaces`), the server's estimate of its bytes on disk.
#[derive(Clone, Debug, PartialEq)]
pub struct RemoteStats {
    pub stats: StoreStats,
    pub estimated_disk_bytes: Vec<Option<u64>>,
}

fn invalid(rule: Rule, detail: impl Into<String>) -> ClientError {
    ClientError::store(botstore::Error::InvalidInput {
        rule,
        detail: detail.into(),
    })
}

/// Namespace rules the URL or body form could hide: an empty segment, or one with `/`,
/// disappears or splits in the string form (`"a//b"`), and `.`/`..` segments are resolved
/// away by URL parsing. Refused here with the store's own errors.
fn check_ns(ns: &Namespace) -> Result<()> {
    for seg in ns.segments() {
        if seg.is_empty() {
            return Err(invalid(Rule::SegmentEmpty, format!("in namespace {ns}")));
        }
        if seg == "." || seg == ".." || seg.contains('/') {
            return Err(invalid(
                Rule::SegmentCharacters,
                format!("segment {seg:?}: no '/', control characters, '.' or '..'"),
            ));
        }
    }
    Ok(())
}

/// A mutation in its wire form. The wire form of a namespace is its string form, which
/// would lose an empty segment and split one with '/': those are refused here, as the
/// store refuses them, instead of writing to another namespace.
fn mutation_in(m: &Mutation) -> std::result::Result<MutationIn, botstore::Error> {
    for ns in mutation_namespaces(m) {
        check_ns(ns).map_err(|e| {
            e.store_error()
                .cloned()
                .unwrap_or_else(|| botstore::Error::InvalidInput {
                    rule: Rule::SegmentCharacters,
                    detail: e.to_string(),
                })
        })?;
    }
    if let Mutation::Delete {
        precondition: Precondition::IfAbsent,
        ..
    } = m
    {
        // The batch form cannot carry it; sent without it, it would delete an item that
        // exists. `apply` sends it alone, as `DELETE` with `If-None-Match: *`.
        return Err(botstore::Error::InvalidInput {
            rule: Rule::Range,
            detail: "a delete with an if-absent precondition cannot be sent in a batch".into(),
        });
    }
    exact_mutation(m).ok_or_else(|| botstore::Error::InvalidInput {
        rule: Rule::Range,
        detail: "internal mutations (expire, forget changes) cannot be sent".into(),
    })
}

/// The namespaces a mutation names (its own, and its fence's).
fn mutation_namespaces(m: &Mutation) -> impl Iterator<Item = &Namespace> {
    m.namespace().into_iter().chain(m.fence().map(|f| &f.ns))
}

/// Refuse a key or name that cannot travel as a path segment, before any URL is built:
/// URL parsing (the WHATWG rules every HTTP client follows) resolves `.` and `..` (and
/// their `%2E` forms) away, so the request would name another resource. The store refuses
/// these names too, with this same error.
fn path_name(name: &str) -> Result<()> {
    if name == "." || name == ".." {
        return Err(invalid(
            Rule::KeyCharacters,
            format!("{name:?}: a key or name cannot be '.' or '..'"),
        ));
    }
    Ok(())
}

/// Whether a content type travels unchanged in a `Content-Type` header: the server takes
/// an absent or empty header as JSON, trims it, reads `application/json; ...` as JSON,
/// and refuses non-ASCII. Values with other content types go in a batch body instead
/// (where the store applies its own rules to the content type).
fn plain_content_type(ct: &str) -> bool {
    if ct == botstore::JSON {
        return true;
    }
    !ct.is_empty()
        && ct.bytes().all(|b| (0x20..0x7f).contains(&b))
        && ct.trim() == ct
        && !ct.to_ascii_lowercase().starts_with(botstore::JSON)
}

/// A value for a request body. JSON travels inline as text, which the server stores
/// byte for byte (key order, number formats and big integers survive).
fn exact_value(v: &Value) -> ValueIn {
    ValueIn::from_value(v)
}

/// The wire form of a mutation.
fn exact_mutation(m: &Mutation) -> Option<MutationIn> {
    MutationIn::from_mutation(m)
}

fn ttl_query(q: &mut Vec<(&'static str, String)>, ttl: Ttl) {
    match ttl {
        Ttl::Default => {}
        Ttl::Never => q.push(("ttl", "never".into())),
        Ttl::After(d) => q.push(("ttl", format_duration(d))),
    }
}

fn fence_query(q: &mut Vec<(&'static str, String)>, fence: Option<&Fence>) {
    if let Some(f) = fence {
        q.push(("fence_ns", f.ns.to_string()));
        q.push(("fence_name", f.name.clone()));
        q.push(("fence_token", f.token.to_string()));
    }
}

fn with_precondition(rb: RequestBuilder, pre: Precondition) -> RequestBuilder {
    match pre {
        Precondition::Any => rb,
        Precondition::IfVersion(v) => rb.header(IF_MATCH, v.etag()),
        Precondition::IfAbsent => rb.header(IF_NONE_MATCH, "*"),
    }
}

fn direction(d: Direction) -> &'static str {
    match d {
        Direction::Forward => "forward",
        Direction::Backward => "backward",
    }
}

impl Client {
    fn wire<T>(&self, r: std::result::Result<T, botstore_api::WireError>) -> Result<T> {
        r.map_err(|e| self.protocol(e))
    }

    fn written(&self, o: Outcome) -> Result<Version> {
        o.version()
            .ok_or_else(|| self.protocol(format!("a write answered {o:?}")))
    }

    /// `Ok(None)` for a `not-found` problem (an unknown endpoint is still an error).
    async fn send_opt(&self, rb: RequestBuilder) -> Result<Option<reqwest::Response>> {
        match self.send(rb).await {
            Ok(r) => Ok(Some(r)),
            Err(ClientError::Store {
                error: botstore::Error::NotFound { .. },
                ..
            }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    // ------------------------------------------------------------ items

    /// Put a value unconditionally; returns the new version.
    pub async fn put(&self, ns: &Namespace, key: &str, value: Value) -> Result<Version> {
        self.put_with(ns, key, value, &WriteOptions::default())
            .await
    }

    /// Put a value if the precondition holds (`If-Match` / `If-None-Match: *`).
    pub async fn put_if(
        &self,
        ns: &Namespace,
        key: &str,
        value: Value,
        pre: Precondition,
    ) -> Result<Version> {
        let opts = WriteOptions {
            precondition: pre,
            ..WriteOptions::default()
        };
        self.put_with(ns, key, value, &opts).await
    }

    /// Put with a precondition, TTL, subject and fence.
    pub async fn put_with(
        &self,
        ns: &Namespace,
        key: &str,
        value: Value,
        opts: &WriteOptions,
    ) -> Result<Version> {
        check_ns(ns)?;
        path_name(key)?;
        // A content type the server would read differently from its header goes in a
        // batch body instead, where it is carried as a JSON string.
        if !plain_content_type(&value.content_type) {
            let m = Mutation::Put {
                ns: ns.clone(),
                key: key.into(),
                value,
                precondition: opts.precondition,
                ttl: opts.ttl,
                subject: opts.subject.clone(),
                fence: opts.fence.clone(),
            };
            let o = self.apply(m).await?;
            return self.written(o);
        }
        let mut q = Vec::new();
        ttl_query(&mut q, opts.ttl);
        if let Some(s) = &opts.subject {
            q.push(("subject", s.clone()));
        }
        fence_query(&mut q, opts.fence.as_ref());
        let rb = self
            .request(Method::PUT, &paths::item(ns, key), &q)
            .header(CONTENT_TYPE, value.content_type)
            .body(value.data);
        let w: Written = self.json(with_precondition(rb, opts.precondition)).await?;
        Ok(Version(w.version))
    }

    /// Read an item (`None`: missing or expired).
    pub async fn get(&self, ns: &Namespace, key: &str) -> Result<Option<Item>> {
        check_ns(ns)?;
        path_name(key)?;
        let rb = self.request(Method::GET, &paths::item(ns, key), &[]);
        let Some(resp) = self.send_opt(rb).await? else {
            return Ok(None);
        };
        let headers = resp.headers().clone();
        let body = resp.bytes().await.map_err(|e| self.transport(&e))?;
        meta::item_from_parts(ns, key, &headers, body.to_vec())
            .map(Some)
            .map_err(|e| self.protocol(e))
    }

    /// Delete an item if the precondition holds; `Ok(false)` when there was nothing.
    pub async fn delete(&self, ns: &Namespace, key: &str, pre: Precondition) -> Result<bool> {
        self.delete_with(ns, key, pre, None).await
    }

    pub async fn delete_with(
        &self,
        ns: &Namespace,
        key: &str,
        pre: Precondition,
        fence: Option<&Fence>,
    ) -> Result<bool> {
        check_ns(ns)?;
        path_name(key)?;
        let mut q = Vec::new();
        fence_query(&mut q, fence);
        let rb = self.request(Method::DELETE, &paths::item(ns, key), &q);
        let d: Deleted = self.json(with_precondition(rb, pre)).await?;
        Ok(d.existed)
    }

    /// Apply a JSON Merge Patch or JSON Patch inside the store.
    pub async fn patch(
        &self,
        ns: &Namespace,
        key: &str,
        patch: PatchOp,
        pre: Precondition,
    ) -> Result<Version> {
        self.patch_with(ns, key, patch, pre, None).await
    }

    pub async fn patch_with(
        &self,
        ns: &Namespace,
        key: &str,
        patch: PatchOp,
        pre: Precondition,
        fence: Option<&Fence>,
    ) -> Result<Version> {
        check_ns(ns)?;
        path_name(key)?;
        let (content_type, body) = match &patch {
            PatchOp::Merge(v) => ("application/merge-patch+json", serde_json::to_vec(v)),
            PatchOp::Json(p) => ("application/json-patch+json", serde_json::to_vec(p)),
        };
        let body = body.map_err(|e| invalid(Rule::Json, format!("patch: {e}")))?;
        let mut q = Vec::new();
        fence_query(&mut q, fence);
        let rb = self
            .request(Method::PATCH, &paths::item(ns, key), &q)
            .header(CONTENT_TYPE, content_type)
            .body(body);
        let w: Written = self.json(with_precondition(rb, pre)).await?;
        Ok(Version(w.version))
    }

    /// Several items from one consistent view, in the order asked (`POST /v1/get`).
    pub async fn get_many(&self, keys: &[(Namespace, String)]) -> Result<Vec<Option<Item>>> {
        for (ns, _) in keys {
            check_ns(ns)?;
        }
        let req = GetManyRequest {
            keys: keys
                .iter()
                .map(|(ns, key)| ItemRef {
                    ns: ns.to_string(),
                    key: key.clone(),
                })
                .collect(),
        };
        let rb = Client::with_json(self.request(Method::POST, "/v1/get", &[]), &req)?;
        let r: GetManyResponse = self.json(rb).await?;
        if r.items.len() != keys.len() {
            return Err(self.protocol(format!(
                "asked for {} items, got {}",
                keys.len(),
                r.items.len()
            )));
        }
        r.items
            .into_iter()
            .map(|i| self.wire(i.map(|i| i.into_item()).transpose()))
            .collect()
    }

    /// An ordered page of items (`GET /v1/scan/...`).
    pub async fn scan(&self, req: &Scan) -> Result<Page<Item>> {
        check_ns(&req.ns)?;
        let mut q = Vec::new();
        if let Some(p) = &req.key_prefix {
            q.push(("prefix", p.clone()));
        }
        if let Some(s) = &req.start {
            q.push(("start", s.clone()));
        }
        if let Some(e) = &req.end {
            q.push(("end", e.clone()));
        }
        if req.recursive {
            q.push(("recursive", "true".into()));
        }
        q.push(("limit", req.limit.to_string()));
        if let Some(c) = &req.cursor {
            q.push(("cursor", c.clone()));
        }
        let rb = self.request(Method::GET, &paths::prefixed("scan", &req.ns), &q);
        let page: ItemPage = self.json(rb).await?;
        Ok(Page {
            items: page
                .items
                .into_iter()
                .map(|i| self.wire(i.into_item()))
                .collect::<Result<_>>()?,
            cursor: page.cursor,
        })
    }

    /// Namespaces under `prefix`, cut to `max_depth` segments (counted from the root, as
    /// in [`botstore::Store::list_namespaces`]), paged.
    pub async fn list_namespaces(
        &self,
        prefix: &Namespace,
        max_depth: Option<usize>,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<Namespace>> {
        check_ns(prefix)?;
        let mut q = Vec::new();
        if let Some(d) = max_depth {
            q.push(("depth", d.to_string()));
        }
        q.push(("limit", limit.to_string()));
        if let Some(c) = cursor {
            q.push(("cursor", c.to_owned()));
        }
        let rb = self.request(Method::GET, &paths::prefixed("namespaces", prefix), &q);
        let page: NamespacePage = self.json(rb).await?;
        Ok(Page {
            items: page
                .namespaces
                .iter()
                .map(|s| Namespace::parse(s))
                .collect(),
            cursor: page.cursor,
        })
    }

    /// The streams under `prefix` (every depth) as `(namespace, name)`, paged.
    pub async fn list_streams(
        &self,
        prefix: &Namespace,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<(Namespace, String)>> {
        check_ns(prefix)?;
        let mut q = vec![("limit", limit.to_string())];
        if let Some(c) = cursor {
            q.push(("cursor", c.to_owned()));
        }
        let rb = self.request(Method::GET, &paths::prefixed("stream-list", prefix), &q);
        let page: StreamList = self.json(rb).await?;
        Ok(Page {
            items: page
                .streams
                .into_iter()
                .map(|s| (Namespace::parse(&s.ns), s.stream))
                .collect(),
            cursor: page.cursor,
        })
    }

    // ------------------------------------------------------------ batches

    /// Apply one mutation (a batch of one).
    pub async fn apply(&self, m: Mutation) -> Result<Outcome> {
        match self.batch(vec![m]).await {
            Ok(mut v) if v.len() == 1 => v
                .pop()
                .ok_or_else(|| self.protocol("a batch of one answered nothing")),
            Ok(v) => Err(self.protocol(format!("a batch of one answered {} results", v.len()))),
            Err(ClientError::Batch { error, problem }) => Err(ClientError::Store {
                error: error.error,
                problem,
            }),
            Err(e) => Err(e),
        }
    }

    fn mutations_in(&self, ms: &[Mutation]) -> std::result::Result<Vec<MutationIn>, BatchError> {
        ms.iter()
            .enumerate()
            .map(|(index, m)| mutation_in(m).map_err(|error| BatchError { index, error }))
            .collect()
    }

    /// Apply mutations atomically: all or nothing. A failing mutation gives
    /// [`ClientError::Batch`] with its index; a failure of the request as a whole
    /// (authorization, size, transport) gives the other variants.
    pub async fn batch(&self, mutations: Vec<Mutation>) -> Result<Vec<Outcome>> {
        let req = BatchRequest {
            mutations: self
                .mutations_in(&mutations)
                .map_err(|error| ClientError::Batch {
                    error,
                    problem: None,
                })?,
            atomic: true,
        };
        let rb = Client::with_json(self.request(Method::POST, "/v1/batch", &[]), &req)?;
        let resp = match self.send(rb).await {
            Ok(r) => r,
            Err(ClientError::Store {
                error,
                problem: Some(p),
            }) if p.index.is_some() => {
                let index = p.index.unwrap_or(0);
                return Err(ClientError::Batch {
                    error: BatchError { index, error },
                    problem: Some(p),
                });
            }
            Err(e) => return Err(e),
        };
        let r: BatchResponse = self.read_json(resp).await?;
        if r.results.len() != mutations.len() {
            return Err(self.protocol(format!(
                "a batch of {} answered {} results",
                mutations.len(),
                r.results.len()
            )));
        }
        r.results
            .into_iter()
            .map(|res| match res.outcome {
                Some(o) => Ok(o.into_outcome()),
                None => Err(self.protocol("an atomic batch result without an outcome")),
            })
            .collect()
    }

    /// Apply mutations one by one in one commit: each succeeds or fails on its own.
    pub async fn write_many(
        &self,
        mutations: Vec<Mutation>,
    ) -> Result<Vec<std::result::Result<Outcome, botstore::Error>>> {
        // A mutation the wire cannot carry fails in its own slot, as in a local store;
        // the others are sent.
        let mut slots: Vec<Option<std::result::Result<Outcome, botstore::Error>>> =
            (0..mutations.len()).map(|_| None).collect();
        let mut sent = Vec::new();
        let mut wire = Vec::new();
        for (i, m) in mutations.iter().enumerate() {
            match mutation_in(m) {
                Ok(w) => {
                    sent.push(i);
                    wire.push(w);
                }
                Err(e) => slots[i] = Some(Err(e)),
            }
        }
        if !wire.is_empty() {
            let req = BatchRequest {
                mutations: wire,
                atomic: false,
            };
            let rb = Client::with_json(self.request(Method::POST, "/v1/batch", &[]), &req)?;
            let r: BatchResponse = self.json(rb).await?;
            if r.results.len() != sent.len() {
                return Err(self.protocol(format!(
                    "a batch of {} answered {} results",
                    sent.len(),
                    r.results.len()
                )));
            }
            for (i, res) in sent.into_iter().zip(r.results) {
                slots[i] = Some(match (res.outcome, res.problem) {
                    (Some(o), None) => Ok(OutcomeOut::into_outcome(o)),
                    (None, Some(p)) => Err(p.into_error()),
                    _ => return Err(self.protocol("a batch result needs an outcome or a problem")),
                });
            }
        }
        slots
            .into_iter()
            .map(|s| s.ok_or_else(|| self.protocol("a batch result is missing")))
            .collect()
    }

    // ------------------------------------------------------------ streams

    /// Append entries; with `expected_last`, only if that is the stream's last sequence.
    pub async fn append(
        &self,
        ns: &Namespace,
        stream: &str,
        entries: Vec<Value>,
        expected_last: Option<u64>,
    ) -> Result<(u64, u64)> {
        check_ns(ns)?;
        path_name(stream)?;
        let req = AppendRequest {
            entries: entries.iter().map(exact_value).collect(),
            expected_last,
        };
        let rb = self.request(
            Method::POST,
            &paths::stream(ns, stream, Some("append")),
            &[],
        );
        let a: Appended = self.json(Client::with_json(rb, &req)?).await?;
        Ok((a.first_seq, a.last_seq))
    }

    pub async fn read_stream(
        &self,
        ns: &Namespace,
        stream: &str,
        from: Option<u64>,
        dir: Direction,
        limit: usize,
    ) -> Result<Vec<StreamEntry>> {
        check_ns(ns)?;
        path_name(stream)?;
        let mut q = Vec::new();
        if let Some(f) = from {
            q.push(("from", f.to_string()));
        }
        q.push(("limit", limit.to_string()));
        q.push(("direction", direction(dir).into()));
        let rb = self.request(Method::GET, &paths::stream(ns, stream, None), &q);
        let e: StreamEntries = self.json(rb).await?;
        e.entries
            .into_iter()
            .map(|e| self.wire(e.into_entry()))
            .collect()
    }

    /// Length and bounds of a stream (`None`: no such stream).
    pub async fn stream_info(&self, ns: &Namespace, stream: &str) -> Result<Option<StreamInfo>> {
        check_ns(ns)?;
        path_name(stream)?;
        let rb = self.request(Method::GET, &paths::stream(ns, stream, Some("info")), &[]);
        match self.send_opt(rb).await? {
            None => Ok(None),
            Some(resp) => {
                let i: StreamInfoOut = self.read_json(resp).await?;
                Ok(Some(i.into()))
            }
        }
    }

    pub async fn trim(&self, ns: &Namespace, stream: &str, to: TrimTo) -> Result<u64> {
        check_ns(ns)?;
        path_name(stream)?;
        let rb = self.request(Method::POST, &paths::stream(ns, stream, Some("trim")), &[]);
        let t: Trimmed = self
            .json(Client::with_json(
                rb,
                &botstore_api::wire::TrimIn::from_trim(to),
            )?)
            .await?;
        Ok(t.removed)
    }

    pub async fn delete_stream(&self, ns: &Namespace, stream: &str) -> Result<bool> {
        check_ns(ns)?;
        path_name(stream)?;
        let rb = self.request(Method::DELETE, &paths::stream(ns, stream, None), &[]);
        let d: Deleted = self.json(rb).await?;
        Ok(d.existed)
    }

    // ------------------------------------------------------------ leases

    async fn lease_call(
        &self,
        m: Mutation,
        path: String,
        body: serde_json::Value,
    ) -> Result<Lease> {
        let name = match &m {
            Mutation::LeaseAcquire { name, .. } | Mutation::LeaseRenew { name, .. } => name,
            _ => "",
        };
        path_name(name)?;
        let rb = Client::with_json(self.request(Method::POST, &path, &[]), &body)?;
        let l: LeaseOut = self.json(rb).await?;
        Ok(l.into_lease())
    }

    /// Acquire a lease (`lease-held` when another holder has it).
    pub async fn acquire_lease(
        &self,
        ns: &Namespace,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Lease> {
        check_ns(ns)?;
        let body = serde_json::to_value(LeaseAcquireRequest {
            holder: holder.into(),
            ttl: format_duration(ttl),
        })
        .map_err(|e| invalid(Rule::Json, e.to_string()))?;
        let m = Mutation::LeaseAcquire {
            ns: ns.clone(),
            name: name.into(),
            holder: holder.into(),
            ttl,
        };
        self.lease_call(m, paths::lease(ns, name, Some("acquire")), body)
            .await
    }

    pub async fn renew_lease(
        &self,
        ns: &Namespace,
        name: &str,
        token: u64,
        ttl: Duration,
    ) -> Result<Lease> {
        check_ns(ns)?;
        let body = serde_json::to_value(LeaseRenewRequest {
            token,
            ttl: format_duration(ttl),
        })
        .map_err(|e| invalid(Rule::Json, e.to_string()))?;
        let m = Mutation::LeaseRenew {
            ns: ns.clone(),
            name: name.into(),
            token,
            ttl,
        };
        self.lease_call(m, paths::lease(ns, name, Some("renew")), body)
            .await
    }

    pub async fn release_lease(&self, ns: &Namespace, name: &str, token: u64) -> Result<()> {
        check_ns(ns)?;
        path_name(name)?;
        let rb = self.request(Method::POST, &paths::lease(ns, name, Some("release")), &[]);
        self.empty(Client::with_json(rb, &LeaseReleaseRequest { token })?)
            .await
    }

    /// The lease (`None`: not held, or expired).
    pub async fn get_lease(&self, ns: &Namespace, name: &str) -> Result<Option<Lease>> {
        check_ns(ns)?;
        path_name(name)?;
        let rb = self.request(Method::GET, &paths::lease(ns, name, None), &[]);
        match self.send_opt(rb).await? {
            None => Ok(None),
            Some(resp) => {
                let l: LeaseOut = self.read_json(resp).await?;
                Ok(Some(l.into_lease()))
            }
        }
    }

    // ------------------------------------------------------------ TTLs, changes, admin

    /// Set (or, with `None`, clear) the default TTL of every namespace under `prefix`.
    pub async fn set_namespace_ttl(&self, prefix: &Namespace, ttl: Option<Duration>) -> Result<()> {
        check_ns(prefix)?;
        let rb = self.request(Method::PUT, &paths::prefixed("namespace-ttls", prefix), &[]);
        let body = NamespaceTtlRequest {
            ttl: ttl.map(format_duration),
        };
        self.empty(Client::with_json(rb, &body)?).await
    }

    /// The default TTLs set at or under `prefix`.
    pub async fn namespace_ttls(&self, prefix: &Namespace) -> Result<Vec<(Namespace, Duration)>> {
        check_ns(prefix)?;
        let rb = self.request(Method::GET, &paths::prefixed("namespace-ttls", prefix), &[]);
        let t: NamespaceTtls = self.json(rb).await?;
        Ok(t.ttls
            .into_iter()
            .map(|t| (Namespace::parse(&t.prefix), Duration::from_millis(t.ttl_ms)))
            .collect())
    }

    /// Up to `limit` changes with an LSN above `since` that the token may read. With
    /// `wait`, a request that finds none waits up to that long (the server caps it at
    /// 60 s) for the next commit.
    pub async fn changes(
        &self,
        since: u64,
        limit: usize,
        wait: Option<Duration>,
    ) -> Result<ChangePage> {
        let mut q = vec![("since", since.to_string()), ("limit", limit.to_string())];
        let mut rb_timeout = None;
        if let Some(w) = wait {
            q.push(("wait", format_duration(w)));
            rb_timeout = Some(self.timeout() + w);
        }
        let mut rb = self.request(Method::GET, "/v1/changes", &q);
        if let Some(t) = rb_timeout {
            rb = rb.timeout(t);
        }
        let page: ChangesPage = self.json(rb).await?;
        Ok(ChangePage {
            changes: page
                .changes
                .into_iter()
                .map(|c| self.wire(c.into_change()))
                .collect::<Result<_>>()?,
            next_since: page.next_since,
            last_lsn: page.last_lsn,
        })
    }

    /// Counters per namespace under `prefix` (those the token may read), bytes on disk,
    /// the last LSN, and the server's disk estimate per namespace.
    pub async fn stats(&self, prefix: &Namespace) -> Result<RemoteStats> {
        check_ns(prefix)?;
        let rb = self.request(Method::GET, &paths::prefixed("stats", prefix), &[]);
        let s: StatsOut = self.json(rb).await?;
        let estimated_disk_bytes = s
            .namespaces
            .iter()
            .map(|n| n.estimated_disk_bytes)
            .collect();
        Ok(RemoteStats {
            stats: StoreStats {
                namespaces: s
                    .namespaces
                    .iter()
                    .map(|n| (Namespace::parse(&n.ns), n.stats()))
                    .collect(),
                store_logical_bytes: s.store_logical_bytes,
                disk_bytes: s.disk_bytes,
                last_lsn: s.last_lsn,
                backend: s.backend,
                stored: s
                    .namespaces
                    .iter()
                    .map(|n| n.stored())
                    .collect::<Option<Vec<_>>>()
                    .unwrap_or_default(),
            },
            estimated_disk_bytes,
        })
    }

    /// The TTL sweep, change-feed retention and a compaction, on the server (admin).
    pub async fn compact(&self) -> Result<CompactOut> {
        let rb = self.request(Method::POST, "/v1/admin/compact", &[]);
        self.json(rb).await
    }

    // ------------------------------------------------------------ tokens

    /// Create a token (admin). The answer holds the secret, shown this once.
    pub async fn create_token(&self, req: &TokenCreateRequest) -> Result<TokenCreated> {
        let rb = Client::with_json(self.request(Method::POST, "/v1/tokens", &[]), req)?;
        self.json(rb).await
    }

    pub async fn list_tokens(&self) -> Result<Vec<TokenInfo>> {
        let l: TokenList = self
            .json(self.request(Method::GET, "/v1/tokens", &[]))
            .await?;
        Ok(l.tokens)
    }

    /// Revoke a token; `Ok(false)` when there is no token with that id.
    pub async fn revoke_token(&self, id: &str) -> Result<bool> {
        let path = format!("/v1/tokens/{}", paths::encode(id));
        let rb = self.request(Method::DELETE, &path, &[]);
        Ok(self.send_opt(rb).await?.is_some())
    }

    // ------------------------------------------------------------ health

    /// `GET /healthz`: the process serves.
    pub async fn healthz(&self) -> Result<Health> {
        self.json(self.request(Method::GET, "/healthz", &[])).await
    }

    /// `GET /readyz`: `true` when the store answers reads, `false` while the server
    /// starts or drains (503).
    pub async fn readyz(&self) -> Result<bool> {
        let resp = self
            .request(Method::GET, "/readyz", &[])
            .send()
            .await
            .map_err(|e| self.transport(&e))?;
        match resp.status() {
            s if s.is_success() => Ok(true),
            StatusCode::SERVICE_UNAVAILABLE => Ok(false),
            _ => Err(self.failure(resp).await),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_the_url_form_would_change_are_refused_like_the_store_does() {
        let store_err = |ns: &Namespace| {
            botstore::Limits::default()
                .check_prefix(ns)
                .expect_err("the store refuses it")
        };
        for ns in [
            Namespace::new(["a", "", "b"]),
            Namespace::new(["a", "."]),
            Namespace::new([".."]),
            Namespace::new(["a/b"]),
        ] {
            let e = check_ns(&ns).expect_err("refused");
            assert_eq!(e.store_error(), Some(&store_err(&ns)), "{ns:?}");
        }
        assert!(check_ns(&Namespace::root()).is_ok());
        assert!(check_ns(&Namespace::new(["a", "b c", "é"])).is_ok());
    }

    #[test]
    fn only_content_types_the_server_reads_back_unchanged_go_in_headers() {
        for ok in ["application/json", "image/png", "text/plain; charset=utf-8"] {
            assert!(plain_content_type(ok), "{ok}");
        }
        for not in [
            "",
            " text/plain",
            "text/é",
            "application/json; charset=utf-8",
            "APPLICATION/JSON",
            "a\tb",
        ] {
            assert!(!plain_content_type(not), "{not:?}");
        }
    }

    #[test]
    fn values_travel_byte_for_byte_in_bodies() {
        let text = r#"{"z":1,"a":1.50,"big":12345678901234567890}"#;
        let m = Mutation::Append {
            ns: Namespace::new(["a"]),
            stream: "s".into(),
            entries: vec![Value::json_text(text)],
            expected_last: None,
        };
        let back = exact_mutation(&m).unwrap().into_mutation().unwrap();
        assert_eq!(back, m);
        let m = Mutation::put(Namespace::new(["a"]), "k", Value::json_text(text));
        let back = exact_mutation(&m).unwrap().into_mutation().unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn dot_names_are_refused_before_a_url_is_built() {
        let local = botstore::Limits::default();
        for name in [".", ".."] {
            let e = path_name(name).unwrap_err();
            assert_eq!(e.store_error(), local.check_key(name).err().as_ref());
        }
        for name in ["...", ".a", "%2e"] {
            assert!(path_name(name).is_ok());
        }
    }

    #[test]
    fn url_parsing_resolves_dot_segments_even_encoded() {
        // Why `path_name` exists: the URL the request is sent to no longer names the key.
        for seg in ["..", "%2E%2E", "%2e."] {
            let u = reqwest::Url::parse(&format!("http://h/v1/items/a/{seg}")).unwrap();
            assert_eq!(u.path(), "/v1/items/", "{seg}");
        }
    }
}
