//! `POST /write`, `/api/v2/write` and `/influx/write`: InfluxDB line
//! protocol (see [`crate::formats::influx`]), mapped as VictoriaMetrics maps it
//! (`app/vminsert/influx/request_handler.go`):
//!
//! - every field is a series named `{measurement}_{field}` (the separator
//!   is `--influx-measurement-field-separator`); with
//!   `--influx-skip-single-field` a line with a single field is named
//!   `{measurement}`; an empty measurement gives the field key alone;
//! - tags become labels, and the `db` parameter (for `/api/v2/write`,
//!   `bucket` when there is no `db`) becomes the label `db` unless the line
//!   has a `db` tag;
//! - `precision` is `ns` (default; also `n`), `us` (also `u`, `µ`), `ms`,
//!   `s`, `m` or `h`; timestamps are stored in milliseconds, truncated;
//!   points without a timestamp get the time the request was received.
//!
//! Bodies may be compressed (`Content-Encoding: gzip`, as Telegraf sends
//! them, or `zstd`, `snappy`, `identity`). A line that does not parse is
//! refused with 400 naming the line, counted (`invalid_line`), and the good
//! lines of the body are stored, as VictoriaMetrics does; series the
//! storage refuses (invalid label names, out of bounds) are counted by
//! reason and reported the same way.

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use strata_engine::{Clock, LabelLimits, METRIC_NAME, SystemClock};

use crate::app::AppState;
use crate::body;
use crate::error::{ApiError, ErrorType};
use crate::formats::influx::{self, Line};
use crate::params::Params;

/// How line protocol points become series.
#[derive(Debug, Clone)]
pub struct InfluxConfig {
    /// Between measurement and field in metric names (`_`).
    pub separator: String,
    /// Name single-field lines `{measurement}` alone.
    pub skip_single_field: bool,
}

impl Default for InfluxConfig {
    fn default() -> Self {
        InfluxConfig {
            separator: "_".to_owned(),
            skip_single_field: false,
        }
    }
}

/// The unit of the timestamps of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// Nanoseconds (the default).
    Nanos,
    /// Microseconds.
    Micros,
    /// Milliseconds.
    Millis,
    /// Seconds.
    Seconds,
    /// Minutes.
    Minutes,
    /// Hours.
    Hours,
}

impl Precision {
    /// The `precision` parameter (`None` or empty: nanoseconds).
    ///
    /// # Errors
    /// A 400 naming the accepted values.
    pub fn parse(s: Option<&str>) -> Result<Precision, ApiError> {
        Ok(match s.unwrap_or_default() {
            "" | "n" | "ns" => Precision::Nanos,
            "u" | "us" | "µ" => Precision::Micros,
            "ms" => Precision::Millis,
            "s" => Precision::Seconds,
            "m" => Precision::Minutes,
            "h" => Precision::Hours,
            other => {
                return Err(ApiError::bad_data(format!(
                    "invalid parameter \"precision\": {other:?} is not one of ns, us, ms, s, m, h"
                )));
            }
        })
    }

    /// `t` in this precision as milliseconds (truncated toward zero);
    /// `None` when it does not fit.
    pub fn to_ms(self, t: i64) -> Option<i64> {
        match self {
            Precision::Nanos => Some(t / 1_000_000),
            Precision::Micros => Some(t / 1_000),
            Precision::Millis => Some(t),
            Precision::Seconds => t.checked_mul(1_000),
            Precision::Minutes => t.checked_mul(60_000),
            Precision::Hours => t.checked_mul(3_600_000),
        }
    }
}

/// What one batch of lines is written with.
#[derive(Debug, Clone)]
pub struct Batch {
    /// The `db` label for lines without a `db` tag (empty: none).
    pub db: String,
    /// The timestamps' unit.
    pub precision: Precision,
    /// The time of points without a timestamp, in milliseconds.
    pub now_ms: i64,
}

/// What storing a batch did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Samples stored.
    pub stored: usize,
    /// Lines that did not parse.
    pub bad_lines: usize,
    /// Samples the storage refused.
    pub refused: usize,
    /// The first problem, naming its line.
    pub first: Option<String>,
}

