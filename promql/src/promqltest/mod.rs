//! Runner for Prometheus' `.test` script language (see
//! `../shared/promql-tests/README.md`): `load` series into an in-memory
//! querier, `clear` them, and check `eval` statements against expectations.
//!
//! Statements that need native histograms or experimental syntax behind
//! Prometheus feature flags are classified as skipped, with the reason.

use std::collections::BTreeMap;

pub mod require;

use strata_engine::{
    Label, Labels, Matcher, Querier, STALE_NAN, Sample, Series, is_stale_nan, matches_all,
};

use crate::ast::Expr;
use crate::eval::{
    EvalOptions, Value, eval_instant, eval_instant_annotated, eval_range, eval_range_annotated,
};

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
    /// Failed, and the failure is excused: `reason` names the feature
    /// behind it (native histograms, syntax behind a feature flag) and
    /// `failure` says what went wrong, so that a skip list can notice a
    /// statement that starts failing differently.
    Skip {
        /// The feature the statement needs.
        reason: &'static str,
        /// What went wrong (or why it could not run at all).
        failure: String,
    },
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
                    // A start-timestamp line names `metric{...}@st`.
                    let end = if line[i + 1..].starts_with("@st") {
                        i + 4
                    } else {
                        i + 1
                    };
                    return Some((&line[..end], line[end..].trim()));
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

/// The items of a series description's value part: split at whitespace,
/// except inside a native histogram's `{{...}}` (which has spaces).
fn value_items(text: &str) -> Vec<&str> {
    let mut items = Vec::new();
    let mut start: Option<usize> = None;
    let mut depth = 0usize;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            c if c.is_whitespace() && depth == 0 => {
                if let Some(s) = start.take() {
                    items.push(&text[s..i]);
                }
                continue;
            }
            _ => {}
        }
        start.get_or_insert(i);
    }
    if let Some(s) = start {
        items.push(&text[s..]);
    }
    items
}

