//! Durations: literals like `1h30m`, and the (experimental) duration
//! expressions allowed in `[...]` and after `offset`.

use std::fmt;

use crate::ast::{Number, format_number};

/// Units, largest first, with their length in ms.
const UNITS: [(&str, i64); 7] = [
    ("y", 365 * 86_400_000),
    ("w", 7 * 86_400_000),
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

/// Longest duration accepted anywhere, in ms: Prometheus' bound, the
/// largest Go `time.Duration` (2^63-1 ns, about 292 years). Range
/// selectors, subquery ranges and steps, `offset`s and the HTTP `step`
/// are all at most this long.
pub const MAX_DURATION_MS: i64 = i64::MAX / 1_000_000;

/// Latest timestamp accepted anywhere (HTTP `start`/`end`/`time`, `@`), in
/// ms: about 73 million years either side of 1970. Far tighter than
/// `i64::MAX`, so that evaluation can subtract lookback, ranges and offsets
/// (each at most [`MAX_DURATION_MS`], even through a few hundred nested
/// subqueries) and add steps without overflowing.
pub const MAX_TIMESTAMP_MS: i64 = i64::MAX / 4;

/// Earliest timestamp accepted anywhere, in ms: `-MAX_TIMESTAMP_MS`.
pub const MIN_TIMESTAMP_MS: i64 = -MAX_TIMESTAMP_MS;

/// Parses a duration literal (`5m`, `1h30m`, `10s53ms`): one or more
/// `<integer><unit>` groups, units in descending order, each at most once.
/// Returns milliseconds, or `None` when `s` is not a duration or is longer
/// than [`MAX_DURATION_MS`].
pub fn parse_duration(s: &str) -> Option<i64> {
    if s == "0" {
        return Some(0);
    }
    if s.is_empty() {
        return None;
    }
    let mut rest = s;
    let mut total: i64 = 0;
    let mut last_unit = usize::MAX;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let n: i64 = rest.get(..digits)?.parse().ok()?;
        rest = rest.get(digits..)?;
        // "ms" before "m": try the longer unit name first.
        let (idx, len) = if rest.starts_with("ms") {
            (6, 2)
        } else {
            let u = UNITS
                .iter()
                .position(|(name, _)| name.len() == 1 && rest.starts_with(name))?;
            (u, 1)
        };
        if last_unit != usize::MAX && idx <= last_unit {
            return None;
        }
        last_unit = idx;
        total = total.checked_add(n.checked_mul(UNITS.get(idx)?.1)?)?;
        rest = rest.get(len..)?;
    }
    (total <= MAX_DURATION_MS).then_some(total)
}

/// Formats milliseconds as Prometheus does: `1m30s`, `1d`, `1w`, `0s`.
pub fn format_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    if ms < 0 {
        out.push('-');
    }
    let mut left = ms.unsigned_abs();
    for (name, len) in UNITS {
        let len = len as u64;
        if left >= len {
            out.push_str(&format!("{}{name}", left / len));
            left %= len;
        }
    }
    out
}

/// Arithmetic in duration expressions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DurationOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
    /// `^`
    Pow,
}

impl DurationOp {
    fn as_str(self) -> &'static str {
        match self {
            DurationOp::Add => "+",
            DurationOp::Sub => "-",
            DurationOp::Mul => "*",
            DurationOp::Div => "/",
            DurationOp::Mod => "%",
            DurationOp::Pow => "^",
        }
    }

    pub(crate) fn precedence(self) -> u8 {
        match self {
            DurationOp::Add | DurationOp::Sub => 1,
            DurationOp::Mul | DurationOp::Div | DurationOp::Mod => 2,
            DurationOp::Pow => 3,
        }
    }
}

/// A duration: a literal, or an expression over durations and numbers.
#[derive(Debug, Clone, PartialEq)]
pub enum DurationExpr {
    /// A duration literal, in ms (negative after `offset -5m`).
    Literal(i64),
    /// A number, in seconds.
    Number(Number),
    /// `step()`: the query step.
    Step,
    /// `range()`: the query range.
    Range,
    /// `-expr`
    Neg(Box<DurationExpr>),
    /// `lhs op rhs`
    Binary(DurationOp, Box<DurationExpr>, Box<DurationExpr>),
    /// `(expr)`
    Paren(Box<DurationExpr>),
    /// `min_of(a, b)`
    MinOf(Box<DurationExpr>, Box<DurationExpr>),
    /// `max_of(a, b)`
    MaxOf(Box<DurationExpr>, Box<DurationExpr>),
}

impl DurationExpr {
    /// The value in ms, given the query's step and range (both ms; 0 for an
    /// instant query). `None` on division by zero, a non-finite value or
    /// one longer than [`MAX_DURATION_MS`] either way.
    pub fn eval_ms(&self, step_ms: i64, range_ms: i64) -> Option<i64> {
        let ms = (self.eval_seconds(step_ms, range_ms)? * 1000.0).round();
        // The float comparison also rejects NaN and infinities.
        (ms.abs() <= MAX_DURATION_MS as f64).then_some(ms as i64)
    }

