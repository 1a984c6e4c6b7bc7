//! Write-ahead log: every committed batch is written here before it reaches
//! the head, so a crash loses nothing that was acknowledged.
//!
//! The WAL is a directory of numbered segment files of framed records (each
//! with a crc32), plus at most one checkpoint: a compacted copy of the older
//! segments holding only what the head still needs. Byte layout in
//! `FORMAT.md`.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::indexing_slicing))]

mod checkpoint;
mod record;
mod segment;

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use crate::encoding::Encbuf;
use crate::error::{Error, Result};

use segment::SegmentAge;

pub use record::{DeleteRecord, Record, RefSample, SeriesRecord};

/// When the WAL calls fsync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// Never explicitly: the OS writes back when it likes. Survives a crash
    /// of the process, not of the machine.
    Never,
    /// A background thread fsyncs at this interval: at most that much is lost
    /// on power failure.
    Interval(Duration),
    /// Every `log` call returns after fsync; concurrent callers share one
    /// fsync (group commit).
    Always,
}

impl Default for FsyncPolicy {
    fn default() -> Self {
        FsyncPolicy::Interval(Duration::from_secs(1))
    }
}

/// WAL settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalOptions {
    /// A segment is closed once it grows past this many bytes (a batch never
    /// spans segments). Default 32 MiB: replay and checkpoints read a
    /// segment into memory whole, so this bounds what they hold at once.
    pub segment_size: u64,
    /// fsync policy.
    pub fsync: FsyncPolicy,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions {
            segment_size: 32 << 20,
            fsync: FsyncPolicy::default(),
        }
    }
}

/// Damage found while reading the WAL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corruption {
    /// The damaged segment file.
    pub file: PathBuf,
    /// Byte offset of the damage in the file.
    pub offset: u64,
    /// What was wrong and what replay did.
    pub reason: String,
}

/// What a replay read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Records passed to the callback.
    pub records: u64,
    /// Damaged records skipped (replay went on past each).
    pub corruptions: Vec<Corruption>,
    /// An incomplete last record, cut off.
    pub torn_tail: Option<Corruption>,
    /// The checkpoint replayed first, if any.
    pub checkpoint: Option<u64>,
    /// The newest segment read.
    pub last_segment: Option<u64>,
}

#[derive(Debug)]
struct Writer {
    file: Arc<File>,
    index: u64,
    size: u64,
    /// Bytes written through this WAL, across segments: the position a
    /// group-commit fsync must reach.
    written: u64,
    /// A failed write may have left bytes past `size` that could not be cut
    /// off yet: the next write repairs first (see [`Wal::repair`]).
    torn: bool,
}

/// Writes `buf` at the end of `file` (tests can make it fail part-way).
fn write_buf(file: &File, buf: &[u8]) -> std::io::Result<()> {
    #[cfg(test)]
    if let Some(n) = tests::FAIL_WRITE_AFTER.with(|c| c.take()) {
        let mut f = file;
        f.write_all(buf.get(..n.min(buf.len())).unwrap_or_default())?;
        return Err(std::io::Error::from_raw_os_error(28)); // ENOSPC
    }
    let mut f = file;
    f.write_all(buf)
}

/// Group-commit state. `syncing` is never held while the writer's mutex
/// is taken, nor during an fsync.
#[derive(Debug, Default)]
struct SyncState {
    /// Whether a caller is doing an fsync for the group right now.
    syncing: Mutex<bool>,
    /// Signalled when that fsync ends: its waiters check whether it
    /// covered them, all at once.
    done: Condvar,
    /// `written` position covered by completed fsyncs.
    synced: AtomicU64,
    /// fsyncs of segments done since open.
    fsyncs: AtomicU64,
    /// Their total duration, in nanoseconds.
    fsync_nanos: AtomicU64,
}

