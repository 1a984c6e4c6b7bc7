//! Head cuts: moving everything older than a time out of the head into
//! the frozen set (still visible to queries), writing it as blocks, and
//! checkpointing the WAL; on failure the frozen data goes back to the head.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::Inner;
use crate::block::{Block, BlockWriter, chunks_of, to_write};
use crate::error::{Error, Result};
use crate::head::Head;
use crate::reader::FrozenSet;
use crate::series_ref::SeriesRef;
use crate::wal::{Record, Wal};

/// The frozen set of a head cut in progress, shared with queries.
pub(super) type Frozen = Arc<FrozenSet>;

impl Inner {
    /// Moves everything older than `cut` from the head into blocks.
    /// Caller holds the maintenance lock.
    pub(super) fn cut_head(&self, cut: i64) -> Result<()> {
        let aliases;
        let (segment, frozen) = {
            let _view = self.view.write();
            let _gate = self.gate.write();
            let segment = self.with_wal(Wal::cut_segment)?;
            // Kept for `restore_frozen`: taking series out of the head drops
            // the aliases of their refs.
            aliases = self.head.aliases();
            let mut taken = self.head.take_before(cut);
            taken.sort_by(|a, b| a.0.cmp_labels(&b.0));
            let frozen = Arc::new(FrozenSet { series: taken });
            *self.frozen.write() = Some(frozen.clone());
            (segment, frozen)
        };
        match self.write_frozen(&frozen) {
            Ok(new_blocks) => {
                let _view = self.view.write();
                let mut blocks = self.blocks.write();
                blocks.extend(new_blocks);
                blocks.sort_by_key(|b| b.meta().id);
                *self.frozen.write() = None;
            }
            Err(e) => {
                let _view = self.view.write();
                self.restore_frozen(&frozen, &aliases);
                *self.frozen.write() = None;
                return Err(e);
            }
        }
        let head = &self.head;
        self.with_wal(|w| {
            w.checkpoint(segment, |record| keep_after_cut(head, record, cut))
                .map(|_| ())
        })?;
        self.stats.head_cuts.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Puts data back into the head after a failed block write. The WAL
    /// still has it (no checkpoint was taken), in records that name the
    /// series' old refs (and the aliases of those refs): each series comes
    /// back under its old ref, or, when a series with its labels was
    /// created since, that ref becomes an alias of the new one. So the old
    /// records stay live, and the next checkpoint (which keeps only
    /// records of refs the head knows) keeps them. Nothing is written: a
    /// failed cut is often a full disk.
    fn restore_frozen(&self, frozen: &Frozen, aliases: &[(SeriesRef, SeriesRef)]) {
        let _gate = self.gate.read();
        let mut now_under: BTreeMap<SeriesRef, SeriesRef> = BTreeMap::new();
        for (old, snap) in frozen.series.iter() {
            let s = self.head.create_with_ref(old.series_ref, &old.labels());
            now_under.insert(old.series_ref, s.series_ref);
            for sample in snap.merged_samples() {
                self.head.append(&s, sample.t, sample.v);
            }
        }
        for &(alias, canonical) in aliases {
            if let Some(&current) = now_under.get(&canonical) {
                self.head.add_alias(alias, current);
            }
        }
    }
    /// Writes frozen head data as one block per block-range window,
    /// streaming: each series' chunks are re-encoded and handed to its
    /// blocks' chunk writers (which write 64 KiB frames as they fill)
    /// before the next series is read, so the head cut holds one series'
    /// re-encoded chunks at a time, not the whole block's.
    fn write_frozen(&self, frozen: &Frozen) -> Result<Vec<Arc<Block>>> {
        let range = self.opts.block_range_ms;
        // The windows the data falls in, from chunk bounds and
        // out-of-order sample times (nothing decoded), so that block ids
        // follow time order as they did. A window only spanned by a chunk
        // may end up without data; its writer is then dropped.
        let mut windows = std::collections::BTreeSet::new();
        for (_, snap) in frozen.series.iter() {
            for c in &snap.chunks {
                windows.extend(c.min_t.div_euclid(range)..=c.max_t.div_euclid(range));
            }
            windows.extend(snap.ooo.iter().map(|s| s.t.div_euclid(range)));
        }
        let mut writers = BTreeMap::new();
        for w in windows {
            let id = self.next_block_id();
            writers.insert(w, (id, BlockWriter::create(&self.blocks_dir(), id)?));
        }
        for (s, snap) in frozen.series.iter() {
            // Head chunks are Gorilla, cut at 120 samples: re-encode them for
            // the block (cold encodings, larger chunks).
            let samples = snap.merged_samples();
            for group in samples.chunk_by(|a, b| a.t.div_euclid(range) == b.t.div_euclid(range)) {
                let Some(first) = group.first() else {
                    continue;
                };
                let w = first.t.div_euclid(range);
                let Some((_, writer)) = writers.get_mut(&w) else {
                    return Err(Error::InvalidOption {
                        name: "head cut",
                        reason: format!("sample at {} outside the windows of its chunks", first.t),
                    });
                };
                writer.add_series_key(s.key(), &to_write(&chunks_of(group)))?;
            }
        }
        let mut out = Vec::new();
        for (_, (id, writer)) in writers {
            if writer.is_empty() {
                writer.abandon()?;
                continue;
            }
            writer.finish(1, Vec::new())?;
            out.push(Arc::new(Block::open(
                &self.blocks_dir().join(id.to_string()),
            )?));
        }
        Ok(out)
    }
}

/// WAL checkpoint filter after a head cut at `cut`.
fn keep_after_cut(head: &Head, record: Record, cut: i64) -> Option<Record> {
    let alive = |r: SeriesRef| head.get_by_ref(r).is_some();
    let kept = match record {
        Record::Series(list) => Record::Series(
            list.into_iter()
                .filter(|s| alive(s.series_ref))
                .collect::<Vec<_>>(),
        ),
        Record::Samples(list) => Record::Samples(
            list.into_iter()
                .filter(|s| s.t >= cut && alive(s.series_ref))
                .collect::<Vec<_>>(),
        ),
        Record::Deletes(list) => Record::Deletes(
            list.into_iter()
                .filter(|d| d.maxt >= cut && alive(d.series_ref))
                .collect::<Vec<_>>(),
        ),
    };
    let empty = match &kept {
        Record::Series(l) => l.is_empty(),
        Record::Samples(l) => l.is_empty(),
        Record::Deletes(l) => l.is_empty(),
    };
    (!empty).then_some(kept)
}
