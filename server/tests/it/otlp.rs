//! OTLP/HTTP metrics against the `strata` binary: the OpenTelemetry Python
//! SDK (protobuf) from two service instances, a hand-built OTLP/JSON
//! request, and the status codes. Values are read back through PromQL and
//! compared exactly. Without the Python SDK the SDK test skips loudly
//! (a failure under `STRATA_REQUIRE_ALL=1`).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use prost::Message as _;
use serde_json::{Value, json};
use strata_promql::promqltest::require;
use strata_server::formats::otlp::proto as p;

use crate::process::{Proc, http, now_ms, secs, start_strata_at, with_params};

type Labels = BTreeMap<String, String>;

const PROMOTE: &str = "--otlp-promote-resource-attributes=deployment.environment";

fn start(dir: &Path) -> (Proc, String) {
    start_strata_at("strata", dir, &dir.join("data"), &[PROMOTE])
}

/// An instant query's vector (at `t`, or now): labels to value.
fn instant(addr: &str, query: &str, t: Option<i64>) -> BTreeMap<Labels, f64> {
    let t = secs(t.unwrap_or_else(now_ms));
    let target = with_params("/api/v1/query", &[("query", query), ("time", &t)]);
    let (status, body) = http(addr, "GET", &target, &[], b"").expect("query");
    let body = String::from_utf8_lossy(&body);
    assert_eq!(status, 200, "{query}: {body}");
    let v: Value = serde_json::from_str(&body).expect("query JSON");
    let mut out = BTreeMap::new();
    for r in v["data"]["result"].as_array().expect("a vector") {
        let labels: Labels = r["metric"]
            .as_object()
            .expect("metric")
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
            .collect();
        let value: f64 = r["value"][1]
            .as_str()
            .expect("value")
            .parse()
            .expect("float");
        out.insert(labels, value);
    }
    out
}

