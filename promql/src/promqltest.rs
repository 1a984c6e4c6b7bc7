//! Runner for Prometheus' `.test` script language (see
//! `../shared/promql-tests/README.md`): `load` series into an in-memory
//! querier, `clear` them, and check `eval` statements against expectations.
//!
//! Statements that need native histograms or experimental syntax behind
//! Prometheus feature flags are classified as skipped, with the reason.

use std::collections::BTreeMap;

use strata_engine::{
    Label, Labels, Matcher, Querier, STALE_NAN, Sample, Series, is_stale_nan, matches_all,
};

use crate::ast::Expr;
use crate::eval::{EvalOptions, Value, eval_instant, eval_range};

/// Series held in memory: the test fixture the scripts load.
#[derive(Debug, Default, Clone)]
pub struct MemQuerier {
    series: BTreeMap<Labels, BTreeMap<i64, u64>>,
}

impl MemQuerier {
    /// Adds samples (a later sample at the same time replaces an earlier one).
    pub fn add(&mut self, labels: Labels, samples: &[Sample]) {
        let s = self.series.entry(labels).or_default();
        for x in samples {
            s.insert(x.t, x.v.to_bits());
        }
    }
}

impl Querier for MemQuerier {
    fn select(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> strata_engine::Result<Vec<Series>> {
        Ok(self
            .series
            .iter()
            .filter(|(l, _)| matches_all(matchers, l))
            .map(|(l, s)| {
                Series::from_samples(
                    l.clone(),
                    s.range(mint..=maxt)
                        .map(|(&t, &v)| Sample::new(t, f64::from_bits(v)))
                        .collect(),
                )
            })
            .filter(|s| s.samples().is_ok_and(|v| !v.is_empty()))
            .collect())
    }

    fn label_names(
        &self,
        matchers: &[Matcher],
        _: i64,
        _: i64,
    ) -> strata_engine::Result<Vec<String>> {
        let mut names: Vec<String> = self
            .series
            .keys()
            .filter(|l| matches_all(matchers, l))
            .flat_map(|l| l.iter().map(|x| x.name.clone()).collect::<Vec<_>>())
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        _: i64,
        _: i64,
    ) -> strata_engine::Result<Vec<String>> {
        let mut v: Vec<String> = self
            .series
            .keys()
            .filter(|l| matches_all(matchers, l))
            .filter_map(|l| l.get(name).map(str::to_owned))
            .collect();
        v.sort();
        v.dedup();
        Ok(v)
    }
}

/// The outcome of one eval statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Matched the expectation.
    Pass,
    /// Did not; with what went wrong.
    Fail(String),
    /// Not run, with the reason.
    Skip(&'static str),
}

/// One eval statement's result.
#[derive(Debug, Clone)]
pub struct StatementResult {
    /// 1-based line of the `eval`.
    pub line: usize,
    /// The query.
    pub query: String,
    /// What happened.
    pub outcome: Outcome,
}

/// A Prometheus duration as used by the script layer (`5m`, `1m30s`, `0`).
fn script_duration(s: &str) -> Option<i64> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let ms = crate::duration::parse_duration(body)?;
    Some(if neg { -ms } else { ms })
}

/// Parses a number like Go: base-0 integers first, then floats, `Inf`/`NaN`.
fn script_number(s: &str) -> Option<f64> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let v = match body.to_ascii_lowercase().as_str() {
        "inf" => f64::INFINITY,
        "nan" => f64::NAN,
        b if b.len() > 1 && b.starts_with('0') && b.bytes().all(|c| c.is_ascii_digit()) => {
            u64::from_str_radix(&b[1..], 8).ok()? as f64
        }
        b if b.starts_with("0x") => u64::from_str_radix(&b[2..], 16).ok()? as f64,
        _ => body.parse::<f64>().ok()?,
    };
    Some(if neg { -v } else { v })
}

