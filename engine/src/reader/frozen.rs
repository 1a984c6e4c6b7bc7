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
