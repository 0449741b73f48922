//! `token create | list | revoke`: API tokens, in `<data>/tokens.json` (the server's
//! token file, which works while a server runs on the folder) or, with `--remote`,
//! through the server's token endpoints (an admin token).

use super::connect;
use crate::cli::{Cli, TokenCommand, TokenCreateArgs};
use crate::exit::remote_error;
use crate::exit::Failure;
use crate::output::{self, human_time};
use botstore::ErrorKind;
use botstore_client::{Client, Scope, TokenCreateRequest, TokenCreated, TokenInfo};
use botstore_server::tokens::{TokenError, TokenStore};
use serde_json::json;
use std::io::Write;

/// Where the tokens are.
enum Tokens {
    Local(TokenStore),
    Remote(Client),
}

fn token_error(e: TokenError) -> anyhow::Error {
    let kind = match e {
        TokenError::Invalid(_) => ErrorKind::InvalidInput,
        TokenError::LastAdmin(_) => ErrorKind::Conflict,
        _ => ErrorKind::Internal,
    };
    Failure::new(kind, e.to_string()).into()
}

impl Tokens {
    async fn create(&self, req: &TokenCreateRequest) -> anyhow::Result<TokenCreated> {
        match self {
            Tokens::Local(t) => t.create(req).map_err(token_error),
            Tokens::Remote(c) => c.create_token(req).await.map_err(remote_error),
        }
    }
    async fn list(&self) -> anyhow::Result<Vec<TokenInfo>> {
        match self {
            Tokens::Local(t) => t.list().map_err(token_error),
            Tokens::Remote(c) => c.list_tokens().await.map_err(remote_error),
        }
    }
    async fn revoke(&self, id: &str) -> anyhow::Result<bool> {
        match self {
            Tokens::Local(t) => t.revoke(id).map_err(token_error),
            Tokens::Remote(c) => c.revoke_token(id).await.map_err(remote_error),
        }
    }
}

pub async fn run(cli: &Cli, cmd: &TokenCommand, out: &mut dyn Write) -> anyhow::Result<()> {
    let tokens = match &cli.remote {
        Some(url) => Tokens::Remote(connect(cli, url)?),
        None => Tokens::Local(TokenStore::open(&cli.data).map_err(token_error)?),
    };
    match cmd {
        TokenCommand::Create(a) => create(&tokens, a, cli.json, out).await,
        TokenCommand::List => list(&tokens, cli.json, out).await,
        TokenCommand::Revoke(a) => {
            if !tokens.revoke(&a.id).await? {
                return Err(Failure::new(
                    ErrorKind::NotFound,
                    format!("not found: token {:?}", a.id),
                )
                .into());
            }
            if cli.json {
                output::json_doc(out, &json!({"id": a.id, "revoked": true}))
            } else {
                writeln!(out, "revoked")?;
                Ok(())
            }
        }
    }
}

async fn create(
    tokens: &Tokens,
    a: &TokenCreateArgs,
    json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let mut perms = Vec::new();
    for p in &a.perm {
        if !perms.contains(p) {
            perms.push(*p);
        }
    }
    let req = TokenCreateRequest {
        scopes: a
            .ns
            .iter()
            .map(|ns| Scope {
                ns: ns.clone(),
                perms: perms.clone(),
            })
            .collect(),
        ttl: a.ttl.clone(),
        label: a.label.clone(),
    };
    let made = tokens.create(&req).await?;
    if json {
        return output::json_doc(out, &made);
    }
    // Only the token on stdout, so that `T=$(botstore token create ...)` works.
    writeln!(out, "{}", made.token)?;
    eprintln!(
        "token {} created; this is the only time it is shown",
        made.info.id
    );
    Ok(())
}

fn scopes_text(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(|s| {
            let perms: Vec<String> = s
                .perms
                .iter()
                .map(|p| {
                    serde_json::to_value(p)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default()
                })
                .collect();
            format!("{}:{}", s.ns, perms.join(","))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

async fn list(tokens: &Tokens, json: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    let list = tokens.list().await?;
    if json {
        return output::json_doc(out, &json!({ "tokens": list }));
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let header = ["ID", "STATUS", "SCOPES", "CREATED", "EXPIRES", "LABEL"];
    let rows: Vec<[String; 6]> = list
        .iter()
        .map(|t| {
            let status = match (t.revoked_at, t.expires_at) {
                (Some(_), _) => "revoked",
                (None, Some(e)) if e <= now => "expired",
                _ => "active",
            };
            [
                t.id.clone(),
                status.into(),
                scopes_text(&t.scopes),
                human_time(t.created_at),
                t.expires_at.map_or("never".into(), human_time),
                t.label.clone().unwrap_or_default(),
            ]
        })
        .collect();
    let mut width: [usize; 6] = header.map(str::len);
    for r in &rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut print = |cells: &[&str]| -> std::io::Result<()> {
        let line: Vec<String> = cells
            .iter()
            .zip(width)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        writeln!(out, "{}", line.join("  ").trim_end())
    };
    print(&header)?;
    for r in &rows {
        let cells: Vec<&str> = r.iter().map(String::as_str).collect();
        print(&cells)?;
    }
    Ok(())
}
