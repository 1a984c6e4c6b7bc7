//! OTLP metrics to Prometheus series, as Prometheus 3 translates them by
//! default (`UnderscoreEscapingWithSuffixes`):
//!
//! - names: split on characters outside `[a-zA-Z0-9:]`, joined with `_`,
//!   the unit appended (`s` → `seconds`, `By/s` → `bytes_per_second`,
//!   `{annotations}` ignored), `_total` for monotonic cumulative sums,
//!   `_ratio` for gauges of unit `1`, `_` before a leading digit;
//! - labels: characters outside `[a-zA-Z0-9_]` become `_` (runs collapsed),
//!   `key_` before a leading digit; attributes that collide after that are
//!   joined with `;` in key order; empty values are dropped;
//! - `job` is `service.namespace/service.name` (or `service.name`),
//!   `instance` is `service.instance.id`; the other resource attributes go
//!   to one `target_info` sample (value 1) per resource at its latest point,
//!   and those named in `promote` also become labels of every series;
//! - `otel_scope_name` and `otel_scope_version` from the instrumentation
//!   scope (when set);
//! - gauges and cumulative sums: one sample; histograms: `_bucket{le}`
//!   (cumulative, with `+Inf` = count), `_sum` (when sent), `_count`;
//!   summaries: `{quantile}` series, `_sum`, `_count`;
//! - refused and counted, as Prometheus does without its delta feature:
//!   delta (or unspecified) temporality sums and histograms;
//!   exponential histograms (no native histograms yet); names that
//!   normalise to nothing. Exemplars are dropped and counted;
//!   `NoRecordedValue` points become staleness markers.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use strata_engine::STALE_NAN;

use super::proto::{self as p, Data};

/// Translation settings.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Resource attributes copied to labels of every series (by their OTLP
    /// name, e.g. `deployment.environment`).
    pub promote: Vec<String>,
}

/// What a request held that was not stored, and how many points it had.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Data points in the request.
    pub points: u64,
    /// Points of delta (or unspecified) temporality sums and histograms.
    pub delta: u64,
    /// Exponential histogram points.
    pub exponential: u64,
    /// Points of metrics whose name normalises to nothing.
    pub invalid_name: u64,
    /// Exemplars dropped.
    pub exemplars: u64,
    /// The first refused metric, for the partial-success message.
    pub first_refused: Option<String>,
}

impl Outcome {
    /// Points refused during translation.
    pub fn refused(&self) -> u64 {
        self.delta + self.exponential + self.invalid_name
    }

    fn refuse(&mut self, metric: &str, why: &str) {
        if self.first_refused.is_none() {
            self.first_refused = Some(format!("metric {metric:?}: {why}"));
        }
    }
}

/// Receives each series: its labels (including `__name__`, any order),
/// one sample, and the index of the data point it came from (the refused
/// points of a partial success are counted from it).
pub trait Sink {
    /// One series with one sample.
    fn series(&mut self, labels: &mut [(&str, &str)], t: i64, v: f64, point: u64);
}

impl<F: FnMut(&mut [(&str, &str)], i64, f64, u64)> Sink for F {
    fn series(&mut self, labels: &mut [(&str, &str)], t: i64, v: f64, point: u64) {
        self(labels, t, v, point);
    }
}

const SERVICE_NAME: &str = "service.name";
const SERVICE_NAMESPACE: &str = "service.namespace";
const SERVICE_INSTANCE_ID: &str = "service.instance.id";

