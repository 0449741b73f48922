//! `/metrics` in the Prometheus text format (0.0.4), written by hand from lock-free
//! counters: the hot path pays a map lookup under a read lock and two atomic adds.
//!
//! Names carry units (`_seconds`, `_bytes`), counters end in `_total`. Per-namespace
//! gauges are aggregated to the first namespace segment (the tenant, by convention) to
//! keep label cardinality bounded, and are recomputed at most every 10 s.

use crate::state::AppState;
use botstore::metrics::{AtomicHistogram, HistogramSnapshot, LATENCY_SECONDS, SIZES};
use botstore::{MetricValue, Namespace};
use botstore_api::ProblemType;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

const NS_REFRESH: Duration = Duration::from_secs(10);

pub struct Metrics {
    http: RwLock<HashMap<(&'static str, u16), Arc<AtomicHistogram>>>,
    errors: [AtomicU64; ProblemType::ALL.len()],
    pub batch_mutations: AtomicHistogram,
    pub in_flight: AtomicI64,
    started: Instant,
    namespaces: Mutex<Option<(Instant, String)>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            http: RwLock::new(HashMap::new()),
            errors: std::array::from_fn(|_| AtomicU64::new(0)),
            batch_mutations: AtomicHistogram::new(SIZES),
            in_flight: AtomicI64::new(0),
            started: Instant::now(),
            namespaces: Mutex::new(None),
        }
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn histogram(out: &mut String, name: &str, labels: &str, h: &HistogramSnapshot) {
    let sep = if labels.is_empty() { "" } else { "," };
    for (b, c) in h.bounds.iter().zip(&h.cumulative) {
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {c}");
    }
    let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}", h.count);
    let braces = if labels.is_empty() {
        String::new()
    } else {
        format!("{{{labels}}}")
    };
    let _ = writeln!(out, "{name}_sum{braces} {}", h.sum);
    let _ = writeln!(out, "{name}_count{braces} {}", h.count);
}

