//! One series in the head: closed Gorilla chunks, the open chunk being
//! appended to, and out-of-order samples.
//!
//! Same-timestamp policy: **the last sample written wins**. A sample whose
//! timestamp is not after the series' newest in-order sample (out of order,
//! or a repeat of the same timestamp) goes to the out-of-order map, where a
//! later write replaces an earlier one; readers let that map override the
//! chunks at equal timestamps.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::chunk::{Encoding, XorAppender, decode_all, encode};
use crate::sample::Sample;

/// Samples per head chunk before a new one is started (Prometheus' figure).
pub(crate) const SAMPLES_PER_CHUNK: usize = 120;

/// An immutable chunk: shared by the head and any reader that snapshotted it.
#[derive(Debug, Clone)]
pub(crate) struct HeadChunk {
    pub(crate) bytes: Arc<[u8]>,
    pub(crate) min_t: i64,
    pub(crate) max_t: i64,
    /// Used by tests (chunk sizes); the bytes' header holds it too.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) num_samples: u32,
}

impl HeadChunk {
    fn from_samples(samples: &[Sample]) -> Option<HeadChunk> {
        let (first, last) = (samples.first()?, samples.last()?);
        Some(HeadChunk {
            bytes: encode(Encoding::Xor, samples).into(),
            min_t: first.t,
            max_t: last.t,
            num_samples: samples.len() as u32,
        })
    }

    fn from_appender(app: &XorAppender) -> Option<HeadChunk> {
        Some(HeadChunk {
            bytes: app.bytes().into(),
            min_t: app.min_t()?,
            max_t: app.max_t()?,
            num_samples: app.num_samples() as u32,
        })
    }

    pub(crate) fn samples(&self) -> Vec<Sample> {
        // Head chunks are built in memory by this module; they always decode.
        decode_all(Encoding::Xor, &self.bytes).unwrap_or_default()
    }
}

/// What readers get: chunks (sorted, non-overlapping) and out-of-order
/// samples (sorted) that override the chunks at equal timestamps.
#[derive(Debug, Clone, Default)]
pub(crate) struct SeriesSnapshot {
    pub(crate) chunks: Vec<HeadChunk>,
    pub(crate) ooo: Vec<Sample>,
}

impl SeriesSnapshot {
    pub(crate) fn is_empty(&self) -> bool {
        self.chunks.is_empty() && self.ooo.is_empty()
    }

    /// Every sample, merged, deduplicated (out-of-order wins), sorted.
    pub(crate) fn merged_samples(&self) -> Vec<Sample> {
        let in_order: Vec<Sample> = self.chunks.iter().flat_map(HeadChunk::samples).collect();
        merge_override(&in_order, &self.ooo)
    }
}

/// Merges two sorted sample lists; at equal timestamps `winner` is kept.
pub(crate) fn merge_override(base: &[Sample], winner: &[Sample]) -> Vec<Sample> {
    let mut out = Vec::with_capacity(base.len() + winner.len());
    let (mut i, mut j) = (0, 0);
    while i < base.len() || j < winner.len() {
        match (base.get(i), winner.get(j)) {
            (Some(a), Some(b)) if a.t < b.t => {
                out.push(*a);
                i += 1;
            }
            (Some(a), Some(b)) if a.t == b.t => {
                out.push(*b);
                i += 1;
                j += 1;
            }
            (Some(_), Some(b)) | (None, Some(b)) => {
                out.push(*b);
                j += 1;
            }
            (Some(a), None) => {
                out.push(*a);
                i += 1;
            }
            (None, None) => break,
        }
    }
    out
}

/// Mutable state of one series, behind the series' mutex.
#[derive(Debug)]
pub(crate) struct SeriesData {
    closed: Vec<HeadChunk>,
    open: Option<XorAppender>,
    /// The open chunk is closed before a sample at or after this time, so
    /// chunks never straddle a block boundary.
    open_end: i64,
    #[expect(
        clippy::box_collection,
        reason = "8 bytes per series instead of 24 in the common case of no out-of-order data"
    )]
    ooo: Option<Box<BTreeMap<i64, f64>>>,
    /// Newest in-order timestamp, `i64::MIN` with no in-order data.
    last_t: i64,
}

impl Default for SeriesData {
    fn default() -> Self {
        SeriesData {
            closed: Vec::new(),
            open: None,
            open_end: i64::MIN,
            ooo: None,
            last_t: i64::MIN,
        }
    }
}

/// Start of the next block-range window after the one holding `t`.
fn window_end(t: i64, range: i64) -> i64 {
    t.div_euclid(range).saturating_add(1).saturating_mul(range)
}

impl SeriesData {
    /// Chunks held: the closed ones and the open one.
    pub(crate) fn num_chunks(&self) -> u64 {
        self.closed.len() as u64 + u64::from(self.open.is_some())
    }

