//! The command line: clap types only. What each command does lives in [`crate::commands`].

use botstore::Durability;
use botstore::Version;
use botstore_client::Perm;
use clap::{ArgGroup, Args, Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

const AFTER_HELP: &str = "\
Namespaces are written a/b/c. Values are JSON unless --bytes is given.

Exit codes:
  0  ok
  1  not found (item, stream, token, or nothing to delete)
  2  bad input (usage errors, invalid namespace/key/value/TTL, bad import line; with
     --remote also a missing, unknown or insufficient token: 401/403)
  3  precondition failed (--if-version, --if-absent, --expect-last)
  4  any other error (storage, I/O, data folder in use or not a folder; with --remote
     also a server that cannot be reached: \"cannot reach server at URL: ...\")

Errors go to stderr and name the rule they broke, e.g. `invalid input (key.empty): ...`.
With --json, errors are one JSON object on stderr: {\"error\", \"kind\", \"exit_code\"}.

With --remote URL (or BOTSTORE_REMOTE) the data commands (put, get, del, ls, ns, stream,
changes, stats, compact, import, export), token and backup create work on that server
instead of --data, with the same output and exit codes; --token (BOTSTORE_TOKEN) is the
API token.
One difference: export over --remote writes items only (the HTTP API cannot list
streams).";

/// botstore: storage for chatbots and AI agents.
/// The environment variables of the --remote options. They are read here, not by clap, so
/// that no help text and no usage line shows an option the user did not type (clap puts
/// options set from the environment in usage lines: `--token <TOKEN>`), let alone a value.
const REMOTE_ENV: &str = "BOTSTORE_REMOTE";
const TOKEN_ENV: &str = "BOTSTORE_TOKEN";
const CA_CERT_ENV: &str = "BOTSTORE_CA_CERT";

#[derive(Debug, Parser)]
#[command(name = "botstore", version, after_help = AFTER_HELP)]
pub struct Cli {
    /// The data folder (created if missing).
    #[arg(
        long,
        global = true,
        env = "BOTSTORE_DATA",
        default_value = "./botstore-data",
        value_name = "DIR"
    )]
    pub data: PathBuf,

    /// Machine-readable output: one JSON document on stdout (errors as JSON on stderr).
    #[arg(long, global = true)]
    pub json: bool,

    /// When a write is on disk: `immediate` (acknowledged = flushed), `relaxed` (flushed
    /// within 10 ms) or `relaxed:<duration>`, e.g. `relaxed:50ms`.
    #[arg(long, global = true, default_value = "immediate", value_parser = parse_durability, value_name = "MODE")]
    pub durability: Durability,

    /// How long the change feed keeps records (90s, 15m, 24h, 7d); older ones are dropped
    /// by `compact` (and, in a server, by its background upkeep).
    #[arg(long, global = true, default_value = "24h", value_parser = parse_ttl, value_name = "DURATION")]
    pub changes_retention: Duration,

    /// redb's page cache in MiB.
    #[arg(long, global = true, default_value_t = 64, value_name = "MIB")]
    pub cache_mib: usize,

    /// How new values are compressed (on by default: zstd level 3, values of 128 bytes
    /// or more, a dictionary per first namespace segment): a comma-separated list of
    /// `on`, `off`, `level=N`, `min-size=BYTES`, `dictionaries=on|off`,
    /// `off-prefix=NAME`, e.g. `level=6,off-prefix=blobs`.
    #[arg(long, global = true, value_parser = parse_compression, value_name = "SETTINGS")]
    pub compression: Option<botstore::CompressionSpec>,

    /// Work against a botstore server (http://host:port or https://...) instead of the
    /// data folder. Default: the BOTSTORE_REMOTE environment variable.
    #[arg(long, global = true, value_name = "URL")]
    pub remote: Option<String>,

    /// The API token for --remote (see `botstore token create`). Default: the
    /// BOTSTORE_TOKEN environment variable (never printed, not even in usage lines).
    #[arg(long, global = true, value_name = "TOKEN")]
    pub token: Option<String>,

    /// For --remote https://...: trust the PEM certificate(s) in FILE (and only those),
    /// e.g. a server's self-signed certificate. Default: the BOTSTORE_CA_CERT environment
    /// variable.
    #[arg(long, global = true, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,

    /// For --remote: longest a request may take (90s, 5m, ...).
    #[arg(long, global = true, default_value = "60s", value_parser = parse_ttl, value_name = "DURATION")]
    pub timeout: Duration,

    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// Fill the --remote options the command line left out from their environment
    /// variables (an empty variable counts as unset).
    pub fn with_env(mut self) -> Cli {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        if self.remote.is_none() {
            self.remote = var(REMOTE_ENV).map(|v| v.to_string_lossy().into_owned());
        }
        if self.token.is_none() {
            self.token = var(TOKEN_ENV).map(|v| v.to_string_lossy().into_owned());
        }
        if self.ca_cert.is_none() {
            self.ca_cert = var(CA_CERT_ENV).map(PathBuf::from);
        }
        self
    }
}

/// The --remote options, declared again (hidden) by the commands that work on --data only
/// (serve, verify, repair): clap then leaves the global ones out of their help, where they
/// would look as if they applied. Given anyway, they are refused with a clear error
/// ([`crate::commands::refuse_remote_options`]); their environment variables are ignored
/// there. The types are the global options' own, since clap hands the values of options
/// given before the subcommand down to it.
#[derive(Debug, Args)]
pub struct LocalOnly {
    #[arg(long, hide = true, value_name = "URL")]
    pub remote: Option<String>,
    #[arg(long, hide = true, value_name = "TOKEN")]
    pub token: Option<String>,
    #[arg(long, hide = true, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
    #[arg(long, hide = true, value_parser = parse_ttl, value_name = "DURATION")]
    pub timeout: Option<Duration>,
}

// One value per process, parsed once: the size of its largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write an item. The value comes from the argument, or from stdin when omitted.
    Put(PutArgs),
    /// Print an item's value.
    ///
    /// JSON values print as stored; other values print as raw bytes. With --json: an object
    /// with ns, key, content_type, value (or value_b64, base64, for non-JSON values),
    /// version, created_at, updated_at, expires_at (ms since the epoch) and subject.
    Get(ItemArgs),
    /// Delete an item (exit code 1 when there was nothing to delete).
    Del(DelArgs),
    /// List the items of a namespace, in key order, one page at a time.
    Ls(LsArgs),
    /// List namespaces that hold items or streams.
    Ns(NsArgs),
    /// Append to, read or trim a stream.
    #[command(subcommand)]
    Stream(StreamCommand),
    /// Print the change feed: committed writes in commit order.
    Changes(ChangesArgs),
    /// Items, streams and logical bytes per namespace, rolled up to the top-level
    /// namespaces (--depth), biggest first (--top), with a total and the bytes on disk.
    Stats(StatsArgs),
    /// Reclaim free space on disk.
    Compact,
    /// Load a JSON Lines file (or `-` for stdin) written by `export`.
    Import(ImportArgs),
    /// Write every item and stream entry as JSON Lines to stdout.
    Export(ExportArgs),
    /// Check every record of --data (items, streams, leases, the change feed, counters)
    /// against its record check, key order and the derived tables; print every damaged
    /// record with its address. Exit code 0 when nothing is damaged, 4 otherwise.
    Verify(VerifyArgs),
    /// Measure bot workloads on fresh temporary stores (not on --data), optionally next to
    /// raw redb in the same run. With --json: one JSON object per workload, one per line.
    ///
    /// Runs the `botstore-bench` binary, next to this one or on PATH (build it with `cargo
    /// build --release -p botstore-bench`); `botstore bench --help` lists its options.
    Bench(BenchArgs),
    /// Serve the store on --data over HTTP (the API of docs/HTTP-API.md) until SIGTERM or
    /// SIGINT.
    ///
    /// Settings come from --config FILE (TOML; the keys are the flags' names with `_` for
    /// `-`: listen, tls_cert, body_limit, rate_limit, ...; docs/OPERATIONS.md lists them
    /// all), then from flags, which win. The global --data,
    /// --durability, --cache-mib and --changes-retention override the file only when
    /// given on the command line or by their environment variables; their defaults do
    /// not.
    Serve(ServeArgs),
    /// Create, list and revoke API tokens: in --data's tokens.json, or on the server
    /// with --remote (needs an admin token).
    Token(TokenArgs),
    /// Encrypted, incremental backups of --data, or of a running server with --remote
    /// (create): init, create, ls, verify, restore, drill, diff, forget, prune, follow
    /// (docs/BACKUP-FORMAT.md). Key: --password-file, BOTSTORE_BACKUP_PASSWORD or --key-file.
    #[command(subcommand)]
    Backup(crate::commands::backup::BackupCommand),
    /// Inspect --data's journal after open refused it (damage in the middle, files that do
    /// not belong together) and, with a choice and --yes, repair it.
    ///
    /// Without a choice: prints what it found and what each choice would keep and lose,
    /// changes nothing, and exits 0 when the folder opens as it is, 4 when it does not.
    /// --cut-at-damage keeps the frames before the damage; --skip-damaged also keeps the
    /// valid frames after it and rebuilds the namespace counters and expiry index. Both
    /// keep the original journal as wal.log.damaged-<unix time> and end with a
    /// checkpoint. Embedded data folders only; the store must not be open elsewhere.
    Repair(crate::commands::repair::RepairArgs),
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("tls").args(["tls_cert", "tls_key"]).multiple(true)))]
pub struct ServeArgs {
    #[command(flatten)]
    pub local_only: LocalOnly,
    /// A TOML file of settings; flags override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on (default 127.0.0.1:7700; port 0 picks a free port, and the
    /// log line `listening on ADDR` says which).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Serve without tokens. Only on a loopback address; for development.
    #[arg(long)]
    pub insecure_dev: bool,
    /// PEM certificate chain: serve HTTPS (with --tls-key).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Log lines as `text` (default) or `json`.
    #[arg(long, value_name = "FORMAT", value_parser = ["text", "json"])]
    pub log_format: Option<String>,
    /// Largest request body in bytes (default 20 MiB).
    #[arg(long, value_name = "BYTES")]
    pub body_limit: Option<usize>,
    /// Requests per second allowed per token: `N` or `N/s` (default: no limit).
    #[arg(long, value_name = "N/s", value_parser = parse_rate)]
    pub rate_limit: Option<f64>,
    /// Requests allowed at once above --rate-limit (default: one second's worth).
    #[arg(long, value_name = "N")]
    pub rate_burst: Option<u32>,
    /// How often the TTL sweep and change-feed retention run (default 10s).
    #[arg(long, value_name = "DURATION", value_parser = duration_text)]
    pub maintenance_interval: Option<String>,
    /// How often the background scrub checks every record against its record check
    /// (default 24h, the first a minute after the start; 0: never). Its results are the
    /// botstore_scrub_* metrics; damage is logged.
    #[arg(long, value_name = "DURATION")]
    pub scrub_every: Option<String>,
    /// Most records per second the scrub checks (default 20000).
    #[arg(long, value_name = "N")]
    pub scrub_rate: Option<u32>,
    /// Time allowed for the request headers (default 10s).
    #[arg(long, value_name = "DURATION", value_parser = duration_text)]
    pub header_timeout: Option<String>,
    /// Time allowed for the request body (default 30s).
    #[arg(long, value_name = "DURATION", value_parser = duration_text)]
    pub body_timeout: Option<String>,
    /// Longest a request may take, long polls aside (default 60s).
    #[arg(long, value_name = "DURATION", value_parser = duration_text)]
    pub request_timeout: Option<String>,
    /// Largest request head in bytes (default 64 KiB).
    #[arg(long, value_name = "BYTES")]
    pub max_header_bytes: Option<usize>,
    /// On SIGTERM/SIGINT, how long in-flight requests get to finish (default 30s).
    #[arg(long, value_name = "DURATION", value_parser = duration_text)]
    pub shutdown_grace: Option<String>,
    /// Serve /metrics without a token (by default it takes one with read on `*`: it
    /// names every tenant's namespaces and sizes).
    #[arg(long)]
    pub metrics_public: bool,
    /// Back up continuously into this repository (`botstore backup init`): change-feed
    /// segments every --backup-every, snapshots every --backup-snapshot-every. Key:
    /// --backup-password-file, --backup-key-file or BOTSTORE_BACKUP_PASSWORD.
    #[arg(long, value_name = "PATH")]
    pub backup_repo: Option<PathBuf>,
    /// How often change-feed segments are shipped (default 1s).
    #[arg(long, value_name = "DURATION", value_parser = duration_text, requires = "backup_repo")]
    pub backup_every: Option<String>,
    /// How often a snapshot is taken (default 1h; 0: never).
    #[arg(long, value_name = "DURATION", value_parser = duration_text, requires = "backup_repo")]
    pub backup_snapshot_every: Option<String>,
    /// A file whose first line is the backup repository's password.
    #[arg(
        long,
        value_name = "FILE",
        requires = "backup_repo",
        conflicts_with = "backup_key_file"
    )]
    pub backup_password_file: Option<PathBuf>,
    /// A file holding the backup repository's 32-byte key.
    #[arg(long, value_name = "FILE", requires = "backup_repo")]
    pub backup_key_file: Option<PathBuf>,
}

