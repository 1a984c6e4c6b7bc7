//! InfluxDB line protocol ingest against remote_write 1.0, on the same
//! 2,000 node_exporter series x 1 sample (`strata_benches::node_series`):
//! each series is a line `{__name__},{labels...} value=<v> <t>` stored with
//! `--influx-skip-single-field`, so both formats write the same series.
//!
//! - `influx_parse_only`: `influx::parse` over the body, visiting every
//!   tag and field;
//! - `influx_ingest_existing`: the handler path (`ingest::influx::store`:
//!   parse + name + `Appender::append_raw` + commit) into a `Storage`
//!   whose series all exist, WAL without fsync;
//! - `remote_write_ingest_existing`: the remote_write handler path on the
//!   same series and samples (snappy + `for_each_series_raw` +
//!   `append_raw` + commit), for comparison.
//!
//! Throughput is samples (= series here) per second.

use std::fmt::Write as _;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use strata_benches::{
    node_series, remote_write_ingest, remote_write_request, sample_time, sample_value,
};
use strata_engine::{FsyncPolicy, LabelLimits, Options, Storage};
use strata_server::AppState;
use strata_server::formats::influx;
use strata_server::formats::remote_write;
use strata_server::ingest::influx::{self as influx_write, Batch, InfluxConfig, Precision};

const SERIES: usize = 2_000;

/// The same series and samples as line protocol, millisecond precision.
fn lines(t: i64) -> Vec<u8> {
    let mut out = String::new();
    for i in 0..SERIES {
        let labels = node_series(i);
        let name = labels
            .iter()
            .find(|(n, _)| n == "__name__")
            .map(|(_, v)| v.as_str())
            .unwrap_or("x");
        out.push_str(name);
        for (n, v) in &labels {
            if n != "__name__" {
                let _ = write!(out, ",{n}={}", v.replace(' ', "\\ ").replace(',', "\\,"));
            }
        }
        let _ = writeln!(out, " value={:?} {}", sample_value(i), sample_time(t, i));
    }
    out.into_bytes()
}

fn storage(dir: &std::path::Path) -> Storage {
    let opts = Options::default()
        .without_maintenance()
        .with_fsync(FsyncPolicy::Never);
    Storage::open(dir, opts).unwrap()
}

fn bench(c: &mut Criterion) {
    let now = strata_engine::Clock::now_ms(&strata_engine::SystemClock);
    let mut g = c.benchmark_group("influx");
    g.throughput(Throughput::Elements(SERIES as u64));

    let body = lines(now);
    eprintln!(
        "line protocol bench body: {SERIES} series, {} bytes",
        body.len()
    );
    g.bench_function("influx_parse_only", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for l in influx::parse(black_box(&body), LabelLimits::default()) {
                let (_, l) = l.unwrap();
                n += l.tags.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
                n += l.fields.len();
            }
            n
        })
    });

    // The line protocol handler path.
    let dir = tempfile::tempdir().unwrap();
    let st = AppState::new(
        Arc::new(storage(dir.path())),
        strata_promql::eval::EvalOptions::default(),
        32 << 20,
    )
    .with_influx(InfluxConfig {
        skip_single_field: true,
        ..InfluxConfig::default()
    });
    let batch = Batch {
        db: String::new(),
        precision: Precision::Millis,
        now_ms: now,
    };
    let mut t = now - 3_600_000;
    let first = influx_write::store(&st, &lines(t), &batch).unwrap();
    assert_eq!(first.stored, SERIES);
    g.bench_function("influx_ingest_existing", |b| {
        b.iter_batched(
            || {
                t += 15_000;
                lines(t)
            },
            |body| {
                let o = influx_write::store(&st, &body, &batch).unwrap();
                assert_eq!(o.stored, SERIES);
            },
            BatchSize::SmallInput,
        )
    });
    assert_eq!(st.storage().unwrap().stats().head_series, SERIES as u64);

    // remote_write on the same series and samples.
    let dir = tempfile::tempdir().unwrap();
    let storage = storage(dir.path());
    let mut buf = Vec::new();
    let mut t = now - 3_600_000;
    remote_write_ingest(
        &storage,
        &mut buf,
        &remote_write::encode(&remote_write_request(SERIES, t)),
        SERIES,
    );
    g.bench_function("remote_write_ingest_existing", |b| {
        b.iter_batched(
            || {
                t += 15_000;
                remote_write::encode(&remote_write_request(SERIES, t))
            },
            |body| remote_write_ingest(&storage, &mut buf, &body, SERIES),
            BatchSize::SmallInput,
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
