//! Writes a block into `<id>.tmp-for-creation` and publishes it by rename.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::fsutil::sync_dir;
use crate::index::IndexWriter;
use crate::labels::{Labels, cmp_keys, with_key};

use super::chunks::{self, ChunkWriter};
use super::{BlockId, BlockMeta, BlockStats, CREATING, ChunkMeta, ChunkToWrite, meta};

/// Builds one block; see [`BlockWriter::create`].
#[derive(Debug)]
pub struct BlockWriter {
    blocks_dir: PathBuf,
    tmp: PathBuf,
    id: BlockId,
    /// Taken by `finish`.
    chunks: Option<ChunkWriter>,
    index: IndexWriter,
    /// Key (`labels::with_key`) of the last series added.
    last: Option<Box<[u8]>>,
    min_t: i64,
    max_t: i64,
    stats: BlockStats,
}

impl BlockWriter {
    /// Starts block `id` in `<blocks_dir>/<id>.tmp-for-creation/`, removing a
    /// stale one.
    ///
    /// # Errors
    /// An I/O error.
    pub fn create(blocks_dir: &Path, id: BlockId) -> Result<BlockWriter> {
        let tmp = blocks_dir.join(format!("{id}{CREATING}"));
        if tmp.exists() {
            fs::remove_dir_all(&tmp).map_err(|e| Error::io("remove", &tmp, e))?;
        }
        crate::fsutil::create_dir_all(&tmp)?;
        Ok(BlockWriter {
            blocks_dir: blocks_dir.to_path_buf(),
            chunks: Some(ChunkWriter::new(&tmp.join(chunks::DIR))?),
            tmp,
            id,
            index: IndexWriter::default(),
            last: None,
            min_t: i64::MAX,
            max_t: i64::MIN,
            stats: BlockStats::default(),
        })
    }

    /// Adds a series with its chunks (sorted by time, not overlapping).
    /// Series must come in strictly increasing label order.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] for out-of-order series or chunks; an I/O error.
    pub fn add_series(&mut self, labels: &Labels, chunks: &[ChunkToWrite<'_>]) -> Result<()> {
        let key = with_key(labels.byte_pairs(), |k: &[u8]| Box::<[u8]>::from(k));
        self.add_series_key(&key, chunks)
    }

    /// [`BlockWriter::add_series`] for labels given as a series key
    /// (`name 0xff value 0xff ...` of valid labels, in name order).
    pub(crate) fn add_series_key(&mut self, key: &[u8], chunks: &[ChunkToWrite<'_>]) -> Result<()> {
        let labels_of = |k: &[u8]| Labels::from_key(k).to_string();
        if let Some(last) = &self.last
            && cmp_keys(last, key) != std::cmp::Ordering::Less
        {
            return Err(Error::InvalidOption {
                name: "series order",
                reason: format!("{} added after {}", labels_of(key), labels_of(last)),
            });
        }
        if chunks.windows(2).any(|w| w[0].max_t >= w[1].min_t)
            || chunks.iter().any(|c| c.min_t > c.max_t)
        {
            return Err(Error::InvalidOption {
                name: "chunk order",
                reason: format!("chunks of {} overlap or are unsorted", labels_of(key)),
            });
        }
        let mut metas = Vec::with_capacity(chunks.len());
        let Some(writer) = self.chunks.as_mut() else {
            return Err(Error::InvalidOption {
                name: "block writer",
                reason: "series added after finish".into(),
            });
        };
        for c in chunks {
            let chunk_ref = writer.write(c.encoding, c.bytes)?;
            metas.push(ChunkMeta {
                min_t: c.min_t,
                max_t: c.max_t,
                num_samples: c.num_samples,
                encoding: c.encoding,
                chunk_ref,
            });
            self.min_t = self.min_t.min(c.min_t);
            self.max_t = self.max_t.max(c.max_t);
            self.stats.num_chunks += 1;
            self.stats.num_samples += u64::from(c.num_samples);
        }
        let key: Box<[u8]> = key.into();
        self.index.add(key.clone(), &metas);
        self.stats.num_series += 1;
        self.last = Some(key);
        Ok(())
    }

    /// Whether no series was added yet.
    pub(crate) fn is_empty(&self) -> bool {
        self.stats.num_series == 0
    }

    /// Gives the block up: removes what was written so far, publishes
    /// nothing.
    ///
    /// # Errors
    /// An I/O error removing the directory.
    pub(crate) fn abandon(mut self) -> Result<()> {
        drop(self.chunks.take());
        fs::remove_dir_all(&self.tmp).map_err(|e| Error::io("remove", &self.tmp, e))
    }

    /// Writes index and meta, fsyncs everything, and publishes the block as
    /// `<blocks_dir>/<id>`. A block without series is allowed (its time
    /// range is then empty: `min_t > max_t`).
    ///
    /// # Errors
    /// An I/O error; nothing is published then.
    pub fn finish(mut self, level: u32, sources: Vec<BlockId>) -> Result<BlockMeta> {
        if let Some(chunks) = self.chunks.take() {
            chunks.finish()?;
        }
        let index_path = self.tmp.join("index");
        write_synced(&index_path, &std::mem::take(&mut self.index).finish())?;
        let meta = BlockMeta {
            id: self.id,
            min_t: self.min_t,
            max_t: self.max_t,
            stats: self.stats,
            level,
            sources,
        };
        write_synced(&self.tmp.join(meta::FILE), &meta.encode())?;
        sync_dir(&self.tmp)?;
        let target = self.blocks_dir.join(self.id.to_string());
        // Durable directory entry: rename, then fsync of `blocks/`.
        crate::fsutil::rename(&self.tmp, &target)?;
        Ok(meta)
    }
}

impl Drop for BlockWriter {
    /// A block that was not published (an error, a full disk) leaves
    /// nothing behind: its temporary directory is removed at once rather
    /// than at the next open, freeing the space it took.
    fn drop(&mut self) {
        if self.tmp.exists() {
            let _ = fs::remove_dir_all(&self.tmp);
        }
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut f = fs::File::create(path).map_err(|e| Error::io("create", path, e))?;
    f.write_all(bytes)
        .map_err(|e| Error::io("write", path, e))?;
    f.sync_all().map_err(|e| Error::io("fsync", path, e))
}
