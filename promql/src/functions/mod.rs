//! The one registry of PromQL functions: each function's name, signature
//! (argument types, arity, result type, whether it is experimental) and
//! implementation sit in one row of [`FUNCTIONS`]. The type checker
//! ([`lookup`]) and the evaluator read the same row, and a row cannot be
//! written without an implementation, so every function the parser accepts
//! can be evaluated.
//!
//! Implementations live by family, one file each:
//!
//! | file | functions |
//! | --- | --- |
//! | `rate.rs` | `rate`, `increase`, `delta`, `irate`, `idelta`, `deriv`, `predict_linear` |
//! | `over_time.rs` | `*_over_time`, `changes`, `resets`, `double_exponential_smoothing` |
//! | `math.rs` | `abs`, `ceil`, `exp`, `ln`, trigonometry, `clamp*`, `round`, `sgn`, `pi`, `min_of`, `max_of` |
//! | `time.rs` | `time`, `timestamp`, the date functions, `start`, `end`, `range`, `step` |
//! | `label.rs` | `label_replace`, `label_join`, `sort*`, `sort_by_label*` |
//! | `histogram.rs` | `histogram_quantile(s)`, `histogram_fraction`, the native-only `histogram_*` |
//! | `misc.rs` | `vector`, `scalar`, `absent`, `info`, `start_timestamp` |
//!
//! Shared machinery: `apply.rs` (argument evaluation, per-window and
//! per-value application), `sliding.rs` (one-pass windows for
//! `min`/`max_over_time`, `changes`, `resets`), `buckets.rs` (classic
//! histogram bucket math).

mod apply;
mod buckets;
mod histogram;
mod label;
mod math;
mod misc;
mod over_time;
mod rate;
mod sliding;
mod time;

use std::fmt;

use crate::ast::{Call, ValueType};
use crate::eval::{EvalError, Evaluator, Grid, Value};

/// How a function is evaluated: its call (arguments unevaluated) at every
/// step of `Grid`. One pointer call per evaluated call node, never per sample.
pub(crate) type Eval = fn(&mut Evaluator<'_>, &Call, &Grid) -> Result<Value, EvalError>;

/// A function: its signature and its implementation.
#[derive(Clone, Copy)]
pub struct Function {
    /// The name, as written (function names are case-sensitive).
    pub name: &'static str,
    /// Argument types; arguments past the end take the last type.
    pub args: &'static [ValueType],
    /// Fewest arguments accepted.
    pub min_args: usize,
    /// Most arguments accepted; `None` for no limit.
    pub max_args: Option<usize>,
    /// Result type.
    pub returns: ValueType,
    /// Behind Prometheus' experimental-functions flag (always on here).
    pub experimental: bool,
    /// The implementation (not optional: a row without one does not compile).
    pub(crate) eval: Eval,
}

impl Function {
    /// The type expected for argument `i`.
    pub fn arg_type(&self, i: usize) -> ValueType {
        self.args
            .get(i)
            .or(self.args.last())
            .copied()
            .unwrap_or(ValueType::Vector)
    }
}

impl fmt::Debug for Function {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Function")
            .field("name", &self.name)
            .field("args", &self.args)
            .field("min_args", &self.min_args)
            .field("max_args", &self.max_args)
            .field("returns", &self.returns)
            .field("experimental", &self.experimental)
            .finish_non_exhaustive()
    }
}

/// Equal signatures (names are unique in [`FUNCTIONS`], so this is equality
/// of rows; the implementation pointer is not compared).
impl PartialEq for Function {
    fn eq(&self, other: &Self) -> bool {
        (
            self.name,
            self.args,
            self.min_args,
            self.max_args,
            self.returns,
            self.experimental,
        ) == (
            other.name,
            other.args,
            other.min_args,
            other.max_args,
            other.returns,
            other.experimental,
        )
    }
}

impl Eq for Function {}

/// A row of [`FUNCTIONS`] for a stable function.
const fn stable(
    name: &'static str,
    args: &'static [ValueType],
    min_args: usize,
    max_args: Option<usize>,
    returns: ValueType,
    eval: Eval,
) -> Function {
    Function {
        name,
        args,
        min_args,
        max_args,
        returns,
        experimental: false,
        eval,
    }
}

/// A row of [`FUNCTIONS`] for a function behind Prometheus' experimental flag.
const fn experimental(
    name: &'static str,
    args: &'static [ValueType],
    min_args: usize,
    max_args: Option<usize>,
    returns: ValueType,
    eval: Eval,
) -> Function {
    Function {
        experimental: true,
        ..stable(name, args, min_args, max_args, returns, eval)
    }
}

use ValueType::{Matrix as M, Scalar as S, String as Str, Vector as V};

