//! Reading: [`StorageQuerier`], which merges the head, the frozen set and
//! the blocks into one view for the [`Querier`] trait.

use std::sync::Arc;

use super::Inner;
use crate::block::Block;
use crate::error::Result;
use crate::head::SeriesSnapshot;
use crate::index::postings_for_matchers;
use crate::labels::{Labels, Matcher, cmp_keys};
use crate::querier::{LabelSetVisitor, Querier, Series, Source};

/// Reads the storage. Each call sees the data as it is at that moment
/// (head, data being flushed, blocks), consistently: data moving between
/// them never goes missing from a result.
#[derive(Debug, Clone)]
pub struct StorageQuerier {
    inner: Arc<Inner>,
}

/// Blocks overlapping `[mint, maxt]`, newest first (the newest source wins
/// at equal timestamps).
fn overlapping_blocks(
    blocks: &[Arc<Block>],
    mint: i64,
    maxt: i64,
) -> impl Iterator<Item = &Arc<Block>> {
    blocks
        .iter()
        .rev()
        .filter(move |b| b.meta().max_t >= mint && b.meta().min_t <= maxt)
}

impl StorageQuerier {
    /// A querier over `inner`.
    pub(super) fn new(inner: Arc<Inner>) -> StorageQuerier {
        StorageQuerier { inner }
    }

    /// Every source of the series matching `matchers` with data in
    /// `[mint, maxt]`, sorted by series, newest source first within one.
    fn find(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Found> {
        let _view = self.inner.view.read();
        // Every source found, newest first, as (start, end) of its series'
        // key in `keys` and the source; sorted by key below. Keys rather
        // than `Labels` so that a series in several blocks (or in the head
        // and a block) has its labels built once, not once per source.
        let mut keys: Vec<u8> = Vec::new();
        let mut found: Vec<(usize, usize, Source)> = Vec::new();
        for s in self.inner.head.select(matchers)? {
            let snap = self.inner.head.snapshot(&s, mint, maxt);
            push_snapshot(&mut keys, &mut found, s.key(), snap);
        }
        let frozen = self.inner.frozen.read().clone();
        let tombstones = self.inner.tombstones.read().clone();
        let blocks = self.inner.blocks.read().clone();
        if let Some(frozen) = &frozen {
            for (s, snap) in frozen.iter() {
                if s.matches_all(matchers) {
                    push_snapshot(&mut keys, &mut found, s.key(), snap.clone());
                }
            }
        }
        let no_deletions: Arc<[(i64, i64)]> = Arc::from(Vec::new());
        let mut chunks = Vec::new();
        for b in overlapping_blocks(&blocks, mint, maxt) {
            let has_deletions = tombstones.has_block(b.meta().id);
            let ids = postings_for_matchers(&**b, matchers)?;
            // Room for this block's keys at once, at the mean key length so
            // far: a large selection grows its buffers once, not by doubling.
            let mean_key = keys.len().checked_div(found.len()).unwrap_or(128);
            keys.reserve(ids.len() * (mean_key + 8));
            found.reserve(ids.len());
            for id in ids {
                let start = keys.len();
                b.series_key_into(id, &mut keys, &mut chunks)?;
                chunks.retain(|c| c.max_t >= mint && c.min_t <= maxt);
                if chunks.is_empty() {
                    keys.truncate(start);
                    continue;
                }
                let deleted = if has_deletions {
                    let labels = Labels::from_key(&keys[start..]);
                    tombstones.intervals(b.meta().id, &labels).into()
                } else {
                    no_deletions.clone()
                };
                let source = Source::Block {
                    block: b.clone(),
                    chunks: std::mem::take(&mut chunks),
                    deleted,
                };
                found.push((start, keys.len(), source));
            }
        }
        // Stable: a series' sources stay newest first. Each source's list is
        // mostly sorted already (blocks list series in label order), and
        // the sort merges such runs in linear time.
        found.sort_by(|a, b| cmp_keys(&keys[a.0..a.1], &keys[b.0..b.1]));
        Ok(Found {
            keys,
            sources: found,
            mint,
            maxt,
        })
    }
}

/// The sources a selection found (see [`StorageQuerier::find`]): series
/// keys in one buffer, and each source with the range of its key there.
struct Found {
    keys: Vec<u8>,
    sources: Vec<(usize, usize, Source)>,
    mint: i64,
    maxt: i64,
}

impl Found {
    /// Calls `f` with each series' key and its sources, in order. A series
    /// whose samples in range are all deleted is left out, as in
    /// Prometheus.
    fn for_each(self, mut f: impl FnMut(&[u8], Vec<Source>)) {
        let Found {
            keys,
            sources,
            mint,
            maxt,
        } = self;
        let key = |start: usize, end: usize| &keys[start..end];
        let mut sources = sources.into_iter().peekable();
        while let Some((start, end, first)) = sources.next() {
            let this = key(start, end);
            let mut list = vec![first];
            while let Some((_, _, next)) = sources.next_if(|&(s, e, _)| key(s, e) == this) {
                list.push(next);
            }
            // Only series with pending deletions need this look (reading
            // samples needs no labels).
            let has_deletions = list
                .iter()
                .any(|s| matches!(s, Source::Block { deleted, .. } if !deleted.is_empty()));
            if has_deletions
                && Series::new(Labels::default(), list.clone(), mint, maxt)
                    .iter()
                    .next()
                    .is_none()
            {
                continue;
            }
            f(this, list);
        }
    }
}

impl Querier for StorageQuerier {
    fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<Series>> {
        let mut out = Vec::new();
        self.find(matchers, mint, maxt)?.for_each(|key, sources| {
            out.push(Series::new(Labels::from_key(key), sources, mint, maxt));
        });
        Ok(out)
    }

