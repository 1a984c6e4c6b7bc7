//! Prometheus' compensated summation, reproduced exactly: several test
//! scripts pin results that depend on it.

/// Adds `inc` to `sum` with Neumaier's compensation `c`.
pub(crate) fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// Sum of `values` as Prometheus computes `sum_over_time`.
pub(crate) fn kahan_sum(values: impl IntoIterator<Item = f64>) -> f64 {
    let (mut sum, mut c) = (0.0, 0.0);
    for v in values {
        (sum, c) = kahan_inc(v, sum, c);
    }
    if sum.is_infinite() { sum } else { sum + c }
}

/// Mean of `values` as Prometheus computes `avg_over_time`: a compensated
/// sum, switching to an incremental mean if the sum would overflow.
pub(crate) fn kahan_mean(values: impl IntoIterator<Item = f64>) -> f64 {
    let mut it = values.into_iter();
    let Some(first) = it.next() else {
        return f64::NAN;
    };
    let (mut sum, mut c, mut mean, mut count) = (first, 0.0f64, 0.0f64, 1.0f64);
    let mut incremental = false;
    for v in it {
        count += 1.0;
        if !incremental {
            let (s, nc) = kahan_inc(v, sum, c);
            if !s.is_infinite() {
                (sum, c) = (s, nc);
                continue;
            }
            incremental = true;
            mean = sum / (count - 1.0);
            c /= count - 1.0;
        }
        let q = (count - 1.0) / count;
        (mean, c) = kahan_inc(v / count, q * mean, q * c);
    }
    if incremental {
        mean + c
    } else {
        sum / count + c / count
    }
}
