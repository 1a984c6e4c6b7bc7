//! Arbitrary bytes as an InfluxDB line protocol body: never a panic, and
//! every line parsed writes back (write_line) to a line that parses the same.
//! The check itself is `checks::influx_parse` (../checks.rs), which the
//! server's test binary also runs on every file of fuzz/corpus/influx_parse/
//! and fuzz/regressions/influx_parse/.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::influx_parse(data));
