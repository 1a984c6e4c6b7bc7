//! Aggregation operators, per step and group.

use std::collections::HashMap;

use strata_engine::{Label, Labels};

use crate::ast::{Aggregate, AggregateOp, Expr};

use super::kahan::kahan_inc;
use super::{EvalError, Evaluator, Grid, StepSeries, Value, labels_from};

/// Running state of one group at one step.
#[derive(Debug, Clone, Copy, Default)]
struct Acc {
    count: f64,
    value: f64,
    c: f64,
    mean: f64,
    incremental: bool,
}

/// The grouping labels of a series.
fn group_labels(labels: &Labels, a: &Aggregate) -> Labels {
    match &a.grouping {
        None => Labels::default(),
        Some(g) if g.without => labels_from(
            labels
                .iter()
                .filter(|l| {
                    l.name != "__name__"
                        && l.name != "__type__"
                        && l.name != "__unit__"
                        && !g.labels.contains(&l.name)
                })
                .cloned()
                .collect(),
        ),
        Some(g) => labels_from(
            labels
                .iter()
                .filter(|l| g.labels.contains(&l.name))
                .cloned()
                .collect(),
        ),
    }
}

/// Prometheus' `quantile`: linear interpolation between closest ranks.
pub(crate) fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        _ => a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal),
    });
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let w = rank - rank.floor();
    values.get(lower as usize).copied().unwrap_or(f64::NAN) * (1.0 - w)
        + values.get(upper as usize).copied().unwrap_or(f64::NAN) * w
}

/// Go's `strconv.FormatFloat(v, 'f', -1, 64)`.
pub(crate) fn format_plain(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{v}")
    }
}

