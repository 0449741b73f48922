#![no_main]
//! See `botstore_fuzz::journal`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| botstore_fuzz::journal::check(data));
