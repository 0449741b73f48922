//! The checks behind the fuzz targets. They live here, not in `fuzz_targets/`, so that
//! plain `cargo test --manifest-path fuzz/Cargo.toml` (stable, no sanitizer) can replay the
//! seed corpus and every saved regression through exactly the code the fuzzer runs, and so
//! that the seed corpus is produced by the real encoders (`tests/seeds.rs`).
//!
//! Every check panics on a property violation; a returned error from a decoder is fine.

pub mod damaged;
pub mod damaged_store;
pub mod journal;
pub mod names;
pub mod records;
pub mod store_ops;
pub mod transfer;
