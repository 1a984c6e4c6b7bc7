//! [`ChunkRef`]: where a chunk is in a block's chunk segment files.

use std::fmt;

/// Set in references to chunks inside frames (version 2 segments).
const FRAMED: u64 = 1 << 63;

/// The reference of a chunk in a block's chunk segments, as the index file
/// stores it in a series' chunk metas (`FORMAT.md`, "Chunk segment files"):
///
/// - version 2 (framed): `1 << 63 | segment << 48 | frame offset << 16 |
///   offset in frame`, the frame offset a byte offset in the segment file
///   and the last part an offset in the decompressed frame;
/// - version 1 (plain): `segment << 32 | byte offset`.
///
/// Meaningful only in the block whose index gave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChunkRef(u64);

/// A [`ChunkRef`] taken apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChunkLocation {
    /// Segment file number (`000001` is 1).
    pub(crate) segment: u32,
    /// Byte offset in the segment file: of the frame, for a framed chunk.
    pub(crate) offset: u64,
    /// Offset of the chunk in its decompressed frame; `None` for a plain
    /// (version 1) chunk.
    pub(crate) in_frame: Option<usize>,
}

impl ChunkRef {
    /// The reference of the chunk at `inner` in the frame at byte
    /// `frame_at` of segment `segment` (version 2). The caller keeps
    /// `segment` below 2^15, `frame_at` below 2^32 and `inner` below 2^16.
    pub(crate) fn framed(segment: u32, frame_at: u64, inner: usize) -> ChunkRef {
        ChunkRef(FRAMED | (u64::from(segment) << 48) | (frame_at << 16) | inner as u64)
    }

    /// A reference as stored in the index file.
    pub(crate) const fn from_raw(raw: u64) -> ChunkRef {
        ChunkRef(raw)
    }

    /// The reference as stored in the index file.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// Segment, byte offset in the segment file, and offset in the frame.
    pub(crate) fn locate(self) -> ChunkLocation {
        let r = self.0;
        if r & FRAMED != 0 {
            ChunkLocation {
                segment: ((r >> 48) & 0x7fff) as u32,
                offset: (r >> 16) & 0xffff_ffff,
                in_frame: Some((r & 0xffff) as usize),
            }
        } else {
            ChunkLocation {
                segment: (r >> 32) as u32,
                offset: r & 0xffff_ffff,
                in_frame: None,
            }
        }
    }

    /// Byte offset in its segment file of what the reference points at
    /// (the chunk, or its frame): for error messages.
    pub fn file_offset(self) -> u64 {
        self.locate().offset
    }
}

/// Hex, as error messages show references (`{:#x}`).
impl fmt::LowerHex for ChunkRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::LowerHex::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framed_reference_has_the_documented_bits_and_locates_back() {
        let r = ChunkRef::framed(3, 0x0012_3456, 0x00ab);
        assert_eq!(r.get(), (1 << 63) | (3 << 48) | (0x0012_3456 << 16) | 0xab);
        assert_eq!(
            r.locate(),
            ChunkLocation {
                segment: 3,
                offset: 0x0012_3456,
                in_frame: Some(0xab)
            }
        );
        assert_eq!(r.file_offset(), 0x0012_3456);
        assert_eq!(format!("{r:#x}"), format!("{:#x}", r.get()));
    }

    #[test]
    fn plain_reference_is_segment_and_offset() {
        let r = ChunkRef::from_raw((2 << 32) | 77);
        assert_eq!(
            r.locate(),
            ChunkLocation {
                segment: 2,
                offset: 77,
                in_frame: None
            }
        );
    }
}
