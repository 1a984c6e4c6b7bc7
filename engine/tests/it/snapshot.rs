//! Snapshots: a copy made while the storage runs opens as a data directory
//! holding exactly the data committed before it, unaffected by later writes.

use strata_engine::{Matcher, SnapshotScope, Storage};

use crate::common::{NOW, dump, series, test_options};

#[test]
fn snapshot_holds_committed_data_and_opens_on_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let (opts, _clock) = test_options();
    let storage = Storage::open(dir.path(), opts.clone()).unwrap();
    let mut app = storage.appender();
    for i in 0..50 {
        for k in 0..10 {
            app.append(&series(i), NOW + k * 1_000, (i as i64 * 100 + k) as f64)
                .unwrap();
        }
    }
    app.commit().unwrap();
    // Some data already in a block, some only in the head.
    storage.flush().unwrap();
    let mut app = storage.appender();
    for i in 0..50 {
        app.append(&series(i), NOW + 20_000, -1.0).unwrap();
    }
    app.commit().unwrap();
    storage
        .delete(&[Matcher::equal("s", "7")], NOW, NOW + 2_000)
        .unwrap();
    let expected = dump(&storage);

    let snap = dir.path().join("snapshots").join("s1");
    storage.snapshot(&snap, SnapshotScope::WithHead).unwrap();
    assert!(
        storage.snapshot(&snap, SnapshotScope::WithHead).is_err(),
        "an existing destination is refused"
    );
    // Writes after the snapshot do not reach it.
    let mut app = storage.appender();
    app.append(&series(1), NOW + 30_000, 5.0).unwrap();
    app.commit().unwrap();
    storage.compact().unwrap();

    let copy = Storage::open(&snap, opts).unwrap();
    assert_eq!(dump(&copy), expected);
    assert_ne!(dump(&storage), expected);
    copy.close().unwrap();
    storage.close().unwrap();
}
