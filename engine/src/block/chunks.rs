//! Chunk segment files `chunks/000001, ...`: framed chunks, each with a crc32.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::indexing_slicing))]

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::encoding::{Decbuf, Encbuf, crc32};
use crate::error::{Error, Result};

use super::mmap::Mapped;

/// "STCK"
const MAGIC: u32 = 0x5354_434b;
const VERSION: u8 = 1;
const HEADER_LEN: u64 = 5;
/// A segment is closed before it would grow past this.
pub(crate) const MAX_SEGMENT_BYTES: u64 = 512 << 20;
/// Directory of the chunk segments in a block.
pub(crate) const DIR: &str = "chunks";

pub(crate) fn segment_name(n: u32) -> String {
    format!("{n:06}")
}

/// Writes chunks into numbered segment files.
#[derive(Debug)]
pub(crate) struct ChunkWriter {
    dir: PathBuf,
    file: Option<(u32, BufWriter<File>, u64)>,
    written: Vec<PathBuf>,
}

impl ChunkWriter {
    pub(crate) fn new(dir: &Path) -> Result<ChunkWriter> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
        Ok(ChunkWriter {
            dir: dir.to_path_buf(),
            file: None,
            written: Vec::new(),
        })
    }

    /// Writes one chunk; returns its reference (`segment << 32 | offset`).
    pub(crate) fn write(&mut self, encoding: u8, data: &[u8]) -> Result<u64> {
        let mut frame = Encbuf::with_capacity(data.len() + 16);
        frame.put_uvarint(data.len() as u64);
        let body_start = frame.len();
        frame.put_u8(encoding);
        frame.put_bytes(data);
        frame.put_crc32_since(body_start);
        let need = frame.len() as u64;
        let roll = match &self.file {
            None => true,
            Some((_, _, size)) => *size + need > MAX_SEGMENT_BYTES && *size > HEADER_LEN,
        };
        if roll {
            self.close_current()?;
            let n = self.written.len() as u32 + 1;
            let path = self.dir.join(segment_name(n));
            let f = File::create(&path).map_err(|e| Error::io("create", &path, e))?;
            let mut w = BufWriter::with_capacity(1 << 20, f);
            let mut h = Encbuf::new();
            h.put_u32(MAGIC);
            h.put_u8(VERSION);
            w.write_all(h.as_slice())
                .map_err(|e| Error::io("write", &path, e))?;
            self.written.push(path);
            self.file = Some((n, w, HEADER_LEN));
        }
        let Some((n, w, size)) = self.file.as_mut() else {
            return Err(Error::io(
                "write",
                &self.dir,
                std::io::Error::other("no chunk segment open"),
            ));
        };
        let at = *size;
        w.write_all(frame.as_slice())
            .map_err(|e| Error::io("write", &self.dir, e))?;
        *size += need;
        Ok((u64::from(*n) << 32) | at)
    }

    fn close_current(&mut self) -> Result<()> {
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
        crate::tombstones::sync_dir(&self.dir)
    }
}

/// The mapped chunk segments of a block.
#[derive(Debug)]
pub(crate) struct ChunkReader {
    dir: PathBuf,
    segments: Vec<Mapped>,
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
            if d.u32().ok() != Some(MAGIC) || d.u8().ok() != Some(VERSION) {
                return Err(Error::corruption(
                    &path,
                    0,
                    "bad chunk segment magic or version",
                ));
            }
            segments.push(m);
        }
        Ok(ChunkReader {
            dir: dir.to_path_buf(),
            segments,
        })
    }

    /// Total bytes mapped.
    pub(crate) fn size_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.len() as u64).sum()
    }

    /// The data of chunk `chunk_ref`, after checking its crc32 and encoding.
    pub(crate) fn chunk(&self, chunk_ref: u64, encoding: u8) -> Result<&[u8]> {
        let n = (chunk_ref >> 32) as u32;
        let offset = chunk_ref & 0xffff_ffff;
        let path = self.dir.join(segment_name(n));
        let bad = |at: u64, why: String| Error::corruption(&path, at, why);
        let seg = n
            .checked_sub(1)
            .and_then(|i| self.segments.get(i as usize))
            .ok_or_else(|| {
                bad(
                    0,
                    format!("chunk reference {chunk_ref:#x} names a missing segment"),
                )
            })?;
        let mut d = Decbuf::new(
            seg.get(offset as usize..)
                .ok_or_else(|| bad(offset, "chunk offset beyond the file".into()))?,
        );
        let len = d
            .len_prefix()
            .map_err(|e| bad(offset + e.offset as u64, e.what))?;
        let body_at = d.offset();
        let body = d
            .bytes(len + 1)
            .map_err(|e| bad(offset + e.offset as u64, e.what))?;
        let want = d.u32().map_err(|e| bad(offset + e.offset as u64, e.what))?;
        if crc32(body) != want {
            return Err(bad(
                offset,
                format!("chunk crc32 mismatch (chunk of {len} bytes)"),
            ));
        }
        let (&enc, data) = body
            .split_first()
            .ok_or_else(|| bad(offset + body_at as u64, "empty chunk".into()))?;
        if enc != encoding {
            return Err(bad(
                offset + body_at as u64,
                format!("chunk encoding {enc}, index says {encoding}"),
            ));
        }
        Ok(data)
    }
}
