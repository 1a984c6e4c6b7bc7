//! Prometheus' JSON encoding of results: sample values as strings
//! (`"1.5"`, `"NaN"`, `"+Inf"`), timestamps as seconds.

use std::fmt::Write;

use strata_engine::Labels;
use strata_promql::eval::{StepSeries, Value};

/// Go's `strconv.FormatFloat(v, 'f', -1, 64)`, as Prometheus writes values.
pub fn format_value(v: f64) -> String {
    let mut out = String::with_capacity(24);
    push_value(&mut out, v);
    out
}

/// Appends [`format_value`] of `v`: shortest digits that read back as `v`,
/// never an exponent (`1e21` is written out in full), `NaN`, `+Inf`, `-Inf`.
pub fn push_value(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else if v == v.trunc() && v.abs() < 1e15 {
        // Integers (counters, byte counts): exact in an i64.
        if v == 0.0 && v.is_sign_negative() {
            out.push('-');
        }
        out.push_str(itoa::Buffer::new().format(v as i64));
    } else if may_tie(v) {
        // Ryu and Rust break ties between equally short digit strings
        // differently; only values with a short exact expansion can tie.
        let _ = write!(out, "{v}");
    } else {
        let mut buf = ryu::Buffer::new();
        let s = buf.format_finite(v);
        match s.bytes().position(|b| b == b'e') {
            None => out.push_str(s.strip_suffix(".0").unwrap_or(s)),
            Some(e) => {
                let (mantissa, exp) = (&s[..e], &s[e + 1..]);
                push_expanded(out, mantissa, exp.parse().unwrap_or(0));
            }
        }
    }
}

/// True when two shortest digit strings could be equally near `v` (or
/// `v`'s rounding interval could end exactly on a short decimal): only
/// when `v`, or a midpoint next to it, has an exact decimal expansion of
/// at most 18 significant digits. Everywhere else the shortest digits are
/// unique, so Ryu writes what `Display` writes.
fn may_tie(v: f64) -> bool {
    let bits = v.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1 << 52) - 1);
    let (mut m, mut e) = if biased == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1 << 52), biased - 1075)
    };
    // Midpoints to the neighbours are (2m ± 1) × 2^(e-1): short only for
    // e - 1 >= -2, i.e. |v| >= 2^51 or so.
    if e >= -1 {
        return true;
    }
    let tz = m.trailing_zeros();
    m >>= tz;
    e += tz as i32;
    // v = m × 2^e = m × 5^-e / 10^-e: significant digits of m × 5^-e.
    e >= 0 || (-e <= 27 && u128::from(m) * 5u128.pow((-e) as u32) < 10u128.pow(18))
}

/// Writes `mantissa × 10^exp` (mantissa as ryu writes it: `-d.ddd`) in
/// plain decimal notation.
fn push_expanded(out: &mut String, mantissa: &str, exp: i32) {
    let (neg, m) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    if neg {
        out.push('-');
    }
    let digits: String = m.chars().filter(char::is_ascii_digit).collect();
    let n = digits.len() as i32;
    // Digits before the decimal point.
    let point = exp + 1;
    if point <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-point) as usize));
        out.push_str(&digits);
    } else if point >= n {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', (point - n) as usize));
    } else {
        let (int, frac) = digits.split_at(point as usize);
        out.push_str(int);
        out.push('.');
        out.push_str(frac);
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

/// Appends the JSON string literal of `s`: as is between quotes when
/// nothing needs escaping (the usual label), else as serde_json writes it.
pub fn push_string(out: &mut String, s: &str) {
    if s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        out.push_str(&string(s));
    } else {
        out.push('"');
        out.push_str(s);
        out.push('"');
    }
}

/// `{"name":"value",...}`.
pub fn labels(l: &Labels) -> String {
    let mut out = String::with_capacity(128);
    push_labels(&mut out, l);
    out
}

/// Appends [`labels`] of `l`.
pub fn push_labels(out: &mut String, l: &Labels) {
    push_label_pairs(out, l.iter().map(|x| (x.name.as_str(), x.value.as_str())));
}

/// Appends `{"name":"value",...}` of label pairs.
pub fn push_label_pairs<'a>(out: &mut String, pairs: impl Iterator<Item = (&'a str, &'a str)>) {
    out.push('{');
    for (i, (name, value)) in pairs.enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_string(out, name);
        out.push(':');
        push_string(out, value);
    }
    out.push('}');
}

