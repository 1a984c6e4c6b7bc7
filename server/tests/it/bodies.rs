//! Issue 14, bounded bodies: compressed bodies decode under
//! `--max-decompressed-bytes` (413), the import endpoints take gzip, zstd
//! and snappy, other encodings get 415, and every body being read and
//! decoded is held in the `--max-ingest-memory-bytes` budget (503 for
//! writes, 429 for remote_read). Router tests first, then the real binary
//! under 16 concurrent decompression bombs.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use prost::Message;
use strata_engine::{Options, Storage};
use strata_promql::eval::EvalOptions;
use strata_server::body::BodyLimits;
use strata_server::formats::remote_read::{LabelMatcher, Query, ReadRequest};
use strata_server::{AppState, router};
use tower::ServiceExt;

use crate::api::{now_based, series};
use crate::process::{http_timeout, proc_status_kib, sleep_ms, start_strata_at};

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::bulk::compress(data, 1).unwrap()
}

fn snappy(data: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new().compress_vec(data).unwrap()
}

fn compress(encoding: &str, data: &[u8]) -> Vec<u8> {
    match encoding {
        "gzip" | "x-gzip" => gzip(data),
        "zstd" => zstd(data),
        "snappy" => snappy(data),
        _ => data.to_vec(),
    }
}

/// A 10-byte snappy block that declares 250 MiB.
fn bomb() -> Vec<u8> {
    let mut b = Vec::new();
    let mut n = 250u64 << 20;
    while n >= 0x80 {
        b.push((n as u8) | 0x80);
        n >>= 7;
    }
    b.push(n as u8);
    b.resize(10, 0);
    b
}

fn app_with(bodies: BodyLimits) -> (axum::Router, AppState, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(dir.path(), Options::default().without_maintenance()).unwrap();
    let state =
        AppState::new(Arc::new(storage), EvalOptions::default(), 8 << 20).with_body_limits(bodies);
    (router(state.clone()), state, dir)
}

