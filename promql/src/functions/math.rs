//! Arithmetic on every value of a vector (`abs`, `ceil`, `exp`, `ln`, the
//! trigonometric functions, `sgn`, `clamp*`, `round`, ...) and on scalars
//! (`pi`, `min_of`, `max_of`).
//!
//! Pinned by `promql-tests/upstream/functions.test`; the trigonometric
//! functions, `deg`, `rad` and `pi` by `promql-tests/upstream/trig_functions.test`;
//! `min_of`/`max_of` also by `duration_expression.test`.

use crate::ast::Call;
use crate::eval::{Evaluator, Grid, Value};

use super::apply::{R, arg};

/// `op` on every value of the first argument, dropping the metric name.
fn per_value(ev: &mut Evaluator<'_>, c: &Call, grid: &Grid, op: impl Fn(f64) -> f64) -> R<Value> {
    ev.map_vector(arg(c, 0)?, grid, |x, _| Some(op(x)))
}

/// Defines each `name(v instant-vector)` as `op` on every value.
macro_rules! per_value_functions {
    ($($(#[$doc:meta])* $name:ident => $op:expr;)*) => {
        $(
            $(#[$doc])*
            pub(super) fn $name(ev: &mut Evaluator<'_>, c: &Call, grid: &Grid) -> R<Value> {
                per_value(ev, c, grid, $op)
            }
        )*
    };
}

per_value_functions! {
    /// `abs`: absolute value.
    abs => f64::abs;
    /// `ceil`: round up to an integer.
    ceil => f64::ceil;
    /// `floor`: round down to an integer.
    floor => f64::floor;
    /// `exp`: e to the value.
    exp => f64::exp;
    /// `sqrt`: square root.
    sqrt => f64::sqrt;
    /// `ln`: natural logarithm.
    ln => f64::ln;
    /// `log2`: binary logarithm.
    log2 => f64::log2;
    /// `log10`: decimal logarithm.
    log10 => f64::log10;
    /// `sgn`: -1, 0 or 1 by sign (NaN stays NaN).
    sgn => sign;
    /// `sin`: sine (radians).
    sin => f64::sin;
    /// `cos`: cosine (radians).
    cos => f64::cos;
    /// `tan`: tangent (radians).
    tan => f64::tan;
    /// `asin`: arcsine.
    asin => f64::asin;
    /// `acos`: arccosine.
    acos => f64::acos;
    /// `atan`: arctangent.
    atan => f64::atan;
    /// `sinh`: hyperbolic sine.
    sinh => f64::sinh;
    /// `cosh`: hyperbolic cosine.
    cosh => f64::cosh;
    /// `tanh`: hyperbolic tangent.
    tanh => f64::tanh;
    /// `asinh`: inverse hyperbolic sine.
    asinh => f64::asinh;
    /// `acosh`: inverse hyperbolic cosine.
    acosh => f64::acosh;
    /// `atanh`: inverse hyperbolic tangent.
    atanh => f64::atanh;
    /// `deg`: radians to degrees.
    deg => f64::to_degrees;
    /// `rad`: degrees to radians.
    rad => f64::to_radians;
}

/// The sign as `sgn` gives it: -1, 0 or 1; NaN stays NaN, both zeros give `+0`.
fn sign(x: f64) -> f64 {
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

/// `clamp(v, min, max)`: no result at steps where `min > max`.
pub(super) fn clamp(ev: &mut Evaluator<'_>, c: &Call, grid: &Grid) -> R<Value> {
    let lo = ev.scalar_arg(arg(c, 1)?, grid)?;
    let hi = ev.scalar_arg(arg(c, 2)?, grid)?;
    clamp_between(ev, c, grid, &lo, &hi)
}

/// `clamp_min(v, min)`.
pub(super) fn clamp_min(ev: &mut Evaluator<'_>, c: &Call, grid: &Grid) -> R<Value> {
    let lo = ev.scalar_arg(arg(c, 1)?, grid)?;
    clamp_between(ev, c, grid, &lo, &vec![f64::INFINITY; grid.len()])
}

/// `clamp_max(v, max)`.
pub(super) fn clamp_max(ev: &mut Evaluator<'_>, c: &Call, grid: &Grid) -> R<Value> {
    let hi = ev.scalar_arg(arg(c, 1)?, grid)?;
    clamp_between(ev, c, grid, &vec![f64::NEG_INFINITY; grid.len()], &hi)
}

fn clamp_between(
    ev: &mut Evaluator<'_>,
    c: &Call,
    grid: &Grid,
    lo: &[f64],
    hi: &[f64],
) -> R<Value> {
    ev.map_vector(arg(c, 0)?, grid, |x, i| {
        let (l, h) = (lo.get(i).copied()?, hi.get(i).copied()?);
        if l > h {
            return None;
        }
        // Prometheus: math.Max(min, math.Min(max, v)).
        Some(go_max(l, go_min(h, x)))
    })
}

/// `round(v, to_nearest=1)`: ties round up, as in Prometheus.
pub(super) fn round(ev: &mut Evaluator<'_>, c: &Call, grid: &Grid) -> R<Value> {
    let to = match c.args.get(1) {
        Some(e) => ev.scalar_arg(e, grid)?,
        None => vec![1.0; grid.len()],
    };
    ev.map_vector(arg(c, 0)?, grid, |x, i| {
        let inv = 1.0 / to.get(i).copied().unwrap_or(1.0);
        Some((x * inv + 0.5).floor() / inv)
    })
}

/// `pi()`.
pub(super) fn pi(_: &mut Evaluator<'_>, _: &Call, grid: &Grid) -> R<Value> {
    Ok(Value::Scalar(vec![std::f64::consts::PI; grid.len()]))
}

/// `min_of(a, b)`: Go's `math.Min` per step.
pub(super) fn min_of(ev: &mut Evaluator<'_>, c: &Call, grid: &Grid) -> R<Value> {
    per_step_pair(ev, c, grid, go_min)
}

/// `max_of(a, b)`: Go's `math.Max` per step.
pub(super) fn max_of(ev: &mut Evaluator<'_>, c: &Call, grid: &Grid) -> R<Value> {
    per_step_pair(ev, c, grid, go_max)
}

fn per_step_pair(
    ev: &mut Evaluator<'_>,
    c: &Call,
    grid: &Grid,
    op: impl Fn(f64, f64) -> f64,
) -> R<Value> {
    let a = ev.scalar_arg(arg(c, 0)?, grid)?;
    let b = ev.scalar_arg(arg(c, 1)?, grid)?;
    Ok(Value::Scalar(
        a.iter().zip(&b).map(|(&x, &y)| op(x, y)).collect(),
    ))
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

#[cfg(test)]
mod tests {
    use super::{go_max, go_min, sign};

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

    #[test]
    fn sign_keeps_nan_and_maps_both_zeros_to_zero() {
        assert!(sign(f64::NAN).is_nan());
        assert_eq!(sign(-0.0).to_bits(), 0.0f64.to_bits());
        assert_eq!((sign(-3.5), sign(2.0)), (-1.0, 1.0));
    }
}
