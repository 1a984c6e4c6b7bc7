//! Aggregations over each window of a range vector: `*_over_time`,
//! `changes`, `resets`, `absent_over_time` and `double_exponential_smoothing`.
//!
//! Pinned by `promql-tests/upstream/functions.test` (and `at_modifier.test`
//! for `quantile_over_time` and `mad_over_time` under `@`).

use strata_engine::Sample;

use crate::ast::{Call, Expr};
use crate::eval::aggregate::quantile;
use crate::eval::kahan::{kahan_mean, kahan_sum};
use crate::eval::{EvalError, Evaluator, Grid, Value};

use super::apply::{MetricName, R, arg, arg_at};
use super::misc::absent_result;
use super::sliding::{self, Extreme};

/// `f(window)` for every non-empty window of the first argument.
fn per_window(
    ev: &mut Evaluator<'_>,
    c: &Call,
    grid: &Grid,
    name: MetricName,
    f: impl Fn(&[Sample]) -> Option<f64>,
) -> R<Value> {
    ev.over_windows(arg(c, 0)?, grid, name, |w, i| {
        let win = w.window(i);
        if win.is_empty() { None } else { f(win) }
    })
}

fn values(w: &[Sample]) -> impl Iterator<Item = f64> + '_ {
    w.iter().map(|s| s.v)
}

/// Seconds since the epoch of a sample.
fn seconds(s: &Sample) -> f64 {
    s.t as f64 / 1000.0
}

/// `sum_over_time`: compensated sum.
pub(super) fn sum_over_time(ev: &mut Evaluator<'_>, c: &Call, grid: &Grid) -> R<Value> {
    per_window(ev, c, grid, MetricName::Drop, |w| {
        Some(kahan_sum(values(w)))
    })
}

/// `avg_over_time`: compensated mean.
pub(super) fn avg_over_time(ev: &mut Evaluator<'_>, c: &Call, grid: &Grid) -> R<Value> {
    per_window(ev, c, grid, MetricName::Drop, |w| {
        Some(kahan_mean(values(w)))
    })
}

/// `count_over_time`: samples in the window.
pub(super) fn count_over_time(ev: &mut Evaluator<'_>, c: &Call, grid: &Grid) -> R<Value> {
    per_window(ev, c, grid, MetricName::Drop, |w| Some(w.len() as f64))
}

/// `present_over_time`: 1 for any sample in the window.
pub(super) fn present_over_time(ev: &mut Evaluator<'_>, c: &Call, grid: &Grid) -> R<Value> {
    per_window(ev, c, grid, MetricName::Drop, |_| Some(1.0))
}

/// `last_over_time`: the newest sample (keeps the metric name).
pub(super) fn last_over_time(ev: &mut Evaluator<'_>, c: &Call, grid: &Grid) -> R<Value> {
    per_window(ev, c, grid, MetricName::Keep, |w| Some(w.last()?.v))
}

/// `first_over_time`: the oldest sample (keeps the metric name).
pub(super) fn first_over_time(ev: &mut Evaluator<'_>, c: &Call, grid: &Grid) -> R<Value> {
    per_window(ev, c, grid, MetricName::Keep, |w| Some(w.first()?.v))
}

/// `ts_of_last_over_time`: time of the newest sample.
pub(super) fn ts_of_last_over_time(ev: &mut Evaluator<'_>, c: &Call, grid: &Grid) -> R<Value> {
    per_window(ev, c, grid, MetricName::Drop, |w| w.last().map(seconds))
}

/// `ts_of_first_over_time`: time of the oldest sample.
pub(super) fn ts_of_first_over_time(ev: &mut Evaluator<'_>, c: &Call, grid: &Grid) -> R<Value> {
    per_window(ev, c, grid, MetricName::Drop, |w| w.first().map(seconds))
}

/// `ts_of_max_over_time`: time of the last maximum.
pub(super) fn ts_of_max_over_time(ev: &mut Evaluator<'_>, c: &Call, grid: &Grid) -> R<Value> {
    per_window(ev, c, grid, MetricName::Drop, |w| {
        extreme_sample(w, Extreme::Max).map(seconds)
    })
}

/// `ts_of_min_over_time`: time of the last minimum.
pub(super) fn ts_of_min_over_time(ev: &mut Evaluator<'_>, c: &Call, grid: &Grid) -> R<Value> {
    per_window(ev, c, grid, MetricName::Drop, |w| {
        extreme_sample(w, Extreme::Min).map(seconds)
    })
}

/// The last sample holding the window's extreme; a NaN is replaced by
/// whatever follows it.
fn extreme_sample(w: &[Sample], which: Extreme) -> Option<&Sample> {
    let mut best: Option<&Sample> = None;
    for s in w {
        let better = match best {
            None => true,
            Some(b) => which.beats_or_ties(s.v, b.v) || b.v.is_nan(),
        };
        if better {
            best = Some(s);
        }
    }
    best
}

/// `min_over_time`: one sliding pass over each series.
pub(super) fn min_over_time(ev: &mut Evaluator<'_>, c: &Call, grid: &Grid) -> R<Value> {
    extreme_over_time(ev, c, grid, Extreme::Min)
}

/// `max_over_time`: one sliding pass over each series.
pub(super) fn max_over_time(ev: &mut Evaluator<'_>, c: &Call, grid: &Grid) -> R<Value> {
    extreme_over_time(ev, c, grid, Extreme::Max)
}

fn extreme_over_time(ev: &mut Evaluator<'_>, c: &Call, grid: &Grid, which: Extreme) -> R<Value> {
    ev.over_windows_all(arg(c, 0)?, grid, |w| {
        sliding::extreme(&w.samples, &w.windows, which).unwrap_or_else(|| {
            // Windows that do not slide forward: fold each one.
            (0..w.windows.len())
                .map(|i| sliding::fold_extreme(w.window(i), which))
                .collect()
        })
    })
}

