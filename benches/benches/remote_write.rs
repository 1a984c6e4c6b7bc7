//! Prometheus remote_write decoding: one request of 2,000 node_exporter
//! series x 1 sample (snappy-compressed protobuf, as Prometheus sends it),
//! decoded
//! - `prost_decode`: through the prost types (`remote_write::decode`:
//!   decompress + owned `WriteRequest`);
//! - `wire_decompress_walk`: `remote_write::decompress` +
//!   `wire::for_each_series` (labels as checked `&str`s), visiting every
//!   label and sample;
//! - `wire_raw_decompress_walk`: what the `/api/v1/write` handler does
//!   before storing: `remote_write::decompress_into` a buffer kept between
//!   requests + `wire::for_each_series_raw` (labels as unchecked bytes);
//! - `wire_raw_walk_only`: that walk alone, over decompressed bytes;
//! - `wire_raw_ingest_existing`: the whole handler path into a `Storage`
//!   whose series all exist (`decompress_into` + `for_each_series_raw` +
//!   `Appender::append_raw` + commit, WAL without fsync).
//!
//! The same series and samples as a remote_write 2.0 request
//! (`io.prometheus.write.v2.Request`: symbols table + label references,
//! encoded here), decoded by `remote_write_v2::for_each_series`:
//! - `v2_raw_decompress_walk`, `v2_raw_walk_only`, `v2_raw_ingest_existing`:
//!   as their 1.0 `wire_raw_*` counterparts above.
//!
//! Throughput is samples (= series here) per second.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use strata_benches::remote_write_request;
use strata_engine::{FsyncPolicy, Options, Storage};
use strata_server::formats::remote_write::{self, WriteRequest};
use strata_server::formats::remote_write_v2;
use strata_server::formats::wire::{for_each_series, for_each_series_raw};

