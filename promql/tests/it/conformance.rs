//! Prometheus' own test scripts, evaluated by our engine.
//!
//! Statements that cannot pass yet are listed in `skip_list.txt` as
//! `<file>:<line> <reason> -- <failure>`. The test fails if a listed
//! statement passes, is excused for another reason, or fails differently
//! from the recorded failure (so the list stays honest), or if an unlisted
//! one fails. Regenerate the list (and README's counts) with
//! `PROMQLTEST_WRITE_SKIPS=1 cargo test -p strata-promql --test it conformance`;
//! the runner only excuses failures it can explain (native histograms, syntax
//! behind Prometheus feature flags).
//!
//! The scripts live in `../shared/promql-tests/upstream`, outside the
//! repository: without them the test prints a `SKIPPED:` line and passes
//! (fails under `STRATA_REQUIRE_ALL=1`). README's conformance line must
//! state the counts this run measures.

use std::collections::BTreeMap;
use std::path::PathBuf;

use strata_promql::promqltest::{Outcome, require, run_script};

const SKIP_LIST: &str = "tests/it/skip_list.txt";

/// The README line that states the counts, between these markers.
const README_START: &str = "<!-- conformance-counts: written by the conformance test -->";
const README_END: &str = "<!-- /conformance-counts -->";

/// A listed statement: why it is excused and how it failed.
struct Listed {
    reason: String,
    failure: String,
}

fn skip_list() -> BTreeMap<String, Listed> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(SKIP_LIST);
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let (key, rest) = l.split_once(' ')?;
            let (reason, failure) = rest.split_once(" -- ").unwrap_or((rest, ""));
            Some((
                key.to_owned(),
                Listed {
                    reason: reason.to_owned(),
                    failure: failure.to_owned(),
                },
            ))
        })
        .collect()
}

/// A failure text on one line, as the skip list stores it.
fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

/// The counts as README states them (the text between the markers).
fn readme_counts(
    total: usize,
    pass: usize,
    skipped: usize,
    files: usize,
    reasons: &BTreeMap<String, usize>,
) -> String {
    let by_reason: Vec<String> = reasons.iter().map(|(r, n)| format!("{r}: {n}")).collect();
    format!(
        "of the {total} eval statements in Prometheus' {files} upstream scripts, \
         **{pass} pass and 0 fail**; {skipped} are excused ({})",
        by_reason.join("; ")
    )
}

fn readme_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../README.md")
}

/// The text between README's markers.
fn readme_stated() -> Option<String> {
    let text = std::fs::read_to_string(readme_path()).ok()?;
    let start = text.find(README_START)? + README_START.len();
    let end = start + text[start..].find(README_END)?;
    Some(text[start..end].to_owned())
}

fn write_readme_counts(counts: &str) {
    let text = std::fs::read_to_string(readme_path()).unwrap();
    let start = text
        .find(README_START)
        .expect("README has the start marker")
        + README_START.len();
    let end = start
        + text[start..]
            .find(README_END)
            .expect("README has the end marker");
    let new = format!("{}{counts}{}", &text[..start], &text[end..]);
    std::fs::write(readme_path(), new).unwrap();
}

/// What is wrong with a statement's outcome given its skip-list entry, if
/// anything: an excuse must be listed with the same reason and the same
/// failure, and a listed statement must still fail that way.
fn check_listed(outcome: &Outcome, listed: Option<&Listed>) -> Option<String> {
    match (outcome, listed) {
        (Outcome::Pass, None) => None,
        (Outcome::Pass, Some(_)) => Some(format!("passes now: remove it from {SKIP_LIST}")),
        (Outcome::Fail(why), _) => Some(why.clone()),
        (Outcome::Skip { reason, failure }, listed) => {
            let failure = one_line(failure);
            match listed {
                None => Some(format!(
                    "fails ({reason}: {failure}) but is not in {SKIP_LIST}"
                )),
                Some(l) if l.reason != *reason => Some(format!(
                    "listed as {:?} but now excused as {reason:?}: {failure}",
                    l.reason
                )),
                Some(l) if l.failure != failure => Some(format!(
                    "fails differently from the listed failure:\n    listed: {}\n    now:    {failure}",
                    l.failure
                )),
                Some(_) => None,
            }
        }
    }
}