/// All functions, sorted by name:
/// `(name, argument types, fewest args, most args, result, implementation)`.
#[rustfmt::skip]
pub static FUNCTIONS: &[Function] = &[
    stable(      "abs",                          &[V],                    1, Some(1), V,   math::abs),
    stable(      "absent",                       &[V],                    1, Some(1), V,   misc::absent),
    stable(      "absent_over_time",             &[M],                    1, Some(1), V,   over_time::absent_over_time),
    stable(      "acos",                         &[V],                    1, Some(1), V,   math::acos),
    stable(      "acosh",                        &[V],                    1, Some(1), V,   math::acosh),
    stable(      "asin",                         &[V],                    1, Some(1), V,   math::asin),
    stable(      "asinh",                        &[V],                    1, Some(1), V,   math::asinh),
    stable(      "atan",                         &[V],                    1, Some(1), V,   math::atan),
    stable(      "atanh",                        &[V],                    1, Some(1), V,   math::atanh),
    stable(      "avg_over_time",                &[M],                    1, Some(1), V,   over_time::avg_over_time),
    stable(      "ceil",                         &[V],                    1, Some(1), V,   math::ceil),
    stable(      "changes",                      &[M],                    1, Some(1), V,   over_time::changes),
    stable(      "clamp",                        &[V, S, S],              3, Some(3), V,   math::clamp),
    stable(      "clamp_max",                    &[V, S],                 2, Some(2), V,   math::clamp_max),
    stable(      "clamp_min",                    &[V, S],                 2, Some(2), V,   math::clamp_min),
    stable(      "cos",                          &[V],                    1, Some(1), V,   math::cos),
    stable(      "cosh",                         &[V],                    1, Some(1), V,   math::cosh),
    stable(      "count_over_time",              &[M],                    1, Some(1), V,   over_time::count_over_time),
    stable(      "day_of_month",                 &[V],                    0, Some(1), V,   time::day_of_month),
    stable(      "day_of_week",                  &[V],                    0, Some(1), V,   time::day_of_week),
    stable(      "day_of_year",                  &[V],                    0, Some(1), V,   time::day_of_year),
    stable(      "days_in_month",                &[V],                    0, Some(1), V,   time::days_in_month),
    stable(      "deg",                          &[V],                    1, Some(1), V,   math::deg),
    stable(      "delta",                        &[M],                    1, Some(1), V,   rate::delta),
    stable(      "deriv",                        &[M],                    1, Some(1), V,   rate::deriv),
    experimental("double_exponential_smoothing", &[M, S, S],              3, Some(3), V,   over_time::double_exponential_smoothing),
    experimental("end",                          &[],                     0, Some(0), S,   time::end),
    stable(      "exp",                          &[V],                    1, Some(1), V,   math::exp),
    stable(      "first_over_time",              &[M],                    1, Some(1), V,   over_time::first_over_time),
    stable(      "floor",                        &[V],                    1, Some(1), V,   math::floor),
    stable(      "histogram_avg",                &[V],                    1, Some(1), V,   histogram::histogram_avg),
    stable(      "histogram_count",              &[V],                    1, Some(1), V,   histogram::histogram_count),
    stable(      "histogram_fraction",           &[S, S, V],              3, Some(3), V,   histogram::histogram_fraction),
    stable(      "histogram_quantile",           &[S, V],                 2, Some(2), V,   histogram::histogram_quantile),
    experimental("histogram_quantiles",          &[V, Str, S],            3, Some(12),V,   histogram::histogram_quantiles),
    stable(      "histogram_stddev",             &[V],                    1, Some(1), V,   histogram::histogram_stddev),
    stable(      "histogram_stdvar",             &[V],                    1, Some(1), V,   histogram::histogram_stdvar),
    stable(      "histogram_sum",                &[V],                    1, Some(1), V,   histogram::histogram_sum),
    stable(      "hour",                         &[V],                    0, Some(1), V,   time::hour),
    stable(      "idelta",                       &[M],                    1, Some(1), V,   rate::idelta),
    stable(      "increase",                     &[M],                    1, Some(1), V,   rate::increase),
    experimental("info",                         &[V, V],                 1, Some(2), V,   misc::info),
    stable(      "irate",                        &[M],                    1, Some(1), V,   rate::irate),
    stable(      "label_join",                   &[V, Str, Str, Str],     3, None,    V,   label::label_join),
    stable(      "label_replace",                &[V, Str, Str, Str, Str],5, Some(5), V,   label::label_replace),
    stable(      "last_over_time",               &[M],                    1, Some(1), V,   over_time::last_over_time),
    stable(      "ln",                           &[V],                    1, Some(1), V,   math::ln),
    stable(      "log10",                        &[V],                    1, Some(1), V,   math::log10),
    stable(      "log2",                         &[V],                    1, Some(1), V,   math::log2),
    experimental("mad_over_time",                &[M],                    1, Some(1), V,   over_time::mad_over_time),
    experimental("max_of",                       &[S, S],                 2, Some(2), S,   math::max_of),
    stable(      "max_over_time",                &[M],                    1, Some(1), V,   over_time::max_over_time),
    experimental("min_of",                       &[S, S],                 2, Some(2), S,   math::min_of),
    stable(      "min_over_time",                &[M],                    1, Some(1), V,   over_time::min_over_time),
    stable(      "minute",                       &[V],                    0, Some(1), V,   time::minute),
    stable(      "month",                        &[V],                    0, Some(1), V,   time::month),
    stable(      "pi",                           &[],                     0, Some(0), S,   math::pi),
    stable(      "predict_linear",               &[M, S],                 2, Some(2), V,   rate::predict_linear),
    stable(      "present_over_time",            &[M],                    1, Some(1), V,   over_time::present_over_time),
    stable(      "quantile_over_time",           &[S, M],                 2, Some(2), V,   over_time::quantile_over_time),
    stable(      "rad",                          &[V],                    1, Some(1), V,   math::rad),
    experimental("range",                        &[],                     0, Some(0), S,   time::range),
    stable(      "rate",                         &[M],                    1, Some(1), V,   rate::rate),
    stable(      "resets",                       &[M],                    1, Some(1), V,   over_time::resets),
    stable(      "round",                        &[V, S],                 1, Some(2), V,   math::round),
    stable(      "scalar",                       &[V],                    1, Some(1), S,   misc::scalar),
    stable(      "sgn",                          &[V],                    1, Some(1), V,   math::sgn),
    stable(      "sin",                          &[V],                    1, Some(1), V,   math::sin),
    stable(      "sinh",                         &[V],                    1, Some(1), V,   math::sinh),
    stable(      "sort",                         &[V],                    1, Some(1), V,   label::sort),
    experimental("sort_by_label",                &[V, Str],               1, None,    V,   label::sort_by_label),
    experimental("sort_by_label_desc",           &[V, Str],               1, None,    V,   label::sort_by_label_desc),
    stable(      "sort_desc",                    &[V],                    1, Some(1), V,   label::sort_desc),
    stable(      "sqrt",                         &[V],                    1, Some(1), V,   math::sqrt),
    experimental("start",                        &[],                     0, Some(0), S,   time::start),
    experimental("start_timestamp",              &[V],                    1, Some(1), V,   misc::start_timestamp),
    stable(      "stddev_over_time",             &[M],                    1, Some(1), V,   over_time::stddev_over_time),
    stable(      "stdvar_over_time",             &[M],                    1, Some(1), V,   over_time::stdvar_over_time),
    experimental("step",                         &[],                     0, Some(0), S,   time::step),
    stable(      "sum_over_time",                &[M],                    1, Some(1), V,   over_time::sum_over_time),
    stable(      "tan",                          &[V],                    1, Some(1), V,   math::tan),
    stable(      "tanh",                         &[V],                    1, Some(1), V,   math::tanh),
    stable(      "time",                         &[],                     0, Some(0), S,   time::time),
    stable(      "timestamp",                    &[V],                    1, Some(1), V,   time::timestamp),
    experimental("ts_of_first_over_time",        &[M],                    1, Some(1), V,   over_time::ts_of_first_over_time),
    experimental("ts_of_last_over_time",         &[M],                    1, Some(1), V,   over_time::ts_of_last_over_time),
    experimental("ts_of_max_over_time",          &[M],                    1, Some(1), V,   over_time::ts_of_max_over_time),
    experimental("ts_of_min_over_time",          &[M],                    1, Some(1), V,   over_time::ts_of_min_over_time),
    stable(      "vector",                       &[S],                    1, Some(1), V,   misc::vector),
    stable(      "year",                         &[V],                    0, Some(1), V,   time::year),
];

