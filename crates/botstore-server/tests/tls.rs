//! HTTPS: a self-signed certificate made here, the server offering h2 and HTTP/1.1 by
//! ALPN, and a bootstrap admin token written for a data folder without tokens.

// Test code: helpers outside #[test] fns unwrap too; a panic is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use botstore_server::{ServeConfig, Server};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls::{self, pki_types::ServerName, RootCertStore};

async fn tls_get(
    addr: std::net::SocketAddr,
    roots: &RootCertStore,
    alpn: &[u8],
    path: &str,
    token: &str,
) -> (Option<Vec<u8>>, String) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots.clone())
        .with_no_client_auth();
    cfg.alpn_protocols = vec![alpn.to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .expect("handshake");
    let negotiated = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
    if alpn != b"http/1.1" {
        return (negotiated, String::new());
    }
    let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n");
    tls.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let _ = tls.read_to_end(&mut out).await;
    (negotiated, String::from_utf8_lossy(&out).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_alpn_and_a_bootstrap_token() {
    let dir = tempfile::tempdir().unwrap();
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    let data = dir.path().join("data");
    let server = Server::start(ServeConfig {
        data: Some(data.clone()),
        listen: Some("127.0.0.1:0".into()),
        tls_cert: Some(cert),
        tls_key: Some(key),
        ..Default::default()
    })
    .await
    .unwrap();

    // No tokens existed: the server made one, readable by this user only.
    let token_path = data.join(botstore_server::ADMIN_TOKEN_FILE);
    let token = std::fs::read_to_string(&token_path)
        .unwrap()
        .trim()
        .to_owned();
    assert!(token.starts_with("bst_"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&token_path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the admin token file is private");
    }

    let mut roots = RootCertStore::empty();
    roots.add(ck.cert.der().clone()).unwrap();
    let (alpn, text) = tls_get(server.addr, &roots, b"http/1.1", "/v1/stats", &token).await;
    assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]));
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    let (_, text) = tls_get(
        server.addr,
        &roots,
        b"http/1.1",
        "/v1/stats",
        "bst_0000_nope",
    )
    .await;
    assert!(text.starts_with("HTTP/1.1 401"), "{text}");
    let (alpn, _) = tls_get(server.addr, &roots, b"h2", "/", &token).await;
    assert_eq!(alpn.as_deref(), Some(&b"h2"[..]));

    // Plain HTTP on the TLS port gets no HTTP answer, and the server carries on.
    let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let _ =
        tokio::time::timeout(std::time::Duration::from_secs(5), tcp.read_to_end(&mut buf)).await;
    assert!(!String::from_utf8_lossy(&buf).contains("200 OK"));
    let (_, text) = tls_get(server.addr, &roots, b"http/1.1", "/healthz", &token).await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    server.stop().await.unwrap();
}
