#![no_main]
//! See `botstore_fuzz::names`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| botstore_fuzz::names::check(data));