/// The function named exactly `name`.
pub fn lookup(name: &str) -> Option<&'static Function> {
    FUNCTIONS
        .binary_search_by(|f| f.name.cmp(name))
        .ok()
        .and_then(|i| FUNCTIONS.get(i))
}

/// Evaluates a call with its registry row's implementation.
///
/// # Errors
/// The function's own errors; an execution error for a name the registry
/// does not know (only a hand-built tree can hold one: the parser rejects it).
pub(crate) fn call(ev: &mut Evaluator<'_>, c: &Call, grid: &Grid) -> Result<Value, EvalError> {
    let f = lookup(c.func)
        .ok_or_else(|| EvalError::Execution(format!("unknown function with name {:?}", c.func)))?;
    (f.eval)(ev, c, grid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_complete() {
        assert!(FUNCTIONS.windows(2).all(|w| w[0].name < w[1].name));
        assert_eq!(FUNCTIONS.len(), 90);
        let rate = lookup("rate").unwrap();
        assert_eq!(
            (rate.args, rate.min_args, rate.max_args, rate.returns),
            (&[M][..], 1, Some(1), V)
        );
        let lj = lookup("label_join").unwrap();
        assert_eq!((lj.min_args, lj.max_args, lj.arg_type(7)), (3, None, Str));
        assert!(
            lookup("Rate").is_none(),
            "function names are case-sensitive"
        );
    }

    /// Every row evaluates through its own implementation: a call with the
    /// fewest arguments gives a value of the row's result type, and only
    /// `info` (unsupported) fails, with its documented message.
    #[test]
    fn every_function_evaluates_through_its_row() {
        use crate::eval::{EvalOptions, eval_instant};
        use strata_engine::{Labels, Sample};

        let mut q = crate::promqltest::MemQuerier::default();
        let labels = Labels::from_pairs(&[("__name__", "x"), ("le", "1")]).unwrap();
        let samples: Vec<Sample> = (0..10).map(|k| Sample::new(k * 10_000, k as f64)).collect();
        q.add(labels, &samples);
        for f in FUNCTIONS {
            let args: Vec<&str> = (0..f.min_args)
                .map(|i| match f.arg_type(i) {
                    V => "x",
                    M => "x[1m]",
                    S => "0.5",
                    Str => "\"a\"",
                })
                .collect();
            let text = format!("{}({})", f.name, args.join(", "));
            let expr = crate::parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
            let got = eval_instant(&q, &expr, 90_000, &EvalOptions::default());
            match (f.name, got) {
                ("info", Err(e)) => assert_eq!(e.to_string(), "info() is not supported yet"),
                (_, Ok(Value::Scalar(_))) => assert_eq!(f.returns, S, "{text}"),
                (_, Ok(Value::Vector(_))) => assert_eq!(f.returns, V, "{text}"),
                (_, other) => panic!("{text}: {other:?}"),
            }
        }
    }

    /// A tree built by hand with a name the registry does not know gets an
    /// execution error, not a panic.
    #[test]
    fn unknown_function_is_an_execution_error() {
        use crate::ast::{Call, Expr, Spans};
        use crate::eval::{EvalOptions, eval_instant};

        let expr = Expr::Call(Call {
            func: "no_such_function",
            args: Vec::new(),
            positions: Spans::default(),
        });
        let q = crate::promqltest::MemQuerier::default();
        let err = eval_instant(&q, &expr, 0, &EvalOptions::default()).unwrap_err();
        assert_eq!(
            err,
            EvalError::Execution("unknown function with name \"no_such_function\"".into())
        );
    }

    /// The functions the evaluator treats as depending on the evaluation
    /// time are all registered (a typo there would silently cache a step).
    #[test]
    fn eval_time_functions_are_registered() {
        for name in crate::eval::EVAL_TIME_FUNCTIONS {
            assert!(lookup(name).is_some(), "{name}");
        }
    }

    /// The table agrees with the fact table in ../shared/promql-tests/FUNCTIONS.md.
    #[test]
    fn table_matches_functions_md() {
        let Some(path) = crate::promqltest::require::shared("promql-tests/FUNCTIONS.md") else {
            return;
        };
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let mut seen = 0;
        // Only the function table: from its heading to the next section.
        let table = text
            .split("### 1.2 Table")
            .nth(1)
            .and_then(|t| t.split("\n## ").next())
            .expect("FUNCTIONS.md has a function table");
        for line in table.lines() {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let (Some(name), Some(ret), Some(arity)) = (cells.get(1), cells.get(3), cells.get(4))
            else {
                continue;
            };
            if !matches!(*ret, "V" | "S") || name.contains(' ') || *name == "function" {
                continue;
            }
            let f = lookup(name).unwrap_or_else(|| panic!("{name} missing from the table"));
            assert_eq!(f.returns, if *ret == "V" { V } else { S }, "{name}");
            let want = match (f.min_args, f.max_args) {
                (a, Some(b)) if a == b => a.to_string(),
                (a, Some(b)) => format!("{a}–{b}"),
                (a, None) => format!("≥{a}"),
            };
            assert_eq!(&want, arity, "{name}");
            assert_eq!(f.experimental, cells.get(5) == Some(&"yes"), "{name}");
            seen += 1;
        }
        assert_eq!(seen, FUNCTIONS.len());
    }
}
