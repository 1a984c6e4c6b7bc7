//! [`BlockSeriesId`]: the number a series goes by inside one block.

use std::fmt;

/// The id of a series in a block: where its entry is in the block's index
/// file, so ids increase with label order. Postings lists of a block hold
/// these; [`crate::block::Block::series`] resolves one. Meaningful only in
/// the block whose postings gave it, and not a head [`crate::SeriesRef`].
///
/// In a version 2 index the id is `offset of the series frame << 16 |
/// offset of the entry in the decompressed frame`; in version 1, the offset
/// of the entry in the series section (see `FORMAT.md`, "Index file"). The
/// value is what the postings store, unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlockSeriesId(u64);

impl BlockSeriesId {
    /// The id of the entry at `inner` in the series frame at `frame_at`
    /// (version 2). `inner` is below 2^16, as frames close at 64 KiB.
    pub(crate) fn framed(frame_at: u64, inner: usize) -> BlockSeriesId {
        BlockSeriesId((frame_at << 16) | inner as u64)
    }

    /// An id as stored in a postings list.
    pub(crate) const fn from_raw(raw: u64) -> BlockSeriesId {
        BlockSeriesId(raw)
    }

    /// The id as stored in the index file's postings lists.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// Version 2: offset of the series frame in the series section content.
    pub(crate) const fn frame_offset(self) -> u64 {
        self.0 >> 16
    }

    /// Version 2: offset of the entry in its decompressed frame.
    pub(crate) const fn offset_in_frame(self) -> usize {
        (self.0 & 0xffff) as usize
    }
}

impl fmt::Display for BlockSeriesId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framed_id_splits_back_into_frame_and_entry() {
        let id = BlockSeriesId::framed(0x1234_5678, 0xfffe);
        assert_eq!(id.get(), 0x1234_5678_fffe);
        assert_eq!(id.frame_offset(), 0x1234_5678);
        assert_eq!(id.offset_in_frame(), 0xfffe);
        assert_eq!(id.to_string(), 0x1234_5678_fffeu64.to_string());
        // Order is the order of the stored numbers: frame first, then entry.
        assert!(BlockSeriesId::framed(1, 0xffff) < BlockSeriesId::framed(2, 0));
    }
}
