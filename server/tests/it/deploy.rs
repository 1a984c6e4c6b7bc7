//! deploy/: every PromQL query shipped with the Kubernetes stack parses with
//! Strata's parser, and every `strata_*` metric it names is one the server
//! exports.
//!
//! Checked:
//! - Grafana dashboards (every `*.json` under deploy/, the guide's five
//!   among them: k3s Cluster Overview, Node Exporter Full, MinIO, Ray and
//!   MLflow Metrics, and Strata's): the `expr` of every
//!   panel target (rows' nested panels included), and query variables that
//!   are PromQL. Grafana's variable macros (`label_values(...)`,
//!   `label_names(...)`, `metrics(...)`, `query_result(...)`) are not PromQL
//!   and are skipped (and listed); only the series selector inside
//!   `label_values(selector, label)` is parsed.
//! - Prometheus rule files (YAML with `groups:`): every `expr`.
//! - promtool unit tests (YAML with `tests:`): every `promql_expr_test` expr
//!   and every `input_series` selector.
//! - Grafana data source provisioning (YAML with `datasources:`): the Jaeger
//!   data source's trace-to-metrics queries.
//!
//! Grafana variables are replaced before parsing: `$__rate_interval`,
//! `$__interval`, `$__range` (and `${...}` forms) by `5m`; `$__range_s` by
//! `300`; `$__tags` by `service_name="x"`; any other `$var`, `${var}`,
//! `${var:format}` or `[[var]]` by `x` (they stand in label values and regex
//! matchers such as `instance=~"$node"`).

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value as Json;
use serde_yaml_ng::Value as Yaml;

fn deploy_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("deploy");
    assert!(dir.is_dir(), "{} is not a directory", dir.display());
    dir
}