/// Issue 15 B2: the list cannot excuse a statement that passes, one excused
/// for another reason, or one that fails differently.
#[test]
fn skip_list_entries_must_still_match() {
    let listed = |reason: &str, failure: &str| Listed {
        reason: reason.into(),
        failure: failure.into(),
    };
    let nh = "native histogram series selected";
    let excused = |reason: &'static str, failure: &str| Outcome::Skip {
        reason,
        failure: failure.into(),
    };
    let entry = listed(nh, "got 0 series, expected 1: []");
    assert_eq!(
        check_listed(&excused(nh, "got 0 series, expected 1: []"), Some(&entry)),
        None
    );
    assert_eq!(check_listed(&Outcome::Pass, None), None);
    let problems = [
        check_listed(&Outcome::Pass, Some(&entry)),
        check_listed(&excused(nh, "got 1 series, expected 1: []"), Some(&entry)),
        check_listed(
            &excused(
                "experimental: start timestamps",
                "got 0 series, expected 1: []",
            ),
            Some(&entry),
        ),
        check_listed(&excused(nh, "x"), None),
        check_listed(&Outcome::Fail("wrong".into()), Some(&entry)),
    ];
    for (i, p) in problems.iter().enumerate() {
        assert!(p.is_some(), "case {i} must be a problem");
    }
}

#[test]
fn upstream_scripts() {
    let Some(dir) = require::shared("promql-tests/upstream") else {
        return;
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "test"))
        .collect();
    files.sort();
    let listed = skip_list();
    let write = std::env::var_os("PROMQLTEST_WRITE_SKIPS").is_some();
    let mut new_list = BTreeMap::new();
    let (mut pass, mut skipped) = (0, 0);
    let mut problems = Vec::new();
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let results = run_script(&std::fs::read_to_string(f).unwrap())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let (mut p, mut s) = (0, 0);
        for r in &results {
            let key = format!("{name}:{}", r.line);
            match &r.outcome {
                Outcome::Pass => p += 1,
                Outcome::Skip { reason, failure } => {
                    s += 1;
                    *reasons.entry(reason.to_string()).or_default() += 1;
                    new_list.insert(key.clone(), format!("{reason} -- {}", one_line(failure)));
                }
                Outcome::Fail(_) => {}
            }
            let problem = check_listed(&r.outcome, listed.get(&key));
            if let Some(why) = problem.filter(|_| !(write && r.outcome == Outcome::Pass)) {
                problems.push(format!("{key} {} -- {why}", r.query));
            }
        }
        eprintln!("{name:<28} {p:>4} pass {s:>4} skipped");
        pass += p;
        skipped += s;
    }
    eprintln!(
        "total: {pass} pass, {skipped} skipped, {} problems",
        problems.len()
    );
    let counts = readme_counts(pass + skipped, pass, skipped, files.len(), &reasons);
    eprintln!("README: {counts}");
    for (why, n) in &reasons {
        eprintln!("  skipped {n:>4}: {why}");
    }
    if write {
        let mut text = String::from(
            "# Eval statements of ../shared/promql-tests/upstream that cannot pass yet:\n# <file>:<line> <reason> -- <how it fails today>\n# Generated by PROMQLTEST_WRITE_SKIPS=1 cargo test -p strata-promql --test it conformance\n",
        );
        for (k, r) in &new_list {
            text.push_str(&format!("{k} {r}\n"));
        }
        std::fs::write(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(SKIP_LIST),
            text,
        )
        .unwrap();
        eprintln!("wrote {SKIP_LIST} with {} entries", new_list.len());
        write_readme_counts(&counts);
        return;
    }
    if problems.is_empty() {
        let stated = readme_stated();
        assert_eq!(
            stated.as_deref(),
            Some(counts.as_str()),
            "README's conformance counts differ from this run; update them with \
             PROMQLTEST_WRITE_SKIPS=1 cargo test -p strata-promql --test it conformance"
        );
    }
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert!(pass > 0);
}
