//! Request body decompression with a hard cap on the output: snappy block
//! format (remote_write, remote_read, and `Content-Encoding: snappy` on the
//! import endpoints, as VictoriaMetrics reads it), gzip and zstd.
//!
//! Nothing here allocates a size a body declares before checking it:
//! a snappy block's declared length is checked against the cap and against
//! what its compressed length can possibly hold, and gzip and zstd are
//! decoded as a stream, the cap enforced as bytes come out (a zstd frame's
//! declared content size is never trusted). Every byte of output capacity
//! is reserved first from a [`Reservation`] of the shared memory budget.
//!
//! Pure (bytes in, bytes out), so the fuzz target calls it directly.

use std::io::Read;

use crate::budget::{BudgetError, Reservation};

/// A body's `Content-Encoding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Not compressed (no header, or `identity`).
    Identity,
    /// `gzip` or `x-gzip` (several members are read one after another).
    Gzip,
    /// `zstd` (several frames are read one after another).
    Zstd,
    /// `snappy`: one snappy block (not the framed stream format), as
    /// Prometheus and VictoriaMetrics send it.
    Snappy,
}

impl Encoding {
    /// The encoding a `Content-Encoding` value names (case-insensitive,
    /// surrounding spaces ignored), or `None` for one not supported.
    pub fn parse(value: &str) -> Option<Encoding> {
        let v = value.trim();
        [
            ("", Encoding::Identity),
            ("identity", Encoding::Identity),
            ("gzip", Encoding::Gzip),
            ("x-gzip", Encoding::Gzip),
            ("zstd", Encoding::Zstd),
            ("snappy", Encoding::Snappy),
        ]
        .into_iter()
        .find(|(name, _)| v.eq_ignore_ascii_case(name))
        .map(|(_, e)| e)
    }

    /// The encoding named by a request's `Content-Encoding` header value
    /// (`None`, no header, means [`Encoding::Identity`]).
    ///
    /// # Errors
    /// [`DecompressError::Unsupported`] naming the value and
    /// [`ALL_ENCODINGS`].
    pub fn from_header(value: Option<&[u8]>) -> Result<Encoding, DecompressError> {
        let Some(value) = value else {
            return Ok(Encoding::Identity);
        };
        let text = String::from_utf8_lossy(value);
        Encoding::parse(&text).ok_or_else(|| DecompressError::Unsupported {
            encoding: text.into_owned(),
            accepted: ALL_ENCODINGS,
        })
    }

    /// The name used in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Identity => "identity",
            Encoding::Gzip => "gzip",
            Encoding::Zstd => "zstd",
            Encoding::Snappy => "snappy",
        }
    }
}

impl std::fmt::Display for Encoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The encodings [`Encoding::parse`] knows, for messages.
pub const ALL_ENCODINGS: &str = "gzip, x-gzip, zstd, snappy (block format) or identity";

/// Why a body could not be decompressed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecompressError {
    /// The decompressed body would be larger than the cap (a body that
    /// declares its size says so before anything is allocated; gzip and
    /// zstd are stopped when output passes the cap).
    #[error("{}", too_large_message(*.declared, *.limit))]
    TooLarge {
        /// The size the body declares (snappy), when it declares one.
        declared: Option<usize>,
        /// The cap, in bytes.
        limit: usize,
    },
    /// A snappy block declares more bytes than its compressed length can
    /// possibly decode to: a decompression bomb or garbage.
    #[error(
        "snappy block declares {declared} decompressed bytes, more than its {compressed} compressed bytes can hold"
    )]
    Implausible {
        /// The declared decompressed length.
        declared: usize,
        /// The compressed length (without the length header).
        compressed: usize,
    },
    /// The bytes are not valid for the encoding.
    #[error("cannot decompress {encoding} body: {message}")]
    Corrupt {
        /// The encoding.
        encoding: Encoding,
        /// What the decoder said.
        message: String,
    },
    /// A `Content-Encoding` that is not supported (415).
    #[error("unsupported Content-Encoding {encoding:?}: this endpoint accepts {accepted}")]
    Unsupported {
        /// The header's value.
        encoding: String,
        /// What the endpoint accepts, for the message.
        accepted: &'static str,
    },
    /// The shared memory budget cannot hold the output.
    #[error(transparent)]
    Budget(#[from] BudgetError),
}