/// Files under `dir` whose name ends with one of `exts`, sorted.
fn files(dir: &Path, exts: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if exts
                .iter()
                .any(|e| path.to_string_lossy().ends_with(&format!(".{e}")))
            {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn rel(path: &Path) -> String {
    path.strip_prefix(deploy_dir())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// The value a Grafana variable is replaced with.
fn variable_value(name: &str) -> &'static str {
    match name {
        "__rate_interval" | "__interval" | "__range" | "__auto" => "5m",
        "__range_s" | "__interval_s" => "300",
        "__range_ms" | "__interval_ms" => "300000",
        "__tags" => r#"service_name="x""#,
        _ => "x",
    }
}

/// `expr` with Grafana's variables replaced (see the module docs).
fn substitute(expr: &str) -> String {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::with_capacity(expr.len());
    let mut rest = expr;
    while let Some(i) = rest.find(['$', '[']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(body) = tail.strip_prefix("${")
            && let Some(end) = body.find('}')
        {
            let name = body[..end].split(':').next().unwrap_or("");
            out.push_str(variable_value(name));
            rest = &body[end + 1..];
            continue;
        } else if let Some(body) = tail.strip_prefix('$') {
            let end = body.find(|c: char| !is_ident(c)).unwrap_or(body.len());
            if end > 0 {
                out.push_str(variable_value(&body[..end]));
                rest = &body[end..];
                continue;
            }
        } else if let Some(body) = tail.strip_prefix("[[")
            && let Some(end) = body.find("]]")
            && end > 0
            && body[..end].chars().all(is_ident)
        {
            out.push_str(variable_value(&body[..end]));
            rest = &body[end + 2..];
            continue;
        }
        out.push_str(&tail[..1]);
        rest = &tail[1..];
    }
    out.push_str(rest);
    out
}

/// A query found in deploy/, and where.
struct Query {
    origin: String,
    expr: String,
}

/// What the walk over deploy/ found.
#[derive(Default)]
struct Found {
    dashboards: usize,
    titles: BTreeSet<String>,
    panel_exprs: Vec<Query>,
    variable_exprs: Vec<Query>,
    skipped_macros: Vec<String>,
    rule_exprs: Vec<Query>,
    test_exprs: Vec<Query>,
    datasource_exprs: Vec<Query>,
    errors: Vec<String>,
}

/// Grafana's variable query macros: not PromQL.
const GRAFANA_MACROS: [&str; 4] = ["label_values(", "label_names(", "metrics(", "query_result("];

fn walk_panels(file: &str, title: &str, panels: &[Json], found: &mut Found) {
    for panel in panels {
        let ptitle = panel["title"].as_str().unwrap_or("(untitled)");
        if let Some(nested) = panel["panels"].as_array() {
            walk_panels(file, title, nested, found);
        }
        if panel["type"] == "row" {
            continue;
        }
        let panel_ds_type = panel["datasource"]["type"].as_str();
        for target in panel["targets"].as_array().into_iter().flatten() {
            let ds_type = target["datasource"]["type"].as_str().or(panel_ds_type);
            if ds_type.is_some_and(|t| t != "prometheus") {
                continue; // Loki, Jaeger, ...: not PromQL.
            }
            let refid = target["refId"].as_str().unwrap_or("?");
            match target["expr"].as_str() {
                Some(expr) if !expr.trim().is_empty() => found.panel_exprs.push(Query {
                    origin: format!(
                        "{file} (dashboard {title:?}), panel {ptitle:?}, target {refid}"
                    ),
                    expr: expr.to_owned(),
                }),
                _ => found.errors.push(format!(
                    "{file} (dashboard {title:?}), panel {ptitle:?}, target {refid}: no expr"
                )),
            }
        }
    }
}

fn collect_dashboards(found: &mut Found) {
    for path in files(&deploy_dir(), &["json"]) {
        let file = rel(&path);
        let text = std::fs::read_to_string(&path).unwrap();
        let dash: Json = match serde_json::from_str(&text) {
            Ok(d) => d,
            Err(e) => {
                found.errors.push(format!("{file}: invalid JSON: {e}"));
                continue;
            }
        };
        let Some(panels) = dash["panels"].as_array() else {
            continue; // Not a dashboard.
        };
        found.dashboards += 1;
        let title = dash["title"].as_str().unwrap_or("(untitled)").to_owned();
        found.titles.insert(title.clone());
        walk_panels(&file, &title, panels, found);
        for var in dash["templating"]["list"].as_array().into_iter().flatten() {
            if var["type"] != "query" {
                continue;
            }
            let name = var["name"].as_str().unwrap_or("?");
            let query = var["query"]["query"]
                .as_str()
                .or(var["query"].as_str())
                .unwrap_or("")
                .trim();
            let origin = format!("{file} (dashboard {title:?}), variable ${name}");
            if query.is_empty() {
                found.errors.push(format!("{origin}: no query"));
            } else if GRAFANA_MACROS.iter().any(|m| query.starts_with(m)) {
                // The macro is not PromQL, but label_values' series selector is.
                if let Some(args) = query
                    .strip_prefix("label_values(")
                    .and_then(|a| a.strip_suffix(')'))
                    && let Some((selector, _label)) = args.rsplit_once(',')
                {
                    found.variable_exprs.push(Query {
                        origin: format!("{origin} (label_values' series selector)"),
                        expr: selector.trim().to_owned(),
                    });
                }
                found.skipped_macros.push(format!("{origin}: {query}"));
            } else {
                found.variable_exprs.push(Query {
                    origin,
                    expr: query.to_owned(),
                });
            }
        }
    }
}

fn yaml_str<'a>(v: &'a Yaml, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Yaml::as_str)
}

fn yaml_seq<'a>(v: &'a Yaml, key: &str) -> &'a [Yaml] {
    v.get(key)
        .and_then(Yaml::as_sequence)
        .map_or(&[], Vec::as_slice)
}