fn lbl(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn assert_same(got: &BTreeMap<Labels, f64>, want: &BTreeMap<Labels, f64>) {
    let show = |m: &BTreeMap<Labels, f64>| {
        m.iter()
            .map(|(l, v)| format!("{l:?} = {v}\n"))
            .collect::<String>()
    };
    assert!(
        got == want,
        "series differ\n--- got\n{}--- want\n{}",
        show(got),
        show(want)
    );
}

/// Whether the Python SDK and its OTLP/HTTP exporter import; reports them
/// missing otherwise.
fn have_python_sdk() -> bool {
    let ok = Command::new("python3")
        .args([
            "-c",
            "import opentelemetry.sdk, opentelemetry.exporter.otlp.proto.http",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        require::missing(
            "the Python modules opentelemetry-sdk and opentelemetry-exporter-otlp-proto-http",
            "python3 -m pip install --break-system-packages opentelemetry-sdk \
             opentelemetry-exporter-otlp-proto-http",
        );
    }
    ok
}

#[test]
fn python_sdk_exports_over_otlp_http() {
    if !have_python_sdk() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (_strata, addr) = start(dir.path());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/otlp_sdk.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(&addr)
        .output()
        .expect("run python3");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "otlp_sdk.py failed: {stderr}");
    let sdk_version = String::from_utf8_lossy(&out.stdout).trim().to_owned();

    let mut want: BTreeMap<Labels, f64> = BTreeMap::new();
    let default_bounds = [
        0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0, 5000.0,
        7500.0, 10000.0,
    ];
    for k in [1u32, 2] {
        let kf = f64::from(k);
        let instance = format!("i-{k}");
        let host = format!("h{k}");
        let common = [
            ("job", "shop/checkout"),
            ("instance", instance.as_str()),
            ("otel_scope_name", "strata.test"),
            ("otel_scope_version", "1.2.3"),
            ("deployment_environment", "test"),
        ];
        let mut add = |name: &str, extra: &[(&str, &str)], v: f64| {
            let mut l = lbl(&common);
            l.insert("__name__".into(), name.into());
            l.extend(lbl(extra));
            want.insert(l, v);
        };
        add("requests_total", &[("route", "/a")], 5.0 * kf);
        add("requests_total", &[("route", "/b")], 2.0 * kf);
        add("queue_depth", &[], 7.0 * kf);
        add("temperature_celsius", &[("room", "r1")], 21.5 * kf);
        for (le, c) in [("10", 1.0), ("100", 2.0), ("1000", 3.0), ("+Inf", 4.0)] {
            add("latency_milliseconds_bucket", &[("le", le)], c);
        }
        add("latency_milliseconds_sum", &[], 5555.0 * kf);
        add("latency_milliseconds_count", &[], 4.0);
        let sizes = [3.0 * kf, 30.0 * kf, 30000.0 * kf];
        for b in default_bounds {
            let c = sizes.iter().filter(|&&s| s <= b).count() as f64;
            add("size_bytes_bucket", &[("le", &b.to_string())], c);
        }
        add("size_bytes_bucket", &[("le", "+Inf")], 3.0);
        add("size_bytes_sum", &[], 30033.0 * kf);
        add("size_bytes_count", &[], 3.0);
        want.insert(
            lbl(&[
                ("__name__", "target_info"),
                ("job", "shop/checkout"),
                ("instance", &instance),
                ("deployment_environment", "test"),
                ("host_name", &host),
                ("telemetry_sdk_language", "python"),
                ("telemetry_sdk_name", "opentelemetry"),
                ("telemetry_sdk_version", &sdk_version),
            ]),
            1.0,
        );
    }
    let got = instant(&addr, r#"{job="shop/checkout"}"#, None);
    assert_same(&got, &want);
}

/// A hand-built OTLP/JSON request: every data point type, refused points
/// in `partialSuccess`, staleness, exemplars dropped.
fn json_request(t_ms: i64) -> Value {
    let ns = |ms: i64| (ms * 1_000_000).to_string();
    let t = ns(t_ms);
    let before = ns(t_ms - 10_000);
    json!({
      "resourceMetrics": [{
        "resource": {"attributes": [
          {"key": "service.name", "value": {"stringValue": "json-svc"}},
          {"key": "service.instance.id", "value": {"stringValue": "j1"}},
          {"key": "team", "value": {"stringValue": "core"}},
          {"key": "region.code", "value": {"intValue": "7"}}
        ]},
        "scopeMetrics": [{
          "scope": {"name": "hand"},
          "metrics": [
            {"name": "cpu.utilization", "unit": "1", "gauge": {"dataPoints": [
              {"attributes": [{"key": "cpu", "value": {"stringValue": "0"}}],
               "timeUnixNano": t, "asDouble": 0.25}
            ]}},
            {"name": "http.requests", "sum": {"aggregationTemporality": 2, "isMonotonic": true,
              "dataPoints": [{"timeUnixNano": t, "asInt": "42",
                "exemplars": [{"timeUnixNano": t, "asDouble": 1.0}]}]}},
            {"name": "delta.requests", "sum": {"aggregationTemporality": 1, "isMonotonic": true,
              "dataPoints": [{"timeUnixNano": t, "asInt": 3}]}},
            {"name": "exp.latency", "exponentialHistogram": {"aggregationTemporality": 2,
              "dataPoints": [{"timeUnixNano": t, "count": "1"}]}},
            {"name": "rpc.duration", "unit": "s", "summary": {"dataPoints": [
              {"timeUnixNano": t, "count": "20", "sum": 12.5, "quantileValues": [
                {"quantile": 0.5, "value": 0.1}, {"quantile": 0.99, "value": 0.9}]}
            ]}},
            {"name": "queue.wait", "unit": "ms", "histogram": {"aggregationTemporality": 2,
              "dataPoints": [{"timeUnixNano": t, "count": "3", "bucketCounts": ["1", "2"],
                "explicitBounds": [2.5]}]}},
            {"name": "stale.gauge", "gauge": {"dataPoints": [
              {"timeUnixNano": before, "asDouble": 3},
              {"timeUnixNano": t, "flags": 1}
            ]}}
          ]
        }]
      }]
    })
}

#[test]
fn json_request_translates_exactly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_strata, addr) = start(dir.path());
    let t = now_ms() - 1000;
    let body = json_request(t).to_string();
    let (status, resp) = http(
        &addr,
        "POST",
        "/api/v1/otlp/v1/metrics",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
    .expect("post");
    let resp: Value = serde_json::from_slice(&resp).expect("JSON answer");
    assert_eq!(status, 200, "{resp}");
    // The delta sum and the exponential histogram are refused.
    assert_eq!(resp["partialSuccess"]["rejectedDataPoints"], "2", "{resp}");
    let msg = resp["partialSuccess"]["errorMessage"]
        .as_str()
        .unwrap_or_default();
    assert!(msg.contains("delta.requests"), "{msg}");

    let common = [
        ("job", "json-svc"),
        ("instance", "j1"),
        ("otel_scope_name", "hand"),
    ];
    let mut want = BTreeMap::new();
    let mut add = |name: &str, extra: &[(&str, &str)], v: f64| {
        let mut l = lbl(&common);
        l.insert("__name__".into(), name.into());
        l.extend(lbl(extra));
        want.insert(l, v);
    };
    add("cpu_utilization_ratio", &[("cpu", "0")], 0.25);
    add("http_requests_total", &[], 42.0);
    add("rpc_duration_seconds", &[("quantile", "0.5")], 0.1);
    add("rpc_duration_seconds", &[("quantile", "0.99")], 0.9);
    add("rpc_duration_seconds_sum", &[], 12.5);
    add("rpc_duration_seconds_count", &[], 20.0);
    add("queue_wait_milliseconds_bucket", &[("le", "2.5")], 1.0);
    add("queue_wait_milliseconds_bucket", &[("le", "+Inf")], 3.0);
    add("queue_wait_milliseconds_count", &[], 3.0);
    want.insert(
        lbl(&[
            ("__name__", "target_info"),
            ("job", "json-svc"),
            ("instance", "j1"),
            ("team", "core"),
            ("region_code", "7"),
        ]),
        1.0,
    );
    // stale_gauge is stale at `t`: not in the vector.
    assert_same(&instant(&addr, r#"{job="json-svc"}"#, Some(t)), &want);
    let before = instant(&addr, "stale_gauge", Some(t - 5000));
    assert_eq!(before.values().copied().collect::<Vec<_>>(), vec![3.0]);

    let metrics = http(&addr, "GET", "/metrics", &[], b"").expect("metrics").1;
    let metrics = String::from_utf8_lossy(&metrics);
    for reason in [
        "otlp_delta_temporality",
        "otlp_exponential_histogram",
        "exemplar",
    ] {
        let line = format!("strata_samples_rejected_total{{reason=\"{reason}\"}} 1");
        assert!(
            metrics.contains(&line),
            "no {line:?} in /metrics:\n{metrics}"
        );
    }
}

#[test]
fn statuses_and_gzip_protobuf() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_strata, addr) = start(dir.path());
    let t = now_ms() - 1000;
    let req = p::ExportMetricsServiceRequest {
        resource_metrics: vec![p::ResourceMetrics {
            resource: None,
            scope_metrics: vec![p::ScopeMetrics {
                scope: None,
                metrics: vec![p::Metric {
                    name: "gz.gauge".into(),
                    unit: String::new(),
                    data: Some(p::Data::Gauge(p::Gauge {
                        data_points: vec![p::NumberDataPoint {
                            time_unix_nano: (t as u64) * 1_000_000,
                            value: Some(p::NumberValue::Int(9)),
                            ..Default::default()
                        }],
                    })),
                }],
            }],
        }],
    };
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&req.encode_to_vec()).expect("gzip");
    let body = gz.finish().expect("gzip");
    let (status, resp) = http(
        &addr,
        "POST",
        "/opentelemetry/v1/metrics",
        &[
            ("Content-Type", "application/x-protobuf"),
            ("Content-Encoding", "gzip"),
        ],
        &body,
    )
    .expect("post");
    assert_eq!(status, 200);
    let resp = p::ExportMetricsServiceResponse::decode(resp.as_slice()).expect("a response");
    assert_eq!(resp.partial_success, None);
    let got = instant(&addr, "gz_gauge", Some(t));
    assert_eq!(got.values().copied().collect::<Vec<_>>(), vec![9.0]);

    let post = |ct: &str, body: &[u8]| {
        http(
            &addr,
            "POST",
            "/opentelemetry/v1/metrics",
            &[("Content-Type", ct)],
            body,
        )
        .expect("post")
        .0
    };
    assert_eq!(post("text/plain", b"x 1"), 415);
    assert_eq!(post("application/x-protobuf", b"\x0a\xff\xff"), 400);
    assert_eq!(post("application/json", b"{\"resourceMetrics\": 3}"), 400);
}
