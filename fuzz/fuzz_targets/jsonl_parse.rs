//! Arbitrary bytes as a VictoriaMetrics JSON lines body: never a panic, and
//! every line parsed writes back (write_line) to a line that parses the same.
//! The check itself is `checks::jsonl_parse` (../checks.rs), which the server's
//! test binary also runs on every file of fuzz/corpus/jsonl_parse/ and
//! fuzz/regressions/jsonl_parse/.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::jsonl_parse(data));
