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
    // Prometheus' count: (end - start) / step > 11000 is refused.
    let err = eval_range(&q, &e, 0, 11_001 * 1000, 1000, &opts).unwrap_err();
    assert_eq!(err, EvalError::TooManyPoints);
    assert!(
        err.to_string()
            .contains("exceeded maximum resolution of 11,000 points per timeseries")
    );
    assert!(eval_range(&q, &e, 0, 11_000 * 1000, 1000, &opts).is_ok());
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

/// Issue 14: hostile times and durations are refused at once, without
/// allocating per step and without overflowing.
#[test]
fn hostile_times_and_durations_fail_fast() {
    let q = store(1, 10);
    let opts = EvalOptions::default();
    let started = std::time::Instant::now();
    let e = parse("m").unwrap();
    // Out-of-range query times (what 1e300 used to saturate to).
    for (s, t) in [(i64::MAX, i64::MAX), (i64::MIN, i64::MAX), (0, i64::MAX)] {
        let err = eval_range(&q, &e, s, t, 1, &opts).unwrap_err();
        assert!(
            err.to_string().contains("query time range must be within"),
            "{err}"
        );
    }
    assert!(eval_instant(&q, &e, i64::MIN, &opts).is_err());
    // Widest allowed range with a huge step: one or two points, no overflow.
    let max = strata_promql::duration::MAX_TIMESTAMP_MS;
    let step = strata_promql::duration::MAX_DURATION_MS;
    assert!(eval_range(&q, &e, -max, max, step, &opts).is_err());
    assert!(eval_range(&q, &e, max - step, max, step, &opts).is_ok());
    // A subquery with too many inner steps is refused before allocating.
    let sq = parse("max_over_time(m[1000d:1ms])").unwrap();
    let err = eval_instant(&q, &sq, 0, &opts).unwrap_err();
    assert!(
        err.to_string().contains("would be evaluated at more than"),
        "{err}"
    );
    // ... and so is one within that cap but over the samples limit.
    let small = EvalOptions {
        max_samples: 1000,
        ..EvalOptions::default()
    };
    let sq = parse("max_over_time(m[1h:1s])").unwrap();
    assert_eq!(
        eval_instant(&q, &sq, 3_600_000, &small).unwrap_err(),
        EvalError::TooManySamples
    );
    // Extreme @, offset and ranges at the edges of what parses evaluate
    // without overflow.
    for text in [
        "max_over_time(m[1h:1s] @ 1e15)",
        "max_over_time(m[1h:1s] @ -1e15 offset -292y)",
        "m offset 292y",
        "m offset -292y @ 1e15",
        "rate(m[292y] @ -1e15 offset 292y)",
        "max_over_time(max_over_time(m[292y:100y] offset 292y)[292y:100y] offset -292y)",
        "m[(1e9)]",
    ] {
        let e = parse(text).unwrap_or_else(|err| panic!("{text}: {err}"));
        let _ = eval_instant(&q, &e, 0, &opts);
        let _ = eval_range(&q, &e, 0, 600_000, 60_000, &opts);
    }
    // Duration expressions evaluating out of range are errors, not wraps.
    for text in [
        "rate(m[(1e300)])",
        "m offset (1e300)",
        "max_over_time(m[1h:(1e300)])",
    ] {
        let e = parse(text).unwrap_or_else(|err| panic!("{text}: {err}"));
        let err = eval_instant(&q, &e, 0, &opts).unwrap_err();
        assert!(
            err.to_string().contains("invalid duration expression"),
            "{text}: {err}"
        );
    }
    // Duration literals longer than Prometheus' 292 years do not parse.
    assert!(parse("rate(m[293y])").is_err());
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

#[test]
fn out_of_bounds_at_modifier_is_a_parse_error() {
    for (text, shown) in [
        ("m @ 9223372036854775.807", "9223372036854776.000000"),
        (
            "max_over_time(m[1h:1s] @ 9223372036854775.807)",
            "9223372036854776.000000",
        ),
        ("m @ 1e300", &format!("{:.6}", 1e300)),
        ("m @ -1e300", &format!("{:.6}", -1e300)),
        ("m @ Inf", "+Inf"),
        ("m @ -Inf", "-Inf"),
        ("m @ NaN", "NaN"),
    ] {
        let err = parse(text).unwrap_err();
        assert_eq!(
            err.message,
            format!("timestamp out of bounds for @ modifier: {shown}"),
            "{text}"
        );
    }
    assert!(parse("m @ 1e15").is_ok());
}
