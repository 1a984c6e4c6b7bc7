//! Snapshots over HTTP (Prometheus' and VictoriaMetrics' endpoints), and
//! parse_query's tree.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use strata_engine::{Options, Querier, Storage};
use strata_server::formats::remote_write::WriteRequest;

use crate::api::{admin_app, app, get, now_based, send, series, write};

#[tokio::test]
async fn snapshots_are_created_listed_opened_and_deleted() {
    let (app, dir) = admin_app();
    let t = now_based(0);
    let req = WriteRequest {
        timeseries: vec![series("up", &[("job", "a")], &[(t, 1.0), (t + 1000, 2.0)])],
        metadata: vec![],
    };
    assert_eq!(write(&app, &req).await.0, StatusCode::NO_CONTENT);

    let (s, body) = send(
        &app,
        Request::post("/api/v1/admin/tsdb/snapshot")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let name = v["data"]["name"].as_str().unwrap().to_owned();
    assert_eq!(name.len(), "20261129T160102Z-".len() + 16, "{name}");

    // The snapshot opens as a data directory with the data in it.
    let snap = dir.path().join("snapshots").join(&name);
    let copy = Storage::open(&snap, Options::default().without_maintenance()).unwrap();
    let got = copy
        .querier()
        .select(&[strata_engine::Matcher::equal("job", "a")], t, t + 1000)
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].samples().unwrap().len(), 2);
    copy.close().unwrap();

    let (s, body) = send(
        &app,
        Request::get("/snapshot/create")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "ok");
    let second = v["snapshot"].as_str().unwrap().to_owned();

    let (_, v) = get(&app, "/snapshot/list").await;
    let mut expected = vec![name.clone(), second.clone()];
    expected.sort();
    assert_eq!(v["snapshots"], serde_json::json!(expected));

    let (s, _) = get(&app, &format!("/snapshot/delete?snapshot={name}")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(!snap.exists());
    let (s, _) = get(&app, "/snapshot/delete?snapshot=..").await;
    assert_eq!(
        s,
        StatusCode::BAD_REQUEST,
        "only listed snapshots can be deleted"
    );
    let (s, _) = get(&app, "/snapshot/delete_all").await;
    assert_eq!(s, StatusCode::OK);
    let (_, v) = get(&app, "/snapshot/list").await;
    assert_eq!(v["snapshots"], serde_json::json!([]));
    assert!(
        dir.path().join("wal").exists(),
        "the live data is untouched"
    );
}

#[tokio::test]
async fn parse_query_returns_the_tree() {
    let (app, _dir) = app();
    let (s, v) = get(
        &app,
        "/api/v1/parse_query?query=sum+by+(job)(rate(up%7Bjob%3D%22a%22%7D%5B5m%5D))",
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let d = &v["data"];
    assert_eq!(d["type"], "aggregation");
    assert_eq!(d["op"], "sum");
    assert_eq!(d["grouping"], serde_json::json!(["job"]));
    assert_eq!(d["expr"]["type"], "call");
    assert_eq!(d["expr"]["args"][0]["type"], "matrixSelector");
    assert_eq!(d["expr"]["args"][0]["range"], 300_000);
    let (s, v) = get(&app, "/api/v1/parse_query?query=sum(").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["errorType"], "bad_data");
}
