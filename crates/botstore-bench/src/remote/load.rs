//! The load generator: one task per connection, each running one [`Job`] in a loop, either
//! closed-loop (the next request as soon as the answer is in) or open-loop at a fixed total
//! rate handed out by a [`Pacer`].
//!
//! Open-loop latency is measured from the time each request was *due* (its slot in the
//! fixed schedule), not from when a connection got round to sending it, so a server that
//! falls behind shows its queueing delay instead of hiding it (no coordinated omission).
//! The time from sending to the answer (service time) and how late requests were sent
//! (schedule lag) are kept apart too.

use super::http::{Answer, Conn, IoError, Target};
use crate::gen::Generator;
use crate::harness::{Tally, Window};
use crate::{BenchError, Result};
use bytes::Bytes;
use hyper::header::{HeaderName, HeaderValue, IF_MATCH};
use hyper::{Method, StatusCode, Uri};
use rand::rngs::SmallRng;
use rand::Rng;
use serde_json::Value as Json;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// What one connection does, request after request.
pub enum Job {
    /// GET a random one of the preloaded items.
    Get { uris: Arc<Vec<Uri>>, rng: SmallRng },
    /// PUT a value from the pool under a random key (`prefix` + 16 hex digits) out of `space`.
    Put {
        target: Arc<Target>,
        prefix: String,
        space: u64,
        bodies: Arc<Vec<Bytes>>,
        rng: SmallRng,
    },
    /// GET a conversation state, count the turn, PUT it back with `If-Match`; on `412`
    /// read and try again (counted as `retries`, not as errors). One op = one turn.
    State { uris: Arc<Vec<Uri>>, gen: Generator },
    /// POST one activity from the pool to a random stream's `:append`.
    Append {
        uris: Arc<Vec<Uri>>,
        bodies: Arc<Vec<Bytes>>,
        rng: SmallRng,
    },
    /// GET the last 10 entries of a random stream.
    Tail { uris: Arc<Vec<Uri>>, rng: SmallRng },
}

/// A failed request: a counter name and a sample of what went wrong.
struct Fail {
    kind: &'static str,
    detail: String,
}

impl From<IoError> for Fail {
    fn from(e: IoError) -> Fail {
        Fail {
            kind: "io",
            detail: e.0,
        }
    }
}

fn status_kind(s: StatusCode) -> &'static str {
    match s.as_u16() {
        400 => "http_400",
        401 => "http_401",
        403 => "http_403",
        404 => "http_404",
        405 => "http_405",
        408 => "http_408",
        409 => "http_409",
        412 => "http_412",
        413 => "http_413",
        415 => "http_415",
        429 => "http_429",
        500 => "http_500",
        503 => "http_503",
        c if c < 400 => "http_1xx_3xx",
        c if c < 500 => "http_4xx_other",
        _ => "http_5xx_other",
    }
}

/// Every answer but a 2xx is an error.
fn ok(a: Answer, what: &str) -> std::result::Result<Answer, Fail> {
    if a.status.is_success() {
        Ok(a)
    } else {
        Err(Fail {
            kind: status_kind(a.status),
            detail: format!(
                "{what}: {} {}",
                a.status,
                String::from_utf8_lossy(&a.body[..a.body.len().min(300)])
            ),
        })
    }
}

const JSON: Option<&str> = Some("application/json");

