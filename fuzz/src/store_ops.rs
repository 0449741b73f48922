//! `store_ops`: short sequences of Store calls, decoded from the fuzz input with
//! `arbitrary`, run against `Store::memory()` on a current-thread tokio runtime with a
//! manual clock (so a crash replays exactly). Every call must return: a panic is a bug, and
//! so is an internal error (`Corrupt`, `Storage`, `Closed`), since a memory store has no disk
//! to fail and reads back only what it wrote itself. A few cheap consistency checks ride
//! along: a write is visible to the next read, versions grow, scan pages are ordered and
//! their cursors continue them.

use arbitrary::Arbitrary;
use botstore::read::Scan;
use botstore::{
    Clock, Direction, Error, ErrorKind, Mutation, Namespace, PatchOp, Precondition, Store,
    StoreOptions, TrimTo, Ttl, Value, Version,
};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A fixed set that makes ops collide (same namespace and key) or nest (prefixes).
const NAMESPACES: [&str; 6] = [
    "a",
    "a/b",
    "a/b/c",
    "b",
    "ab",
    "a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p",
];
const NAMES: [&str; 6] = ["k", "k2", "s", "long-key-name", "\u{e9}t\u{e9}", "z"];
const PATHS: [&str; 7] = ["", "/a", "/a/b", "/0", "/-", "/a/0", "/x~1y"];
const START: i64 = 1_700_000_000_000;

#[derive(Arbitrary, Debug, Clone)]
pub enum Ns {
    Fixed(u8),
    /// Parsed like the command line's `a/b/c` (may be invalid).
    Parsed(String),
}

impl Ns {
    fn get(&self) -> Namespace {
        match self {
            Ns::Fixed(i) => Namespace::parse(NAMESPACES[usize::from(*i) % NAMESPACES.len()]),
            Ns::Parsed(s) => Namespace::parse(s),
        }
    }
}

#[derive(Arbitrary, Debug, Clone)]
pub enum Name {
    Fixed(u8),
    Text(String),
}

impl Name {
    fn get(&self) -> String {
        match self {
            Name::Fixed(i) => NAMES[usize::from(*i) % NAMES.len()].to_owned(),
            Name::Text(s) => s.clone(),
        }
    }
}

#[derive(Arbitrary, Debug, Clone)]
pub enum Pre {
    Any,
    Absent,
    Version(u64),
    /// The version the last successful write returned.
    Last,
}

/// A JSON document built structurally (any depth the input affords).
#[derive(Arbitrary, Debug, Clone)]
pub enum Json {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(Name, Json)>),
}

impl Json {
    fn get(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Json::Null => J::Null,
            Json::Bool(b) => J::Bool(*b),
            Json::Int(i) => J::from(*i),
            // NaN and infinities become null, as serde_json does.
            Json::Float(f) => J::from(*f),
            Json::Str(s) => J::String(s.clone()),
            Json::Arr(a) => J::Array(a.iter().map(Json::get).collect()),
            Json::Obj(o) => J::Object(o.iter().map(|(k, v)| (k.get(), v.get())).collect()),
        }
    }
}

/// JSON-ish input to a merge patch: a structure, or bytes that a caller parsed.
#[derive(Arbitrary, Debug, Clone)]
pub enum JsonIsh {
    Tree(Json),
    /// Parsed with serde_json as a server would; bytes that do not parse become a string.
    Bytes(Vec<u8>),
}

impl JsonIsh {
    fn get(&self) -> serde_json::Value {
        match self {
            JsonIsh::Tree(t) => t.get(),
            JsonIsh::Bytes(b) => serde_json::from_slice(b)
                .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(b).into())),
        }
    }
}

#[derive(Arbitrary, Debug, Clone)]
pub enum Val {
    Json(Json),
    /// JSON text as sent: the store must check it.
    JsonText(Vec<u8>),
    Bytes {
        content_type: String,
        data: Vec<u8>,
    },
    Small(u8),
}

