//! Evaluation of a parsed expression over an engine [`Querier`], as an
//! instant query (one time) or a range query (start, end, step).
//!
//! Every node is evaluated once for all steps of the query: an instant
//! vector is a set of series with a value (or none) per step, and range
//! functions slide a window over each series' samples across all steps.

pub(crate) mod aggregate;
pub(crate) mod annotation;
mod binary;
mod error;
pub(crate) mod kahan;
pub(crate) mod selector;
mod value;

use std::time::{Duration, Instant};

use strata_engine::{Labels, Querier};

use crate::ast::{AtModifier, Expr, UnaryOp};
use crate::duration::{DurationExpr, MAX_DURATION_MS, MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS};

pub use annotation::{Annotation, AnnotationKind};
pub use error::{EvalError, StorageError, StorageErrorKind};
pub use value::{RangeSeries, StepSeries, Value};

/// Engine settings; the defaults are Prometheus'.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// How far back an instant selector looks for a sample (default 5m).
    pub lookback_ms: i64,
    /// Most samples a query may load (default 50,000,000).
    pub max_samples: usize,
    /// Longest a query may run (default 2 minutes).
    pub timeout: Duration,
    /// Step of a subquery written without one, `x[5m:]` (default 1m).
    pub default_subquery_step_ms: i64,
    /// Set to true (from another thread) to cancel the query.
    pub cancel: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            lookback_ms: 300_000,
            max_samples: 50_000_000,
            timeout: Duration::from_secs(120),
            default_subquery_step_ms: 60_000,
            cancel: None,
        }
    }
}

/// Most points per series a range query may return.
pub const MAX_POINTS_PER_SERIES: i64 = 11_000;

/// Evaluates `expr` at time `t` (ms).
///
/// # Errors
/// [`EvalError`] for storage failures, limits and execution errors.
pub fn eval_instant(
    q: &dyn Querier,
    expr: &Expr,
    t: i64,
    opts: &EvalOptions,
) -> Result<Value, EvalError> {
    eval_instant_annotated(q, expr, t, opts).map(|r| r.0)
}

/// As [`eval_instant`], with the warnings and infos the query produced.
///
/// # Errors
/// As [`eval_instant`].
pub fn eval_instant_annotated(
    q: &dyn Querier,
    expr: &Expr,
    t: i64,
    opts: &EvalOptions,
) -> Result<(Value, Vec<Annotation>), EvalError> {
    if !(MIN_TIMESTAMP_MS..=MAX_TIMESTAMP_MS).contains(&t) {
        return Err(EvalError::Execution(format!(
            "query time must be within [{MIN_TIMESTAMP_MS}, {MAX_TIMESTAMP_MS}] ms"
        )));
    }
    let mut ev = Evaluator::new(q, opts, t, t, 0);
    let grid = Grid::new(t, t, 0);
    let v = ev.eval(expr, &grid)?;
    Ok((finish(v)?, ev.annotations))
}

/// Evaluates `expr` at every step from `start` to `end` (ms, inclusive).
///
/// # Errors
/// As [`eval_instant`]; also [`EvalError::TooManyPoints`] for more than
/// 11,000 steps, and an error for an expression returning a range vector.
pub fn eval_range(
    q: &dyn Querier,
    expr: &Expr,
    start: i64,
    end: i64,
    step: i64,
    opts: &EvalOptions,
) -> Result<Value, EvalError> {
    eval_range_annotated(q, expr, start, end, step, opts).map(|r| r.0)
}

