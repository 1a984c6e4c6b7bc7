//! Overload (issue 7, point 4).
//!
//! `strata serve --max-concurrent-requests=2 --max-queue-wait=100ms
//! --max-request-bytes=128KiB --max-samples-per-query=50000
//! --query-timeout=500ms`, then:
//!
//! 1. 16 writers and 16 readers (32 client threads on a 2-core machine) for
//!    3 s: every answer is a success or a quick refusal (writes 503, reads
//!    429, each within 2 s), the limits do refuse some, every acknowledged
//!    write is stored, `/metrics` counts the refusals, and the server's RSS
//!    stays under a bound;
//! 2. load drops: every request succeeds again, also at the limit (2
//!    writers and 2 readers at once); a body over the limit gets 413;
//! 3. queries of death (a huge range at a 1 s step, every series of a high
//!    cardinality over an hour, a deep nested subquery) are stopped by the
//!    limits (400, 422, 503 timeout) in bounded time, while remote_write
//!    keeps going: every write meanwhile gets a 2xx.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use strata_server::formats::remote_write::{Label, Sample, TimeSeries};

use crate::process::{
    Proc, export, http_timeout, now_ms, post_write, secs, sleep_ms, start_strata_at, with_params,
    write_body,
};

const MAX_REQUEST_BYTES: usize = 128 << 10;
const MAX_SAMPLES: usize = 50_000;
const QUERY_TIMEOUT_MS: u64 = 500;
/// Series of the high-cardinality metric.
const CARD_SERIES: usize = 5_000;
/// Samples per series of it (over the last hour).
const CARD_SAMPLES: i64 = 12;
const LOAD_WRITERS: usize = 16;
const LOAD_READERS: usize = 16;
/// Series per load writer, samples per series per batch.
const LOAD_SERIES: usize = 15;
const LOAD_PER_BATCH: i64 = 1000;
/// A refusal must come back within this.
const REFUSAL_BOUND: Duration = Duration::from_secs(2);
/// How long the overload lasts.
const LOAD_MS: u64 = 3_000;

fn label(name: &str, value: &str) -> Label {
    Label {
        name: name.into(),
        value: value.into(),
    }
}

fn load_value(w: usize, s: usize, t: i64) -> f64 {
    (w * 1_000_000 + s * 1_000) as f64 + (t.rem_euclid(1_000_000) as f64) / 4.0
}

/// Load writer `w`'s batch `i`: `LOAD_SERIES` series, `LOAD_PER_BATCH`
/// samples each, 1 s apart, batch after batch.
fn load_batch(base: i64, w: usize, i: u64) -> Vec<u8> {
    write_body(
        (0..LOAD_SERIES)
            .map(|s| TimeSeries {
                labels: vec![
                    label("__name__", "overload_test"),
                    label("series", &s.to_string()),
                    label("writer", &w.to_string()),
                ],
                samples: (0..LOAD_PER_BATCH)
                    .map(|j| {
                        let t = base + (i as i64 * LOAD_PER_BATCH + j) * 1000;
                        Sample {
                            value: load_value(w, s, t),
                            timestamp: t,
                        }
                    })
                    .collect(),
            })
            .collect(),
    )
}

/// One request's outcome.
#[derive(Debug, Clone)]
struct Outcome {
    write: bool,
    status: u16,
    latency: Duration,
    detail: String,
}

fn get(addr: &str, target: &str) -> (u16, String, Duration) {
    let t0 = Instant::now();
    match http_timeout(addr, "GET", target, &[], b"", Duration::from_secs(60)) {
        Ok((status, body)) => (
            status,
            String::from_utf8_lossy(&body).into_owned(),
            t0.elapsed(),
        ),
        Err(e) => (0, format!("connection error: {e}"), t0.elapsed()),
    }
}

fn write(addr: &str, body: &[u8]) -> (u16, String, Duration) {
    let t0 = Instant::now();
    match post_write(addr, body, Duration::from_secs(60)) {
        Ok((status, resp)) => (
            status,
            String::from_utf8_lossy(&resp).into_owned(),
            t0.elapsed(),
        ),
        Err(e) => (0, format!("connection error: {e}"), t0.elapsed()),
    }
}

