//! Prometheus HTTP API handlers, one file per family ([`query`],
//! [`series`], [`labels`], [`status`], [`admin`], [`snapshot`], [`export`],
//! [`remote_read`], [`parse_query`]), and the helpers they share: the
//! success envelope, parameters, time ranges, `match[]` selectors and
//! running blocking work.

pub mod admin;
pub mod export;
pub mod labels;
pub mod parse_query;
pub mod query;
pub mod remote_read;
pub mod series;
pub mod snapshot;
pub mod status;
#[cfg(test)]
mod tests;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use strata_engine::Matcher;
use strata_promql::Expr;

use crate::error::{ApiError, ErrorType};
use crate::params::{Params, parse_time};

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

fn time_param(p: &Params, name: &str, default: i64) -> Result<i64, ApiError> {
    match p.get(name) {
        None | Some("") => Ok(default),
        Some(s) => parse_time_param(name, s),
    }
}

/// A time parameter the request must carry (`start`, `end` of a range query).
fn required_time_param(p: &Params, name: &str) -> Result<i64, ApiError> {
    let s = p
        .get(name)
        .ok_or_else(|| ApiError::bad_data(format!("invalid parameter \"{name}\": missing")))?;
    parse_time_param(name, s)
}

fn parse_time_param(name: &str, s: &str) -> Result<i64, ApiError> {
    parse_time(s).ok_or_else(|| {
        ApiError::bad_data(format!(
            "invalid parameter \"{name}\": cannot parse \"{s}\" to a valid timestamp"
        ))
    })
}

/// Runs blocking storage or evaluation work off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::new(ErrorType::Internal, e.to_string()))?
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
