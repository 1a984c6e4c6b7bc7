//! Binary operators: scalar/vector arithmetic and comparisons, vector
//! matching (`on`, `ignoring`, `group_left`, `group_right`), set operators.

use std::collections::HashMap;

use strata_engine::{Label, Labels};

use crate::ast::{Binary, BinaryOp, GroupSide, VectorMatching};

use super::{EvalError, Evaluator, Grid, StepSeries, Value, labels_from};

/// `l op r` for floats: the value, and whether a comparison keeps it.
pub(crate) fn apply(op: BinaryOp, l: f64, r: f64) -> (f64, bool) {
    match op {
        BinaryOp::Add => (l + r, true),
        BinaryOp::Sub => (l - r, true),
        BinaryOp::Mul => (l * r, true),
        BinaryOp::Div => (l / r, true),
        BinaryOp::Mod => (l % r, true),
        BinaryOp::Pow => (l.powf(r), true),
        BinaryOp::Atan2 => (l.atan2(r), true),
        BinaryOp::Eql => (l, l == r),
        BinaryOp::Neq => (l, l != r),
        BinaryOp::Gtr => (l, l > r),
        BinaryOp::Lss => (l, l < r),
        BinaryOp::Gte => (l, l >= r),
        BinaryOp::Lte => (l, l <= r),
        // Histogram-only and set operators never reach float arithmetic.
        BinaryOp::TrimUpper
        | BinaryOp::TrimLower
        | BinaryOp::And
        | BinaryOp::Or
        | BinaryOp::Unless => (l, false),
    }
}

/// Whether the result no longer is the metric the name says.
fn changes_schema(op: BinaryOp, return_bool: bool) -> bool {
    !op.is_set() && (!op.is_comparison() || return_bool)
}

/// The matching key of a series.
fn signature(labels: &Labels, m: Option<&VectorMatching>) -> Vec<(String, String)> {
    match m {
        Some(m) if m.on => labels
            .iter()
            .filter(|l| m.labels.contains(&l.name))
            .map(|l| (l.name.clone(), l.value.clone()))
            .collect(),
        Some(m) => labels
            .iter()
            .filter(|l| l.name != "__name__" && !m.labels.contains(&l.name))
            .map(|l| (l.name.clone(), l.value.clone()))
            .collect(),
        None => labels
            .iter()
            .filter(|l| l.name != "__name__")
            .map(|l| (l.name.clone(), l.value.clone()))
            .collect(),
    }
}

fn format_sig(sig: &[(String, String)]) -> String {
    labels_from(
        sig.iter()
            .map(|(n, v)| Label::new(n.clone(), v.clone()))
            .collect(),
    )
    .to_string()
}

/// The output labels of a matched pair.
fn result_labels(many: &Labels, one: &Labels, m: Option<&VectorMatching>) -> Labels {
    let Some(m) = m else { return many.clone() };
    let mut out: Vec<Label> = match &m.group {
        None if m.on => many
            .iter()
            .filter(|l| m.labels.contains(&l.name))
            .cloned()
            .collect(),
        None => many
            .iter()
            .filter(|l| !m.labels.contains(&l.name))
            .cloned()
            .collect(),
        Some(_) => many.iter().cloned().collect(),
    };
    if let Some(g) = &m.group {
        for name in &g.labels {
            out.retain(|l| &l.name != name);
            if let Some(v) = one.get(name) {
                out.push(Label::new(name.clone(), v));
            }
        }
    }
    labels_from(out)
}

