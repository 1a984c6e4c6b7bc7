//! The HTTP API through the router, with no socket.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use strata_engine::{Options, Storage};
use strata_promql::eval::EvalOptions;
use strata_server::formats::remote_write::{Label, Sample, TimeSeries, WriteRequest, encode};
use strata_server::{AppState, router};
use tower::ServiceExt;

/// A router over a fresh storage in a temp dir.
pub(crate) fn app() -> (axum::Router, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(dir.path(), Options::default().without_maintenance()).unwrap();
    let state = AppState::new(Arc::new(storage), EvalOptions::default(), 1 << 20);
    (router(state), dir)
}

/// [`app`] with the admin API enabled (`--enable-admin-api`), for tests
/// that call delete_series or the snapshot endpoints.
pub(crate) fn admin_app() -> (axum::Router, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(dir.path(), Options::default().without_maintenance()).unwrap();
    let state = AppState::new(Arc::new(storage), EvalOptions::default(), 1 << 20).with_auth(
        strata_server::auth::AuthConfig {
            admin_enabled: true,
            ..Default::default()
        },
    );
    (router(state), dir)
}

pub(crate) fn series(name: &str, labels: &[(&str, &str)], samples: &[(i64, f64)]) -> TimeSeries {
    let mut l = vec![Label {
        name: "__name__".into(),
        value: name.into(),
    }];
    l.extend(labels.iter().map(|(n, v)| Label {
        name: (*n).into(),
        value: (*v).into(),
    }));
    TimeSeries {
        labels: l,
        samples: samples
            .iter()
            .map(|&(t, v)| Sample {
                value: v,
                timestamp: t,
            })
            .collect(),
    }
}

