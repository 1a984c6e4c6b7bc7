//! Arbitrary bytes as a PromQL query: never a panic, and whatever parses
//! prints to text that parses back to the same tree.
//! The check itself is `checks::promql_parse` (../checks.rs), which the server's
//! test binary also runs on every file of fuzz/corpus/promql_parse/ and
//! fuzz/regressions/promql_parse/.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::promql_parse(data));
