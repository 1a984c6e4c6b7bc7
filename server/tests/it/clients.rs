//! The real clients users run, against the real `strata` binary: Prometheus
//! (remote_write in, remote_read out), vmagent, vmalert and promtool, as
//! Debian packages them (`.ci/run` installs them).
//!
//! Each test starts its own `strata serve` and client processes on free
//! 127.0.0.1 ports in its own temp dir. A guard kills every child when the
//! test ends, also when it panics, and then prints the tail of each child's
//! log. A missing client binary makes the test print one `SKIPPED: needs
//! ...` line and pass, unless `STRATA_REQUIRE_ALL=1` (set by `.ci/run`),
//! which makes it a failure (`strata_promql::promqltest::require`).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde_json::Value;
use strata_server::formats::remote_write::{Label, Sample, TimeSeries, WriteRequest, encode};

use strata_promql::promqltest::require;

use crate::process::{
    Proc, find, http, now_ms, secs, sleep_ms, start_server, start_strata_at, with_params,
};

// ---------------------------------------------------------------- helpers

/// An API timestamp (decimal seconds) as milliseconds.
fn ts_ms(v: &Value) -> i64 {
    let s = v.as_f64().unwrap_or_else(|| panic!("not a timestamp: {v}"));
    // The API's timestamps have millisecond precision.
    (s * 1000.0).round() as i64
}

/// An API sample value ("1.5", "NaN", "+Inf").
fn value(v: &Value) -> f64 {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("not a sample value: {v}"));
    s.parse()
        .unwrap_or_else(|e| panic!("sample value {s:?}: {e}"))
}

/// How to install the client binaries (Debian's packages).
const INSTALL: &str = "apt-get install -y --no-install-recommends prometheus \
                       victoria-metrics prometheus-node-exporter";

/// Where a client binary is; `None` after a `SKIPPED:` line when it is not
/// installed (a failure under `STRATA_REQUIRE_ALL=1`).
fn which(name: &str) -> Option<PathBuf> {
    require::program(name, INSTALL)
}

// ------------------------------------------------------------ processes

/// `strata serve` from this build, on a free port with a fresh data dir.
fn start_strata(dir: &Path) -> (Proc, String) {
    start_strata_at("strata", dir, &dir.join("strata-data"), &[])
}

/// node-exporter with a few fast collectors (CPU, memory, load, network,
/// disks, filesystems).
fn start_node_exporter(dir: &Path, bin: &Path) -> (Proc, String) {
    start_server("node-exporter", bin, dir, "/metrics", |port| {
        [
            format!("--web.listen-address=127.0.0.1:{port}"),
            "--collector.disable-defaults".into(),
            "--collector.cpu".into(),
            "--collector.meminfo".into(),
            "--collector.loadavg".into(),
            "--collector.netdev".into(),
            "--collector.diskstats".into(),
            "--collector.filesystem".into(),
            "--collector.stat".into(),
        ]
        .into()
    })
}

fn run(program: &Path, args: &[&str]) -> (ExitStatus, String, String) {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

// ---------------------------------------------------------------- HTTP

/// A Prometheus API call (GET): its `data`, after checking the answer is a
/// 200 with `"status": "success"`.
fn api(addr: &str, path: &str, params: &[(&str, &str)]) -> Value {
    let target = with_params(path, params);
    let (status, body) = http(addr, "GET", &target, &[], b"")
        .unwrap_or_else(|e| panic!("GET http://{addr}{target}: {e}"));
    let body = String::from_utf8_lossy(&body);
    assert_eq!(status, 200, "GET http://{addr}{target}: {body}");
    let v: Value = serde_json::from_str(&body)
        .unwrap_or_else(|e| panic!("GET http://{addr}{target}: {e}: {body}"));
    assert_eq!(v["status"], "success", "GET http://{addr}{target}: {body}");
    v["data"].clone()
}

/// An instant query's vector: labels to value.
fn instant(addr: &str, query: &str, time_ms: i64) -> BTreeMap<Labels, f64> {
    let data = api(
        addr,
        "/api/v1/query",
        &[("query", query), ("time", &secs(time_ms))],
    );
    assert_eq!(data["resultType"], "vector", "{query}: {data}");
    data["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (labels(&s["metric"]), value(&s["value"][1])))
        .collect()
}

/// An instant vector as a one-point matrix at `t`.
fn as_matrix(v: BTreeMap<Labels, f64>, t: i64) -> Matrix {
    v.into_iter().map(|(l, x)| (l, vec![(t, x)])).collect()
}

/// Raw samples of a range selector (`x[1m]`) at `time_ms`.
fn raw(addr: &str, selector: &str, time_ms: i64) -> Matrix {
    let data = api(
        addr,
        "/api/v1/query",
        &[("query", selector), ("time", &secs(time_ms))],
    );
    assert_eq!(data["resultType"], "matrix", "{selector}: {data}");
    matrix(&data)
}

fn query_range(addr: &str, query: &str, start: i64, end: i64, step_ms: i64) -> Matrix {
    let step = secs(step_ms);
    let data = api(
        addr,
        "/api/v1/query_range",
        &[
            ("query", query),
            ("start", &secs(start)),
            ("end", &secs(end)),
            ("step", &step),
        ],
    );
    assert_eq!(data["resultType"], "matrix", "{query}: {data}");
    matrix(&data)
}

type Labels = BTreeMap<String, String>;
type Matrix = BTreeMap<Labels, Vec<(i64, f64)>>;

fn labels(metric: &Value) -> Labels {
    metric
        .as_object()
        .unwrap_or_else(|| panic!("not a label set: {metric}"))
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect()
}

fn matrix(data: &Value) -> Matrix {
    data["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let points = s["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| (ts_ms(&p[0]), value(&p[1])))
                .collect();
            (labels(&s["metric"]), points)
        })
        .collect()
}

