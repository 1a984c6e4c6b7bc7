//! Conversions and presence: `vector`, `scalar`, `absent` (and the result
//! shape `absent_over_time` shares), plus the functions whose data this
//! engine does not store: `start_timestamp` (empty result) and `info`
//! (an execution error; the README's conformance section lists it).
//!
//! Pinned by `promql-tests/upstream/functions.test` (`vector`, `scalar`,
//! `absent`), `start_timestamps.test` and `info.test` (skipped cases).

use std::collections::HashMap;

use strata_engine::{Label, Labels, MatchType, Matcher};

use crate::ast::{Call, Expr};
use crate::eval::{EvalError, Evaluator, Grid, StepSeries, Value, labels_from};

use super::apply::{R, arg};

/// `vector(s)`: the scalar as a one-series vector without labels.
pub(super) fn vector(ev: &mut Evaluator<'_>, c: &Call, grid: &Grid) -> R<Value> {
    let v = ev.scalar_arg(arg(c, 0)?, grid)?;
    Ok(Value::Vector(vec![StepSeries {
        labels: Labels::default(),
        drop_name: false,
        points: v.into_iter().map(Some).collect(),
    }]))
}

/// `scalar(v)`: the value of a one-element vector, else NaN.
pub(super) fn scalar(ev: &mut Evaluator<'_>, c: &Call, grid: &Grid) -> R<Value> {
    let series = ev.vector_arg(arg(c, 0)?, grid)?;
    Ok(Value::Scalar(
        (0..grid.len())
            .map(|i| {
                let mut present = series
                    .iter()
                    .filter_map(|s| s.points.get(i).copied().flatten());
                match (present.next(), present.next()) {
                    (Some(v), None) => v,
                    _ => f64::NAN,
                }
            })
            .collect(),
    ))
}

/// `absent(v)`: 1 at steps where the vector is empty.
pub(super) fn absent(ev: &mut Evaluator<'_>, c: &Call, grid: &Grid) -> R<Value> {
    let series = ev.vector_arg(arg(c, 0)?, grid)?;
    let points: Vec<Option<f64>> = (0..grid.len())
        .map(|i| {
            series
                .iter()
                .all(|s| s.points.get(i).copied().flatten().is_none())
                .then_some(1.0)
        })
        .collect();
    let matchers = match arg(c, 0)? {
        Expr::Vector(v) => v.all_matchers(),
        _ => Vec::new(),
    };
    Ok(absent_result(matchers, points))
}

/// `absent()` output: labels from the equality matchers (except the name
/// and names matched more than once); empty when no step is absent.
pub(super) fn absent_result(matchers: Vec<Matcher>, points: Vec<Option<f64>>) -> Value {
    if points.iter().all(Option::is_none) {
        return Value::Vector(Vec::new());
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for m in &matchers {
        *seen.entry(m.name.as_str()).or_default() += 1;
    }
    let l: Vec<Label> = matchers
        .iter()
        .filter(|m| {
            m.kind == MatchType::Equal
                && m.name != "__name__"
                && seen.get(m.name.as_str()) == Some(&1)
        })
        .map(|m| Label::new(m.name.clone(), m.value.clone()))
        .collect();
    Value::Vector(vec![StepSeries {
        labels: labels_from(l),
        drop_name: false,
        points,
    }])
}

/// `start_timestamp(v)`: start timestamps are not stored, so the result is
/// empty, as in Prometheus without them (the argument is still evaluated,
/// for its errors and limits).
pub(super) fn start_timestamp(ev: &mut Evaluator<'_>, c: &Call, grid: &Grid) -> R<Value> {
    ev.vector_arg(arg(c, 0)?, grid)?;
    Ok(Value::Vector(Vec::new()))
}

/// `info(v, [selector])`: not supported; always its documented execution
/// error (the arguments are not evaluated).
pub(super) fn info(_: &mut Evaluator<'_>, _: &Call, _: &Grid) -> R<Value> {
    Err(EvalError::Execution("info() is not supported yet".into()))
}
