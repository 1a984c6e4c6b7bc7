//! Damage to each kind of file is detected, reported with file and offset,
//! and contained: everything else stays readable, and nothing panics.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use strata_engine::{Error, Labels, Matcher, Querier, Storage};

use crate::common::{NOW, dump, series, test_options};

const SERIES: usize = 20;

/// A data dir with two blocks, a WAL checkpoint, live WAL segments, and a tombstone.
fn build(dir: &Path) -> BTreeMap<Labels, BTreeMap<i64, u64>> {
    let (opts, _clock) = test_options();
    let storage = Storage::open(dir, opts).unwrap();
    for k in 0..60 {
        let mut app = storage.appender();
        for i in 0..SERIES {
            app.append(&series(i), NOW + k * 1000, (k * 100 + i as i64) as f64)
                .unwrap();
        }
        app.commit().unwrap();
        if k == 35 {
            storage.maintain().unwrap(); // cuts [.., NOW+30s) into blocks, checkpoints the WAL
        }
    }
    storage
        .delete(&[Matcher::equal("s", "19")], NOW, NOW + 5000)
        .unwrap();
    let data = dump(&storage);
    storage.close().unwrap();
    data
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else if e.file_name() != "LOCK" {
            fs::copy(e.path(), target).unwrap();
        }
    }
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

#[derive(Debug, Clone, Copy)]
enum Harm {
    FlipMiddle,
    Truncate,
}

fn harm(path: &Path, how: Harm) {
    let mut bytes = fs::read(path).unwrap();
    match how {
        Harm::FlipMiddle => {
            let at = bytes.len() / 2;
            bytes[at] ^= 0x5a;
        }
        Harm::Truncate => bytes.truncate(bytes.len() / 2),
    }
    fs::write(path, bytes).unwrap();
}

/// Which kind of file a path is, by where it sits in the data directory.
fn kind(rel: &Path) -> &'static str {
    let s = rel.to_string_lossy();
    if s.starts_with("wal") && s.contains("checkpoint") {
        "checkpoint"
    } else if s.starts_with("wal") {
        "wal segment"
    } else if s.contains("chunks") {
        "chunks"
    } else if s.ends_with("index") {
        "index"
    } else if s.ends_with("meta") {
        "meta"
    } else if s.ends_with("tombstones") {
        "tombstones"
    } else {
        "other"
    }
}

#[test]
fn every_kind_of_damage_is_reported_and_contained() {
    let pristine = tempfile::tempdir().unwrap();
    let good = build(pristine.path());
    let mut kinds_seen = BTreeMap::new();
    for file in files(pristine.path()) {
        let rel = file.strip_prefix(pristine.path()).unwrap().to_path_buf();
        let k = kind(&rel);
        if k == "other" || fs::metadata(&file).unwrap().len() < 8 {
            continue;
        }
        for how in [Harm::FlipMiddle, Harm::Truncate] {
            let work = tempfile::tempdir().unwrap();
            copy_dir(pristine.path(), work.path());
            let damaged = work.path().join(&rel);
            harm(&damaged, how);
            let (opts, _clock) = test_options();
            let storage = Storage::open(work.path(), opts)
                .unwrap_or_else(|e| panic!("{k} {rel:?} {how:?}: open failed: {e}"));
            let report = storage.open_report().damage.clone();
            *kinds_seen.entry(k).or_insert(0) += 1;
            if k == "chunks" {
                // Chunks are checked when read: the damaged one fails with
                // file and offset, every other series reads fine.
                let all = storage
                    .querier()
                    .select(&[Matcher::equal("__name__", "m")], i64::MIN, i64::MAX)
                    .unwrap();
                let mut failed = 0;
                for s in &all {
                    match s.samples() {
                        Ok(samples) => {
                            let want = &good[s.labels()];
                            for x in samples {
                                assert_eq!(
                                    want.get(&x.t),
                                    Some(&x.v.to_bits()),
                                    "{k} {how:?}: wrong value"
                                );
                            }
                        }
                        Err(Error::Corruption { file, offset, .. }) => {
                            assert!(file.starts_with(work.path()), "{file:?}");
                            assert!(file.to_string_lossy().contains("chunks"), "{file:?}");
                            assert!(offset <= fs::metadata(&damaged).unwrap().len().max(1 << 20));
                            failed += 1;
                        }
                        Err(e) => panic!("{k} {how:?}: unexpected error {e}"),
                    }
                }
                assert!(failed > 0, "{k} {rel:?} {how:?}: damage went unnoticed");
            } else {
                assert!(
                    report.iter().any(|d| damaged.starts_with(&d.file)
                        || d.file.starts_with(&damaged)
                        || d.file == damaged),
                    "{k} {rel:?} {how:?}: damage not reported with its file: {report:?}"
                );
                for d in &report {
                    assert!(!d.reason.is_empty());
                }
                // Whatever is returned is right: no silently wrong values.
                let got = dump(&storage);
                let mut missing = 0usize;
                for (labels, samples) in &good {
                    for (t, bits) in samples {
                        match got.get(labels).and_then(|m| m.get(t)) {
                            Some(b) => {
                                assert_eq!(b, bits, "{k} {how:?}: wrong value for {labels} at {t}")
                            }
                            None => missing += 1,
                        }
                    }
                }
                for (labels, samples) in &got {
                    for t in samples.keys() {
                        // Deleted data must not come back, unless the tombstone file itself was lost.
                        if k != "tombstones" {
                            assert!(
                                good.get(labels).is_some_and(|m| m.contains_key(t)),
                                "{k} {how:?}: {labels} at {t} resurrected"
                            );
                        }
                    }
                }
                let total: usize = good.values().map(BTreeMap::len).sum();
                assert!(missing < total, "{k} {how:?}: everything lost");
            }
            // Writes still work after damage.
            let mut app = storage.appender();
            app.append(&series(0), NOW + 100_000, 1.0).unwrap();
            app.commit().unwrap();
            storage.close().unwrap();
        }
    }
    eprintln!("corruption kinds damaged: {kinds_seen:?}");
    for k in [
        "wal segment",
        "checkpoint",
        "chunks",
        "index",
        "meta",
        "tombstones",
    ] {
        assert!(
            kinds_seen.contains_key(k),
            "no {k} file was damaged; files: {kinds_seen:?}"
        );
    }
}
