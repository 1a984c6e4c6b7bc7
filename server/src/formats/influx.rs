//! InfluxDB line protocol: a pure parser that borrows from its input, so
//! the fuzz target and the bench can call it.
//!
//! # Format
//!
//! One point per line (`\n`, optionally `\r\n`; blank lines and lines
//! starting with `#` are skipped):
//!
//! ```text
//! measurement[,tag=value...] field=value[,field=value...] [timestamp]
//! ```
//!
//! - **Escapes** in the measurement, tag keys, tag values and field keys:
//!   a backslash before a space, `,`, `=` or `\` stands for that character;
//!   before anything else the backslash is kept (as VictoriaMetrics reads
//!   it, and as InfluxDB's own parser does for unknown escapes).
//! - **Field values**: floats (`1`, `-1.5e3`, `inf`, `NaN`), integers
//!   `12i`, unsigned integers `12u`, booleans `t`, `T`, `true`, `True`,
//!   `TRUE` (1) and `f`, `F`, `false`, `False`, `FALSE` (0), and double-
//!   quoted strings, in which `\"` and `\\` are escapes and which may hold
//!   spaces, commas and `=`.
//! - **String fields** are stored as VictoriaMetrics 1.79 stores them
//!   (`lib/protoparser/influx/parser.go`, `parseFieldValue`): the quoted
//!   text parsed as a number when it is one (agents send numbers as
//!   strings), else `0`. A time series database has no string samples;
//!   `"42"` becomes 42 and `"hello"` becomes 0.
//! - Unlike VictoriaMetrics, an unquoted value that is not a number (`x=abc`)
//!   is an error naming the line, not a silent 0.
//! - Tags with an empty key or value are skipped (VictoriaMetrics does the
//!   same); a field with an empty key is an error.
//! - The **timestamp** is an integer in the request's precision; without
//!   one the point gets the time it was received.
//!
//! Each line is read once, left to right (time linear in the input), and
//! its labels are checked against the storage's [`LabelLimits`] as they are
//! read, so a line with 100,000 tags stops at the first one over the limit.

use std::borrow::Cow;
use std::fmt::Write as _;

use strata_engine::{LabelError, LabelLimits};

/// A field's value as it was written.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// An unsuffixed number.
    Float(f64),
    /// `<n>i`.
    Int(i64),
    /// `<n>u`.
    UInt(u64),
    /// `t`, `true`, `f`, `false` and their capitalisations.
    Bool(bool),
    /// A double-quoted string, unescaped.
    Str(Cow<'a, str>),
}

impl Value<'_> {
    /// The sample value stored for this field: booleans are 1 and 0,
    /// strings the number they spell or 0 (VictoriaMetrics 1.79).
    pub fn as_f64(&self) -> f64 {
        match self {
            Value::Float(v) => *v,
            Value::Int(v) => *v as f64,
            Value::UInt(v) => *v as f64,
            Value::Bool(b) => f64::from(u8::from(*b)),
            Value::Str(s) => s.parse().unwrap_or(0.0),
        }
    }
}

/// One parsed line.
#[derive(Debug, Clone, PartialEq)]
pub struct Line<'a> {
    /// The measurement, unescaped (may be empty).
    pub measurement: Cow<'a, str>,
    /// The tags in the order written, empty keys and values skipped.
    pub tags: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    /// The fields in the order written (at least one).
    pub fields: Vec<(Cow<'a, str>, Value<'a>)>,
    /// The timestamp as written (in the request's precision).
    pub timestamp: Option<i64>,
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
    /// The line is not UTF-8.
    #[error("invalid UTF-8")]
    InvalidUtf8,
    /// No space after the measurement and tags.
    #[error("missing fields: expected a space after the measurement and tags")]
    MissingFields,
    /// A tag without `=`.
    #[error("missing '=' in tag {0:?}")]
    MissingTagValue(String),
    /// A field without `=`.
    #[error("missing '=' in field {0:?}")]
    MissingFieldValue(String),
    /// A field with an empty key.
    #[error("field key cannot be empty")]
    EmptyFieldKey,
    /// A field with an empty value.
    #[error("empty value for field {0:?}")]
    EmptyFieldValue(String),
    /// A field value that is not a number, boolean or string.
    #[error("invalid value {value:?} for field {field:?}")]
    InvalidFieldValue {
        /// The field key.
        field: String,
        /// The value as written.
        value: String,
    },
    /// A string value without its closing quote.
    #[error("unterminated string value for field {0:?}")]
    UnterminatedString(String),
    /// A timestamp that is not an integer.
    #[error("invalid timestamp {0:?}")]
    InvalidTimestamp(String),
    /// The labels break the storage's limits.
    #[error(transparent)]
    Limit(#[from] LabelError),
}

