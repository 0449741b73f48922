//! The connection side: building the client, sending a request, turning the answer into
//! a value or a [`ClientError`].

use crate::error::ClientError;
use botstore_api::{Problem, PROBLEM_JSON};
use reqwest::header::{HeaderMap, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use std::time::Duration;

/// How the client connects. `Default` suits most uses.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// Longest a request may take in all (default 60 s). A change-feed long poll gets its
    /// `wait` on top.
    pub timeout: Duration,
    /// Longest connecting may take (default 10 s).
    pub connect_timeout: Duration,
    /// Idle keep-alive connections are closed after this long (default 90 s).
    pub pool_idle_timeout: Duration,
    /// Idle keep-alive connections kept per host (default 32).
    pub pool_max_idle_per_host: usize,
    /// PEM certificates to trust for `https://` instead of the system's roots: for a
    /// server with a self-signed or private-CA certificate.
    pub ca_certs_pem: Option<Vec<u8>>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            pool_idle_timeout: Duration::from_secs(90),
            pool_max_idle_per_host: 32,
            ca_certs_pem: None,
        }
    }
}

/// A client of one botstore server. Cheap to clone: clones share the connection pool.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    /// `http://host:port` (or with a path prefix), no trailing slash.
    base: String,
    token: Option<String>,
    timeout: Duration,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .finish()
    }
}

impl Client {
    /// A client of the server at `base_url` (`http://host:port` or `https://...`), sending
    /// `token` as `Authorization: Bearer` when given.
    pub fn new(base_url: &str, token: Option<String>) -> Result<Client, ClientError> {
        Self::with_options(base_url, token, ClientOptions::default())
    }

    /// A client that trusts only the PEM certificate(s) given for `https://`.
    pub fn with_ca_cert(
        base_url: &str,
        token: Option<String>,
        pem: &[u8],
    ) -> Result<Client, ClientError> {
        Self::with_options(
            base_url,
            token,
            ClientOptions {
                ca_certs_pem: Some(pem.to_vec()),
                ..ClientOptions::default()
            },
        )
    }

