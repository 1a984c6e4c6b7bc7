//! Issue 14: hostile time parameters and expression shapes through the
//! router (no socket) answer 400/422 with Prometheus' messages, quickly.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use strata_engine::{Options, Storage};
use strata_promql::eval::EvalOptions;
use tower::ServiceExt;

use crate::app::{AppState, router};

fn app() -> (axum::Router, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(dir.path(), Options::default().without_maintenance()).unwrap();
    let state = AppState::new(Arc::new(storage), EvalOptions::default(), 1 << 20);
    (router(state), dir)
}

/// Status, errorType and error of a GET (query string given unencoded).
async fn get(
    app: &axum::Router,
    path: &str,
    params: &[(&str, &str)],
) -> (StatusCode, String, String) {
    let qs = serde_urlencoded::to_string(params).unwrap();
    let req = Request::get(format!("{path}?{qs}"))
        .body(Body::empty())
        .unwrap();
    let started = Instant::now();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{path} {params:?} took {:?}",
        started.elapsed()
    );
    if body.starts_with(br#"{"status":"success""#) {
        // Deep trees nest deeper than serde_json's own recursion limit.
        return (status, String::new(), String::new());
    }
    let v: serde_json::Value = serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("{path}: {status}: {e}: {}", String::from_utf8_lossy(&body)));
    let s = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_owned();
    (status, s("errorType"), s("error"))
}

async fn bad_data(app: &axum::Router, path: &str, params: &[(&str, &str)], message: &str) {
    let (status, kind, error) = get(app, path, params).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{params:?}: {error}");
    assert_eq!(kind, "bad_data", "{params:?}");
    assert_eq!(error, message, "{params:?}");
}

const RANGE: &str = "/api/v1/query_range";

#[tokio::test]
async fn out_of_range_timestamps_are_refused() {
    let (app, _dir) = app();
    for v in [
        "1e300",
        "-1e300",
        "Inf",
        "-Inf",
        "NaN",
        "9223372036854775.807",
        "tomorrow",
    ] {
        bad_data(
            &app,
            RANGE,
            &[("query", "1"), ("start", v), ("end", "10"), ("step", "1")],
            &format!("invalid parameter \"start\": cannot parse \"{v}\" to a valid timestamp"),
        )
        .await;
        bad_data(
            &app,
            RANGE,
            &[("query", "1"), ("start", "0"), ("end", v), ("step", "1")],
            &format!("invalid parameter \"end\": cannot parse \"{v}\" to a valid timestamp"),
        )
        .await;
        bad_data(
            &app,
            "/api/v1/query",
            &[("query", "1"), ("time", v)],
            &format!("invalid parameter \"time\": cannot parse \"{v}\" to a valid timestamp"),
        )
        .await;
    }
    // The issue's examples.
    bad_data(
        &app,
        RANGE,
        &[
            ("query", "1"),
            ("start", "1e300"),
            ("end", "1e300"),
            ("step", "1"),
        ],
        "invalid parameter \"start\": cannot parse \"1e300\" to a valid timestamp",
    )
    .await;
    bad_data(
        &app,
        RANGE,
        &[
            ("query", "1"),
            ("start", "-1e300"),
            ("end", "1e300"),
            ("step", "1e290"),
        ],
        "invalid parameter \"start\": cannot parse \"-1e300\" to a valid timestamp",
    )
    .await;
    bad_data(
        &app,
        RANGE,
        &[("query", "1"), ("start", "10"), ("end", "5"), ("step", "1")],
        "invalid parameter \"end\": end timestamp must not be before start time",
    )
    .await;
}

