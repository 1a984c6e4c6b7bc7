//! The evaluator gives the same answers over the real storage engine (head,
//! blocks, compaction) as over the in-memory fixture.

use std::sync::Arc;

use rand::{Rng, SeedableRng};
use strata_engine::{Labels, ManualClock, Options, Sample, Storage};
use strata_promql::eval::{EvalOptions, Value, eval_instant, eval_range};
use strata_promql::parse;
use strata_promql::promqltest::MemQuerier;

fn sorted(v: Value) -> Value {
    match v {
        Value::Vector(mut s) => {
            s.sort_by(|a, b| a.labels.cmp(&b.labels));
            Value::Vector(s)
        }
        other => other,
    }
}

#[test]
fn same_results_over_storage_and_memory() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(0);
    let mut opts = Options::default()
        .without_maintenance()
        .with_clock(Arc::new(clock));
    opts.block_range_ms = 600_000;
    opts.retention_ms = i64::MAX / 4;
    let storage = Storage::open(dir.path(), opts).unwrap();
    let mut mem = MemQuerier::default();
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    for i in 0..20 {
        let labels = Labels::from_pairs(&[
            (
                "__name__",
                if i % 2 == 0 {
                    "http_requests_total"
                } else {
                    "node_load1"
                },
            ),
            ("instance", &format!("host{}", i % 5)),
            ("code", ["200", "500"][i % 2]),
        ])
        .unwrap();
        let mut v = 0.0;
        let samples: Vec<Sample> = (0..240)
            .map(|k| {
                v += f64::from(rng.gen_range(0..10));
                if rng.gen_bool(0.02) {
                    v = 0.0; // counter reset
                }
                Sample::new(k * 15_000 + rng.gen_range(0..500), v)
            })
            .collect();
        let mut app = storage.appender();
        for s in &samples {
            app.append(&labels, s.t, s.v).unwrap();
        }
        app.commit().unwrap();
        mem.add(labels, &samples);
    }
    // Part of the data in blocks, part in the head.
    storage.maintain().unwrap();
    assert!(storage.stats().blocks > 0);
    let queries = [
        "http_requests_total",
        "sum by (instance) (rate(http_requests_total[5m]))",
        "max_over_time(node_load1[10m]) > 100",
        "increase(http_requests_total[30m]) / on(instance) group_left sum by (instance) (node_load1)",
        "topk(3, avg_over_time(node_load1[5m]))",
        "quantile(0.9, rate(http_requests_total[2m]))",
        "absent(nonexistent)",
        "count_values(\"code\", http_requests_total)",
        "max_over_time(rate(http_requests_total[1m])[10m:30s])",
    ];
    let eo = EvalOptions::default();
    for q in queries {
        let e = parse(q).unwrap();
        let a = eval_range(&storage.querier(), &e, 600_000, 3_600_000, 60_000, &eo).unwrap();
        let b = eval_range(&mem, &e, 600_000, 3_600_000, 60_000, &eo).unwrap();
        assert_eq!(sorted(a), sorted(b), "{q}");
        let a = eval_instant(&storage.querier(), &e, 1_800_000, &eo).unwrap();
        let b = eval_instant(&mem, &e, 1_800_000, &eo).unwrap();
        assert_eq!(sorted(a.clone()), sorted(b), "{q}");
        if q.starts_with("sum") {
            assert!(
                matches!(a, Value::Vector(ref v) if v.len() == 5),
                "{q}: {a:?}"
            );
        }
    }
}
