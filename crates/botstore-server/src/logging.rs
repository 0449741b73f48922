//! Structured logs with `tracing`: text (default) or JSON lines on stderr, filtered by
//! `RUST_LOG` (default `info`). Every request runs in a span carrying its request id and
//! operation, so any line logged while serving it names the request.

use tracing_subscriber::EnvFilter;

/// Install the global subscriber (a second call does nothing).
pub fn init(json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        b.json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    } else {
        b.try_init()
    };
}
