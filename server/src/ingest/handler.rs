//! `POST /api/v1/write`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::remote_write::decompress;
use super::wire::{for_each_series_raw, not_utf8};
use crate::app::AppState;
use crate::error::{ApiError, ErrorType};

/// Stores a remote_write request: 204 when stored, 400 for data that will
/// never be accepted (the valid series of the request are stored), 5xx
/// when retrying can help.
pub async fn write(State(st): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    st.check_body_len(body.len())?;
    let raw = decompress(&body, st.max_request_bytes.saturating_mul(8))
        .map_err(|e| ApiError::bad_data(e.to_string()))?;
    tokio::task::spawn_blocking(move || {
        let storage = st.storage()?;
        let mut app = storage.appender();
        let mut refused: Vec<String> = Vec::new();
        // Series go into the batch as they are decoded (labels borrowed from
        // the body); a malformed body stops here and nothing is committed.
        let metadata = for_each_series_raw(&raw, |labels, samples| {
            match app.append_raw(labels, samples) {
                Ok(()) => {}
                // Not UTF-8: a malformed body, as for prost; nothing is stored.
                Err(strata_engine::Error::InvalidLabels(strata_engine::LabelError::NotUtf8(_))) => {
                    return Err(not_utf8());
                }
                Err(e) => {
                    let reason = if matches!(e, strata_engine::Error::OutOfBounds { .. }) {
                        "out_of_bounds"
                    } else {
                        "invalid_labels"
                    };
                    st.metrics.reject(reason, samples.len());
                    refused.push(e.to_string());
                }
            }
            Ok(())
        })
        .map_err(|e| ApiError::bad_data(e.to_string()))?;
        if !metadata.is_empty() {
            let mut md = st.metadata.write();
            for m in &metadata {
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
