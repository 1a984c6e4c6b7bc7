//! Arbitrary bytes as a VictoriaMetrics JSON lines body: never a panic, and
//! every line parsed writes back (write_line) to a line that parses the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_engine::{Label, Sample};
use strata_server::ingest::jsonl::{parse, parse_line, write_line};

fuzz_target!(|data: &[u8]| {
    if data.len() > 1 << 16 {
        return;
    }
    for line in parse(data) {
        let Ok((_, l)) = line else { continue };
        let labels: Vec<Label> = l
            .labels
            .iter()
            .map(|(n, v)| Label::new(n.as_str(), v.as_str()))
            .collect();
        let samples: Vec<Sample> = l
            .timestamps
            .iter()
            .zip(&l.values)
            .map(|(&t, &v)| Sample::new(t, v))
            .collect();
        let mut out = String::new();
        write_line(&mut out, &labels, &samples);
        let b = parse_line(out.trim_end_matches('\n').as_bytes())
            .unwrap_or_else(|e| panic!("{out:?}: {e}"));
        let (mut x, mut y) = (b.labels.clone(), l.labels.clone());
        x.sort();
        y.sort();
        assert_eq!(x, y, "{out:?}");
        assert_eq!(b.timestamps, l.timestamps, "{out:?}");
        for (p, q) in b.values.iter().zip(&l.values) {
            assert!(
                p.to_bits() == q.to_bits() || (p.is_nan() && q.is_nan()),
                "{out:?}"
            );
        }
    }
});