fn collect_yaml(found: &mut Found) {
    use serde::Deserialize as _;
    for path in files(&deploy_dir(), &["yaml", "yml"]) {
        let file = rel(&path);
        let text = std::fs::read_to_string(&path).unwrap();
        for (n, de) in serde_yaml_ng::Deserializer::from_str(&text).enumerate() {
            let doc = match Yaml::deserialize(de) {
                Ok(doc) => doc,
                Err(e) => {
                    found
                        .errors
                        .push(format!("{file}: document {n}: invalid YAML: {e}"));
                    break;
                }
            };
            if !doc.is_mapping() {
                continue;
            }
            // Prometheus rule file.
            for group in yaml_seq(&doc, "groups") {
                let gname = yaml_str(group, "name").unwrap_or("?");
                for rule in yaml_seq(group, "rules") {
                    let rname = yaml_str(rule, "record")
                        .or(yaml_str(rule, "alert"))
                        .unwrap_or("?");
                    match yaml_str(rule, "expr") {
                        Some(expr) => found.rule_exprs.push(Query {
                            origin: format!("{file}, group {gname}, rule {rname}"),
                            expr: expr.to_owned(),
                        }),
                        None => found
                            .errors
                            .push(format!("{file}, group {gname}, rule {rname}: no expr")),
                    }
                }
            }
            // promtool unit tests.
            if doc.get("rule_files").is_some() {
                for (i, test) in yaml_seq(&doc, "tests").iter().enumerate() {
                    for t in yaml_seq(test, "promql_expr_test") {
                        if let Some(expr) = yaml_str(t, "expr") {
                            found.test_exprs.push(Query {
                                origin: format!("{file}, test {i}, promql_expr_test"),
                                expr: expr.to_owned(),
                            });
                        }
                    }
                    for s in yaml_seq(test, "input_series") {
                        if let Some(series) = yaml_str(s, "series") {
                            found.test_exprs.push(Query {
                                origin: format!("{file}, test {i}, input_series"),
                                expr: series.to_owned(),
                            });
                        }
                    }
                }
            }
            // Grafana data sources: trace-to-metrics queries (`$$` is
            // provisioning's escape for a literal `$`).
            for ds in yaml_seq(&doc, "datasources") {
                let dname = yaml_str(ds, "name").unwrap_or("?");
                let queries = ds
                    .get("jsonData")
                    .and_then(|j| j.get("tracesToMetrics"))
                    .map_or(&[][..], |t| yaml_seq(t, "queries"));
                for q in queries {
                    if let Some(expr) = yaml_str(q, "query") {
                        found.datasource_exprs.push(Query {
                            origin: format!(
                                "{file}, data source {dname}, trace-to-metrics query {:?}",
                                yaml_str(q, "name").unwrap_or("?")
                            ),
                            expr: expr.replace("$$", "$"),
                        });
                    }
                }
            }
        }
    }
}

/// Names of the metrics Strata's /metrics exposes (counters with `_total`,
/// histograms with `_bucket`, `_count` and `_sum`).
fn exported_metrics() -> BTreeSet<String> {
    use strata_server::metrics::{EndpointLabels, HttpLabels, Metrics, ReasonLabels};
    let m = Metrics::default();
    // Labelled families only show in the exposition once they have a series.
    m.http_requests
        .get_or_create(&HttpLabels {
            path: "/api/v1/write".into(),
            code: "204".into(),
        })
        .inc();
    m.query_duration
        .get_or_create(&EndpointLabels {
            endpoint: "query".into(),
        })
        .observe(0.01);
    m.samples_rejected
        .get_or_create(&ReasonLabels {
            reason: "invalid_labels".into(),
        })
        .inc();
    let text = m.render(None);
    let mut names = BTreeSet::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let mut parts = rest.split_whitespace();
        let (Some(name), Some(kind)) = (parts.next(), parts.next()) else {
            continue;
        };
        match kind {
            "counter" => {
                names.insert(format!("{}_total", name.trim_end_matches("_total")));
            }
            "histogram" => {
                for suffix in ["_bucket", "_count", "_sum"] {
                    names.insert(format!("{name}{suffix}"));
                }
            }
            _ => {
                names.insert(name.to_owned());
            }
        }
    }
    names
}

/// `strata_*` metric names in `expr` (not parts of recording-rule names
/// like `instance:strata_samples_ingested:rate5m`, nor label values).
fn strata_metric_names(expr: &str) -> Vec<String> {
    let bytes = expr.as_bytes();
    let is_ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b':';
    let mut names = Vec::new();
    let mut in_string = None;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if let Some(q) = in_string {
            if b == b'\\' {
                i += 1;
            } else if b == q {
                in_string = None;
            }
        } else if b == b'"' || b == b'\'' || b == b'`' {
            in_string = Some(b);
        } else if expr[i..].starts_with("strata_") && (i == 0 || !is_ident(bytes[i - 1])) {
            let end = expr[i..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                .map_or(bytes.len(), |e| i + e);
            let name = &expr[i..end];
            if !name.contains(':') {
                names.push(name.to_owned());
            }
            i = end;
            continue;
        }
        i += 1;
    }
    names
}