impl Outcome {
    /// The 400 reporting what was not stored, if anything was not.
    pub fn error(&self) -> Option<ApiError> {
        let first = self.first.as_deref()?;
        let mut parts = Vec::new();
        if self.bad_lines > 0 {
            parts.push(format!("{} lines refused", self.bad_lines));
        }
        if self.refused > 0 {
            parts.push(format!("{} samples refused", self.refused));
        }
        Some(ApiError::bad_data(format!(
            "{}; first: {first} (the other lines are stored)",
            parts.join(", ")
        )))
    }
}

/// `POST /write`, `/api/v2/write`, `/influx/write`: 204 when every line is
/// stored; 400 naming the first bad line while the good ones are stored.
pub async fn write(
    State(st): State<AppState>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let p = Params::parse(q.as_deref(), None)?;
    let batch = Batch {
        db: p
            .get("db")
            .filter(|s| !s.is_empty())
            .or(p.get("bucket"))
            .unwrap_or_default()
            .to_owned(),
        precision: Precision::parse(p.get("precision"))?,
        now_ms: SystemClock.now_ms(),
    };
    body::with_decoded(st, &headers, body, move |st, raw| {
        match store(st, raw, &batch)?.error() {
            Some(e) => Err(e),
            None => Ok(StatusCode::NO_CONTENT.into_response()),
        }
    })
    .await
}

/// Parses `body` and stores its good lines, counting what is refused.
///
/// # Errors
/// 503 when the storage is not open or the commit fails (nothing is stored
/// then).
pub fn store(st: &AppState, body: &[u8], batch: &Batch) -> Result<Outcome, ApiError> {
    let storage = st.storage()?;
    let limits: LabelLimits = storage.options().label_limits;
    let mut app = storage.appender();
    let mut out = Outcome::default();
    let mut name = String::new();
    // Kept empty between uses, so its allocation serves every sample.
    let mut spare: Vec<(&'static [u8], &'static [u8])> = Vec::new();
    for line in influx::parse(body, limits) {
        let (n, line) = match line {
            Ok(l) => l,
            Err(e) => {
                st.metrics.reject("invalid_line", 1);
                out.bad_lines += 1;
                out.first.get_or_insert_with(|| e.to_string());
                continue;
            }
        };
        let t = match line.timestamp {
            None => batch.now_ms,
            Some(t) => match batch.precision.to_ms(t) {
                Some(t) => t,
                None => {
                    st.metrics.reject("invalid_line", 1);
                    out.bad_lines += 1;
                    out.first
                        .get_or_insert_with(|| format!("line {n}: timestamp {t} out of range"));
                    continue;
                }
            },
        };
        let skip_field =
            st.influx.skip_single_field && line.fields.len() == 1 && !line.measurement.is_empty();
        let has_db = line.tags.iter().any(|(k, _)| k == "db");
        for (key, value) in &line.fields {
            metric_name(&mut name, &line, key, skip_field, &st.influx.separator);
            let mut pairs = relend(std::mem::take(&mut spare));
            pairs.push((METRIC_NAME.as_bytes(), name.as_bytes()));
            pairs.extend(line.tags.iter().map(|(k, v)| (k.as_bytes(), v.as_bytes())));
            if !has_db && !batch.db.is_empty() {
                pairs.push((b"db", batch.db.as_bytes()));
            }
            let appended = app.append_raw(&mut pairs, &[(t, value.as_f64())]);
            spare = relend(pairs);
            match appended {
                Ok(()) => out.stored += 1,
                Err(e) if e.is_bad_input() => {
                    st.metrics.reject(crate::metrics::reason_of(&e), 1);
                    out.refused += 1;
                    out.first.get_or_insert_with(|| format!("line {n}: {e}"));
                }
                Err(e) => return Err(ApiError::new(ErrorType::Internal, e.to_string())),
            }
        }
    }
    st.commit(app)?;
    Ok(out)
}

/// `v` emptied, with another lifetime: the allocation is reused (in-place
/// collect; the element layout is the same).
fn relend<'a, 'b>(mut v: Vec<(&'a [u8], &'a [u8])>) -> Vec<(&'b [u8], &'b [u8])> {
    v.clear();
    v.into_iter().map(|_| (&[][..], &[][..])).collect()
}

