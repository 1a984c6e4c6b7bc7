//! Chunk codecs: how a run of samples of one series is compressed.
//!
//! Head chunks and block chunks use [`Encoding::Xor`] (Gorilla). A chunk is
//! a byte string starting with a 2-byte big-endian sample count; the rest
//! depends on the encoding. Byte layouts are in `FORMAT.md`.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::indexing_slicing))]

mod bitstream;
mod gorilla;

use std::fmt;

pub use gorilla::XorAppender;
use gorilla::XorDecoder;

use crate::sample::Sample;

/// How a chunk's samples are encoded; stored as one byte next to each chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Encoding {
    /// Gorilla: delta-of-delta timestamps, XOR'd values.
    Xor = 1,
}

impl Encoding {
    /// The encoding with tag `b`, if known.
    pub fn from_u8(b: u8) -> Option<Encoding> {
        match b {
            1 => Some(Encoding::Xor),
            _ => None,
        }
    }

    /// The one-byte tag.
    pub fn as_u8(self) -> u8 {
        self as u8
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Encoding::Xor => "XOR",
        })
    }
}

/// A chunk that does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("chunk corrupt at byte {offset}: {reason}")]
pub struct ChunkError {
    /// Byte offset in the chunk where decoding failed.
    pub offset: usize,
    /// What failed.
    pub reason: String,
}

/// Iterates the samples of a chunk. After the first error it returns `None`.
#[derive(Debug, Clone)]
pub struct ChunkIter<'a> {
    dec: XorDecoder<'a>,
    failed: bool,
}

impl<'a> ChunkIter<'a> {
    /// Starts reading `bytes` as a chunk of `encoding`.
    ///
    /// # Errors
    /// When the header is missing.
    pub fn new(encoding: Encoding, bytes: &'a [u8]) -> Result<Self, ChunkError> {
        match encoding {
            Encoding::Xor => Ok(ChunkIter {
                dec: XorDecoder::new(bytes)?,
                failed: false,
            }),
        }
    }

    /// Number of samples the header announces.
    pub fn num_samples(&self) -> usize {
        self.dec.num_samples()
    }

    /// Advances to the first sample with timestamp `>= t` and returns it;
    /// `None` when no such sample is left.
    pub fn seek(&mut self, t: i64) -> Option<Result<Sample, ChunkError>> {
        loop {
            match self.next()? {
                Ok(s) if s.t < t => continue,
                other => return Some(other),
            }
        }
    }
}

impl Iterator for ChunkIter<'_> {
    type Item = Result<Sample, ChunkError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        match self.dec.next() {
            Ok(s) => s.map(Ok),
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// Encodes samples (strictly increasing timestamps) as one chunk.
///
/// # Panics
/// When given more than 65 535 samples (the header's limit): split first.
pub fn encode(encoding: Encoding, samples: &[Sample]) -> Vec<u8> {
    assert!(
        samples.len() <= usize::from(u16::MAX),
        "at most 65535 samples per chunk"
    );
    match encoding {
        Encoding::Xor => {
            // About 2 bytes per sample for scrape data; more only grows once.
            let mut app = XorAppender::with_capacity(samples.len() * 2 + 18);
            for s in samples {
                app.append(s.t, s.v);
            }
            app.into_bytes()
        }
    }
}

/// Decodes a whole chunk.
///
/// # Errors
/// [`ChunkError`] when the chunk is truncated or malformed.
pub fn decode_all(encoding: Encoding, bytes: &[u8]) -> Result<Vec<Sample>, ChunkError> {
    let it = ChunkIter::new(encoding, bytes)?;
    let mut out = Vec::with_capacity(it.num_samples().min(bytes.len() * 8));
    for s in it {
        out.push(s?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