fn too_large_message(declared: Option<usize>, limit: usize) -> String {
    match declared {
        Some(n) => format!(
            "decompressed body of {n} bytes exceeds the limit of {limit} bytes (--max-decompressed-bytes)"
        ),
        None => format!(
            "decompressed body exceeds the limit of {limit} bytes (--max-decompressed-bytes)"
        ),
    }
}

/// Most output bytes one byte of a snappy block (after its length header)
/// can produce: a 3-byte copy element yields at most 64 bytes; literals and
/// the other copy forms yield less per byte.
const SNAPPY_MAX_OUT: usize = 64;
/// See [`SNAPPY_MAX_OUT`].
const SNAPPY_PER_IN: usize = 3;

/// The decompressed length a snappy block declares, refused when it is
/// over `limit` or more than the block's compressed bytes can hold.
///
/// # Errors
/// [`DecompressError::Corrupt`] (no valid length header),
/// [`DecompressError::Implausible`] or [`DecompressError::TooLarge`].
pub fn snappy_len(body: &[u8], limit: usize) -> Result<usize, DecompressError> {
    let declared = snap::raw::decompress_len(body).map_err(|e| corrupt(Encoding::Snappy, e))?;
    // The header is a varint: every byte but the last has the top bit set.
    let header = body.iter().take_while(|b| **b & 0x80 != 0).count() + 1;
    let compressed = body.len().saturating_sub(header);
    if declared > compressed.saturating_mul(SNAPPY_MAX_OUT) / SNAPPY_PER_IN {
        return Err(DecompressError::Implausible {
            declared,
            compressed,
        });
    }
    if declared > limit {
        return Err(DecompressError::TooLarge {
            declared: Some(declared),
            limit,
        });
    }
    Ok(declared)
}

/// Decompresses a snappy block into `out[..n]` for the returned `n`,
/// reserving `n` bytes from `res` first. `out` is a reused buffer: it grows
/// to `n` when smaller and is otherwise left as it is (never shrinks).
///
/// # Errors
/// As [`snappy_len`]; [`DecompressError::Budget`] when `res` cannot grow;
/// [`DecompressError::Corrupt`] when the block does not decode.
pub fn snappy_into(
    body: &[u8],
    limit: usize,
    res: &mut Reservation,
    out: &mut Vec<u8>,
) -> Result<usize, DecompressError> {
    let n = snappy_len(body, limit)?;
    res.grow(n)?;
    if out.len() < n {
        out.resize(n, 0);
    }
    let dst = out.get_mut(..n).unwrap_or_default();
    snap::raw::Decoder::new()
        .decompress(body, dst)
        .map_err(|e| corrupt(Encoding::Snappy, e))
}

