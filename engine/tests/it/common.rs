//! Helpers shared by the integration tests.

use std::collections::BTreeMap;
use std::sync::Arc;

use strata_engine::{Labels, ManualClock, MatchType, Matcher, Options, Querier, Storage};

/// A fixed "now" far from the epoch, so retention never interferes.
pub(crate) const NOW: i64 = 1_800_000_000_000;

/// Options for tests: no background thread, a manual clock at [`NOW`],
/// 10 s blocks so cuts and compactions happen on little data.
pub(crate) fn test_options() -> (Options, ManualClock) {
    let clock = ManualClock::new(NOW);
    let mut opts = Options::default()
        .without_maintenance()
        .with_clock(Arc::new(clock.clone()));
    opts.block_range_ms = 10_000;
    opts.retention_ms = 3650 * strata_engine::DAY_MS;
    (opts, clock)
}

/// Labels `{__name__="m", s="<i>"}` plus a job label.
pub(crate) fn series(i: usize) -> Labels {
    Labels::from_pairs(&[
        ("__name__", "m"),
        ("s", &i.to_string()),
        ("job", if i.is_multiple_of(2) { "even" } else { "odd" }),
    ])
    .unwrap()
}

/// Everything stored, as labels -> t -> value bits.
pub(crate) fn dump(storage: &Storage) -> BTreeMap<Labels, BTreeMap<i64, u64>> {
    let all = [Matcher::new(MatchType::Regex, "__name__", ".+").unwrap()];
    let mut out = BTreeMap::new();
    for s in storage.querier().select(&all, i64::MIN, i64::MAX).unwrap() {
        let samples = s.samples().unwrap();
        let mut m = BTreeMap::new();
        let mut last = i64::MIN;
        for x in samples {
            assert!(
                x.t > last,
                "samples of {} not strictly increasing",
                s.labels()
            );
            last = x.t;
            m.insert(x.t, x.v.to_bits());
        }
        out.insert(s.labels().clone(), m);
    }
    out
}
