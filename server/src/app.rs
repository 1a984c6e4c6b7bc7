//! The router and its state; tests drive it without a socket.

use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use strata_engine::Storage;
use strata_promql::eval::EvalOptions;

use crate::api;
use crate::error::{ApiError, ErrorType};
use crate::ingest;

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The storage, set once it is open and the WAL replayed; until then
    /// `/-/ready` and every data endpoint answer 503.
    pub storage: Arc<OnceLock<Arc<Storage>>>,
    /// Query settings (lookback, limits, timeout).
    pub eval: EvalOptions,
    /// Largest request body accepted, in bytes.
    pub max_request_bytes: usize,
    /// Metric metadata received over remote_write, by metric family name.
    pub metadata: Arc<crate::metadata::Store>,
    /// The server's own metrics.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Credentials the API requires.
    pub auth: Arc<crate::auth::AuthConfig>,
    /// Concurrency limits.
    pub limits: crate::limits::Limits,
    /// Held while `/internal/force_flush` or `/internal/force_merge` runs,
    /// so they run one at a time (a second call waits for the first).
    pub maintenance: Arc<tokio::sync::Mutex<()>>,
    /// Decompression cap and the memory budget of request bodies.
    pub bodies: crate::body::BodyLimits,
    /// How InfluxDB line protocol points become series.
    pub influx: Arc<crate::ingest::influx::InfluxConfig>,
    /// OTLP translation settings (`--otlp-promote-resource-attributes`).
    pub otlp: Arc<crate::formats::otlp::translate::Options>,
}

impl AppState {
    /// State with no storage yet (it is being opened).
    pub fn opening(eval: EvalOptions, max_request_bytes: usize) -> AppState {
        AppState {
            storage: Arc::new(OnceLock::new()),
            eval,
            max_request_bytes,
            metadata: Default::default(),
            metrics: Default::default(),
            auth: Default::default(),
            limits: Default::default(),
            maintenance: Default::default(),
            bodies: Default::default(),
            influx: Default::default(),
            otlp: Default::default(),
        }
    }

    /// The same state requiring `auth`.
    pub fn with_auth(mut self, auth: crate::auth::AuthConfig) -> AppState {
        self.auth = Arc::new(auth);
        self
    }

    /// The same state with `limits`.
    pub fn with_limits(mut self, limits: crate::limits::Limits) -> AppState {
        self.limits = limits;
        self
    }

    /// The same state with OTLP translation settings.
    pub fn with_otlp(mut self, otlp: crate::formats::otlp::translate::Options) -> AppState {
        self.otlp = Arc::new(otlp);
        self
    }

    /// The same state with body limits `bodies`.
    pub fn with_body_limits(mut self, bodies: crate::body::BodyLimits) -> AppState {
        self.bodies = bodies;
        self
    }

    /// The same state with line protocol mapping `influx`.
    pub fn with_influx(mut self, influx: crate::ingest::influx::InfluxConfig) -> AppState {
        self.influx = Arc::new(influx);
        self
    }

    /// State over an open storage.
    pub fn new(storage: Arc<Storage>, eval: EvalOptions, max_request_bytes: usize) -> AppState {
        let st = AppState::opening(eval, max_request_bytes);
        let _ = st.storage.set(storage);
        st
    }

    /// 413 for a request body over `max_request_bytes`.
    pub fn check_body_len(&self, len: usize) -> Result<(), ApiError> {
        if len <= self.max_request_bytes {
            return Ok(());
        }
        let mut e = ApiError::bad_data(format!(
            "request body of {len} bytes exceeds the limit of {} bytes",
            self.max_request_bytes
        ));
        e.status = Some(StatusCode::PAYLOAD_TOO_LARGE);
        Err(e)
    }

    /// Stores an ingest batch and counts its samples: 503 (clients retry)
    /// when it cannot be stored.
    pub fn commit(&self, app: strata_engine::Appender<'_>) -> Result<(), ApiError> {
        let stored = app.len() as u64;
        app.commit().map_err(|e| {
            ApiError::new(
                ErrorType::Unavailable,
                format!("storing samples failed: {e}"),
            )
        })?;
        self.metrics.samples_ingested.inc_by(stored);
        Ok(())
    }