/// `token`: tokens live in --data's tokens.json (or on the --remote server), not in the
/// store, so the store's options are declared again (hidden) and refused, like
/// [`LocalOnly`], rather than listed in its help.
#[derive(Debug, Args)]
pub struct TokenArgs {
    #[command(flatten)]
    pub no_store: NoStoreOptions,
    #[command(subcommand)]
    pub command: TokenCommand,
}

/// The store's options (durability, page cache, change-feed retention), hidden on a
/// command that opens no store (see [`LocalOnly`] for why they are declared again).
#[derive(Debug, Args)]
pub struct NoStoreOptions {
    #[arg(long, hide = true, value_parser = parse_durability, value_name = "MODE")]
    pub durability: Option<Durability>,
    #[arg(long, hide = true, value_parser = parse_ttl, value_name = "DURATION")]
    pub changes_retention: Option<Duration>,
    #[arg(long, hide = true, value_name = "MIB")]
    pub cache_mib: Option<usize>,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it (the only time it is shown). With --json: the token
    /// and its info as one object.
    Create(TokenCreateArgs),
    /// List tokens (never their secrets), revoked and expired ones included.
    List,
    /// Revoke a token by id (exit code 1 when there is no such token).
    Revoke(TokenRevokeArgs),
}

#[derive(Debug, Args)]
pub struct TokenCreateArgs {
    /// A namespace pattern the token may use: `tenant-a/*` (it and everything below),
    /// `*` (everything), `a/*/b` (`*` is one segment), `a/b` (exactly that namespace).
    /// Repeat for several; each gets the --perm permissions.
    #[arg(long = "ns", value_name = "PATTERN", required = true)]
    pub ns: Vec<String>,
    /// Permissions, comma-separated: read, write, admin (admin on `*` manages tokens and
    /// compacts).
    #[arg(long = "perm", value_name = "PERMS", required = true, value_delimiter = ',', value_parser = parse_perm)]
    pub perm: Vec<Perm>,
    /// How long the token is valid (30d, 12h, ...); default: until revoked.
    #[arg(long, value_name = "DURATION", value_parser = duration_text)]
    pub ttl: Option<String>,
    /// A note for people (shown by `token list`).
    #[arg(long, value_name = "TEXT")]
    pub label: Option<String>,
}

