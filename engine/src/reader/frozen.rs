//! The frozen set: what a head cut took out of the head and is writing as
//! blocks. Queries still see it, through its [`Reader`].

use std::sync::Arc;

use crate::error::Result;
use crate::head::{MemSeries, SeriesSnapshot};
use crate::labels::Matcher;

use super::head::push_snapshot;
use super::{Reader, SourceSink};

/// Data being written out by a head cut, in label order. Series are held
/// by their head handles (labels as one key buffer each), not as
/// `Labels`, to keep a cut of many series small.
#[derive(Debug)]
pub(crate) struct FrozenSet {
    /// Each series with the data taken from it.
    pub(crate) series: Vec<(Arc<MemSeries>, SeriesSnapshot)>,
}

impl FrozenSet {
    /// The series whose labels satisfy every matcher (no index: a frozen
    /// set lives only while its blocks are written).
    fn matching<'a>(
        &'a self,
        matchers: &'a [Matcher],
    ) -> impl Iterator<Item = &'a (Arc<MemSeries>, SeriesSnapshot)> + 'a {
        self.series
            .iter()
            .filter(move |(s, _)| s.matches_all(matchers))
    }
}

impl Reader for FrozenSet {
    /// Always, as for the head it came from.
    fn overlaps(&self, _mint: i64, _maxt: i64) -> bool {
        true
    }

    fn select_into(
        &self,
        matchers: &[Matcher],
        _mint: i64,
        _maxt: i64,
        sink: &mut SourceSink,
    ) -> Result<()> {
        for (s, snap) in self.matching(matchers) {
            push_snapshot(sink, s.key(), snap.clone());
        }
        Ok(())
    }

    fn label_names_into(&self, matchers: &[Matcher], out: &mut Vec<String>) -> Result<()> {
        for (s, _) in self.matching(matchers) {
            out.extend(s.pairs().map(|(n, _)| n.to_owned()));
        }
        Ok(())
    }

    fn label_values_into(
        &self,
        name: &str,
        matchers: &[Matcher],
        out: &mut Vec<String>,
    ) -> Result<()> {
        for (s, _) in self.matching(matchers) {
            out.extend(
                s.pairs()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.to_owned()),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::head::Head;
    use crate::labels::Labels;
    use crate::source::Source;

    /// A frozen set cut from a head holding `{a="1"}` and `{a="2", b="x"}`.
    fn frozen() -> FrozenSet {
        let head = Head::new(1_000_000);
        let wanted = [
            Labels::from_pairs(&[("a", "1")]).unwrap(),
            Labels::from_pairs(&[("a", "2"), ("b", "x")]).unwrap(),
        ];
        let series = head.get_or_create(&wanted, |_| Ok(())).unwrap();
        for (i, s) in series.iter().enumerate() {
            head.append(s, 10, i as f64);
            head.append(s, 20, i as f64);
        }
        let mut taken = head.take_before(100);
        taken.sort_by(|a, b| a.0.cmp_labels(&b.0));
        FrozenSet { series: taken }
    }

    #[test]
    fn selects_only_matching_series_with_their_chunks() {
        let frozen = frozen();
        let mut sink = SourceSink::new();
        frozen
            .select_into(&[Matcher::equal("b", "x")], 0, 100, &mut sink)
            .unwrap();
        assert_eq!(sink.sources.len(), 1);
        let (start, end, source) = &sink.sources[0];
        assert_eq!(
            Labels::from_key(&sink.keys[*start..*end]),
            Labels::from_pairs(&[("a", "2"), ("b", "x")]).unwrap()
        );
        assert!(matches!(source, Source::HeadChunks(c) if c.len() == 1));
    }

    #[test]
    fn lists_label_names_and_values_of_matching_series() {
        let frozen = frozen();
        let mut names = Vec::new();
        frozen.label_names_into(&[], &mut names).unwrap();
        names.sort();
        names.dedup();
        assert_eq!(names, ["a", "b"]);
        let mut values = Vec::new();
        frozen
            .label_values_into("a", &[Matcher::equal("b", "x")], &mut values)
            .unwrap();
        assert_eq!(values, ["2"]);
    }
}
