//! `POST /api/v1/write`: remote_write 1.0 (`prometheus.WriteRequest`) and
//! 2.0 (`io.prometheus.write.v2.Request`), told apart by `Content-Type`.
//!
//! Nothing unstorable is acknowledged silently: native histograms (both
//! versions) are refused with 400 naming how many, while the float samples
//! of the same request are stored; exemplars are dropped and counted in
//! `strata_samples_rejected{reason="exemplar"}`. Every answer, 2xx or not,
//! carries the `X-Prometheus-Remote-Write-{Samples,Histograms,Exemplars}-Written`
//! headers of the 2.0 spec.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::app::AppState;
use crate::body::{self, Direction};
use crate::budget::Reservation;
use crate::error::{ApiError, ErrorType};
use crate::formats::decompress::{DecompressError, snappy_into};
use crate::formats::remote_write::{DecodeError, MetricMetadata};
use crate::formats::remote_write_v2::{self, FamilyMetadata};
use crate::formats::wire::{for_each_series_raw, not_utf8};
use crate::metadata::{Metadata, metric_type_name};

/// Stores a remote_write request: 204 when stored, 400 for data that will
/// never be accepted (the valid series of the request are stored), 413
/// over a size cap, 415 for a message or encoding Strata does not read,
/// 5xx when retrying can help (503 when the body memory budget is used up).
pub async fn write(State(st): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let answer = match negotiate(&st, &headers) {
        Err(e) => Answer::failed(e),
        Ok(proto) => match body::read(&st, &headers, body, Direction::Write).await {
            Err(e) => Answer::failed(e),
            Ok((body, res)) => receive(st, proto, body, res).await,
        },
    };
    answer.into_response()
}

async fn receive(st: AppState, proto: Proto, body: Bytes, mut res: Reservation) -> Answer {
    tokio::task::spawn_blocking(move || {
        DECOMPRESSED.with_borrow_mut(|buf| {
            let stored = store(&st, proto, &body, buf, &mut res);
            if buf.len() > KEPT_BUFFER_BYTES {
                *buf = Vec::new();
            }
            stored
        })
    })
    .await
    .unwrap_or_else(|e| Answer::failed(ApiError::new(ErrorType::Internal, e.to_string())))
}

/// Decompressed bodies up to this size keep their buffer for the thread's
/// next request (no allocation, no page faults); larger ones free it.
const KEPT_BUFFER_BYTES: usize = 4 << 20;

thread_local! {
    static DECOMPRESSED: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The remote_write message a request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    /// `prometheus.WriteRequest` (remote_write 1.0).
    V1,
    /// `io.prometheus.write.v2.Request` (remote_write 2.0).
    V2,
}

/// The message named by `Content-Type` (none, `application/x-protobuf`, or
/// with `proto=prometheus.WriteRequest`: 1.0; with
/// `proto=io.prometheus.write.v2.Request`: 2.0), and a `Content-Encoding`
/// of snappy (or none or `identity`, which senders mean as snappy: the body
/// is a snappy block either way). Anything else is 415, counted. `X-Prometheus-Remote-Write-Version` is advisory in the 2.0 spec
/// and not read: `Content-Type` decides.
///
/// # Errors
/// A 415 [`ApiError`] naming what is not supported.
pub fn negotiate(st: &AppState, headers: &HeaderMap) -> Result<Proto, ApiError> {
    let unsupported = |msg: String| {
        let mut e = ApiError::bad_data(msg);
        e.status = Some(StatusCode::UNSUPPORTED_MEDIA_TYPE);
        e
    };
    if let Some(enc) = headers.get(header::CONTENT_ENCODING) {
        let enc = enc.to_str().unwrap_or("?").trim();
        if !enc.eq_ignore_ascii_case("snappy") && !enc.eq_ignore_ascii_case("identity") {
            let e = DecompressError::Unsupported {
                encoding: enc.to_owned(),
                accepted: "snappy (block format; remote_write bodies are snappy-compressed)",
            };
            return Err(body::refused(st, Direction::Write, e));
        }
    }
    let Some(ct) = headers.get(header::CONTENT_TYPE) else {
        return Ok(Proto::V1);
    };
    let ct = ct.to_str().unwrap_or("?");
    proto_of(ct).ok_or_else(|| {
        unsupported(format!(
            "unsupported Content-Type {ct:?}: expected application/x-protobuf with \
             proto=prometheus.WriteRequest or proto={}",
            remote_write_v2::PROTO
        ))
    })
}

