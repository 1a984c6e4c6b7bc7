//! [`Storage`]: open a data directory, append, query, flush, close.
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

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;

use parking_lot::{Mutex, RwLock};

use crate::block::{self, Block, BlockId, BlockWriter, ChunkToWrite};
use crate::chunk::Encoding;
use crate::compact;
use crate::error::{Error, LabelError, Result};
use crate::head::{Head, MemSeries, SeriesSnapshot};
use crate::index::postings_for_matchers;
use crate::labels::{Label, Labels, Matcher, cmp_keys};
use crate::options::Options;
use crate::querier::{LabelSetVisitor, Querier, Series, Source};
use crate::retention;
use crate::sample::Sample;
use crate::stats::{StorageStats, TsdbStats};
use crate::tombstones::{Tombstone, Tombstones};
use crate::wal::{DeleteRecord, Record, RefSample, SeriesRecord, Wal};

const LOCK_FILE: &str = "LOCK";
const WAL_DIR: &str = "wal";
const BLOCKS_DIR: &str = "blocks";
const QUARANTINE_DIR: &str = "quarantine";

/// Something [`Storage::open`] found wrong and worked around.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// The damaged file or directory.
    pub file: PathBuf,
    /// Byte offset of the damage, when known.
    pub offset: u64,
    /// What was wrong and what was done about it.
    pub reason: String,
}

/// What opening the storage found.
#[derive(Debug, Clone, Default)]
pub struct OpenReport {
    /// Blocks loaded.
    pub blocks: usize,
    /// WAL records replayed.
    pub wal_records: u64,
    /// Samples replayed into the head.
    pub wal_samples: u64,
    /// Damage found (corrupt WAL records skipped, blocks quarantined, a torn
    /// WAL tail cut off).
    pub damage: Vec<Damage>,
}

/// Data being written out by a head cut, in label order: still visible to
/// queries. Series are held by their head handles (labels as one key
/// buffer each), not as [`Labels`], to keep a cut of many series small.
type Frozen = Arc<Vec<(Arc<MemSeries>, SeriesSnapshot)>>;

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
        opts.validate()?;
        let dir = dir.as_ref().to_path_buf();
        crate::fsutil::create_dir_all(&dir)?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| Error::io("open", &lock_path, e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(Error::Locked {
                    dir,
                    lock: lock_path,
                });
            }
            Err(fs::TryLockError::Error(e)) => return Err(Error::io("lock", &lock_path, e)),
        }

        let mut report = OpenReport::default();
        let (blocks, highest_id) = load_blocks(&dir, &opts, &mut report)?;
        report.blocks = blocks.len();
        // Never hand out an id a block ever had, quarantined ones included:
        // tombstones and logs name blocks by id.
        let next_block_id = highest_id.saturating_add(1);
        let tombstones = match Tombstones::load(&dir) {
            // Deletions pending on blocks that did not load (quarantined)
            // apply to nothing.
            Ok(mut t) => {
                let before = t.0.len();
                t.0.retain(|ts| blocks.iter().any(|b| b.meta().id == ts.block));
                // Finish an interrupted compaction or retention run (step 3
                // of the protocol): the file forgets blocks that are gone.
                if t.0.len() != before {
                    t.save(&dir)?;
                }
                t
            }
            Err(e @ Error::Corruption { .. }) => {
                report.damage.push(damage_of(
                    &e,
                    "tombstones file ignored; deletions in blocks are undone",
                ));
                Tombstones::default()
            }
            Err(e) => return Err(e),
        };

        let head = Head::new(opts.block_range_ms);
        let wal_dir = dir.join(WAL_DIR);
        replay_wal(&head, &wal_dir, &mut report)?;
        let wal = Wal::open(&wal_dir, opts.wal.clone())?;

        let inner = Arc::new(Inner {
            dir,
            head,
            wal: RwLock::new(Some(wal)),
            gate: RwLock::new(()),
            view: RwLock::new(()),
            blocks: RwLock::new(blocks),
            frozen: RwLock::new(None),
            tombstones: RwLock::new(tombstones),
            maintenance: Mutex::new(()),
            next_block_id: AtomicU64::new(next_block_id),
            closed: AtomicBool::new(false),
            report,
            stats: Default::default(),
            lock: Mutex::new(Some(lock)),
            opts,
        });
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
        let now = self.inner.opts.clock.now_ms();
        let oldest = now.saturating_sub(self.inner.opts.retention_ms);
        Appender {
            inner: &self.inner,
            oldest,
            now,
            existing: Vec::new(),
            new: Vec::new(),
        }
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
        while self.inner.compact_once(true)? {}
        Ok(())
    }

    /// Writes a snapshot into `dest` (which must not exist yet): the
    /// published blocks as hard links, and the tombstones. With `with_head`
    /// the head is first written to blocks, so the snapshot holds every
    /// sample committed before the call. `dest` can be opened as a data
    /// directory of its own.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] when `dest` exists, or an I/O error.
    pub fn snapshot(&self, dest: &Path, with_head: bool) -> Result<()> {
        if dest.exists() {
            return Err(Error::InvalidOption {
                name: "snapshot destination",
                reason: format!("{} already exists", dest.display()),
            });
        }
        let _m = self.inner.maintenance.lock();
        if with_head && let Some((_, max)) = self.inner.head.time_range() {
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

fn spawn_maintenance(
    inner: Weak<Inner>,
    every: std::time::Duration,
) -> (std::sync::mpsc::Sender<()>, JoinHandle<()>) {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let handle = std::thread::Builder::new()
        .name("strata-maintenance".into())
        .spawn(move || {
            // The sender is dropped on close: that ends the wait at once.
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(every) {
                let Some(inner) = inner.upgrade() else { return };
                if let Err(e) = inner.maintain() {
                    inner
                        .stats
                        .maintenance_errors
                        .fetch_add(1, Ordering::Relaxed);
                    *inner.stats.last_maintenance_error.lock() = Some(e.to_string());
                }
            }
        })
        .expect("spawning a thread only fails when the OS is out of resources");
    (tx, handle)
}

/// Points between the steps of a compaction where tests simulate a crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CrashPoint {
    /// The child block is durable; the parents are all still there.
    ChildDurable,
    /// The first parent is removed, the others are not.
    ParentRemoved,
    /// Every parent is removed; the tombstones file still names them.
    ParentsRemoved,
}

#[cfg(test)]
thread_local! {
    /// Where the next compaction on this thread stops, as if the process
    /// died there (tests only).
    pub(crate) static CRASH_AT: std::cell::Cell<Option<CrashPoint>> =
        const { std::cell::Cell::new(None) };
}

/// Stops the operation here when a test asked for a crash at `at`.
#[cfg(test)]
fn crash_point(at: CrashPoint) -> Result<()> {
    if CRASH_AT.with(|c| c.get()) == Some(at) {
        CRASH_AT.with(|c| c.set(None));
        return Err(Error::InvalidOption {
            name: "crash point",
            reason: format!("simulated crash at {at:?}"),
        });
    }
    Ok(())
}

#[cfg(not(test))]
#[inline]
fn crash_point(_at: CrashPoint) -> Result<()> {
    Ok(())
}

fn damage_of(e: &Error, action: &str) -> Damage {
    match e {
        Error::Corruption {
            file,
            offset,
            reason,
        } => Damage {
            file: file.clone(),
            offset: *offset,
            reason: format!("{reason}; {action}"),
        },
        other => Damage {
            file: PathBuf::new(),
            offset: 0,
            reason: format!("{other}; {action}"),
        },
    }
}

/// Opens every block; damaged ones move to `quarantine/`, expired ones are
/// deleted; any other failure to open a block fails the whole open.
/// The highest block id found in `quarantine/` (names `<id>` or `<id>.<n>`).
fn highest_quarantined_id(qdir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(qdir) else {
        return 0;
    };
    entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.split('.').next()?.parse::<BlockId>().ok()
        })
        .map(|id| id.0)
        .max()
        .unwrap_or(0)
}