/// The lines of `input`, each with its 1-based line number; blank and
/// comment lines are skipped. A bad line is an `Err` and parsing goes on
/// with the next one. Never panics; time linear in the input.
pub fn parse(
    input: &[u8],
    limits: LabelLimits,
) -> impl Iterator<Item = Result<(usize, Line<'_>), ParseError>> + '_ {
    super::numbered_lines(input).filter_map(move |(n, line)| {
        parse_line(line, &limits)
            .map(|parsed| parsed.map(|e| (n, e)))
            .map_err(|kind| ParseError { line: n, kind })
            .transpose()
    })
}

/// One line (without its `\n`): `None` for blank lines and comments.
///
/// # Errors
/// What is wrong with the line.
pub fn parse_line<'a>(line: &'a [u8], limits: &LabelLimits) -> Result<Option<Line<'a>>, ErrorKind> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let s = std::str::from_utf8(line).map_err(|_| ErrorKind::InvalidUtf8)?;
    let s = s.trim_start_matches([' ', '\t']);
    if s.is_empty() || s.starts_with('#') {
        return Ok(None);
    }
    let b = s.as_bytes();
    let mut pos = 0;
    // Measurement.
    let end = scan(b, pos, |c| c == b',' || c == b' ');
    let measurement = unescape(slice(s, pos, end));
    limits.check_one(1, "__name__", measurement.len())?;
    pos = end;
    // Tags; `__name__` and `db` count against the label limit.
    let mut tags = Vec::new();
    while b.get(pos) == Some(&b',') {
        pos += 1;
        let end = scan(b, pos, |c| c == b',' || c == b' ' || c == b'=');
        if b.get(end) != Some(&b'=') {
            return Err(ErrorKind::MissingTagValue(clip(slice(s, pos, end))));
        }
        let key = unescape(slice(s, pos, end));
        pos = end + 1;
        let end = scan(b, pos, |c| c == b',' || c == b' ');
        let value = unescape(slice(s, pos, end));
        pos = end;
        if key.is_empty() || value.is_empty() {
            continue;
        }
        limits.check_one(tags.len() + 3, &key, value.len())?;
        tags.push((key, value));
    }
    if b.get(pos) != Some(&b' ') {
        return Err(ErrorKind::MissingFields);
    }
    pos = skip_spaces(b, pos);
    // Fields.
    let mut fields = Vec::new();
    loop {
        let end = scan(b, pos, |c| c == b',' || c == b' ' || c == b'=');
        if b.get(end) != Some(&b'=') {
            return Err(ErrorKind::MissingFieldValue(clip(slice(s, pos, end))));
        }
        let key = unescape(slice(s, pos, end));
        if key.is_empty() {
            return Err(ErrorKind::EmptyFieldKey);
        }
        // The metric name is `{measurement}_{field}` (or either alone).
        limits.check_one(
            tags.len() + 2,
            "__name__",
            measurement.len() + 1 + key.len(),
        )?;
        pos = end + 1;
        let (value, end) = field_value(s, pos, &key)?;
        fields.push((key, value));
        pos = end;
        match b.get(pos) {
            Some(b',') => pos += 1,
            _ => break,
        }
    }
    // Timestamp.
    let rest = slice(s, pos, b.len()).trim_matches([' ', '\t']);
    let timestamp = if rest.is_empty() {
        None
    } else {
        Some(
            rest.parse::<i64>()
                .map_err(|_| ErrorKind::InvalidTimestamp(clip(rest)))?,
        )
    };
    Ok(Some(Line {
        measurement,
        tags,
        fields,
        timestamp,
    }))
}

