//! WAL append throughput: samples records of 1000 samples, no fsync.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use strata_engine::SeriesRef;
use strata_engine::wal::{FsyncPolicy, Record, RefSample, Wal, WalOptions};

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(
        dir.path(),
        WalOptions {
            segment_size: 128 << 20,
            fsync: FsyncPolicy::Never,
        },
    )
    .unwrap();
    let mut t = 1_700_000_000_000i64;
    let mut g = c.benchmark_group("wal");
    g.throughput(Throughput::Elements(1000));
    g.bench_function("log_1000_samples", |b| {
        b.iter(|| {
            t += 15_000;
            let samples = (0..1000u64)
                .map(|r| RefSample {
                    series_ref: SeriesRef(r),
                    t,
                    v: r as f64 * 1.5,
                })
                .collect();
            wal.log(&[Record::Samples(samples)]).unwrap();
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
