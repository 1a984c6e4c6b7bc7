//! OTLP/HTTP metrics ingest CPU, on the same 2,000 node_exporter series x 1
//! sample as `remote_write.rs` (one resource per host with `service.name`
//! = job and `service.instance.id` = instance, one gauge per metric name,
//! the other labels as data point attributes, no scope: the translation
//! yields exactly remote_write's series, and no `target_info`):
//! - `decode_translate`: protobuf decode (prost) + translation, visiting
//!   every series;
//! - `ingest_existing`: what the handler does with an uncompressed body:
//!   decode + translate + `Appender::append_pairs` + commit, into a
//!   `Storage` whose series all exist (WAL without fsync);
//! - `remote_write_ingest_existing`: the remote_write 1.0 handler path on
//!   the same series (decompress + walk + append + commit), the baseline.
//!
//! Throughput is samples (= series here) per second.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use prost::Message as _;
use strata_benches::{
    node_series, remote_write_ingest, remote_write_request, sample_time, sample_value,
};
use strata_engine::{FsyncPolicy, Options, Storage};
use strata_server::formats::otlp::proto as p;
use strata_server::formats::otlp::translate::{Options as Translate, translate};
use strata_server::formats::remote_write;

const SERIES: usize = 2_000;

fn kv(k: &str, v: &str) -> p::KeyValue {
    p::KeyValue {
        key: k.into(),
        value: Some(p::AnyValue {
            value: Some(p::Value::String(v.into())),
        }),
    }
}

fn otlp_request(t: i64) -> p::ExportMetricsServiceRequest {
    // instance -> metric name -> points
    let mut hosts: BTreeMap<String, BTreeMap<String, Vec<p::NumberDataPoint>>> = BTreeMap::new();
    for i in 0..SERIES {
        let labels = node_series(i);
        let get = |n: &str| labels.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        let (Some(instance), Some(name)) = (get("instance"), get("__name__")) else {
            panic!("node series without instance or name");
        };
        let attributes = labels
            .iter()
            .filter(|(k, _)| !["instance", "job", "__name__"].contains(&k.as_str()))
            .map(|(k, v)| kv(k, v))
            .collect();
        hosts
            .entry(instance)
            .or_default()
            .entry(name)
            .or_default()
            .push(p::NumberDataPoint {
                attributes,
                time_unix_nano: sample_time(t, i) as u64 * 1_000_000,
                value: Some(p::NumberValue::Double(sample_value(i))),
                ..Default::default()
            });
    }
    p::ExportMetricsServiceRequest {
        resource_metrics: hosts
            .into_iter()
            .map(|(instance, metrics)| p::ResourceMetrics {
                resource: Some(p::Resource {
                    attributes: vec![
                        kv("service.name", "node"),
                        kv("service.instance.id", &instance),
                    ],
                }),
                scope_metrics: vec![p::ScopeMetrics {
                    scope: None,
                    metrics: metrics
                        .into_iter()
                        .map(|(name, data_points)| p::Metric {
                            name,
                            unit: String::new(),
                            data: Some(p::Data::Gauge(p::Gauge { data_points })),
                        })
                        .collect(),
                }],
            })
            .collect(),
    }
}

fn otlp_ingest(storage: &Storage, body: &[u8], opts: &Translate) {
    let req = p::decode(body).unwrap();
    let mut app = storage.appender();
    translate(&req, opts, &mut |l: &mut [(&str, &str)],
                                t: i64,
                                v: f64,
                                _p: u64| {
        app.append_pairs(l, &[(t, v)]).unwrap();
    });
    assert_eq!(app.len(), SERIES);
    app.commit().unwrap();
}

fn bench(c: &mut Criterion) {
    let now = strata_engine::Clock::now_ms(&strata_engine::SystemClock);
    let opts = Translate::default();
    let body = otlp_request(now).encode_to_vec();
    eprintln!(
        "otlp bench request: {SERIES} series, {} bytes protobuf",
        body.len()
    );
    let mut g = c.benchmark_group("otlp_2k_series");
    g.throughput(Throughput::Elements(SERIES as u64));
    g.sample_size(30);
    g.bench_function("decode_translate", |b| {
        b.iter(|| {
            let req = p::decode(black_box(&body)).unwrap();
            let mut n = 0usize;
            translate(
                &req,
                &opts,
                &mut |l: &mut [(&str, &str)], _t: i64, _v: f64, _p: u64| {
                    n += l.len();
                },
            );
            n
        })
    });
    for (name, otlp) in [
        ("ingest_existing", true),
        ("remote_write_ingest_existing", false),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let sopts = Options::default()
            .without_maintenance()
            .with_fsync(FsyncPolicy::Never);
        let storage = Storage::open(dir.path(), sopts).unwrap();
        let mut buf = Vec::new();
        let body = |t: i64| {
            if otlp {
                otlp_request(t).encode_to_vec()
            } else {
                remote_write::encode(&remote_write_request(SERIES, t))
            }
        };
        let mut run = |body: &[u8]| {
            if otlp {
                otlp_ingest(&storage, body, &opts);
            } else {
                remote_write_ingest(&storage, &mut buf, body, SERIES);
            }
        };
        let mut t = now - 3_600_000;
        run(&body(t));
        g.bench_function(name, |b| {
            b.iter_batched(
                || {
                    t += 15_000;
                    body(t)
                },
                |body| run(&body),
                BatchSize::SmallInput,
            )
        });
        assert_eq!(storage.stats().head_series, SERIES as u64);
    }
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