impl Evaluator<'_> {
    fn scalar_param(&mut self, p: &Expr, grid: &Grid) -> Result<Vec<f64>, EvalError> {
        match self.eval(p, grid)? {
            Value::Scalar(v) => Ok(v),
            _ => Err(EvalError::Execution(
                "aggregation parameter must be a scalar".into(),
            )),
        }
    }

    pub(crate) fn aggregate(&mut self, a: &Aggregate, grid: &Grid) -> Result<Value, EvalError> {
        let param = match (&a.param, a.op) {
            (Some(p), AggregateOp::CountValues) => match self.eval(p, grid)? {
                Value::String(s) => Some(Err(s)),
                _ => {
                    return Err(EvalError::Execution(
                        "count_values parameter must be a string".into(),
                    ));
                }
            },
            (Some(p), _) => Some(Ok(self.scalar_param(p, grid)?)),
            (None, _) => None,
        };
        let Value::Vector(input) = self.eval(&a.expr, grid)? else {
            return Err(EvalError::Execution("aggregation over a non-vector".into()));
        };
        let steps = grid.len();
        match a.op {
            AggregateOp::Topk | AggregateOp::Bottomk | AggregateOp::Limitk => {
                let Some(Ok(k)) = param else {
                    return Err(EvalError::Execution("missing k".into()));
                };
                self.select_k(a, input, &k, steps)
            }
            AggregateOp::CountValues => {
                let Some(Err(label)) = param else {
                    return Err(EvalError::Execution("missing label".into()));
                };
                count_values(a, &input, &label, steps)
            }
            AggregateOp::LimitRatio => {
                let Some(Ok(ratios)) = param else {
                    return Err(EvalError::Execution("missing ratio".into()));
                };
                self.limit_ratio(a, input, &ratios)
            }
            _ => {
                let q = match param {
                    Some(Ok(q)) => q,
                    _ => vec![0.0; steps],
                };
                if a.op == AggregateOp::Quantile {
                    self.check_quantiles(&q, a.positions.get(1));
                }
                Ok(fold_groups(a, &input, &q, steps))
            }
        }
    }

    /// `limit_ratio`: keep, at each step, the series whose stable place in
    /// [0, 1) falls within the ratio (from the end for a negative ratio).
    fn limit_ratio(
        &mut self,
        a: &Aggregate,
        input: Vec<StepSeries>,
        ratios: &[f64],
    ) -> Result<Value, EvalError> {
        if ratios.iter().any(|r| r.is_nan()) {
            return Err(EvalError::Execution("Ratio value is NaN".into()));
        }
        if let Some(&r) = ratios.iter().find(|r| r.abs() > 1.0) {
            let cap = r.clamp(-1.0, 1.0);
            self.warn(
                format!(
                    "ratio value should be between -1 and 1, got {}, capping to {}",
                    super::annotation::go_g(r),
                    super::annotation::go_g(cap)
                ),
                a.positions.get(1),
            );
        }
        // A series' place in [0, 1) from its labels: stable across
        // queries, so limit_ratio(r) and limit_ratio(r - 1) are complements.
        Ok(Value::Vector(
            input
                .into_iter()
                .filter_map(|mut s| {
                    let place = s.labels.stable_hash() as f64 / u64::MAX as f64;
                    for (p, r) in s.points.iter_mut().zip(ratios) {
                        let r = r.clamp(-1.0, 1.0);
                        let keep = if r >= 0.0 {
                            place < r
                        } else {
                            place >= 1.0 + r
                        };
                        if !keep {
                            *p = None;
                        }
                    }
                    s.points.iter().any(Option::is_some).then_some(s)
                })
                .collect(),
        ))
    }

    /// `topk`, `bottomk`, `limitk`: keep k series per group and step.
    fn select_k(
        &mut self,
        a: &Aggregate,
        input: Vec<StepSeries>,
        k: &[f64],
        steps: usize,
    ) -> Result<Value, EvalError> {
        let mut groups: HashMap<Labels, Vec<usize>> = HashMap::new();
        for (i, s) in input.iter().enumerate() {
            groups
                .entry(group_labels(&s.labels, a))
                .or_default()
                .push(i);
        }
        let mut keep = vec![vec![false; steps]; input.len()];
        let mut rank = vec![0usize; input.len()];
        for step in 0..steps {
            let kf = k.get(step).copied().unwrap_or(0.0);
            if kf.is_nan() {
                return Err(EvalError::Execution("Parameter value is NaN".into()));
            }
            let kk = if kf >= 1.0 { kf.min(1e9) as usize } else { 0 };
            for members in groups.values() {
                let mut present: Vec<(usize, f64)> = members
                    .iter()
                    .filter_map(|&m| Some((m, input.get(m)?.points.get(step).copied().flatten()?)))
                    .collect();
                match a.op {
                    AggregateOp::Topk => present.sort_by(|x, y| cmp_desc_nan_last(x.1, y.1)),
                    AggregateOp::Bottomk => present.sort_by(|x, y| {
                        cmp_desc_nan_last(y.1, x.1).then(std::cmp::Ordering::Equal)
                    }),
                    _ => {}
                }
                if a.op == AggregateOp::Bottomk {
                    // NaN sorts last for bottomk as well.
                    present.sort_by(|x, y| match (x.1.is_nan(), y.1.is_nan()) {
                        (false, true) => std::cmp::Ordering::Less,
                        (true, false) => std::cmp::Ordering::Greater,
                        _ => x.1.partial_cmp(&y.1).unwrap_or(std::cmp::Ordering::Equal),
                    });
                }
                for (r, (m, _)) in present.into_iter().take(kk).enumerate() {
                    if let Some(row) = keep.get_mut(m)
                        && let Some(slot) = row.get_mut(step)
                    {
                        *slot = true;
                    }
                    if let Some(x) = rank.get_mut(m) {
                        *x = r;
                    }
                }
            }
        }
        let mut out: Vec<(usize, StepSeries)> = input
            .into_iter()
            .zip(keep)
            .zip(rank)
            .filter_map(|((mut s, keep), r)| {
                for (p, k) in s.points.iter_mut().zip(keep) {
                    if !k {
                        *p = None;
                    }
                }
                s.points.iter().any(Option::is_some).then_some((r, s))
            })
            .collect();
        // Instant queries list the kept series best first within each group.
        out.sort_by_key(|(r, _)| *r);
        Ok(Value::Vector(out.into_iter().map(|(_, s)| s).collect()))
    }
}

fn cmp_desc_nan_last(a: f64, b: f64) -> std::cmp::Ordering {
    match (a.is_nan(), b.is_nan()) {
        (false, true) => std::cmp::Ordering::Less,
        (true, false) => std::cmp::Ordering::Greater,
        _ => b.partial_cmp(&a).unwrap_or(std::cmp::Ordering::Equal),
    }
}

/// One group's value at one step.
fn fold(op: AggregateOp, values: &[f64], q: f64) -> f64 {
    match op {
        AggregateOp::Sum => {
            let mut acc = Acc::default();
            for &v in values {
                (acc.value, acc.c) = kahan_inc(v, acc.value, acc.c);
            }
            if acc.value.is_infinite() {
                acc.value
            } else {
                acc.value + acc.c
            }
        }
        AggregateOp::Avg => avg(values),
        AggregateOp::Count => values.len() as f64,
        AggregateOp::Group => 1.0,
        AggregateOp::Min => values
            .iter()
            .copied()
            .fold(f64::NAN, |m, v| if m.is_nan() || v < m { v } else { m }),
        AggregateOp::Max => values
            .iter()
            .copied()
            .fold(f64::NAN, |m, v| if m.is_nan() || v > m { v } else { m }),
        AggregateOp::Stddev | AggregateOp::Stdvar => {
            let (mut n, mut mean, mut m2) = (0.0f64, 0.0f64, 0.0f64);
            for &v in values {
                n += 1.0;
                let delta = v - mean;
                mean += delta / n;
                m2 += delta * (v - mean);
            }
            let var = m2 / n;
            if op == AggregateOp::Stddev {
                var.sqrt()
            } else {
                var
            }
        }
        AggregateOp::Quantile => quantile(q, &mut values.to_vec()),
        _ => f64::NAN,
    }
}

