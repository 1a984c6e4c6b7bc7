//! Bad input gets a typed error; the rest of the batch is stored.

use strata_engine::{Error, Label, LabelError, LabelLimits, Labels, Storage};

use crate::common::{NOW, dump, series, test_options};

#[test]
fn a_bad_sample_is_refused_and_the_rest_of_the_batch_stored() {
    let dir = tempfile::tempdir().unwrap();
    let (mut opts, _clock) = test_options();
    opts.label_limits = LabelLimits {
        max_labels: 4,
        max_name_len: 20,
        max_value_len: 10,
    };
    let storage = Storage::open(dir.path(), opts).unwrap();
    let mut app = storage.appender();
    app.append(&series(1), NOW, 1.0).unwrap();
    let long = Labels::new(vec![
        Label::new("__name__", "m"),
        Label::new("v", "x".repeat(11)),
    ])
    .unwrap();
    let err = app.append(&long, NOW, 1.0).unwrap_err();
    assert!(
        matches!(err, Error::InvalidLabels(LabelError::ValueTooLong { ref name, len: 11, limit: 10 }) if name == "v"),
        "{err}"
    );
    assert!(err.is_bad_input());
    let many =
        Labels::from_pairs(&[("a", "1"), ("b", "1"), ("c", "1"), ("d", "1"), ("e", "1")]).unwrap();
    assert!(matches!(
        app.append(&many, NOW, 1.0),
        Err(Error::InvalidLabels(LabelError::TooMany {
            count: 5,
            limit: 4
        }))
    ));
    assert!(matches!(
        app.append(&Labels::default(), NOW, 1.0),
        Err(Error::InvalidLabels(LabelError::Empty))
    ));
    let err = app.append(&series(2), i64::MIN, 1.0).unwrap_err();
    assert!(matches!(err, Error::OutOfBounds { .. }), "{err}");
    assert!(err.to_string().contains("retention"), "{err}");
    app.append(&series(3), NOW, 3.0).unwrap();
    app.commit().unwrap();
    let data = dump(&storage);
    assert_eq!(
        data.keys().cloned().collect::<Vec<_>>(),
        [series(1), series(3)]
    );
}

#[test]
fn a_second_open_of_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (opts, _clock) = test_options();
    let first = Storage::open(dir.path(), opts.clone()).unwrap();
    let err = Storage::open(dir.path(), opts.clone()).unwrap_err();
    assert!(matches!(err, Error::Locked { .. }), "{err}");
    assert!(err.to_string().contains("locked"), "{err}");
    first.close().unwrap();
    Storage::open(dir.path(), opts).unwrap().close().unwrap();
}

#[test]
fn invalid_options_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (mut opts, _clock) = test_options();
    opts.block_range_ms = 5;
    assert!(matches!(
        Storage::open(dir.path(), opts),
        Err(Error::InvalidOption {
            name: "block_range_ms",
            ..
        })
    ));
}

