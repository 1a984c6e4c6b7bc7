//! Head append throughput for existing series (the full commit path: WAL
//! write + head), with 1 and 2 threads.

use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use strata_engine::{FsyncPolicy, Labels, Options, Storage};

const SERIES: usize = 10_000;

fn labels(n: usize) -> Vec<Labels> {
    (0..n)
        .map(|i| {
            Labels::from_pairs(&[
                ("__name__", "node_network_receive_bytes_total"),
                ("instance", &format!("10.0.{}.{}:9100", i / 250, i % 250)),
                ("job", "node"),
                ("device", &format!("eth{}", i % 4)),
            ])
            .unwrap()
        })
        .collect()
}

fn bench_append(c: &mut Criterion) {
    let mut group = c.benchmark_group("head_append");
    group.throughput(Throughput::Elements(SERIES as u64));
    group.sample_size(20);
    for threads in [1usize, 2] {
        let dir = tempfile::tempdir().unwrap();
        let opts = Options::default()
            .without_maintenance()
            .with_fsync(FsyncPolicy::Never);
        let storage = Arc::new(Storage::open(dir.path(), opts).unwrap());
        let all = labels(SERIES);
        let now = strata_engine::Clock::now_ms(&strata_engine::SystemClock);
        // Create the series first: the bench measures appends to existing ones.
        let mut app = storage.appender();
        for l in &all {
            app.append(l, now - 3_600_000, 0.0).unwrap();
        }
        app.commit().unwrap();
        let parts: Vec<Vec<Labels>> = all
            .chunks(SERIES / threads)
            .map(<[Labels]>::to_vec)
            .collect();
        let mut t = now - 3_600_000;
        group.bench_function(format!("{threads}_threads_10k_series_batch"), |b| {
            b.iter(|| {
                t += 15;
                std::thread::scope(|s| {
                    for part in &parts {
                        let storage = &storage;
                        s.spawn(move || {
                            let mut app = storage.appender();
                            for l in part {
                                app.append(l, t, t as f64 * 0.5).unwrap();
                            }
                            app.commit().unwrap();
                        });
                    }
                });
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_append);
criterion_main!(benches);
