//! Rates and slopes of a range: `rate`, `increase` and `delta` (extrapolated
//! to the window's edges), `irate` and `idelta` (last two samples), `deriv`
//! and `predict_linear` (least-squares regression).
//!
//! Pinned by `promql-tests/upstream/functions.test` (and `at_modifier.test`
//! for `predict_linear` under `@`).

use strata_engine::Sample;

use crate::ast::Call;
use crate::eval::kahan::kahan_inc;
use crate::eval::selector::Windows;
use crate::eval::{Evaluator, Grid, Value};

use super::apply::{MetricName, R, arg, arg_at};

/// Which extrapolated function is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Extrapolation {
    /// `delta`: any gauge, no reset handling.
    Delta,
    /// `increase`: a counter, resets compensated.
    Increase,
    /// `rate`: `increase` per second of the range.
    Rate,
}

impl Extrapolation {
    /// Whether the input is a counter (resets add back, no extrapolation below zero).
    fn is_counter(self) -> bool {
        self != Extrapolation::Delta
    }
}

/// `rate(v range-vector)`: per-second average increase, extrapolated.
pub(super) fn rate(ev: &mut Evaluator<'_>, c: &Call, grid: &Grid) -> R<Value> {
    extrapolated_function(ev, c, grid, Extrapolation::Rate)
}

/// `increase(v range-vector)`: the increase over the range, extrapolated.
pub(super) fn increase(ev: &mut Evaluator<'_>, c: &Call, grid: &Grid) -> R<Value> {
    extrapolated_function(ev, c, grid, Extrapolation::Increase)
}

/// `delta(v range-vector)`: last minus first of a gauge, extrapolated.
pub(super) fn delta(ev: &mut Evaluator<'_>, c: &Call, grid: &Grid) -> R<Value> {
    extrapolated_function(ev, c, grid, Extrapolation::Delta)
}

fn extrapolated_function(
    ev: &mut Evaluator<'_>,
    c: &Call,
    grid: &Grid,
    kind: Extrapolation,
) -> R<Value> {
    let v = ev.over_windows(arg(c, 0)?, grid, MetricName::Drop, |w, i| {
        extrapolate(w, i, kind)
    })?;
    if kind.is_counter()
        && let Value::Vector(series) = &v
    {
        let odd: Vec<String> = series
            .iter()
            .filter_map(|s| s.labels.metric_name())
            .filter(|n| {
                !["_total", "_sum", "_count", "_bucket"]
                    .iter()
                    .any(|x| n.ends_with(x))
            })
            .map(str::to_owned)
            .collect();
        for n in odd {
            ev.info(format!("metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {n:?}"), arg_at(c, 0));
        }
    }
    Ok(v)
}

