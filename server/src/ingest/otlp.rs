//! `POST /opentelemetry/v1/metrics` and `POST /api/v1/otlp/v1/metrics`:
//! OTLP/HTTP metrics export, answered as the OTLP/HTTP spec says.
//!
//! - `Content-Type: application/x-protobuf` or `application/json`, else
//!   415; `Content-Encoding: gzip` (or the other encodings imports take)
//!   or none.
//! - 200 with an `ExportMetricsServiceResponse` in the request's encoding;
//!   when points were not stored (delta temporality, exponential
//!   histograms, names that normalise to nothing, series the storage
//!   refuses) its `partial_success` counts them and says why. The sender
//!   must not retry those.
//! - 400 for a body that does not decode (permanent), 413 over a size cap,
//!   503 when the body memory budget is used up, the storage is opening or
//!   cannot store, 503/429 from the concurrency limits: those are
//!   retryable. Error bodies are Prometheus' error JSON.
//!
//! Samples go through the same appender, limits and commit as
//! remote_write; refusals are counted in `strata_samples_rejected`.

use std::collections::HashSet;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use prost::Message;

use crate::app::AppState;
use crate::body;
use crate::error::{ApiError, ErrorType};
use crate::formats::otlp::proto::{ExportMetricsPartialSuccess, ExportMetricsServiceResponse};
use crate::formats::otlp::translate::{Outcome, translate};
use crate::formats::otlp::{json, proto};

/// The encoding of a request (and of its answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `application/x-protobuf`.
    Protobuf,
    /// `application/json`.
    Json,
}

impl Format {
    /// The format a `Content-Type` names; `None` when unsupported.
    pub fn of(content_type: &str) -> Option<Format> {
        let media = content_type.split(';').next().unwrap_or_default().trim();
        if media.eq_ignore_ascii_case("application/x-protobuf") {
            Some(Format::Protobuf)
        } else if media.eq_ignore_ascii_case("application/json") {
            Some(Format::Json)
        } else {
            None
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Format::Protobuf => "application/x-protobuf",
            Format::Json => "application/json",
        }
    }
}

/// Stores an OTLP/HTTP metrics export.
pub async fn write(State(st): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    match receive(st, &headers, body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn receive(st: AppState, headers: &HeaderMap, body: Body) -> Result<Response, ApiError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or("?"))
        .unwrap_or_default();
    let format = Format::of(ct).ok_or_else(|| {
        let mut e = ApiError::bad_data(format!(
            "unsupported Content-Type {ct:?}: OTLP/HTTP takes application/x-protobuf or application/json"
        ));
        e.status = Some(StatusCode::UNSUPPORTED_MEDIA_TYPE);
        e
    })?;
    body::with_decoded(st, headers, body, move |st, raw| store(st, format, raw)).await
}

/// Decodes, translates and stores a decompressed body.
fn store(st: &AppState, format: Format, raw: &[u8]) -> Result<Response, ApiError> {
    let req = match format {
        Format::Protobuf => proto::decode(raw)
            .map_err(|e| ApiError::bad_data(format!("cannot decode OTLP protobuf: {e}")))?,
        Format::Json => json::decode(raw)
            .map_err(|e| ApiError::bad_data(format!("cannot decode OTLP JSON: {e}")))?,
    };
    let storage = st.storage()?;
    let mut app = storage.appender();
    let mut refused_points: HashSet<u64> = HashSet::new();
    let mut first_error: Option<String> = None;
    let mut fatal: Option<strata_engine::Error> = None;
    let outcome = translate(
        &req,
        &st.otlp,
        &mut |labels: &mut [(&str, &str)], t: i64, v: f64, point: u64| {
            if fatal.is_some() {
                return;
            }
            if let Err(e) = app.append_pairs(labels, &[(t, v)]) {
                if !e.is_bad_input() {
                    fatal = Some(e);
                    return;
                }
                st.metrics.reject(crate::metrics::reason_of(&e), 1);
                if point != u64::MAX {
                    refused_points.insert(point);
                }
                first_error.get_or_insert_with(|| e.to_string());
            }
        },
    );
    if let Some(e) = fatal {
        return Err(ApiError::new(
            ErrorType::Unavailable,
            format!("storing samples failed: {e}"),
        ));
    }
    st.commit(app)?;
    count(st, &outcome);
    let rejected = outcome.refused() + refused_points.len() as u64;
    let mut parts: Vec<String> = Vec::new();
    if let Some(m) = &outcome.first_refused {
        parts.push(m.clone());
    }
    if let Some(e) = first_error {
        parts.push(format!(
            "{} data points refused by the storage; first: {e}",
            refused_points.len()
        ));
    }
    let message = parts.join("; ");
    Ok(answer(
        format,
        i64::try_from(rejected).unwrap_or(i64::MAX),
        &message,
    ))
}

/// Counts what translation refused or dropped.
fn count(st: &AppState, o: &Outcome) {
    for (reason, n) in [
        ("otlp_delta_temporality", o.delta),
        ("otlp_exponential_histogram", o.exponential),
        ("otlp_invalid_metric_name", o.invalid_name),
        ("exemplar", o.exemplars),
    ] {
        if n > 0 {
            st.metrics
                .reject(reason, usize::try_from(n).unwrap_or(usize::MAX));
        }
    }
}

/// The 200 answer: an `ExportMetricsServiceResponse` in `format`.
fn answer(format: Format, rejected: i64, message: &str) -> Response {
    let body = match format {
        Format::Protobuf => ExportMetricsServiceResponse {
            partial_success: (rejected > 0 || !message.is_empty()).then(|| {
                ExportMetricsPartialSuccess {
                    rejected_data_points: rejected,
                    error_message: message.to_owned(),
                }
            }),
        }
        .encode_to_vec(),
        Format::Json => json::response(rejected, message),
    };
    let mut resp = (StatusCode::OK, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        assert_eq!(Format::of("application/x-protobuf"), Some(Format::Protobuf));
        assert_eq!(
            Format::of("Application/JSON; charset=utf-8"),
            Some(Format::Json)
        );
        assert_eq!(Format::of("text/plain"), None);
        assert_eq!(Format::of(""), None);
    }
}
