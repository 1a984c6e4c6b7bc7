//! Chunk codecs: how a run of samples of one series is compressed.
//!
//! Head chunks use [`Encoding::Xor`] (Gorilla). Blocks use
//! [`Encoding::Decimal`] for chunks whose values are all short decimals and
//! Gorilla for the rest ([`encode_cold`]). A chunk is a byte string starting
//! with a 2-byte big-endian sample count; the rest depends on the encoding.
//! Byte layouts are in `FORMAT.md`.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::indexing_slicing))]

mod bitstream;
mod decimal;
mod gorilla;

use std::fmt;

use decimal::DecimalDecoder;
pub(crate) use gorilla::HEADER_LEN;
pub use gorilla::XorAppender;
use gorilla::XorDecoder;

use crate::sample::Sample;

/// How a chunk's samples are encoded; stored as one byte next to each chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Encoding {
    /// Gorilla: delta-of-delta timestamps, XOR'd values.
    Xor = 1,
    /// Byte-aligned varints: delta-of-delta timestamps, then values as
    /// integer mantissas of one decimal scale (deltas or delta-of-deltas).
    Decimal = 2,
}

impl Encoding {
    /// The encoding with tag `b`, if known.
    pub fn from_u8(b: u8) -> Option<Encoding> {
        match b {
            1 => Some(Encoding::Xor),
            2 => Some(Encoding::Decimal),
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
            Encoding::Decimal => "decimal",
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
    dec: Decoder<'a>,
    failed: bool,
}

#[derive(Debug, Clone)]
enum Decoder<'a> {
    Xor(XorDecoder<'a>),
    Decimal(DecimalDecoder<'a>),
}

impl<'a> ChunkIter<'a> {
    /// Starts reading `bytes` as a chunk of `encoding`.
    ///
    /// # Errors
    /// When the header is missing.
    pub fn new(encoding: Encoding, bytes: &'a [u8]) -> Result<Self, ChunkError> {
        let dec = match encoding {
            Encoding::Xor => Decoder::Xor(XorDecoder::new(bytes)?),
            Encoding::Decimal => Decoder::Decimal(DecimalDecoder::new(bytes)?),
        };
        Ok(ChunkIter { dec, failed: false })
    }

    /// Number of samples the header announces.
    pub fn num_samples(&self) -> usize {
        match &self.dec {
            Decoder::Xor(d) => d.num_samples(),
            Decoder::Decimal(d) => d.num_samples(),
        }
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
        let next = match &mut self.dec {
            Decoder::Xor(d) => d.next(),
            Decoder::Decimal(d) => d.next(),
        };
        match next {
            Ok(s) => s.map(Ok),
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// Encodes samples (strictly increasing timestamps) as one chunk;
/// [`Encoding::Decimal`] falls back to [`Encoding::Xor`] when a value is not
/// a short decimal, so check the returned encoding.
///
/// # Panics
/// When given more than 65 535 samples (the header's limit): split first.
pub fn encode(encoding: Encoding, samples: &[Sample]) -> Vec<u8> {
    encode_as(encoding, samples).1
}

/// The encoding for block chunks: [`Encoding::Decimal`] when every value
/// is a short decimal (smaller after a general-purpose compressor), else
/// [`Encoding::Xor`].
///
/// # Panics
/// When given more than 65 535 samples: split first.
pub fn encode_cold(samples: &[Sample]) -> (Encoding, Vec<u8>) {
    encode_as(Encoding::Decimal, samples)
}

fn encode_as(encoding: Encoding, samples: &[Sample]) -> (Encoding, Vec<u8>) {
    assert!(
        samples.len() <= usize::from(u16::MAX),
        "at most 65535 samples per chunk"
    );
    if encoding == Encoding::Decimal
        && let Some(bytes) = decimal::encode(samples)
    {
        return (Encoding::Decimal, bytes);
    }
    {
        {
            // About 2 bytes per sample for scrape data; more only grows once.
            let mut app = XorAppender::with_capacity(samples.len() * 2 + 18);
            for s in samples {
                app.append(s.t, s.v);
            }
            (Encoding::Xor, app.into_bytes())
        }
    }
}

/// Decodes a whole chunk.
///
/// # Errors
/// [`ChunkError`] when the chunk is truncated or malformed.
pub fn decode_all(encoding: Encoding, bytes: &[u8]) -> Result<Vec<Sample>, ChunkError> {
    let mut out = Vec::new();
    decode_into(encoding, bytes, &mut out)?;
    Ok(out)
}

/// Decodes a whole chunk, appending its samples to `out` (one dispatch on
/// the encoding per chunk, not per sample). On error `out` may hold some
/// of the chunk's samples.
///
/// # Errors
/// [`ChunkError`] when the chunk is truncated or malformed.
pub fn decode_into(
    encoding: Encoding,
    bytes: &[u8],
    out: &mut Vec<Sample>,
) -> Result<(), ChunkError> {
    let it = ChunkIter::new(encoding, bytes)?;
    out.reserve(it.num_samples().min(bytes.len() * 8));
    match it.dec {
        Decoder::Xor(mut d) => {
            while let Some(s) = d.next()? {
                out.push(s);
            }
        }
        Decoder::Decimal(mut d) => d.drain_into(out)?,
    }
    Ok(())
}

#[cfg(test)]
mod tests;
