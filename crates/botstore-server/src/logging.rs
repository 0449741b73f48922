//! Structured logs with `tracing`: text (default) or JSON lines on stderr, filtered by
//! `RUST_LOG` (default `info`). Every request runs in a span carrying its request id and
//! operation, so any line logged while serving it names the request.
//!
//! `RUST_LOG` is a comma-separated list of `LEVEL` and `TARGET=LEVEL` (e.g.
//! `warn,botstore_server=debug`), parsed as `tracing_subscriber::filter::Targets`: the
//! span and field directives of `EnvFilter` are not supported (they would build a regex
//! engine into the binary for a feature no operator needs here). A value that does not
//! parse is said on stderr and `info` is used.

use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The filter a `RUST_LOG` value gives: `Err` says why it does not parse. Unset or blank
/// is the default, `info`.
pub fn filter_from(rust_log: Option<&str>) -> Result<Targets, String> {
    let text = rust_log
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .unwrap_or("info");
    text.parse::<Targets>().map_err(|e| {
        format!("RUST_LOG={text:?} is not a list of LEVEL or TARGET=LEVEL ({e}); logging at info")
    })
}

/// Install the global subscriber (a second call does nothing).
pub fn init(json: bool) {
    let rust_log = std::env::var("RUST_LOG").ok();
    let filter = filter_from(rust_log.as_deref()).unwrap_or_else(|why| {
        eprintln!("botstore: {why}");
        Targets::new().with_default(tracing::Level::INFO)
    });
    let registry = tracing_subscriber::registry().with(filter);
    let _ = if json {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_span_list(false)
                    .with_writer(std::io::stderr),
            )
            .try_init()
    } else {
        registry
            .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
            .try_init()
    };
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::filter_from;
    use tracing::Level;

    #[test]
    fn rust_log_values() {
        let info = filter_from(None).unwrap();
        assert!(info.would_enable("botstore_server", &Level::INFO));
        assert!(!info.would_enable("botstore_server", &Level::DEBUG));
        let blank = filter_from(Some("  ")).unwrap();
        assert!(blank.would_enable("hyper", &Level::INFO));

        let f = filter_from(Some("warn,botstore_server=debug")).unwrap();
        assert!(f.would_enable("botstore_server::middleware", &Level::DEBUG));
        assert!(!f.would_enable("hyper", &Level::INFO));
        assert!(f.would_enable("hyper", &Level::WARN));

        let off = filter_from(Some("off")).unwrap();
        assert!(!off.would_enable("botstore_server", &Level::ERROR));

        let bad = filter_from(Some("botstore_server=loud")).unwrap_err();
        assert!(bad.contains("RUST_LOG=\"botstore_server=loud\""), "{bad}");
        assert!(bad.ends_with("logging at info"), "{bad}");
    }
}
