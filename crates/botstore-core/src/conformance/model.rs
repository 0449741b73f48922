//! Model check: random sequences of operations run against a backend and against a small
//! reference model (plain maps, written here from the documented semantics, independent of
//! `apply.rs`), comparing every result and the final state.
//!
//! Versions are compared by pattern: every successful write must return a version larger
//! than every version seen before, and reads must return exactly the version the model
//! recorded for the item.

use super::{factory, MakeStore, Subject, T0};
use crate::{
    BatchError, Clock, Direction, Error, Item, Mutation, Namespace, Outcome, PatchOp, Precondition,
    Result, Scan, StoreOptions, StreamEntry, TrimTo, Ttl, Value, Version,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{json, Value as J};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Cases per run unless `PROPTEST_CASES` says otherwise.
pub const DEFAULT_CASES: u32 = 64;
/// Most operations in one case.
pub const MAX_OPS: usize = 40;

/// `PROPTEST_CASES` if set, else [`DEFAULT_CASES`].
pub fn default_cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES)
}

const NSS: [&[&str]; 2] = [&["m", "a"], &["m", "b"]];
const KEYS: [&str; 3] = ["k0", "k1", "k2"];
const STREAMS: [&str; 2] = ["s0", "s1"];
const FIELDS: [&str; 3] = ["f0", "f1", "f2"];

fn nsp(i: usize) -> Namespace {
    Namespace::new(NSS[i].iter().copied())
}
/// Streams live in the first namespace.
fn stream_ns() -> Namespace {
    nsp(0)
}

// ---------------------------------------------------------------- operations

#[derive(Clone, Debug)]
enum Pre {
    Any,
    IfAbsent,
    /// IfVersion with the item's current version (or a stale one when absent).
    IfCurrent,
    /// IfVersion with the i-th version seen so far (modulo), usually stale.
    IfSeen(usize),
}

#[derive(Clone, Debug)]
enum Expect {
    None,
    Correct,
    Wrong(u8),
}

#[derive(Clone, Debug)]
enum Trim {
    KeepLast(u8),
    Before(u8),
    /// Older than `now - seconds`.
    OlderThan(u8),
}

#[derive(Clone, Debug)]
enum Op {
    Put {
        ns: usize,
        key: usize,
        val: u8,
        pre: Pre,
        ttl_s: Option<u8>,
    },
    Delete {
        ns: usize,
        key: usize,
        pre: Pre,
    },
    Merge {
        ns: usize,
        key: usize,
        field: usize,
        val: Option<u8>,
        pre: Pre,
    },
    /// JSON Patch: test field == expect, then replace it with expect + 1.
    TestReplace {
        ns: usize,
        key: usize,
        field: usize,
        expect: u8,
        pre: Pre,
    },
    Append {
        stream: usize,
        n: u8,
        expect: Expect,
    },
    Trim {
        stream: usize,
        to: Trim,
    },
    DeleteStream {
        stream: usize,
    },
    Get {
        ns: usize,
        key: usize,
    },
    GetMany {
        keys: Vec<(usize, usize)>,
    },
    Scan {
        ns: usize,
        limit: usize,
        prefix: Option<usize>,
    },
    ReadStream {
        stream: usize,
        from: Option<u8>,
        backward: bool,
        limit: usize,
    },
    Batch {
        atomic: bool,
        ops: Vec<Op>,
    },
    Advance {
        ms: u32,
    },
    Sweep,
}

fn pre() -> impl Strategy<Value = Pre> {
    prop_oneof![
        4 => Just(Pre::Any),
        2 => Just(Pre::IfAbsent),
        3 => Just(Pre::IfCurrent),
        1 => (0usize..16).prop_map(Pre::IfSeen),
    ]
}

fn write_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0..2usize, 0..3usize, 0..4u8, pre(), prop::option::weighted(0.25, 1..30u8))
            .prop_map(|(ns, key, val, pre, ttl_s)| Op::Put { ns, key, val, pre, ttl_s }),
        2 => (0..2usize, 0..3usize, pre()).prop_map(|(ns, key, pre)| Op::Delete { ns, key, pre }),
        3 => (0..2usize, 0..3usize, 0..3usize, prop::option::weighted(0.7, 0..3u8), pre())
            .prop_map(|(ns, key, field, val, pre)| Op::Merge { ns, key, field, val, pre }),
        1 => (0..2usize, 0..3usize, 0..3usize, 0..3u8, pre())
            .prop_map(|(ns, key, field, expect, pre)| Op::TestReplace { ns, key, field, expect, pre }),
        2 => (0..2usize, 1..4u8, prop_oneof![
                2 => Just(Expect::None),
                2 => Just(Expect::Correct),
                1 => (0..3u8).prop_map(Expect::Wrong),
            ])
            .prop_map(|(stream, n, expect)| Op::Append { stream, n, expect }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => write_op(),
        1 => (0..2usize, prop_oneof![
                (0..4u8).prop_map(Trim::KeepLast),
                (0..10u8).prop_map(Trim::Before),
                (0..40u8).prop_map(Trim::OlderThan),
            ])
            .prop_map(|(stream, to)| Op::Trim { stream, to }),
        1 => (0..2usize).prop_map(|stream| Op::DeleteStream { stream }),
        3 => (0..2usize, 0..3usize).prop_map(|(ns, key)| Op::Get { ns, key }),
        1 => prop::collection::vec((0..2usize, 0..3usize), 0..5)
            .prop_map(|keys| Op::GetMany { keys }),
        2 => (0..2usize, 1..4usize, prop::option::weighted(0.2, 0..3usize))
            .prop_map(|(ns, limit, prefix)| Op::Scan { ns, limit, prefix }),
        1 => (0..2usize, prop::option::of(0..10u8), any::<bool>(), 1..5usize)
            .prop_map(|(stream, from, backward, limit)| Op::ReadStream { stream, from, backward, limit }),
        2 => (any::<bool>(), prop::collection::vec(write_op(), 1..5))
            .prop_map(|(atomic, ops)| Op::Batch { atomic, ops }),
        2 => prop_oneof![1..3000u32, 1000..20_000u32].prop_map(|ms| Op::Advance { ms }),
        1 => Just(Op::Sweep),
    ]
}

