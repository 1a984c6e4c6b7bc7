//! The Prometheus text exposition format, version 0.0.4: a pure parser that
//! borrows from its input, so the fuzz target can call it.
//!
//! Lines are `# HELP name text`, `# TYPE name type`, other comments, blank
//! lines, and samples `name{label="value",...} value [timestamp_ms]`. CRLF line
//! ends are accepted; a trailing comma in a label set too.

use std::borrow::Cow;

use strata_engine::{LabelError, LabelLimits};

mod float;

pub use float::parse_float;

/// A metric type from a `# TYPE` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    /// `counter`.
    Counter,
    /// `gauge`.
    Gauge,
    /// `histogram`.
    Histogram,
    /// `summary`.
    Summary,
    /// `untyped`.
    Untyped,
}

impl MetricType {
    /// The type as `/api/v1/metadata` names it (`untyped` is `unknown` there).
    pub fn metadata_name(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::Summary => "summary",
            MetricType::Untyped => "unknown",
        }
    }

    fn parse(s: &str) -> Option<MetricType> {
        [
            ("counter", MetricType::Counter),
            ("gauge", MetricType::Gauge),
            ("histogram", MetricType::Histogram),
            ("summary", MetricType::Summary),
            ("untyped", MetricType::Untyped),
        ]
        .into_iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(s))
        .map(|(_, t)| t)
    }
}

/// One sample line, borrowing from the input where no unescaping was needed.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample<'a> {
    /// The metric name.
    pub name: &'a str,
    /// The labels in input order (never `__name__`; no duplicates).
    pub labels: Vec<(&'a str, Cow<'a, str>)>,
    /// The value.
    pub value: f64,
    /// The timestamp in ms, when the line has one.
    pub timestamp: Option<i64>,
    /// The line ends with an OpenMetrics exemplar (`# {labels} value
    /// [timestamp]`), checked for syntax and not kept: Strata does not
    /// store exemplars.
    pub exemplar: bool,
}

/// What a non-blank, non-comment line holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry<'a> {
    /// `# HELP metric text` (text unescaped).
    Help {
        /// The metric family.
        metric: &'a str,
        /// The help text.
        text: Cow<'a, str>,
    },
    /// `# TYPE metric type`.
    Type {
        /// The metric family.
        metric: &'a str,
        /// Its type.
        kind: MetricType,
    },
    /// `# UNIT metric unit` (OpenMetrics).
    Unit {
        /// The metric family.
        metric: &'a str,
        /// The unit.
        unit: &'a str,
    },
    /// A sample.
    Sample(Sample<'a>),
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

/// The problem with a line. `found` fields describe what was there instead
/// (`'x'` or `end of line`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    /// The line is not UTF-8.
    #[error("invalid UTF-8")]
    InvalidUtf8,
    /// A sample line does not start with a metric name.
    #[error("expected metric name, found {found}")]
    ExpectedMetricName {
        /// What was there.
        found: String,
    },
    /// A `# HELP` or `# TYPE` line names an invalid metric.
    #[error("invalid metric name {0:?}")]
    InvalidMetricName(String),
    /// The metric name is followed by something else than `{` or a blank.
    #[error("expected '{{' or a space after metric name, found {found}")]
    ExpectedAfterName {
        /// What was there.
        found: String,
    },
    /// A label set holds something else than a label name.
    #[error("expected label name or '}}', found {found}")]
    ExpectedLabelName {
        /// What was there.
        found: String,
    },
    /// A label name is not followed by `=`.
    #[error("expected '=' after label name, found {found}")]
    ExpectedEquals {
        /// What was there.
        found: String,
    },
    /// A label value does not start with `"`.
    #[error("expected '\"' to start label value, found {found}")]
    ExpectedQuote {
        /// What was there.
        found: String,
    },
    /// A backslash in a label value is not followed by `\`, `"` or `n`.
    #[error("invalid escape sequence '\\{0}' in label value")]
    InvalidEscape(char),
    /// A label value runs to the end of the line.
    #[error("unterminated label value")]
    UnterminatedValue,
    /// A label value is not followed by `,` or `}`.
    #[error("expected ',' or '}}' after label value, found {found}")]
    ExpectedCommaOrBrace {
        /// What was there.
        found: String,
    },
    /// `__name__` inside the braces.
    #[error("label name \"__name__\" is reserved")]
    ReservedLabel,
    /// The same label twice.
    #[error("duplicate label name {0:?}")]
    DuplicateLabel(String),
    /// A sample line without a value.
    #[error("expected value")]
    MissingValue,
    /// A value that is not a float.
    #[error("invalid value {0:?}")]
    InvalidValue(String),
    /// A timestamp that is not an integer (ms).
    #[error("invalid timestamp {0:?}")]
    InvalidTimestamp(String),
    /// Text after the timestamp, or after the type of a `# TYPE` line.
    #[error("unexpected text {0:?} at end of line")]
    TrailingText(String),
    /// A `# TYPE` line with an unknown type.
    #[error("invalid metric type {0:?}")]
    InvalidType(String),
    /// An exemplar (`# {labels} value [timestamp]` after the sample) that
    /// does not parse.
    #[error("invalid exemplar: {0}")]
    InvalidExemplar(String),
    /// The labels break the storage's limits (found while parsing, so a
    /// line with 100,000 labels stops at the first one over the limit).
    #[error(transparent)]
    Limit(#[from] LabelError),
}

/// The entries of `input`, each with its 1-based line number; blank and
/// comment lines are skipped; label sets are checked against `limits`
/// while they are read. Never panics; time linear in the input.
pub fn parse(
    input: &[u8],
    limits: LabelLimits,
) -> impl Iterator<Item = Result<(usize, Entry<'_>), ParseError>> + '_ {
    super::numbered_lines(input).filter_map(move |(n, line)| {
        parse_line(line, &limits)
            .map(|parsed| parsed.map(|e| (n, e)))
            .map_err(|kind| ParseError { line: n, kind })
            .transpose()
    })
}

/// One line (without its `\n`): `None` for blank lines and comments.
/// Labels are checked against `limits` as they are read.
pub fn parse_line<'a>(
    line: &'a [u8],
    limits: &LabelLimits,
) -> Result<Option<Entry<'a>>, ErrorKind> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let text = std::str::from_utf8(line).map_err(|_| ErrorKind::InvalidUtf8)?;
    let mut c = Cursor { s: text, pos: 0 };
    c.skip_blanks();
    match c.peek() {
        None => Ok(None),
        Some('#') => {
            c.pos += 1;
            comment(c)
        }
        Some(_) => sample(c, limits).map(|s| Some(Entry::Sample(s))),
    }
}