#[test]
fn append_pairs_stores_what_append_would() {
    let dir = tempfile::tempdir().unwrap();
    let (opts, _clock) = crate::common::test_options();
    let storage = strata_engine::Storage::open(dir.path(), opts).unwrap();
    let now = crate::common::NOW;
    // New series (unsorted, with an empty-valued label that is dropped),
    // then the same series again: found without building labels.
    let mut app = storage.appender();
    app.append_pairs(
        &mut [("job", "a"), ("__name__", "up"), ("zone", "")],
        &[(now, 1.0)],
    )
    .unwrap();
    app.commit().unwrap();
    let mut app = storage.appender();
    app.append_pairs(
        &mut [("__name__", "up"), ("job", "a")],
        &[(now + 1, 2.0), (now + 2, 3.0)],
    )
    .unwrap();
    app.append_pairs(&mut [("job", "a"), ("__name__", "up")], &[(now + 3, 4.0)])
        .unwrap();
    // Bad input is refused with the error append gives, nothing added.
    assert!(
        app.append_pairs(&mut [("__name__", "up"), ("1bad", "x")], &[(now, 1.0)])
            .is_err()
    );
    assert!(
        app.append_pairs(&mut [("a", "1"), ("a", "2")], &[(now, 1.0)])
            .is_err()
    );
    assert!(
        app.append_pairs(&mut [("zone", "")], &[(now, 1.0)])
            .is_err()
    );
    assert!(
        app.append_pairs(&mut [("__name__", "up"), ("job", "a")], &[(0, 1.0)])
            .is_err(),
        "older than retention"
    );
    assert_eq!(app.len(), 3);
    app.commit().unwrap();
    let got = crate::common::dump(&storage);
    assert_eq!(got.len(), 1, "{got:?}");
    let (labels, samples) = got.iter().next().unwrap();
    assert_eq!(labels.to_string(), r#"{__name__="up", job="a"}"#);
    let values: Vec<f64> = samples.values().map(|b| f64::from_bits(*b)).collect();
    assert_eq!(values, [1.0, 2.0, 3.0, 4.0]);
}

#[test]
fn append_raw_checks_utf8_only_for_unknown_series() {
    let dir = tempfile::tempdir().unwrap();
    let (opts, _clock) = crate::common::test_options();
    let storage = strata_engine::Storage::open(dir.path(), opts).unwrap();
    let now = crate::common::NOW;
    let mut app = storage.appender();
    app.append_raw(
        &mut [(b"job".as_slice(), "é".as_bytes()), (b"__name__", b"up")],
        &[(now, 1.0)],
    )
    .unwrap();
    // A name or a value that is not UTF-8 is refused, naming which.
    for (pairs, what) in [
        (
            [
                (b"__name__".as_slice(), b"up".as_slice()),
                (b"job", b"\xff\xfe"),
            ],
            "value",
        ),
        ([(b"__name__", b"up"), (b"j\xc3", b"a")], "name"),
    ] {
        let mut pairs = pairs;
        let err = app.append_raw(&mut pairs, &[(now, 2.0)]).unwrap_err();
        assert!(
            matches!(
                err,
                strata_engine::Error::InvalidLabels(strata_engine::LabelError::NotUtf8(w)) if w == what
            ),
            "{err}"
        );
    }
    app.commit().unwrap();
    // The known series is found from its bytes, in any order.
    let mut app = storage.appender();
    app.append_raw(
        &mut [
            (b"__name__".as_slice(), b"up".as_slice()),
            (b"job", "é".as_bytes()),
        ],
        &[(now + 1, 3.0)],
    )
    .unwrap();
    app.commit().unwrap();
    let got = crate::common::dump(&storage);
    assert_eq!(got.len(), 1, "{got:?}");
    let (labels, samples) = got.iter().next().unwrap();
    assert_eq!(labels.to_string(), r#"{__name__="up", job="é"}"#);
    let values: Vec<f64> = samples.values().map(|b| f64::from_bits(*b)).collect();
    assert_eq!(values, [1.0, 3.0]);
}

/// Issue 14: a sample more than `max_future_ms` ahead of the storage's
/// clock is refused (both append paths), nothing of it is stored and the
/// head's time range does not move; a sample just inside the limit is kept,
/// and the limit follows the clock.
#[test]
fn samples_too_far_in_the_future_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (opts, clock) = test_options();
    let opts = opts.with_max_future_ms(2 * strata_engine::DAY_MS);
    let storage = Storage::open(dir.path(), opts).unwrap();
    let limit = NOW + 2 * strata_engine::DAY_MS;
    let mut app = storage.appender();
    app.append(&series(1), NOW, 1.0).unwrap();
    app.append(&series(1), limit, 2.0).unwrap();
    let err = app.append(&series(2), limit + 1, 3.0).unwrap_err();
    assert!(
        matches!(err, Error::TooFarInFuture { t, now: NOW, max_future_ms, .. }
            if t == limit + 1 && max_future_ms == 2 * strata_engine::DAY_MS),
        "{err}"
    );
    assert!(err.is_bad_input());
    assert!(err.to_string().contains("too far in the future"), "{err}");
    let mut pairs = [("__name__", "m"), ("s", "3")];
    let err = app
        .append_pairs(
            &mut pairs,
            &[(NOW, 1.0), (NOW + 3 * strata_engine::DAY_MS, 2.0)],
        )
        .unwrap_err();
    assert!(matches!(err, Error::TooFarInFuture { .. }), "{err}");
    assert_eq!(app.len(), 2, "only the two good samples are in the batch");
    app.commit().unwrap();
    let stored = dump(&storage);
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(
        stored
            .get(&series(1))
            .map(|m| m.keys().copied().collect::<Vec<_>>()),
        Some(vec![NOW, limit])
    );
    assert_eq!(storage.stats().head_max_t, Some(limit));

    // A day later the same timestamp is inside the window.
    clock.advance(strata_engine::DAY_MS);
    let mut app = storage.appender();
    app.append(&series(2), limit + 1, 3.0).unwrap();
    app.commit().unwrap();
    assert_eq!(storage.stats().head_max_t, Some(limit + 1));
}
