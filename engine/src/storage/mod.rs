//! [`Storage`]: open a data directory, append, query, flush, close.
//!
//! This file is the facade an embedder reads first; the work is split by
//! when it happens:
//! - `open.rs`: the directory lock, loading blocks (quarantine), WAL replay;
//! - `append.rs`: the [`Appender`] batch and its commit;
//! - `cut.rs`: head cuts (the frozen set, writing it as blocks, checkpoint);
//! - `maintain.rs`: the maintenance thread, compaction, retention, deletion;
//! - `query.rs`: [`StorageQuerier`], merging every reader of the data.
//!
//! Durability protocol (each step numbered as it happens on disk):
//! 1. `commit` writes the batch's series records, then its samples record,
//!    to the WAL in one `write` each, and only then applies them to the head.
//!    With `FsyncPolicy::Always` it also waits for the fsync.
//! 2. A head cut (flush) takes the append gate exclusively for a moment:
//!    it closes the current WAL segment `N` and moves every sample older than
//!    the cut out of the head into a "frozen" set that queries still see.
//! 3. The frozen set is written as blocks (`<id>.tmp-for-creation`, fsync,
//!    rename, fsync of the directory), which are then opened and published.
//! 4. Only then is the WAL up to segment `N` rewritten as a checkpoint
//!    holding what the head still needs, and the old segments deleted.
//!
//! A crash anywhere replays the WAL (checkpoint + segments) over whatever
//! blocks were published; samples present in both are identical and merge.
//!
//! Compaction, deletion and retention follow their own order (FORMAT.md,
//! "Durability protocol", steps 5 to 9): child block durable, then parents
//! removed, then tombstones rewritten; `open` finishes an interrupted run.
//! Every rename, unlink and mkdir is followed by a directory fsync
//! (`fsutil`).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;

use parking_lot::{Mutex, RwLock};

use crate::block::{Block, BlockId};
use crate::error::{Error, Result};
use crate::head::Head;
use crate::labels::Matcher;
use crate::options::Options;
use crate::snapshot::SnapshotScope;
use crate::stats::{StorageStats, TsdbStats};
use crate::tombstones::Tombstones;
use crate::wal::Wal;

const LOCK_FILE: &str = "LOCK";
const WAL_DIR: &str = "wal";
const BLOCKS_DIR: &str = "blocks";
const QUARANTINE_DIR: &str = "quarantine";

/// The state every handle shares ([`Storage`], appenders, queriers, the
/// maintenance thread), with the locks that order its changes.
#[derive(Debug)]
pub(crate) struct Inner {
    dir: PathBuf,
    opts: Options,
    head: Head,
    /// Shared by appenders (the WAL is thread-safe and does group commit:
    /// a lock held across write and fsync here would serialise writers)
    /// and by checkpoints; taken exclusively only to close it.
    wal: RwLock<Option<Wal>>,
    /// Appenders hold it shared while logging and applying; a head cut
    /// holds it exclusively for the moment it switches WAL segment.
    gate: RwLock<()>,
    /// Readers hold it shared while collecting a series' sources; moving data
    /// between head, frozen set and blocks holds it exclusively, so a reader
    /// sees every sample exactly where it is.
    view: RwLock<()>,
    blocks: RwLock<Vec<Arc<Block>>>,
    frozen: RwLock<Option<Frozen>>,
    tombstones: RwLock<Tombstones>,
    /// One head cut, compaction or deletion at a time.
    maintenance: Mutex<()>,
    next_block_id: AtomicU64,
    closed: AtomicBool,
    report: OpenReport,
    stats: crate::stats::Counters,
    /// The directory lock, released by `close` even while queriers live on.
    lock: Mutex<Option<File>>,
}

/// A storage engine instance over one data directory.
///
/// ```
/// use strata_engine::{Clock, Labels, Matcher, Options, Querier, Storage, SystemClock};
/// let dir = tempfile::tempdir()?;
/// let now = SystemClock.now_ms();
/// let storage = Storage::open(dir.path(), Options::default().without_maintenance())?;
/// let up = Labels::from_pairs(&[("__name__", "up"), ("job", "node")])?;
/// let mut app = storage.appender();
/// app.append(&up, now, 1.0)?;
/// app.commit()?;
/// let series = storage.querier().select(&[Matcher::equal("job", "node")], now - 1_000, now)?;
/// assert_eq!(series[0].samples()?.len(), 1);
/// storage.close()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Storage {
    inner: Arc<Inner>,
    maintenance: Option<(std::sync::mpsc::Sender<()>, JoinHandle<()>)>,
}

