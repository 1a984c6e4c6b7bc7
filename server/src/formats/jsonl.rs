//! VictoriaMetrics' JSON lines format, as `/api/v1/export` writes and
//! `/api/v1/import` reads it: one series per line,
//! `{"metric":{"__name__":"up","job":"x"},"values":[1,2.5],"timestamps":[1700000000000,1700000015000]}`.
//!
//! Values are JSON numbers; VictoriaMetrics writes NaN as `null` and the
//! infinities as `"Infinity"` / `"-Infinity"`. The parser also takes any
//! string Go's `ParseFloat` accepts (`"NaN"`, `"+Inf"`, `"1.5"`).
//! Timestamps are integer milliseconds. Parsing is pure (fuzzed).

use std::fmt::{self, Write};

use std::cell::RefCell;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use strata_engine::{Label, LabelLimits, METRIC_NAME, Sample};

use strata_engine::LabelError;

use super::exposition::parse_float;

/// One parsed line: a series and its samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// The labels in input order, `__name__` included when present.
    pub labels: Vec<(String, String)>,
    /// The values, as many as timestamps.
    pub values: Vec<f64>,
    /// The timestamps in ms.
    pub timestamps: Vec<i64>,
}

/// A line that does not parse: where, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {kind}")]
pub struct ParseError {
    /// The 1-based line number.
    pub line: usize,
    /// The problem.
    pub kind: ErrorKind,
}

/// The problem with a line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    /// Not JSON, or not of the expected shape.
    #[error("{message} at column {column}")]
    Json {
        /// What serde_json says.
        message: String,
        /// 1-based column (byte) in the line.
        column: usize,
    },
    /// `values` and `timestamps` differ in length.
    #[error("{values} values but {timestamps} timestamps")]
    LengthMismatch {
        /// Number of values.
        values: usize,
        /// Number of timestamps.
        timestamps: usize,
    },
    /// The labels break the storage's limits (found while parsing: the
    /// rest of the line is not read).
    #[error(transparent)]
    Limit(#[from] LabelError),
}

/// The lines of `input` with their 1-based line numbers (blank lines
/// skipped; `\r\n` accepted), label sets checked against `limits` while
/// they are read. Never panics; time linear in the input.
pub fn parse(
    input: &[u8],
    limits: LabelLimits,
) -> impl Iterator<Item = Result<(usize, Line), ParseError>> + '_ {
    super::numbered_lines(input).filter_map(move |(n, line)| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            return None;
        }
        Some(
            parse_line(line, &limits)
                .map(|l| (n, l))
                .map_err(|kind| ParseError { line: n, kind }),
        )
    })
}

/// One line (without its `\n`); labels are checked against `limits` as
/// they are read.
pub fn parse_line(line: &[u8], limits: &LabelLimits) -> Result<Line, ErrorKind> {
    let over = RefCell::new(None);
    let seed = LineSeed {
        limits,
        over: &over,
    };
    let mut de = serde_json::Deserializer::from_slice(line);
    let raw = seed
        .deserialize(&mut de)
        .and_then(|raw| de.end().map(|()| raw))
        .map_err(|e| {
            if let Some(limit) = over.borrow_mut().take() {
                return ErrorKind::Limit(limit);
            }
            let full = e.to_string();
            let suffix = format!(" at line {} column {}", e.line(), e.column());
            ErrorKind::Json {
                message: full.strip_suffix(&suffix).unwrap_or(&full).to_owned(),
                column: e.column(),
            }
        })?;
    if raw.values.len() != raw.timestamps.len() {
        return Err(ErrorKind::LengthMismatch {
            values: raw.values.len(),
            timestamps: raw.timestamps.len(),
        });
    }
    Ok(Line {
        labels: raw.metric,
        values: raw.values.into_iter().map(|v| v.0).collect(),
        timestamps: raw.timestamps,
    })
}

struct RawLine {
    metric: Vec<(String, String)>,
    values: Vec<Value>,
    timestamps: Vec<i64>,
}

/// Reads a line's object; its `metric` through [`LabelsSeed`].
struct LineSeed<'s> {
    limits: &'s LabelLimits,
    /// The limit broken, when that stopped the parse.
    over: &'s RefCell<Option<LabelError>>,
}

