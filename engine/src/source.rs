//! Where a series' data lives ([`Source`]: head chunks, out-of-order
//! samples, block chunks) and how each kind is read ([`SourceIter`]). Every
//! `match` over the kinds of source is in this file, so a new kind adds its
//! arms here (and a reader that finds it, see `crate::reader`).

use std::sync::Arc;

use crate::block::{Block, ChunkBytes, ChunkMeta};
use crate::chunk::{ChunkIter, Encoding};
use crate::error::{Error, Result};
use crate::head::HeadChunk;
use crate::sample::Sample;

/// Where one slice of a series' data lives.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    /// Decoded samples, sorted (out-of-order head data, test fixtures).
    Samples(Arc<[Sample]>),
    /// Head chunks, sorted and non-overlapping.
    HeadChunks(Vec<HeadChunk>),
    /// Chunks of a block, minus the deleted intervals.
    Block {
        block: Arc<Block>,
        chunks: Vec<ChunkMeta>,
        deleted: Arc<[(i64, i64)]>,
    },
}

impl Source {
    /// True when the source hides deleted samples (a block with pending
    /// deletions that overlap the series).
    pub(crate) fn has_deletions(&self) -> bool {
        matches!(self, Source::Block { deleted, .. } if !deleted.is_empty())
    }

    /// Oldest and newest timestamps the source may hold; `None` when empty.
    pub(crate) fn time_range(&self) -> Option<(i64, i64)> {
        match self {
            Source::Samples(s) => Some((s.first()?.t, s.last()?.t)),
            Source::HeadChunks(c) => Some((
                c.iter().map(|c| c.min_t).min()?,
                c.iter().map(|c| c.max_t).max()?,
            )),
            Source::Block { chunks, .. } => Some((
                chunks.iter().map(|c| c.min_t).min()?,
                chunks.iter().map(|c| c.max_t).max()?,
            )),
        }
    }
}

/// Iterates one source, restricted to `[mint, maxt]`.
#[derive(Debug)]
pub(crate) enum SourceIter<'a> {
    Samples(std::slice::Iter<'a, Sample>),
    Chunks(ChunkSeq<'a>),
}

impl<'a> SourceIter<'a> {
    pub(crate) fn new(source: &'a Source, mint: i64, maxt: i64) -> SourceIter<'a> {
        match source {
            Source::Samples(s) => {
                let from = s.partition_point(|x| x.t < mint);
                let to = s.partition_point(|x| x.t <= maxt);
                SourceIter::Samples(s.get(from..to.max(from)).unwrap_or(&[]).iter())
            }
            Source::HeadChunks(chunks) => SourceIter::Chunks(ChunkSeq {
                chunks: chunks
                    .iter()
                    .filter(|c| c.max_t >= mint && c.min_t <= maxt)
                    .map(ChunkLoc::Head)
                    .collect(),
                pos: 0,
                cur: None,
                mint,
                deleted: &[],
            }),
            Source::Block {
                block,
                chunks,
                deleted,
            } => SourceIter::Chunks(ChunkSeq {
                chunks: chunks
                    .iter()
                    .filter(|c| c.max_t >= mint && c.min_t <= maxt)
                    .map(|c| ChunkLoc::Block(block, c))
                    .collect(),
                pos: 0,
                cur: None,
                mint,
                deleted,
            }),
        }
    }

    pub(crate) fn next(&mut self) -> Option<Result<Sample>> {
        match self {
            SourceIter::Samples(it) => it.next().copied().map(Ok),
            SourceIter::Chunks(seq) => seq.next(),
        }
    }

    /// Appends every sample up to `maxt` to `out` (what `next` would give,
    /// in bulk: whole chunks decoded at once, only edge chunks filtered).
    pub(crate) fn drain_into(self, out: &mut Vec<Sample>, maxt: i64) -> Result<()> {
        match self {
            SourceIter::Samples(it) => {
                out.extend(it.take_while(|s| s.t <= maxt));
                Ok(())
            }
            SourceIter::Chunks(seq) => seq.drain_into(out, maxt),
        }
    }
}

#[derive(Debug)]
enum ChunkLoc<'a> {
    Head(&'a HeadChunk),
    Block(&'a Block, &'a ChunkMeta),
}

/// The samples of one open chunk: decoded lazily from mapped bytes, or all
/// at once from a decompressed frame (which the iterator cannot borrow).
#[derive(Debug)]
enum OpenChunk<'a> {
    Lazy(ChunkIter<'a>),
    Decoded(std::vec::IntoIter<Sample>),
}

impl OpenChunk<'_> {
    fn next(&mut self) -> Option<std::result::Result<Sample, crate::chunk::ChunkError>> {
        match self {
            OpenChunk::Lazy(it) => it.next(),
            OpenChunk::Decoded(it) => it.next().map(Ok),
        }
    }

    fn seek(&mut self, t: i64) -> Option<std::result::Result<Sample, crate::chunk::ChunkError>> {
        loop {
            match self.next()? {
                Ok(s) if s.t < t => continue,
                other => return Some(other),
            }
        }
    }
}

impl<'a> ChunkLoc<'a> {
    /// Oldest and newest timestamps in the chunk.
    fn time_range(&self) -> (i64, i64) {
        match self {
            ChunkLoc::Head(c) => (c.min_t, c.max_t),
            ChunkLoc::Block(_, m) => (m.min_t, m.max_t),
        }
    }

    /// Appends all samples of the chunk to `out`.
    fn decode_into(&self, out: &mut Vec<Sample>) -> Result<()> {
        match self {
            ChunkLoc::Head(c) => crate::chunk::decode_into(Encoding::Xor, &c.bytes, out)
                .map_err(|e| chunk_error(None, e)),
            ChunkLoc::Block(b, m) => {
                let (enc, bytes) = block_chunk(b, m)?;
                crate::chunk::decode_into(enc, &bytes, out)
                    .map_err(|e| chunk_error(Some((*b, *m)), e))
            }
        }
    }

    fn open(&self) -> Result<OpenChunk<'a>> {
        match self {
            ChunkLoc::Head(c) => ChunkIter::new(Encoding::Xor, &c.bytes)
                .map(OpenChunk::Lazy)
                .map_err(|e| chunk_error(None, e)),
            ChunkLoc::Block(b, m) => {
                let at = Some((*b, *m));
                let (enc, bytes) = block_chunk(b, m)?;
                match bytes {
                    ChunkBytes::Mapped(bytes) => ChunkIter::new(enc, bytes)
                        .map(OpenChunk::Lazy)
                        .map_err(|e| chunk_error(at, e)),
                    framed => crate::chunk::decode_all(enc, &framed)
                        .map(|v| OpenChunk::Decoded(v.into_iter()))
                        .map_err(|e| chunk_error(at, e)),
                }
            }
        }
    }
}