// ---------------------------------------------------------------- the model

type Key = (usize, usize);

#[derive(Clone, Debug)]
struct MItem {
    doc: J,
    version: Version,
    created: i64,
    updated: i64,
    expires: Option<i64>,
}

impl MItem {
    fn live(&self, now: i64) -> bool {
        self.expires.is_none_or(|e| e > now)
    }
    fn bytes(&self) -> u64 {
        serde_json::to_vec(&self.doc).map_or(0, |v| v.len() as u64)
    }
}

#[derive(Clone, Debug, Default)]
struct MStream {
    last: u64,
    entries: BTreeMap<u64, (i64, J)>,
}

impl MStream {
    fn first(&self) -> u64 {
        self.entries.keys().next().copied().unwrap_or(self.last + 1)
    }
}

#[derive(Clone, Debug)]
struct Model {
    /// Physical items: expired ones stay until swept, deleted or overwritten.
    items: BTreeMap<Key, MItem>,
    streams: BTreeMap<usize, MStream>,
    now: i64,
    /// Every version the store returned, in order.
    seen: Vec<Version>,
    /// The document each of `seen` wrote, in the same order (the change feed's puts carry
    /// them, long after the item was overwritten).
    seen_docs: Vec<J>,
    entry_counter: u64,
}

/// What the model expects a mutation to do.
#[derive(Clone, Debug, PartialEq)]
enum Effect {
    Write {
        key: Key,
        doc: J,
        expires: Option<i64>,
    },
    Delete {
        key: Key,
        existed: bool,
    },
    Append {
        stream: usize,
        entries: Vec<J>,
    },
    Trim {
        stream: usize,
        cut: u64,
    },
    DeleteStream {
        stream: usize,
        existed: bool,
    },
}

/// Errors, by kind (messages are not compared).
#[derive(Clone, Debug, PartialEq)]
enum Fail {
    Pre(Option<Version>),
    NotFound,
    PatchFailed,
    Seq { expected: u64, current: u64 },
}

fn fail_of(e: &Error) -> std::result::Result<Fail, String> {
    Ok(match e {
        Error::PreconditionFailed { current } => Fail::Pre(*current),
        Error::NotFound { .. } => Fail::NotFound,
        Error::PatchFailed(_) => Fail::PatchFailed,
        Error::SequenceMismatch { expected, current } => Fail::Seq {
            expected: *expected,
            current: *current,
        },
        e => return Err(format!("unexpected error {e:?}")),
    })
}

fn key_of(ns: &Namespace, key: &str) -> Key {
    let n = (0..NSS.len())
        .find(|&i| nsp(i) == *ns)
        .unwrap_or(usize::MAX);
    let k = KEYS.iter().position(|k| *k == key).unwrap_or(usize::MAX);
    (n, k)
}

fn stream_of(name: &str) -> usize {
    STREAMS
        .iter()
        .position(|s| *s == name)
        .unwrap_or(usize::MAX)
}

/// RFC 7396, for the flat documents the model writes (and nested objects in general).
fn merge(target: &mut J, patch: &J) {
    match patch {
        J::Object(p) => {
            if !target.is_object() {
                *target = json!({});
            }
            if let J::Object(t) = target {
                for (k, v) in p {
                    if v.is_null() {
                        t.remove(k);
                    } else {
                        merge(t.entry(k.clone()).or_insert(J::Null), v);
                    }
                }
            }
        }
        other => *target = other.clone(),
    }
}

impl Model {
    fn new() -> Self {
        Model {
            items: BTreeMap::new(),
            streams: BTreeMap::new(),
            now: T0,
            seen: Vec::new(),
            seen_docs: Vec::new(),
            entry_counter: 0,
        }
    }

    fn live(&self, k: Key) -> Option<&MItem> {
        self.items.get(&k).filter(|i| i.live(self.now))
    }

    fn max_version(&self) -> Version {
        self.seen.last().copied().unwrap_or(Version(0))
    }

