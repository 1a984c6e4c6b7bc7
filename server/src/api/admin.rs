//! The admin endpoints: `/api/v1/admin/tsdb/delete_series` and
//! VictoriaMetrics' `/internal/force_flush` and `/internal/force_merge`.
//! Snapshots are in [`super::snapshot`].

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{blocking, params, range_params, required_match_params};
use crate::app::AppState;
use crate::error::{ApiError, ErrorType};

/// `POST` or `PUT /api/v1/admin/tsdb/delete_series` (GET answers 405;
/// off unless `--enable-admin-api` or an admin token): hides the data of the matched
/// series in `[start, end]` at once; compaction removes it.
pub async fn delete_series(
    State(st): State<AppState>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let p = params(q, &headers, &body)?;
    let sets = required_match_params(&p)?;
    let (start, end, _) = range_params(&p)?;
    blocking(move || {
        for m in &sets {
            st.storage()?
                .delete(m, start, end)
                .map_err(ApiError::from)?;
        }
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /internal/force_flush`: write the head to blocks now (VictoriaMetrics-compatible).
/// One flush or merge runs at a time; a second call waits for the first.
pub async fn force_flush(State(st): State<AppState>) -> Result<Response, ApiError> {
    let one_at_a_time = st.maintenance.clone().lock_owned().await;
    blocking(move || {
        // Held until the work is done, even if the client goes away.
        let _one_at_a_time = one_at_a_time;
        st.storage()?
            .flush()
            .map_err(|e| ApiError::new(ErrorType::Unavailable, e.to_string()))
    })
    .await?;
    Ok(StatusCode::OK.into_response())
}

/// `GET /internal/force_merge`: compact blocks now (VictoriaMetrics-compatible).
/// One flush or merge runs at a time; a second call waits for the first.
pub async fn force_merge(State(st): State<AppState>) -> Result<Response, ApiError> {
    let one_at_a_time = st.maintenance.clone().lock_owned().await;
    blocking(move || {
        let _one_at_a_time = one_at_a_time;
        st.storage()?
            .compact()
            .map_err(|e| ApiError::new(ErrorType::Unavailable, e.to_string()))
    })
    .await?;
    Ok(StatusCode::OK.into_response())
}
