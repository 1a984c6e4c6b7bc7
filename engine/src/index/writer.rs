//! Writes a block's index file. Layout in `FORMAT.md` ("Index file").

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::block::ChunkMeta;
use crate::encoding::Encbuf;
use crate::labels::key_pairs;

use super::BlockSeriesId;

/// "STIX"
pub(crate) const MAGIC: u32 = 0x5354_4958;
/// Version 2: series entries in zstd-compressed frames.
pub(crate) const VERSION: u8 = 2;
/// Version 1: series entries stored plain (still read).
pub(crate) const VERSION_PLAIN_SERIES: u8 = 1;
/// A series frame is closed once its entries reach this many bytes, so every
/// entry starts below it and its offset fits a series id's low 16 bits.
pub(crate) const SERIES_FRAME_TARGET: usize = 1 << 16;
/// Bytes of the table of contents at the end of the file.
pub(crate) const TOC_LEN: usize = 5 * 8 + 4;

/// Collects series (in label order) and builds the index bytes.
#[derive(Debug, Default)]
pub(crate) struct IndexWriter {
    /// Key of each series (`labels::with_key`: one buffer instead of a
    /// `Labels` per series), and its chunk metas already encoded.
    series: Vec<(Box<[u8]>, Vec<u8>)>,
}

/// Appends chunk metas: count, then per chunk the start time (first as is,
/// then as the gap after the previous chunk's end), the span, sample count,
/// encoding and reference (first as is, then as the increase).
pub(crate) fn encode_chunk_metas(chunks: &[ChunkMeta], e: &mut Encbuf) {
    e.put_uvarint(chunks.len() as u64);
    let (mut prev_max, mut prev_ref) = (0i64, 0u64);
    for (i, c) in chunks.iter().enumerate() {
        if i == 0 {
            e.put_varint(c.min_t);
            e.put_uvarint(c.chunk_ref.get());
        } else {
            e.put_varint(c.min_t.wrapping_sub(prev_max));
            e.put_uvarint(c.chunk_ref.get().wrapping_sub(prev_ref));
        }
        e.put_uvarint(c.max_t.wrapping_sub(c.min_t) as u64);
        e.put_uvarint(u64::from(c.num_samples));
        e.put_u8(c.encoding);
        prev_max = c.max_t;
        prev_ref = c.chunk_ref.get();
    }
}

/// Writes one section: length, content, crc32 of the content.
fn put_section(out: &mut Encbuf, content: &[u8]) -> u64 {
    let at = out.len() as u64;
    out.put_u32(content.len() as u32);
    out.put_bytes(content);
    out.put_u32(crate::encoding::crc32(content));
    at
}

impl IndexWriter {
    /// Adds a series; the caller guarantees increasing label order.
    pub(crate) fn add(&mut self, key: Box<[u8]>, chunks: &[ChunkMeta]) {
        let mut e = Encbuf::new();
        encode_chunk_metas(chunks, &mut e);
        self.series.push((key, e.into_vec()));
    }

    /// The finished index file.
    pub(crate) fn finish(self) -> Vec<u8> {
        // Symbols: every name and value, sorted; "" first so it always exists.
        let mut symbol_set: BTreeSet<&str> = BTreeSet::new();
        symbol_set.insert("");
        for (key, _) in &self.series {
            for (n, v) in key_pairs(key) {
                symbol_set.insert(n);
                symbol_set.insert(v);
            }
        }
        let symbols: HashMap<&str, u64> = symbol_set
            .iter()
            .enumerate()
            .map(|(i, s)| (*s, i as u64))
            .collect();
        let sym = |s: &str| symbols.get(s).copied().unwrap_or(0);

        let mut out = Encbuf::new();
        out.put_u32(MAGIC);
        out.put_u8(VERSION);

        let mut content = Encbuf::new();
        content.put_uvarint(symbol_set.len() as u64);
        for s in &symbol_set {
            content.put_uvarint_str(s);
        }
        let symbols_at = put_section(&mut out, content.as_slice());

        // Series, packed into compressed frames; a series' id is its frame's
        // offset in the section content << 16 | its entry's offset in the
        // decompressed frame, so ids increase with label order.
        content.clear();
        let mut ids = Vec::with_capacity(self.series.len());
        let mut pairs: BTreeMap<(&str, &str), Vec<BlockSeriesId>> = BTreeMap::new();
        let mut frame = Encbuf::with_capacity(SERIES_FRAME_TARGET * 2);
        let mut frame_at = 0u64;
        for (key, chunk_bytes) in &self.series {
            if frame.is_empty() {
                frame_at = content.len() as u64;
            }
            let id = BlockSeriesId::framed(frame_at, frame.len());
            ids.push(id);
            frame.put_uvarint(key_pairs(key).count() as u64);
            for (n, v) in key_pairs(key) {
                frame.put_uvarint(sym(n));
                frame.put_uvarint(sym(v));
                pairs.entry((n, v)).or_default().push(id);
            }
            frame.put_bytes(chunk_bytes);
            if frame.len() >= SERIES_FRAME_TARGET {
                crate::frame_cache::put(&mut content, frame.as_slice());
                frame.clear();
            }
        }
        if !frame.is_empty() {
            crate::frame_cache::put(&mut content, frame.as_slice());
        }
        let series_at = put_section(&mut out, content.as_slice());

        // Label index: names with their values.
        content.clear();
        let mut names: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (n, v) in pairs.keys() {
            names.entry(n).or_default().push(v);
        }
        content.put_uvarint(names.len() as u64);
        for (n, values) in &names {
            content.put_uvarint(sym(n));
            content.put_uvarint(values.len() as u64);
            for v in values {
                content.put_uvarint(sym(v));
            }
        }
        let label_index_at = put_section(&mut out, content.as_slice());

        // Postings: the list of all series first, then one per label pair.
        content.clear();
        let put_list = |content: &mut Encbuf, list: &[BlockSeriesId]| {
            content.put_uvarint(list.len() as u64);
            let mut prev = 0;
            for id in list {
                content.put_uvarint(id.get() - prev);
                prev = id.get();
            }
        };
        put_list(&mut content, &ids);
        let mut table = Vec::with_capacity(pairs.len());
        for ((n, v), list) in &pairs {
            table.push((sym(n), sym(v), content.len() as u64));
            put_list(&mut content, list);
        }
        let postings_at = put_section(&mut out, content.as_slice());

        content.clear();
        content.put_uvarint(table.len() as u64);
        for (n, v, off) in table {
            content.put_uvarint(n);
            content.put_uvarint(v);
            content.put_uvarint(off);
        }
        let table_at = put_section(&mut out, content.as_slice());

        let toc_start = out.len();
        for at in [symbols_at, series_at, label_index_at, postings_at, table_at] {
            out.put_u64(at);
        }
        out.put_crc32_since(toc_start);
        out.into_vec()
    }
}
