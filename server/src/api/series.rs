//! `/api/v1/series`: the label sets of the series that match.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use strata_engine::{Labels, Querier};

use super::{
    blocking, params, range_params, required_match_params, success_body, success_response,
};
use crate::app::AppState;
use crate::error::ApiError;
use crate::formats::json;

/// `GET/POST /api/v1/series`.
pub async fn series(
    State(st): State<AppState>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let p = params(q, &headers, &body)?;
    let sets = required_match_params(&p)?;
    let (start, end, limit) = range_params(&p)?;
    let data = blocking(move || {
        let q = st.storage()?.querier();
        let mut out = success_body(4096);
        out.push('[');
        let mut n = 0usize;
        let write: &mut strata_engine::LabelSetVisitor<'_> = &mut |pairs| {
            if limit.is_some_and(|l| n >= l) {
                return;
            }
            if n > 0 {
                out.push(',');
            }
            n += 1;
            json::push_label_pairs(&mut out, pairs);
        };
        if let [only] = sets.as_slice() {
            // One match[]: series come sorted and unique; written as they
            // are found, without building their labels.
            q.for_each_label_set(only, start, end, write)
                .map_err(ApiError::from)?;
        } else {
            let mut all: Vec<Labels> = Vec::new();
            for m in &sets {
                all.extend(
                    q.select(m, start, end)
                        .map_err(ApiError::from)?
                        .into_iter()
                        .map(strata_engine::Series::into_labels),
                );
            }
            all.sort();
            all.dedup();
            for l in &all {
                write(&mut l.iter().map(|x| (x.name.as_str(), x.value.as_str())));
            }
        }
        out.push(']');
        Ok(out)
    })
    .await?;
    Ok(success_response(data))
}
