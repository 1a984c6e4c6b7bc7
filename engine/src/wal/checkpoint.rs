//! Checkpoints: the older part of the WAL compacted to what the head still
//! needs, written atomically as `checkpoint.<N>/00000000`.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::encoding::Encbuf;
use crate::error::{Error, Result};

use super::segment::{self, SegmentAge, encode_record, list_segments, read_segment};
use super::{Record, ReplayReport};

const PREFIX: &str = "checkpoint.";
const TMP_SUFFIX: &str = ".tmp";

fn parse(name: &str) -> Option<u64> {
    name.strip_prefix(PREFIX)
        .filter(|n| !n.ends_with(TMP_SUFFIX))
        .and_then(|n| n.parse().ok())
}

/// All complete checkpoints, oldest first.
pub(crate) fn all(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(Error::io("list", dir, e)),
    };
    for e in entries.flatten() {
        if let Some(n) = e.file_name().to_str().and_then(parse)
            && e.path().is_dir()
        {
            out.push((n, e.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// The newest complete checkpoint.
pub(crate) fn latest(dir: &Path) -> Result<Option<(u64, PathBuf)>> {
    Ok(all(dir)?.pop())
}

/// Removes half-written checkpoints left by a crash.
pub(crate) fn remove_leftovers(dir: &Path) -> Result<()> {
    let mut removed = false;
    for e in fs::read_dir(dir)
        .map_err(|e| Error::io("list", dir, e))?
        .flatten()
    {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(PREFIX) && name.ends_with(TMP_SUFFIX) {
            fs::remove_dir_all(e.path()).map_err(|err| Error::io("remove", e.path(), err))?;
            removed = true;
        }
    }
    if removed {
        crate::fsutil::sync_dir(dir)?;
    }
    Ok(())
}

/// Writes `checkpoint.<upto>` from the previous checkpoint and segments
/// `<= upto`, filtered through `keep`; then removes what it replaces.
pub(crate) fn write(
    dir: &Path,
    upto: u64,
    mut keep: impl FnMut(Record) -> Option<Record>,
) -> Result<ReplayReport> {
    let mut report = ReplayReport::default();
    let mut buf = Encbuf::new();
    buf.put_bytes(&segment::header());
    let mut emit = |rec: Record| {
        if let Some(kept) = keep(rec)
            && !kept.is_empty()
        {
            encode_record(&kept, &mut buf);
        }
        Ok(())
    };
    let previous = all(dir)?;
    if let Some((n, cdir)) = previous.last() {
        for (_, path) in list_segments(cdir)? {
            read_segment(&path, SegmentAge::Older, &mut emit, &mut report)?;
        }
        report.checkpoint = Some(*n);
    }
    let old_segments: Vec<(u64, PathBuf)> = list_segments(dir)?
        .into_iter()
        .filter(|s| s.0 <= upto)
        .collect();
    for (_, path) in &old_segments {
        read_segment(path, SegmentAge::Older, &mut emit, &mut report)?;
    }
    report.last_segment = old_segments.last().map(|s| s.0);

    segment::encode_seal(buf.len() as u64, &mut buf);
    let name = format!("{PREFIX}{upto:08}");
    let tmp = dir.join(format!("{name}{TMP_SUFFIX}"));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir(&tmp).map_err(|e| Error::io("create", &tmp, e))?;
    let file = tmp.join(segment::segment_name(0));
    let mut f = File::create(&file).map_err(|e| Error::io("create", &file, e))?;
    f.write_all(buf.as_slice())
        .map_err(|e| Error::io("write", &file, e))?;
    f.sync_all().map_err(|e| Error::io("fsync", &file, e))?;
    crate::fsutil::sync_dir(&tmp)?;
    let target = dir.join(&name);
    if target.exists() {
        crate::fsutil::remove_dir_all(&target)?;
    }
    crate::fsutil::rename(&tmp, &target)?;

    // Removals are made durable with one fsync of `wal/` for all of them.
    for (_, path) in old_segments {
        fs::remove_file(&path).map_err(|e| Error::io("remove", &path, e))?;
    }
    for (n, cdir) in previous {
        if n != upto {
            fs::remove_dir_all(&cdir).map_err(|e| Error::io("remove", &cdir, e))?;
        }
    }
    crate::fsutil::sync_dir(dir)?;
    Ok(report)
}