impl<'de> DeserializeSeed<'de> for LineSeed<'_> {
    type Value = RawLine;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<RawLine, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for LineSeed<'_> {
    type Value = RawLine;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object with \"metric\", \"values\" and \"timestamps\"")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<RawLine, A::Error> {
        let (mut metric, mut values, mut timestamps) = (None, None, None);
        while let Some(key) = m.next_key::<std::borrow::Cow<'de, str>>()? {
            match key.as_ref() {
                "metric" if metric.is_none() => {
                    metric = Some(m.next_value_seed(LabelsSeed {
                        limits: self.limits,
                        over: self.over,
                    })?);
                }
                "values" if values.is_none() => values = Some(m.next_value::<Vec<Value>>()?),
                "timestamps" if timestamps.is_none() => {
                    timestamps = Some(m.next_value::<Vec<i64>>()?);
                }
                "metric" | "values" | "timestamps" => {
                    return Err(de::Error::custom(format_args!("duplicate field `{key}`")));
                }
                _ => {
                    m.next_value::<de::IgnoredAny>()?;
                }
            }
        }
        Ok(RawLine {
            metric: metric.ok_or_else(|| de::Error::missing_field("metric"))?,
            values: values.ok_or_else(|| de::Error::missing_field("values"))?,
            timestamps: timestamps.ok_or_else(|| de::Error::missing_field("timestamps"))?,
        })
    }
}

/// A JSON object of strings, kept in order with any duplicate names (the
/// label set check reports those); each pair is checked against the limits
/// as soon as it is read.
struct LabelsSeed<'s> {
    limits: &'s LabelLimits,
    over: &'s RefCell<Option<LabelError>>,
}

impl<'de> DeserializeSeed<'de> for LabelsSeed<'_> {
    type Value = Vec<(String, String)>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for LabelsSeed<'_> {
    type Value = Vec<(String, String)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of label names to string values")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some((name, value)) = m.next_entry::<String, String>()? {
            if let Err(e) = self.limits.check_one(out.len() + 1, &name, value.len()) {
                let message = e.to_string();
                *self.over.borrow_mut() = Some(e);
                return Err(de::Error::custom(message));
            }
            out.push((name, value));
        }
        Ok(out)
    }
}

/// A number, `null` (NaN) or a string holding a float.
struct Value(f64);

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Value;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number, null, or a string such as \"NaN\" or \"-Infinity\"")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
                Ok(Value(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
                Ok(Value(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
                Ok(Value(v as f64))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
                Ok(Value(f64::NAN))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Value, E> {
                parse_float(s)
                    .map(Value)
                    .ok_or_else(|| E::invalid_value(de::Unexpected::Str(s), &self))
            }
        }
        d.deserialize_any(V)
    }
}

/// Appends one line for a series, as VictoriaMetrics writes it: `__name__`
/// first, then the other labels in order; values as shortest round-trip
/// JSON numbers, NaN as `null`, infinities as `"Infinity"` / `"-Infinity"`.
pub fn write_line(out: &mut String, labels: &[Label], samples: &[Sample]) {
    out.push_str("{\"metric\":{");
    let named = labels.iter().filter(|l| l.name == METRIC_NAME);
    let others = labels.iter().filter(|l| l.name != METRIC_NAME);
    for (i, l) in named.chain(others).enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(out, &l.name);
        out.push(':');
        write_string(out, &l.value);
    }
    out.push_str("},\"values\":[");
    for (i, s) in samples.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_value(out, s.v);
    }
    out.push_str("],\"timestamps\":[");
    for (i, s) in samples.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{}", s.t);
    }
    out.push_str("]}\n");
}

fn write_value(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("null");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 {
            "\"Infinity\""
        } else {
            "\"-Infinity\""
        });
    } else if v == 0.0 && v.is_sign_negative() {
        out.push_str("-0.0"); // `-0` would read back as the integer 0
    } else {
        // Debug is the shortest round-trip form, with an exponent for very
        // large and small magnitudes; `1.0` is written `1`, as Go does.
        let start = out.len();
        let _ = write!(out, "{v:?}");
        if out.ends_with(".0") && out.get(start..).is_some_and(|s| !s.contains('e')) {
            out.truncate(out.len() - 2);
        }
    }
}

