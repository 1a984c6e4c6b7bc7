//! Write, close, reopen: everything reads back identical.

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use strata_engine::{Labels, MatchType, Matcher, Querier, STALE_NAN, Storage, is_stale_nan};

use crate::common::{NOW, dump, series, test_options};

#[test]
fn many_series_survive_close_and_reopen_with_blocks_and_wal() {
    let dir = tempfile::tempdir().unwrap();
    let (opts, _clock) = test_options();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let storage = Storage::open(dir.path(), opts.clone()).unwrap();
    for round in 0..6 {
        let mut app = storage.appender();
        for i in 0..500 {
            for k in 0..20 {
                let t = NOW + round * 10_000 + k * 500 + rng.gen_range(0..3);
                let v = if rng.gen_bool(0.01) {
                    STALE_NAN
                } else {
                    rng.r#gen::<f64>() * 1e6
                };
                app.append(&series(i), t, v).unwrap();
            }
        }
        app.commit().unwrap();
        // Late data for an earlier round: out of order.
        let mut app = storage.appender();
        app.append(&series(3), NOW + round * 10_000 - 7, -1.0)
            .unwrap();
        app.commit().unwrap();
        if round % 2 == 1 {
            storage.maintain().unwrap();
        }
    }
    let before = dump(&storage);
    assert_eq!(before.len(), 500);
    assert!(
        storage.stats().blocks > 0,
        "expected head cuts to have written blocks"
    );
    storage.close().unwrap();

    let storage = Storage::open(dir.path(), opts.clone()).unwrap();
    assert!(
        storage.open_report().damage.is_empty(),
        "{:?}",
        storage.open_report().damage
    );
    assert_eq!(dump(&storage), before);
    // Stale markers keep their exact bits.
    let stale: usize = before
        .values()
        .flat_map(|m| m.values())
        .filter(|&&b| is_stale_nan(f64::from_bits(b)))
        .count();
    assert!(stale > 0);

    // After a full flush and compaction, still identical, and from blocks only.
    storage.flush().unwrap();
    storage.compact().unwrap();
    assert_eq!(storage.stats().head_series, 0);
    assert_eq!(dump(&storage), before);
    storage.close().unwrap();
    let storage = Storage::open(dir.path(), opts).unwrap();
    assert_eq!(dump(&storage), before);
}

#[test]
fn label_queries_span_head_and_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let (opts, _clock) = test_options();
    let storage = Storage::open(dir.path(), opts).unwrap();
    let mut app = storage.appender();
    for i in 0..4 {
        app.append(&series(i), NOW, 1.0).unwrap();
    }
    app.commit().unwrap();
    storage.flush().unwrap();
    let mut app = storage.appender();
    app.append(&series(10), NOW + 1, 1.0).unwrap();
    app.commit().unwrap();
    let q = storage.querier();
    assert_eq!(
        q.label_names(&[], i64::MIN, i64::MAX).unwrap(),
        ["__name__", "job", "s"]
    );
    assert_eq!(
        q.label_values("s", &[], i64::MIN, i64::MAX).unwrap(),
        ["0", "1", "10", "2", "3"]
    );
    let odd = [Matcher::equal("job", "odd")];
    assert_eq!(
        q.label_values("s", &odd, i64::MIN, i64::MAX).unwrap(),
        ["1", "3"]
    );
    let nothing = [Matcher::new(MatchType::Regex, "s", "9+").unwrap()];
    assert!(
        q.label_values("s", &nothing, i64::MIN, i64::MAX)
            .unwrap()
            .is_empty()
    );
    // Time range: the block is skipped when the range excludes it.
    let sel = q
        .select(&[Matcher::equal("__name__", "m")], NOW + 1, NOW + 1)
        .unwrap();
    assert_eq!(sel.len(), 1);
    assert_eq!(sel[0].labels().get("s"), Some("10"));
}