/// A free path in `qdir` for block `id`: `<id>`, else `<id>.1`, `<id>.2`, ...
fn quarantine_target(qdir: &Path, id: BlockId) -> PathBuf {
    let plain = qdir.join(id.to_string());
    if !plain.exists() {
        return plain;
    }
    (1u32..)
        .map(|n| qdir.join(format!("{id}.{n}")))
        .find(|p| !p.exists())
        .unwrap_or(plain)
}

/// Opens the blocks (quarantining damaged ones, deleting expired ones) and
/// returns them with the highest block id ever seen in the directory.
fn load_blocks(
    dir: &Path,
    opts: &Options,
    report: &mut OpenReport,
) -> Result<(Vec<Arc<Block>>, u64)> {
    let blocks_dir = dir.join(BLOCKS_DIR);
    crate::fsutil::create_dir_all(&blocks_dir)?;
    let qdir = dir.join(QUARANTINE_DIR);
    let mut highest = highest_quarantined_id(&qdir);
    let mut blocks = Vec::new();
    for (id, path) in block::list_blocks(&blocks_dir)? {
        highest = highest.max(id.0);
        match Block::open(&path) {
            Ok(b) => {
                highest = highest.max(b.meta().id.0);
                blocks.push(Arc::new(b));
            }
            Err(e) if !e.is_corruption() => {
                return Err(Error::BlockUnavailable {
                    dir: path,
                    source: Box::new(e),
                });
            }
            Err(e) => {
                crate::fsutil::create_dir_all(&qdir)?;
                let target = quarantine_target(&qdir, id);
                crate::fsutil::rename(&path, &target)?;
                report.damage.push(damage_of(
                    &e,
                    &format!("block moved to {}", target.display()),
                ));
            }
        }
    }
    // A compaction interrupted between its steps 1 and 2 left parents next
    // to their child: finish it (the child holds their data, deletions
    // applied).
    let metas: Vec<_> = blocks.iter().map(|b| b.meta().clone()).collect();
    let covered = compact::covered_parents(&metas);
    for b in blocks.iter().filter(|b| covered.contains(&b.meta().id)) {
        block::delete_block(b.dir())?;
    }
    blocks.retain(|b| !covered.contains(&b.meta().id));
    let now = opts.clock.now_ms();
    let metas: Vec<_> = blocks.iter().map(|b| b.meta().clone()).collect();
    let expired = retention::expired(&metas, now, opts.retention_ms);
    for b in blocks.iter().filter(|b| expired.contains(&b.meta().id)) {
        block::delete_block(b.dir())?;
    }
    blocks.retain(|b| !expired.contains(&b.meta().id));
    blocks.sort_by_key(|b| b.meta().id);
    Ok((blocks, highest))
}

