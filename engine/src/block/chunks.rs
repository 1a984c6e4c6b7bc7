//! Chunk segment files `chunks/000001, ...`.
//!
//! Version 2 (written now): chunks are packed into frames of about 64 KiB,
//! each compressed with zstd and carrying a crc32; a chunk reference names
//! the frame and the chunk's offset inside it. Readers keep a few
//! decompressed frames, since a query reads the chunks of neighbouring
//! series (label order), which share frames.
//!
//! Version 1 (still read): one framed, crc32-checked chunk after another.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::indexing_slicing))]

use std::fs::File;
use std::io::{BufWriter, Write};
use std::ops::{Deref, Range};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::encoding::{Decbuf, Encbuf, crc32};
use crate::error::{Error, Result};
use crate::frame_cache;

use super::chunk_ref::{ChunkLocation, ChunkRef};
use super::mmap::Mapped;

/// "STCK"
const MAGIC: u32 = 0x5354_434b;
/// Plain framed chunks.
const VERSION_PLAIN: u8 = 1;
/// Compressed frames of chunks.
const VERSION_FRAMED: u8 = 2;
const HEADER_LEN: u64 = 5;
/// A segment is closed before it would grow past this.
pub(crate) const MAX_SEGMENT_BYTES: u64 = 512 << 20;
/// Directory of the chunk segments in a block.
pub(crate) const DIR: &str = "chunks";
/// A frame is closed once its chunks reach this many bytes, so every chunk
/// starts below it and its offset fits the reference's 16 bits.
const FRAME_TARGET: usize = 1 << 16;

pub(crate) fn segment_name(n: u32) -> String {
    format!("{n:06}")
}

/// Writes chunks into compressed frames in numbered segment files.
#[derive(Debug)]
pub(crate) struct ChunkWriter {
    dir: PathBuf,
    /// Open segment: number, writer, bytes written.
    file: Option<(u32, BufWriter<File>, u64)>,
    written: Vec<PathBuf>,
    /// Chunk records of the frame being filled.
    frame: Encbuf,
    /// Where that frame will start in the segment.
    frame_at: u64,
}

impl ChunkWriter {
    pub(crate) fn new(dir: &Path) -> Result<ChunkWriter> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
        Ok(ChunkWriter {
            dir: dir.to_path_buf(),
            file: None,
            written: Vec::new(),
            frame: Encbuf::with_capacity(FRAME_TARGET * 2),
            frame_at: 0,
        })
    }

    /// Adds one chunk; returns its (framed) reference.
    pub(crate) fn write(&mut self, encoding: u8, data: &[u8]) -> Result<ChunkRef> {
        if self.frame.is_empty() {
            let roll = match &self.file {
                None => true,
                Some((_, _, size)) => {
                    *size > HEADER_LEN && *size + (FRAME_TARGET as u64) * 4 > MAX_SEGMENT_BYTES
                }
            };
            if roll {
                self.open_next()?;
            }
            self.frame_at = self.file.as_ref().map_or(HEADER_LEN, |f| f.2);
        }
        let n = self.file.as_ref().map_or(0, |f| f.0);
        let inner = self.frame.len();
        self.frame.put_uvarint(data.len() as u64);
        self.frame.put_u8(encoding);
        self.frame.put_bytes(data);
        let chunk_ref = ChunkRef::framed(n, self.frame_at, inner);
        if self.frame.len() >= FRAME_TARGET {
            self.flush_frame()?;
        }
        Ok(chunk_ref)
    }

    fn open_next(&mut self) -> Result<()> {
        self.close_current()?;
        let n = self.written.len() as u32 + 1;
        if n > 0x7fff {
            return Err(Error::io(
                "create",
                &self.dir,
                std::io::Error::other("more than 32767 chunk segments in one block"),
            ));
        }
        let path = self.dir.join(segment_name(n));
        let f = File::create(&path).map_err(|e| Error::io("create", &path, e))?;
        let mut w = BufWriter::with_capacity(1 << 20, f);
        let mut h = Encbuf::new();
        h.put_u32(MAGIC);
        h.put_u8(VERSION_FRAMED);
        w.write_all(h.as_slice())
            .map_err(|e| Error::io("write", &path, e))?;
        self.written.push(path);
        self.file = Some((n, w, HEADER_LEN));
        Ok(())
    }

    /// Compresses and writes the frame being filled.
    fn flush_frame(&mut self) -> Result<()> {
        if self.frame.is_empty() {
            return Ok(());
        }
        let mut out = Encbuf::with_capacity(self.frame.len() / 2 + 24);
        let body_start = frame_cache::put(&mut out, self.frame.as_slice());
        out.put_crc32_since(body_start);
        let Some((_, w, size)) = self.file.as_mut() else {
            return Err(Error::io(
                "write",
                &self.dir,
                std::io::Error::other("no chunk segment open"),
            ));
        };
        w.write_all(out.as_slice())
            .map_err(|e| Error::io("write", &self.dir, e))?;
        *size += out.len() as u64;
        self.frame.clear();
        Ok(())
    }

    fn close_current(&mut self) -> Result<()> {
        self.flush_frame()?;
        if let Some((n, w, _)) = self.file.take() {
            let path = self.dir.join(segment_name(n));
            let f = w
                .into_inner()
                .map_err(|e| Error::io("write", &path, e.into_error()))?;
            f.sync_all().map_err(|e| Error::io("fsync", &path, e))?;
        }
        Ok(())
    }

    /// Flushes and fsyncs everything written.
    pub(crate) fn finish(mut self) -> Result<()> {
        self.close_current()?;
        crate::fsutil::sync_dir(&self.dir)
    }
}