impl Storage {
    /// Opens (creating) the storage in `dir`: takes the directory lock,
    /// loads blocks (quarantining damaged ones), replays the WAL.
    ///
    /// # Errors
    /// [`Error::Locked`] when another process has the directory open,
    /// [`Error::InvalidOption`], or an I/O error.
    pub fn open(dir: impl AsRef<Path>, opts: Options) -> Result<Storage> {
        let inner = open::open(dir.as_ref(), opts)?;
        let maintenance = inner
            .opts
            .maintenance_interval
            .map(|every| spawn_maintenance(Arc::downgrade(&inner), every));
        Ok(Storage { inner, maintenance })
    }

    /// What [`Storage::open`] found (blocks, WAL records, damage).
    pub fn open_report(&self) -> &OpenReport {
        &self.inner.report
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The options the storage runs with.
    pub fn options(&self) -> &Options {
        &self.inner.opts
    }

    /// A new batch of samples; nothing is stored until [`Appender::commit`].
    pub fn appender(&self) -> Appender<'_> {
        Appender::new(&self.inner)
    }

    /// A querier over everything stored (head, blocks, data being flushed).
    pub fn querier(&self) -> StorageQuerier {
        self.inner.querier()
    }

    /// Deletes the samples of series matching `matchers` in `[mint, maxt]`.
    /// Head data goes at once; block data is hidden at once and removed at
    /// the next compaction. Returns how many head samples were removed.
    ///
    /// # Errors
    /// A WAL or tombstone-file write failure.
    pub fn delete(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<u64> {
        self.inner.delete(matchers, mint, maxt)
    }

    /// Writes everything in the head to blocks now.
    ///
    /// # Errors
    /// An I/O error writing the blocks or the WAL checkpoint; the head keeps
    /// the data in that case.
    pub fn flush(&self) -> Result<()> {
        let _m = self.inner.maintenance.lock();
        match self.inner.head.time_range() {
            Some((_, max)) => self.inner.cut_head(max.saturating_add(1)),
            None => Ok(()),
        }
    }

    /// One round of the work the background thread does: cut the head when
    /// it spans 1.5 block ranges, compact blocks, delete blocks past retention.
    ///
    /// # Errors
    /// The first I/O error met.
    pub fn maintain(&self) -> Result<()> {
        self.inner.maintain()
    }

    /// Compacts until no more blocks can be merged (VictoriaMetrics'
    /// `force_merge`): unlike background compaction, blocks are merged into
    /// the windows of the larger ranges even before those windows are
    /// complete, so the data ends in as few blocks (and indexes) as the
    /// ranges allow.
    ///
    /// # Errors
    /// An I/O error.
    pub fn compact(&self) -> Result<()> {
        let _m = self.inner.maintenance.lock();
        while self.inner.compact_once(Windows::AlsoIncomplete)? {}
        Ok(())
    }

    /// Writes a snapshot into `dest` (which must not exist yet): the
    /// published blocks as hard links, and the tombstones. With
    /// [`SnapshotScope::WithHead`] the head is first written to blocks, so
    /// the snapshot holds every sample committed before the call. `dest`
    /// can be opened as a data directory of its own.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] when `dest` exists, or an I/O error.
    pub fn snapshot(&self, dest: &Path, scope: SnapshotScope) -> Result<()> {
        if dest.exists() {
            return Err(Error::InvalidOption {
                name: "snapshot destination",
                reason: format!("{} already exists", dest.display()),
            });
        }
        let _m = self.inner.maintenance.lock();
        if scope == SnapshotScope::WithHead
            && let Some((_, max)) = self.inner.head.time_range()
        {
            self.inner.cut_head(max.saturating_add(1))?;
        }
        // Holding the maintenance lock, no compaction or retention run can
        // delete a block while its files are linked.
        let blocks_dest = dest.join(BLOCKS_DIR);
        crate::fsutil::create_dir_all(&blocks_dest)?;
        for b in self.inner.blocks.read().iter() {
            let dir = b.dir();
            let name = dir.file_name().unwrap_or_default();
            crate::snapshot::link_tree(dir, &blocks_dest.join(name))?;
        }
        self.inner.tombstones.read().save(dest)?;
        crate::fsutil::sync_dir(&blocks_dest)
    }

    /// Counters and sizes, for the server's `/metrics`.
    pub fn stats(&self) -> StorageStats {
        self.inner.storage_stats()
    }

    /// Cardinality statistics of the head (what `/api/v1/status/tsdb` serves),
    /// with at most `limit` entries per list.
    pub fn tsdb_stats(&self, limit: usize) -> TsdbStats {
        crate::stats::tsdb_stats(&self.inner.head, limit)
    }

    /// Stops the maintenance thread and closes the WAL (fsynced). The head is
    /// not written out: the WAL brings it back on the next open.
    ///
    /// # Errors
    /// A failure to fsync or close the WAL.
    pub fn close(mut self) -> Result<()> {
        self.stop_maintenance();
        self.inner.close()
    }

    fn stop_maintenance(&mut self) {
        if let Some((stop, handle)) = self.maintenance.take() {
            drop(stop);
            let _ = handle.join();
        }
    }
}

impl Drop for Storage {
    fn drop(&mut self) {
        self.stop_maintenance();
        let _ = self.inner.close();
    }
}

impl Inner {
    fn with_wal<T>(&self, f: impl FnOnce(&Wal) -> Result<T>) -> Result<T> {
        match self.wal.read().as_ref() {
            Some(w) => f(w),
            None => Err(Error::Closed),
        }
    }

