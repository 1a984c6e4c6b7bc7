//! Arbitrary bytes as a WAL segment: replay never panics.
//! The check itself is `checks::wal_replay` (../checks.rs), which the server's
//! test binary also runs on every file of fuzz/corpus/wal_replay/ and
//! fuzz/regressions/wal_replay/.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::wal_replay(data));
