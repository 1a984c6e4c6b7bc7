//! Arbitrary bytes as a Prometheus text exposition body: never a panic, and
//! every sample parsed prints back (write_sample) to a line that parses to
//! the same sample.
//! The check itself is `checks::exposition_parse` (../checks.rs), which the server's
//! test binary also runs on every file of fuzz/corpus/exposition_parse/ and
//! fuzz/regressions/exposition_parse/.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::exposition_parse(data));
