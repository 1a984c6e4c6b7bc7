//! What an `eval` block expects (`Expectation`): a result, an error
//! (`FailMatch`), warnings and infos (`AnnotationRule`, `TextMatch`),
//! and the checks of a result against it.

use strata_engine::Labels;

use crate::eval::Value;

use super::Outcome;
use super::compare::{compare_instant, compare_range, float_eq};
use super::script::{
    EvalMode, Legacy, parse_labels, parse_values, script_duration, script_number, split_series,
};

/// What an eval block expects.
#[derive(Debug, Default)]
pub(super) struct Expectation {
    pub(super) fail: bool,
    /// `expect fail msg: <text>` (exact) or `expect fail regex: <re>`
    /// (searched), or the legacy `expected_fail_message`/`_regexp` lines.
    fail_msg: Option<FailMatch>,
    pub(super) ordered: bool,
    series: Vec<(Labels, Vec<Option<f64>>)>,
    scalar: Option<f64>,
    pub(super) string: Option<String>,
    /// `expect range vector from <t1> to <t2> step <s>`: (t1, t2, s).
    pub(super) range_vector: Option<(i64, i64, i64)>,
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

/// How an expected warning or info text is given.
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
    pub(super) fn parse(block: &[&str], legacy: Legacy) -> Result<Expectation, Outcome> {
        let mut e = Expectation {
            fail: legacy == Legacy::Fail,
            ordered: legacy == Legacy::Ordered,
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
    pub(super) fn check_error(&self, error: &str) -> Outcome {
        match &self.fail_msg {
            Some(m) if !m.matches(error) => Outcome::Fail(format!("error {error:?}, expected {m}")),
            _ => Outcome::Pass,
        }
    }

    /// Checks the annotations of a successful evaluation.
    pub(super) fn check_annotations(&self, annotations: &[crate::eval::Annotation]) -> Outcome {
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
    pub(super) fn check(
        &self,
        result: Result<Value, crate::eval::EvalError>,
        mode: EvalMode,
    ) -> Outcome {
        let instant = mode == EvalMode::Instant;
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
