//! Arbitrary bytes through every request-body decompressor (identity, gzip,
//! zstd, snappy block) with a cap taken from the input: never a panic,
//! never more output than the cap, only the expected error kinds. The check
//! itself is `checks::decompress_bounded` (../checks.rs), which the server's
//! test binary also runs on every file of fuzz/corpus/decompress_bounded/
//! and fuzz/regressions/decompress_bounded/.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::decompress_bounded(data));
