//! Smoke test of the rendered `deploy/overlays/rpi` on loopback, without a
//! cluster: Strata (this build), Debian's `prometheus` and
//! `prometheus-node-exporter` run with the arguments, environment, probe
//! paths and grace periods of the rendered objects, and Prometheus with the
//! rendered `prometheus.yml` and `rules.yml` (Kubernetes service discovery
//! replaced by static targets under the same job names). Any drift between
//! the manifests and what the programs accept fails here.
//!
//! Debian's programs stand in for the pinned images (the test prints which
//! version stands in for which image). Needs `kubectl`, `prometheus` and
//! `prometheus-node-exporter`: without them it prints `SKIPPED: ...` and
//! passes, unless `STRATA_REQUIRE_ALL=1` (`.ci/run`), where it fails.
//!
//! It asserts: probes answer 200 and admin endpoints answer as configured;
//! `up == 1` for each job, read from Strata; recording-rule series reach
//! Strata; every dashboard panel whose series the test produces returns
//! data in Prometheus and the same answer in Strata (the others are listed
//! as skipped, by name); after Strata is stopped for 60 s and restarted,
//! Prometheus' remote_write catches up with no gap; SIGTERM ends every
//! process within its `terminationGracePeriodSeconds`. About 2 minutes.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value as Json;
use serde_yaml_ng::{Mapping, Value as Yaml};
use strata_promql::promqltest::require;

use crate::process::{free_port, http, now_ms, secs, sleep_ms, strata_bin, with_params};

const INSTALL: &str = "apt-get install -y --no-install-recommends prometheus \
                       prometheus-node-exporter kubectl";

/// Scrape and rule evaluation interval of the rewritten configuration.
const INTERVAL_S: i64 = 1;

// ------------------------------------------------------------ processes

/// A child with environment and a log file; killed on drop.
struct Child2 {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Child2 {
    fn spawn(
        name: &str,
        program: &Path,
        args: &[String],
        env: &[(String, String)],
        dir: &Path,
    ) -> Child2 {
        let log = dir.join(format!("{name}.log"));
        let out = File::options()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let child = Command::new(program)
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        Child2 {
            name: name.to_owned(),
            child,
            log,
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// SIGTERM, then how long the process took to exit (at most `limit`).
    fn terminate(&mut self, limit: Duration) -> (Duration, ExitStatus) {
        let start = Instant::now();
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -TERM {} ({})", self.child.id(), self.name);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (start.elapsed(), status);
            }
            assert!(
                start.elapsed() < limit,
                "{} still running {limit:?} after SIGTERM (its terminationGracePeriodSeconds); log:\n{}",
                self.name,
                self.log_tail()
            );
            sleep_ms(50);
        }
    }
}

impl Drop for Child2 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("---- last lines of {}:\n{}", self.name, self.log_tail());
        }
    }
}

/// Waits until `GET http://addr{path}` answers 200.
fn wait_200(who: &mut Child2, addr: &str, path: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok((200, _)) = http(addr, "GET", path, &[], b"") {
            return;
        }
        if let Some(st) = who.child.try_wait().unwrap() {
            panic!("{} exited ({st}); log:\n{}", who.name, who.log_tail());
        }
        assert!(
            Instant::now() < deadline,
            "{} not answering 200 on {path} after 60 s; log:\n{}",
            who.name,
            who.log_tail()
        );
        sleep_ms(100);
    }
}

// ------------------------------------------------------ rendered objects

fn render(kubectl: &Path, dir: &Path) -> Vec<Yaml> {
    use serde::Deserialize as _;
    let out = Command::new(kubectl)
        .arg("kustomize")
        .arg(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run kubectl: {e}"));
    assert!(
        out.status.success(),
        "kubectl kustomize {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|d| Yaml::deserialize(d).unwrap())
        .filter(|d| d.is_mapping())
        .collect()
}

fn s<'a>(v: &'a Yaml, path: &[&str]) -> Option<&'a Yaml> {
    path.iter().try_fold(v, |v, k| v.get(*k))
}

fn find<'a>(objs: &'a [Yaml], kind: &str, name_prefix: &str) -> &'a Yaml {
    objs.iter()
        .find(|o| {
            s(o, &["kind"]).and_then(Yaml::as_str) == Some(kind)
                && s(o, &["metadata", "name"])
                    .and_then(Yaml::as_str)
                    .is_some_and(|n| n == name_prefix || n.starts_with(&format!("{name_prefix}-")))
        })
        .unwrap_or_else(|| panic!("the rendering has no {kind} {name_prefix}"))
}

