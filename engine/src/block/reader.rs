//! Opens a published block.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::index::{BlockSeriesId, IndexReader, PostingsSource};
use crate::labels::Labels;

use super::chunks::{self, ChunkBytes, ChunkReader};
use super::mmap::Mapped;
use super::{BlockMeta, ChunkMeta, meta};

/// An open, immutable block.
#[derive(Debug)]
pub struct Block {
    dir: PathBuf,
    meta: BlockMeta,
    index_data: Mapped,
    index: IndexReader,
    chunks: ChunkReader,
}

impl Block {
    /// Opens the block in `dir`: checks the meta file, maps the index (every
    /// section's crc32 checked) and the chunk segments.
    ///
    /// # Errors
    /// [`Error::Corruption`] naming the damaged file and offset; an I/O error.
    pub fn open(dir: &Path) -> Result<Block> {
        let meta_path = dir.join(meta::FILE);
        let bytes = std::fs::read(&meta_path).map_err(|e| Error::io("read", &meta_path, e))?;
        let meta = BlockMeta::decode(&bytes, &meta_path)?;
        let index_path = dir.join("index");
        let index_data = Mapped::open(&index_path)?;
        let index = IndexReader::open(&index_data, &index_path)?;
        let chunks = ChunkReader::open(&dir.join(chunks::DIR))?;
        Ok(Block {
            dir: dir.to_path_buf(),
            meta,
            index_data,
            index,
            chunks,
        })
    }

    /// What the meta file says.
    pub fn meta(&self) -> &BlockMeta {
        &self.meta
    }

    /// The block's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Bytes of index and chunk files.
    pub fn size_bytes(&self) -> u64 {
        self.index_data.len() as u64 + self.chunks.size_bytes()
    }

    /// Labels and chunk metas of series `id` (ids come from this block's
    /// postings).
    ///
    /// # Errors
    /// [`Error::Corruption`] for an id or entry that does not decode.
    pub fn series(&self, id: BlockSeriesId) -> Result<(Labels, Vec<ChunkMeta>)> {
        self.index.series(&self.index_data, id)
    }

    /// Appends the key of series `id` (`name 0xff value 0xff ...`) to `key`
    /// and replaces `chunks` with its chunk metas, allocating nothing per
    /// label.
    ///
    /// # Errors
    /// As [`Block::series`].
    pub(crate) fn series_key_into(
        &self,
        id: BlockSeriesId,
        key: &mut Vec<u8>,
        chunks: &mut Vec<ChunkMeta>,
    ) -> Result<()> {
        self.index
            .series_key_into(&self.index_data, id, key, chunks)
    }

    /// The bytes of a chunk, crc32-checked.
    ///
    /// # Errors
    /// [`Error::Corruption`] naming the chunk file and offset.
    pub fn chunk(&self, meta: &ChunkMeta) -> Result<ChunkBytes<'_>> {
        self.chunks.chunk(meta.chunk_ref, meta.encoding)
    }

    /// Every label name in the block, sorted.
    ///
    /// # Errors
    /// [`Error::Corruption`].
    pub fn label_names(&self) -> Result<Vec<String>> {
        self.index.label_names()
    }
}

impl PostingsSource for Block {
    type Id = BlockSeriesId;

    fn postings(&self, name: &str, value: &str) -> Result<Vec<BlockSeriesId>> {
        self.index.postings(&self.index_data, name, value)
    }

    fn label_values(&self, name: &str) -> Result<Vec<String>> {
        self.index.label_values(name)
    }

    fn all_postings(&self) -> Result<Vec<BlockSeriesId>> {
        self.index.all_postings(&self.index_data)
    }
}
