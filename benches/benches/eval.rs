//! PromQL evaluation over the storage engine: the dashboard queries of issue 4.
//! `EVAL_BENCH_SERIES` (default 10000) sets the series count of the rate bench.

use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use strata_engine::{FsyncPolicy, Labels, ManualClock, Options, Storage};
use strata_promql::eval::{EvalOptions, eval_range};
use strata_promql::parse;

const DAY: i64 = 86_400_000;

fn open(dir: &std::path::Path) -> Storage {
    let mut opts = Options::default()
        .without_maintenance()
        .with_fsync(FsyncPolicy::Never)
        .with_clock(Arc::new(ManualClock::new(DAY)));
    opts.retention_ms = 30 * DAY;
    Storage::open(dir, opts).unwrap()
}

fn bench(c: &mut Criterion) {
    let series: usize = std::env::var("EVAL_BENCH_SERIES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let dir = tempfile::tempdir().unwrap();
    let storage = open(dir.path());
    // 24 h at 15 s: counters, 100 instances.
    let labels: Vec<Labels> = (0..series)
        .map(|i| {
            Labels::from_pairs(&[
                ("__name__", "x"),
                ("instance", &format!("host{}", i % 100)),
                ("id", &i.to_string()),
            ])
            .unwrap()
        })
        .collect();
    for k in 0..5760i64 {
        let mut app = storage.appender();
        for (i, l) in labels.iter().enumerate() {
            app.append(l, k * 15_000, (k * (i as i64 % 7 + 1)) as f64)
                .unwrap();
        }
        app.commit().unwrap();
    }
    // 1k classic histograms of 10 buckets, 24 h at 15 s.
    let les = [
        "0.005", "0.01", "0.05", "0.1", "0.5", "1", "5", "10", "50", "+Inf",
    ];
    for k in 0..5760i64 {
        let mut app = storage.appender();
        for h in 0..100 {
            for (b, le) in les.iter().enumerate() {
                let l = Labels::from_pairs(&[
                    ("__name__", "h_bucket"),
                    ("instance", &format!("host{h}")),
                    ("le", le),
                ])
                .unwrap();
                app.append(&l, k * 15_000, (k * (b as i64 + 1)) as f64)
                    .unwrap();
            }
        }
        app.commit().unwrap();
    }
    storage.flush().unwrap();
    let q = storage.querier();
    let eo = EvalOptions::default();
    let mut g = c.benchmark_group("eval");
    g.sample_size(10);
    let rate = parse("sum by (instance) (rate(x[5m]))").unwrap();
    g.throughput(Throughput::Elements(series as u64 * 5760));
    g.bench_function(
        format!("sum_by_instance_rate_{series}_series_24h_step_60s"),
        |b| b.iter(|| eval_range(&q, &rate, 0, DAY - 1, 60_000, &eo).unwrap()),
    );
    let hq = parse("histogram_quantile(0.9, sum by (le) (rate(h_bucket[5m])))").unwrap();
    g.throughput(Throughput::Elements(1000 * 5760));
    g.bench_function("histogram_quantile_1k_bucket_series_24h_step_60s", |b| {
        b.iter(|| eval_range(&q, &hq, 0, DAY - 1, 60_000, &eo).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
