//! Read-only memory maps of block files: the engine's only `unsafe` code.
#![allow(unsafe_code)]

use std::fs::File;
use std::ops::Deref;
use std::path::Path;

use crate::error::{Error, Result};

/// A whole file mapped read-only.
#[derive(Debug)]
pub(crate) struct Mapped {
    map: Option<memmap2::Mmap>,
}

impl Mapped {
    /// Maps `path` read-only.
    ///
    /// # Safety (of the design, not of the call)
    /// A mapping's bytes must not change while mapped. Block files are
    /// written once into a temporary directory, fsynced, and only then
    /// published by renaming the directory; the engine never opens a
    /// published block file for writing, and deletes a block by renaming and
    /// unlinking (which leaves existing mappings intact).
    pub(crate) fn open(path: &Path) -> Result<Mapped> {
        let file = File::open(path).map_err(|e| Error::io("open", path, e))?;
        let len = file
            .metadata()
            .map_err(|e| Error::io("stat", path, e))?
            .len();
        if len == 0 {
            return Ok(Mapped { map: None });
        }
        // SAFETY: the file is a published block file, never written again
        // (see above); the map is read-only, so the only hazard is outside
        // modification of our data directory, which the storage's lock file
        // and file layout rule out for cooperating processes.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io("mmap", path, e))?;
        Ok(Mapped { map: Some(map) })
    }
}

impl Deref for Mapped {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }
}
