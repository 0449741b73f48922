//! The read semantics, written once for every backend: TTL filtering, scans with opaque
//! cursors, namespace listing, stream reads, the change feed.

use crate::codec::{self, ItemRecord, LeaseRecord, Table};
use crate::error::{Error, Result, Rule};
use crate::kv::KvRead;
use crate::model::*;
use crate::value_codec::CodecStack;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use std::ops::Bound;

/// The live item at `(ns, key)` in view `v` at time `now`; `None` when absent or expired.
pub fn get_item(
    v: &dyn KvRead,
    c: &CodecStack,
    ns: &Namespace,
    key: &str,
    now: Millis,
) -> Result<Option<Item>> {
    let k = codec::named_key(ns, key);
    let Some(b) = v.get(Table::Items, &k)? else {
        return Ok(None);
    };
    let rec = ItemRecord::decode_with(&b, c, &k)?;
    if rec.is_expired(now) {
        return Ok(None);
    }
    Ok(Some(rec.into_item(ns.clone(), key.to_owned())))
}

/// What a scan reads.
#[derive(Clone, Debug, Default)]
pub struct Scan {
    /// The namespace (or, with `recursive`, the namespace prefix) to scan.
    pub ns: Namespace,
    /// Also scan every namespace below `ns`. Key filters are not allowed then.
    pub recursive: bool,
    /// Only keys that start with this.
    pub key_prefix: Option<String>,
    /// Only keys `>= start`.
    pub start: Option<String>,
    /// Only keys `< end`.
    pub end: Option<String>,
    /// Continue after the page this cursor came from.
    pub cursor: Option<String>,
    /// Page size.
    pub limit: usize,
}

/// The opaque cursor for continuing after `key` (URL-safe base64, no padding).
pub fn encode_cursor(key: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(key)
}

/// Decode a cursor and check it belongs to the range `prefix` covers.
pub fn decode_cursor(c: &str, prefix: &[u8]) -> Result<Vec<u8>> {
    let k = URL_SAFE_NO_PAD
        .decode(c)
        .map_err(|_| Error::invalid(Rule::Cursor, "cursor is not one this store issued"))?;
    if !k.starts_with(prefix) {
        return Err(Error::invalid(
            Rule::Cursor,
            "cursor belongs to another scan",
        ));
    }
    Ok(k)
}

/// The page of live items `req` selects, in key order; `InvalidInput` for a bad cursor or a
/// key filter on a recursive scan.
pub fn scan_items(v: &dyn KvRead, c: &CodecStack, req: &Scan, now: Millis) -> Result<Page<Item>> {
    let mut prefix = codec::ns_enc(&req.ns);
    if !req.recursive {
        prefix.push(codec::KEY_SEP);
    } else if req.key_prefix.is_some() || req.start.is_some() || req.end.is_some() {
        return Err(Error::invalid(
            Rule::Range,
            "key filters need a single namespace, not a recursive scan",
        ));
    }
    let with = |s: &str| [prefix.as_slice(), s.as_bytes()].concat();
    let mut lower: Bound<Vec<u8>> = Bound::Included(prefix.clone());
    let mut upper: Bound<Vec<u8>> =
        codec::prefix_end(&prefix).map_or(Bound::Unbounded, Bound::Excluded);
    if let Some(kp) = &req.key_prefix {
        lower = Bound::Included(with(kp));
        upper = codec::prefix_end(&with(kp)).map_or(Bound::Unbounded, Bound::Excluded);
    }
    if let Some(s) = &req.start {
        lower = max_lower(lower, Bound::Included(with(s)));
    }
    if let Some(e) = &req.end {
        upper = min_upper(upper, Bound::Excluded(with(e)));
    }
    if let Some(c) = &req.cursor {
        lower = max_lower(lower, Bound::Excluded(decode_cursor(c, &prefix)?));
    }
    let mut items = Vec::new();
    let mut more = false;
    let mut last_key = Vec::new();
    let range = (as_ref(&lower), as_ref(&upper));
    if empty_range(&range) {
        return Ok(Page {
            items,
            cursor: None,
        });
    }
    v.scan(Table::Items, range, false, &mut |k, val| {
        let rec = ItemRecord::decode_with(val, c, k)?;
        if rec.is_expired(now) {
            return Ok(true);
        }
        if items.len() == req.limit {
            more = true;
            return Ok(false);
        }
        let (ns, key) = codec::split_named_key(k)?;
        last_key = k.to_vec();
        items.push(rec.into_item(ns, key));
        Ok(true)
    })?;
    Ok(Page {
        items,
        cursor: more.then(|| encode_cursor(&last_key)),
    })
}