/// `{measurement}{separator}{field}`, `{measurement}` or `{field}`.
fn metric_name(out: &mut String, line: &Line<'_>, field: &str, skip_field: bool, sep: &str) {
    out.clear();
    out.push_str(&line.measurement);
    if skip_field {
        return;
    }
    if !out.is_empty() {
        out.push_str(sep);
    }
    out.push_str(field);
}

/// Serves line protocol over TCP (`--influx-listen`), as Telegraf's
/// `socket_writer` and VictoriaMetrics' `-influxListenAddr` speak it:
/// newline-terminated lines, nanosecond timestamps, no `db`, no answer.
/// Complete lines are stored as they arrive; bad lines are counted and
/// logged. A line longer than `--max-request-bytes` closes the connection.
pub async fn serve_tcp(listener: tokio::net::TcpListener, st: AppState) {
    loop {
        match listener.accept().await {
            Ok((conn, peer)) => {
                let st = st.clone();
                tokio::spawn(async move {
                    if let Err(e) = connection(conn, &st).await {
                        tracing::warn!(%peer, error = %e, "influx tcp connection closed");
                    }
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "influx tcp accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

async fn connection(conn: tokio::net::TcpStream, st: &AppState) -> std::io::Result<()> {
    let max = st.max_request_bytes.max(1);
    let mut buf: Vec<u8> = Vec::with_capacity(64 << 10);
    let mut chunk = vec![0u8; 64 << 10];
    loop {
        conn.readable().await?;
        let n = match conn.try_read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        };
        let eof = n == 0;
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        let cut = if eof {
            buf.len()
        } else {
            match buf.iter().rposition(|b| *b == b'\n') {
                Some(i) => i + 1,
                None if buf.len() > max => {
                    return Err(std::io::Error::other(format!(
                        "line longer than --max-request-bytes ({max} bytes)"
                    )));
                }
                None => continue,
            }
        };
        let rest = buf.split_off(cut);
        let lines = std::mem::replace(&mut buf, rest);
        if !lines.is_empty() {
            let st2 = st.clone();
            let batch = Batch {
                db: String::new(),
                precision: Precision::Nanos,
                now_ms: SystemClock.now_ms(),
            };
            let stored = tokio::task::spawn_blocking(move || store(&st2, &lines, &batch))
                .await
                .map_err(std::io::Error::other)?;
            match stored {
                Ok(o) => {
                    if let Some(first) = o.first {
                        tracing::warn!(
                            bad_lines = o.bad_lines,
                            refused = o.refused,
                            first = %first,
                            "influx tcp: lines refused"
                        );
                    }
                }
                Err(e) => tracing::warn!(error = %e.message, "influx tcp: batch not stored"),
            }
        }
        if eof {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precisions() {
        let t = 1_700_000_000_123_456_789i64;
        assert_eq!(
            Precision::parse(None).unwrap().to_ms(t),
            Some(1_700_000_000_123)
        );
        assert_eq!(
            Precision::parse(Some("us")).unwrap().to_ms(t / 1000),
            Some(1_700_000_000_123)
        );
        assert_eq!(Precision::parse(Some("ms")).unwrap().to_ms(5), Some(5));
        assert_eq!(Precision::parse(Some("s")).unwrap().to_ms(5), Some(5_000));
        assert_eq!(Precision::parse(Some("m")).unwrap().to_ms(1), Some(60_000));
        assert_eq!(
            Precision::parse(Some("h")).unwrap().to_ms(1),
            Some(3_600_000)
        );
        assert_eq!(Precision::Seconds.to_ms(i64::MAX), None);
        assert!(Precision::parse(Some("d")).is_err());
    }

    #[test]
    fn names() {
        let l = influx::parse_line(b"cpu,db=x usage=1,idle=2", &LabelLimits::default())
            .unwrap()
            .unwrap();
        let mut s = String::new();
        metric_name(&mut s, &l, "usage", false, "_");
        assert_eq!(s, "cpu_usage");
        metric_name(&mut s, &l, "usage", true, "_");
        assert_eq!(s, "cpu");
        let l = influx::parse_line(b",t=1 usage=1", &LabelLimits::default())
            .unwrap()
            .unwrap();
        metric_name(&mut s, &l, "usage", false, ".");
        assert_eq!(s, "usage");
    }
}