impl SyncState {
    /// `sync_data` on `file`, counted and timed.
    fn timed_sync(&self, file: &File) -> std::io::Result<()> {
        let started = std::time::Instant::now();
        let r = file.sync_data();
        self.fsyncs.fetch_add(1, Ordering::Relaxed);
        self.fsync_nanos.fetch_add(
            u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        r
    }
}

/// An open write-ahead log.
#[derive(Debug)]
pub struct Wal {
    dir: PathBuf,
    opts: WalOptions,
    writer: Arc<Mutex<Writer>>,
    sync: Arc<SyncState>,
    syncer: Option<(Sender<()>, JoinHandle<()>)>,
}

/// Appends a seal record to the segment `file`, `size` bytes long. When
/// the write fails the file is cut back to `size`, so no partial seal is
/// left between records.
fn seal(file: &File, size: u64, path: &Path) -> Result<()> {
    let mut buf = Encbuf::with_capacity(segment::SEAL_LEN);
    segment::encode_seal(size, &mut buf);
    let mut f = file;
    if let Err(e) = f.write_all(buf.as_slice()) {
        let _ = file.set_len(size);
        return Err(Error::io("write", path, e));
    }
    Ok(())
}

/// Seals the newest segment of a WAL opened again: writing continues in a
/// new segment, and this one (ending where the last run stopped, its torn
/// tail already cut off by replay) is closed now. A file shorter than a
/// header is left as it is.
fn seal_previous(path: &Path) -> Result<()> {
    let file = File::options()
        .append(true)
        .open(path)
        .map_err(|e| Error::io("open", path, e))?;
    let size = file
        .metadata()
        .map_err(|e| Error::io("stat", path, e))?
        .len();
    if size < segment::HEADER_LEN as u64 {
        return Ok(());
    }
    seal(&file, size, path)?;
    file.sync_all().map_err(|e| Error::io("fsync", path, e))
}

fn create_segment(dir: &Path, index: u64) -> Result<File> {
    let path = dir.join(segment::segment_name(index));
    let mut f = File::options()
        .create_new(true)
        .append(true)
        .open(&path)
        .map_err(|e| Error::io("create", &path, e))?;
    let written = f
        .write_all(&segment::header())
        .map_err(|e| Error::io("write", &path, e))
        .and_then(|()| f.sync_all().map_err(|e| Error::io("fsync", &path, e)));
    if let Err(e) = written {
        // Leave no half-made segment behind (a full disk, say): the next
        // roll must be able to create it again.
        drop(f);
        let _ = crate::fsutil::remove_file(&path);
        return Err(e);
    }
    crate::fsutil::sync_dir(dir)?;
    Ok(f)
}

impl Wal {
    /// Opens (creating) the WAL directory for appending, in a new segment
    /// after the newest existing one. Does not replay: see [`Wal::replay`].
    ///
    /// # Errors
    /// An I/O error.
    pub fn open(dir: &Path, opts: WalOptions) -> Result<Wal> {
        crate::fsutil::create_dir_all(dir)?;
        checkpoint::remove_leftovers(dir)?;
        let segments = segment::list_segments(dir)?;
        if let Some((_, path)) = segments.last() {
            seal_previous(path)?;
        }
        let last_segment = segments.last().map(|s| s.0);
        let last_checkpoint = checkpoint::latest(dir)?.map(|c| c.0);
        let index = last_segment.max(last_checkpoint).map_or(1, |i| i + 1);
        let file = Arc::new(create_segment(dir, index)?);
        let sync = Arc::new(SyncState::default());
        let writer = Arc::new(Mutex::new(Writer {
            file,
            index,
            size: segment::HEADER_LEN as u64,
            written: 0,
            torn: false,
        }));
        let mut wal = Wal {
            dir: dir.to_path_buf(),
            opts,
            writer,
            sync,
            syncer: None,
        };
        if let FsyncPolicy::Interval(every) = wal.opts.fsync {
            wal.syncer = Some(wal.spawn_syncer(every));
        }
        Ok(wal)
    }

    fn spawn_syncer(&self, every: Duration) -> (Sender<()>, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel::<()>();
        let writer = self.writer.clone();
        let sync = self.sync.clone();
        let handle = std::thread::Builder::new()
            .name("strata-wal-sync".into())
            .spawn(move || {
                // The sender is dropped on close, which ends the wait at once.
                while let Err(RecvTimeoutError::Timeout) = rx.recv_timeout(every) {
                    let (file, reached) = {
                        let w = writer.lock();
                        (w.file.clone(), w.written)
                    };
                    if sync.timed_sync(&file).is_ok() {
                        sync.synced.fetch_max(reached, Ordering::AcqRel);
                    }
                }
            })
            .expect("spawning a thread only fails when the OS is out of resources");
        (tx, handle)
    }