    fn precondition(&self, k: Key, p: &Pre) -> Precondition {
        match p {
            Pre::Any => Precondition::Any,
            Pre::IfAbsent => Precondition::IfAbsent,
            Pre::IfCurrent => {
                Precondition::IfVersion(self.live(k).map_or_else(|| self.stale(0), |i| i.version))
            }
            Pre::IfSeen(i) => Precondition::IfVersion(self.stale(*i)),
        }
    }

    fn stale(&self, i: usize) -> Version {
        if self.seen.is_empty() {
            // Never assigned (LSNs start at 1), so it cannot match a write still to come.
            Version(0)
        } else {
            self.seen[i % self.seen.len()]
        }
    }

    /// Turn a generated write into the mutation sent to the store.
    fn mutation(&mut self, op: &Op) -> Mutation {
        match op {
            Op::Put {
                ns,
                key,
                val,
                pre,
                ttl_s,
            } => Mutation::Put {
                ns: nsp(*ns),
                key: KEYS[*key].into(),
                value: Value::json(&json!({ "v": val })),
                precondition: self.precondition((*ns, *key), pre),
                ttl: ttl_s.map_or(Ttl::Default, |s| {
                    Ttl::After(Duration::from_millis(s as u64 * 1000))
                }),
                subject: None,
                fence: None,
            },
            Op::Delete { ns, key, pre } => Mutation::Delete {
                ns: nsp(*ns),
                key: KEYS[*key].into(),
                precondition: self.precondition((*ns, *key), pre),
                fence: None,
            },
            Op::Merge {
                ns,
                key,
                field,
                val,
                pre,
            } => Mutation::Patch {
                ns: nsp(*ns),
                key: KEYS[*key].into(),
                patch: PatchOp::Merge(json!({ FIELDS[*field]: val })),
                precondition: self.precondition((*ns, *key), pre),
                fence: None,
            },
            Op::TestReplace {
                ns,
                key,
                field,
                expect,
                pre,
            } => {
                let path = format!("/{}", FIELDS[*field]);
                let p = json!([
                    {"op": "test", "path": path, "value": expect},
                    {"op": "replace", "path": path, "value": expect + 1},
                ]);
                Mutation::Patch {
                    ns: nsp(*ns),
                    key: KEYS[*key].into(),
                    patch: PatchOp::Json(serde_json::from_value(p).unwrap_or_default()),
                    precondition: self.precondition((*ns, *key), pre),
                    fence: None,
                }
            }
            Op::Append { stream, n, expect } => {
                let last = self.streams.get(stream).map_or(0, |s| s.last);
                let entries = (0..*n)
                    .map(|_| {
                        self.entry_counter += 1;
                        Value::json(&json!({ "e": self.entry_counter }))
                    })
                    .collect();
                Mutation::Append {
                    ns: stream_ns(),
                    stream: STREAMS[*stream].into(),
                    entries,
                    expected_last: match expect {
                        Expect::None => None,
                        Expect::Correct => Some(last),
                        Expect::Wrong(d) => Some(last + 1 + *d as u64),
                    },
                }
            }
            Op::Trim { stream, to } => Mutation::Trim {
                ns: stream_ns(),
                stream: STREAMS[*stream].into(),
                to: match to {
                    Trim::KeepLast(n) => TrimTo::KeepLast(*n as u64),
                    Trim::Before(s) => TrimTo::Before(*s as u64),
                    Trim::OlderThan(s) => TrimTo::OlderThan(self.now - *s as i64 * 1000),
                },
            },
            Op::DeleteStream { stream } => Mutation::DeleteStream {
                ns: stream_ns(),
                stream: STREAMS[*stream].into(),
            },
            // Reads are not mutations; never called for them.
            _ => Mutation::ForgetChanges {
                before_lsn: 0,
                max: 0,
            },
        }
    }

    fn check_pre(&self, k: Key, p: &Precondition) -> std::result::Result<(), Fail> {
        let cur = self.live(k).map(|i| i.version);
        let ok = match p {
            Precondition::Any => true,
            Precondition::IfAbsent => cur.is_none(),
            Precondition::IfVersion(v) => cur == Some(*v),
        };
        if ok {
            Ok(())
        } else {
            Err(Fail::Pre(cur))
        }
    }

