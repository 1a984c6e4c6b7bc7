//! Finding series in the head by their labels, and creating new ones, over
//! 100k node_exporter series (7–8 labels each):
//! - `series_lookup_100k_existing`: one sample for each of 100k existing
//!   series through `Appender::append_raw` (borrowed label bytes, as the
//!   remote_write handler does), `Appender::append_pairs` (borrowed `&str`
//!   pairs) and `Appender::append` (pre-built `Labels`). `*_lookup` drops the batch uncommitted, so it is the
//!   lookup (hash + shard map + label compare) alone; `*_commit` commits
//!   it (WAL write without fsync + head append).
//! - `series_create_100k_new`: the same 100k label sets appended to a
//!   fresh `Storage` and committed (series creation: WAL series records,
//!   interning, postings). The storage is made outside the timing.
//!
//! Throughput is series (= samples) per second.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use strata_benches::{as_pairs, node_series};
use strata_engine::{FsyncPolicy, Labels, Options, Storage};

const SERIES: usize = 100_000;

fn opts() -> Options {
    Options::default()
        .without_maintenance()
        .with_fsync(FsyncPolicy::Never)
}

/// A storage in a fresh directory; the storage drops before the directory.
struct Fresh {
    storage: Storage,
    _dir: tempfile::TempDir,
}

fn fresh() -> Fresh {
    let dir = tempfile::tempdir().unwrap();
    Fresh {
        storage: Storage::open(dir.path(), opts()).unwrap(),
        _dir: dir,
    }
}

fn bench(c: &mut Criterion) {
    let owned: Vec<Vec<(String, String)>> = (0..SERIES).map(node_series).collect();
    let mut pairs: Vec<Vec<(&str, &str)>> = owned.iter().map(|l| as_pairs(l)).collect();
    let mut raw: Vec<Vec<(&[u8], &[u8])>> = owned
        .iter()
        .map(|l| {
            l.iter()
                .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
                .collect()
        })
        .collect();
    let labels: Vec<Labels> = pairs
        .iter()
        .map(|p| Labels::from_pairs(p).unwrap())
        .collect();
    let now = strata_engine::Clock::now_ms(&strata_engine::SystemClock);
    let mut t = now - 3_600_000;

    let existing = fresh();
    let storage = &existing.storage;
    let mut app = storage.appender();
    for l in &labels {
        app.append(l, t, 0.0).unwrap();
    }
    app.commit().unwrap();
    assert_eq!(storage.stats().head_series, SERIES as u64);

    let mut g = c.benchmark_group("series_lookup_100k_existing");
    g.throughput(Throughput::Elements(SERIES as u64));
    g.sample_size(10);
    g.sampling_mode(SamplingMode::Flat);
    g.bench_function("append_raw_lookup", |b| {
        b.iter(|| {
            let mut app = storage.appender();
            for p in raw.iter_mut() {
                app.append_raw(p, &[(t + 15_000, 1.0)]).unwrap();
            }
            black_box(app.len())
        })
    });
    g.bench_function("append_pairs_lookup", |b| {
        b.iter(|| {
            let mut app = storage.appender();
            for p in pairs.iter_mut() {
                app.append_pairs(p, &[(t + 15_000, 1.0)]).unwrap();
            }
            black_box(app.len())
        })
    });
    g.bench_function("append_labels_lookup", |b| {
        b.iter(|| {
            let mut app = storage.appender();
            for l in &labels {
                app.append(l, t + 15_000, 1.0).unwrap();
            }
            black_box(app.len())
        })
    });
    g.bench_function("append_raw_commit", |b| {
        b.iter(|| {
            t += 15_000;
            let mut app = storage.appender();
            for p in raw.iter_mut() {
                app.append_raw(p, &[(t, 1.0)]).unwrap();
            }
            app.commit().unwrap();
        })
    });
    g.bench_function("append_pairs_commit", |b| {
        b.iter(|| {
            t += 15_000;
            let mut app = storage.appender();
            for p in pairs.iter_mut() {
                app.append_pairs(p, &[(t, 1.0)]).unwrap();
            }
            app.commit().unwrap();
        })
    });
    g.bench_function("append_labels_commit", |b| {
        b.iter(|| {
            t += 15_000;
            let mut app = storage.appender();
            for l in &labels {
                app.append(l, t, 1.0).unwrap();
            }
            app.commit().unwrap();
        })
    });
    g.finish();
    assert_eq!(storage.stats().head_series, SERIES as u64);
    drop(existing);

    let mut g = c.benchmark_group("series_create_100k_new");
    g.throughput(Throughput::Elements(SERIES as u64));
    g.sample_size(10);
    g.sampling_mode(SamplingMode::Flat);
    g.bench_function("append_labels_commit", |b| {
        b.iter_batched(
            fresh,
            |f| {
                let mut app = f.storage.appender();
                for l in &labels {
                    app.append(l, now, 1.0).unwrap();
                }
                app.commit().unwrap();
                f
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("append_pairs_commit", |b| {
        b.iter_batched(
            fresh,
            |f| {
                let mut app = f.storage.appender();
                for p in pairs.iter_mut() {
                    app.append_pairs(p, &[(now, 1.0)]).unwrap();
                }
                app.commit().unwrap();
                f
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group! {
    name = benches;
    // Short runs: this is a shared 2-core machine (the command line overrides).
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
