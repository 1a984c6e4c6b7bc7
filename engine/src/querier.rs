//! Reading: the [`Querier`] trait the PromQL evaluator talks to, the
//! [`Series`] it returns, and the merge of head, blocks and out-of-order data.
//!
//! A series' data can come from several sources at once: the head (in-order
//! chunks and out-of-order samples), data being flushed, and any number of
//! blocks. Sources are ranked newest first; where two hold a sample at the
//! same timestamp, the newest source wins, matching the head's
//! "last write wins" rule.

use crate::error::Result;
use crate::labels::{Labels, Matcher};
use crate::sample::Sample;
use crate::source::{Source, SourceIter};

/// What [`Querier::for_each_label_set`] calls with each series' label
/// pairs, in name order.
pub type LabelSetVisitor<'f> = dyn for<'a> FnMut(&mut dyn Iterator<Item = (&'a str, &'a str)>) + 'f;

/// Read access to stored series; implemented by the storage's querier, and
/// by anything else (an in-memory test fixture) the evaluator should run on.
pub trait Querier {
    /// Series matching every matcher with samples in `[mint, maxt]`
    /// (inclusive, ms), sorted by labels.
    ///
    /// # Errors
    /// A corrupt index or an I/O failure.
    fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<Series>>;

    /// Sorted label names of series matching `matchers` (all series when
    /// empty) in blocks or head data overlapping `[mint, maxt]`.
    ///
    /// # Errors
    /// As [`Querier::select`].
    fn label_names(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<String>>;

    /// Calls `f` with the label pairs (in name order) of each series
    /// [`Querier::select`] returns, in the same order: for listing series
    /// (`/api/v1/series`) without building their [`Labels`] or readers.
    ///
    /// # Errors
    /// As [`Querier::select`].
    fn for_each_label_set(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        f: &mut LabelSetVisitor<'_>,
    ) -> Result<()> {
        for s in self.select(matchers, mint, maxt)? {
            f(&mut s
                .labels()
                .iter()
                .map(|l| (l.name.as_str(), l.value.as_str())));
        }
        Ok(())
    }

    /// Sorted values of label `name` among series matching `matchers`, in
    /// data overlapping `[mint, maxt]`.
    ///
    /// # Errors
    /// As [`Querier::select`].
    fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<String>>;
}

/// One selected series: its labels and a way to read its samples.
#[derive(Debug, Clone)]
pub struct Series {
    labels: Labels,
    /// Newest (highest priority) first.
    sources: Vec<Source>,
    mint: i64,
    maxt: i64,
}

impl Series {
    pub(crate) fn new(labels: Labels, sources: Vec<Source>, mint: i64, maxt: i64) -> Series {
        Series {
            labels,
            sources,
            mint,
            maxt,
        }
    }

    /// A series backed by a list of samples (sorted by time, unique
    /// timestamps) — for in-memory queriers and tests.
    pub fn from_samples(labels: Labels, samples: Vec<Sample>) -> Series {
        Series {
            labels,
            sources: vec![Source::Samples(samples.into())],
            mint: i64::MIN,
            maxt: i64::MAX,
        }
    }

    /// The series' labels.
    pub fn labels(&self) -> &Labels {
        &self.labels
    }

    /// The series' labels, taken out of it.
    pub fn into_labels(self) -> Labels {
        self.labels
    }

    /// An iterator over the samples in the selected time range, oldest first.
    pub fn iter(&self) -> SeriesIter<'_> {
        SeriesIter {
            sources: self
                .sources
                .iter()
                .map(|s| SourceIter::new(s, self.mint, self.maxt))
                .collect(),
            heads: Vec::new(),
            maxt: self.maxt,
            done: false,
        }
    }

    /// All samples in the selected time range.
    ///
    /// # Errors
    /// [`Error::Corruption`](crate::Error::Corruption) when a chunk fails its checksum or does not decode.
    pub fn samples(&self) -> Result<Vec<Sample>> {
        // Sources that do not overlap in time (a series spread over
        // consecutive blocks, the usual case) are read one after the other;
        // only overlapping ones need the merge.
        let mut spans: Vec<(i64, i64, usize)> = Vec::with_capacity(self.sources.len());
        for (i, src) in self.sources.iter().enumerate() {
            match src.time_range() {
                Some((lo, hi)) => spans.push((lo, hi, i)),
                None => continue,
            }
        }
        spans.sort_unstable();
        if spans.windows(2).any(|w| w[0].1 >= w[1].0) {
            return self.iter().collect();
        }
        let mut out = Vec::new();
        for &(_, _, i) in &spans {
            let Some(src) = self.sources.get(i) else {
                continue;
            };
            SourceIter::new(src, self.mint, self.maxt).drain_into(&mut out, self.maxt)?;
        }
        Ok(out)
    }
}

/// Iterator over one series' samples merged from all its sources, oldest
/// first; at equal timestamps the newest source's sample is returned.
/// After an error it returns `None`.
#[derive(Debug)]
pub struct SeriesIter<'a> {
    sources: Vec<SourceIter<'a>>,
    /// Next sample of each source; empty until the first call.
    heads: Vec<Option<Sample>>,
    maxt: i64,
    done: bool,
}

impl SeriesIter<'_> {
    /// Skips to the first sample at or after `t` and returns it.
    pub fn seek(&mut self, t: i64) -> Option<Result<Sample>> {
        loop {
            match self.next()? {
                Ok(s) if s.t < t => continue,
                other => return Some(other),
            }
        }
    }

    fn pull(&mut self, i: usize) -> Result<()> {
        let next = match self.sources.get_mut(i) {
            Some(src) => src.next().transpose()?,
            None => None,
        };
        if let Some(h) = self.heads.get_mut(i) {
            *h = next.filter(|s| s.t <= self.maxt);
        }
        Ok(())
    }
}

impl Iterator for SeriesIter<'_> {
    type Item = Result<Sample>;

    fn next(&mut self) -> Option<Result<Sample>> {
        if self.done {
            return None;
        }
        if self.heads.len() != self.sources.len() {
            self.heads = vec![None; self.sources.len()];
            for i in 0..self.sources.len() {
                if let Err(e) = self.pull(i) {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        // Lowest timestamp; the first (newest) source holding it wins.
        let mut best: Option<Sample> = None;
        for s in self.heads.iter().flatten() {
            if best.is_none_or(|b| s.t < b.t) {
                best = Some(*s);
            }
        }
        let Some(best) = best else {
            self.done = true;
            return None;
        };
        for i in 0..self.heads.len() {
            if self.heads[i].is_some_and(|s| s.t == best.t)
                && let Err(e) = self.pull(i)
            {
                self.done = true;
                return Some(Err(e));
            }
        }
        Some(Ok(best))
    }
}
