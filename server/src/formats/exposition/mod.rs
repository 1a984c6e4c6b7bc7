//! The Prometheus text exposition format, version 0.0.4: a pure parser that
//! borrows from its input, so the fuzz target can call it.
//!
//! Lines are `# HELP name text`, `# TYPE name type`, other comments, blank
//! lines, and samples `name{label="value",...} value [timestamp_ms]`. CRLF line
//! ends are accepted; a trailing comma in a label set too.

use std::borrow::Cow;

use strata_engine::{LabelError, LabelLimits};

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

/// A float in any syntax Go's `strconv.ParseFloat` accepts: decimal with an
/// optional sign, fraction and exponent (`1`, `-.5`, `6.02e23`), hexadecimal
/// with a binary exponent (`0x1.8p3`), `_` between digits (`1_000`), and,
/// ignoring case, `NaN`, `Inf`, `+Inf`, `-Inf`, `Infinity`.
pub fn parse_float(s: &str) -> Option<f64> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, s.get(1..)?),
        Some(b'+') => (false, s.get(1..)?),
        _ => (false, s),
    };
    if body.eq_ignore_ascii_case("inf") || body.eq_ignore_ascii_case("infinity") {
        return Some(if neg {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    if body.eq_ignore_ascii_case("nan") {
        return (body.len() == s.len()).then_some(f64::NAN);
    }
    let cleaned: Cow<'_, str> = if body.contains('_') {
        if !underscores_ok(body) {
            return None;
        }
        Cow::Owned(body.replace('_', ""))
    } else {
        Cow::Borrowed(body)
    };
    let v = match cleaned.strip_prefix("0x").or(cleaned.strip_prefix("0X")) {
        Some(hex) => parse_hex(hex)?,
        None => {
            let decimal = cleaned
                .bytes()
                .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
            if !decimal || cleaned.starts_with(['+', '-']) {
                return None;
            }
            cleaned.parse::<f64>().ok()?
        }
    };
    Some(if neg { -v } else { v })
}

/// Go's rule: every `_` sits between two digits (a base prefix counts as a digit).
fn underscores_ok(s: &str) -> bool {
    let b = s.as_bytes();
    let hex = b.len() >= 2 && b[0] == b'0' && matches!(b[1], b'x' | b'X');
    // 'd': after a digit, '_': after an underscore, 'o': after anything else.
    let mut saw = if hex { 'd' } else { 'o' };
    for &c in b.get(if hex { 2 } else { 0 }..).unwrap_or_default() {
        if c.is_ascii_digit() || (hex && c.is_ascii_hexdigit()) {
            saw = 'd';
        } else if c == b'_' {
            if saw != 'd' {
                return false;
            }
            saw = '_';
        } else if saw == '_' {
            return false;
        } else {
            saw = 'o';
        }
    }
    saw != '_'
}

/// The part after `0x`: hex digits with an optional `.`, then a mandatory
/// `p` exponent. Rounded to nearest, ties to even, subnormals included.
fn parse_hex(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let (mut mant, mut exp, mut sticky) = (0u64, 0i64, false);
    let (mut digits, mut dot, mut i) = (0usize, false, 0usize);
    while let Some(&c) = b.get(i) {
        if c == b'.' && !dot {
            dot = true;
        } else if let Some(d) = char::from(c).to_digit(16) {
            digits += 1;
            if mant >> 60 == 0 {
                mant = (mant << 4) | u64::from(d);
                exp -= if dot { 4 } else { 0 };
            } else {
                sticky |= d != 0;
                exp += if dot { 0 } else { 4 };
            }
        } else {
            break;
        }
        i += 1;
    }
    if digits == 0 || !matches!(b.get(i), Some(b'p' | b'P')) {
        return None;
    }
    i += 1;
    let neg_exp = match b.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let start = i;
    let mut e = 0i64;
    while let Some(&c) = b.get(i).filter(|c| c.is_ascii_digit()) {
        e = (e * 10 + i64::from(c - b'0')).min(1_000_000);
        i += 1;
    }
    if i == start || i != b.len() {
        return None;
    }
    exp += if neg_exp { -e } else { e };
    if mant == 0 {
        return Some(0.0);
    }
    Some(round_to_f64(mant | u64::from(sticky), exp))
}

/// `m * 2^e` (m > 0) rounded to the nearest f64, ties to even.
fn round_to_f64(m: u64, e: i64) -> f64 {
    let lz = i64::from(m.leading_zeros());
    let (m, e) = (m << lz, e - lz); // top bit at 2^(e + 63)
    let top = e + 63;
    if top > 1023 {
        return f64::INFINITY;
    }
    let low = (top - 52).max(-1074); // weight of the last kept bit
    let shift = low - e; // >= 11
    if shift > 64 {
        return 0.0; // below half of the smallest subnormal
    }
    let shift = shift as u32;
    let m = u128::from(m);
    let mut q = m >> shift;
    let rem = m & ((1u128 << shift) - 1);
    let half = 1u128 << (shift - 1);
    if rem > half || (rem == half && q & 1 == 1) {
        q += 1;
    }
    // q <= 2^53, so exact; every product below is exact but the last,
    // which is exact too because q was rounded to the final precision.
    let mut x = q as f64;
    let mut k = low;
    while k > 1000 {
        x *= pow2(1000);
        k -= 1000;
    }
    while k < -1000 {
        x *= pow2(-1000);
        k += 1000;
    }
    x * pow2(k)
}

/// 2^k for -1022 <= k <= 1023.
fn pow2(k: i64) -> f64 {
    f64::from_bits(((k + 1023) as u64) << 52)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entries(s: &str) -> Result<Vec<(usize, Entry<'_>)>, ParseError> {
        parse(s.as_bytes(), LabelLimits::default()).collect()
    }

    fn one(s: &str) -> Sample<'_> {
        match parse_line(s.as_bytes(), &LabelLimits::default()) {
            Ok(Some(Entry::Sample(x))) => x,
            other => panic!("{s:?}: {other:?}"),
        }
    }

    fn err(s: &str) -> String {
        match entries(s) {
            Err(e) => e.to_string(),
            Ok(v) => panic!("{s:?} parsed: {v:?}"),
        }
    }

    #[test]
    fn openmetrics_unit_lines() {
        assert_eq!(
            parse_line(
                b"# UNIT req_duration_seconds seconds ",
                &LabelLimits::default()
            ),
            Ok(Some(Entry::Unit {
                metric: "req_duration_seconds",
                unit: "seconds"
            }))
        );
        assert!(parse_line(b"# UNIT 1bad seconds", &LabelLimits::default()).is_err());
    }

    #[test]
    fn openmetrics_exemplars_are_recognised_and_not_kept() {
        let one = |l: &str| match parse_line(l.as_bytes(), &LabelLimits::default()) {
            Ok(Some(Entry::Sample(s))) => Ok((s.value, s.timestamp, s.exemplar)),
            Ok(other) => panic!("{l:?}: {other:?}"),
            Err(e) => Err(e),
        };
        assert_eq!(
            one(r#"req_bucket{le="0.5"} 3 1000 # {trace_id="abc"} 0.4 1.5"#),
            Ok((3.0, Some(1000), true))
        );
        assert_eq!(one(r#"req_total 7 # {} 1"#), Ok((7.0, None, true)));
        assert_eq!(one("req_total 7 1000"), Ok((7.0, Some(1000), false)));
        for bad in [
            "req_total 7 # trace 1",
            r#"req_total 7 # {a="b"}"#,
            r#"req_total 7 # {a="b"} x"#,
            r#"req_total 7 # {a="b"} 1 NaN"#,
            r#"req_total 7 # {a="b"} 1 2 3"#,
        ] {
            assert!(one(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn samples_help_type_comments() {
        let text = "# HELP http_requests_total The total.\\nSecond line \\\\ \\x\r\n\
                    # TYPE http_requests_total counter\n\
                    # just a comment\n\
                    \n\
                    http_requests_total{method=\"post\",code=\"200\",} 1027 1395066363000\r\n\
                    \tup 1\n\
                    #HELP\n";
        let e = entries(text).unwrap();
        assert_eq!(e.len(), 4);
        assert_eq!(
            e[0],
            (
                1,
                Entry::Help {
                    metric: "http_requests_total",
                    text: Cow::Owned("The total.\nSecond line \\ \\x".into())
                }
            )
        );
        assert_eq!(
            e[1].1,
            Entry::Type {
                metric: "http_requests_total",
                kind: MetricType::Counter
            }
        );
        let Entry::Sample(s) = &e[2].1 else {
            panic!("{e:?}")
        };
        assert_eq!(e[2].0, 5);
        assert_eq!(s.name, "http_requests_total");
        assert_eq!(
            s.labels,
            vec![
                ("method", Cow::Borrowed("post")),
                ("code", Cow::Borrowed("200"))
            ]
        );
        assert_eq!((s.value, s.timestamp), (1027.0, Some(1_395_066_363_000)));
        assert!(matches!(&e[3].1, Entry::Sample(s) if s.name == "up" && s.timestamp.is_none()));
    }

    #[test]
    fn label_escapes_and_spacing() {
        let s = one(r#"m{ a = "x\\y\"z\nw" , b="é",c=""}	-1.5e3   -7"#);
        assert_eq!(s.labels[0], ("a", Cow::Owned::<str>("x\\y\"z\nw".into())));
        assert_eq!(s.labels[1], ("b", Cow::Borrowed("é")));
        assert_eq!(s.labels[2], ("c", Cow::Borrowed("")));
        assert_eq!((s.value, s.timestamp), (-1500.0, Some(-7)));
        assert!(one("m{} 1").labels.is_empty());
        assert_eq!(one("a:b_c{x=\"}\"}2").value, 2.0);
    }

    #[test]
    fn special_and_go_floats() {
        for (text, want) in [
            ("NaN", f64::NAN),
            ("nan", f64::NAN),
            ("+Inf", f64::INFINITY),
            ("Inf", f64::INFINITY),
            ("-inf", f64::NEG_INFINITY),
            ("-Infinity", f64::NEG_INFINITY),
            ("1", 1.0),
            ("-0", -0.0),
            (".5", 0.5),
            ("5.", 5.0),
            ("+1e3", 1000.0),
            ("1E-2", 0.01),
            ("1_000.5", 1000.5),
            ("0x1p-2", 0.25),
            ("0X1.8P1", 3.0),
            ("-0x_ffp0", -255.0),
            ("0x1p-1074", f64::from_bits(1)),
            ("0x1p-1075", 0.0),
            ("0x1.8p-1074", f64::from_bits(2)),
            ("0x1.fffffffffffff8p0", 2.0),
            (
                "0x1.fffffffffffff7p0",
                f64::from_bits(0x3fff_ffff_ffff_ffff),
            ),
            ("0x1p1024", f64::INFINITY),
            ("0x.8p1", 1.0),
            ("1e400", f64::INFINITY),
        ] {
            let got = parse_float(text).unwrap_or_else(|| panic!("{text}"));
            assert!(
                got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
                "{text}: {got} != {want}"
            );
        }
        for bad in [
            "", "+", "-", ".", "e5", "1e", "+NaN", "--1", "+-1", "1__0", "_1", "1_", "1_.5", "0x1",
            "0xp1", "0x1p", "1.2.3", "infinit", "1f", "0x1p1.5", "١",
        ] {
            assert_eq!(parse_float(bad).map(f64::to_bits), None, "{bad:?}");
        }
    }

    #[test]
    fn errors_name_the_line_and_problem() {
        assert_eq!(
            err("a 1\nb 2\nc{x 1}"),
            "line 3: expected '=' after label name, found '1'"
        );
        assert_eq!(
            err("m{x=y} 1"),
            "line 1: expected '\"' to start label value, found 'y'"
        );
        assert_eq!(
            err("m{x=\"a\\t\"} 1"),
            "line 1: invalid escape sequence '\\t' in label value"
        );
        assert_eq!(err("m{x=\"a} 1"), "line 1: unterminated label value");
        assert_eq!(
            err("m{x=\"a\" y=\"b\"} 1"),
            "line 1: expected ',' or '}' after label value, found 'y'"
        );
        assert_eq!(
            err("m{,} 1"),
            "line 1: expected label name or '}', found ','"
        );
        assert_eq!(
            err("m{__name__=\"x\"} 1"),
            "line 1: label name \"__name__\" is reserved"
        );
        assert_eq!(
            err("m{a=\"1\",a=\"2\"} 1"),
            "line 1: duplicate label name \"a\""
        );
        assert_eq!(err("m"), "line 1: expected value");
        assert_eq!(err("m{} "), "line 1: expected value");
        assert_eq!(
            err("m-x 1"),
            "line 1: expected '{' or a space after metric name, found '-'"
        );
        assert_eq!(err("1m 1"), "line 1: expected metric name, found '1'");
        assert_eq!(err("m one"), "line 1: invalid value \"one\"");
        assert_eq!(err("m 1 1.5"), "line 1: invalid timestamp \"1.5\"");
        assert_eq!(
            err("m 1 2 3"),
            "line 1: unexpected text \"3\" at end of line"
        );
        assert_eq!(
            err("# TYPE m countr"),
            "line 1: invalid metric type \"countr\""
        );
        assert_eq!(
            err("# TYPE m counter x"),
            "line 1: unexpected text \"x\" at end of line"
        );
        assert_eq!(err("# HELP 0m x"), "line 1: invalid metric name \"0m\"");
        assert_eq!(
            parse(b"m 1\n\xff 2", LabelLimits::default())
                .nth(1)
                .map(|r| r.map(|_| ())),
            Some(Err(ParseError {
                line: 2,
                kind: ErrorKind::InvalidUtf8
            }))
        );
    }

    #[test]
    fn never_panics_on_prefixes_of_valid_input() {
        let text = "# HELP m h\\\\\n# TYPE m gauge\nm{a=\"x\\\"é\\n\",b=\"\"} -0x1.8p3 17\n";
        for end in 0..=text.len() {
            let _ = parse(&text.as_bytes()[..end], LabelLimits::default()).count();
        }
        for b in 0..=255u8 {
            let mut bytes = text.as_bytes().to_vec();
            for i in 0..bytes.len() {
                let old = bytes[i];
                bytes[i] = b;
                let _ = parse(&bytes, LabelLimits::default()).count();
                bytes[i] = old;
            }
        }
    }

    /// Issue 14: a line with 100,000 labels took 11 s of CPU (a duplicate
    /// check per label); limits are now checked while the line is read.
    #[test]
    fn label_limits_are_checked_while_parsing() {
        let mut line = String::from("m{");
        for i in 0..100_000 {
            line.push_str(&format!("l{i}=\"v\","));
        }
        line.push_str("} 1\n");
        let text = format!("ok 1\n{line}");
        let started = std::time::Instant::now();
        let e = entries(&text).unwrap_err();
        assert!(started.elapsed() < std::time::Duration::from_millis(500));
        assert_eq!(e.line, 2);
        assert_eq!(e.kind, ErrorKind::Limit(LabelError::MoreThan { limit: 40 }));
        assert_eq!(
            e.to_string(),
            "line 2: more than 40 labels (limit 40, __name__ included)"
        );
        // 39 labels and the name are fine.
        let ok: Vec<String> = (0..39).map(|i| format!("l{i}=\"v\"")).collect();
        assert!(entries(&format!("m{{{}}} 1", ok.join(","))).is_ok());

        let huge = format!("m{{a=\"{}\"}} 1", "x".repeat(1 << 20));
        let e = entries(&huge).unwrap_err();
        assert_eq!(
            e.kind,
            ErrorKind::Limit(LabelError::ValueTooLong {
                name: "a".into(),
                len: 1 << 20,
                limit: 4096
            })
        );
        let long_name = format!("m{{{}=\"v\"}} 1", "n".repeat(300));
        assert!(matches!(
            entries(&long_name).unwrap_err().kind,
            ErrorKind::Limit(LabelError::NameTooLong {
                len: 300,
                limit: 256,
                ..
            })
        ));
        let long_metric = format!("{} 1", "m".repeat(5000));
        assert!(matches!(
            entries(&long_metric).unwrap_err().kind,
            ErrorKind::Limit(LabelError::ValueTooLong { len: 5000, .. })
        ));
    }

    #[test]
    fn duplicates_are_found_in_small_and_large_sets() {
        for n in [2, 16, 17, 30] {
            let mut labels: Vec<String> = (0..n - 1).map(|i| format!("l{i}=\"v\"")).collect();
            labels.push("l0=\"w\"".into());
            let e = entries(&format!("m{{{}}} 1", labels.join(","))).unwrap_err();
            assert_eq!(e.kind, ErrorKind::DuplicateLabel("l0".into()), "{n} labels");
            labels.pop();
            assert!(
                entries(&format!("m{{{}}} 1", labels.join(","))).is_ok(),
                "{n}"
            );
        }
    }

    #[test]
    fn write_sample_round_trips() {
        let mut out = String::new();
        write_sample(
            &mut out,
            "m",
            &[("a", "q\"\\\n")],
            f64::NEG_INFINITY,
            Some(5),
        );
        write_sample(&mut out, "n", &[], 1e-300, None);
        assert_eq!(out, "m{a=\"q\\\"\\\\\\n\"} -Inf 5\nn 1e-300\n");
        let e = entries(&out).unwrap();
        assert!(matches!(&e[0].1, Entry::Sample(s) if s.labels[0].1 == "q\"\\\n"));
    }

    fn label_value() -> impl Strategy<Value = String> {
        "[a-z\"\\\\\n\t\r é\u{1}\u{2028}\u{1F600}{}=,#]{0,8}"
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
        fn text_round_trips(
            name in "[a-zA-Z_:][a-zA-Z0-9_:]{0,8}",
            labels in proptest::collection::btree_map("[a-zA-Z][a-zA-Z0-9_]{0,6}", label_value(), 0..5),
            v in value(),
            ts in proptest::option::of(any::<i64>()),
        ) {
            let pairs: Vec<(&str, &str)> = labels.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
            let mut out = String::new();
            write_sample(&mut out, &name, &pairs, v, ts);
            let parsed = parse_line(out.trim_end_matches('\n').as_bytes(), &LabelLimits::default());
            let Ok(Some(Entry::Sample(s))) = parsed else {
                return Err(TestCaseError::fail(format!("{out:?}: {parsed:?}")));
            };
            prop_assert_eq!(s.name, name.as_str());
            let got: Vec<(&str, &str)> = s.labels.iter().map(|(n, v)| (*n, v.as_ref())).collect();
            prop_assert_eq!(got, pairs);
            prop_assert!(same(s.value, v), "{} != {}", s.value, v);
            prop_assert_eq!(s.timestamp, ts);
        }


        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse(&bytes, LabelLimits::default()).count();
        }
    }
}
