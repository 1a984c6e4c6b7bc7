//! Prometheus' JSON encoding of results: sample values as strings
//! (`"1.5"`, `"NaN"`, `"+Inf"`), timestamps as seconds.

use std::fmt::Write;

use strata_engine::Labels;
use strata_promql::eval::Value;

/// Go's `strconv.FormatFloat(v, 'f', -1, 64)`, as Prometheus writes values.
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{v}")
    }
}

/// A millisecond timestamp as a JSON number of seconds (`1435781451.781`).
pub fn format_time(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let a = ms.unsigned_abs();
    if a.is_multiple_of(1000) {
        format!("{sign}{}", a / 1000)
    } else {
        format!(
            "{sign}{}.{}",
            a / 1000,
            format!("{:03}", a % 1000).trim_end_matches('0')
        )
    }
}

/// A JSON string literal.
pub fn string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// `{"name":"value",...}`.
pub fn labels(l: &Labels) -> String {
    let mut out = String::from("{");
    for (i, x) in l.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{}:{}", string(&x.name), string(&x.value));
    }
    out.push('}');
    out
}

fn point(t: i64, v: f64) -> String {
    let mut out = String::with_capacity(32);
    push_point(&mut out, t, v);
    out
}

/// Appends `[seconds,"value"]` without allocating.
fn push_point(out: &mut String, t: i64, v: f64) {
    out.push('[');
    let a = t.unsigned_abs();
    if t < 0 {
        out.push('-');
    }
    let _ = write!(out, "{}", a / 1000);
    let ms = a % 1000;
    if ms != 0 {
        // Up to three digits, without trailing zeros.
        out.push('.');
        let digits = [ms / 100, ms / 10 % 10, ms % 10];
        let len = if !ms.is_multiple_of(10) {
            3
        } else if !ms.is_multiple_of(100) {
            2
        } else {
            1
        };
        for d in digits.iter().take(len) {
            out.push(char::from(b'0' + *d as u8));
        }
    }
    out.push_str(",\"");
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        let _ = write!(out, "{v}");
    }
    out.push_str("\"]");
}

/// `{"metric":...,"values":[...]}` for one series.
fn push_series(out: &mut String, l: &Labels, pts: impl Iterator<Item = (i64, f64)>) {
    out.push_str(r#"{"metric":"#);
    out.push_str(&labels(l));
    out.push_str(r#","values":["#);
    for (i, (t, v)) in pts.enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_point(out, t, v);
    }
    out.push_str("]}");
}

/// The `data` of an instant query at `t`.
pub fn instant_data(v: &Value, t: i64) -> String {
    match v {
        Value::Scalar(s) => format!(
            r#"{{"resultType":"scalar","result":{}}}"#,
            point(t, s.first().copied().unwrap_or(f64::NAN))
        ),
        Value::String(s) => format!(
            r#"{{"resultType":"string","result":[{},{}]}}"#,
            format_time(t),
            string(s)
        ),
        Value::Vector(series) => {
            let items: Vec<String> = series
                .iter()
                .filter_map(|s| {
                    Some(format!(
                        r#"{{"metric":{},"value":{}}}"#,
                        labels(&s.labels),
                        point(t, s.points.first().copied().flatten()?)
                    ))
                })
                .collect();
            format!(
                r#"{{"resultType":"vector","result":[{}]}}"#,
                items.join(",")
            )
        }
        Value::Matrix(m) => {
            let mut out = String::from(r#"{"resultType":"matrix","result":["#);
            for (i, r) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_series(&mut out, &r.labels, r.samples.iter().map(|s| (s.t, s.v)));
            }
            out.push_str("]}");
            out
        }
    }
}

/// The `data` of a range query over `times`: a matrix sorted by labels.
pub fn range_data(v: &Value, times: &[i64]) -> String {
    let mut series: Vec<(Labels, Vec<(i64, f64)>)> = match v {
        Value::Scalar(s) => vec![(
            Labels::default(),
            times.iter().copied().zip(s.iter().copied()).collect(),
        )],
        Value::Vector(ser) => ser
            .iter()
            .map(|s| {
                (
                    s.labels.clone(),
                    times
                        .iter()
                        .zip(&s.points)
                        .filter_map(|(&t, p)| Some((t, (*p)?)))
                        .collect(),
                )
            })
            .collect(),
        _ => Vec::new(),
    };
    series.retain(|s| !s.1.is_empty());
    series.sort_by(|a, b| a.0.cmp(&b.0));
    let points: usize = series.iter().map(|s| s.1.len()).sum();
    let mut out = String::with_capacity(64 + points * 24 + series.len() * 128);
    out.push_str(r#"{"resultType":"matrix","result":["#);
    for (i, (l, pts)) in series.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_series(&mut out, l, pts.iter().copied());
    }
    out.push_str("]}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_prometheus() {
        assert_eq!(format_value(1.5), "1.5");
        assert_eq!(format_value(1e21), "1000000000000000000000");
        assert_eq!(format_value(f64::INFINITY), "+Inf");
        assert_eq!(format_value(f64::NAN), "NaN");
        assert_eq!(format_time(1_435_781_451_781), "1435781451.781");
        assert_eq!(format_time(4000), "4");
        assert_eq!(format_time(1500), "1.5");
        for (t, v) in [
            (1_435_781_451_781, 1.5),
            (4000, f64::NAN),
            (1500, f64::NEG_INFINITY),
            (-1500, 0.1),
            (1010, 1e21),
            (1100, -0.0),
        ] {
            assert_eq!(
                point(t, v),
                format!("[{},\"{}\"]", format_time(t), format_value(v)),
                "{t} {v}"
            );
        }
    }
}