    /// What a mutation should do, from the model's state (nothing changes here).
    fn predict(&self, m: &Mutation) -> std::result::Result<Effect, Fail> {
        match m {
            Mutation::Put {
                ns,
                key,
                value,
                precondition,
                ttl,
                ..
            } => {
                let k = key_of(ns, key);
                self.check_pre(k, precondition)?;
                Ok(Effect::Write {
                    key: k,
                    doc: value.to_json().unwrap_or(J::Null),
                    expires: match ttl {
                        Ttl::After(d) => Some(self.now + d.as_millis() as i64),
                        _ => None,
                    },
                })
            }
            Mutation::Delete {
                ns,
                key,
                precondition,
                ..
            } => {
                let k = key_of(ns, key);
                self.check_pre(k, precondition)?;
                Ok(Effect::Delete {
                    key: k,
                    existed: self.live(k).is_some(),
                })
            }
            Mutation::Patch {
                ns,
                key,
                patch,
                precondition,
                ..
            } => {
                let k = key_of(ns, key);
                self.check_pre(k, precondition)?;
                let live = self.live(k);
                let expires = live.and_then(|i| i.expires);
                match patch {
                    PatchOp::Merge(p) => {
                        let mut doc = live.map_or(json!({}), |i| i.doc.clone());
                        merge(&mut doc, p);
                        Ok(Effect::Write {
                            key: k,
                            doc,
                            expires,
                        })
                    }
                    PatchOp::Json(p) => {
                        let Some(item) = live else {
                            return Err(Fail::NotFound);
                        };
                        // Only test + replace of one top-level field is generated.
                        let ops = serde_json::to_value(p).unwrap_or(J::Null);
                        let field = ops[0]["path"]
                            .as_str()
                            .unwrap_or("/")
                            .trim_start_matches('/');
                        let expect = &ops[0]["value"];
                        if item.doc.get(field) != Some(expect) {
                            return Err(Fail::PatchFailed);
                        }
                        let mut doc = item.doc.clone();
                        doc[field] = ops[1]["value"].clone();
                        Ok(Effect::Write {
                            key: k,
                            doc,
                            expires,
                        })
                    }
                }
            }
            Mutation::Append {
                stream,
                entries,
                expected_last,
                ..
            } => {
                let s = stream_of(stream);
                let last = self.streams.get(&s).map_or(0, |x| x.last);
                if let Some(e) = expected_last {
                    if *e != last {
                        return Err(Fail::Seq {
                            expected: *e,
                            current: last,
                        });
                    }
                }
                Ok(Effect::Append {
                    stream: s,
                    entries: entries
                        .iter()
                        .map(|v| v.to_json().unwrap_or(J::Null))
                        .collect(),
                })
            }
            Mutation::Trim { stream, to, .. } => {
                let s = stream_of(stream);
                let Some(st) = self.streams.get(&s) else {
                    return Err(Fail::NotFound);
                };
                let cut = match *to {
                    // Keep the last n entries.
                    TrimTo::KeepLast(n) => {
                        let keep: Vec<u64> =
                            st.entries.keys().rev().take(n as usize).copied().collect();
                        keep.last().copied().unwrap_or(st.last + 1)
                    }
                    TrimTo::Before(seq) => seq,
                    TrimTo::OlderThan(t) => st
                        .entries
                        .iter()
                        .find(|(_, (at, _))| *at >= t)
                        .map_or(st.last + 1, |(s, _)| *s),
                };
                Ok(Effect::Trim { stream: s, cut })
            }
            Mutation::DeleteStream { stream, .. } => {
                let s = stream_of(stream);
                Ok(Effect::DeleteStream {
                    stream: s,
                    existed: self.streams.contains_key(&s),
                })
            }
            _ => Err(Fail::NotFound),
        }
    }

    /// Check the store's outcome against the prediction and apply the effect.
    fn commit(
        &mut self,
        what: &str,
        predicted: std::result::Result<Effect, Fail>,
        actual: &Result<Outcome>,
    ) -> std::result::Result<(), String> {
        let e = match (predicted, actual) {
            (Err(f), Err(e)) => {
                let got = fail_of(e)?;
                if got != f {
                    return Err(format!("{what}: expected {f:?}, store said {e:?}"));
                }
                return Ok(());
            }
            (Err(f), Ok(o)) => return Err(format!("{what}: expected {f:?}, store did {o:?}")),
            (Ok(e), Err(err)) => {
                return Err(format!("{what}: expected {e:?}, store failed {err:?}"))
            }
            (Ok(e), Ok(_)) => e,
        };
        let actual = actual.as_ref().map_err(|e| e.to_string())?;
        match e {
            Effect::Write { key, doc, expires } => {
                let Outcome::Written { version } = actual else {
                    return Err(format!("{what}: expected Written, got {actual:?}"));
                };
                if *version <= self.max_version() {
                    return Err(format!(
                        "{what}: version {version:?} is not above {:?}",
                        self.max_version()
                    ));
                }
                self.seen.push(*version);
                self.seen_docs.push(doc.clone());
                let created = self.live(key).map_or(self.now, |i| i.created);
                self.items.insert(
                    key,
                    MItem {
                        doc,
                        version: *version,
                        created,
                        updated: self.now,
                        expires,
                    },
                );
            }
            Effect::Delete { key, existed } => {
                if *actual != (Outcome::Deleted { existed }) {
                    return Err(format!(
                        "{what}: expected Deleted({existed}), got {actual:?}"
                    ));
                }
                self.items.remove(&key);
            }
            Effect::Append { stream, entries } => {
                let st = self.streams.entry(stream).or_default();
                let first = st.last + 1;
                for d in entries {
                    st.last += 1;
                    st.entries.insert(st.last, (self.now, d));
                }
                let want = Outcome::Appended {
                    first_seq: first,
                    last_seq: st.last,
                };
                if *actual != want {
                    return Err(format!("{what}: expected {want:?}, got {actual:?}"));
                }
            }
            Effect::Trim { stream, cut } => {
                let st = self.streams.entry(stream).or_default();
                let before = st.entries.len();
                st.entries.retain(|s, _| *s >= cut);
                let removed = (before - st.entries.len()) as u64;
                if *actual != (Outcome::Trimmed { removed }) {
                    return Err(format!(
                        "{what}: expected Trimmed({removed}), got {actual:?}"
                    ));
                }
            }
            Effect::DeleteStream { stream, existed } => {
                if *actual != (Outcome::Deleted { existed }) {
                    return Err(format!(
                        "{what}: expected Deleted({existed}), got {actual:?}"
                    ));
                }
                self.streams.remove(&stream);
            }
        }
        Ok(())
    }

