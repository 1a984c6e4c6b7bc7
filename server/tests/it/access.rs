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
    // The probes and /metrics are not behind the limit.
    for open in ["/-/healthy", "/-/ready", "/health", "/metrics"] {
        assert_eq!(
            send(&app, request("GET", open, None)).await.0,
            StatusCode::OK,
            "{open}"
        );
    }
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

/// Issue 14: with every read slot held, the cheap endpoints that used to
/// bypass the limiter answer 429 too (format_query, parse_query,
/// query_exemplars, metadata, status, admin, snapshot list, unknown paths).
#[tokio::test]
async fn every_route_but_probes_and_metrics_goes_through_the_limiter() {
    let (st, _dir) = state();
    let limits = Limits::new(2, Duration::from_millis(20));
    let app = router(st.with_limits(limits.clone()));
    let held = [limits.hold_read().unwrap(), limits.hold_read().unwrap()];
    for (method, uri) in [
        ("GET", "/api/v1/format_query?query=1"),
        ("GET", "/api/v1/parse_query?query=1"),
        ("GET", "/api/v1/query_exemplars?query=1"),
        ("GET", "/api/v1/metadata"),
        ("GET", "/api/v1/status/buildinfo"),
        ("GET", "/api/v1/status/tsdb"),
        ("GET", "/snapshot/list"),
        ("GET", "/internal/force_flush"),
        ("GET", "/no/such/path"),
    ] {
        let (s, body) = send(&app, request(method, uri, None)).await;
        assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{method} {uri}: {body}");
        assert!(body.contains("too many concurrent reads"), "{uri}: {body}");
    }
    drop(held);
    for uri in [
        "/api/v1/format_query?query=1",
        "/api/v1/parse_query?query=1",
        "/api/v1/query_exemplars?query=1",
    ] {
        let (s, body) = send(&app, request("GET", uri, None)).await;
        assert_eq!(s, StatusCode::OK, "{uri}: {body}");
    }
}

/// Issue 14: the endpoints that delete data or fill the disk answer 403
/// naming `--enable-admin-api` unless it is set; `/snapshot/list` and the
/// force_flush/force_merge endpoints stay open.
#[tokio::test]
async fn destructive_admin_endpoints_are_off_unless_enabled() {
    let (st, dir) = state();
    let off = router(st.clone());
    let destructive = [
        ("POST", "/api/v1/admin/tsdb/delete_series?match[]=up"),
        ("PUT", "/api/v1/admin/tsdb/delete_series?match[]=up"),
        ("POST", "/api/v1/admin/tsdb/snapshot"),
        ("GET", "/snapshot/create"),
        ("GET", "/snapshot/delete?snapshot=x"),
        ("GET", "/snapshot/delete_all"),
    ];
    for (method, uri) in destructive {
        let (s, body) = send(&off, request(method, uri, None)).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{method} {uri}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["status"], "error", "{body}");
        assert!(
            v["error"].as_str().unwrap().contains("--enable-admin-api"),
            "{body}"
        );
    }
    assert!(
        !dir.path().join("snapshots").exists(),
        "no snapshot was written"
    );
    for uri in [
        "/snapshot/list",
        "/internal/force_flush",
        "/internal/force_merge",
    ] {
        let (s, body) = send(&off, request("GET", uri, None)).await;
        assert_eq!(s, StatusCode::OK, "{uri}: {body}");
    }

    let on = router(st.clone().with_auth(AuthConfig {
        admin_enabled: true,
        ..AuthConfig::default()
    }));
    for method in ["POST", "PUT"] {
        let (s, body) = send(
            &on,
            request(method, "/api/v1/admin/tsdb/delete_series?match[]=up", None),
        )
        .await;
        assert_eq!(s, StatusCode::NO_CONTENT, "{method}: {body}");
    }
    let (s, _) = send(
        &on,
        request("GET", "/api/v1/admin/tsdb/delete_series?match[]=up", None),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::METHOD_NOT_ALLOWED,
        "delete_series needs POST"
    );
    let (s, body) = send(&on, request("POST", "/api/v1/admin/tsdb/snapshot", None)).await;
    assert_eq!(s, StatusCode::OK, "{body}");

    // --disable-admin-api wins over --enable-admin-api.
    let both = router(st.with_auth(AuthConfig {
        admin_enabled: true,
        admin_disabled: true,
        ..AuthConfig::default()
    }));
    for (method, uri) in [
        ("POST", "/api/v1/admin/tsdb/delete_series?match[]=up"),
        ("GET", "/snapshot/list"),
        ("GET", "/internal/force_flush"),
    ] {
        let (s, body) = send(&both, request(method, uri, None)).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{uri}: {body}");
    }
}