/// A position in a line. Every byte it steps over one by one is ASCII, so
/// `pos` is always on a char boundary.
struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn rest(&self) -> &'a str {
        self.s.get(self.pos..).unwrap_or_default()
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn found(&self) -> String {
        self.peek()
            .map_or_else(|| "end of line".to_owned(), |c| format!("{c:?}"))
    }

    fn skip_blanks(&mut self) {
        let r = self.rest();
        self.pos += r.len() - r.trim_start_matches([' ', '\t']).len();
    }

    /// The longest run of ASCII bytes satisfying `first` then `more`.
    fn take(&mut self, first: fn(u8) -> bool, more: fn(u8) -> bool) -> &'a str {
        let r = self.rest();
        let n = r
            .bytes()
            .enumerate()
            .take_while(|&(i, b)| if i == 0 { first(b) } else { more(b) })
            .count();
        self.pos += n;
        r.get(..n).unwrap_or_default()
    }

    /// Everything up to the next blank or the end.
    fn token(&mut self) -> &'a str {
        let r = self.rest();
        let n = r.find([' ', '\t']).unwrap_or(r.len());
        self.pos += n;
        r.get(..n).unwrap_or_default()
    }

    fn eat(&mut self, c: char) -> bool {
        let hit = self.peek() == Some(c);
        if hit {
            self.pos += 1;
        }
        hit
    }
}

fn name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn metric_start(b: u8) -> bool {
    name_start(b) || b == b':'
}

