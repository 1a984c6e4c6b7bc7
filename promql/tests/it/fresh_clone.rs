//! Issue 15 C: a fresh clone with only the Rust toolchain passes its own
//! tests. The tests that need `../shared` skip with one loud line, and fail
//! under `STRATA_REQUIRE_ALL=1`; the crates' declared license is there.

use std::path::PathBuf;
use std::process::{Command, Output};

/// The tests of this binary that read `../shared/promql-tests`.
const SHARED_TESTS: [&str; 3] = [
    "conformance::upstream_scripts",
    "corpus::every_upstream_eval_expression_parses_and_round_trips",
    "corpus::every_compliance_query_parses_or_fails_as_expected",
];

/// Runs those tests in a child of this test binary, with the shared folder
/// pointed somewhere that does not exist.
fn run_without_shared(require_all: bool) -> Output {
    let exe = std::env::current_exe().expect("test binary path");
    let missing = tempfile::tempdir().expect("temp dir");
    let mut cmd = Command::new(exe);
    cmd.args(["--exact", "--test-threads=1"])
        .args(SHARED_TESTS)
        .env("STRATA_SHARED_DIR", missing.path().join("no-shared-here"))
        .env_remove("STRATA_REQUIRE_ALL");
    if require_all {
        cmd.env("STRATA_REQUIRE_ALL", "1");
    }
    cmd.output().expect("run the test binary")
}

#[test]
fn tests_needing_shared_skip_loudly_without_it() {
    let out = run_without_shared(false);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("3 passed"), "{stdout}");
    let skips = stderr
        .lines()
        .filter(|l| l.contains("SKIPPED: needs") && l.contains("(run .ci/run, or "))
        .count();
    assert_eq!(skips, 3, "one SKIPPED line per test:\n{stderr}");
}

#[test]
fn tests_needing_shared_fail_under_require_all() {
    let out = run_without_shared(true);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(stdout.contains("3 failed"), "{stdout}");
    assert!(stdout.contains("STRATA_REQUIRE_ALL=1"), "{stdout}");
}

#[test]
fn ci_requires_everything() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let ci = std::fs::read_to_string(root.join(".ci/run")).expect(".ci/run");
    assert!(
        ci.lines()
            .any(|l| l.trim() == "export STRATA_REQUIRE_ALL=1"),
        ".ci/run must export STRATA_REQUIRE_ALL=1"
    );
}

#[test]
fn license_file_matches_the_crates_metadata() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).expect("Cargo.toml");
    assert!(manifest.contains("license = \"Apache-2.0\""));
    let license = std::fs::read_to_string(root.join("LICENSE")).expect("LICENSE file");
    assert!(license.contains("Apache License"));
    assert!(license.contains("Version 2.0, January 2004"));
    assert!(license.contains("END OF TERMS AND CONDITIONS"));
}