/// Translates `req`, handing every series to `sink`.
pub fn translate(
    req: &p::ExportMetricsServiceRequest,
    opts: &Options,
    sink: &mut impl Sink,
) -> Outcome {
    let mut out = Outcome::default();
    let mut labels: Vec<(String, String)> = Vec::new();
    let mut name_buf = String::new();
    for rm in &req.resource_metrics {
        let attrs: &[p::KeyValue] = rm.resource.as_ref().map_or(&[], |r| &r.attributes);
        let get = |k: &str| {
            attrs
                .iter()
                .find(|kv| kv.key == k)
                .map(|kv| any_string(kv.value.as_ref()))
        };
        let job = match (get(SERVICE_NAMESPACE), get(SERVICE_NAME)) {
            (Some(ns), Some(n)) if !ns.is_empty() => Some(format!("{ns}/{n}")),
            (_, n) => n,
        };
        let instance = get(SERVICE_INSTANCE_ID);
        let mut resource_labels: Vec<(String, String)> = Vec::new();
        for key in &opts.promote {
            if let Some(v) = get(key) {
                resource_labels.push((label_name(key), v));
            }
        }
        let mut latest: Option<i64> = None;
        for sm in &rm.scope_metrics {
            let mut common = resource_labels.clone();
            if let Some(s) = &sm.scope {
                common.push(("otel_scope_name".into(), s.name.clone()));
                common.push(("otel_scope_version".into(), s.version.clone()));
            }
            if let Some(j) = &job {
                common.push(("job".into(), j.clone()));
            }
            if let Some(i) = &instance {
                common.push(("instance".into(), i.clone()));
            }
            for m in &sm.metrics {
                metric(
                    m,
                    &common,
                    &mut labels,
                    &mut name_buf,
                    &mut out,
                    &mut latest,
                    sink,
                );
            }
        }
        // target_info: the resource attributes that are not job/instance.
        let rest: Vec<&p::KeyValue> = attrs
            .iter()
            .filter(|kv| {
                ![SERVICE_NAME, SERVICE_NAMESPACE, SERVICE_INSTANCE_ID].contains(&kv.key.as_str())
            })
            .collect();
        if let (Some(t), false) = (latest, rest.is_empty()) {
            let mut l = attribute_labels(rest.into_iter());
            if let Some(j) = &job {
                set(&mut l, "job", j);
            }
            if let Some(i) = &instance {
                set(&mut l, "instance", i);
            }
            with_name(&l, "target_info", None, |l| emit(sink, l, t, 1.0, u64::MAX));
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn metric(
    m: &p::Metric,
    common: &[(String, String)],
    labels: &mut Vec<(String, String)>,
    name: &mut String,
    out: &mut Outcome,
    latest: &mut Option<i64>,
    sink: &mut impl Sink,
) {
    let Some(data) = &m.data else {
        return;
    };
    let (kind, n) = match data {
        Data::Gauge(g) => (Kind::Gauge, g.data_points.len()),
        Data::Sum(s) => (
            if s.is_monotonic {
                Kind::Counter
            } else {
                Kind::Other
            },
            s.data_points.len(),
        ),
        Data::Histogram(h) => (Kind::Other, h.data_points.len()),
        Data::ExponentialHistogram(h) => (Kind::Other, h.data_points.len()),
        Data::Summary(s) => (Kind::Other, s.data_points.len()),
    };
    let n = n as u64;
    let first = out.points;
    out.points += n;
    let refuse_temporality = match data {
        Data::Sum(s) => s.aggregation_temporality != p::CUMULATIVE,
        Data::Histogram(h) => h.aggregation_temporality != p::CUMULATIVE,
        _ => false,
    };
    if refuse_temporality {
        out.delta += n;
        out.refuse(&m.name, "delta (or unspecified) temporality is not stored, as in Prometheus without its delta feature");
        return;
    }
    if let Data::ExponentialHistogram(_) = data {
        out.exponential += n;
        out.refuse(
            &m.name,
            "exponential histograms are not stored (no native histograms yet)",
        );
        return;
    }
    name.clear();
    metric_name(&m.name, &m.unit, kind, name);
    if name.is_empty() || name.bytes().all(|b| b == b'_') {
        out.invalid_name += n;
        out.refuse(
            &m.name,
            "the name normalises to an invalid Prometheus metric name",
        );
        return;
    }
    let mut t_max = |t: i64| *latest = Some(latest.map_or(t, |l| l.max(t)));
    let mut point = first;
    let mut suffixed = String::new();
    match data {
        Data::Gauge(p::Gauge { data_points }) | Data::Sum(p::Sum { data_points, .. }) => {
            for dp in data_points {
                out.exemplars += dp.exemplars.len() as u64;
                let t = ms(dp.time_unix_nano);
                t_max(t);
                let v = if dp.flags & p::NO_RECORDED_VALUE != 0 {
                    STALE_NAN
                } else {
                    #[allow(clippy::cast_precision_loss)]
                    match dp.value {
                        Some(p::NumberValue::Double(d)) => d,
                        Some(p::NumberValue::Int(i)) => i as f64,
                        None => 0.0,
                    }
                };
                point_labels(labels, &dp.attributes, common);
                with_name(labels, name, None, |l| emit(sink, l, t, v, point));
                point += 1;
            }
        }
        Data::Histogram(h) => {
            for dp in &h.data_points {
                out.exemplars += dp.exemplars.len() as u64;
                let t = ms(dp.time_unix_nano);
                t_max(t);
                let stale = dp.flags & p::NO_RECORDED_VALUE != 0;
                let val = |v: f64| if stale { STALE_NAN } else { v };
                point_labels(labels, &dp.attributes, common);
                suffixed.clear();
                let _ = write!(suffixed, "{name}_bucket");
                let mut cumulative = 0u64;
                let mut le = String::new();
                for (i, bound) in dp.explicit_bounds.iter().enumerate() {
                    let Some(c) = dp.bucket_counts.get(i) else {
                        break;
                    };
                    cumulative = cumulative.saturating_add(*c);
                    le.clear();
                    let _ = write!(le, "{}", Float(*bound));
                    #[allow(clippy::cast_precision_loss)]
                    let v = val(cumulative as f64);
                    with_name(labels, &suffixed, Some(("le", &le)), |l| {
                        emit(sink, l, t, v, point)
                    });
                }
                #[allow(clippy::cast_precision_loss)]
                let count = val(dp.count as f64);
                with_name(labels, &suffixed, Some(("le", "+Inf")), |l| {
                    emit(sink, l, t, count, point)
                });
                if let Some(sum) = dp.sum {
                    suffixed.clear();
                    let _ = write!(suffixed, "{name}_sum");
                    with_name(labels, &suffixed, None, |l| {
                        emit(sink, l, t, val(sum), point)
                    });
                }
                suffixed.clear();
                let _ = write!(suffixed, "{name}_count");
                with_name(labels, &suffixed, None, |l| emit(sink, l, t, count, point));
                point += 1;
            }
        }
        Data::Summary(s) => {
            for dp in &s.data_points {
                let t = ms(dp.time_unix_nano);
                t_max(t);
                let stale = dp.flags & p::NO_RECORDED_VALUE != 0;
                let val = |v: f64| if stale { STALE_NAN } else { v };
                point_labels(labels, &dp.attributes, common);
                let mut q = String::new();
                for qv in &dp.quantile_values {
                    q.clear();
                    let _ = write!(q, "{}", Float(qv.quantile));
                    with_name(labels, name, Some(("quantile", &q)), |l| {
                        emit(sink, l, t, val(qv.value), point)
                    });
                }
                suffixed.clear();
                let _ = write!(suffixed, "{name}_sum");
                with_name(labels, &suffixed, None, |l| {
                    emit(sink, l, t, val(dp.sum), point)
                });
                suffixed.clear();
                let _ = write!(suffixed, "{name}_count");
                #[allow(clippy::cast_precision_loss)]
                let count = val(dp.count as f64);
                with_name(labels, &suffixed, None, |l| emit(sink, l, t, count, point));
                point += 1;
            }
        }
        Data::ExponentialHistogram(_) => {}
    }
}

/// A float as Prometheus writes `le` and `quantile` values from OTLP
/// (Go's `FormatFloat(f, 'f', -1, 64)`: shortest, no exponent).
struct Float(f64);

impl std::fmt::Display for Float {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0 == f64::INFINITY {
            f.write_str("+Inf")
        } else if self.0 == f64::NEG_INFINITY {
            f.write_str("-Inf")
        } else {
            write!(f, "{}", self.0)
        }
    }
}

/// Milliseconds from nanoseconds since the epoch.
fn ms(ns: u64) -> i64 {
    i64::try_from(ns / 1_000_000).unwrap_or(i64::MAX)
}

/// The labels of a data point without its name: its attributes, then the
/// resource's and scope's labels (`common`, which win).
fn point_labels(
    labels: &mut Vec<(String, String)>,
    attrs: &[p::KeyValue],
    common: &[(String, String)],
) {
    *labels = attribute_labels(attrs.iter());
    for (k, v) in common {
        set(labels, k, v);
    }
}

/// Calls `f` with `labels` plus `__name__` (and `extra`), without copying.
fn with_name(
    labels: &[(String, String)],
    name: &str,
    extra: Option<(&str, &str)>,
    f: impl FnOnce(&mut [(&str, &str)]),
) {
    let mut pairs: Vec<(&str, &str)> = Vec::with_capacity(labels.len() + 2);
    pairs.extend(
        labels
            .iter()
            .filter(|(k, v)| !v.is_empty() && k != "__name__" && extra.is_none_or(|(e, _)| e != k))
            .map(|(k, v)| (k.as_str(), v.as_str())),
    );
    pairs.push(("__name__", name));
    if let Some(e) = extra {
        pairs.push(e);
    }
    f(&mut pairs);
}

fn emit(sink: &mut impl Sink, labels: &mut [(&str, &str)], t: i64, v: f64, point: u64) {
    sink.series(labels, t, v, point);
}

fn set(labels: &mut Vec<(String, String)>, k: &str, v: &str) {
    match labels.iter_mut().find(|(n, _)| n == k) {
        Some(l) => v.clone_into(&mut l.1),
        None => labels.push((k.to_owned(), v.to_owned())),
    }
}

/// Sanitised attribute labels; collisions joined with `;` in key order,
/// empty values left out.
fn attribute_labels<'a>(attrs: impl Iterator<Item = &'a p::KeyValue>) -> Vec<(String, String)> {
    let mut sorted: Vec<&p::KeyValue> = attrs.filter(|kv| !kv.key.is_empty()).collect();
    sorted.sort_by(|a, b| a.key.cmp(&b.key));
    let mut m: BTreeMap<String, String> = BTreeMap::new();
    for kv in sorted {
        let v = any_string(kv.value.as_ref());
        if v.is_empty() {
            continue;
        }
        let k = label_name(&kv.key);
        if k.bytes().all(|b| b == b'_') {
            continue;
        }
        match m.get_mut(&k) {
            Some(old) => {
                old.push(';');
                old.push_str(&v);
            }
            None => {
                m.insert(k, v);
            }
        }
    }
    m.into_iter().collect()
}

/// An attribute value as a label value (Go's `pcommon.Value.AsString`).
fn any_string(v: Option<&p::AnyValue>) -> String {
    match v.and_then(|v| v.value.as_ref()) {
        None => String::new(),
        Some(p::Value::String(s)) => s.clone(),
        Some(p::Value::Bool(b)) => b.to_string(),
        Some(p::Value::Int(i)) => i.to_string(),
        Some(p::Value::Double(d)) => Float(*d).to_string(),
        Some(p::Value::Bytes(b)) => {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode(b)
        }
        Some(other) => json_of(other).to_string(),
    }
}

fn json_of(v: &p::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        p::Value::String(s) => J::from(s.as_str()),
        p::Value::Bool(b) => J::from(*b),
        p::Value::Int(i) => J::from(*i),
        p::Value::Double(d) => J::from(*d),
        p::Value::Bytes(b) => {
            use base64::Engine as _;
            J::from(base64::engine::general_purpose::STANDARD.encode(b))
        }
        p::Value::Array(a) => J::Array(
            a.values
                .iter()
                .map(|v| v.value.as_ref().map_or(J::Null, json_of))
                .collect(),
        ),
        p::Value::KvList(l) => J::Object(
            l.values
                .iter()
                .map(|kv| {
                    (
                        kv.key.clone(),
                        kv.value
                            .as_ref()
                            .and_then(|v| v.value.as_ref())
                            .map_or(J::Null, json_of),
                    )
                })
                .collect(),
        ),
    }
}

