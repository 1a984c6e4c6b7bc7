//! Reads a block's index file from a memory map. Every section's crc32 is
//! checked at open; lookups decode straight from the mapped bytes.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::indexing_slicing))]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::block::{ChunkMeta, ChunkRef};
use crate::encoding::{Decbuf, DecodeError, crc32};
use crate::error::{Error, Result};
use crate::labels::{Label, Labels};

use super::BlockSeriesId;
use super::writer::{MAGIC, TOC_LEN, VERSION, VERSION_PLAIN_SERIES};

/// Where a section's content lies in the file.
#[derive(Debug, Clone, Copy)]
struct Section {
    /// Offset of the content (after the length field).
    start: usize,
    len: usize,
}

/// A parsed, checked index.
#[derive(Debug)]
pub(crate) struct IndexReader {
    path: PathBuf,
    /// Every symbol, back to back (checked as UTF-8 once, at open).
    symbol_text: String,
    /// End of each symbol in `symbol_text`, in symbol order.
    symbol_ends: Vec<u32>,
    series: Section,
    postings: Section,
    /// name symbol -> its value symbols (sorted), in name order.
    label_index: Vec<(u32, Vec<u32>)>,
    /// (name symbol, value symbol, offset in the postings content), sorted.
    table: Vec<(u32, u32, u64)>,
    /// Series entries in compressed frames (version 2) or plain (1).
    framed_series: bool,
    /// Key space in the process-wide frame cache.
    owner: u64,
}

impl IndexReader {
    /// Checks and parses `data`, the bytes of the index file at `path`.
    pub(crate) fn open(data: &[u8], path: &Path) -> Result<IndexReader> {
        let bad = |offset: usize, why: String| Error::corruption(path, offset as u64, why);
        let mut d = Decbuf::new(data);
        if d.u32().ok() != Some(MAGIC) {
            return Err(bad(0, "bad index magic".into()));
        }
        let framed_series = match d.u8() {
            Ok(VERSION) => true,
            Ok(VERSION_PLAIN_SERIES) => false,
            Ok(v) => return Err(bad(4, format!("unsupported index version {v}"))),
            Err(e) => return Err(bad(e.offset, e.what)),
        };
        let toc_at = data
            .len()
            .checked_sub(TOC_LEN)
            .filter(|&t| t >= 5)
            .ok_or_else(|| bad(0, "index too short for its table of contents".into()))?;
        let toc = data.get(toc_at..).unwrap_or(&[]);
        let (toc_body, toc_crc) = toc.split_at(TOC_LEN - 4);
        if Some(crc32(toc_body)) != Decbuf::new(toc_crc).u32().ok() {
            return Err(bad(toc_at, "table of contents crc32 mismatch".into()));
        }
        let mut t = Decbuf::new(toc_body);
        let mut sections = [Section { start: 0, len: 0 }; 5];
        let names = [
            "symbols",
            "series",
            "label index",
            "postings",
            "postings table",
        ];
        for (i, s) in sections.iter_mut().enumerate() {
            let at = t.u64().map_err(|e| bad(toc_at + e.offset, e.what))? as usize;
            *s = section(
                data,
                at,
                toc_at,
                path,
                names.get(i).copied().unwrap_or("section"),
            )?;
        }
        let [sym_s, series, li_s, postings, table_s] = sections;
        let content = |s: Section| data.get(s.start..s.start + s.len).unwrap_or(&[]);
        let at = |s: Section, e: DecodeError| bad(s.start + e.offset, e.what);

        // Symbols.
        let mut d = Decbuf::new(content(sym_s));
        let n = d.len_prefix().map_err(|e| at(sym_s, e))?;
        let mut symbol_ends = Vec::with_capacity(n);
        let mut symbol_text = String::with_capacity(sym_s.len);
        for _ in 0..n {
            symbol_text.push_str(d.uvarint_str().map_err(|e| at(sym_s, e))?);
            let end = u32::try_from(symbol_text.len())
                .map_err(|_| bad(sym_s.start, "symbols over 4 GiB".into()))?;
            symbol_ends.push(end);
        }
        let nsym = symbol_ends.len() as u64;
        let check_sym = |s: u64, off: usize, sec: Section| -> Result<u32> {
            if s < nsym {
                Ok(s as u32)
            } else {
                Err(bad(sec.start + off, format!("symbol {s} out of range")))
            }
        };

        // Label index.
        let mut d = Decbuf::new(content(li_s));
        let n = d.len_prefix().map_err(|e| at(li_s, e))?;
        let mut label_index = Vec::with_capacity(n);
        for _ in 0..n {
            let name = check_sym(d.uvarint().map_err(|e| at(li_s, e))?, d.offset(), li_s)?;
            let nv = d.len_prefix().map_err(|e| at(li_s, e))?;
            let mut values = Vec::with_capacity(nv);
            for _ in 0..nv {
                values.push(check_sym(
                    d.uvarint().map_err(|e| at(li_s, e))?,
                    d.offset(),
                    li_s,
                )?);
            }
            label_index.push((name, values));
        }

        // Postings offset table.
        let mut d = Decbuf::new(content(table_s));
        let n = d.len_prefix().map_err(|e| at(table_s, e))?;
        let mut table = Vec::with_capacity(n);
        for _ in 0..n {
            let name = check_sym(
                d.uvarint().map_err(|e| at(table_s, e))?,
                d.offset(),
                table_s,
            )?;
            let value = check_sym(
                d.uvarint().map_err(|e| at(table_s, e))?,
                d.offset(),
                table_s,
            )?;
            let off = d.uvarint().map_err(|e| at(table_s, e))?;
            if off >= postings.len as u64 {
                return Err(bad(
                    table_s.start + d.offset(),
                    format!("postings offset {off} out of range"),
                ));
            }
            table.push((name, value, off));
        }
        Ok(IndexReader {
            path: path.to_path_buf(),
            symbol_text,
            symbol_ends,
            series,
            postings,
            label_index,
            table,
            framed_series,
            owner: crate::frame_cache::new_owner(),
        })
    }

