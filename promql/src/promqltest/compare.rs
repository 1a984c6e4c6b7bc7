//! Comparing a result with the expected one: instant vectors, range
//! results, and Prometheus' float tolerance.

use strata_engine::{Labels, is_stale_nan};

use super::Outcome;

/// Prometheus' float comparison for expected results.
pub(super) fn float_eq(e: f64, a: f64) -> bool {
    if is_stale_nan(e) || is_stale_nan(a) {
        return is_stale_nan(e) && is_stale_nan(a);
    }
    if e.is_nan() && a.is_nan() {
        return true;
    }
    if e == a {
        return true;
    }
    let eps = 1e-6;
    let abs_sum = e.abs() + a.abs();
    if e == 0.0 || a == 0.0 || abs_sum < f64::MIN_POSITIVE {
        return (e - a).abs() < eps * f64::MIN_POSITIVE;
    }
    (e - a).abs() / abs_sum.min(f64::MAX) < eps
}

pub(super) fn compare_instant(
    got: &[(Labels, Vec<Option<f64>>)],
    expected: &[(Labels, Vec<Option<f64>>)],
    ordered: bool,
) -> Outcome {
    let got: Vec<(&Labels, f64)> = got
        .iter()
        .filter_map(|(l, p)| Some((l, p.first().copied().flatten()?)))
        .collect();
    if got.len() != expected.len() {
        return Outcome::Fail(format!(
            "got {} series, expected {}: {:?}",
            got.len(),
            expected.len(),
            sorted_names(got.iter().map(|g| g.0))
        ));
    }
    for (k, (l, vals)) in expected.iter().enumerate() {
        let Some(want) = vals.first().copied().flatten() else {
            return Outcome::Fail(format!("expected line for {l} has no value"));
        };
        let found = if ordered {
            got.get(k).filter(|g| g.0 == l)
        } else {
            got.iter().find(|g| g.0 == l)
        };
        match found {
            Some((_, a)) if float_eq(want, *a) => {}
            Some((_, a)) => return Outcome::Fail(format!("{l}: got {a}, expected {want}")),
            None => {
                let have = sorted_names(got.iter().map(|g| g.0));
                return Outcome::Fail(format!(
                    "missing {l}{}; got {have:?}",
                    if ordered { " at its position" } else { "" }
                ));
            }
        }
    }
    Outcome::Pass
}

/// Label sets as text, sorted, so that a failure reads the same every run.
fn sorted_names<'a>(labels: impl Iterator<Item = &'a Labels>) -> Vec<String> {
    let mut v: Vec<String> = labels.map(Labels::to_string).collect();
    v.sort();
    v
}

pub(super) fn compare_range(
    got: &[(Labels, Vec<Option<f64>>)],
    expected: &[(Labels, Vec<Option<f64>>)],
) -> Outcome {
    let got: Vec<&(Labels, Vec<Option<f64>>)> = got
        .iter()
        .filter(|(_, p)| p.iter().any(Option::is_some))
        .collect();
    if got.len() != expected.len() {
        return Outcome::Fail(format!(
            "got {} series, expected {}",
            got.len(),
            expected.len()
        ));
    }
    for (l, want) in expected {
        let Some((_, pts)) = got.iter().find(|g| &g.0 == l) else {
            return Outcome::Fail(format!("missing {l}"));
        };
        for (k, p) in pts.iter().enumerate() {
            match (want.get(k).copied().flatten(), p) {
                (None, None) => {}
                (Some(w), Some(a)) if float_eq(w, *a) => {}
                (w, a) => return Outcome::Fail(format!("{l} step {k}: got {a:?}, expected {w:?}")),
            }
        }
    }
    Outcome::Pass
}

#[cfg(test)]
mod tests {
    use strata_engine::STALE_NAN;

    use super::*;

    #[test]
    fn float_tolerance() {
        assert!(float_eq(1.0, 1.0 + 1e-9));
        assert!(!float_eq(0.0, 1e-17));
        assert!(float_eq(f64::NAN, f64::NAN));
        assert!(!float_eq(STALE_NAN, f64::NAN));
    }
}