fn metric_char(b: u8) -> bool {
    name_char(b) || b == b':'
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn is_metric_name(s: &str) -> bool {
    let b = s.as_bytes();
    b.first().is_some_and(|&c| metric_start(c)) && b.iter().all(|&c| metric_char(c))
}

/// After `#`: HELP, TYPE, UNIT (OpenMetrics), or a comment.
fn comment(mut c: Cursor<'_>) -> Result<Option<Entry<'_>>, ErrorKind> {
    c.skip_blanks();
    let keyword = c.token();
    if keyword != "HELP" && keyword != "TYPE" && keyword != "UNIT" {
        return Ok(None);
    }
    c.skip_blanks();
    let metric = c.token();
    if metric.is_empty() {
        return Ok(None);
    }
    if !is_metric_name(metric) {
        return Err(ErrorKind::InvalidMetricName(clip(metric)));
    }
    c.skip_blanks();
    if keyword == "UNIT" {
        return Ok(Some(Entry::Unit {
            metric,
            unit: c.rest().trim_end_matches([' ', '\t']),
        }));
    }
    if keyword == "HELP" {
        return Ok(Some(Entry::Help {
            metric,
            text: unescape_help(c.rest()),
        }));
    }
    let kind = c.token();
    let kind = MetricType::parse(kind).ok_or_else(|| ErrorKind::InvalidType(clip(kind)))?;
    c.skip_blanks();
    if !c.rest().is_empty() {
        return Err(ErrorKind::TrailingText(clip(c.rest())));
    }
    Ok(Some(Entry::Type { metric, kind }))
}

/// HELP text: `\\` and `\n` are escapes; any other backslash is literal.
fn unescape_help(s: &str) -> Cow<'_, str> {
    if !s.contains('\\') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(ch) = chars.next() {
        if ch != '\\' {
            out.push(ch);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    Cow::Owned(out)
}

fn sample<'a>(mut c: Cursor<'a>, limits: &LabelLimits) -> Result<Sample<'a>, ErrorKind> {
    let name = c.take(metric_start, metric_char);
    if name.is_empty() {
        return Err(ErrorKind::ExpectedMetricName { found: c.found() });
    }
    limits.check_one(1, "__name__", name.len())?;
    let mut labels = Vec::new();
    match c.peek() {
        Some('{') => {
            c.pos += 1;
            label_set(&mut c, &mut labels, limits)?;
        }
        Some(' ' | '\t') => {}
        None => return Err(ErrorKind::MissingValue),
        Some(_) => return Err(ErrorKind::ExpectedAfterName { found: c.found() }),
    }
    c.skip_blanks();
    let value = c.token();
    if value.is_empty() {
        return Err(ErrorKind::MissingValue);
    }
    let value = parse_float(value).ok_or_else(|| ErrorKind::InvalidValue(clip(value)))?;
    c.skip_blanks();
    let timestamp = match c.peek() {
        Some('#') => None,
        _ => match c.token() {
            "" => None,
            t => Some(
                t.parse::<i64>()
                    .map_err(|_| ErrorKind::InvalidTimestamp(clip(t)))?,
            ),
        },
    };
    c.skip_blanks();
    let exemplar = c.eat('#');
    if exemplar {
        exemplar_tail(&mut c, limits)?;
    }
    if !c.rest().is_empty() {
        return Err(ErrorKind::TrailingText(clip(c.rest())));
    }
    Ok(Sample {
        name,
        labels,
        value,
        timestamp,
        exemplar,
    })
}

/// After an exemplar's `#`: ` {labels} value [timestamp]` (OpenMetrics;
/// the timestamp is in seconds and may have a fraction), through the
/// blanks that follow.
fn exemplar_tail(c: &mut Cursor<'_>, limits: &LabelLimits) -> Result<(), ErrorKind> {
    c.skip_blanks();
    if !c.eat('{') {
        return Err(ErrorKind::InvalidExemplar(format!(
            "expected '{{' after '#', found {}",
            c.found()
        )));
    }
    let mut labels = Vec::new();
    label_set(c, &mut labels, limits).map_err(|e| ErrorKind::InvalidExemplar(e.to_string()))?;
    c.skip_blanks();
    let value = c.token();
    if parse_float(value).is_none() {
        return Err(ErrorKind::InvalidExemplar(format!(
            "invalid value {:?}",
            clip(value)
        )));
    }
    c.skip_blanks();
    let t = c.token();
    if !t.is_empty() && parse_float(t).is_none_or(|t| !t.is_finite()) {
        return Err(ErrorKind::InvalidExemplar(format!(
            "invalid timestamp {:?}",
            clip(t)
        )));
    }
    c.skip_blanks();
    Ok(())
}

/// After `{`, through `}`: each label is checked against `limits` as it
/// is read, duplicates once the set is complete.
fn label_set<'a>(
    c: &mut Cursor<'a>,
    labels: &mut Vec<(&'a str, Cow<'a, str>)>,
    limits: &LabelLimits,
) -> Result<(), ErrorKind> {
    label_pairs(c, labels, limits)?;
    no_duplicates(labels)
}

/// Sets up to this size are checked for duplicates pair by pair (no
/// allocation); larger ones by sorting the names (n log n, not n²).
const SMALL_SET: usize = 16;

