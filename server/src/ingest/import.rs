//! `POST /api/v1/import/prometheus` (Prometheus text exposition format) and
//! `POST /api/v1/import` (VictoriaMetrics JSON lines), as VictoriaMetrics
//! serves them.
//!
//! The whole body is parsed before anything is stored: a body that does not
//! parse is refused with 400 naming the line, and nothing of it is kept.
//! Series the storage refuses once parsed (invalid labels, samples older
//! than the retention) are counted and reported with 400 while the rest is
//! stored, as for remote_write. Bodies may be compressed as VictoriaMetrics
//! accepts them (`Content-Encoding: gzip`, `x-gzip`, `zstd`, `snappy` block
//! format, or `identity`; others get 415), decoded under
//! `--max-decompressed-bytes` (413) and the body memory budget (503).
//! OpenMetrics exemplars on sample lines (`# {...} v`) are dropped and
//! counted (`strata_samples_rejected{reason="exemplar"}`); the samples they
//! annotate are stored.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use strata_engine::{Label, Labels, METRIC_NAME};

use crate::app::AppState;
use crate::body;
use crate::error::{ApiError, ErrorType};
use crate::formats::exposition::{self, Entry};
use crate::formats::jsonl;
use crate::metadata::Metadata;
use crate::params::{Params, parse_time};

/// The samples of one series from one input line.
#[derive(Debug)]
struct Pending {
    line: usize,
    labels: Vec<Label>,
    samples: Vec<(i64, f64)>,
}

