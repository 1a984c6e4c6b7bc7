//! The skip policy: which failures are excused because the statement needs
//! something Strata does not do (native histograms, syntax behind a
//! Prometheus feature flag, strings that are not UTF-8), and why.

use strata_engine::{Label, Labels, Matcher, matches_all};

use crate::ast::Expr;

/// Functions and operators that only work on native histograms.
fn uses_native_histogram_features(e: &Expr) -> bool {
    const NH_ONLY: [&str; 5] = [
        "histogram_avg",
        "histogram_count",
        "histogram_sum",
        "histogram_stddev",
        "histogram_stdvar",
    ];
    match e {
        Expr::Call(c) => {
            NH_ONLY.contains(&c.func) || c.args.iter().any(uses_native_histogram_features)
        }
        Expr::Binary(b) => {
            matches!(
                b.op,
                crate::ast::BinaryOp::TrimUpper | crate::ast::BinaryOp::TrimLower
            ) || uses_native_histogram_features(&b.lhs)
                || uses_native_histogram_features(&b.rhs)
        }
        Expr::Subquery(s) => uses_native_histogram_features(&s.expr),
        Expr::Paren(x) | Expr::Unary(_, x) => uses_native_histogram_features(x),
        Expr::Aggregate(a) => uses_native_histogram_features(&a.expr),
        _ => false,
    }
}

/// Every vector selector in `e` (also inside matrix selectors and subqueries).
fn selectors(e: &Expr, out: &mut Vec<Vec<Matcher>>) {
    match e {
        Expr::Vector(v) => out.push(v.all_matchers()),
        Expr::Matrix(m) => out.push(m.vector.all_matchers()),
        Expr::Subquery(s) => selectors(&s.expr, out),
        Expr::Paren(x) | Expr::Unary(_, x) => selectors(x, out),
        Expr::Binary(b) => {
            selectors(&b.lhs, out);
            selectors(&b.rhs, out);
        }
        Expr::Aggregate(a) => {
            selectors(&a.expr, out);
            if let Some(p) = &a.param {
                selectors(p, out);
            }
        }
        Expr::Call(c) => c.args.iter().for_each(|a| selectors(a, out)),
        Expr::Number(_) | Expr::String(_) => {}
    }
}

/// Whether the query has a `\xNN` escape of a byte above 0x7f (a string
/// that is not valid UTF-8 on its own).
fn invalid_utf8_escape(query: &str) -> bool {
    query.match_indices("\\x").any(|(i, _)| {
        query
            .get(i + 2..i + 4)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .is_some_and(|b| b > 0x7f)
    })
}

/// Why a statement is skipped, if it is.
fn skip_reason(
    query: &str,
    expr: &Expr,
    histograms: &[Labels],
    block: &[&str],
) -> Option<&'static str> {
    if block.iter().any(|l| l.contains("{{")) {
        return Some("native histogram result");
    }
    let q = query.to_ascii_lowercase();
    // `"\xc5"` makes a string that is not UTF-8; ours are Rust strings, so
    // the bytes (and Go's quoting of them in an error) cannot be kept.
    if invalid_utf8_escape(query) {
        return Some("string literal that is not UTF-8");
    }
    if q.contains("info(") {
        return Some("experimental: info()");
    }
    if q.contains("anchored") || q.contains("smoothed") {
        return Some("experimental: anchored/smoothed");
    }
    if q.contains("fill(") || q.contains("fill_left(") || q.contains("fill_right(") {
        return Some("experimental: fill modifiers");
    }
    if q.contains("__type__") || q.contains("__unit__") {
        return Some("experimental: __type__/__unit__");
    }
    if q.contains("start_timestamp") {
        return Some("experimental: start timestamps");
    }
    if uses_native_histogram_features(expr) {
        return Some("native histogram function or operator");
    }
    let printed = expr.to_string();
    // min_of()/max_of() are implemented: a failure there is a bug, not an
    // excuse (they used to hide clamp-style NaN handling).
    if printed.contains("step()") || printed.contains("range()") {
        return Some("experimental: duration expressions");
    }
    let mut sels = Vec::new();
    selectors(expr, &mut sels);
    if sels
        .iter()
        .any(|m| histograms.iter().any(|h| matches_all(m, h)))
    {
        return Some("native histogram series selected");
    }
    None
}

/// Why a failure of the statement `query` is excused, if it is: a
/// [`skip_reason`], or a start-timestamp series (`metric{...}@st` in a
/// load) read by a function whose result start timestamps would change.
pub(super) fn excuse(
    query: &str,
    expr: &Expr,
    histograms: &[Labels],
    start_timestamps: &[Labels],
    block: &[&str],
) -> Option<&'static str> {
    skip_reason(query, expr, histograms, block).or_else(|| {
        let mut sels = Vec::new();
        selectors(expr, &mut sels);
        let selects_st = sels
            .iter()
            .any(|m| start_timestamps.iter().any(|l| matches_all(m, l)));
        (selects_st
            && ["rate", "increase", "resets", "delta", "start_timestamp"]
                .iter()
                .any(|f| query.contains(f)))
        .then_some("experimental: start timestamps")
    })
}

/// The series `load_with_nhcb` would add: `X{labels without le}` for every
/// `X_bucket`, `X_count` and `X_sum` series.
pub(super) fn nhcb_series(labels: &Labels) -> Option<Labels> {
    let name = labels.metric_name()?;
    let base = name
        .strip_suffix("_bucket")
        .or_else(|| name.strip_suffix("_count"))
        .or_else(|| name.strip_suffix("_sum"))?;
    let mut l: Vec<Label> = labels
        .iter()
        .filter(|x| x.name != "le" && x.name != "__name__")
        .cloned()
        .collect();
    l.push(Label::new("__name__", base));
    Labels::new(l).ok()
}
