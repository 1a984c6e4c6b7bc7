//! Binary operators: scalar/vector arithmetic and comparisons, vector
//! matching (`on`, `ignoring`, `group_left`, `group_right`), set operators.

use std::collections::HashMap;

use strata_engine::{Label, Labels};

use crate::ast::{Binary, BinaryOp, GroupSide, VectorMatching};

use super::{EvalError, Evaluator, Grid, MetricName, StepSeries, Value, labels_from};

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

/// Whether the result keeps the metric name: not when it no longer is the
/// metric the name says (arithmetic, or a comparison with `bool`).
fn metric_name_after(op: BinaryOp, return_bool: bool) -> MetricName {
    if !op.is_set() && (!op.is_comparison() || return_bool) {
        MetricName::Drop
    } else {
        MetricName::Keep
    }
}

/// Which operand of a vector/scalar operation is the scalar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ScalarSide {
    /// `1 - x`.
    Left,
    /// `x - 1`.
    Right,
}

/// The matching key of a series: its label pairs that take part, borrowed.
type Signature<'a> = Vec<(&'a str, &'a str)>;

/// The matching key of a series.
fn signature<'a>(labels: &'a Labels, m: Option<&VectorMatching>) -> Signature<'a> {
    let pair = |l: &'a Label| (l.name.as_str(), l.value.as_str());
    match m {
        Some(m) if m.on => labels
            .iter()
            .filter(|l| m.labels.contains(&l.name))
            .map(pair)
            .collect(),
        Some(m) => labels
            .iter()
            .filter(|l| l.name != "__name__" && !m.labels.contains(&l.name))
            .map(pair)
            .collect(),
        None => labels
            .iter()
            .filter(|l| l.name != "__name__")
            .map(pair)
            .collect(),
    }
}

