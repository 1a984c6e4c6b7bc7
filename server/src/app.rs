//! The router and its state; tests drive it without a socket.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use strata_engine::Storage;
use strata_promql::eval::EvalOptions;

use crate::api;
use crate::ingest;

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The storage.
    pub storage: Arc<Storage>,
    /// Query settings (lookback, limits, timeout).
    pub eval: EvalOptions,
    /// Largest request body accepted, in bytes.
    pub max_request_bytes: usize,
    /// Set once the storage is open and the WAL replayed.
    pub ready: Arc<AtomicBool>,
    /// Metric metadata received over remote_write, by metric family name.
    pub metadata:
        Arc<parking_lot::RwLock<std::collections::BTreeMap<String, crate::api::Metadata>>>,
}

async fn ready(State(st): State<AppState>) -> impl IntoResponse {
    if st.ready.load(Ordering::Acquire) {
        (StatusCode::OK, "Strata is Ready.\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable\n")
    }
}

/// All routes.
pub fn router(state: AppState) -> Router {
    let body_limit = state.max_request_bytes.saturating_add(1024);
    Router::new()
        .route("/api/v1/write", post(ingest::handler::write))
        .route("/api/v1/query", get(api::query).post(api::query))
        .route(
            "/api/v1/query_range",
            get(api::query_range).post(api::query_range),
        )
        .route("/api/v1/series", get(api::series).post(api::series))
        .route("/api/v1/labels", get(api::labels).post(api::labels))
        .route("/api/v1/label/{name}/values", get(api::label_values))
        .route("/api/v1/status/buildinfo", get(api::buildinfo))
        .route("/api/v1/status/tsdb", get(api::tsdb_status))
        .route(
            "/api/v1/format_query",
            get(api::format_query).post(api::format_query),
        )
        .route(
            "/api/v1/query_exemplars",
            get(api::query_exemplars).post(api::query_exemplars),
        )
        .route("/api/v1/metadata", get(api::metadata))
        .route(
            "/api/v1/admin/tsdb/delete_series",
            post(api::delete_series).put(api::delete_series),
        )
        .route("/internal/force_flush", get(api::force_flush))
        .route("/internal/force_merge", get(api::force_merge))
        .route("/health", get(|| async { "OK\n" }))
        .route("/-/healthy", get(|| async { "Strata is Healthy.\n" }))
        .route("/-/ready", get(ready))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}
