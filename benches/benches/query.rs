//! Select + decode of 10k series over 2 h from blocks.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use strata_engine::{FsyncPolicy, Labels, Matcher, Options, Querier, Storage};

const SERIES: usize = 10_000;
const SAMPLES: i64 = 480; // 2 h at 15 s

fn bench_select(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options::default()
        .without_maintenance()
        .with_fsync(FsyncPolicy::Never);
    let storage = Storage::open(dir.path(), opts).unwrap();
    let now = strata_engine::Clock::now_ms(&strata_engine::SystemClock);
    let start = (now - 4 * 3_600_000) / 7_200_000 * 7_200_000;
    let labels: Vec<Labels> = (0..SERIES)
        .map(|i| {
            Labels::from_pairs(&[
                ("__name__", "http_requests_total"),
                ("instance", &format!("pod-{}", i / 10)),
                ("code", ["200", "404", "500"][i % 3]),
                ("path", &format!("/api/{}", i % 10)),
            ])
            .unwrap()
        })
        .collect();
    for k in 0..SAMPLES {
        let mut app = storage.appender();
        for (i, l) in labels.iter().enumerate() {
            // Counters with scrape jitter.
            app.append(
                l,
                start + k * 15_000 + (i as i64 % 7),
                (k * (i as i64 % 13 + 1)) as f64,
            )
            .unwrap();
        }
        app.commit().unwrap();
    }
    storage.flush().unwrap();
    assert_eq!(storage.stats().head_series, 0);

    let mut group = c.benchmark_group("select_decode_blocks");
    group.throughput(Throughput::Elements(SERIES as u64 * SAMPLES as u64));
    group.sample_size(10);
    let matchers = [Matcher::equal("__name__", "http_requests_total")];
    group.bench_function("10k_series_2h", |b| {
        b.iter(|| {
            let q = storage.querier();
            let mut n = 0usize;
            for s in q.select(&matchers, start, start + 7_200_000).unwrap() {
                for x in s.iter() {
                    x.unwrap();
                    n += 1;
                }
            }
            assert_eq!(n, SERIES * SAMPLES as usize);
        })
    });
    group.finish();
}

criterion_group!(benches, bench_select);
criterion_main!(benches);
