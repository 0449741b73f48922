#![no_main]
//! See `botstore_fuzz::store_ops`.

use botstore_fuzz::store_ops::{run, Input};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: Input| {
    run(&input);
});
