#![no_main]
//! See `botstore_fuzz::damaged`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: botstore_fuzz::damaged::Input| botstore_fuzz::damaged::run(&input));