fn head(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

impl Metrics {
    /// Count one finished request.
    pub fn observe(
        &self,
        op: &'static str,
        status: u16,
        seconds: f64,
        problem: Option<ProblemType>,
    ) {
        let h = {
            let map = self.http.read().unwrap_or_else(|p| p.into_inner());
            map.get(&(op, status)).cloned()
        };
        let h = match h {
            Some(h) => h,
            None => {
                let mut map = self.http.write().unwrap_or_else(|p| p.into_inner());
                Arc::clone(
                    map.entry((op, status))
                        .or_insert_with(|| Arc::new(AtomicHistogram::new(LATENCY_SECONDS))),
                )
            }
        };
        h.observe(seconds);
        if let Some(t) = problem {
            if let Some(i) = ProblemType::ALL.iter().position(|x| *x == t) {
                self.errors[i].fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    async fn namespace_section(&self, s: &AppState) -> String {
        {
            let cached = self.namespaces.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((at, text)) = cached.as_ref() {
                if at.elapsed() < NS_REFRESH {
                    return text.clone();
                }
            }
        }
        let mut out = String::new();
        match s.store.stats(&Namespace::root()).await {
            Ok(st) => {
                let mut by_tenant: BTreeMap<String, [u64; 6]> = BTreeMap::new();
                for (i, (ns, n)) in st.namespaces.iter().enumerate() {
                    let t = ns.segments().first().cloned().unwrap_or_default();
                    let e = by_tenant.entry(t).or_default();
                    e[0] += n.items;
                    e[1] += n.item_bytes;
                    e[2] += n.streams;
                    e[3] += n.stream_entries;
                    e[4] += n.stream_bytes;
                    e[5] += st.stored_bytes(i).total();
                }
                let gauges = [
                    ("botstore_namespace_items", "Items per top-level namespace."),
                    (
                        "botstore_namespace_item_bytes",
                        "Bytes of item values per top-level namespace.",
                    ),
                    (
                        "botstore_namespace_streams",
                        "Streams per top-level namespace.",
                    ),
                    (
                        "botstore_namespace_stream_entries",
                        "Stream entries per top-level namespace.",
                    ),
                    (
                        "botstore_namespace_stream_bytes",
                        "Bytes of stream entry values per top-level namespace.",
                    ),
                    (
                        "botstore_namespace_stored_bytes",
                        "Bytes the item and stream entry values of a top-level namespace \
                         take as stored (compressed); over item_bytes + stream_bytes, the \
                         compression ratio.",
                    ),
                ];
                for (i, (name, help)) in gauges.iter().enumerate() {
                    head(&mut out, name, "gauge", help);
                    for (t, v) in &by_tenant {
                        let _ = writeln!(out, "{name}{{ns=\"{}\"}} {}", escape(t), v[i]);
                    }
                }
                head(
                    &mut out,
                    "botstore_disk_bytes",
                    "gauge",
                    "Bytes the store takes on disk.",
                );
                let _ = writeln!(out, "botstore_disk_bytes {}", st.disk_bytes.unwrap_or(0));
                head(
                    &mut out,
                    "botstore_last_lsn",
                    "gauge",
                    "The store's last log sequence number.",
                );
                let _ = writeln!(out, "botstore_last_lsn {}", st.last_lsn);
            }
            Err(e) => {
                tracing::warn!(error = %e, "metrics: store stats failed");
            }
        }
        *self.namespaces.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((Instant::now(), out.clone()));
        out
    }

    /// The whole exposition.
    pub async fn render(&self, s: &AppState) -> String {
        let mut out = String::with_capacity(16 << 10);
        head(
            &mut out,
            "botstore_http_request_duration_seconds",
            "histogram",
            "Time from request to response, by operation and status.",
        );
        let mut entries: Vec<_> = {
            let map = self.http.read().unwrap_or_else(|p| p.into_inner());
            map.iter().map(|(k, h)| (*k, h.snapshot())).collect()
        };
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        for ((op, status), h) in &entries {
            histogram(
                &mut out,
                "botstore_http_request_duration_seconds",
                &format!("op=\"{op}\",status=\"{status}\""),
                h,
            );
        }
        head(
            &mut out,
            "botstore_http_requests_in_flight",
            "gauge",
            "Requests being served.",
        );
        let _ = writeln!(
            out,
            "botstore_http_requests_in_flight {}",
            self.in_flight.load(Ordering::Relaxed)
        );
        head(
            &mut out,
            "botstore_errors_total",
            "counter",
            "Error responses by problem type.",
        );
        for (i, t) in ProblemType::ALL.iter().enumerate() {
            let _ = writeln!(
                out,
                "botstore_errors_total{{kind=\"{}\"}} {}",
                t.name(),
                self.errors[i].load(Ordering::Relaxed)
            );
        }
        head(
            &mut out,
            "botstore_batch_mutations",
            "histogram",
            "Mutations per batch request.",
        );
        histogram(
            &mut out,
            "botstore_batch_mutations",
            "",
            &self.batch_mutations.snapshot(),
        );
        // The store's group commit and whatever the backend exports (fsyncs, checkpoints).
        for m in s.store.metrics() {
            match &m.value {
                MetricValue::Counter(v) => {
                    head(&mut out, m.name, "counter", m.help);
                    let _ = writeln!(out, "{} {v}", m.name);
                }
                MetricValue::Gauge(v) => {
                    head(&mut out, m.name, "gauge", m.help);
                    let _ = writeln!(out, "{} {v}", m.name);
                }
                MetricValue::Histogram(h) => {
                    head(&mut out, m.name, "histogram", m.help);
                    histogram(&mut out, m.name, "", h);
                }
            }
        }
        out.push_str(&self.namespace_section(s).await);
        if let Some(b) = &s.backup {
            backup_section(&mut out, b);
        }
        head(
            &mut out,
            "botstore_uptime_seconds",
            "gauge",
            "Seconds since the server started.",
        );
        let _ = writeln!(
            out,
            "botstore_uptime_seconds {:.3}",
            self.started.elapsed().as_secs_f64()
        );
        out
    }
}

/// `botstore_backup_*`: the server's backup task (`serve --backup-repo`).
fn backup_section(out: &mut String, b: &crate::backup::BackupShared) {
    let st = &b.stats;
    let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let last_ok = get(&st.last_success_ms);
    let gauges: [(&str, &str, Option<f64>); 4] = [
        (
            "botstore_backup_last_success_timestamp_seconds",
            "When the repository was last brought up to date (Unix time).",
            (last_ok > 0).then(|| last_ok as f64 / 1000.0),
        ),
        (
            "botstore_backup_last_duration_seconds",
            "Time the last segment or snapshot took to write.",
            Some(get(&st.last_duration_us) as f64 / 1e6),
        ),
        (
            "botstore_backup_last_lsn",
            "The last LSN the repository holds.",
            Some(get(&st.last_lsn) as f64),
        ),
        (
            "botstore_backup_drill_recovery_seconds",
            "Measured recovery time of the repository's latest restore drill (backup drill).",
            b.drill_recovery_seconds(),
        ),
    ];
    for (name, help, v) in gauges {
        if let Some(v) = v {
            head(out, name, "gauge", help);
            let _ = writeln!(out, "{name} {v}");
        }
    }
    for (name, help, v) in [
        (
            "botstore_backup_bytes_added_total",
            "Bytes added to the backup repository (packs, indexes, manifests).",
            &st.bytes_added_total,
        ),
        (
            "botstore_backup_failures_total",
            "Backup ticks that failed (retried at the next).",
            &st.failures_total,
        ),
        (
            "botstore_backup_segments_total",
            "Change-feed segments shipped.",
            &st.segments_total,
        ),
        (
            "botstore_backup_snapshots_total",
            "Snapshots taken by the server.",
            &st.snapshots_total,
        ),
    ] {
        head(out, name, "counter", help);
        let _ = writeln!(out, "{name} {}", get(v));
    }
}

/// The operation name of a request, for metrics and logs: one per endpoint and method.
pub fn op_name(method: &axum::http::Method, path: &str) -> &'static str {
    use axum::http::Method as M;
    let verb = path
        .rsplit('/')
        .next()
        .and_then(|l| l.rsplit_once(':'))
        .map(|(_, v)| v);
    let under = |p: &str| {
        path.strip_prefix(p)
            .is_some_and(|r| r.is_empty() || r.starts_with('/'))
    };
    if under("/v1/items") {
        return match *method {
            M::GET => "item_get",
            M::HEAD => "item_head",
            M::PUT => "item_put",
            M::PATCH => "item_patch",
            M::DELETE => "item_delete",
            _ => "other",
        };
    }
    if under("/v1/streams") {
        return match (method.clone(), verb) {
            (M::GET, Some("info")) => "stream_info",
            (M::GET, _) => "stream_read",
            (M::POST, Some("append")) => "stream_append",
            (M::POST, Some("trim")) => "stream_trim",
            (M::DELETE, _) => "stream_delete",
            _ => "other",
        };
    }
    if under("/v1/leases") {
        return match (method.clone(), verb) {
            (M::GET, _) => "lease_get",
            (M::POST, Some("acquire")) => "lease_acquire",
            (M::POST, Some("renew")) => "lease_renew",
            (M::POST, Some("release")) => "lease_release",
            _ => "other",
        };
    }
    match (method.clone(), path) {
        (M::POST, "/v1/get") => "get_many",
        (M::POST, "/v1/batch") => "batch",
        (M::GET, _) if under("/v1/scan") => "scan",
        (M::GET, _) if under("/v1/stream-list") => "stream_list",
        (M::GET, _) if under("/v1/namespaces") => "namespaces",
        (M::GET, "/v1/changes") => "changes",
        (M::GET, _) if under("/v1/stats") => "stats",
        (M::GET, _) if under("/v1/namespace-ttls") => "namespace_ttl_get",
        (M::PUT, _) if under("/v1/namespace-ttls") => "namespace_ttl_put",
        (M::POST, "/v1/admin/compact") => "compact",
        (M::POST, "/v1/admin/backup/records") => "backup_records",
        (M::POST, "/v1/tokens") => "token_create",
        (M::GET, "/v1/tokens") => "token_list",
        (M::DELETE, _) if under("/v1/tokens") => "token_revoke",
        (M::GET | M::HEAD, "/") => "home",
        (M::GET, "/healthz") => "healthz",
        (M::GET, "/readyz") => "readyz",
        (M::GET, "/metrics") => "metrics",
        (M::GET, "/openapi.json") => "openapi",
        _ => "other",
    }
}
