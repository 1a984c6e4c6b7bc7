//! Nothing is acknowledged that is not stored (issue 22): for every ingest
//! path, each kind of data Strata cannot store is refused (4xx naming what
//! and how many) or dropped and counted under a reason in `/metrics`.
//! remote_write 2.0 requests are built by this file's own encoder, checked
//! against prost types written from the spec's `types.proto`. The last test
//! runs Debian's Prometheus (2.42) against the `strata` binary with native
//! histograms on; like the other real-client tests it fails, never skips,
//! when the binary is missing.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use prost::Message;
use tower::ServiceExt;

use crate::api::{app, get, now_based, series};
use crate::process::{
    find, http, now_ms, secs, sleep_ms, start_server, start_strata_at, with_params,
};

const V2: &str = "application/x-protobuf;proto=io.prometheus.write.v2.Request";

// ------------------------------------------------------------ helpers

async fn post(
    app: &axum::Router,
    uri: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (StatusCode, HeaderMap, String) {
    let mut r = Request::post(uri);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let res = app
        .clone()
        .oneshot(r.body(Body::from(body)).unwrap())
        .await
        .unwrap();
    let (status, h) = (res.status(), res.headers().clone());
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, h, String::from_utf8_lossy(&body).into_owned())
}

/// The three `X-Prometheus-Remote-Write-*-Written` headers (panics when one
/// is missing).
fn written(h: &HeaderMap) -> (u64, u64, u64) {
    let n = |what: &str| -> u64 {
        let name = format!("x-prometheus-remote-write-{what}-written");
        h.get(&name)
            .unwrap_or_else(|| panic!("no {name} header in {h:?}"))
            .to_str()
            .unwrap()
            .parse()
            .unwrap()
    };
    (n("samples"), n("histograms"), n("exemplars"))
}

/// `strata_samples_rejected_total{reason=...}` from `/metrics` (0 when absent).
async fn rejected(app: &axum::Router, reason: &str) -> u64 {
    let res = app
        .clone()
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let text =
        String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    metric_value(
        &text,
        &format!("strata_samples_rejected_total{{reason=\"{reason}\"}}"),
    )
    .map_or(0, |v| v as u64)
}

fn metric_value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
}

