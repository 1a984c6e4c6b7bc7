//! `POST /api/v1/write`.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::wire::{for_each_series_raw, not_utf8};
use crate::app::AppState;
use crate::body::{self, Direction, Reservation};
use crate::decompress::{DecompressError, Encoding, snappy_into};
use crate::error::{ApiError, ErrorType};

/// Stores a remote_write request: 204 when stored, 400 for data that will
/// never be accepted (the valid series of the request are stored), 413
/// over a size cap, 415 for a `Content-Encoding` other than `snappy` (or
/// `identity`: the body is a snappy block either way), 5xx when retrying
/// can help (503 when the body memory budget is used up).
pub async fn write(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    match Encoding::from_headers(&headers) {
        Ok(Encoding::Snappy | Encoding::Identity) => {}
        _ => {
            let encoding = headers
                .get(axum::http::header::CONTENT_ENCODING)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .unwrap_or_default();
            let e = DecompressError::Unsupported {
                encoding,
                accepted: "snappy (block format; remote_write 1.0)",
            };
            return Err(body::refused(&st, Direction::Write, e));
        }
    }
    let (body, mut res) = body::read(&st, &headers, body, Direction::Write).await?;
    tokio::task::spawn_blocking(move || {
        DECOMPRESSED.with_borrow_mut(|buf| {
            let stored = store(&st, &body, buf, &mut res);
            if buf.len() > KEPT_BUFFER_BYTES {
                *buf = Vec::new();
            }
            stored
        })
    })
    .await
    .map_err(|e| ApiError::new(ErrorType::Internal, e.to_string()))?
}

/// Decompressed bodies up to this size keep their buffer for the thread's
/// next request (no allocation, no page faults); larger ones free it.
const KEPT_BUFFER_BYTES: usize = 4 << 20;

thread_local! {
    static DECOMPRESSED: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Decompresses `body` into `buf` (its size reserved in `res` first) and
/// stores its samples.
fn store(
    st: &AppState,
    body: &[u8],
    buf: &mut Vec<u8>,
    res: &mut Reservation,
) -> Result<Response, ApiError> {
    let n = snappy_into(body, st.bodies.max_decompressed, res, buf)
        .map_err(|e| body::refused(st, Direction::Write, e))?;
    let raw = buf.get(..n).unwrap_or_default();
    let storage = st.storage()?;
    let mut app = storage.appender();
    let mut refused: Vec<String> = Vec::new();
    // Series go into the batch as they are decoded (labels borrowed from
    // the body); a malformed body stops here and nothing is committed.
    let metadata = for_each_series_raw(raw, |labels, samples| {
        match app.append_raw(labels, samples) {
            Ok(()) => {}
            // Not UTF-8: a malformed body, as for prost; nothing is stored.
            Err(strata_engine::Error::InvalidLabels(strata_engine::LabelError::NotUtf8(_))) => {
                return Err(not_utf8());
            }
            Err(e) => {
                st.metrics
                    .reject(crate::metrics::reason_of(&e), samples.len());
                refused.push(e.to_string());
            }
        }
        Ok(())
    })
    .map_err(|e| ApiError::bad_data(e.to_string()))?;
    if !metadata.is_empty() {
        let mut md = st.metadata.write();
        for m in &metadata {
            md.insert(
                m.metric_family_name.clone(),
                crate::api::Metadata {
                    kind: crate::api::metric_type_name(m.r#type),
                    help: m.help.clone(),
                    unit: m.unit.clone(),
                },
            );
        }
    }
    st.commit(app)?;
    if let Some(first) = refused.first() {
        return Err(ApiError::bad_data(format!(
            "{} series refused; first: {first}",
            refused.len()
        )));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