    /// Appends a sample. `range` is the block range in ms (chunks are cut at
    /// its multiples). Returns true when the sample went out of order.
    pub(crate) fn append(&mut self, t: i64, v: f64, range: i64) -> bool {
        if t <= self.last_t {
            self.ooo.get_or_insert_with(Default::default).insert(t, v);
            return true;
        }
        let must_cut = match &self.open {
            Some(app) => app.num_samples() >= SAMPLES_PER_CHUNK || t >= self.open_end,
            None => true,
        };
        if must_cut {
            self.close_open();
            self.open_end = window_end(t, range);
            self.open = Some(XorAppender::new());
        }
        if let Some(app) = self.open.as_mut() {
            app.append(t, v);
        }
        self.last_t = t;
        false
    }

    fn close_open(&mut self) {
        if let Some(chunk) = self.open.take().as_ref().and_then(HeadChunk::from_appender) {
            self.closed.push(chunk);
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.closed.is_empty()
            && self.open.is_none()
            && self.ooo.as_ref().is_none_or(|m| m.is_empty())
    }

    /// Oldest timestamp held, if any.
    pub(crate) fn min_t(&self) -> Option<i64> {
        let chunk_min = self
            .closed
            .first()
            .map(|c| c.min_t)
            .or_else(|| self.open.as_ref().and_then(XorAppender::min_t));
        let ooo_min = self.ooo.as_ref().and_then(|m| m.keys().next().copied());
        match (chunk_min, ooo_min) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Data overlapping `[mint, maxt]`; chunks are shared, not copied
    /// (except the open one, which is still changing).
    pub(crate) fn snapshot(&self, mint: i64, maxt: i64) -> SeriesSnapshot {
        let mut chunks: Vec<HeadChunk> = self
            .closed
            .iter()
            .filter(|c| c.max_t >= mint && c.min_t <= maxt)
            .cloned()
            .collect();
        if let Some(app) = &self.open
            && app.min_t().is_some_and(|m| m <= maxt)
            && app.max_t().is_some_and(|m| m >= mint)
            && let Some(c) = HeadChunk::from_appender(app)
        {
            chunks.push(c);
        }
        let ooo = self
            .ooo
            .as_ref()
            .map(|m| {
                m.range(mint..=maxt)
                    .map(|(&t, &v)| Sample { t, v })
                    .collect()
            })
            .unwrap_or_default();
        SeriesSnapshot { chunks, ooo }
    }

    /// Moves every sample older than `cut` out of the series.
    pub(crate) fn take_before(&mut self, cut: i64) -> SeriesSnapshot {
        let mut out = SeriesSnapshot::default();
        // Closed chunks entirely before the cut move as they are.
        let keep_from = self.closed.partition_point(|c| c.max_t < cut);
        out.chunks = self.closed.drain(..keep_from).collect();
        // A closed chunk straddling the cut is split.
        if let Some(first) = self.closed.first()
            && first.min_t < cut
        {
            let samples = first.samples();
            let split = samples.partition_point(|s| s.t < cut);
            out.chunks
                .extend(HeadChunk::from_samples(&samples[..split]));
            match HeadChunk::from_samples(&samples[split..]) {
                Some(rest) => self.closed[0] = rest,
                None => {
                    self.closed.remove(0);
                }
            }
        }
        // The open chunk: all of it, part of it, or none.
        if let Some(app) = &self.open
            && app.min_t().is_some_and(|m| m < cut)
        {
            let samples = HeadChunk::from_appender(app)
                .map(|c| c.samples())
                .unwrap_or_default();
            let split = samples.partition_point(|s| s.t < cut);
            out.chunks
                .extend(HeadChunk::from_samples(&samples[..split]));
            if split == samples.len() {
                self.open = None;
            } else {
                let mut rest = XorAppender::new();
                for s in &samples[split..] {
                    rest.append(s.t, s.v);
                }
                self.open = Some(rest);
            }
        }
        if self.closed.is_empty() && self.open.is_none() {
            self.last_t = i64::MIN;
        }
        if let Some(m) = self.ooo.as_mut() {
            let keep = m.split_off(&cut);
            out.ooo = std::mem::replace(&mut **m, keep)
                .into_iter()
                .map(|(t, v)| Sample { t, v })
                .collect();
            if m.is_empty() {
                self.ooo = None;
            }
        }
        out
    }

    /// Removes the samples in `[mint, maxt]`. Returns how many were removed.
    pub(crate) fn delete(&mut self, mint: i64, maxt: i64, range: i64) -> usize {
        let mut removed = 0;
        if let Some(m) = self.ooo.as_mut() {
            let doomed: Vec<i64> = m.range(mint..=maxt).map(|(&t, _)| t).collect();
            removed += doomed.len();
            for t in doomed {
                m.remove(&t);
            }
        }
        let touches = |min: i64, max: i64| max >= mint && min <= maxt;
        let closed_hit = self.closed.iter().any(|c| touches(c.min_t, c.max_t));
        let open_hit = self.open.as_ref().is_some_and(|a| {
            a.min_t()
                .zip(a.max_t())
                .is_some_and(|(lo, hi)| touches(lo, hi))
        });
        if !closed_hit && !open_hit {
            return removed;
        }
        // Rebuild the in-order chunks without the deleted range.
        let mut samples: Vec<Sample> = self.closed.iter().flat_map(HeadChunk::samples).collect();
        if let Some(c) = self.open.as_ref().and_then(HeadChunk::from_appender) {
            samples.extend(c.samples());
        }
        let before = samples.len();
        samples.retain(|s| s.t < mint || s.t > maxt);
        removed += before - samples.len();
        self.closed.clear();
        self.open = None;
        self.last_t = i64::MIN;
        for s in samples {
            self.append(s.t, s.v, range);
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const RANGE: i64 = 7_200_000;

    fn oracle_apply(oracle: &mut BTreeMap<i64, u64>, t: i64, v: f64) {
        oracle.insert(t, v.to_bits());
    }

    fn as_pairs(samples: &[Sample]) -> Vec<(i64, u64)> {
        samples.iter().map(|s| (s.t, s.v.to_bits())).collect()
    }

    proptest! {
        /// Any sequence of appends (in order, out of order, repeats) reads
        /// back as a BTreeMap where the last write of each timestamp wins.
        #[test]
        fn reads_match_last_write_wins_oracle(ops in proptest::collection::vec((0i64..20_000_000, any::<u64>()), 1..400),
                                               cut in 0i64..20_000_000) {
            let mut s = SeriesData::default();
            let mut oracle = BTreeMap::new();
            for &(t, bits) in &ops {
                let v = f64::from_bits(bits);
                s.append(t, v, RANGE);
                oracle_apply(&mut oracle, t, v);
            }
            let all = s.snapshot(i64::MIN, i64::MAX).merged_samples();
            let want: Vec<(i64, u64)> = oracle.iter().map(|(&t, &b)| (t, b)).collect();
            prop_assert_eq!(as_pairs(&all), want.clone());

            // Chunks never straddle a block window.
            for c in s.snapshot(i64::MIN, i64::MAX).chunks {
                prop_assert_eq!(c.min_t.div_euclid(RANGE), c.max_t.div_euclid(RANGE));
            }

            // Taking everything before `cut` splits the data exactly.
            let taken = s.take_before(cut).merged_samples();
            let rest = s.snapshot(i64::MIN, i64::MAX).merged_samples();
            prop_assert!(taken.iter().all(|x| x.t < cut));
            prop_assert!(rest.iter().all(|x| x.t >= cut));
            let mut joined = as_pairs(&taken);
            joined.extend(as_pairs(&rest));
            prop_assert_eq!(joined, want);
        }

        #[test]
        fn delete_removes_exactly_the_range(ts in proptest::collection::btree_set(0i64..100_000, 1..300),
                                            lo in 0i64..100_000, len in 0i64..50_000) {
            let mut s = SeriesData::default();
            for &t in &ts { s.append(t, t as f64, RANGE); }
            let removed = s.delete(lo, lo + len, RANGE);
            let left: Vec<i64> = s.snapshot(i64::MIN, i64::MAX).merged_samples().iter().map(|x| x.t).collect();
            let want: Vec<i64> = ts.iter().copied().filter(|&t| t < lo || t > lo + len).collect();
            prop_assert_eq!(removed, ts.len() - want.len());
            prop_assert_eq!(left, want);
        }
    }

    #[test]
    fn same_timestamp_last_write_wins() {
        let mut s = SeriesData::default();
        s.append(1000, 1.0, RANGE);
        s.append(1000, 2.0, RANGE);
        s.append(2000, 3.0, RANGE);
        s.append(1000, 4.0, RANGE);
        let got = s.snapshot(0, 5000).merged_samples();
        assert_eq!(got, vec![Sample::new(1000, 4.0), Sample::new(2000, 3.0)]);
    }

    #[test]
    fn chunks_are_cut_at_120_samples() {
        let mut s = SeriesData::default();
        for i in 0..250 {
            s.append(i * 1000, i as f64, RANGE);
        }
        let snap = s.snapshot(i64::MIN, i64::MAX);
        let sizes: Vec<u32> = snap.chunks.iter().map(|c| c.num_samples).collect();
        assert_eq!(sizes, [120, 120, 10]);
    }
}