/// The value starting at `pos` and where it ends (at `,`, a space or the
/// end of the line).
fn field_value<'a>(s: &'a str, pos: usize, key: &str) -> Result<(Value<'a>, usize), ErrorKind> {
    let b = s.as_bytes();
    if b.get(pos) == Some(&b'"') {
        let mut i = pos + 1;
        let mut escaped = false;
        loop {
            match b.get(i) {
                None => return Err(ErrorKind::UnterminatedString(clip(key))),
                Some(b'\\') => {
                    escaped = true;
                    i += 2;
                }
                Some(b'"') => break,
                Some(_) => i += 1,
            }
        }
        let raw = slice(s, pos + 1, i);
        let end = i + 1;
        if !matches!(b.get(end), None | Some(b',' | b' ')) {
            return Err(ErrorKind::InvalidFieldValue {
                field: clip(key),
                value: clip(slice(s, pos, b.len())),
            });
        }
        let text = if escaped {
            Cow::Owned(unescape_string(raw))
        } else {
            Cow::Borrowed(raw)
        };
        return Ok((Value::Str(text), end));
    }
    let end = scan(b, pos, |c| c == b',' || c == b' ');
    let text = slice(s, pos, end);
    let invalid = || ErrorKind::InvalidFieldValue {
        field: clip(key),
        value: clip(text),
    };
    let value = match text {
        "" => return Err(ErrorKind::EmptyFieldValue(clip(key))),
        "t" | "T" | "true" | "True" | "TRUE" => Value::Bool(true),
        "f" | "F" | "false" | "False" | "FALSE" => Value::Bool(false),
        _ => {
            if let Some(n) = text.strip_suffix('i') {
                Value::Int(n.parse().map_err(|_| invalid())?)
            } else if let Some(n) = text.strip_suffix('u') {
                Value::UInt(n.parse().map_err(|_| invalid())?)
            } else {
                Value::Float(text.parse().map_err(|_| invalid())?)
            }
        }
    };
    Ok((value, end))
}

/// The index of the first byte from `pos` that `stop` accepts and is not
/// escaped by a backslash, or the end.
fn scan(b: &[u8], mut pos: usize, stop: impl Fn(u8) -> bool) -> usize {
    while let Some(&c) = b.get(pos) {
        if c == b'\\' {
            pos += 2;
        } else if stop(c) {
            return pos;
        } else {
            pos += 1;
        }
    }
    b.len()
}

fn skip_spaces(b: &[u8], mut pos: usize) -> usize {
    while b.get(pos) == Some(&b' ') {
        pos += 1;
    }
    pos
}

/// `s[from..to]`, empty when the bounds are not char boundaries (they
/// always are: every delimiter is ASCII).
fn slice(s: &str, from: usize, to: usize) -> &str {
    s.get(from..to.min(s.len())).unwrap_or_default()
}

/// A measurement, tag key, tag value or field key without its escapes.
fn unescape(s: &str) -> Cow<'_, str> {
    if !s.contains('\\') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(e @ (' ' | ',' | '=' | '\\')) => out.push(e),
            Some(e) => {
                out.push('\\');
                out.push(e);
            }
            None => out.push('\\'),
        }
    }
    Cow::Owned(out)
}

/// A string field's text without its escapes (`\"` and `\\`).
fn unescape_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(e @ ('"' | '\\')) => out.push(e),
            Some(e) => {
                out.push('\\');
                out.push(e);
            }
            None => out.push('\\'),
        }
    }
    out
}

fn clip(s: &str) -> String {
    match s.char_indices().nth(64) {
        Some((i, _)) => format!("{}...", s.get(..i).unwrap_or_default()),
        None => s.to_owned(),
    }
}

