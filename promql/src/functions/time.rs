//! Time and date: `time`, `timestamp`, the query's `start`, `end`, `range`
//! and `step`, and the UTC date functions (`year`, `month`,
//! `day_of_month`, `day_of_week`, `day_of_year`, `days_in_month`, `hour`,
//! `minute`). Dates come from the engine's `civil_from_days`.
//!
//! Pinned by `promql-tests/upstream/functions.test` (and `at_modifier.test`
//! for `time`/`timestamp` under `@`, `duration_expression.test` for
//! `range`/`step`).

use strata_engine::{Labels, civil_from_days};

use crate::ast::{Call, Expr};
use crate::eval::{Evaluator, Grid, StepSeries, Value};

use super::apply::{R, arg};

/// `time()`: the evaluation time in seconds.
pub(super) fn time(_: &mut Evaluator<'_>, _: &Call, grid: &Grid) -> R<Value> {
    Ok(Value::Scalar(
        grid.times.iter().map(|&t| t as f64 / 1000.0).collect(),
    ))
}

/// `start()`: the query's start in seconds.
pub(super) fn start(ev: &mut Evaluator<'_>, _: &Call, grid: &Grid) -> R<Value> {
    Ok(Value::Scalar(vec![ev.start as f64 / 1000.0; grid.len()]))
}

/// `end()`: the query's end in seconds.
pub(super) fn end(ev: &mut Evaluator<'_>, _: &Call, grid: &Grid) -> R<Value> {
    Ok(Value::Scalar(vec![ev.end as f64 / 1000.0; grid.len()]))
}

/// `range()`: end minus start in seconds.
pub(super) fn range(ev: &mut Evaluator<'_>, _: &Call, grid: &Grid) -> R<Value> {
    Ok(Value::Scalar(vec![
        (ev.end - ev.start) as f64 / 1000.0;
        grid.len()
    ]))
}

/// `step()`: the query's step in seconds.
pub(super) fn step(ev: &mut Evaluator<'_>, _: &Call, grid: &Grid) -> R<Value> {
    Ok(Value::Scalar(vec![ev.step as f64 / 1000.0; grid.len()]))
}