/// The read requests the load readers cycle through.
fn read_targets(now: i64) -> Vec<String> {
    let range = |q: &str| {
        with_params(
            "/api/v1/query_range",
            &[
                ("query", q),
                ("start", &secs(now - 3_600_000)),
                ("end", &secs(now)),
                ("step", &secs(60_000)),
            ],
        )
    };
    vec![
        range("sum by (writer) (count_over_time(overload_test[10m]))"),
        range("sum(rate(card_test{i=~\"1.*\"}[5m]))"),
        with_params(
            "/api/v1/query",
            &[("query", "count(card_test)"), ("time", &secs(now))],
        ),
        with_params("/api/v1/series", &[("match[]", "card_test{i=~\"2.*\"}")]),
        with_params("/api/v1/export", &[("match[]", "card_test")]),
    ]
}

/// Samples `VmRSS` of `pid` every 20 ms until `stop`; the peak in KiB.
fn rss_sampler(pid: u32, stop: Arc<AtomicBool>, peak: Arc<AtomicU64>) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        while !stop.load(Ordering::SeqCst) {
            if let Some(kib) = crate::process::proc_status_kib(pid, "VmRSS:") {
                peak.fetch_max(kib, Ordering::SeqCst);
            }
            sleep_ms(20);
        }
    })
}

fn refused_metric(addr: &str) -> u64 {
    let (status, text, _) = get(addr, "/metrics");
    assert_eq!(status, 200, "/metrics: {text}");
    text.lines()
        .filter(|l| l.starts_with("strata_requests_refused"))
        .filter_map(|l| l.split_whitespace().nth(1))
        .filter_map(|v| v.parse::<f64>().ok())
        .sum::<f64>() as u64
}