/// Prometheus' `avg`: compensated sum, incremental mean on overflow.
fn avg(values: &[f64]) -> f64 {
    let Some((&first, rest)) = values.split_first() else {
        return f64::NAN;
    };
    let mut acc = Acc {
        count: 1.0,
        value: first,
        mean: first,
        ..Acc::default()
    };
    for &v in rest {
        acc.count += 1.0;
        if !acc.incremental {
            let (s, c) = kahan_inc(v, acc.value, acc.c);
            if !s.is_infinite() {
                (acc.value, acc.c) = (s, c);
                continue;
            }
            acc.incremental = true;
            acc.mean = acc.value / (acc.count - 1.0);
            acc.c /= acc.count - 1.0;
        }
        if acc.mean.is_infinite() {
            if v.is_infinite() && (acc.mean > 0.0) == (v > 0.0) {
                continue;
            }
            if !v.is_infinite() && !v.is_nan() {
                continue;
            }
        }
        let current = acc.mean + acc.c;
        (acc.mean, acc.c) = kahan_inc(v / acc.count - current / acc.count, acc.mean, acc.c);
    }
    if acc.incremental {
        acc.mean + acc.c
    } else {
        acc.value / acc.count + acc.c / acc.count
    }
}

/// `count_values`: one output series per group and distinct value, counting
/// the members with that value at each step.
fn count_values(
    a: &Aggregate,
    input: &[StepSeries],
    label: &str,
    steps: usize,
) -> Result<Value, EvalError> {
    if strata_engine::validate_name(label).is_err() {
        return Err(EvalError::Execution(format!(
            "invalid label name {label:?}"
        )));
    }
    let mut out: HashMap<Labels, StepSeries> = HashMap::new();
    for s in input {
        let base = group_labels(&s.labels, a);
        for (i, p) in s.points.iter().enumerate() {
            let Some(v) = p else { continue };
            let mut l: Vec<Label> = base.iter().filter(|x| x.name != label).cloned().collect();
            l.push(Label::new(label.to_owned(), format_plain(*v)));
            let labels = labels_from(l);
            let e = out.entry(labels.clone()).or_insert_with(|| StepSeries {
                labels,
                drop_name: false,
                points: vec![None; steps],
            });
            if let Some(slot) = e.points.get_mut(i) {
                *slot = Some(slot.unwrap_or(0.0) + 1.0);
            }
        }
    }
    Ok(Value::Vector(out.into_values().collect()))
}

/// The folding aggregations (`sum`, `avg`, `min`, `max`, `count`, `group`,
/// `stddev`, `stdvar`, `quantile`): members grouped by their labels, each
/// group folded at each step; `q` is the per-step parameter.
fn fold_groups(a: &Aggregate, input: &[StepSeries], q: &[f64], steps: usize) -> Value {
    // Grouped with names not yet dropped (delayed name removal);
    // a group drops its name if any member does.
    let mut groups: HashMap<Labels, Vec<usize>> = HashMap::new();
    for (i, s) in input.iter().enumerate() {
        groups
            .entry(group_labels(&s.labels, a))
            .or_default()
            .push(i);
    }
    let mut out = Vec::with_capacity(groups.len());
    // One buffer for every group's values at a step, reused.
    let mut values: Vec<f64> = Vec::new();
    for (labels, members) in groups {
        let mut points = vec![None; steps];
        for (step, point) in points.iter_mut().enumerate() {
            values.clear();
            values.extend(
                members
                    .iter()
                    .filter_map(|&m| input.get(m)?.points.get(step).copied().flatten()),
            );
            if values.is_empty() {
                continue;
            }
            *point = Some(fold(
                a.op,
                &values,
                q.get(step).copied().unwrap_or(f64::NAN),
            ));
        }
        if points.iter().any(Option::is_some) {
            out.push(StepSeries {
                labels,
                drop_name: members
                    .iter()
                    .any(|&m| input.get(m).is_some_and(|s| s.drop_name)),
                points,
            });
        }
    }
    Value::Vector(out)
}
