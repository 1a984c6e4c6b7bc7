//! The PromQL syntax tree. `Display` prints canonical PromQL, so that
//! `parse(&expr.to_string()) == expr` for every tree the parser builds.
//!
//! The tree keeps what was written: parentheses are [`Expr::Paren`] nodes, a
//! vector selector's metric name is kept apart from its other matchers, and
//! modifiers sit on the node they were written after.

use std::fmt;

use strata_engine::{MatchType, Matcher};

use crate::duration::DurationExpr;
#[cfg(test)]
use crate::duration::format_duration;

/// The type of value an expression produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    /// A single number.
    Scalar,
    /// One sample per series at one time.
    Vector,
    /// A range of samples per series.
    Matrix,
    /// A string.
    String,
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ValueType::Scalar => "scalar",
            ValueType::Vector => "instant vector",
            ValueType::Matrix => "range vector",
            ValueType::String => "string",
        })
    }
}

/// A PromQL expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// `1`, `2.5e3`, `0x1f`, `Inf`, `NaN`, a duration used as a number (`5m` = 300).
    Number(Number),
    /// `"text"`, `'text'` or `` `raw` ``.
    String(String),
    /// `metric{label="value"}`.
    Vector(VectorSelector),
    /// `metric{...}[5m]`.
    Matrix(MatrixSelector),
    /// `expr[range:step]`.
    Subquery(Subquery),
    /// `(expr)`.
    Paren(Box<Expr>),
    /// `-expr` or `+expr` (a sign before a number literal is folded into it).
    Unary(UnaryOp, Box<Expr>),
    /// `lhs op rhs` with its modifiers.
    Binary(Binary),
    /// `sum by (job) (expr)` and the other aggregation operators.
    Aggregate(Aggregate),
    /// `rate(x[5m])` and the other functions.
    Call(Call),
}

/// A number literal; equality compares bits, so `NaN == NaN` and `0 != -0`.
#[derive(Debug, Clone, Copy)]
pub struct Number(pub f64);

impl PartialEq for Number {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_bits() == other.0.to_bits() || (self.0.is_nan() && other.0.is_nan())
    }
}

/// `-` or `+` before an expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    /// `-`
    Neg,
    /// `+`
    Plus,
}

/// `anchored` / `smoothed` after a selector (experimental).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeMode {
    /// `anchored`: windows anchored at their boundaries.
    Anchored,
    /// `smoothed`: values interpolated at the window boundaries.
    Smoothed,
}

/// `@ <time>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtModifier {
    /// A fixed time, in milliseconds since the epoch.
    Timestamp(i64),
    /// `@ start()`: the query's start.
    Start,
    /// `@ end()`: the query's end.
    End,
}

/// An instant vector selector.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorSelector {
    /// The metric name written before the braces (or as a lone quoted string in them).
    pub name: Option<String>,
    /// The matchers in the braces, in the order written (without the name).
    pub matchers: Vec<Matcher>,
    /// `offset <duration>`.
    pub offset: Option<DurationExpr>,
    /// `@ <time>`.
    pub at: Option<AtModifier>,
    /// `anchored` / `smoothed`.
    pub range_mode: Option<RangeMode>,
}

impl VectorSelector {
    /// Every matcher, the metric name as `__name__="name"` first.
    pub fn all_matchers(&self) -> Vec<Matcher> {
        let mut all = Vec::with_capacity(self.matchers.len() + 1);
        if let Some(n) = &self.name {
            all.push(Matcher::equal(strata_engine::METRIC_NAME, n.clone()));
        }
        all.extend(self.matchers.iter().cloned());
        all
    }
}

/// A range vector selector: `selector[range]`.
#[derive(Debug, Clone, PartialEq)]
pub struct MatrixSelector {
    /// The selector; its `offset`, `@` and range mode apply to the range.
    pub vector: VectorSelector,
    /// The range.
    pub range: DurationExpr,
}

