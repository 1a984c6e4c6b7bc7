use super::*;
use crate::labels::Labels;
use crate::series_ref::SeriesRef;

fn samples(r: u64, from: i64, n: i64) -> Record {
    Record::Samples(
        (0..n)
            .map(|i| RefSample {
                series_ref: SeriesRef(r),
                t: from + i,
                v: (from + i) as f64,
            })
            .collect(),
    )
}

fn series(r: u64) -> Record {
    Record::Series(vec![SeriesRecord {
        series_ref: SeriesRef(r),
        labels: Labels::from_pairs(&[("__name__", "m"), ("r", &r.to_string())]).unwrap(),
    }])
}

fn replay_all(dir: &Path) -> (Vec<Record>, ReplayReport) {
    let mut got = Vec::new();
    let report = Wal::replay(dir, |r| {
        got.push(r);
        Ok(())
    })
    .unwrap();
    (got, report)
}

fn opts(fsync: FsyncPolicy) -> WalOptions {
    WalOptions {
        segment_size: 128 << 20,
        fsync,
    }
}

#[test]
fn records_round_trip_across_threads_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), opts(FsyncPolicy::Always)).unwrap();
    std::thread::scope(|s| {
        for th in 0..4u64 {
            let wal = &wal;
            s.spawn(move || {
                wal.log(&[series(th)]).unwrap();
                for k in 0..50 {
                    wal.log(&[samples(th, k * 10, 10)]).unwrap();
                }
                wal.log(&[Record::Deletes(vec![DeleteRecord {
                    series_ref: SeriesRef(th),
                    mint: 0,
                    maxt: 5,
                }])])
                .unwrap();
            });
        }
    });
    wal.close().unwrap();
    let (got, report) = replay_all(dir.path());
    assert!(
        report.corruptions.is_empty() && report.torn_tail.is_none(),
        "{report:?}"
    );
    assert_eq!(got.len(), 4 * 52);
    for th in 0..4u64 {
        let mine: Vec<&Record> = got
            .iter()
            .filter(|r| match r {
                Record::Series(v) => v[0].series_ref == SeriesRef(th),
                Record::Samples(v) => v[0].series_ref == SeriesRef(th),
                Record::Deletes(v) => v[0].series_ref == SeriesRef(th),
            })
            .collect();
        assert_eq!(mine[0], &series(th));
        for k in 0..50 {
            assert_eq!(mine[1 + k as usize], &samples(th, k * 10, 10));
        }
        assert!(matches!(mine[51], Record::Deletes(_)));
    }
}

/// Three records in one segment; returns (dir, segment path, record start offsets).
fn three_records() -> (tempfile::TempDir, PathBuf, Vec<usize>) {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), opts(FsyncPolicy::Never)).unwrap();
    let mut offsets = vec![segment::HEADER_LEN];
    for k in 0..3 {
        wal.log(&[samples(1, k * 100, 20)]).unwrap();
        offsets.push(segment::HEADER_LEN + wal.writer.lock().size as usize - segment::HEADER_LEN);
    }
    wal.close().unwrap();
    let path = dir.path().join(segment::segment_name(1));
    (dir, path, offsets)
}

#[test]
fn torn_last_record_is_cut_off_at_every_offset() {
    let (dir, path, offsets) = three_records();
    let full = fs::read(&path).unwrap();
    for cut in offsets[2] + 1..offsets[3] {
        fs::write(&path, &full[..cut]).unwrap();
        let (got, report) = replay_all(dir.path());
        assert_eq!(
            got,
            vec![samples(1, 0, 20), samples(1, 100, 20)],
            "cut at {cut}"
        );
        let torn = report.torn_tail.expect("torn tail reported");
        assert_eq!(
            (torn.file.as_path(), torn.offset),
            (path.as_path(), offsets[2] as u64)
        );
        assert!(report.corruptions.is_empty());
        assert_eq!(
            fs::metadata(&path).unwrap().len(),
            offsets[2] as u64,
            "file truncated to last good record"
        );
    }
}