    fn check_item(&self, k: Key, got: &Option<Item>) -> std::result::Result<(), String> {
        let want = self.live(k);
        match (want, got) {
            (None, None) => Ok(()),
            (Some(w), Some(g)) => {
                let doc = g.value.to_json().map_err(|e| e.to_string())?;
                let same = doc == w.doc
                    && g.version == w.version
                    && g.created_at == w.created
                    && g.updated_at == w.updated
                    && g.expires_at == w.expires
                    && g.ns == nsp(k.0)
                    && g.key == KEYS[k.1];
                if same {
                    Ok(())
                } else {
                    Err(format!("item {k:?}: model has {w:?}, store has {g:?}"))
                }
            }
            (w, g) => Err(format!("item {k:?}: model has {w:?}, store has {g:?}")),
        }
    }

    fn live_keys(&self, ns: usize, prefix: Option<usize>) -> Vec<Key> {
        self.items
            .iter()
            .filter(|(k, i)| {
                k.0 == ns
                    && i.live(self.now)
                    && prefix.is_none_or(|p| KEYS[k.1].starts_with(KEYS[p]))
            })
            .map(|(k, _)| *k)
            .collect()
    }
}

fn outcome_of<T>(r: Result<T>, f: impl FnOnce(T) -> Outcome) -> Result<Outcome> {
    r.map(f)
}

fn check_entries(
    what: &str,
    want: &[(u64, i64, J)],
    got: &[StreamEntry],
) -> std::result::Result<(), String> {
    let g: Vec<(u64, i64, J)> = got
        .iter()
        .map(|e| (e.seq, e.at, e.value.to_json().unwrap_or(J::Null)))
        .collect();
    if g != want {
        return Err(format!("{what}: model has {want:?}, store has {g:?}"));
    }
    Ok(())
}

/// One case: run `ops` against a fresh store and the model.
async fn run_case(make: &dyn MakeStore, ops: &[Op]) -> std::result::Result<(), String> {
    let (clock, hand) = Clock::manual(T0);
    let store = make
        .make(StoreOptions {
            clock,
            ..Default::default()
        })
        .await;
    let mut m = Model::new();
    for (i, op) in ops.iter().enumerate() {
        let what = format!("op {i} {op:?}");
        step(&store, &hand, &mut m, op, &what).await?;
    }
    final_check(&store, &m).await?;
    // Whatever the operations did, the store's records and derived tables are whole.
    let report = tokio::task::block_in_place(|| {
        store
            .local
            .verify(&crate::verify::VerifyOptions::default(), &mut |_| {})
    })
    .map_err(|e| format!("verify failed: {e}"))?;
    match report.damage.first() {
        None => Ok(()),
        Some(d) => Err(format!("verify after the run: {d}")),
    }
}

