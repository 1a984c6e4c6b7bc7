//! Prometheus remote_read (`POST /api/v1/read`), sampled response type:
//! a snappy-compressed protobuf `ReadRequest` in, a snappy-compressed
//! protobuf `ReadResponse` with raw samples out. Staleness markers are
//! returned as stored, so the reading Prometheus applies them itself.
//! The protobuf types are in [`crate::formats::remote_read`].

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use prost::Message;
use strata_engine::{MatchType, Matcher, Querier};

use crate::app::AppState;
use crate::body::Direction;
use crate::error::{ApiError, ErrorType};
use crate::formats::decompress::snappy_into;
use crate::formats::remote_read::{Query, QueryResult, ReadRequest, ReadResponse, SAMPLES};
use crate::formats::remote_write::{DecodeError, Label, Sample, TimeSeries};

/// The engine matchers of a query.
fn matchers(q: &Query) -> Result<Vec<Matcher>, ApiError> {
    q.matchers
        .iter()
        .map(|m| {
            let kind = match m.r#type {
                0 => MatchType::Equal,
                1 => MatchType::NotEqual,
                2 => MatchType::Regex,
                3 => MatchType::NotRegex,
                other => {
                    return Err(ApiError::bad_data(format!(
                        "unknown label matcher type {other} for label {:?}",
                        m.name
                    )));
                }
            };
            Matcher::new(kind, m.name.clone(), m.value.clone())
                .map_err(|e| ApiError::bad_data(e.to_string()))
        })
        .collect()
}

/// Answers every query of `req` from `q`, refusing to hold more than
/// `max_samples` samples in all.
///
/// # Errors
/// 400 for a bad matcher, 422 when the sample limit is exceeded, 500 when
/// storage fails.
pub fn answer(
    q: &impl Querier,
    req: &ReadRequest,
    max_samples: usize,
) -> Result<ReadResponse, ApiError> {
    let mut held = 0usize;
    let mut results = Vec::with_capacity(req.queries.len());
    for query in &req.queries {
        let ms = matchers(query)?;
        if ms.iter().all(Matcher::matches_empty) {
            return Err(ApiError::bad_data(
                "a remote_read query needs at least one matcher that does not match the empty string",
            ));
        }
        let series = q
            .select(&ms, query.start_timestamp_ms, query.end_timestamp_ms)
            .map_err(ApiError::from)?;
        let mut timeseries = Vec::with_capacity(series.len());
        for s in series {
            let samples: Vec<Sample> = s
                .samples()
                .map_err(ApiError::from)?
                .into_iter()
                .filter(|x| x.t >= query.start_timestamp_ms && x.t <= query.end_timestamp_ms)
                .map(|x| Sample {
                    value: x.v,
                    timestamp: x.t,
                })
                .collect();
            if samples.is_empty() {
                continue;
            }
            held += samples.len();
            if held > max_samples {
                return Err(ApiError::new(
                    ErrorType::Execution,
                    format!("exceeded sample limit ({max_samples})"),
                ));
            }
            timeseries.push(TimeSeries {
                labels: s
                    .labels()
                    .iter()
                    .map(|l| Label {
                        name: l.name.to_string(),
                        value: l.value.to_string(),
                    })
                    .collect(),
                samples,
            });
        }
        results.push(QueryResult { timeseries });
    }
    Ok(ReadResponse { results })
}

/// `POST /api/v1/read`. The body and its decompressed size are reserved
/// from the body memory budget (429 when it is used up) while it is
/// decoded; 413 over `--max-request-bytes` or `--max-decompressed-bytes`.
pub async fn read(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let (body, mut res) = crate::body::read(&st, &headers, body, Direction::Read).await?;
    let mut raw = Vec::new();
    let n = snappy_into(&body, st.bodies.max_decompressed, &mut res, &mut raw)
        .map_err(|e| crate::body::refused(&st, Direction::Read, e))?;
    drop(body);
    let req = ReadRequest::decode(raw.get(..n).unwrap_or_default())
        .map_err(|e| ApiError::bad_data(DecodeError::Protobuf(e.to_string()).to_string()))?;
    drop(raw);
    drop(res);
    if !req.accepted_response_types.is_empty() && !req.accepted_response_types.contains(&SAMPLES) {
        return Err(ApiError::bad_data(format!(
            "server does not support any of the requested response types: {:?}; supported: [SAMPLES]",
            req.accepted_response_types
        )));
    }
    let started = std::time::Instant::now();
    let metrics = st.metrics.clone();
    let out = tokio::task::spawn_blocking(move || {
        let storage = st.storage()?;
        let resp = answer(&storage.querier(), &req, st.eval.max_samples)?;
        snap::raw::Encoder::new()
            .compress_vec(&resp.encode_to_vec())
            .map_err(|e| ApiError::new(ErrorType::Internal, e.to_string()))
    })
    .await
    .map_err(|e| ApiError::new(ErrorType::Internal, e.to_string()))??;
    metrics
        .query_duration
        .get_or_create(&crate::metrics::EndpointLabels {
            endpoint: "read".into(),
        })
        .observe(started.elapsed().as_secs_f64());
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/x-protobuf"),
            (header::CONTENT_ENCODING, "snappy"),
        ],
        out,
    )
        .into_response())
}