/// `sel` at `t`: each series' labels (as `name=value` pairs, sorted) and
/// its samples in the 10 minutes before `t`.
async fn stored(app: &axum::Router, sel: &str, t: i64) -> Vec<(Vec<String>, Vec<(i64, f64)>)> {
    let q = format!("{sel}[10m]");
    let uri = with_params("/api/v1/query", &[("query", &q), ("time", &secs(t))]);
    let (s, v) = get(app, &uri).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let mut out: Vec<_> = v["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let mut l: Vec<String> = r["metric"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap()))
                .collect();
            l.sort();
            let s = r["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    let t = (p[0].as_f64().unwrap() * 1000.0).round() as i64;
                    (t, p[1].as_str().unwrap().parse::<f64>().unwrap())
                })
                .collect();
            (l, s)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

// --------------------------------------- remote_write 2.0: own encoder

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn key(out: &mut Vec<u8>, field: u64, wire: u64) {
    varint(out, field << 3 | wire);
}

fn len_field(out: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    key(out, field, 2);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn packed(refs: &[u32]) -> Vec<u8> {
    let mut b = Vec::new();
    for r in refs {
        varint(&mut b, u64::from(*r));
    }
    b
}

/// A 2.0 series as the encoder takes it.
#[derive(Default)]
struct S2 {
    refs: Vec<u32>,
    /// (value, timestamp, start_timestamp)
    samples: Vec<(f64, i64, i64)>,
    /// Native histograms: (count, sum, timestamp).
    histograms: Vec<(u64, f64, i64)>,
    /// (label refs, value, timestamp)
    exemplars: Vec<(Vec<u32>, f64, i64)>,
    /// (type, help_ref, unit_ref)
    metadata: Option<(u64, u32, u32)>,
    created_timestamp: i64,
}

/// `io.prometheus.write.v2.Request`, field by field as the spec lays it out.
fn encode_v2(symbols: &[&str], series: &[S2]) -> Vec<u8> {
    let mut out = Vec::new();
    for s in symbols {
        len_field(&mut out, 4, s.as_bytes());
    }
    for s in series {
        let mut ts = Vec::new();
        if !s.refs.is_empty() {
            len_field(&mut ts, 1, &packed(&s.refs));
        }
        for &(v, t, st) in &s.samples {
            let mut m = Vec::new();
            key(&mut m, 1, 1);
            m.extend_from_slice(&v.to_le_bytes());
            key(&mut m, 2, 0);
            varint(&mut m, t as u64);
            if st != 0 {
                key(&mut m, 3, 0);
                varint(&mut m, st as u64);
            }
            len_field(&mut ts, 2, &m);
        }
        for &(count, sum, t) in &s.histograms {
            let mut m = Vec::new();
            key(&mut m, 1, 0); // count_int
            varint(&mut m, count);
            key(&mut m, 3, 1); // sum
            m.extend_from_slice(&sum.to_le_bytes());
            key(&mut m, 4, 0); // schema (sint32, zigzag): 3
            varint(&mut m, 6);
            key(&mut m, 15, 0); // timestamp
            varint(&mut m, t as u64);
            len_field(&mut ts, 3, &m);
        }
        for (refs, v, t) in &s.exemplars {
            let mut m = Vec::new();
            len_field(&mut m, 1, &packed(refs));
            key(&mut m, 2, 1);
            m.extend_from_slice(&v.to_le_bytes());
            key(&mut m, 3, 0);
            varint(&mut m, *t as u64);
            len_field(&mut ts, 4, &m);
        }
        if let Some((kind, help, unit)) = s.metadata {
            let mut m = Vec::new();
            key(&mut m, 1, 0);
            varint(&mut m, kind);
            key(&mut m, 3, 0);
            varint(&mut m, u64::from(help));
            key(&mut m, 4, 0);
            varint(&mut m, u64::from(unit));
            len_field(&mut ts, 5, &m);
        }
        if s.created_timestamp != 0 {
            key(&mut ts, 6, 0);
            varint(&mut ts, s.created_timestamp as u64);
        }
        len_field(&mut out, 5, &ts);
    }
    out
}

/// The spec's messages as prost types (from `types.proto`), to check the
/// encoder above.
mod pb {
    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct Request {
        #[prost(string, repeated, tag = "4")]
        pub(crate) symbols: Vec<String>,
        #[prost(message, repeated, tag = "5")]
        pub(crate) timeseries: Vec<TimeSeries>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct TimeSeries {
        #[prost(uint32, repeated, tag = "1")]
        pub(crate) labels_refs: Vec<u32>,
        #[prost(message, repeated, tag = "2")]
        pub(crate) samples: Vec<Sample>,
        #[prost(message, repeated, tag = "3")]
        pub(crate) histograms: Vec<Histogram>,
        #[prost(message, repeated, tag = "4")]
        pub(crate) exemplars: Vec<Exemplar>,
        #[prost(message, optional, tag = "5")]
        pub(crate) metadata: Option<Metadata>,
        #[prost(int64, tag = "6")]
        pub(crate) created_timestamp: i64,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct Sample {
        #[prost(double, tag = "1")]
        pub(crate) value: f64,
        #[prost(int64, tag = "2")]
        pub(crate) timestamp: i64,
        #[prost(int64, tag = "3")]
        pub(crate) start_timestamp: i64,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct Histogram {
        #[prost(uint64, tag = "1")]
        pub(crate) count_int: u64,
        #[prost(double, tag = "3")]
        pub(crate) sum: f64,
        #[prost(sint32, tag = "4")]
        pub(crate) schema: i32,
        #[prost(int64, tag = "15")]
        pub(crate) timestamp: i64,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct Exemplar {
        #[prost(uint32, repeated, tag = "1")]
        pub(crate) labels_refs: Vec<u32>,
        #[prost(double, tag = "2")]
        pub(crate) value: f64,
        #[prost(int64, tag = "3")]
        pub(crate) timestamp: i64,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct Metadata {
        #[prost(int32, tag = "1")]
        pub(crate) r#type: i32,
        #[prost(uint32, tag = "3")]
        pub(crate) help_ref: u32,
        #[prost(uint32, tag = "4")]
        pub(crate) unit_ref: u32,
    }

    /// 1.0's `prometheus.TimeSeries` with the exemplars and histograms
    /// fields (3 and 4) that Strata's own prost types leave out.
    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct WriteRequestV1 {
        #[prost(message, repeated, tag = "1")]
        pub(crate) timeseries: Vec<TimeSeriesV1>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct TimeSeriesV1 {
        #[prost(message, repeated, tag = "1")]
        pub(crate) labels: Vec<strata_server::formats::remote_write::Label>,
        #[prost(message, repeated, tag = "2")]
        pub(crate) samples: Vec<strata_server::formats::remote_write::Sample>,
        #[prost(message, repeated, tag = "3")]
        pub(crate) exemplars: Vec<ExemplarV1>,
        #[prost(message, repeated, tag = "4")]
        pub(crate) histograms: Vec<Histogram>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct ExemplarV1 {
        #[prost(message, repeated, tag = "1")]
        pub(crate) labels: Vec<strata_server::formats::remote_write::Label>,
        #[prost(double, tag = "2")]
        pub(crate) value: f64,
        #[prost(int64, tag = "3")]
        pub(crate) timestamp: i64,
    }
}

fn snappy(raw: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new().compress_vec(raw).unwrap()
}

async fn write_v2(app: &axum::Router, raw: &[u8]) -> (StatusCode, HeaderMap, String) {
    post(
        app,
        "/api/v1/write",
        &[
            ("Content-Type", V2),
            ("Content-Encoding", "snappy"),
            ("X-Prometheus-Remote-Write-Version", "2.0.0"),
        ],
        snappy(raw),
    )
    .await
}

// ------------------------------------------------------- remote_write 2.0

#[tokio::test]
async fn remote_write_v2_stores_exact_series_and_metadata() {
    let (app, _dir) = app();
    let t = now_based(0);
    let symbols = [
        "",
        "__name__",
        "v2_requests_total",
        "code",
        "200",
        "job",
        "api",
        "Requests served.",
        "requests",
        "v2_temperature",
        "celsius",
        "Temperature.",
        "trace_id",
        "abc123",
    ];
    let series = [
        S2 {
            refs: vec![1, 2, 3, 4, 5, 6],
            samples: vec![(10.0, t, t - 60_000), (12.5, t + 15_000, t - 60_000)],
            exemplars: vec![(vec![12, 13], 1.0, t)],
            metadata: Some((1, 7, 8)),
            ..S2::default()
        },
        S2 {
            refs: vec![1, 9, 5, 6],
            samples: vec![(-3.25, t + 1, 0)],
            metadata: Some((2, 11, 10)),
            created_timestamp: t - 120_000,
            ..S2::default()
        },
    ];
    let raw = encode_v2(&symbols, &series);
    // The encoder follows the spec: prost reads back exactly this.
    let want = pb::Request {
        symbols: symbols.iter().map(|s| s.to_string()).collect(),
        timeseries: vec![
            pb::TimeSeries {
                labels_refs: vec![1, 2, 3, 4, 5, 6],
                samples: vec![
                    pb::Sample {
                        value: 10.0,
                        timestamp: t,
                        start_timestamp: t - 60_000,
                    },
                    pb::Sample {
                        value: 12.5,
                        timestamp: t + 15_000,
                        start_timestamp: t - 60_000,
                    },
                ],
                exemplars: vec![pb::Exemplar {
                    labels_refs: vec![12, 13],
                    value: 1.0,
                    timestamp: t,
                }],
                metadata: Some(pb::Metadata {
                    r#type: 1,
                    help_ref: 7,
                    unit_ref: 8,
                }),
                ..Default::default()
            },
            pb::TimeSeries {
                labels_refs: vec![1, 9, 5, 6],
                samples: vec![pb::Sample {
                    value: -3.25,
                    timestamp: t + 1,
                    start_timestamp: 0,
                }],
                metadata: Some(pb::Metadata {
                    r#type: 2,
                    help_ref: 11,
                    unit_ref: 10,
                }),
                created_timestamp: t - 120_000,
                ..Default::default()
            },
        ],
    };
    assert_eq!(pb::Request::decode(raw.as_slice()).unwrap(), want);

    let (s, h, b) = write_v2(&app, &raw).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    // Three float samples stored; the exemplar is dropped (and counted).
    assert_eq!(written(&h), (3, 0, 0));
    assert_eq!(rejected(&app, "exemplar").await, 1);

    let got = stored(&app, "{__name__=~\"v2_.*\"}", t + 20_000).await;
    assert_eq!(
        got,
        vec![
            (
                vec![
                    "__name__=v2_requests_total".into(),
                    "code=200".into(),
                    "job=api".into()
                ],
                vec![(t, 10.0), (t + 15_000, 12.5)]
            ),
            (
                vec!["__name__=v2_temperature".into(), "job=api".into()],
                vec![(t + 1, -3.25)]
            ),
        ]
    );
    let (_, md) = get(&app, "/api/v1/metadata").await;
    assert_eq!(
        md["data"],
        serde_json::json!({
            "v2_requests_total": [{"type": "counter", "help": "Requests served.", "unit": "requests"}],
            "v2_temperature": [{"type": "gauge", "help": "Temperature.", "unit": "celsius"}],
        })
    );
}

#[tokio::test]
async fn remote_write_v2_histograms_are_refused_with_their_count() {
    let (app, _dir) = app();
    let t = now_based(0);
    let symbols = ["", "__name__", "v2_latency_seconds", "v2_up"];
    let raw = encode_v2(
        &symbols,
        &[
            S2 {
                refs: vec![1, 2],
                histograms: vec![(3, 1.5, t), (5, 2.5, t + 15_000)],
                ..S2::default()
            },
            S2 {
                refs: vec![1, 3],
                samples: vec![(1.0, t, 0)],
                ..S2::default()
            },
        ],
    );
    let (s, h, b) = write_v2(&app, &raw).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    let v: serde_json::Value = serde_json::from_str(&b).unwrap();
    assert_eq!(v["errorType"], "bad_data");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .starts_with("2 native histogram samples refused"),
        "{b}"
    );
    assert_eq!(written(&h), (1, 0, 0));
    assert_eq!(rejected(&app, "native_histogram").await, 2);
    let got = stored(&app, "v2_up", t + 1000).await;
    assert_eq!(got, vec![(vec!["__name__=v2_up".into()], vec![(t, 1.0)])]);
    // A malformed 2.0 body (a reference outside the symbols table) stores
    // nothing and says so.
    let bad = encode_v2(
        &symbols,
        &[S2 {
            refs: vec![1, 9],
            samples: vec![(1.0, t, 0)],
            ..S2::default()
        }],
    );
    let (s, h, b) = write_v2(&app, &bad).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert!(b.contains("symbol reference 9 out of range"), "{b}");
    assert_eq!(written(&h), (0, 0, 0));
}

// ------------------------------------------------------- remote_write 1.0

#[tokio::test]
async fn remote_write_1_histograms_refused_floats_and_counts_kept() {
    let (app, _dir) = app();
    let t = now_based(0);
    let floats = series("v1_up", &[("job", "a")], &[(t, 1.0), (t + 1000, 0.0)]);
    let req = pb::WriteRequestV1 {
        timeseries: vec![
            pb::TimeSeriesV1 {
                labels: floats.labels.clone(),
                samples: floats.samples.clone(),
                exemplars: vec![pb::ExemplarV1 {
                    labels: vec![],
                    value: 1.0,
                    timestamp: t,
                }],
                histograms: vec![],
            },
            pb::TimeSeriesV1 {
                labels: series("v1_latency_seconds", &[], &[]).labels,
                samples: vec![],
                exemplars: vec![],
                histograms: vec![
                    pb::Histogram {
                        count_int: 2,
                        sum: 1.0,
                        schema: 0,
                        timestamp: t
                    };
                    3
                ],
            },
        ],
    };
    let (s, h, b) = post(
        &app,
        "/api/v1/write",
        &[
            ("Content-Type", "application/x-protobuf"),
            ("Content-Encoding", "snappy"),
        ],
        snappy(&req.encode_to_vec()),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert!(b.contains("3 native histogram samples refused"), "{b}");
    assert!(b.contains("not store native histograms yet"), "{b}");
    assert_eq!(written(&h), (2, 0, 0));
    assert_eq!(rejected(&app, "native_histogram").await, 3);
    assert_eq!(rejected(&app, "exemplar").await, 1);
    let got = stored(&app, "v1_up", t + 2000).await;
    assert_eq!(
        got,
        vec![(
            vec!["__name__=v1_up".into(), "job=a".into()],
            vec![(t, 1.0), (t + 1000, 0.0)]
        )]
    );
    // A plain 1.0 request still answers 204, with the headers.
    let ok = strata_server::formats::remote_write::WriteRequest {
        timeseries: vec![series("v1_up", &[("job", "b")], &[(t, 1.0)])],
        metadata: vec![],
    };
    let (s, h, b) = post(
        &app,
        "/api/v1/write",
        &[(
            "Content-Type",
            "application/x-protobuf;proto=prometheus.WriteRequest",
        )],
        strata_server::formats::remote_write::encode(&ok),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    assert_eq!(written(&h), (1, 0, 0));
}

#[tokio::test]
async fn unsupported_content_type_or_encoding_is_415_and_stores_nothing() {
    let (app, _dir) = app();
    let t = now_based(0);
    let req = strata_server::formats::remote_write::WriteRequest {
        timeseries: vec![series("never_stored", &[], &[(t, 1.0)])],
        metadata: vec![],
    };
    let body = strata_server::formats::remote_write::encode(&req);
    for (ct, ce) in [
        (
            "application/x-protobuf;proto=io.prometheus.write.v3.Request",
            "snappy",
        ),
        ("application/json", "snappy"),
        ("application/x-protobuf", "gzip"),
        ("application/x-protobuf", "zstd"),
    ] {
        let (s, h, b) = post(
            &app,
            "/api/v1/write",
            &[("Content-Type", ct), ("Content-Encoding", ce)],
            body.clone(),
        )
        .await;
        assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{ct} {ce}: {b}");
        let v: serde_json::Value = serde_json::from_str(&b).unwrap();
        assert_eq!(v["status"], "error", "{b}");
        assert!(b.contains("unsupported Content-"), "{b}");
        assert_eq!(written(&h), (0, 0, 0));
    }
    // Each message under the other's Content-Type: 400, not an empty 204.
    let v2 = encode_v2(
        &["", "__name__", "never_stored"],
        &[S2 {
            refs: vec![1, 2],
            samples: vec![(1.0, t, 0)],
            ..S2::default()
        }],
    );
    for (ct, body, says) in [
        (
            "application/x-protobuf",
            snappy(&v2),
            "this is a remote_write 2.0 body",
        ),
        (V2, body.clone(), "this is a remote_write 1.0 body"),
    ] {
        let (s, h, b) = post(&app, "/api/v1/write", &[("Content-Type", ct)], body).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{ct}: {b}");
        assert!(b.contains(says), "{b}");
        assert_eq!(written(&h), (0, 0, 0));
    }
    assert!(stored(&app, "never_stored", t + 1000).await.is_empty());
}

// ------------------------------------------------------------- import

#[tokio::test]
async fn import_text_drops_and_counts_exemplars_and_refuses_old_samples() {
    let (app, _dir) = app();
    let t = now_based(0);
    let text = format!(
        "# TYPE imp_requests counter\n# UNIT imp_requests requests\n\
         imp_requests_total{{code=\"200\"}} 5 {t} # {{trace_id=\"abc\"}} 1 {}\n\
         imp_requests_total{{code=\"500\"}} 1 {t} # {{}} 2\n\
         imp_gauge 3 {t}\n",
        secs(t)
    );
    let (s, _, b) = post(&app, "/api/v1/import/prometheus", &[], text.into_bytes()).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    assert_eq!(rejected(&app, "exemplar").await, 2);
    assert_eq!(
        stored(&app, "{__name__=~\"imp_.*\"}", t + 1000).await.len(),
        3
    );
    let (_, md) = get(&app, "/api/v1/metadata?metric=imp_requests").await;
    assert_eq!(
        md["data"],
        serde_json::json!({"imp_requests": [{"type": "counter", "help": "", "unit": "requests"}]})
    );
    // A sample older than the retention: refused with 400 naming how many,
    // and counted; the rest is stored.
    let text = format!("imp_old 1 1000\nimp_new 2 {t}\n");
    let (s, _, b) = post(&app, "/api/v1/import/prometheus", &[], text.into_bytes()).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert!(b.contains("1 samples refused; first: line 1"), "{b}");
    assert_eq!(rejected(&app, "out_of_bounds").await, 1);
    assert_eq!(stored(&app, "imp_new", t + 1000).await.len(), 1);
    // A malformed exemplar refuses the body, naming the line.
    let (s, _, b) = post(
        &app,
        "/api/v1/import/prometheus",
        &[],
        format!("imp_x 1 {t} # trace\n").into_bytes(),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert!(b.contains("line 1: invalid exemplar"), "{b}");
    assert!(stored(&app, "imp_x", t + 1000).await.is_empty());
}

#[tokio::test]
async fn import_json_lines_refuses_what_it_cannot_store_with_counts() {
    let (app, _dir) = app();
    let t = now_based(0);
    let body = format!(
        "{{\"metric\":{{\"__name__\":\"jl_ok\"}},\"values\":[1,2],\"timestamps\":[{t},{}]}}\n\
         {{\"metric\":{{\"__name__\":\"jl_bad\",\"1abel\":\"x\"}},\"values\":[1,2,3],\"timestamps\":[{t},{},{}]}}\n\
         {{\"metric\":{{\"__name__\":\"jl_old\"}},\"values\":[1],\"timestamps\":[1000]}}\n",
        t + 1000,
        t + 1000,
        t + 2000
    );
    let (s, _, b) = post(&app, "/api/v1/import", &[], body.into_bytes()).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert!(b.contains("4 samples refused; first: line 2"), "{b}");
    assert_eq!(rejected(&app, "invalid_labels").await, 3);
    assert_eq!(rejected(&app, "out_of_bounds").await, 1);
    assert_eq!(
        stored(&app, "jl_ok", t + 2000).await,
        vec![(
            vec!["__name__=jl_ok".into()],
            vec![(t, 1.0), (t + 1000, 2.0)]
        )]
    );
}

// -------------------------------------------- real client: Prometheus 2.42

/// `io.prometheus.client` exposition messages (proto2), for a scrape target
/// that serves a native histogram: Prometheus reads native histograms only
/// from the protobuf format.
mod expo {
    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct MetricFamily {
        #[prost(string, optional, tag = "1")]
        pub(crate) name: Option<String>,
        #[prost(string, optional, tag = "2")]
        pub(crate) help: Option<String>,
        /// COUNTER = 0, HISTOGRAM = 4.
        #[prost(int32, optional, tag = "3")]
        pub(crate) r#type: Option<i32>,
        #[prost(message, repeated, tag = "4")]
        pub(crate) metric: Vec<Metric>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct Metric {
        #[prost(message, optional, tag = "3")]
        pub(crate) counter: Option<Counter>,
        #[prost(message, optional, tag = "7")]
        pub(crate) histogram: Option<Histogram>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct Counter {
        #[prost(double, optional, tag = "1")]
        pub(crate) value: Option<f64>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct Histogram {
        #[prost(uint64, optional, tag = "1")]
        pub(crate) sample_count: Option<u64>,
        #[prost(double, optional, tag = "2")]
        pub(crate) sample_sum: Option<f64>,
        #[prost(sint32, optional, tag = "5")]
        pub(crate) schema: Option<i32>,
        #[prost(double, optional, tag = "6")]
        pub(crate) zero_threshold: Option<f64>,
        #[prost(uint64, optional, tag = "7")]
        pub(crate) zero_count: Option<u64>,
        #[prost(message, repeated, tag = "12")]
        pub(crate) positive_span: Vec<BucketSpan>,
        #[prost(sint64, repeated, tag = "13")]
        pub(crate) positive_delta: Vec<i64>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct BucketSpan {
        #[prost(sint32, optional, tag = "1")]
        pub(crate) offset: Option<i32>,
        #[prost(uint32, optional, tag = "2")]
        pub(crate) length: Option<u32>,
    }
}

/// The scrape body: a counter and a native histogram, length-delimited.
fn native_exposition() -> Vec<u8> {
    use expo::*;
    let mut out = Vec::new();
    MetricFamily {
        name: Some("stub_requests_total".into()),
        help: Some("Requests.".into()),
        r#type: Some(0),
        metric: vec![Metric {
            counter: Some(Counter { value: Some(42.0) }),
            histogram: None,
        }],
    }
    .encode_length_delimited(&mut out)
    .unwrap();
    MetricFamily {
        name: Some("stub_latency_seconds".into()),
        help: Some("Latency.".into()),
        r#type: Some(4),
        metric: vec![Metric {
            counter: None,
            histogram: Some(Histogram {
                sample_count: Some(3),
                sample_sum: Some(0.75),
                schema: Some(3),
                zero_threshold: Some(1e-128),
                zero_count: Some(0),
                positive_span: vec![BucketSpan {
                    offset: Some(-8),
                    length: Some(2),
                }],
                positive_delta: vec![1, 1],
            }),
        }],
    }
    .encode_length_delimited(&mut out)
    .unwrap();
    out
}

/// A scrape target serving [`native_exposition`] in the protobuf format.
struct Target {
    addr: String,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Target {
    fn start() -> Target {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = Arc::clone(&stop);
        let body = native_exposition();
        let thread = thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(mut c) = conn {
                    let _ = Self::serve(&mut c, &body);
                }
            }
        });
        Target {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    fn serve(c: &mut TcpStream, body: &[u8]) -> std::io::Result<()> {
        c.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut buf = Vec::new();
        let mut tmp = [0u8; 4096];
        while find(&buf, b"\r\n\r\n").is_none() {
            let n = c.read(&mut tmp)?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&tmp[..n]);
        }
        write!(
            c,
            "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.google.protobuf; \
             proto=io.prometheus.client.MetricFamily; encoding=delimited\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )?;
        c.write_all(body)
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(&self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Debian's `prometheus`, or `None` after a loud SKIPPED line (a failure
/// under `STRATA_REQUIRE_ALL=1`, as `.ci/run` sets).
fn prometheus_bin() -> Option<std::path::PathBuf> {
    strata_promql::promqltest::require::program(
        "prometheus",
        "install the Debian package prometheus",
    )
}

fn metrics_text(addr: &str) -> String {
    let (s, b) = http(addr, "GET", "/metrics", &[], b"").unwrap();
    assert_eq!(s, 200);
    String::from_utf8_lossy(&b).into_owned()
}

/// Sum of every series of `name` in a text exposition.
fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|r| r.starts_with('{') || r.starts_with(' '))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Prometheus 2.42 scrapes a native histogram and remote-writes it with
/// `send_native_histograms: true`: Strata answers 400 for the histogram
/// samples and counts them, the float series of the same requests arrive,
/// and Prometheus' own failure metrics show the refusal.
#[test]
fn prometheus_native_histograms_are_refused_not_acknowledged() {
    let Some(prometheus) = prometheus_bin() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (_strata, strata) =
        start_strata_at("strata", dir.path(), &dir.path().join("strata-data"), &[]);
    let target = Target::start();
    let config = dir.path().join("prometheus.yml");
    let tsdb = dir.path().join("prometheus-data");
    let (_prom, prom) = start_server("prometheus", &prometheus, dir.path(), "/-/ready", |port| {
        let yml = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
             scrape_configs:\n\
             \x20 - job_name: native\n    static_configs: [{{targets: ['{}']}}]\n\
             remote_write:\n\
             \x20 - url: http://{strata}/api/v1/write\n\
             \x20   send_native_histograms: true\n\
             \x20   queue_config: {{batch_send_deadline: 1s, min_backoff: 100ms, max_backoff: 1s}}\n",
            target.addr
        );
        std::fs::write(&config, yml).unwrap();
        vec![
            format!("--config.file={}", config.display()),
            format!("--storage.tsdb.path={}", tsdb.display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
            "--enable-feature=native-histograms".into(),
        ]
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ours = metrics_text(&strata);
        let theirs = metrics_text(&prom);
        let refused = metric_value(
            &ours,
            "strata_samples_rejected_total{reason=\"native_histogram\"}",
        )
        .unwrap_or(0.0);
        let failed = metric_sum(&theirs, "prometheus_remote_storage_histograms_failed_total");
        if refused > 0.0 && failed > 0.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "after 60 s: strata refused {refused} histogram samples, Prometheus counts {failed} \
             failed; Prometheus' remote storage metrics:\n{}",
            theirs
                .lines()
                .filter(|l| l.starts_with("prometheus_remote_storage_"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        sleep_ms(250);
    }
    // The float series scraped alongside arrived in Strata.
    let q = with_params(
        "/api/v1/query",
        &[
            ("query", "stub_requests_total{job=\"native\"}"),
            ("time", &secs(now_ms())),
        ],
    );
    let (s, b) = http(&strata, "GET", &q, &[], b"").unwrap();
    let b = String::from_utf8_lossy(&b);
    assert_eq!(s, 200, "{b}");
    let v: serde_json::Value = serde_json::from_str(&b).unwrap();
    let r = v["data"]["result"].as_array().unwrap();
    assert_eq!(r.len(), 1, "{b}");
    assert_eq!(r[0]["value"][1], "42", "{b}");
    // Prometheus saw the histogram itself (it is not Strata's reading).
    let q = with_params("/api/v1/query", &[("query", "stub_latency_seconds")]);
    let (_, b) = http(&prom, "GET", &q, &[], b"").unwrap();
    assert!(
        String::from_utf8_lossy(&b).contains("\"histogram\""),
        "{}",
        String::from_utf8_lossy(&b)
    );
}
