//! How the compression settings do on a JSON Lines file of records (`botdata`'s output):
//! every value sealed through a store's zstd codec (`botstore::ZstdCodec`), with
//! dictionaries trained per first namespace segment on the commit path as a store would,
//! for several dictionary sizes, minimum sizes and levels. Prints stored / logical bytes,
//! the seconds spent sealing (training included) and opening.
//!
//! ```text
//! cargo run --release -p botstore-bench --example compress_probe -- FILE.jsonl
//! ```

// A developer's measurement run, not a tool: any failure ends the run with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use botstore::codec::named_key;
use botstore::{
    CodecStack, CompressionOptions, Namespace, Table, ValueCodec, ValueContext, Version,
};
use std::io::BufRead;
use std::sync::Arc;
use std::time::Instant;

fn main() {
    let file = std::env::args()
        .nth(1)
        .expect("usage: compress_probe FILE.jsonl");
    let mut values: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for line in std::io::BufReader::new(std::fs::File::open(&file).unwrap()).lines() {
        let j: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
        let ns: Vec<String> = serde_json::from_value(j["ns"].clone()).unwrap();
        let name = j["key"]
            .as_str()
            .or(j["stream"].as_str())
            .unwrap()
            .to_string();
        let v = if j.get("entry").is_some() {
            &j["entry"]
        } else {
            &j["value"]
        };
        values.push((
            named_key(&Namespace::new(ns), &name),
            serde_json::to_vec(v).unwrap(),
        ));
    }
    let logical: usize = values.iter().map(|(_, v)| v.len()).sum();
    println!("{} values, {logical} logical bytes", values.len());
    let base = CompressionOptions {
        background_training: false,
        ..CompressionOptions::default()
    };
    let mut runs = vec![(
        "no dictionaries".to_string(),
        CompressionOptions {
            dictionaries: false,
            ..base.clone()
        },
    )];
    for kib in [16, 32, 64] {
        runs.push((
            format!("dictionary {kib} KiB"),
            CompressionOptions {
                dict_size: kib << 10,
                ..base.clone()
            },
        ));
    }
    for min in [32, 64, 256] {
        runs.push((
            format!("dictionary 32 KiB, min size {min}"),
            CompressionOptions {
                min_size: min,
                ..base.clone()
            },
        ));
    }
    for level in [1, 6] {
        runs.push((
            format!("dictionary 32 KiB, level {level}"),
            CompressionOptions {
                level,
                ..base.clone()
            },
        ));
    }
    for (name, opts) in runs {
        let z = Arc::new(botstore::ZstdCodec::open(
            opts,
            16 << 20,
            &botstore::kv::EmptyView,
        ));
        let stack = CodecStack::new(vec![z.clone() as Arc<dyn ValueCodec>]).unwrap();
        let t = Instant::now();
        let mut sealed = Vec::with_capacity(values.len());
        for (k, v) in &values {
            let ctx = ValueContext {
                table: Table::Items,
                key: k,
                version: Some(Version(1)),
                subject: None,
                change_copy: false,
            };
            let mut out = Vec::new();
            stack.seal(&ctx, v, &mut out).unwrap();
            sealed.push(out);
            // What the commit thread does after each group.
            if !z.records_to_write().is_empty() {
                z.records_written(true);
            }
        }
        let seal_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        for ((k, v), s) in values.iter().zip(&sealed) {
            let ctx = ValueContext {
                table: Table::Items,
                key: k,
                version: Some(Version(1)),
                subject: None,
                change_copy: false,
            };
            assert_eq!(&*stack.open(&ctx, s).unwrap(), &v[..]);
        }
        let open_s = t.elapsed().as_secs_f64();
        let stored: usize = sealed.iter().map(Vec::len).sum();
        println!(
            "{name:<36} stored/logical {:.3}  dictionaries {:>3}  seal {seal_s:.2} s  open {open_s:.2} s ({:.2} us/value)",
            stored as f64 / logical as f64,
            z.dictionaries().count(),
            open_s * 1e6 / values.len() as f64,
        );
    }
}
