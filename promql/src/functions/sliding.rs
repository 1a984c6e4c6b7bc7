//! One pass over a series for range functions whose value can be carried
//! from one window to the next: `min_over_time`/`max_over_time` (a
//! monotonic queue of candidates) and `changes`/`resets` (prefix counts of
//! adjacent pairs). Exact: each result is what folding that window gives,
//! NaN rules and ties included; the windows are never re-read.

use std::collections::VecDeque;

use strata_engine::Sample;

/// Which extreme of a window is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Extreme {
    /// The smallest value (`min_over_time`, `ts_of_min_over_time`).
    Min,
    /// The largest value (`max_over_time`, `ts_of_max_over_time`).
    Max,
}

impl Extreme {
    /// Whether `a` is strictly more extreme than `b`.
    fn beats(self, a: f64, b: f64) -> bool {
        match self {
            Extreme::Min => a < b,
            Extreme::Max => a > b,
        }
    }

    /// Whether `a` is at least as extreme as `b`.
    pub(super) fn beats_or_ties(self, a: f64, b: f64) -> bool {
        match self {
            Extreme::Min => a <= b,
            Extreme::Max => a >= b,
        }
    }
}

/// One window's extreme by folding `m = v if m is NaN or v beats m`;
/// `None` for an empty window.
pub(super) fn fold_extreme(window: &[Sample], which: Extreme) -> Option<f64> {
    if window.is_empty() {
        return None;
    }
    Some(window.iter().fold(f64::NAN, |m, s| {
        if m.is_nan() || which.beats(s.v, m) {
            s.v
        } else {
            m
        }
    }))
}

/// `min_over_time` or `max_over_time` at every window, as [`fold_extreme`]
/// would give: the first extreme among the non-NaN values, or the last
/// value when all are NaN. `None` when the windows do not slide forward
/// (callers then fold each window).
pub(super) fn extreme(
    samples: &[Sample],
    windows: &[(usize, usize)],
    which: Extreme,
) -> Option<Vec<Option<f64>>> {
    if windows
        .windows(2)
        .any(|w| w[1].0 < w[0].0 || w[1].1 < w[0].1)
    {
        return None;
    }
    let beats = |a: f64, b: f64| which.beats(a, b);
    // Indices of non-NaN samples whose values strictly improve from back to
    // front; equal values stay, so the front is the earliest extreme.
    let mut queue: VecDeque<usize> = VecDeque::new();
    let mut pushed = 0usize;
    let mut out = Vec::with_capacity(windows.len());
    for &(lo, hi) in windows {
        while pushed < hi {
            let v = samples.get(pushed).map_or(f64::NAN, |s| s.v);
            if !v.is_nan() {
                while queue
                    .back()
                    .is_some_and(|&b| beats(v, samples.get(b).map_or(f64::NAN, |s| s.v)))
                {
                    queue.pop_back();
                }
                queue.push_back(pushed);
            }
            pushed += 1;
        }
        while queue.front().is_some_and(|&f| f < lo) {
            queue.pop_front();
        }
        out.push(if lo >= hi {
            None
        } else {
            match queue.front() {
                Some(&f) => samples.get(f).map(|s| s.v),
                // Every value is NaN: the fold ends on the last one.
                None => samples.get(hi - 1).map(|s| s.v),
            }
        });
    }
    Some(out)
}

/// The number of adjacent pairs inside each window for which `pair`
/// holds (`changes`, `resets`); `None` for an empty window.
pub(super) fn pair_counts(
    samples: &[Sample],
    windows: &[(usize, usize)],
    pair: impl Fn(f64, f64) -> bool,
) -> Vec<Option<f64>> {
    // prefix[k]: pairs (j - 1, j) with 1 <= j <= k that hold.
    let mut prefix = Vec::with_capacity(samples.len().max(1));
    prefix.push(0u32);
    for w in samples.windows(2) {
        let last = prefix.last().copied().unwrap_or(0);
        prefix.push(last + u32::from(pair(w[0].v, w[1].v)));
    }
    windows
        .iter()
        .map(|&(lo, hi)| {
            if lo >= hi {
                return None;
            }
            let at = |k: usize| prefix.get(k).copied().unwrap_or(0);
            Some(f64::from(at(hi - 1) - at(lo)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The oracle: a plain fold, written out again independently.
    fn oracle_extreme(w: &[Sample], which: Extreme) -> Option<u64> {
        if w.is_empty() {
            return None;
        }
        let m = w.iter().map(|s| s.v).fold(f64::NAN, |m, v| {
            let beats = match which {
                Extreme::Max => v > m,
                Extreme::Min => v < m,
            };
            if m.is_nan() || beats { v } else { m }
        });
        Some(m.to_bits())
    }

    fn value() -> impl Strategy<Value = f64> {
        prop_oneof![
            (-3i32..3).prop_map(f64::from),
            Just(f64::NAN),
            Just(-0.0),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
        ]
    }

    fn sliding_windows(n: usize) -> impl Strategy<Value = Vec<(usize, usize)>> {
        proptest::collection::vec((0usize..3, 0usize..3), 0..20).prop_map(move |steps| {
            let (mut lo, mut hi) = (0usize, 0usize);
            steps
                .into_iter()
                .map(|(a, b)| {
                    hi = (hi + b).min(n);
                    lo = (lo + a).min(hi);
                    (lo, hi)
                })
                .collect()
        })
    }

    proptest! {
        #[test]
        fn same_as_folding_each_window(
            (vals, windows) in proptest::collection::vec(value(), 0..30)
                .prop_flat_map(|v| { let n = v.len(); (Just(v), sliding_windows(n)) })
        ) {
            let samples: Vec<Sample> =
                vals.iter().enumerate().map(|(i, &v)| Sample::new(i as i64, v)).collect();
            for which in [Extreme::Min, Extreme::Max] {
                let got: Vec<Option<u64>> = extreme(&samples, &windows, which)
                    .unwrap()
                    .into_iter()
                    .map(|v| v.map(f64::to_bits))
                    .collect();
                let want: Vec<Option<u64>> = windows
                    .iter()
                    .map(|&(lo, hi)| oracle_extreme(&samples[lo..hi], which))
                    .collect();
                prop_assert_eq!(&got, &want);
                let folded: Vec<Option<u64>> = windows
                    .iter()
                    .map(|&(lo, hi)| fold_extreme(&samples[lo..hi], which).map(f64::to_bits))
                    .collect();
                prop_assert_eq!(folded, want);
            }
            let changes = pair_counts(&samples, &windows, |a, b| a != b && !(a.is_nan() && b.is_nan()));
            let want: Vec<Option<f64>> = windows
                .iter()
                .map(|&(lo, hi)| (lo < hi).then(|| samples[lo..hi]
                    .windows(2)
                    .filter(|p| p[0].v != p[1].v && !(p[0].v.is_nan() && p[1].v.is_nan()))
                    .count() as f64))
                .collect();
            prop_assert_eq!(changes, want);
        }
    }
}
