//! Arbitrary bytes as an OTLP/HTTP metrics body, protobuf and JSON: never a
//! panic, protobuf re-encodes stably, translated series have valid labels.
//! The check itself is `checks::otlp_decode` (../checks.rs), which the
//! server's test binary also runs on every file of fuzz/corpus/otlp_decode/
//! and fuzz/regressions/otlp_decode/.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::otlp_decode(data));
