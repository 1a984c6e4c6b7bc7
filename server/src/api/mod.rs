//! Prometheus HTTP API handlers.

pub mod export;
pub mod json;
pub mod params;
pub mod parse_query;
pub mod remote_read;
pub mod snapshot;
#[cfg(test)]
mod tests;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use strata_engine::{Labels, Matcher, Querier};
use strata_promql::Expr;
use strata_promql::eval::{eval_instant, eval_range};

use crate::app::AppState;
use crate::error::{ApiError, ErrorType};
use params::{Params, parse_duration, parse_time};

/// `{"status":"success","data":...}`.
pub fn success(data: String) -> Response {
    let mut body = success_body(data.len());
    body.push_str(&data);
    success_response(body)
}

/// A success body with room for `capacity` bytes of data: the envelope's
/// opening is written first and the data appended to it, so a large
/// result is not copied again to be wrapped. Finish with
/// [`success_response`].
pub fn success_body(capacity: usize) -> String {
    const OPEN: &str = r#"{"status":"success","data":"#;
    let mut body = String::with_capacity(OPEN.len() + capacity + 1);
    body.push_str(OPEN);
    body
}

/// The response for a body from [`success_body`] with its data written.
pub fn success_response(mut body: String) -> Response {
    body.push('}');
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// Parameters from the query string and a form-encoded body.
pub fn params(
    query: Option<String>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Params, ApiError> {
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    Params::parse(query.as_deref(), form.then_some(body.as_ref()))
}

fn now_ms() -> i64 {
    strata_engine::Clock::now_ms(&strata_engine::SystemClock)
}

fn time_param(p: &Params, name: &str, default: i64) -> Result<i64, ApiError> {
    match p.get(name) {
        None | Some("") => Ok(default),
        Some(s) => parse_time(s).ok_or_else(|| {
            ApiError::bad_data(format!(
                "invalid parameter \"{name}\": cannot parse \"{s}\" to a valid timestamp"
            ))
        }),
    }
}

fn parse_query(p: &Params) -> Result<Expr, ApiError> {
    let q = p
        .get("query")
        .ok_or_else(|| ApiError::bad_data("invalid parameter \"query\": missing query"))?;
    strata_promql::parse(q)
        .map_err(|e| ApiError::bad_data(format!("invalid parameter \"query\": {e}")))
}

/// Runs blocking storage or evaluation work off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::new(ErrorType::Internal, e.to_string()))?
}

/// `GET/POST /api/v1/query`.
pub async fn query(
    State(st): State<AppState>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let started = std::time::Instant::now();
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
    metrics
        .query_duration
        .get_or_create(&crate::metrics::EndpointLabels {
            endpoint: "query".into(),
        })
        .observe(started.elapsed().as_secs_f64());
    Ok(success_response(data))
}

/// `GET/POST /api/v1/query_range`.
pub async fn query_range(
    State(st): State<AppState>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let started = std::time::Instant::now();
    let metrics = st.metrics.clone();
    let p = params(q, &headers, &body)?;
    let expr = parse_query(&p)?;
    let start = p
        .get("start")
        .ok_or_else(|| ApiError::bad_data("invalid parameter \"start\": missing"))?;
    let end = p
        .get("end")
        .ok_or_else(|| ApiError::bad_data("invalid parameter \"end\": missing"))?;
    let start = parse_time(start).ok_or_else(|| {
        ApiError::bad_data(format!(
            "invalid parameter \"start\": cannot parse \"{start}\" to a valid timestamp"
        ))
    })?;
    let end = parse_time(end).ok_or_else(|| {
        ApiError::bad_data(format!(
            "invalid parameter \"end\": cannot parse \"{end}\" to a valid timestamp"
        ))
    })?;
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
    metrics
        .query_duration
        .get_or_create(&crate::metrics::EndpointLabels {
            endpoint: "query_range".into(),
        })
        .observe(started.elapsed().as_secs_f64());
    Ok(success_response(data))
}

/// The matcher sets of `match[]` parameters.
fn match_params(p: &Params) -> Result<Vec<Vec<Matcher>>, ApiError> {
    p.all("match[]")
        .into_iter()
        .map(|m| match strata_promql::parse(m) {
            Ok(Expr::Vector(v)) => Ok(v.all_matchers()),
            Ok(_) => Err(ApiError::bad_data(format!(
                "invalid parameter \"match[]\": {m:?} is not a series selector"
            ))),
            Err(e) => Err(ApiError::bad_data(format!(
                "invalid parameter \"match[]\": {e}"
            ))),
        })
        .collect()
}

/// The `match[]` selectors of an endpoint that needs at least one.
fn required_match_params(p: &Params) -> Result<Vec<Vec<Matcher>>, ApiError> {
    let sets = match_params(p)?;
    if sets.is_empty() {
        return Err(ApiError::bad_data("no match[] parameter provided"));
    }
    Ok(sets)
}

/// `start` and `end`, all time when absent.
fn time_range(p: &Params) -> Result<(i64, i64), ApiError> {
    Ok((
        time_param(p, "start", i64::MIN / 2)?,
        time_param(p, "end", i64::MAX / 2)?,
    ))
}

fn range_params(p: &Params) -> Result<(i64, i64, Option<usize>), ApiError> {
    let (start, end) = time_range(p)?;
    let limit = match p.get("limit") {
        None | Some("") | Some("0") => None,
        Some(l) => Some(
            l.parse()
                .map_err(|_| ApiError::bad_data(format!("invalid parameter \"limit\": {l:?}")))?,
        ),
    };
    Ok((start, end, limit))
}

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
        let internal = |e: strata_engine::Error| ApiError::new(ErrorType::Internal, e.to_string());
        if let [only] = sets.as_slice() {
            // One match[]: series come sorted and unique; written as they
            // are found, without building their labels.
            q.for_each_label_set(only, start, end, write)
                .map_err(internal)?;
        } else {
            let mut all: Vec<Labels> = Vec::new();
            for m in &sets {
                all.extend(
                    q.select(m, start, end)
                        .map_err(internal)?
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
            names.extend(
                q.label_names(m, start, end)
                    .map_err(|e| ApiError::new(ErrorType::Internal, e.to_string()))?,
            );
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
                    .map_err(|e| ApiError::new(ErrorType::Internal, e.to_string()))?,
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

/// `GET /api/v1/status/buildinfo`: a Prometheus version Grafana recognises.
pub async fn buildinfo() -> Response {
    success(format!(
        r#"{{"version":"2.53.0","revision":"strata-{}","branch":"main","buildUser":"strata","buildDate":"","goVersion":"rust"}}"#,
        env!("CARGO_PKG_VERSION")
    ))
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

/// Metadata of one metric family, as remote_write sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    /// `counter`, `gauge`, `histogram`, `summary`, ...
    pub kind: &'static str,
    /// Help text.
    pub help: String,
    /// Unit.
    pub unit: String,
}

/// The Prometheus name of remote_write's metric type number.
pub fn metric_type_name(t: i32) -> &'static str {
    match t {
        1 => "counter",
        2 => "gauge",
        3 => "histogram",
        4 => "gaugehistogram",
        5 => "summary",
        6 => "info",
        7 => "stateset",
        _ => "unknown",
    }
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
                .map_err(|e| ApiError::new(ErrorType::Internal, e.to_string()))?;
        }
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