/// Appends `line` in line protocol, escaped so that [`parse_line`] reads
/// it back unchanged (floats in Rust's shortest round-trip form). The
/// inverse of the parser, for tests and benches.
pub fn write_line(out: &mut String, line: &Line<'_>) {
    escape_into(out, &line.measurement, &[',', ' ', '\\']);
    for (k, v) in &line.tags {
        out.push(',');
        escape_into(out, k, &[',', ' ', '=', '\\']);
        out.push('=');
        escape_into(out, v, &[',', ' ', '=', '\\']);
    }
    for (i, (k, v)) in line.fields.iter().enumerate() {
        out.push(if i == 0 { ' ' } else { ',' });
        escape_into(out, k, &[',', ' ', '=', '\\']);
        out.push('=');
        let _ = match v {
            Value::Float(f) if f.is_nan() => write!(out, "NaN"),
            Value::Float(f) if f.is_infinite() => {
                write!(out, "{}", if *f > 0.0 { "inf" } else { "-inf" })
            }
            Value::Float(f) => write!(out, "{f:?}"),
            Value::Int(n) => write!(out, "{n}i"),
            Value::UInt(n) => write!(out, "{n}u"),
            Value::Bool(b) => write!(out, "{b}"),
            Value::Str(s) => {
                out.push('"');
                escape_into(out, s, &['"', '\\']);
                out.push('"');
                Ok(())
            }
        };
    }
    if let Some(t) = line.timestamp {
        let _ = write!(out, " {t}");
    }
    out.push('\n');
}