const SERIES: usize = 2_000;
/// The server's default limit: 8 x the 32 MiB body limit.
const MAX_DECOMPRESSED: usize = 256 << 20;

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn len_field(out: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    varint(out, field << 3 | 2);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// `req` as a remote_write 2.0 `Request` (uncompressed): symbols in order
/// of first use, after the empty string the spec puts first.
fn request_v2(req: &WriteRequest) -> Vec<u8> {
    let mut index: std::collections::HashMap<&str, u64> = std::collections::HashMap::new();
    let mut symbols: Vec<&str> = Vec::new();
    symbols.push("");
    index.insert("", 0);
    let mut series = Vec::new();
    for ts in &req.timeseries {
        let mut refs = Vec::new();
        for l in &ts.labels {
            for s in [l.name.as_str(), l.value.as_str()] {
                let next = symbols.len() as u64;
                let r = *index.entry(s).or_insert_with(|| {
                    symbols.push(s);
                    next
                });
                varint(&mut refs, r);
            }
        }
        let mut m = Vec::new();
        len_field(&mut m, 1, &refs);
        for smp in &ts.samples {
            let mut b = vec![0x09];
            b.extend_from_slice(&smp.value.to_le_bytes());
            b.push(0x10);
            varint(&mut b, smp.timestamp as u64);
            len_field(&mut m, 2, &b);
        }
        series.push(m);
    }
    let mut out = Vec::new();
    for s in &symbols {
        len_field(&mut out, 4, s.as_bytes());
    }
    for m in &series {
        len_field(&mut out, 5, m);
    }
    out
}

fn snappy(raw: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new().compress_vec(raw).unwrap()
}

fn bench_decode(c: &mut Criterion) {
    let now = strata_engine::Clock::now_ms(&strata_engine::SystemClock);
    let body = remote_write::encode(&remote_write_request(SERIES, now));
    let raw = remote_write::decompress(&body, MAX_DECOMPRESSED).unwrap();
    eprintln!(
        "remote_write bench request: {SERIES} series, {} bytes snappy, {} bytes protobuf",
        body.len(),
        raw.len()
    );

    let mut g = c.benchmark_group("remote_write_2k_series");
    g.throughput(Throughput::Elements(SERIES as u64));
    g.sample_size(30);
    g.bench_function("prost_decode", |b| {
        b.iter(|| {
            let req = remote_write::decode(black_box(&body), MAX_DECOMPRESSED).unwrap();
            let n: usize = req.timeseries.iter().map(|ts| ts.samples.len()).sum();
            assert_eq!(n, SERIES);
            req
        })
    });
    g.bench_function("wire_decompress_walk", |b| {
        b.iter(|| {
            let raw = remote_write::decompress(black_box(&body), MAX_DECOMPRESSED).unwrap();
            let (mut samples, mut label_bytes) = (0usize, 0usize);
            for_each_series(&raw, |labels, s| {
                label_bytes += labels.iter().map(|(n, v)| n.len() + v.len()).sum::<usize>();
                samples += s.len();
            })
            .unwrap();
            assert_eq!(samples, SERIES);
            label_bytes
        })
    });
    let mut buf = Vec::new();
    g.bench_function("wire_raw_decompress_walk", |b| {
        b.iter(|| {
            let n = remote_write::decompress_into(black_box(&body), MAX_DECOMPRESSED, &mut buf)
                .unwrap();
            let (mut samples, mut label_bytes) = (0usize, 0usize);
            for_each_series_raw(&buf[..n], |labels, s| {
                label_bytes += labels.iter().map(|(n, v)| n.len() + v.len()).sum::<usize>();
                samples += s.len();
                Ok(())
            })
            .unwrap();
            assert_eq!(samples, SERIES);
            label_bytes
        })
    });
    g.bench_function("wire_raw_walk_only", |b| {
        b.iter(|| {
            let (mut samples, mut label_bytes) = (0usize, 0usize);
            for_each_series_raw(black_box(&raw), |labels, s| {
                label_bytes += labels.iter().map(|(n, v)| n.len() + v.len()).sum::<usize>();
                samples += s.len();
                Ok(())
            })
            .unwrap();
            assert_eq!(samples, SERIES);
            label_bytes
        })
    });

    let body_v2 = snappy(&request_v2(&remote_write_request(SERIES, now)));
    let raw_v2 = remote_write::decompress(&body_v2, MAX_DECOMPRESSED).unwrap();
    eprintln!(
        "remote_write 2.0 bench request: the same {SERIES} series, {} bytes snappy, {} bytes protobuf",
        body_v2.len(),
        raw_v2.len()
    );
    g.bench_function("v2_raw_decompress_walk", |b| {
        b.iter(|| {
            let n = remote_write::decompress_into(black_box(&body_v2), MAX_DECOMPRESSED, &mut buf)
                .unwrap();
            let (mut samples, mut label_bytes) = (0usize, 0usize);
            remote_write_v2::for_each_series(&buf[..n], |labels, s| {
                label_bytes += labels.iter().map(|(n, v)| n.len() + v.len()).sum::<usize>();
                samples += s.len();
                Ok(())
            })
            .unwrap();
            assert_eq!(samples, SERIES);
            label_bytes
        })
    });
    g.bench_function("v2_raw_walk_only", |b| {
        b.iter(|| {
            let (mut samples, mut label_bytes) = (0usize, 0usize);
            remote_write_v2::for_each_series(black_box(&raw_v2), |labels, s| {
                label_bytes += labels.iter().map(|(n, v)| n.len() + v.len()).sum::<usize>();
                samples += s.len();
                Ok(())
            })
            .unwrap();
            assert_eq!(samples, SERIES);
            label_bytes
        })
    });

    // The handler path, into a storage holding every series already (a
    // fresh one per format, so both start from the same state).
    for (name, v2) in [
        ("wire_raw_ingest_existing", false),
        ("v2_raw_ingest_existing", true),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let opts = Options::default()
            .without_maintenance()
            .with_fsync(FsyncPolicy::Never);
        let storage = Storage::open(dir.path(), opts).unwrap();
        // A new scrape each time (encoding not timed).
        let body = |t: i64| {
            if v2 {
                snappy(&request_v2(&remote_write_request(SERIES, t)))
            } else {
                remote_write::encode(&remote_write_request(SERIES, t))
            }
        };
        let mut t = now - 3_600_000;
        ingest(&storage, &mut buf, &body(t), v2);
        g.bench_function(name, |b| {
            b.iter_batched(
                || {
                    t += 15_000;
                    body(t)
                },
                |body| ingest(&storage, &mut buf, &body, v2),
                BatchSize::SmallInput,
            )
        });
        assert_eq!(storage.stats().head_series, SERIES as u64);
    }
    g.finish();
}

/// What the write handler does with a body: decompress into a kept buffer,
/// walk (1.0 or 2.0), append every series, commit.
fn ingest(storage: &Storage, buf: &mut Vec<u8>, body: &[u8], v2: bool) {
    let n = remote_write::decompress_into(body, MAX_DECOMPRESSED, buf).unwrap();
    let mut app = storage.appender();
    let add = |labels: &mut Vec<(&[u8], &[u8])>, samples: &[(i64, f64)]| {
        app.append_raw(labels, samples).unwrap();
        Ok(())
    };
    if v2 {
        remote_write_v2::for_each_series(&buf[..n], add).unwrap();
    } else {
        for_each_series_raw(&buf[..n], add).unwrap();
    }
    assert_eq!(app.len(), SERIES);
    app.commit().unwrap();
}

criterion_group! {
    name = benches;
    // Short runs: this is a shared 2-core machine (the command line overrides).
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = bench_decode
}
criterion_main!(benches);