#[tokio::test]
async fn bad_steps_are_refused() {
    let (app, _dir) = app();
    let range = |step| {
        [
            ("query", "1"),
            ("start", "0"),
            ("end", "100"),
            ("step", step),
        ]
    };
    for (step, message) in [
        (
            "1e290",
            "invalid parameter \"step\": cannot parse \"1e290\" to a valid duration. It overflows int64",
        ),
        (
            "-1e290",
            "invalid parameter \"step\": cannot parse \"-1e290\" to a valid duration. It overflows int64",
        ),
        (
            "NaN",
            "invalid parameter \"step\": cannot parse \"NaN\" to a valid duration",
        ),
        (
            "soon",
            "invalid parameter \"step\": cannot parse \"soon\" to a valid duration",
        ),
        (
            "1000y",
            "invalid parameter \"step\": cannot parse \"1000y\" to a valid duration",
        ),
        (
            "0",
            "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer",
        ),
        (
            "-1",
            "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer",
        ),
        (
            "0.0001",
            "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer",
        ),
    ] {
        bad_data(&app, RANGE, &range(step), message).await;
    }
    // The widest range with a step of one ms: refused by counting, not by
    // walking it.
    let max = (strata_promql::duration::MAX_TIMESTAMP_MS / 1000).to_string();
    let min = format!("-{max}");
    for (start, end, step) in [
        ("0", "100000", "1"),
        (min.as_str(), max.as_str(), "0.001"),
        (min.as_str(), max.as_str(), "292y"),
    ] {
        bad_data(
            &app,
            RANGE,
            &[("query", "1"), ("start", start), ("end", end), ("step", step)],
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        )
        .await;
    }
    // Prometheus' boundary: (end - start) / step = 11000 is allowed.
    let (status, _, error) = get(
        &app,
        RANGE,
        &[
            ("query", "1"),
            ("start", "0"),
            ("end", "11000"),
            ("step", "1"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{error}");
    // Extreme but valid: a huge step over the widest range answers.
    let (status, _, error) = get(
        &app,
        RANGE,
        &[
            ("query", "time()"),
            ("start", &max),
            ("end", &max),
            ("step", "292y"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{error}");
}

#[tokio::test]
async fn hostile_at_offset_and_subqueries_are_refused() {
    let (app, _dir) = app();
    let (status, kind, error) = get(
        &app,
        "/api/v1/query",
        &[("query", "max_over_time(x[1h:1s] @ 9223372036854775.807)")],
    )
    .await;
    assert_eq!(
        (status, kind.as_str()),
        (StatusCode::BAD_REQUEST, "bad_data")
    );
    assert_eq!(
        error,
        "invalid parameter \"query\": 1:26: parse error: timestamp out of bounds for @ modifier: 9223372036854776.000000"
    );
    // Too many subquery steps: refused before any are allocated.
    let (status, kind, error) = get(
        &app,
        "/api/v1/query",
        &[("query", "max_over_time(x[1000d:1ms])"), ("time", "0")],
    )
    .await;
    assert_eq!(
        (status, kind.as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "execution"),
        "{error}"
    );
    assert!(
        error.contains("would be evaluated at more than 1100000 steps"),
        "{error}"
    );
    // Out-of-range durations evaluate to an error, not a wrapped time.
    let (status, _, error) = get(
        &app,
        "/api/v1/query",
        &[("query", "x offset (1e300)"), ("time", "0")],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
}

#[tokio::test]
async fn deep_expressions_are_refused_everywhere() {
    let (app, _dir) = app();
    let limit = format!(
        "expression nested more than {} levels deep",
        strata_promql::MAX_DEPTH
    );
    let plus = vec!["x"; 5_000].join("+");
    let and = vec!["a"; 2_000].join(" and ");
    let calls = format!("{}x{}", "abs(".repeat(2_000), ")".repeat(2_000));
    let unary = format!("{}x", "-".repeat(10_000));
    for q in [&plus, &and, &calls, &unary] {
        assert!(q.len() <= 16 * 1024);
        for (path, extra) in [
            ("/api/v1/query", None),
            (RANGE, Some([("start", "0"), ("end", "60"), ("step", "15")])),
            ("/api/v1/parse_query", None),
            ("/api/v1/format_query", None),
        ] {
            let mut params = vec![("query", q.as_str())];
            params.extend(extra.into_iter().flatten());
            let (status, kind, error) = get(&app, path, &params).await;
            assert_eq!(
                (status, kind.as_str()),
                (StatusCode::BAD_REQUEST, "bad_data"),
                "{path}"
            );
            assert!(error.ends_with(&limit), "{path}: {error}");
        }
    }
    // At the limit everything answers, parse_query's JSON included.
    let deep_ok = format!("{}x{}", "abs(".repeat(190), ")".repeat(190));
    for path in [
        "/api/v1/query",
        "/api/v1/parse_query",
        "/api/v1/format_query",
    ] {
        let (status, _, error) = get(&app, path, &[("query", &deep_ok)]).await;
        assert_eq!(status, StatusCode::OK, "{path}: {error}");
    }
}