/// Splits a series description into its label part and its values.
fn split_series(line: &str) -> Option<(&str, &str)> {
    let mut in_quote: Option<char> = None;
    let mut depth = 0;
    for (i, c) in line.char_indices() {
        match (in_quote, c) {
            (Some(q), c) if c == q => in_quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'' | '`') => in_quote = Some(c),
            (None, '{') => depth += 1,
            (None, '}') => {
                depth -= 1;
                if depth == 0 {
                    return Some((&line[..=i], line[i + 1..].trim()));
                }
            }
            (None, c) if c.is_whitespace() && depth == 0 => {
                return Some((&line[..i], line[i..].trim()));
            }
            _ => {}
        }
    }
    Some((line, ""))
}

/// Labels of a series description's label part.
fn parse_labels(text: &str) -> Result<Labels, String> {
    let t = text.trim();
    if t == "{}" {
        return Ok(Labels::default());
    }
    let expr = crate::parse(t).map_err(|e| format!("bad series {t:?}: {e}"))?;
    let Expr::Vector(v) = expr else {
        return Err(format!("bad series {t:?}"));
    };
    let mut labels: Vec<Label> = v
        .matchers
        .iter()
        .map(|m| Label::new(m.name.clone(), m.value.clone()))
        .collect();
    if let Some(n) = v.name {
        labels.push(Label::new("__name__", n));
    }
    Labels::new(labels).map_err(|e| e.to_string())
}

/// Values of a series description; `None` entries are empty slots.
fn parse_values(text: &str) -> Result<Vec<Option<f64>>, String> {
    let mut out = Vec::new();
    for item in text.split_whitespace() {
        if item.contains("{{") {
            return Err("native histogram".into());
        }
        if item == "_" {
            out.push(None);
        } else if let Some(n) = item.strip_prefix("_x") {
            let n: usize = n.parse().map_err(|_| format!("bad item {item}"))?;
            out.extend(std::iter::repeat_n(None, n));
        } else if item == "stale" {
            out.push(Some(STALE_NAN));
        } else if let Some((head, times)) = item.split_once('x') {
            let n: usize = times.parse().map_err(|_| format!("bad item {item}"))?;
            // head is V, V+D or V-D (V may carry a sign).
            let split = head
                .char_indices()
                .skip(1)
                .find(|&(i, c)| (c == '+' || c == '-') && !head[..i].ends_with(['e', 'E']))
                .map(|(i, _)| i);
            let (start, delta) = match split {
                Some(i) => (
                    script_number(&head[..i]).ok_or(format!("bad item {item}"))?,
                    script_number(&head[i..]).ok_or(format!("bad item {item}"))?,
                ),
                None => (script_number(head).ok_or(format!("bad item {item}"))?, 0.0),
            };
            for k in 0..=n {
                out.push(Some(start + delta * k as f64));
            }
        } else {
            out.push(Some(script_number(item).ok_or(format!("bad item {item}"))?));
        }
    }
    Ok(out)
}