    pub fn with_options(
        base_url: &str,
        token: Option<String>,
        opts: ClientOptions,
    ) -> Result<Client, ClientError> {
        let bad = |why: String| ClientError::Store {
            error: botstore::Error::InvalidInput {
                rule: botstore::Rule::Limit,
                detail: why,
            },
            problem: None,
        };
        let url = reqwest::Url::parse(base_url)
            .map_err(|e| bad(format!("server URL {base_url:?}: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(bad(format!(
                "server URL {base_url:?}: expected http://host:port or https://host:port"
            )));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(bad(format!(
                "server URL {base_url:?}: no query or fragment, please"
            )));
        }
        if let Some(t) = &token {
            if t.is_empty() || t.bytes().any(|b| !(0x21..0x7f).contains(&b)) {
                return Err(bad(
                    "the token must be printable ASCII without spaces (bst_...)".into(),
                ));
            }
        }
        let tls = tls_config(opts.ca_certs_pem.as_deref()).map_err(|e| match e {
            TlsSetup::BadPem(why) => bad(format!("CA certificate: {why}")),
            TlsSetup::Failed(why) => ClientError::Transport(format!("cannot set up HTTP: {why}")),
        })?;
        let http = reqwest::Client::builder()
            .timeout(opts.timeout)
            .connect_timeout(opts.connect_timeout)
            .pool_idle_timeout(opts.pool_idle_timeout)
            .pool_max_idle_per_host(opts.pool_max_idle_per_host)
            .tcp_nodelay(true)
            .user_agent(concat!("botstore-client/", env!("CARGO_PKG_VERSION")))
            .tls_backend_preconfigured(tls)
            .build()
            .map_err(|e| ClientError::Transport(format!("cannot set up HTTP: {}", chain(&e))))?;
        Ok(Client {
            http,
            base: base_url.trim_end_matches('/').to_owned(),
            token,
            timeout: opts.timeout,
        })
    }

    /// The server's URL as given (without a trailing slash).
    pub fn base_url(&self) -> &str {
        &self.base
    }

    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// A request to `path` (from [`botstore_api::paths`], starting with `/`) with query
    /// pairs (values are percent-encoded here).
    pub(crate) fn request(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
    ) -> RequestBuilder {
        let mut url = format!("{}{}", self.base, path);
        for (i, (k, v)) in query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(k);
            url.push('=');
            url.push_str(&botstore_api::paths::encode(v));
        }
        let rb = self.http.request(method, url);
        match &self.token {
            Some(t) => rb.header(AUTHORIZATION, format!("Bearer {t}")),
            None => rb,
        }
    }

    /// Send; a success (2xx, or 304) is returned, a problem document becomes
    /// [`ClientError::Store`], anything else a transport or protocol error.
    pub(crate) async fn send(&self, rb: RequestBuilder) -> Result<Response, ClientError> {
        let resp = rb.send().await.map_err(|e| self.transport(&e))?;
        let status = resp.status();
        if status.is_success() || status == StatusCode::NOT_MODIFIED {
            return Ok(resp);
        }
        Err(self.failure(resp).await)
    }

    /// The error an unsuccessful answer stands for.
    pub(crate) async fn failure(&self, resp: Response) -> ClientError {
        let status = resp.status();
        let what = format!("{} {}", status.as_u16(), resp.url().path());
        let is_problem = content_type(resp.headers()).is_some_and(|c| {
            c.eq_ignore_ascii_case(PROBLEM_JSON) || c.eq_ignore_ascii_case("application/json")
        });
        let body = match resp.bytes().await {
            Ok(b) => b,
            Err(e) => return self.transport(&e),
        };
        if is_problem {
            if let Ok(p) = serde_json::from_slice::<Problem>(&body) {
                return ClientError::from_problem(p);
            }
        }
        ClientError::Protocol(format!(
            "server at {} answered {what} without a problem document: {}",
            self.base,
            excerpt(&body)
        ))
    }

    pub(crate) fn transport(&self, e: &reqwest::Error) -> ClientError {
        if e.is_builder() {
            // Nothing was sent: the request itself could not be made (the client checks
            // what goes into URLs and headers, so this is not expected).
            return ClientError::store(botstore::Error::InvalidInput {
                rule: botstore::Rule::Limit,
                detail: format!("the request cannot be sent: {}", chain(e)),
            });
        }
        if e.is_timeout() {
            return ClientError::Transport(format!(
                "no answer from server at {} within the timeout: {}",
                self.base,
                cause(e)
            ));
        }
        ClientError::Transport(format!(
            "cannot reach server at {}: {}",
            self.base,
            cause(e)
        ))
    }

    pub(crate) fn protocol(&self, what: impl std::fmt::Display) -> ClientError {
        ClientError::Protocol(format!(
            "unexpected answer from server at {}: {what}",
            self.base
        ))
    }

    /// Send and read a JSON body.
    pub(crate) async fn json<T: DeserializeOwned>(
        &self,
        rb: RequestBuilder,
    ) -> Result<T, ClientError> {
        let resp = self.send(rb).await?;
        self.read_json(resp).await
    }

    pub(crate) async fn read_json<T: DeserializeOwned>(
        &self,
        resp: Response,
    ) -> Result<T, ClientError> {
        let path = resp.url().path().to_owned();
        let body = resp.bytes().await.map_err(|e| self.transport(&e))?;
        serde_json::from_slice(&body).map_err(|e| {
            self.protocol(format!(
                "{path}: body is not the expected JSON ({e}): {}",
                excerpt(&body)
            ))
        })
    }

    /// Send, expect a success with no body of interest.
    pub(crate) async fn empty(&self, rb: RequestBuilder) -> Result<(), ClientError> {
        let resp = self.send(rb).await?;
        resp.bytes().await.map_err(|e| self.transport(&e))?;
        Ok(())
    }

    /// Send a JSON body.
    pub(crate) fn with_json<T: serde::Serialize>(
        rb: RequestBuilder,
        body: &T,
    ) -> Result<RequestBuilder, ClientError> {
        let bytes = serde_json::to_vec(body).map_err(|e| {
            ClientError::store(botstore::Error::InvalidInput {
                rule: botstore::Rule::Json,
                detail: format!("request body does not serialise: {e}"),
            })
        })?;
        Ok(rb.header(CONTENT_TYPE, "application/json").body(bytes))
    }
}