fn as_ref(b: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match b {
        Bound::Included(v) => Bound::Included(v.as_slice()),
        Bound::Excluded(v) => Bound::Excluded(v.as_slice()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

fn empty_range(r: &(Bound<&[u8]>, Bound<&[u8]>)) -> bool {
    match (r.0, r.1) {
        (Bound::Included(a), Bound::Included(b)) => a > b,
        (Bound::Included(a) | Bound::Excluded(a), Bound::Excluded(b) | Bound::Included(b)) => {
            a >= b
        }
        _ => false,
    }
}

fn key_of(b: &Bound<Vec<u8>>) -> Option<&Vec<u8>> {
    match b {
        Bound::Included(v) | Bound::Excluded(v) => Some(v),
        Bound::Unbounded => None,
    }
}

fn max_lower(a: Bound<Vec<u8>>, b: Bound<Vec<u8>>) -> Bound<Vec<u8>> {
    match (key_of(&a), key_of(&b)) {
        (None, _) => b,
        (_, None) => a,
        (Some(x), Some(y)) if x > y => a,
        (Some(x), Some(y)) if y > x => b,
        _ => {
            if matches!(a, Bound::Excluded(_)) {
                a
            } else {
                b
            }
        }
    }
}

fn min_upper(a: Bound<Vec<u8>>, b: Bound<Vec<u8>>) -> Bound<Vec<u8>> {
    match (key_of(&a), key_of(&b)) {
        (None, _) => b,
        (_, None) => a,
        (Some(x), Some(y)) if x < y => a,
        (Some(x), Some(y)) if y < x => b,
        _ => {
            if matches!(a, Bound::Excluded(_)) {
                a
            } else {
                b
            }
        }
    }
}

/// Namespaces under `prefix` that hold items or streams, truncated to `max_depth` segments
/// (absolute depth) and de-duplicated, in order.
/// Streams `(namespace, name)` under `prefix` (every depth), in key order, paged.
pub fn list_streams(
    v: &dyn KvRead,
    prefix: &Namespace,
    limit: usize,
    cursor: Option<&str>,
) -> Result<Page<(Namespace, String)>> {
    let p = codec::ns_enc(prefix);
    let lower = match cursor {
        Some(c) => Bound::Excluded(decode_cursor(c, &p)?),
        None => Bound::Included(p.clone()),
    };
    let upper = codec::prefix_end(&p).map_or(Bound::Unbounded, Bound::Excluded);
    let mut out = Vec::new();
    let mut last_key: Option<Vec<u8>> = None;
    let mut more = false;
    v.scan(
        Table::Streams,
        (as_ref(&lower), as_ref(&upper)),
        false,
        &mut |k, _| {
            if out.len() == limit {
                more = true;
                return Ok(false);
            }
            out.push(codec::split_named_key(k)?);
            last_key = Some(k.to_vec());
            Ok(true)
        },
    )?;
    let cursor = if more {
        last_key.map(|k| encode_cursor(&k))
    } else {
        None
    };
    Ok(Page { items: out, cursor })
}

/// Namespaces under `prefix`, truncated to `max_depth` segments, deduplicated, in order,
/// paged by `limit` and `cursor`.
pub fn list_namespaces(
    v: &dyn KvRead,
    prefix: &Namespace,
    max_depth: Option<usize>,
    limit: usize,
    cursor: Option<&str>,
) -> Result<Page<Namespace>> {
    let p = codec::ns_enc(prefix);
    let mut lower = Bound::Included(p.clone());
    if let Some(c) = cursor {
        let last = decode_cursor(c, &p)?;
        let last_ns = codec::ns_dec(&last)
            .map_err(|_| Error::invalid(Rule::Cursor, "cursor is not one this store issued"))?;
        // A namespace cut to max_depth stands for all its descendants: skip them. One that
        // was not cut may have descendants still to list.
        let truncated = max_depth.is_some_and(|d| last_ns.len() >= d.max(prefix.len()));
        lower = if !truncated {
            Bound::Excluded(last)
        } else {
            match codec::prefix_end(&last) {
                Some(e) => Bound::Included(e),
                None => {
                    return Ok(Page {
                        items: vec![],
                        cursor: None,
                    })
                }
            }
        };
    }
    let upper = codec::prefix_end(&p).map_or(Bound::Unbounded, Bound::Excluded);
    let mut out: Vec<Namespace> = Vec::new();
    let mut more = false;
    v.scan(
        Table::Namespaces,
        (as_ref(&lower), as_ref(&upper)),
        false,
        &mut |k, _| {
            let mut ns = codec::ns_dec(k)?;
            if let Some(d) = max_depth {
                ns.0.truncate(d.max(prefix.len()));
            }
            if out.last() == Some(&ns) {
                return Ok(true);
            }
            if out.len() == limit {
                more = true;
                return Ok(false);
            }
            out.push(ns);
            Ok(true)
        },
    )?;
    let cursor = if more {
        out.last().map(|n| encode_cursor(&codec::ns_enc(n)))
    } else {
        None
    };
    Ok(Page { items: out, cursor })
}

/// A stream's length and bounds; `None` when it does not exist.
pub fn stream_info(v: &dyn KvRead, ns: &Namespace, stream: &str) -> Result<Option<StreamInfo>> {
    v.get(Table::Streams, &codec::named_key(ns, stream))?
        .map(|b| codec::decode_stream_info(&b))
        .transpose()
}

/// Up to `limit` entries from `from` (inclusive; default: the first entry going forward,
/// the last going backward).
pub fn read_stream(
    v: &dyn KvRead,
    c: &CodecStack,
    ns: &Namespace,
    stream: &str,
    from: Option<u64>,
    dir: Direction,
    limit: usize,
) -> Result<Vec<StreamEntry>> {
    let sk = codec::named_key(ns, stream);
    let mut out = Vec::new();
    let lo = codec::entry_key(&sk, 0);
    let hi = codec::entry_key(&sk, u64::MAX);
    let (range, reverse) = match (dir, from) {
        (Direction::Forward, Some(f)) => ((codec::entry_key(&sk, f), hi), false),
        (Direction::Forward, None) => ((lo, hi), false),
        (Direction::Backward, Some(f)) => ((lo, codec::entry_key(&sk, f)), true),
        (Direction::Backward, None) => ((lo, hi), true),
    };
    v.scan(
        Table::Entries,
        (Bound::Included(&range.0), Bound::Included(&range.1)),
        reverse,
        &mut |k, val| {
            let seq = codec::be64(&k[k.len() - 8..])?;
            out.push(codec::decode_entry_with(c, k, seq, val)?);
            Ok(out.len() < limit)
        },
    )?;
    Ok(out)
}

/// The lease on `(ns, name)` if it is live.
pub fn get_lease(v: &dyn KvRead, ns: &Namespace, name: &str, now: Millis) -> Result<Option<Lease>> {
    let Some(b) = v.get(Table::Leases, &codec::named_key(ns, name))? else {
        return Ok(None);
    };
    let r = LeaseRecord::decode(&b)?;
    Ok(r.is_live(now).then(|| Lease {
        ns: ns.clone(),
        name: name.to_owned(),
        holder: r.holder,
        token: r.token,
        expires_at: r.expires_at,
    }))
}

/// Up to `limit` changes with an LSN above `since`, in commit order.
pub fn changes(v: &dyn KvRead, c: &CodecStack, since: u64, limit: usize) -> Result<Vec<Change>> {
    let mut out = Vec::new();
    let from = since.saturating_add(1).to_be_bytes();
    if since == u64::MAX {
        return Ok(out);
    }
    v.scan(
        Table::Changes,
        (Bound::Included(&from[..]), Bound::Unbounded),
        false,
        &mut |k, val| {
            out.push(crate::feed::read_change(v, c, codec::be64(k)?, val)?);
            Ok(out.len() < limit)
        },
    )?;
    Ok(out)
}

/// The LSN of the oldest change still kept (None: the feed is empty).
pub fn first_change_lsn(v: &dyn KvRead) -> Result<Option<u64>> {
    let mut first = None;
    v.scan(
        Table::Changes,
        (Bound::Unbounded, Bound::Unbounded),
        false,
        &mut |k, _| {
            first = Some(codec::be64(k)?);
            Ok(false)
        },
    )?;
    Ok(first)
}

/// The last LSN assigned (0 for a new store).
pub fn last_lsn(v: &dyn KvRead) -> Result<u64> {
    v.get(Table::Meta, codec::META_LAST_LSN)?
        .map_or(Ok(0), |b| codec::be64(&b))
}

/// Up to `limit` items whose TTL passed by `now`: `(ns, key, version)`.
pub fn expired(
    v: &dyn KvRead,
    now: Millis,
    limit: usize,
) -> Result<Vec<(Namespace, String, Version)>> {
    let mut out = Vec::new();
    let end = ((now.max(0) as u64).saturating_add(1)).to_be_bytes();
    v.scan(
        Table::Expiry,
        (Bound::Unbounded, Bound::Excluded(&end[..])),
        false,
        &mut |k, val| {
            if out.len() >= limit {
                return Ok(false);
            }
            let (ns, key) = codec::split_named_key(&k[8..])?;
            out.push((ns, key, Version(codec::be64(val)?)));
            Ok(out.len() < limit)
        },
    )?;
    Ok(out)
}

/// Counters of every namespace under `prefix` that holds items or streams.
pub fn namespace_stats(
    v: &dyn KvRead,
    prefix: &Namespace,
) -> Result<Vec<(Namespace, NamespaceStats)>> {
    Ok(namespace_stats_stored(v, prefix)?
        .into_iter()
        .map(|(ns, s, _)| (ns, s))
        .collect())
}

/// [`namespace_stats`] with each namespace's stored bytes.
pub fn namespace_stats_stored(
    v: &dyn KvRead,
    prefix: &Namespace,
) -> Result<Vec<(Namespace, NamespaceStats, StoredBytes)>> {
    let p = codec::ns_enc(prefix);
    let upper = codec::prefix_end(&p);
    let mut out = Vec::new();
    let up = upper.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
    v.scan(
        Table::Namespaces,
        (Bound::Included(&p[..]), up),
        false,
        &mut |k, val| {
            out.push((
                codec::ns_dec(k)?,
                codec::decode_ns_stats(val)?,
                codec::decode_ns_stored(val)?,
            ));
            Ok(true)
        },
    )?;
    Ok(out)
}

/// Default TTLs set on namespace prefixes under `prefix`: `(prefix, ms)`.
pub fn namespace_ttls(v: &dyn KvRead, prefix: &Namespace) -> Result<Vec<(Namespace, u64)>> {
    let p = codec::ns_enc(prefix);
    let upper = codec::prefix_end(&p);
    let up = upper.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
    let mut out = Vec::new();
    v.scan(
        Table::NsTtl,
        (Bound::Included(&p[..]), up),
        false,
        &mut |k, val| {
            out.push((codec::ns_dec(k)?, codec::be64(val)?));
            Ok(true)
        },
    )?;
    Ok(out)
}
