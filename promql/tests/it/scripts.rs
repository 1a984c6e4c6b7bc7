//! The repository's own scripts (`promql/tests/semantics/*.promql`), written
//! for Strata in the format of Prometheus' test scripts: lookback, staleness, rate/increase
//! extrapolation, vector matching, aggregation, subqueries, `@`/offset and
//! NaN/Inf. Unlike the upstream corpus (outside the repository), they always
//! run, and every statement must pass: nothing here is excused.

use std::path::PathBuf;

use strata_promql::promqltest::{Outcome, run_script};

#[test]
fn in_repo_scripts_pass() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/semantics");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "promql"))
        .collect();
    files.sort();
    let names: Vec<String> = files
        .iter()
        .filter_map(|f| f.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
    for want in [
        "aggregation_and_nan",
        "lookback_and_staleness",
        "vector_matching",
        "nan_and_inf",
        "rate_extrapolation",
        "subqueries_at_and_offset",
    ] {
        assert!(names.iter().any(|n| n == want), "missing {want}.promql");
    }
    let mut failures = Vec::new();
    let mut total = 0;
    for f in &files {
        let name = f.file_name().unwrap_or_default().to_string_lossy();
        let text = std::fs::read_to_string(f).unwrap_or_else(|e| panic!("{name}: {e}"));
        let results = run_script(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            results.len() >= 10,
            "{name}: only {} statements",
            results.len()
        );
        total += results.len();
        for r in results {
            if r.outcome != Outcome::Pass {
                failures.push(format!("{name}:{} {} -- {:?}", r.line, r.query, r.outcome));
            }
        }
    }
    eprintln!(
        "in-repo scripts: {total} statements, {} failures",
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