    /// The decompressed series frame at `at` in the series content.
    fn series_frame(&self, content: &[u8], at: u64) -> Result<Arc<[u8]>> {
        crate::frame_cache::get_or_load(self.owner, at, || self.read_series_frame(content, at))
    }

    /// Reads and decompresses the series frame at `at`.
    fn read_series_frame(&self, content: &[u8], at: u64) -> Result<Vec<u8>> {
        let base = self.series.start;
        let start = usize::try_from(at)
            .ok()
            .filter(|&a| a < content.len())
            .ok_or_else(|| self.bad(base, format!("series frame offset {at} out of range")))?;
        let mut d = Decbuf::new(content.get(start..).unwrap_or(&[]));
        let frame = crate::frame_cache::read(&mut d)
            .map_err(|e| self.bad(base + start + e.offset, e.what))?;
        frame
            .decompress()
            .map_err(|why| self.bad(base + start, format!("series {why}")))
    }

    fn bad(&self, offset: usize, why: impl Into<String>) -> Error {
        Error::corruption(&self.path, offset as u64, why)
    }

    fn symbol(&self, i: u32) -> Result<&str> {
        let i = i as usize;
        let end = self.symbol_ends.get(i).copied();
        let start = match i.checked_sub(1) {
            Some(prev) => self.symbol_ends.get(prev).copied(),
            None => Some(0),
        };
        start
            .zip(end)
            .and_then(|(a, b)| self.symbol_text.get(a as usize..b as usize))
            .ok_or_else(|| self.bad(0, format!("symbol {i} out of range")))
    }