    /// The storage, or a 503 while it is still opening.
    pub fn storage(&self) -> Result<Arc<Storage>, ApiError> {
        self.storage.get().cloned().ok_or_else(|| {
            ApiError::new(
                ErrorType::Unavailable,
                "storage is opening (WAL replay in progress)",
            )
        })
    }
}

async fn ready(State(st): State<AppState>) -> impl IntoResponse {
    if st.storage.get().is_some() {
        (StatusCode::OK, "Strata is Ready.\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable\n")
    }
}

async fn metrics(State(st): State<AppState>) -> impl IntoResponse {
    let stats = st.storage.get().map(|s| s.stats());
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        st.metrics.render(stats.as_ref()),
    )
}

/// Counts each request by route and status code.
async fn count_requests(
    State(st): State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let path = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "other".to_owned(), |p| p.as_str().to_owned());
    let res = next.run(req).await;
    st.metrics
        .http_requests
        .get_or_create(&crate::metrics::HttpLabels {
            path,
            code: res.status().as_u16().to_string(),
        })
        .inc();
    res
}

/// Unknown paths: 404 with Prometheus' error JSON.
async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError {
        kind: ErrorType::BadData,
        message: format!("unknown path {:?}", uri.path()),
        status: Some(StatusCode::NOT_FOUND),
    }
}

/// All routes.
pub fn router(state: AppState) -> Router {
    let body_limit = state.max_request_bytes.saturating_add(1024);
    Router::new()
        .route("/api/v1/write", post(ingest::remote_write::write))
        .route(
            "/api/v1/import/prometheus",
            post(ingest::import::prometheus),
        )
        .route("/api/v1/import", post(ingest::import::json_lines))
        .route("/write", post(ingest::influx::write))
        .route("/api/v2/write", post(ingest::influx::write))
        .route("/influx/write", post(ingest::influx::write))
        .route("/opentelemetry/v1/metrics", post(ingest::otlp::write))
        .route("/api/v1/otlp/v1/metrics", post(ingest::otlp::write))
        .route(
            "/api/v1/export",
            get(api::export::export).post(api::export::export),
        )
        .route("/api/v1/read", post(api::remote_read::read))
        .route(
            "/api/v1/query",
            get(api::query::query).post(api::query::query),
        )
        .route(
            "/api/v1/query_range",
            get(api::query::query_range).post(api::query::query_range),
        )
        .route(
            "/api/v1/series",
            get(api::series::series).post(api::series::series),
        )
        .route(
            "/api/v1/labels",
            get(api::labels::labels).post(api::labels::labels),
        )
        .route(
            "/api/v1/label/{name}/values",
            get(api::labels::label_values),
        )
        .route("/api/v1/status/buildinfo", get(api::status::buildinfo))
        .route("/api/v1/status/tsdb", get(api::status::tsdb_status))
        .route(
            "/api/v1/format_query",
            get(api::query::format_query).post(api::query::format_query),
        )
        .route(
            "/api/v1/parse_query",
            get(api::parse_query::handler).post(api::parse_query::handler),
        )
        .route(
            "/api/v1/query_exemplars",
            get(api::query::query_exemplars).post(api::query::query_exemplars),
        )
        .route("/api/v1/metadata", get(api::status::metadata))
        .route(
            "/api/v1/admin/tsdb/delete_series",
            post(api::admin::delete_series).put(api::admin::delete_series),
        )
        .route(
            "/api/v1/admin/tsdb/snapshot",
            post(api::snapshot::prometheus_create).put(api::snapshot::prometheus_create),
        )
        .route(
            "/snapshot/create",
            get(api::snapshot::vm_create).post(api::snapshot::vm_create),
        )
        .route("/snapshot/list", get(api::snapshot::vm_list))
        .route(
            "/snapshot/delete",
            get(api::snapshot::vm_delete).post(api::snapshot::vm_delete),
        )
        .route(
            "/snapshot/delete_all",
            get(api::snapshot::vm_delete_all).post(api::snapshot::vm_delete_all),
        )
        .route("/internal/force_flush", get(api::admin::force_flush))
        .route("/internal/force_merge", get(api::admin::force_merge))
        .route("/health", get(|| async { "OK\n" }))
        .route("/-/healthy", get(|| async { "Strata is Healthy.\n" }))
        .route("/-/ready", get(ready))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::limits::limit_concurrency,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::auth::require_auth,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            count_requests,
        ))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}
