//! Background maintenance and the operations it runs under the
//! maintenance lock: scheduled head cuts, compaction (with its crash
//! points), retention, and deletion.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;

use super::Inner;
use crate::block::{self, Block, BlockId};
use crate::compact;
use crate::error::Result;
use crate::index::postings_for_matchers;
use crate::labels::Matcher;
use crate::retention;
use crate::tombstones::Tombstone;
use crate::wal::{DeleteRecord, Record};

pub(super) fn spawn_maintenance(
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
        return Err(crate::error::Error::InvalidOption {
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

/// Which windows of the larger compaction ranges a compaction may fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Windows {
    /// Only windows wholly in the past (background compaction).
    CompleteOnly,
    /// Incomplete windows too ([`super::Storage::compact`], VictoriaMetrics'
    /// `force_merge`).
    AlsoIncomplete,
}

impl Inner {
    pub(super) fn delete(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<u64> {
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

    pub(super) fn maintain(&self) -> Result<()> {
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
        while self.compact_once(Windows::CompleteOnly)? {}
        self.apply_retention()
    }
    /// Runs one compaction if the planner finds one. Caller holds the
    /// maintenance lock.
    /// One compaction step. With [`Windows::AlsoIncomplete`], windows of the larger ranges are
    /// merged even while incomplete (more blocks may still land in them).
    pub(super) fn compact_once(&self, windows: Windows) -> Result<bool> {
        let blocks = self.blocks.read().clone();
        let metas: Vec<_> = blocks.iter().map(|b| b.meta().clone()).collect();
        let tombstones = self.tombstones.read().clone();
        let with_tombstones: Vec<BlockId> = metas
            .iter()
            .map(|m| m.id)
            .filter(|&id| tombstones.has_block(id))
            .collect();
        let head_min = if windows == Windows::AlsoIncomplete {
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
}
