//! Selectors: instant vectors with lookback and staleness, and the windows
//! of range vectors (matrix selectors and subqueries) for every step.

use strata_engine::{Labels, Sample, is_stale_nan};

use crate::ast::{Expr, VectorSelector};

use super::{EvalError, Evaluator, Grid, StepSeries, Value};

/// A series and the sample an instant selector picked at each step.
pub(crate) type PickedSeries = (Labels, Vec<Option<Sample>>);

/// A series' samples and, for each step, the index range of its window.
#[derive(Debug, Clone)]
pub(crate) struct Windows {
    pub(crate) labels: Labels,
    pub(crate) samples: Vec<Sample>,
    /// `samples[lo..hi]` is the window of step i.
    pub(crate) windows: Vec<(usize, usize)>,
    /// The time each window ends at (the selector's read time).
    pub(crate) ends: Vec<i64>,
    /// Window length in ms.
    pub(crate) range_ms: i64,
    /// No sample is lower than its predecessor (no counter reset anywhere).
    pub(crate) monotonic: bool,
}

impl Windows {
    /// The windows ending at each of `ends`, `range` ms long, over `samples`.
    pub(crate) fn new(labels: Labels, samples: Vec<Sample>, ends: &[i64], range: i64) -> Windows {
        let windows = if ends.windows(2).all(|w| w[0] <= w[1]) {
            sliding_windows(&samples, ends, range)
        } else {
            ends.iter()
                .map(|&e| window_of(&samples, e, range))
                .collect()
        };
        let monotonic = !samples.windows(2).any(|p| p[1].v < p[0].v);
        Windows {
            labels,
            samples,
            windows,
            ends: ends.to_vec(),
            range_ms: range,
            monotonic,
        }
    }

    pub(crate) fn window(&self, i: usize) -> &[Sample] {
        match self.windows.get(i) {
            Some(&(lo, hi)) => self.samples.get(lo..hi).unwrap_or(&[]),
            None => &[],
        }
    }
}

/// Windows for non-decreasing ends: both bounds only move forward, so the
/// samples are passed over once in all.
fn sliding_windows(samples: &[Sample], ends: &[i64], range: i64) -> Vec<(usize, usize)> {
    let (mut lo, mut hi) = (0usize, 0usize);
    ends.iter()
        .map(|&end| {
            let start = end.saturating_sub(range);
            while samples.get(lo).is_some_and(|s| s.t <= start) {
                lo += 1;
            }
            while samples.get(hi).is_some_and(|s| s.t <= end) {
                hi += 1;
            }
            (lo, hi.max(lo))
        })
        .collect()
}

/// Index range of samples with `end - range < t <= end`.
fn window_of(samples: &[Sample], end: i64, range: i64) -> (usize, usize) {
    let lo = samples.partition_point(|s| s.t <= end.saturating_sub(range));
    let hi = samples.partition_point(|s| s.t <= end);
    (lo, hi.max(lo))
}

/// Most inner steps a subquery may evaluate at (for all outer steps
/// together): 100 times a range query's limit.
const MAX_SUBQUERY_POINTS: usize = 11_000 * 100;