#[cfg(test)]
fn point(t: i64, v: f64) -> String {
    let mut out = String::with_capacity(32);
    push_point(&mut out, t, v);
    out
}

/// Appends `[seconds,"value"]` without allocating.
fn push_point(out: &mut String, t: i64, v: f64) {
    push_point_opening(out, t);
    push_value(out, v);
    out.push_str("\"]");
}

/// Appends the part of a point before its value: `[seconds,"`.
fn push_point_opening(out: &mut String, t: i64) {
    out.push('[');
    let a = t.unsigned_abs();
    if t < 0 {
        out.push('-');
    }
    out.push_str(itoa::Buffer::new().format(a / 1000));
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
}

/// `{"metric":...,"values":[...]}` for one series.
/// `open` writes each point's `[seconds,"` from its time (or from that
/// already formatted).
fn push_series<T>(
    out: &mut String,
    l: &Labels,
    pts: impl Iterator<Item = (T, f64)>,
    mut open: impl FnMut(&mut String, T),
) {
    out.push_str(r#"{"metric":"#);
    push_labels(out, l);
    out.push_str(r#","values":["#);
    for (i, (t, v)) in pts.enumerate() {
        if i > 0 {
            out.push(',');
        }
        open(out, t);
        push_value(out, v);
        out.push_str("\"]");
    }
    out.push_str("]}");
}

/// Appends the `data` of an instant query at `t`.
pub fn push_instant_data(out: &mut String, v: &Value, t: i64) {
    match v {
        Value::Scalar(s) => {
            out.push_str(r#"{"resultType":"scalar","result":"#);
            push_point(out, t, s.first().copied().unwrap_or(f64::NAN));
            out.push('}');
        }
        Value::String(s) => {
            out.push_str(r#"{"resultType":"string","result":["#);
            out.push_str(&format_time(t));
            out.push(',');
            push_string(out, s);
            out.push_str("]}");
        }
        Value::Vector(series) => {
            out.push_str(r#"{"resultType":"vector","result":["#);
            let mut first = true;
            for s in series {
                let Some(v) = s.points.first().copied().flatten() else {
                    continue;
                };
                if !first {
                    out.push(',');
                }
                first = false;
                out.push_str(r#"{"metric":"#);
                push_labels(out, &s.labels);
                out.push_str(r#","value":"#);
                push_point(out, t, v);
                out.push('}');
            }
            out.push_str("]}");
        }
        Value::Matrix(m) => {
            out.push_str(r#"{"resultType":"matrix","result":["#);
            for (i, r) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_series(
                    out,
                    &r.labels,
                    r.samples.iter().map(|s| (s.t, s.v)),
                    push_point_opening,
                );
            }
            out.push_str("]}");
        }
    }
}

/// A typical point's length: `[1700000000,"0.12345678901234567"],`.
const POINT_BYTES: usize = 36;

/// Bytes to reserve for the data of a query with this result.
pub fn data_size(v: &Value) -> usize {
    match v {
        Value::Vector(ser) => ser
            .iter()
            .map(|s| 128 + s.points.iter().flatten().count() * POINT_BYTES)
            .sum::<usize>(),
        Value::Scalar(s) => 64 + s.len() * POINT_BYTES,
        _ => 64,
    }
}

/// Appends the `data` of a range query over `times`: a matrix sorted by
/// labels, series without any point left out.
pub fn push_range_data(out: &mut String, v: &Value, times: &[i64]) {
    out.push_str(r#"{"resultType":"matrix","result":["#);
    match v {
        Value::Scalar(s) if !s.is_empty() && !times.is_empty() => push_series(
            out,
            &Labels::default(),
            times.iter().copied().zip(s.iter().copied()),
            push_point_opening,
        ),
        Value::Vector(ser) => {
            let mut order: Vec<&StepSeries> = ser
                .iter()
                .filter(|s| s.points.iter().any(Option::is_some))
                .collect();
            order.sort_by(|a, b| a.labels.cmp(&b.labels));
            // Every series has its points at the same times: write each
            // time's `[seconds,"` once.
            let openings: Vec<String> = times
                .iter()
                .map(|&t| {
                    let mut o = String::with_capacity(24);
                    push_point_opening(&mut o, t);
                    o
                })
                .collect();
            for (i, s) in order.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let pts = openings
                    .iter()
                    .zip(&s.points)
                    .filter_map(|(o, p)| Some((o.as_str(), (*p)?)));
                push_series(out, &s.labels, pts, String::push_str);
            }
        }
        _ => {}
    }
    out.push_str("]}");
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

    fn step_series(pairs: &[(&str, &str)], points: Vec<Option<f64>>) -> StepSeries {
        StepSeries {
            labels: Labels::from_pairs(pairs).unwrap(),
            drop_name: false,
            points,
        }
    }

    #[test]
    fn range_data_sorts_series_skips_gaps_and_drops_empty_series() {
        let v = Value::Vector(vec![
            step_series(&[("a", "2")], vec![Some(1.5), None, Some(-0.25)]),
            step_series(&[("a", "3")], vec![None, None, None]),
            step_series(&[("a", "1")], vec![None, Some(f64::NAN), None]),
        ]);
        let mut out = String::new();
        push_range_data(&mut out, &v, &[1000, 61_500, 122_250]);
        assert_eq!(
            out,
            r#"{"resultType":"matrix","result":[{"metric":{"a":"1"},"values":[[61.5,"NaN"]]},{"metric":{"a":"2"},"values":[[1,"1.5"],[122.25,"-0.25"]]}]}"#
        );
        let mut out = String::new();
        push_range_data(&mut out, &Value::Scalar(vec![2.0, 3.0]), &[0, 60_000]);
        assert_eq!(
            out,
            r#"{"resultType":"matrix","result":[{"metric":{},"values":[[0,"2"],[60,"3"]]}]}"#
        );
    }

    #[test]
    fn instant_data_writes_each_series_with_a_value() {
        let v = Value::Vector(vec![
            step_series(&[("a", "1")], vec![Some(2.0)]),
            step_series(&[("a", "2")], vec![None]),
        ]);
        let mut out = String::new();
        push_instant_data(&mut out, &v, 5_000);
        assert_eq!(
            out,
            r#"{"resultType":"vector","result":[{"metric":{"a":"1"},"value":[5,"2"]}]}"#
        );
        let mut out = String::new();
        push_instant_data(&mut out, &Value::String("x\"y".into()), 1_500);
        assert_eq!(out, r#"{"resultType":"string","result":[1.5,"x\"y"]}"#);
    }

    /// What `format_value` wrote before the fast paths: Rust's `Display`
    /// of f64, which is Go's `FormatFloat(v, 'f', -1, 64)`.
    fn display(v: f64) -> String {
        if v.is_nan() {
            "NaN".into()
        } else if v.is_infinite() {
            (if v > 0.0 { "+Inf" } else { "-Inf" }).into()
        } else {
            format!("{v}")
        }
    }

    #[test]
    fn values_at_the_edges_of_the_fast_paths() {
        for v in [
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.1,
            1e-7,
            1.5e-300,
            f64::MIN_POSITIVE,
            5e-324,
            999_999_999_999_999.0,
            1e15,
            1e16,
            123_456_789_012_345_680.0,
            1e21,
            -1e22,
            f64::MAX,
            f64::MIN,
            2f64.powi(53),
            2f64.powi(53) + 2.0,
            0.3,
            100.25,
            1795968420.123,
        ] {
            assert_eq!(format_value(v), display(v), "{v:e}");
        }
    }

    proptest::proptest! {
        #[test]
        fn values_are_written_as_display_writes_them(bits in proptest::prelude::any::<u64>()) {
            let v = f64::from_bits(bits);
            proptest::prop_assert_eq!(format_value(v), display(v));
        }

        #[test]
        fn round_values_are_written_as_display_writes_them(i in -1_000_000_000_000_000_i64..1_000_000_000_000_000, scale in 0u32..12) {
            let v = i as f64 / 10f64.powi(scale as i32);
            proptest::prop_assert_eq!(format_value(v), display(v));
        }

        #[test]
        fn label_strings_are_json(s in "\\PC{0,12}|[\"\\\\\\x00-\\x1f a-z]{0,12}") {
            let mut out = String::new();
            push_string(&mut out, &s);
            proptest::prop_assert_eq!(out, string(&s));
        }
    }
}