impl Val {
    fn get(&self) -> Value {
        match self {
            Val::Json(j) => Value::json(&j.get()),
            Val::JsonText(b) => Value::json_text(b.clone()),
            Val::Bytes { content_type, data } => Value::bytes(content_type.clone(), data.clone()),
            Val::Small(n) => Value::json(&serde_json::json!({ "n": n, "a": [n] })),
        }
    }
}

#[derive(Arbitrary, Debug, Clone)]
pub enum Step {
    Add(u8, Json),
    Remove(u8),
    Replace(u8, Json),
    Test(u8, Json),
    Move(u8, u8),
    Copy(u8, u8),
    Raw(String),
}

fn path(i: u8) -> &'static str {
    PATHS[usize::from(i) % PATHS.len()]
}

impl Step {
    fn get(&self) -> serde_json::Value {
        use serde_json::json;
        match self {
            Step::Add(p, v) => json!({"op": "add", "path": path(*p), "value": v.get()}),
            Step::Remove(p) => json!({"op": "remove", "path": path(*p)}),
            Step::Replace(p, v) => json!({"op": "replace", "path": path(*p), "value": v.get()}),
            Step::Test(p, v) => json!({"op": "test", "path": path(*p), "value": v.get()}),
            Step::Move(f, p) => json!({"op": "move", "from": path(*f), "path": path(*p)}),
            Step::Copy(f, p) => json!({"op": "copy", "from": path(*f), "path": path(*p)}),
            Step::Raw(s) => json!({"op": "add", "path": s, "value": 1}),
        }
    }
}

#[derive(Arbitrary, Debug, Clone)]
pub enum Trim {
    KeepLast(u64),
    Before(u64),
    OlderThan(i64),
    /// `OlderThan` a little before or after now.
    OlderThanNow(i16),
}

#[derive(Arbitrary, Debug, Clone)]
pub enum Cursor {
    None,
    Text(String),
    /// The cursor the last scan or listing returned.
    Last,
    /// That cursor with one character changed.
    LastMangled(u8, char),
}

#[derive(Arbitrary, Debug, Clone)]
pub enum Op {
    Put {
        ns: Ns,
        key: Name,
        value: Val,
        ttl_ms: Option<u32>,
    },
    PutIf {
        ns: Ns,
        key: Name,
        value: Val,
        pre: Pre,
    },
    Delete {
        ns: Ns,
        key: Name,
        pre: Pre,
    },
    PatchMerge {
        ns: Ns,
        key: Name,
        patch: JsonIsh,
        pre: Pre,
    },
    PatchJson {
        ns: Ns,
        key: Name,
        steps: Vec<Step>,
    },
    Get {
        ns: Ns,
        key: Name,
    },
    Append {
        ns: Ns,
        stream: Name,
        entries: Vec<Val>,
        expected_last: Option<u64>,
    },
    Trim {
        ns: Ns,
        stream: Name,
        to: Trim,
    },
    DeleteStream {
        ns: Ns,
        stream: Name,
    },
    ReadStream {
        ns: Ns,
        stream: Name,
        from: Option<u64>,
        backward: bool,
        limit: u16,
    },
    Scan {
        ns: Ns,
        recursive: bool,
        key_prefix: Option<Name>,
        start: Option<Name>,
        end: Option<Name>,
        cursor: Cursor,
        limit: u8,
    },
    ListNamespaces {
        prefix: Ns,
        max_depth: Option<u8>,
        limit: u8,
        cursor: Cursor,
    },
    Changes {
        since: u64,
        limit: u16,
    },
    Acquire {
        ns: Ns,
        name: Name,
        holder: Name,
        ttl_ms: u32,
    },
    Renew {
        ns: Ns,
        name: Name,
        ttl_ms: u32,
    },
    Release {
        ns: Ns,
        name: Name,
    },
    NamespaceTtl {
        prefix: Ns,
        ttl_ms: Option<u32>,
    },
    Batch {
        atomic: bool,
        ops: Vec<Op>,
    },
    Advance(u32),
    Maintain,
}

