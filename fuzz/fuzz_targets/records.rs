#![no_main]
//! See `botstore_fuzz::records`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| botstore_fuzz::records::check(data));