    fn close(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let _gate = self.gate.write();
        let closed = match self.wal.write().take() {
            Some(w) => w.close(),
            None => Ok(()),
        };
        // Unlock explicitly rather than only closing: a child process forked
        // at this moment holds a copy of the descriptor until it execs, and
        // the lock belongs to the shared open file description.
        if let Some(f) = self.lock.lock().take() {
            let _ = f.unlock();
        }
        closed
    }

    fn querier(self: &Arc<Self>) -> StorageQuerier {
        StorageQuerier::new(self.clone())
    }
    fn next_block_id(&self) -> BlockId {
        BlockId(self.next_block_id.fetch_add(1, Ordering::SeqCst))
    }

    fn blocks_dir(&self) -> PathBuf {
        self.dir.join(BLOCKS_DIR)
    }
    fn storage_stats(&self) -> StorageStats {
        let blocks = self.blocks.read();
        let wal = self.wal.read();
        let fsync = wal.as_ref().map_or((0, 0), Wal::fsync_stats);
        StorageStats {
            head_series: self.head.num_series(),
            head_min_t: self.head.time_range().map(|r| r.0),
            head_max_t: self.head.time_range().map(|r| r.1),
            out_of_order_samples: self.head.out_of_order_samples(),
            samples_appended: self.stats.samples_appended.load(Ordering::Relaxed),
            blocks: blocks.len() as u64,
            block_bytes: blocks.iter().map(|b| b.size_bytes()).sum(),
            block_samples: blocks.iter().map(|b| b.meta().stats.num_samples).sum(),
            wal_bytes: wal.as_ref().map_or(0, Wal::size_bytes),
            head_chunks: self.head.num_chunks(),
            wal_fsyncs: fsync.0,
            wal_fsync_nanos: fsync.1,
            head_cuts: self.stats.head_cuts.load(Ordering::Relaxed),
            compactions: self.stats.compactions.load(Ordering::Relaxed),
            retention_deletions: self.stats.retention_deletions.load(Ordering::Relaxed),
            maintenance_errors: self.stats.maintenance_errors.load(Ordering::Relaxed),
            open_damage: self.report.damage.len() as u64,
            read_damage: crate::stats::READ_DAMAGE.load(Ordering::Relaxed),
        }
    }
}

mod append;
mod cut;
mod maintain;
mod open;
mod query;

use cut::Frozen;
#[cfg(test)]
use maintain::{CRASH_AT, CrashPoint};
use maintain::{Windows, spawn_maintenance};

pub use append::Appender;
pub use open::{Damage, OpenReport};
pub use query::StorageQuerier;

#[cfg(test)]
mod durability_tests;