/// Float values of a series description, one entry per slot: `None` for an
/// empty slot (`_`) and for a native histogram sample, which this runner
/// does not load. The flag says whether there were histogram samples; a
/// mixed series keeps its float samples.
fn parse_values(text: &str) -> Result<(Vec<Option<f64>>, bool), String> {
    let mut out = Vec::new();
    let mut histograms = false;
    for item in value_items(text) {
        if item.contains("{{") {
            histograms = true;
            // `{{...}}`, or `{{...}}x<n>` / `{{...}}+{{...}}x<n>` (n + 1 samples).
            let tail = item.rsplit("}}").next().unwrap_or("");
            let n = match tail.strip_prefix('x') {
                Some(n) => n.parse::<usize>().map_err(|_| format!("bad item {item}"))? + 1,
                None => 1,
            };
            out.extend(std::iter::repeat_n(None, n));
        } else if item == "_" {
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
    Ok((out, histograms))
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
    let mut st_series: Vec<Labels> = Vec::new();
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
            st_series.clear();
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
                // Start timestamps (`metric{...}@st`) belong to the series
                // of that name; they are not loaded (a feature-flagged
                // experiment), but the series is remembered for the excuse.
                if let Some(m) = metric.strip_suffix("@st") {
                    let labels = parse_labels(m).map_err(|e| format!("line {}: {e}", i + 1))?;
                    st_series.push(labels);
                    i += 1;
                    continue;
                }
                let labels = parse_labels(metric).map_err(|e| format!("line {}: {e}", i + 1))?;
                if nhcb && let Some(h) = nhcb_series(&labels) {
                    histograms.push(h);
                }
                let (vals, has_histograms) =
                    parse_values(values).map_err(|e| format!("line {}: {e}", i + 1))?;
                if has_histograms {
                    histograms.push(labels.clone());
                }
                let samples: Vec<Sample> = vals
                    .iter()
                    .enumerate()
                    .filter_map(|(k, v)| v.map(|v| Sample::new(k as i64 * interval, v)))
                    .collect();
                if !samples.is_empty() {
                    block.insert(labels, samples);
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
                // Prometheus' runner counts an error when the query is
                // created as a failure too.
                Err(e) => match Expectation::parse(&block, first == "eval_fail", false) {
                    Ok(exp) if exp.fail => exp.check_error(&e.to_string()),
                    Ok(_) => Outcome::Fail(format!("parse error: {e}")),
                    Err(o) => o,
                },
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
                        let mut sels = Vec::new();
                        selectors(&expr, &mut sels);
                        let selects_st = sels
                            .iter()
                            .any(|m| st_series.iter().any(|l| matches_all(m, l)));
                        (selects_st
                            && ["rate", "increase", "resets", "delta", "start_timestamp"]
                                .iter()
                                .any(|f| query.contains(f)))
                        .then_some("experimental: start timestamps")
                    });
                    match (outcome, excuse) {
                        (Outcome::Fail(why), Some(reason)) => {
                            if std::env::var_os("PROMQLTEST_SHOW_EXCUSED").is_some() {
                                eprintln!("excused ({reason}) line {start_line}: {query} -- {why}");
                            }
                            Outcome::Skip {
                                reason,
                                failure: why,
                            }
                        }
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

/// What an eval block expects.
#[derive(Debug, Default)]
struct Expectation {
    fail: bool,
    /// `expect fail msg: <text>` (exact) or `expect fail regex: <re>`
    /// (searched), or the legacy `expected_fail_message`/`_regexp` lines.
    fail_msg: Option<FailMatch>,
    ordered: bool,
    series: Vec<(Labels, Vec<Option<f64>>)>,
    scalar: Option<f64>,
    string: Option<String>,
    /// `expect range vector from <t1> to <t2> step <s>`: (t1, t2, s).
    range_vector: Option<(i64, i64, i64)>,
    /// `expect warn` lines (None: any warning) and `expect no_warn`.
    warn: AnnotationRule,
    /// `expect info` lines and `expect no_info`.
    info: AnnotationRule,
}

/// How an expected error is given.
#[derive(Debug)]
enum FailMatch {
    /// The error text must equal this.
    Exact(String),
    /// The regex must match somewhere in the error text.
    Regex(regex::Regex),
}

impl FailMatch {
    fn regex(r: &str) -> Result<FailMatch, String> {
        regex::Regex::new(r)
            .map(FailMatch::Regex)
            .map_err(|e| format!("bad fail regex {r:?}: {e}"))
    }

    fn matches(&self, error: &str) -> bool {
        match self {
            FailMatch::Exact(want) => want == error,
            FailMatch::Regex(re) => re.is_match(error),
        }
    }
}

impl std::fmt::Display for FailMatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FailMatch::Exact(m) => write!(f, "message {m:?}"),
            FailMatch::Regex(r) => write!(f, "an error matching /{}/", r.as_str()),
        }
    }
}

/// What an eval block says about one kind of annotation.
#[derive(Debug, Default)]
struct AnnotationRule {
    /// One entry per `expect warn` line: `None` for a bare line.
    expected: Vec<Option<TextMatch>>,
    /// `expect no_warn`: none may be produced.
    none: bool,
}

#[derive(Debug)]
enum TextMatch {
    Exact(String),
    /// The regex as written, and without a trailing position pattern.
    Regex(regex::Regex, regex::Regex),
}

impl TextMatch {
    /// Compares with the `(line:col)` when our annotation has one; an
    /// annotation without a position is compared on its message only.
    fn matches(&self, text: &str) -> bool {
        let positioned = strip_position(text) != text;
        match self {
            TextMatch::Exact(want) if positioned => want == text,
            TextMatch::Exact(want) => strip_position(want) == text,
            TextMatch::Regex(full, _) if positioned => full.is_match(text),
            TextMatch::Regex(_, bare) => bare.is_match(text),
        }
    }
}

/// `message (1:5)` -> `message`.
fn strip_position(s: &str) -> &str {
    match s.rfind(" (") {
        Some(i)
            if s.ends_with(')')
                && s[i + 2..s.len() - 1]
                    .split(':')
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())) =>
        {
            &s[..i]
        }
        _ => s,
    }
}