/// Prometheus' float comparison for expected results.
fn float_eq(e: f64, a: f64) -> bool {
    if is_stale_nan(e) || is_stale_nan(a) {
        return is_stale_nan(e) && is_stale_nan(a);
    }
    if e.is_nan() && a.is_nan() {
        return true;
    }
    if e == a {
        return true;
    }
    let eps = 1e-6;
    let abs_sum = e.abs() + a.abs();
    if e == 0.0 || a == 0.0 || abs_sum < f64::MIN_POSITIVE {
        return (e - a).abs() < eps * f64::MIN_POSITIVE;
    }
    (e - a).abs() / abs_sum.min(f64::MAX) < eps
}

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
    if printed.contains("step()")
        || printed.contains("range()")
        || printed.contains("min_of(")
        || printed.contains("max_of(")
    {
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

/// The series `load_with_nhcb` would add: `X{labels without le}` for every
/// `X_bucket`, `X_count` and `X_sum` series.
fn nhcb_series(labels: &Labels) -> Option<Labels> {
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

/// Runs one script; returns a result per eval statement.
///
/// # Errors
/// A script that cannot be read as the format describes.
pub fn run_script(text: &str) -> Result<Vec<StatementResult>, String> {
    let lines: Vec<&str> = text
        .lines()
        .map(|l| {
            if l.trim_start().starts_with('#') {
                ""
            } else {
                l.trim()
            }
        })
        .collect();
    let mut store = MemQuerier::default();
    let mut histograms: Vec<Labels> = Vec::new();
    let mut st_data = false;
    let mut results = Vec::new();
    let opts = EvalOptions {
        max_samples: 10_000,
        ..EvalOptions::default()
    };
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let first = line
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        if line.is_empty() {
            i += 1;
        } else if first == "clear" {
            store = MemQuerier::default();
            histograms.clear();
            st_data = false;
            i += 1;
        } else if first.starts_with("load") {
            let interval = line
                .split_whitespace()
                .nth(1)
                .and_then(script_duration)
                .ok_or(format!("line {}: bad load", i + 1))?;
            let nhcb = first == "load_with_nhcb";
            i += 1;
            let mut block: BTreeMap<Labels, Vec<Sample>> = BTreeMap::new();
            while i < lines.len() && !lines[i].is_empty() {
                let (metric, values) =
                    split_series(lines[i]).ok_or(format!("line {}: bad series", i + 1))?;
                if metric.ends_with("@st") {
                    st_data = true;
                    i += 1;
                    continue;
                }
                let labels = parse_labels(metric).map_err(|e| format!("line {}: {e}", i + 1))?;
                if nhcb && let Some(h) = nhcb_series(&labels) {
                    histograms.push(h);
                }
                match parse_values(values) {
                    Ok(vals) => {
                        let samples = vals
                            .iter()
                            .enumerate()
                            .filter_map(|(k, v)| v.map(|v| Sample::new(k as i64 * interval, v)))
                            .collect();
                        block.insert(labels, samples);
                    }
                    Err(_) => histograms.push(labels),
                }
                i += 1;
            }
            for (l, s) in block {
                store.add(l, &s);
            }
        } else if first.starts_with("eval") {
            let start_line = i + 1;
            let words: Vec<&str> = line.split_whitespace().collect();
            let (instant, query_at) = match words.get(1) {
                Some(&"instant") => (true, 4),
                Some(&"range") => (false, 8),
                _ => return Err(format!("line {start_line}: bad eval")),
            };
            let mut rest = line;
            for _ in 0..query_at {
                let w = rest.find(char::is_whitespace).unwrap_or(rest.len());
                rest = rest[w..].trim_start();
            }
            let query = rest.to_owned();
            i += 1;
            let mut block = Vec::new();
            while i < lines.len() && !lines[i].is_empty() {
                block.push(lines[i]);
                let is_number = script_number(lines[i]).is_some();
                i += 1;
                if is_number {
                    break;
                }
            }
            // Every statement runs; a failure is excused (skipped) only when a
            // rule says it needs native histograms or feature-flagged syntax.
            let outcome = match crate::parse(&query) {
                Err(e) => Outcome::Fail(format!("parse error: {e}")),
                Ok(expr) => {
                    let outcome = run_eval(
                        &store,
                        &expr,
                        &words,
                        instant,
                        first == "eval_fail",
                        first == "eval_ordered",
                        &block,
                        &opts,
                    );
                    let excuse = skip_reason(&query, &expr, &histograms, &block).or_else(|| {
                        (st_data
                            && ["rate", "increase", "resets", "delta"]
                                .iter()
                                .any(|f| query.contains(f)))
                        .then_some("experimental: start timestamps")
                    });
                    match (outcome, excuse) {
                        (Outcome::Fail(_), Some(reason)) => Outcome::Skip(reason),
                        (o, _) => o,
                    }
                }
            };
            results.push(StatementResult {
                line: start_line,
                query,
                outcome,
            });
        } else {
            return Err(format!("line {}: unknown command {first:?}", i + 1));
        }
    }
    Ok(results)
}

#[allow(clippy::too_many_arguments)]
fn run_eval(
    store: &MemQuerier,
    expr: &Expr,
    words: &[&str],
    instant: bool,
    legacy_fail: bool,
    legacy_ordered: bool,
    block: &[&str],
    opts: &EvalOptions,
) -> Outcome {
    let mut expect_fail = legacy_fail;
    let mut fail_msg: Option<String> = None;
    let mut ordered = legacy_ordered;
    let mut expected: Vec<(Labels, Vec<Option<f64>>)> = Vec::new();
    let mut scalar: Option<f64> = None;
    let mut string: Option<String> = None;
    for l in block {
        if let Some(e) = l.strip_prefix("expect ") {
            let e = e.trim();
            if e.starts_with("fail") {
                expect_fail = true;
                if let Some(m) = e.split_once("msg:") {
                    fail_msg = Some(m.1.trim().to_owned());
                }
            } else if e == "ordered" {
                ordered = true;
            } else if let Some(s) = e.strip_prefix("string ") {
                let s = s.trim();
                string = Some(
                    s.trim_matches(|c| c == '"' || c == '`')
                        .replace("\\\"", "\""),
                );
            } else if e.starts_with("range vector") {
                return Outcome::Skip("expect range vector: not handled by the runner yet");
            }
            continue;
        }
        if l.starts_with("expected_fail_message") || l.starts_with("expected_fail_regexp") {
            continue;
        }
        if let Some(v) = script_number(l) {
            scalar = Some(v);
            continue;
        }
        let Some((m, vals)) = split_series(l) else {
            return Outcome::Fail(format!("bad result line {l}"));
        };
        let labels = match parse_labels(m) {
            Ok(x) => x,
            Err(e) => return Outcome::Fail(e),
        };
        match parse_values(vals) {
            Ok(v) => expected.push((labels, v)),
            Err(_) => return Outcome::Skip("native histogram result"),
        }
    }
    let result = if instant {
        let Some(t) = words.get(3).and_then(|w| script_duration(w)) else {
            return Outcome::Fail("bad time".into());
        };
        eval_instant(store, expr, t, opts)
    } else {
        let (Some(s), Some(e), Some(st)) = (
            words.get(3).and_then(|w| script_duration(w)),
            words.get(5).and_then(|w| script_duration(w)),
            words.get(7).and_then(|w| script_duration(w)),
        ) else {
            return Outcome::Fail("bad range".into());
        };
        eval_range(store, expr, s, e, st, opts)
    };
    let value = match (result, expect_fail) {
        (Err(e), true) => {
            return match fail_msg {
                Some(m) if m != e.to_string() => {
                    Outcome::Fail(format!("error {e:?}, expected {m:?}"))
                }
                _ => Outcome::Pass,
            };
        }
        (Err(e), false) => return Outcome::Fail(format!("unexpected error: {e}")),
        (Ok(_), true) => return Outcome::Fail("expected an error".into()),
        (Ok(v), false) => v,
    };
    match value {
        Value::String(s) => match string {
            Some(want) if want == s => Outcome::Pass,
            other => Outcome::Fail(format!("string {s:?}, expected {other:?}")),
        },
        Value::Scalar(v) => match scalar {
            Some(want) if instant && v.first().is_some_and(|&a| float_eq(want, a)) => Outcome::Pass,
            _ if !instant => compare_range(
                &[(Labels::default(), v.into_iter().map(Some).collect())],
                &expected,
            ),
            other => Outcome::Fail(format!("scalar {v:?}, expected {other:?}")),
        },
        Value::Vector(series) => {
            if scalar.is_some() {
                return Outcome::Fail("got a vector, expected a scalar".into());
            }
            let got: Vec<(Labels, Vec<Option<f64>>)> =
                series.into_iter().map(|s| (s.labels, s.points)).collect();
            if instant {
                compare_instant(&got, &expected, ordered)
            } else {
                compare_range(&got, &expected)
            }
        }
        Value::Matrix(_) => Outcome::Skip("range vector result: not handled by the runner yet"),
    }
}

fn compare_instant(
    got: &[(Labels, Vec<Option<f64>>)],
    expected: &[(Labels, Vec<Option<f64>>)],
    ordered: bool,
) -> Outcome {
    let got: Vec<(&Labels, f64)> = got
        .iter()
        .filter_map(|(l, p)| Some((l, p.first().copied().flatten()?)))
        .collect();
    if got.len() != expected.len() {
        return Outcome::Fail(format!(
            "got {} series, expected {}: {:?}",
            got.len(),
            expected.len(),
            got.iter().map(|g| g.0.to_string()).collect::<Vec<_>>()
        ));
    }
    for (k, (l, vals)) in expected.iter().enumerate() {
        let Some(want) = vals.first().copied().flatten() else {
            return Outcome::Fail(format!("expected line for {l} has no value"));
        };
        let found = if ordered {
            got.get(k).filter(|g| g.0 == l)
        } else {
            got.iter().find(|g| g.0 == l)
        };
        match found {
            Some((_, a)) if float_eq(want, *a) => {}
            Some((_, a)) => return Outcome::Fail(format!("{l}: got {a}, expected {want}")),
            None => {
                let have: Vec<String> = got.iter().map(|g| g.0.to_string()).collect();
                return Outcome::Fail(format!(
                    "missing {l}{}; got {have:?}",
                    if ordered { " at its position" } else { "" }
                ));
            }
        }
    }
    Outcome::Pass
}

fn compare_range(
    got: &[(Labels, Vec<Option<f64>>)],
    expected: &[(Labels, Vec<Option<f64>>)],
) -> Outcome {
    let got: Vec<&(Labels, Vec<Option<f64>>)> = got
        .iter()
        .filter(|(_, p)| p.iter().any(Option::is_some))
        .collect();
    if got.len() != expected.len() {
        return Outcome::Fail(format!(
            "got {} series, expected {}",
            got.len(),
            expected.len()
        ));
    }
    for (l, want) in expected {
        let Some((_, pts)) = got.iter().find(|g| &g.0 == l) else {
            return Outcome::Fail(format!("missing {l}"));
        };
        for (k, p) in pts.iter().enumerate() {
            match (want.get(k).copied().flatten(), p) {
                (None, None) => {}
                (Some(w), Some(a)) if float_eq(w, *a) => {}
                (w, a) => return Outcome::Fail(format!("{l} step {k}: got {a:?}, expected {w:?}")),
            }
        }
    }
    Outcome::Pass
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_descriptions() {
        assert_eq!(
            parse_values("1 _ 3 _x2 1+2x2 10-2x1 -2+4x1 1x1 stale")
                .unwrap()
                .len(),
            15
        );
        let v = parse_values("0+10x2 1e3").unwrap();
        assert_eq!(v, [Some(0.0), Some(10.0), Some(20.0), Some(1000.0)]);
        assert!(parse_values("{{schema:0}}").is_err());
        assert_eq!(
            parse_labels("foo{a=\"b\"}").unwrap().to_string(),
            r#"{__name__="foo", a="b"}"#
        );
        assert_eq!(parse_labels("{}").unwrap(), Labels::default());
        assert_eq!(
            split_series(r#"m{a="x y}"} 1 2"#),
            Some((r#"m{a="x y}"}"#, "1 2"))
        );
    }

    #[test]
    fn float_tolerance() {
        assert!(float_eq(1.0, 1.0 + 1e-9));
        assert!(!float_eq(0.0, 1e-17));
        assert!(float_eq(f64::NAN, f64::NAN));
        assert!(!float_eq(STALE_NAN, f64::NAN));
    }
}
