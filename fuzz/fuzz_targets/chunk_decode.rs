//! Arbitrary bytes as a chunk never panic; and arbitrary samples round-trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_engine::Sample;
use strata_engine::chunk::{ChunkIter, Encoding, decode_all, encode};

fuzz_target!(|data: &[u8]| {
    if data.len() > 1 << 16 {
        return;
    }
    if let Ok(it) = ChunkIter::new(Encoding::Xor, data) {
        for s in it {
            if s.is_err() {
                break;
            }
        }
    }
    // Structured: read (delta, value bits) pairs and round-trip them.
    let mut samples = Vec::new();
    let mut t = 0i64;
    for c in data.chunks_exact(12) {
        let delta = u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64 + 1;
        let bits = u64::from_le_bytes([c[4], c[5], c[6], c[7], c[8], c[9], c[10], c[11]]);
        t = match t.checked_add(delta) {
            Some(n) => n,
            None => break,
        };
        samples.push(Sample { t, v: f64::from_bits(bits) });
    }
    let back = decode_all(Encoding::Xor, &encode(Encoding::Xor, &samples)).expect("own chunk decodes");
    assert_eq!(back, samples);
});