impl Job {
    /// One operation. `t` gets counters (retries) when `measured`.
    async fn once(
        &mut self,
        c: &mut Conn,
        t: &mut Tally,
        measured: bool,
    ) -> std::result::Result<(), Fail> {
        match self {
            Job::Get { uris, rng } => {
                let u = &uris[rng.random_range(0..uris.len())];
                let a = ok(
                    c.send(Method::GET, u, &[], None, Bytes::new()).await?,
                    "GET",
                )?;
                if a.body.is_empty() {
                    return Err(Fail {
                        kind: "empty_body",
                        detail: format!("GET {u}: 200 with an empty body"),
                    });
                }
                Ok(())
            }
            Job::Put {
                target,
                prefix,
                space,
                bodies,
                rng,
            } => {
                let k: u64 = rng.random_range(0..*space);
                let u = target
                    .uri(&format!("{prefix}{}", crate::workloads::key_of("p", k)))
                    .map_err(|e| Fail {
                        kind: "client",
                        detail: e.0,
                    })?;
                let body = bodies[rng.random_range(0..bodies.len())].clone();
                ok(c.send(Method::PUT, &u, &[], JSON, body).await?, "PUT")?;
                Ok(())
            }
            Job::State { uris, gen } => {
                let u = &uris[gen.rng().random_range(0..uris.len())];
                let mut retries = 0;
                loop {
                    let a = ok(
                        c.send(Method::GET, u, &[], None, Bytes::new()).await?,
                        "GET",
                    )?;
                    let version = a.etag.ok_or_else(|| Fail {
                        kind: "no_etag",
                        detail: format!("GET {u}: no ETag"),
                    })?;
                    let mut s: Json = serde_json::from_slice(&a.body).map_err(|e| Fail {
                        kind: "bad_body",
                        detail: format!("GET {u}: not JSON: {e}"),
                    })?;
                    gen.next_state(&mut s);
                    let body = Bytes::from(serde_json::to_vec(&s).unwrap_or_default());
                    let h: [(HeaderName, HeaderValue); 1] = [(
                        IF_MATCH,
                        HeaderValue::from_str(&format!("\"{version}\"")).map_err(|_| Fail {
                            kind: "client",
                            detail: "bad If-Match".into(),
                        })?,
                    )];
                    let a = c.send(Method::PUT, u, &h, JSON, body).await?;
                    if a.status == StatusCode::PRECONDITION_FAILED {
                        retries += 1;
                        continue;
                    }
                    ok(a, "PUT If-Match")?;
                    break;
                }
                if measured {
                    t.count("retries", retries);
                }
                Ok(())
            }
            Job::Append { uris, bodies, rng } => {
                let u = &uris[rng.random_range(0..uris.len())];
                let body = bodies[rng.random_range(0..bodies.len())].clone();
                ok(
                    c.send(Method::POST, u, &[], JSON, body).await?,
                    "POST :append",
                )?;
                Ok(())
            }
            Job::Tail { uris, rng } => {
                let u = &uris[rng.random_range(0..uris.len())];
                ok(
                    c.send(Method::GET, u, &[], None, Bytes::new()).await?,
                    "GET stream",
                )?;
                Ok(())
            }
        }
    }
}

/// Hands out request slots at a fixed total rate: a thread adds semaphore permits as the
/// schedule comes due; a connection takes one permit per request, and the permit's number
/// gives the time the request was due. Slots that no connection took before the end are
/// counted in `dropped` (the server could not keep up with the rate).
pub struct Pacer {
    sem: Semaphore,
    next: AtomicU64,
    posted: AtomicU64,
    start: Instant,
    period_ns: f64,
    end: Instant,
}

impl Pacer {
    /// Start pacing `rate` requests per second from `start` until `end`.
    pub fn start(rate: f64, start: Instant, end: Instant) -> Arc<Pacer> {
        let p = Arc::new(Pacer {
            sem: Semaphore::new(0),
            next: AtomicU64::new(0),
            posted: AtomicU64::new(0),
            start,
            period_ns: 1e9 / rate.max(1e-3),
            end,
        });
        let q = p.clone();
        // A plain thread: its sleep is precise to tens of µs, where tokio's timer wheel
        // rounds to milliseconds (which would bunch requests into bursts at each tick).
        let _ = std::thread::Builder::new()
            .name("bench-pacer".into())
            .spawn(move || q.pace());
        p
    }

    fn pace(&self) {
        let mut posted = 0u64;
        loop {
            let now = Instant::now();
            if now >= self.end {
                self.sem.close();
                return;
            }
            let due = ((now - self.start).as_nanos() as f64 / self.period_ns) as u64 + 1;
            if due > posted {
                self.sem.add_permits((due - posted) as usize);
                posted = due;
                self.posted.store(posted, Ordering::Relaxed);
            }
            let next_at =
                self.start + Duration::from_nanos((posted as f64 * self.period_ns) as u64);
            let wait = next_at
                .saturating_duration_since(Instant::now())
                .clamp(Duration::from_micros(20), Duration::from_millis(1));
            std::thread::sleep(wait);
        }
    }

    /// The due time of this connection's next request, or `None` when the run is over.
    async fn next(&self) -> Option<Instant> {
        self.sem.acquire().await.ok()?.forget();
        let k = self.next.fetch_add(1, Ordering::Relaxed);
        let due = self.start + Duration::from_nanos((k as f64 * self.period_ns) as u64);
        (due < self.end).then_some(due)
    }

    /// Slots that came due but were never sent.
    pub fn dropped(&self) -> u64 {
        self.posted
            .load(Ordering::Relaxed)
            .saturating_sub(self.next.load(Ordering::Relaxed))
    }
}