/// `stddev_over_time`: population standard deviation.
pub(super) fn stddev_over_time(ev: &mut Evaluator<'_>, c: &Call, grid: &Grid) -> R<Value> {
    per_window(ev, c, grid, MetricName::Drop, |w| Some(variance(w).sqrt()))
}

/// `stdvar_over_time`: population variance.
pub(super) fn stdvar_over_time(ev: &mut Evaluator<'_>, c: &Call, grid: &Grid) -> R<Value> {
    per_window(ev, c, grid, MetricName::Drop, |w| Some(variance(w)))
}

/// Population variance by Welford's method.
fn variance(w: &[Sample]) -> f64 {
    let (mut n, mut mean, mut m2) = (0.0f64, 0.0f64, 0.0f64);
    for v in values(w) {
        n += 1.0;
        let d = v - mean;
        mean += d / n;
        m2 += d * (v - mean);
    }
    m2 / n
}

/// `quantile_over_time(φ scalar, v range-vector)`.
pub(super) fn quantile_over_time(ev: &mut Evaluator<'_>, c: &Call, grid: &Grid) -> R<Value> {
    let q = ev.scalar_arg(arg(c, 0)?, grid)?;
    ev.check_quantiles(&q, arg_at(c, 0));
    ev.over_windows(arg(c, 1)?, grid, MetricName::Drop, |w, i| {
        let win = w.window(i);
        if win.is_empty() {
            return None;
        }
        let phi = q.get(i).copied().unwrap_or(f64::NAN);
        Some(quantile(phi, &mut values(win).collect::<Vec<_>>()))
    })
}

/// `mad_over_time`: median absolute deviation from the median.
pub(super) fn mad_over_time(ev: &mut Evaluator<'_>, c: &Call, grid: &Grid) -> R<Value> {
    per_window(ev, c, grid, MetricName::Drop, |w| {
        if w.iter().any(|s| s.v.is_nan()) {
            return Some(f64::NAN);
        }
        let mut v: Vec<f64> = values(w).collect();
        let median = quantile(0.5, &mut v);
        let mut dev: Vec<f64> = v.iter().map(|x| (x - median).abs()).collect();
        Some(quantile(0.5, &mut dev))
    })
}

/// `changes`: adjacent samples that differ (two NaNs do not), in one pass.
pub(super) fn changes(ev: &mut Evaluator<'_>, c: &Call, grid: &Grid) -> R<Value> {
    ev.over_windows_all(arg(c, 0)?, grid, |w| {
        sliding::pair_counts(&w.samples, &w.windows, |a, b| {
            a != b && !(a.is_nan() && b.is_nan())
        })
    })
}

/// `resets`: adjacent samples that go down, in one pass.
pub(super) fn resets(ev: &mut Evaluator<'_>, c: &Call, grid: &Grid) -> R<Value> {
    ev.over_windows_all(arg(c, 0)?, grid, |w| {
        sliding::pair_counts(&w.samples, &w.windows, |a, b| b < a)
    })
}

/// `absent_over_time`: 1 at steps where no series has a sample in its window.
pub(super) fn absent_over_time(ev: &mut Evaluator<'_>, c: &Call, grid: &Grid) -> R<Value> {
    let windows = ev.range_arg(arg(c, 0)?, grid)?;
    let points: Vec<Option<f64>> = (0..grid.len())
        .map(|i| {
            windows
                .iter()
                .all(|w| w.window(i).is_empty())
                .then_some(1.0)
        })
        .collect();
    let matchers = match arg(c, 0)? {
        Expr::Matrix(m) => m.vector.all_matchers(),
        _ => Vec::new(),
    };
    Ok(absent_result(matchers, points))
}

/// `double_exponential_smoothing(v range-vector, sf scalar, tf scalar)`
/// (Prometheus' former `holt_winters`).
pub(super) fn double_exponential_smoothing(
    ev: &mut Evaluator<'_>,
    c: &Call,
    grid: &Grid,
) -> R<Value> {
    let sf = ev.scalar_arg(arg(c, 1)?, grid)?;
    let tf = ev.scalar_arg(arg(c, 2)?, grid)?;
    check_factor("smoothing", "sf", &sf)?;
    check_factor("trend", "tf", &tf)?;
    ev.over_windows(arg(c, 0)?, grid, MetricName::Drop, |w, i| {
        smooth(w.window(i), sf.get(i).copied()?, tf.get(i).copied()?)
    })
}

/// Both factors must lie strictly between 0 and 1 at every step.
fn check_factor(what: &str, short: &str, values: &[f64]) -> Result<(), EvalError> {
    match values.iter().find(|x| !(**x > 0.0 && **x < 1.0)) {
        Some(bad) => Err(EvalError::Execution(format!(
            "invalid {what} factor. Expected: 0 < {short} < 1, got: {bad}"
        ))),
        None => Ok(()),
    }
}

/// The smoothed value at the window's last sample; `None` under two samples.
fn smooth(win: &[Sample], sf: f64, tf: f64) -> Option<f64> {
    if win.len() < 2 {
        return None;
    }
    let (mut s0, mut s1, mut b) = (0.0, win[0].v, win[1].v - win[0].v);
    for (k, x) in win.iter().enumerate().skip(1) {
        if k > 1 {
            b = tf * (s1 - s0) + (1.0 - tf) * b;
        }
        let next = sf * x.v + (1.0 - sf) * (s1 + b);
        s0 = s1;
        s1 = next;
    }
    Some(s1)
}
