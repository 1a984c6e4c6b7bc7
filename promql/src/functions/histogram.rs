//! Function calls. Range functions read each series' window at every step
//! from one sorted sample list (window bounds only move forward).

use std::collections::HashMap;

use strata_engine::{Label, Labels, MatchType, Matcher, Sample};

use crate::ast::{Call, Expr};

use super::aggregate::quantile;
use super::kahan::{kahan_mean, kahan_sum};
use super::selector::Windows;
use super::{EvalError, Evaluator, Grid, StepSeries, Value, labels_from};

type R<T> = Result<T, EvalError>;

/// Prometheus' extrapolated rate/increase/delta over one window.
fn extrapolated(
    w: &[Sample],
    monotonic: bool,
    range_start: i64,
    range_end: i64,
    range_ms: i64,
    counter: bool,
    rate: bool,
) -> Option<f64> {
    let (first, last) = (w.first()?, w.last()?);
    if w.len() < 2 {
        return None;
    }
    let mut result = last.v - first.v;
    if counter && !monotonic {
        for pair in w.windows(2) {
            if pair[1].v < pair[0].v {
                result += pair[0].v;
            }
        }
    }
    let mut to_start = (first.t - range_start) as f64 / 1000.0;
    let mut to_end = (range_end - last.t) as f64 / 1000.0;
    let sampled = (last.t - first.t) as f64 / 1000.0;
    let avg_step = sampled / (w.len() - 1) as f64;
    // Extrapolate to a boundary only when a sample is close to it (within
    // 110% of the average spacing), else by half a spacing.
    let threshold = avg_step * 1.1;
    if to_start >= threshold {
        to_start = avg_step / 2.0;
    }
    // A counter cannot go below zero: do not extrapolate past that point.
    if counter && result > 0.0 && first.v >= 0.0 {
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
    if rate {
        factor /= range_ms as f64 / 1000.0;
    }
    Some(result * factor)
}

/// Least-squares slope and intercept at `intercept_t`, with compensated sums.
fn linear_regression(w: &[Sample], intercept_t: i64) -> (f64, f64) {
    use super::kahan::kahan_inc;
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

fn over_time(name: &str, w: &[Sample], q: f64) -> Option<f64> {
    if w.is_empty() {
        return None;
    }
    let vals = || w.iter().map(|s| s.v);
    Some(match name {
        "sum_over_time" => kahan_sum(vals()),
        "avg_over_time" => kahan_mean(vals()),
        "count_over_time" => w.len() as f64,
        "present_over_time" => 1.0,
        "last_over_time" => w.last()?.v,
        "first_over_time" => w.first()?.v,
        "min_over_time" => vals().fold(f64::NAN, |m, v| if m.is_nan() || v < m { v } else { m }),
        "max_over_time" => vals().fold(f64::NAN, |m, v| if m.is_nan() || v > m { v } else { m }),
        "stddev_over_time" | "stdvar_over_time" => {
            let (mut n, mut mean, mut m2) = (0.0f64, 0.0f64, 0.0f64);
            for v in vals() {
                n += 1.0;
                let d = v - mean;
                mean += d / n;
                m2 += d * (v - mean);
            }
            let var = m2 / n;
            if name == "stddev_over_time" {
                var.sqrt()
            } else {
                var
            }
        }
        "quantile_over_time" => quantile(q, &mut vals().collect::<Vec<_>>()),
        "mad_over_time" => {
            if w.iter().any(|s| s.v.is_nan()) {
                return Some(f64::NAN);
            }
            let mut v: Vec<f64> = vals().collect();
            let median = quantile(0.5, &mut v);
            let mut dev: Vec<f64> = v.iter().map(|x| (x - median).abs()).collect();
            quantile(0.5, &mut dev)
        }
        "ts_of_last_over_time" => w.last()?.t as f64 / 1000.0,
        "ts_of_first_over_time" => w.first()?.t as f64 / 1000.0,
        "ts_of_max_over_time" | "ts_of_min_over_time" => {
            let mut best: Option<Sample> = None;
            for s in w {
                let better = match best {
                    None => true,
                    Some(b) if name == "ts_of_max_over_time" => s.v >= b.v || b.v.is_nan(),
                    Some(b) => s.v <= b.v || b.v.is_nan(),
                };
                if better {
                    best = Some(*s);
                }
            }
            best?.t as f64 / 1000.0
        }
        "changes" => w
            .windows(2)
            .filter(|p| p[0].v != p[1].v && !(p[0].v.is_nan() && p[1].v.is_nan()))
            .count() as f64,
        "resets" => w.windows(2).filter(|p| p[1].v < p[0].v).count() as f64,
        _ => return None,
    })
}

/// Go's `math.Max`, which PromQL's `clamp`, `clamp_min` and `max_of` use:
/// `+Inf` if either side is `+Inf`, else NaN if either side is NaN (Rust's
/// `f64::max` ignores a NaN instead), and `+0` over `-0`.
pub(crate) fn go_max(x: f64, y: f64) -> f64 {
    if x == f64::INFINITY || y == f64::INFINITY {
        f64::INFINITY
    } else if x.is_nan() || y.is_nan() {
        f64::NAN
    } else if x == 0.0 && y == 0.0 {
        if x.is_sign_negative() { y } else { x }
    } else if x > y {
        x
    } else {
        y
    }
}

/// Go's `math.Min` (used by `clamp`, `clamp_max` and `min_of`): `-Inf` if
/// either side is `-Inf`, else NaN if either side is NaN, and `-0` over `+0`.
pub(crate) fn go_min(x: f64, y: f64) -> f64 {
    if x == f64::NEG_INFINITY || y == f64::NEG_INFINITY {
        f64::NEG_INFINITY
    } else if x.is_nan() || y.is_nan() {
        f64::NAN
    } else if x == 0.0 && y == 0.0 {
        if x.is_sign_negative() { x } else { y }
    } else if x < y {
        x
    } else {
        y
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn date_part(name: &str, seconds: f64) -> f64 {
    let secs = seconds.floor() as i64;
    let days = secs.div_euclid(86_400);
    let (y, m, d) = strata_engine::civil_from_days(days);
    match name {
        "year" => y as f64,
        "month" => f64::from(m),
        "day_of_month" => f64::from(d),
        "day_of_week" => (days + 4).rem_euclid(7) as f64,
        "day_of_year" => (days - (civil_to_days(y, 1, 1)) + 1) as f64,
        "hour" => secs.rem_euclid(86_400).div_euclid(3600) as f64,
        "minute" => secs.rem_euclid(3600).div_euclid(60) as f64,
        "days_in_month" => f64::from(match m {
            2 if is_leap(y) => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        }),
        _ => f64::NAN,
    }
}

fn civil_to_days(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn math1(name: &str, x: f64) -> Option<f64> {
    Some(match name {
        "abs" => x.abs(),
        "ceil" => x.ceil(),
        "floor" => x.floor(),
        "exp" => x.exp(),
        "sqrt" => x.sqrt(),
        "ln" => x.ln(),
        "log2" => x.log2(),
        "log10" => x.log10(),
        "sgn" => {
            if x.is_nan() {
                x
            } else if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else {
                0.0
            }
        }
        "sin" => x.sin(),
        "cos" => x.cos(),
        "tan" => x.tan(),
        "asin" => x.asin(),
        "acos" => x.acos(),
        "atan" => x.atan(),
        "sinh" => x.sinh(),
        "cosh" => x.cosh(),
        "tanh" => x.tanh(),
        "asinh" => x.asinh(),
        "acosh" => x.acosh(),
        "atanh" => x.atanh(),
        "deg" => x.to_degrees(),
        "rad" => x.to_radians(),
        _ => return None,
    })
}

/// Prometheus' float comparison with a relative tolerance.
fn almost_equal(a: f64, b: f64, eps: f64) -> bool {
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < f64::MIN_POSITIVE {
        return diff < eps * f64::MIN_POSITIVE;
    }
    diff / abs_sum.min(f64::MAX) < eps
}

/// Quantile from classic cumulative buckets `(upper bound, count)`.
/// Also returns whether the counts had to be forced monotonic.
pub(crate) fn bucket_quantile(q: f64, buckets: &mut [(f64, f64)]) -> (f64, bool) {
    let mut forced = false;
    let v = bucket_quantile_inner(q, buckets, &mut forced);
    (v, forced)
}

fn bucket_quantile_inner(q: f64, buckets: &mut [(f64, f64)], forced: &mut bool) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    buckets.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
    if !buckets.last().is_some_and(|b| b.0 == f64::INFINITY) {
        return f64::NAN;
    }
    // Buckets with the same bound add up.
    let mut merged: Vec<(f64, f64)> = Vec::with_capacity(buckets.len());
    for &(le, c) in buckets.iter() {
        match merged.last_mut() {
            Some(last) if last.0 == le => last.1 += c,
            _ => merged.push((le, c)),
        }
    }
    // Monotonicity fix, ignoring tiny floating-point deltas.
    if let Some(&(_, first)) = merged.first() {
        let mut prev = first;
        for b in merged.iter_mut().skip(1) {
            let cur = b.1;
            if cur == prev {
                continue;
            }
            if almost_equal(prev, cur, 1e-12) {
                b.1 = prev;
                continue;
            }
            if cur < prev {
                b.1 = prev;
                *forced = true;
                continue;
            }
            prev = cur;
        }
    }
    if merged.len() < 2 {
        return f64::NAN;
    }
    let observations = merged.last().map_or(0.0, |b| b.1);
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    let n = merged.len();
    let b = merged[..n - 1].partition_point(|x| x.1 < rank);
    if b == n - 1 {
        return merged[n - 2].0;
    }
    if b == 0 && merged[0].0 <= 0.0 {
        return merged[0].0;
    }
    let (mut start, end, mut count) = (0.0, merged[b].0, merged[b].1);
    if b > 0 {
        start = merged[b - 1].0;
        count -= merged[b - 1].1;
        rank -= merged[b - 1].1;
    }
    start + (end - start) * (rank / count)
}

/// Fraction of observations between `lower` and `upper` in classic buckets.
pub(crate) fn bucket_fraction(lower: f64, upper: f64, buckets: &mut [(f64, f64)]) -> f64 {
    buckets.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
    if !buckets.last().is_some_and(|b| b.0 == f64::INFINITY) {
        return f64::NAN;
    }
    let mut merged: Vec<(f64, f64)> = Vec::with_capacity(buckets.len());
    for &(le, c) in buckets.iter() {
        match merged.last_mut() {
            Some(last) if last.0 == le => last.1 += c,
            _ => merged.push((le, c)),
        }
    }
    let count = merged.last().map_or(0.0, |b| b.1);
    if count == 0.0 || lower.is_nan() || upper.is_nan() {
        return f64::NAN;
    }
    if lower >= upper {
        return 0.0;
    }
    let (mut rank, mut lower_rank, mut upper_rank) = (0.0f64, 0.0f64, 0.0f64);
    let (mut lower_set, mut upper_set) = (false, false);
    for (i, &(upper_bound, bucket_count)) in merged.iter().enumerate() {
        let lower_bound = if i == 0 {
            // The first bucket starts at 0 when it only holds positive values.
            if upper_bound > 0.0 {
                0.0
            } else {
                f64::NEG_INFINITY
            }
        } else {
            merged[i - 1].0
        };
        let interpolate =
            |v: f64| rank + (bucket_count - rank) * (v - lower_bound) / (upper_bound - lower_bound);
        if !lower_set && lower_bound >= lower {
            lower_rank = rank;
            lower_set = true;
        }
        if !upper_set && lower_bound >= upper {
            upper_rank = rank;
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        // A bucket of infinite width contributes nothing to the fraction.
        let infinite = lower_bound.is_infinite() || upper_bound.is_infinite();
        if !lower_set && lower_bound < lower && upper_bound > lower {
            lower_rank = if lower_bound.is_infinite() {
                bucket_count
            } else if upper_bound.is_infinite() {
                rank
            } else {
                interpolate(lower)
            };
            lower_set = true;
        }
        if !upper_set && lower_bound < upper && upper_bound > upper {
            upper_rank = if infinite { rank } else { interpolate(upper) };
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        rank = bucket_count;
    }
    if !lower_set || lower_rank > count {
        lower_rank = count;
    }
    if !upper_set || upper_rank > count {
        upper_rank = count;
    }
    (upper_rank - lower_rank) / count
}

/// OpenMetrics-style number for a label value: `0.0`, `0.25`, `1.0`.
fn format_openmetrics(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}

/// Classic histogram buckets grouped by series without `le` (the name still
/// on: delayed name removal keeps metrics apart), and the series whose `le`
/// is missing or not a number, as (le value, metric name).
#[allow(clippy::type_complexity)]
fn classic_groups(
    series: &[StepSeries],
) -> (
    HashMap<Labels, Vec<(f64, &StepSeries)>>,
    Vec<(String, String)>,
) {
    let mut groups: HashMap<Labels, Vec<(f64, &StepSeries)>> = HashMap::new();
    let mut malformed = Vec::new();
    for s in series {
        let raw = s.labels.get("le").unwrap_or("");
        match raw.trim().parse::<f64>() {
            Ok(le) if !le.is_nan() => groups
                .entry(super::labels_without(&s.labels, &["le"]))
                .or_default()
                .push((le, s)),
            _ => malformed.push((
                raw.to_owned(),
                s.labels.metric_name().unwrap_or("").to_owned(),
            )),
        }
    }
    (groups, malformed)
}

/// The buckets of a group at one step.
fn buckets_at(members: &[(f64, &StepSeries)], step: usize) -> Vec<(f64, f64)> {
    members
        .iter()
        .filter_map(|(le, s)| Some((*le, s.points.get(step).copied().flatten()?)))
        .collect()
}

impl Evaluator<'_> {
    fn scalar_arg(&mut self, e: &Expr, grid: &Grid) -> R<Vec<f64>> {
        match self.eval(e, grid)? {
            Value::Scalar(v) => Ok(v),
            _ => Err(EvalError::Execution("expected a scalar argument".into())),
        }
    }

    fn vector_arg(&mut self, e: &Expr, grid: &Grid) -> R<Vec<StepSeries>> {
        match self.eval(e, grid)? {
            Value::Vector(v) => Ok(v),
            _ => Err(EvalError::Execution(
                "expected an instant vector argument".into(),
            )),
        }
    }

    fn string_arg(&mut self, e: &Expr, grid: &Grid) -> R<String> {
        match self.eval(e, grid)? {
            Value::String(s) => Ok(s),
            _ => Err(EvalError::Execution("expected a string argument".into())),
        }
    }

    /// A range function: `f(window, step index, windows)` per series and step.
    fn over_windows(
        &mut self,
        arg: &Expr,
        grid: &Grid,
        keep_name: bool,
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
                    drop_name: !keep_name,
                    points,
                });
            }
            Ok(())
        })?;
        Ok(Value::Vector(out))
    }

    /// A range function computed for all steps of a series at once (one
    /// pass over its samples), dropping the metric name.
    fn over_windows_all(
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

    fn map_vector(
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
    pub(crate) fn check_quantiles(&mut self, q: &[f64], at: Option<crate::Position>) {
        if let Some(bad) = q.iter().find(|v| !(0.0..=1.0).contains(*v)) {
            self.warn(
                format!(
                    "quantile value should be between 0 and 1, got {}",
                    super::annotation::go_g(*bad)
                ),
                at,
            );
        }
    }

    fn report_monotonicity_fixes(&mut self, mut names: Vec<String>, at: Option<crate::Position>) {
        names.dedup();
        for n in names {
            self.info(
                format!(
                    "input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) for metric name {n:?}"
                ),
                at,
            );
        }
    }

    fn warn_malformed_le(&mut self, malformed: &[(String, String)], at: Option<crate::Position>) {
        for (le, name) in malformed {
            self.warn(format!("bucket label \"le\" is missing or has a malformed value of {le:?} for metric name {name:?}"), at);
        }
    }

    pub(crate) fn call(&mut self, c: &Call, grid: &Grid) -> R<Value> {
        let name = c.func;
        let args = &c.args;
        // Position of argument i in the query text.
        let arg_at = |i: usize| c.positions.get(i + 1);
        let arg = |i: usize| {
            args.get(i)
                .ok_or_else(|| EvalError::Execution(format!("missing argument {i} of {name}")))
        };
        match name {
            "rate" | "increase" | "delta" => {
                let (counter, rate) = (name != "delta", name == "rate");
                let v = self.over_windows(arg(0)?, grid, false, |w, i| {
                    let end = *w.ends.get(i)?;
                    // A series without resets anywhere needs no reset scan per window.
                    extrapolated(
                        w.window(i),
                        w.monotonic,
                        end - w.range_ms,
                        end,
                        w.range_ms,
                        counter,
                        rate,
                    )
                })?;
                if counter && let Value::Vector(series) = &v {
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
                        self.info(format!("metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {n:?}"), arg_at(0));
                    }
                }
                Ok(v)
            }
            "irate" | "idelta" => self.over_windows(arg(0)?, grid, false, |w, i| {
                let win = w.window(i);
                let (a, b) = (win.get(win.len().checked_sub(2)?)?, win.last()?);
                let dt = (b.t - a.t) as f64 / 1000.0;
                if name == "idelta" {
                    Some(b.v - a.v)
                } else if dt == 0.0 {
                    None
                } else if b.v < a.v {
                    Some(b.v / dt)
                } else {
                    Some((b.v - a.v) / dt)
                }
            }),
            "deriv" => self.over_windows(arg(0)?, grid, false, |w, i| {
                let win = w.window(i);
                (win.len() >= 2).then(|| linear_regression(win, win[0].t).0)
            }),
            "predict_linear" => {
                let d = self.scalar_arg(arg(1)?, grid)?;
                let times = grid.times.clone();
                self.over_windows(arg(0)?, grid, false, |w, i| {
                    let win = w.window(i);
                    if win.len() < 2 {
                        return None;
                    }
                    // The intercept is at the evaluation time, even under `@`.
                    let (slope, intercept) = linear_regression(win, *times.get(i)?);
                    Some(intercept + slope * d.get(i).copied().unwrap_or(0.0))
                })
            }
            "quantile_over_time" => {
                let q = self.scalar_arg(arg(0)?, grid)?;
                self.check_quantiles(&q, arg_at(0));
                self.over_windows(arg(1)?, grid, false, |w, i| {
                    over_time(name, w.window(i), q.get(i).copied().unwrap_or(f64::NAN))
                })
            }
            "double_exponential_smoothing" | "holt_winters" => {
                let sf = self.scalar_arg(arg(1)?, grid)?;
                let tf = self.scalar_arg(arg(2)?, grid)?;
                if let Some(bad) = sf.iter().find(|x| !(**x > 0.0 && **x < 1.0)) {
                    return Err(EvalError::Execution(format!(
                        "invalid smoothing factor. Expected: 0 < sf < 1, got: {bad}"
                    )));
                }
                if let Some(bad) = tf.iter().find(|x| !(**x > 0.0 && **x < 1.0)) {
                    return Err(EvalError::Execution(format!(
                        "invalid trend factor. Expected: 0 < tf < 1, got: {bad}"
                    )));
                }
                self.over_windows(arg(0)?, grid, false, |w, i| {
                    let win = w.window(i);
                    if win.len() < 2 {
                        return None;
                    }
                    let (sf, tf) = (sf.get(i).copied()?, tf.get(i).copied()?);
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
                })
            }
            "min_over_time" | "max_over_time" => {
                let max = name == "max_over_time";
                self.over_windows_all(arg(0)?, grid, |w| {
                    super::sliding::extreme(&w.samples, &w.windows, max).unwrap_or_else(|| {
                        (0..w.windows.len())
                            .map(|i| over_time(name, w.window(i), f64::NAN))
                            .collect()
                    })
                })
            }
            "changes" => self.over_windows_all(arg(0)?, grid, |w| {
                super::sliding::pair_counts(&w.samples, &w.windows, |a, b| {
                    a != b && !(a.is_nan() && b.is_nan())
                })
            }),
            "resets" => self.over_windows_all(arg(0)?, grid, |w| {
                super::sliding::pair_counts(&w.samples, &w.windows, |a, b| b < a)
            }),
            n if n.ends_with("_over_time") && n != "absent_over_time"
                || n == "changes"
                || n == "resets" =>
            {
                let keep = matches!(n, "last_over_time" | "first_over_time");
                self.over_windows(arg(0)?, grid, keep, |w, i| {
                    over_time(n, w.window(i), f64::NAN)
                })
            }
            "absent_over_time" => {
                let windows = self.range_arg(arg(0)?, grid)?;
                let points: Vec<Option<f64>> = (0..grid.len())
                    .map(|i| {
                        windows
                            .iter()
                            .all(|w| w.window(i).is_empty())
                            .then_some(1.0)
                    })
                    .collect();
                let sel = match arg(0)? {
                    Expr::Matrix(m) => Some(&m.vector),
                    _ => None,
                };
                Ok(absent_result(
                    sel.map(|v| v.all_matchers()).unwrap_or_default(),
                    points,
                ))
            }
            "absent" => {
                let series = self.vector_arg(arg(0)?, grid)?;
                let points: Vec<Option<f64>> = (0..grid.len())
                    .map(|i| {
                        series
                            .iter()
                            .all(|s| s.points.get(i).copied().flatten().is_none())
                            .then_some(1.0)
                    })
                    .collect();
                let matchers = match arg(0)? {
                    Expr::Vector(v) => v.all_matchers(),
                    _ => Vec::new(),
                };
                Ok(absent_result(matchers, points))
            }
            "time" => Ok(Value::Scalar(
                grid.times.iter().map(|&t| t as f64 / 1000.0).collect(),
            )),
            "pi" => Ok(Value::Scalar(vec![std::f64::consts::PI; grid.len()])),
            "start" => Ok(Value::Scalar(vec![self.start as f64 / 1000.0; grid.len()])),
            "end" => Ok(Value::Scalar(vec![self.end as f64 / 1000.0; grid.len()])),
            "range" => Ok(Value::Scalar(vec![
                (self.end - self.start) as f64 / 1000.0;
                grid.len()
            ])),
            "step" => Ok(Value::Scalar(vec![self.step as f64 / 1000.0; grid.len()])),
            "min_of" | "max_of" => {
                let a = self.scalar_arg(arg(0)?, grid)?;
                let b = self.scalar_arg(arg(1)?, grid)?;
                Ok(Value::Scalar(
                    a.iter()
                        .zip(&b)
                        .map(|(&x, &y)| {
                            if name == "min_of" {
                                go_min(x, y)
                            } else {
                                go_max(x, y)
                            }
                        })
                        .collect(),
                ))
            }
            "vector" => {
                let v = self.scalar_arg(arg(0)?, grid)?;
                Ok(Value::Vector(vec![StepSeries {
                    labels: Labels::default(),
                    drop_name: false,
                    points: v.into_iter().map(Some).collect(),
                }]))
            }
            "scalar" => {
                let series = self.vector_arg(arg(0)?, grid)?;
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
            "timestamp" => {
                // Prometheus unwraps parentheses: `timestamp(((m)))` is the
                // timestamp of m's samples, not the evaluation time.
                let mut inner = arg(0)?;
                while let Expr::Paren(x) = inner {
                    inner = x;
                }
                if let Expr::Vector(v) = inner {
                    let series = self.instant_samples(v, grid)?;
                    return Ok(Value::Vector(
                        series
                            .into_iter()
                            .map(|(labels, pts)| StepSeries {
                                labels,
                                drop_name: true,
                                points: pts
                                    .into_iter()
                                    .map(|p| p.map(|s| s.t as f64 / 1000.0))
                                    .collect(),
                            })
                            .collect(),
                    ));
                }
                let times = grid.times.clone();
                self.map_vector(arg(0)?, grid, |_, i| {
                    times.get(i).map(|&t| t as f64 / 1000.0)
                })
            }
            "clamp" | "clamp_min" | "clamp_max" => {
                let (lo, hi) = match name {
                    "clamp" => (
                        self.scalar_arg(arg(1)?, grid)?,
                        self.scalar_arg(arg(2)?, grid)?,
                    ),
                    "clamp_min" => (
                        self.scalar_arg(arg(1)?, grid)?,
                        vec![f64::INFINITY; grid.len()],
                    ),
                    _ => (
                        vec![f64::NEG_INFINITY; grid.len()],
                        self.scalar_arg(arg(1)?, grid)?,
                    ),
                };
                self.map_vector(arg(0)?, grid, |x, i| {
                    let (l, h) = (lo.get(i).copied()?, hi.get(i).copied()?);
                    if l > h {
                        return None;
                    }
                    // Prometheus: math.Max(min, math.Min(max, v)).
                    Some(go_max(l, go_min(h, x)))
                })
            }
            "round" => {
                let to = match args.get(1) {
                    Some(e) => self.scalar_arg(e, grid)?,
                    None => vec![1.0; grid.len()],
                };
                self.map_vector(arg(0)?, grid, |x, i| {
                    let inv = 1.0 / to.get(i).copied().unwrap_or(1.0);
                    Some((x * inv + 0.5).floor() / inv)
                })
            }
            "day_of_month" | "day_of_week" | "day_of_year" | "days_in_month" | "hour"
            | "minute" | "month" | "year" => match args.first() {
                Some(e) => self.map_vector(e, grid, |x, _| Some(date_part(name, x))),
                None => Ok(Value::Vector(vec![StepSeries {
                    labels: Labels::default(),
                    drop_name: false,
                    points: grid
                        .times
                        .iter()
                        .map(|&t| Some(date_part(name, t as f64 / 1000.0)))
                        .collect(),
                }])),
            },
            "label_replace" => {
                let series = self.vector_arg(arg(0)?, grid)?;
                let dst = self.string_arg(arg(1)?, grid)?;
                let repl = self.string_arg(arg(2)?, grid)?;
                let src = self.string_arg(arg(3)?, grid)?;
                let re_src = self.string_arg(arg(4)?, grid)?;
                let re = regex::Regex::new(&format!("^(?s:{re_src})$")).map_err(|e| {
                    EvalError::Execution(format!(
                        "invalid regular expression in label_replace(): {re_src}: {e}"
                    ))
                })?;
                if strata_engine::validate_name(&dst).is_err() {
                    return Err(EvalError::Execution(format!(
                        "invalid destination label name in label_replace(): {dst}"
                    )));
                }
                let mut out = Vec::with_capacity(series.len());
                for mut s in series {
                    let value = s.labels.get(&src).unwrap_or("").to_owned();
                    if let Some(caps) = re.captures(&value) {
                        let mut res = String::new();
                        // The regex crate's `$1`, `${1}`, `$name` expansion matches Go's.
                        caps.expand(&repl, &mut res);
                        let mut l: Vec<Label> =
                            s.labels.iter().filter(|x| x.name != dst).cloned().collect();
                        l.push(Label::new(dst.clone(), res));
                        s.labels = labels_from(l);
                        if dst == "__name__" {
                            s.drop_name = false;
                        }
                    }
                    out.push(s);
                }
                Ok(Value::Vector(out))
            }
            "label_join" => {
                let series = self.vector_arg(arg(0)?, grid)?;
                let dst = self.string_arg(arg(1)?, grid)?;
                let sep = self.string_arg(arg(2)?, grid)?;
                let mut srcs = Vec::new();
                for e in args.iter().skip(3) {
                    srcs.push(self.string_arg(e, grid)?);
                }
                if strata_engine::validate_name(&dst).is_err() {
                    return Err(EvalError::Execution(format!(
                        "invalid destination label name in label_join(): {dst}"
                    )));
                }
                Ok(Value::Vector(
                    series
                        .into_iter()
                        .map(|mut s| {
                            let joined = srcs
                                .iter()
                                .map(|n| s.labels.get(n).unwrap_or(""))
                                .collect::<Vec<_>>()
                                .join(&sep);
                            let mut l: Vec<Label> =
                                s.labels.iter().filter(|x| x.name != dst).cloned().collect();
                            l.push(Label::new(dst.clone(), joined));
                            s.labels = labels_from(l);
                            if dst == "__name__" {
                                s.drop_name = false;
                            }
                            s
                        })
                        .collect(),
                ))
            }
            "sort" | "sort_desc" => {
                if self.is_range_query() {
                    self.warn("sort is ineffective for range queries since results are always ordered by labels".into(), c.positions.get(0));
                }
                let mut series = self.vector_arg(arg(0)?, grid)?;
                let key = |s: &StepSeries| s.points.first().copied().flatten().unwrap_or(f64::NAN);
                series.sort_by(|a, b| {
                    let (x, y) = (key(a), key(b));
                    match (x.is_nan(), y.is_nan()) {
                        (true, true) => std::cmp::Ordering::Equal,
                        (true, false) => std::cmp::Ordering::Greater,
                        (false, true) => std::cmp::Ordering::Less,
                        _ if name == "sort" => {
                            x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal)
                        }
                        _ => y.partial_cmp(&x).unwrap_or(std::cmp::Ordering::Equal),
                    }
                });
                Ok(Value::Vector(series))
            }
            "sort_by_label" | "sort_by_label_desc" => {
                if self.is_range_query() {
                    self.warn("sort is ineffective for range queries since results are always ordered by labels".into(), c.positions.get(0));
                }
                let mut series = self.vector_arg(arg(0)?, grid)?;
                let mut names = Vec::new();
                for e in args.iter().skip(1) {
                    names.push(self.string_arg(e, grid)?);
                }
                series.sort_by(|a, b| {
                    let mut ord = std::cmp::Ordering::Equal;
                    for n in &names {
                        ord = natural_cmp(
                            a.labels.get(n).unwrap_or(""),
                            b.labels.get(n).unwrap_or(""),
                        );
                        if ord != std::cmp::Ordering::Equal {
                            break;
                        }
                    }
                    let ord = ord.then_with(|| a.labels.cmp(&b.labels));
                    if name == "sort_by_label_desc" {
                        ord.reverse()
                    } else {
                        ord
                    }
                });
                Ok(Value::Vector(series))
            }
            "histogram_fraction" => {
                let lo = self.scalar_arg(arg(0)?, grid)?;
                let hi = self.scalar_arg(arg(1)?, grid)?;
                let series = self.vector_arg(arg(2)?, grid)?;
                let mut out = Vec::new();
                let (groups, malformed) = classic_groups(&series);
                self.warn_malformed_le(&malformed, arg_at(2));
                for (labels, members) in groups {
                    let points: Vec<Option<f64>> = (0..grid.len())
                        .map(|i| {
                            let mut b = buckets_at(&members, i);
                            if b.is_empty() {
                                return None;
                            }
                            Some(bucket_fraction(
                                lo.get(i).copied()?,
                                hi.get(i).copied()?,
                                &mut b,
                            ))
                        })
                        .collect();
                    if points.iter().any(Option::is_some) {
                        out.push(StepSeries {
                            labels,
                            drop_name: true,
                            points,
                        });
                    }
                }
                Ok(Value::Vector(out))
            }
            "histogram_quantiles" => {
                let series = self.vector_arg(arg(0)?, grid)?;
                let label = self.string_arg(arg(1)?, grid)?;
                if strata_engine::validate_name(&label).is_err() {
                    return Err(EvalError::Execution(format!(
                        "invalid label name {label:?}"
                    )));
                }
                let mut qs = Vec::new();
                for e in args.iter().skip(2) {
                    qs.push(self.scalar_arg(e, grid)?);
                }
                for q in &qs {
                    self.check_quantiles(q, arg_at(0));
                }
                let mut fixed_names: Vec<String> = Vec::new();
                let mut out = Vec::new();
                let (groups, malformed) = classic_groups(&series);
                self.warn_malformed_le(&malformed, arg_at(0));
                for (labels, members) in groups {
                    for q in &qs {
                        // The label shows the quantile of the first step (a literal in practice).
                        let q0 = q.first().copied().unwrap_or(f64::NAN);
                        let mut l: Vec<Label> =
                            labels.iter().filter(|x| x.name != label).cloned().collect();
                        l.push(Label::new(label.clone(), format_openmetrics(q0)));
                        let points: Vec<Option<f64>> = (0..grid.len())
                            .map(|i| {
                                let mut b = buckets_at(&members, i);
                                if b.is_empty() {
                                    return None;
                                }
                                {
                                    let (v, fixed) = bucket_quantile(
                                        q.get(i).copied().unwrap_or(f64::NAN),
                                        &mut b,
                                    );
                                    if fixed {
                                        fixed_names
                                            .push(labels.metric_name().unwrap_or("").to_owned());
                                    }
                                    Some(v)
                                }
                            })
                            .collect();
                        if points.iter().any(Option::is_some) {
                            out.push(StepSeries {
                                labels: labels_from(l),
                                drop_name: true,
                                points,
                            });
                        }
                    }
                }
                self.report_monotonicity_fixes(fixed_names, arg_at(0));
                Ok(Value::Vector(out))
            }
            // Only native-histogram samples produce output; this engine
            // stores floats, so the result is empty (the argument is still
            // evaluated, for its errors and limits).
            "histogram_avg" | "histogram_count" | "histogram_sum" | "histogram_stddev"
            | "histogram_stdvar" => {
                self.vector_arg(arg(0)?, grid)?;
                Ok(Value::Vector(Vec::new()))
            }
            // Start timestamps are not stored: empty, as Prometheus without them.
            "start_timestamp" => {
                self.vector_arg(arg(0)?, grid)?;
                Ok(Value::Vector(Vec::new()))
            }
            "info" => Err(EvalError::Execution("info() is not supported yet".into())),
            "histogram_quantile" => {
                let q = self.scalar_arg(arg(0)?, grid)?;
                self.check_quantiles(&q, arg_at(0));
                let series = self.vector_arg(arg(1)?, grid)?;
                let (groups, malformed) = classic_groups(&series);
                self.warn_malformed_le(&malformed, arg_at(1));
                let mut fixed_names: Vec<String> = Vec::new();
                let mut out = Vec::new();
                for (labels, buckets) in groups {
                    let points: Vec<Option<f64>> = (0..grid.len())
                        .map(|i| {
                            let mut b: Vec<(f64, f64)> = buckets
                                .iter()
                                .filter_map(|(le, s)| {
                                    Some((*le, s.points.get(i).copied().flatten()?))
                                })
                                .collect();
                            if b.is_empty() {
                                return None;
                            }
                            {
                                let (v, fixed) =
                                    bucket_quantile(q.get(i).copied().unwrap_or(f64::NAN), &mut b);
                                if fixed {
                                    fixed_names.push(labels.metric_name().unwrap_or("").to_owned());
                                }
                                Some(v)
                            }
                        })
                        .collect();
                    if points.iter().any(Option::is_some) {
                        out.push(StepSeries {
                            labels,
                            drop_name: true,
                            points,
                        });
                    }
                }
                self.report_monotonicity_fixes(fixed_names, arg_at(1));
                Ok(Value::Vector(out))
            }
            n => {
                if let Some(first) = args.first()
                    && math1(n, 0.0).is_some()
                {
                    return self.map_vector(first, grid, |x, _| math1(n, x));
                }
                Err(EvalError::Execution(format!(
                    "function {n:?} is not implemented yet"
                )))
            }
        }
    }
}

/// `absent()` output: labels from the equality matchers (except the name).
fn absent_result(matchers: Vec<Matcher>, points: Vec<Option<f64>>) -> Value {
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

/// Natural order: digit runs compare as numbers.
fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let (mut x, mut y) = (a.as_bytes(), b.as_bytes());
    loop {
        match (x.first(), y.first()) {
            (None, None) => return std::cmp::Ordering::Equal,
            (None, _) => return std::cmp::Ordering::Less,
            (_, None) => return std::cmp::Ordering::Greater,
            (Some(c), Some(d)) if c.is_ascii_digit() && d.is_ascii_digit() => {
                let nx = x.iter().take_while(|c| c.is_ascii_digit()).count();
                let ny = y.iter().take_while(|c| c.is_ascii_digit()).count();
                let (dx, dy) = (&x[..nx], &y[..ny]);
                let tx: &[u8] = {
                    let z = dx.iter().take_while(|c| **c == b'0').count();
                    &dx[z..]
                };
                let ty: &[u8] = {
                    let z = dy.iter().take_while(|c| **c == b'0').count();
                    &dy[z..]
                };
                let ord = tx.len().cmp(&ty.len()).then_with(|| tx.cmp(ty));
                if ord != std::cmp::Ordering::Equal {
                    return ord;
                }
                x = &x[nx..];
                y = &y[ny..];
            }
            (Some(c), Some(d)) => {
                if c != d {
                    return c.cmp(d);
                }
                x = &x[1..];
                y = &y[1..];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{go_max, go_min};

    /// Issue 15 B1: NaN propagates (Rust's `f64::max`/`min` would drop it);
    /// an infinity in the direction of the operation wins over NaN, as in Go.
    #[test]
    fn go_min_max_propagate_nan_like_go() {
        assert!(go_max(f64::NAN, 3.0).is_nan());
        assert!(go_max(3.0, f64::NAN).is_nan());
        assert!(go_min(f64::NAN, 3.0).is_nan());
        assert!(go_min(3.0, f64::NAN).is_nan());
        assert_eq!(go_max(f64::NAN, f64::INFINITY), f64::INFINITY);
        assert_eq!(go_min(f64::NEG_INFINITY, f64::NAN), f64::NEG_INFINITY);
        assert!(go_max(f64::NEG_INFINITY, f64::NAN).is_nan());
        assert!(go_min(f64::INFINITY, f64::NAN).is_nan());
        assert_eq!(go_max(-2.0, -5.0), -2.0);
        assert_eq!(go_min(-2.0, -5.0), -5.0);
        assert!(go_max(-0.0, 0.0).is_sign_positive());
        assert!(go_max(0.0, -0.0).is_sign_positive());
        assert!(go_min(0.0, -0.0).is_sign_negative());
        assert!(go_min(-0.0, 0.0).is_sign_negative());
    }
}
