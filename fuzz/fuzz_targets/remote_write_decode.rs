//! Arbitrary bytes as a remote_write body (snappy + protobuf `WriteRequest`):
//! never a panic; what decodes round-trips and passes the label checks of
//! the write handler consistently.
//! The check itself is `checks::remote_write_decode` (../checks.rs), which the server's
//! test binary also runs on every file of fuzz/corpus/remote_write_decode/ and
//! fuzz/regressions/remote_write_decode/.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::remote_write_decode(data));