/// A chunk's bytes: in the mapped file (version 1), or in a decompressed
/// frame (version 2).
#[derive(Debug)]
pub enum ChunkBytes<'a> {
    /// Borrowed from the memory-mapped segment.
    Mapped(&'a [u8]),
    /// A range of a shared decompressed frame.
    Framed(Arc<[u8]>, Range<usize>),
}

impl Deref for ChunkBytes<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            ChunkBytes::Mapped(b) => b,
            ChunkBytes::Framed(frame, range) => frame.get(range.clone()).unwrap_or(&[]),
        }
    }
}

/// The mapped chunk segments of a block.
#[derive(Debug)]
pub(crate) struct ChunkReader {
    dir: PathBuf,
    /// Each segment with its format version.
    segments: Vec<(Mapped, u8)>,
    /// Key space in the process-wide frame cache.
    owner: u64,
}

impl ChunkReader {
    /// Maps every segment `000001 ...` and checks its header.
    pub(crate) fn open(dir: &Path) -> Result<ChunkReader> {
        let mut segments = Vec::new();
        for n in 1u32.. {
            let path = dir.join(segment_name(n));
            if !path.exists() {
                break;
            }
            let m = Mapped::open(&path)?;
            let mut d = Decbuf::new(&m);
            let version = match (d.u32().ok(), d.u8().ok()) {
                (Some(MAGIC), Some(v @ (VERSION_PLAIN | VERSION_FRAMED))) => v,
                _ => {
                    return Err(Error::corruption(
                        &path,
                        0,
                        "bad chunk segment magic or version",
                    ));
                }
            };
            segments.push((m, version));
        }
        Ok(ChunkReader {
            dir: dir.to_path_buf(),
            segments,
            owner: crate::frame_cache::new_owner(),
        })
    }

