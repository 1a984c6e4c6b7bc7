//! Every expression of Prometheus' own test scripts and of the compliance
//! query list parses (or fails where it must) and round-trips through printing.

use std::path::PathBuf;

use strata_promql::parse;
use strata_promql::promqltest::require;

/// `../shared/promql-tests`, relative to the workspace root; `None` (after a
/// `SKIPPED:` line) when it is not there.
fn corpus_dir() -> Option<PathBuf> {
    require::shared("promql-tests/upstream")?;
    require::shared("promql-tests")
}

/// The expression of an `eval` line: the text after the time specification.
fn eval_expression(line: &str) -> Option<&str> {
    let first = line.split_whitespace().next()?;
    if !first.to_ascii_lowercase().starts_with("eval") {
        return None;
    }
    let words_before = match line.split_whitespace().nth(1)? {
        "instant" => 4, // eval instant at <t>
        "range" => 8,   // eval range from <a> to <b> step <s>
        other => panic!("unknown eval form {other:?} in {line:?}"),
    };
    // Skip `words_before` words, keeping the rest of the line verbatim.
    let mut rest = line.trim_start();
    for _ in 0..words_before {
        let w = rest.find(char::is_whitespace).unwrap_or(rest.len());
        rest = rest[w..].trim_start();
    }
    Some(rest)
}

fn check_round_trip(q: &str) -> Result<(), String> {
    let e = parse(q).map_err(|e| format!("{q}\n    -> {e}"))?;
    let printed = e.to_string();
    let again =
        parse(&printed).map_err(|err| format!("{q}\n    printed as {printed}\n    -> {err}"))?;
    if again != e {
        return Err(format!(
            "{q}\n    printed as {printed}\n    parses to a different tree"
        ));
    }
    Ok(())
}

#[test]
fn every_upstream_eval_expression_parses_and_round_trips() {
    let Some(dir) = corpus_dir() else { return };
    let dir = dir.join("upstream");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "test"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 21, "expected the 21 upstream scripts");
    let mut total = 0;
    let mut failures = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let mut n = 0;
        for line in text.lines().map(str::trim) {
            if let Some(q) = eval_expression(line) {
                n += 1;
                if let Err(e) = check_round_trip(q) {
                    failures.push(format!(
                        "{}: {e}",
                        file.file_name().unwrap().to_string_lossy()
                    ));
                }
            }
        }
        eprintln!(
            "{:<28} {n} expressions",
            file.file_name().unwrap().to_string_lossy()
        );
        total += n;
    }
    eprintln!(
        "upstream corpus: {total} expressions, {} failures",
        failures.len()
    );
    assert!(total >= 2200, "only {total} eval statements found");
    assert!(
        failures.is_empty(),
        "{} of {total} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Values the compliance tester substitutes for its `{{.name}}` placeholders.
fn variants(name: &str) -> &'static [&'static str] {
    match name {
        "arithBinOp" => &["+", "-", "*", "/", "%", "^", "atan2"],
        "compBinOp" => &["==", "!=", "<", ">", "<=", ">="],
        "binOp" => &[
            "+", "-", "*", "/", "%", "^", "==", "!=", "<", ">", "<=", ">=",
        ],
        "clampFunc" => &["clamp_min", "clamp_max"],
        "dateFunc" => &[
            "day_of_month",
            "day_of_week",
            "day_of_year",
            "days_in_month",
            "hour",
            "minute",
            "month",
            "year",
        ],
        "extrapolatedRateFunc" => &["delta", "rate", "increase"],
        "instantRateFunc" => &["idelta", "irate"],
        "offset" => &["1m", "5m", "10m"],
        "quantile" => &[
            "-0.5", "0.1", "0.5", "0.75", "0.95", "0.90", "0.99", "1", "1.5",
        ],
        "range" => &["1s", "15s", "1m", "5m", "15m", "1h"],
        "simpleAggrOp" | "simpleTimeAggrOp" => {
            &["sum", "avg", "max", "min", "count", "stddev", "stdvar"]
        }
        "simpleMathFunc" => &[
            "abs", "ceil", "floor", "exp", "sqrt", "ln", "log2", "log10", "round",
        ],
        "topBottomOp" => &["topk", "bottomk"],
        other => panic!("unknown placeholder {other}"),
    }
}

/// All expansions of the placeholders in `q`.
fn expand(q: &str) -> Vec<String> {
    let Some(start) = q.find("{{.") else {
        return vec![q.to_owned()];
    };
    let end = start + q[start..].find("}}").expect("closed placeholder");
    let name = &q[start + 3..end];
    variants(name)
        .iter()
        .flat_map(|v| expand(&format!("{}{v}{}", &q[..start], &q[end + 2..])))
        .collect()
}

#[test]
fn every_compliance_query_parses_or_fails_as_expected() {
    let Some(dir) = corpus_dir() else { return };
    let path = dir.join("compliance/promql-test-queries.yml");
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let (mut total, mut failures) = (0, Vec::new());
    for (i, line) in lines.iter().enumerate() {
        let Some(raw) = line.trim().trim_start_matches("- ").strip_prefix("query:") else {
            continue;
        };
        let raw = raw.trim();
        let q = raw
            .strip_prefix('\'')
            .and_then(|r| r.strip_suffix('\''))
            .unwrap_or(raw)
            .replace("''", "'");
        let should_fail = lines
            .get(i + 1)
            .is_some_and(|l| l.trim() == "should_fail: true");
        for q in expand(&q) {
            total += 1;
            let result = check_round_trip(&q);
            // should_fail queries mostly fail at evaluation (bad regex in
            // label_replace, ...); those that are syntax errors must not parse.
            if q.contains("{__name__=~\".*\"}") {
                assert!(result.is_err(), "{q} must fail to parse");
            } else if !should_fail && let Err(e) = result {
                failures.push(e);
            }
        }
    }
    eprintln!(
        "compliance queries: {total} after expansion, {} failures",
        failures.len()
    );
    assert!(total > 500, "only {total} queries");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
