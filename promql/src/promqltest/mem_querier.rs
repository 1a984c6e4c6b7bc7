//! An in-memory [`Querier`]: the storage the scripts load into, and the one
//! the evaluator's own tests run on (the design has the evaluator testable on
//! an in-memory storage). Public because `promql/tests/` use it.

use std::collections::BTreeMap;

use strata_engine::{Labels, Matcher, Querier, Sample, Series, matches_all};

/// Series held in memory: the test fixture the scripts load.
#[derive(Debug, Default, Clone)]
pub struct MemQuerier {
    series: BTreeMap<Labels, BTreeMap<i64, u64>>,
}

impl MemQuerier {
    /// Adds samples (a later sample at the same time replaces an earlier one).
    pub fn add(&mut self, labels: Labels, samples: &[Sample]) {
        let s = self.series.entry(labels).or_default();
        for x in samples {
            s.insert(x.t, x.v.to_bits());
        }
    }
}

impl Querier for MemQuerier {
    fn select(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> strata_engine::Result<Vec<Series>> {
        Ok(self
            .series
            .iter()
            .filter(|(l, _)| matches_all(matchers, l))
            .map(|(l, s)| {
                Series::from_samples(
                    l.clone(),
                    s.range(mint..=maxt)
                        .map(|(&t, &v)| Sample::new(t, f64::from_bits(v)))
                        .collect(),
                )
            })
            .filter(|s| s.samples().is_ok_and(|v| !v.is_empty()))
            .collect())
    }

    fn label_names(
        &self,
        matchers: &[Matcher],
        _: i64,
        _: i64,
    ) -> strata_engine::Result<Vec<String>> {
        let mut names: Vec<String> = self
            .series
            .keys()
            .filter(|l| matches_all(matchers, l))
            .flat_map(|l| l.iter().map(|x| x.name.clone()).collect::<Vec<_>>())
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        _: i64,
        _: i64,
    ) -> strata_engine::Result<Vec<String>> {
        let mut v: Vec<String> = self
            .series
            .keys()
            .filter(|l| matches_all(matchers, l))
            .filter_map(|l| l.get(name).map(str::to_owned))
            .collect();
        v.sort();
        v.dedup();
        Ok(v)
    }
}
