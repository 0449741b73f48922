//! Opening a store by location: the one place that knows which engines exist.

use botstore_core::{BulkLoader, Durability, Error, Result, Rule, Store, StoreOptions};
use std::path::PathBuf;
use std::sync::Arc;

/// Where a store lives, parsed from a location string ([`Location::parse`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// `memory:`: in this process only.
    Memory,
    /// A data folder of the embedded engine: a plain path, `embedded:PATH` or
    /// `file://PATH`.
    Embedded(PathBuf),
    /// `postgres://...` or `postgresql://...`.
    Postgres(String),
}

impl Location {
    /// Parse a location. Anything without a known scheme is a folder path.
    pub fn parse(s: &str) -> Result<Location> {
        let bad = |detail: String| Error::InvalidInput {
            rule: Rule::Range,
            detail,
        };
        if s.is_empty() {
            return Err(bad("empty store location".into()));
        }
        if s == "memory:" || s == "memory://" {
            return Ok(Location::Memory);
        }
        if let Some(p) = s.strip_prefix("embedded:") {
            let p = p.strip_prefix("//").unwrap_or(p);
            return Ok(Location::Embedded(PathBuf::from(p)));
        }
        if let Some(p) = s.strip_prefix("file://") {
            return Ok(Location::Embedded(PathBuf::from(p)));
        }
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            return Ok(Location::Postgres(s.to_owned()));
        }
        // A scheme we do not know (`s3://...`, a typo) must not become a folder named so.
        if let Some((scheme, _)) = s.split_once("://") {
            if !scheme.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
            {
                return Err(bad(format!(
                    "store location {s:?}: unknown scheme {scheme:?} (known: memory:, \
                     embedded:PATH, file://PATH, a folder path)"
                )));
            }
        }
        Ok(Location::Embedded(PathBuf::from(s)))
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Memory => f.write_str("memory:"),
            Location::Embedded(p) => write!(f, "{}", p.display()),
            Location::Postgres(u) => f.write_str(u),
        }
    }
}

/// How to open a store: the core's options and the engine settings that have a meaning
/// for every engine.
#[derive(Clone, Debug, Default)]
pub struct OpenOptions {
    /// When an acknowledged write is on disk (default: immediate).
    pub durability: Durability,
    /// Bytes of page cache, for engines that keep one (embedded: default 64 MiB).
    pub cache_bytes: Option<usize>,
    /// Limits, retention, clock, codecs, grouping.
    pub store: StoreOptions,
}

/// Open the backend at `location` (see the crate documentation for the forms).
pub fn open_backend(location: &str, opts: &OpenOptions) -> Result<Arc<dyn botstore_core::Backend>> {
    match Location::parse(location)? {
        Location::Memory => Ok(Arc::new(botstore_core::memory::MemoryBackend::new())),
        Location::Embedded(dir) => embedded(dir, opts),
        Location::Postgres(_) => Err(not_built("the PostgreSQL backend does not exist yet")),
    }
}

/// Open a store at `location` (see the crate documentation for the forms).
pub fn open(location: &str, opts: OpenOptions) -> Result<Store> {
    let backend = open_backend(location, &opts)?;
    Ok(Store::with_options(backend, opts.store))
}

/// `Err` (the error [`open`] would give) when the store at `location` is open in another
/// process; `Ok` when it is free or does not exist yet. Creates and writes nothing, so a
/// server can check it before it binds its port or makes a data folder.
pub fn check_not_in_use(location: &str) -> Result<()> {
    match Location::parse(location)? {
        Location::Memory | Location::Postgres(_) => Ok(()),
        Location::Embedded(dir) => embedded_check_not_in_use(&dir),
    }
}

#[cfg(feature = "embedded")]
fn embedded_check_not_in_use(dir: &std::path::Path) -> Result<()> {
    botstore_embedded::check_not_in_use(dir)
}

#[cfg(not(feature = "embedded"))]
fn embedded_check_not_in_use(_: &std::path::Path) -> Result<()> {
    Ok(())
}

/// Start loading a new store at `location` (a restore's target). With `replace`, a store
/// already there is replaced once the load finishes; otherwise it is an error.
pub fn create_loader(location: &str, replace: bool) -> Result<Box<dyn BulkLoader>> {
    match Location::parse(location)? {
        Location::Embedded(dir) => embedded_loader(dir, replace),
        Location::Memory => Err(not_built("a memory store cannot be restored into")),
        Location::Postgres(_) => Err(not_built("the PostgreSQL backend does not exist yet")),
    }
}

fn not_built(what: &str) -> Error {
    Error::InvalidInput {
        rule: Rule::Range,
        detail: what.into(),
    }
}

#[cfg(feature = "embedded")]
fn embedded(dir: PathBuf, opts: &OpenOptions) -> Result<Arc<dyn botstore_core::Backend>> {
    let mut e = botstore_embedded::EmbeddedOptions {
        durability: opts.durability,
        ..Default::default()
    };
    if let Some(c) = opts.cache_bytes {
        e.cache_size = c;
    }
    Ok(Arc::new(botstore_embedded::EmbeddedBackend::open(dir, e)?))
}

#[cfg(feature = "embedded")]
fn embedded_loader(dir: PathBuf, replace: bool) -> Result<Box<dyn BulkLoader>> {
    Ok(Box::new(botstore_embedded::Loader::create(dir, replace)?))
}

#[cfg(not(feature = "embedded"))]
fn embedded(_: PathBuf, _: &OpenOptions) -> Result<Arc<dyn botstore_core::Backend>> {
    Err(not_built(
        "this build has no embedded engine (feature `embedded`)",
    ))
}

#[cfg(not(feature = "embedded"))]
fn embedded_loader(_: PathBuf, _: bool) -> Result<Box<dyn BulkLoader>> {
    Err(not_built(
        "this build has no embedded engine (feature `embedded`)",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse() {
        assert_eq!(Location::parse("memory:").unwrap(), Location::Memory);
        assert_eq!(
            Location::parse("./botstore-data").unwrap(),
            Location::Embedded("./botstore-data".into())
        );
        assert_eq!(
            Location::parse("embedded:/var/lib/b").unwrap(),
            Location::Embedded("/var/lib/b".into())
        );
        assert_eq!(
            Location::parse("file:///var/lib/b").unwrap(),
            Location::Embedded("/var/lib/b".into())
        );
        assert!(matches!(
            Location::parse("postgres://u@h/db").unwrap(),
            Location::Postgres(_)
        ));
        assert!(Location::parse("s3://bucket/x").is_err());
        assert!(Location::parse("").is_err());
        // A Windows-style or odd folder name is still a folder.
        assert_eq!(
            Location::parse("data:2026").unwrap(),
            Location::Embedded("data:2026".into())
        );
    }

    #[test]
    fn a_backend_that_does_not_exist_yet_is_a_clear_error() {
        let Err(e) = open("postgres://localhost/db", OpenOptions::default()) else {
            panic!("opened a backend that does not exist");
        };
        assert!(e.to_string().contains("PostgreSQL"), "{e}");
    }
}
