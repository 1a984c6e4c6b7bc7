//! A block as a [`Reader`]: postings and series from its index file,
//! chunk references as its sources, minus the deletions pending on it.

use std::sync::Arc;

use crate::block::Block;
use crate::error::Result;
use crate::index::{PostingsSource, postings_for_matchers};
use crate::labels::{Labels, Matcher};
use crate::source::Source;
use crate::tombstones::Tombstones;

use super::{Reader, SourceSink};

/// One block, read with the tombstones that apply to it.
#[derive(Debug)]
pub(crate) struct BlockReader<'a> {
    /// The block.
    pub(crate) block: &'a Arc<Block>,
    /// Pending deletions of every block (only this block's are used).
    pub(crate) tombstones: &'a Tombstones,
}

impl Reader for BlockReader<'_> {
    fn overlaps(&self, mint: i64, maxt: i64) -> bool {
        let m = self.block.meta();
        m.max_t >= mint && m.min_t <= maxt
    }

    fn select_into(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        sink: &mut SourceSink,
    ) -> Result<()> {
        let b = self.block;
        let id = b.meta().id;
        let has_deletions = self.tombstones.has_block(id);
        let ids = postings_for_matchers(&**b, matchers)?;
        // Room for this block's keys at once, at the mean key length so
        // far: a large selection grows its buffers once, not by doubling.
        let mean_key = sink
            .keys
            .len()
            .checked_div(sink.sources.len())
            .unwrap_or(128);
        sink.keys.reserve(ids.len() * (mean_key + 8));
        sink.sources.reserve(ids.len());
        let mut chunks = Vec::new();
        for sid in ids {
            let start = sink.keys.len();
            b.series_key_into(sid, &mut sink.keys, &mut chunks)?;
            chunks.retain(|c| c.max_t >= mint && c.min_t <= maxt);
            if chunks.is_empty() {
                sink.keys.truncate(start);
                continue;
            }
            let deleted = if has_deletions {
                let labels = Labels::from_key(&sink.keys[start..]);
                self.tombstones.intervals(id, &labels).into()
            } else {
                sink.no_deletions.clone()
            };
            let source = Source::Block {
                block: b.clone(),
                chunks: std::mem::take(&mut chunks),
                deleted,
            };
            sink.sources.push((start, sink.keys.len(), source));
        }
        Ok(())
    }

    fn label_names_into(&self, matchers: &[Matcher], out: &mut Vec<String>) -> Result<()> {
        let b = self.block;
        if matchers.is_empty() {
            out.extend(b.label_names()?);
        } else {
            for id in postings_for_matchers(&**b, matchers)? {
                out.extend(b.series(id)?.0.iter().map(|l| l.name.clone()));
            }
        }
        Ok(())
    }

    fn label_values_into(
        &self,
        name: &str,
        matchers: &[Matcher],
        out: &mut Vec<String>,
    ) -> Result<()> {
        let b = self.block;
        if matchers.is_empty() {
            out.extend(PostingsSource::label_values(&**b, name)?);
        } else {
            for id in postings_for_matchers(&**b, matchers)? {
                out.extend(b.series(id)?.0.get(name).map(str::to_owned));
            }
        }
        Ok(())
    }
}