fn replay_wal(head: &Head, wal_dir: &Path, report: &mut OpenReport) -> Result<()> {
    let mut samples = 0u64;
    let mut unknown = 0u64;
    let replay = Wal::replay(wal_dir, |record| {
        match record {
            Record::Series(list) => {
                for s in list {
                    head.create_with_ref(s.series_ref, &s.labels);
                }
            }
            Record::Samples(list) => {
                for s in list {
                    match head.get_by_ref(s.series_ref) {
                        Some(series) => {
                            head.append(&series, s.t, s.v);
                            samples += 1;
                        }
                        None => unknown += 1,
                    }
                }
            }
            Record::Deletes(list) => {
                for d in list {
                    if let Some(series) = head.get_by_ref(d.series_ref) {
                        head.delete(&series, d.mint, d.maxt);
                    }
                }
            }
        }
        Ok(())
    })?;
    report.wal_records = replay.records;
    report.wal_samples = samples;
    for c in replay.corruptions.iter().chain(replay.torn_tail.iter()) {
        report.damage.push(Damage {
            file: c.file.clone(),
            offset: c.offset,
            reason: c.reason.clone(),
        });
    }
    if unknown > 0 {
        report.damage.push(Damage {
            file: wal_dir.to_path_buf(),
            offset: 0,
            reason: format!("{unknown} samples refer to series whose record was lost; skipped"),
        });
    }
    Ok(())
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
        StorageQuerier {
            inner: self.clone(),
        }
    }

    fn delete(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<u64> {
        let _m = self.maintenance.lock();
        let _gate = self.gate.read();
        let series = self.head.select(matchers)?;
        let records: Vec<DeleteRecord> = series
            .iter()
            .map(|s| DeleteRecord {
                series_ref: s.series_ref,
                mint,
                maxt,
            })
            .collect();
        if !records.is_empty() {
            self.with_wal(|w| w.log(&[Record::Deletes(records)]))?;
        }
        let removed: usize = series.iter().map(|s| self.head.delete(s, mint, maxt)).sum();
        let mut touched = Vec::new();
        for b in self.blocks.read().iter() {
            let m = b.meta();
            if m.max_t >= mint
                && m.min_t <= maxt
                && !postings_for_matchers(&**b, matchers)?.is_empty()
            {
                touched.push(m.id);
            }
        }
        if !touched.is_empty() {
            let mut ts = self.tombstones.write();
            let mut next = ts.clone();
            next.0.extend(touched.into_iter().map(|block| Tombstone {
                block,
                matchers: matchers.to_vec(),
                mint,
                maxt,
            }));
            next.save(&self.dir)?;
            *ts = next;
        }
        Ok(removed as u64)
    }

    fn maintain(&self) -> Result<()> {
        let _m = self.maintenance.lock();
        if self.closed.load(Ordering::SeqCst) {
            return Ok(());
        }
        let range = self.opts.block_range_ms;
        if let Some((min, max)) = self.head.time_range()
            && max.saturating_sub(min) >= range / 2 * 3
        {
            let cut = max
                .saturating_sub(range / 2)
                .div_euclid(range)
                .saturating_mul(range);
            if cut > min {
                self.cut_head(cut)?;
            }
        }
        while self.compact_once(false)? {}
        self.apply_retention()
    }

    /// Moves everything older than `cut` from the head into blocks.
    /// Caller holds the maintenance lock.
    fn cut_head(&self, cut: i64) -> Result<()> {
        let aliases;
        let (segment, frozen) = {
            let _view = self.view.write();
            let _gate = self.gate.write();
            let segment = self.with_wal(Wal::cut_segment)?;
            // Kept for `restore_frozen`: taking series out of the head drops
            // the aliases of their refs.
            aliases = self.head.aliases();
            let mut taken = self.head.take_before(cut);
            taken.sort_by(|a, b| a.0.cmp_labels(&b.0));
            let frozen = Arc::new(taken);
            *self.frozen.write() = Some(frozen.clone());
            (segment, frozen)
        };
        match self.write_frozen(&frozen) {
            Ok(new_blocks) => {
                let _view = self.view.write();
                let mut blocks = self.blocks.write();
                blocks.extend(new_blocks);
                blocks.sort_by_key(|b| b.meta().id);
                *self.frozen.write() = None;
            }
            Err(e) => {
                let _view = self.view.write();
                self.restore_frozen(&frozen, &aliases);
                *self.frozen.write() = None;
                return Err(e);
            }
        }
        let head = &self.head;
        self.with_wal(|w| {
            w.checkpoint(segment, |record| keep_after_cut(head, record, cut))
                .map(|_| ())
        })?;
        self.stats.head_cuts.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Puts data back into the head after a failed block write. The WAL
    /// still has it (no checkpoint was taken), in records that name the
    /// series' old refs (and the aliases of those refs): each series comes
    /// back under its old ref, or, when a series with its labels was
    /// created since, that ref becomes an alias of the new one. So the old
    /// records stay live, and the next checkpoint (which keeps only
    /// records of refs the head knows) keeps them. Nothing is written: a
    /// failed cut is often a full disk.
    fn restore_frozen(&self, frozen: &Frozen, aliases: &[(u64, u64)]) {
        let _gate = self.gate.read();
        let mut now_under: BTreeMap<u64, u64> = BTreeMap::new();
        for (old, snap) in frozen.iter() {
            let s = self.head.create_with_ref(old.series_ref, &old.labels());
            now_under.insert(old.series_ref, s.series_ref);
            for sample in snap.merged_samples() {
                self.head.append(&s, sample.t, sample.v);
            }
        }
        for &(alias, canonical) in aliases {
            if let Some(&current) = now_under.get(&canonical) {
                self.head.add_alias(alias, current);
            }
        }
    }

    fn log_new_series(&self, new: &[(u64, &Labels)]) -> Result<()> {
        let records = new
            .iter()
            .map(|&(series_ref, labels)| SeriesRecord {
                series_ref,
                labels: labels.clone(),
            })
            .collect();
        self.with_wal(|w| w.log(&[Record::Series(records)]))
    }

    fn next_block_id(&self) -> BlockId {
        BlockId(self.next_block_id.fetch_add(1, Ordering::SeqCst))
    }

    fn blocks_dir(&self) -> PathBuf {
        self.dir.join(BLOCKS_DIR)
    }

    /// Writes frozen head data as one block per block-range window,
    /// streaming: each series' chunks are re-encoded and handed to its
    /// blocks' chunk writers (which write 64 KiB frames as they fill)
    /// before the next series is read, so the head cut holds one series'
    /// re-encoded chunks at a time, not the whole block's.
    fn write_frozen(&self, frozen: &Frozen) -> Result<Vec<Arc<Block>>> {
        let range = self.opts.block_range_ms;
        // The windows the data falls in, from chunk bounds and
        // out-of-order sample times (nothing decoded), so that block ids
        // follow time order as they did. A window only spanned by a chunk
        // may end up without data; its writer is then dropped.
        let mut windows = std::collections::BTreeSet::new();
        for (_, snap) in frozen.iter() {
            for c in &snap.chunks {
                windows.extend(c.min_t.div_euclid(range)..=c.max_t.div_euclid(range));
            }
            windows.extend(snap.ooo.iter().map(|s| s.t.div_euclid(range)));
        }
        let mut writers = BTreeMap::new();
        for w in windows {
            let id = self.next_block_id();
            writers.insert(w, (id, BlockWriter::create(&self.blocks_dir(), id)?));
        }
        for (s, snap) in frozen.iter() {
            // Head chunks are Gorilla, cut at 120 samples: re-encode them for
            // the block (cold encodings, larger chunks).
            let samples = snap.merged_samples();
            for group in samples.chunk_by(|a, b| a.t.div_euclid(range) == b.t.div_euclid(range)) {
                let Some(first) = group.first() else {
                    continue;
                };
                let w = first.t.div_euclid(range);
                let Some((_, writer)) = writers.get_mut(&w) else {
                    return Err(Error::InvalidOption {
                        name: "head cut",
                        reason: format!("sample at {} outside the windows of its chunks", first.t),
                    });
                };
                writer.add_series_key(s.key(), &to_write(&chunks_of(group)))?;
            }
        }
        let mut out = Vec::new();
        for (_, (id, writer)) in writers {
            if writer.is_empty() {
                writer.abandon()?;
                continue;
            }
            writer.finish(1, Vec::new())?;
            out.push(Arc::new(Block::open(
                &self.blocks_dir().join(id.to_string()),
            )?));
        }
        Ok(out)
    }

    /// Runs one compaction if the planner finds one. Caller holds the
    /// maintenance lock.
    /// One compaction step. With `force`, windows of the larger ranges are
    /// merged even while incomplete (more blocks may still land in them).
    fn compact_once(&self, force: bool) -> Result<bool> {
        let blocks = self.blocks.read().clone();
        let metas: Vec<_> = blocks.iter().map(|b| b.meta().clone()).collect();
        let tombstones = self.tombstones.read().clone();
        let with_tombstones: Vec<BlockId> = metas
            .iter()
            .map(|m| m.id)
            .filter(|&id| tombstones.has_block(id))
            .collect();
        let head_min = if force {
            Some(i64::MAX)
        } else {
            self.head.time_range().map(|(lo, _)| lo)
        };
        let Some(group) = compact::plan(
            &metas,
            &self.opts.compaction_ranges(),
            &with_tombstones,
            head_min,
        ) else {
            return Ok(false);
        };
        let inputs: Vec<Arc<Block>> = blocks
            .iter()
            .filter(|b| group.contains(&b.meta().id))
            .cloned()
            .collect();
        let id = self.next_block_id();
        // Step 1: the child is durable, its directory entry included
        // (`BlockWriter::finish` fsyncs files, renames, fsyncs `blocks/`).
        let written = compact::merge_blocks(&self.blocks_dir(), id, &inputs, &tombstones)?;
        let new_block = match written {
            Some(_) => Some(Arc::new(Block::open(
                &self.blocks_dir().join(id.to_string()),
            )?)),
            None => None,
        };
        crash_point(CrashPoint::ChildDurable)?;
        let had_tombstones = tombstones.0.iter().any(|t| group.contains(&t.block));
        {
            let _view = self.view.write();
            let mut live = self.blocks.write();
            live.retain(|b| !group.contains(&b.meta().id));
            live.extend(new_block);
            live.sort_by_key(|b| b.meta().id);
            // In memory at once: the parents' tombstones hide nothing any
            // more (the child was written without the deleted samples).
            if had_tombstones {
                self.tombstones.write().forget_blocks(&group);
            }
        }
        // Step 2: the parents go (each rename and removal made durable).
        // Until then, open() drops a parent that the child's
        // `meta.sources` covers.
        for (i, b) in inputs.iter().enumerate() {
            block::delete_block(b.dir())?;
            if i == 0 {
                crash_point(CrashPoint::ParentRemoved)?;
            }
        }
        crash_point(CrashPoint::ParentsRemoved)?;
        // Step 3: only now the tombstones file forgets the parents: had it
        // gone first, a crash before step 2 would bring their deleted
        // samples back.
        if had_tombstones {
            let current = self.tombstones.read().clone();
            current.save(&self.dir)?;
        }
        self.stats.compactions.fetch_add(1, Ordering::Relaxed);
        Ok(true)
    }

    fn apply_retention(&self) -> Result<()> {
        let now = self.opts.clock.now_ms();
        let metas: Vec<_> = self
            .blocks
            .read()
            .iter()
            .map(|b| b.meta().clone())
            .collect();
        let expired = retention::expired(&metas, now, self.opts.retention_ms);
        if expired.is_empty() {
            return Ok(());
        }
        let doomed: Vec<Arc<Block>> = {
            let mut live = self.blocks.write();
            let (gone, keep) = live.drain(..).partition(|b| expired.contains(&b.meta().id));
            *live = keep;
            gone
        };
        for b in &doomed {
            block::delete_block(b.dir())?;
            self.stats
                .retention_deletions
                .fetch_add(1, Ordering::Relaxed);
        }
        // Blocks removed first, then their tombstones (as in compaction).
        let gone: Vec<BlockId> = doomed.iter().map(|b| b.meta().id).collect();
        if self
            .tombstones
            .read()
            .0
            .iter()
            .any(|t| gone.contains(&t.block))
        {
            let mut ts = self.tombstones.write();
            ts.forget_blocks(&gone);
            ts.save(&self.dir)?;
        }
        Ok(())
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

/// WAL checkpoint filter after a head cut at `cut`.
fn keep_after_cut(head: &Head, record: Record, cut: i64) -> Option<Record> {
    let alive = |r: u64| head.get_by_ref(r).is_some();
    let kept = match record {
        Record::Series(list) => Record::Series(
            list.into_iter()
                .filter(|s| alive(s.series_ref))
                .collect::<Vec<_>>(),
        ),
        Record::Samples(list) => Record::Samples(
            list.into_iter()
                .filter(|s| s.t >= cut && alive(s.series_ref))
                .collect::<Vec<_>>(),
        ),
        Record::Deletes(list) => Record::Deletes(
            list.into_iter()
                .filter(|d| d.maxt >= cut && alive(d.series_ref))
                .collect::<Vec<_>>(),
        ),
    };
    let empty = match &kept {
        Record::Series(l) => l.is_empty(),
        Record::Samples(l) => l.is_empty(),
        Record::Deletes(l) => l.is_empty(),
    };
    (!empty).then_some(kept)
}

/// A chunk with owned bytes, on its way into a block.
#[derive(Debug)]
pub(crate) struct OwnedChunk {
    pub(crate) min_t: i64,
    pub(crate) max_t: i64,
    pub(crate) num_samples: u32,
    pub(crate) encoding: Encoding,
    pub(crate) bytes: Vec<u8>,
}

/// Samples per chunk in blocks: two hours at a 15 s scrape interval. Larger
/// than head chunks, since block chunks are read whole from compressed
/// frames and each chunk costs index space.
pub(crate) const BLOCK_SAMPLES_PER_CHUNK: usize = 480;

/// Encodes sorted samples as block chunks ([`crate::chunk::encode_cold`])
/// of at most [`BLOCK_SAMPLES_PER_CHUNK`] samples.
pub(crate) fn chunks_of(samples: &[Sample]) -> Vec<OwnedChunk> {
    samples
        .chunks(BLOCK_SAMPLES_PER_CHUNK)
        .filter_map(|c| {
            let (encoding, bytes) = crate::chunk::encode_cold(c);
            Some(OwnedChunk {
                min_t: c.first()?.t,
                max_t: c.last()?.t,
                num_samples: c.len() as u32,
                encoding,
                bytes,
            })
        })
        .collect()
}

pub(crate) fn to_write(chunks: &[OwnedChunk]) -> Vec<ChunkToWrite<'_>> {
    chunks
        .iter()
        .map(|c| ChunkToWrite {
            min_t: c.min_t,
            max_t: c.max_t,
            num_samples: c.num_samples,
            encoding: c.encoding.as_u8(),
            bytes: &c.bytes,
        })
        .collect()
}

/// A batch of samples to store; see [`Storage::appender`].
///
/// Each [`Appender::append`] checks its sample at once and returns a typed
/// error for a bad one, which is then left out; the rest of the batch is
/// stored by [`Appender::commit`].
#[derive(Debug)]
pub struct Appender<'a> {
    inner: &'a Arc<Inner>,
    /// Oldest timestamp the retention accepts, read once per batch.
    oldest: i64,
    /// The clock when the batch began; samples later than
    /// `now + max_future_ms` are refused.
    now: i64,
    existing: Vec<(Arc<MemSeries>, i64, f64)>,
    new: Vec<(Labels, i64, f64)>,
}

impl Appender<'_> {
    /// Adds a sample to the batch.
    ///
    /// # Errors
    /// [`Error::InvalidLabels`] when `labels` break the storage's
    /// [`crate::LabelLimits`] or are empty; [`Error::OutOfBounds`] when `t`
    /// is older than the retention period allows; [`Error::TooFarInFuture`]
    /// when `t` is more than [`Options::max_future_ms`] ahead of the
    /// storage's clock. The sample is not added.
    pub fn append(&mut self, labels: &Labels, t: i64, v: f64) -> Result<()> {
        check_limits(labels, &self.inner.opts.label_limits)?;
        if t < self.oldest {
            return Err(Error::OutOfBounds {
                series: labels.to_string(),
                t,
                reason: "older than the retention period",
            });
        }
        if t > self.newest() {
            return Err(self.too_far_in_future(labels.to_string(), t));
        }
        match self.inner.head.get(labels) {
            Some(series) => self.existing.push((series, t, v)),
            None => self.new.push((labels.clone(), t, v)),
        }
        Ok(())
    }

    /// Adds samples of the series with these label pairs, borrowed from the
    /// request (no allocation when the series exists): `pairs` as received,
    /// any order. An existing series is found by its labels alone; a new
    /// one is validated as [`Labels::with_limits`] does, so the outcome is
    /// that of [`Appender::append`] with the same labels.
    ///
    /// # Errors
    /// As [`Appender::append`]; no sample of the series is added then.
    pub fn append_pairs(
        &mut self,
        pairs: &mut [(&str, &str)],
        samples: &[(i64, f64)],
    ) -> Result<()> {
        self.append_bytes(pairs, samples)
    }

    /// [`Appender::append_pairs`] for label pairs as raw bytes from the wire:
    /// they are checked for UTF-8 only when no series has exactly these
    /// bytes (an existing series' labels are valid UTF-8, so equal bytes
    /// are too), which keeps validation off the path of known series.
    ///
    /// # Errors
    /// As [`Appender::append`], and [`LabelError::NotUtf8`] for a name or
    /// value that is not UTF-8; no sample of the series is added then.
    pub fn append_raw(
        &mut self,
        pairs: &mut [(&[u8], &[u8])],
        samples: &[(i64, f64)],
    ) -> Result<()> {
        self.append_bytes(pairs, samples)
    }

    fn append_bytes<N: AsRef<[u8]>, V: AsRef<[u8]>>(
        &mut self,
        pairs: &mut [(N, V)],
        samples: &[(i64, f64)],
    ) -> Result<()> {
        // Byte order of UTF-8 is code point order, so this is name order.
        if !pairs.is_sorted_by(|a, b| a.0.as_ref() <= b.0.as_ref()) {
            pairs.sort_unstable_by(|a, b| a.0.as_ref().cmp(b.0.as_ref()));
        }
        let newest = self.newest();
        if let Some(&(t, _)) = samples
            .iter()
            .find(|(t, _)| *t < self.oldest || *t > newest)
        {
            let labels: Vec<String> = pairs
                .iter()
                .map(|(n, v)| {
                    let (n, v) = (n.as_ref(), v.as_ref());
                    format!(
                        "{}={:?}",
                        String::from_utf8_lossy(n),
                        String::from_utf8_lossy(v)
                    )
                })
                .collect();
            let series = format!("{{{}}}", labels.join(", "));
            if t > newest {
                return Err(self.too_far_in_future(series, t));
            }
            return Err(Error::OutOfBounds {
                series,
                t,
                reason: "older than the retention period",
            });
        }
        if let Some(series) = self.inner.head.get_raw(pairs) {
            self.existing.reserve(samples.len());
            for &(t, v) in samples {
                self.existing.push((series.clone(), t, v));
            }
            return Ok(());
        }
        let mut owned = Vec::with_capacity(pairs.len());
        for (n, v) in pairs.iter() {
            let name = std::str::from_utf8(n.as_ref()).map_err(|_| LabelError::NotUtf8("name"))?;
            let value =
                std::str::from_utf8(v.as_ref()).map_err(|_| LabelError::NotUtf8("value"))?;
            owned.push(Label::new(name, value));
        }
        // Limits and retention are checked: the series is created (or,
        // when dropping empty values made it a known one, found) at commit.
        let labels = Labels::with_limits(owned, &self.inner.opts.label_limits)?;
        self.new
            .extend(samples.iter().map(|&(t, v)| (labels.clone(), t, v)));
        Ok(())
    }

    /// Newest timestamp accepted: the clock plus the allowed lead.
    fn newest(&self) -> i64 {
        self.now.saturating_add(self.inner.opts.max_future_ms)
    }

    fn too_far_in_future(&self, series: String, t: i64) -> Error {
        Error::TooFarInFuture {
            series,
            t,
            now: self.now,
            max_future_ms: self.inner.opts.max_future_ms,
        }
    }

    /// Number of samples in the batch.
    pub fn len(&self) -> usize {
        self.existing.len() + self.new.len()
    }

    /// True when the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stores the batch: WAL first (one write for new series, one for the
    /// samples), then the head. When it returns `Ok`, the samples survive a
    /// crash of the process (and, with `FsyncPolicy::Always`, of the machine).
    ///
    /// # Errors
    /// [`Error::Closed`] or a WAL write failure; nothing of the batch is
    /// visible then.
    pub fn commit(self) -> Result<()> {
        let inner = self.inner;
        let _gate = inner.gate.read();
        if inner.closed.load(Ordering::SeqCst) {
            return Err(Error::Closed);
        }
        let mut batch: Vec<(Arc<MemSeries>, i64, f64)> = self.existing;
        let mut refound = Vec::new();
        // A head cut may have dropped a series since `append` found it.
        if batch.iter().any(|(s, _, _)| s.is_dropped()) {
            batch.retain(|(s, t, v)| {
                let dropped = s.is_dropped();
                if dropped {
                    refound.push((s.labels(), *t, *v));
                }
                !dropped
            });
        }
        refound.extend(self.new);
        if !refound.is_empty() {
            let labels: Vec<Labels> = refound.iter().map(|(l, _, _)| l.clone()).collect();
            let series = inner
                .head
                .get_or_create(&labels, |new| inner.log_new_series(new))?;
            batch.extend(
                series
                    .into_iter()
                    .zip(refound)
                    .map(|(s, (_, t, v))| (s, t, v)),
            );
        }
        if batch.is_empty() {
            return Ok(());
        }
        let samples: Vec<RefSample> = batch
            .iter()
            .map(|(s, t, v)| RefSample {
                series_ref: s.series_ref,
                t: *t,
                v: *v,
            })
            .collect();
        inner.with_wal(|w| w.log(&[Record::Samples(samples)]))?;
        inner
            .head
            .append_batch(batch.iter().map(|(s, t, v)| (&**s, *t, *v)));
        inner
            .stats
            .samples_appended
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

fn check_limits(labels: &Labels, limits: &crate::LabelLimits) -> Result<()> {
    if labels.is_empty() {
        return Err(LabelError::Empty.into());
    }
    Ok(limits.check(labels.as_slice())?)
}

/// Reads the storage. Each call sees the data as it is at that moment
/// (head, data being flushed, blocks), consistently: data moving between
/// them never goes missing from a result.
#[derive(Debug, Clone)]
pub struct StorageQuerier {
    inner: Arc<Inner>,
}

/// Blocks overlapping `[mint, maxt]`, newest first (the newest source wins
/// at equal timestamps).
fn overlapping_blocks(
    blocks: &[Arc<Block>],
    mint: i64,
    maxt: i64,
) -> impl Iterator<Item = &Arc<Block>> {
    blocks
        .iter()
        .rev()
        .filter(move |b| b.meta().max_t >= mint && b.meta().min_t <= maxt)
}

impl StorageQuerier {
    /// Every source of the series matching `matchers` with data in
    /// `[mint, maxt]`, sorted by series, newest source first within one.
    fn find(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Found> {
        let _view = self.inner.view.read();
        // Every source found, newest first, as (start, end) of its series'
        // key in `keys` and the source; sorted by key below. Keys rather
        // than `Labels` so that a series in several blocks (or in the head
        // and a block) has its labels built once, not once per source.
        let mut keys: Vec<u8> = Vec::new();
        let mut found: Vec<(usize, usize, Source)> = Vec::new();
        for s in self.inner.head.select(matchers)? {
            let snap = self.inner.head.snapshot(&s, mint, maxt);
            push_snapshot(&mut keys, &mut found, s.key(), snap);
        }
        let frozen = self.inner.frozen.read().clone();
        let tombstones = self.inner.tombstones.read().clone();
        let blocks = self.inner.blocks.read().clone();
        if let Some(frozen) = &frozen {
            for (s, snap) in frozen.iter() {
                if s.matches_all(matchers) {
                    push_snapshot(&mut keys, &mut found, s.key(), snap.clone());
                }
            }
        }
        let no_deletions: Arc<[(i64, i64)]> = Arc::from(Vec::new());
        let mut chunks = Vec::new();
        for b in overlapping_blocks(&blocks, mint, maxt) {
            let has_deletions = tombstones.has_block(b.meta().id);
            let ids = postings_for_matchers(&**b, matchers)?;
            // Room for this block's keys at once, at the mean key length so
            // far: a large selection grows its buffers once, not by doubling.
            let mean_key = keys.len().checked_div(found.len()).unwrap_or(128);
            keys.reserve(ids.len() * (mean_key + 8));
            found.reserve(ids.len());
            for id in ids {
                let start = keys.len();
                b.series_key_into(id, &mut keys, &mut chunks)?;
                chunks.retain(|c| c.max_t >= mint && c.min_t <= maxt);
                if chunks.is_empty() {
                    keys.truncate(start);
                    continue;
                }
                let deleted = if has_deletions {
                    let labels = Labels::from_key(&keys[start..]);
                    tombstones.intervals(b.meta().id, &labels).into()
                } else {
                    no_deletions.clone()
                };
                let source = Source::Block {
                    block: b.clone(),
                    chunks: std::mem::take(&mut chunks),
                    deleted,
                };
                found.push((start, keys.len(), source));
            }
        }
        // Stable: a series' sources stay newest first. Each source's list is
        // mostly sorted already (blocks list series in label order), and
        // the sort merges such runs in linear time.
        found.sort_by(|a, b| cmp_keys(&keys[a.0..a.1], &keys[b.0..b.1]));
        Ok(Found {
            keys,
            sources: found,
            mint,
            maxt,
        })
    }
}

/// The sources a selection found (see [`StorageQuerier::find`]): series
/// keys in one buffer, and each source with the range of its key there.
struct Found {
    keys: Vec<u8>,
    sources: Vec<(usize, usize, Source)>,
    mint: i64,
    maxt: i64,
}

impl Found {
    /// Calls `f` with each series' key and its sources, in order. A series
    /// whose samples in range are all deleted is left out, as in
    /// Prometheus.
    fn for_each(self, mut f: impl FnMut(&[u8], Vec<Source>)) {
        let Found {
            keys,
            sources,
            mint,
            maxt,
        } = self;
        let key = |start: usize, end: usize| &keys[start..end];
        let mut sources = sources.into_iter().peekable();
        while let Some((start, end, first)) = sources.next() {
            let this = key(start, end);
            let mut list = vec![first];
            while let Some((_, _, next)) = sources.next_if(|&(s, e, _)| key(s, e) == this) {
                list.push(next);
            }
            // Only series with pending deletions need this look (reading
            // samples needs no labels).
            let has_deletions = list
                .iter()
                .any(|s| matches!(s, Source::Block { deleted, .. } if !deleted.is_empty()));
            if has_deletions
                && Series::new(Labels::default(), list.clone(), mint, maxt)
                    .iter()
                    .next()
                    .is_none()
            {
                continue;
            }
            f(this, list);
        }
    }
}

impl Querier for StorageQuerier {
    fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<Series>> {
        let mut out = Vec::new();
        self.find(matchers, mint, maxt)?.for_each(|key, sources| {
            out.push(Series::new(Labels::from_key(key), sources, mint, maxt));
        });
        Ok(out)
    }

    fn for_each_label_set(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        f: &mut LabelSetVisitor<'_>,
    ) -> Result<()> {
        self.find(matchers, mint, maxt)?
            .for_each(|key, _| f(&mut crate::labels::key_pairs(key)));
        Ok(())
    }

    fn label_names(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<String>> {
        let mut names = self.inner.head.label_names(matchers)?;
        let blocks = self.inner.blocks.read().clone();
        for b in overlapping_blocks(&blocks, mint, maxt) {
            if matchers.is_empty() {
                names.extend(b.label_names()?);
            } else {
                for id in postings_for_matchers(&**b, matchers)? {
                    names.extend(b.series(id)?.0.iter().map(|l| l.name.clone()));
                }
            }
        }
        names.sort();
        names.dedup();
        Ok(names)
    }

    fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<String>> {
        let mut values = self.inner.head.label_values(name, matchers)?;
        let blocks = self.inner.blocks.read().clone();
        for b in overlapping_blocks(&blocks, mint, maxt) {
            if matchers.is_empty() {
                values.extend(crate::index::PostingsSource::label_values(&**b, name)?);
            } else {
                for id in postings_for_matchers(&**b, matchers)? {
                    values.extend(b.series(id)?.0.get(name).map(str::to_owned));
                }
            }
        }
        values.sort();
        values.dedup();
        Ok(values)
    }
}

/// Adds a head series' sources (out-of-order samples, then chunks) with
/// its key, stored once for both.
fn push_snapshot(
    keys: &mut Vec<u8>,
    found: &mut Vec<(usize, usize, Source)>,
    key: &[u8],
    snap: SeriesSnapshot,
) {
    if snap.is_empty() {
        return;
    }
    let start = keys.len();
    keys.extend_from_slice(key);
    let end = keys.len();
    if !snap.ooo.is_empty() {
        found.push((start, end, Source::Samples(snap.ooo.into())));
    }
    if !snap.chunks.is_empty() {
        found.push((start, end, Source::HeadChunks(snap.chunks)));
    }
}

#[cfg(test)]
mod durability_tests;