#[test]
fn overload_is_refused_quickly_bounded_and_recovers() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let max_bytes = MAX_REQUEST_BYTES.to_string();
    let max_samples = MAX_SAMPLES.to_string();
    let timeout = format!("{QUERY_TIMEOUT_MS}ms");
    let (server, addr) = start_strata_at(
        "strata",
        dir.path(),
        &data,
        &[
            "--max-concurrent-requests=2",
            "--max-queue-wait=100ms",
            "--max-request-bytes",
            &max_bytes,
            "--max-samples-per-query",
            &max_samples,
            "--query-timeout",
            &timeout,
        ],
    );
    let server: &Proc = &server;
    let now = now_ms() / 1000 * 1000;

    // ---- setup: a high-cardinality metric, in requests under the limit.
    let per_request = 250;
    for chunk in 0..CARD_SERIES / per_request {
        let body = write_body(
            (chunk * per_request..(chunk + 1) * per_request)
                .map(|i| TimeSeries {
                    labels: vec![
                        label("__name__", "card_test"),
                        label("i", &i.to_string()),
                        label("job", "cardinality"),
                    ],
                    samples: (0..CARD_SAMPLES)
                        .map(|j| Sample {
                            value: (i as i64 * 100 + j) as f64,
                            timestamp: now - 3_600_000 + j * 300_000,
                        })
                        .collect(),
                })
                .collect(),
        );
        assert!(body.len() <= MAX_REQUEST_BYTES, "{} bytes", body.len());
        let (status, text, _) = write(&addr, &body);
        assert_eq!(status, 204, "setup write: {text}");
    }
    sleep_ms(300);
    let rss_idle = server.rss_kib().unwrap();

    // ---- 1. overload
    let peak = Arc::new(AtomicU64::new(0));
    let stop_rss = Arc::new(AtomicBool::new(false));
    let sampler = rss_sampler(server.pid(), stop_rss.clone(), peak.clone());
    let outcomes: Arc<Mutex<Vec<Outcome>>> = Arc::default();
    let acked: Arc<Mutex<Vec<(usize, u64)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let load_base = now - 24 * 3_600_000;
    let mut threads = Vec::new();
    for w in 0..LOAD_WRITERS {
        let (addr, outcomes, acked, stop) =
            (addr.clone(), outcomes.clone(), acked.clone(), stop.clone());
        threads.push(thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(Ordering::SeqCst) {
                let body = load_batch(load_base, w, i);
                assert!(body.len() <= MAX_REQUEST_BYTES, "{} bytes", body.len());
                let (status, detail, latency) = write(&addr, &body);
                if (200..300).contains(&status) {
                    acked.lock().unwrap().push((w, i));
                }
                outcomes.lock().unwrap().push(Outcome {
                    write: true,
                    status,
                    latency,
                    detail,
                });
                i += 1;
            }
        }));
    }
    let targets = read_targets(now);
    for r in 0..LOAD_READERS {
        let (addr, outcomes, stop, targets) = (
            addr.clone(),
            outcomes.clone(),
            stop.clone(),
            targets.clone(),
        );
        threads.push(thread::spawn(move || {
            let mut k = r;
            while !stop.load(Ordering::SeqCst) {
                let (status, detail, latency) = get(&addr, &targets[k % targets.len()]);
                outcomes.lock().unwrap().push(Outcome {
                    write: false,
                    status,
                    latency,
                    detail,
                });
                k += 1;
            }
        }));
    }
    sleep_ms(LOAD_MS);
    stop.store(true, Ordering::SeqCst);
    for t in threads.drain(..) {
        t.join().unwrap();
    }
    let load = std::mem::take(&mut *outcomes.lock().unwrap());
    let peak_load = peak.load(Ordering::SeqCst);

    let mut by_status: BTreeMap<(&str, u16), u64> = BTreeMap::new();
    let mut unexpected = Vec::new();
    let mut slow_refusals = Vec::new();
    let mut max_refusal = Duration::ZERO;
    for o in &load {
        let kind = if o.write { "write" } else { "read" };
        *by_status.entry((kind, o.status)).or_default() += 1;
        let (ok, refused) = if o.write { (204, 503) } else { (200, 429) };
        if o.status == refused {
            max_refusal = max_refusal.max(o.latency);
            if o.latency > REFUSAL_BOUND {
                slow_refusals.push(format!("{kind} refused after {:?}", o.latency));
            }
        } else if o.status != ok {
            unexpected.push(format!("{kind}: {} {}", o.status, o.detail));
        }
    }
    let count = |k: &str, s: u16| by_status.get(&(k, s)).copied().unwrap_or(0);
    let (writes_ok, writes_refused) = (count("write", 204), count("write", 503));
    let (reads_ok, reads_refused) = (count("read", 200), count("read", 429));
    eprintln!(
        "overload: {} requests in {LOAD_MS} ms from {LOAD_WRITERS} writers + {LOAD_READERS} readers: \
         {by_status:?}; slowest refusal {max_refusal:?}",
        load.len()
    );
    assert!(
        unexpected.is_empty(),
        "answers other than success or refusal under load:\n{}",
        unexpected[..unexpected.len().min(10)].join("\n")
    );
    assert!(
        slow_refusals.is_empty(),
        "refusals slower than {REFUSAL_BOUND:?}:\n{}",
        slow_refusals[..slow_refusals.len().min(10)].join("\n")
    );
    assert!(
        writes_refused > 0 && reads_refused > 0,
        "the concurrency limit refused nothing ({writes_refused} writes, {reads_refused} reads)"
    );
    assert!(
        writes_ok > 0 && reads_ok > 0,
        "nothing got through under load ({writes_ok} writes, {reads_ok} reads)"
    );
    let refused_counted = refused_metric(&addr);
    assert!(
        refused_counted >= writes_refused + reads_refused,
        "/metrics counts {refused_counted} refused requests, the clients saw {}",
        writes_refused + reads_refused
    );

    // ---- 2. load drops: everything succeeds, also at the limit.
    let mut recovery: BTreeMap<(&str, u16), u64> = BTreeMap::new();
    // (Writers of each phase have their own ids: 100.. here, 200.. at the
    // limit, 300.. during the queries of death.)
    for k in 0..10u64 {
        let w = 100 + (k % 2) as usize;
        let i = k / 2;
        let (status, text, _) = write(&addr, &load_batch(load_base, w, i));
        assert_eq!(status, 204, "write after the load dropped: {text}");
        acked.lock().unwrap().push((w, i));
        *recovery.entry(("write", status)).or_default() += 1;
        let (status, text, _) = get(&addr, &targets[k as usize % targets.len()]);
        assert_eq!(status, 200, "read after the load dropped: {text}");
        *recovery.entry(("read", status)).or_default() += 1;
    }
    // Two writers and two readers at once: within the limits, nothing is
    // refused.
    let at_limit: Arc<Mutex<Vec<Outcome>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    for w in 200..202usize {
        let (addr, out, acked, stop) =
            (addr.clone(), at_limit.clone(), acked.clone(), stop.clone());
        let mut i = 0;
        threads.push(thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let (status, detail, latency) = write(&addr, &load_batch(load_base, w, i));
                if status == 204 {
                    acked.lock().unwrap().push((w, i));
                }
                out.lock().unwrap().push(Outcome {
                    write: true,
                    status,
                    latency,
                    detail,
                });
                i += 1;
            }
        }));
    }
    for r in 0..2usize {
        let (addr, out, stop, targets) = (
            addr.clone(),
            at_limit.clone(),
            stop.clone(),
            targets.clone(),
        );
        threads.push(thread::spawn(move || {
            let mut k = r;
            while !stop.load(Ordering::SeqCst) {
                let (status, detail, latency) = get(&addr, &targets[k % targets.len()]);
                out.lock().unwrap().push(Outcome {
                    write: false,
                    status,
                    latency,
                    detail,
                });
                k += 1;
            }
        }));
    }
    sleep_ms(1_000);
    stop.store(true, Ordering::SeqCst);
    for t in threads.drain(..) {
        t.join().unwrap();
    }
    let at_limit = std::mem::take(&mut *at_limit.lock().unwrap());
    for o in &at_limit {
        let kind = if o.write { "write" } else { "read" };
        *recovery.entry((kind, o.status)).or_default() += 1;
    }
    let failed: Vec<String> = at_limit
        .iter()
        .filter(|o| o.status != if o.write { 204 } else { 200 })
        .map(|o| format!("{} {}", o.status, o.detail))
        .collect();
    assert!(
        failed.is_empty(),
        "requests within the limits (2 writers, 2 readers) failed after the load dropped:\n{}",
        failed[..failed.len().min(10)].join("\n")
    );
    eprintln!("overload: after the load dropped: {recovery:?}");
    // A body over --max-request-bytes: 413, quickly.
    let huge: Vec<u8> = (0..MAX_REQUEST_BYTES + 4096)
        .map(|i| (i * 7919 % 251) as u8)
        .collect();
    let (status, text, latency) = write(&addr, &huge);
    assert!(
        status == 413 && latency < REFUSAL_BOUND,
        "a {} byte body: {status} after {latency:?}: {text}",
        huge.len()
    );

    // Every write acknowledged so far is stored, exactly.
    let acked_now: Vec<(usize, u64)> = acked.lock().unwrap().clone();
    let stored: BTreeMap<(usize, usize), BTreeMap<i64, f64>> =
        export(&addr, "{__name__=\"overload_test\"}")
            .into_iter()
            .map(|(l, pts)| {
                (
                    (l["writer"].parse().unwrap(), l["series"].parse().unwrap()),
                    pts.into_iter().collect(),
                )
            })
            .collect();
    let mut missing = 0;
    for &(w, i) in &acked_now {
        for s in 0..LOAD_SERIES {
            for j in 0..LOAD_PER_BATCH {
                let t = load_base + (i as i64 * LOAD_PER_BATCH + j) * 1000;
                if stored
                    .get(&(w, s))
                    .and_then(|m| m.get(&t))
                    .map(|v| v.to_bits())
                    != Some(load_value(w, s, t).to_bits())
                {
                    missing += 1;
                }
            }
        }
    }
    assert_eq!(
        missing, 0,
        "{missing} acknowledged samples missing or wrong after the overload"
    );
    let acked_samples = acked_now.len() * LOAD_SERIES * LOAD_PER_BATCH as usize;

    // ---- 3. queries of death, with remote_write going on.
    let qod_writes: Arc<Mutex<Vec<Outcome>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    for w in 300..302usize {
        let (addr, out, stop) = (addr.clone(), qod_writes.clone(), stop.clone());
        let mut i = 0;
        threads.push(thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let (status, detail, latency) = write(&addr, &load_batch(load_base, w, i));
                out.lock().unwrap().push(Outcome {
                    write: true,
                    status,
                    latency,
                    detail,
                });
                i += 1;
                sleep_ms(10);
            }
        }));
    }
    let qod_started = Instant::now();
    let deep = "stddev_over_time(stddev_over_time(stddev_over_time(vector(time())[150m:1s])[150m:1s])[150m:1s])";
    let queries_of_death: Vec<(&str, String, u16, &str, &str, Duration)> = vec![
        (
            "huge range, 1 s step",
            with_params(
                "/api/v1/query_range",
                &[
                    ("query", "sum(rate(overload_test[5m]))"),
                    ("start", &secs(now - 30 * 86_400_000)),
                    ("end", &secs(now)),
                    ("step", "1"),
                ],
            ),
            400,
            "bad_data",
            "11,000 points",
            Duration::from_secs(2),
        ),
        (
            "every series, an hour at 15 s",
            with_params(
                "/api/v1/query_range",
                &[
                    ("query", "{__name__=~\".+\"}"),
                    ("start", &secs(now - 3_600_000)),
                    ("end", &secs(now)),
                    ("step", "15"),
                ],
            ),
            422,
            "execution",
            "too many samples",
            Duration::from_secs(10),
        ),
        (
            "every raw sample of every series",
            with_params(
                "/api/v1/query",
                &[("query", "{__name__=~\".+\"}[2h]"), ("time", &secs(now))],
            ),
            422,
            "execution",
            "too many samples",
            Duration::from_secs(10),
        ),
        (
            "deep nested subquery",
            with_params("/api/v1/query", &[("query", deep), ("time", &secs(now))]),
            503,
            "timeout",
            "timed out",
            Duration::from_millis(QUERY_TIMEOUT_MS + 1_000),
        ),
    ];
    let mut qod_report = Vec::new();
    let mut qod_failures = Vec::new();
    for (what, target, want_status, want_type, want_text, bound) in &queries_of_death {
        // Two at once: both read slots busy with queries of death.
        let pair: Vec<_> = (0..2)
            .map(|_| {
                let (addr, target) = (addr.clone(), target.clone());
                thread::spawn(move || get(&addr, &target))
            })
            .collect();
        for h in pair {
            let (status, text, latency) = h.join().unwrap();
            let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            qod_report.push(format!("{what}: {status} in {latency:?}"));
            if status != *want_status
                || v["errorType"] != *want_type
                || !text.contains(want_text)
                || latency > *bound
            {
                qod_failures.push(format!(
                    "{what}: want {want_status} {want_type} ({want_text:?}) within {bound:?}, \
                     got {status} after {latency:?}: {}",
                    text.chars().take(300).collect::<String>()
                ));
            }
        }
    }
    let qod_elapsed = qod_started.elapsed();
    stop.store(true, Ordering::SeqCst);
    for t in threads.drain(..) {
        t.join().unwrap();
    }
    stop_rss.store(true, Ordering::SeqCst);
    sampler.join().unwrap();
    let peak_all = peak.load(Ordering::SeqCst);
    let qod_writes = std::mem::take(&mut *qod_writes.lock().unwrap());
    let qod_writes_ok = qod_writes.iter().filter(|o| o.status == 204).count();
    let slowest_qod_write = qod_writes
        .iter()
        .map(|o| o.latency)
        .max()
        .unwrap_or_default();
    eprintln!(
        "overload: queries of death in {qod_elapsed:?}: {qod_report:?}; writes meanwhile: \
         {qod_writes_ok}/{} got 204 (slowest {slowest_qod_write:?})",
        qod_writes.len()
    );

    // ---- memory bound
    // What the limits let in at once: 2 writes (a 128 KiB body, at most 8x
    // that decoded, 15,000 samples in an appender: ~3 MiB) and 2 reads (at
    // most 50,000 samples of ~16 bytes, plus their JSON: ~8 MiB); refused
    // and queued requests hold only connection buffers (their bodies wait
    // in the socket): 32 x 64 KiB = 2 MiB. Round that up to 16 MiB. Then
    // the head grows with every acknowledged sample: this build's RSS grows
    // by ~25-30 bytes per stored sample (chunks, series, indexes); allow 48.
    // Plus 64 MiB of allocator slack and thread stacks. Without the limits
    // 32 requests would run at once, and the queries of death would hold
    // their whole results.
    let qod_samples = qod_writes_ok * LOAD_SERIES * LOAD_PER_BATCH as usize;
    let head_kib = (acked_samples + qod_samples) as u64 * 48 / 1024;
    let bound_kib = rss_idle + 16 * 1024 + head_kib + 64 * 1024;
    let wall = started.elapsed().as_secs_f64();
    eprintln!(
        "overload: RSS idle {} MiB, peak under load {} MiB, peak overall {} MiB, bound {} MiB \
         ({acked_samples} samples acknowledged); {wall:.1} s",
        rss_idle / 1024,
        peak_load / 1024,
        peak_all / 1024,
        bound_kib / 1024
    );
    assert!(
        peak_all <= bound_kib,
        "RSS peaked at {peak_all} KiB, over the bound of {bound_kib} KiB"
    );
    assert_eq!(
        qod_writes_ok,
        qod_writes.len(),
        "writes failed during the queries of death: {:?}",
        qod_writes
            .iter()
            .filter(|o| o.status != 204)
            .map(|o| format!("{} {}", o.status, o.detail))
            .take(5)
            .collect::<Vec<_>>()
    );
    assert!(
        qod_writes_ok >= 5,
        "only {qod_writes_ok} writes went through during the queries of death"
    );
    assert!(
        qod_failures.is_empty(),
        "queries of death not stopped as they should be:\n{}",
        qod_failures.join("\n")
    );
}