fn no_duplicates(labels: &[(&str, Cow<'_, str>)]) -> Result<(), ErrorKind> {
    let dup = if labels.len() <= SMALL_SET {
        labels
            .iter()
            .enumerate()
            .find(|(i, (n, _))| {
                labels
                    .get(..*i)
                    .is_some_and(|before| before.iter().any(|(m, _)| m == n))
            })
            .map(|(_, (n, _))| *n)
    } else {
        let mut names: Vec<&str> = labels.iter().map(|(n, _)| *n).collect();
        names.sort_unstable();
        names
            .windows(2)
            .find(|w| w.first() == w.last())
            .and_then(|w| w.first().copied())
    };
    match dup {
        Some(n) => Err(ErrorKind::DuplicateLabel(n.to_owned())),
        None => Ok(()),
    }
}

fn label_pairs<'a>(
    c: &mut Cursor<'a>,
    labels: &mut Vec<(&'a str, Cow<'a, str>)>,
    limits: &LabelLimits,
) -> Result<(), ErrorKind> {
    loop {
        c.skip_blanks();
        if c.eat('}') {
            return Ok(());
        }
        let name = c.take(name_start, name_char);
        if name.is_empty() {
            return Err(ErrorKind::ExpectedLabelName { found: c.found() });
        }
        c.skip_blanks();
        if !c.eat('=') {
            return Err(ErrorKind::ExpectedEquals { found: c.found() });
        }
        c.skip_blanks();
        if !c.eat('"') {
            return Err(ErrorKind::ExpectedQuote { found: c.found() });
        }
        let value = label_value(c)?;
        if name == "__name__" {
            return Err(ErrorKind::ReservedLabel);
        }
        // `__name__` is the first label of the set.
        limits.check_one(labels.len() + 2, name, value.len())?;
        labels.push((name, value));
        c.skip_blanks();
        if c.eat(',') {
            continue;
        }
        if c.eat('}') {
            return Ok(());
        }
        return Err(ErrorKind::ExpectedCommaOrBrace { found: c.found() });
    }
}

/// After the opening `"`, through the closing one.
fn label_value<'a>(c: &mut Cursor<'a>) -> Result<Cow<'a, str>, ErrorKind> {
    let r = c.rest();
    let mut owned: Option<String> = None;
    let mut seg = 0; // start of the not yet copied part of `r`
    let mut i = 0;
    let bytes = r.as_bytes();
    while let Some(&b) = bytes.get(i) {
        match b {
            b'"' => {
                c.pos += i + 1;
                let tail = r.get(seg..i).unwrap_or_default();
                return Ok(match owned {
                    None => Cow::Borrowed(tail),
                    Some(mut s) => {
                        s.push_str(tail);
                        Cow::Owned(s)
                    }
                });
            }
            b'\\' => {
                let s = owned.get_or_insert_with(String::new);
                s.push_str(r.get(seg..i).unwrap_or_default());
                match bytes.get(i + 1) {
                    Some(b'\\') => s.push('\\'),
                    Some(b'"') => s.push('"'),
                    Some(b'n') => s.push('\n'),
                    Some(_) => {
                        let ch = r.get(i + 1..).and_then(|t| t.chars().next());
                        return Err(ErrorKind::InvalidEscape(ch.unwrap_or('?')));
                    }
                    None => return Err(ErrorKind::UnterminatedValue),
                }
                i += 2;
                seg = i;
            }
            _ => i += 1,
        }
    }
    Err(ErrorKind::UnterminatedValue)
}

/// At most 64 chars of `s`, for error messages.
fn clip(s: &str) -> String {
    match s.char_indices().nth(64) {
        Some((i, _)) => format!("{}...", s.get(..i).unwrap_or_default()),
        None => s.to_owned(),
    }
}

/// Appends one sample line: the inverse of [`parse_line`] (values as Go
/// formats them: `NaN`, `+Inf`, `-Inf`, shortest round-trip decimals).
pub fn write_sample(
    out: &mut String,
    name: &str,
    labels: &[(&str, &str)],
    value: f64,
    timestamp: Option<i64>,
) {
    use std::fmt::Write;
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (n, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(n);
            out.push_str("=\"");
            for ch in v.chars() {
                match ch {
                    '\\' => out.push_str("\\\\"),
                    '"' => out.push_str("\\\""),
                    '\n' => out.push_str("\\n"),
                    _ => out.push(ch),
                }
            }
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
    if value.is_nan() {
        out.push_str("NaN");
    } else if value.is_infinite() {
        out.push_str(if value > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        let _ = write!(out, "{value:?}");
    }
    if let Some(t) = timestamp {
        let _ = write!(out, " {t}");
    }
    out.push('\n');
}

#[cfg(test)]
mod tests;