async fn step(
    s: &Subject,
    hand: &Arc<AtomicI64>,
    m: &mut Model,
    op: &Op,
    what: &str,
) -> std::result::Result<(), String> {
    match op {
        Op::Put { .. }
        | Op::Delete { .. }
        | Op::Merge { .. }
        | Op::TestReplace { .. }
        | Op::Append { .. }
        | Op::Trim { .. }
        | Op::DeleteStream { .. } => {
            let mu = m.mutation(op);
            let predicted = m.predict(&mu);
            let actual = single(s, mu).await;
            m.commit(what, predicted, &actual)
        }
        Op::Batch { atomic, ops } => {
            let ms: Vec<Mutation> = ops.iter().map(|o| m.mutation(o)).collect();
            if *atomic {
                batch(s, m, ms, what).await
            } else {
                let results = s
                    .write_many(ms.clone())
                    .await
                    .map_err(|e| format!("{what}: write_many failed as a whole: {e:?}"))?;
                if results.len() != ms.len() {
                    return Err(format!("{what}: {} results", results.len()));
                }
                for (j, (mu, r)) in ms.iter().zip(&results).enumerate() {
                    let p = m.predict(mu);
                    m.commit(&format!("{what} item {j}"), p, r)?;
                }
                Ok(())
            }
        }
        Op::Get { ns, key } => {
            let got = s
                .get(&nsp(*ns), KEYS[*key])
                .await
                .map_err(|e| e.to_string())?;
            m.check_item((*ns, *key), &got)
                .map_err(|e| format!("{what}: {e}"))
        }
        Op::GetMany { keys } => {
            let req: Vec<(Namespace, String)> = keys
                .iter()
                .map(|(n, k)| (nsp(*n), KEYS[*k].to_string()))
                .collect();
            let got = s.get_many(&req).await.map_err(|e| e.to_string())?;
            if got.len() != keys.len() {
                return Err(format!("{what}: {} results", got.len()));
            }
            for (k, g) in keys.iter().zip(&got) {
                m.check_item(*k, g).map_err(|e| format!("{what}: {e}"))?;
            }
            Ok(())
        }
        Op::Scan { ns, limit, prefix } => {
            let mut req = Scan {
                ns: nsp(*ns),
                limit: *limit,
                key_prefix: prefix.map(|p| KEYS[p].to_string()),
                ..Default::default()
            };
            let want = m.live_keys(*ns, *prefix);
            let mut got = Vec::new();
            loop {
                let page = s.scan(&req).await.map_err(|e| format!("{what}: {e}"))?;
                if page.items.len() > *limit {
                    return Err(format!("{what}: page of {}", page.items.len()));
                }
                got.extend(page.items);
                match page.cursor {
                    Some(c) => req.cursor = Some(c),
                    None => break,
                }
                if got.len() > want.len() + *limit {
                    return Err(format!("{what}: paging does not end"));
                }
            }
            let keys: Vec<Key> = got.iter().map(|i| key_of(&i.ns, &i.key)).collect();
            if keys != want {
                return Err(format!("{what}: model lists {want:?}, store {keys:?}"));
            }
            for (k, it) in want.iter().zip(got) {
                m.check_item(*k, &Some(it))
                    .map_err(|e| format!("{what}: {e}"))?;
            }
            Ok(())
        }
        Op::ReadStream {
            stream,
            from,
            backward,
            limit,
        } => {
            let dir = if *backward {
                Direction::Backward
            } else {
                Direction::Forward
            };
            let from = from.map(u64::from);
            let got = s
                .read_stream(&stream_ns(), STREAMS[*stream], from, dir, *limit)
                .await
                .map_err(|e| format!("{what}: {e}"))?;
            let all: Vec<(u64, i64, J)> = m
                .streams
                .get(stream)
                .map(|st| {
                    st.entries
                        .iter()
                        .map(|(s, (at, d))| (*s, *at, d.clone()))
                        .collect()
                })
                .unwrap_or_default();
            let want: Vec<(u64, i64, J)> = if *backward {
                all.into_iter()
                    .rev()
                    .filter(|e| from.is_none_or(|f| e.0 <= f))
                    .take(*limit)
                    .collect()
            } else {
                all.into_iter()
                    .filter(|e| from.is_none_or(|f| e.0 >= f))
                    .take(*limit)
                    .collect()
            };
            check_entries(what, &want, &got)?;
            check_stream_info(s, m, *stream, what).await
        }
        Op::Advance { ms } => {
            hand.fetch_add(*ms as i64, Ordering::SeqCst);
            m.now += *ms as i64;
            Ok(())
        }
        Op::Sweep => {
            let n = s
                .sweep_expired(1000)
                .await
                .map_err(|e| format!("{what}: {e}"))?;
            let now = m.now;
            let due: Vec<Key> = m
                .items
                .iter()
                .filter(|(_, i)| !i.live(now))
                .map(|(k, _)| *k)
                .collect();
            if n != due.len() as u64 {
                return Err(format!("{what}: swept {n}, model expected {}", due.len()));
            }
            for k in due {
                m.items.remove(&k);
            }
            Ok(())
        }
    }
}

async fn single(s: &Subject, mu: Mutation) -> Result<Outcome> {
    // Use the typed API where there is one, the generic `apply` otherwise.
    match mu {
        Mutation::Put {
            ns,
            key,
            value,
            precondition,
            ttl: Ttl::Default,
            subject: None,
            fence: None,
        } => outcome_of(s.put_if(&ns, &key, value, precondition).await, |version| {
            Outcome::Written { version }
        }),
        Mutation::Delete {
            ns,
            key,
            precondition,
            fence: None,
        } => outcome_of(s.delete(&ns, &key, precondition).await, |existed| {
            Outcome::Deleted { existed }
        }),
        Mutation::Patch {
            ns,
            key,
            patch,
            precondition,
            fence: None,
        } => outcome_of(s.patch(&ns, &key, patch, precondition).await, |version| {
            Outcome::Written { version }
        }),
        Mutation::Append {
            ns,
            stream,
            entries,
            expected_last,
        } => outcome_of(
            s.append(&ns, &stream, entries, expected_last).await,
            |(first_seq, last_seq)| Outcome::Appended {
                first_seq,
                last_seq,
            },
        ),
        Mutation::Trim { ns, stream, to } => {
            outcome_of(s.trim(&ns, &stream, to).await, |removed| Outcome::Trimmed {
                removed,
            })
        }
        Mutation::DeleteStream { ns, stream } => {
            outcome_of(s.delete_stream(&ns, &stream).await, |existed| {
                Outcome::Deleted { existed }
            })
        }
        other => s.apply(other).await,
    }
}