impl AnnotationRule {
    fn parse(rest: &str) -> Result<Option<TextMatch>, String> {
        let rest = rest.trim();
        if let Some(m) = rest.strip_prefix("msg:") {
            return Ok(Some(TextMatch::Exact(m.trim().to_owned())));
        }
        if let Some(r) = rest.strip_prefix("regex:") {
            let r = r.trim();
            let bare = match r.rfind(" \\(") {
                Some(i) if r.ends_with("\\)") => &r[..i],
                _ => r,
            };
            let compile = |x: &str| regex::Regex::new(x).map_err(|e| e.to_string());
            return Ok(Some(TextMatch::Regex(compile(r)?, compile(bare)?)));
        }
        Ok(None)
    }

    fn check(&self, kind: &str, produced: &[String]) -> Result<(), String> {
        if self.none && !produced.is_empty() {
            return Err(format!("expected no {kind}, got {produced:?}"));
        }
        if self.expected.is_empty() {
            return Ok(());
        }
        for e in &self.expected {
            let ok = match e {
                None => !produced.is_empty(),
                Some(m) => produced.iter().any(|p| m.matches(p)),
            };
            if !ok {
                return Err(format!("expected {kind} {e:?}, got {produced:?}"));
            }
        }
        if let Some(p) = produced.iter().find(|p| {
            !self
                .expected
                .iter()
                .any(|e| e.as_ref().is_none_or(|m| m.matches(p)))
        }) {
            return Err(format!("unexpected {kind} {p:?}"));
        }
        Ok(())
    }
}

impl Expectation {
    fn parse(
        block: &[&str],
        legacy_fail: bool,
        legacy_ordered: bool,
    ) -> Result<Expectation, Outcome> {
        let mut e = Expectation {
            fail: legacy_fail,
            ordered: legacy_ordered,
            ..Expectation::default()
        };
        for l in block {
            if let Some(x) = l.strip_prefix("expect ") {
                let x = x.trim();
                if let Some(rest) = x.strip_prefix("warn") {
                    e.warn
                        .expected
                        .push(AnnotationRule::parse(rest).map_err(Outcome::Fail)?);
                } else if let Some(rest) = x.strip_prefix("info") {
                    e.info
                        .expected
                        .push(AnnotationRule::parse(rest).map_err(Outcome::Fail)?);
                } else if x == "no_warn" {
                    e.warn.none = true;
                } else if x == "no_info" {
                    e.info.none = true;
                } else if let Some(rest) = x.strip_prefix("fail") {
                    e.fail = true;
                    let rest = rest.trim();
                    if let Some(m) = rest.strip_prefix("msg:") {
                        e.fail_msg = Some(FailMatch::Exact(m.trim().to_owned()));
                    } else if let Some(r) = rest.strip_prefix("regex:") {
                        e.fail_msg = Some(FailMatch::regex(r.trim()).map_err(Outcome::Fail)?);
                    } else if !rest.is_empty() {
                        return Err(Outcome::Fail(format!("bad expect line {l}")));
                    }
                } else if x == "ordered" {
                    e.ordered = true;
                } else if let Some(s) = x.strip_prefix("string ") {
                    let s = s.trim();
                    e.string = Some(
                        s.trim_matches(|c| c == '"' || c == '`')
                            .replace("\\\"", "\""),
                    );
                } else if let Some(r) = x.strip_prefix("range vector from ") {
                    let w: Vec<&str> = r.split_whitespace().collect();
                    let (Some(t1), Some(t2), Some(st)) = (
                        w.first().and_then(|v| script_duration(v)),
                        w.get(2).and_then(|v| script_duration(v)),
                        w.get(4).and_then(|v| script_duration(v)),
                    ) else {
                        return Err(Outcome::Fail(format!("bad expect line {l}")));
                    };
                    e.range_vector = Some((t1, t2, st));
                }
                continue;
            }
            if let Some(m) = l.strip_prefix("expected_fail_message") {
                e.fail = true;
                e.fail_msg = Some(FailMatch::Exact(m.trim().to_owned()));
                continue;
            }
            if let Some(r) = l.strip_prefix("expected_fail_regexp") {
                e.fail = true;
                e.fail_msg = Some(FailMatch::regex(r.trim()).map_err(Outcome::Fail)?);
                continue;
            }
            if let Some(v) = script_number(l) {
                e.scalar = Some(v);
                continue;
            }
            let Some((m, vals)) = split_series(l) else {
                return Err(Outcome::Fail(format!("bad result line {l}")));
            };
            let labels = parse_labels(m).map_err(Outcome::Fail)?;
            match parse_values(vals) {
                Ok((_, true)) => {
                    return Err(Outcome::Skip {
                        reason: "native histogram result",
                        failure: "the expected result has native histogram samples".into(),
                    });
                }
                Ok((v, false)) => e.series.push((labels, v)),
                Err(e) => return Err(Outcome::Fail(format!("bad result line {l}: {e}"))),
            }
        }
        Ok(e)
    }

