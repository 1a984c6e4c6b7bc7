//! Compaction: `plan` decides (pure), `merge_blocks` does.
//!
//! Order of priority: blocks whose time ranges overlap (backfill, or a head
//! cut of late data) are merged first; then blocks with pending deletions are
//! rewritten; then adjacent blocks that together fill a window of the next
//! compaction range (block range x3, x9, ... up to 10% of retention) are
//! merged, once that window lies wholly in the past.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use crate::block::{Block, BlockId, BlockMeta, BlockWriter};
use crate::block::{chunks_of, to_write};
use crate::error::Result;
use crate::labels::Labels;
use crate::querier::Series;
use crate::source::Source;
use crate::tombstones::Tombstones;

/// The blocks to compact next, if any.
///
/// `ranges` are the compaction ranges, smallest (the block range) first;
/// `with_tombstones` the blocks with pending deletions; `head_min` the
/// oldest time still in the head.
pub(crate) fn plan(
    metas: &[BlockMeta],
    ranges: &[i64],
    with_tombstones: &[BlockId],
    head_min: Option<i64>,
) -> Option<Vec<BlockId>> {
    let mut sorted: Vec<&BlockMeta> = metas.iter().collect();
    sorted.sort_by_key(|m| (m.min_t, m.id));
    // 1. Overlapping blocks.
    let mut group: Vec<BlockId> = Vec::new();
    let mut group_max = i64::MIN;
    for m in &sorted {
        if !group.is_empty() && m.min_t <= group_max {
            group.push(m.id);
            group_max = group_max.max(m.max_t);
            continue;
        }
        if group.len() >= 2 {
            return Some(group);
        }
        group = vec![m.id];
        group_max = m.max_t;
    }
    if group.len() >= 2 {
        return Some(group);
    }
    // 2. Pending deletions.
    if let Some(&id) = with_tombstones
        .iter()
        .find(|id| metas.iter().any(|m| m.id == **id))
    {
        return Some(vec![id]);
    }
    // 3. Windows of the larger ranges that are complete.
    let horizon = sorted
        .iter()
        .map(|m| m.max_t.saturating_add(1))
        .max()
        .unwrap_or(i64::MIN)
        .max(head_min.unwrap_or(i64::MIN));
    for &range in ranges.iter().skip(1) {
        let mut windows: BTreeMap<i64, Vec<&BlockMeta>> = BTreeMap::new();
        for m in &sorted {
            let w = m.min_t.div_euclid(range);
            if m.max_t.div_euclid(range) == w {
                windows.entry(w).or_default().push(m);
            }
        }
        for (w, members) in windows {
            let end = w.saturating_add(1).saturating_mul(range);
            if members.len() >= 2 && end <= horizon {
                return Some(members.iter().map(|m| m.id).collect());
            }
        }
    }
    None
}

/// Blocks that a newer block covers: their data is in it (a compaction
/// was interrupted after writing its child and before removing its
/// parents). A block covers another when its id is larger and its
/// `sources` hold every source block of the other (the other's own id for
/// a block straight from the head).
pub(crate) fn covered_parents(metas: &[BlockMeta]) -> Vec<BlockId> {
    let leaves = |m: &BlockMeta| -> Vec<BlockId> {
        if m.sources.is_empty() {
            vec![m.id]
        } else {
            m.sources.clone()
        }
    };
    metas
        .iter()
        .filter(|p| {
            let own = leaves(p);
            metas.iter().any(|c| {
                c.id > p.id && !c.sources.is_empty() && own.iter().all(|l| c.sources.contains(l))
            })
        })
        .map(|m| m.id)
        .collect()
}

