//! Write MiB mebibytes of realistic bot records as JSON Lines (`botstore import`'s format):
//! conversation state, user profiles, LangGraph checkpoints along growing threads and
//! transcripts, under 50 tenants (`tenant-NN/...`), text from the dialog corpus
//! (`botstore_bench::gen`). The same seed writes the same file.
//!
//! ```text
//! cargo run --release -p botstore-bench --example botdata -- OUT.jsonl [MiB, default 200] [seed]
//! ```
//!
//! By bytes (the next record is always of the kind furthest below its share): 30% conversation state (~2 KiB, `tenant-NN/conversations/<id>` key
//! `state`), 10% user profiles (~600 B, `tenant-NN/users/<id>` key `profile`), 35%
//! checkpoints (`tenant-NN/threads/<id>` keys `checkpoint/00000000`, ... one per step, each
//! holding every message so far, ~300 B a message, threads of 4 to 40 steps), 25%
//! transcript entries (Bot Framework activities of ~1 KiB, stream `transcript` of
//! `tenant-NN/transcripts/<id>`).

// A developer's tool, not a library: any failure ends the run with the panic's message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use botstore_bench::gen::Generator;
use rand::Rng;
use serde_json::json;
use std::io::{BufWriter, Write};

fn main() {
    let mut args = std::env::args().skip(1);
    let out = args.next().expect("usage: botdata OUT.jsonl [MiB] [seed]");
    let mib: u64 = args.next().map_or(200, |s| s.parse().expect("MiB"));
    let seed: u64 = args.next().map_or(18, |s| s.parse().expect("seed"));
    let target = mib << 20;
    let mut g = Generator::new(seed);
    let mut w = BufWriter::new(std::fs::File::create(&out).expect("create OUT"));
    let mut written = 0u64;
    let mut n = [0u64; 4];
    let line = |w: &mut BufWriter<std::fs::File>, v: serde_json::Value| -> u64 {
        let mut b = serde_json::to_vec(&v).unwrap();
        b.push(b'\n');
        w.write_all(&b).unwrap();
        b.len() as u64
    };
    // Bytes by kind so far; the next record is of the kind furthest below its share.
    const SHARE: [f64; 4] = [0.30, 0.10, 0.35, 0.25];
    let mut by_kind = [0u64; 4];
    while written < target {
        let tenant = format!("tenant-{:02}", g.rng().random_range(0..50));
        let total = (by_kind.iter().sum::<u64>() as f64).max(1.0);
        let kind = (0..4)
            .max_by(|&a, &b| {
                let da = SHARE[a] - by_kind[a] as f64 / total;
                let db = SHARE[b] - by_kind[b] as f64 / total;
                da.total_cmp(&db)
            })
            .unwrap_or(0);
        let before = written;
        if kind == 0 {
            let id = g.uuid();
            let state = g.state(&id, 2048);
            written += line(
                &mut w,
                json!({"ns": [tenant, "conversations", id], "key": "state", "value": state}),
            );
            n[0] += 1;
        } else if kind == 1 {
            let id = g.uuid();
            let name = g
                .line()
                .split_whitespace()
                .next()
                .unwrap_or("Ada")
                .to_string();
            let bio = g.text(380);
            let profile = json!({
                "id": format!("user-{id}"), "displayName": name, "locale": "en-GB",
                "channels": ["msteams", "webchat"], "createdAt": botstore_bench::gen::rfc3339(botstore_bench::gen::now_ms()),
                "preferences": {"language": "en", "notifications": true, "timezone": "Europe/London"},
                "about": bio,
            });
            written += line(
                &mut w,
                json!({"ns": [tenant, "users", id], "key": "profile", "value": profile}),
            );
            n[1] += 1;
        } else if kind == 2 {
            // A thread: one checkpoint per step, each holding the whole history so far.
            let id = g.uuid();
            let steps = g.rng().random_range(4..=40u64);
            let mut messages = Vec::new();
            for step in 0..steps {
                messages.push(g.message(step % 2 == 0, 300));
                let cp = g.checkpoint(&id, step, &messages);
                written += line(
                    &mut w,
                    json!({"ns": [tenant, "threads", id], "key": format!("checkpoint/{step:08}"), "value": cp}),
                );
                n[2] += 1;
            }
        } else {
            let id = g.uuid();
            let turns = g.rng().random_range(4..=30);
            for t in 0..turns {
                let a = g.activity(&id, t % 2 == 0, 1024);
                written += line(
                    &mut w,
                    json!({"ns": [tenant, "transcripts", id], "stream": "transcript", "entry": a}),
                );
                n[3] += 1;
            }
        }
        by_kind[kind] += written - before;
    }
    w.flush().unwrap();
    eprintln!(
        "{out}: {written} bytes; {} states, {} profiles, {} checkpoints, {} transcript entries",
        n[0], n[1], n[2], n[3]
    );
}