/// The whole input: up to 32 ops.
#[derive(Debug)]
pub struct Input(pub Vec<Op>);

impl<'a> Arbitrary<'a> for Input {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        let mut ops = Vec::new();
        while ops.len() < 32 && !u.is_empty() {
            ops.push(u.arbitrary()?);
        }
        Ok(Input(ops))
    }
}

/// What earlier ops left for later ones to refer to.
#[derive(Default)]
struct State {
    last_version: Option<Version>,
    max_version: u64,
    last_cursor: Option<String>,
    last_token: u64,
}

thread_local! {
    static RT: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
}

/// Run the ops; returns the store's last LSN (how many changes they committed).
pub fn run(input: &Input) -> u64 {
    let (clock, now) = Clock::manual(START);
    let store = Store::with_options(
        Arc::new(botstore::memory::MemoryBackend::new()),
        StoreOptions {
            clock,
            ..StoreOptions::default()
        },
    );
    RT.with(|rt| {
        rt.block_on(async {
            let mut st = State::default();
            for op in &input.0 {
                one(&store, &now, &mut st, op).await;
            }
            // Everything the ops wrote reads back: the change feed, stats, a full scan.
            let changes = store.changes(0, 10_000).await;
            ok(&changes);
            let stats = store.stats(&Namespace::root()).await;
            ok(&stats);
            for ns in NAMESPACES {
                let r = scan_all(&store, &Namespace::parse(ns)).await;
                ok(&r);
            }
            ok(&store.maintain().await);
            store.last_lsn().await.expect("last lsn")
        })
    })
}

/// Internal errors are bugs here; every other error is a typed answer to bad input or a
/// failed condition.
fn ok<T>(r: &Result<T, Error>) {
    if let Err(e) = r {
        assert_ne!(e.kind(), ErrorKind::Internal, "internal error: {e:?}");
    }
}

fn pre(p: &Pre, st: &State) -> Precondition {
    match p {
        Pre::Any => Precondition::Any,
        Pre::Absent => Precondition::IfAbsent,
        Pre::Version(v) => Precondition::IfVersion(Version(*v)),
        Pre::Last => st
            .last_version
            .map_or(Precondition::Any, Precondition::IfVersion),
    }
}

fn cursor(c: &Cursor, st: &State) -> Option<String> {
    match c {
        Cursor::None => None,
        Cursor::Text(s) => Some(s.clone()),
        Cursor::Last => st.last_cursor.clone(),
        Cursor::LastMangled(i, ch) => st.last_cursor.as_ref().map(|s| {
            let mut chars: Vec<char> = s.chars().collect();
            if !chars.is_empty() {
                let n = chars.len();
                chars[usize::from(*i) % n] = *ch;
            }
            chars.into_iter().collect()
        }),
    }
}

fn ttl(ms: u32) -> Duration {
    Duration::from_millis(u64::from(ms))
}

/// A successful write: versions grow, and the item reads back with that version.
async fn written(store: &Store, st: &mut State, ns: &Namespace, key: &str, v: Version) {
    assert!(
        v.0 > st.max_version,
        "version {v:?} not above {}",
        st.max_version
    );
    st.max_version = v.0;
    st.last_version = Some(v);
    let got = store.get(ns, key).await;
    ok(&got);
    let item = got
        .expect("a key just written is valid")
        .expect("an item just written is there");
    assert_eq!(item.version, v);
    if item.value.is_json() {
        // What the store accepted as JSON, it can parse again.
        item.value
            .to_json()
            .expect("stored JSON parses (as the patch path needs it to)");
    }
}

