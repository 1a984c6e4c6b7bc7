//! Prometheus' own test scripts, evaluated by our engine.

use std::path::PathBuf;

use strata_promql::promqltest::{Outcome, run_script};

/// Eval statements known to pass; the test fails if fewer do, so progress
/// is kept. Raise it as the evaluator grows (issue 4 wants every statement
/// that is not skipped).
const MIN_PASSING: usize = 1173;

#[test]
fn upstream_scripts() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/promql-tests/upstream");
    assert!(
        dir.is_dir(),
        "PromQL test corpus not found: looked for {}",
        dir.display()
    );
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "test"))
        .collect();
    files.sort();
    let (mut pass, mut fail, mut skip) = (0, 0, 0);
    let mut failures = Vec::new();
    let mut reasons: std::collections::BTreeMap<&'static str, usize> = Default::default();
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let results = run_script(&std::fs::read_to_string(f).unwrap())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let (mut p, mut x, mut s) = (0, 0, 0);
        for r in &results {
            match &r.outcome {
                Outcome::Pass => p += 1,
                Outcome::Skip(why) => {
                    s += 1;
                    *reasons.entry(why).or_default() += 1;
                }
                Outcome::Fail(why) => {
                    x += 1;
                    failures.push(format!("{name}:{} {} -- {why}", r.line, r.query));
                }
            }
        }
        eprintln!("{name:<28} {p:>4} pass {x:>4} fail {s:>4} skipped");
        pass += p;
        fail += x;
        skip += s;
    }
    eprintln!("total: {pass} pass, {fail} fail, {skip} skipped");
    for (why, n) in &reasons {
        eprintln!("  skipped {n:>4}: {why}");
    }
    if std::env::var_os("PROMQLTEST_VERBOSE").is_some() {
        for f in &failures {
            eprintln!("{f}");
        }
    }
    assert!(
        pass >= MIN_PASSING,
        "only {pass} statements pass, fewer than the {MIN_PASSING} that passed before"
    );
}