/// What the test takes from a rendered workload's first container.
struct Workload {
    image: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    liveness: String,
    readiness: String,
    startup: Option<String>,
    grace: Duration,
}

fn workload(objs: &[Yaml], kind: &str, name: &str) -> Workload {
    let obj = find(objs, kind, name);
    let pod = s(obj, &["spec", "template", "spec"]).unwrap();
    let c = &pod["containers"][0];
    let strs = |v: Option<&Yaml>| -> Vec<String> {
        v.and_then(Yaml::as_sequence)
            .map(|q| {
                q.iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let probe = |p: &str| {
        s(c, &[p, "httpGet", "path"])
            .and_then(Yaml::as_str)
            .map(str::to_owned)
    };
    Workload {
        image: c["image"].as_str().unwrap().to_owned(),
        args: strs(c.get("args")),
        env: c
            .get("env")
            .and_then(Yaml::as_sequence)
            .into_iter()
            .flatten()
            .filter_map(|e| {
                Some((
                    e["name"].as_str()?.to_owned(),
                    e.get("value")?.as_str()?.to_owned(),
                ))
            })
            .collect(),
        liveness: probe("livenessProbe").unwrap_or_else(|| panic!("{name}: no liveness probe")),
        readiness: probe("readinessProbe").unwrap_or_else(|| panic!("{name}: no readiness probe")),
        startup: probe("startupProbe"),
        // Kubernetes' default is 30 s.
        grace: Duration::from_secs(
            pod.get("terminationGracePeriodSeconds")
                .and_then(Yaml::as_u64)
                .unwrap_or(30),
        ),
    }
}

/// The value of `--flag=value` in `args`.
fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .find_map(|a| a.strip_prefix(&format!("{name}=")))
}

/// `args` with `--flag=...` replaced by `--flag=value` (added if absent).
fn set_flag(args: &mut Vec<String>, name: &str, value: &str) {
    let new = format!("{name}={value}");
    match args.iter_mut().find(|a| a.starts_with(&format!("{name}="))) {
        Some(a) => *a = new,
        None => args.push(new),
    }
}

/// Long flags of `program --help` (kingpin's listing).
fn known_flags(program: &Path) -> BTreeSet<String> {
    let out = Command::new(program).arg("--help").output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    text.split_whitespace()
        .filter(|w| w.starts_with("--"))
        .map(|w| {
            w.split(['=', ','])
                .next()
                .unwrap_or("")
                .trim_start_matches("--[no-]")
                .to_owned()
        })
        .map(|w| {
            if w.starts_with("--") {
                w
            } else {
                format!("--{w}")
            }
        })
        .collect()
}

fn version(program: &Path) -> String {
    let out = Command::new(program).arg("--version").output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    text.lines().next().unwrap_or("?").trim().to_owned()
}

// ------------------------------------------------------------ queries

/// An instant query's result: labels (as text) to value, or the error.
fn query(addr: &str, q: &str, t_ms: i64) -> Result<BTreeMap<String, f64>, String> {
    let target = with_params("/api/v1/query", &[("query", q), ("time", &secs(t_ms))]);
    let (status, body) = http(addr, "GET", &target, &[], b"").map_err(|e| e.to_string())?;
    let v: Json = serde_json::from_slice(&body).map_err(|e| format!("{status}: {e}"))?;
    if status != 200 || v["status"] != "success" {
        return Err(format!("{status}: {v}"));
    }
    let data = &v["data"];
    let one = |s: &Json| -> (String, f64) {
        let x = s["value"][1]
            .as_str()
            .unwrap_or("NaN")
            .parse()
            .unwrap_or(f64::NAN);
        (s["metric"].to_string(), x)
    };
    Ok(match data["resultType"].as_str() {
        Some("vector") => data["result"].as_array().unwrap().iter().map(one).collect(),
        Some("scalar") => {
            let x = data["result"][1]
                .as_str()
                .unwrap_or("NaN")
                .parse()
                .unwrap_or(f64::NAN);
            BTreeMap::from([("scalar".to_owned(), x)])
        }
        other => return Err(format!("unexpected result type {other:?}")),
    })
}

/// Raw sample timestamps (ms) of `selector[range]` at `t_ms`, per series.
fn raw_times(addr: &str, selector: &str, t_ms: i64) -> BTreeMap<String, Vec<i64>> {
    let target = with_params(
        "/api/v1/query",
        &[("query", selector), ("time", &secs(t_ms))],
    );
    let (status, body) = http(addr, "GET", &target, &[], b"").unwrap();
    assert_eq!(
        status,
        200,
        "{selector}: {}",
        String::from_utf8_lossy(&body)
    );
    let v: Json = serde_json::from_slice(&body).unwrap();
    v["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let times = s["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| (p[0].as_f64().unwrap() * 1000.0).round() as i64)
                .collect();
            (s["metric"].to_string(), times)
        })
        .collect()
}