fn mutation(op: &Op, st: &State, now: i64) -> Option<Mutation> {
    Some(match op {
        Op::Put {
            ns,
            key,
            value,
            ttl_ms,
        } => Mutation::Put {
            ns: ns.get(),
            key: key.get(),
            value: value.get(),
            precondition: Precondition::Any,
            ttl: ttl_ms.map_or(Ttl::Default, |ms| {
                if ms == 0 {
                    Ttl::Never
                } else {
                    Ttl::After(ttl(ms))
                }
            }),
            subject: None,
            fence: None,
        },
        Op::PutIf {
            ns,
            key,
            value,
            pre: p,
        } => Mutation::put(ns.get(), key.get(), value.get()).when(pre(p, st)),
        Op::Delete { ns, key, pre: p } => Mutation::delete(ns.get(), key.get()).when(pre(p, st)),
        Op::PatchMerge {
            ns,
            key,
            patch,
            pre: p,
        } => Mutation::Patch {
            ns: ns.get(),
            key: key.get(),
            patch: PatchOp::Merge(patch.get()),
            precondition: pre(p, st),
            fence: None,
        },
        Op::Append {
            ns,
            stream,
            entries,
            expected_last,
        } => Mutation::Append {
            ns: ns.get(),
            stream: stream.get(),
            entries: entries.iter().map(Val::get).collect(),
            expected_last: *expected_last,
        },
        Op::Trim { ns, stream, to } => Mutation::Trim {
            ns: ns.get(),
            stream: stream.get(),
            to: trim_to(to, now),
        },
        Op::DeleteStream { ns, stream } => Mutation::DeleteStream {
            ns: ns.get(),
            stream: stream.get(),
        },
        _ => return None,
    })
}

fn trim_to(t: &Trim, now: i64) -> TrimTo {
    match t {
        Trim::KeepLast(n) => TrimTo::KeepLast(*n),
        Trim::Before(s) => TrimTo::Before(*s),
        Trim::OlderThan(t) => TrimTo::OlderThan(*t),
        Trim::OlderThanNow(d) => TrimTo::OlderThan(now + i64::from(*d)),
    }
}

fn json_patch(steps: &[Step]) -> Option<json_patch::Patch> {
    let doc = serde_json::Value::Array(steps.iter().map(Step::get).collect());
    serde_json::from_value(doc).ok()
}