/// A label name from an attribute key.
pub fn label_name(key: &str) -> String {
    let replaced: Vec<char> = key
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let first = replaced
        .iter()
        .position(|&c| c != '_')
        .unwrap_or(replaced.len());
    let last = replaced
        .iter()
        .rposition(|&c| c != '_')
        .map_or(0, |i| i + 1);
    let mut s = String::with_capacity(key.len() + 4);
    for (i, &c) in replaced.iter().enumerate() {
        // Runs of `_` inside the name collapse; leading and trailing runs
        // (`__reserved__`) stay.
        if c == '_' && i > first && i < last && s.ends_with('_') {
            continue;
        }
        s.push(c);
    }
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert_str(0, "key_");
    }
    s
}

/// The metric type, as far as naming cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A gauge (`_ratio` for unit `1`).
    Gauge,
    /// A monotonic cumulative sum (`_total`).
    Counter,
    /// Anything else.
    Other,
}

/// Appends the Prometheus name of an OTLP metric to `out`.
pub fn metric_name(name: &str, unit: &str, kind: Kind, out: &mut String) {
    let mut tokens: Vec<&str> = name
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == ':'))
        .filter(|t| !t.is_empty())
        .collect();
    let (main, per) = unit_suffixes(unit);
    let mut main = clean_unit(&main);
    let mut per = clean_unit(&per);
    if tokens.contains(&main.as_str()) {
        main.clear();
    }
    if per == "per_" {
        per.clear();
    } else {
        if per.ends_with('_') {
            per.pop();
        }
        if tokens.contains(&per.as_str()) {
            per.clear();
        }
    }
    if !per.is_empty() && main.ends_with('_') {
        main.pop();
    }
    if !main.is_empty() {
        tokens.push(&main);
    }
    if !per.is_empty() {
        tokens.push(&per);
    }
    if kind == Kind::Counter {
        tokens.retain(|t| *t != "total");
        tokens.push("total");
    }
    if unit == "1" && kind == Kind::Gauge {
        tokens.retain(|t| *t != "ratio");
        tokens.push("ratio");
    }
    let start = out.len();
    for (i, t) in tokens.iter().enumerate() {
        if i > 0 {
            out.push('_');
        }
        out.push_str(t);
    }
    if out[start..].starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(start, '_');
    }
}

