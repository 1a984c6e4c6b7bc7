//! Arbitrary bytes as a block's index (with arbitrary meta and chunk files):
//! opening and reading every series and chunk never panics.
//! The check itself is `checks::block_open` (../checks.rs), which the server's
//! test binary also runs on every file of fuzz/corpus/block_open/ and
//! fuzz/regressions/block_open/.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::block_open(data));