async fn batch(
    s: &Subject,
    m: &mut Model,
    ms: Vec<Mutation>,
    what: &str,
) -> std::result::Result<(), String> {
    // Predict on a scratch copy: all or nothing.
    let mut scratch = m.clone();
    let mut failure = None;
    for (j, mu) in ms.iter().enumerate() {
        match scratch.predict(mu) {
            Ok(e) => {
                // A placeholder outcome so the scratch model moves on; versions are checked
                // for real below. Placeholder versions are above everything seen.
                let placeholder = placeholder_outcome(&scratch, &e);
                scratch.commit(what, Ok(e), &Ok(placeholder))?;
            }
            Err(f) => {
                failure = Some((j, f));
                break;
            }
        }
    }
    let r = s.batch(ms.clone()).await;
    match (failure, r) {
        (None, Ok(outcomes)) => {
            if outcomes.len() != ms.len() {
                return Err(format!("{what}: {} outcomes", outcomes.len()));
            }
            for (j, (mu, o)) in ms.iter().zip(outcomes).enumerate() {
                let p = m.predict(mu);
                m.commit(&format!("{what} item {j}"), p, &Ok(o))?;
            }
            Ok(())
        }
        (Some((j, f)), Err(BatchError { index, error })) => {
            let got = fail_of(&error)?;
            let matches = got == f
                // A failure that reports a version written earlier in the same batch: the
                // model only knows it is above every committed version.
                || matches!((&got, &f), (Fail::Pre(Some(g)), Fail::Pre(Some(w)))
                    if w.0 >= PLACEHOLDER && *g > m.max_version());
            if index != j || !matches {
                return Err(format!(
                    "{what}: expected failure at {j} with {f:?}, store failed at {index} with {error:?}"
                ));
            }
            Ok(())
        }
        (None, Err(e)) => Err(format!("{what}: expected the batch to commit, got {e:?}")),
        (Some((j, f)), Ok(o)) => Err(format!(
            "{what}: expected failure at {j} with {f:?}, store committed {o:?}"
        )),
    }
}

const PLACEHOLDER: u64 = u64::MAX / 2;

fn placeholder_outcome(m: &Model, e: &Effect) -> Outcome {
    match e {
        Effect::Write { .. } => Outcome::Written {
            version: Version(m.max_version().0.max(PLACEHOLDER) + 1),
        },
        Effect::Delete { existed, .. } | Effect::DeleteStream { existed, .. } => {
            Outcome::Deleted { existed: *existed }
        }
        Effect::Append { stream, entries } => {
            let last = m.streams.get(stream).map_or(0, |s| s.last);
            Outcome::Appended {
                first_seq: last + 1,
                last_seq: last + entries.len() as u64,
            }
        }
        Effect::Trim { stream, cut } => Outcome::Trimmed {
            removed: m.streams.get(stream).map_or(0, |s| {
                s.entries.keys().filter(|k| **k < *cut).count() as u64
            }),
        },
    }
}

async fn check_stream_info(
    s: &Subject,
    m: &Model,
    stream: usize,
    what: &str,
) -> std::result::Result<(), String> {
    let got = s
        .stream_info(&stream_ns(), STREAMS[stream])
        .await
        .map_err(|e| format!("{what}: {e}"))?;
    let want = m.streams.get(&stream).map(|st| {
        (
            st.entries.len() as u64,
            st.first(),
            st.last,
            st.entries
                .values()
                .map(|(_, d)| serde_json::to_vec(d).map_or(0, |v| v.len() as u64))
                .sum::<u64>(),
        )
    });
    let got = got.map(|i| (i.len, i.first_seq, i.last_seq, i.bytes));
    if got != want {
        return Err(format!(
            "{what}: stream {stream} info: model (len, first, last, bytes) {want:?}, store {got:?}"
        ));
    }
    Ok(())
}