/// As [`eval_range`], with the warnings and infos the query produced.
///
/// # Errors
/// As [`eval_range`].
pub fn eval_range_annotated(
    q: &dyn Querier,
    expr: &Expr,
    start: i64,
    end: i64,
    step: i64,
    opts: &EvalOptions,
) -> Result<(Value, Vec<Annotation>), EvalError> {
    if step <= 0 {
        return Err(EvalError::Execution("zero or negative query resolution step widths are not accepted. Try a positive integer".into()));
    }
    if end < start {
        return Err(EvalError::Execution(
            "end timestamp must not be before start time".into(),
        ));
    }
    if !(MIN_TIMESTAMP_MS..=MAX_TIMESTAMP_MS).contains(&start)
        || !(MIN_TIMESTAMP_MS..=MAX_TIMESTAMP_MS).contains(&end)
    {
        return Err(EvalError::Execution(format!(
            "query time range must be within [{MIN_TIMESTAMP_MS}, {MAX_TIMESTAMP_MS}] ms"
        )));
    }
    if step > MAX_DURATION_MS {
        return Err(EvalError::Execution(format!(
            "query resolution step must be at most {MAX_DURATION_MS} ms"
        )));
    }
    // Both bounds are well inside i64, so this cannot overflow; the count
    // is Prometheus' (`(end - start) / step > 11000`).
    if (end - start) / step > MAX_POINTS_PER_SERIES {
        return Err(EvalError::TooManyPoints);
    }
    if matches!(
        expr.value_type(),
        crate::ValueType::Matrix | crate::ValueType::String
    ) {
        return Err(EvalError::Execution(format!(
            "invalid expression type {:?} for range query, must be Scalar or instant Vector",
            expr.value_type().to_string()
        )));
    }
    let mut ev = Evaluator::new(q, opts, start, end, step);
    let grid = Grid::new(start, end, step);
    let v = ev.eval(expr, &grid)?;
    Ok((finish(v)?, ev.annotations))
}

/// Drops names marked for delayed removal and rejects duplicate label sets.
fn finish(v: Value) -> Result<Value, EvalError> {
    match v {
        Value::Vector(series) => Ok(Value::Vector(dedup_check(drop_names(series))?)),
        other => Ok(other),
    }
}

/// Removes `__name__` (and `__type__`, `__unit__`) from series marked for it.
pub(crate) fn drop_names(series: Vec<StepSeries>) -> Vec<StepSeries> {
    series
        .into_iter()
        .map(|mut s| {
            if s.drop_name {
                s.labels = without_metadata_labels(&s.labels);
                s.drop_name = false;
            }
            s
        })
        .collect()
}

pub(crate) fn without_metadata_labels(l: &Labels) -> Labels {
    labels_without(l, &["__name__", "__type__", "__unit__"])
}

pub(crate) fn labels_without(l: &Labels, names: &[&str]) -> Labels {
    if !l.iter().any(|x| names.contains(&x.name.as_str())) {
        return l.clone();
    }
    let kept: Vec<_> = l
        .iter()
        .filter(|x| !names.contains(&x.name.as_str()))
        .cloned()
        .collect();
    labels_from(kept)
}

/// Builds labels the evaluator derived from valid ones (no validation needed
/// beyond sorting; empty values are dropped as usual).
pub(crate) fn labels_from(v: Vec<strata_engine::Label>) -> Labels {
    let limits = strata_engine::LabelLimits {
        max_labels: usize::MAX,
        max_name_len: usize::MAX,
        max_value_len: usize::MAX,
    };
    Labels::with_limits(v, &limits).unwrap_or_default()
}

/// Two series with the same labels at the same step are an error; the same
/// labels at different steps merge. Order is kept (`sort`, `topk`).
fn dedup_check(series: Vec<StepSeries>) -> Result<Vec<StepSeries>, EvalError> {
    let mut out: Vec<StepSeries> = Vec::with_capacity(series.len());
    let mut index: std::collections::HashMap<Labels, usize> =
        std::collections::HashMap::with_capacity(series.len());
    for s in series {
        if let Some(&i) = index.get(&s.labels)
            && let Some(first) = out.get_mut(i)
        {
            for (a, b) in first.points.iter_mut().zip(&s.points) {
                match (a.is_some(), b) {
                    (true, Some(_)) => {
                        return Err(EvalError::Execution(
                            "vector cannot contain metrics with the same labelset".into(),
                        ));
                    }
                    (false, Some(v)) => *a = Some(*v),
                    _ => {}
                }
            }
            continue;
        }
        index.insert(s.labels.clone(), out.len());
        out.push(s);
    }
    Ok(out)
}

/// What an operation or function does to the metric name of its input series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MetricName {
    /// Left as it is (`first_over_time`, `last_over_time`, set operators,
    /// comparisons without `bool`): the value still is that metric's.
    Keep,
    /// Marked for Prometheus' delayed name removal at the end of evaluation.
    Drop,
}

/// The times a node is evaluated at.
#[derive(Debug, Clone)]
pub(crate) struct Grid {
    pub(crate) times: Vec<i64>,
}

