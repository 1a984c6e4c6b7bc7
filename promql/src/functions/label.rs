//! Label rewriting (`label_replace`, `label_join`) and ordering (`sort`,
//! `sort_desc`, `sort_by_label`, `sort_by_label_desc`).
//!
//! Pinned by `promql-tests/upstream/functions.test` (and
//! `name_label_dropping.test` for `label_join` on `__name__`,
//! `range_queries.test` for sorting in range queries).

use std::cmp::Ordering;

use strata_engine::{Label, validate_name};

use crate::ast::Call;
use crate::eval::{EvalError, Evaluator, Grid, StepSeries, Value, labels_from};

use super::apply::{R, arg};

/// Sets label `dst` of `s` to `value`; a `__name__` set this way stays.
fn set_label(s: &mut StepSeries, dst: &str, value: String) {
    let mut l: Vec<Label> = s.labels.iter().filter(|x| x.name != dst).cloned().collect();
    l.push(Label::new(dst, value));
    s.labels = labels_from(l);
    if dst == "__name__" {
        s.drop_name = false;
    }
}

/// `label_replace(v, dst, replacement, src, regex)`: where the fully
/// anchored `regex` matches label `src`, sets `dst` to the expanded
/// replacement (`$1`, `${1}`, `$name`, as in Go).
pub(super) fn label_replace(ev: &mut Evaluator<'_>, c: &Call, grid: &Grid) -> R<Value> {
    let series = ev.vector_arg(arg(c, 0)?, grid)?;
    let dst = ev.string_arg(arg(c, 1)?, grid)?;
    let repl = ev.string_arg(arg(c, 2)?, grid)?;
    let src = ev.string_arg(arg(c, 3)?, grid)?;
    let re_src = ev.string_arg(arg(c, 4)?, grid)?;
    let re = regex::Regex::new(&format!("^(?s:{re_src})$")).map_err(|e| {
        EvalError::Execution(format!(
            "invalid regular expression in label_replace(): {re_src}: {e}"
        ))
    })?;
    if validate_name(&dst).is_err() {
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
            set_label(&mut s, &dst, res);
        }
        out.push(s);
    }
    Ok(Value::Vector(out))
}

/// `label_join(v, dst, separator, src...)`: sets `dst` to the `src` labels'
/// values joined by `separator`.
pub(super) fn label_join(ev: &mut Evaluator<'_>, c: &Call, grid: &Grid) -> R<Value> {
    let series = ev.vector_arg(arg(c, 0)?, grid)?;
    let dst = ev.string_arg(arg(c, 1)?, grid)?;
    let sep = ev.string_arg(arg(c, 2)?, grid)?;
    let mut srcs = Vec::new();
    for e in c.args.iter().skip(3) {
        srcs.push(ev.string_arg(e, grid)?);
    }
    if validate_name(&dst).is_err() {
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
                set_label(&mut s, &dst, joined);
                s
            })
            .collect(),
    ))
}

/// Which way a sort goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    Ascending,
    Descending,
}

/// `sort(v)`: by value, ascending; NaN last.
pub(super) fn sort(ev: &mut Evaluator<'_>, c: &Call, grid: &Grid) -> R<Value> {
    sort_by_value(ev, c, grid, Order::Ascending)
}

/// `sort_desc(v)`: by value, descending; NaN last.
pub(super) fn sort_desc(ev: &mut Evaluator<'_>, c: &Call, grid: &Grid) -> R<Value> {
    sort_by_value(ev, c, grid, Order::Descending)
}

/// Sorting only orders an instant query's result: say so for a range query.
fn warn_if_range_query(ev: &mut Evaluator<'_>, c: &Call) {
    if ev.is_range_query() {
        ev.warn(
            "sort is ineffective for range queries since results are always ordered by labels"
                .into(),
            c.positions.get(0),
        );
    }
}

fn sort_by_value(ev: &mut Evaluator<'_>, c: &Call, grid: &Grid, order: Order) -> R<Value> {
    warn_if_range_query(ev, c);
    let mut series = ev.vector_arg(arg(c, 0)?, grid)?;
    let key = |s: &StepSeries| s.points.first().copied().flatten().unwrap_or(f64::NAN);
    series.sort_by(|a, b| {
        let (x, y) = (key(a), key(b));
        match (x.is_nan(), y.is_nan()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            _ if order == Order::Ascending => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
            _ => y.partial_cmp(&x).unwrap_or(Ordering::Equal),
        }
    });
    Ok(Value::Vector(series))
}

/// `sort_by_label(v, label...)`: by the labels' values in natural order,
/// then by the whole label set.
pub(super) fn sort_by_label(ev: &mut Evaluator<'_>, c: &Call, grid: &Grid) -> R<Value> {
    sort_by_labels(ev, c, grid, Order::Ascending)
}

/// `sort_by_label_desc(v, label...)`: the reverse of `sort_by_label`.
pub(super) fn sort_by_label_desc(ev: &mut Evaluator<'_>, c: &Call, grid: &Grid) -> R<Value> {
    sort_by_labels(ev, c, grid, Order::Descending)
}

fn sort_by_labels(ev: &mut Evaluator<'_>, c: &Call, grid: &Grid, order: Order) -> R<Value> {
    warn_if_range_query(ev, c);
    let mut series = ev.vector_arg(arg(c, 0)?, grid)?;
    let mut names = Vec::new();
    for e in c.args.iter().skip(1) {
        names.push(ev.string_arg(e, grid)?);
    }
    series.sort_by(|a, b| {
        let mut ord = Ordering::Equal;
        for n in &names {
            ord = natural_cmp(a.labels.get(n).unwrap_or(""), b.labels.get(n).unwrap_or(""));
            if ord != Ordering::Equal {
                break;
            }
        }
        let ord = ord.then_with(|| a.labels.cmp(&b.labels));
        match order {
            Order::Ascending => ord,
            Order::Descending => ord.reverse(),
        }
    });
    Ok(Value::Vector(series))
}

/// Natural order: digit runs compare as numbers.
fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut x, mut y) = (a.as_bytes(), b.as_bytes());
    loop {
        match (x.first(), y.first()) {
            (None, None) => return Ordering::Equal,
            (None, _) => return Ordering::Less,
            (_, None) => return Ordering::Greater,
            (Some(c), Some(d)) if c.is_ascii_digit() && d.is_ascii_digit() => {
                let nx = x.iter().take_while(|c| c.is_ascii_digit()).count();
                let ny = y.iter().take_while(|c| c.is_ascii_digit()).count();
                let (dx, dy) = (&x[..nx], &y[..ny]);
                let (tx, ty) = (without_leading_zeros(dx), without_leading_zeros(dy));
                let ord = tx.len().cmp(&ty.len()).then_with(|| tx.cmp(ty));
                if ord != Ordering::Equal {
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

fn without_leading_zeros(digits: &[u8]) -> &[u8] {
    let zeros = digits.iter().take_while(|c| **c == b'0').count();
    &digits[zeros..]
}

#[cfg(test)]
mod tests {
    use super::natural_cmp;
    use std::cmp::Ordering;

    #[test]
    fn natural_order_compares_digit_runs_as_numbers() {
        assert_eq!(natural_cmp("a9", "a10"), Ordering::Less);
        assert_eq!(natural_cmp("a010", "a9"), Ordering::Greater);
        assert_eq!(natural_cmp("a07", "a7"), Ordering::Equal);
        assert_eq!(natural_cmp("b1", "a2"), Ordering::Greater);
        assert_eq!(natural_cmp("a", "a1"), Ordering::Less);
    }
}