fn same(a: &BTreeMap<String, f64>, b: &BTreeMap<String, f64>) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|((ka, va), (kb, vb))| {
            ka == kb
                && (va == vb
                    || (va.is_nan() && vb.is_nan())
                    || (va - vb).abs() <= 1e-9 * va.abs().max(vb.abs()))
        })
}

/// Series selectors in a PromQL expression (`name`, `name{...}`, `{...}`),
/// found lexically: function calls, keywords, label lists of `by (...)`
/// and friends, strings, durations and numbers are skipped.
fn selectors(expr: &str) -> Vec<String> {
    const LISTS: [&str; 6] = [
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
    ];
    // Keywords, and aggregations (which `by (...)` may follow).
    const WORDS: [&str; 20] = [
        "offset",
        "bool",
        "and",
        "or",
        "unless",
        "inf",
        "nan",
        "atan2",
        "sum",
        "min",
        "max",
        "avg",
        "count",
        "stddev",
        "stdvar",
        "topk",
        "bottomk",
        "quantile",
        "count_values",
        "group",
    ];
    let b = expr.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    // The end of a `{...}` block starting at `start`, skipping strings.
    let brace_end = |start: usize| -> usize {
        let mut j = start;
        let mut q = None;
        while j < b.len() {
            match (q, b[j]) {
                (Some(_), b'\\') => j += 1,
                (Some(c), x) if x == c => q = None,
                (None, b'"' | b'\'' | b'`') => q = Some(b[j]),
                (None, b'}') => return j + 1,
                _ => {}
            }
            j += 1;
        }
        b.len()
    };
    let next_non_space = |mut j: usize| {
        while j < b.len() && b[j].is_ascii_whitespace() {
            j += 1;
        }
        j
    };
    while i < b.len() {
        let c = b[i];
        if c == b'"' || c == b'\'' || c == b'`' {
            let mut j = i + 1;
            while j < b.len() && b[j] != c {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            i = j + 1;
        } else if c == b'[' {
            i += expr[i..].find(']').map_or(b.len(), |e| e + 1);
        } else if c == b'{' {
            let end = brace_end(i);
            out.push(expr[i..end].to_owned());
            i = end;
        } else if c.is_ascii_digit() || c == b'.' {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.') {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == b'_' || c == b':' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b':') {
                i += 1;
            }
            let word = &expr[start..i];
            let j = next_non_space(i);
            if LISTS.contains(&word) {
                if b.get(j) == Some(&b'(') {
                    i = j + expr[j..].find(')').map_or(b.len() - j, |e| e + 1);
                }
            } else if WORDS.contains(&word) || b.get(j) == Some(&b'(') {
                // A keyword, or a function / aggregation name.
            } else if b.get(j) == Some(&b'{') {
                let end = brace_end(j);
                out.push(format!("{word}{}", &expr[j..end]));
                i = end;
            } else {
                out.push(word.to_owned());
            }
        } else {
            i += 1;
        }
    }
    out
}

/// Grafana's variables as the smoke test evaluates panels: every `$var`
/// matcher matches anything, `$__rate_interval` is 1m.
fn grafana_vars(expr: &str) -> String {
    let mut out = String::new();
    let mut rest = expr;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let tail = &rest[i + 1..];
        let (name, after) = if let Some(body) = tail.strip_prefix('{') {
            let end = body.find('}').unwrap_or(body.len());
            (
                body[..end].split(':').next().unwrap_or(""),
                &body[(end + 1).min(body.len())..],
            )
        } else {
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(tail.len());
            (&tail[..end], &tail[end..])
        };
        out.push_str(match name {
            "__rate_interval" | "__interval" | "__range" => "1m",
            "__range_s" | "__interval_s" => "60",
            _ => ".*",
        });
        rest = after;
    }
    out.push_str(rest);
    out
}