impl Grid {
    /// `start`, `start + step`, ... up to `end`; just `start` for step 0.
    /// Callers bound [`Grid::points`] first: this allocates that many.
    pub(crate) fn new(start: i64, end: i64, step: i64) -> Grid {
        let n = Grid::points(start, end, step).unwrap_or(0);
        // start + i * step <= end for every i < n: no overflow.
        let times = (0..n as i64).map(|i| start + i * step).collect();
        Grid { times }
    }

    /// How many times [`Grid::new`] would hold, computed without overflow;
    /// `None` when more than `usize` can count.
    pub(crate) fn points(start: i64, end: i64, step: i64) -> Option<usize> {
        if step <= 0 {
            return Some(1);
        }
        if end < start {
            return Some(0);
        }
        let span = i128::from(end) - i128::from(start);
        usize::try_from(span / i128::from(step) + 1).ok()
    }

    pub(crate) fn len(&self) -> usize {
        self.times.len()
    }
}

/// State of one query's evaluation.
pub(crate) struct Evaluator<'a> {
    pub(crate) q: &'a dyn Querier,
    pub(crate) opts: &'a EvalOptions,
    /// The outermost query's start, end and step (for `@ start()`, `step()`).
    pub(crate) start: i64,
    pub(crate) end: i64,
    pub(crate) step: i64,
    pub(crate) samples_loaded: usize,
    deadline: Instant,
    /// Warnings and infos, each message once.
    annotations: Vec<Annotation>,
}

impl<'a> Evaluator<'a> {
    fn new(q: &'a dyn Querier, opts: &'a EvalOptions, start: i64, end: i64, step: i64) -> Self {
        Evaluator {
            q,
            opts,
            start,
            end,
            step,
            samples_loaded: 0,
            deadline: Instant::now() + opts.timeout,
            annotations: Vec::new(),
        }
    }

    /// Records a warning about the expression at `at` (once per message).
    pub(crate) fn warn(&mut self, message: String, at: Option<crate::Position>) {
        self.annotate(AnnotationKind::Warning, message, at);
    }

    /// Records an info about the expression at `at` (once per message).
    pub(crate) fn info(&mut self, message: String, at: Option<crate::Position>) {
        self.annotate(AnnotationKind::Info, message, at);
    }

    fn annotate(
        &mut self,
        kind: AnnotationKind,
        message: String,
        position: Option<crate::Position>,
    ) {
        // Prometheus keeps one annotation per text, whatever its position.
        if !self
            .annotations
            .iter()
            .any(|a| a.kind == kind && a.message == message)
        {
            self.annotations.push(Annotation {
                kind,
                message,
                position,
            });
        }
    }

    /// Whether this is a range query (step > 0).
    pub(crate) fn is_range_query(&self) -> bool {
        self.step > 0
    }

    pub(crate) fn check_deadline(&self) -> Result<(), EvalError> {
        if self
            .opts
            .cancel
            .as_ref()
            .is_some_and(|c| c.load(std::sync::atomic::Ordering::Relaxed))
        {
            return Err(EvalError::Canceled);
        }
        if Instant::now() > self.deadline {
            return Err(EvalError::Timeout);
        }
        Ok(())
    }

    /// Counts result points the query now holds.
    pub(crate) fn count_points(&mut self, n: usize) -> Result<(), EvalError> {
        self.samples_loaded += n;
        if self.samples_loaded > self.opts.max_samples {
            return Err(EvalError::TooManySamples);
        }
        Ok(())
    }

    /// Checks that raw samples about to be held, with the points already
    /// held, stay within the limit (Prometheus limits samples held at once,
    /// not samples read in total).
    pub(crate) fn check_held(&self, n: usize) -> Result<(), EvalError> {
        if self.samples_loaded.saturating_add(n) > self.opts.max_samples {
            return Err(EvalError::TooManySamples);
        }
        Ok(())
    }

    /// A duration expression's value in ms.
    pub(crate) fn duration_ms(&self, d: &DurationExpr) -> Result<i64, EvalError> {
        d.eval_ms(self.step, self.end.saturating_sub(self.start))
            .ok_or_else(|| EvalError::Execution(format!("invalid duration expression {d}")))
    }

    /// The time a selector with `at` and `offset` reads at, for grid time `t`.
    pub(crate) fn read_time(&self, t: i64, at: &Option<AtModifier>, offset: i64) -> i64 {
        let base = match at {
            None => t,
            Some(AtModifier::Timestamp(ms)) => *ms,
            Some(AtModifier::Start) => self.start,
            Some(AtModifier::End) => self.end,
        };
        // Saturating: nested subqueries can each shift by an offset.
        base.saturating_sub(offset)
    }

