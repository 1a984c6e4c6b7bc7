//! remote_read: what a Prometheus with `remote_read` sends, answered with
//! raw samples (staleness markers included) in the request's order.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use prost::Message;
use strata_server::formats::remote_read::{LabelMatcher, Query, ReadRequest, ReadResponse};
use strata_server::formats::remote_write::WriteRequest;
use tower::ServiceExt;

use crate::api::{app, now_based, send, series, write};

async fn read(app: &axum::Router, req: &ReadRequest) -> (StatusCode, Vec<u8>, Option<String>) {
    let body = snap::raw::Encoder::new()
        .compress_vec(&req.encode_to_vec())
        .unwrap();
    let r = Request::post("/api/v1/read")
        .header("Content-Encoding", "snappy")
        .header("Content-Type", "application/x-protobuf")
        .body(Body::from(body))
        .unwrap();
    let res = app.clone().oneshot(r).await.unwrap();
    let status = res.status();
    let enc = res
        .headers()
        .get("content-encoding")
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = res.into_body().collect().await.unwrap().to_bytes().to_vec();
    (status, bytes, enc)
}

fn matcher(kind: i32, name: &str, value: &str) -> LabelMatcher {
    LabelMatcher {
        r#type: kind,
        name: name.into(),
        value: value.into(),
    }
}

#[tokio::test]
async fn remote_read_returns_raw_samples_per_query() {
    let (app, _dir) = app();
    let t = now_based(0);
    let stale = f64::from_bits(strata_engine::STALE_NAN_BITS);
    let req = WriteRequest {
        timeseries: vec![
            series(
                "up",
                &[("job", "a")],
                &[(t, 1.0), (t + 1000, 0.0), (t + 2000, stale)],
            ),
            series("up", &[("job", "b")], &[(t, 5.0)]),
            series("other", &[("job", "a")], &[(t, 9.0)]),
        ],
        metadata: vec![],
    };
    assert_eq!(write(&app, &req).await.0, StatusCode::NO_CONTENT);

    let rr = ReadRequest {
        queries: vec![
            Query {
                start_timestamp_ms: t,
                end_timestamp_ms: t + 2000,
                matchers: vec![matcher(0, "__name__", "up"), matcher(1, "job", "b")],
            },
            Query {
                start_timestamp_ms: t + 500,
                end_timestamp_ms: t + 5000,
                matchers: vec![matcher(2, "job", "a|b"), matcher(3, "__name__", "oth.*")],
            },
            Query {
                start_timestamp_ms: t - 10_000,
                end_timestamp_ms: t - 1,
                matchers: vec![matcher(0, "__name__", "up")],
            },
        ],
        accepted_response_types: vec![0],
    };
    let (status, body, enc) = read(&app, &rr).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(enc.as_deref(), Some("snappy"));
    let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
    let resp = ReadResponse::decode(raw.as_slice()).unwrap();
    assert_eq!(resp.results.len(), 3);

    let first = &resp.results[0].timeseries;
    assert_eq!(first.len(), 1);
    let labels: Vec<(&str, &str)> = first[0]
        .labels
        .iter()
        .map(|l| (l.name.as_str(), l.value.as_str()))
        .collect();
    assert_eq!(labels, [("__name__", "up"), ("job", "a")]);
    let samples: Vec<(i64, u64)> = first[0]
        .samples
        .iter()
        .map(|s| (s.timestamp, s.value.to_bits()))
        .collect();
    assert_eq!(
        samples,
        [
            (t, 1f64.to_bits()),
            (t + 1000, 0f64.to_bits()),
            (t + 2000, strata_engine::STALE_NAN_BITS)
        ],
        "raw samples, the staleness marker included"
    );

    // Range bounds apply: from t+500 job="a" keeps its two later samples
    // and job="b" (one sample at t) has none, so it is left out.
    let second = &resp.results[1].timeseries;
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].labels[1].value, "a");
    let times: Vec<i64> = second[0].samples.iter().map(|s| s.timestamp).collect();
    assert_eq!(times, [t + 1000, t + 2000]);
    assert!(resp.results[2].timeseries.is_empty());
}

#[tokio::test]
async fn remote_read_refuses_bad_requests() {
    let (app, _dir) = app();
    let (s, body) = send(
        &app,
        Request::post("/api/v1/read")
            .body(Body::from("not snappy"))
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("snappy"), "{body}");

    let only_streamed = ReadRequest {
        queries: vec![],
        accepted_response_types: vec![1],
    };
    let (s, body, _) = read(&app, &only_streamed).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(String::from_utf8_lossy(&body).contains("response types"));

    let bad_regex = ReadRequest {
        queries: vec![Query {
            start_timestamp_ms: 0,
            end_timestamp_ms: 1,
            matchers: vec![matcher(2, "job", "(")],
        }],
        accepted_response_types: vec![],
    };
    assert_eq!(read(&app, &bad_regex).await.0, StatusCode::BAD_REQUEST);

    let matches_everything = ReadRequest {
        queries: vec![Query {
            start_timestamp_ms: 0,
            end_timestamp_ms: 1,
            matchers: vec![matcher(2, "job", ".*")],
        }],
        accepted_response_types: vec![],
    };
    assert_eq!(
        read(&app, &matches_everything).await.0,
        StatusCode::BAD_REQUEST
    );
}
