//! Running one `eval` statement: the instant or range evaluation, and for
//! instant queries the re-checks Prometheus' runner does (the same result
//! from a range query around the time, and with every selector pinned to
//! `@ t` at other evaluation times).

use crate::ast::Expr;
use crate::eval::{
    EvalOptions, Value, eval_instant, eval_instant_annotated, eval_range, eval_range_annotated,
};

use super::Outcome;
use super::expect::Expectation;
use super::mem_querier::MemQuerier;
use super::script::{EvalMode, Legacy, script_duration};

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
    match exp.check(Ok(at_t), EvalMode::Instant) {
        Outcome::Fail(why) => Outcome::Fail(format!("range-mode re-run at {t}: {why}")),
        o => o,
    }
}

pub(super) fn run_eval(
    store: &MemQuerier,
    expr: &Expr,
    words: &[&str],
    mode: EvalMode,
    legacy: Legacy,
    block: &[&str],
    opts: &EvalOptions,
) -> Outcome {
    let exp = match Expectation::parse(block, legacy) {
        Ok(e) => e,
        Err(o) => return o,
    };
    if mode == EvalMode::Range {
        let (Some(s), Some(e), Some(st)) = (
            words.get(3).and_then(|w| script_duration(w)),
            words.get(5).and_then(|w| script_duration(w)),
            words.get(7).and_then(|w| script_duration(w)),
        ) else {
            return Outcome::Fail("bad range".into());
        };
        let result = eval_range_annotated(store, expr, s, e, st, opts);
        let annotations = result.as_ref().map(|r| r.1.clone()).unwrap_or_default();
        let o = exp.check(result.map(|r| r.0), EvalMode::Range);
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
    let first = exp.check(result.map(|r| r.0), EvalMode::Instant);
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
        match exp.check(eval_instant(store, &pinned, at, opts), EvalMode::Instant) {
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
