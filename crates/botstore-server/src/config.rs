//! `ServeConfig`: everything `botstore serve` can be told, from a TOML file and flags.
//! Every field is optional so that a file and the flags merge field by field (flags win);
//! [`ServeConfig::resolve`] fills in the defaults and checks the combination.

use crate::ServerError;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The configuration of `botstore serve`. In a TOML file the keys are the field names
/// (`listen = "0.0.0.0:7700"`, `body_limit = 20971520`, `rate_limit = 500.0`, ...).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    /// The data folder (default `./botstore-data`).
    pub data: Option<PathBuf>,
    /// Address to listen on (default `127.0.0.1:7700`).
    pub listen: Option<String>,
    /// Serve without tokens. Only allowed on a loopback address; logs a loud warning.
    pub insecure_dev: Option<bool>,
    /// PEM certificate chain and private key: serve HTTPS (h2 and HTTP/1.1 by ALPN).
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Largest request body in bytes (default 20 MiB: a 16 MiB value plus headroom).
    pub body_limit: Option<usize>,
    /// Requests per second allowed per token (default: no limit), and the burst above it
    /// (default: one second's worth).
    pub rate_limit: Option<f64>,
    pub rate_burst: Option<u32>,
    /// `text` (default) or `json`.
    pub log_format: Option<String>,
    /// `immediate` (default) or `relaxed[:<bound>]`.
    pub durability: Option<String>,
    /// redb's page cache in MiB (default 64).
    pub cache_mib: Option<usize>,
    /// How long the change feed keeps records (default 24h).
    pub changes_retention: Option<String>,
    /// How often the TTL sweep and change-feed retention run (default 10s).
    pub maintenance_interval: Option<String>,
    /// How often the background scrub checks every record (default 24h, the first one a
    /// minute after the start; `0` for never), and at most how many records per second
    /// it checks (default 20000).
    pub scrub_every: Option<String>,
    pub scrub_rate: Option<u32>,
    /// Time allowed to send the request headers (default 10s) and the body (default 30s).
    pub header_timeout: Option<String>,
    pub body_timeout: Option<String>,
    /// Longest a request may take in all, long polls aside (default 60s).
    pub request_timeout: Option<String>,
    /// Largest request head (request line and headers) in bytes (default 64 KiB).
    pub max_header_bytes: Option<usize>,
    /// On SIGTERM/SIGINT: how long in-flight requests get to finish (default 30s).
    pub shutdown_grace: Option<String>,
    /// Longest a long poll of the change feed (`GET /v1/changes?wait=`) is held; a
    /// longer `wait` is cut to this (default 60s).
    pub long_poll_max: Option<String>,
    /// Serve `/metrics` without a token (default false: it names every tenant's
    /// namespaces and sizes, so it takes a token with read permission on `*`, the
    /// permission that could read all of it anyway).
    pub metrics_public: Option<bool>,
    /// The old switch, from when `/metrics` was public by default: `true` is now the
    /// default and changes nothing; `false` is refused with a pointer to
    /// `metrics_public`, so that an old file cannot leave the metrics behind a token
    /// (or open) without its writer knowing.
    pub metrics_require_token: Option<bool>,
    /// A backup repository (`botstore backup init`): the server ships change-feed
    /// segments into it every `backup_every` (default 1s) and takes a snapshot every
    /// `backup_snapshot_every` (default 1h; `0` for none). The key comes from
    /// `backup_password_file`, `backup_key_file` or `BOTSTORE_BACKUP_PASSWORD`.
    pub backup_repo: Option<PathBuf>,
    pub backup_every: Option<String>,
    pub backup_snapshot_every: Option<String>,
    pub backup_password_file: Option<PathBuf>,
    pub backup_key_file: Option<PathBuf>,
    /// The source name in the repository (default: the data folder's absolute path).
    pub backup_source: Option<String>,
    /// Compress new values (default true), at this zstd level (default 3), those of at
    /// least `compression_min_size` bytes (default 128), with a dictionary per first
    /// namespace segment (`compression_dictionaries`, default true); the first segments
    /// listed in `compression_off` stay raw. Values already stored read either way.
    pub compression: Option<bool>,
    pub compression_level: Option<i32>,
    pub compression_min_size: Option<usize>,
    pub compression_dictionaries: Option<bool>,
    pub compression_off: Option<Vec<String>>,
}