#[test]
fn deploy_promql_parses_with_strata() {
    let mut found = Found::default();
    collect_dashboards(&mut found);
    collect_yaml(&mut found);
    let exported = exported_metrics();
    assert!(
        exported.contains("strata_samples_ingested_total")
            && exported.contains("strata_query_duration_seconds_bucket"),
        "unexpected /metrics exposition: {exported:?}"
    );

    let mut errors = std::mem::take(&mut found.errors);
    let mut strata_names = BTreeSet::new();
    for q in found
        .panel_exprs
        .iter()
        .chain(&found.variable_exprs)
        .chain(&found.rule_exprs)
        .chain(&found.test_exprs)
        .chain(&found.datasource_exprs)
    {
        let expr = substitute(&q.expr);
        if let Err(e) = strata_promql::parse(&expr) {
            errors.push(format!(
                "{}: {e}\n    query: {}\n    as parsed: {expr}",
                q.origin,
                q.expr.trim()
            ));
        }
        for name in strata_metric_names(&expr) {
            if !exported.contains(&name) {
                errors.push(format!(
                    "{}: {name} is not a metric Strata exports (see server/src/metrics.rs)",
                    q.origin
                ));
            }
            strata_names.insert(name);
        }
    }

    let mut summary = String::new();
    let _ = writeln!(
        summary,
        "deploy/: {} dashboards, {} panel queries, {} variable queries or selectors \
         ({} Grafana macro variables skipped as PromQL), {} rule exprs, {} promtool test exprs, \
         {} trace-to-metrics queries; {} distinct strata_* metrics referenced",
        found.dashboards,
        found.panel_exprs.len(),
        found.variable_exprs.len(),
        found.skipped_macros.len(),
        found.rule_exprs.len(),
        found.test_exprs.len(),
        found.datasource_exprs.len(),
        strata_names.len()
    );
    for s in &found.skipped_macros {
        let _ = writeln!(summary, "  skipped (Grafana macro, not PromQL): {s}");
    }
    println!("{summary}");

    assert!(
        errors.is_empty(),
        "{} problem(s) in deploy/:\n{}\n{summary}",
        errors.len(),
        errors.join("\n")
    );
    // Not vacuous: the walk found what deploy/ ships, including the five
    // dashboards the stack guide lists (MinIO, Ray and MLflow ones too).
    for title in [
        "k3s Cluster Overview",
        "Node Exporter Full",
        "MinIO Metrics",
        "Ray Metrics",
        "MLFlow Metrics",
        "Strata",
    ] {
        assert!(
            found.titles.contains(title),
            "no dashboard {title:?}: {:?}",
            found.titles
        );
    }
    assert!(found.panel_exprs.len() >= 100, "{summary}");
    assert!(!found.rule_exprs.is_empty(), "{summary}");
    assert!(!found.test_exprs.is_empty(), "{summary}");
    assert!(!found.datasource_exprs.is_empty(), "{summary}");
    assert!(strata_names.len() >= 10, "{summary}");
}

#[test]
fn grafana_variable_substitution() {
    assert_eq!(
        substitute(r#"rate(x{instance=~"$node"}[$__rate_interval])"#),
        r#"rate(x{instance=~"x"}[5m])"#
    );
    assert_eq!(
        substitute(r#"sum(y{job="${job}", a=~"${a:regex}"}) / $__range_s"#),
        r#"sum(y{job="x", a=~"x"}) / 300"#
    );
    assert_eq!(
        substitute(r#"z{a="[[var]]"}[5m] offset $__interval"#),
        r#"z{a="x"}[5m] offset 5m"#
    );
    assert_eq!(
        substitute(r#"calls{$__tags, b=~"c$"}"#),
        r#"calls{service_name="x", b=~"c$"}"#
    );
    // The parser does reject what Prometheus rejects.
    assert!(strata_promql::parse(&substitute("rate(x[$__rate_interval])")).is_ok());
    assert!(strata_promql::parse(&substitute("rate(x)")).is_err());
    assert_eq!(
        strata_metric_names(
            r#"instance:strata_x:rate5m + strata_wal_bytes{container="strata_y"} / strata_blocks"#
        ),
        ["strata_wal_bytes", "strata_blocks"]
    );
}
