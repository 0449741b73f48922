#![no_main]
//! See `botstore_fuzz::damaged_store`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: botstore_fuzz::damaged_store::Input| botstore_fuzz::damaged_store::run(&input));