#[test]
fn damage_in_the_middle_is_reported_and_skipped() {
    // (name, offset within the middle record to flip)
    let cases: [(&str, usize); 5] = [
        ("sync byte", 0),
        ("type byte", 1),
        ("length", 3),
        ("crc", 7),
        ("payload", 40),
    ];
    for (name, delta) in cases {
        let (dir, path, offsets) = three_records();
        let mut bytes = fs::read(&path).unwrap();
        bytes[offsets[1] + delta] ^= 0x10;
        fs::write(&path, &bytes).unwrap();
        let (got, report) = replay_all(dir.path());
        assert_eq!(got, vec![samples(1, 0, 20), samples(1, 200, 20)], "{name}");
        assert_eq!(report.corruptions.len(), 1, "{name}: {report:?}");
        let c = &report.corruptions[0];
        assert_eq!(c.file, path, "{name}");
        assert_eq!(c.offset, offsets[1] as u64, "{name}: {c:?}");
        assert!(report.torn_tail.is_none(), "{name}");
    }
}

#[test]
fn garbage_empty_and_missing_segments() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), opts(FsyncPolicy::Never)).unwrap();
    wal.log(&[samples(1, 0, 5)]).unwrap();
    wal.cut_segment().unwrap(); // segment 2: only a header
    wal.cut_segment().unwrap(); // segment 3
    wal.log(&[samples(1, 10, 5)]).unwrap();
    wal.cut_segment().unwrap(); // segment 4
    wal.log(&[samples(1, 20, 5)]).unwrap();
    wal.close().unwrap();
    // Garbage appended to segment 1, segment 3 removed.
    let s1 = dir.path().join(segment::segment_name(1));
    let mut bytes = fs::read(&s1).unwrap();
    let garbage_at = bytes.len();
    bytes.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef, 0x00, 0x01]);
    fs::write(&s1, &bytes).unwrap();
    fs::remove_file(dir.path().join(segment::segment_name(3))).unwrap();
    let (got, report) = replay_all(dir.path());
    assert_eq!(got, vec![samples(1, 0, 5), samples(1, 20, 5)]);
    assert!(
        report
            .corruptions
            .iter()
            .any(|c| c.file == s1 && c.offset == garbage_at as u64),
        "{report:?}"
    );
    assert!(
        report
            .corruptions
            .iter()
            .any(|c| c.reason.contains("missing")),
        "{report:?}"
    );
    // A new WAL continues after the newest segment.
    let wal = Wal::open(dir.path(), opts(FsyncPolicy::Never)).unwrap();
    assert_eq!(wal.current_segment(), 5);
}

