//! Authentication, admin protection, concurrency limits, unknown paths.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use strata_engine::{Options, Storage};
use strata_promql::eval::EvalOptions;
use strata_server::auth::AuthConfig;
use strata_server::limits::Limits;
use strata_server::{AppState, router};

use crate::api::{app, send};

fn state() -> (AppState, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(dir.path(), Options::default().without_maintenance()).unwrap();
    (
        AppState::new(Arc::new(storage), EvalOptions::default(), 1 << 20),
        dir,
    )
}

/// Every route, with a method it answers.
const ROUTES: &[(&str, &str)] = &[
    ("POST", "/api/v1/write"),
    ("POST", "/api/v1/read"),
    ("GET", "/api/v1/query?query=1"),
    ("GET", "/api/v1/query_range?query=1&start=0&end=1&step=1"),
    ("GET", "/api/v1/series?match[]=up"),
    ("GET", "/api/v1/labels"),
    ("GET", "/api/v1/label/job/values"),
    ("GET", "/api/v1/status/buildinfo"),
    ("GET", "/api/v1/status/tsdb"),
    ("GET", "/api/v1/format_query?query=1"),
    ("GET", "/api/v1/parse_query?query=1"),
    ("GET", "/api/v1/query_exemplars?query=1"),
    ("GET", "/api/v1/metadata"),
    ("POST", "/api/v1/admin/tsdb/delete_series?match[]=up"),
    ("POST", "/api/v1/admin/tsdb/snapshot"),
    ("GET", "/snapshot/list"),
    ("GET", "/internal/force_flush"),
    ("GET", "/internal/force_merge"),
    ("GET", "/-/healthy"),
    ("GET", "/metrics"),
    ("GET", "/no/such/path"),
];

fn request(method: &str, uri: &str, auth: Option<&str>) -> Request<Body> {
    let mut b = Request::builder().method(method).uri(uri);
    if let Some(a) = auth {
        b = b.header("Authorization", a);
    }
    b.body(Body::empty()).unwrap()
}

#[tokio::test]
async fn every_route_but_the_probes_requires_credentials() {
    let (st, _dir) = state();
    let app = router(st.with_auth(AuthConfig {
        basic: Some(("ann".into(), "pw".into())),
        bearer: Some("tok".into()),
        ..AuthConfig::default()
    }));
    // "ann:pw" in base64.
    let good_basic = "Basic YW5uOnB3";
    for (method, uri) in ROUTES {
        let (s, body) = send(&app, request(method, uri, None)).await;
        assert_eq!(
            s,
            StatusCode::UNAUTHORIZED,
            "{method} {uri} without credentials: {body}"
        );
        assert!(body.contains(r#""status":"error""#), "{uri}: {body}");
        let (s, _) = send(&app, request(method, uri, Some("Bearer wrong"))).await;
        assert_eq!(
            s,
            StatusCode::UNAUTHORIZED,
            "{method} {uri} with a wrong token"
        );
        let (s, _) = send(&app, request(method, uri, Some("Basic YW5uOnB4"))).await;
        assert_eq!(
            s,
            StatusCode::UNAUTHORIZED,
            "{method} {uri} with a wrong password"
        );
        for good in [good_basic, "Bearer tok"] {
            let (s, body) = send(&app, request(method, uri, Some(good))).await;
            assert_ne!(
                s,
                StatusCode::UNAUTHORIZED,
                "{method} {uri} with {good}: {body}"
            );
        }
    }
    for open in ["/health", "/-/ready"] {
        let (s, _) = send(&app, request("GET", open, None)).await;
        assert_eq!(s, StatusCode::OK, "{open} stays open for probes");
    }
}

#[tokio::test]
async fn admin_endpoints_take_their_own_token_or_are_disabled() {
    let (st, _dir) = state();
    let app = router(st.clone().with_auth(AuthConfig {
        bearer: Some("user".into()),
        admin_token: Some("admin".into()),
        ..AuthConfig::default()
    }));
    let uri = "/api/v1/admin/tsdb/delete_series?match[]=up";
    assert_eq!(
        send(&app, request("POST", uri, Some("Bearer user")))
            .await
            .0,
        StatusCode::UNAUTHORIZED,
        "the user token does not open admin endpoints"
    );
    assert_eq!(
        send(&app, request("POST", uri, Some("Bearer admin")))
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        send(
            &app,
            request("GET", "/internal/force_flush?authKey=admin", None)
        )
        .await
        .0,
        StatusCode::OK,
        "VictoriaMetrics-style authKey"
    );
    assert_eq!(
        send(&app, request("GET", "/api/v1/labels", Some("Bearer admin")))
            .await
            .0,
        StatusCode::UNAUTHORIZED,
        "the admin token is not a user credential"
    );

    let off = router(st.with_auth(AuthConfig {
        admin_disabled: true,
        ..AuthConfig::default()
    }));
    for uri in [
        "/api/v1/admin/tsdb/snapshot",
        "/api/v1/admin/tsdb/delete_series?match[]=up",
    ] {
        let (s, body) = send(&off, request("POST", uri, None)).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{uri}: {body}");
    }
    assert_eq!(
        send(&off, request("GET", "/api/v1/labels", None)).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn excess_reads_are_refused_quickly_and_served_again_after() {
    let (st, _dir) = state();
    let limits = Limits::new(1, Duration::from_millis(50));
    let app = router(st.with_limits(limits.clone()));
    let held = limits.hold_read().expect("the only read slot");
    let started = std::time::Instant::now();
    let (s, body) = send(&app, request("GET", "/api/v1/labels", None)).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(body.contains("too many concurrent reads"), "{body}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // Other kinds are not blocked by the read limit.
    assert_eq!(
        send(&app, request("GET", "/api/v1/status/buildinfo", None))
            .await
            .0,
        StatusCode::OK
    );
    drop(held);
    assert_eq!(
        send(&app, request("GET", "/api/v1/labels", None)).await.0,
        StatusCode::OK
    );
    let (_, metrics) = send(&app, request("GET", "/metrics", None)).await;
    assert!(
        metrics.contains("strata_requests_refused_total 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn unknown_paths_get_json_404() {
    let (app, _dir) = app();
    let (s, body) = send(&app, request("GET", "/api/v1/nope", None)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "error");
    assert!(v["error"].as_str().unwrap().contains("/api/v1/nope"));
}
