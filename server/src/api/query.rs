//! The PromQL endpoints: `/api/v1/query`, `/api/v1/query_range`,
//! `/api/v1/format_query` and `/api/v1/query_exemplars`.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use strata_promql::Expr;
use strata_promql::eval::{eval_instant, eval_range};

use std::time::Instant;

use super::{
    blocking, params, required_time_param, success, success_body, success_response, time_param,
};
use crate::app::AppState;
use crate::error::ApiError;
use crate::formats::json;
use crate::params::{Params, parse_duration};

fn now_ms() -> i64 {
    strata_engine::Clock::now_ms(&strata_engine::SystemClock)
}

/// The PromQL expression of the `query` parameter.
pub(super) fn parse_query(p: &Params) -> Result<Expr, ApiError> {
    let q = p
        .get("query")
        .ok_or_else(|| ApiError::bad_data("invalid parameter \"query\": missing query"))?;
    strata_promql::parse(q)
        .map_err(|e| ApiError::bad_data(format!("invalid parameter \"query\": {e}")))
}

/// `GET/POST /api/v1/query`.
pub async fn query(
    State(st): State<AppState>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let metrics = st.metrics.clone();
    let p = params(q, &headers, &body)?;
    let expr = parse_query(&p)?;
    let t = time_param(&p, "time", now_ms())?;
    let data = blocking(move || {
        let v = eval_instant(&st.storage()?.querier(), &expr, t, &st.eval)?;
        let mut body = success_body(json::data_size(&v));
        json::push_instant_data(&mut body, &v, t);
        Ok(body)
    })
    .await?;
    observe_duration(&metrics, "query", started);
    Ok(success_response(data))
}

/// `GET/POST /api/v1/query_range`.
pub async fn query_range(
    State(st): State<AppState>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let metrics = st.metrics.clone();
    let p = params(q, &headers, &body)?;
    let expr = parse_query(&p)?;
    // Both are required; an empty one is a parse error, as in Prometheus.
    let start = required_time_param(&p, "start")?;
    let end = required_time_param(&p, "end")?;
    if end < start {
        return Err(ApiError::bad_data(
            "invalid parameter \"end\": end timestamp must not be before start time",
        ));
    }
    let step_s = p
        .get("step")
        .ok_or_else(|| ApiError::bad_data("invalid parameter \"step\": missing"))?;
    let step = parse_duration(step_s)
        .map_err(|e| ApiError::bad_data(format!("invalid parameter \"step\": {e}")))?;
    if step <= 0 {
        return Err(ApiError::bad_data(
            "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    // Prometheus' check, before anything is allocated per step. Both times
    // are bounded (parse_time), so the difference cannot overflow.
    if (end - start) / step > strata_promql::eval::MAX_POINTS_PER_SERIES {
        return Err(ApiError::bad_data(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ));
    }
    let data = blocking(move || {
        let v = eval_range(&st.storage()?.querier(), &expr, start, end, step, &st.eval)?;
        // At most MAX_POINTS_PER_SERIES + 1 times (checked above), each
        // start + i * step <= end: no overflow.
        let n = (end - start) / step + 1;
        let times: Vec<i64> = (0..n).map(|i| start + i * step).collect();
        let mut body = success_body(json::data_size(&v));
        json::push_range_data(&mut body, &v, &times);
        Ok(body)
    })
    .await?;
    observe_duration(&metrics, "query_range", started);
    Ok(success_response(data))
}

/// `GET/POST /api/v1/format_query`: the query in canonical form.
pub async fn format_query(
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let p = params(q, &headers, &body)?;
    let expr = parse_query(&p)?;
    Ok(success(json::string(&expr.to_string())))
}

/// `GET/POST /api/v1/query_exemplars`: exemplars are not stored, so none.
pub async fn query_exemplars(
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let p = params(q, &headers, &body)?;
    parse_query(&p)?;
    Ok(success("[]".into()))
}

/// Records how long a query endpoint took, in the server's own /metrics.
fn observe_duration(metrics: &crate::metrics::Metrics, endpoint: &str, started: Instant) {
    metrics
        .query_duration
        .get_or_create(&crate::metrics::EndpointLabels {
            endpoint: endpoint.into(),
        })
        .observe(started.elapsed().as_secs_f64());
}
