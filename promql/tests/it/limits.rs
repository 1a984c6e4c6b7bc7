//! Query limits fail fast with Prometheus' messages.

use std::time::Duration;

use strata_engine::{Labels, Sample};
use strata_promql::eval::{EvalError, EvalOptions, eval_instant, eval_range};
use strata_promql::parse;
use strata_promql::promqltest::MemQuerier;

fn store(series: usize, samples: i64) -> MemQuerier {
    let mut q = MemQuerier::default();
    for i in 0..series {
        let l = Labels::from_pairs(&[("__name__", "m"), ("i", &i.to_string())]).unwrap();
        let s: Vec<Sample> = (0..samples)
            .map(|k| Sample::new(k * 15_000, k as f64))
            .collect();
        q.add(l, &s);
    }
    q
}

#[test]
fn too_many_samples() {
    // The limit is on samples held at once: one series' raw samples plus the
    // result points so far (as Prometheus counts), not on samples read.
    let q = store(10, 100);
    let e = parse("sum(rate(m[1h]))").unwrap();
    let opts = EvalOptions {
        max_samples: 99,
        ..EvalOptions::default()
    };
    let err = eval_instant(&q, &e, 1_500_000, &opts).unwrap_err();
    assert_eq!(err, EvalError::TooManySamples);
    assert_eq!(
        err.to_string(),
        "query processing would load too many samples into memory in query execution"
    );
    // Under the limit it works, although 1000 samples are read in total.
    let opts = EvalOptions {
        max_samples: 120,
        ..EvalOptions::default()
    };
    assert!(eval_instant(&q, &e, 1_500_000, &opts).is_ok());
    // Result points count too: 10 series x 91 steps.
    let err = eval_range(&q, &parse("m").unwrap(), 0, 1_350_000, 15_000, &opts).unwrap_err();
    assert_eq!(err, EvalError::TooManySamples);
}

#[test]
fn too_many_points_and_bad_steps() {
    let q = store(1, 10);
    let e = parse("m").unwrap();
    let opts = EvalOptions::default();
    let err = eval_range(&q, &e, 0, 11_000 * 1000, 1000, &opts).unwrap_err();
    assert_eq!(err, EvalError::TooManyPoints);
    assert!(
        err.to_string()
            .contains("exceeded maximum resolution of 11,000 points per timeseries")
    );
    assert!(eval_range(&q, &e, 0, 10_999 * 1000, 1000, &opts).is_ok());
    assert!(
        eval_range(&q, &e, 0, 1000, 0, &opts)
            .unwrap_err()
            .to_string()
            .contains("zero or negative query resolution step")
    );
    assert!(eval_range(&q, &e, 1000, 0, 1000, &opts).is_err());
    let m = parse("m[5m]").unwrap();
    assert!(
        eval_range(&q, &m, 0, 1000, 1000, &opts)
            .unwrap_err()
            .to_string()
            .contains("invalid expression type \"range vector\" for range query")
    );
}

#[test]
fn timeout() {
    let q = store(5, 100);
    let opts = EvalOptions {
        timeout: Duration::ZERO,
        ..EvalOptions::default()
    };
    std::thread::sleep(Duration::from_millis(2));
    let err = eval_instant(&q, &parse("sum(m)").unwrap(), 1_000_000, &opts).unwrap_err();
    assert_eq!(err, EvalError::Timeout);
    assert_eq!(err.to_string(), "query timed out in query execution");
}

#[test]
fn cancellation() {
    let q = store(5, 100);
    let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let opts = EvalOptions {
        cancel: Some(flag.clone()),
        ..EvalOptions::default()
    };
    let err = eval_instant(&q, &parse("sum(m)").unwrap(), 1_000_000, &opts).unwrap_err();
    assert_eq!(err, EvalError::Canceled);
    assert_eq!(err.to_string(), "query was canceled in query execution");
    flag.store(false, std::sync::atomic::Ordering::Relaxed);
    assert!(eval_instant(&q, &parse("sum(m)").unwrap(), 1_000_000, &opts).is_ok());
}

#[test]
fn step_invariant_parts_equal_the_instant_value_at_every_step() {
    use strata_promql::eval::Value;
    let q = store(3, 200);
    let opts = EvalOptions::default();
    for text in [
        "sum(rate(m[5m] @ 1200))",
        "max_over_time(m[10m:1m] @ 900) + 1",
        "m @ 600",
    ] {
        let e = parse(text).unwrap();
        let Value::Vector(at) = eval_instant(&q, &e, 1_200_000, &opts).unwrap() else {
            panic!()
        };
        let Value::Vector(range) = eval_range(&q, &e, 0, 2_000_000, 100_000, &opts).unwrap() else {
            panic!()
        };
        assert_eq!(at.len(), range.len(), "{text}");
        for (a, r) in at.iter().zip(&range) {
            assert_eq!(a.labels, r.labels);
            assert!(
                r.points.iter().all(|p| *p == a.points[0]),
                "{text}: {:?} vs {:?}",
                r.points,
                a.points
            );
        }
    }
}

#[test]
fn a_raw_range_selector_counts_against_the_sample_limit() {
    // 10 series x 100 samples returned as a matrix: 1000 samples held.
    let q = store(10, 100);
    let e = parse("m[1h]").unwrap();
    let tight = EvalOptions {
        max_samples: 500,
        ..EvalOptions::default()
    };
    assert_eq!(
        eval_instant(&q, &e, 1_485_000, &tight).unwrap_err(),
        EvalError::TooManySamples
    );
    let roomy = EvalOptions {
        max_samples: 1000,
        ..EvalOptions::default()
    };
    assert!(eval_instant(&q, &e, 1_485_000, &roomy).is_ok());
}

#[test]
fn the_timeout_holds_inside_functions_over_long_subqueries() {
    // Each level re-reads 9000-sample windows at 9000 steps: seconds of work.
    let q = store(1, 10);
    let e = parse("stddev_over_time(stddev_over_time(vector(time())[150m:1s])[150m:1s])").unwrap();
    let opts = EvalOptions {
        timeout: Duration::from_millis(100),
        ..EvalOptions::default()
    };
    let started = std::time::Instant::now();
    let err = eval_instant(&q, &e, 20_000_000, &opts).unwrap_err();
    assert_eq!(err, EvalError::Timeout);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "stopped soon after the deadline, not after the work: {:?}",
        started.elapsed()
    );
}
