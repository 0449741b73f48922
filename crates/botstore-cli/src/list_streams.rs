//! Listing streams. The core has no stream-listing API yet, so this reads the `Streams`
//! table directly: its keys are `codec::named_key(ns, stream)`, so every stream of a
//! namespace under `prefix` has a key starting with `codec::ns_enc(prefix)`.
//! (A `Store::list_streams` in the core would be better: it would check its input, page
//! with opaque cursors and work on a remote store too.)

use botstore::codec::{self, Table};
use botstore::{Namespace, Store};
use std::ops::Bound;

/// Up to `limit` streams `(namespace, name)` under `prefix`, in key order, after the
/// stream `after` (exclusive) when given.
pub fn list_streams(
    store: &Store,
    prefix: &Namespace,
    after: Option<&(Namespace, String)>,
    limit: usize,
) -> botstore::Result<Vec<(Namespace, String)>> {
    store.limits().check_prefix(prefix)?;
    let start = codec::ns_enc(prefix);
    let end = codec::prefix_end(&start);
    let after_key = after.map(|(ns, name)| codec::named_key(ns, name));
    let lower = match &after_key {
        Some(k) => Bound::Excluded(k.as_slice()),
        None => Bound::Included(start.as_slice()),
    };
    let upper = end.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
    let view = store.backend().read()?;
    let mut out = Vec::new();
    if limit == 0 {
        return Ok(out);
    }
    view.scan(Table::Streams, (lower, upper), false, &mut |k, _| {
        out.push(codec::split_named_key(k)?);
        Ok(out.len() < limit)
    })?;
    Ok(out)
}