/// (dashboard title, panel title, expr) of every PromQL panel target in
/// the rendered grafana-dashboards ConfigMap.
fn dashboard_targets(objs: &[Yaml]) -> Vec<(String, String, String)> {
    fn walk(dash: &str, panels: &[Json], out: &mut Vec<(String, String, String)>) {
        for p in panels {
            if let Some(n) = p["panels"].as_array() {
                walk(dash, n, out);
            }
            for t in p["targets"].as_array().into_iter().flatten() {
                let ds = t["datasource"]["type"]
                    .as_str()
                    .or(p["datasource"]["type"].as_str());
                if ds.is_some_and(|d| d != "prometheus") {
                    continue;
                }
                if let Some(e) = t["expr"].as_str() {
                    let title = format!(
                        "{} [{}]",
                        p["title"].as_str().unwrap_or("?"),
                        t["refId"].as_str().unwrap_or("?")
                    );
                    out.push((dash.to_owned(), title, e.to_owned()));
                }
            }
        }
    }
    let cm = find(objs, "ConfigMap", "grafana-dashboards");
    let mut out = Vec::new();
    for (k, v) in cm["data"].as_mapping().unwrap() {
        if !k.as_str().unwrap_or("").ends_with(".json") {
            continue;
        }
        let d: Json = serde_json::from_str(v.as_str().unwrap()).unwrap();
        walk(
            d["title"].as_str().unwrap_or("?"),
            d["panels"].as_array().unwrap(),
            &mut out,
        );
    }
    out
}

// ---------------------------------------------------------- the config