fn show(l: &Labels) -> String {
    let name = l.get("__name__").cloned().unwrap_or_default();
    let rest: Vec<String> = l
        .iter()
        .filter(|(k, _)| *k != "__name__")
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect();
    format!("{name}{{{}}}", rest.join(", "))
}

fn lbl(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Equal within 1e-9 relative; NaN equals NaN.
fn close(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

/// Compares two matrices series by series, point by point; the number of
/// points compared, or what differs.
fn compare(want: &Matrix, got: &Matrix) -> Result<usize, String> {
    let mut diffs = Vec::new();
    for l in want.keys().filter(|l| !got.contains_key(*l)) {
        diffs.push(format!("series only in Prometheus' answer: {}", show(l)));
    }
    for l in got.keys().filter(|l| !want.contains_key(*l)) {
        diffs.push(format!("series only in Strata's answer: {}", show(l)));
    }
    let mut points = 0;
    for (l, w) in want {
        let Some(g) = got.get(l) else { continue };
        let wt: Vec<i64> = w.iter().map(|p| p.0).collect();
        let gt: Vec<i64> = g.iter().map(|p| p.0).collect();
        if wt != gt {
            diffs.push(format!(
                "{}: timestamps differ: Prometheus {wt:?}, Strata {gt:?}",
                show(l)
            ));
            continue;
        }
        for (&(t, a), &(_, b)) in w.iter().zip(g) {
            points += 1;
            if !close(a, b) {
                diffs.push(format!(
                    "{} at {}: Prometheus {a:?}, Strata {b:?}",
                    show(l),
                    secs(t)
                ));
            }
        }
    }
    if diffs.is_empty() {
        Ok(points)
    } else {
        diffs.truncate(12);
        Err(diffs.join("\n  "))
    }
}

/// Polls `check` every 250 ms until it returns `Ok`, for at most `secs`
/// seconds; panics with the last `Err`.
fn eventually<T>(what: &str, secs: u64, mut check: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        match check() {
            Ok(v) => return v,
            Err(e) if Instant::now() >= deadline => {
                panic!("{what}: still not true after {secs} s: {e}")
            }
            Err(_) => sleep_ms(250),
        }
    }
}

// ------------------------------------------------------------ remote_write

fn series(pairs: &[(&str, &str)], samples: &[(i64, f64)]) -> TimeSeries {
    TimeSeries {
        labels: pairs
            .iter()
            .map(|(n, v)| Label {
                name: (*n).into(),
                value: (*v).into(),
            })
            .collect(),
        samples: samples
            .iter()
            .map(|&(t, v)| Sample {
                value: v,
                timestamp: t,
            })
            .collect(),
    }
}

fn remote_write(addr: &str, timeseries: Vec<TimeSeries>) {
    let body = encode(&WriteRequest {
        timeseries,
        metadata: vec![],
    });
    let (status, resp) = http(
        addr,
        "POST",
        "/api/v1/write",
        &[
            ("Content-Encoding", "snappy"),
            ("Content-Type", "application/x-protobuf"),
            ("X-Prometheus-Remote-Write-Version", "0.1.0"),
        ],
        &body,
    )
    .unwrap();
    assert_eq!(
        status,
        204,
        "remote_write to {addr}: {}",
        String::from_utf8_lossy(&resp)
    );
}

/// Prometheus' staleness marker.
fn stale_nan() -> f64 {
    f64::from_bits(0x7ff0_0000_0000_0002)
}

// ------------------------------------------------------------ stub server

/// A tiny HTTP server: `GET /metrics` answers `metrics` (a scrape target),
/// anything else 200 `{}` (an Alertmanager); requests are recorded.
struct Stub {
    addr: String,
    seen: Arc<Mutex<Vec<(String, String)>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Stub {
    fn start(metrics: &'static str) -> Stub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen2, stop2) = (Arc::clone(&seen), Arc::clone(&stop));
        let thread = thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(mut c) = conn {
                    let _ = Self::serve(&mut c, metrics, &seen2);
                }
            }
        });
        Stub {
            addr,
            seen,
            stop,
            thread: Some(thread),
        }
    }

    fn serve(
        c: &mut TcpStream,
        metrics: &str,
        seen: &Mutex<Vec<(String, String)>>,
    ) -> std::io::Result<()> {
        c.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut buf = Vec::new();
        let mut tmp = [0u8; 8192];
        let end = loop {
            let n = c.read(&mut tmp)?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&tmp[..n]);
            if let Some(i) = find(&buf, b"\r\n\r\n") {
                break i;
            }
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        let len: usize = head
            .lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.trim().parse().ok())
            .unwrap_or(0);
        while buf.len() < end + 4 + len {
            let n = c.read(&mut tmp)?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&tmp[..n]);
        }
        let body = String::from_utf8_lossy(&buf[end + 4..]).into_owned();
        let mut first = head.lines().next().unwrap_or("").split(' ');
        let method = first.next().unwrap_or("").to_owned();
        let path = first.next().unwrap_or("").to_owned();
        seen.lock()
            .unwrap()
            .push((format!("{method} {path}"), body));
        let (ctype, resp) = if method == "GET" && path.starts_with("/metrics") {
            ("text/plain; version=0.0.4", metrics)
        } else {
            ("application/json", "{}")
        };
        write!(
            c,
            "HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{resp}",
            resp.len()
        )
    }

    fn requests(&self) -> Vec<(String, String)> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Stub {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(&self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// ------------------------------------------------------------------ tests

/// Dashboard queries whose answers Strata must give exactly like Prometheus.
const DASHBOARD: &[&str] = &[
    "up",
    "node_memory_MemAvailable_bytes",
    "rate(node_cpu_seconds_total[5s])",
    "sum by (mode) (rate(node_cpu_seconds_total[5s]))",
    "1 - avg by (instance) (rate(node_cpu_seconds_total{mode=\"idle\"}[10s]))",
    "sum by (cpu) (rate(node_cpu_seconds_total{mode=~\"user|system|idle|iowait\", mode!=\"idle\"}[5s]))",
    "topk(3, node_cpu_seconds_total)",
    "histogram_quantile(0.9, sum by (le) (rate(prometheus_http_request_duration_seconds_bucket[10s])))",
    "irate(node_network_receive_bytes_total[5s])",
    "increase(prometheus_http_requests_total{handler=\"/metrics\"}[10s])",
    "max_over_time(node_load1[10s])",
    "deriv(node_memory_MemFree_bytes[10s])",
    "scrape_duration_seconds{job=~\"node|prom.*\"} / scrape_samples_scraped",
    "count by (job) ({__name__=~\"up|scrape_.+\", job!=\"\"})",
    "node_filesystem_avail_bytes / node_filesystem_size_bytes",
    // Every series arrived: series per job and per metric name.
    "count by (job) ({job=~\".+\"})",
    "count by (__name__) ({job=\"node\"})",
];

/// Longest range in `DASHBOARD`.
const MAX_WINDOW_MS: i64 = 10_000;

/// a. Prometheus scrapes node-exporter and itself every second and
/// remote-writes to Strata; for a range that ends a few seconds ago, Strata's
/// `query_range` answers to dashboard queries equal Prometheus' own.
#[test]
fn prometheus_remote_write_answers_like_prometheus() {
    let Some(prometheus) = which("prometheus") else {
        return;
    };
    let Some(node_exporter) = which("prometheus-node-exporter") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (_strata, strata) = start_strata(dir.path());
    let (_node, node) = start_node_exporter(dir.path(), &node_exporter);
    let config = dir.path().join("prometheus.yml");
    let tsdb = dir.path().join("prometheus-data");
    let (_prom, prom) = start_server("prometheus", &prometheus, dir.path(), "/-/ready", |port| {
        let yml = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n\
             \x20 - job_name: prometheus\n    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n\
             \x20 - job_name: node\n    static_configs: [{{targets: ['{node}']}}]\n\
             remote_write:\n\
             \x20 - url: http://{strata}/api/v1/write\n\
             \x20   queue_config: {{batch_send_deadline: 1s, max_samples_per_send: 2000, \
             min_backoff: 100ms, max_backoff: 1s}}\n"
        );
        std::fs::write(&config, yml).unwrap();
        vec![
            format!("--config.file={}", config.display()),
            format!("--storage.tsdb.path={}", tsdb.display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
        ]
    });
    // From here on Prometheus' own API is not called until the compared range
    // is fixed: each new handler is a new `prometheus_http_*` series, and a
    // counter born inside a rate window is where Prometheus 2 and 3 (Strata
    // follows 3) extrapolate differently.

    // The first scrapes of both jobs, as they arrived in Strata.
    let first = eventually("both jobs' `up` reach Strata", 60, || {
        let m = raw(&strata, "up[5m]", now_ms());
        let jobs: BTreeSet<&str> = m
            .keys()
            .filter_map(|l| l.get("job"))
            .map(String::as_str)
            .collect();
        if jobs.len() == 2 {
            Ok(m.values().map(|v| v[0].0).max().unwrap())
        } else {
            Err(format!("jobs so far: {jobs:?}"))
        }
    });

    // A warm-up, then 20 one-second steps.
    const STEPS: i64 = 20;
    let start_min = first + MAX_WINDOW_MS + 2_000;
    let ready_at = start_min + STEPS * 1_000 + 4_000;
    let wait = ready_at - now_ms();
    if wait > 0 {
        sleep_ms(u64::try_from(wait).unwrap());
    }

    // Range windows are left-open in Prometheus 3 (Strata) and closed in
    // Prometheus 2 (the Debian package): keep every window boundary (which
    // falls on start + k*1s) off every scrape timestamp, as far as possible
    // (timestamps have millisecond precision, so 1 ms suffices).
    let ups = raw(&strata, "up[5m]", now_ms());
    let residues: BTreeSet<i64> = ups
        .values()
        .flatten()
        .filter(|p| p.0 >= start_min - MAX_WINDOW_MS - 1_000)
        .map(|p| p.0.rem_euclid(1000))
        .collect();
    let (gap, phase) = (0..1000)
        .map(|c: i64| {
            let d = residues
                .iter()
                .map(|r| (c - r).rem_euclid(1000).min((r - c).rem_euclid(1000)))
                .min()
                .unwrap();
            (d, c)
        })
        .max()
        .unwrap();
    assert!(
        gap >= 1,
        "scrape timestamps leave no free millisecond: residues {residues:?}"
    );
    let now = now_ms();
    let mut end = now - now.rem_euclid(1000) + phase;
    while end > now - 3_000 {
        end -= 1_000;
    }
    let start = end - STEPS * 1_000;
    assert!(start >= start_min, "start {start} < {start_min}");

    // remote_write has caught up when every target has a sample 2 s past the end.
    eventually("remote_write catches up past the range end", 30, || {
        let m = raw(&strata, "up[30s]", now_ms());
        let lag: Vec<String> = m
            .iter()
            .filter(|(_, v)| v.last().is_none_or(|p| p.0 < end + 2_000))
            .map(|(l, _)| show(l))
            .collect();
        if m.len() == 2 && lag.is_empty() {
            Ok(())
        } else {
            Err(format!("{} series; behind: {lag:?}", m.len()))
        }
    });

    let mut failures = Vec::new();
    let mut summary = Vec::new();
    for q in DASHBOARD {
        // A late remote_write batch shows as a difference that goes away:
        // compare up to three times.
        let mut outcome = Err(String::new());
        for attempt in 0..3 {
            if attempt > 0 {
                sleep_ms(2_000);
            }
            let want = query_range(&prom, q, start, end, 1_000);
            let got = query_range(&strata, q, start, end, 1_000);
            // The same query as a stat panel asks it: instant, at the end.
            let want_now = as_matrix(instant(&prom, q, end), end);
            let got_now = as_matrix(instant(&strata, q, end), end);
            outcome = if want.is_empty() || want_now.is_empty() {
                Err("Prometheus' own answer is empty: the query tests nothing".into())
            } else {
                compare(&want, &got)
                    .map_err(|e| format!("query_range: {e}"))
                    .and_then(|points| {
                        compare(&want_now, &got_now)
                            .map_err(|e| format!("instant query at the end: {e}"))
                            .map(|_| (want.len(), points))
                    })
            };
            if outcome.is_ok() {
                break;
            }
        }
        match outcome {
            Ok((n, points)) => summary.push(format!("{n:3} series {points:4} points  {q}")),
            Err(e) => failures.push(format!("{q}\n  {e}")),
        }
    }
    eprintln!(
        "range {}..{} step 1s (and instant at the end):\n{}",
        secs(start),
        secs(end),
        summary.join("\n")
    );
    assert!(
        failures.is_empty(),
        "Strata's query_range differs from Prometheus' over {}..{} (step 1s):\n{}",
        secs(start),
        secs(end),
        failures.join("\n")
    );

    // And Prometheus saw no failed or dropped remote_write sample.
    let t = now_ms();
    let sent = instant(&prom, "sum(prometheus_remote_storage_samples_total)", t);
    assert!(
        sent.values().any(|&v| v > 1_000.0),
        "Prometheus reports no samples sent: {sent:?}"
    );
    for bad in [
        "prometheus_remote_storage_samples_failed_total",
        "prometheus_remote_storage_samples_dropped_total",
        "prometheus_remote_storage_samples_retried_total",
    ] {
        let v = instant(&prom, &format!("sum({bad})"), t);
        assert!(v.values().all(|&v| v == 0.0), "{bad}: {v:?}");
    }
}

/// What the static target of the vmagent test exposes.
const STATIC_METRICS: &str = r#"# HELP strata_static_gauge Values that must arrive bit-exact.
# TYPE strata_static_gauge gauge
strata_static_gauge{case="plain"} 42
strata_static_gauge{case="negative"} -1.5
strata_static_gauge{case="fraction"} 0.1
strata_static_gauge{case="big"} 1.7976931348623157e+308
strata_static_gauge{case="small"} 2.5e-300
strata_static_gauge{case="pinf"} +Inf
strata_static_gauge{case="ninf"} -Inf
strata_static_gauge{case="nan"} NaN
strata_static_gauge{case="escapes",v="a\"b\\c\nd"} 1
strata_static_gauge{case="utf8",v="zürich ☃ 東京"} 2
strata_static_gauge{case="empty",v=""} 3
# TYPE strata_static_total counter
strata_static_total 12345
# TYPE strata_static_seconds histogram
strata_static_seconds_bucket{le="0.1"} 1
strata_static_seconds_bucket{le="1"} 3
strata_static_seconds_bucket{le="+Inf"} 4
strata_static_seconds_sum 2.5
strata_static_seconds_count 4
# TYPE strata_static_summary summary
strata_static_summary{quantile="0.5"} 0.2
strata_static_summary_sum 1
strata_static_summary_count 5
"#;

/// A metric name, its labels and its value.
type Row = (&'static str, &'static [(&'static str, &'static str)], f64);

/// The series of `STATIC_METRICS` as a store must hold them (an empty label
/// value is no label).
fn static_expected(instance: &str) -> BTreeMap<Labels, f64> {
    let rows: &[Row] = &[
        ("strata_static_gauge", &[("case", "plain")], 42.0),
        ("strata_static_gauge", &[("case", "negative")], -1.5),
        ("strata_static_gauge", &[("case", "fraction")], 0.1),
        ("strata_static_gauge", &[("case", "big")], f64::MAX),
        ("strata_static_gauge", &[("case", "small")], 2.5e-300),
        ("strata_static_gauge", &[("case", "pinf")], f64::INFINITY),
        (
            "strata_static_gauge",
            &[("case", "ninf")],
            f64::NEG_INFINITY,
        ),
        ("strata_static_gauge", &[("case", "nan")], f64::NAN),
        (
            "strata_static_gauge",
            &[("case", "escapes"), ("v", "a\"b\\c\nd")],
            1.0,
        ),
        (
            "strata_static_gauge",
            &[("case", "utf8"), ("v", "zürich ☃ 東京")],
            2.0,
        ),
        ("strata_static_gauge", &[("case", "empty")], 3.0),
        ("strata_static_total", &[], 12345.0),
        ("strata_static_seconds_bucket", &[("le", "0.1")], 1.0),
        ("strata_static_seconds_bucket", &[("le", "1")], 3.0),
        ("strata_static_seconds_bucket", &[("le", "+Inf")], 4.0),
        ("strata_static_seconds_sum", &[], 2.5),
        ("strata_static_seconds_count", &[], 4.0),
        ("strata_static_summary", &[("quantile", "0.5")], 0.2),
        ("strata_static_summary_sum", &[], 1.0),
        ("strata_static_summary_count", &[], 5.0),
    ];
    rows.iter()
        .map(|(name, pairs, v)| {
            let mut l = lbl(pairs);
            l.insert("__name__".into(), (*name).into());
            l.insert("job".into(), "static".into());
            l.insert("instance".into(), instance.into());
            (l, *v)
        })
        .collect()
}

/// b. vmagent scrapes node-exporter and a static target every second and
/// remote-writes to Strata: every sample of every scrape arrives, and the
/// static target's series arrive with their exact labels and values.
#[test]
fn vmagent_remote_write_arrives_complete() {
    let Some(vmagent) = which("vmagent") else {
        return;
    };
    let Some(node_exporter) = which("prometheus-node-exporter") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (_strata, strata) = start_strata(dir.path());
    let (_node, node) = start_node_exporter(dir.path(), &node_exporter);
    let target = Stub::start(STATIC_METRICS);
    let config = dir.path().join("scrape.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
             scrape_configs:\n\
             \x20 - job_name: node\n    static_configs: [{{targets: ['{node}']}}]\n\
             \x20 - job_name: static\n    static_configs: [{{targets: ['{}']}}]\n",
            target.addr
        ),
    )
    .unwrap();
    let queue = dir.path().join("vmagent-data");
    let (_vmagent, vmagent_addr) =
        start_server("vmagent", &vmagent, dir.path(), "/health", |port| {
            vec![
                format!("-promscrape.config={}", config.display()),
                format!("-remoteWrite.url=http://{strata}/api/v1/write"),
                format!("-remoteWrite.tmpDataPath={}", queue.display()),
                "-remoteWrite.flushInterval=200ms".into(),
                format!("-httpListenAddr=127.0.0.1:{port}"),
            ]
        });

    // Eight scrapes of node-exporter in Strata.
    let scrapes = eventually("8 node-exporter scrapes reach Strata", 60, || {
        let m = raw(
            &strata,
            "scrape_samples_scraped{job=\"node\"}[5m]",
            now_ms(),
        );
        let points = m.values().next().cloned().unwrap_or_default();
        if points.len() >= 8 {
            Ok(points)
        } else {
            Err(format!("{} scrapes", points.len()))
        }
    });

    // Every scrape is complete: as many series have a sample at the scrape's
    // timestamp as vmagent says it scraped (`[1ms]` holds exactly that
    // timestamp: range windows are left-open).
    let settled = now_ms() - 3_000;
    let mut checked = 0;
    for &(t, scraped) in scrapes.iter().filter(|p| p.0 <= settled) {
        // A scrape that timed out (a loaded machine) has `up` 0 and no samples.
        let want_up = if scraped > 0.0 { 1.0 } else { 0.0 };
        eventually(
            &format!("scrape at {} complete in Strata", secs(t)),
            15,
            || {
                let q = "count(count_over_time({job=\"node\", __name__!~\"up|scrape_.+\"}[1ms]))";
                let n = instant(&strata, q, t)
                    .values()
                    .next()
                    .copied()
                    .unwrap_or(0.0);
                let up = instant(&strata, "up{job=\"node\"}", t);
                if n == scraped && up.values().eq([&want_up]) {
                    Ok(())
                } else {
                    Err(format!("{n} of {scraped} samples, up = {up:?}"))
                }
            },
        );
        if scraped > 0.0 {
            assert!(
                scraped > 50.0,
                "node-exporter scrape at {} had only {scraped} samples",
                secs(t)
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 5,
        "only {checked} settled successful scrapes to check"
    );

    // The static target: exactly its series, with their values, bit for bit.
    let want = static_expected(&target.addr);
    let selector = "{job=\"static\", __name__!~\"up|scrape_.+\"}";
    let got = eventually("the static target's series in Strata", 15, || {
        let got = instant(&strata, selector, now_ms());
        if got.len() == want.len() {
            Ok(got)
        } else {
            Err(format!("{} of {} series", got.len(), want.len()))
        }
    });
    let wk: Vec<String> = want.keys().map(show).collect();
    let gk: Vec<String> = got.keys().map(show).collect();
    assert_eq!(gk, wk, "static target: series differ");
    for (l, w) in &want {
        let g = got[l];
        assert!(
            (w.is_nan() && g.is_nan()) || w.to_bits() == g.to_bits(),
            "{}: scraped {w:?}, Strata has {g:?}",
            show(l)
        );
    }
    let series = api(&strata, "/api/v1/series", &[("match[]", selector)]);
    let listed: BTreeSet<Labels> = series.as_array().unwrap().iter().map(labels).collect();
    assert_eq!(
        listed,
        want.keys().cloned().collect::<BTreeSet<_>>(),
        "/api/v1/series for the static target"
    );

    // vmagent itself saw no failed request and dropped nothing.
    let (status, body) = http(&vmagent_addr, "GET", "/metrics", &[], b"").unwrap();
    assert_eq!(status, 200);
    let text = String::from_utf8_lossy(&body);
    let mut ok_requests = 0.0;
    for line in text.lines() {
        let Some((name, v)) = line.rsplit_once(' ') else {
            continue;
        };
        let v: f64 = v.parse().unwrap_or(0.0);
        if name.starts_with("vmagent_remotewrite_requests_total") {
            assert!(
                name.contains("status_code=\"2XX\"") || v == 0.0,
                "vmagent: {line}"
            );
            ok_requests += v;
        }
        if name.starts_with("vmagent_remotewrite_packets_dropped_total")
            || name.starts_with("vmagent_remotewrite_retries_count_total")
        {
            assert!(v == 0.0, "vmagent: {line}");
        }
    }
    assert!(ok_requests > 0.0, "vmagent sent no request:\n{text}");
}

/// c. promtool's query commands against Strata: instant, range, series,
/// labels, JSON output, and a query error.
#[test]
fn promtool_queries_strata() {
    let Some(promtool) = which("promtool") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (_strata, strata) = start_strata(dir.path());
    let url = format!("http://{strata}");
    // Whole seconds, so promtool prints `@[t]` without decimals.
    let base = (now_ms() / 1000 - 120) * 1000;
    let times: Vec<i64> = (0..7).map(|i| base + i * 10_000).collect();
    let prod: Vec<(i64, f64)> = times
        .iter()
        .zip(1..)
        .map(|(&t, v)| (t, f64::from(v)))
        .collect();
    let dev: Vec<(i64, f64)> = times.iter().map(|&t| (t, 0.5)).collect();
    remote_write(
        &strata,
        vec![
            series(
                &[
                    ("__name__", "promtool_demo"),
                    ("env", "prod"),
                    ("instance", "a"),
                ],
                &prod,
            ),
            series(
                &[
                    ("__name__", "promtool_demo"),
                    ("env", "dev"),
                    ("instance", "b"),
                ],
                &dev,
            ),
        ],
    );
    let t_end = (base + 60_000) / 1000;
    let promtool_ok = |args: &[&str]| -> String {
        let (status, out, err) = run(&promtool, args);
        assert!(
            status.success(),
            "promtool {args:?}: {status}\nstdout: {out}\nstderr: {err}"
        );
        out
    };

    let out = promtool_ok(&[
        "query",
        "instant",
        &format!("--time={t_end}"),
        &url,
        "promtool_demo",
    ]);
    for line in [
        format!("promtool_demo{{env=\"dev\", instance=\"b\"}} => 0.5 @[{t_end}]"),
        format!("promtool_demo{{env=\"prod\", instance=\"a\"}} => 7 @[{t_end}]"),
    ] {
        assert!(
            out.lines().any(|l| l == line),
            "promtool query instant: no line {line:?} in:\n{out}"
        );
    }
    assert_eq!(out.lines().count(), 2, "promtool query instant:\n{out}");

    let out = promtool_ok(&[
        "query",
        "range",
        &format!("--start={}", base / 1000),
        &format!("--end={t_end}"),
        "--step=20s",
        &url,
        "sum by (env) (promtool_demo)",
    ]);
    let b = base / 1000;
    for block in [
        format!(
            "{{env=\"prod\"}} =>\n1 @[{b}]\n3 @[{}]\n5 @[{}]\n7 @[{}]\n",
            b + 20,
            b + 40,
            b + 60
        ),
        format!(
            "{{env=\"dev\"}} =>\n0.5 @[{b}]\n0.5 @[{}]\n0.5 @[{}]\n0.5 @[{}]\n",
            b + 20,
            b + 40,
            b + 60
        ),
    ] {
        assert!(
            out.contains(&block),
            "promtool query range: no\n{block}in:\n{out}"
        );
    }

    let out = promtool_ok(&["query", "series", "--match=promtool_demo", &url]);
    let lines: BTreeSet<&str> = out.lines().collect();
    assert_eq!(
        lines,
        BTreeSet::from([
            "{__name__=\"promtool_demo\", env=\"dev\", instance=\"b\"}",
            "{__name__=\"promtool_demo\", env=\"prod\", instance=\"a\"}",
        ]),
        "promtool query series:\n{out}"
    );

    let out = promtool_ok(&["query", "labels", &url, "env"]);
    assert_eq!(out, "dev\nprod\n", "promtool query labels env");
    let out = promtool_ok(&[
        "query",
        "labels",
        "--match=promtool_demo{env=\"prod\"}",
        &url,
        "instance",
    ]);
    assert_eq!(out, "a\n", "promtool query labels --match");

    let out = promtool_ok(&[
        "query",
        "instant",
        "-o",
        "json",
        &format!("--time={t_end}"),
        &url,
        "promtool_demo{env=\"prod\"} * 2",
    ]);
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(
        v[0]["metric"],
        serde_json::json!({"env": "prod", "instance": "a"}),
        "{out}"
    );
    assert_eq!(v[0]["value"][1], "14", "{out}");

    let (status, out, err) = run(
        &promtool,
        &["query", "instant", &url, "rate(promtool_demo)"],
    );
    assert!(!status.success(), "a bad query succeeded: {out}");
    assert!(
        err.contains("expected type range vector"),
        "promtool should print Strata's parse error: {err}"
    );
}

/// d. vmalert evaluates a recording rule and alerting rules against Strata
/// and writes the results back to it.
#[test]
fn vmalert_rules_against_strata() {
    let Some(vmalert) = which("vmalert") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (_strata, strata) = start_strata(dir.path());
    let alertmanager = Stub::start("");
    let t0 = now_ms();
    let at = [t0 - 20_000, t0 - 5_000];
    let input = |job: &str, instance: &str, v: f64| {
        series(
            &[
                ("__name__", "vmalert_input"),
                ("job", job),
                ("instance", instance),
            ],
            &at.map(|t| (t, v)),
        )
    };
    remote_write(
        &strata,
        vec![
            input("a", "x", 3.0),
            input("a", "y", 4.0),
            input("b", "z", 10.0),
        ],
    );
    let rules = dir.path().join("rules.yml");
    std::fs::write(
        &rules,
        "groups:\n\
         \x20 - name: strata\n    interval: 1s\n    rules:\n\
         \x20     - record: job:vmalert_input:sum\n        expr: sum by (job) (vmalert_input)\n\
         \x20     - alert: InputHigh\n        expr: vmalert_input > 5\n        for: 1s\n\
         \x20       labels: {severity: page}\n\
         \x20       annotations: {summary: 'input is {{ $value }}'}\n\
         \x20     - alert: NeverFires\n        expr: vmalert_input > 100\n",
    )
    .unwrap();
    let (_vmalert, _) = start_server("vmalert", &vmalert, dir.path(), "/health", |port| {
        vec![
            format!("-rule={}", rules.display()),
            format!("-datasource.url=http://{strata}"),
            format!("-remoteWrite.url=http://{strata}"),
            "-remoteWrite.flushInterval=200ms".into(),
            format!("-notifier.url=http://{}", alertmanager.addr),
            "-evaluationInterval=1s".into(),
            format!("-httpListenAddr=127.0.0.1:{port}"),
        ]
    });

    let recorded = eventually("the recording rule's series in Strata", 30, || {
        let got = instant(&strata, "job:vmalert_input:sum", now_ms());
        if got.len() == 2 {
            Ok(got)
        } else {
            Err(format!("{got:?}"))
        }
    });
    assert_eq!(
        recorded,
        BTreeMap::from([
            (
                lbl(&[("__name__", "job:vmalert_input:sum"), ("job", "a")]),
                7.0
            ),
            (
                lbl(&[("__name__", "job:vmalert_input:sum"), ("job", "b")]),
                10.0
            ),
        ])
    );

    let firing = eventually("a firing ALERTS series in Strata", 30, || {
        let got = instant(
            &strata,
            "ALERTS{alertname=\"InputHigh\", alertstate=\"firing\"}",
            now_ms(),
        );
        if got.is_empty() {
            Err("none yet".into())
        } else {
            Ok(got)
        }
    });
    assert_eq!(firing.len(), 1, "{firing:?}");
    let (l, v) = firing.iter().next().unwrap();
    for (k, want) in [
        ("job", "b"),
        ("instance", "z"),
        ("severity", "page"),
        ("__name__", "ALERTS"),
    ] {
        assert_eq!(
            l.get(k).map(String::as_str),
            Some(want),
            "label {k} of {}",
            show(l)
        );
    }
    assert_eq!(*v, 1.0);

    let for_state = eventually("ALERTS_FOR_STATE in Strata", 30, || {
        let got = instant(
            &strata,
            "ALERTS_FOR_STATE{alertname=\"InputHigh\"}",
            now_ms(),
        );
        if got.is_empty() {
            Err("none yet".into())
        } else {
            Ok(got)
        }
    });
    assert_eq!(for_state.len(), 1, "{for_state:?}");
    let (l, active_at) = for_state.iter().next().unwrap();
    assert_eq!(
        l.get("instance").map(String::as_str),
        Some("z"),
        "{}",
        show(l)
    );
    let (lo, hi) = ((t0 / 1000 - 1) as f64, (now_ms() / 1000 + 1) as f64);
    assert!(
        (lo..=hi).contains(active_at),
        "ALERTS_FOR_STATE = {active_at}, want the activation time in {lo}..{hi}"
    );

    let never = instant(&strata, "ALERTS{alertname=\"NeverFires\"}", now_ms());
    assert!(never.is_empty(), "NeverFires: {never:?}");

    eventually("vmalert notifies the alertmanager", 30, || {
        let reqs = alertmanager.requests();
        if reqs
            .iter()
            .any(|(r, body)| r.starts_with("POST /api/v2/alerts") && body.contains("InputHigh"))
        {
            Ok(())
        } else {
            Err(format!("{reqs:?}"))
        }
    });
}

/// e. Prometheus with an empty TSDB and Strata as `remote_read` answers with
/// data that exists only in Strata.
#[test]
fn prometheus_remote_read_from_strata() {
    let Some(prometheus) = which("prometheus") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (_strata, strata) = start_strata(dir.path());
    let base = (now_ms() / 1000 - 150) * 1000;
    let at = |i: i32| base + i64::from(i) * 15_000;
    let counter: Vec<(i64, f64)> = (0..9).map(|i| (at(i), f64::from(i * 10))).collect();
    let constant: Vec<(i64, f64)> = (0..9).map(|i| (at(i), 1.5)).collect();
    remote_write(
        &strata,
        vec![
            series(
                &[("__name__", "rr_metric"), ("src", "strata"), ("n", "1")],
                &counter,
            ),
            series(
                &[("__name__", "rr_metric"), ("src", "strata"), ("n", "2")],
                &constant,
            ),
            series(
                &[("__name__", "rr_stale")],
                &[
                    (base, 1.0),
                    (base + 15_000, 2.0),
                    (base + 30_000, stale_nan()),
                ],
            ),
        ],
    );
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1m\n\
             remote_read:\n  - url: http://{strata}/api/v1/read\n    read_recent: true\n"
        ),
    )
    .unwrap();
    let tsdb = dir.path().join("prometheus-data");
    let (_prom, prom) = start_server("prometheus", &prometheus, dir.path(), "/-/ready", |port| {
        vec![
            format!("--config.file={}", config.display()),
            format!("--storage.tsdb.path={}", tsdb.display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
        ]
    });

    let t = base + 120_000;
    let got = instant(&prom, "rr_metric", t);
    assert_eq!(
        got,
        BTreeMap::from([
            (
                lbl(&[("__name__", "rr_metric"), ("src", "strata"), ("n", "1")]),
                80.0
            ),
            (
                lbl(&[("__name__", "rr_metric"), ("src", "strata"), ("n", "2")]),
                1.5
            ),
        ]),
        "Prometheus' answer through remote_read"
    );
    // Every matcher type goes through the read request.
    let got = instant(
        &prom,
        "rr_metric{n=~\"1|3\", src!=\"other\", n!~\"2\", src=\"strata\"}",
        t,
    );
    assert_eq!(got.len(), 1, "{got:?}");
    // Staleness markers come back as stored and end the series.
    let got = instant(&prom, "rr_stale", base + 20_000);
    assert_eq!(got.values().copied().collect::<Vec<_>>(), [2.0]);
    let got = instant(&prom, "rr_stale", base + 40_000);
    assert!(
        got.is_empty(),
        "rr_stale after its staleness marker: {got:?}"
    );
    // A range query computed by Prometheus over remote data equals Strata's
    // own answer (evaluation times between samples, where the window
    // semantics of Prometheus 2 and 3 agree).
    let (start, end) = (base + 67_500, base + 127_500);
    let q = "rate(rr_metric[1m]) + on(n) group_left sum by (n) (rr_metric)";
    let want = query_range(&prom, q, start, end, 15_000);
    let have = query_range(&strata, q, start, end, 15_000);
    assert_eq!(want.len(), 2, "{want:?}");
    compare(&want, &have).unwrap_or_else(|e| panic!("{q}: {e}"));
    let rate = query_range(&prom, "rate(rr_metric{n=\"1\"}[1m])", start, end, 15_000);
    for &(_, v) in rate.values().flatten() {
        assert!(
            (v - 10.0 / 15.0).abs() < 1e-9,
            "rate {v}, want 2/3: {rate:?}"
        );
    }
}