/// The message a `Content-Type` value names, `None` when unsupported.
fn proto_of(content_type: &str) -> Option<Proto> {
    let mut parts = content_type.split(';');
    let media = parts.next().unwrap_or_default().trim();
    if media.is_empty() && content_type.trim().is_empty() {
        return Some(Proto::V1);
    }
    if !media.eq_ignore_ascii_case("application/x-protobuf") {
        return None;
    }
    let mut proto = Proto::V1;
    for p in parts {
        let Some((k, v)) = p.split_once('=') else {
            continue;
        };
        if !k.trim().eq_ignore_ascii_case("proto") {
            continue;
        }
        proto = match v.trim().trim_matches('"') {
            "prometheus.WriteRequest" => Proto::V1,
            remote_write_v2::PROTO => Proto::V2,
            _ => return None,
        };
    }
    Some(proto)
}

/// What a request stored, as the `X-Prometheus-Remote-Write-*-Written`
/// headers report it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Written {
    samples: u64,
    histograms: u64,
    exemplars: u64,
}

/// The answer to a request and what it stored (also when it failed).
#[derive(Debug)]
struct Answer {
    written: Written,
    error: Option<ApiError>,
}

impl Answer {
    fn failed(e: ApiError) -> Answer {
        Answer {
            written: Written::default(),
            error: Some(e),
        }
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let mut resp = match self.error {
            None => StatusCode::NO_CONTENT.into_response(),
            Some(e) => e.into_response(),
        };
        let h = resp.headers_mut();
        let w = self.written;
        for (name, n) in [
            ("x-prometheus-remote-write-samples-written", w.samples),
            ("x-prometheus-remote-write-histograms-written", w.histograms),
            ("x-prometheus-remote-write-exemplars-written", w.exemplars),
        ] {
            h.insert(name, HeaderValue::from(n));
        }
        resp
    }
}

/// Decompresses `body` into `buf` (its size reserved in `res` first) and
/// stores its samples.
fn store(
    st: &AppState,
    proto: Proto,
    body: &[u8],
    buf: &mut Vec<u8>,
    res: &mut Reservation,
) -> Answer {
    let n = match snappy_into(body, st.bodies.max_decompressed, res, buf) {
        Ok(n) => n,
        Err(e) => return Answer::failed(body::refused(st, Direction::Write, e)),
    };
    let raw = buf.get(..n).unwrap_or_default();
    match ingest(st, proto, raw) {
        Ok(answer) => answer,
        Err(e) => Answer::failed(e),
    }
}

/// Decodes a decompressed body and stores its float samples. `Err` when
/// nothing was stored; otherwise the answer says what was, and why the
/// rest was refused.
fn ingest(st: &AppState, proto: Proto, raw: &[u8]) -> Result<Answer, ApiError> {
    let storage = st.storage()?;
    let mut app = storage.appender();
    let mut refused: Vec<String> = Vec::new();
    // Series go into the batch as they are decoded (labels borrowed from
    // the body); a malformed body stops here and nothing is committed.
    let mut add = |labels: &mut Vec<(&[u8], &[u8])>, samples: &[(i64, f64)]| {
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
    };
    let bad = |e: DecodeError| ApiError::bad_data(e.to_string());
    let (histograms, exemplars) = match proto {
        Proto::V1 => {
            let walked = for_each_series_raw(raw, &mut add).map_err(bad)?;
            record_v1_metadata(st, &walked.metadata);
            (walked.histograms, walked.exemplars)
        }
        Proto::V2 => {
            let walked = remote_write_v2::for_each_series(raw, &mut add).map_err(bad)?;
            record_v2_metadata(st, &walked.metadata);
            (walked.histograms, walked.exemplars)
        }
    };
    let samples = app.len() as u64;
    st.commit(app)?;
    Ok(Answer {
        written: Written {
            samples,
            ..Written::default()
        },
        error: refusal(st, histograms, exemplars, &refused),
    })
}