#[test]
fn cardinality_statistics_count_series() {
    let dir = tempfile::tempdir().unwrap();
    let (opts, _clock) = test_options();
    let storage = Storage::open(dir.path(), opts).unwrap();
    let mut app = storage.appender();
    for i in 0..10 {
        app.append(&series(i), NOW, 1.0).unwrap();
    }
    app.commit().unwrap();
    let st = storage.tsdb_stats(10);
    assert_eq!(st.num_series, 10);
    assert_eq!(st.series_count_by_metric_name, [("m".to_string(), 10)]);
    let by_name: BTreeMap<_, _> = st.label_value_count_by_label_name.into_iter().collect();
    assert_eq!(by_name["s"], 10);
    assert_eq!(by_name["job"], 2);
    assert!(
        st.series_count_by_label_value_pair
            .contains(&("job=even".to_string(), 5))
    );
}

#[test]
fn retention_deletes_old_blocks_with_an_injected_clock() {
    let dir = tempfile::tempdir().unwrap();
    let (mut opts, clock) = test_options();
    opts.retention_ms = 100_000;
    let storage = Storage::open(dir.path(), opts).unwrap();
    let mut app = storage.appender();
    app.append(&series(1), NOW - 50_000, 1.0).unwrap();
    app.append(&series(1), NOW, 2.0).unwrap();
    app.commit().unwrap();
    storage.flush().unwrap();
    assert_eq!(dump(&storage)[&series(1)].len(), 2);
    clock.advance(60_000);
    storage.maintain().unwrap();
    // The block holding NOW-50s is now past retention; the other is not.
    let left = dump(&storage);
    assert_eq!(left[&series(1)].keys().copied().collect::<Vec<_>>(), [NOW]);
    // Samples older than the retention period are refused.
    let mut app = storage.appender();
    assert!(app.append(&series(1), NOW - 50_000, 1.0).is_err());
}

#[test]
fn a_series_whose_block_data_is_all_deleted_is_not_selected() {
    let dir = tempfile::tempdir().unwrap();
    let (opts, _clock) = test_options();
    let storage = Storage::open(dir.path(), opts.clone()).unwrap();
    let mut app = storage.appender();
    for i in 0..3 {
        app.append(&series(i), NOW + 1000, 1.0).unwrap();
        app.append(&series(i), NOW + 2000, 2.0).unwrap();
    }
    app.commit().unwrap();
    storage.flush().unwrap();
    // Two deletions that together cover all of series 1's samples.
    let m = [Matcher::equal("s", "1")];
    storage.delete(&m, NOW, NOW + 1500).unwrap();
    storage.delete(&m, NOW + 1500, NOW + 3000).unwrap();
    let q = storage.querier();
    let m_all = [Matcher::equal("__name__", "m")];
    let names: Vec<String> = q
        .select(&m_all, i64::MIN, i64::MAX)
        .unwrap()
        .iter()
        .map(|s| s.labels().get("s").unwrap().to_owned())
        .collect();
    assert_eq!(names, ["0", "2"]);
    let kept: Vec<String> = q
        .select(&m_all, i64::MIN, i64::MAX)
        .unwrap()
        .iter()
        .map(|s| s.labels().to_string())
        .collect();
    assert_eq!(listed(&q, &m_all), kept);
    // Still gone after reopening and after compaction removed the data.
    storage.close().unwrap();
    let storage = Storage::open(dir.path(), opts).unwrap();
    assert_eq!(dump(&storage).len(), 2);
    storage.compact().unwrap();
    assert_eq!(dump(&storage).len(), 2);
    assert!(
        storage
            .querier()
            .label_values("s", &[], i64::MIN, i64::MAX)
            .unwrap()
            == ["0", "2"]
    );
}

