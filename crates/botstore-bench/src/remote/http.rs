//! A lean HTTP/1.1 client for the load generator: hyper's low-level connection API over one
//! `tokio::net::TcpStream` per task, keep-alive, no pool, no redirects, no TLS. Each
//! request is built from prepared parts (a parsed `Uri`, `Bytes` bodies) so the client
//! spends as little of the machine's CPU as it can.

use crate::{BenchError, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper::header::{HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE, ETAG, HOST};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use tokio::net::TcpStream;

/// Where the server is and how to talk to it.
#[derive(Debug)]
pub struct Target {
    /// `host:port` to connect to.
    pub addr: String,
    /// The `Host` header.
    pub host: HeaderValue,
    /// `Bearer <token>`, when a token was given.
    pub auth: Option<HeaderValue>,
    /// A path prefix from the URL (`http://h:p/prefix`), without a trailing `/`; usually
    /// empty.
    pub base: String,
    /// The URL as given (for reports and for wrk).
    pub url: String,
    /// The server's process, when it runs on this machine (found by its listening port).
    pub server_pid: Option<u32>,
}

impl Target {
    /// Parse `http://host:port[/prefix]`. Only plain HTTP: a benchmark over TLS would
    /// mostly measure the handshake code and the cipher.
    pub fn parse(url: &str, token: Option<&str>) -> Result<Target> {
        let url = url.trim();
        let rest = match url.split_once("://") {
            Some(("http", rest)) => rest,
            Some((scheme, _)) => {
                return Err(BenchError(format!(
                    "bench --remote takes an http:// URL, not {scheme}://"
                )))
            }
            None => url,
        };
        let (hostport, base) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        if hostport.is_empty() {
            return Err(BenchError(format!("no host in {url:?}")));
        }
        let addr = if hostport.starts_with('[') {
            // [v6]:port or [v6]
            if hostport.contains("]:") {
                hostport.to_string()
            } else {
                format!("{hostport}:80")
            }
        } else if hostport.contains(':') {
            hostport.to_string()
        } else {
            format!("{hostport}:80")
        };
        let host = HeaderValue::from_str(hostport)
            .map_err(|_| BenchError(format!("bad host in {url:?}")))?;
        let auth = match token {
            Some(t) => Some(
                HeaderValue::from_str(&format!("Bearer {t}"))
                    .map_err(|_| BenchError("the token is not a valid header value".into()))?,
            ),
            None => None,
        };
        Ok(Target {
            addr,
            host,
            auth,
            base: base.to_string(),
            url: format!("http://{hostport}{base}"),
            server_pid: None,
        })
    }

    /// The port, when the host is a loopback address (the server is on this machine).
    pub fn loopback_port(&self) -> Option<u16> {
        let (host, port) = self.addr.rsplit_once(':')?;
        let local = host == "localhost" || host.starts_with("127.") || host == "[::1]";
        local.then(|| port.parse().ok()).flatten()
    }

    /// A request path under the URL's prefix, parsed once.
    pub fn uri(&self, path: &str) -> Result<Uri> {
        format!("{}{}", self.base, path)
            .parse()
            .map_err(|e| BenchError(format!("bad request path {path:?}: {e}")))
    }
}

/// An answer: status, the version from `ETag` (if any) and the body.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub etag: Option<u64>,
    pub body: Bytes,
}

/// Why a request failed below HTTP.
#[derive(Debug)]
pub struct IoError(pub String);

/// One keep-alive connection.
pub struct Conn {
    target: Arc<Target>,
    tx: http1::SendRequest<Full<Bytes>>,
    /// How often this connection had to be opened again (the server closed it).
    pub reconnects: u64,
    /// Requests sent so far.
    pub requests: u64,
}

async fn open(t: &Target) -> std::result::Result<http1::SendRequest<Full<Bytes>>, IoError> {
    let s = TcpStream::connect(&t.addr)
        .await
        .map_err(|e| IoError(format!("connect to {}: {e}", t.addr)))?;
    let _ = s.set_nodelay(true);
    let (tx, conn) = http1::handshake(TokioIo::new(s))
        .await
        .map_err(|e| IoError(format!("HTTP handshake with {}: {e}", t.addr)))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(tx)
}

impl Conn {
    pub async fn open(target: Arc<Target>) -> Result<Conn> {
        let tx = open(&target).await.map_err(|e| BenchError(e.0))?;
        Ok(Conn {
            target,
            tx,
            reconnects: 0,
            requests: 0,
        })
    }

    /// Make sure the connection can take a request; opens a new one when the server closed
    /// it (counted in `reconnects`).
    async fn ready(&mut self) -> std::result::Result<(), IoError> {
        if self.tx.ready().await.is_ok() {
            return Ok(());
        }
        self.tx = open(&self.target).await?;
        self.reconnects += 1;
        self.tx
            .ready()
            .await
            .map_err(|e| IoError(format!("new connection not ready: {e}")))
    }

    /// Send one request and read the whole answer. `headers` come after Host and
    /// Authorization; `body` with a `Content-Type` when `content_type` is set.
    pub async fn send(
        &mut self,
        method: Method,
        uri: &Uri,
        headers: &[(HeaderName, HeaderValue)],
        content_type: Option<&'static str>,
        body: Bytes,
    ) -> std::result::Result<Answer, IoError> {
        self.ready().await?;
        self.requests += 1;
        let mut b = Request::builder()
            .method(method)
            .uri(uri.clone())
            .header(HOST, self.target.host.clone());
        if let Some(a) = &self.target.auth {
            b = b.header(AUTHORIZATION, a.clone());
        }
        if let Some(ct) = content_type {
            b = b.header(CONTENT_TYPE, HeaderValue::from_static(ct));
        }
        for (k, v) in headers {
            b = b.header(k, v.clone());
        }
        let req = b
            .body(Full::new(body))
            .map_err(|e| IoError(format!("building a request: {e}")))?;
        let res = self
            .tx
            .send_request(req)
            .await
            .map_err(|e| IoError(format!("request failed: {e}")))?;
        let status = res.status();
        let etag = res
            .headers()
            .get(ETAG)
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.trim_start_matches("W/").trim_matches('"').parse().ok());
        let body = res
            .into_body()
            .collect()
            .await
            .map_err(|e| IoError(format!("reading the answer: {e}")))?
            .to_bytes();
        Ok(Answer { status, etag, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse() {
        let t = Target::parse("http://127.0.0.1:8080", Some("bst_a_b")).unwrap();
        assert_eq!(t.addr, "127.0.0.1:8080");
        assert_eq!(t.host, "127.0.0.1:8080");
        assert_eq!(t.auth.as_ref().unwrap(), "Bearer bst_a_b");
        assert_eq!(t.base, "");
        assert_eq!(t.loopback_port(), Some(8080));
        let t = Target::parse("localhost/api/", None).unwrap();
        assert_eq!(t.addr, "localhost:80");
        assert_eq!(t.base, "/api");
        assert_eq!(t.uri("/v1/items/a/k").unwrap().path(), "/api/v1/items/a/k");
        assert!(Target::parse("https://x:1", None).is_err());
        assert_eq!(
            Target::parse("http://[::1]:7000", None).unwrap().addr,
            "[::1]:7000"
        );
    }
}
