//! Snapshots: a consistent copy of the data directory's blocks made of hard
//! links (block files are immutable once published), openable as a data
//! directory of its own.

use std::fs;
use std::path::Path;

use crate::error::{Error, Result};

/// What [`crate::Storage::snapshot`] copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotScope {
    /// Only the published blocks (and tombstones): what the head holds is
    /// left out (Prometheus' `skip_head=true`).
    BlocksOnly,
    /// The head is written to blocks first, so the snapshot holds every
    /// sample committed before the call.
    WithHead,
}

/// Hard-links every file of `src` into the new directory `dst` (copying when
/// the two are on different file systems), one level deep: blocks hold
/// files only, apart from their `chunks/` directory, which recurses.
pub(crate) fn link_tree(src: &Path, dst: &Path) -> Result<()> {
    crate::fsutil::create_dir_all(dst)?;
    let entries = fs::read_dir(src).map_err(|e| Error::io("read dir", src, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("read dir", src, e))?;
        let from = entry.path();
        let to = dst.join(entry.file_name());
        let kind = entry.file_type().map_err(|e| Error::io("stat", &from, e))?;
        if kind.is_dir() {
            link_tree(&from, &to)?;
        } else if fs::hard_link(&from, &to).is_err() {
            // A copy (another file system) is new data: fsynced, as the
            // block files it copies were.
            fs::copy(&from, &to).map_err(|e| Error::io("copy", &from, e))?;
            fs::File::open(&to)
                .and_then(|f| f.sync_all())
                .map_err(|e| Error::io("fsync", &to, e))?;
        }
    }
    crate::fsutil::sync_dir(dst)
}