/// Prometheus' extrapolated rate/increase/delta over window `i`.
fn extrapolate(w: &Windows, i: usize, kind: Extrapolation) -> Option<f64> {
    let range_end = *w.ends.get(i)?;
    let range_start = range_end - w.range_ms;
    let window = w.window(i);
    let (first, last) = (window.first()?, window.last()?);
    if window.len() < 2 {
        return None;
    }
    let mut result = last.v - first.v;
    // A series without resets anywhere needs no reset scan per window.
    if kind.is_counter() && !w.monotonic {
        for pair in window.windows(2) {
            if pair[1].v < pair[0].v {
                result += pair[0].v;
            }
        }
    }
    let mut to_start = (first.t - range_start) as f64 / 1000.0;
    let mut to_end = (range_end - last.t) as f64 / 1000.0;
    let sampled = (last.t - first.t) as f64 / 1000.0;
    let avg_step = sampled / (window.len() - 1) as f64;
    // Extrapolate to a boundary only when a sample is close to it (within
    // 110% of the average spacing), else by half a spacing.
    let threshold = avg_step * 1.1;
    if to_start >= threshold {
        to_start = avg_step / 2.0;
    }
    // A counter cannot go below zero: do not extrapolate past that point.
    if kind.is_counter() && result > 0.0 && first.v >= 0.0 {
        let to_zero = sampled * (first.v / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    if to_end >= threshold {
        to_end = avg_step / 2.0;
    }
    let interval = sampled + to_start + to_end;
    let mut factor = interval / sampled;
    if kind == Extrapolation::Rate {
        factor /= w.range_ms as f64 / 1000.0;
    }
    Some(result * factor)
}

/// The last two samples of a window.
fn last_two(window: &[Sample]) -> Option<(&Sample, &Sample)> {
    Some((window.get(window.len().checked_sub(2)?)?, window.last()?))
}

/// `irate(v range-vector)`: per-second rate of the last two samples.
pub(super) fn irate(ev: &mut Evaluator<'_>, c: &Call, grid: &Grid) -> R<Value> {
    ev.over_windows(arg(c, 0)?, grid, MetricName::Drop, |w, i| {
        let (a, b) = last_two(w.window(i))?;
        let dt = (b.t - a.t) as f64 / 1000.0;
        if dt == 0.0 {
            None
        } else if b.v < a.v {
            Some(b.v / dt)
        } else {
            Some((b.v - a.v) / dt)
        }
    })
}

/// `idelta(v range-vector)`: difference of the last two samples.
pub(super) fn idelta(ev: &mut Evaluator<'_>, c: &Call, grid: &Grid) -> R<Value> {
    ev.over_windows(arg(c, 0)?, grid, MetricName::Drop, |w, i| {
        let (a, b) = last_two(w.window(i))?;
        Some(b.v - a.v)
    })
}

/// `deriv(v range-vector)`: per-second slope by least squares.
pub(super) fn deriv(ev: &mut Evaluator<'_>, c: &Call, grid: &Grid) -> R<Value> {
    ev.over_windows(arg(c, 0)?, grid, MetricName::Drop, |w, i| {
        let win = w.window(i);
        (win.len() >= 2).then(|| linear_regression(win, win[0].t).0)
    })
}

/// `predict_linear(v range-vector, t scalar)`: the regression line's value
/// `t` seconds after the evaluation time.
pub(super) fn predict_linear(ev: &mut Evaluator<'_>, c: &Call, grid: &Grid) -> R<Value> {
    let d = ev.scalar_arg(arg(c, 1)?, grid)?;
    let times = &grid.times;
    ev.over_windows(arg(c, 0)?, grid, MetricName::Drop, |w, i| {
        let win = w.window(i);
        if win.len() < 2 {
            return None;
        }
        // The intercept is at the evaluation time, even under `@`.
        let (slope, intercept) = linear_regression(win, *times.get(i)?);
        Some(intercept + slope * d.get(i).copied().unwrap_or(0.0))
    })
}

/// Least-squares slope and intercept at `intercept_t`, with compensated sums.
fn linear_regression(w: &[Sample], intercept_t: i64) -> (f64, f64) {
    let init = w.first().map_or(0.0, |s| s.v);
    let const_y = w.iter().all(|s| s.v == init);
    if const_y {
        return if init.is_infinite() {
            (f64::NAN, f64::NAN)
        } else {
            (0.0, init)
        };
    }
    let (mut n, mut sx, mut cx, mut sy, mut cy, mut sxy, mut cxy, mut sx2, mut cx2) =
        (0.0f64, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for s in w {
        n += 1.0;
        let x = (s.t - intercept_t) as f64 / 1e3;
        (sx, cx) = kahan_inc(x, sx, cx);
        (sy, cy) = kahan_inc(s.v, sy, cy);
        (sxy, cxy) = kahan_inc(x * s.v, sxy, cxy);
        (sx2, cx2) = kahan_inc(x * x, sx2, cx2);
    }
    sx += cx;
    sy += cy;
    sxy += cxy;
    sx2 += cx2;
    let cov = sxy - sx * sy / n;
    let var = sx2 - sx * sx / n;
    let slope = cov / var;
    (slope, sy / n - slope * sx / n)
}