    fn eval_seconds(&self, step_ms: i64, range_ms: i64) -> Option<f64> {
        Some(match self {
            DurationExpr::Literal(ms) => *ms as f64 / 1000.0,
            DurationExpr::Number(n) => n.0,
            DurationExpr::Step => step_ms as f64 / 1000.0,
            DurationExpr::Range => range_ms as f64 / 1000.0,
            DurationExpr::Neg(e) => -e.eval_seconds(step_ms, range_ms)?,
            DurationExpr::Paren(e) => e.eval_seconds(step_ms, range_ms)?,
            DurationExpr::MinOf(a, b) => a
                .eval_seconds(step_ms, range_ms)?
                .min(b.eval_seconds(step_ms, range_ms)?),
            DurationExpr::MaxOf(a, b) => a
                .eval_seconds(step_ms, range_ms)?
                .max(b.eval_seconds(step_ms, range_ms)?),
            DurationExpr::Binary(op, a, b) => {
                let (a, b) = (
                    a.eval_seconds(step_ms, range_ms)?,
                    b.eval_seconds(step_ms, range_ms)?,
                );
                match op {
                    DurationOp::Add => a + b,
                    DurationOp::Sub => a - b,
                    DurationOp::Mul => a * b,
                    DurationOp::Div if b == 0.0 => return None,
                    DurationOp::Div => a / b,
                    DurationOp::Mod if b == 0.0 => return None,
                    DurationOp::Mod => a % b,
                    DurationOp::Pow => a.powf(b),
                }
            }
        })
    }

    /// Whether the tree is more than `limit` nodes deep; recurses at most
    /// `limit + 1` levels.
    pub fn deeper_than(&self, limit: usize) -> bool {
        let Some(below) = limit.checked_sub(1) else {
            return true;
        };
        match self {
            DurationExpr::Literal(_)
            | DurationExpr::Number(_)
            | DurationExpr::Step
            | DurationExpr::Range => false,
            DurationExpr::Neg(e) | DurationExpr::Paren(e) => e.deeper_than(below),
            DurationExpr::Binary(_, a, b)
            | DurationExpr::MinOf(a, b)
            | DurationExpr::MaxOf(a, b) => a.deeper_than(below) || b.deeper_than(below),
        }
    }

    /// The fixed value in ms, when the expression is a plain literal.
    pub fn as_literal_ms(&self) -> Option<i64> {
        match self {
            DurationExpr::Literal(ms) => Some(*ms),
            _ => None,
        }
    }

    /// How it prints after `offset`: anything but a single term needs the
    /// parentheses it was written with (kept as a `Paren` node).
    pub(crate) fn offset_display(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for DurationExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DurationExpr::Literal(ms) => f.write_str(&format_duration(*ms)),
            DurationExpr::Number(n) => f.write_str(&format_number(n.0)),
            DurationExpr::Step => f.write_str("step()"),
            DurationExpr::Range => f.write_str("range()"),
            DurationExpr::Neg(e) => write!(f, "-{e}"),
            DurationExpr::Paren(e) => write!(f, "({e})"),
            DurationExpr::Binary(op, a, b) => write!(f, "{a} {} {b}", op.as_str()),
            DurationExpr::MinOf(a, b) => write!(f, "min_of({a}, {b})"),
            DurationExpr::MaxOf(a, b) => write!(f, "max_of({a}, {b})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals() {
        let ok = [
            ("5m", 300_000),
            ("1h30m", 5_400_000),
            ("10s53ms", 10_053),
            ("1y", 365 * 86_400_000),
            ("0", 0),
            ("2w1d", 15 * 86_400_000),
        ];
        for (s, ms) in ok {
            assert_eq!(parse_duration(s), Some(ms), "{s}");
            assert_eq!(parse_duration(&format_duration(ms)), Some(ms));
        }
        for bad in ["", "5", "m", "1m1h", "1m1m", "1.5h", "5x", "1h 2m", "-5m"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn expressions_evaluate() {
        let e = DurationExpr::Binary(
            DurationOp::Mul,
            Box::new(DurationExpr::Literal(60_000)),
            Box::new(DurationExpr::Number(Number(2.0))),
        );
        assert_eq!(e.eval_ms(0, 0), Some(120_000));
        assert_eq!(e.to_string(), "1m * 2");
        let d = DurationExpr::Binary(
            DurationOp::Div,
            Box::new(DurationExpr::Step),
            Box::new(DurationExpr::Number(Number(0.0))),
        );
        assert_eq!(d.eval_ms(1000, 0), None);
        assert_eq!(
            DurationExpr::MaxOf(
                Box::new(DurationExpr::Step),
                Box::new(DurationExpr::Literal(5000))
            )
            .eval_ms(10_000, 0),
            Some(10_000)
        );
    }
}
