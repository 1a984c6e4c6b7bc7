//! `/api/v1/labels` and `/api/v1/label/{name}/values`: label names and
//! the values of one label, optionally among the series that match.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use strata_engine::{Matcher, Querier, StorageQuerier};

use super::{blocking, match_params, params, range_params, success};
use crate::app::AppState;
use crate::error::ApiError;
use crate::formats::json;
use crate::params::Params;

/// `GET/POST /api/v1/labels`.
pub async fn labels(
    State(st): State<AppState>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let p = params(q, &headers, &body)?;
    string_list(st, &p, move |q, m, start, end| q.label_names(m, start, end)).await
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
    string_list(st, &p, move |q, m, start, end| {
        q.label_values(&name, m, start, end)
    })
    .await
}

/// The sorted, deduplicated union of `lookup` over every `match[]` set (or
/// over all series when there is none) in the request's time range, cut at
/// its `limit`, as a JSON array of strings.
async fn string_list(
    st: AppState,
    p: &Params,
    lookup: impl Fn(&StorageQuerier, &[Matcher], i64, i64) -> strata_engine::Result<Vec<String>>
    + Send
    + 'static,
) -> Result<Response, ApiError> {
    let sets = match_params(p)?;
    let (start, end, limit) = range_params(p)?;
    let data = blocking(move || {
        let q = st.storage()?.querier();
        let sets = if sets.is_empty() {
            vec![Vec::new()]
        } else {
            sets
        };
        let mut list = Vec::new();
        for m in &sets {
            list.extend(lookup(&q, m, start, end).map_err(ApiError::from)?);
        }
        list.sort();
        list.dedup();
        if let Some(l) = limit {
            list.truncate(l);
        }
        Ok(format!(
            "[{}]",
            list.iter()
                .map(|n| json::string(n))
                .collect::<Vec<_>>()
                .join(",")
        ))
    })
    .await?;
    Ok(success(data))
}
