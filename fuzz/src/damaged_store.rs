//! `damaged_store`: a real `store.redb` (items, a stream, a lease, the change feed, made
//! once per process by the embedded engine and closed cleanly), damaged as the input says
//! (bit flips, overwrites, zeroed runs), then opened and read through the `Store` API.
//! Must hold:
//!
//! * no panic escapes (redb's own panics on damaged pages are caught by the engine and
//!   become `Error::Corrupt`; the target silences the panic hook, so a caught one is not a
//!   crash, an uncaught one is);
//! * every read that succeeds returns exactly the bytes that were written: a damaged
//!   record fails its record check, or a read fails some other loud way (a lookup a
//!   damaged branch sends astray may answer "absent": that is `verify`'s to find).
//!
//! A violation prints a line starting with [`VIOLATION`] before it panics, so that a run in
//! libFuzzer's fork mode (`scripts/fuzz.sh`) can tell it from the one crash that is allowed:
//! redb panicking again in a destructor while it unwinds from a panic on a damaged page,
//! which Rust answers by aborting the process ("panic in a destructor during cleanup",
//! "thread caused non-unwinding panic. aborting."). That abort is loud, not a lie, and
//! needs a fix in redb; `scripts/fuzz.sh` counts those and fails on anything else.

use arbitrary::Arbitrary;
use botstore::{Direction, Namespace, Scan, Store, Value};
use botstore_embedded::{open_store, EmbeddedOptions};
use std::collections::BTreeMap;
use std::sync::OnceLock;

#[derive(Arbitrary, Debug)]
pub enum Harm {
    Flip { at: u32, mask: u8 },
    Overwrite { at: u32, bytes: Vec<u8> },
    Zero { at: u32, len: u8 },
}

#[derive(Arbitrary, Debug)]
pub struct Input {
    pub harms: Vec<Harm>,
}

/// The start of the line a violation prints.
pub const VIOLATION: &str = "damaged_store VIOLATION:";

/// Report a violation and crash.
fn violated(what: String) -> ! {
    eprintln!("{VIOLATION} {what}");
    panic!("{what}");
}

struct Pristine {
    image: Vec<u8>,
    items: BTreeMap<String, Vec<u8>>,
    entries: Vec<Vec<u8>>,
}

fn rt() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    })
}

fn ns() -> Namespace {
    Namespace::new(["t", "u"])
}

fn pristine() -> &'static Pristine {
    static P: OnceLock<Pristine> = OnceLock::new();
    P.get_or_init(|| {
        // Panics the engine catches (redb on damaged pages) are not crashes here.
        std::panic::set_hook(Box::new(|_| {}));
        let dir = tempfile::tempdir().expect("temp dir");
        let mut items = BTreeMap::new();
        let mut entries = Vec::new();
        rt().block_on(async {
            let s = open_store(dir.path(), EmbeddedOptions::default(), Default::default())
                .expect("open");
            for i in 0..40 {
                let v = format!("{{\"n\":{i},\"text\":\"{}\"}}", "x".repeat(i * 7));
                s.put(&ns(), &format!("k{i:02}"), Value::json_text(v.clone()))
                    .await
                    .expect("put");
                items.insert(format!("k{i:02}"), v.into_bytes());
            }
            let es: Vec<Value> = (0..10)
                .map(|e| Value::json_text(format!("{{\"e\":{e}}}")))
                .collect();
            entries = es.iter().map(|v| v.data.to_vec()).collect();
            s.append(&ns(), "log", es, None).await.expect("append");
            s.acquire_lease(&ns(), "l", "w", std::time::Duration::from_secs(3600))
                .await
                .expect("lease");
            s.close().expect("close");
        });
        let image = std::fs::read(dir.path().join("store.redb")).expect("read image");
        Pristine {
            image,
            items,
            entries,
        }
    })
}

async fn read_all(s: &Store, p: &Pristine) {
    for (k, want) in &p.items {
        if let Ok(Some(it)) = s.get(&ns(), k).await {
            if it.value.data[..] != want[..] {
                violated(format!("get {k} returned other bytes"));
            }
        }
    }
    if let Ok(page) = s
        .scan(&Scan {
            ns: ns(),
            limit: 1000,
            ..Scan::default()
        })
        .await
    {
        for it in &page.items {
            if p.items.get(&it.key).map(Vec::as_slice) != Some(&it.value.data[..]) {
                violated(format!("scan returned other bytes for {}", it.key));
            }
        }
    }
    if let Ok(es) = s
        .read_stream(&ns(), "log", None, Direction::Forward, 100)
        .await
    {
        for e in &es {
            let i = (e.seq as usize).wrapping_sub(1);
            if p.entries.get(i).map(Vec::as_slice) != Some(&e.value.data[..]) {
                violated(format!("entry {} returned other bytes", e.seq));
            }
        }
    }
    let _ = s.changes(0, 1000).await;
    let _ = s.get_lease(&ns(), "l").await;
}

pub fn run(input: &Input) {
    let p = pristine();
    let mut image = p.image.clone();
    let len = image.len();
    if len == 0 {
        return;
    }
    for h in input.harms.iter().take(8) {
        match h {
            Harm::Flip { at, mask } => image[*at as usize % len] ^= mask,
            Harm::Overwrite { at, bytes } => {
                let at = *at as usize % len;
                for (i, b) in bytes.iter().take(64).enumerate() {
                    if let Some(x) = image.get_mut(at + i) {
                        *x = *b;
                    }
                }
            }
            Harm::Zero { at, len: n } => {
                let at = *at as usize % len;
                let end = (at + *n as usize).min(len);
                image[at..end].fill(0);
            }
        }
    }
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("store.redb"), &image).expect("write image");
    // A panic out of the engine (not one of ours) is a violation too: the engine must turn
    // redb's panics into errors.
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt().block_on(async {
            let Ok(s) = open_store(dir.path(), EmbeddedOptions::default(), Default::default())
            else {
                return;
            };
            read_all(&s, p).await;
            let _ = s.close();
        })
    }));
    if let Err(e) = r {
        let what = e
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        if !what.contains("returned other bytes") {
            violated(format!("a panic escaped the engine: {what}"));
        }
        std::panic::resume_unwind(e);
    }
}
