//! The status endpoints: `/api/v1/status/buildinfo`,
//! `/api/v1/status/tsdb` and `/api/v1/metadata`.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;

use super::{blocking, params, success};
use crate::app::AppState;
use crate::error::ApiError;
use crate::formats::json;

/// `GET /api/v1/status/buildinfo`: a Prometheus version Grafana recognises.
pub async fn buildinfo() -> Response {
    success(format!(
        r#"{{"version":"2.53.0","revision":"strata-{}","branch":"main","buildUser":"strata","buildDate":"","goVersion":"rust"}}"#,
        env!("CARGO_PKG_VERSION")
    ))
}

/// `GET /api/v1/status/tsdb`: cardinality of the head.
pub async fn tsdb_status(
    State(st): State<AppState>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let p = params(q, &headers, &body)?;
    let limit = match p.get("limit") {
        None | Some("") => 10,
        Some(l) => l
            .parse()
            .map_err(|_| ApiError::bad_data(format!("invalid parameter \"limit\": {l:?}")))?,
    };
    let stats = blocking(move || Ok(st.storage()?.tsdb_stats(limit))).await?;
    let list = |v: &[(String, u64)]| {
        v.iter()
            .map(|(n, c)| format!(r#"{{"name":{},"value":{c}}}"#, json::string(n)))
            .collect::<Vec<_>>()
            .join(",")
    };
    Ok(success(format!(
        r#"{{"headStats":{{"numSeries":{},"numLabelPairs":{},"chunkCount":0,"minTime":{},"maxTime":{}}},"seriesCountByMetricName":[{}],"labelValueCountByLabelName":[{}],"memoryInBytesByLabelName":[{}],"seriesCountByLabelValuePair":[{}]}}"#,
        stats.num_series,
        stats.num_label_pairs,
        stats.min_time.unwrap_or(0),
        stats.max_time.unwrap_or(0),
        list(&stats.series_count_by_metric_name),
        list(&stats.label_value_count_by_label_name),
        list(&stats.memory_in_bytes_by_label_name),
        list(&stats.series_count_by_label_value_pair),
    )))
}

/// `GET /api/v1/metadata`: what remote_write clients sent, by metric.
pub async fn metadata(
    State(st): State<AppState>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let p = params(q, &headers, &body)?;
    let metric = p.get("metric").filter(|m| !m.is_empty()).map(str::to_owned);
    let limit: Option<usize> = p
        .get("limit")
        .and_then(|l| l.parse().ok())
        .filter(|l| *l > 0);
    let md = st.metadata.read();
    let items: Vec<String> = md
        .iter()
        .filter(|(name, _)| metric.as_ref().is_none_or(|m| m == *name))
        .take(limit.unwrap_or(usize::MAX))
        .map(|(name, m)| {
            format!(
                r#"{}:[{{"type":"{}","help":{},"unit":{}}}]"#,
                json::string(name),
                m.kind,
                json::string(&m.help),
                json::string(&m.unit)
            )
        })
        .collect();
    Ok(success(format!("{{{}}}", items.join(","))))
}