#[test]
fn a_closed_file_cut_at_a_record_boundary_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), opts(FsyncPolicy::Never)).unwrap();
    // Where segment 1's records end: after the header, after each record.
    let mut ends = vec![segment::HEADER_LEN];
    for k in 0..3 {
        wal.log(&[samples(1, k * 100, 20)]).unwrap();
        ends.push(wal.writer.lock().size as usize);
    }
    wal.cut_segment().unwrap();
    wal.log(&[samples(1, 1000, 20)]).unwrap();
    wal.close().unwrap();
    let all = vec![
        samples(1, 0, 20),
        samples(1, 100, 20),
        samples(1, 200, 20),
        samples(1, 1000, 20),
    ];
    // Intact, and after a reopen (which seals segment 2): nothing reported.
    for _ in 0..2 {
        let (got, report) = replay_all(dir.path());
        assert_eq!(got, all);
        assert!(report.corruptions.is_empty(), "{report:?}");
        Wal::open(dir.path(), opts(FsyncPolicy::Never))
            .unwrap()
            .close()
            .unwrap();
    }
    // Segment 1 cut at each record boundary: after its header, after each
    // record, right before its seal.
    let s1 = dir.path().join(segment::segment_name(1));
    let full = fs::read(&s1).unwrap();
    let seal_at = full.len() - segment::SEAL_LEN;
    assert_eq!(seal_at, ends[3]);
    for (kept, &cut) in ends.iter().enumerate() {
        fs::write(&s1, &full[..cut]).unwrap();
        let (got, report) = replay_all(dir.path());
        let mut want = all[..kept].to_vec();
        want.push(all[3].clone());
        assert_eq!(got, want, "cut at {cut}");
        assert!(
            report
                .corruptions
                .iter()
                .any(|c| c.file == s1 && c.offset == cut as u64 && c.reason.contains("seal")),
            "cut at {cut}: {report:?}"
        );
    }
    // A seal naming another offset is damage too.
    let mut moved = full[..seal_at].to_vec();
    moved.extend_from_slice(&full[..segment::HEADER_LEN]);
    moved.extend_from_slice(&full[seal_at..]);
    fs::write(&s1, &moved).unwrap();
    let (_, report) = replay_all(dir.path());
    assert!(
        report
            .corruptions
            .iter()
            .any(|c| c.file == s1 && c.reason.contains("seal record says")),
        "{report:?}"
    );
    // A version-1 segment (written before seals) has none and is read as is.
    let mut v1 = full[..seal_at].to_vec();
    v1[4] = 1;
    fs::write(&s1, &v1).unwrap();
    let (got, report) = replay_all(dir.path());
    assert_eq!(got, all);
    assert!(report.corruptions.is_empty(), "{report:?}");
    // A checkpoint cut before its seal.
    fs::write(&s1, &full).unwrap();
    let wal = Wal::open(dir.path(), opts(FsyncPolicy::Never)).unwrap();
    wal.checkpoint(1, Some).unwrap();
    wal.close().unwrap();
    let cp = dir
        .path()
        .join("checkpoint.00000001")
        .join(segment::segment_name(0));
    let bytes = fs::read(&cp).unwrap();
    let (got, report) = replay_all(dir.path());
    assert_eq!(got, all);
    assert!(report.corruptions.is_empty(), "{report:?}");
    fs::write(&cp, &bytes[..bytes.len() - segment::SEAL_LEN]).unwrap();
    let (got, report) = replay_all(dir.path());
    assert_eq!(got, all);
    assert!(
        report
            .corruptions
            .iter()
            .any(|c| c.file == cp && c.reason.contains("seal")),
        "{report:?}"
    );
}

#[test]
fn checkpoint_keeps_what_is_asked_and_drops_old_segments() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), opts(FsyncPolicy::Never)).unwrap();
    wal.log(&[series(1), series(2)]).unwrap();
    wal.log(&[samples(1, 0, 10), samples(2, 0, 10)]).unwrap();
    let upto = wal.cut_segment().unwrap();
    wal.log(&[samples(1, 100, 3)]).unwrap();
    // Keep series 1 only, and its samples at t >= 5.
    let report = wal
        .checkpoint(upto, |r| match r {
            Record::Series(v) => Some(Record::Series(
                v.into_iter()
                    .filter(|s| s.series_ref == SeriesRef(1))
                    .collect(),
            )),
            Record::Samples(v) => {
                let kept: Vec<_> = v
                    .into_iter()
                    .filter(|s| s.series_ref == SeriesRef(1) && s.t >= 5)
                    .collect();
                (!kept.is_empty()).then_some(Record::Samples(kept))
            }
            other => Some(other),
        })
        .unwrap();
    assert_eq!(report.records, 4);
    assert!(
        !dir.path().join(segment::segment_name(1)).exists(),
        "old segment removed"
    );
    wal.close().unwrap();
    let (got, report) = replay_all(dir.path());
    assert_eq!(report.checkpoint, Some(upto));
    assert_eq!(got, vec![series(1), samples(1, 5, 5), samples(1, 100, 3)]);
    // A second checkpoint replaces the first.
    let wal = Wal::open(dir.path(), opts(FsyncPolicy::Never)).unwrap();
    let upto2 = wal.cut_segment().unwrap();
    wal.checkpoint(upto2, Some).unwrap();
    wal.close().unwrap();
    assert_eq!(checkpoint::all(dir.path()).unwrap().len(), 1);
    let (again, _) = replay_all(dir.path());
    assert_eq!(again, got);
    // A half-written checkpoint left by a crash is ignored and cleaned up.
    fs::create_dir(dir.path().join("checkpoint.00000099.tmp")).unwrap();
    let (again, _) = replay_all(dir.path());
    assert_eq!(again, got);
    Wal::open(dir.path(), opts(FsyncPolicy::Never))
        .unwrap()
        .close()
        .unwrap();
    assert!(!dir.path().join("checkpoint.00000099.tmp").exists());
}