fn format_sig(sig: &[(&str, &str)]) -> String {
    labels_from(sig.iter().map(|&(n, v)| Label::new(n, v)).collect()).to_string()
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
        let name = metric_name_after(b.op, b.return_bool);
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
            (Value::Vector(v), Value::Scalar(s)) => Ok(Value::Vector(self.vector_scalar(
                b,
                v,
                &s,
                ScalarSide::Right,
                name,
            ))),
            (Value::Scalar(s), Value::Vector(v)) => Ok(Value::Vector(self.vector_scalar(
                b,
                v,
                &s,
                ScalarSide::Left,
                name,
            ))),
            (Value::Vector(l), Value::Vector(r)) => {
                if b.op.is_set() {
                    Ok(Value::Vector(set_op(b, l, r, grid.len())))
                } else {
                    self.vector_vector(b, l, r, grid.len(), name)
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
        scalar: ScalarSide,
        name: MetricName,
    ) -> Vec<StepSeries> {
        let scalar_left = scalar == ScalarSide::Left;
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
                ser.drop_name |= name == MetricName::Drop;
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
        name: MetricName,
    ) -> Result<Vec<StepSeries>, EvalError> {
        let drop = name == MetricName::Drop;
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
        let many_sigs: Vec<Signature<'_>> = many.iter().map(|s| signature(&s.labels, m)).collect();
        let one_sigs: Vec<Signature<'_>> = one.iter().map(|s| signature(&s.labels, m)).collect();
        // Signatures as small integers, computed once: the steps then work
        // on arrays, and the labels of a matched pair are built once.
        let (many_sid, one_sid, nsig) = sig_ids(&many_sigs, &one_sigs);
        const NONE: usize = usize::MAX;
        let mut one_at = vec![NONE; nsig];
        let mut one_step = vec![NONE; nsig];
        let mut matched_step = vec![NONE; nsig];
        let mut grouped_seen: HashMap<usize, Vec<usize>> = HashMap::new();
        let mut pair_slot: HashMap<(usize, usize), usize> = HashMap::new();
        let mut slot_of: HashMap<Labels, usize> = HashMap::new();
        let mut out: Vec<StepSeries> = Vec::new();
        for step in 0..steps {
            // The "one" side, unique per signature.
            for (j, s) in one.iter().enumerate() {
                if s.points.get(step).copied().flatten().is_none() {
                    continue;
                }
                let sid = one_sid[j];
                if one_step[sid] == step {
                    let (a, c) = (&one[one_at[sid]].labels, &s.labels);
                    let (a, c) = if a <= c { (a, c) } else { (c, a) };
                    return Err(EvalError::Execution(format!(
                        "found duplicate series for the match group {} on the {one_side} hand-side of the operation: [{a}, {c}];many-to-many matching not allowed: matching labels must be unique on one side",
                        format_sig(&one_sigs[j])
                    )));
                }
                one_step[sid] = step;
                one_at[sid] = j;
            }
            if grouped {
                grouped_seen.clear();
            }
            for (i, s) in many.iter().enumerate() {
                let Some(mv) = s.points.get(step).copied().flatten() else {
                    continue;
                };
                let sid = many_sid[i];
                if one_step[sid] != step {
                    continue;
                }
                let j = one_at[sid];
                let Some(ov) = one[j].points.get(step).copied().flatten() else {
                    continue;
                };
                let (l, r) = if one_to_many { (ov, mv) } else { (mv, ov) };
                let (v, keep) = apply(b.op, l, r);
                let slot = match pair_slot.get(&(i, j)) {
                    Some(&k) => k,
                    None => {
                        let labels = result_labels(&s.labels, &one[j].labels, m);
                        let k = *slot_of.entry(labels.clone()).or_insert_with(|| {
                            out.push(StepSeries {
                                labels,
                                drop_name: drop || (s.drop_name && !b.op.is_comparison()),
                                points: vec![None; steps],
                            });
                            out.len() - 1
                        });
                        pair_slot.insert((i, j), k);
                        k
                    }
                };
                // Cardinality is checked on every match, filtered out or not.
                if !grouped {
                    if matched_step[sid] == step {
                        return Err(EvalError::Execution("multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)".into()));
                    }
                    matched_step[sid] = step;
                } else {
                    let seen = grouped_seen.entry(sid).or_default();
                    if seen.contains(&slot) {
                        return Err(EvalError::Execution(
                            "multiple matches for labels: grouping labels must ensure unique matches"
                                .into(),
                        ));
                    }
                    seen.push(slot);
                }
                let value = if b.return_bool {
                    f64::from(u8::from(keep))
                } else if keep {
                    v
                } else {
                    continue;
                };
                if let Some(p) = out.get_mut(slot).and_then(|o| o.points.get_mut(step)) {
                    *p = Some(value);
                }
            }
        }
        out.retain(|s| s.points.iter().any(Option::is_some));
        Ok(out)
    }
}

/// Numbers for the distinct signatures of two sides: (ids of the first
/// side's series, ids of the second's, number of distinct signatures).
fn sig_ids<'a>(a: &'a [Signature<'a>], b: &'a [Signature<'a>]) -> (Vec<usize>, Vec<usize>, usize) {
    let mut ids: HashMap<&'a [(&'a str, &'a str)], usize> = HashMap::new();
    let mut id_of = |sig: &'a Signature<'a>| -> usize {
        let n = ids.len();
        *ids.entry(sig.as_slice()).or_insert(n)
    };
    let a_ids: Vec<usize> = a.iter().map(&mut id_of).collect();
    let b_ids: Vec<usize> = b.iter().map(&mut id_of).collect();
    let n = ids.len();
    (a_ids, b_ids, n)
}

/// `and`, `or`, `unless`, matched per step.
fn set_op(b: &Binary, lhs: Vec<StepSeries>, rhs: Vec<StepSeries>, steps: usize) -> Vec<StepSeries> {
    let m = b.matching.as_ref();
    let rsigs: Vec<_> = rhs.iter().map(|s| signature(&s.labels, m)).collect();
    let lsigs: Vec<_> = lhs.iter().map(|s| signature(&s.labels, m)).collect();
    let (lsid, rsid, nsig) = sig_ids(&lsigs, &rsigs);
    // present[sid] == step when a series of that signature has a point.
    let mut present = vec![usize::MAX; nsig];
    let mark = |present: &mut Vec<usize>, series: &[StepSeries], sids: &[usize], step: usize| {
        for (s, &sid) in series.iter().zip(sids) {
            if s.points.get(step).copied().flatten().is_some() {
                present[sid] = step;
            }
        }
    };
    match b.op {
        BinaryOp::And | BinaryOp::Unless => {
            let keep_if_present = b.op == BinaryOp::And;
            let mut out = lhs;
            for step in 0..steps {
                mark(&mut present, &rhs, &rsid, step);
                for (s, &sid) in out.iter_mut().zip(&lsid) {
                    if (present[sid] == step) != keep_if_present
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
                mark(&mut present, &lhs, &lsid, step);
                for (s, &sid) in extra.iter_mut().zip(&rsid) {
                    if present[sid] == step
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