macro_rules! merge_fields {
    ($base:ident, $over:ident; $($f:ident),* $(,)?) => {
        ServeConfig { $($f: $over.$f.or($base.$f)),* }
    };
}

impl ServeConfig {
    /// Read a TOML file; unknown keys are errors (a typo must not silently do nothing).
    pub fn load(path: &Path) -> Result<ServeConfig, ServerError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ServerError::Config(format!("reading {}: {e}", path.display())))?;
        toml::from_str(&text).map_err(|e| ServerError::Config(format!("{}: {e}", path.display())))
    }

    /// This configuration with every field that `overrides` sets replaced (flags win).
    pub fn merge(self, overrides: ServeConfig) -> ServeConfig {
        let base = self;
        let over = overrides;
        merge_fields!(base, over;
            data, listen, insecure_dev, tls_cert, tls_key, body_limit, rate_limit, rate_burst,
            log_format, durability, cache_mib, changes_retention, maintenance_interval,
            scrub_every, scrub_rate,
            header_timeout, body_timeout, request_timeout, max_header_bytes, shutdown_grace,
            long_poll_max,
            metrics_public, metrics_require_token, backup_repo, backup_every, backup_snapshot_every,
            backup_password_file, backup_key_file, backup_source,
            compression, compression_level, compression_min_size, compression_dictionaries,
            compression_off)
    }

    /// Defaults filled in, strings parsed, combinations checked.
    pub fn resolve(&self) -> Result<Settings, ServerError> {
        let bad =
            |what: &str, e: &dyn std::fmt::Display| ServerError::Config(format!("{what}: {e}"));
        let dur =
            |what: &str, v: &Option<String>, default: Duration| -> Result<Duration, ServerError> {
                match v {
                    None => Ok(default),
                    Some(s) => botstore::parse_duration(s).map_err(|e| bad(what, &e)),
                }
            };
        let listen: SocketAddr = self
            .listen
            .as_deref()
            .unwrap_or("127.0.0.1:7700")
            .parse()
            .map_err(|e| bad("listen", &e))?;
        let insecure_dev = self.insecure_dev.unwrap_or(false);
        if insecure_dev && !listen.ip().is_loopback() {
            return Err(ServerError::Config(format!(
                "--insecure-dev serves without tokens and is only allowed on a loopback \
                 address, not {listen}"
            )));
        }
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(c), Some(k)) => Some((c.clone(), k.clone())),
            (None, None) => None,
            _ => {
                return Err(ServerError::Config(
                    "--tls-cert and --tls-key go together".into(),
                ))
            }
        };
        let log_json = match self.log_format.as_deref().unwrap_or("text") {
            "text" => false,
            "json" => true,
            other => return Err(bad("log_format", &format!("{other:?} is not text or json"))),
        };
        let durability =
            botstore::Durability::parse(self.durability.as_deref().unwrap_or("immediate"))
                .map_err(|e| bad("durability", &e))?;
        if let Some(r) = self.rate_limit {
            if !(r.is_finite() && r > 0.0) {
                return Err(bad(
                    "rate_limit",
                    &"must be a positive number of requests per second",
                ));
            }
        }
        if self.metrics_require_token == Some(false) {
            return Err(ServerError::Config(
                "metrics_require_token = false is gone: /metrics takes a token (read on '*') \
                 by default now; set metrics_public = true to serve it without one"
                    .into(),
            ));
        }
        let metrics_public = self.metrics_public.unwrap_or(false);
        if metrics_public && self.metrics_require_token == Some(true) {
            return Err(ServerError::Config(
                "metrics_public = true and metrics_require_token = true contradict each other"
                    .into(),
            ));
        }
        let data = self
            .data
            .clone()
            .unwrap_or_else(|| PathBuf::from("./botstore-data"));
        let backup = match &self.backup_repo {
            None => {
                let stray = self.backup_every.is_some()
                    || self.backup_snapshot_every.is_some()
                    || self.backup_password_file.is_some()
                    || self.backup_key_file.is_some();
                if stray {
                    return Err(ServerError::Config(
                        "backup_every, backup_snapshot_every and the backup key need backup_repo"
                            .into(),
                    ));
                }
                None
            }
            Some(repo) => {
                if self.backup_password_file.is_some() && self.backup_key_file.is_some() {
                    return Err(ServerError::Config(
                        "give backup_password_file or backup_key_file, not both".into(),
                    ));
                }
                let every = dur("backup_every", &self.backup_every, Duration::from_secs(1))?;
                if every.is_zero() {
                    return Err(bad("backup_every", &"must be more than 0"));
                }
                let snap = dur(
                    "backup_snapshot_every",
                    &self.backup_snapshot_every,
                    Duration::from_secs(3600),
                )?;
                Some(BackupSettings {
                    repo: repo.clone(),
                    every,
                    snapshot_every: (!snap.is_zero()).then_some(snap),
                    password_file: self.backup_password_file.clone(),
                    key_file: self.backup_key_file.clone(),
                    source: self.backup_source.clone().unwrap_or_else(|| {
                        std::fs::canonicalize(&data)
                            .unwrap_or_else(|_| data.clone())
                            .display()
                            .to_string()
                    }),
                })
            }
        };
        let compression = botstore::CompressionSpec {
            enabled: self.compression,
            level: self.compression_level,
            min_size: self.compression_min_size,
            dictionaries: self.compression_dictionaries,
            off_prefixes: self.compression_off.clone(),
        }
        .options();
        compression.check().map_err(|e| bad("compression", &e))?;
        if let Some(p) = compression
            .off_prefixes
            .iter()
            .find(|p| p.is_empty() || p.contains('/'))
        {
            return Err(bad(
                "compression_off",
                &format!("{p:?} is not a first namespace segment"),
            ));
        }
        Ok(Settings {
            compression,
            backup,
            data: self
                .data
                .clone()
                .unwrap_or_else(|| PathBuf::from("./botstore-data")),
            listen,
            insecure_dev,
            tls,
            body_limit: self.body_limit.unwrap_or(20 << 20),
            rate_limit: self.rate_limit,
            rate_burst: self.rate_burst,
            log_json,
            durability,
            cache_mib: self.cache_mib.unwrap_or(64),
            changes_retention: dur(
                "changes_retention",
                &self.changes_retention,
                Duration::from_secs(86_400),
            )?,
            maintenance_interval: dur(
                "maintenance_interval",
                &self.maintenance_interval,
                Duration::from_secs(10),
            )?,
            scrub_every: match self.scrub_every.as_deref() {
                Some("0") => None,
                v => Some(dur(
                    "scrub_every",
                    &v.map(str::to_string),
                    Duration::from_secs(86_400),
                )?),
            },
            scrub_rate: self.scrub_rate.unwrap_or(20_000),
            header_timeout: dur(
                "header_timeout",
                &self.header_timeout,
                Duration::from_secs(10),
            )?,
            body_timeout: dur("body_timeout", &self.body_timeout, Duration::from_secs(30))?,
            request_timeout: dur(
                "request_timeout",
                &self.request_timeout,
                Duration::from_secs(60),
            )?,
            max_header_bytes: self.max_header_bytes.unwrap_or(64 << 10),
            shutdown_grace: dur(
                "shutdown_grace",
                &self.shutdown_grace,
                Duration::from_secs(30),
            )?,
            long_poll_max: dur(
                "long_poll_max",
                &self.long_poll_max,
                Duration::from_secs(60),
            )?,
            metrics_public,
        })
    }
}