/// Merges `inputs` into a new block `id` in `blocks_dir`, dropping samples
/// covered by `tombstones`. At equal timestamps the newest block wins.
/// Returns `None` when nothing is left (all data deleted).
pub(crate) fn merge_blocks(
    blocks_dir: &Path,
    id: BlockId,
    inputs: &[Arc<Block>],
    tombstones: &Tombstones,
) -> Result<Option<BlockMeta>> {
    let mut newest_first: Vec<&Arc<Block>> = inputs.iter().collect();
    newest_first.sort_by_key(|b| std::cmp::Reverse(b.meta().id));
    let mut series: BTreeMap<Labels, Vec<Source>> = BTreeMap::new();
    for b in &newest_first {
        for sid in crate::index::PostingsSource::all_postings(&***b)? {
            let (labels, chunks) = b.series(sid)?;
            let deleted = tombstones.intervals(b.meta().id, &labels);
            series.entry(labels).or_default().push(Source::Block {
                block: (*b).clone(),
                chunks,
                deleted: deleted.into(),
            });
        }
    }
    let mut writer = BlockWriter::create(blocks_dir, id)?;
    let mut written = 0usize;
    for (labels, sources) in series {
        let samples = Series::new(labels.clone(), sources, i64::MIN, i64::MAX).samples()?;
        if samples.is_empty() {
            continue;
        }
        writer.add_series(&labels, &to_write(&chunks_of(&samples)))?;
        written += 1;
    }
    if written == 0 {
        drop(writer);
        let tmp = blocks_dir.join(format!("{id}.tmp-for-creation"));
        let _ = std::fs::remove_dir_all(tmp);
        return Ok(None);
    }
    let level = inputs.iter().map(|b| b.meta().level).max().unwrap_or(0) + 1;
    let mut sources: Vec<BlockId> = inputs
        .iter()
        .flat_map(|b| {
            let m = b.meta();
            if m.sources.is_empty() {
                vec![m.id]
            } else {
                m.sources.clone()
            }
        })
        .collect();
    sources.sort();
    sources.dedup();
    writer.finish(level, sources).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::BlockStats;

    const H: i64 = 3_600_000;

    fn meta(id: u64, min_t: i64, max_t: i64) -> BlockMeta {
        BlockMeta {
            id: BlockId(id),
            min_t,
            max_t,
            stats: BlockStats {
                num_series: 1,
                num_chunks: 1,
                num_samples: 1,
            },
            level: 1,
            sources: vec![],
        }
    }

    fn ids(v: &[u64]) -> Option<Vec<BlockId>> {
        Some(v.iter().map(|&i| BlockId(i)).collect())
    }

    #[test]
    fn overlapping_blocks_merge_first() {
        let metas = [
            meta(1, 0, 2 * H - 1),
            meta(2, 2 * H, 4 * H - 1),
            meta(3, H, H + 10),
        ];
        assert_eq!(plan(&metas, &[2 * H, 6 * H], &[], None), ids(&[1, 3]));
    }

    #[test]
    fn complete_windows_merge_incomplete_wait() {
        let ranges = [2 * H, 6 * H, 18 * H];
        let three = [
            meta(1, 0, 2 * H - 1),
            meta(2, 2 * H, 4 * H - 1),
            meta(3, 4 * H, 6 * H - 1),
        ];
        // The 0-6h window is not known complete until time reaches 6h.
        assert_eq!(plan(&three, &ranges, &[], None), ids(&[1, 2, 3]));
        let two = [meta(1, 0, 2 * H - 1), meta(2, 2 * H, 4 * H - 1)];
        assert_eq!(plan(&two, &ranges, &[], None), None);
        assert_eq!(plan(&two, &ranges, &[], Some(6 * H)), ids(&[1, 2]));
        // A single block in its window stays as it is.
        assert_eq!(
            plan(&[meta(1, 0, 2 * H - 1)], &ranges, &[], Some(100 * H)),
            None
        );
    }

    #[test]
    fn blocks_with_deletions_are_rewritten() {
        let metas = [meta(1, 0, 2 * H - 1), meta(2, 2 * H, 4 * H - 1)];
        assert_eq!(plan(&metas, &[2 * H], &[BlockId(2)], None), ids(&[2]));
        assert_eq!(plan(&metas, &[2 * H], &[BlockId(9)], None), None);
    }

    #[test]
    fn children_cover_their_parents_only() {
        let with_sources = |id, src: &[u64]| BlockMeta {
            sources: src.iter().map(|&i| BlockId(i)).collect(),
            ..meta(id, 0, H)
        };
        // 1 and 2 from the head, 3 their child, 4 a rewrite of 3, 5 unrelated.
        let metas = [
            meta(1, 0, H),
            meta(2, 0, H),
            with_sources(3, &[1, 2]),
            with_sources(4, &[1, 2]),
            meta(5, 0, H),
        ];
        assert_eq!(
            covered_parents(&metas),
            vec![BlockId(1), BlockId(2), BlockId(3)]
        );
        // A child covering only part of a block's sources does not drop it.
        let partial = [with_sources(3, &[1, 2]), with_sources(4, &[1])];
        assert!(covered_parents(&partial).is_empty());
        // An older block never covers a newer one.
        let older = [with_sources(1, &[5]), meta(5, 0, H)];
        assert!(covered_parents(&older).is_empty());
    }

    #[test]
    fn never_exceeds_the_largest_range() {
        let ranges = [2 * H, 6 * H];
        let metas: Vec<_> = (0..12)
            .map(|i| meta(i + 1, i as i64 * 6 * H, (i as i64 + 1) * 6 * H - 1))
            .collect();
        assert_eq!(plan(&metas, &ranges, &[], Some(1000 * H)), None);
    }
}