/// The media type of a Content-Type header, without parameters.
pub(crate) fn content_type(h: &HeaderMap) -> Option<&str> {
    h.get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.split(';').next().unwrap_or("").trim())
}

/// Why [`tls_config`] failed: the PEM itself (bad input), or setting rustls up.
enum TlsSetup {
    BadPem(String),
    Failed(String),
}

/// The rustls configuration of every client, with ring as its crypto provider (the one
/// the server uses), so that no process-wide default provider is needed: with `pem`,
/// only its certificates are trusted; without, the platform's verifier and roots. ALPN
/// offers h2 and HTTP/1.1, as reqwest does for its own configuration.
fn tls_config(pem: Option<&[u8]>) -> Result<rustls::ClientConfig, TlsSetup> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    use std::sync::Arc;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsSetup::Failed(e.to_string()))?;
    let builder = match pem {
        Some(pem) => {
            let certs = CertificateDer::pem_slice_iter(pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| TlsSetup::BadPem(e.to_string()))?;
            if certs.is_empty() {
                return Err(TlsSetup::BadPem("no certificate in the PEM".into()));
            }
            let mut roots = rustls::RootCertStore::empty();
            for cert in certs {
                roots
                    .add(cert)
                    .map_err(|e| TlsSetup::Failed(e.to_string()))?;
            }
            builder.with_root_certificates(roots)
        }
        None => {
            let verifier = rustls_platform_verifier::Verifier::new(provider)
                .map_err(|e| TlsSetup::Failed(e.to_string()))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(verifier))
        }
    };
    let mut config = builder.with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// What went wrong on a request, on one line: the causes under reqwest's and hyper's
/// generic wrappers ("error sending request for url (...)", "client error (Connect)"),
/// e.g. `tcp connect error: Connection refused (os error 111)`.
fn cause(e: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur = std::error::Error::source(e);
    while let Some(err) = cur {
        let s = err.to_string();
        if !s.starts_with("client error (") && !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        cur = err.source();
    }
    if parts.is_empty() {
        chain(e)
    } else {
        parts.join(": ")
    }
}

/// An error and its causes on one line.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        let s = err.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        cur = err.source();
    }
    parts.join(": ")
}

/// The start of a body, for error messages.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(300)]);
    let mut s = text.trim().replace(['\n', '\r'], " ");
    if body.len() > 300 {
        s.push_str(" ...");
    }
    if s.is_empty() {
        s = "(empty body)".into();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_checked() {
        for bad in ["", "localhost:7700", "ftp://x", "http://", "http://h/?q=1"] {
            let e = Client::new(bad, None).unwrap_err();
            assert_eq!(e.kind(), botstore::ErrorKind::InvalidInput, "{bad}");
        }
        let c = Client::new("http://127.0.0.1:7700/", None).unwrap();
        assert_eq!(c.base_url(), "http://127.0.0.1:7700");
        assert!(Client::new("https://h.example/prefix", Some("bst_a_b".into())).is_ok());
        assert!(Client::new("http://h", Some("two words".into())).is_err());
    }

    #[test]
    fn a_bad_ca_certificate_is_refused() {
        let e = Client::with_ca_cert("https://h", None, b"not a pem").unwrap_err();
        assert_eq!(e.kind(), botstore::ErrorKind::InvalidInput);
    }

    #[test]
    fn query_values_are_percent_encoded() {
        let c = Client::new("http://h:1", None).unwrap();
        let r = c
            .request(
                Method::GET,
                "/v1/scan/a",
                &[("prefix", "a b&c=d/é".into()), ("limit", "5".into())],
            )
            .build()
            .unwrap();
        assert_eq!(
            r.url().as_str(),
            "http://h:1/v1/scan/a?prefix=a%20b%26c%3Dd%2F%C3%A9&limit=5"
        );
    }

    #[test]
    fn excerpts_are_short_and_one_line() {
        assert_eq!(excerpt(b""), "(empty body)");
        assert_eq!(excerpt(b"a\nb"), "a b");
        assert!(excerpt(&[b'x'; 1000]).ends_with(" ..."));
    }
}