impl Evaluator<'_> {
    /// Calls `f` with each selected series' samples, one series at a time,
    /// so a query holds one series' raw samples (plus its results) at once.
    fn for_each_series(
        &mut self,
        v: &VectorSelector,
        mint: i64,
        maxt: i64,
        mut f: impl FnMut(&mut Self, Labels, Vec<Sample>) -> Result<(), EvalError>,
    ) -> Result<(), EvalError> {
        let series = self.q.select(&v.all_matchers(), mint, maxt)?;
        for s in series {
            self.check_deadline()?;
            let samples = s.samples()?;
            self.check_held(samples.len())?;
            f(self, s.labels().clone(), samples)?;
        }
        Ok(())
    }

    /// An instant selector with the sample (time, value) chosen at each step.
    pub(crate) fn instant_samples(
        &mut self,
        v: &VectorSelector,
        grid: &Grid,
    ) -> Result<Vec<PickedSeries>, EvalError> {
        let offset = match &v.offset {
            Some(d) => self.duration_ms(d)?,
            None => 0,
        };
        let reads: Vec<i64> = grid
            .times
            .iter()
            .map(|&t| self.read_time(t, &v.at, offset))
            .collect();
        let lookback = self.opts.lookback_ms;
        let (Some(&lo), Some(&hi)) = (reads.iter().min(), reads.iter().max()) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        self.for_each_series(
            v,
            lo.saturating_sub(lookback).saturating_add(1),
            hi,
            |ev, labels, samples| {
                let points: Vec<Option<Sample>> = reads
                    .iter()
                    .map(|&rt| {
                        let idx = samples.partition_point(|s| s.t <= rt);
                        let s = *samples.get(idx.checked_sub(1)?)?;
                        (s.t > rt.saturating_sub(lookback) && !is_stale_nan(s.v)).then_some(s)
                    })
                    .collect();
                let n = points.iter().filter(|p| p.is_some()).count();
                if n > 0 {
                    ev.count_points(n)?;
                    out.push((labels, points));
                }
                Ok(())
            },
        )?;
        Ok(out)
    }

    pub(crate) fn instant_selector(
        &mut self,
        v: &VectorSelector,
        grid: &Grid,
    ) -> Result<Value, EvalError> {
        let series = self.instant_samples(v, grid)?;
        Ok(Value::Vector(
            series
                .into_iter()
                .map(|(labels, points)| StepSeries {
                    labels,
                    drop_name: false,
                    points: points.into_iter().map(|p| p.map(|s| s.v)).collect(),
                })
                .collect(),
        ))
    }

    /// Calls `f` with the windows of each series of a range-vector
    /// expression; a matrix selector is streamed one series at a time.
    pub(crate) fn for_each_windows(
        &mut self,
        expr: &Expr,
        grid: &Grid,
        mut f: impl FnMut(&mut Self, &Windows) -> Result<(), EvalError>,
    ) -> Result<(), EvalError> {
        match expr {
            Expr::Paren(e) => self.for_each_windows(e, grid, f),
            Expr::Matrix(m) => {
                let range = self.duration_ms(&m.range)?;
                let offset = match &m.vector.offset {
                    Some(d) => self.duration_ms(d)?,
                    None => 0,
                };
                let ends: Vec<i64> = grid
                    .times
                    .iter()
                    .map(|&t| self.read_time(t, &m.vector.at, offset))
                    .collect();
                let (Some(&lo), Some(&hi)) = (ends.iter().min(), ends.iter().max()) else {
                    return Ok(());
                };
                self.for_each_series(
                    &m.vector,
                    lo.saturating_sub(range).saturating_add(1),
                    hi,
                    |ev, labels, mut samples| {
                        // Range vectors ignore staleness markers.
                        samples.retain(|s| !is_stale_nan(s.v));
                        f(ev, &Windows::new(labels, samples, &ends, range))
                    },
                )
            }
            other => {
                for w in self.range_arg(other, grid)? {
                    f(self, &w)?;
                }
                Ok(())
            }
        }
    }

    /// The windows of a range-vector expression (matrix selector or subquery) at every step.
    pub(crate) fn range_arg(
        &mut self,
        expr: &Expr,
        grid: &Grid,
    ) -> Result<Vec<Windows>, EvalError> {
        match expr {
            Expr::Paren(e) => self.range_arg(e, grid),
            Expr::Matrix(_) => {
                let mut out = Vec::new();
                self.for_each_windows(expr, grid, |_, w| {
                    out.push(w.clone());
                    Ok(())
                })?;
                Ok(out)
            }
            Expr::Subquery(sq) => {
                let range = self.duration_ms(&sq.range)?;
                let step = match &sq.step {
                    Some(d) => self.duration_ms(d)?,
                    None => self.opts.default_subquery_step_ms,
                };
                if step <= 0 {
                    return Err(EvalError::Execution(
                        "subquery step must be positive".into(),
                    ));
                }
                let offset = match &sq.offset {
                    Some(d) => self.duration_ms(d)?,
                    None => 0,
                };
                let ends: Vec<i64> = grid
                    .times
                    .iter()
                    .map(|&t| self.read_time(t, &sq.at, offset))
                    .collect();
                let (Some(&lo), Some(&hi)) = (ends.iter().min(), ends.iter().max()) else {
                    return Ok(Vec::new());
                };
                // Inner steps are multiples of the step, after lo - range.
                let first = lo
                    .saturating_sub(range)
                    .div_euclid(step)
                    .saturating_mul(step)
                    .saturating_add(step);
                let last = hi.max(first);
                // Refuse before allocating: the inner grid's times, and the
                // inner expression's points at them, count against the
                // samples limit (and a fixed cap on any one subquery).
                let points = Grid::points(first, last, step).unwrap_or(usize::MAX);
                if points > MAX_SUBQUERY_POINTS {
                    return Err(EvalError::Execution(format!(
                        "subquery {expr} would be evaluated at more than {MAX_SUBQUERY_POINTS} steps; use a larger step or a shorter range"
                    )));
                }
                self.check_held(points)?;
                let inner_grid = Grid::new(first, last, step);
                let inner = self.eval(&sq.expr, &inner_grid)?;
                let series: Vec<(Labels, Vec<Sample>)> = match inner {
                    Value::Vector(series) => super::drop_names(series)
                        .into_iter()
                        .map(|s| {
                            let samples: Vec<Sample> = inner_grid
                                .times
                                .iter()
                                .zip(&s.points)
                                .filter_map(|(&t, p)| p.map(|v| Sample::new(t, v)))
                                .collect();
                            (s.labels, samples)
                        })
                        .collect(),
                    Value::Scalar(vals) => vec![(
                        Labels::default(),
                        inner_grid
                            .times
                            .iter()
                            .zip(vals)
                            .map(|(&t, v)| Sample::new(t, v))
                            .collect(),
                    )],
                    _ => {
                        return Err(EvalError::Execution(
                            "subquery of a non-vector expression".into(),
                        ));
                    }
                };
                Ok(series
                    .into_iter()
                    .map(|(labels, samples)| Windows::new(labels, samples, &ends, range))
                    .collect())
            }
            other => Err(EvalError::Execution(format!(
                "expected a range vector, got {}",
                other.value_type()
            ))),
        }
    }
}
