//! Opening a data directory: the directory lock, loading blocks (and
//! quarantining damaged ones), finishing interrupted compactions, and
//! replaying the WAL into the head; what was found goes in an [`OpenReport`].

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};

use parking_lot::{Mutex, RwLock};

use super::{BLOCKS_DIR, Inner, LOCK_FILE, QUARANTINE_DIR, WAL_DIR};
use crate::block::{self, Block, BlockId};
use crate::compact;
use crate::error::{Error, Result};
use crate::head::Head;
use crate::options::Options;
use crate::retention;
use crate::tombstones::Tombstones;
use crate::wal::{Record, Wal};

/// Something [`Storage::open`](crate::Storage::open) found wrong and worked around.
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

/// Takes the lock on `dir`, loads its blocks and tombstones, and replays
/// the WAL: everything [`Storage::open`] does but start maintenance.
pub(super) fn open(dir: &Path, opts: Options) -> Result<Arc<Inner>> {
    opts.validate()?;
    let dir = dir.to_path_buf();
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

    Ok(Arc::new(Inner {
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
    }))
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
/// Any failure to open a block other than damage fails the whole open.
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
