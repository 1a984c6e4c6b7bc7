//! How the query API answers a storage failure, through the router with no
//! socket: a damaged chunk is a 500 `internal` naming the file (issue 21:
//! storage errors keep their class up to the HTTP answer).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::http::StatusCode;
use strata_engine::{Labels, Options, Storage};
use strata_promql::eval::EvalOptions;
use strata_server::{AppState, router};

use crate::api::get;

/// The `chunks/000001` file of the one block in `blocks`.
fn chunk_file(blocks: &Path) -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir(blocks)
        .unwrap()
        .map(|e| e.unwrap().path().join("chunks").join("000001"))
        .filter(|p| p.is_file())
        .collect();
    assert_eq!(found.len(), 1, "one block expected: {found:?}");
    found.remove(0)
}

#[tokio::test]
async fn query_meeting_a_damaged_chunk_is_500_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let opts = || Options::default().without_maintenance();
    // An hour of samples, recent (older data is past retention) and inside
    // one two-hour block window, so the flush writes one block.
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let base_ms = (now_s - 4 * 3600).div_euclid(7200) * 7200 * 1000;
    {
        let storage = Storage::open(dir.path(), opts()).unwrap();
        let labels = Labels::from_pairs(&[("__name__", "m"), ("job", "a")]).unwrap();
        let mut app = storage.appender();
        for k in 0..240i64 {
            app.append(&labels, base_ms + k * 15_000, k as f64).unwrap();
        }
        app.commit().unwrap();
        storage.flush().unwrap();
        storage.close().unwrap();
    }
    // A byte in the middle of the chunk segment: past its header, so the
    // block opens and the damage is met when the query reads the chunk.
    let file = chunk_file(&dir.path().join("blocks"));
    let mut bytes = std::fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x5a;
    std::fs::write(&file, &bytes).unwrap();

    let storage = Storage::open(dir.path(), opts()).unwrap();
    let app = router(AppState::new(
        Arc::new(storage),
        EvalOptions::default(),
        1 << 20,
    ));
    let uri = format!("/api/v1/query?query=m[1h]&time={}", base_ms / 1000 + 3600);
    let (status, body) = get(&app, &uri).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert_eq!(body["status"], "error", "{body}");
    assert_eq!(body["errorType"], "internal", "{body}");
    let message = body["error"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("corruption in ") && message.contains("chunks/000001"),
        "the answer must name the damaged chunk file: {message}"
    );
}
