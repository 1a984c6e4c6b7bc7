//! What a test does when something it needs lives outside the repository:
//! the shared PromQL corpus (`../shared/promql-tests`) or an outside program
//! (Prometheus, promtool, vmagent, ...).
//!
//! A fresh clone with only the Rust toolchain must pass `cargo test
//! --workspace`, so such a test prints one loud line,
//! `SKIPPED: needs <what> (run .ci/run, or <remedy>)`, and returns. Under
//! `STRATA_REQUIRE_ALL=1` (set by `.ci/run`) it panics instead, so CI still
//! runs everything. Every such test goes through [`missing`].

use std::io::Write;
use std::path::PathBuf;

/// Set to `1` to make a missing prerequisite fail the test instead of
/// skipping it.
pub const REQUIRE_ALL: &str = "STRATA_REQUIRE_ALL";

/// Overrides where the shared data folder is; by default `shared/` beside
/// the project folder (`../shared` from the workspace root).
pub const SHARED_DIR: &str = "STRATA_SHARED_DIR";

/// Whether `STRATA_REQUIRE_ALL=1` is set.
pub fn required() -> bool {
    std::env::var(REQUIRE_ALL).as_deref() == Ok("1")
}

/// The line a skipping test prints: `SKIPPED: needs <what> (run .ci/run, or
/// <remedy>)`.
pub fn skip_line(what: &str, remedy: &str) -> String {
    format!("SKIPPED: needs {what} (run .ci/run, or {remedy})")
}

/// Reports that `what` is missing: panics under `STRATA_REQUIRE_ALL=1`,
/// otherwise writes [`skip_line`] to stderr and returns (the caller then
/// returns, and the test passes).
///
/// The line goes to the process' stderr directly, past the test harness'
/// output capture, so a plain `cargo test` shows it.
///
/// # Panics
/// When `STRATA_REQUIRE_ALL=1` is set.
pub fn missing(what: &str, remedy: &str) {
    let line = skip_line(what, remedy);
    if required() {
        panic!("{line}: {REQUIRE_ALL}=1 makes this a failure");
    }
    let mut err = std::io::stderr().lock();
    // A newline first: libtest may have written `test name ... ` to stdout.
    let _ = writeln!(err, "\n!!!!! {line}");
}

/// The shared data folder: `$STRATA_SHARED_DIR`, else `shared/` beside the
/// project folder.
pub fn shared_dir() -> PathBuf {
    match std::env::var_os(SHARED_DIR) {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared")),
    }
}

/// `<shared>/<rel>` when it exists; otherwise reports it [`missing`] and
/// returns `None`.
///
/// # Panics
/// When it is missing and `STRATA_REQUIRE_ALL=1` is set.
pub fn shared(rel: &str) -> Option<PathBuf> {
    let path = shared_dir().join(rel);
    if path.exists() {
        return Some(path);
    }
    missing(
        &format!("{} (the shared data folder)", path.display()),
        &format!("put the shared folder beside the project or point {SHARED_DIR} at it"),
    );
    None
}

/// Where an outside program is (`$PATH`, then `/usr/bin`, `/usr/sbin`,
/// `/usr/local/bin`); otherwise reports it [`missing`], with how to install
/// it, and returns `None`.
///
/// # Panics
/// When it is missing and `STRATA_REQUIRE_ALL=1` is set.
pub fn program(name: &str, install: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let extra = ["/usr/bin", "/usr/sbin", "/usr/local/bin"].map(PathBuf::from);
    if let Some(p) = std::env::split_paths(&path)
        .chain(extra)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
    {
        return Some(p);
    }
    missing(&format!("the program `{name}`"), install);
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skip_line_names_what_and_how() {
        assert_eq!(
            skip_line("the program `promtool`", "apt-get install prometheus"),
            "SKIPPED: needs the program `promtool` (run .ci/run, or apt-get install prometheus)"
        );
    }

    #[test]
    fn finds_a_program_on_the_path() {
        let sh = program("sh", "nothing").expect("sh is installed");
        assert!(sh.ends_with("sh") && sh.is_file());
    }
}