/// Counts what was not stored, and the 400 that reports it: native
/// histograms and refused series are refused (the sender sees the failure
/// and does not retry), exemplars only counted.
fn refusal(
    st: &AppState,
    histograms: usize,
    exemplars: usize,
    refused: &[String],
) -> Option<ApiError> {
    if exemplars > 0 {
        st.metrics.reject("exemplar", exemplars);
    }
    let mut parts = Vec::new();
    if histograms > 0 {
        st.metrics.reject("native_histogram", histograms);
        parts.push(format!(
            "{histograms} native histogram samples refused: Strata does not store native \
             histograms yet (the float samples of the request are stored)"
        ));
    }
    if let Some(first) = refused.first() {
        parts.push(format!("{} series refused; first: {first}", refused.len()));
    }
    (!parts.is_empty()).then(|| ApiError::bad_data(parts.join("; ")))
}

/// Stores 1.0 `metadata` entries.
fn record_v1_metadata(st: &AppState, metadata: &[MetricMetadata]) {
    if metadata.is_empty() {
        return;
    }
    let mut md = st.metadata.write();
    for m in metadata {
        md.insert(
            m.metric_family_name.clone(),
            Metadata {
                kind: metric_type_name(m.r#type),
                help: m.help.clone(),
                unit: m.unit.clone(),
            },
        );
    }
}

/// Stores 2.0 per-series metadata, allocating only for families whose
/// metadata changed (2.0 senders repeat it in every request).
fn record_v2_metadata(st: &AppState, metadata: &[FamilyMetadata<'_>]) {
    if metadata.is_empty() {
        return;
    }
    let same = |md: &std::collections::BTreeMap<String, Metadata>, m: &FamilyMetadata<'_>| {
        md.get(m.metric).is_some_and(|e| {
            e.kind == metric_type_name(m.kind) && e.help == m.help && e.unit == m.unit
        })
    };
    {
        let md = st.metadata.read();
        if metadata.iter().all(|m| same(&md, m)) {
            return;
        }
    }
    let mut md = st.metadata.write();
    for m in metadata {
        if !same(&md, m) {
            md.insert(
                m.metric.to_owned(),
                Metadata {
                    kind: metric_type_name(m.kind),
                    help: m.help.to_owned(),
                    unit: m.unit.to_owned(),
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        let v2 = "application/x-protobuf;proto=io.prometheus.write.v2.Request";
        for (ct, want) in [
            ("", Some(Proto::V1)),
            ("application/x-protobuf", Some(Proto::V1)),
            (
                "application/x-protobuf;proto=prometheus.WriteRequest",
                Some(Proto::V1),
            ),
            (
                "Application/X-Protobuf; proto=\"prometheus.WriteRequest\"",
                Some(Proto::V1),
            ),
            (v2, Some(Proto::V2)),
            (
                "application/x-protobuf ; charset=utf-8; proto=io.prometheus.write.v2.Request",
                Some(Proto::V2),
            ),
            (
                "application/x-protobuf;proto=io.prometheus.write.v3.Request",
                None,
            ),
            ("application/json", None),
            ("text/plain", None),
        ] {
            assert_eq!(proto_of(ct), want, "{ct:?}");
        }
    }
}