    /// Checks the error of a statement that was expected to fail.
    fn check_error(&self, error: &str) -> Outcome {
        match &self.fail_msg {
            Some(m) if !m.matches(error) => Outcome::Fail(format!("error {error:?}, expected {m}")),
            _ => Outcome::Pass,
        }
    }

    /// Checks the annotations of a successful evaluation.
    fn check_annotations(&self, annotations: &[crate::eval::Annotation]) -> Outcome {
        use crate::eval::AnnotationKind;
        let texts = |k: AnnotationKind| {
            annotations
                .iter()
                .filter(|a| a.kind == k)
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
        };
        let check = self
            .warn
            .check("warning", &texts(AnnotationKind::Warning))
            .and_then(|()| self.info.check("info", &texts(AnnotationKind::Info)));
        match check {
            Ok(()) => Outcome::Pass,
            Err(why) => Outcome::Fail(why),
        }
    }

    /// Checks one evaluation's result.
    fn check(&self, result: Result<Value, crate::eval::EvalError>, instant: bool) -> Outcome {
        let value = match (result, self.fail) {
            (Err(e), true) => return self.check_error(&e.to_string()),
            (Err(e), false) => return Outcome::Fail(format!("unexpected error: {e}")),
            (Ok(_), true) => return Outcome::Fail("expected an error".into()),
            (Ok(v), false) => v,
        };
        match value {
            Value::String(s) => match &self.string {
                Some(want) if *want == s => Outcome::Pass,
                other => Outcome::Fail(format!("string {s:?}, expected {other:?}")),
            },
            Value::Scalar(v) => match self.scalar {
                Some(want) if instant && v.first().is_some_and(|&a| float_eq(want, a)) => {
                    Outcome::Pass
                }
                _ if !instant => compare_range(
                    &[(Labels::default(), v.into_iter().map(Some).collect())],
                    &self.series,
                ),
                other => Outcome::Fail(format!("scalar {v:?}, expected {other:?}")),
            },
            Value::Vector(series) => {
                if self.scalar.is_some() {
                    return Outcome::Fail("got a vector, expected a scalar".into());
                }
                let got: Vec<(Labels, Vec<Option<f64>>)> =
                    series.into_iter().map(|s| (s.labels, s.points)).collect();
                if instant {
                    compare_instant(&got, &self.series, self.ordered)
                } else {
                    compare_range(&got, &self.series)
                }
            }
            Value::Matrix(m) => {
                let Some((t1, t2, step)) = self.range_vector else {
                    return Outcome::Fail(
                        "got a range vector without `expect range vector`".into(),
                    );
                };
                let times: Vec<i64> = (0..)
                    .map(|k| t1 + k * step)
                    .take_while(|t| *t <= t2)
                    .collect();
                // Every returned sample must be one the expectation has a
                // place for: a sample off the grid (or a series whose samples
                // are all off it) is an extra sample, not something to drop.
                if let Some((r, t)) = m.iter().find_map(|r| {
                    r.samples
                        .iter()
                        .find(|s| times.binary_search(&s.t).is_err())
                        .map(|s| (r, s.t))
                }) {
                    return Outcome::Fail(format!(
                        "{}: extra sample at {t} (expected points from {t1} to {t2} step {step})",
                        r.labels
                    ));
                }
                let got: Vec<(Labels, Vec<Option<f64>>)> = m
                    .into_iter()
                    .map(|r| {
                        let pts = times
                            .iter()
                            .map(|t| r.samples.iter().find(|s| s.t == *t).map(|s| s.v))
                            .collect();
                        (r.labels, pts)
                    })
                    .collect();
                compare_range(&got, &self.series)
            }
        }
    }
}

