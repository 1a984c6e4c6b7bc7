//! Chunk encode and decode throughput on realistic data, for each encoding
//! (Gorilla for the head, Decimal for blocks).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand::{Rng, SeedableRng};
use strata_engine::Sample;
use strata_engine::chunk::{ChunkIter, Encoding, decode_into, encode, encode_cold};

const CHUNK: usize = 120;
const CHUNKS: usize = 1000;

/// 120-sample chunks: 15 s scrapes with a few ms of jitter; counters that
/// grow by small integers, and gauges with two decimals.
fn data() -> Vec<Vec<Sample>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    (0..CHUNKS)
        .map(|c| {
            let mut t = 1_700_000_000_000i64 + c as i64;
            let mut v = 0.0f64;
            (0..CHUNK)
                .map(|_| {
                    t += 15_000 + rng.gen_range(-5..=5);
                    v = if c % 2 == 0 {
                        v + f64::from(rng.gen_range(0..50))
                    } else {
                        (rng.gen_range(0..10_000) as f64) / 100.0
                    };
                    Sample { t, v }
                })
                .collect()
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let chunks = data();
    for encoding in [Encoding::Xor, Encoding::Decimal] {
        let encoded: Vec<Vec<u8>> = chunks
            .iter()
            .map(|s| {
                let (got, bytes) = match encoding {
                    Encoding::Decimal => encode_cold(s),
                    other => (other, encode(other, s)),
                };
                assert_eq!(got, encoding, "bench data must take the encoding");
                bytes
            })
            .collect();
        let bytes: usize = encoded.iter().map(Vec::len).sum();
        eprintln!(
            "chunk bench data, {encoding}: {:.2} bytes per sample before zstd",
            bytes as f64 / (CHUNK * CHUNKS) as f64
        );
        let mut g = c.benchmark_group(format!("chunk_{encoding}"));
        g.throughput(Throughput::Elements((CHUNK * CHUNKS) as u64));
        g.bench_function("encode", |b| {
            b.iter(|| {
                let mut n = 0;
                for s in &chunks {
                    n += match encoding {
                        Encoding::Decimal => encode_cold(s).1.len(),
                        other => encode(other, s).len(),
                    };
                }
                n
            })
        });
        g.bench_function("decode", |b| {
            b.iter(|| {
                let mut sum = 0i64;
                for e in &encoded {
                    for s in ChunkIter::new(encoding, e).unwrap() {
                        sum = sum.wrapping_add(s.unwrap().t);
                    }
                }
                sum
            })
        });
        // The bulk path queries read blocks with.
        g.bench_function("decode_into", |b| {
            let mut out = Vec::with_capacity(CHUNK);
            b.iter(|| {
                let mut sum = 0i64;
                for e in &encoded {
                    out.clear();
                    decode_into(encoding, e, &mut out).unwrap();
                    sum = sum.wrapping_add(out.last().map_or(0, |s| s.t));
                }
                sum
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