#[derive(Debug, Args)]
pub struct TokenRevokeArgs {
    /// The token's id (the part after `bst_` and before the next `_`; `token list` shows it).
    pub id: String,
}

/// `bench`'s arguments, handed as they are to the `botstore-bench` binary (whose `--help`
/// lists them).
#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub struct BenchArgs {
    /// The benchmark's options: `botstore bench --help` lists them.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "ARGS"
    )]
    pub args: Vec<std::ffi::OsString>,
}

#[derive(Debug, Args)]
pub struct ItemArgs {
    /// Namespace, e.g. tenant-a/users/u42.
    pub ns: String,
    pub key: String,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("precondition").args(["if_version", "if_absent"])))]
pub struct PutArgs {
    /// Namespace, e.g. tenant-a/users/u42.
    pub ns: String,
    pub key: String,
    /// The value (JSON unless --bytes). Read from stdin when omitted.
    pub value: Option<String>,
    /// Store the value as opaque bytes instead of JSON.
    #[arg(long)]
    pub bytes: bool,
    /// Content type of a --bytes value.
    #[arg(
        long,
        requires = "bytes",
        default_value = "application/octet-stream",
        value_name = "TYPE"
    )]
    pub content_type: String,
    /// Write only if the item's current version is V.
    #[arg(long, value_parser = parse_version, value_name = "V")]
    pub if_version: Option<Version>,
    /// Write only if the item does not exist.
    #[arg(long)]
    pub if_absent: bool,
    /// Expire the item this long after the write (90s, 15m, 1h, 7d). Default: the
    /// namespace's default TTL, if one is set, otherwise never.
    #[arg(long, value_parser = parse_ttl, value_name = "DURATION")]
    pub ttl: Option<Duration>,
    /// The subject (e.g. end user) the item belongs to.
    #[arg(long, value_name = "S")]
    pub subject: Option<String>,
}

