//! Crash-ordering tests of the durability protocol (FORMAT.md, "Durability
//! protocol"): the on-disk state each step leaves is opened as a restarted
//! process would, and must serve every live sample once and no deleted one.

use std::fs;
use std::sync::Arc;

use super::*;
use crate::block;
use crate::clock::ManualClock;
use crate::labels::Labels;
use crate::querier::Querier;

const NOW: i64 = 1_800_000_000_000;
const T0: i64 = NOW - 3_600_000;

fn options() -> Options {
    let mut opts = Options::default()
        .without_maintenance()
        .with_clock(Arc::new(ManualClock::new(NOW)));
    opts.block_range_ms = 3_600_000;
    opts
}

fn labels(name: &str) -> Labels {
    Labels::from_pairs(&[("__name__", name), ("job", "j")]).unwrap()
}

/// Timestamps of series `name`, as every source merged gives them.
fn timestamps(storage: &Storage, name: &str) -> Vec<i64> {
    let series = storage
        .querier()
        .select(&[Matcher::equal("__name__", name)], i64::MIN, i64::MAX)
        .unwrap();
    series
        .iter()
        .flat_map(|s| s.samples().unwrap())
        .map(|s| s.t)
        .collect()
}

/// Two overlapping blocks (ids 1 and 2) holding `a` and `b`, and a
/// deletion of `a` in `[T0 + 20 s, T0 + 60 s]` pending on both.
fn setup(dir: &Path) -> Storage {
    let storage = Storage::open(dir, options()).unwrap();
    for offset in [0, 5_000] {
        let mut app = storage.appender();
        for i in 0..10 {
            let t = T0 + offset + i * 10_000;
            app.append(&labels("a"), t, i as f64).unwrap();
            app.append(&labels("b"), t, i as f64).unwrap();
        }
        app.commit().unwrap();
        storage.flush().unwrap();
    }
    storage
        .delete(&[Matcher::equal("__name__", "a")], T0 + 20_000, T0 + 60_000)
        .unwrap();
    assert_eq!(storage.stats().blocks, 2);
    assert_eq!(Tombstones::load(dir).unwrap().0.len(), 2);
    storage
}

fn expected(name: &str) -> Vec<i64> {
    let mut ts: Vec<i64> = (0..10)
        .flat_map(|i| [T0 + i * 10_000, T0 + 5_000 + i * 10_000])
        .filter(|t| name != "a" || !(T0 + 20_000..=T0 + 60_000).contains(t))
        .collect();
    ts.sort_unstable();
    ts
}

/// What a restarted process must find after a crash anywhere in the
/// compaction: the merged child only, no deleted sample, no pending
/// tombstone naming a removed block.
fn assert_recovered(dir: &Path, what: &str) {
    let storage = Storage::open(dir, options()).unwrap();
    assert_eq!(timestamps(&storage, "a"), expected("a"), "{what}: series a");
    assert_eq!(timestamps(&storage, "b"), expected("b"), "{what}: series b");
    let stats = storage.stats();
    // Served once: one block, holding each live sample once (parents,
    // which still hold the deleted samples, are gone).
    assert_eq!(stats.blocks, 1, "{what}: blocks");
    assert_eq!(stats.block_samples, 31, "{what}: samples in blocks");
    assert!(
        Tombstones::load(dir).unwrap().0.is_empty(),
        "{what}: tombstones file not rewritten"
    );
    assert!(storage.open_report().damage.is_empty(), "{what}");
    // And it stays that way through further maintenance and a restart.
    storage.compact().unwrap();
    drop(storage);
    let storage = Storage::open(dir, options()).unwrap();
    assert_eq!(
        timestamps(&storage, "a"),
        expected("a"),
        "{what}: after compact"
    );
    assert_eq!(storage.stats().block_samples, 31, "{what}: after compact");
}

#[test]
fn compaction_crash_at_each_step_loses_no_deletion_and_serves_once() {
    let points = [
        None,
        Some(CrashPoint::ChildDurable),
        Some(CrashPoint::ParentRemoved),
        Some(CrashPoint::ParentsRemoved),
    ];
    for point in points {
        let dir = tempfile::tempdir().unwrap();
        let storage = setup(dir.path());
        CRASH_AT.with(|c| c.set(point));
        let result = storage.compact();
        CRASH_AT.with(|c| c.set(None));
        assert_eq!(result.is_err(), point.is_some(), "{point:?}: {result:?}");
        // The process "dies": nothing more happens to blocks or tombstones.
        drop(storage);
        assert_recovered(dir.path(), &format!("{point:?}"));
    }
}