/// `expr[range:step]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Subquery {
    /// The inner expression (an instant vector).
    pub expr: Box<Expr>,
    /// The range.
    pub range: DurationExpr,
    /// The step; `None` for `[range:]` (the default evaluation interval).
    pub step: Option<DurationExpr>,
    /// `offset <duration>`.
    pub offset: Option<DurationExpr>,
    /// `@ <time>`.
    pub at: Option<AtModifier>,
}

/// Binary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
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
    /// `atan2`
    Atan2,
    /// `==`
    Eql,
    /// `!=`
    Neq,
    /// `<`
    Lss,
    /// `<=`
    Lte,
    /// `>`
    Gtr,
    /// `>=`
    Gte,
    /// `</` (histogram trim upper)
    TrimUpper,
    /// `>/` (histogram trim lower)
    TrimLower,
    /// `and`
    And,
    /// `or`
    Or,
    /// `unless`
    Unless,
}

impl BinaryOp {
    /// Binding strength: higher binds tighter.
    pub fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => 1,
            BinaryOp::And | BinaryOp::Unless => 2,
            BinaryOp::Eql
            | BinaryOp::Neq
            | BinaryOp::Lss
            | BinaryOp::Lte
            | BinaryOp::Gtr
            | BinaryOp::Gte
            | BinaryOp::TrimUpper
            | BinaryOp::TrimLower => 3,
            BinaryOp::Add | BinaryOp::Sub => 4,
            BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod | BinaryOp::Atan2 => 5,
            BinaryOp::Pow => 6,
        }
    }

    /// True for `^`, the only right-associative operator.
    pub fn is_right_associative(self) -> bool {
        self == BinaryOp::Pow
    }

    /// True for `== != < <= > >=`.
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinaryOp::Eql
                | BinaryOp::Neq
                | BinaryOp::Lss
                | BinaryOp::Lte
                | BinaryOp::Gtr
                | BinaryOp::Gte
        )
    }

    /// True for `and or unless`.
    pub fn is_set(self) -> bool {
        matches!(self, BinaryOp::And | BinaryOp::Or | BinaryOp::Unless)
    }

    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Mod => "%",
            BinaryOp::Pow => "^",
            BinaryOp::Atan2 => "atan2",
            BinaryOp::Eql => "==",
            BinaryOp::Neq => "!=",
            BinaryOp::Lss => "<",
            BinaryOp::Lte => "<=",
            BinaryOp::Gtr => ">",
            BinaryOp::Gte => ">=",
            BinaryOp::TrimUpper => "</",
            BinaryOp::TrimLower => ">/",
            BinaryOp::And => "and",
            BinaryOp::Or => "or",
            BinaryOp::Unless => "unless",
        }
    }
}

/// `on(...)` or `ignoring(...)`, and the optional group modifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VectorMatching {
    /// True for `on`, false for `ignoring`.
    pub on: bool,
    /// The labels listed.
    pub labels: Vec<String>,
    /// `group_left(...)` / `group_right(...)`.
    pub group: Option<Group>,
}

/// Which side is "many" in a many-to-one match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupSide {
    /// `group_left`: many on the left.
    Left,
    /// `group_right`: many on the right.
    Right,
}

/// `group_left(labels)` / `group_right(labels)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// Which side.
    pub side: GroupSide,
    /// Labels to copy from the "one" side.
    pub labels: Vec<String>,
}

/// `fill(...)`, `fill_left(...)`, `fill_right(...)` (experimental).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fill {
    /// Value for series missing on the left.
    pub left: Option<Number>,
    /// Value for series missing on the right.
    pub right: Option<Number>,
}

/// A binary operation.
#[derive(Debug, Clone, PartialEq)]
pub struct Binary {
    /// The operator.
    pub op: BinaryOp,
    /// Left operand.
    pub lhs: Box<Expr>,
    /// Right operand.
    pub rhs: Box<Expr>,
    /// `bool` after a comparison.
    pub return_bool: bool,
    /// `on`/`ignoring` and group modifiers.
    pub matching: Option<VectorMatching>,
    /// Fill modifiers.
    pub fill: Option<Fill>,
}

