//! Arbitrary bytes as a chunk never panic; and arbitrary samples round-trip.
//! The check itself is `checks::chunk_decode` (../checks.rs), which the server's
//! test binary also runs on every file of fuzz/corpus/chunk_decode/ and
//! fuzz/regressions/chunk_decode/.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::chunk_decode(data));