    /// The number of a symbol, by binary search (symbols are sorted).
    fn lookup(&self, s: &str) -> Result<Option<u32>> {
        let (mut lo, mut hi) = (0usize, self.symbol_ends.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.symbol(mid as u32)?.cmp(s) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(Some(mid as u32)),
            }
        }
        Ok(None)
    }

    /// Labels and chunk metas of series `id`.
    pub(crate) fn series(
        &self,
        data: &[u8],
        id: BlockSeriesId,
    ) -> Result<(Labels, Vec<ChunkMeta>)> {
        let mut labels = Vec::new();
        let mut chunks = Vec::new();
        self.decode_series(data, id, |n, v| labels.push(Label::new(n, v)), &mut chunks)?;
        Ok((Labels::from_sorted_pairs(labels), chunks))
    }

    /// Appends the key of series `id` (`name 0xff value 0xff ...`, as
    /// [`crate::labels::with_key`] builds it) to `key` and replaces
    /// `chunks` with its chunk metas: no allocation per label.
    pub(crate) fn series_key_into(
        &self,
        data: &[u8],
        id: BlockSeriesId,
        key: &mut Vec<u8>,
        chunks: &mut Vec<ChunkMeta>,
    ) -> Result<()> {
        chunks.clear();
        self.decode_series(
            data,
            id,
            |n, v| {
                key.extend_from_slice(n.as_bytes());
                key.push(0xff);
                key.extend_from_slice(v.as_bytes());
                key.push(0xff);
            },
            chunks,
        )
    }

    /// Decodes series `id`: each label pair in name order to `label`, its
    /// chunk metas appended to `chunks`.
    fn decode_series<'s>(
        &'s self,
        data: &[u8],
        id: BlockSeriesId,
        mut label: impl FnMut(&'s str, &'s str),
        chunks: &mut Vec<ChunkMeta>,
    ) -> Result<()> {
        let content = data
            .get(self.series.start..self.series.start + self.series.len)
            .unwrap_or(&[]);
        // In a frame (version 2), errors are reported at the frame's offset
        // in the file; in plain entries (version 1), at the entry's.
        let frame;
        let (entries, start, report_at): (&[u8], usize, Option<usize>) = if self.framed_series {
            frame = self.series_frame(content, id.frame_offset())?;
            (
                &frame[..],
                id.offset_in_frame(),
                Some(self.series.start + id.frame_offset() as usize),
            )
        } else {
            (
                content,
                usize::try_from(id.get()).unwrap_or(usize::MAX),
                None,
            )
        };
        if start >= entries.len() {
            return Err(self.bad(self.series.start, format!("series id {id} out of range")));
        }
        let mut d = Decbuf::new(entries.get(start..).unwrap_or(&[]));
        let entry_at = report_at.unwrap_or(self.series.start + start);
        let at = |e: DecodeError| match report_at {
            Some(frame_at) => self.bad(frame_at, format!("series {id}: {}", e.what)),
            None => self.bad(self.series.start + start + e.offset, e.what),
        };
        let nl = d.len_prefix().map_err(at)?;
        // Written from valid labels and crc-checked at open: check only what
        // the readers rely on (names present, in strictly increasing order).
        let misordered = || {
            self.bad(
                entry_at,
                format!("series {id}: labels missing, unnamed or out of order"),
            )
        };
        if nl == 0 {
            return Err(misordered());
        }
        let mut prev_name = "";
        for _ in 0..nl {
            let n = d.uvarint().map_err(at)?;
            let v = d.uvarint().map_err(at)?;
            let name = self.symbol(u32::try_from(n).unwrap_or(u32::MAX))?;
            let value = self.symbol(u32::try_from(v).unwrap_or(u32::MAX))?;
            if name <= prev_name {
                return Err(misordered());
            }
            prev_name = name;
            label(name, value);
        }
        let nc = d.len_prefix().map_err(at)?;
        chunks.reserve(nc);
        let (mut prev_max, mut prev_ref) = (0i64, 0u64);
        for i in 0..nc {
            let (min_t, raw_ref) = if i == 0 {
                (d.varint().map_err(at)?, d.uvarint().map_err(at)?)
            } else {
                (
                    prev_max.wrapping_add(d.varint().map_err(at)?),
                    prev_ref.wrapping_add(d.uvarint().map_err(at)?),
                )
            };
            let max_t = min_t.wrapping_add(d.uvarint().map_err(at)? as i64);
            let num_samples = u32::try_from(d.uvarint().map_err(at)?).unwrap_or(u32::MAX);
            let encoding = d.u8().map_err(at)?;
            chunks.push(ChunkMeta {
                min_t,
                max_t,
                num_samples,
                encoding,
                chunk_ref: ChunkRef::from_raw(raw_ref),
            });
            prev_max = max_t;
            prev_ref = raw_ref;
        }
        Ok(())
    }

    fn list_at(&self, data: &[u8], offset: u64) -> Result<Vec<BlockSeriesId>> {
        let content = data
            .get(self.postings.start..self.postings.start + self.postings.len)
            .unwrap_or(&[]);
        let start = offset as usize;
        let mut d = Decbuf::new(content.get(start..).unwrap_or(&[]));
        let at = |e: DecodeError| self.bad(self.postings.start + start + e.offset, e.what);
        let n = d.len_prefix().map_err(at)?;
        let mut out = Vec::with_capacity(n);
        let mut id = 0u64;
        for i in 0..n {
            let delta = d.uvarint().map_err(at)?;
            if i > 0 && delta == 0 {
                return Err(self.bad(
                    self.postings.start + start + d.offset(),
                    "postings not strictly increasing",
                ));
            }
            id = id.wrapping_add(delta);
            out.push(BlockSeriesId::from_raw(id));
        }
        Ok(out)
    }

    /// Series ids with `name=value`.
    pub(crate) fn postings(
        &self,
        data: &[u8],
        name: &str,
        value: &str,
    ) -> Result<Vec<BlockSeriesId>> {
        let (Some(n), Some(v)) = (self.lookup(name)?, self.lookup(value)?) else {
            return Ok(Vec::new());
        };
        match self
            .table
            .binary_search_by(|&(tn, tv, _)| (tn, tv).cmp(&(n, v)))
        {
            Ok(i) => match self.table.get(i) {
                Some(&(_, _, off)) => self.list_at(data, off),
                None => Ok(Vec::new()),
            },
            Err(_) => Ok(Vec::new()),
        }
    }

    /// Every series id.
    pub(crate) fn all_postings(&self, data: &[u8]) -> Result<Vec<BlockSeriesId>> {
        self.list_at(data, 0)
    }

    /// Values of label `name`.
    pub(crate) fn label_values(&self, name: &str) -> Result<Vec<String>> {
        let Some(n) = self.lookup(name)? else {
            return Ok(Vec::new());
        };
        match self.label_index.binary_search_by_key(&n, |(name, _)| *name) {
            Ok(i) => self
                .label_index
                .get(i)
                .map(|(_, values)| {
                    values
                        .iter()
                        .map(|&v| self.symbol(v).map(str::to_owned))
                        .collect()
                })
                .unwrap_or_else(|| Ok(Vec::new())),
            Err(_) => Ok(Vec::new()),
        }
    }

    /// Every label name.
    pub(crate) fn label_names(&self) -> Result<Vec<String>> {
        self.label_index
            .iter()
            .map(|(n, _)| self.symbol(*n).map(str::to_owned))
            .collect()
    }
}

/// Checks the section whose length field is at `at` and returns its content range.
fn section(data: &[u8], at: usize, toc_at: usize, path: &Path, name: &str) -> Result<Section> {
    let bad = |offset: usize, why: String| Error::corruption(path, offset as u64, why);
    let len_bytes = data
        .get(at..at + 4)
        .filter(|_| at >= 5 && at + 4 <= toc_at)
        .ok_or_else(|| bad(at, format!("{name} section offset {at} out of range")))?;
    let len = Decbuf::new(len_bytes).u32().map_err(|e| bad(at, e.what))? as usize;
    let start = at + 4;
    let end = start
        .checked_add(len)
        .filter(|&e| e + 4 <= toc_at)
        .ok_or_else(|| bad(at, format!("{name} section length {len} out of range")))?;
    let content = data.get(start..end).unwrap_or(&[]);
    let want = Decbuf::new(data.get(end..end + 4).unwrap_or(&[]))
        .u32()
        .map_err(|e| bad(end, e.what))?;
    if crc32(content) != want {
        return Err(bad(start, format!("{name} section crc32 mismatch")));
    }
    Ok(Section { start, len })
}