/// Per job: the static target that replaces Kubernetes service discovery,
/// and the `__meta_kubernetes_*` labels its relabelling reads.
type StaticTargets<'a> = BTreeMap<&'a str, (String, Vec<(&'a str, String)>)>;

/// The rendered prometheus.yml for loopback: 1 s intervals, rule file and
/// remote_write URL rewritten, Kubernetes SD replaced by `static` targets
/// (with the `__meta_kubernetes_*` labels the relabelling reads) for the
/// jobs this test runs; returns it and the jobs left out.
fn loopback_config(
    rendered: &str,
    rules: &Path,
    strata: &str,
    prom: &str,
    static_targets: &StaticTargets<'_>,
) -> (String, Vec<String>) {
    let mut cfg: Yaml = serde_yaml_ng::from_str(rendered).unwrap();
    let m = cfg.as_mapping_mut().unwrap();
    let g = m
        .entry("global".into())
        .or_insert(Yaml::Mapping(Mapping::new()));
    for k in ["scrape_interval", "evaluation_interval", "scrape_timeout"] {
        g.as_mapping_mut()
            .unwrap()
            .insert(k.into(), format!("{INTERVAL_S}s").into());
    }
    m.insert(
        "rule_files".into(),
        Yaml::Sequence(vec![rules.display().to_string().into()]),
    );
    let rw = m
        .get_mut("remote_write")
        .and_then(Yaml::as_sequence_mut)
        .unwrap();
    assert_eq!(rw.len(), 1, "one remote_write expected: {rw:?}");
    let url = rw[0]["url"].as_str().unwrap();
    assert!(
        url.ends_with(":8428/api/v1/write"),
        "remote_write url {url}"
    );
    let rw0 = rw[0].as_mapping_mut().unwrap();
    rw0.insert("url".into(), format!("http://{strata}/api/v1/write").into());
    if let Some(q) = rw0.get_mut("queue_config").and_then(Yaml::as_mapping_mut) {
        q.insert("batch_send_deadline".into(), "1s".into());
    }
    let mut dropped = Vec::new();
    let jobs = m
        .get_mut("scrape_configs")
        .and_then(Yaml::as_sequence_mut)
        .unwrap();
    jobs.retain_mut(|job| {
        let name = job["job_name"].as_str().unwrap().to_owned();
        let jm = job.as_mapping_mut().unwrap();
        if jm.contains_key("kubernetes_sd_configs") {
            let Some((target, meta)) = static_targets.get(name.as_str()) else {
                dropped.push(name);
                return false;
            };
            jm.remove("kubernetes_sd_configs");
            let mut labels = Mapping::new();
            for (k, v) in meta {
                labels.insert((*k).into(), v.clone().into());
            }
            let mut sc = Mapping::new();
            sc.insert(
                "targets".into(),
                Yaml::Sequence(vec![target.clone().into()]),
            );
            sc.insert("labels".into(), Yaml::Mapping(labels));
            jm.insert(
                "static_configs".into(),
                Yaml::Sequence(vec![Yaml::Mapping(sc)]),
            );
        } else if let Some(scs) = jm.get_mut("static_configs").and_then(Yaml::as_sequence_mut) {
            for sc in scs {
                if let Some(ts) = sc.get_mut("targets").and_then(Yaml::as_sequence_mut) {
                    for t in ts.iter_mut() {
                        if t.as_str() == Some("localhost:9090") {
                            *t = prom.into();
                        }
                    }
                }
            }
        }
        true
    });
    (serde_yaml_ng::to_string(&cfg).unwrap(), dropped)
}

// --------------------------------------------------------------- test

#[test]
fn rendered_rpi_overlay_on_loopback() {
    let kubectl = require::program("kubectl", INSTALL);
    let prom_bin = require::program("prometheus", INSTALL);
    let ne_bin = require::program("prometheus-node-exporter", INSTALL);
    let (Some(kubectl), Some(prom_bin), Some(ne_bin)) = (kubectl, prom_bin, ne_bin) else {
        return;
    };
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
    let objs = render(&kubectl, &deploy.join("overlays/rpi"));
    let strata_w = workload(&objs, "StatefulSet", "strata");
    let prom_w = workload(&objs, "StatefulSet", "prometheus");
    let ne_w = workload(&objs, "DaemonSet", "node-exporter");
    let prom_cm = find(&objs, "ConfigMap", "prometheus-config");
    let strata_svc = find(&objs, "Service", "strata");
    println!("deploy smoke test: kubectl kustomize deploy/overlays/rpi");
    println!(
        "  STAND-IN: Debian's {} for the pinned image {}",
        version(&prom_bin),
        prom_w.image
    );
    println!(
        "  STAND-IN: Debian's {} for the pinned image {}",
        version(&ne_bin),
        ne_w.image
    );
    println!(
        "  Strata: this build's {} for the image {}",
        strata_bin().display(),
        strata_w.image
    );

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    // Strata: the image's entrypoint (`strata serve --data-dir=/data`) and
    // the rendered args and env, listening on loopback.
    let strata_addr = format!("127.0.0.1:{}", free_port());
    assert_eq!(
        flag(&strata_w.args, "--listen"),
        Some(":8428"),
        "Strata's --listen"
    );
    let mut strata_args = vec![
        "serve".to_owned(),
        format!("--data-dir={}", d.join("strata-data").display()),
    ];
    strata_args.extend(strata_w.args.iter().cloned());
    set_flag(&mut strata_args, "--listen", &strata_addr);
    let start_strata = || {
        let mut p = Child2::spawn("strata", strata_bin(), &strata_args, &strata_w.env, d);
        wait_200(&mut p, &strata_addr, &strata_w.liveness);
        wait_200(&mut p, &strata_addr, &strata_w.readiness);
        p
    };
    let mut strata = start_strata();

    // node-exporter: host paths instead of the /host mounts.
    let ne_addr = format!("127.0.0.1:{}", free_port());
    let ne_known = known_flags(&ne_bin);
    let mut ne_args = Vec::new();
    for a in &ne_w.args {
        let a = a
            .replace("=/host/proc", "=/proc")
            .replace("=/host/sys", "=/sys")
            .replace("=/host/root/", "=/")
            .replace("=/host/root", "=/");
        let name = a.split('=').next().unwrap_or("");
        if ne_known.contains(name) {
            ne_args.push(a);
        } else {
            println!("  STAND-IN: Debian's node-exporter has no {name}: left out ({a})");
        }
    }
    assert_eq!(
        flag(&ne_args, "--web.listen-address"),
        Some(":9100"),
        "node-exporter's listen address"
    );
    set_flag(&mut ne_args, "--web.listen-address", &ne_addr);
    let mut ne = Child2::spawn("node-exporter", &ne_bin, &ne_args, &ne_w.env, d);
    wait_200(&mut ne, &ne_addr, &ne_w.liveness);
    wait_200(&mut ne, &ne_addr, &ne_w.readiness);

    // Prometheus with the rendered config and rules.
    let prom_addr = format!("127.0.0.1:{}", free_port());
    let data = prom_cm["data"].as_mapping().unwrap();
    let text = |k: &str| {
        data.get(k)
            .and_then(Yaml::as_str)
            .unwrap_or_else(|| panic!("no {k}"))
            .to_owned()
    };
    let rules_path = d.join("rules.yml");
    std::fs::write(&rules_path, text("rules.yml")).unwrap();
    let strata_ann = |k: &str| -> String {
        s(strata_svc, &["metadata", "annotations", k])
            .and_then(Yaml::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let strata_port = strata_addr.rsplit(':').next().unwrap().to_owned();
    let static_targets = BTreeMap::from([
        (
            "node-exporter",
            (
                ne_addr.clone(),
                vec![
                    ("__meta_kubernetes_service_name", "node-exporter".to_owned()),
                    (
                        "__meta_kubernetes_endpointslice_port_name",
                        "metrics".to_owned(),
                    ),
                    ("__meta_kubernetes_pod_node_name", "smoke-node".to_owned()),
                ],
            ),
        ),
        (
            "kubernetes-service-endpoints",
            (
                strata_addr.clone(),
                vec![
                    (
                        "__meta_kubernetes_service_annotation_prometheus_io_scrape",
                        strata_ann("prometheus.io/scrape"),
                    ),
                    (
                        "__meta_kubernetes_service_annotation_prometheus_io_path",
                        strata_ann("prometheus.io/path"),
                    ),
                    // The annotation names the container port (8428), which is
                    // the loopback port here.
                    (
                        "__meta_kubernetes_service_annotation_prometheus_io_port",
                        strata_port.clone(),
                    ),
                    ("__meta_kubernetes_service_name", "strata".to_owned()),
                    ("__meta_kubernetes_namespace", "observability".to_owned()),
                    ("__meta_kubernetes_pod_name", "strata-0".to_owned()),
                    ("__meta_kubernetes_pod_node_name", "smoke-node".to_owned()),
                ],
            ),
        ),
    ]);
    assert_eq!(
        strata_ann("prometheus.io/port"),
        "8428",
        "Strata's Service annotation"
    );
    let (config, dropped) = loopback_config(
        &text("prometheus.yml"),
        &rules_path,
        &strata_addr,
        &prom_addr,
        &static_targets,
    );
    for job in &dropped {
        println!("  SKIPPED job {job}: Kubernetes-only (no target without a cluster)");
    }
    std::fs::write(d.join("prometheus.yml"), &config).unwrap();
    let prom_known = known_flags(&prom_bin);
    let mut prom_args = prom_w.args.clone();
    assert_eq!(
        flag(&prom_args, "--config.file"),
        Some("/etc/prometheus/prometheus.yml")
    );
    set_flag(
        &mut prom_args,
        "--config.file",
        &d.join("prometheus.yml").display().to_string(),
    );
    set_flag(
        &mut prom_args,
        "--storage.tsdb.path",
        &d.join("prometheus-data").display().to_string(),
    );
    set_flag(&mut prom_args, "--web.listen-address", &prom_addr);
    for a in &prom_args {
        let name = a.split('=').next().unwrap_or("");
        assert!(
            prom_known.contains(name),
            "Prometheus does not know the rendered flag {a}"
        );
    }
    let mut prom = Child2::spawn("prometheus", &prom_bin, &prom_args, &prom_w.env, d);
    wait_200(&mut prom, &prom_addr, &prom_w.liveness);
    wait_200(&mut prom, &prom_addr, &prom_w.readiness);
    if let Some(p) = &prom_w.startup {
        wait_200(&mut prom, &prom_addr, p);
    }
    println!(
        "  probes: 200 from strata {} {}, prometheus {} {}, node-exporter {} {}",
        strata_w.liveness,
        strata_w.readiness,
        prom_w.liveness,
        prom_w.readiness,
        ne_w.liveness,
        ne_w.readiness
    );

    // Admin endpoints as the overlay configures them.
    let disabled = strata_w
        .env
        .iter()
        .any(|(k, v)| k == "STRATA_DISABLE_ADMIN_API" && v == "true")
        || strata_w.args.iter().any(|a| a == "--disable-admin-api");
    assert!(
        disabled,
        "the rpi overlay is expected to disable Strata's admin API (update this test if not)"
    );
    for (method, path) in [
        ("GET", "/snapshot/list"),
        ("GET", "/snapshot/create"),
        ("POST", "/api/v1/admin/tsdb/snapshot"),
        ("POST", "/api/v1/admin/tsdb/delete_series?match[]=up"),
        ("GET", "/internal/force_flush"),
    ] {
        let (st, body) = http(&strata_addr, method, path, &[], b"").unwrap();
        assert_eq!(
            st,
            403,
            "Strata {method} {path}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    assert!(
        !prom_args
            .iter()
            .any(|a| a == "--web.enable-lifecycle" || a == "--web.enable-admin-api")
    );
    let (st, _) = http(&prom_addr, "POST", "/-/reload", &[], b"").unwrap();
    assert_eq!(st, 403, "Prometheus' lifecycle API should be off");
    let (st, body) = http(&prom_addr, "POST", "/api/v1/admin/tsdb/snapshot", &[], b"").unwrap();
    assert_ne!(
        st,
        200,
        "Prometheus' admin API should be off: {}",
        String::from_utf8_lossy(&body)
    );
    println!(
        "  admin endpoints: Strata 403 (STRATA_DISABLE_ADMIN_API), Prometheus lifecycle 403, admin {st}"
    );

    // up == 1 for each job, read from Strata.
    let jobs = ["prometheus", "node-exporter", "strata"];
    let deadline = Instant::now() + Duration::from_secs(60);
    for job in jobs {
        loop {
            let r = query(&strata_addr, &format!("up{{job=\"{job}\"}}"), now_ms());
            if r.as_ref()
                .is_ok_and(|m| !m.is_empty() && m.values().all(|v| *v == 1.0))
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "up{{job={job:?}}} is not 1 in Strata: {r:?}\nconfig:\n{config}"
            );
            sleep_ms(500);
        }
    }
    println!("  up == 1 in Strata for jobs {jobs:?}");

    // Recording rules: once Prometheus has recorded series, every series it
    // recorded is in Strata with the same value.
    let rules: Yaml = serde_yaml_ng::from_str(&text("rules.yml")).unwrap();
    let records: Vec<String> = rules["groups"]
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_sequence().unwrap().iter())
        .filter_map(|r| r.get("record").and_then(Yaml::as_str).map(str::to_owned))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while records
        .iter()
        .any(|r| query(&prom_addr, r, now_ms()).is_ok_and(|m| m.is_empty()))
        && Instant::now() < deadline
    {
        sleep_ms(1000);
    }
    let t = now_ms() - 1_000;
    sleep_ms(3000);
    let mut recorded = Vec::new();
    for r in &records {
        let p = query(&prom_addr, r, t).unwrap();
        let st = query(&strata_addr, r, t).unwrap();
        if p.is_empty() {
            println!("  recording rule {r}: no input series here (skipped)");
            continue;
        }
        assert!(
            same(&p, &st),
            "recording rule {r}: Prometheus {p:?}, Strata {st:?}"
        );
        recorded.push(r.clone());
    }
    assert!(
        recorded.iter().any(|r| r.contains("node_"))
            && recorded.iter().any(|r| r.contains("strata_")),
        "recording rules of node-exporter and Strata should arrive in Strata: {recorded:?}"
    );
    println!("  recording rules in Strata, equal to Prometheus: {recorded:?}");

    // Dashboards: panels whose series exist here return data, the same in both.
    let t = now_ms() - 3_000;
    sleep_ms(3000);
    let mut checked = 0;
    let mut skipped = Vec::new();
    let mut failures = Vec::new();
    for (dash, panel, expr) in dashboard_targets(&objs) {
        let e = grafana_vars(&expr);
        let missing: Vec<String> = selectors(&e)
            .into_iter()
            .filter(|sel| {
                query(&strata_addr, &format!("count({sel})"), t).map_or(true, |m| m.is_empty())
            })
            .collect();
        if !missing.is_empty() {
            skipped.push(format!(
                "{dash} / {panel}: no series for {}",
                missing.join(", ")
            ));
            continue;
        }
        let p = query(&prom_addr, &e, t);
        let st = query(&strata_addr, &e, t);
        match (&p, &st) {
            (Ok(p), Ok(st)) if p.is_empty() => failures.push(format!(
                "{dash} / {panel}: no data in Prometheus for {e} (Strata: {st:?})"
            )),
            (Ok(p), Ok(st)) if same(p, st) => checked += 1,
            _ => failures.push(format!(
                "{dash} / {panel}: {e}\n    Prometheus: {p:?}\n    Strata:     {st:?}"
            )),
        }
    }
    for sk in &skipped {
        println!("  SKIPPED panel (Kubernetes-only, or no such series without a cluster): {sk}");
    }
    assert!(
        failures.is_empty(),
        "{} panel(s) differ or return nothing:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked >= 30, "only {checked} panels could be checked");
    println!(
        "  dashboards: {checked} panel queries return data, Strata equal to Prometheus; {} skipped",
        skipped.len()
    );

    // Strata away for 60 s: remote_write catches up with no gap.
    let stop_ms = now_ms();
    let (took, st) = strata.terminate(strata_w.grace);
    assert!(st.success(), "strata exited with {st} after SIGTERM");
    println!("  strata stopped (SIGTERM, {took:?}); waiting 60 s");
    sleep_ms(60_000);
    strata = start_strata();
    let restart_ms = now_ms();
    let caught_up = Instant::now() + Duration::from_secs(90);
    loop {
        let r = query(
            &strata_addr,
            "max(timestamp(up{job=\"node-exporter\"}))",
            now_ms(),
        )
        .unwrap();
        if r.values()
            .next()
            .is_some_and(|ts| *ts * 1000.0 >= (restart_ms + 2_000) as f64)
        {
            break;
        }
        assert!(
            Instant::now() < caught_up,
            "remote_write did not catch up within 90 s: {r:?}"
        );
        sleep_ms(500);
    }
    sleep_ms(3000);
    let end = now_ms() - 2_000;
    let window = format!(
        "up{{job=\"node-exporter\"}}[{}s]",
        (end - stop_ms) / 1000 + 15
    );
    let in_strata = raw_times(&strata_addr, &window, end);
    let in_prom = raw_times(&prom_addr, &window, end);
    assert_eq!(
        in_strata, in_prom,
        "Strata's samples of {window} differ from Prometheus'"
    );
    for (series, times) in &in_strata {
        let gap = times
            .windows(2)
            .map(|w| w[1] - w[0])
            .max()
            .unwrap_or(i64::MAX);
        assert!(
            gap <= 3 * INTERVAL_S * 1000
                && times.first().is_some_and(|f| *f < stop_ms)
                && times.last().is_some_and(|l| *l > restart_ms),
            "{series}: a gap of {gap} ms in Strata around the 60 s stop (samples {}..{})",
            times.first().unwrap_or(&0),
            times.last().unwrap_or(&0)
        );
    }
    println!(
        "  after 60 s without Strata: {} samples, no gap over {} s, equal to Prometheus'",
        in_strata.values().map(Vec::len).sum::<usize>(),
        3 * INTERVAL_S
    );

    // SIGTERM ends every process within its grace period.
    for (p, grace) in [
        (&mut prom, prom_w.grace),
        (&mut ne, ne_w.grace),
        (&mut strata, strata_w.grace),
    ] {
        let (took, st) = p.terminate(grace);
        println!(
            "  SIGTERM {}: exited {st} after {took:?} (terminationGracePeriodSeconds {}s)",
            p.name,
            grace.as_secs()
        );
    }
}

#[test]
fn selectors_are_found_lexically() {
    assert_eq!(
        selectors(
            r#"sum by (instance) (rate(node_cpu_seconds_total{mode!="idle", job=~".*"}[1m])) / on(instance) group_left count(up) > bool 0"#
        ),
        [r#"node_cpu_seconds_total{mode!="idle", job=~".*"}"#, "up"]
    );
    assert_eq!(
        selectors(r#"histogram_quantile(0.99, sum by (le) (rate(x_bucket{a="}"}[5m]))) offset 1m"#),
        [r#"x_bucket{a="}"}"#]
    );
    assert_eq!(
        selectors(r#"label_replace(a:b:c, "x", "$1", "y", "(.*)") * 1e3"#),
        ["a:b:c"]
    );
    assert_eq!(
        grafana_vars(r#"rate(x{i=~"$node", j=~"${job:regex}"}[$__rate_interval])"#),
        r#"rate(x{i=~".*", j=~".*"}[1m])"#
    );
}
