//! `POST /api/v1/write`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use strata_engine::{Label, Labels};

use super::remote_write::decode;
use crate::app::AppState;
use crate::error::{ApiError, ErrorType};

/// Stores a remote_write request: 204 when stored, 400 for data that will
/// never be accepted (the valid series of the request are stored), 5xx
/// when retrying can help.
pub async fn write(State(st): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    if body.len() > st.max_request_bytes {
        let mut e = ApiError::bad_data(format!(
            "request body of {} bytes exceeds the limit of {} bytes",
            body.len(),
            st.max_request_bytes
        ));
        e.status = Some(StatusCode::PAYLOAD_TOO_LARGE);
        return Err(e);
    }
    let req = decode(&body, st.max_request_bytes.saturating_mul(8))
        .map_err(|e| ApiError::bad_data(e.to_string()))?;
    if !req.metadata.is_empty() {
        let mut md = st.metadata.write();
        for m in &req.metadata {
            md.insert(
                m.metric_family_name.clone(),
                crate::api::Metadata {
                    kind: crate::api::metric_type_name(m.r#type),
                    help: m.help.clone(),
                    unit: m.unit.clone(),
                },
            );
        }
    }
    tokio::task::spawn_blocking(move || {
        let storage = st.storage()?;
        let limits = storage.options().label_limits;
        let mut app = storage.appender();
        let mut refused: Vec<String> = Vec::new();
        for ts in req.timeseries {
            let pairs: Vec<Label> = ts
                .labels
                .into_iter()
                .map(|l| Label::new(l.name, l.value))
                .collect();
            let labels = match Labels::with_limits(pairs, &limits) {
                Ok(l) => l,
                Err(e) => {
                    refused.push(e.to_string());
                    st.metrics
                        .samples_rejected
                        .get_or_create(&crate::metrics::ReasonLabels {
                            reason: "invalid_labels".into(),
                        })
                        .inc_by(ts.samples.len() as u64);
                    continue;
                }
            };
            for s in ts.samples {
                if let Err(e) = app.append(&labels, s.timestamp, s.value) {
                    if e.is_bad_input() {
                        refused.push(e.to_string());
                        st.metrics
                            .samples_rejected
                            .get_or_create(&crate::metrics::ReasonLabels {
                                reason: "out_of_bounds".into(),
                            })
                            .inc();
                        break;
                    }
                    return Err(ApiError::new(ErrorType::Internal, e.to_string()));
                }
            }
        }
        let stored = app.len() as u64;
        app.commit().map_err(|e| {
            ApiError::new(
                ErrorType::Unavailable,
                format!("storing samples failed: {e}"),
            )
        })?;
        st.metrics.samples_ingested.inc_by(stored);
        if let Some(first) = refused.first() {
            return Err(ApiError::bad_data(format!(
                "{} series refused; first: {first}",
                refused.len()
            )));
        }
        Ok(StatusCode::NO_CONTENT.into_response())
    })
    .await
    .map_err(|e| ApiError::new(ErrorType::Internal, e.to_string()))?
}
