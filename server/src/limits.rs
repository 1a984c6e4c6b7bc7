//! Concurrency limits: at most N writes and N reads run at once; a request
//! that cannot start within the queue wait is refused quickly (503 for
//! writes, so remote_write clients retry; 429 for reads), instead of piling
//! up memory.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use crate::app::AppState;
use crate::error::{ApiError, ErrorType};

/// The limits and their permits.
#[derive(Debug, Clone)]
pub struct Limits {
    writes: Arc<Semaphore>,
    reads: Arc<Semaphore>,
    max: usize,
    queue_wait: Duration,
}

impl Limits {
    /// At most `max` writes and `max` reads at once, each waiting at most
    /// `queue_wait` for a slot.
    pub fn new(max: usize, queue_wait: Duration) -> Limits {
        let max = max.max(1);
        Limits {
            writes: Arc::new(Semaphore::new(max)),
            reads: Arc::new(Semaphore::new(max)),
            max,
            queue_wait,
        }
    }
}

impl Limits {
    /// Takes a read slot and holds it until the permit is dropped (lets
    /// tests and tools saturate the limit deterministically).
    pub fn hold_read(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.reads.clone().try_acquire_owned().ok()
    }

    /// The same limits with another queue wait.
    pub fn with_queue_wait(mut self, queue_wait: Duration) -> Limits {
        self.queue_wait = queue_wait;
        self
    }
}

impl Default for Limits {
    /// Four times the cores for each kind, a one-second queue.
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        Limits::new(cores * 4, Duration::from_secs(1))
    }
}

enum Kind {
    Write,
    Read,
}

/// The limit a request counts against: writes for the ingest paths, reads
/// for everything else (queries, metadata, status, admin, snapshots and
/// unknown paths alike), none only for the probes and `/metrics`, which
/// must answer while the server is saturated.
fn kind(path: &str) -> Option<Kind> {
    match path {
        "/health" | "/-/healthy" | "/-/ready" | "/metrics" => None,
        "/api/v1/write"
        | "/api/v1/import"
        | "/api/v1/import/prometheus"
        | "/write"
        | "/api/v2/write"
        | "/influx/write"
        | "/opentelemetry/v1/metrics"
        | "/api/v1/otlp/v1/metrics" => Some(Kind::Write),
        _ => Some(Kind::Read),
    }
}

/// Middleware: holds a permit of the request's kind while it runs.
pub async fn limit_concurrency(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let (sem, status, what) = match kind(req.uri().path()) {
        None => return next.run(req).await,
        Some(Kind::Write) => (&st.limits.writes, StatusCode::SERVICE_UNAVAILABLE, "writes"),
        Some(Kind::Read) => (&st.limits.reads, StatusCode::TOO_MANY_REQUESTS, "reads"),
    };
    let permit = match tokio::time::timeout(st.limits.queue_wait, sem.clone().acquire_owned()).await
    {
        Ok(Ok(p)) => p,
        _ => {
            st.metrics.requests_refused.inc();
            return ApiError {
                kind: ErrorType::Unavailable,
                message: format!(
                    "too many concurrent {what} (limit {}, --max-concurrent-requests); retry later",
                    st.limits.max
                ),
                status: Some(status),
            }
            .into_response();
        }
    };
    let res = next.run(req).await;
    // The slot is held until the body is sent: a streamed body (export)
    // does its work after the handler returns.
    let (parts, body) = res.into_parts();
    let guarded = Guarded {
        inner: body.into_data_stream(),
        _permit: permit,
    };
    Response::from_parts(parts, axum::body::Body::from_stream(guarded))
}

/// A body stream that holds a concurrency permit until it is dropped.
struct Guarded {
    inner: axum::body::BodyDataStream,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl futures_core::Stream for Guarded {
    type Item = Result<axum::body::Bytes, axum::Error>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        std::pin::Pin::new(&mut self.inner).poll_next(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::{Kind, kind};

    #[test]
    fn only_probes_and_metrics_bypass_the_limiter() {
        for p in ["/health", "/-/healthy", "/-/ready", "/metrics"] {
            assert!(kind(p).is_none(), "{p}");
        }
        for p in [
            "/api/v1/write",
            "/api/v1/import",
            "/api/v1/import/prometheus",
            "/write",
            "/api/v2/write",
            "/influx/write",
        ] {
            assert!(matches!(kind(p), Some(Kind::Write)), "{p}");
        }
        for p in [
            "/api/v1/format_query",
            "/api/v1/parse_query",
            "/api/v1/query_exemplars",
            "/api/v1/metadata",
            "/api/v1/status/buildinfo",
            "/api/v1/admin/tsdb/delete_series",
            "/snapshot/list",
            "/internal/force_flush",
            "/no/such/path",
            "/metrics/x",
        ] {
            assert!(matches!(kind(p), Some(Kind::Read)), "{p}");
        }
    }
}
