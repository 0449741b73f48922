//! API tokens: `bst_<id>_<secret>`. The server keeps only the BLAKE3 hash of each token,
//! in `<data>/tokens.json`, next to the store (not inside it: the CLI must be able to
//! manage tokens while a server holds the store open). Writers (the CLI, the server's
//! token endpoints) serialize on an advisory lock on `tokens.lock` and replace the file
//! atomically (write, fsync, rename, fsync the folder); the server re-reads the file when
//! it changes, at most once a second, so a revocation takes effect within a second.

use botstore::Namespace;
use botstore_api::wire::{Perm, Scope, TokenCreateRequest, TokenCreated, TokenInfo};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub const TOKENS_FILE: &str = "tokens.json";
const LOCK_FILE: &str = "tokens.lock";
const PREFIX: &str = "bst_";
const RELOAD_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("token file {path}: {detail}")]
    Io { path: PathBuf, detail: String },
    #[error("token file {path} is damaged: {detail}")]
    Corrupt { path: PathBuf, detail: String },
    #[error("invalid token request: {0}")]
    Invalid(String),
    /// Revoking would leave no live admin token, or only ones that expire sooner.
    #[error("{0}")]
    LastAdmin(String),
}

/// Why a presented token was refused (all map to 401).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no bearer token; send Authorization: Bearer <token>")]
    Missing,
    #[error("the token is not one this server issued")]
    Unknown,
    #[error("the token was revoked")]
    Revoked,
    #[error("the token has expired")]
    Expired,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct TokenRecord {
    #[serde(flatten)]
    info: TokenInfo,
    /// Hex BLAKE3 hash of the whole token string.
    hash: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct TokenFile {
    version: u32,
    tokens: Vec<TokenRecord>,
}

/// One segment of a scope pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Lit(String),
    Star,
}

#[derive(Debug, Clone)]
struct Pattern(Vec<Seg>);

impl Pattern {
    fn parse(s: &str) -> Result<Pattern, TokenError> {
        let s = s.trim_matches('/');
        if s.is_empty() {
            return Err(TokenError::Invalid(
                "an empty namespace pattern; use '*' for every namespace".into(),
            ));
        }
        let segs: Vec<Seg> = s
            .split('/')
            .map(|p| match p {
                "*" => Seg::Star,
                lit => Seg::Lit(lit.to_owned()),
            })
            .collect();
        for seg in &segs {
            if let Seg::Lit(l) = seg {
                if l.is_empty() || l.contains('*') {
                    return Err(TokenError::Invalid(format!(
                        "pattern {s:?}: '*' must be a whole segment, and segments cannot be empty"
                    )));
                }
            }
        }
        Ok(Pattern(segs))
    }

    /// Does the pattern match this namespace?
    fn matches(&self, ns: &[String]) -> bool {
        fn m(p: &[Seg], n: &[String]) -> bool {
            match p.split_first() {
                None => n.is_empty(),
                Some((Seg::Star, [])) => true,
                Some((Seg::Star, rest)) => !n.is_empty() && m(rest, &n[1..]),
                Some((Seg::Lit(l), rest)) => n.first() == Some(l) && m(rest, &n[1..]),
            }
        }
        m(&self.0, ns)
    }

    /// Does the pattern match every namespace that starts with `prefix` (the prefix
    /// itself included)?
    fn covers(&self, prefix: &[String]) -> bool {
        for (i, seg) in self.0.iter().enumerate() {
            let last = i + 1 == self.0.len();
            match seg {
                Seg::Star if last => return true,
                _ if i >= prefix.len() => return false,
                Seg::Star => {}
                Seg::Lit(l) => {
                    if *l != prefix[i] {
                        return false;
                    }
                }
            }
        }
        false
    }
}

/// What an authenticated request may do.
#[derive(Debug, Clone)]
pub struct Grant {
    /// The token id (`None`: the insecure development mode, which may do everything).
    pub token_id: Option<String>,
    scopes: Vec<(Pattern, Vec<Perm>)>,
}

