//! Many appending threads and querying threads at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use strata_engine::{Matcher, Querier, Storage};

use crate::common::{NOW, dump, series, test_options};

#[test]
fn concurrent_appends_queries_and_cuts() {
    let dir = tempfile::tempdir().unwrap();
    let (opts, _clock) = test_options();
    let storage = Arc::new(Storage::open(dir.path(), opts.clone()).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    const WRITERS: usize = 4;
    const PER_WRITER: usize = 25;
    const BATCHES: i64 = 200;
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let storage = storage.clone();
            std::thread::spawn(move || {
                for k in 0..BATCHES {
                    let mut app = storage.appender();
                    for i in 0..PER_WRITER {
                        app.append(&series(w * PER_WRITER + i), NOW + k * 100, k as f64)
                            .unwrap();
                    }
                    app.commit().unwrap();
                }
            })
        })
        .collect();
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (storage, stop) = (storage.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut queries = 0;
                while !stop.load(Ordering::Relaxed) {
                    for s in storage
                        .querier()
                        .select(&[Matcher::equal("job", "even")], i64::MIN, i64::MAX)
                        .unwrap()
                    {
                        let samples = s.samples().unwrap();
                        // Each writer appends in order: no gaps at the start.
                        for (k, x) in samples.iter().enumerate() {
                            assert_eq!(x.t, NOW + k as i64 * 100, "{}", s.labels());
                        }
                    }
                    queries += 1;
                }
                queries
            })
        })
        .collect();
    let cutter = {
        let (storage, stop) = (storage.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                storage.maintain().unwrap();
                std::thread::yield_now();
            }
        })
    };
    for w in writers {
        w.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    let queries: usize = readers.into_iter().map(|r| r.join().unwrap()).sum();
    cutter.join().unwrap();
    assert!(queries > 0);
    let data = dump(&storage);
    assert_eq!(data.len(), WRITERS * PER_WRITER);
    for (labels, m) in &data {
        assert_eq!(m.len(), BATCHES as usize, "{labels}");
    }
    Arc::try_unwrap(storage).unwrap().close().unwrap();
    let storage = Storage::open(dir.path(), opts).unwrap();
    assert_eq!(dump(&storage), data);
}

/// Commits per second with `fsync` from `writers` threads, each
/// committing 10-sample batches of its own series for `secs`; and the
/// fsyncs done.
fn commit_rate(fsync: strata_engine::FsyncPolicy, writers: usize, secs: f64) -> (f64, u64) {
    let dir = tempfile::tempdir().unwrap();
    let (opts, _clock) = test_options();
    let opts = opts.with_fsync(fsync);
    let storage = Arc::new(Storage::open(dir.path(), opts).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let started = std::time::Instant::now();
    let threads: Vec<_> = (0..writers)
        .map(|w| {
            let (storage, stop) = (storage.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut commits = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let mut app = storage.appender();
                    for i in 0..10 {
                        app.append(&series(w * 10 + i), NOW + commits as i64, 1.0)
                            .unwrap();
                    }
                    app.commit().unwrap();
                    commits += 1;
                }
                commits
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_secs_f64(secs));
    stop.store(true, Ordering::Relaxed);
    let commits: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    let rate = commits as f64 / started.elapsed().as_secs_f64();
    (rate, storage.stats().wal_fsyncs)
}

/// Group commit: with `--wal-fsync=always`, writers waiting at the same
/// moment share one fsync, so 16 writers commit several times as often as
/// one (each alone waits for its own fsync). Run with
/// `cargo test -p strata-engine --test it group_commit -- --ignored --nocapture`.
#[test]
#[ignore = "timing measurement; run by hand"]
fn group_commit_scales_with_writers() {
    use strata_engine::FsyncPolicy::{Always, Never};
    let (never, _) = commit_rate(Never, 1, 1.0);
    let (one, fsyncs_one) = commit_rate(Always, 1, 3.0);
    let (sixteen, fsyncs_sixteen) = commit_rate(Always, 16, 3.0);
    eprintln!("fsync=never: 1 writer {never:.0} commits/s");
    eprintln!(
        "fsync=always: 1 writer {one:.0} commits/s ({fsyncs_one} fsyncs), \
         16 writers {sixteen:.0} commits/s ({fsyncs_sixteen} fsyncs), x{:.1}",
        sixteen / one
    );
    assert!(
        sixteen > 3.0 * one,
        "1 writer {one:.0}/s, 16 writers {sixteen:.0}/s"
    );
}
