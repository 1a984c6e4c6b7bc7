//! The head as a [`Reader`]: postings from its in-memory index, each
//! series' snapshot (out-of-order samples, then chunks) as its sources.

use crate::error::Result;
use crate::head::{Head, SeriesSnapshot};
use crate::labels::Matcher;
use crate::source::Source;

use super::{Reader, SourceSink};

impl Reader for Head {
    /// Always: the head's time range only grows while a query runs.
    fn overlaps(&self, _mint: i64, _maxt: i64) -> bool {
        true
    }

    fn select_into(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        sink: &mut SourceSink,
    ) -> Result<()> {
        for s in self.select(matchers)? {
            let snap = self.snapshot(&s, mint, maxt);
            push_snapshot(sink, s.key(), snap);
        }
        Ok(())
    }

    fn label_names_into(&self, matchers: &[Matcher], out: &mut Vec<String>) -> Result<()> {
        out.extend(self.label_names(matchers)?);
        Ok(())
    }

    fn label_values_into(
        &self,
        name: &str,
        matchers: &[Matcher],
        out: &mut Vec<String>,
    ) -> Result<()> {
        out.extend(self.label_values(name, matchers)?);
        Ok(())
    }
}

/// Adds a head series' sources (out-of-order samples, then chunks) with
/// its key, stored once for both; an empty snapshot adds nothing. Shared
/// with the frozen set, which holds head snapshots too.
pub(super) fn push_snapshot(sink: &mut SourceSink, key: &[u8], snap: SeriesSnapshot) {
    if snap.is_empty() {
        return;
    }
    let (start, end) = sink.push_key(key);
    if !snap.ooo.is_empty() {
        sink.sources
            .push((start, end, Source::Samples(snap.ooo.into())));
    }
    if !snap.chunks.is_empty() {
        sink.sources
            .push((start, end, Source::HeadChunks(snap.chunks)));
    }
}