/// Aggregation operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggregateOp {
    /// `sum`
    Sum,
    /// `avg`
    Avg,
    /// `count`
    Count,
    /// `min`
    Min,
    /// `max`
    Max,
    /// `group`
    Group,
    /// `stddev`
    Stddev,
    /// `stdvar`
    Stdvar,
    /// `topk`
    Topk,
    /// `bottomk`
    Bottomk,
    /// `count_values`
    CountValues,
    /// `quantile`
    Quantile,
    /// `limitk`
    Limitk,
    /// `limit_ratio`
    LimitRatio,
}

impl AggregateOp {
    /// Every aggregation operator.
    pub const ALL: [AggregateOp; 14] = [
        AggregateOp::Sum,
        AggregateOp::Avg,
        AggregateOp::Count,
        AggregateOp::Min,
        AggregateOp::Max,
        AggregateOp::Group,
        AggregateOp::Stddev,
        AggregateOp::Stdvar,
        AggregateOp::Topk,
        AggregateOp::Bottomk,
        AggregateOp::CountValues,
        AggregateOp::Quantile,
        AggregateOp::Limitk,
        AggregateOp::LimitRatio,
    ];

    /// The operator's name.
    pub fn as_str(self) -> &'static str {
        match self {
            AggregateOp::Sum => "sum",
            AggregateOp::Avg => "avg",
            AggregateOp::Count => "count",
            AggregateOp::Min => "min",
            AggregateOp::Max => "max",
            AggregateOp::Group => "group",
            AggregateOp::Stddev => "stddev",
            AggregateOp::Stdvar => "stdvar",
            AggregateOp::Topk => "topk",
            AggregateOp::Bottomk => "bottomk",
            AggregateOp::CountValues => "count_values",
            AggregateOp::Quantile => "quantile",
            AggregateOp::Limitk => "limitk",
            AggregateOp::LimitRatio => "limit_ratio",
        }
    }

    /// The operator named `s`, compared case-insensitively.
    pub fn from_name(s: &str) -> Option<AggregateOp> {
        AggregateOp::ALL
            .into_iter()
            .find(|op| op.as_str().eq_ignore_ascii_case(s))
    }

    /// The type of the parameter, for the operators that take one.
    pub fn param_type(self) -> Option<ValueType> {
        match self {
            AggregateOp::Topk
            | AggregateOp::Bottomk
            | AggregateOp::Quantile
            | AggregateOp::Limitk
            | AggregateOp::LimitRatio => Some(ValueType::Scalar),
            AggregateOp::CountValues => Some(ValueType::String),
            _ => None,
        }
    }
}

/// `by (...)` or `without (...)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grouping {
    /// True for `without`.
    pub without: bool,
    /// The labels listed (possibly none).
    pub labels: Vec<String>,
}

/// An aggregation.
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate {
    /// The operator.
    pub op: AggregateOp,
    /// The aggregated expression.
    pub expr: Box<Expr>,
    /// The parameter of `topk`, `quantile`, `count_values`, ...
    pub param: Option<Box<Expr>>,
    /// `by` / `without`, if written.
    pub grouping: Option<Grouping>,
    /// Where the aggregation, then its parameter (if any), then its
    /// expression start in the query text.
    pub positions: Spans,
}

/// A function call.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// The function's name (see [`crate::functions::FUNCTIONS`]).
    pub func: &'static str,
    /// The arguments.
    pub args: Vec<Expr>,
    /// Where the call and then each argument start in the query text.
    pub positions: Spans,
}

/// Positions in the query text, for messages that point at a node.
/// Ignored by equality: printing and re-parsing moves text around, and the
/// trees must stay equal.
#[derive(Debug, Clone, Default)]
pub struct Spans(pub Vec<crate::Position>);