/// A block chunk's encoding and crc-checked bytes; damage is counted.
fn block_chunk<'b>(b: &'b Block, m: &ChunkMeta) -> Result<(Encoding, ChunkBytes<'b>)> {
    let enc = Encoding::from_u8(m.encoding).ok_or_else(|| {
        Error::corruption(
            b.dir().join("chunks"),
            m.chunk_ref.file_offset(),
            format!("unknown chunk encoding {}", m.encoding),
        )
    })?;
    let bytes = b.chunk(m).inspect_err(|e| {
        if matches!(e, Error::Corruption { .. }) {
            crate::stats::count_read_damage();
        }
    })?;
    Ok((enc, bytes))
}

fn chunk_error(at: Option<(&Block, &ChunkMeta)>, e: crate::chunk::ChunkError) -> Error {
    crate::stats::count_read_damage();
    match at {
        Some((b, m)) => Error::corruption(
            b.dir().join("chunks"),
            m.chunk_ref.file_offset(),
            format!("chunk {:#x} does not decode: {e}", m.chunk_ref),
        ),
        None => Error::corruption("<head>", 0, e.to_string()),
    }
}

/// Samples of a list of sorted, non-overlapping chunks, from `mint` on.
#[derive(Debug)]
pub(crate) struct ChunkSeq<'a> {
    chunks: Vec<ChunkLoc<'a>>,
    pos: usize,
    cur: Option<OpenChunk<'a>>,
    mint: i64,
    deleted: &'a [(i64, i64)],
}

impl ChunkSeq<'_> {
    fn next(&mut self) -> Option<Result<Sample>> {
        loop {
            if self.cur.is_none() {
                let loc = self.chunks.get(self.pos)?;
                self.pos += 1;
                match loc.open() {
                    Ok(mut it) => {
                        // Skip to mint inside the first chunk(s).
                        match it.seek(self.mint) {
                            Some(Ok(s)) => {
                                self.cur = Some(it);
                                if !self.is_deleted(s.t) {
                                    return Some(Ok(s));
                                }
                                continue;
                            }
                            Some(Err(e)) => return Some(Err(self.fail(e))),
                            None => continue,
                        }
                    }
                    Err(e) => {
                        self.pos = self.chunks.len();
                        return Some(Err(e));
                    }
                }
            }
            match self.cur.as_mut()?.next() {
                Some(Ok(s)) if self.is_deleted(s.t) => continue,
                Some(Ok(s)) => return Some(Ok(s)),
                Some(Err(e)) => return Some(Err(self.fail(e))),
                None => self.cur = None,
            }
        }
    }

    /// Appends the samples in `[mint, maxt]` of the chunks not yet read
    /// (none may be open) to `out`.
    fn drain_into(self, out: &mut Vec<Sample>, maxt: i64) -> Result<()> {
        debug_assert!(self.cur.is_none() && self.pos == 0);
        for loc in &self.chunks {
            let (lo, hi) = loc.time_range();
            if lo > maxt {
                break;
            }
            let start = out.len();
            loc.decode_into(out)?;
            if lo < self.mint || hi > maxt || !self.deleted.is_empty() {
                let mut kept = start;
                for i in start..out.len() {
                    let s = out[i];
                    if s.t >= self.mint && s.t <= maxt && !self.is_deleted(s.t) {
                        out[kept] = s;
                        kept += 1;
                    }
                }
                out.truncate(kept);
            }
        }
        Ok(())
    }

    fn fail(&mut self, e: crate::chunk::ChunkError) -> Error {
        let at = match self.chunks.get(self.pos.saturating_sub(1)) {
            Some(ChunkLoc::Block(b, m)) => Some((*b, *m)),
            _ => None,
        };
        self.cur = None;
        self.pos = self.chunks.len();
        chunk_error(at, e)
    }

    fn is_deleted(&self, t: i64) -> bool {
        self.deleted.iter().any(|&(lo, hi)| t >= lo && t <= hi)
    }
}
