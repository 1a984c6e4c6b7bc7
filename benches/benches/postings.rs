//! Series selection with label matchers over 100k node_exporter series
//! (1,000 hosts x 100 series, one sample each), with three queries:
//! - `cpu_busy_subnet`: `{__name__="node_cpu_seconds_total", mode!="idle",
//!   instance=~"10\.0\.1\..*"}` (14,000 series);
//! - `cpu0_user_system`: `{__name__="node_cpu_seconds_total", cpu="0",
//!   mode=~"user|system"}` (2,000 series);
//! - `host_net`: `{instance="10.0.2.17:9100", __name__=~"node_network_.*",
//!   device!="lo"}` (9 series).
//!
//! Measured: `Querier::select` from the head (`postings_head`) and, after a
//! flush, from the block (`postings_block`), which also builds each
//! `Series` (labels, head snapshot or block chunk metas); on the block,
//! `index::postings_for_matchers` alone (postings resolution and algebra,
//! no series read); and `index::postings::intersect` on block postings
//! lists, merging and galloping. Throughput for selections is series
//! returned per second; for `intersect`, postings (input ids) per second.
//! The head's own postings are not reachable from outside the engine, so
//! the head is measured through `select` only.

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use strata_benches::node_labels;
use strata_engine::block::{self, Block};
use strata_engine::index::{PostingsSource, postings, postings_for_matchers};
use strata_engine::{FsyncPolicy, MatchType, Matcher, Options, Querier, Storage};

const SERIES: usize = 100_000;

fn queries() -> Vec<(&'static str, Vec<Matcher>, usize)> {
    let m = |k, n: &str, v: &str| Matcher::new(k, n, v).unwrap();
    vec![
        (
            "cpu_busy_subnet",
            vec![
                Matcher::equal("__name__", "node_cpu_seconds_total"),
                m(MatchType::NotEqual, "mode", "idle"),
                m(MatchType::Regex, "instance", r"10\.0\.1\..*"),
            ],
            250 * 56,
        ),
        (
            "cpu0_user_system",
            vec![
                Matcher::equal("__name__", "node_cpu_seconds_total"),
                Matcher::equal("cpu", "0"),
                m(MatchType::Regex, "mode", "user|system"),
            ],
            1000 * 2,
        ),
        (
            "host_net",
            vec![
                Matcher::equal("instance", "10.0.2.17:9100"),
                m(MatchType::Regex, "__name__", "node_network_.*"),
                m(MatchType::NotEqual, "device", "lo"),
            ],
            9,
        ),
    ]
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options::default()
        .without_maintenance()
        .with_fsync(FsyncPolicy::Never);
    let storage = Storage::open(dir.path(), opts).unwrap();
    let now = strata_engine::Clock::now_ms(&strata_engine::SystemClock);
    let t = now - 3_600_000;
    let mut app = storage.appender();
    for i in 0..SERIES {
        app.append(&node_labels(i), t, i as f64).unwrap();
    }
    app.commit().unwrap();
    let queries = queries();

    let select = |c: &mut Criterion, group: &str| {
        let mut g = c.benchmark_group(group);
        g.sample_size(20);
        for (name, matchers, want) in &queries {
            g.throughput(Throughput::Elements(*want as u64));
            g.bench_function(format!("select_{name}"), |b| {
                b.iter(|| {
                    let got = storage.querier().select(matchers, t - 1, t + 1).unwrap();
                    assert_eq!(got.len(), *want);
                    got
                })
            });
        }
        g.finish();
    };
    select(c, "postings_head_100k");

    storage.flush().unwrap();
    assert_eq!(storage.stats().head_series, 0);
    select(c, "postings_block_100k");

    let blocks = block::list_blocks(&dir.path().join("blocks")).unwrap();
    assert_eq!(blocks.len(), 1);
    let block = Block::open(&blocks[0].1).unwrap();
    let mut g = c.benchmark_group("postings_block_100k");
    g.sample_size(20);
    for (name, matchers, want) in &queries {
        g.throughput(Throughput::Elements(*want as u64));
        g.bench_function(format!("postings_for_matchers_{name}"), |b| {
            b.iter(|| {
                let ids = postings_for_matchers(&block, matchers).unwrap();
                assert_eq!(ids.len(), *want);
                ids
            })
        });
    }
    let list = |n: &str, v: &str| block.postings(n, v).unwrap();
    let pairs = [
        // 100k with 64k: similar sizes, a linear merge.
        (
            "merge_job_x_cpu",
            list("job", "node"),
            list("__name__", "node_cpu_seconds_total"),
        ),
        // 100 with 64k: galloping through the long list.
        (
            "gallop_host_x_cpu",
            list("instance", "10.0.2.17:9100"),
            list("__name__", "node_cpu_seconds_total"),
        ),
    ];
    for (name, a, b) in &pairs {
        g.throughput(Throughput::Elements((a.len() + b.len()) as u64));
        g.bench_function(format!("intersect_{name}"), |bench| {
            bench.iter(|| postings::intersect(a, b))
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    // Short runs: this is a shared 2-core machine (the command line overrides).
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