impl PartialEq for Spans {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Spans {
    /// The `i`-th position, if known.
    pub fn get(&self, i: usize) -> Option<crate::Position> {
        self.0.get(i).copied()
    }
}

impl Expr {
    /// Whether the tree is more than `limit` nodes deep (a lone leaf is one
    /// deep; durations inside count). Recurses at most `limit + 1` levels,
    /// whatever the depth of the tree.
    pub fn deeper_than(&self, limit: usize) -> bool {
        let Some(below) = limit.checked_sub(1) else {
            return true;
        };
        let dur = |d: &Option<DurationExpr>| d.as_ref().is_some_and(|d| d.deeper_than(below));
        match self {
            Expr::Number(_) | Expr::String(_) => false,
            Expr::Vector(v) => dur(&v.offset),
            Expr::Matrix(m) => m.range.deeper_than(below) || dur(&m.vector.offset),
            Expr::Subquery(s) => {
                s.expr.deeper_than(below)
                    || s.range.deeper_than(below)
                    || dur(&s.step)
                    || dur(&s.offset)
            }
            Expr::Paren(e) | Expr::Unary(_, e) => e.deeper_than(below),
            Expr::Binary(b) => b.lhs.deeper_than(below) || b.rhs.deeper_than(below),
            Expr::Aggregate(a) => {
                a.expr.deeper_than(below) || a.param.as_ref().is_some_and(|p| p.deeper_than(below))
            }
            Expr::Call(c) => c.args.iter().any(|a| a.deeper_than(below)),
        }
    }

    /// The type of value the expression produces.
    pub fn value_type(&self) -> ValueType {
        match self {
            Expr::Number(_) => ValueType::Scalar,
            Expr::String(_) => ValueType::String,
            Expr::Vector(_) | Expr::Aggregate(_) => ValueType::Vector,
            Expr::Matrix(_) | Expr::Subquery(_) => ValueType::Matrix,
            Expr::Paren(e) | Expr::Unary(_, e) => e.value_type(),
            Expr::Binary(b) => {
                if b.lhs.value_type() == ValueType::Scalar
                    && b.rhs.value_type() == ValueType::Scalar
                {
                    ValueType::Scalar
                } else {
                    ValueType::Vector
                }
            }
            Expr::Call(c) => {
                crate::functions::lookup(c.func).map_or(ValueType::Vector, |f| f.returns)
            }
        }
    }
}

/// Prints a number so that it parses back to the same bits.
pub(crate) fn format_number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "Inf".into() } else { "-Inf".into() }
    } else if v != 0.0 && (v.abs() >= 1e21 || v.abs() < 1e-6) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

/// Is `s` printable without quotes as a metric name?
fn is_legacy_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Is `s` printable without quotes as a label name (and not a word the
/// grammar would read differently)?
fn is_plain_label_name(s: &str) -> bool {
    strata_engine::validate_name(s).is_ok()
}

/// Writes `s` as a double-quoted PromQL string.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn label_name(s: &str) -> String {
    if is_plain_label_name(s) {
        s.to_owned()
    } else {
        quote(s)
    }
}

fn label_list(labels: &[String]) -> String {
    labels
        .iter()
        .map(|l| label_name(l))
        .collect::<Vec<_>>()
        .join(", ")
}

fn write_modifiers(
    f: &mut fmt::Formatter<'_>,
    offset: &Option<DurationExpr>,
    at: &Option<AtModifier>,
) -> fmt::Result {
    if let Some(at) = at {
        match at {
            AtModifier::Start => f.write_str(" @ start()")?,
            AtModifier::End => f.write_str(" @ end()")?,
            AtModifier::Timestamp(ms) => write!(f, " @ {}", format_seconds(*ms))?,
        }
    }
    if let Some(o) = offset {
        write!(f, " offset {}", o.offset_display())?;
    }
    Ok(())
}

/// Milliseconds as seconds with up to 3 decimals.
fn format_seconds(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let a = ms.unsigned_abs();
    if a.is_multiple_of(1000) {
        format!("{sign}{}", a / 1000)
    } else {
        let frac = format!("{:03}", a % 1000);
        format!("{sign}{}.{}", a / 1000, frac.trim_end_matches('0'))
    }
}

