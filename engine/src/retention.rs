//! Which blocks are past the retention period (a pure decision).

use crate::block::{BlockId, BlockMeta};

/// Blocks whose newest sample is older than `now - retention` (all in ms).
pub(crate) fn expired(metas: &[BlockMeta], now: i64, retention: i64) -> Vec<BlockId> {
    let oldest_kept = now.saturating_sub(retention);
    metas
        .iter()
        .filter(|m| m.max_t < oldest_kept)
        .map(|m| m.id)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::BlockStats;

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

    #[test]
    fn only_blocks_entirely_past_retention_go() {
        let metas = [meta(1, 0, 99), meta(2, 100, 199), meta(3, 150, 300)];
        assert_eq!(expired(&metas, 300, 200), vec![BlockId(1)]);
        assert_eq!(expired(&metas, 400, 200), vec![BlockId(1), BlockId(2)]);
        assert!(expired(&metas, 299, 200).is_empty());
    }
}