fn perm_grants(have: &[Perm], want: Perm) -> bool {
    have.contains(&want) || have.contains(&Perm::Admin)
}

impl Grant {
    /// Everything (the `--insecure-dev` mode).
    pub fn all() -> Grant {
        Grant {
            token_id: None,
            scopes: vec![(Pattern(vec![Seg::Star]), vec![Perm::Admin])],
        }
    }

    /// May this grant use `perm` on namespace `ns`? (`admin` includes read and write.)
    pub fn allows(&self, perm: Perm, ns: &Namespace) -> bool {
        self.scopes
            .iter()
            .any(|(p, perms)| perm_grants(perms, perm) && p.matches(ns.segments()))
    }

    /// May this grant use `perm` on every namespace under `prefix`?
    pub fn allows_all_under(&self, perm: Perm, prefix: &Namespace) -> bool {
        self.scopes
            .iter()
            .any(|(p, perms)| perm_grants(perms, perm) && p.covers(prefix.segments()))
    }

    /// May this grant use `perm` on at least one namespace under `prefix`? (Used to
    /// decide whether a filtered listing is worth answering rather than refusing.)
    pub fn allows_some_under(&self, perm: Perm, prefix: &Namespace) -> bool {
        self.scopes.iter().any(|(p, perms)| {
            perm_grants(perms, perm) && {
                let n = prefix.len().min(p.0.len());
                p.0[..n]
                    .iter()
                    .zip(prefix.segments())
                    .all(|(s, seg)| match s {
                        Seg::Star => true,
                        Seg::Lit(l) => l == seg,
                    })
            }
        })
    }
}

struct Loaded {
    records: Vec<TokenRecord>,
    by_id: HashMap<String, usize>,
    grants: HashMap<String, Arc<Grant>>,
    stamp: Option<(SystemTime, u64)>,
    checked: Instant,
}