#[derive(Debug, Args)]
pub struct DelArgs {
    /// Namespace, e.g. tenant-a/users/u42.
    pub ns: String,
    pub key: String,
    /// Delete only if the item's current version is V.
    #[arg(long, value_parser = parse_version, value_name = "V")]
    pub if_version: Option<Version>,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Namespace (with --recursive, a namespace prefix; empty for everything).
    pub ns: String,
    /// Only keys starting with P.
    #[arg(long, value_name = "P")]
    pub prefix: Option<String>,
    /// Only keys >= K.
    #[arg(long, value_name = "K")]
    pub start: Option<String>,
    /// Only keys < K.
    #[arg(long, value_name = "K")]
    pub end: Option<String>,
    /// Page size.
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub limit: usize,
    /// Continue after the page that printed this cursor.
    #[arg(long, value_name = "C")]
    pub cursor: Option<String>,
    /// Also list every namespace below NS (no key filters then).
    #[arg(long, short = 'r')]
    pub recursive: bool,
}

#[derive(Debug, Args)]
pub struct NsArgs {
    /// Only namespaces under this prefix (default: all).
    #[arg(default_value = "")]
    pub prefix: String,
    /// Show namespaces at most N segments below PREFIX (deeper ones are cut to N).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..), value_name = "N")]
    pub depth: Option<u32>,
    /// Page size.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub limit: usize,
    /// Continue after the page that printed this cursor.
    #[arg(long, value_name = "C")]
    pub cursor: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum StreamCommand {
    /// Append JSON values (from the arguments, or one per stdin line) atomically.
    Append(AppendArgs),
    /// Read entries.
    Read(ReadArgs),
    /// Remove old entries.
    Trim(TrimArgs),
}

#[derive(Debug, Args)]
pub struct AppendArgs {
    /// Namespace, e.g. tenant-a/chats/c1.
    pub ns: String,
    pub stream: String,
    /// JSON values; when none are given, one per line of stdin (blank lines skipped).
    pub values: Vec<String>,
    /// Append only if the stream's last sequence is N (0: the stream is empty or new).
    #[arg(long, value_name = "N")]
    pub expect_last: Option<u64>,
}

#[derive(Debug, Args)]
pub struct ReadArgs {
    pub ns: String,
    pub stream: String,
    /// First sequence to read (inclusive). Default: the first entry, or the last with
    /// --backward.
    #[arg(long, value_name = "N")]
    pub from: Option<u64>,
    /// Read newest first.
    #[arg(long)]
    pub backward: bool,
    /// Most entries to print.
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub limit: usize,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("cut").required(true).args(["keep_last", "before", "older_than"])))]
pub struct TrimArgs {
    pub ns: String,
    pub stream: String,
    /// Keep only the last N entries.
    #[arg(long, value_name = "N")]
    pub keep_last: Option<u64>,
    /// Remove every entry with a sequence below SEQ.
    #[arg(long, value_name = "SEQ")]
    pub before: Option<u64>,
    /// Remove every entry appended more than this long ago (90s, 15m, 1h, 7d).
    #[arg(long, value_parser = parse_ttl, value_name = "DURATION")]
    pub older_than: Option<Duration>,
}