fn calls_time_dependent(e: &Expr) -> bool {
    match e {
        Expr::Call(c) => {
            (crate::eval::EVAL_TIME_FUNCTIONS.contains(&c.func)
                || ["start", "end", "range", "step"].contains(&c.func))
                || c.args.iter().any(calls_time_dependent)
        }
        Expr::Binary(b) => calls_time_dependent(&b.lhs) || calls_time_dependent(&b.rhs),
        Expr::Subquery(s) => calls_time_dependent(&s.expr),
        Expr::Paren(x) | Expr::Unary(_, x) => calls_time_dependent(x),
        Expr::Aggregate(a) => {
            calls_time_dependent(&a.expr) || a.param.as_deref().is_some_and(calls_time_dependent)
        }
        _ => false,
    }
}

/// Pins every selector and subquery without `@` to `@ t`, as the upstream
/// runner does; the inside of a subquery (which then has an `@`) is left alone.
fn pin_at(e: &mut Expr, t: i64) {
    use crate::ast::AtModifier;
    match e {
        Expr::Vector(v) => {
            v.at.get_or_insert(AtModifier::Timestamp(t));
        }
        Expr::Matrix(m) => {
            m.vector.at.get_or_insert(AtModifier::Timestamp(t));
        }
        // Once a subquery has an `@`, its inside is left alone.
        Expr::Subquery(s) => {
            s.at.get_or_insert(AtModifier::Timestamp(t));
        }
        Expr::Paren(x) | Expr::Unary(_, x) => pin_at(x, t),
        Expr::Binary(b) => {
            pin_at(&mut b.lhs, t);
            pin_at(&mut b.rhs, t);
        }
        Expr::Aggregate(a) => {
            pin_at(&mut a.expr, t);
            if let Some(p) = a.param.as_deref_mut() {
                pin_at(p, t);
            }
        }
        Expr::Call(c) => c.args.iter_mut().for_each(|x| pin_at(x, t)),
        Expr::Number(_) | Expr::String(_) => {}
    }
}