/// `# TYPE`, `# HELP` and `# UNIT` seen for a metric family.
type TextMetadata = BTreeMap<String, (Option<&'static str>, Option<String>, Option<String>)>;

/// `POST /api/v1/import/prometheus`: text exposition format. Samples
/// without a timestamp get the `timestamp` parameter (Unix seconds or
/// RFC 3339; default now); `extra_label=name=value` parameters are added to
/// every series. `# HELP`, `# TYPE` and `# UNIT` go to `/api/v1/metadata`.
pub async fn prometheus(
    State(st): State<AppState>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let p = Params::parse(q.as_deref(), None)?;
    let extra = extra_labels(&p)?;
    let default_t = match p.get("timestamp") {
        None | Some("") => strata_engine::Clock::now_ms(&strata_engine::SystemClock),
        Some(s) => parse_time(s).ok_or_else(|| {
            ApiError::bad_data(format!(
                "invalid parameter \"timestamp\": cannot parse \"{s}\" to a valid timestamp"
            ))
        })?,
    };
    body::with_decoded(st, &headers, body, move |st, body| {
        let limits = st.storage()?.options().label_limits;
        let (batch, metadata, exemplars) = parse_text(body, default_t, &extra, limits)?;
        record_metadata(st, metadata);
        if exemplars > 0 {
            // Dropped, not refused: the samples they annotate are stored.
            st.metrics.reject("exemplar", exemplars);
        }
        store(st, batch)
    })
    .await
}

/// `POST /api/v1/import`: VictoriaMetrics JSON lines (what
/// `/api/v1/export` writes); `extra_label=name=value` parameters are added
/// to every series.
pub async fn json_lines(
    State(st): State<AppState>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let p = Params::parse(q.as_deref(), None)?;
    let extra = extra_labels(&p)?;
    body::with_decoded(st, &headers, body, move |st, body| {
        let batch = parse_json_lines(body, &extra, st.storage()?.options().label_limits)?;
        store(st, batch)
    })
    .await
}

/// The `extra_label=name=value` parameters.
fn extra_labels(p: &Params) -> Result<Vec<Label>, ApiError> {
    p.all("extra_label")
        .into_iter()
        .map(|s| {
            let (name, value) = s.split_once('=').ok_or_else(|| {
                ApiError::bad_data(format!(
                    "invalid parameter \"extra_label\": expected name=value, got {s:?}"
                ))
            })?;
            strata_engine::validate_name(name).map_err(|e| {
                ApiError::bad_data(format!("invalid parameter \"extra_label\": {e}"))
            })?;
            Ok(Label::new(name, value))
        })
        .collect()
}

/// Adds `extra` to `labels`, replacing labels of the same names.
fn add_extra(labels: &mut Vec<Label>, extra: &[Label]) {
    if extra.is_empty() {
        return;
    }
    labels.retain(|l| !extra.iter().any(|e| e.name == l.name));
    labels.extend_from_slice(extra);
}

fn parse_text(
    body: &[u8],
    default_t: i64,
    extra: &[Label],
    limits: strata_engine::LabelLimits,
) -> Result<(Vec<Pending>, TextMetadata, usize), ApiError> {
    let mut batch = Vec::new();
    let mut metadata = TextMetadata::new();
    let mut exemplars = 0;
    for entry in exposition::parse(body, limits) {
        let (line, entry) = entry.map_err(|e| ApiError::bad_data(e.to_string()))?;
        match entry {
            Entry::Help { metric, text } => {
                metadata.entry(metric.to_owned()).or_default().1 = Some(text.into_owned());
            }
            Entry::Type { metric, kind } => {
                metadata.entry(metric.to_owned()).or_default().0 = Some(kind.metadata_name());
            }
            Entry::Unit { metric, unit } => {
                metadata.entry(metric.to_owned()).or_default().2 = Some(unit.to_owned());
            }
            Entry::Sample(s) => {
                exemplars += usize::from(s.exemplar);
                let mut labels = Vec::with_capacity(1 + s.labels.len() + extra.len());
                labels.push(Label::new(METRIC_NAME, s.name));
                labels.extend(
                    s.labels
                        .into_iter()
                        .map(|(n, v)| Label::new(n, v.into_owned())),
                );
                add_extra(&mut labels, extra);
                batch.push(Pending {
                    line,
                    labels,
                    samples: vec![(s.timestamp.unwrap_or(default_t), s.value)],
                });
            }
        }
    }
    Ok((batch, metadata, exemplars))
}

fn parse_json_lines(
    body: &[u8],
    extra: &[Label],
    limits: strata_engine::LabelLimits,
) -> Result<Vec<Pending>, ApiError> {
    let mut batch = Vec::new();
    for line in jsonl::parse(body, limits) {
        let (line, l) = line.map_err(|e| ApiError::bad_data(e.to_string()))?;
        if l.timestamps.is_empty() {
            continue;
        }
        let mut labels: Vec<Label> = l
            .labels
            .into_iter()
            .map(|(n, v)| Label::new(n, v))
            .collect();
        add_extra(&mut labels, extra);
        batch.push(Pending {
            line,
            labels,
            samples: l.timestamps.into_iter().zip(l.values).collect(),
        });
    }
    Ok(batch)
}

/// Merges what `# HELP`, `# TYPE` and `# UNIT` lines said into the server's metadata.
fn record_metadata(st: &AppState, metadata: TextMetadata) {
    if metadata.is_empty() {
        return;
    }
    let mut md = st.metadata.write();
    for (name, (kind, help, unit)) in metadata {
        let m = md.entry(name).or_insert_with(|| Metadata {
            kind: "unknown",
            help: String::new(),
            unit: String::new(),
        });
        if let Some(k) = kind {
            m.kind = k;
        }
        if let Some(h) = help {
            m.help = h;
        }
        if let Some(u) = unit {
            m.unit = u;
        }
    }
}

/// Appends and commits `batch`: 204, or 400 naming the first refused series
/// (the others are stored).
fn store(st: &AppState, batch: Vec<Pending>) -> Result<Response, ApiError> {
    let storage = st.storage()?;
    let limits = storage.options().label_limits;
    let mut app = storage.appender();
    let mut refused = 0u64;
    let mut first: Option<String> = None;
    let mut reject = |reason: &str, n: usize, msg: String| {
        st.metrics.reject(reason, n);
        refused += n as u64;
        first.get_or_insert(msg);
    };
    for p in batch {
        let labels = match Labels::with_limits(p.labels, &limits) {
            Ok(l) => l,
            Err(e) => {
                reject(
                    "invalid_labels",
                    p.samples.len(),
                    format!("line {}: {e}", p.line),
                );
                continue;
            }
        };
        for (t, v) in p.samples {
            if let Err(e) = app.append(&labels, t, v) {
                if !e.is_bad_input() {
                    return Err(ApiError::new(ErrorType::Internal, e.to_string()));
                }
                reject(
                    crate::metrics::reason_of(&e),
                    1,
                    format!("line {}: {e}", p.line),
                );
            }
        }
    }
    st.commit(app)?;
    if let Some(first) = first {
        return Err(ApiError::bad_data(format!(
            "{refused} samples refused; first: {first}"
        )));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
