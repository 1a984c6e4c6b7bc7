//! `/api/v1/labels` and `/api/v1/label/{name}/values`: label names and
//! the values of one label, optionally among the series that match.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use strata_engine::Querier;

use super::{blocking, match_params, params, range_params, success};
use crate::app::AppState;
use crate::error::ApiError;
use crate::formats::json;

/// `GET/POST /api/v1/labels`.
pub async fn labels(
    State(st): State<AppState>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let p = params(q, &headers, &body)?;
    let sets = match_params(&p)?;
    let (start, end, limit) = range_params(&p)?;
    let data = blocking(move || {
        let q = st.storage()?.querier();
        let sets = if sets.is_empty() {
            vec![Vec::new()]
        } else {
            sets
        };
        let mut names = Vec::new();
        for m in &sets {
            names.extend(q.label_names(m, start, end).map_err(ApiError::from)?);
        }
        names.sort();
        names.dedup();
        if let Some(l) = limit {
            names.truncate(l);
        }
        Ok(format!(
            "[{}]",
            names
                .iter()
                .map(|n| json::string(n))
                .collect::<Vec<_>>()
                .join(",")
        ))
    })
    .await?;
    Ok(success(data))
}

/// `GET /api/v1/label/{name}/values`.
pub async fn label_values(
    State(st): State<AppState>,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let p = params(q, &headers, &body)?;
    if strata_engine::validate_name(&name).is_err() {
        return Err(ApiError::bad_data(format!("invalid label name: {name:?}")));
    }
    let sets = match_params(&p)?;
    let (start, end, limit) = range_params(&p)?;
    let data = blocking(move || {
        let q = st.storage()?.querier();
        let sets = if sets.is_empty() {
            vec![Vec::new()]
        } else {
            sets
        };
        let mut values = Vec::new();
        for m in &sets {
            values.extend(
                q.label_values(&name, m, start, end)
                    .map_err(ApiError::from)?,
            );
        }
        values.sort();
        values.dedup();
        if let Some(l) = limit {
            values.truncate(l);
        }
        Ok(format!(
            "[{}]",
            values
                .iter()
                .map(|n| json::string(n))
                .collect::<Vec<_>>()
                .join(",")
        ))
    })
    .await?;
    Ok(success(data))
}