    /// Reads the newest checkpoint, then every later segment in order,
    /// calling `f` for each record. Damage is skipped and reported; an
    /// incomplete last record is cut off. An error from `f` stops replay.
    ///
    /// # Errors
    /// An I/O error, or the first error `f` returns.
    pub fn replay(dir: &Path, mut f: impl FnMut(Record) -> Result<()>) -> Result<ReplayReport> {
        let mut report = ReplayReport::default();
        let mut after = 0u64;
        if let Some((n, cdir)) = checkpoint::latest(dir)? {
            for (_, path) in segment::list_segments(&cdir)? {
                segment::read_segment(&path, SegmentAge::Older, &mut f, &mut report)?;
            }
            report.checkpoint = Some(n);
            after = n;
        }
        let segments: Vec<(u64, PathBuf)> = segment::list_segments(dir)?
            .into_iter()
            .filter(|s| s.0 > after)
            .collect();
        let mut expected: Option<u64> = None;
        let count = segments.len();
        for (i, (index, path)) in segments.into_iter().enumerate() {
            if let Some(e) = expected
                && index != e
            {
                report.corruptions.push(Corruption {
                    file: dir.join(segment::segment_name(e)),
                    offset: 0,
                    reason: format!("segments {e} to {} are missing", index - 1),
                });
            }
            let age = if i + 1 == count {
                SegmentAge::Newest
            } else {
                SegmentAge::Older
            };
            segment::read_segment(&path, age, &mut f, &mut report)?;
            report.last_segment = Some(index);
            expected = Some(index + 1);
        }
        Ok(report)
    }

    /// Appends `records` with one `write` call. Thread-safe. Returns once the
    /// bytes are in the operating system (and, with [`FsyncPolicy::Always`],
    /// on disk).
    ///
    /// # Errors
    /// An I/O error (disk full, ...); the records may then be partly written,
    /// and replay will cut them off or skip them.
    pub fn log(&self, records: &[Record]) -> Result<()> {
        let mut buf = Encbuf::with_capacity(records.iter().map(Record::size_hint).sum());
        for r in records.iter().filter(|r| !r.is_empty()) {
            segment::encode_record(r, &mut buf);
        }
        if buf.is_empty() {
            return Ok(());
        }
        let position = {
            let mut w = self.writer.lock();
            if w.torn {
                self.repair(&mut w)?;
            }
            if w.size + buf.len() as u64 > self.opts.segment_size
                && w.size > segment::HEADER_LEN as u64
            {
                self.roll(&mut w)?;
            }
            if let Err(e) = write_buf(&w.file, buf.as_slice()) {
                // Roll back: no torn record may stay between good ones, and
                // `size` must stay the true end for the next seal.
                let path = self.dir.join(segment::segment_name(w.index));
                w.torn = true;
                let _ = self.repair(&mut w);
                return Err(Error::io("write", &path, e));
            }
            w.size += buf.len() as u64;
            w.written += buf.len() as u64;
            w.written
        };
        if self.opts.fsync == FsyncPolicy::Always {
            self.sync_to(position)?;
        }
        Ok(())
    }

    /// Group commit: when no fsync is running, the caller runs one for
    /// everyone whose bytes were written before it started; callers
    /// arriving meanwhile wait for it to end (all woken at once), and
    /// return if it covered them, or else one of them runs the next.
    fn sync_to(&self, position: u64) -> Result<()> {
        let mut syncing = self.sync.syncing.lock();
        loop {
            if self.sync.synced.load(Ordering::Acquire) >= position {
                return Ok(());
            }
            if !*syncing {
                break;
            }
            self.sync.done.wait(&mut syncing);
        }
        *syncing = true;
        drop(syncing);
        let (file, reached, index) = {
            let w = self.writer.lock();
            (w.file.clone(), w.written, w.index)
        };
        let result = self.sync.timed_sync(&file);
        if result.is_ok() {
            self.sync.synced.fetch_max(reached, Ordering::AcqRel);
        }
        *self.sync.syncing.lock() = false;
        self.sync.done.notify_all();
        result.map_err(|e| Error::io("fsync", self.dir.join(segment::segment_name(index)), e))
    }

