//! Classic histogram bucket math: a quantile and a fraction from cumulative
//! `(upper bound, count)` buckets, as Prometheus computes them (bucket
//! merging, the monotonicity fix, interpolation inside a bucket).
//!
//! Pinned by `promql-tests/upstream/histograms.test`.

use std::cmp::Ordering;

/// Buckets sorted by bound, buckets with the same bound added up; `None`
/// without a `+Inf` bucket (no quantile or fraction is defined then).
fn merged(buckets: &mut [(f64, f64)]) -> Option<Vec<(f64, f64)>> {
    buckets.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(Ordering::Equal));
    if !buckets.last().is_some_and(|b| b.0 == f64::INFINITY) {
        return None;
    }
    let mut merged: Vec<(f64, f64)> = Vec::with_capacity(buckets.len());
    for &(le, c) in buckets.iter() {
        match merged.last_mut() {
            Some(last) if last.0 == le => last.1 += c,
            _ => merged.push((le, c)),
        }
    }
    Some(merged)
}

/// Prometheus' float comparison with a relative tolerance.
fn almost_equal(a: f64, b: f64, eps: f64) -> bool {
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < f64::MIN_POSITIVE {
        return diff < eps * f64::MIN_POSITIVE;
    }
    diff / abs_sum.min(f64::MAX) < eps
}

/// Makes counts non-decreasing, ignoring tiny floating-point deltas;
/// true when a real decrease had to be fixed.
fn force_monotonic(merged: &mut [(f64, f64)]) -> bool {
    let mut forced = false;
    if let Some(&(_, first)) = merged.first() {
        let mut prev = first;
        for b in merged.iter_mut().skip(1) {
            let cur = b.1;
            if cur == prev {
                continue;
            }
            if almost_equal(prev, cur, 1e-12) {
                b.1 = prev;
                continue;
            }
            if cur < prev {
                b.1 = prev;
                forced = true;
                continue;
            }
            prev = cur;
        }
    }
    forced
}

/// Quantile from classic cumulative buckets `(upper bound, count)`.
/// Also returns whether the counts had to be forced monotonic.
pub(super) fn bucket_quantile(q: f64, buckets: &mut [(f64, f64)]) -> (f64, bool) {
    if q.is_nan() {
        return (f64::NAN, false);
    }
    if q < 0.0 {
        return (f64::NEG_INFINITY, false);
    }
    if q > 1.0 {
        return (f64::INFINITY, false);
    }
    let Some(mut merged) = merged(buckets) else {
        return (f64::NAN, false);
    };
    let forced = force_monotonic(&mut merged);
    (interpolate_rank(q, &merged), forced)
}

/// The value at rank `q * observations`, interpolated linearly inside its bucket.
fn interpolate_rank(q: f64, merged: &[(f64, f64)]) -> f64 {
    if merged.len() < 2 {
        return f64::NAN;
    }
    let observations = merged.last().map_or(0.0, |b| b.1);
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    let n = merged.len();
    let b = merged[..n - 1].partition_point(|x| x.1 < rank);
    if b == n - 1 {
        return merged[n - 2].0;
    }
    if b == 0 && merged[0].0 <= 0.0 {
        return merged[0].0;
    }
    let (mut start, end, mut count) = (0.0, merged[b].0, merged[b].1);
    if b > 0 {
        start = merged[b - 1].0;
        count -= merged[b - 1].1;
        rank -= merged[b - 1].1;
    }
    start + (end - start) * (rank / count)
}

/// Fraction of observations between `lower` and `upper` in classic buckets.
pub(super) fn bucket_fraction(lower: f64, upper: f64, buckets: &mut [(f64, f64)]) -> f64 {
    let Some(merged) = merged(buckets) else {
        return f64::NAN;
    };
    let count = merged.last().map_or(0.0, |b| b.1);
    if count == 0.0 || lower.is_nan() || upper.is_nan() {
        return f64::NAN;
    }
    if lower >= upper {
        return 0.0;
    }
    let (lower_rank, upper_rank) = ranks(&merged, lower, upper);
    let within = |rank: Option<f64>| match rank {
        Some(r) if r <= count => r,
        _ => count,
    };
    (within(upper_rank) - within(lower_rank)) / count
}

/// The interpolated cumulative counts at `lower` and `upper`, where found.
fn ranks(merged: &[(f64, f64)], lower: f64, upper: f64) -> (Option<f64>, Option<f64>) {
    let mut rank = 0.0f64;
    let (mut lower_rank, mut upper_rank) = (None, None);
    for (i, &(upper_bound, bucket_count)) in merged.iter().enumerate() {
        let lower_bound = match i.checked_sub(1).and_then(|p| merged.get(p)) {
            Some(prev) => prev.0,
            // The first bucket starts at 0 when it only holds positive values.
            None if upper_bound > 0.0 => 0.0,
            None => f64::NEG_INFINITY,
        };
        let interpolate =
            |v: f64| rank + (bucket_count - rank) * (v - lower_bound) / (upper_bound - lower_bound);
        if lower_rank.is_none() && lower_bound >= lower {
            lower_rank = Some(rank);
        }
        if upper_rank.is_none() && lower_bound >= upper {
            upper_rank = Some(rank);
        }
        if lower_rank.is_some() && upper_rank.is_some() {
            break;
        }
        // A bucket of infinite width contributes nothing to the fraction.
        let infinite = lower_bound.is_infinite() || upper_bound.is_infinite();
        if lower_rank.is_none() && lower_bound < lower && upper_bound > lower {
            lower_rank = Some(if lower_bound.is_infinite() {
                bucket_count
            } else if upper_bound.is_infinite() {
                rank
            } else {
                interpolate(lower)
            });
        }
        if upper_rank.is_none() && lower_bound < upper && upper_bound > upper {
            upper_rank = Some(if infinite { rank } else { interpolate(upper) });
        }
        if lower_rank.is_some() && upper_rank.is_some() {
            break;
        }
        rank = bucket_count;
    }
    (lower_rank, upper_rank)
}

#[cfg(test)]
mod tests {
    use super::{bucket_fraction, bucket_quantile};

    #[test]
    fn quantile_interpolates_inside_the_bucket_and_reports_fixes() {
        let mut b = [(1.0, 10.0), (2.0, 20.0), (f64::INFINITY, 20.0)];
        assert_eq!(bucket_quantile(0.75, &mut b), (1.5, false));
        // Unsorted, with a decreasing count: sorted, then forced monotonic.
        let mut b = [(f64::INFINITY, 20.0), (2.0, 5.0), (1.0, 10.0)];
        assert_eq!(bucket_quantile(0.5, &mut b), (1.0, true));
        let mut no_inf = [(1.0, 10.0), (2.0, 20.0)];
        assert!(bucket_quantile(0.5, &mut no_inf).0.is_nan());
    }

    #[test]
    fn fraction_interpolates_and_clamps() {
        let mut b = [(1.0, 10.0), (2.0, 20.0), (f64::INFINITY, 20.0)];
        assert_eq!(bucket_fraction(0.0, 1.5, &mut b), 0.75);
        assert_eq!(bucket_fraction(2.0, 1.0, &mut b), 0.0);
        assert_eq!(
            bucket_fraction(f64::NEG_INFINITY, f64::INFINITY, &mut b),
            1.0
        );
    }
}