pub(crate) async fn send(app: &axum::Router, req: Request<Body>) -> (StatusCode, String) {
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

pub(crate) async fn get(app: &axum::Router, uri: &str) -> (StatusCode, serde_json::Value) {
    let (s, b) = send(app, Request::get(uri).body(Body::empty()).unwrap()).await;
    (
        s,
        serde_json::from_str(&b).unwrap_or_else(|e| panic!("{uri}: {e}: {b}")),
    )
}

pub(crate) async fn write(app: &axum::Router, req: &WriteRequest) -> (StatusCode, String) {
    let r = Request::post("/api/v1/write")
        .header("Content-Encoding", "snappy")
        .header("Content-Type", "application/x-protobuf")
        .body(Body::from(encode(req)))
        .unwrap();
    send(app, r).await
}

const T0: i64 = 1_800_000_000_000;

pub(crate) fn now_based(offset_ms: i64) -> i64 {
    strata_engine::Clock::now_ms(&strata_engine::SystemClock) - 600_000 + offset_ms
}

#[tokio::test]
async fn remote_write_then_query() {
    let (app, _dir) = app();
    let t = now_based(0);
    let req = WriteRequest {
        timeseries: vec![
            series(
                "http_requests_total",
                &[("job", "api"), ("code", "200")],
                &[(t, 1.0), (t + 15_000, 4.0), (t + 30_000, 10.0)],
            ),
            series(
                "http_requests_total",
                &[("job", "api"), ("code", "500")],
                &[(t, 0.0), (t + 15_000, 1.0), (t + 30_000, f64::NAN)],
            ),
        ],
        metadata: vec![],
    };
    let (s, body) = write(&app, &req).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{body}");

    let at = format!("{}", (t + 30_000) as f64 / 1000.0);
    let (s, v) = get(
        &app,
        &format!("/api/v1/query?query=http_requests_total%7Bcode%3D%22200%22%7D&time={at}"),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "success");
    assert_eq!(v["data"]["resultType"], "vector");
    let r = &v["data"]["result"][0];
    assert_eq!(r["metric"]["__name__"], "http_requests_total");
    assert_eq!(r["metric"]["code"], "200");
    assert_eq!(r["value"][1], "10");
    assert_eq!(
        r["value"][0].as_f64().unwrap(),
        (t + 30_000) as f64 / 1000.0
    );

    // NaN is a string, as Prometheus writes it.
    let (_, v) = get(
        &app,
        &format!("/api/v1/query?query=http_requests_total%7Bcode%3D%22500%22%7D&time={at}"),
    )
    .await;
    assert_eq!(v["data"]["result"][0]["value"][1], "NaN");

    // Scalars, and Grafana's connection test at time=4.
    let (_, v) = get(&app, "/api/v1/query?query=1%2B1&time=4").await;
    assert_eq!(
        v["data"],
        serde_json::json!({"resultType": "scalar", "result": [4, "2"]})
    );

    // A range query: a matrix sorted by labels.
    let uri = format!(
        "/api/v1/query_range?query=sum+by+(code)(http_requests_total)&start={}&end={}&step=15",
        t as f64 / 1000.0,
        (t + 30_000) as f64 / 1000.0
    );
    let (s, v) = get(&app, &uri).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["resultType"], "matrix");
    let res = v["data"]["result"].as_array().unwrap();
    assert_eq!(res.len(), 2);
    assert_eq!(res[0]["metric"], serde_json::json!({"code": "200"}));
    assert_eq!(res[0]["values"].as_array().unwrap().len(), 3);
    assert_eq!(res[0]["values"][2][1], "10");

    // POST form bodies work like GET.
    let r = Request::post("/api/v1/query")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(Body::from(format!(
            "query=count(http_requests_total)&time={at}"
        )))
        .unwrap();
    let (s, b) = send(&app, r).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert!(b.contains(r#""value":["#) && b.contains(r#","2"]"#), "{b}");
}

#[tokio::test]
async fn series_labels_and_values() {
    let (app, _dir) = app();
    let t = now_based(0);
    let req = WriteRequest {
        timeseries: vec![
            series(
                "up",
                &[("job", "node"), ("instance", "a:9100")],
                &[(t, 1.0)],
            ),
            series(
                "up",
                &[("job", "node"), ("instance", "b:9100")],
                &[(t, 0.0)],
            ),
            series(
                "node_load1",
                &[("job", "node"), ("instance", "a:9100")],
                &[(t, 0.5)],
            ),
        ],
        metadata: vec![],
    };
    assert_eq!(write(&app, &req).await.0, StatusCode::NO_CONTENT);
    let (s, v) = get(&app, "/api/v1/series?match%5B%5D=up").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
    assert_eq!(
        v["data"][0],
        serde_json::json!({"__name__": "up", "instance": "a:9100", "job": "node"})
    );
    let (_, v) = get(&app, "/api/v1/series?match%5B%5D=up&limit=1").await;
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
    // Several match[]: the union, sorted, each series once, then the limit.
    let (s, v) = get(
        &app,
        "/api/v1/series?match%5B%5D=node_load1&match%5B%5D=up&match%5B%5D=%7Bjob%3D%22node%22%7D",
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let names: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["__name__"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["node_load1", "up", "up"], "{v}");
    let (_, v) = get(
        &app,
        "/api/v1/series?match%5B%5D=node_load1&match%5B%5D=up&limit=2",
    )
    .await;
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
    let (_, v) = get(&app, "/api/v1/labels").await;
    assert_eq!(
        v["data"],
        serde_json::json!(["__name__", "instance", "job"])
    );
    let (_, v) = get(&app, "/api/v1/label/__name__/values").await;
    assert_eq!(v["data"], serde_json::json!(["node_load1", "up"]));
    let (_, v) = get(&app, "/api/v1/label/instance/values?match%5B%5D=node_load1").await;
    assert_eq!(v["data"], serde_json::json!(["a:9100"]));
    let (s, v) = get(&app, "/api/v1/series").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"], "no match[] parameter provided");
}

#[tokio::test]
async fn errors_use_prometheus_shape_and_status() {
    let (app, _dir) = app();
    let (s, v) = get(&app, "/api/v1/query?query=rate(foo)").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["status"], "error");
    assert_eq!(v["errorType"], "bad_data");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("expected type range vector in call to function \"rate\""),
        "{v}"
    );
    let (s, v) = get(&app, "/api/v1/query?query=up&time=yesterday").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("invalid parameter \"time\"")
    );
    let (s, v) = get(
        &app,
        "/api/v1/query_range?query=up&start=0&end=100000&step=1",
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        v["error"].as_str().unwrap().contains("11,000 points"),
        "{v}"
    );
    let (s, v) = get(&app, "/api/v1/query_range?query=up&start=10&end=0&step=1").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, v) = get(
        &app,
        "/api/v1/query?query=label_replace(vector(1),%22a%22,%22x%22,%22b%22,%22(%22)",
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["errorType"], "execution");
}