/// The label sets `for_each_label_set` lists, as `Labels` would print them.
fn listed(q: &impl Querier, matchers: &[Matcher]) -> Vec<String> {
    let mut out = Vec::new();
    q.for_each_label_set(matchers, i64::MIN, i64::MAX, &mut |pairs| {
        let pairs: Vec<(&str, &str)> = pairs.collect();
        out.push(Labels::from_pairs(&pairs).unwrap().to_string());
    })
    .unwrap();
    out
}

#[test]
fn series_in_several_blocks_and_the_head_are_listed_once_in_label_order() {
    let dir = tempfile::tempdir().unwrap();
    let (opts, _clock) = test_options();
    let storage = Storage::open(dir.path(), opts).unwrap();
    // 20 s of 12 series: two 10 s blocks, each holding every series.
    let mut app = storage.appender();
    for i in 0..12 {
        for k in 0..20 {
            app.append(&series(i), NOW + k * 1_000, k as f64).unwrap();
        }
    }
    app.commit().unwrap();
    storage.flush().unwrap();
    assert_eq!(storage.stats().blocks, 2);
    // The head: more of some series, and new ones.
    let mut app = storage.appender();
    for i in (0..12).step_by(3).chain(12..15) {
        app.append(&series(i), NOW + 25_000, 1.0).unwrap();
    }
    app.commit().unwrap();
    let q = storage.querier();
    let all = [Matcher::equal("__name__", "m")];
    let selected: Vec<String> = q
        .select(&all, i64::MIN, i64::MAX)
        .unwrap()
        .iter()
        .map(|s| s.labels().to_string())
        .collect();
    assert_eq!(selected.len(), 15);
    assert_eq!(listed(&q, &all), selected);
    // Time ranges: only the head's data, only the first block's.
    let count = |mint: i64, maxt: i64| {
        let mut n = 0;
        q.for_each_label_set(&all, mint, maxt, &mut |_| n += 1)
            .unwrap();
        n
    };
    assert_eq!(count(NOW + 21_000, NOW + 30_000), 7);
    assert_eq!(count(NOW, NOW + 5_000), 12);
}

#[test]
fn a_head_cut_writes_no_block_for_a_window_its_data_skips() {
    let dir = tempfile::tempdir().unwrap();
    let (opts, _clock) = test_options();
    let storage = Storage::open(dir.path(), opts.clone()).unwrap();
    // One head chunk from NOW + 1 s to NOW + 25 s spans three 10 s windows;
    // the middle one holds no sample.
    let mut app = storage.appender();
    app.append(&series(0), NOW + 1_000, 1.0).unwrap();
    app.append(&series(0), NOW + 25_000, 2.0).unwrap();
    app.append(&series(1), NOW + 2_000, 3.0).unwrap();
    app.commit().unwrap();
    let before = dump(&storage);
    storage.flush().unwrap();
    assert_eq!(storage.stats().blocks, 2);
    assert_eq!(dump(&storage), before);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("blocks"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains("tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    storage.close().unwrap();
    let storage = Storage::open(dir.path(), opts).unwrap();
    assert_eq!(dump(&storage), before);
}

#[test]
fn force_compaction_merges_incomplete_windows_that_maintenance_leaves() {
    let dir = tempfile::tempdir().unwrap();
    let (opts, _clock) = test_options();
    let storage = Storage::open(dir.path(), opts).unwrap();
    // 20 s of data: two 10 s blocks in the first 30 s compaction window,
    // which is not complete yet.
    let mut app = storage.appender();
    for i in 0..20 {
        for k in 0..20 {
            app.append(&series(i), NOW + k * 1_000, (k * 3) as f64)
                .unwrap();
        }
    }
    app.commit().unwrap();
    storage.flush().unwrap();
    let before = dump(&storage);
    assert_eq!(storage.stats().blocks, 2);
    storage.maintain().unwrap();
    assert_eq!(storage.stats().blocks, 2, "background compaction waits");
    storage.compact().unwrap();
    assert_eq!(storage.stats().blocks, 1, "force_merge does not");
    assert_eq!(dump(&storage), before);
    storage.close().unwrap();
}
