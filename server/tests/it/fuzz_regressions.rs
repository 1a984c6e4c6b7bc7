//! The fuzz targets' inputs as plain tests: every file of
//! `fuzz/regressions/<target>/` (crashes found so far, minimised) and of
//! `fuzz/corpus/<target>/` (the seed corpora) goes through the target's check
//! — the very function the cargo-fuzz binary calls (`fuzz/checks.rs`) — so
//! a fixed crash stays fixed in `cargo test --workspace`, without cargo-fuzz
//! or a nightly toolchain. A panic fails the test and names the file.

use std::path::{Path, PathBuf};

#[path = "../../../fuzz/checks.rs"]
mod checks;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The files of `dir` (none when it does not exist), sorted; dot files
/// and READMEs are not inputs.
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            !name.starts_with('.') && !name.starts_with("README")
        })
        .collect();
    files.sort();
    files
}

/// Prints the input being checked if the check panics.
struct Naming<'a>(&'a Path);

impl Drop for Naming<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "fuzz input {} panicked; replay it with `cargo fuzz run <target> {}`",
                self.0.display(),
                self.0.display()
            );
        }
    }
}

#[test]
fn every_regression_and_corpus_input_passes_its_check() {
    let root = fuzz_dir();
    let mut total = 0;
    for &(name, check) in checks::TARGETS {
        let regressions = inputs(&root.join("regressions").join(name));
        let corpus = inputs(&root.join("corpus").join(name));
        assert!(
            !corpus.is_empty(),
            "fuzz/corpus/{name}/ has no seed input (python3 fuzz/make_corpus.py writes them)"
        );
        for file in regressions.iter().chain(&corpus) {
            let data = std::fs::read(file).unwrap();
            let _naming = Naming(file);
            check(&data);
        }
        eprintln!(
            "{name}: {} regression and {} corpus inputs pass",
            regressions.len(),
            corpus.len()
        );
        total += regressions.len() + corpus.len();
    }
    assert!(total > 0);
}

/// A corpus or regressions directory must belong to a target (a typo would
/// silently skip its inputs), and fuzz/Cargo.toml must build every target.
#[test]
fn every_fuzz_directory_and_binary_names_a_target() {
    let root = fuzz_dir();
    let known: Vec<&str> = checks::TARGETS.iter().map(|(n, _)| *n).collect();
    for kind in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(kind)) else {
            continue;
        };
        for e in entries {
            let path = e.unwrap().path();
            if path.is_dir() {
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                assert!(
                    known.contains(&name.as_str()),
                    "fuzz/{kind}/{name}/ names no fuzz target (known: {known:?})"
                );
            }
        }
    }
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    for name in &known {
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "fuzz/Cargo.toml has no [[bin]] for {name}"
        );
        let target = std::fs::read_to_string(root.join(format!("fuzz_targets/{name}.rs")))
            .unwrap_or_else(|e| panic!("fuzz/fuzz_targets/{name}.rs: {e}"));
        assert!(
            target.contains(&format!("checks::{name}(data)")),
            "fuzz/fuzz_targets/{name}.rs does not call checks::{name}"
        );
    }
}
