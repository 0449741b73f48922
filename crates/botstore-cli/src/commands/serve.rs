//! `serve`: the HTTP server of `botstore-server`, configured from a TOML file and flags.
//!
//! Precedence, lowest first: the server's defaults, `--config FILE`, then flags. The
//! global `--data`, `--durability`, `--cache-mib` and `--changes-retention` count as
//! flags only when given on the command line or through their environment variables
//! (`BOTSTORE_DATA`, ...): their built-in defaults never override the file.

use crate::cli::{Cli, ServeArgs};
use crate::exit::Failure;
use botstore::ErrorKind;
use botstore_server::{ServeConfig, ServerError};
use clap::parser::ValueSource;
use clap::ArgMatches;

/// Where a global option's value came from. Global options may be given before or after
/// the subcommand; clap propagates them to the subcommand's matches.
fn source(matches: &ArgMatches, id: &str) -> Option<ValueSource> {
    let sub = matches.subcommand_matches("serve").unwrap_or(matches);
    sub.value_source(id).or_else(|| matches.value_source(id))
}

/// Whether a global option was given (command line or environment), not defaulted.
fn given(matches: &ArgMatches, id: &str) -> bool {
    matches!(
        source(matches, id),
        Some(ValueSource::CommandLine | ValueSource::EnvVariable)
    )
}

/// The text a global option was given as (the server's configuration takes text).
fn raw(matches: &ArgMatches, id: &str) -> Option<String> {
    let sub = matches.subcommand_matches("serve").unwrap_or(matches);
    sub.get_raw(id)
        .or_else(|| matches.get_raw(id))
        .and_then(|mut v| v.next())
        .map(|v| v.to_string_lossy().into_owned())
}

/// The configuration the flags say: `Some` only for what was given.
pub fn flags_config(cli: &Cli, a: &ServeArgs, matches: &ArgMatches) -> ServeConfig {
    let global = |id: &str| given(matches, id).then(|| raw(matches, id)).flatten();
    ServeConfig {
        data: given(matches, "data").then(|| cli.data.clone()),
        listen: a.listen.clone(),
        insecure_dev: a.insecure_dev.then_some(true),
        tls_cert: a.tls_cert.clone(),
        tls_key: a.tls_key.clone(),
        body_limit: a.body_limit,
        rate_limit: a.rate_limit,
        rate_burst: a.rate_burst,
        log_format: a.log_format.clone(),
        durability: global("durability"),
        cache_mib: given(matches, "cache_mib").then_some(cli.cache_mib),
        changes_retention: global("changes_retention"),
        maintenance_interval: a.maintenance_interval.clone(),
        scrub_every: a.scrub_every.clone(),
        scrub_rate: a.scrub_rate,
        header_timeout: a.header_timeout.clone(),
        body_timeout: a.body_timeout.clone(),
        request_timeout: a.request_timeout.clone(),
        max_header_bytes: a.max_header_bytes,
        shutdown_grace: a.shutdown_grace.clone(),
        metrics_public: a.metrics_public.then_some(true),
        metrics_require_token: None,
        long_poll_max: None,
        backup_repo: a.backup_repo.clone(),
        backup_every: a.backup_every.clone(),
        backup_snapshot_every: a.backup_snapshot_every.clone(),
        backup_password_file: a.backup_password_file.clone(),
        backup_key_file: a.backup_key_file.clone(),
        backup_source: None,
        compression: cli.compression.as_ref().and_then(|c| c.enabled),
        compression_level: cli.compression.as_ref().and_then(|c| c.level),
        compression_min_size: cli.compression.as_ref().and_then(|c| c.min_size),
        compression_dictionaries: cli.compression.as_ref().and_then(|c| c.dictionaries),
        compression_off: cli
            .compression
            .as_ref()
            .and_then(|c| c.off_prefixes.clone()),
    }
}

fn server_error(e: ServerError) -> anyhow::Error {
    match e {
        ServerError::Store(e) => e.into(),
        ServerError::Config(_) => Failure::new(ErrorKind::InvalidInput, e.to_string()).into(),
        other => Failure::new(ErrorKind::Internal, other.to_string()).into(),
    }
}

pub async fn serve(cli: &Cli, a: &ServeArgs, matches: &ArgMatches) -> anyhow::Result<()> {
    let file = match &a.config {
        Some(p) => ServeConfig::load(p).map_err(server_error)?,
        None => ServeConfig::default(),
    };
    let config = file.merge(flags_config(cli, a, matches));
    botstore_server::serve(config).await.map_err(server_error)
}