fn unit_suffixes(unit: &str) -> (String, String) {
    let (main, per) = match unit.split_once('/') {
        Some((m, p)) => (m, Some(p)),
        None => (unit, None),
    };
    let usable = |s: &str| !s.is_empty() && !s.contains(['{', '}']);
    let main = main.trim();
    let main = if usable(main) {
        main_unit(main).to_owned()
    } else {
        String::new()
    };
    let per = per
        .map(str::trim)
        .filter(|p| usable(p))
        .map_or(String::new(), |p| format!("per_{}", per_unit(p)));
    (main, per)
}

fn main_unit(u: &str) -> &str {
    match u {
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "TiBy" => "tibibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "TBy" => "terabytes",
        "m" => "meters",
        "V" => "volts",
        "A" => "amperes",
        "J" => "joules",
        "W" => "watts",
        "g" => "grams",
        "Cel" => "celsius",
        "Hz" => "hertz",
        "1" => "",
        "%" => "percent",
        other => other,
    }
}

fn per_unit(u: &str) -> &str {
    match u {
        "s" => "second",
        "m" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "y" => "year",
        other => other,
    }
}

/// A unit made of metric-name characters, runs of `_` collapsed, no
/// leading `_`.
fn clean_unit(u: &str) -> String {
    let mut s = String::with_capacity(u.len());
    for c in u.chars() {
        let c = if c.is_ascii_alphanumeric() || c == ':' {
            c
        } else {
            '_'
        };
        if c == '_' && (s.is_empty() || s.ends_with('_')) {
            continue;
        }
        s.push(c);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(n: &str, unit: &str, kind: Kind) -> String {
        let mut s = String::new();
        metric_name(n, unit, kind, &mut s);
        s
    }

    #[test]
    fn names_as_prometheus_builds_them() {
        assert_eq!(
            name("http.server.request.duration", "s", Kind::Other),
            "http_server_request_duration_seconds"
        );
        assert_eq!(
            name("requests.count", "1", Kind::Counter),
            "requests_count_total"
        );
        assert_eq!(
            name("memory.usage", "By", Kind::Gauge),
            "memory_usage_bytes"
        );
        assert_eq!(
            name("cpu.utilization", "1", Kind::Gauge),
            "cpu_utilization_ratio"
        );
        assert_eq!(name("io", "By/s", Kind::Gauge), "io_bytes_per_second");
        assert_eq!(name("items", "{item}", Kind::Counter), "items_total");
        assert_eq!(name("total.requests", "", Kind::Counter), "requests_total");
        assert_eq!(name("latency_seconds", "s", Kind::Other), "latency_seconds");
        assert_eq!(name("2xx.responses", "", Kind::Gauge), "_2xx_responses");
        assert_eq!(name("a__b..c", "", Kind::Gauge), "a_b_c");
        assert_eq!(name("...", "", Kind::Gauge), "");
    }

    #[test]
    fn label_names_sanitised() {
        assert_eq!(label_name("http.method"), "http_method");
        assert_eq!(label_name("123abc"), "key_123abc");
        assert_eq!(label_name("a..b"), "a_b");
        assert_eq!(label_name("__reserved__"), "__reserved__");
    }
}