    fn for_each_label_set(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        f: &mut LabelSetVisitor<'_>,
    ) -> Result<()> {
        self.find(matchers, mint, maxt)?
            .for_each(|key, _| f(&mut crate::labels::key_pairs(key)));
        Ok(())
    }

    fn label_names(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<String>> {
        let mut names = self.inner.head.label_names(matchers)?;
        let blocks = self.inner.blocks.read().clone();
        for b in overlapping_blocks(&blocks, mint, maxt) {
            if matchers.is_empty() {
                names.extend(b.label_names()?);
            } else {
                for id in postings_for_matchers(&**b, matchers)? {
                    names.extend(b.series(id)?.0.iter().map(|l| l.name.clone()));
                }
            }
        }
        names.sort();
        names.dedup();
        Ok(names)
    }

    fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<String>> {
        let mut values = self.inner.head.label_values(name, matchers)?;
        let blocks = self.inner.blocks.read().clone();
        for b in overlapping_blocks(&blocks, mint, maxt) {
            if matchers.is_empty() {
                values.extend(crate::index::PostingsSource::label_values(&**b, name)?);
            } else {
                for id in postings_for_matchers(&**b, matchers)? {
                    values.extend(b.series(id)?.0.get(name).map(str::to_owned));
                }
            }
        }
        values.sort();
        values.dedup();
        Ok(values)
    }
}

/// Adds a head series' sources (out-of-order samples, then chunks) with
/// its key, stored once for both.
fn push_snapshot(
    keys: &mut Vec<u8>,
    found: &mut Vec<(usize, usize, Source)>,
    key: &[u8],
    snap: SeriesSnapshot,
) {
    if snap.is_empty() {
        return;
    }
    let start = keys.len();
    keys.extend_from_slice(key);
    let end = keys.len();
    if !snap.ooo.is_empty() {
        found.push((start, end, Source::Samples(snap.ooo.into())));
    }
    if !snap.chunks.is_empty() {
        found.push((start, end, Source::HeadChunks(snap.chunks)));
    }
}