/// The instant result at `t`, checked again as a range query around `t`.
fn range_mode_check(
    store: &MemQuerier,
    expr: &Expr,
    t: i64,
    exp: &Expectation,
    opts: &EvalOptions,
) -> Outcome {
    let result = eval_range(store, expr, t - 60_000, t + 60_000, 60_000, opts);
    let value = match result {
        Ok(v) => v,
        Err(e) => return Outcome::Fail(format!("range-mode re-run at {t}: {e}")),
    };
    if exp.ordered {
        return Outcome::Pass;
    }
    let at_t = match value {
        Value::Scalar(v) => Value::Scalar(v.get(1).copied().into_iter().collect()),
        Value::Vector(series) => Value::Vector(
            series
                .into_iter()
                .filter_map(|mut s| {
                    let p = s.points.get(1).copied().flatten()?;
                    s.points = vec![Some(p)];
                    Some(s)
                })
                .collect(),
        ),
        other => other,
    };
    match exp.check(Ok(at_t), true) {
        Outcome::Fail(why) => Outcome::Fail(format!("range-mode re-run at {t}: {why}")),
        o => o,
    }
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
    let exp = match Expectation::parse(block, legacy_fail, legacy_ordered) {
        Ok(e) => e,
        Err(o) => return o,
    };
    if !instant {
        let (Some(s), Some(e), Some(st)) = (
            words.get(3).and_then(|w| script_duration(w)),
            words.get(5).and_then(|w| script_duration(w)),
            words.get(7).and_then(|w| script_duration(w)),
        ) else {
            return Outcome::Fail("bad range".into());
        };
        let result = eval_range_annotated(store, expr, s, e, st, opts);
        let annotations = result.as_ref().map(|r| r.1.clone()).unwrap_or_default();
        let o = exp.check(result.map(|r| r.0), false);
        if o != Outcome::Pass || exp.fail {
            return o;
        }
        return exp.check_annotations(&annotations);
    }
    let Some(mut t) = words.get(3).and_then(|w| script_duration(w)) else {
        return Outcome::Fail("bad time".into());
    };
    if let Some((_, t2, _)) = exp.range_vector {
        t = t2;
    }
    let result = eval_instant_annotated(store, expr, t, opts);
    let annotations = result.as_ref().map(|r| r.1.clone()).unwrap_or_default();
    let first = exp.check(result.map(|r| r.0), true);
    if first != Outcome::Pass {
        return first;
    }
    if !exp.fail {
        let o = exp.check_annotations(&annotations);
        if o != Outcome::Pass {
            return o;
        }
    }
    let text = expr.to_string();
    let range_checks = exp.range_vector.is_none()
        && exp.string.is_none()
        && !["start()", "end()", "range()", "step()"]
            .iter()
            .any(|f| text.contains(f));
    if range_checks && !exp.fail {
        let o = range_mode_check(store, expr, t, &exp, opts);
        if o != Outcome::Pass {
            return o;
        }
    }
    if calls_time_dependent(expr) {
        return Outcome::Pass;
    }
    // Pinned to `@ t`, the result must not depend on the evaluation time.
    let mut pinned = expr.clone();
    pin_at(&mut pinned, t);
    let Ok(pinned) = crate::parse(&pinned.to_string()) else {
        return Outcome::Fail("pinned expression does not re-parse".into());
    };
    let times: Vec<i64> = if t == 0 {
        vec![-1000, 0, 1000]
    } else {
        vec![-10 * t, 0, t / 5, t, 10 * t]
    };
    for at in times {
        match exp.check(eval_instant(store, &pinned, at, opts), true) {
            Outcome::Pass => {}
            Outcome::Fail(why) => {
                return Outcome::Fail(format!("with @ {t} evaluated at {at}: {why}"));
            }
            skip => return skip,
        }
        if range_checks && !exp.fail {
            let o = range_mode_check(store, &pinned, at, &exp, opts);
            if o != Outcome::Pass {
                return Outcome::Fail(format!("with @ {t}: {o:?}"));
            }
        }
    }
    Outcome::Pass
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
            sorted_names(got.iter().map(|g| g.0))
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
                let have = sorted_names(got.iter().map(|g| g.0));
                return Outcome::Fail(format!(
                    "missing {l}{}; got {have:?}",
                    if ordered { " at its position" } else { "" }
                ));
            }
        }
    }
    Outcome::Pass
}