/// What one connection measured.
pub struct Measured {
    /// Latency per successful op: from its due time (open loop) or from sending (closed).
    pub tally: Tally,
    /// Open loop: from sending to the answer.
    pub service: Tally,
    /// Open loop: how late requests were sent (waiting for a free connection, or for the
    /// load generator itself).
    pub lag: Tally,
    /// Failed ops in the window.
    pub errors: u64,
    /// HTTP requests of the ops in the window (a `state` turn is two or more).
    pub requests: u64,
    /// The first failure's description.
    pub sample: Option<String>,
}

impl Measured {
    pub fn new() -> Measured {
        Measured {
            tally: Tally::new(),
            service: Tally::new(),
            lag: Tally::new(),
            errors: 0,
            requests: 0,
            sample: None,
        }
    }

    pub fn merge(&mut self, o: &Measured) {
        self.tally.merge(&o.tally);
        self.service.merge(&o.service);
        self.lag.merge(&o.lag);
        self.errors += o.errors;
        self.requests += o.requests;
        if self.sample.is_none() {
            self.sample.clone_from(&o.sample);
        }
    }
}

async fn worker(
    target: Arc<Target>,
    mut job: Job,
    w: Window,
    pacer: Option<Arc<Pacer>>,
) -> Result<Measured> {
    let mut c = Conn::open(target).await?;
    let mut m = Measured::new();
    loop {
        let t0 = match &pacer {
            None => match w.next() {
                Some(t) => t,
                None => break,
            },
            Some(p) => match p.next().await {
                Some(t) => t,
                None => break,
            },
        };
        let sent = Instant::now();
        let measured = t0 >= w.start;
        let before = c.requests;
        let r = job.once(&mut c, &mut m.tally, measured).await;
        if measured {
            m.requests += c.requests - before;
        }
        match r {
            Ok(()) => {
                m.tally.done(&w, t0);
                if pacer.is_some() && measured {
                    m.service.done(&w, sent);
                    let lag = (sent - t0).as_nanos().clamp(1, u64::MAX as u128) as u64;
                    m.lag.hist.saturating_record(lag);
                    m.lag.ops += 1;
                }
            }
            Err(f) => {
                if measured {
                    m.errors += 1;
                    m.tally.count(f.kind, 1);
                    if m.sample.is_none() {
                        m.sample = Some(f.detail);
                    }
                }
                if f.kind == "io" {
                    // The connection is gone; do not spin while the server is away.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    }
    m.tally.count("reconnects", c.reconnects);
    Ok(m)
}

/// Run every job on its own connection over the window, closed-loop or at `rate` requests
/// per second in total; one [`Measured`] per job, in order.
pub async fn drive(
    target: &Arc<Target>,
    jobs: Vec<Job>,
    w: Window,
    rate: Option<f64>,
) -> Result<(Vec<Measured>, u64)> {
    let pacer = rate.map(|r| {
        // Pacing starts with the warm-up, so the measured window starts in a steady state.
        let from = Instant::now().min(w.start);
        Pacer::start(r, from, w.end)
    });
    let hs: Vec<_> = jobs
        .into_iter()
        .map(|j| tokio::spawn(worker(target.clone(), j, w, pacer.clone())))
        .collect();
    let mut out = Vec::with_capacity(hs.len());
    for h in hs {
        out.push(h.await??);
    }
    Ok((out, pacer.map_or(0, |p| p.dropped())))
}

/// Send every request once over `conns` connections; any answer but a 2xx fails the run.
pub async fn preload(
    target: &Arc<Target>,
    reqs: Vec<(Method, Uri, Bytes)>,
    conns: usize,
) -> Result<()> {
    let reqs = Arc::new(reqs);
    let next = Arc::new(AtomicUsize::new(0));
    let hs: Vec<_> = (0..conns.clamp(1, reqs.len().max(1)))
        .map(|_| {
            let (target, reqs, next) = (target.clone(), reqs.clone(), next.clone());
            tokio::spawn(async move {
                let mut c = Conn::open(target).await?;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((m, u, b)) = reqs.get(i) else {
                        return Ok::<_, BenchError>(());
                    };
                    let ct = if b.is_empty() { None } else { JSON };
                    let a = c
                        .send(m.clone(), u, &[], ct, b.clone())
                        .await
                        .map_err(|e| BenchError(format!("preload: {}", e.0)))?;
                    ok(a, &format!("preload {m} {u}")).map_err(|f| BenchError(f.detail))?;
                }
            })
        })
        .collect();
    for h in hs {
        h.await??;
    }
    Ok(())
}
