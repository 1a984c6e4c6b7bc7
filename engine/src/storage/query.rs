//! Reading: [`StorageQuerier`], which merges the head, the frozen set and
//! the blocks into one view for the [`Querier`] trait.

use std::sync::Arc;

use super::Inner;
use crate::error::Result;
use crate::labels::{Labels, Matcher, cmp_keys};
use crate::querier::{LabelSetVisitor, Querier, Series};
use crate::reader::{BlockReader, Reader, SourceSink};
use crate::source::Source;

/// Reads the storage. Each call sees the data as it is at that moment
/// (head, data being flushed, blocks), consistently: data moving between
/// them never goes missing from a result.
#[derive(Debug, Clone)]
pub struct StorageQuerier {
    inner: Arc<Inner>,
}

impl StorageQuerier {
    /// A querier over `inner`.
    pub(super) fn new(inner: Arc<Inner>) -> StorageQuerier {
        StorageQuerier { inner }
    }

    /// Calls `f` with every reader that may hold data in `[mint, maxt]`,
    /// newest first (the newest source wins at equal timestamps): the
    /// head, the frozen set of a head cut in progress, then the blocks,
    /// newest first. The view lock is held meanwhile, so no data moves
    /// between readers during the call. The one place readers are listed.
    fn for_each_reader(
        &self,
        mint: i64,
        maxt: i64,
        mut f: impl FnMut(&dyn Reader) -> Result<()>,
    ) -> Result<()> {
        let _view = self.inner.view.read();
        let frozen = self.inner.frozen.read().clone();
        let tombstones = self.inner.tombstones.read().clone();
        let blocks = self.inner.blocks.read().clone();
        let mut visit = |r: &dyn Reader| {
            if r.overlaps(mint, maxt) { f(r) } else { Ok(()) }
        };
        visit(&self.inner.head)?;
        if let Some(frozen) = &frozen {
            visit(&**frozen)?;
        }
        for block in blocks.iter().rev() {
            visit(&BlockReader {
                block,
                tombstones: &tombstones,
            })?;
        }
        Ok(())
    }

    /// Every source of the series matching `matchers` with data in
    /// `[mint, maxt]`, sorted by series, newest source first within one.
    fn find(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Found> {
        let mut sink = SourceSink::new();
        self.for_each_reader(mint, maxt, |r| {
            r.select_into(matchers, mint, maxt, &mut sink)
        })?;
        let SourceSink {
            keys, mut sources, ..
        } = sink;
        // Stable: a series' sources stay newest first. Each source's list is
        // mostly sorted already (blocks list series in label order), and
        // the sort merges such runs in linear time.
        sources.sort_by(|a, b| cmp_keys(&keys[a.0..a.1], &keys[b.0..b.1]));
        Ok(Found {
            keys,
            sources,
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
            let has_deletions = list.iter().any(Source::has_deletions);
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
        let mut names = Vec::new();
        self.for_each_reader(mint, maxt, |r| r.label_names_into(matchers, &mut names))?;
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
        let mut values = Vec::new();
        self.for_each_reader(mint, maxt, |r| {
            r.label_values_into(name, matchers, &mut values)
        })?;
        values.sort();
        values.dedup();
        Ok(values)
    }
}
