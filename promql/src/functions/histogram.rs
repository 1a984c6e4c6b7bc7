//! Histogram functions: `histogram_quantile`, `histogram_quantiles` and
//! `histogram_fraction` over classic (`le`-labelled) buckets, and the
//! native-histogram-only `histogram_avg`/`count`/`sum`/`stddev`/`stdvar`,
//! which give nothing here (this engine stores floats only). The bucket
//! math itself is in `buckets.rs`.
//!
//! Pinned by `promql-tests/upstream/histograms.test` (native-histogram
//! cases in `native_histograms.test` are skipped).

use std::collections::HashMap;

use strata_engine::{Label, Labels, validate_name};

use crate::Position;
use crate::ast::Call;
use crate::eval::{EvalError, Evaluator, Grid, StepSeries, Value, labels_from, labels_without};

use super::apply::{R, arg, arg_at};
use super::buckets::{bucket_fraction, bucket_quantile};

/// A histogram's buckets: its `le` bounds and the series holding each count.
type Buckets<'a> = Vec<(f64, &'a StepSeries)>;

/// Classic buckets grouped by series labels without `le`.
type Groups<'a> = HashMap<Labels, Buckets<'a>>;

/// A series whose `le` is missing or not a number: (le value, metric name).
type Malformed = (String, String);

/// `histogram_quantile(φ scalar, b instant-vector)`.
pub(super) fn histogram_quantile(ev: &mut Evaluator<'_>, c: &Call, grid: &Grid) -> R<Value> {
    let q = ev.scalar_arg(arg(c, 0)?, grid)?;
    ev.check_quantiles(&q, arg_at(c, 0));
    let series = ev.vector_arg(arg(c, 1)?, grid)?;
    let (groups, malformed) = classic_groups(&series);
    warn_malformed_le(ev, &malformed, arg_at(c, 1));
    let mut fixed_names: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for (labels, buckets) in groups {
        let points = quantile_points(&buckets, &q, grid.len(), &labels, &mut fixed_names);
        if points.iter().any(Option::is_some) {
            out.push(StepSeries {
                labels,
                drop_name: true,
                points,
            });
        }
    }
    report_monotonicity_fixes(ev, fixed_names, arg_at(c, 1));
    Ok(Value::Vector(out))
}

/// `histogram_quantiles(b instant-vector, label string, φ scalar...)`: one
/// series per φ, told apart by `label="<φ>"`.
pub(super) fn histogram_quantiles(ev: &mut Evaluator<'_>, c: &Call, grid: &Grid) -> R<Value> {
    let series = ev.vector_arg(arg(c, 0)?, grid)?;
    let label = ev.string_arg(arg(c, 1)?, grid)?;
    if validate_name(&label).is_err() {
        return Err(EvalError::Execution(format!(
            "invalid label name {label:?}"
        )));
    }
    let mut qs = Vec::new();
    for e in c.args.iter().skip(2) {
        qs.push(ev.scalar_arg(e, grid)?);
    }
    for q in &qs {
        ev.check_quantiles(q, arg_at(c, 0));
    }
    let mut fixed_names: Vec<String> = Vec::new();
    let mut out = Vec::new();
    let (groups, malformed) = classic_groups(&series);
    warn_malformed_le(ev, &malformed, arg_at(c, 0));
    for (labels, buckets) in groups {
        for q in &qs {
            // The label shows the quantile of the first step (a literal in practice).
            let q0 = q.first().copied().unwrap_or(f64::NAN);
            let mut l: Vec<Label> = labels.iter().filter(|x| x.name != label).cloned().collect();
            l.push(Label::new(label.clone(), format_openmetrics(q0)));
            let points = quantile_points(&buckets, q, grid.len(), &labels, &mut fixed_names);
            if points.iter().any(Option::is_some) {
                out.push(StepSeries {
                    labels: labels_from(l),
                    drop_name: true,
                    points,
                });
            }
        }
    }
    report_monotonicity_fixes(ev, fixed_names, arg_at(c, 0));
    Ok(Value::Vector(out))
}