async fn send(app: &axum::Router, req: Request<Body>) -> (StatusCode, String) {
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

async fn post(
    app: &axum::Router,
    path: &str,
    encoding: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, String) {
    let mut r = Request::post(path);
    if let Some(e) = encoding {
        r = r.header("Content-Encoding", e);
    }
    send(app, r.body(Body::from(body)).unwrap()).await
}

fn read_request(metric: &str) -> Vec<u8> {
    let t = now_based(0);
    let req = ReadRequest {
        queries: vec![Query {
            start_timestamp_ms: t - 3_600_000,
            end_timestamp_ms: t + 3_600_000,
            matchers: vec![LabelMatcher {
                r#type: 0,
                name: "__name__".into(),
                value: metric.into(),
            }],
        }],
        accepted_response_types: vec![],
    };
    snappy(&req.encode_to_vec())
}

fn remote_write_body(metric: &str) -> Vec<u8> {
    strata_server::formats::remote_write::encode(
        &strata_server::formats::remote_write::WriteRequest {
            timeseries: vec![series(metric, &[], &[(now_based(0), 1.0)])],
            metadata: vec![],
        },
    )
}

/// The value of `strata_bodies_refused_total{reason="<reason>"}`.
async fn refused_metric(app: &axum::Router, reason: &str) -> u64 {
    let (_, text) = send(app, Request::get("/metrics").body(Body::empty()).unwrap()).await;
    let prefix = format!("strata_bodies_refused_total{{reason=\"{reason}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map_or(0, |v| v.trim().parse().unwrap())
}

async fn exported(app: &axum::Router, metric: &str) -> String {
    send(
        app,
        Request::get(format!("/api/v1/export?match[]={metric}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await
    .1
}

#[tokio::test]
async fn import_endpoints_accept_every_supported_encoding() {
    let (app, state, _dir) = app_with(BodyLimits::default());
    let t = now_based(0);
    for (i, enc) in [
        None,
        Some("identity"),
        Some("gzip"),
        Some("x-gzip"),
        Some("zstd"),
        Some("snappy"),
    ]
    .into_iter()
    .enumerate()
    {
        let text = format!("enc_text_{i} {i} {t}\n");
        let (s, b) = post(
            &app,
            "/api/v1/import/prometheus",
            enc,
            compress(enc.unwrap_or(""), text.as_bytes()),
        )
        .await;
        assert_eq!(s, StatusCode::NO_CONTENT, "{enc:?}: {b}");
        let line = format!(
            "{{\"metric\":{{\"__name__\":\"enc_json_{i}\"}},\"values\":[{i}],\"timestamps\":[{t}]}}\n"
        );
        let (s, b) = post(
            &app,
            "/api/v1/import",
            enc,
            compress(enc.unwrap_or(""), line.as_bytes()),
        )
        .await;
        assert_eq!(s, StatusCode::NO_CONTENT, "{enc:?}: {b}");
        for m in [format!("enc_text_{i}"), format!("enc_json_{i}")] {
            let out = exported(&app, &m).await;
            assert!(
                out.contains(&format!("\"values\":[{i}]")),
                "{enc:?} {m}: {out:?}"
            );
        }
    }
    assert_eq!(
        state.bodies.budget.in_use(),
        0,
        "every reservation released"
    );
}

#[tokio::test]
async fn unsupported_and_mismatched_encodings_are_refused() {
    let (app, _state, _dir) = app_with(BodyLimits::default());
    for path in ["/api/v1/import/prometheus", "/api/v1/import"] {
        let (s, b) = post(&app, path, Some("br"), b"a 1\n".to_vec()).await;
        assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{path}: {b}");
        assert!(
            b.contains("\"errorType\":\"bad_data\"") && b.contains("\\\"br\\\""),
            "{b}"
        );
        // Said to be gzip, but is not: 400 naming the encoding.
        let (s, b) = post(&app, path, Some("gzip"), b"a 1\n".to_vec()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{path}: {b}");
        assert!(b.contains("cannot decompress gzip body"), "{b}");
    }
    // remote_write is a snappy block whatever else is claimed.
    let (s, b) = post(
        &app,
        "/api/v1/write",
        Some("gzip"),
        gzip(&remote_write_body("x")),
    )
    .await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{b}");
    assert!(b.contains("\\\"gzip\\\"") && b.contains("snappy"), "{b}");
    for enc in [None, Some("snappy"), Some("identity")] {
        let (s, b) = post(&app, "/api/v1/write", enc, remote_write_body("rw_ok")).await;
        assert_eq!(s, StatusCode::NO_CONTENT, "{enc:?}: {b}");
    }
    assert_eq!(refused_metric(&app, "unsupported_encoding").await, 3);
}

#[tokio::test]
async fn bodies_over_the_decompressed_cap_get_413_naming_the_flag() {
    let cap = 1 << 20;
    let (app, state, _dir) = app_with(BodyLimits::new(cap, 64 << 20));
    let over = vec![b'\n'; cap + 1];
    let under = vec![b'\n'; cap];
    for enc in ["gzip", "zstd", "snappy"] {
        for path in ["/api/v1/import/prometheus", "/api/v1/import"] {
            let (s, b) = post(&app, path, Some(enc), compress(enc, &over)).await;
            assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{enc} {path}: {b}");
            assert!(b.contains("--max-decompressed-bytes"), "{b}");
            assert!(b.contains(&format!("limit of {cap} bytes")), "{b}");
            // Exactly at the cap: decoded (only empty lines: stored nothing).
            let (s, b) = post(&app, path, Some(enc), compress(enc, &under)).await;
            assert_eq!(s, StatusCode::NO_CONTENT, "{enc} {path}: {b}");
        }
    }
    let zeros = snappy(&vec![0u8; cap + 1]);
    let (s, b) = post(&app, "/api/v1/write", Some("snappy"), zeros.clone()).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{b}");
    assert!(b.contains(&format!("{} bytes exceeds", cap + 1)), "{b}");
    let (s, b) = post(&app, "/api/v1/read", Some("snappy"), zeros).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{b}");
    assert_eq!(refused_metric(&app, "decompressed_too_large").await, 8);
    // The 10-byte bomb: refused before allocating anything.
    for path in ["/api/v1/write", "/api/v1/read"] {
        let (s, b) = post(&app, path, Some("snappy"), bomb()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{path}: {b}");
        assert!(b.contains("declares 262144000 decompressed bytes"), "{b}");
    }
    assert_eq!(state.bodies.budget.in_use(), 0);
}

#[tokio::test]
async fn a_used_up_budget_refuses_writes_with_503_and_reads_with_429_then_recovers() {
    let (app, state, _dir) = app_with(BodyLimits::new(1 << 20, 1 << 20));
    // Other requests hold all but 10 bytes.
    let held = state.bodies.budget.reserve((1 << 20) - 10).unwrap();
    let t = now_based(0);
    let text = format!("budget_test 1 {t}\n").repeat(20);
    let cases: [(&str, Option<&str>, Vec<u8>, StatusCode); 4] = [
        (
            "/api/v1/write",
            Some("snappy"),
            remote_write_body("budget_rw"),
            StatusCode::SERVICE_UNAVAILABLE,
        ),
        (
            "/api/v1/import/prometheus",
            None,
            text.clone().into_bytes(),
            StatusCode::SERVICE_UNAVAILABLE,
        ),
        (
            "/api/v1/import",
            Some("gzip"),
            gzip(text.as_bytes()),
            StatusCode::SERVICE_UNAVAILABLE,
        ),
        (
            "/api/v1/read",
            Some("snappy"),
            read_request("budget_rw"),
            StatusCode::TOO_MANY_REQUESTS,
        ),
    ];
    for (path, enc, body, want) in &cases {
        let started = Instant::now();
        let (s, b) = post(&app, path, *enc, body.clone()).await;
        assert_eq!(s, *want, "{path}: {b}");
        assert!(b.contains("\"errorType\":\"unavailable\""), "{b}");
        assert!(
            b.contains("--max-ingest-memory-bytes") && b.contains("retry later"),
            "{b}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "refused at once"
        );
    }
    assert_eq!(refused_metric(&app, "memory_budget").await, 4);
    assert_eq!(
        state.bodies.budget.in_use(),
        (1 << 20) - 10,
        "nothing leaked"
    );
    drop(held);
    // The budget is back: the same requests succeed.
    let (s, b) = post(
        &app,
        "/api/v1/write",
        Some("snappy"),
        remote_write_body("budget_rw"),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    let (s, b) = post(
        &app,
        "/api/v1/read",
        Some("snappy"),
        read_request("budget_rw"),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = post(&app, "/api/v1/import", Some("gzip"), gzip(text.as_bytes())).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "text is not JSON lines: {b}");
    assert_eq!(state.bodies.budget.in_use(), 0);
}

#[tokio::test]
async fn a_body_larger_than_the_whole_budget_gets_413() {
    let (app, state, _dir) = app_with(BodyLimits::new(4 << 20, 1 << 20));
    let body = gzip(&vec![b'\n'; 2 << 20]);
    let (s, b) = post(&app, "/api/v1/import", Some("gzip"), body).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{b}");
    assert!(b.contains("more than the whole budget"), "{b}");
    assert_eq!(state.bodies.budget.in_use(), 0);
}

/// Samples `VmHWM` is the kernel's own peak; this only watches liveness.
fn watch(pid: u32, stop: Arc<AtomicBool>, peak: Arc<AtomicU64>) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        while !stop.load(Ordering::SeqCst) {
            if let Some(kib) = proc_status_kib(pid, "VmRSS:") {
                peak.fetch_max(kib, Ordering::SeqCst);
            }
            sleep_ms(20);
        }
    })
}

/// Issue 14: 16 concurrent decompression bombs (and real zero-filled bodies
/// just under and over the cap, snappy, gzip and zstd) against the real
/// binary with its default limits: every answer is a refusal (4xx or 503)
/// within a time bound, the server stays up and ready, and its peak
/// resident memory (VmHWM) stays under 300 MiB.
#[test]
fn concurrent_bombs_are_refused_and_memory_stays_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Enough concurrency slots that the memory budget, not the
    // concurrency limit, is what holds the line.
    let (mut server, addr) = start_strata_at(
        "strata",
        dir.path(),
        &data,
        &["--max-concurrent-requests", "64"],
    );
    let pid = server.pid();
    let base_kib = proc_status_kib(pid, "VmRSS:").unwrap();

    let cap = strata_server::body::DEFAULT_MAX_DECOMPRESSED_BYTES;
    let under = vec![0u8; cap - 4096];
    let over = vec![0u8; cap + 4096];
    type Case = (&'static str, &'static str, Vec<u8>);
    let rounds: Vec<Vec<Case>> = vec![
        (0..16)
            .map(|_| ("/api/v1/write", "snappy", bomb()))
            .collect(),
        (0..16)
            .map(|i| match i % 8 {
                0 => ("/api/v1/write", "snappy", snappy(&under)),
                1 => ("/api/v1/write", "snappy", snappy(&over)),
                2 => ("/api/v1/import", "gzip", gzip(&under)),
                3 => ("/api/v1/import/prometheus", "gzip", gzip(&over)),
                4 => ("/api/v1/import/prometheus", "zstd", zstd(&under)),
                5 => ("/api/v1/import", "zstd", zstd(&over)),
                6 => ("/api/v1/import", "snappy", snappy(&over)),
                _ => ("/api/v1/read", "snappy", bomb()),
            })
            .collect(),
    ];
    drop((under, over));

    let stop = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(0));
    let watcher = watch(pid, stop.clone(), peak.clone());
    let bound = Duration::from_secs(60);
    for (round, cases) in rounds.into_iter().enumerate() {
        let answers: Vec<_> = cases
            .into_iter()
            .map(|(path, enc, body)| {
                let addr = addr.clone();
                thread::spawn(move || {
                    let started = Instant::now();
                    let r = http_timeout(
                        &addr,
                        "POST",
                        path,
                        &[("Content-Encoding", enc)],
                        &body,
                        bound,
                    );
                    (path, enc, r, started.elapsed())
                })
            })
            .collect();
        for a in answers {
            let (path, enc, r, took) = a.join().unwrap();
            let (status, body) = r.unwrap_or_else(|e| panic!("round {round} {path} {enc}: {e}"));
            let body = String::from_utf8_lossy(&body);
            assert!(
                (400..500).contains(&status) || status == 503,
                "round {round} {path} {enc}: {status} {body}"
            );
            assert!(
                body.contains("\"status\":\"error\""),
                "{path} {enc}: {body}"
            );
            assert!(took < bound, "round {round} {path} {enc}: {took:?}");
            if round == 0 {
                assert_eq!(status, 400, "a bomb is refused as such: {body}");
                assert!(
                    took < Duration::from_secs(10),
                    "a bomb is refused at once: {took:?}"
                );
            }
        }
        assert!(server.exited().is_none(), "server died in round {round}");
    }
    stop.store(true, Ordering::SeqCst);
    watcher.join().unwrap();

    let (status, _) = http_timeout(&addr, "GET", "/-/ready", &[], b"", bound).unwrap();
    assert_eq!(status, 200);
    let hwm = proc_status_kib(pid, "VmHWM:").unwrap();
    eprintln!(
        "RSS: {base_kib} KiB at start, sampled peak {} KiB, VmHWM {hwm} KiB",
        peak.load(Ordering::SeqCst)
    );
    assert!(hwm < 300 << 10, "peak RSS {hwm} KiB is over 300 MiB");
    // Still serving writes.
    let (status, body) = http_timeout(
        &addr,
        "POST",
        "/api/v1/import/prometheus",
        &[],
        b"after_bombs 1\n",
        bound,
    )
    .unwrap();
    assert_eq!(status, 204, "{}", String::from_utf8_lossy(&body));
    server.kill();
}

#[tokio::test]
async fn bodies_without_a_length_are_read_in_chunks_under_the_limits() {
    let (app, state, _dir) = app_with(BodyLimits::default());
    let t = now_based(0);
    let body = gzip(format!("chunked_body 7 {t}\n").repeat(3).as_bytes());
    let chunked = |body: Vec<u8>, parts: usize| {
        let size = body.len().div_ceil(parts);
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
            body.chunks(size).map(|c| Ok(c.to_vec())).collect();
        Body::from_stream(stream_of(chunks))
    };
    let req = Request::post("/api/v1/import/prometheus")
        .header("Content-Encoding", "gzip")
        .body(chunked(body, 3))
        .unwrap();
    let (s, b) = send(&app, req).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    assert!(
        exported(&app, "chunked_body")
            .await
            .contains("\"values\":[7]")
    );
    // Over --max-request-bytes (8 MiB here) without a length: 413 as the
    // chunks arrive.
    let req = Request::post("/api/v1/import")
        .body(chunked(vec![b' '; (8 << 20) + 1], 9))
        .unwrap();
    let (s, b) = send(&app, req).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{b}");
    assert_eq!(state.bodies.budget.in_use(), 0);
}

/// A stream of `items` (no futures-util dependency needed).
fn stream_of<T: Unpin + Send + 'static>(
    items: Vec<T>,
) -> impl futures_core::Stream<Item = T> + Send + 'static {
    struct Iter<T>(std::vec::IntoIter<T>);
    impl<T: Unpin> futures_core::Stream for Iter<T> {
        type Item = T;
        fn poll_next(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<T>> {
            std::task::Poll::Ready(self.0.next())
        }
    }
    Iter(items.into_iter())
}
