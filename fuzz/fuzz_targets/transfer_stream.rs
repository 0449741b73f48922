#![no_main]
//! See `botstore_fuzz::transfer`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| botstore_fuzz::transfer::check(data));