/// One histogram's quantile `q[i]` at every step; the metric name goes to
/// `fixed_names` for each step whose counts had to be made monotonic.
fn quantile_points(
    buckets: &[(f64, &StepSeries)],
    q: &[f64],
    steps: usize,
    labels: &Labels,
    fixed_names: &mut Vec<String>,
) -> Vec<Option<f64>> {
    (0..steps)
        .map(|i| {
            let mut b = buckets_at(buckets, i);
            if b.is_empty() {
                return None;
            }
            let (v, fixed) = bucket_quantile(q.get(i).copied().unwrap_or(f64::NAN), &mut b);
            if fixed {
                fixed_names.push(labels.metric_name().unwrap_or("").to_owned());
            }
            Some(v)
        })
        .collect()
}

/// `histogram_fraction(lower scalar, upper scalar, b instant-vector)`.
pub(super) fn histogram_fraction(ev: &mut Evaluator<'_>, c: &Call, grid: &Grid) -> R<Value> {
    let lo = ev.scalar_arg(arg(c, 0)?, grid)?;
    let hi = ev.scalar_arg(arg(c, 1)?, grid)?;
    let series = ev.vector_arg(arg(c, 2)?, grid)?;
    let mut out = Vec::new();
    let (groups, malformed) = classic_groups(&series);
    warn_malformed_le(ev, &malformed, arg_at(c, 2));
    for (labels, buckets) in groups {
        let points: Vec<Option<f64>> = (0..grid.len())
            .map(|i| {
                let mut b = buckets_at(&buckets, i);
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

/// The native-histogram-only functions (`histogram_avg`, `histogram_count`,
/// `histogram_sum`, `histogram_stddev`, `histogram_stdvar`): only native
/// histogram samples produce output and this engine stores floats, so the
/// result is empty (the argument is still evaluated, for its errors and limits).
fn native_only(ev: &mut Evaluator<'_>, c: &Call, grid: &Grid) -> R<Value> {
    ev.vector_arg(arg(c, 0)?, grid)?;
    Ok(Value::Vector(Vec::new()))
}

/// `histogram_avg(v)`: empty (native histograms only, see `native_only`).
pub(super) fn histogram_avg(ev: &mut Evaluator<'_>, c: &Call, grid: &Grid) -> R<Value> {
    native_only(ev, c, grid)
}

/// `histogram_count(v)`: empty (native histograms only).
pub(super) fn histogram_count(ev: &mut Evaluator<'_>, c: &Call, grid: &Grid) -> R<Value> {
    native_only(ev, c, grid)
}

/// `histogram_sum(v)`: empty (native histograms only).
pub(super) fn histogram_sum(ev: &mut Evaluator<'_>, c: &Call, grid: &Grid) -> R<Value> {
    native_only(ev, c, grid)
}

/// `histogram_stddev(v)`: empty (native histograms only).
pub(super) fn histogram_stddev(ev: &mut Evaluator<'_>, c: &Call, grid: &Grid) -> R<Value> {
    native_only(ev, c, grid)
}

/// `histogram_stdvar(v)`: empty (native histograms only).
pub(super) fn histogram_stdvar(ev: &mut Evaluator<'_>, c: &Call, grid: &Grid) -> R<Value> {
    native_only(ev, c, grid)
}

/// Classic histogram buckets grouped by series without `le` (the name still
/// on: delayed name removal keeps metrics apart), and the series whose `le`
/// is missing or not a number.
fn classic_groups(series: &[StepSeries]) -> (Groups<'_>, Vec<Malformed>) {
    let mut groups: Groups<'_> = HashMap::new();
    let mut malformed = Vec::new();
    for s in series {
        let raw = s.labels.get("le").unwrap_or("");
        match raw.trim().parse::<f64>() {
            Ok(le) if !le.is_nan() => groups
                .entry(labels_without(&s.labels, &["le"]))
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

fn report_monotonicity_fixes(ev: &mut Evaluator<'_>, mut names: Vec<String>, at: Option<Position>) {
    names.dedup();
    for n in names {
        ev.info(
            format!(
                "input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) for metric name {n:?}"
            ),
            at,
        );
    }
}

fn warn_malformed_le(ev: &mut Evaluator<'_>, malformed: &[Malformed], at: Option<Position>) {
    for (le, name) in malformed {
        ev.warn(format!("bucket label \"le\" is missing or has a malformed value of {le:?} for metric name {name:?}"), at);
    }
}