    pub(crate) fn eval(&mut self, expr: &Expr, grid: &Grid) -> Result<Value, EvalError> {
        self.check_deadline()?;
        if grid.len() > 1
            && !matches!(expr, Expr::Number(_) | Expr::String(_))
            && is_step_invariant(expr)
        {
            // Same value at every step (everything under `@`): evaluate once.
            let first = Grid {
                times: grid.times.iter().take(1).copied().collect(),
            };
            return Ok(broadcast(self.eval_node(expr, &first)?, grid.len()));
        }
        self.eval_node(expr, grid)
    }

    fn eval_node(&mut self, expr: &Expr, grid: &Grid) -> Result<Value, EvalError> {
        match expr {
            Expr::Number(n) => Ok(Value::Scalar(vec![n.0; grid.len()])),
            Expr::String(s) => Ok(Value::String(s.clone())),
            Expr::Paren(e) => self.eval(e, grid),
            Expr::Unary(op, e) => {
                let v = self.eval(e, grid)?;
                Ok(match (op, v) {
                    (UnaryOp::Plus, v) => v,
                    (UnaryOp::Neg, Value::Scalar(s)) => {
                        Value::Scalar(s.into_iter().map(|x| -x).collect())
                    }
                    (UnaryOp::Neg, Value::Vector(series)) => Value::Vector(
                        series
                            .into_iter()
                            .map(|mut s| {
                                s.points.iter_mut().for_each(|p| *p = p.map(|x| -x));
                                s.drop_name = true;
                                s
                            })
                            .collect(),
                    ),
                    (_, other) => other,
                })
            }
            Expr::Vector(v) => self.instant_selector(v, grid),
            Expr::Matrix(_) | Expr::Subquery(_) => {
                // Only reachable as an instant query's whole expression.
                let windows = self.range_arg(expr, grid)?;
                let mut out = Vec::with_capacity(windows.len());
                for w in windows {
                    let (lo, hi) = w.windows.first().copied().unwrap_or((0, 0));
                    let samples = w.samples.get(lo..hi).unwrap_or(&[]);
                    if samples.is_empty() {
                        continue;
                    }
                    // The result holds these samples: they count against
                    // the limit like any other points.
                    self.count_points(samples.len())?;
                    out.push(RangeSeries {
                        labels: w.labels,
                        samples: samples.to_vec(),
                    });
                }
                Ok(Value::Matrix(out))
            }
            Expr::Binary(b) => self.binary(b, grid),
            Expr::Aggregate(a) => self.aggregate(a, grid),
            Expr::Call(c) => crate::functions::call(self, c, grid),
        }
    }
}

/// Functions whose value depends on the evaluation time itself, so a call is
/// never step-invariant (Prometheus' "@ modifier unsafe" functions).
pub(crate) const EVAL_TIME_FUNCTIONS: [&str; 11] = [
    "time",
    "timestamp",
    "predict_linear",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "days_in_month",
    "hour",
    "minute",
    "month",
    "year",
];

/// True when `e` has the same value at every step of a range query.
fn is_step_invariant(e: &Expr) -> bool {
    match e {
        Expr::Number(_) | Expr::String(_) => true,
        Expr::Vector(v) => v.at.is_some(),
        Expr::Matrix(m) => m.vector.at.is_some(),
        Expr::Subquery(s) => s.at.is_some(),
        Expr::Paren(x) | Expr::Unary(_, x) => is_step_invariant(x),
        Expr::Binary(b) => is_step_invariant(&b.lhs) && is_step_invariant(&b.rhs),
        Expr::Aggregate(a) => {
            is_step_invariant(&a.expr) && a.param.as_deref().is_none_or(is_step_invariant)
        }
        Expr::Call(c) => {
            !EVAL_TIME_FUNCTIONS.contains(&c.func) && c.args.iter().all(is_step_invariant)
        }
    }
}

/// A one-step value repeated for `n` steps.
fn broadcast(v: Value, n: usize) -> Value {
    match v {
        Value::Scalar(s) => Value::Scalar(vec![s.first().copied().unwrap_or(f64::NAN); n]),
        Value::Vector(series) => Value::Vector(
            series
                .into_iter()
                .map(|mut s| {
                    let p = s.points.first().copied().flatten();
                    s.points = vec![p; n];
                    s
                })
                .collect(),
        ),
        other => other,
    }
}
