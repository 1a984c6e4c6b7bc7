//! Request bodies under one shared memory budget.
//!
//! Every body being read and decoded (remote_write, remote_read, the import
//! endpoints) holds a [`Reservation`] of the server's [`MemoryBudget`]
//! (both in [`crate::budget`])
//! (`--max-ingest-memory-bytes`): its length (`Content-Length` up front, or
//! chunk by chunk as it arrives) and the bytes it decompresses to, reserved
//! before they are allocated and given back when the reservation drops.
//! When the budget is used up a request is refused at once — 503 for
//! writes, so remote_write clients retry; 429 for reads — instead of
//! letting concurrent requests add up past the memory the server has.

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode, header};

use crate::app::AppState;
pub use crate::budget::DEFAULT_MAX_INGEST_MEMORY_BYTES;
use crate::budget::{BudgetError, MemoryBudget, Reservation};
use crate::error::{ApiError, ErrorType};
use crate::formats::decompress::{DecompressError, Encoding, decompress};

/// Default `--max-decompressed-bytes`: 64 MiB.
pub const DEFAULT_MAX_DECOMPRESSED_BYTES: usize = 64 << 20;
/// The body limits of [`AppState`]: the decompression cap and the budget.
#[derive(Debug, Clone)]
pub struct BodyLimits {
    /// Largest decompressed body, in bytes (`--max-decompressed-bytes`).
    pub max_decompressed: usize,
    /// The shared budget (`--max-ingest-memory-bytes`).
    pub budget: MemoryBudget,
}

impl BodyLimits {
    /// A cap of `max_decompressed` bytes and a budget of `budget` bytes.
    pub fn new(max_decompressed: usize, budget: usize) -> BodyLimits {
        BodyLimits {
            max_decompressed,
            budget: MemoryBudget::new(budget),
        }
    }
}

impl Default for BodyLimits {
    fn default() -> Self {
        BodyLimits::new(
            DEFAULT_MAX_DECOMPRESSED_BYTES,
            DEFAULT_MAX_INGEST_MEMORY_BYTES,
        )
    }
}

/// Whether a request stores (503 when the budget is used up, so clients
/// retry) or reads (429).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// remote_write and the import endpoints.
    Write,
    /// remote_read.
    Read,
}

/// Reads a request body of at most `--max-request-bytes`, reserving its
/// bytes from the budget before they are allocated: the whole
/// `Content-Length` up front, or chunk by chunk without one.
///
/// # Errors
/// 413 over the size limit (or when the request alone needs more than the
/// whole budget); 503 (writes) or 429 (reads) when the budget is used up;
/// 400 when the body cannot be read.
pub async fn read(
    st: &AppState,
    headers: &HeaderMap,
    body: Body,
    direction: Direction,
) -> Result<(Bytes, Reservation), ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse::<usize>().ok());
    if let Some(n) = declared {
        st.check_body_len(n)?;
    }
    let mut res = st.bodies.budget.reservation();
    let mut stream = body.into_data_stream();
    let refuse = |e: BudgetError| refused(st, direction, e.into());
    if let Some(n) = declared {
        // Reserved and allocated once, then filled.
        res.grow(n).map_err(refuse)?;
        let mut buf: Vec<u8> = Vec::with_capacity(n);
        while let Some(chunk) = next(&mut stream).await {
            let chunk = chunk.map_err(unreadable)?;
            let need = buf.len().saturating_add(chunk.len());
            st.check_body_len(need)?;
            if need > res.bytes() {
                res.grow(need - res.bytes()).map_err(refuse)?;
            }
            buf.extend_from_slice(&chunk);
        }
        return Ok((Bytes::from(buf), res));
    }
    // No length: the chunks are kept as they arrive (each reserved), then
    // joined into one buffer of the exact size (no chain of reallocations,
    // which leaves freed blocks resident in the allocator).
    let mut parts: Vec<Bytes> = Vec::new();
    let mut total = 0usize;
    while let Some(chunk) = next(&mut stream).await {
        let chunk = chunk.map_err(unreadable)?;
        total = total.saturating_add(chunk.len());
        st.check_body_len(total)?;
        res.grow(chunk.len()).map_err(refuse)?;
        parts.push(chunk);
    }
    if parts.len() <= 1 {
        return Ok((parts.pop().unwrap_or_default(), res));
    }
    res.grow(total).map_err(refuse)?;
    let mut buf = Vec::with_capacity(total);
    for p in parts.drain(..) {
        buf.extend_from_slice(&p);
    }
    drop(parts);
    res.release(total);
    Ok((Bytes::from(buf), res))
}