/// The token file of one data folder.
pub struct TokenStore {
    dir: PathBuf,
    loaded: RwLock<Loaded>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl TokenStore {
    /// The token file in `data_dir` (created on the first token; the folder is created
    /// if missing).
    pub fn open(data_dir: &Path) -> Result<TokenStore, TokenError> {
        fs::create_dir_all(data_dir).map_err(|e| TokenError::Io {
            path: data_dir.to_owned(),
            detail: e.to_string(),
        })?;
        let ts = TokenStore {
            dir: data_dir.to_owned(),
            loaded: RwLock::new(Loaded {
                records: Vec::new(),
                by_id: HashMap::new(),
                grants: HashMap::new(),
                stamp: None,
                checked: Instant::now(),
            }),
        };
        ts.reload()?;
        Ok(ts)
    }

    fn path(&self) -> PathBuf {
        self.dir.join(TOKENS_FILE)
    }

    fn stamp(&self) -> Option<(SystemTime, u64)> {
        let m = fs::metadata(self.path()).ok()?;
        Some((m.modified().ok()?, m.len()))
    }

    fn read_file(&self) -> Result<TokenFile, TokenError> {
        let path = self.path();
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| TokenError::Corrupt {
                path,
                detail: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(TokenFile {
                version: 1,
                tokens: Vec::new(),
            }),
            Err(e) => Err(TokenError::Io {
                path,
                detail: e.to_string(),
            }),
        }
    }

    /// Re-read the file now.
    pub fn reload(&self) -> Result<(), TokenError> {
        let stamp = self.stamp();
        let file = self.read_file()?;
        let mut grants = HashMap::new();
        let mut by_id = HashMap::new();
        for (i, r) in file.tokens.iter().enumerate() {
            by_id.insert(r.info.id.clone(), i);
            let scopes = r
                .info
                .scopes
                .iter()
                .map(|s| Ok((Pattern::parse(&s.ns)?, s.perms.clone())))
                .collect::<Result<Vec<_>, TokenError>>()
                .map_err(|e| TokenError::Corrupt {
                    path: self.path(),
                    detail: e.to_string(),
                })?;
            grants.insert(
                r.info.id.clone(),
                Arc::new(Grant {
                    token_id: Some(r.info.id.clone()),
                    scopes,
                }),
            );
        }
        let mut l = self.loaded.write().unwrap_or_else(|p| p.into_inner());
        *l = Loaded {
            records: file.tokens,
            by_id,
            grants,
            stamp,
            checked: Instant::now(),
        };
        Ok(())
    }

    /// Re-read the file if it changed since it was last read (checked at most once a
    /// second).
    fn refresh(&self) {
        {
            let l = self.loaded.read().unwrap_or_else(|p| p.into_inner());
            if l.checked.elapsed() < RELOAD_EVERY {
                return;
            }
        }
        let stamp = self.stamp();
        let changed = {
            let mut l = self.loaded.write().unwrap_or_else(|p| p.into_inner());
            l.checked = Instant::now();
            l.stamp != stamp
        };
        if changed {
            if let Err(e) = self.reload() {
                // Keep serving with the tokens we had; a damaged file must not lock
                // everyone out, nor let anyone in.
                tracing::error!(error = %e, "could not re-read the token file; keeping the previous tokens");
            }
        }
    }

    /// Check a presented token.
    pub fn authenticate(&self, presented: &str) -> Result<Arc<Grant>, AuthError> {
        self.refresh();
        let id = presented
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split_once('_'))
            .map(|(id, _)| id)
            .ok_or(AuthError::Unknown)?;
        let l = self.loaded.read().unwrap_or_else(|p| p.into_inner());
        let i = *l.by_id.get(id).ok_or(AuthError::Unknown)?;
        let r = &l.records[i];
        let stored = blake3::Hash::from_hex(&r.hash).map_err(|_| AuthError::Unknown)?;
        // blake3::Hash compares in constant time.
        if blake3::hash(presented.as_bytes()) != stored {
            return Err(AuthError::Unknown);
        }
        if r.info.revoked_at.is_some() {
            return Err(AuthError::Revoked);
        }
        if r.info.expires_at.is_some_and(|t| t <= now_ms()) {
            return Err(AuthError::Expired);
        }
        l.grants.get(id).cloned().ok_or(AuthError::Unknown)
    }

