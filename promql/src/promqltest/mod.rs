//! Runner for Prometheus' `.test` script language (see
//! `../shared/promql-tests/README.md`): `load` series into an in-memory
//! querier, `clear` them, and check `eval` statements against expectations.
//!
//! Statements that need native histograms or experimental syntax behind
//! Prometheus feature flags are classified as skipped, with the reason.
//!
//! The parts: `script` reads the script (statements, series notation,
//! values), `expect` holds what an `eval` block expects, `eval_statement`
//! runs one statement, `compare` checks results, `skip` is the skip policy,
//! [`MemQuerier`] is the in-memory storage and [`require`] what tests do
//! when something they need lives outside the repository.

mod compare;
mod eval_statement;
mod expect;
mod mem_querier;
pub mod require;
mod script;
mod skip;

pub use mem_querier::MemQuerier;

use strata_engine::Labels;

use crate::eval::EvalOptions;

use eval_statement::run_eval;
use expect::Expectation;
use script::{command, parse_eval, parse_load, script_lines};
use skip::excuse;

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

/// Runs one script; returns a result per eval statement.
///
/// # Errors
/// A script that cannot be read as the format describes.
pub fn run_script(text: &str) -> Result<Vec<StatementResult>, String> {
    let lines = script_lines(text);
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
        let first = command(line);
        if line.is_empty() {
            i += 1;
        } else if first == "clear" {
            store = MemQuerier::default();
            histograms.clear();
            st_series.clear();
            i += 1;
        } else if first.starts_with("load") {
            let (load, next) = parse_load(&lines, i)?;
            i = next;
            histograms.extend(load.histograms);
            st_series.extend(load.start_timestamps);
            for (l, s) in load.series {
                store.add(l, &s);
            }
        } else if first.starts_with("eval") {
            let (statement, next) = parse_eval(&lines, i)?;
            i = next;
            let outcome = eval_outcome(&store, &statement, &histograms, &st_series, &opts);
            results.push(StatementResult {
                line: statement.line,
                query: statement.query,
                outcome,
            });
        } else {
            return Err(format!("line {}: unknown command {first:?}", i + 1));
        }
    }
    Ok(results)
}

/// Runs one eval statement against `store`. Every statement runs; a
/// failure is excused (skipped) only when a rule says it needs native
/// histograms or feature-flagged syntax.
fn eval_outcome(
    store: &MemQuerier,
    statement: &script::EvalStatement<'_>,
    histograms: &[Labels],
    st_series: &[Labels],
    opts: &EvalOptions,
) -> Outcome {
    let script::EvalStatement {
        line,
        command,
        words,
        mode,
        query,
        block,
    } = statement;
    match crate::parse(query) {
        // Prometheus' runner counts an error when the query is
        // created as a failure too.
        Err(e) => match Expectation::parse(block, script::Legacy::of(command)) {
            Ok(exp) if exp.fail => exp.check_error(&e.to_string()),
            Ok(_) => Outcome::Fail(format!("parse error: {e}")),
            Err(o) => o,
        },
        Ok(expr) => {
            let outcome = run_eval(
                store,
                &expr,
                words,
                *mode,
                script::Legacy::of(command),
                block,
                opts,
            );
            match (outcome, excuse(query, &expr, histograms, st_series, block)) {
                (Outcome::Fail(why), Some(reason)) => {
                    if std::env::var_os("PROMQLTEST_SHOW_EXCUSED").is_some() {
                        eprintln!("excused ({reason}) line {line}: {query} -- {why}");
                    }
                    Outcome::Skip {
                        reason,
                        failure: why,
                    }
                }
                (o, _) => o,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::script::{parse_values, split_series};
    use super::*;

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