impl fmt::Display for VectorSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = Vec::new();
        match &self.name {
            Some(n) if is_legacy_metric_name(n) => f.write_str(n)?,
            Some(n) => parts.push(quote(n)),
            None => {}
        }
        for m in &self.matchers {
            let op = match m.kind {
                MatchType::Equal => "=",
                MatchType::NotEqual => "!=",
                MatchType::Regex => "=~",
                MatchType::NotRegex => "!~",
            };
            parts.push(format!("{}{op}{}", label_name(&m.name), quote(&m.value)));
        }
        if !parts.is_empty() || self.name.is_none() {
            write!(f, "{{{}}}", parts.join(", "))?;
        }
        Ok(())
    }
}

fn write_range_mode(f: &mut fmt::Formatter<'_>, mode: Option<RangeMode>) -> fmt::Result {
    match mode {
        Some(RangeMode::Anchored) => f.write_str(" anchored"),
        Some(RangeMode::Smoothed) => f.write_str(" smoothed"),
        None => Ok(()),
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Number(n) => f.write_str(&format_number(n.0)),
            Expr::String(s) => f.write_str(&quote(s)),
            Expr::Vector(v) => {
                write!(f, "{v}")?;
                write_modifiers(f, &v.offset, &v.at)?;
                write_range_mode(f, v.range_mode)
            }
            Expr::Matrix(m) => {
                write!(f, "{}[{}]", m.vector, m.range)?;
                write_modifiers(f, &m.vector.offset, &m.vector.at)?;
                write_range_mode(f, m.vector.range_mode)
            }
            Expr::Subquery(s) => {
                write!(f, "{}[{}:", s.expr, s.range)?;
                if let Some(step) = &s.step {
                    write!(f, "{step}")?;
                }
                f.write_str("]")?;
                write_modifiers(f, &s.offset, &s.at)
            }
            Expr::Paren(e) => write!(f, "({e})"),
            Expr::Unary(op, e) => {
                f.write_str(match op {
                    UnaryOp::Neg => "-",
                    UnaryOp::Plus => "+",
                })?;
                write!(f, "{e}")
            }
            Expr::Binary(b) => {
                write!(f, "{} {}", b.lhs, b.op.as_str())?;
                if b.return_bool {
                    f.write_str(" bool")?;
                }
                if let Some(m) = &b.matching {
                    write!(
                        f,
                        " {}({})",
                        if m.on { "on" } else { "ignoring" },
                        label_list(&m.labels)
                    )?;
                    if let Some(g) = &m.group {
                        let side = match g.side {
                            GroupSide::Left => "group_left",
                            GroupSide::Right => "group_right",
                        };
                        write!(f, " {side}({})", label_list(&g.labels))?;
                    }
                }
                if let Some(fill) = &b.fill {
                    match (fill.left, fill.right) {
                        (Some(l), Some(r)) if l == r => write!(f, " fill({})", format_number(l.0))?,
                        (l, r) => {
                            if let Some(l) = l {
                                write!(f, " fill_left({})", format_number(l.0))?;
                            }
                            if let Some(r) = r {
                                write!(f, " fill_right({})", format_number(r.0))?;
                            }
                        }
                    }
                }
                write!(f, " {}", b.rhs)
            }
            Expr::Aggregate(a) => {
                f.write_str(a.op.as_str())?;
                if let Some(g) = &a.grouping {
                    write!(
                        f,
                        " {} ({})",
                        if g.without { "without" } else { "by" },
                        label_list(&g.labels)
                    )?;
                }
                f.write_str(" (")?;
                if let Some(p) = &a.param {
                    write!(f, "{p}, ")?;
                }
                write!(f, "{})", a.expr)
            }
            Expr::Call(c) => {
                write!(f, "{}(", c.func)?;
                for (i, a) in c.args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{a}")?;
                }
                f.write_str(")")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_numbers_print_canonically() {
        assert_eq!(format_duration(90_000), "1m30s");
        assert_eq!(format_duration(86_400_000), "1d");
        assert_eq!(format_duration(7 * 86_400_000), "1w");
        assert_eq!(format_duration(1), "1ms");
        assert_eq!(format_duration(0), "0s");
        assert_eq!(format_number(0.5), "0.5");
        assert_eq!(format_number(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_number(1e300), "1e300");
        assert_eq!(format_seconds(1500), "1.5");
        assert_eq!(format_seconds(-2000), "-2");
    }
}