/// Decompresses `body` in `encoding` into a new buffer of at most `limit`
/// bytes, reserving it from `res` before it is allocated. An identity body
/// is copied (the handlers use it as it is instead).
///
/// gzip and zstd output is never grown by doubling (a chain of reallocations
/// leaves freed blocks behind in the allocator, and resident memory grows
/// well past what is reserved): output up to eight times the body (at most
/// [`SMALL_OUTPUT`]) is kept from a first pass, in one allocation; larger
/// output is only counted (stopping at the cap, so a bomb allocates
/// nothing), then decoded again into one buffer of exactly its size.
///
/// # Errors
/// [`DecompressError`]: the cap, the budget, or bytes that do not decode.
pub fn decompress(
    encoding: Encoding,
    body: &[u8],
    limit: usize,
    res: &mut Reservation,
) -> Result<Vec<u8>, DecompressError> {
    match encoding {
        Encoding::Identity => {
            if body.len() > limit {
                return Err(DecompressError::TooLarge {
                    declared: Some(body.len()),
                    limit,
                });
            }
            res.grow(body.len())?;
            Ok(body.to_vec())
        }
        Encoding::Snappy => {
            let mut out = Vec::new();
            let n = snappy_into(body, limit, res, &mut out)?;
            out.truncate(n);
            Ok(out)
        }
        Encoding::Gzip => stream(
            Encoding::Gzip,
            body.len(),
            || Ok(flate2::read::MultiGzDecoder::new(body)),
            limit,
            res,
        ),
        Encoding::Zstd => {
            // The decoder keeps a window as large as the frame asks for:
            // bounded here, and reserved from the budget like the output.
            res.grow(ZSTD_WINDOW_RESERVED.min(limit))?;
            stream(
                Encoding::Zstd,
                body.len(),
                || {
                    let mut d = zstd::stream::read::Decoder::with_buffer(body)
                        .map_err(|e| corrupt(Encoding::Zstd, e))?;
                    d.window_log_max(ZSTD_WINDOW_LOG_MAX)
                        .map_err(|e| corrupt(Encoding::Zstd, e))?;
                    Ok(d)
                },
                limit,
                res,
            )
        }
    }
}

/// Largest zstd window accepted: 8 MiB covers every compression level up
/// to 19 (levels 20-22 and `--long` use larger windows and are refused as
/// corrupt, "Frame requires too much memory for decoding").
const ZSTD_WINDOW_LOG_MAX: u32 = 23;
/// What a zstd decoder is charged for its window.
const ZSTD_WINDOW_RESERVED: usize = 1 << ZSTD_WINDOW_LOG_MAX;

/// Output a streaming decode keeps from its first pass (larger output is
/// decoded twice, see [`decompress`]).
pub const SMALL_OUTPUT: usize = 1 << 20;

/// Bytes read from a streaming decoder at a time.
const STREAM_CHUNK: usize = 64 << 10;

/// Decodes the stream `open` starts, as [`decompress`] describes.
fn stream<R: Read>(
    encoding: Encoding,
    compressed: usize,
    open: impl Fn() -> Result<R, DecompressError>,
    limit: usize,
    res: &mut Reservation,
) -> Result<Vec<u8>, DecompressError> {
    // Most bodies decode within a few times their compressed size.
    let small_cap = SMALL_OUTPUT
        .min(limit)
        .min(compressed.saturating_mul(8).max(STREAM_CHUNK));
    res.grow(STREAM_CHUNK)?;
    let mut chunk = vec![0u8; STREAM_CHUNK];
    let mut small: Vec<u8> = Vec::new();
    let mut total = 0usize;
    let mut r = open()?;
    loop {
        let n = match r.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(corrupt(encoding, e)),
        };
        total = total.saturating_add(n);
        if total > limit {
            return Err(DecompressError::TooLarge {
                declared: None,
                limit,
            });
        }
        if total <= small_cap {
            if small.capacity() == 0 {
                // One allocation (only what is written becomes resident).
                res.grow(small_cap)?;
                small.reserve_exact(small_cap);
            }
            small.extend_from_slice(chunk.get(..n).unwrap_or_default());
        } else if small.capacity() > 0 {
            res.release(small.capacity());
            small = Vec::new();
        }
    }
    drop(chunk);
    res.release(STREAM_CHUNK);
    if total <= small_cap {
        return Ok(small);
    }
    // Second pass, into exactly `total` bytes.
    res.grow(total)?;
    let mut out = vec![0u8; total];
    let mut r = open()?;
    r.read_exact(&mut out).map_err(|e| corrupt(encoding, e))?;
    Ok(out)
}

fn corrupt(encoding: Encoding, e: impl std::fmt::Display) -> DecompressError {
    DecompressError::Corrupt {
        encoding,
        message: e.to_string(),
    }
}

#[cfg(test)]
mod tests;