    /// Total bytes mapped.
    pub(crate) fn size_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.0.len() as u64).sum()
    }

    /// The data of chunk `chunk_ref`, after checking its crc32 (of the chunk
    /// or of its frame) and encoding.
    pub(crate) fn chunk(&self, chunk_ref: ChunkRef, encoding: u8) -> Result<ChunkBytes<'_>> {
        let ChunkLocation {
            segment: n,
            offset,
            in_frame: inner,
        } = chunk_ref.locate();
        let path = self.dir.join(segment_name(n));
        let bad = |at: u64, why: String| Error::corruption(&path, at, why);
        let (seg, version) = n
            .checked_sub(1)
            .and_then(|i| self.segments.get(i as usize))
            .ok_or_else(|| {
                bad(
                    0,
                    format!("chunk reference {chunk_ref:#x} names a missing segment"),
                )
            })?;
        match (inner, *version) {
            (None, VERSION_PLAIN) => {
                let data = plain_chunk(seg, offset, encoding).map_err(|(at, why)| bad(at, why))?;
                Ok(ChunkBytes::Mapped(data))
            }
            (Some(inner), VERSION_FRAMED) => {
                let frame = self
                    .frame(n, seg, offset)
                    .map_err(|(at, why)| bad(at, why))?;
                let range = chunk_in_frame(&frame, inner, encoding).map_err(|why| {
                    bad(
                        offset,
                        format!("in the frame at {offset}, chunk at {inner}: {why}"),
                    )
                })?;
                Ok(ChunkBytes::Framed(frame, range))
            }
            (_, v) => Err(bad(
                0,
                format!("chunk reference {chunk_ref:#x} does not fit a version {v} segment"),
            )),
        }
    }

    /// The decompressed frame at `offset` of segment `n`, from the
    /// process-wide cache or read, crc-checked and decompressed now.
    fn frame(
        &self,
        n: u32,
        seg: &Mapped,
        offset: u64,
    ) -> std::result::Result<Arc<[u8]>, (u64, String)> {
        // Offsets are below 2^32: the segment number goes above them.
        let key = (u64::from(n) << 32) | offset;
        crate::frame_cache::get_or_load(self.owner, key, || read_frame(seg, offset))
    }
}

/// A version 1 chunk at `offset`: `uvarint len | encoding | data | crc32`.
fn plain_chunk(seg: &[u8], offset: u64, encoding: u8) -> std::result::Result<&[u8], (u64, String)> {
    let mut d = Decbuf::new(
        seg.get(offset as usize..)
            .ok_or_else(|| (offset, "chunk offset beyond the file".to_owned()))?,
    );
    let at = |e: crate::encoding::DecodeError| (offset + e.offset as u64, e.what);
    let len = d.len_prefix().map_err(at)?;
    let body_at = d.offset();
    let body = d.bytes(len + 1).map_err(at)?;
    let want = d.u32().map_err(at)?;
    if crc32(body) != want {
        return Err((
            offset,
            format!("chunk crc32 mismatch (chunk of {len} bytes)"),
        ));
    }
    let (&enc, data) = body
        .split_first()
        .ok_or_else(|| (offset + body_at as u64, "empty chunk".to_owned()))?;
    if enc != encoding {
        return Err((
            offset + body_at as u64,
            format!("chunk encoding {enc}, index says {encoding}"),
        ));
    }
    Ok(data)
}

/// Reads, checks and decompresses the frame at `offset`:
/// `uvarint payload_len | codec | uvarint raw_len | payload | crc32`.
fn read_frame(seg: &[u8], offset: u64) -> std::result::Result<Vec<u8>, (u64, String)> {
    let mut d = Decbuf::new(
        seg.get(offset as usize..)
            .ok_or_else(|| (offset, "frame offset beyond the file".to_owned()))?,
    );
    let at = |e: crate::encoding::DecodeError| (offset + e.offset as u64, e.what);
    let frame = frame_cache::read(&mut d).map_err(at)?;
    let want = d.u32().map_err(at)?;
    if crc32(frame.body) != want {
        return Err((
            offset,
            format!("frame crc32 mismatch (frame of {} bytes)", frame.body.len()),
        ));
    }
    frame.decompress().map_err(|why| (offset, why))
}

/// The range of a chunk's data in a decompressed frame:
/// `uvarint len | encoding | data` at `inner`.
fn chunk_in_frame(
    frame: &[u8],
    inner: usize,
    encoding: u8,
) -> std::result::Result<Range<usize>, String> {
    let mut d = Decbuf::new(frame.get(inner..).ok_or("chunk offset beyond the frame")?);
    let len = d.len_prefix().map_err(|e| e.what)?;
    let enc = d.u8().map_err(|e| e.what)?;
    if enc != encoding {
        return Err(format!("chunk encoding {enc}, index says {encoding}"));
    }
    let start = inner + d.offset();
    d.bytes(len).map_err(|e| e.what)?;
    Ok(start..start + len)
}
