//! Measure a full backup, a 1% incremental and a restore of a generated store:
//! `cargo run --release -p botstore-backup --example measure -- DIR [MiB]`.
//! Also writes DIR/export.jsonl (the same records as JSON Lines) for a restic comparison.
//! `... -- DIR MiB gen` only generates DIR/data and DIR/export.jsonl (then measure with
//! the CLI, e.g. under `/usr/bin/time -v`). Every phase prints the process's peak
//! resident memory (VmHWM) so far.

// A developer's measurement run, not a tool: any failure ends the run, and a panic
// naming the step is the report wanted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use botstore::{Mutation, Namespace, Value};
use botstore_backup::{
    create, restore, CreateOptions, KdfParams, LocalRepo, Repo, RestoreOptions, Secret,
};
use botstore_embedded::{open_store, Durability, EmbeddedOptions};
use std::io::Write;
use std::time::{Duration, Instant};

fn value(i: u64, salt: u64) -> serde_json::Value {
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ salt;
    let mut words = Vec::new();
    const W: [&str; 12] = [
        "hello", "order", "pizza", "refund", "thanks", "agent", "please", "delivery", "status",
        "when", "card", "help",
    ];
    for _ in 0..60 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        words.push(W[(x % 12) as usize]);
    }
    serde_json::json!({
        "user": format!("user-{i}"), "locale": "en-GB", "salt": salt, "turn": x % 1000,
        "dialog_stack": ["greet", "ask_order", "confirm"], "summary": words.join(" "),
        "slots": {"order_id": format!("o-{}", x % 1_000_000), "amount": (x % 10000) as f64 / 100.0},
    })
}

/// Peak resident memory of this process so far (VmHWM of /proc/self/status).
fn vm_hwm() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l["VmHWM:".len()..].trim().to_string())
        })
        .unwrap_or_else(|| "?".into())
}

/// `BOTSTORE_BACKUP_ZSTD=N` overrides the compression level (for experiments).
fn create_opts() -> CreateOptions<'static> {
    let mut o = CreateOptions::new("bench");
    if let Some(l) = std::env::var("BOTSTORE_BACKUP_ZSTD")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        o.zstd_level = l;
    }
    o
}

/// One phase alone on an existing DIR/data (`... -- DIR 0 backup`, then `restore`), so
/// its peak memory is its own.
fn phase(dir: &std::path::Path, mode: &str, opts: EmbeddedOptions) {
    let t = Instant::now();
    if mode == "backup" {
        let _ = std::fs::remove_dir_all(dir.join("repo"));
        let store = open_store(dir.join("data"), opts, Default::default()).unwrap();
        let repo = Repo::init(
            Box::new(LocalRepo::new(dir.join("repo"))),
            &Secret::Password(b"pw".to_vec()),
            KdfParams::default(),
        )
        .unwrap();
        let s = create(&repo, &store, &create_opts()).unwrap();
        println!("full:    {}", serde_json::to_string(&s).unwrap());
    } else {
        let _ = std::fs::remove_dir_all(dir.join("restored"));
        let repo = Repo::open(
            Box::new(LocalRepo::new(dir.join("repo"))),
            &Secret::Password(b"pw".to_vec()),
        )
        .unwrap();
        let r = restore(
            &repo,
            &dir.join("restored"),
            &RestoreOptions {
                snapshot: None,
                force: false,
                progress: None,
            },
        )
        .unwrap();
        println!("restore: {}", serde_json::to_string(&r).unwrap());
    }
    println!(
        "{mode}: {:.1}s, peak resident memory (VmHWM) {}",
        t.elapsed().as_secs_f64(),
        vm_hwm()
    );
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = std::path::PathBuf::from(&args[1]);
    let mib: u64 = args.get(2).map_or(200, |s| s.parse().unwrap());
    let gen_only = args.get(3).is_some_and(|a| a == "gen");
    let opts = EmbeddedOptions {
        durability: Durability::Relaxed {
            max_loss: Duration::from_millis(50),
        },
        ..Default::default()
    };
    if let Some(mode @ ("backup" | "restore")) = args.get(3).map(String::as_str) {
        return phase(&dir, mode, opts);
    }
    let _ = std::fs::remove_dir_all(&dir);
    let store = open_store(dir.join("data"), opts.clone(), Default::default()).unwrap();
    let mut jsonl =
        std::io::BufWriter::new(std::fs::File::create(dir.join("export.jsonl")).unwrap());
    let t = Instant::now();
    let per = value(0, 0).to_string().len() as u64 + 40;
    let n = (mib << 20) / per;
    let ns_of = |i: u64| Namespace::new(["tenant", &format!("t{}", i % 50), "users"]);
    let mut batch = Vec::new();
    for i in 0..n {
        let v = value(i, 0);
        writeln!(
            jsonl,
            "{}",
            serde_json::json!({"ns": ns_of(i).to_string(), "key": format!("u{i:08}"), "value": v})
        )
        .unwrap();
        batch.push(Mutation::put(ns_of(i), format!("u{i:08}"), Value::json(&v)));
        if batch.len() == 1000 {
            store.write_many(std::mem::take(&mut batch)).await.unwrap();
        }
    }
    store.write_many(batch).await.unwrap();
    store.sync().unwrap();
    jsonl.flush().unwrap();
    eprintln!("generated {n} items in {:.1}s", t.elapsed().as_secs_f64());
    if gen_only {
        return;
    }
    let repo = Repo::init(
        Box::new(LocalRepo::new(dir.join("repo"))),
        &Secret::Password(b"pw".to_vec()),
        KdfParams::default(),
    )
    .unwrap();
    let full = create(&repo, &store, &create_opts()).unwrap();
    println!("full:    {}", serde_json::to_string(&full).unwrap());
    println!("peak after full: {}", vm_hwm());
    let mut batch = Vec::new();
    for i in (0..n).step_by(100) {
        batch.push(Mutation::put(
            ns_of(i),
            format!("u{i:08}"),
            Value::json(&value(i, 7)),
        ));
    }
    store.write_many(batch).await.unwrap();
    let delta = create(&repo, &store, &create_opts()).unwrap();
    println!("delta:   {}", serde_json::to_string(&delta).unwrap());
    drop(store);
    let r = restore(
        &repo,
        &dir.join("restored"),
        &RestoreOptions {
            snapshot: None,
            force: false,
            progress: None,
        },
    )
    .unwrap();
    println!("restore: {}", serde_json::to_string(&r).unwrap());
    println!("peak after restore: {}", vm_hwm());
    let size = |p: &std::path::Path| -> u64 {
        fn walk(p: &std::path::Path) -> u64 {
            std::fs::read_dir(p)
                .map(|rd| {
                    rd.flatten()
                        .map(|e| {
                            let m = e.metadata().unwrap();
                            if m.is_dir() {
                                walk(&e.path())
                            } else {
                                m.len()
                            }
                        })
                        .sum()
                })
                .unwrap_or(0)
        }
        walk(p)
    };
    println!(
        "repo bytes: {}, store.redb: {}",
        size(&dir.join("repo")),
        size(&dir.join("data"))
    );
}