/// Label sets as text, sorted, so that a failure reads the same every run.
fn sorted_names<'a>(labels: impl Iterator<Item = &'a Labels>) -> Vec<String> {
    let mut v: Vec<String> = labels.map(Labels::to_string).collect();
    v.sort();
    v
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
                .0
                .len(),
            15
        );
        let v = parse_values("0+10x2 1e3").unwrap();
        assert_eq!(
            v,
            (vec![Some(0.0), Some(10.0), Some(20.0), Some(1000.0)], false)
        );
        assert_eq!(parse_values("{{schema:0}}").unwrap(), (vec![None], true));
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

    fn outcomes(script: &str) -> Vec<Outcome> {
        run_script(script)
            .unwrap()
            .into_iter()
            .map(|r| r.outcome)
            .collect()
    }

    /// Issue 15 B2: a series mixing histogram and float samples keeps its
    /// floats (they used to be dropped with the whole series), with the
    /// slots of the histograms left empty.
    #[test]
    fn mixed_series_keeps_float_samples() {
        let (v, h) =
            parse_values("1 {{schema:0 sum:5 count:4 buckets:[1 2 1]}} 3 {{sum:1}}x2 4").unwrap();
        assert!(h);
        assert_eq!(v, [Some(1.0), None, Some(3.0), None, None, None, Some(4.0)]);
        let script = "load 10s\n  metric 1 2 {{schema:0 sum:1 count:1}}\n\n\
                      eval instant at 10s timestamp(metric)\n  {} 10\n\n\
                      eval instant at 10s metric\n  metric 2\n";
        assert_eq!(outcomes(script), [Outcome::Pass, Outcome::Pass]);
    }

    /// Issue 15 B2: `metric{...}@st` lines are start timestamps, not
    /// histograms: the float series stays plain and its excuse (when it
    /// fails) names start timestamps.
    #[test]
    fn start_timestamp_lines_are_not_histograms() {
        assert_eq!(
            split_series(r#"c{type="a"}@st   _ -30s"#),
            Some((r#"c{type="a"}@st"#, "_ -30s"))
        );
        let script = "load 1m\n  c{type=\"a\"}@st _ -30s-1mx2\n  c{type=\"a\"} 0 60 120 180\n\n\
                      eval instant at 3m c\n  c{type=\"a\"} 180\n\n\
                      eval instant at 3m increase(c[3m])\n  {type=\"a\"} 1\n";
        let o = outcomes(script);
        assert_eq!(o[0], Outcome::Pass);
        assert!(
            matches!(&o[1], Outcome::Skip { reason, .. } if *reason == "experimental: start timestamps"),
            "{o:?}"
        );
    }

    /// Issue 15 B2: `expect fail` with `msg:` or `regex:` checks the error;
    /// so do the legacy `expected_fail_message`/`expected_fail_regexp`.
    #[test]
    fn expect_fail_checks_the_message() {
        let load = "load 1m\n  m{a=\"1\"} 1\n  m{a=\"2\"} 2\n\n";
        let q = "eval instant at 0m label_replace(m, \"a\", \"x\", \"\", \"\")";
        let right = "vector cannot contain metrics with the same labelset";
        let cases = [
            (format!("  expect fail msg: {right}"), true),
            ("  expect fail msg: something else".into(), false),
            ("  expect fail regex: same label(set)?$".into(), true),
            ("  expect fail regex: ^different".into(), false),
            ("  expect fail".into(), true),
        ];
        for (line, ok) in cases {
            let o = outcomes(&format!("{load}{q}\n{line}\n"));
            assert_eq!(o[0] == Outcome::Pass, ok, "{line}: {o:?}");
        }
        let legacy = "eval_fail instant at 0m label_replace(m, \"a\", \"x\", \"\", \"\")";
        let o = outcomes(&format!("{load}{legacy}\n  expected_fail_message nope\n"));
        assert!(matches!(o[0], Outcome::Fail(_)), "{o:?}");
        let o = outcomes(&format!(
            "{load}{legacy}\n  expected_fail_regexp labelset\n"
        ));
        assert_eq!(o[0], Outcome::Pass);
    }

    /// Issue 15 B2: a range-vector expectation fails when the result has a
    /// sample the expectation has no place for.
    #[test]
    fn range_vector_expectation_fails_on_extra_samples() {
        let load = "load 30s\n  m 1 2 3 4 5\n\n";
        let exact =
            "eval instant at 2m m[1m]\n  expect range vector from 90s to 2m step 30s\n  m 4 5\n";
        assert_eq!(outcomes(&format!("{load}{exact}")), [Outcome::Pass]);
        // The window (1m, 2m] holds 90s and 2m; a coarser grid has no place
        // for 90s.
        let coarse =
            "eval instant at 2m m[1m]\n  expect range vector from 0 to 2m step 1m\n  m _ _ 5\n";
        let o = outcomes(&format!("{load}{coarse}"));
        assert!(
            matches!(&o[0], Outcome::Fail(w) if w.contains("extra sample at 90000")),
            "{o:?}"
        );
    }
}