#[tokio::test]
async fn bad_writes_are_refused_and_good_series_kept() {
    let (app, _dir) = app();
    let t = now_based(0);
    let (s, b) = send(
        &app,
        Request::post("/api/v1/write")
            .body(Body::from("not snappy"))
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert!(b.contains("snappy"), "{b}");
    let req = WriteRequest {
        timeseries: vec![
            series("ok_metric", &[], &[(t, 1.0)]),
            series("bad", &[("1nvalid", "x")], &[(t, 1.0)]),
        ],
        metadata: vec![],
    };
    let (s, b) = write(&app, &req).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert!(b.contains("1nvalid"), "{b}");
    let (_, v) = get(
        &app,
        &format!("/api/v1/query?query=ok_metric&time={}", t as f64 / 1000.0),
    )
    .await;
    assert_eq!(
        v["data"]["result"].as_array().unwrap().len(),
        1,
        "the valid series is stored"
    );
    // Over the body limit: 413.
    let big = vec![0u8; (1 << 20) + 10];
    let (s, _) = send(
        &app,
        Request::post("/api/v1/write")
            .body(Body::from(big))
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    let _ = T0;
}

#[tokio::test]
async fn a_label_that_is_not_utf8_refuses_the_whole_request() {
    let (app, _dir) = app();
    let t = now_based(0);
    // Known series first: their labels are found by bytes, unchecked.
    let known = WriteRequest {
        timeseries: vec![series("known_metric", &[("v", "a")], &[(t, 1.0)])],
        metadata: vec![],
    };
    assert_eq!(write(&app, &known).await.0, StatusCode::NO_CONTENT);
    let req = WriteRequest {
        timeseries: vec![
            series("known_metric", &[("v", "a")], &[(t + 1000, 2.0)]),
            series("fresh_metric", &[("v", "\u{1}\u{2}")], &[(t, 1.0)]),
        ],
        metadata: vec![],
    };
    let mut raw = prost::Message::encode_to_vec(&req);
    let at = raw.windows(2).position(|w| w == [1, 2]).unwrap();
    raw[at..at + 2].copy_from_slice(&[0xff, 0xfe]);
    let body = snap::raw::Encoder::new().compress_vec(&raw).unwrap();
    let r = Request::post("/api/v1/write")
        .header("Content-Encoding", "snappy")
        .body(Body::from(body))
        .unwrap();
    let (s, b) = send(&app, r).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert!(b.contains("UTF-8"), "{b}");
    // A malformed body stores nothing, not even the known series' sample.
    let (_, v) = get(
        &app,
        &format!(
            "/api/v1/query?query=count_over_time(known_metric[1h])&time={}",
            (t + 2000) as f64 / 1000.0
        ),
    )
    .await;
    assert_eq!(v["data"]["result"][0]["value"][1], "1", "{v}");
    let (_, v) = get(&app, "/api/v1/series?match[]=fresh_metric").await;
    assert_eq!(v["data"].as_array().unwrap().len(), 0, "{v}");
}

#[tokio::test]
async fn health_ready_and_buildinfo() {
    let (app, _dir) = app();
    assert_eq!(
        send(&app, Request::get("/health").body(Body::empty()).unwrap())
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        send(
            &app,
            Request::get("/-/healthy").body(Body::empty()).unwrap()
        )
        .await
        .0,
        StatusCode::OK
    );
    assert_eq!(
        send(&app, Request::get("/-/ready").body(Body::empty()).unwrap())
            .await
            .0,
        StatusCode::OK
    );
    let (s, v) = get(&app, "/api/v1/status/buildinfo").await;
    assert_eq!(s, StatusCode::OK);
    let version = v["data"]["version"].as_str().unwrap();
    let minor: u32 = version.split('.').nth(1).unwrap().parse().unwrap();
    assert!(
        version.starts_with("2.") && minor >= 24,
        "Grafana needs 2.24+: {version}"
    );
}

#[tokio::test]
async fn force_flush_and_merge_write_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let storage =
        Arc::new(Storage::open(dir.path(), Options::default().without_maintenance()).unwrap());
    let state = AppState::new(storage.clone(), EvalOptions::default(), 1 << 20);
    let app = router(state);
    let t = now_based(0);
    let req = WriteRequest {
        timeseries: vec![series("m", &[], &[(t, 1.0), (t + 1000, 2.0)])],
        metadata: vec![],
    };
    assert_eq!(write(&app, &req).await.0, StatusCode::NO_CONTENT);
    assert_eq!(storage.stats().blocks, 0);
    assert_eq!(
        send(
            &app,
            Request::get("/internal/force_flush")
                .body(Body::empty())
                .unwrap()
        )
        .await
        .0,
        StatusCode::OK
    );
    assert!(storage.stats().blocks >= 1);
    assert_eq!(storage.stats().head_series, 0);
    assert_eq!(
        send(
            &app,
            Request::get("/internal/force_merge")
                .body(Body::empty())
                .unwrap()
        )
        .await
        .0,
        StatusCode::OK
    );
    let (_, v) = get(
        &app,
        &format!("/api/v1/query?query=m&time={}", (t + 1000) as f64 / 1000.0),
    )
    .await;
    assert_eq!(v["data"]["result"][0]["value"][1], "2");
}

#[tokio::test]
async fn tsdb_status_format_metadata_exemplars_and_delete() {
    use strata_server::formats::remote_write::MetricMetadata;
    let (app, _dir) = admin_app();
    let t = now_based(0);
    let req = WriteRequest {
        timeseries: vec![
            series("up", &[("job", "node"), ("instance", "a")], &[(t, 1.0)]),
            series("up", &[("job", "node"), ("instance", "b")], &[(t, 1.0)]),
            series(
                "node_load1",
                &[("job", "node"), ("instance", "a")],
                &[(t, 0.3)],
            ),
        ],
        metadata: vec![MetricMetadata {
            r#type: 2,
            metric_family_name: "node_load1".into(),
            help: "1m load average.".into(),
            unit: String::new(),
        }],
    };
    assert_eq!(write(&app, &req).await.0, StatusCode::NO_CONTENT);

    let (s, v) = get(&app, "/api/v1/status/tsdb").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["headStats"]["numSeries"], 3);
    assert_eq!(
        v["data"]["seriesCountByMetricName"][0],
        serde_json::json!({"name": "up", "value": 2})
    );

    let (_, v) = get(
        &app,
        "/api/v1/format_query?query=sum(rate(x%5B5m%5D))by(job)",
    )
    .await;
    assert_eq!(v["data"], "sum by (job) (rate(x[5m]))");

    let (_, v) = get(&app, "/api/v1/metadata").await;
    assert_eq!(
        v["data"]["node_load1"][0],
        serde_json::json!({"type": "gauge", "help": "1m load average.", "unit": ""})
    );

    let (_, v) = get(&app, "/api/v1/query_exemplars?query=up").await;
    assert_eq!(v["data"], serde_json::json!([]));

    let r =
        Request::post("/api/v1/admin/tsdb/delete_series?match%5B%5D=up%7Binstance%3D%22a%22%7D")
            .body(Body::empty())
            .unwrap();
    assert_eq!(send(&app, r).await.0, StatusCode::NO_CONTENT);
    let (_, v) = get(
        &app,
        &format!("/api/v1/query?query=up&time={}", t as f64 / 1000.0),
    )
    .await;
    let res = v["data"]["result"].as_array().unwrap();
    assert_eq!(res.len(), 1);
    assert_eq!(res[0]["metric"]["instance"], "b");
}