    /// Undoes a failed write: cuts the segment back to `size`, the end of
    /// its last whole record; if that fails too, leaves the segment as it
    /// is (replay reports and skips its torn tail) and continues in a new
    /// one. On success the writer is whole again.
    fn repair(&self, w: &mut Writer) -> Result<()> {
        if w.file.set_len(w.size).is_ok() {
            w.torn = false;
            return Ok(());
        }
        let next = w.index + 1;
        w.file = Arc::new(create_segment(&self.dir, next)?);
        w.index = next;
        w.size = segment::HEADER_LEN as u64;
        w.torn = false;
        Ok(())
    }

    /// Closes the current segment (fsynced unless the policy is `Never`) and
    /// starts the next. On failure the segment stays current, its seal cut
    /// off again, so later writes and seals still line up.
    fn roll(&self, w: &mut Writer) -> Result<()> {
        let path = self.dir.join(segment::segment_name(w.index));
        seal(&w.file, w.size, &path)?;
        let synced = if self.opts.fsync != FsyncPolicy::Never {
            self.sync
                .timed_sync(&w.file)
                .map_err(|e| Error::io("fsync", &path, e))
        } else {
            Ok(())
        };
        let next = w.index + 1;
        let created = synced.and_then(|()| create_segment(&self.dir, next));
        let file = match created {
            Ok(f) => f,
            Err(e) => {
                w.torn = true;
                let _ = self.repair(w);
                return Err(e);
            }
        };
        w.written += segment::SEAL_LEN as u64;
        w.file = Arc::new(file);
        w.index = next;
        w.size = segment::HEADER_LEN as u64;
        // Everything in the old segment is on disk now (or the policy says
        // we don't care): the new segment starts synced.
        if self.opts.fsync != FsyncPolicy::Never {
            self.sync.synced.fetch_max(w.written, Ordering::AcqRel);
        }
        Ok(())
    }

    /// Closes the current segment and starts the next; returns the index of
    /// the segment closed.
    ///
    /// # Errors
    /// An I/O error.
    pub fn cut_segment(&self) -> Result<u64> {
        let mut w = self.writer.lock();
        let closed = w.index;
        self.roll(&mut w)?;
        Ok(closed)
    }

    /// Index of the segment being written.
    pub fn current_segment(&self) -> u64 {
        self.writer.lock().index
    }

    /// Rewrites the previous checkpoint and all segments up to `upto`
    /// through `keep` into `checkpoint.<upto>`, atomically, then deletes
    /// those segments and older checkpoints.
    ///
    /// # Errors
    /// An I/O error; the WAL is unchanged then.
    pub fn checkpoint(
        &self,
        upto: u64,
        keep: impl FnMut(Record) -> Option<Record>,
    ) -> Result<ReplayReport> {
        if upto >= self.current_segment() {
            return Err(Error::InvalidOption {
                name: "upto",
                reason: format!("segment {upto} is still being written"),
            });
        }
        checkpoint::write(&self.dir, upto, keep)
    }

    /// fsyncs the current segment.
    ///
    /// # Errors
    /// An I/O error.
    pub fn sync(&self) -> Result<()> {
        let position = self.writer.lock().written;
        self.sync_to(position)
    }

    /// fsyncs done since open and their total duration in nanoseconds.
    pub fn fsync_stats(&self) -> (u64, u64) {
        (
            self.sync.fsyncs.load(Ordering::Relaxed),
            self.sync.fsync_nanos.load(Ordering::Relaxed),
        )
    }

    /// Bytes of all segments and checkpoints on disk.
    pub fn size_bytes(&self) -> u64 {
        dir_size(&self.dir)
    }

    /// Flushes, fsyncs and stops the background syncer.
    ///
    /// # Errors
    /// A failing fsync.
    pub fn close(mut self) -> Result<()> {
        self.stop_syncer();
        self.sync()
    }

    fn stop_syncer(&mut self) {
        if let Some((tx, handle)) = self.syncer.take() {
            drop(tx);
            let _ = handle.join();
        }
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        self.stop_syncer();
    }
}

fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests;
