//! Arbitrary bytes as a remote_write 2.0 body (snappy + protobuf `io.prometheus.write.v2.Request`):
//! never a panic; walks are deterministic and hand over only UTF-8 labels, as
//! the write handler relies on.
//! The check itself is `checks::remote_write_v2_decode` (../checks.rs), which the server's
//! test binary also runs on every file of fuzz/corpus/remote_write_v2_decode/ and
//! fuzz/regressions/remote_write_v2_decode/.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::remote_write_v2_decode(data));