#[test]
fn parents_next_to_their_child_are_dropped_even_without_tombstones() {
    // The state the old order could leave (tombstones rewritten first, then
    // a crash before the parents went): parents hold the deleted samples
    // and nothing hides them any more. open() must drop them by
    // `meta.sources`, not serve them.
    let dir = tempfile::tempdir().unwrap();
    let storage = setup(dir.path());
    CRASH_AT.with(|c| c.set(Some(CrashPoint::ChildDurable)));
    assert!(storage.compact().is_err());
    drop(storage);
    fs::remove_file(dir.path().join(crate::tombstones::FILE_NAME)).unwrap();
    assert_recovered(dir.path(), "child and parents, no tombstones");
}

#[test]
fn failed_head_cut_keeps_samples_recoverable_through_a_later_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options();
    opts.block_range_ms = 10_000;
    let base = (NOW / 10_000) * 10_000 - 100_000;
    let storage = Storage::open(dir.path(), opts.clone()).unwrap();
    let mut app = storage.appender();
    for i in 0..20 {
        app.append(&labels("x"), base + i * 1_000, i as f64)
            .unwrap();
    }
    app.commit().unwrap();
    let all: Vec<i64> = (0..20).map(|i| base + i * 1_000).collect();

    // The first block of the cut cannot be written: a file sits where its
    // temporary directory must go.
    let blocker = dir
        .path()
        .join(BLOCKS_DIR)
        .join(format!("{}{}", BlockId(1), block::CREATING));
    fs::write(&blocker, b"in the way").unwrap();
    assert!(storage.flush().is_err());
    assert_eq!(timestamps(&storage, "x"), all, "restored in memory");
    fs::remove_file(&blocker).unwrap();

    // A later cut moves the older half to a block and checkpoints the WAL;
    // the younger half stays in the head, and only the WAL has it.
    storage.maintain().unwrap();
    assert_eq!(storage.stats().blocks, 1);
    assert_eq!(timestamps(&storage, "x"), all);
    drop(storage);

    let storage = Storage::open(dir.path(), opts).unwrap();
    assert_eq!(timestamps(&storage, "x"), all, "after restart");
    assert_eq!(storage.stats().block_samples, 10);
}

#[test]
fn environment_errors_fail_the_open_and_never_quarantine() {
    let dir = tempfile::tempdir().unwrap();
    let storage = setup(dir.path());
    drop(storage);
    // Not damage to the data: the index cannot be mapped (here because a
    // directory stands where the file was, as EMFILE or EACCES would stop
    // it). The open must fail and leave the block alone.
    let block_dir = dir.path().join(BLOCKS_DIR).join(BlockId(1).to_string());
    let index = block_dir.join("index");
    let saved = fs::read(&index).unwrap();
    fs::remove_file(&index).unwrap();
    fs::create_dir(&index).unwrap();
    let err = Storage::open(dir.path(), options()).unwrap_err();
    assert!(
        matches!(&err, Error::BlockUnavailable { dir, .. } if dir == &block_dir),
        "{err}"
    );
    assert!(err.to_string().contains("not corruption"), "{err}");
    assert!(block_dir.join("meta").exists(), "block moved away");
    assert!(!dir.path().join(QUARANTINE_DIR).exists());

    // Once the cause is gone the block opens as it was.
    fs::remove_dir(&index).unwrap();
    fs::write(&index, saved).unwrap();
    let storage = Storage::open(dir.path(), options()).unwrap();
    assert_eq!(storage.stats().blocks, 2);
    assert!(storage.open_report().damage.is_empty());

    // Real damage still quarantines.
    drop(storage);
    let mut bytes = fs::read(&index).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x5a;
    fs::write(&index, bytes).unwrap();
    let storage = Storage::open(dir.path(), options()).unwrap();
    assert_eq!(storage.stats().blocks, 1);
    assert!(
        dir.path()
            .join(QUARANTINE_DIR)
            .join(BlockId(1).to_string())
            .exists()
    );
}