async fn final_check(s: &Subject, m: &Model) -> std::result::Result<(), String> {
    let what = "final state";
    // Every item, by a full recursive scan.
    let mut req = Scan {
        ns: Namespace::new(["m"]),
        recursive: true,
        limit: 1000,
        ..Default::default()
    };
    let mut got = Vec::new();
    loop {
        let p = s.scan(&req).await.map_err(|e| e.to_string())?;
        got.extend(p.items);
        match p.cursor {
            Some(c) => req.cursor = Some(c),
            None => break,
        }
    }
    let want: Vec<Key> = (0..NSS.len()).flat_map(|n| m.live_keys(n, None)).collect();
    let keys: Vec<Key> = got.iter().map(|i| key_of(&i.ns, &i.key)).collect();
    if keys != want {
        return Err(format!("{what}: model has {want:?}, store scan {keys:?}"));
    }
    for (k, it) in want.iter().zip(got) {
        m.check_item(*k, &Some(it))
            .map_err(|e| format!("{what}: {e}"))?;
    }
    for (st, name) in STREAMS.iter().enumerate() {
        check_stream_info(s, m, st, what).await?;
        let entries = s
            .read_stream(&stream_ns(), name, None, Direction::Forward, 10_000)
            .await
            .map_err(|e| e.to_string())?;
        let want: Vec<(u64, i64, J)> = m
            .streams
            .get(&st)
            .map(|x| {
                x.entries
                    .iter()
                    .map(|(s, (at, d))| (*s, *at, d.clone()))
                    .collect()
            })
            .unwrap_or_default();
        check_entries(what, &want, &entries)?;
    }
    // Counters count physical items (expired ones until swept) and streams.
    let stats = s
        .stats(&Namespace::root())
        .await
        .map_err(|e| e.to_string())?;
    for n in 0..NSS.len() {
        let items: Vec<&MItem> = m
            .items
            .iter()
            .filter(|(k, _)| k.0 == n)
            .map(|(_, i)| i)
            .collect();
        let (streams, entries, sbytes) = if n == 0 {
            (
                m.streams.len() as u64,
                m.streams.values().map(|s| s.entries.len() as u64).sum(),
                m.streams
                    .values()
                    .flat_map(|s| s.entries.values())
                    .map(|(_, d)| serde_json::to_vec(d).map_or(0, |v| v.len() as u64))
                    .sum(),
            )
        } else {
            (0, 0, 0)
        };
        let want = crate::NamespaceStats {
            items: items.len() as u64,
            item_bytes: items.iter().map(|i| i.bytes()).sum(),
            streams,
            stream_entries: entries,
            stream_bytes: sbytes,
        };
        let got = stats
            .namespaces
            .iter()
            .find(|(x, _)| *x == nsp(n))
            .map(|(_, st)| st.clone())
            .unwrap_or_default();
        if got != want {
            return Err(format!(
                "{what}: stats of {:?}: model {want:?}, store {got:?}",
                nsp(n)
            ));
        }
    }
    if stats
        .namespaces
        .iter()
        .any(|(x, st)| st.is_empty() || !(0..NSS.len()).any(|n| nsp(n) == *x))
    {
        return Err(format!(
            "{what}: unexpected namespaces {:?}",
            stats.namespaces
        ));
    }
    // The change feed holds a Put change for every version returned, at that LSN.
    let changes = s.changes(0, 10_000).await.map_err(|e| e.to_string())?;
    if !changes.windows(2).all(|w| w[0].lsn < w[1].lsn) {
        return Err(format!("{what}: change feed out of order"));
    }
    let puts: Vec<Version> = changes
        .iter()
        .filter_map(|c| match &c.kind {
            crate::ChangeKind::Put(i) if i.version.0 == c.lsn => Some(i.version),
            crate::ChangeKind::Put(_) => Some(Version(0)),
            _ => None,
        })
        .collect();
    if puts != m.seen {
        return Err(format!(
            "{what}: put changes {puts:?} differ from the versions returned {:?}",
            m.seen
        ));
    }
    let docs = changes.iter().filter_map(|c| match &c.kind {
        crate::ChangeKind::Put(i) if i.version.0 == c.lsn => {
            Some((i.version, i.value.to_json().unwrap_or(J::Null)))
        }
        _ => None,
    });
    for ((v, got), want) in docs.zip(&m.seen_docs) {
        if got != *want {
            return Err(format!(
                "{what}: the put change of version {v:?} carries {got}, it wrote {want}"
            ));
        }
    }
    let last = s.last_lsn().await.map_err(|e| e.to_string())?;
    if changes.last().map_or(0, |c| c.lsn) != last {
        return Err(format!("{what}: last_lsn {last} is not the last change"));
    }
    Ok(())
}

/// Run the model check with [`default_cases`] cases of up to [`MAX_OPS`] operations.
/// Builds its own runtime when called outside one; inside one it needs a multi-threaded
/// runtime (it blocks in place).
pub fn model_check<F, Fut>(make: F)
where
    F: Fn(StoreOptions) -> Fut + Send + Sync,
    Fut: Future + Send + 'static,
    Fut::Output: Into<Subject>,
{
    model_check_with(&factory(make), default_cases(), MAX_OPS)
}

/// [`model_check`] with explicit case and operation counts. Panics with the (shrunk)
/// failing sequence.
pub fn model_check_with(make: &dyn MakeStore, cases: u32, max_ops: usize) {
    let run = |handle: &tokio::runtime::Handle| {
        let mut runner = TestRunner::new(Config {
            cases,
            failure_persistence: None,
            max_shrink_iters: 2048,
            ..Config::default()
        });
        let strategy = prop::collection::vec(op(), 1..=max_ops.max(1));
        let r = runner.run(&strategy, |ops| {
            handle
                .block_on(run_case(make, &ops))
                .map_err(TestCaseError::fail)
        });
        if let Err(e) = r {
            panic!("model check failed: {e}");
        }
    };
    match tokio::runtime::Handle::try_current() {
        Ok(h) => tokio::task::block_in_place(|| run(&h)),
        Err(_) => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("conformance: cannot build a tokio runtime");
            run(rt.handle())
        }
    }
}