#[derive(Debug, Args)]
pub struct ChangesArgs {
    /// Only changes with an LSN above this.
    #[arg(long, default_value_t = 0, value_name = "LSN")]
    pub since: u64,
    /// Most changes to print.
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub limit: usize,
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Only namespaces under this prefix (default: all).
    #[arg(default_value = "")]
    pub prefix: String,
    /// Roll namespaces up to N segments below PREFIX: a line sums everything under its
    /// namespace (default 1: the top-level namespaces, or PREFIX's children); 0: every
    /// namespace on its own line.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub depth: usize,
    /// Show the N biggest lines (by logical bytes, then by name); 0: all of them. Default
    /// 20, and all with --json.
    #[arg(long, value_name = "N")]
    pub top: Option<usize>,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A JSON Lines file, or `-` for stdin.
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Only namespaces under this prefix (default: all).
    #[arg(long, default_value = "", value_name = "PREFIX")]
    pub ns: String,
    /// Go on past damaged records (which fail their record check) instead of stopping at
    /// the first, and list on stderr what was skipped. --data only.
    #[arg(long)]
    pub skip_damaged: bool,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub local_only: LocalOnly,
    /// Check at most N records per second (default: as fast as the disk allows).
    #[arg(long, value_name = "N")]
    pub rate: Option<u32>,
}