/// Reads an encoded write body (`Content-Encoding` gzip, zstd, snappy or
/// identity) under the budget, then, on a blocking thread, decompresses it
/// and hands the plain bytes to `f`. The reservation is held until `f`
/// returns (what `f` builds from the body is at least as large); the
/// compressed bytes are dropped once decompressed.
///
/// # Errors
/// 415 for an unsupported encoding (before reading), as [`read`], 413 over
/// `--max-decompressed-bytes`, 400 for a body that does not decode; and
/// whatever `f` returns.
pub async fn with_decoded<T: Send + 'static>(
    st: AppState,
    headers: &HeaderMap,
    body: Body,
    f: impl FnOnce(&AppState, &[u8]) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let encoding = Encoding::from_header(
        headers
            .get(axum::http::header::CONTENT_ENCODING)
            .map(|v| v.as_bytes()),
    )
    .map_err(|e| refused(&st, Direction::Write, e))?;
    let (bytes, mut res) = read(&st, headers, body, Direction::Write).await?;
    tokio::task::spawn_blocking(move || {
        let raw = if encoding == Encoding::Identity {
            bytes
        } else {
            let out = decompress(encoding, &bytes, st.bodies.max_decompressed, &mut res)
                .map_err(|e| refused(&st, Direction::Write, e))?;
            drop(bytes);
            Bytes::from(out)
        };
        let done = f(&st, &raw);
        drop(raw);
        drop(res);
        done
    })
    .await
    .map_err(|e| ApiError::new(ErrorType::Internal, e.to_string()))?
}

fn unreadable(e: axum::Error) -> ApiError {
    ApiError::bad_data(format!("cannot read body: {e}"))
}

async fn next(s: &mut axum::body::BodyDataStream) -> Option<Result<Bytes, axum::Error>> {
    std::future::poll_fn(|cx| futures_core::Stream::poll_next(std::pin::Pin::new(&mut *s), cx))
        .await
}

/// The API error for a body that cannot be decompressed or held, counting
/// budget and size refusals in `/metrics`: 413 over a cap, 415 for an
/// unsupported encoding, 503 (writes) or 429 (reads) when the budget is
/// used up, 400 for a corrupt body.
pub fn refused(st: &AppState, direction: Direction, e: DecompressError) -> ApiError {
    let (reason, status, kind) = match &e {
        DecompressError::Budget(BudgetError::Exhausted { .. }) => (
            Some("memory_budget"),
            match direction {
                Direction::Write => StatusCode::SERVICE_UNAVAILABLE,
                Direction::Read => StatusCode::TOO_MANY_REQUESTS,
            },
            ErrorType::Unavailable,
        ),
        DecompressError::Budget(BudgetError::Exceeds { .. }) => (
            Some("memory_budget"),
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorType::BadData,
        ),
        DecompressError::TooLarge { .. } => (
            Some("decompressed_too_large"),
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorType::BadData,
        ),
        DecompressError::Unsupported { .. } => (
            Some("unsupported_encoding"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorType::BadData,
        ),
        _ => (None, StatusCode::BAD_REQUEST, ErrorType::BadData),
    };
    if let Some(reason) = reason {
        st.metrics.refuse_body(reason);
    }
    ApiError {
        kind,
        message: e.to_string(),
        status: Some(status),
    }
}