/// A JSON string literal.
fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn err(s: &str) -> String {
        match parse(s.as_bytes(), LabelLimits::default()).collect::<Result<Vec<_>, _>>() {
            Err(e) => e.to_string(),
            Ok(v) => panic!("{s:?} parsed: {v:?}"),
        }
    }

    /// Issue 14: label limits are checked while the line is read, so a
    /// line with 100,000 labels or a 1 MiB value is refused at once.
    #[test]
    fn label_limits_are_checked_while_parsing() {
        let labels: Vec<String> = (0..100_000).map(|i| format!("\"l{i}\":\"v\"")).collect();
        let line = format!(
            "{{\"metric\":{{{}}},\"values\":[1],\"timestamps\":[1]}}",
            labels.join(",")
        );
        let text =
            format!("{{\"metric\":{{\"a\":\"b\"}},\"values\":[1],\"timestamps\":[1]}}\n{line}");
        let started = std::time::Instant::now();
        let e = parse(text.as_bytes(), LabelLimits::default())
            .find_map(Result::err)
            .unwrap();
        assert!(started.elapsed() < std::time::Duration::from_millis(500));
        assert_eq!(e.line, 2);
        assert_eq!(e.kind, ErrorKind::Limit(LabelError::MoreThan { limit: 40 }));
        assert!(
            e.to_string().starts_with("line 2: more than 40 labels"),
            "{e}"
        );

        let huge = format!(
            "{{\"metric\":{{\"__name__\":\"m\",\"a\":\"{}\"}},\"values\":[1],\"timestamps\":[1]}}",
            "x".repeat(1 << 20)
        );
        assert_eq!(
            parse_line(huge.as_bytes(), &LabelLimits::default()).unwrap_err(),
            ErrorKind::Limit(LabelError::ValueTooLong {
                name: "a".into(),
                len: 1 << 20,
                limit: 4096
            })
        );
        // Other errors keep serde's message; fields may come in any order.
        let e = parse_line(
            br#"{"metric":{"a":"b"},"values":[1]}"#,
            &LabelLimits::default(),
        );
        assert!(
            matches!(e, Err(ErrorKind::Json { ref message, .. }) if message.contains("missing field `timestamps`")),
            "{e:?}"
        );
        let l = parse_line(
            br#"{"timestamps":[5],"extra":{"x":[1]},"values":[2],"metric":{"a":"b"}}"#,
            &LabelLimits::default(),
        )
        .unwrap();
        assert_eq!(l.labels, vec![("a".to_owned(), "b".to_owned())]);
        assert_eq!((l.values, l.timestamps), (vec![2.0], vec![5]));
        assert!(
            parse_line(
                br#"{"metric":{},"values":[],"timestamps":[]} x"#,
                &LabelLimits::default()
            )
            .is_err()
        );
    }

    #[test]
    fn parses_victoriametrics_lines() {
        let text = "{\"metric\":{\"__name__\":\"up\",\"job\":\"x\"},\"values\":[1,2.5,null,\"NaN\",\"Inf\",\"+Inf\",\"-Infinity\",\"1e3\"],\"timestamps\":[1,2,3,4,5,6,7,8]}\r\n\
                    \n\
                    {\"timestamps\":[],\"values\":[],\"metric\":{},\"extra\":true}\n";
        let lines: Vec<_> = parse(text.as_bytes(), LabelLimits::default())
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(lines.len(), 2);
        let (n, l) = &lines[0];
        assert_eq!(*n, 1);
        assert_eq!(
            l.labels,
            vec![("__name__".into(), "up".into()), ("job".into(), "x".into())]
        );
        assert_eq!(l.timestamps, (1..=8).collect::<Vec<i64>>());
        let v = &l.values;
        assert_eq!((v[0], v[1], v[7]), (1.0, 2.5, 1000.0));
        assert!(v[2].is_nan() && v[3].is_nan());
        assert_eq!(
            (v[4], v[5], v[6]),
            (f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY)
        );
        assert_eq!(lines[1].0, 3);
        assert!(lines[1].1.labels.is_empty());
    }

    #[test]
    fn errors_name_the_line() {
        let ok = r#"{"metric":{"a":"b"},"values":[1],"timestamps":[1]}"#;
        assert_eq!(
            err(&format!(
                "{ok}\n{{\"metric\":{{}},\"values\":[1,2],\"timestamps\":[1]}}"
            )),
            "line 2: 2 values but 1 timestamps"
        );
        assert_eq!(
            err(&format!("{ok}\n{ok}\n{{\"metric\":")),
            "line 3: EOF while parsing a value at column 10"
        );
        assert!(
            err(r#"{"metric":{"a":1},"values":[],"timestamps":[]}"#)
                .starts_with("line 1: invalid type: integer `1`, expected a string")
        );
        assert!(
            err(r#"{"metric":{},"values":[1],"timestamps":[1.5]}"#)
                .starts_with("line 1: invalid type: floating point")
        );
        assert!(
            err(r#"{"metric":{},"values":["x"],"timestamps":[1]}"#)
                .starts_with("line 1: invalid value: string \"x\"")
        );
        assert!(
            err(r#"{"metric":{},"values":[true],"timestamps":[1]}"#)
                .starts_with("line 1: invalid type: boolean")
        );
        assert!(
            err(r#"{"metric":{},"timestamps":[]}"#).starts_with("line 1: missing field `values`")
        );
        assert!(err("\u{feff}[]").starts_with("line 1: expected value"));
        let bad = parse(
            b"{\"metric\":{\"a\":\"\xff\"},\"values\":[],\"timestamps\":[]}",
            LabelLimits::default(),
        )
        .next();
        assert!(
            matches!(bad, Some(Err(ParseError { line: 1, .. }))),
            "{bad:?}"
        );
    }

    #[test]
    fn writes_the_victoriametrics_shape() {
        let labels =
            strata_engine::Labels::from_pairs(&[("__name__", "up"), ("Zone", "a\"b\\c\nd\u{1}")])
                .unwrap();
        let samples: Vec<Sample> = [
            (1, 1.0),
            (2, 2.5),
            (3, f64::NAN),
            (4, f64::INFINITY),
            (5, f64::NEG_INFINITY),
            (6, -0.0),
            (7, 1e-7),
            (8, 1e21),
            (9, -123456789.0),
        ]
        .iter()
        .map(|&(t, v)| Sample::new(t, v))
        .collect();
        let mut out = String::new();
        write_line(&mut out, labels.as_slice(), &samples);
        assert_eq!(
            out,
            "{\"metric\":{\"__name__\":\"up\",\"Zone\":\"a\\\"b\\\\c\\nd\\u0001\"},\
             \"values\":[1,2.5,null,\"Infinity\",\"-Infinity\",-0.0,1e-7,1e21,-123456789],\
             \"timestamps\":[1,2,3,4,5,6,7,8,9]}\n"
        );
        let back = parse_line(out.trim_end().as_bytes(), &LabelLimits::default()).unwrap();
        assert_eq!(back.labels[1].1, "a\"b\\c\nd\u{1}");
        assert_eq!(back.values[5].to_bits(), (-0.0f64).to_bits());
    }

    fn label_value() -> impl Strategy<Value = String> {
        "[a-z\"\\\\\n\t\r é\u{1}\u{2028}\u{1F600}{}=,]{0,8}"
    }

    fn value() -> impl Strategy<Value = f64> {
        prop_oneof![
            any::<f64>(),
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(-0.0),
            (-1_000_000i64..1_000_000).prop_map(|i| i as f64),
        ]
    }

    fn same(a: f64, b: f64) -> bool {
        a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
    }

    proptest! {
        #[test]
        fn json_lines_round_trip(
            labels in proptest::collection::btree_map("[a-zA-Z_][a-zA-Z0-9_]{0,6}", label_value(), 1..5),
            samples in proptest::collection::vec((any::<i64>(), value()), 0..8),
        ) {
            let labels: Vec<Label> = labels.into_iter().map(|(n, v)| Label::new(n, v)).collect();
            let samples: Vec<Sample> = samples.into_iter().map(|(t, v)| Sample::new(t, v)).collect();
            let mut out = String::new();
            write_line(&mut out, &labels, &samples);
            let lines: Vec<_> = parse(out.as_bytes(), LabelLimits::default()).collect::<Result<_, _>>().unwrap();
            prop_assert_eq!(lines.len(), 1);
            let mut got = lines[0].1.labels.clone();
            got.sort();
            let want: Vec<(String, String)> = labels.iter().map(|l| (l.name.clone(), l.value.clone())).collect();
            prop_assert_eq!(got, want);
            prop_assert_eq!(&lines[0].1.timestamps, &samples.iter().map(|s| s.t).collect::<Vec<_>>());
            for (g, s) in lines[0].1.values.iter().zip(&samples) {
                prop_assert!(same(*g, s.v), "{} != {}", g, s.v);
            }
            let mut again = String::new();
            let back: Vec<Sample> = lines[0].1.timestamps.iter().zip(&lines[0].1.values).map(|(&t, &v)| Sample::new(t, v)).collect();
            write_line(&mut again, &labels, &back);
            prop_assert_eq!(again, out);
        }

        #[test]
        fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse(&bytes, LabelLimits::default()).count();
        }
    }
}