async fn one(store: &Store, clock: &AtomicI64, st: &mut State, op: &Op) {
    let now = clock.load(Ordering::SeqCst);
    match op {
        Op::Put {
            ns, key, value: v, ..
        } => {
            let m = mutation(op, st, now).expect("a put");
            let r = store.apply(m).await;
            ok(&r);
            if let Ok(o) = r {
                let v_new = o.version().expect("a put answers with a version");
                written(store, st, &ns.get(), &key.get(), v_new).await;
                let item = store.get(&ns.get(), &key.get()).await.unwrap().unwrap();
                assert_eq!(item.value, v.get());
            }
        }
        Op::PutIf {
            ns,
            key,
            value,
            pre: p,
        } => {
            let value = value.get();
            let r = store
                .put_if(&ns.get(), &key.get(), value.clone(), pre(p, st))
                .await;
            ok(&r);
            if let Ok(v) = r {
                written(store, st, &ns.get(), &key.get(), v).await;
                let item = store.get(&ns.get(), &key.get()).await.unwrap().unwrap();
                assert_eq!(item.value, value);
            }
        }
        Op::Delete { ns, key, pre: p } => {
            let r = store.delete(&ns.get(), &key.get(), pre(p, st)).await;
            ok(&r);
            if r.is_ok() {
                assert_eq!(store.get(&ns.get(), &key.get()).await, Ok(None));
            }
        }
        Op::PatchMerge { ns, key, .. } => {
            let m = mutation(op, st, now).expect("a patch");
            let r = store.apply(m).await;
            ok(&r);
            if let Ok(o) = r {
                let v = o.version().expect("a patch answers with a version");
                written(store, st, &ns.get(), &key.get(), v).await;
            }
        }
        Op::PatchJson { ns, key, steps } => {
            if let Some(p) = json_patch(steps) {
                let r = store
                    .patch(&ns.get(), &key.get(), PatchOp::Json(p), Precondition::Any)
                    .await;
                ok(&r);
                if let Ok(v) = r {
                    written(store, st, &ns.get(), &key.get(), v).await;
                }
            }
        }
        Op::Get { ns, key } => ok(&store.get(&ns.get(), &key.get()).await),
        Op::Append {
            ns,
            stream,
            entries,
            expected_last,
        } => {
            let r = store
                .append(
                    &ns.get(),
                    &stream.get(),
                    entries.iter().map(Val::get).collect(),
                    *expected_last,
                )
                .await;
            ok(&r);
            if let Ok((first, last)) = r {
                assert_eq!(last - first + 1, entries.len() as u64);
                let info = store.stream_info(&ns.get(), &stream.get()).await;
                let info = info.expect("valid").expect("the stream exists");
                assert_eq!(info.last_seq, last);
                let read = store
                    .read_stream(
                        &ns.get(),
                        &stream.get(),
                        Some(first),
                        Direction::Forward,
                        100,
                    )
                    .await
                    .expect("read what was appended");
                assert_eq!(read.len(), entries.len().min(100));
                for (e, v) in read.iter().zip(entries) {
                    assert_eq!(e.value, v.get());
                }
            }
        }
        Op::Trim { ns, stream, to } => {
            let before = store.stream_info(&ns.get(), &stream.get()).await;
            let r = store.trim(&ns.get(), &stream.get(), trim_to(to, now)).await;
            ok(&r);
            if let (Ok(removed), Ok(Some(before))) = (r, before) {
                let after = store
                    .stream_info(&ns.get(), &stream.get())
                    .await
                    .expect("valid")
                    .expect("a trimmed stream stays");
                assert_eq!(after.len + removed, before.len);
                assert_eq!(after.last_seq, before.last_seq);
            }
        }
        Op::DeleteStream { ns, stream } => {
            let r = store.delete_stream(&ns.get(), &stream.get()).await;
            ok(&r);
            if r.is_ok() {
                assert_eq!(store.stream_info(&ns.get(), &stream.get()).await, Ok(None));
            }
        }
        Op::ReadStream {
            ns,
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
            let r = store
                .read_stream(&ns.get(), &stream.get(), *from, dir, usize::from(*limit))
                .await;
            ok(&r);
            if let Ok(es) = r {
                assert!(es.len() <= usize::from(*limit));
                let ordered = es.windows(2).all(|w| match dir {
                    Direction::Forward => w[0].seq < w[1].seq,
                    Direction::Backward => w[0].seq > w[1].seq,
                });
                assert!(ordered, "stream read out of order");
            }
        }
        Op::Scan {
            ns,
            recursive,
            key_prefix,
            start,
            end,
            cursor: c,
            limit,
        } => {
            let req = Scan {
                ns: ns.get(),
                recursive: *recursive,
                key_prefix: key_prefix.as_ref().map(Name::get),
                start: start.as_ref().map(Name::get),
                end: end.as_ref().map(Name::get),
                cursor: cursor(c, st),
                limit: usize::from(*limit),
            };
            let r = store.scan(&req).await;
            ok(&r);
            if let Ok(page) = r {
                assert!(page.items.len() <= req.limit);
                for it in &page.items {
                    if req.recursive {
                        assert!(it.ns.starts_with(&req.ns));
                    } else {
                        assert_eq!(it.ns, req.ns);
                    }
                }
                let keys: Vec<Vec<u8>> = page
                    .items
                    .iter()
                    .map(|i| botstore::codec::named_key(&i.ns, &i.key))
                    .collect();
                assert!(keys.windows(2).all(|w| w[0] < w[1]), "scan out of order");
                if let Some(c) = &page.cursor {
                    // The next page starts after this one.
                    let next = store
                        .scan(&Scan {
                            cursor: Some(c.clone()),
                            ..req.clone()
                        })
                        .await
                        .expect("a cursor the store issued is accepted");
                    if let (Some(last), Some(first)) = (keys.last(), next.items.first()) {
                        assert!(botstore::codec::named_key(&first.ns, &first.key) > *last);
                    }
                    st.last_cursor = Some(c.clone());
                }
            }
        }
        Op::ListNamespaces {
            prefix,
            max_depth,
            limit,
            cursor: c,
        } => {
            let r = store
                .list_namespaces(
                    &prefix.get(),
                    max_depth.map(usize::from),
                    usize::from(*limit),
                    cursor(c, st).as_deref(),
                )
                .await;
            ok(&r);
            if let Ok(page) = r {
                assert!(page.items.len() <= usize::from(*limit));
                if let Some(c) = page.cursor {
                    st.last_cursor = Some(c);
                }
            }
        }
        Op::Changes { since, limit } => {
            let r = store.changes(*since, usize::from(*limit)).await;
            ok(&r);
            if let Ok(cs) = r {
                assert!(cs.iter().all(|c| c.lsn > *since));
                assert!(cs.windows(2).all(|w| w[0].lsn < w[1].lsn));
            }
        }
        Op::Acquire {
            ns,
            name,
            holder,
            ttl_ms,
        } => {
            let r = store
                .acquire_lease(&ns.get(), &name.get(), &holder.get(), ttl(*ttl_ms))
                .await;
            ok(&r);
            if let Ok(l) = r {
                assert!(l.token > 0);
                st.last_token = l.token;
            }
        }
        Op::Renew { ns, name, ttl_ms } => {
            let r = store
                .renew_lease(&ns.get(), &name.get(), st.last_token, ttl(*ttl_ms))
                .await;
            ok(&r);
        }
        Op::Release { ns, name } => {
            let r = store
                .release_lease(&ns.get(), &name.get(), st.last_token)
                .await;
            ok(&r);
        }
        Op::NamespaceTtl { prefix, ttl_ms } => {
            let r = store
                .set_namespace_ttl(&prefix.get(), ttl_ms.map(ttl))
                .await;
            ok(&r);
        }
        Op::Batch { atomic, ops } => {
            let ms: Vec<Mutation> = ops.iter().filter_map(|o| mutation(o, st, now)).collect();
            if *atomic {
                let r = store.batch(ms.clone()).await;
                if let Err(e) = &r {
                    assert!(e.index < ms.len().max(1));
                    assert_ne!(e.error.kind(), ErrorKind::Internal, "{e:?}");
                }
                if let Ok(outs) = r {
                    assert_eq!(outs.len(), ms.len());
                }
            } else {
                let r = store.write_many(ms.clone()).await;
                ok(&r);
                if let Ok(rs) = r {
                    assert_eq!(rs.len(), ms.len());
                    rs.iter().for_each(ok);
                }
            }
            let last = store.last_lsn().await.expect("last lsn");
            st.max_version = st.max_version.max(last);
        }
        Op::Advance(ms) => {
            clock.fetch_add(i64::from(*ms), Ordering::SeqCst);
        }
        Op::Maintain => ok(&store.maintain().await),
    }
}

/// Page through every item of `ns` with the store's cursors: ordered, no repeats.
async fn scan_all(store: &Store, ns: &Namespace) -> Result<usize, Error> {
    let mut req = Scan {
        ns: ns.clone(),
        limit: 3,
        ..Scan::default()
    };
    let mut seen = 0;
    let mut last: Option<String> = None;
    loop {
        let page = store.scan(&req).await?;
        for it in &page.items {
            if let Some(l) = &last {
                assert!(it.key > *l, "keys repeat or go back across pages");
            }
            last = Some(it.key.clone());
        }
        seen += page.items.len();
        match page.cursor {
            Some(c) => req.cursor = Some(c),
            None => return Ok(seen),
        }
        assert!(seen < 100_000, "paging does not end");
    }
}
