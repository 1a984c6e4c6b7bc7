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
