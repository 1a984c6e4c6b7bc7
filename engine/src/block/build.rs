//! Turning samples into block chunks: the encoding and chunk size blocks
//! use, shared by head cuts and compaction.

use crate::chunk::Encoding;
use crate::sample::Sample;

use super::ChunkToWrite;

/// A chunk with owned bytes, on its way into a block.
#[derive(Debug)]
pub(crate) struct OwnedChunk {
    pub(crate) min_t: i64,
    pub(crate) max_t: i64,
    pub(crate) num_samples: u32,
    pub(crate) encoding: Encoding,
    pub(crate) bytes: Vec<u8>,
}

/// Samples per chunk in blocks: two hours at a 15 s scrape interval. Larger
/// than head chunks, since block chunks are read whole from compressed
/// frames and each chunk costs index space.
pub(crate) const BLOCK_SAMPLES_PER_CHUNK: usize = 480;

/// Encodes sorted samples as block chunks ([`crate::chunk::encode_cold`])
/// of at most [`BLOCK_SAMPLES_PER_CHUNK`] samples.
pub(crate) fn chunks_of(samples: &[Sample]) -> Vec<OwnedChunk> {
    samples
        .chunks(BLOCK_SAMPLES_PER_CHUNK)
        .filter_map(|c| {
            let (encoding, bytes) = crate::chunk::encode_cold(c);
            Some(OwnedChunk {
                min_t: c.first()?.t,
                max_t: c.last()?.t,
                num_samples: c.len() as u32,
                encoding,
                bytes,
            })
        })
        .collect()
}

pub(crate) fn to_write(chunks: &[OwnedChunk]) -> Vec<ChunkToWrite<'_>> {
    chunks
        .iter()
        .map(|c| ChunkToWrite {
            min_t: c.min_t,
            max_t: c.max_t,
            num_samples: c.num_samples,
            encoding: c.encoding.as_u8(),
            bytes: &c.bytes,
        })
        .collect()
}