fn escape_into(out: &mut String, s: &str, special: &[char]) {
    for c in s.chars() {
        if special.contains(&c) {
            out.push('\\');
        }
        out.push(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn one(s: &str) -> Result<Line<'_>, ErrorKind> {
        parse_line(s.as_bytes(), &LabelLimits::default()).map(|l| l.expect("a point"))
    }

    #[test]
    fn every_field_type() {
        let l = one(r#"weather,host=a,region=eu f=1.5,i=-7i,u=9u,t=t,T=TRUE,n=false,s="42",h="hi" 1700000000000000000"#)
            .unwrap();
        assert_eq!(l.measurement, "weather");
        assert_eq!(
            l.tags,
            vec![("host".into(), "a".into()), ("region".into(), "eu".into())]
        );
        let vals: Vec<(String, f64)> = l
            .fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_f64()))
            .collect();
        assert_eq!(
            vals,
            [
                ("f", 1.5),
                ("i", -7.0),
                ("u", 9.0),
                ("t", 1.0),
                ("T", 1.0),
                ("n", 0.0),
                ("s", 42.0),
                ("h", 0.0)
            ]
            .map(|(k, v)| (k.to_owned(), v))
        );
        assert_eq!(l.timestamp, Some(1_700_000_000_000_000_000));
    }

    #[test]
    fn escapes() {
        let l = one(r#"my\ meas\,x,t\ k=v\,1\=2\\ f\=x="a \"q\" b, c=d",g=2"#).unwrap();
        assert_eq!(l.measurement, "my meas,x");
        assert_eq!(l.tags, vec![("t k".into(), "v,1=2\\".into())]);
        assert_eq!(l.fields[0].0, "f=x");
        assert_eq!(l.fields[0].1, Value::Str("a \"q\" b, c=d".into()));
        assert_eq!(l.fields[1], ("g".into(), Value::Float(2.0)));
        assert_eq!(l.timestamp, None);
        // An unknown escape keeps its backslash.
        assert_eq!(one(r"m,a=x\y f=1").unwrap().tags[0].1, "x\\y");
    }

    #[test]
    fn skips_blank_comments_and_empty_tags() {
        let lines: Vec<_> = parse(
            b"# c\n\n  \r\nm,a=,=b,c=d f=1 5\r\n",
            LabelLimits::default(),
        )
        .collect::<Result<_, _>>()
        .unwrap();
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].0, 4);
        assert_eq!(lines[0].1.tags, vec![("c".into(), "d".into())]);
        assert_eq!(lines[0].1.timestamp, Some(5));
    }

    #[test]
    fn bad_lines_name_their_number_and_the_rest_parse() {
        let got: Vec<_> = parse(
            b"m f=1\nm\nm f=abc\nm f=\"x\nm f=1 12x\nm,t f=1\nm =1\nm f=2",
            LabelLimits::default(),
        )
        .collect();
        let errs: Vec<String> = got
            .iter()
            .filter_map(|r| r.as_ref().err().map(ToString::to_string))
            .collect();
        assert_eq!(
            errs,
            [
                "line 2: missing fields: expected a space after the measurement and tags",
                "line 3: invalid value \"abc\" for field \"f\"",
                "line 4: unterminated string value for field \"f\"",
                "line 5: invalid timestamp \"12x\"",
                "line 6: missing '=' in tag \"t\"",
                "line 7: field key cannot be empty",
            ]
        );
        let ok: Vec<usize> = got
            .iter()
            .filter_map(|r| r.as_ref().ok().map(|l| l.0))
            .collect();
        assert_eq!(ok, [1, 8]);
    }

    #[test]
    fn limits_are_checked_while_parsing() {
        let limits = LabelLimits {
            max_labels: 3,
            ..LabelLimits::default()
        };
        assert!(parse_line(b"m,a=1 f=1", &limits).is_ok());
        let e = parse_line(b"m,a=1,b=2 f=1", &limits).unwrap_err();
        assert!(
            matches!(e, ErrorKind::Limit(LabelError::MoreThan { .. })),
            "{e}"
        );
        let long = format!(
            "m,a={} f=1",
            "x".repeat(LabelLimits::default().max_value_len + 1)
        );
        assert!(matches!(
            parse_line(long.as_bytes(), &LabelLimits::default()),
            Err(ErrorKind::Limit(LabelError::ValueTooLong { .. }))
        ));
    }

    #[test]
    fn hostile_input_is_linear_and_never_panics() {
        let mut s = String::from("m");
        for i in 0..50_000 {
            s.push_str(&format!(",t{i}=v"));
        }
        s.push_str(" f=1");
        let t = std::time::Instant::now();
        assert!(parse_line(s.as_bytes(), &LabelLimits::default()).is_err());
        assert!(t.elapsed() < std::time::Duration::from_secs(2));
        for s in [
            "\\",
            "m\\",
            "m f=\"\\",
            "m f=1\\",
            ",",
            " ",
            "m f",
            "m f=\"a\"x",
        ] {
            let _ = parse_line(s.as_bytes(), &LabelLimits::default());
        }
    }

    fn text() -> impl Strategy<Value = String> {
        proptest::string::string_regex("[a-zA-Z0-9_ ,=\\\\\"é]{0,12}").expect("regex")
    }

    fn key() -> impl Strategy<Value = String> {
        proptest::string::string_regex("[a-zA-Z0-9_ ,=\\\\\"é]{1,12}").expect("regex")
    }

    fn value() -> impl Strategy<Value = Value<'static>> {
        prop_oneof![
            any::<f64>().prop_map(Value::Float),
            any::<i64>().prop_map(Value::Int),
            any::<u64>().prop_map(Value::UInt),
            any::<bool>().prop_map(Value::Bool),
            text().prop_map(|s| Value::Str(s.into())),
        ]
    }

    fn line() -> impl Strategy<Value = Line<'static>> {
        (
            text(),
            proptest::collection::vec((key(), key()), 0..4),
            proptest::collection::vec((key(), value()), 1..5),
            proptest::option::of(any::<i64>()),
        )
            .prop_filter(
                "a comment, or a line without measurement and tags",
                |(m, tags, ..)| !(m.starts_with('#') || (m.is_empty() && tags.is_empty())),
            )
            .prop_map(|(m, tags, fields, timestamp)| Line {
                measurement: m.into(),
                tags: tags
                    .into_iter()
                    .map(|(k, v)| (k.into(), v.into()))
                    .collect(),
                fields: fields.into_iter().map(|(k, v)| (k.into(), v)).collect(),
                timestamp,
            })
    }

    /// NaN != NaN: compare floats by bits.
    fn normal(l: &Line<'_>) -> String {
        format!("{l:?}").replace("NaN", "nan")
    }

    proptest! {
        #[test]
        fn any_valid_line_round_trips(l in line()) {
            let mut s = String::new();
            write_line(&mut s, &l);
            let back = parse(s.as_bytes(), LabelLimits::default())
                .map(|r| r.map(|(_, l)| l))
                .collect::<Result<Vec<_>, _>>();
            prop_assert!(back.is_ok(), "{s:?}: {back:?}");
            let back = back.unwrap_or_default();
            prop_assert_eq!(back.len(), 1, "{:?}", s);
            prop_assert_eq!(normal(&back[0]), normal(&l), "{:?}", s);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse(&bytes, LabelLimits::default()).count();
        }
    }
}