/// `timestamp(v)`: the time of each sample, or of each step for a computed
/// vector. Prometheus unwraps parentheses: `timestamp(((m)))` is the
/// timestamp of m's samples, not the evaluation time.
pub(super) fn timestamp(ev: &mut Evaluator<'_>, c: &Call, grid: &Grid) -> R<Value> {
    let mut inner = arg(c, 0)?;
    while let Expr::Paren(x) = inner {
        inner = x;
    }
    if let Expr::Vector(v) = inner {
        let series = ev.instant_samples(v, grid)?;
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
    let times = &grid.times;
    ev.map_vector(arg(c, 0)?, grid, |_, i| {
        times.get(i).map(|&t| t as f64 / 1000.0)
    })
}

/// A UTC instant broken down for the date functions.
struct Date {
    /// Days since 1970-01-01.
    days: i64,
    /// Whole seconds since the epoch.
    secs: i64,
    year: i64,
    /// 1–12.
    month: u32,
    /// 1–31.
    day: u32,
}

impl Date {
    fn at(seconds: f64) -> Date {
        let secs = seconds.floor() as i64;
        let days = secs.div_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        Date {
            days,
            secs,
            year,
            month,
            day,
        }
    }

    fn is_leap_year(&self) -> bool {
        (self.year % 4 == 0 && self.year % 100 != 0) || self.year % 400 == 0
    }

    /// 1–366.
    fn day_of_year(&self) -> u32 {
        const BEFORE_MONTH: [u32; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
        let before = BEFORE_MONTH
            .get(self.month as usize - 1)
            .copied()
            .unwrap_or(0);
        before + self.day + u32::from(self.month > 2 && self.is_leap_year())
    }

    fn days_in_month(&self) -> u32 {
        match self.month {
            2 if self.is_leap_year() => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        }
    }
}

/// `part` of the date of every value of the argument (seconds since the
/// epoch), or of the evaluation time without an argument.
fn date_function(
    ev: &mut Evaluator<'_>,
    c: &Call,
    grid: &Grid,
    part: impl Fn(&Date) -> f64,
) -> R<Value> {
    match c.args.first() {
        Some(e) => ev.map_vector(e, grid, |x, _| Some(part(&Date::at(x)))),
        None => Ok(Value::Vector(vec![StepSeries {
            labels: Labels::default(),
            drop_name: false,
            points: grid
                .times
                .iter()
                .map(|&t| Some(part(&Date::at(t as f64 / 1000.0))))
                .collect(),
        }])),
    }
}

/// `year(v=vector(time()))`.
pub(super) fn year(ev: &mut Evaluator<'_>, c: &Call, grid: &Grid) -> R<Value> {
    date_function(ev, c, grid, |d| d.year as f64)
}

/// `month(v=vector(time()))`: 1–12.
pub(super) fn month(ev: &mut Evaluator<'_>, c: &Call, grid: &Grid) -> R<Value> {
    date_function(ev, c, grid, |d| f64::from(d.month))
}

/// `day_of_month(v=vector(time()))`: 1–31.
pub(super) fn day_of_month(ev: &mut Evaluator<'_>, c: &Call, grid: &Grid) -> R<Value> {
    date_function(ev, c, grid, |d| f64::from(d.day))
}

/// `day_of_week(v=vector(time()))`: 0 (Sunday) – 6.
pub(super) fn day_of_week(ev: &mut Evaluator<'_>, c: &Call, grid: &Grid) -> R<Value> {
    // 1970-01-01 was a Thursday.
    date_function(ev, c, grid, |d| (d.days + 4).rem_euclid(7) as f64)
}

/// `day_of_year(v=vector(time()))`: 1–366.
pub(super) fn day_of_year(ev: &mut Evaluator<'_>, c: &Call, grid: &Grid) -> R<Value> {
    date_function(ev, c, grid, |d| f64::from(d.day_of_year()))
}

/// `days_in_month(v=vector(time()))`: 28–31.
pub(super) fn days_in_month(ev: &mut Evaluator<'_>, c: &Call, grid: &Grid) -> R<Value> {
    date_function(ev, c, grid, |d| f64::from(d.days_in_month()))
}

/// `hour(v=vector(time()))`: 0–23.
pub(super) fn hour(ev: &mut Evaluator<'_>, c: &Call, grid: &Grid) -> R<Value> {
    date_function(ev, c, grid, |d| {
        d.secs.rem_euclid(86_400).div_euclid(3600) as f64
    })
}

/// `minute(v=vector(time()))`: 0–59.
pub(super) fn minute(ev: &mut Evaluator<'_>, c: &Call, grid: &Grid) -> R<Value> {
    date_function(ev, c, grid, |d| {
        d.secs.rem_euclid(3600).div_euclid(60) as f64
    })
}

#[cfg(test)]
mod tests {
    use super::Date;

    /// Day of year counts up by one each day and restarts at 1 on January
    /// 1st, across leap and century years on both sides of the epoch.
    #[test]
    fn day_of_year_counts_days_since_new_year() {
        let mut prev = Date::at(-400_000.0 * 86_400.0).day_of_year();
        for days in -399_999i64..400_000 {
            let d = Date::at(days as f64 * 86_400.0);
            let want = if (d.month, d.day) == (1, 1) {
                1
            } else {
                prev + 1
            };
            assert_eq!(d.day_of_year(), want, "{:?}", (d.year, d.month, d.day));
            if (d.month, d.day) == (12, 31) {
                assert_eq!(d.day_of_year(), if d.is_leap_year() { 366 } else { 365 });
            }
            prev = want;
        }
    }
}
