//! Head cut and block compaction, on 10k series with 2 h of 15 s samples
//! each (counters and gauges with random steps, scrape jitter):
//! - `head_flush`: `Storage::flush` of a head holding 10k series x 2 h
//!   (one block written: re-encoding, index, fsyncs, WAL checkpoint);
//! - `merge_2_blocks`: `Storage::compact` of two such 2 h blocks into one
//!   6 h block (read, decode, merge, re-encode, write).
//!
//! Each iteration gets its own data directory, copied from a template made
//! once (the copy, and the WAL replay or block loading of `Storage::open`,
//! are not timed). Throughput is samples written out per second.

use std::path::Path;
use std::time::Duration;

use criterion::{BatchSize, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use rand::{Rng, SeedableRng};
use strata_benches::node_labels;
use strata_engine::{FsyncPolicy, HOUR_MS, Labels, Options, Storage};

const SERIES: usize = 10_000;
/// 2 h at 15 s.
const SAMPLES: i64 = 480;

fn opts() -> Options {
    Options::default()
        .without_maintenance()
        .with_fsync(FsyncPolicy::Never)
}

/// Appends 2 h of samples from `start` to every series: 15 s scrapes with
/// a few ms of jitter; even series are counters growing by small integers,
/// odd ones gauges with two decimals (as in the chunk bench).
fn fill(storage: &Storage, labels: &[Labels], start: i64) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(start as u64);
    let mut counters = vec![0.0f64; labels.len()];
    for k in 0..SAMPLES {
        let mut app = storage.appender();
        for (i, l) in labels.iter().enumerate() {
            let t = start + 5 + k * 15_000 + rng.gen_range(-5..=5);
            let v = if i % 2 == 0 {
                counters[i] += f64::from(rng.gen_range(0..50));
                counters[i]
            } else {
                f64::from(rng.gen_range(0..10_000)) / 100.0
            };
            app.append(l, t, v).unwrap();
        }
        app.commit().unwrap();
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else if e.file_name() != "LOCK" {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
}

/// A storage opened on a copy of `template`; the storage drops first.
struct Opened {
    storage: Storage,
    _dir: tempfile::TempDir,
}

fn open_copy(template: &Path) -> Opened {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(template, dir.path());
    Opened {
        storage: Storage::open(dir.path(), opts()).unwrap(),
        _dir: dir,
    }
}

fn bench(c: &mut Criterion) {
    let labels: Vec<Labels> = (0..SERIES).map(node_labels).collect();
    let now = strata_engine::Clock::now_ms(&strata_engine::SystemClock);
    // Two whole 2 h windows of one 6 h compaction window, in the past.
    let start = (now - 12 * HOUR_MS).div_euclid(6 * HOUR_MS) * 6 * HOUR_MS;
    let samples = SERIES as u64 * SAMPLES as u64;

    // Template 1: a head of 2 h, in the WAL.
    let head_tpl = tempfile::tempdir().unwrap();
    let storage = Storage::open(head_tpl.path(), opts()).unwrap();
    fill(&storage, &labels, start);
    storage.close().unwrap();
    // Template 2: two 2 h blocks.
    let blocks_tpl = tempfile::tempdir().unwrap();
    let storage = Storage::open(blocks_tpl.path(), opts()).unwrap();
    fill(&storage, &labels, start);
    storage.flush().unwrap();
    fill(&storage, &labels, start + 2 * HOUR_MS);
    storage.flush().unwrap();
    let stats = storage.stats();
    assert_eq!((stats.blocks, stats.block_samples), (2, 2 * samples));
    eprintln!(
        "compaction bench: 2 blocks of {SERIES} series x {SAMPLES} samples, {} bytes",
        stats.block_bytes
    );
    storage.close().unwrap();

    let mut g = c.benchmark_group("compaction_10k_series_2h");
    g.sample_size(10);
    g.sampling_mode(SamplingMode::Flat);
    g.throughput(Throughput::Elements(samples));
    g.bench_function("head_flush", |b| {
        b.iter_batched(
            || open_copy(head_tpl.path()),
            |c| {
                c.storage.flush().unwrap();
                c
            },
            BatchSize::PerIteration,
        )
    });
    g.throughput(Throughput::Elements(2 * samples));
    g.bench_function("merge_2_blocks", |b| {
        b.iter_batched(
            || open_copy(blocks_tpl.path()),
            |c| {
                c.storage.compact().unwrap();
                c
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();

    // What the iterations made.
    let check = open_copy(head_tpl.path());
    check.storage.flush().unwrap();
    let stats = check.storage.stats();
    assert_eq!((stats.head_series, stats.blocks), (0, 1));
    assert_eq!(stats.block_samples, samples);
    let check = open_copy(blocks_tpl.path());
    check.storage.compact().unwrap();
    let stats = check.storage.stats();
    assert_eq!((stats.blocks, stats.block_samples), (1, 2 * samples));
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
