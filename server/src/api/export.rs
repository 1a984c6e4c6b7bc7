//! `GET/POST /api/v1/export`: raw samples in VictoriaMetrics' JSON lines
//! format, streamed one line per series, series ordered by labels.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use strata_engine::{Querier, Sample, Series, is_stale_nan};
use tokio::sync::mpsc;

use super::{blocking, params, required_match_params, time_range};
use crate::app::AppState;
use crate::error::ApiError;
use crate::formats::jsonl;

/// Bytes gathered before a chunk is handed to the response body.
const CHUNK: usize = 64 * 1024;

/// `GET/POST /api/v1/export`: every raw sample of the series matching any
/// `match[]` selector in `[start, end]` (default: all time), as JSON lines
/// (`application/stream+json`). Staleness markers are left out; series with
/// no sample in the range are too.
pub async fn export(
    State(st): State<AppState>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let p = params(q, &headers, &body)?;
    let sets = required_match_params(&p)?;
    let (start, end) = time_range(&p)?;
    if end < start {
        return Err(ApiError::bad_data(
            "invalid parameter \"end\": end timestamp must not be before start time",
        ));
    }
    let series = blocking(move || {
        let q = st.storage()?.querier();
        let mut all: Vec<Series> = Vec::new();
        for m in &sets {
            all.extend(q.select(m, start, end).map_err(ApiError::from)?);
        }
        if sets.len() > 1 {
            all.sort_by(|a, b| a.labels().cmp(b.labels()));
            all.dedup_by(|a, b| a.labels() == b.labels());
        }
        Ok(all)
    })
    .await?;
    let (tx, rx) = mpsc::channel(2);
    tokio::task::spawn_blocking(move || write_all(&series, &tx));
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/stream+json")],
        Body::from_stream(Chunks(rx)),
    )
        .into_response())
}

type Chunk = Result<Bytes, std::io::Error>;

/// Writes the lines of `series` into `tx` in chunks; stops when the client
/// is gone, and ends the body with an error when a chunk cannot be read.
fn write_all(series: &[Series], tx: &mpsc::Sender<Chunk>) {
    let mut out = String::with_capacity(CHUNK * 2);
    let mut samples: Vec<Sample> = Vec::new();
    for s in series {
        samples.clear();
        for r in s.iter() {
            match r {
                Ok(x) if is_stale_nan(x.v) => {}
                Ok(x) => samples.push(x),
                Err(e) => {
                    tracing::warn!(series = %s.labels(), error = %e, "export failed");
                    let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
                    return;
                }
            }
        }
        if samples.is_empty() {
            continue;
        }
        jsonl::write_line(&mut out, s.labels().as_slice(), &samples);
        if out.len() >= CHUNK {
            let full = std::mem::replace(&mut out, String::with_capacity(CHUNK * 2));
            if tx.blocking_send(Ok(Bytes::from(full))).is_err() {
                return;
            }
        }
    }
    if !out.is_empty() {
        let _ = tx.blocking_send(Ok(Bytes::from(out)));
    }
}

/// The receiving end of [`write_all`] as a body stream.
struct Chunks(mpsc::Receiver<Chunk>);

impl futures_core::Stream for Chunks {
    type Item = Chunk;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Chunk>> {
        self.0.poll_recv(cx)
    }
}
