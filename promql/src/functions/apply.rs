//! How functions reach their arguments and apply themselves: evaluating an
//! argument as a scalar, vector or string; running a closure over every
//! window of a range argument or every value of a vector argument. The
//! closures are generic, so each function's per-sample work is inlined.

use crate::Position;
use crate::ast::{Call, Expr};
pub(super) use crate::eval::MetricName;
use crate::eval::selector::Windows;
use crate::eval::{EvalError, Evaluator, Grid, StepSeries, Value};

/// Result of evaluating a function.
pub(super) type R<T> = Result<T, EvalError>;

/// Argument `i` of a call (the checker guarantees it; a hand-built tree may not).
pub(super) fn arg(c: &Call, i: usize) -> R<&Expr> {
    c.args
        .get(i)
        .ok_or_else(|| EvalError::Execution(format!("missing argument {i} of {}", c.func)))
}

/// Where argument `i` starts in the query text (for annotations).
pub(super) fn arg_at(c: &Call, i: usize) -> Option<Position> {
    c.positions.get(i + 1)
}

impl Evaluator<'_> {
    /// Evaluates `e` as a scalar: a number per step.
    pub(super) fn scalar_arg(&mut self, e: &Expr, grid: &Grid) -> R<Vec<f64>> {
        match self.eval(e, grid)? {
            Value::Scalar(v) => Ok(v),
            _ => Err(EvalError::Execution("expected a scalar argument".into())),
        }
    }

    /// Evaluates `e` as an instant vector.
    pub(super) fn vector_arg(&mut self, e: &Expr, grid: &Grid) -> R<Vec<StepSeries>> {
        match self.eval(e, grid)? {
            Value::Vector(v) => Ok(v),
            _ => Err(EvalError::Execution(
                "expected an instant vector argument".into(),
            )),
        }
    }

    /// Evaluates `e` as a string.
    pub(super) fn string_arg(&mut self, e: &Expr, grid: &Grid) -> R<String> {
        match self.eval(e, grid)? {
            Value::String(s) => Ok(s),
            _ => Err(EvalError::Execution("expected a string argument".into())),
        }
    }

    /// A range function: `f(windows, step index)` per series and step.
    pub(super) fn over_windows(
        &mut self,
        arg: &Expr,
        grid: &Grid,
        name: MetricName,
        f: impl Fn(&Windows, usize) -> Option<f64>,
    ) -> R<Value> {
        let mut out = Vec::new();
        let steps = grid.len();
        self.for_each_windows(arg, grid, |ev, w| {
            let mut points: Vec<Option<f64>> = Vec::with_capacity(steps);
            for i in 0..steps {
                // Windows can be long (subqueries): keep the deadline honest.
                if i % 1024 == 0 {
                    ev.check_deadline()?;
                }
                points.push(f(w, i));
            }
            let n = points.iter().filter(|p| p.is_some()).count();
            if n > 0 {
                ev.count_points(n)?;
                out.push(StepSeries {
                    labels: w.labels.clone(),
                    drop_name: name == MetricName::Drop,
                    points,
                });
            }
            Ok(())
        })?;
        Ok(Value::Vector(out))
    }

    /// A range function computed for all steps of a series at once (one
    /// pass over its samples), dropping the metric name.
    pub(super) fn over_windows_all(
        &mut self,
        arg: &Expr,
        grid: &Grid,
        f: impl Fn(&Windows) -> Vec<Option<f64>>,
    ) -> R<Value> {
        let mut out = Vec::new();
        self.for_each_windows(arg, grid, |ev, w| {
            ev.check_deadline()?;
            let points = f(w);
            let n = points.iter().filter(|p| p.is_some()).count();
            if n > 0 {
                ev.count_points(n)?;
                out.push(StepSeries {
                    labels: w.labels.clone(),
                    drop_name: true,
                    points,
                });
            }
            Ok(())
        })?;
        Ok(Value::Vector(out))
    }

    /// `f(value, step index)` over every value of a vector argument,
    /// dropping the metric name and series left without values.
    pub(super) fn map_vector(
        &mut self,
        arg: &Expr,
        grid: &Grid,
        f: impl Fn(f64, usize) -> Option<f64>,
    ) -> R<Value> {
        let series = self.vector_arg(arg, grid)?;
        Ok(Value::Vector(
            series
                .into_iter()
                .filter_map(|mut s| {
                    for (i, p) in s.points.iter_mut().enumerate() {
                        *p = p.and_then(|x| f(x, i));
                    }
                    s.drop_name = true;
                    s.points.iter().any(Option::is_some).then_some(s)
                })
                .collect(),
        ))
    }

    /// Warns about φ values outside [0, 1] (or NaN), as Prometheus does.
    pub(crate) fn check_quantiles(&mut self, q: &[f64], at: Option<Position>) {
        if let Some(bad) = q.iter().find(|v| !(0.0..=1.0).contains(*v)) {
            self.warn(
                format!(
                    "quantile value should be between 0 and 1, got {}",
                    crate::eval::annotation::go_g(*bad)
                ),
                at,
            );
        }
    }
}