    /// Read, change and atomically replace the file under the lock.
    fn update<T>(
        &self,
        f: impl FnOnce(&mut TokenFile) -> Result<T, TokenError>,
    ) -> Result<T, TokenError> {
        let io = |path: &Path, e: std::io::Error| TokenError::Io {
            path: path.to_owned(),
            detail: e.to_string(),
        };
        let lock_path = self.dir.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| io(&lock_path, e))?;
        lock.lock().map_err(|e| io(&lock_path, e))?;
        let mut file = self.read_file()?;
        file.version = 1;
        let out = f(&mut file)?;
        let path = self.path();
        let tmp = self.dir.join(format!("{TOKENS_FILE}.tmp"));
        let bytes =
            serde_json::to_vec_pretty(&file).map_err(|e| TokenError::Invalid(e.to_string()))?;
        {
            let mut t = File::create(&tmp).map_err(|e| io(&tmp, e))?;
            t.write_all(&bytes).map_err(|e| io(&tmp, e))?;
            t.sync_all().map_err(|e| io(&tmp, e))?;
        }
        fs::rename(&tmp, &path).map_err(|e| io(&path, e))?;
        if let Ok(d) = File::open(&self.dir) {
            let _ = d.sync_all();
        }
        drop(lock);
        self.reload()?;
        Ok(out)
    }

    /// Make a token. The returned secret is never stored and cannot be shown again.
    pub fn create(&self, req: &TokenCreateRequest) -> Result<TokenCreated, TokenError> {
        if req.scopes.is_empty() {
            return Err(TokenError::Invalid(
                "a token needs at least one scope (--ns PATTERN --perm read,write)".into(),
            ));
        }
        for s in &req.scopes {
            Pattern::parse(&s.ns)?;
            if s.perms.is_empty() {
                return Err(TokenError::Invalid(format!(
                    "scope {:?} grants no permission",
                    s.ns
                )));
            }
        }
        let now = now_ms();
        let expires_at = match &req.ttl {
            None => None,
            Some(t) => Some(
                now + botstore::parse_duration(t)
                    .map_err(|e| TokenError::Invalid(e.to_string()))?
                    .as_millis() as i64,
            ),
        };
        if let Some(l) = &req.label {
            if l.len() > 256 || l.chars().any(char::is_control) {
                return Err(TokenError::Invalid(
                    "a label is at most 256 bytes without control characters".into(),
                ));
            }
        }
        let mut rng = rand::rng();
        let mut id = [0u8; 8];
        let mut secret = [0u8; 32];
        rng.fill_bytes(&mut id);
        rng.fill_bytes(&mut secret);
        use base64::Engine;
        let id = id.iter().map(|b| format!("{b:02x}")).collect::<String>();
        let token = format!(
            "{PREFIX}{id}_{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret)
        );
        let info = TokenInfo {
            id: id.clone(),
            label: req.label.clone(),
            scopes: req
                .scopes
                .iter()
                .map(|s| Scope {
                    ns: s.ns.trim_matches('/').to_owned(),
                    perms: s.perms.clone(),
                })
                .collect(),
            created_at: now,
            expires_at,
            revoked_at: None,
        };
        let record = TokenRecord {
            info: info.clone(),
            hash: blake3::hash(token.as_bytes()).to_hex().to_string(),
        };
        self.update(|f| {
            f.tokens.push(record);
            Ok(())
        })?;
        Ok(TokenCreated { token, info })
    }

    /// Every token, revoked and expired ones included (never the secrets).
    pub fn list(&self) -> Result<Vec<TokenInfo>, TokenError> {
        Ok(self
            .read_file()?
            .tokens
            .into_iter()
            .map(|r| r.info)
            .collect())
    }

    /// Revoke a token. `false`: no token has this id.
    ///
    /// An admin token (admin on every namespace, `*`) is only revoked while another
    /// live admin token stays that lasts at least as long (no expiry counts as
    /// forever): revoking never brings forward the moment the store has no admin, so a
    /// client cannot lock every client out of token management. Refused with
    /// [`TokenError::LastAdmin`], and nothing is changed. (Tokens never change scope or
    /// expiry after they are made; when the last admin token expires anyway, the way
    /// back in is `botstore token create` on the data folder.)
    pub fn revoke(&self, id: &str) -> Result<bool, TokenError> {
        let now = now_ms();
        self.update(|f| {
            let Some(i) = f.tokens.iter().position(|r| r.info.id == id) else {
                return Ok(false);
            };
            let target = &f.tokens[i].info;
            if target.revoked_at.is_none() && is_live_admin(target, now) {
                // Until when each token lasts; `None` is forever, the largest.
                let lasts = |t: &TokenInfo| t.expires_at.map_or(i128::MAX, i128::from);
                let until = lasts(target);
                let other =
                    f.tokens.iter().enumerate().any(|(j, r)| {
                        j != i && is_live_admin(&r.info, now) && lasts(&r.info) >= until
                    });
                if !other {
                    return Err(TokenError::LastAdmin(format!(
                        "token {id} is the last live admin token{}; create another admin \
                         token (scope '*', admin) first, then revoke this one",
                        if target.expires_at.is_some() {
                            " that lasts this long"
                        } else {
                            " without an expiry"
                        }
                    )));
                }
            }
            if let Some(r) = f.tokens.get_mut(i) {
                r.info.revoked_at.get_or_insert(now);
            }
            Ok(true)
        })
    }
}

