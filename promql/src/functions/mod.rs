//! Every PromQL function: argument types, arity and result type, in one
//! table shared by the type checker and (later) the evaluator.

use crate::ast::ValueType;

/// A function's signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

use ValueType::{Matrix as M, Scalar as S, String as Str, Vector as V};

/// All functions, sorted by name.
pub static FUNCTIONS: &[Function] = &[
    Function {
        name: "abs",
        args: &[V],
        min_args: 1,
        max_args: Some(1),
        returns: V,
        experimental: false,
    },
    Function {
        name: "absent",
        args: &[V],
        min_args: 1,
        max_args: Some(1),
        returns: V,
        experimental: false,
    },
    Function {
        name: "absent_over_time",
        args: &[M],
        min_args: 1,
        max_args: Some(1),
        returns: V,
        experimental: false,
    },
    Function {
        name: "acos",
        args: &[V],
        min_args: 1,
        max_args: Some(1),
        returns: V,
        experimental: false,
    },
    Function {
        name: "acosh",
        args: &[V],
        min_args: 1,
        max_args: Some(1),
        returns: V,
        experimental: false,
    },
    Function {
        name: "asin",
        args: &[V],
        min_args: 1,
        max_args: Some(1),
        returns: V,
        experimental: false,
    },
    Function {
        name: "asinh",
        args: &[V],
        min_args: 1,
        max_args: Some(1),
        returns: V,
        experimental: false,
    },
    Function {
        name: "atan",
        args: &[V],
        min_args: 1,
        max_args: Some(1),
        returns: V,
        experimental: false,
    },
    Function {
        name: "atanh",
        args: &[V],
        min_args: 1,
        max_args: Some(1),
        returns: V,
        experimental: false,
    },
    Function {
        name: "avg_over_time",
        args: &[M],
        min_args: 1,
        max_args: Some(1),
        returns: V,
        experimental: false,
    },
    Function {
        name: "ceil",
        args: &[V],
        min_args: 1,
        max_args: Some(1),
        returns: V,
        experimental: false,
    },
    Function {
        name: "changes",
        args: &[M],
        min_args: 1,
        max_args: Some(1),
        returns: V,
        experimental: false,
    },
    Function {
        name: "clamp",
        args: &[V, S, S],
        min_args: 3,
        max_args: Some(3),
        returns: V,
        experimental: false,
    },
    Function {
        name: "clamp_max",
        args: &[V, S],
        min_args: 2,
        max_args: Some(2),
        returns: V,
        experimental: false,
    },
    Function {
        name: "clamp_min",
        args: &[V, S],
        min_args: 2,
        max_args: Some(2),
        returns: V,
        experimental: false,
    },
    Function {
        name: "cos",
        args: &[V],
        min_args: 1,
        max_args: Some(1),
        returns: V,
        experimental: false,
    },
    Function {
        name: "cosh",
        args: &[V],
        min_args: 1,
        max_args: Some(1),
        returns: V,
        experimental: false,
    },
    Function {
        name: "count_over_time",
        args: &[M],
        min_args: 1,
        max_args: Some(1),
        returns: V,
        experimental: false,
    },
    Function {
        name: "day_of_month",
        args: &[V],
        min_args: 0,
        max_args: Some(1),
        returns: V,
        experimental: false,
    },
    Function {
        name: "day_of_week",
        args: &[V],
        min_args: 0,
        max_args: Some(1),
        returns: V,
        experimental: false,
    },
    Function {
        name: "day_of_year",
        args: &[V],
        min_args: 0,
        max_args: Some(1),
        returns: V,
        experimental: false,
    },
    Function {
        name: "days_in_month",
        args: &[V],
        min_args: 0,
        max_args: Some(1),
        returns: V,
        experimental: false,
    },
    Function {
        name: "deg",
        args: &[V],
        min_args: 1,
        max_args: Some(1),
        returns: V,
        experimental: false,
    },
    Function {
        name: "delta",
        args: &[M],
        min_args: 1,
        max_args: Some(1),
        returns: V,
        experimental: false,
    },
    Function {
        name: "deriv",
        args: &[M],
        min_args: 1,
        max_args: Some(1),
        returns: V,
        experimental: false,
    },
    Function {
        name: "double_exponential_smoothing",
        args: &[M, S, S],
        min_args: 3,
        max_args: Some(3),
        returns: V,
        experimental: true,
    },
    Function {
        name: "end",
        args: &[],
        min_args: 0,
        max_args: Some(0),
        returns: S,
        experimental: true,
    },
    Function {
        name: "exp",
        args: &[V],
        min_args: 1,
        max_args: Some(1),
        returns: V,
        experimental: false,
    },
    Function {
        name: "first_over_time",
        args: &[M],
        min_args: 1,
        max_args: Some(1),
        returns: V,
        experimental: false,
    },
    Function {
        name: "floor",
        args: &[V],
        min_args: 1,
        max_args: Some(1),
        returns: V,
        experimental: false,
    },
    Function {
        name: "histogram_avg",
        args: &[V],
        min_args: 1,
        max_args: Some(1),
        returns: V,
        experimental: false,
    },
    Function {
        name: "histogram_count",
        args: &[V],
        min_args: 1,
        max_args: Some(1),
        returns: V,
        experimental: false,
    },
    Function {
        name: "histogram_fraction",
        args: &[S, S, V],
        min_args: 3,
        max_args: Some(3),
        returns: V,
        experimental: false,
    },
    Function {
        name: "histogram_quantile",
        args: &[S, V],
        min_args: 2,
        max_args: Some(2),
        returns: V,
        experimental: false,
    },
    Function {
        name: "histogram_quantiles",
        args: &[V, Str, S],
        min_args: 3,
        max_args: Some(12),
        returns: V,
        experimental: true,
    },
    Function {
        name: "histogram_stddev",
        args: &[V],
        min_args: 1,
        max_args: Some(1),
        returns: V,
        experimental: false,
    },
    Function {
        name: "histogram_stdvar",
        args: &[V],
        min_args: 1,
        max_args: Some(1),
        returns: V,
        experimental: false,
    },
    Function {
        name: "histogram_sum",
        args: &[V],
        min_args: 1,
        max_args: Some(1),
        returns: V,
        experimental: false,
    },
    Function {
        name: "hour",
        args: &[V],
        min_args: 0,
        max_args: Some(1),
        returns: V,
        experimental: false,
    },
    Function {
        name: "idelta",
        args: &[M],
        min_args: 1,
        max_args: Some(1),
        returns: V,
        experimental: false,
    },
    Function {
        name: "increase",
        args: &[M],
        min_args: 1,
        max_args: Some(1),
        returns: V,
        experimental: false,
    },
    Function {
        name: "info",
        args: &[V, V],
        min_args: 1,
        max_args: Some(2),
        returns: V,
        experimental: true,
    },
    Function {
        name: "irate",
        args: &[M],
        min_args: 1,
        max_args: Some(1),
        returns: V,
        experimental: false,
    },
    Function {
        name: "label_join",
        args: &[V, Str, Str, Str],
        min_args: 3,
        max_args: None,
        returns: V,
        experimental: false,
    },
    Function {
        name: "label_replace",
        args: &[V, Str, Str, Str, Str],
        min_args: 5,
        max_args: Some(5),
        returns: V,
        experimental: false,
    },
    Function {
        name: "last_over_time",
        args: &[M],
        min_args: 1,
        max_args: Some(1),
        returns: V,
        experimental: false,
    },
    Function {
        name: "ln",
        args: &[V],
        min_args: 1,
        max_args: Some(1),
        returns: V,
        experimental: false,
    },
    Function {
        name: "log10",
        args: &[V],
        min_args: 1,
        max_args: Some(1),
        returns: V,
        experimental: false,
    },
    Function {
        name: "log2",
        args: &[V],
        min_args: 1,
        max_args: Some(1),
        returns: V,
        experimental: false,
    },
    Function {
        name: "mad_over_time",
        args: &[M],
        min_args: 1,
        max_args: Some(1),
        returns: V,
        experimental: true,
    },
    Function {
        name: "max_of",
        args: &[S, S],
        min_args: 2,
        max_args: Some(2),
        returns: S,
        experimental: true,
    },
    Function {
        name: "max_over_time",
        args: &[M],
        min_args: 1,
        max_args: Some(1),
        returns: V,
        experimental: false,
    },
    Function {
        name: "min_of",
        args: &[S, S],
        min_args: 2,
        max_args: Some(2),
        returns: S,
        experimental: true,
    },
    Function {
        name: "min_over_time",
        args: &[M],
        min_args: 1,
        max_args: Some(1),
        returns: V,
        experimental: false,
    },
    Function {
        name: "minute",
        args: &[V],
        min_args: 0,
        max_args: Some(1),
        returns: V,
        experimental: false,
    },
    Function {
        name: "month",
        args: &[V],
        min_args: 0,
        max_args: Some(1),
        returns: V,
        experimental: false,
    },
    Function {
        name: "pi",
        args: &[],
        min_args: 0,
        max_args: Some(0),
        returns: S,
        experimental: false,
    },
    Function {
        name: "predict_linear",
        args: &[M, S],
        min_args: 2,
        max_args: Some(2),
        returns: V,
        experimental: false,
    },
    Function {
        name: "present_over_time",
        args: &[M],
        min_args: 1,
        max_args: Some(1),
        returns: V,
        experimental: false,
    },
    Function {
        name: "quantile_over_time",
        args: &[S, M],
        min_args: 2,
        max_args: Some(2),
        returns: V,
        experimental: false,
    },
    Function {
        name: "rad",
        args: &[V],
        min_args: 1,
        max_args: Some(1),
        returns: V,
        experimental: false,
    },
    Function {
        name: "range",
        args: &[],
        min_args: 0,
        max_args: Some(0),
        returns: S,
        experimental: true,
    },
    Function {
        name: "rate",
        args: &[M],
        min_args: 1,
        max_args: Some(1),
        returns: V,
        experimental: false,
    },
    Function {
        name: "resets",
        args: &[M],
        min_args: 1,
        max_args: Some(1),
        returns: V,
        experimental: false,
    },
    Function {
        name: "round",
        args: &[V, S],
        min_args: 1,
        max_args: Some(2),
        returns: V,
        experimental: false,
    },
    Function {
        name: "scalar",
        args: &[V],
        min_args: 1,
        max_args: Some(1),
        returns: S,
        experimental: false,
    },
    Function {
        name: "sgn",
        args: &[V],
        min_args: 1,
        max_args: Some(1),
        returns: V,
        experimental: false,
    },
    Function {
        name: "sin",
        args: &[V],
        min_args: 1,
        max_args: Some(1),
        returns: V,
        experimental: false,
    },
    Function {
        name: "sinh",
        args: &[V],
        min_args: 1,
        max_args: Some(1),
        returns: V,
        experimental: false,
    },
    Function {
        name: "sort",
        args: &[V],
        min_args: 1,
        max_args: Some(1),
        returns: V,
        experimental: false,
    },
    Function {
        name: "sort_by_label",
        args: &[V, Str],
        min_args: 1,
        max_args: None,
        returns: V,
        experimental: true,
    },
    Function {
        name: "sort_by_label_desc",
        args: &[V, Str],
        min_args: 1,
        max_args: None,
        returns: V,
        experimental: true,
    },
    Function {
        name: "sort_desc",
        args: &[V],
        min_args: 1,
        max_args: Some(1),
        returns: V,
        experimental: false,
    },
    Function {
        name: "sqrt",
        args: &[V],
        min_args: 1,
        max_args: Some(1),
        returns: V,
        experimental: false,
    },
    Function {
        name: "start",
        args: &[],
        min_args: 0,
        max_args: Some(0),
        returns: S,
        experimental: true,
    },
    Function {
        name: "start_timestamp",
        args: &[V],
        min_args: 1,
        max_args: Some(1),
        returns: V,
        experimental: true,
    },
    Function {
        name: "stddev_over_time",
        args: &[M],
        min_args: 1,
        max_args: Some(1),
        returns: V,
        experimental: false,
    },
    Function {
        name: "stdvar_over_time",
        args: &[M],
        min_args: 1,
        max_args: Some(1),
        returns: V,
        experimental: false,
    },
    Function {
        name: "step",
        args: &[],
        min_args: 0,
        max_args: Some(0),
        returns: S,
        experimental: true,
    },
    Function {
        name: "sum_over_time",
        args: &[M],
        min_args: 1,
        max_args: Some(1),
        returns: V,
        experimental: false,
    },
    Function {
        name: "tan",
        args: &[V],
        min_args: 1,
        max_args: Some(1),
        returns: V,
        experimental: false,
    },
    Function {
        name: "tanh",
        args: &[V],
        min_args: 1,
        max_args: Some(1),
        returns: V,
        experimental: false,
    },
    Function {
        name: "time",
        args: &[],
        min_args: 0,
        max_args: Some(0),
        returns: S,
        experimental: false,
    },
    Function {
        name: "timestamp",
        args: &[V],
        min_args: 1,
        max_args: Some(1),
        returns: V,
        experimental: false,
    },
    Function {
        name: "ts_of_first_over_time",
        args: &[M],
        min_args: 1,
        max_args: Some(1),
        returns: V,
        experimental: true,
    },
    Function {
        name: "ts_of_last_over_time",
        args: &[M],
        min_args: 1,
        max_args: Some(1),
        returns: V,
        experimental: true,
    },
    Function {
        name: "ts_of_max_over_time",
        args: &[M],
        min_args: 1,
        max_args: Some(1),
        returns: V,
        experimental: true,
    },
    Function {
        name: "ts_of_min_over_time",
        args: &[M],
        min_args: 1,
        max_args: Some(1),
        returns: V,
        experimental: true,
    },
    Function {
        name: "vector",
        args: &[S],
        min_args: 1,
        max_args: Some(1),
        returns: V,
        experimental: false,
    },
    Function {
        name: "year",
        args: &[V],
        min_args: 0,
        max_args: Some(1),
        returns: V,
        experimental: false,
    },
];

/// The function named exactly `name`.
pub fn lookup(name: &str) -> Option<&'static Function> {
    FUNCTIONS
        .binary_search_by(|f| f.name.cmp(name))
        .ok()
        .and_then(|i| FUNCTIONS.get(i))
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
