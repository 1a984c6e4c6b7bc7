//! Arbitrary bytes as a Prometheus text exposition body: never a panic, and
//! every sample parsed prints back (write_sample) to a line that parses to
//! the same sample.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_server::ingest::exposition::{Entry, parse, parse_line, write_sample};

fuzz_target!(|data: &[u8]| {
    if data.len() > 1 << 16 {
        return;
    }
    for entry in parse(data) {
        let Ok((_, Entry::Sample(s))) = entry else {
            continue;
        };
        let labels: Vec<(&str, &str)> = s.labels.iter().map(|(n, v)| (*n, v.as_ref())).collect();
        let mut out = String::new();
        write_sample(&mut out, s.name, &labels, s.value, s.timestamp);
        let again = parse_line(out.trim_end_matches('\n').as_bytes());
        let Ok(Some(Entry::Sample(b))) = again else {
            panic!("{out:?}: {again:?}")
        };
        assert_eq!(
            (b.name, &b.labels, b.timestamp),
            (s.name, &s.labels, s.timestamp),
            "{out:?}"
        );
        assert!(
            b.value.to_bits() == s.value.to_bits() || (b.value.is_nan() && s.value.is_nan()),
            "{out:?}"
        );
    }
});