/// `/api/v1/export` streams its answer after the handler returns: the read
/// slot must be held until the body is sent, or any number of exports
/// stream at once, whatever `--max-concurrent-requests` says.
#[test]
fn export_holds_its_read_slot_until_streamed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (_server, addr) = start_strata_at(
        "strata",
        dir.path(),
        &data,
        &["--max-concurrent-requests=2", "--max-queue-wait=100ms"],
    );
    // 200 series x 5,000 samples: an export that takes a while to stream.
    let now = now_ms() / 1000 * 1000;
    for chunk in 0..10 {
        let mut body = String::new();
        for s in chunk * 20..(chunk + 1) * 20 {
            let ts: Vec<String> = (0..5_000)
                .map(|i| (now - 86_400_000 + i * 15_000).to_string())
                .collect();
            let vs: Vec<String> = (0..5_000).map(|i| format!("{i}.5")).collect();
            body.push_str(&format!(
                "{{\"metric\":{{\"__name__\":\"export_test\",\"s\":\"{s}\"}},\"values\":[{}],\"timestamps\":[{}]}}\n",
                vs.join(","),
                ts.join(",")
            ));
        }
        let (status, resp) = http_timeout(
            &addr,
            "POST",
            "/api/v1/import",
            &[],
            body.as_bytes(),
            Duration::from_secs(60),
        )
        .unwrap();
        assert_eq!(status, 204, "{}", String::from_utf8_lossy(&resp));
    }
    let target = with_params("/api/v1/export", &[("match[]", "export_test")]);
    let alone = get(&addr, &target);
    assert_eq!(
        alone.0,
        200,
        "{}",
        alone.1.chars().take(200).collect::<String>()
    );
    let lines = alone.1.lines().count();
    assert_eq!(lines, 200);
    // Six at once, two slots, 100 ms of queue: two stream, four are refused.
    let clients: Vec<_> = (0..6)
        .map(|_| {
            let (addr, target) = (addr.clone(), target.clone());
            thread::spawn(move || {
                let (status, _, latency) = get(&addr, &target);
                (status, latency)
            })
        })
        .collect();
    let got: Vec<(u16, Duration)> = clients.into_iter().map(|h| h.join().unwrap()).collect();
    let refused = got.iter().filter(|g| g.0 == 429).count();
    let streamed = got.iter().filter(|g| g.0 == 200).count();
    eprintln!(
        "overload: one export alone took {:?}; six at once: {got:?}",
        alone.2
    );
    assert_eq!(
        refused + streamed,
        6,
        "exports answered other than 200 or 429: {got:?}"
    );
    assert!(
        alone.2 > Duration::from_millis(150),
        "an export alone takes only {:?}: too quick to tell whether the limit holds",
        alone.2
    );
    assert!(
        streamed <= 3,
        "{streamed} exports streamed at once with --max-concurrent-requests=2 \
         (an export alone takes {:?}): the read slot is released before the body is sent; {got:?}",
        alone.2
    );
}