/// Issue 14: force_flush and force_merge run one at a time: a call waits
/// while another holds the maintenance lock, then runs.
#[tokio::test]
async fn force_flush_waits_for_a_running_flush_or_merge() {
    let (st, _dir) = state();
    let app = router(st.clone());
    let running = st.maintenance.clone().lock_owned().await;
    let call = tokio::spawn({
        let app = app.clone();
        async move { send(&app, request("GET", "/internal/force_merge", None)).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!call.is_finished(), "a second merge ran beside the first");
    drop(running);
    let (s, body) = tokio::time::timeout(Duration::from_secs(10), call)
        .await
        .expect("the waiting merge finishes once the first is done")
        .unwrap();
    assert_eq!(s, StatusCode::OK, "{body}");
    assert!(st.maintenance.try_lock().is_ok(), "the lock is released");
}

/// Issue 14: a line with 100,000 labels, or one 1 MiB label value, is
/// refused with 400 naming the line and the limit, in well under a second
/// (the text parser used to spend 11 s on the duplicate check), in both
/// text formats.
#[tokio::test]
async fn huge_label_sets_are_refused_quickly_on_import() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(dir.path(), Options::default().without_maintenance()).unwrap();
    let app = router(AppState::new(
        Arc::new(storage),
        EvalOptions::default(),
        8 << 20,
    ));
    let many_text: String = (0..100_000).map(|i| format!("l{i}=\"v\",")).collect();
    let many_json: Vec<String> = (0..100_000).map(|i| format!("\"l{i}\":\"v\"")).collect();
    let big = "x".repeat(1 << 20);
    let cases = [
        (
            "/api/v1/import/prometheus",
            format!("ok 1\nm{{{many_text}}} 1\n"),
            "line 2: more than 40 labels (limit 40",
        ),
        (
            "/api/v1/import/prometheus",
            format!("m{{a=\"{big}\"}} 1\n"),
            "line 1: value of label \"a\" is 1048576 bytes long, over the limit of 4096",
        ),
        (
            "/api/v1/import",
            format!(
                "{{\"metric\":{{\"__name__\":\"ok\"}},\"values\":[1],\"timestamps\":[1]}}\n\
                 {{\"metric\":{{{}}},\"values\":[1],\"timestamps\":[1]}}\n",
                many_json.join(",")
            ),
            "line 2: more than 40 labels (limit 40",
        ),
        (
            "/api/v1/import",
            format!(
                "{{\"metric\":{{\"__name__\":\"m\",\"a\":\"{big}\"}},\"values\":[1],\"timestamps\":[1]}}\n"
            ),
            "line 1: value of label \"a\" is 1048576 bytes long, over the limit of 4096",
        ),
    ];
    for (uri, body, want) in cases {
        let started = std::time::Instant::now();
        let (s, answer) = send(&app, Request::post(uri).body(Body::from(body)).unwrap()).await;
        let took = started.elapsed();
        assert_eq!(s, StatusCode::BAD_REQUEST, "{uri}: {answer}");
        let v: serde_json::Value = serde_json::from_str(&answer).unwrap();
        assert!(
            v["error"].as_str().unwrap().contains(want),
            "{uri}: {answer}"
        );
        assert!(took < Duration::from_millis(1000), "{uri} took {took:?}");
    }
}

/// Issue 14: a sample more than `--max-future` (default 2 days) ahead of
/// the storage's clock is refused with 400 naming it and counted as
/// `too_far_in_future`; the other series of the request are stored.
#[tokio::test]
async fn samples_too_far_in_the_future_are_refused_and_counted() {
    use strata_engine::{ManualClock, Matcher, Querier};
    use strata_server::formats::remote_write::WriteRequest;
    const NOW: i64 = 1_800_000_000_000;
    const DAY: i64 = 86_400_000;
    let dir = tempfile::tempdir().unwrap();
    let opts = Options::default()
        .without_maintenance()
        .with_clock(Arc::new(ManualClock::new(NOW)));
    assert_eq!(opts.max_future_ms, 2 * DAY, "the default is two days");
    let storage = Arc::new(Storage::open(dir.path(), opts).unwrap());
    let app = router(AppState::new(
        storage.clone(),
        EvalOptions::default(),
        1 << 20,
    ));
    let req = WriteRequest {
        timeseries: vec![
            crate::api::series("good", &[], &[(NOW, 1.0)]),
            crate::api::series("ahead", &[], &[(NOW + 3 * DAY, 2.0)]),
        ],
        metadata: vec![],
    };
    let (s, body) = crate::api::write(&app, &req).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("too far in the future"), "{body}");
    assert!(body.contains("ahead"), "{body}");

    // The text import refuses it the same way.
    let (s, body) = send(
        &app,
        Request::post("/api/v1/import/prometheus")
            .body(Body::from(format!(
                "good2 1 {NOW}\nahead2 1 {}\n",
                NOW + 3 * DAY
            )))
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body.contains("line 2") && body.contains("too far in the future"),
        "{body}"
    );

    let (_, metrics) = send(&app, request("GET", "/metrics", None)).await;
    assert!(
        metrics.contains(r#"strata_samples_rejected_total{reason="too_far_in_future"} 2"#),
        "{metrics}"
    );
    let q = storage.querier();
    for (name, stored) in [
        ("good", true),
        ("good2", true),
        ("ahead", false),
        ("ahead2", false),
    ] {
        let got = q
            .select(&[Matcher::equal("__name__", name)], i64::MIN, i64::MAX)
            .unwrap();
        assert_eq!(got.len(), usize::from(stored), "{name}");
    }
    assert_eq!(storage.stats().head_max_t, Some(NOW));
}