impl Evaluator<'_> {
    pub(crate) fn binary(&mut self, b: &Binary, grid: &Grid) -> Result<Value, EvalError> {
        let lhs = self.eval(&b.lhs, grid)?;
        let rhs = self.eval(&b.rhs, grid)?;
        let drop = changes_schema(b.op, b.return_bool);
        match (lhs, rhs) {
            (Value::Scalar(l), Value::Scalar(r)) => Ok(Value::Scalar(
                l.iter()
                    .zip(&r)
                    .map(|(&l, &r)| {
                        let (v, keep) = apply(b.op, l, r);
                        if b.op.is_comparison() {
                            f64::from(u8::from(keep))
                        } else {
                            v
                        }
                    })
                    .collect(),
            )),
            (Value::Vector(v), Value::Scalar(s)) => {
                Ok(Value::Vector(self.vector_scalar(b, v, &s, false, drop)))
            }
            (Value::Scalar(s), Value::Vector(v)) => {
                Ok(Value::Vector(self.vector_scalar(b, v, &s, true, drop)))
            }
            (Value::Vector(l), Value::Vector(r)) => {
                if b.op.is_set() {
                    Ok(Value::Vector(set_op(b, l, r, grid.len())))
                } else {
                    self.vector_vector(b, l, r, grid.len(), drop)
                        .map(Value::Vector)
                }
            }
            _ => Err(EvalError::Execution(
                "binary expression must contain only scalar and instant vector types".into(),
            )),
        }
    }

    fn vector_scalar(
        &self,
        b: &Binary,
        series: Vec<StepSeries>,
        s: &[f64],
        scalar_left: bool,
        drop: bool,
    ) -> Vec<StepSeries> {
        series
            .into_iter()
            .filter_map(|mut ser| {
                for (p, &sv) in ser.points.iter_mut().zip(s) {
                    if let Some(x) = *p {
                        let (l, r) = if scalar_left { (sv, x) } else { (x, sv) };
                        let (mut v, keep) = apply(b.op, l, r);
                        if b.op.is_comparison() && scalar_left {
                            v = x;
                        }
                        *p = if b.return_bool {
                            Some(f64::from(u8::from(keep)))
                        } else if keep {
                            Some(v)
                        } else {
                            None
                        };
                    }
                }
                ser.drop_name |= drop;
                ser.points.iter().any(Option::is_some).then_some(ser)
            })
            .collect()
    }

    fn vector_vector(
        &self,
        b: &Binary,
        lhs: Vec<StepSeries>,
        rhs: Vec<StepSeries>,
        steps: usize,
        drop: bool,
    ) -> Result<Vec<StepSeries>, EvalError> {
        let m = b.matching.as_ref();
        let one_to_many = m
            .and_then(|m| m.group.as_ref())
            .is_some_and(|g| g.side == GroupSide::Right);
        let grouped = m.and_then(|m| m.group.as_ref()).is_some();
        // "many" side first.
        let (many, one) = if one_to_many {
            (&rhs, &lhs)
        } else {
            (&lhs, &rhs)
        };
        let one_side = if one_to_many { "left" } else { "right" };
        let many_sigs: Vec<Vec<(String, String)>> =
            many.iter().map(|s| signature(&s.labels, m)).collect();
        let one_sigs: Vec<Vec<(String, String)>> =
            one.iter().map(|s| signature(&s.labels, m)).collect();
        let mut out: HashMap<Labels, StepSeries> = HashMap::new();
        for step in 0..steps {
            // The "one" side, unique per signature.
            let mut by_sig: HashMap<&[(String, String)], usize> = HashMap::new();
            for (i, s) in one.iter().enumerate() {
                if s.points.get(step).copied().flatten().is_none() {
                    continue;
                }
                if let Some(&prev) = by_sig.get(one_sigs[i].as_slice()) {
                    let (a, c) = (&one[prev].labels, &s.labels);
                    let (a, c) = if a <= c { (a, c) } else { (c, a) };
                    return Err(EvalError::Execution(format!(
                        "found duplicate series for the match group {} on the {one_side} hand-side of the operation: [{a}, {c}];many-to-many matching not allowed: matching labels must be unique on one side",
                        format_sig(&one_sigs[i])
                    )));
                }
                by_sig.insert(one_sigs[i].as_slice(), i);
            }
            let mut matched: HashMap<&[(String, String)], Vec<Labels>> = HashMap::new();
            for (i, s) in many.iter().enumerate() {
                let Some(mv) = s.points.get(step).copied().flatten() else {
                    continue;
                };
                let Some(&j) = by_sig.get(many_sigs[i].as_slice()) else {
                    continue;
                };
                let Some(ov) = one[j].points.get(step).copied().flatten() else {
                    continue;
                };
                let (l, r) = if one_to_many { (ov, mv) } else { (mv, ov) };
                let (v, keep) = apply(b.op, l, r);
                // Cardinality is checked on every match, filtered out or not.
                let labels = result_labels(&s.labels, &one[j].labels, m);
                let seen = matched.entry(many_sigs[i].as_slice()).or_default();
                if !grouped && !seen.is_empty() {
                    return Err(EvalError::Execution("multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)".into()));
                }
                if grouped && seen.contains(&labels) {
                    return Err(EvalError::Execution(
                        "multiple matches for labels: grouping labels must ensure unique matches"
                            .into(),
                    ));
                }
                seen.push(labels.clone());
                let value = if b.return_bool {
                    f64::from(u8::from(keep))
                } else if keep {
                    v
                } else {
                    continue;
                };
                let entry = out.entry(labels.clone()).or_insert_with(|| StepSeries {
                    labels,
                    drop_name: drop || (s.drop_name && !b.op.is_comparison()),
                    points: vec![None; steps],
                });
                if let Some(p) = entry.points.get_mut(step) {
                    *p = Some(value);
                }
            }
        }
        Ok(out.into_values().collect())
    }
}

/// `and`, `or`, `unless`, matched per step.
fn set_op(b: &Binary, lhs: Vec<StepSeries>, rhs: Vec<StepSeries>, steps: usize) -> Vec<StepSeries> {
    let m = b.matching.as_ref();
    let rsigs: Vec<_> = rhs.iter().map(|s| signature(&s.labels, m)).collect();
    let lsigs: Vec<_> = lhs.iter().map(|s| signature(&s.labels, m)).collect();
    let present = |series: &[StepSeries],
                   sigs: &[Vec<(String, String)>],
                   step: usize|
     -> std::collections::HashSet<Vec<(String, String)>> {
        series
            .iter()
            .zip(sigs)
            .filter(|(s, _)| s.points.get(step).copied().flatten().is_some())
            .map(|(_, sig)| sig.clone())
            .collect()
    };
    match b.op {
        BinaryOp::And | BinaryOp::Unless => {
            let keep_if_present = b.op == BinaryOp::And;
            let mut out = lhs;
            for step in 0..steps {
                let r = present(&rhs, &rsigs, step);
                for (s, sig) in out.iter_mut().zip(&lsigs) {
                    if r.contains(sig) != keep_if_present
                        && let Some(p) = s.points.get_mut(step)
                    {
                        *p = None;
                    }
                }
            }
            out.retain(|s| s.points.iter().any(Option::is_some));
            out
        }
        _ => {
            let mut extra: Vec<StepSeries> = rhs.clone();
            for step in 0..steps {
                let l = present(&lhs, &lsigs, step);
                for (s, sig) in extra.iter_mut().zip(&rsigs) {
                    if l.contains(sig)
                        && let Some(p) = s.points.get_mut(step)
                    {
                        *p = None;
                    }
                }
            }
            let mut out = lhs;
            out.extend(
                extra
                    .into_iter()
                    .filter(|s| s.points.iter().any(Option::is_some)),
            );
            out
        }
    }
}