/// Where and how often the server backs up (`backup_*` keys).
#[derive(Debug, Clone)]
pub struct BackupSettings {
    pub repo: PathBuf,
    pub every: Duration,
    pub snapshot_every: Option<Duration>,
    pub password_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub source: String,
}

/// A resolved configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub compression: botstore::CompressionOptions,
    pub backup: Option<BackupSettings>,
    pub data: PathBuf,
    pub listen: SocketAddr,
    pub insecure_dev: bool,
    pub tls: Option<(PathBuf, PathBuf)>,
    pub body_limit: usize,
    pub rate_limit: Option<f64>,
    pub rate_burst: Option<u32>,
    pub log_json: bool,
    pub durability: botstore::Durability,
    pub cache_mib: usize,
    pub changes_retention: Duration,
    pub maintenance_interval: Duration,
    /// `None`: no background scrub.
    pub scrub_every: Option<Duration>,
    pub scrub_rate: u32,
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub request_timeout: Duration,
    pub max_header_bytes: usize,
    pub shutdown_grace: Duration,
    pub long_poll_max: Duration,
    /// `/metrics` without a token.
    pub metrics_public: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_file_and_defaults_fill_the_rest() {
        let file: ServeConfig =
            toml::from_str("listen = \"127.0.0.1:9000\"\nbody_limit = 1000\n").unwrap();
        let flags = ServeConfig {
            body_limit: Some(5),
            ..Default::default()
        };
        let s = file.merge(flags).resolve().unwrap();
        assert_eq!(s.listen.port(), 9000);
        assert_eq!(s.body_limit, 5);
        assert_eq!(s.header_timeout, Duration::from_secs(10));
    }

    #[test]
    fn unknown_keys_and_unsafe_combinations_are_refused() {
        assert!(toml::from_str::<ServeConfig>("lisen = \"x\"").is_err());
        let c = ServeConfig {
            listen: Some("0.0.0.0:7700".into()),
            insecure_dev: Some(true),
            ..Default::default()
        };
        assert!(matches!(c.resolve(), Err(ServerError::Config(_))));
        let c = ServeConfig {
            tls_cert: Some("c.pem".into()),
            ..Default::default()
        };
        assert!(c.resolve().is_err());
    }

    #[test]
    fn metrics_take_a_token_unless_configured_public() {
        assert!(!ServeConfig::default().resolve().unwrap().metrics_public);
        let public: ServeConfig = toml::from_str("metrics_public = true").unwrap();
        assert!(public.resolve().unwrap().metrics_public);
        let old: ServeConfig = toml::from_str("metrics_require_token = true").unwrap();
        assert!(!old.resolve().unwrap().metrics_public);
        let old_off: ServeConfig = toml::from_str("metrics_require_token = false").unwrap();
        let e = old_off.resolve().unwrap_err().to_string();
        assert!(e.contains("metrics_public"), "{e}");
        let both: ServeConfig =
            toml::from_str("metrics_public = true\nmetrics_require_token = true").unwrap();
        assert!(both.resolve().is_err());
    }

    #[test]
    fn compression_is_on_by_default_and_set_from_the_file_or_flags() {
        let d = ServeConfig::default().resolve().unwrap().compression;
        assert_eq!(d, botstore::CompressionOptions::default());
        assert!(d.enabled && d.dictionaries);
        let file: ServeConfig = toml::from_str(
            "compression_level = 7\ncompression_min_size = 64\ncompression_off = [\"blobs\"]\n",
        )
        .unwrap();
        let flags = ServeConfig {
            compression_dictionaries: Some(false),
            compression_level: Some(2),
            ..Default::default()
        };
        let c = file.merge(flags).resolve().unwrap().compression;
        assert_eq!((c.level, c.min_size, c.dictionaries), (2, 64, false));
        assert_eq!(c.off_prefixes, vec!["blobs".to_string()]);
        let off: ServeConfig = toml::from_str("compression = false").unwrap();
        assert!(!off.resolve().unwrap().compression.enabled);
        for bad in ["compression_level = 99", "compression_off = [\"a/b\"]"] {
            let c: ServeConfig = toml::from_str(bad).unwrap();
            assert!(c.resolve().is_err(), "{bad}");
        }
    }
}
