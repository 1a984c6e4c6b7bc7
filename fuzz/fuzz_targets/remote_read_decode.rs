//! Arbitrary bytes as a remote_read body (snappy + protobuf `ReadRequest`):
//! never a panic; what decodes round-trips; its matchers build or are refused.
//! The check itself is `checks::remote_read_decode` (../checks.rs), which the server's
//! test binary also runs on every file of fuzz/corpus/remote_read_decode/ and
//! fuzz/regressions/remote_read_decode/.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::remote_read_decode(data));
