//! `/api/v1/import/prometheus`, `/api/v1/import` and `/api/v1/export`
//! through the router.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use strata_engine::{Options, STALE_NAN, Storage};
use strata_promql::eval::EvalOptions;
use strata_server::formats::remote_write::{Label, Sample, TimeSeries, WriteRequest, encode};
use strata_server::{AppState, router};
use tower::ServiceExt;

fn app() -> (axum::Router, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(dir.path(), Options::default().without_maintenance()).unwrap();
    let state = AppState::new(Arc::new(storage), EvalOptions::default(), 1 << 20);
    (router(state), dir)
}

/// A whole-second time ten minutes ago, in ms.
fn t0() -> i64 {
    let now = strata_engine::Clock::now_ms(&strata_engine::SystemClock);
    (now - 600_000) / 1000 * 1000
}

/// Percent-encodes a query parameter value.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

async fn send(app: &axum::Router, req: Request<Body>) -> (StatusCode, String, Option<String>) {
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let ct = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned(), ct)
}

async fn post(app: &axum::Router, uri: &str, body: &str) -> (StatusCode, String) {
    let (s, b, _) = send(
        app,
        Request::post(uri)
            .body(Body::from(body.to_owned()))
            .unwrap(),
    )
    .await;
    (s, b)
}

async fn get_json(app: &axum::Router, uri: &str) -> serde_json::Value {
    let (s, b, _) = send(app, Request::get(uri).body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::OK, "{uri}: {b}");
    serde_json::from_str(&b).unwrap()
}

