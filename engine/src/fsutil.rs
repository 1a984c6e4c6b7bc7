//! Directory operations on durability paths: each rename, unlink or mkdir
//! is followed by an fsync of the directory (or directories) whose entries
//! it changed, so that the change survives a machine crash in the order the
//! durability protocol (FORMAT.md) relies on.

use std::fs;
use std::path::Path;

use crate::error::{Error, Result};

/// fsyncs a directory, so that creations, renames and removals of its
/// entries are durable.
///
/// # Errors
/// An I/O error opening or fsyncing `dir`.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("fsync", dir, e))
}

/// fsyncs the directory holding `path` (`.` for a bare name).
fn sync_parent(path: &Path) -> Result<()> {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => sync_dir(p),
        _ => sync_dir(Path::new(".")),
    }
}

/// Renames `from` to `to`, then fsyncs the directory of `to` and, when it
/// differs, that of `from`.
///
/// # Errors
/// An I/O error renaming or fsyncing.
pub(crate) fn rename(from: &Path, to: &Path) -> Result<()> {
    fs::rename(from, to).map_err(|e| Error::io("rename", from, e))?;
    sync_parent(to)?;
    if from.parent() != to.parent() {
        sync_parent(from)?;
    }
    Ok(())
}

/// Creates `dir` and any missing parents, fsyncing the parent of every
/// directory it creates.
///
/// # Errors
/// An I/O error creating or fsyncing.
pub(crate) fn create_dir_all(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent()
        && !parent.as_os_str().is_empty()
    {
        create_dir_all(parent)?;
    }
    match fs::create_dir(dir) {
        Ok(()) => sync_parent(dir),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(Error::io("create", dir, e)),
    }
}

/// Removes a directory tree, then fsyncs its parent.
///
/// # Errors
/// An I/O error removing or fsyncing.
pub(crate) fn remove_dir_all(dir: &Path) -> Result<()> {
    fs::remove_dir_all(dir).map_err(|e| Error::io("remove", dir, e))?;
    sync_parent(dir)
}

/// Removes a file, then fsyncs its directory.
///
/// # Errors
/// An I/O error removing or fsyncing.
pub(crate) fn remove_file(path: &Path) -> Result<()> {
    fs::remove_file(path).map_err(|e| Error::io("remove", path, e))?;
    sync_parent(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers_change_the_tree_as_named() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("a/b/c");
        create_dir_all(&deep).unwrap();
        assert!(deep.is_dir());
        create_dir_all(&deep).unwrap();
        fs::write(deep.join("f"), b"x").unwrap();
        rename(&deep.join("f"), &dir.path().join("a/g")).unwrap();
        assert!(!deep.join("f").exists());
        assert_eq!(fs::read(dir.path().join("a/g")).unwrap(), b"x");
        remove_file(&dir.path().join("a/g")).unwrap();
        assert!(!dir.path().join("a/g").exists());
        remove_dir_all(&dir.path().join("a")).unwrap();
        assert!(!dir.path().join("a").exists());
        assert!(remove_file(&dir.path().join("missing")).is_err());
    }
}