#[test]
fn segments_roll_by_size_and_batches_never_span() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(
        dir.path(),
        WalOptions {
            segment_size: 2000,
            fsync: FsyncPolicy::Interval(Duration::from_millis(5)),
        },
    )
    .unwrap();
    for k in 0..40 {
        wal.log(&[samples(7, k * 30, 30)]).unwrap();
    }
    assert!(wal.current_segment() > 5);
    wal.close().unwrap();
    let (got, report) = replay_all(dir.path());
    assert!(report.corruptions.is_empty());
    assert_eq!(got.len(), 40);
    for (k, r) in got.iter().enumerate() {
        assert_eq!(r, &samples(7, k as i64 * 30, 30));
    }
}

#[test]
fn group_commit_with_always_from_many_threads() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), opts(FsyncPolicy::Always)).unwrap();
    std::thread::scope(|s| {
        for th in 0..8u64 {
            let wal = &wal;
            s.spawn(move || {
                for k in 0..20 {
                    wal.log(&[samples(th, k, 1)]).unwrap();
                }
            });
        }
    });
    assert!(wal.sync.synced.load(Ordering::Acquire) >= wal.writer.lock().written);
    drop(wal);
    let (got, _) = replay_all(dir.path());
    assert_eq!(got.len(), 160);
}

#[test]
fn arbitrary_segment_bytes_never_panic() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..300 {
        let n = rng.gen_range(0..400);
        let mut bytes: Vec<u8> = (0..n).map(|_| rng.r#gen()).collect();
        if rng.gen_bool(0.5) && bytes.len() > 5 {
            bytes[..5].copy_from_slice(&segment::header());
        }
        fs::write(dir.path().join(segment::segment_name(1)), &bytes).unwrap();
        let _ = Wal::replay(dir.path(), |_| Ok(()));
    }
}

thread_local! {
    /// When set, the next WAL write on this thread writes only this many
    /// bytes and then fails with ENOSPC (a disk filling mid-record).
    pub(super) static FAIL_WRITE_AFTER: std::cell::Cell<Option<usize>> =
        const { std::cell::Cell::new(None) };
}

#[test]
fn failed_write_is_rolled_back_and_later_records_and_seal_line_up() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), opts(FsyncPolicy::Never)).unwrap();
    wal.log(&[series(1), samples(1, 0, 10)]).unwrap();
    // Half of the next batch reaches the file, then the disk is full.
    FAIL_WRITE_AFTER.with(|c| c.set(Some(40)));
    let err = wal.log(&[samples(1, 100, 10)]).unwrap_err();
    assert!(err.to_string().contains("write"), "{err}");
    wal.log(&[samples(1, 200, 10)]).unwrap();
    // The seal written by the cut must name the true end of the records.
    let closed = wal.cut_segment().unwrap();
    wal.log(&[samples(1, 300, 10)]).unwrap();
    wal.close().unwrap();

    let (got, report) = replay_all(dir.path());
    assert!(report.corruptions.is_empty(), "{:?}", report.corruptions);
    assert!(report.torn_tail.is_none(), "{:?}", report.torn_tail);
    assert_eq!(
        got,
        vec![
            series(1),
            samples(1, 0, 10),
            samples(1, 200, 10),
            samples(1, 300, 10)
        ]
    );
    assert_eq!(report.last_segment, Some(closed + 1));
}
