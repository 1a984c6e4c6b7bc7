//! Immutable on-disk blocks: a directory with a `meta` file, an `index` and
//! chunk segment files, read through memory maps. Layouts in `FORMAT.md`.

mod build;
mod chunk_ref;
mod chunks;
mod meta;
mod mmap;
mod reader;
mod writer;

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

pub use crate::index::BlockSeriesId;
pub(crate) use build::{chunks_of, to_write};
pub use chunk_ref::ChunkRef;
pub use chunks::ChunkBytes;
pub use meta::{BlockId, BlockMeta, BlockStats};
pub use reader::Block;
pub use writer::BlockWriter;

/// Suffix of a block directory being written.
pub(crate) const CREATING: &str = ".tmp-for-creation";
/// Suffix of a block directory being deleted.
pub(crate) const DELETING: &str = ".tmp-for-deletion";

/// Where one chunk of a series is, and what it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkMeta {
    /// First sample's timestamp.
    pub min_t: i64,
    /// Last sample's timestamp.
    pub max_t: i64,
    /// Samples in the chunk.
    pub num_samples: u32,
    /// [`crate::chunk::Encoding`] tag.
    pub encoding: u8,
    /// Where the chunk is in the block's chunk files.
    pub chunk_ref: ChunkRef,
}

/// A chunk handed to [`BlockWriter::add_series`].
#[derive(Debug, Clone, Copy)]
pub struct ChunkToWrite<'a> {
    /// First sample's timestamp.
    pub min_t: i64,
    /// Last sample's timestamp.
    pub max_t: i64,
    /// Samples in the chunk.
    pub num_samples: u32,
    /// [`crate::chunk::Encoding`] tag.
    pub encoding: u8,
    /// The encoded chunk.
    pub bytes: &'a [u8],
}

/// Published blocks under `blocks_dir`, by id; removes leftovers of
/// interrupted creations and deletions.
///
/// # Errors
/// An I/O error listing or removing.
pub fn list_blocks(blocks_dir: &Path) -> Result<Vec<(BlockId, PathBuf)>> {
    let mut out = Vec::new();
    for e in fs::read_dir(blocks_dir)
        .map_err(|e| Error::io("list", blocks_dir, e))?
        .flatten()
    {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(CREATING) || name.ends_with(DELETING) {
            crate::fsutil::remove_dir_all(&e.path())?;
            continue;
        }
        if let Ok(id) = name.parse::<BlockId>()
            && e.path().is_dir()
        {
            out.push((id, e.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// Deletes a block directory: renamed first, and the rename made durable
/// (directory fsync) before any file goes, so a crash leaves either the
/// whole block or a `.tmp-for-deletion` leftover that open removes, never
/// a half block under its published name. Returns once the removal is
/// durable too.
///
/// # Errors
/// An I/O error.
pub fn delete_block(dir: &Path) -> Result<()> {
    let mut doomed = dir.as_os_str().to_owned();
    doomed.push(DELETING);
    let doomed = PathBuf::from(doomed);
    crate::fsutil::rename(dir, &doomed)?;
    crate::fsutil::remove_dir_all(&doomed)
}

#[cfg(test)]
mod tests;
