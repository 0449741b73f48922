//! `GET /`: the page a person sees who opens the server's address in a browser. It says
//! what botstore is, the server's version, and where the API description, health,
//! readiness, metrics and the docs are. No token needed: it shows no data and no secret
//! (nothing of the store, the data folder or the tokens), only what `/openapi.json`
//! already tells anyone.
//!
//! Everything is in this file: inline CSS, no script, no font, image or other asset from
//! anywhere, and a `Content-Security-Policy` that tells the browser so. The dashboard
//! (issue 14) replaces this page.

use crate::state::Shared;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

/// The server's version, as `botstore --version` prints it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What the page lets the browser do: nothing beyond its own inline styles.
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; \
                   form-action 'none'; frame-ancestors 'none'";

pub async fn home(State(s): State<Shared>) -> Response {
    let metrics = if s.settings.metrics_public {
        "public on this server (<code>metrics_public</code>)"
    } else {
        "needs a token with <code>read</code> on <code>*</code>"
    };
    let page = PAGE
        .replace("{version}", VERSION)
        .replace("{metrics}", metrics);
    let mut r = page.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// The page; `{version}` and `{metrics}` are filled in (with text of this file only).
const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>botstore {version}</title>
<style>
  :root { color-scheme: light; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto,
         "DejaVu Sans", sans-serif; color: #1d2733; background: #f4f6f9; }
  header { background: linear-gradient(135deg, #1f3a5f, #2f6690); color: #fff;
           padding: 22px 0 18px; }
  .wrap { max-width: 880px; margin: 0 auto; padding: 0 28px; }
  h1 { margin: 0; font-size: 34px; letter-spacing: .5px; }
  h1 .v { font-size: 15px; font-weight: 600; vertical-align: middle; margin-left: 10px;
          padding: 3px 10px; border-radius: 999px; background: #e8f1f8; color: #1f3a5f; }
  header p { margin: 6px 0 0; font-size: 18px; color: #d7e6f3; }
  main { padding: 4px 0 24px; }
  h2 { font-size: 19px; margin: 20px 0 8px; color: #1f3a5f; }
  .card { background: #fff; border: 1px solid #dde3ea; border-radius: 10px;
          padding: 6px 18px; box-shadow: 0 1px 2px rgba(16, 24, 40, .05); }
  table { width: 100%; border-collapse: collapse; }
  td { padding: 7px 0; border-bottom: 1px solid #edf0f4; vertical-align: top; }
  tr:last-child td { border-bottom: 0; }
  td:first-child { width: 190px; white-space: nowrap; }
  a { color: #2f6690; font-weight: 600; text-decoration: none; }
  a:hover { text-decoration: underline; }
  code { font: 14px/1.4 ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace;
         background: #eef2f6; padding: 1px 5px; border-radius: 4px; }
  pre { margin: 10px 0; padding: 12px 14px; background: #17212b; color: #e3ebf2;
        border-radius: 8px; overflow-x: auto; }
  pre code { background: none; padding: 0; color: inherit; }
  .muted { color: #5b6b7c; font-size: 14px; }
  footer { padding: 0 0 28px; }
</style>
</head>
<body>
<header><div class="wrap">
  <h1>botstore <span class="v">version {version}</span></h1>
  <p>Storage for chatbots and AI agents: items, streams, leases and a change feed, over HTTP.</p>
</div></header>
<main><div class="wrap">
  <h2>This server</h2>
  <div class="card"><table>
    <tr><td><a href="/openapi.json">/openapi.json</a></td>
        <td>The API, described in OpenAPI 3.1 (every endpoint, body and answer).</td></tr>
    <tr><td><a href="/healthz">/healthz</a></td>
        <td>Liveness: 200 while the process serves.</td></tr>
    <tr><td><a href="/readyz">/readyz</a></td>
        <td>Readiness: 503 while starting, draining, or while writes are blocked.</td></tr>
    <tr><td><a href="/metrics">/metrics</a></td>
        <td>Prometheus metrics; {metrics}.</td></tr>
    <tr><td><code>/v1/...</code></td>
        <td>The API itself; every request needs <code>Authorization: Bearer &lt;token&gt;</code>.</td></tr>
  </table></div>

  <h2>First steps</h2>
  <div class="card">
    <p>A new data folder's first admin token is in its <code>admin.token</code> file.
       Make a scoped token with it, then use the API with that one:</p>
<pre><code>botstore --remote URL --token ADMIN_TOKEN token create --ns 'my-bot/*' --perm read,write
botstore --remote URL --token TOKEN put my-bot/users/u1 profile '{"name": "Ada"}'
curl -H "Authorization: Bearer TOKEN" URL/v1/items/my-bot/users/u1/profile</code></pre>
    <p class="muted">URL is this page's address (e.g. <code>http://127.0.0.1:7700</code>).</p>
  </div>

  <h2>Documentation</h2>
  <div class="card"><table>
    <tr><td><code>docs/HTTP-API.md</code></td>
        <td>The HTTP API: conventions, items, batches, streams, leases, the change feed, tokens.</td></tr>
    <tr><td><code>docs/OPERATIONS.md</code></td>
        <td>Running <code>botstore serve</code>: configuration, tokens, limits, metrics, backups.</td></tr>
    <tr><td><code>botstore --help</code></td>
        <td>The command line; <code>botstore serve --help</code> for the server's flags.</td></tr>
  </table>
  <p class="muted">The docs are files of the botstore source tree; this server loads nothing
     from anywhere else.</p></div>
</div></main>
<footer><div class="wrap muted">botstore {version}</div></footer>
</body>
</html>
"#;