async fn export(app: &axum::Router, selectors: &[&str]) -> String {
    let q: Vec<String> = selectors
        .iter()
        .map(|m| format!("match[]={}", enc(m)))
        .collect();
    let (s, b, ct) = send(
        app,
        Request::get(format!("/api/v1/export?{}", q.join("&")))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(ct.as_deref(), Some("application/stream+json"));
    b
}

async fn instant(app: &axum::Router, query: &str, t_ms: i64) -> serde_json::Value {
    let v = get_json(
        app,
        &format!(
            "/api/v1/query?query={}&time={}",
            enc(query),
            t_ms as f64 / 1000.0
        ),
    )
    .await;
    v["data"]["result"].clone()
}

const ALL: &str = r#"{__name__=~".+"}"#;

#[tokio::test]
async fn import_text_with_and_without_timestamps() {
    let (app, _dir) = app();
    let t = t0();
    let body = format!(
        "# HELP http_requests_total Requests.\\nBy code.\n\
         # TYPE http_requests_total counter\n\
         # TYPE temp gauge\n\
         http_requests_total{{code=\"200\",path=\"/a \\\"b\\\"\\\\c\\nd\",}} 1027 {t}\r\n\
         http_requests_total{{code=\"500\"}} +Inf {}\n\
         temp -3.5\n\
         \n",
        t + 1000
    );
    let uri = format!("/api/v1/import/prometheus?timestamp={}", (t + 2000) / 1000);
    let (s, b) = post(&app, &uri, &body).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");

    let r = instant(&app, "http_requests_total", t + 2000).await;
    assert_eq!(r.as_array().unwrap().len(), 2, "{r}");
    assert_eq!(r[0]["metric"]["path"], "/a \"b\"\\c\nd");
    assert_eq!(r[0]["value"][1], "1027");
    assert_eq!(r[1]["value"][1], "+Inf");
    // No timestamp: the `timestamp` parameter.
    assert!(instant(&app, "temp", t + 1999).await[0].is_null());
    assert_eq!(instant(&app, "temp", t + 2000).await[0]["value"][1], "-3.5");

    let md = get_json(&app, "/api/v1/metadata").await;
    assert_eq!(
        md["data"]["http_requests_total"][0],
        serde_json::json!({"type": "counter", "help": "Requests.\nBy code.", "unit": ""})
    );
    assert_eq!(md["data"]["temp"][0]["type"], "gauge");

    // Without a `timestamp` parameter: now.
    let (s, b) = post(&app, "/api/v1/import/prometheus", "fresh 7\n").await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    let now = strata_engine::Clock::now_ms(&strata_engine::SystemClock);
    assert_eq!(instant(&app, "fresh", now + 1000).await[0]["value"][1], "7");
}

#[tokio::test]
async fn import_json_lines_then_query_and_export() {
    let (app, _dir) = app();
    let t = t0();
    let body = format!(
        "{{\"metric\":{{\"__name__\":\"up\",\"job\":\"node\"}},\"values\":[1,0,\"NaN\",\"-Inf\",2.5],\"timestamps\":[{},{},{},{},{}]}}\n\
         {{\"metric\":{{\"job\":\"api\",\"__name__\":\"up\"}},\"values\":[1],\"timestamps\":[{t}]}}\n",
        t,
        t + 15_000,
        t + 30_000,
        t + 45_000,
        t + 60_000
    );
    let (s, b) = post(&app, "/api/v1/import", &body).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");

    let r = instant(&app, r#"up{job="node"}"#, t + 60_000).await;
    assert_eq!(r[0]["value"][1], "2.5");
    let r = instant(&app, r#"up{job="node"}"#, t + 45_000).await;
    assert_eq!(r[0]["value"][1], "-Inf");

    let got = export(&app, &["up"]).await;
    assert_eq!(
        got,
        format!(
            "{{\"metric\":{{\"__name__\":\"up\",\"job\":\"api\"}},\"values\":[1],\"timestamps\":[{t}]}}\n\
             {{\"metric\":{{\"__name__\":\"up\",\"job\":\"node\"}},\"values\":[1,0,null,\"-Infinity\",2.5],\"timestamps\":[{},{},{},{},{}]}}\n",
            t,
            t + 15_000,
            t + 30_000,
            t + 45_000,
            t + 60_000
        )
    );

    // A time range, by POST form.
    let (s, b, _) = send(
        &app,
        Request::post("/api/v1/export")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(format!(
                "match[]={}&start={}&end={}",
                enc(r#"up{job="node"}"#),
                (t + 15_000) / 1000,
                (t + 30_000) / 1000
            )))
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        b,
        format!(
            "{{\"metric\":{{\"__name__\":\"up\",\"job\":\"node\"}},\"values\":[0,null],\"timestamps\":[{},{}]}}\n",
            t + 15_000,
            t + 30_000
        )
    );
}

#[tokio::test]
async fn export_then_import_round_trips_byte_for_byte() {
    let (a, _d1) = app();
    let t = t0();
    let mut text = String::new();
    for i in 0..600 {
        text.push_str(&format!(
            "m{}{{i=\"{i}\",odd=\"q\\\"\\\\\\n{}\"}} {} {}\n",
            i % 3,
            "é".repeat(i % 4),
            [0.1, -0.0, 1e300, 5e-324, f64::NAN, f64::INFINITY][i % 6],
            t + i as i64
        ));
        text.push_str(&format!("m0{{i=\"{i}\"}} {i}.5 {}\n", t + 7 + i as i64));
    }
    let (s, b) = post(&a, "/api/v1/import/prometheus", &text).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    // A staleness marker is not exported.
    let req = WriteRequest {
        timeseries: vec![TimeSeries {
            labels: vec![Label {
                name: "__name__".into(),
                value: "m1".into(),
            }],
            samples: vec![
                Sample {
                    value: 4.0,
                    timestamp: t,
                },
                Sample {
                    value: STALE_NAN,
                    timestamp: t + 1,
                },
            ],
        }],
        metadata: vec![],
    };
    let (s, _, _) = send(
        &a,
        Request::post("/api/v1/write")
            .body(Body::from(encode(&req)))
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);

    let first = export(&a, &[ALL]).await;
    assert_eq!(first.lines().count(), 1201);
    assert!(first.len() > 64 * 1024, "more than one chunk");
    assert!(first.contains(&format!(
        "{{\"metric\":{{\"__name__\":\"m1\"}},\"values\":[4],\"timestamps\":[{t}]}}\n"
    )));

    let (b2, _d2) = app();
    let (s, b) = post(&b2, "/api/v1/import", &first).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    assert_eq!(export(&b2, &[ALL]).await, first);
    // Several selectors: each series once, in label order.
    assert_eq!(export(&b2, &["m1", "m0", ALL, "m2"]).await, first);
}

#[tokio::test]
async fn bad_input_is_refused_naming_the_line_and_nothing_is_stored() {
    let (app, _dir) = app();
    let t = t0();
    let (s, b) = post(
        &app,
        "/api/v1/import/prometheus",
        &format!("a 1 {t}\n# TYPE a gauge\nb{{x 1}} 2 {t}\nc 3 {t}\n"),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let v: serde_json::Value = serde_json::from_str(&b).unwrap();
    assert_eq!(v["errorType"], "bad_data");
    assert_eq!(
        v["error"],
        "line 3: expected '=' after label name, found '1'"
    );

    let ok = format!("{{\"metric\":{{\"__name__\":\"a\"}},\"values\":[1],\"timestamps\":[{t}]}}");
    let (s, b) = post(
        &app,
        "/api/v1/import",
        &format!("{ok}\n{ok}\n{{\"metric\":{{\"__name__\":\"b\"}},\"values\":[1,2],\"timestamps\":[{t}]}}\n{ok}\n"),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(b.contains("line 3: 2 values but 1 timestamps"), "{b}");
    let (s, b) = post(&app, "/api/v1/import", "{\"metric\":{}}\nnot json\n").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(b.contains("line 1: missing field `values`"), "{b}");

    let v = get_json(&app, &format!("/api/v1/series?match[]={}", enc(ALL))).await;
    assert_eq!(v["data"], serde_json::json!([]));
    let md = get_json(&app, "/api/v1/metadata").await;
    assert_eq!(md["data"], serde_json::json!({}));

    // Labels the storage refuses: reported, the valid series stored.
    let (s, b) = post(
        &app,
        "/api/v1/import",
        &format!("{ok}\n{{\"metric\":{{\"a-b\":\"x\"}},\"values\":[1],\"timestamps\":[{t}]}}\n"),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(b.contains("1 samples refused; first: line 2:"), "{b}");
    assert_eq!(instant(&app, "a", t).await[0]["value"][1], "1");
}

#[tokio::test]
async fn extra_labels_are_added_to_every_series() {
    let (app, _dir) = app();
    let t = t0();
    let (s, b) = post(
        &app,
        "/api/v1/import/prometheus?extra_label=env=prod&extra_label=job=forced",
        &format!("x{{job=\"a\"}} 1 {t}\ny 2 {t}\n"),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    let (s, b) = post(
        &app,
        "/api/v1/import?extra_label=env=dev",
        &format!("{{\"metric\":{{\"__name__\":\"z\",\"env\":\"x\"}},\"values\":[3],\"timestamps\":[{t}]}}"),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    assert_eq!(
        export(&app, &[ALL]).await,
        format!(
            "{{\"metric\":{{\"__name__\":\"x\",\"env\":\"prod\",\"job\":\"forced\"}},\"values\":[1],\"timestamps\":[{t}]}}\n\
             {{\"metric\":{{\"__name__\":\"y\",\"env\":\"prod\",\"job\":\"forced\"}},\"values\":[2],\"timestamps\":[{t}]}}\n\
             {{\"metric\":{{\"__name__\":\"z\",\"env\":\"dev\"}},\"values\":[3],\"timestamps\":[{t}]}}\n"
        )
    );
    for bad in ["extra_label=novalue", "extra_label=1x=y"] {
        let (s, b) = post(&app, &format!("/api/v1/import?{bad}"), "").await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {b}");
        assert!(b.contains("extra_label"), "{b}");
    }
}

#[tokio::test]
async fn request_errors() {
    let (app, _dir) = app();
    let (s, b, _) = send(
        &app,
        Request::get("/api/v1/export").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert!(b.contains("no match[] parameter provided"));
    let (s, _, _) = send(
        &app,
        Request::get("/api/v1/export?match[]=up&start=yesterday")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _, _) = send(
        &app,
        Request::get("/api/v1/export?match[]=rate(up%5B5m%5D)")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // Nothing matches: an empty body.
    assert_eq!(export(&app, &["nothing"]).await, "");

    let (s, _) = post(&app, "/api/v1/import/prometheus?timestamp=soon", "a 1\n").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = post(&app, "/api/v1/import", &" ".repeat((1 << 20) + 1)).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    let (s, b, _) = send(
        &app,
        Request::post("/api/v1/import/prometheus")
            .header("content-encoding", "br")
            .body(Body::from("a 1\n"))
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{b}");
    let (s, _, _) = send(
        &app,
        Request::get("/api/v1/import").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
}