#[tokio::test]
async fn not_ready_while_the_storage_opens() {
    let state = AppState::opening(EvalOptions::default(), 1 << 20);
    let app = router(state.clone());
    assert_eq!(
        send(&app, Request::get("/-/ready").body(Body::empty()).unwrap())
            .await
            .0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        send(&app, Request::get("/health").body(Body::empty()).unwrap())
            .await
            .0,
        StatusCode::OK
    );
    let (s, v) = get(&app, "/api/v1/query?query=1").await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(v["errorType"], "unavailable");
    let t = now_based(0);
    let req = WriteRequest {
        timeseries: vec![series("m", &[], &[(t, 1.0)])],
        metadata: vec![],
    };
    assert_eq!(
        write(&app, &req).await.0,
        StatusCode::SERVICE_UNAVAILABLE,
        "clients retry 5xx"
    );
    let dir = tempfile::tempdir().unwrap();
    state
        .storage
        .set(Arc::new(
            Storage::open(dir.path(), Options::default().without_maintenance()).unwrap(),
        ))
        .unwrap();
    assert_eq!(
        send(&app, Request::get("/-/ready").body(Body::empty()).unwrap())
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(write(&app, &req).await.0, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn own_metrics() {
    let (app, _dir) = app();
    let t = now_based(0);
    let req = WriteRequest {
        timeseries: vec![
            series("m", &[], &[(t, 1.0), (t + 1000, 2.0)]),
            series("bad", &[("1x", "y")], &[(t, 1.0)]),
        ],
        metadata: vec![],
    };
    assert_eq!(write(&app, &req).await.0, StatusCode::BAD_REQUEST);
    let (s, _) = get(
        &app,
        &format!("/api/v1/query?query=m&time={}", t as f64 / 1000.0),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, text) = send(&app, Request::get("/metrics").body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::OK);
    for want in [
        "strata_samples_ingested_total 2",
        "strata_samples_rejected_total{reason=\"invalid_labels\"} 1",
        "strata_active_series 1",
        "strata_http_requests_total{path=\"/api/v1/write\",code=\"400\"} 1",
        "strata_http_requests_total{path=\"/api/v1/query\",code=\"200\"} 1",
        "strata_query_duration_seconds_count{endpoint=\"query\"} 1",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
}