fn parse_durability(s: &str) -> Result<Durability, String> {
    Durability::parse(s).map_err(|e| e.to_string())
}

fn parse_version(s: &str) -> Result<Version, String> {
    Version::parse(s).ok_or_else(|| format!("{s:?} is not a version (a number such as 42)"))
}

fn parse_compression(s: &str) -> Result<botstore::CompressionSpec, String> {
    botstore::CompressionSpec::parse(s).map_err(|e| e.to_string())
}

fn parse_ttl(s: &str) -> Result<Duration, String> {
    botstore::parse_duration(s).map_err(|e| e.to_string())
}

/// A duration, kept as text (the server's configuration takes text) once it parses.
fn duration_text(s: &str) -> Result<String, String> {
    parse_ttl(s).map(|_| s.to_owned())
}

/// `500`, `500/s` or `2.5/s`.
fn parse_rate(s: &str) -> Result<f64, String> {
    let n = s.strip_suffix("/s").unwrap_or(s);
    match n.trim().parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 => Ok(r),
        _ => Err(format!(
            "{s:?} is not a rate (requests per second, e.g. 500 or 500/s)"
        )),
    }
}

/// One permission: `read`, `write` or `admin` (`--perm` splits `read,write` first).
fn parse_perm(s: &str) -> Result<Perm, String> {
    match s.trim() {
        "read" => Ok(Perm::Read),
        "write" => Ok(Perm::Write),
        "admin" => Ok(Perm::Admin),
        other => Err(format!(
            "{other:?} is not a permission (read, write, admin)"
        )),
    }
}