/// Not revoked, not expired, and admin on every namespace.
fn is_live_admin(t: &TokenInfo, now: i64) -> bool {
    t.revoked_at.is_none()
        && t.expires_at.is_none_or(|e| e > now)
        && t.scopes.iter().any(|s| {
            s.perms.contains(&Perm::Admin) && Pattern::parse(&s.ns).is_ok_and(|p| p.covers(&[]))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(ns: &str, perms: &[Perm]) -> TokenCreateRequest {
        TokenCreateRequest {
            scopes: vec![Scope {
                ns: ns.into(),
                perms: perms.to_vec(),
            }],
            ttl: None,
            label: None,
        }
    }

    fn ns(s: &str) -> Namespace {
        Namespace::parse(s)
    }

    #[test]
    fn patterns_match_as_documented() {
        let p = Pattern::parse("tenant-a/*").unwrap();
        assert!(p.matches(&ns("tenant-a").0));
        assert!(p.matches(&ns("tenant-a/users/u1").0));
        assert!(!p.matches(&ns("tenant-b/users").0));
        assert!(p.covers(&ns("tenant-a").0));
        assert!(p.covers(&ns("tenant-a/users").0));
        assert!(!p.covers(&ns("").0));
        let exact = Pattern::parse("tenant-a/users").unwrap();
        assert!(exact.matches(&ns("tenant-a/users").0));
        assert!(!exact.matches(&ns("tenant-a/users/u1").0));
        assert!(!exact.covers(&ns("tenant-a/users").0));
        let mid = Pattern::parse("*/users").unwrap();
        assert!(mid.matches(&ns("t1/users").0));
        assert!(!mid.matches(&ns("t1/other").0));
        let all = Pattern::parse("*").unwrap();
        assert!(all.covers(&[]));
        assert!(Pattern::parse("a*/b").is_err());
        assert!(Pattern::parse("").is_err());
    }

    #[test]
    fn tokens_authenticate_until_revoked_and_only_the_hash_is_stored() {
        let dir = tempfile::tempdir().unwrap();
        let ts = TokenStore::open(dir.path()).unwrap();
        let made = ts.create(&req("tenant-a/*", &[Perm::Read])).unwrap();
        let g = ts.authenticate(&made.token).unwrap();
        assert!(g.allows(Perm::Read, &ns("tenant-a/x")));
        assert!(!g.allows(Perm::Write, &ns("tenant-a/x")));
        assert!(!g.allows(Perm::Read, &ns("tenant-b")));
        let text = fs::read_to_string(dir.path().join(TOKENS_FILE)).unwrap();
        let secret = made.token.rsplit_once('_').unwrap().1;
        assert!(!text.contains(secret), "the secret must not be stored");
        // A token with the right id but a wrong secret is refused.
        let forged = format!("bst_{}_AAAA", made.info.id);
        assert_eq!(ts.authenticate(&forged).unwrap_err(), AuthError::Unknown);
        // A second store (another process) revokes; this one sees it after a reload.
        let other = TokenStore::open(dir.path()).unwrap();
        assert!(other.revoke(&made.info.id).unwrap());
        assert!(!other.revoke("nope").unwrap());
        ts.reload().unwrap();
        assert_eq!(
            ts.authenticate(&made.token).unwrap_err(),
            AuthError::Revoked
        );
    }

    #[test]
    fn expired_tokens_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let ts = TokenStore::open(dir.path()).unwrap();
        let mut r = req("*", &[Perm::Admin]);
        r.ttl = Some("1ms".into());
        let made = ts.create(&r).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(
            ts.authenticate(&made.token).unwrap_err(),
            AuthError::Expired
        );
    }

    #[test]
    fn bad_requests_are_refused_and_change_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let ts = TokenStore::open(dir.path()).unwrap();
        assert!(ts.create(&req("a*", &[Perm::Read])).is_err());
        assert!(ts.create(&req("a", &[])).is_err());
        assert!(ts.list().unwrap().is_empty());
    }
}
