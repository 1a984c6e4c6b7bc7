//! Crash safety through the server (issue 7, point 1).
//!
//! The real `strata` binary is killed with SIGKILL at random moments while
//! four writers send remote_write batches, a reader runs instant and range
//! queries whose answers are checked, and a maintenance thread keeps
//! calling `/internal/force_flush` and `/internal/force_merge` (some kills
//! are aimed right after such a call, so they land during a head cut or a
//! compaction). After each kill the server is restarted on the same data
//! directory; it must get ready every time. At the end it is killed and
//! restarted once more, and `/api/v1/export` must return every sample ever
//! acknowledged with a 2xx, with its exact value, and no sample anywhere
//! with a wrong value or a timestamp that was never sent.
//!
//! Durability model: the server runs with the default `--wal-fsync=1s`.
//! A 2xx means the batch is in the WAL in the kernel's page cache, and
//! SIGKILL of the process does not lose the page cache, so nothing
//! acknowledged may be lost here even though most of it was never fsynced.
//! (Power loss is a different matter: that is what `--wal-fsync=always` is
//! for, and what this test does not simulate.)
//!
//! `STRATA_CRASH_KILLS` (default 20) sets the number of kills for longer
//! soak runs, `STRATA_CRASH_SEED` replays a run (the seed is printed), and
//! `STRATA_CRASH_NO_CUTS=1` leaves out the flush/merge calls (to tell WAL
//! replay problems from head cut and compaction ones).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use strata_server::formats::remote_write::{Label, Sample, TimeSeries};

use crate::process::{
    Rng, export, http, http_timeout, mix, now_ms, post_write, secs, sleep_ms, start_strata_at,
    with_params, write_body,
};

const METRIC: &str = "crash_test";
const WRITERS: usize = 4;
const SERIES_PER_WRITER: usize = 5;
/// Samples per series per batch.
const PER_BATCH: i64 = 20;
/// Distance between a series' samples.
const STEP_MS: i64 = 15_000;

/// The value of writer `w`'s series `s` at `t`: recomputable exactly.
/// Half the samples are integers (counter-like), half use the whole
/// mantissa (the hard case for XOR compression).
fn expected(w: usize, s: usize, t: i64) -> f64 {
    let h = mix(((w * 1000 + s) as u64) ^ (t as u64).rotate_left(17));
    if h & 1 == 0 {
        ((h >> 12) % 1_000_000) as f64
    } else {
        (h >> 11) as f64 / (1u64 << 53) as f64 * 1e6
    }
}

/// Timestamp of sample `j` of batch `i`.
fn ts(base: i64, i: u64, j: i64) -> i64 {
    base + (i as i64 * PER_BATCH + j) * STEP_MS
}

fn batch(base: i64, w: usize, i: u64) -> Vec<u8> {
    let timeseries = (0..SERIES_PER_WRITER)
        .map(|s| {
            let samples: Vec<(i64, f64)> = (0..PER_BATCH)
                .map(|j| {
                    let t = ts(base, i, j);
                    (t, expected(w, s, t))
                })
                .collect();
            crate::api::series(
                METRIC,
                &[("series", &s.to_string()), ("writer", &w.to_string())],
                &samples,
            )
        })
        .collect();
    write_body(timeseries)
}

/// What one writer did.
#[derive(Debug, Default)]
struct WriterLog {
    /// Batches answered with a 2xx, in the order acknowledged.
    acked: Vec<u64>,
    /// Batches whose fate is unknown (in flight at a kill, then given up).
    unknown: BTreeSet<u64>,
    /// Batches sent at least once: `0..sent`.
    sent: u64,
    /// Attempts that got a 5xx or a broken connection.
    failed_attempts: u64,
}

/// State shared by the test's threads.
#[derive(Debug)]
struct Shared {
    base: i64,
    /// Address of the running server.
    addr: RwLock<String>,
    stop: AtomicBool,
    writers: Vec<Mutex<WriterLog>>,
    /// Anything that must fail the test, gathered from every thread.
    errors: Mutex<Vec<String>>,
    queries_checked: AtomicU64,
    queries_unavailable: AtomicU64,
    flushes_ok: AtomicU64,
    merges_ok: AtomicU64,
}

impl Shared {
    fn addr(&self) -> String {
        self.addr.read().unwrap().clone()
    }

    fn error(&self, e: String) {
        eprintln!("crash_server: ERROR {e}");
        let mut errors = self.errors.lock().unwrap();
        if errors.len() < 200 {
            errors.push(e);
        }
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}

/// Writer `w`: batch after batch of increasing timestamps. Even writers
/// retry a failed batch until it is acknowledged (as Prometheus does), odd
/// writers give up on it and go on with the next (its fate stays unknown).
fn writer(sh: &Shared, w: usize) {
    let retries = w.is_multiple_of(2);
    let mut i: u64 = 0;
    while !sh.stopped() {
        let body = batch(sh.base, w, i);
        sh.writers[w].lock().unwrap().sent = i + 1;
        loop {
            let addr = sh.addr();
            match post_write(&addr, &body, Duration::from_secs(30)) {
                Ok((status, _)) if (200..300).contains(&status) => {
                    let mut log = sh.writers[w].lock().unwrap();
                    log.acked.push(i);
                    log.unknown.remove(&i);
                    break;
                }
                Ok((status, resp)) if status < 500 => {
                    // A 4xx says the data will never be accepted: wrong.
                    sh.error(format!(
                        "writer {w} batch {i}: {status} {}",
                        String::from_utf8_lossy(&resp)
                    ));
                    sh.writers[w].lock().unwrap().unknown.insert(i);
                    break;
                }
                _ => {
                    // 5xx or a broken connection (the server was killed, or
                    // is starting): the batch may or may not be stored.
                    let mut log = sh.writers[w].lock().unwrap();
                    log.failed_attempts += 1;
                    log.unknown.insert(i);
                    drop(log);
                    if !retries || sh.stopped() {
                        break;
                    }
                    sleep_ms(10);
                }
            }
        }
        i += 1;
        sleep_ms(2);
    }
}

/// Instant and range queries on acknowledged data; each answer that comes
/// back 200 must hold exactly the expected values.
fn querier(sh: &Shared, seed: u64) {
    let mut rng = Rng::new(seed);
    while !sh.stopped() {
        sleep_ms(rng.range(5, 40));
        let w = rng.range(0, WRITERS as u64) as usize;
        let s = rng.range(0, SERIES_PER_WRITER as u64) as usize;
        let i = {
            let log = sh.writers[w].lock().unwrap();
            if log.acked.is_empty() {
                continue;
            }
            log.acked[rng.range(0, log.acked.len() as u64) as usize]
        };
        let selector = format!("{METRIC}{{writer=\"{w}\",series=\"{s}\"}}");
        let addr = sh.addr();
        let range = rng.next_u64().is_multiple_of(2);
        let (target, want): (String, Vec<(i64, f64)>) = if range {
            let (start, end) = (ts(sh.base, i, 0), ts(sh.base, i, PER_BATCH - 1));
            let want = (0..PER_BATCH)
                .map(|j| {
                    let t = ts(sh.base, i, j);
                    (t, expected(w, s, t))
                })
                .collect();
            (
                with_params(
                    "/api/v1/query_range",
                    &[
                        ("query", &selector),
                        ("start", &secs(start)),
                        ("end", &secs(end)),
                        ("step", &secs(STEP_MS)),
                    ],
                ),
                want,
            )
        } else {
            let t = ts(sh.base, i, rng.range(0, PER_BATCH as u64) as i64);
            (
                with_params("/api/v1/query", &[("query", &selector), ("time", &secs(t))]),
                vec![(t, expected(w, s, t))],
            )
        };
        match http_timeout(&addr, "GET", &target, &[], b"", Duration::from_secs(30)) {
            Ok((200, body)) => match check_query(&body, range, &want) {
                Ok(()) => {
                    sh.queries_checked.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => sh.error(format!(
                    "query {target} (writer {w} series {s} batch {i}, acknowledged): {e}"
                )),
            },
            Ok((503, _)) | Ok((429, _)) | Err(_) => {
                sh.queries_unavailable.fetch_add(1, Ordering::Relaxed);
            }
            Ok((status, body)) => sh.error(format!(
                "query {target}: {status} {}",
                String::from_utf8_lossy(&body)
            )),
        }
    }
}

/// Checks a query answer holds one series with exactly `want`.
fn check_query(body: &[u8], range: bool, want: &[(i64, f64)]) -> Result<(), String> {
    let text = String::from_utf8_lossy(body);
    let v: Value = serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))?;
    let result = v["data"]["result"]
        .as_array()
        .ok_or_else(|| format!("no result: {text}"))?;
    if result.len() != 1 {
        return Err(format!("{} series instead of 1: {text}", result.len()));
    }
    let points: Vec<&Value> = if range {
        result[0]["values"]
            .as_array()
            .ok_or_else(|| format!("no values: {text}"))?
            .iter()
            .collect()
    } else {
        vec![&result[0]["value"]]
    };
    let got: Vec<(i64, f64)> = points
        .iter()
        .map(|p| {
            let t = (p[0].as_f64().unwrap_or(f64::NAN) * 1000.0).round() as i64;
            let x: f64 = p[1]
                .as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or(f64::NAN);
            (t, x)
        })
        .collect();
    let same = got.len() == want.len()
        && got
            .iter()
            .zip(want)
            .all(|(g, w)| g.0 == w.0 && g.1.to_bits() == w.1.to_bits());
    if same {
        Ok(())
    } else {
        Err(format!("want {want:?}, got {got:?}"))
    }
}

/// Keeps the server busy cutting its head into blocks and compacting.
fn maintainer(sh: &Shared, seed: u64) {
    let mut rng = Rng::new(seed);
    while !sh.stopped() {
        for (path, counter) in [
            ("/internal/force_flush", &sh.flushes_ok),
            ("/internal/force_merge", &sh.merges_ok),
        ] {
            sleep_ms(rng.range(20, 250));
            let addr = sh.addr();
            match http_timeout(&addr, "GET", path, &[], b"", Duration::from_secs(60)) {
                Ok((200, _)) => {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
                Ok((503, body)) if String::from_utf8_lossy(&body).contains("opening") => {}
                Err(_) => {}
                Ok((status, body)) => sh.error(format!(
                    "{path}: {status} {}",
                    String::from_utf8_lossy(&body)
                )),
            }
        }
    }
}

#[test]
fn sigkill_loses_no_acknowledged_sample() {
    let started = Instant::now();
    let kills: usize = std::env::var("STRATA_CRASH_KILLS")
        .ok()
        .map(|s| s.parse().expect("STRATA_CRASH_KILLS is a number"))
        .unwrap_or(20);
    let seed = Rng::seed_from_env("STRATA_CRASH_SEED");
    // Diagnostics: WAL replay alone, without head cuts and compactions.
    let cuts = std::env::var_os("STRATA_CRASH_NO_CUTS").is_none();
    eprintln!(
        "crash_server: seed {seed} (STRATA_CRASH_SEED={seed} replays the schedule), {kills} kills"
    );
    let mut rng = Rng::new(seed);
    let dir = tempfile::Builder::new()
        .prefix("strata-crash-")
        .tempdir()
        .unwrap();
    let data = dir.path().join("data");
    // 60 days ago (well inside the 90-day retention), on a 2 h boundary:
    // the timestamps run ahead of real time, so the data spans many block
    // ranges and head cuts and compactions have work to do.
    let day = 86_400_000;
    let base = (now_ms() - 60 * day).div_euclid(7_200_000) * 7_200_000;

    let mut generation = 0usize;
    let (mut server, addr) = start_strata_at("strata-0", dir.path(), &data, &[]);
    let sh = Arc::new(Shared {
        base,
        addr: RwLock::new(addr),
        stop: AtomicBool::new(false),
        writers: (0..WRITERS).map(|_| Mutex::default()).collect(),
        errors: Mutex::default(),
        queries_checked: AtomicU64::new(0),
        queries_unavailable: AtomicU64::new(0),
        flushes_ok: AtomicU64::new(0),
        merges_ok: AtomicU64::new(0),
    });
    // Stops the test's threads if the test panics half-way.
    struct StopOnDrop(Arc<Shared>);
    impl Drop for StopOnDrop {
        fn drop(&mut self) {
            self.0.stop.store(true, Ordering::SeqCst);
        }
    }
    let _stop_guard = StopOnDrop(sh.clone());
    let mut threads = Vec::new();
    for w in 0..WRITERS {
        let sh = sh.clone();
        threads.push(thread::spawn(move || writer(&sh, w)));
    }
    {
        let (sh, s) = (sh.clone(), rng.next_u64());
        threads.push(thread::spawn(move || querier(&sh, s)));
    }
    let maintainer_seed = rng.next_u64();
    if cuts {
        let sh = sh.clone();
        threads.push(thread::spawn(move || maintainer(&sh, maintainer_seed)));
    }

    let mut restart_ms: Vec<u128> = Vec::new();
    let mut aimed = [0usize; 2]; // kills right after force_flush / force_merge
    let mut landed = [0usize; 2]; // ... that were still running at the kill
    let mut damage_reports = 0usize;
    let mut lost_series_reports: Vec<String> = Vec::new();
    for k in 0..=kills {
        let last = k == kills;
        if last {
            // Quiesce: no more writes in flight, then one more SIGKILL.
            sh.stop.store(true, Ordering::SeqCst);
            for t in threads.drain(..) {
                t.join().expect("a test thread panicked");
            }
        } else {
            sleep_ms(rng.range(150, 1200));
        }
        // Aim some kills at a head cut or a compaction in progress.
        let aim = if last || !cuts { 2 } else { rng.range(0, 3) };
        let in_flight = if aim < 2 {
            let path = ["/internal/force_flush", "/internal/force_merge"][aim as usize];
            let addr = sh.addr();
            let h = thread::spawn(move || http(&addr, "GET", path, &[], b"").is_ok());
            sleep_ms(rng.range(1, 30));
            Some((aim as usize, h))
        } else {
            None
        };
        let status = server.kill();
        if let Some((a, h)) = in_flight {
            aimed[a] += 1;
            if !h.join().unwrap() {
                landed[a] += 1;
            }
        }
        assert!(
            status.is_some_and(|s| s.code().is_none()),
            "strata was not killed by the signal but exited by itself ({status:?}) before kill {k}:\n{}",
            server.log_tail(30)
        );
        generation += 1;
        let t0 = Instant::now();
        let (next, addr) = start_strata_at(&format!("strata-{generation}"), dir.path(), &data, &[]);
        restart_ms.push(t0.elapsed().as_millis());
        server = next;
        *sh.addr.write().unwrap() = addr;
        let log = server.log_text();
        damage_reports += log.matches("damage found at open").count();
        for line in log.lines().filter(|l| l.contains("whose record was lost")) {
            lost_series_reports.push(format!("restart {generation}: {line}"));
        }
    }
    let addr = sh.addr();

    // ---- verification, on the server restarted after the last kill
    let exported = export(&addr, &format!("{{__name__=\"{METRIC}\"}}"));
    let mut stored: BTreeMap<(usize, usize), BTreeMap<i64, f64>> = BTreeMap::new();
    let mut errors: Vec<String> = sh.errors.lock().unwrap().clone();
    let logs: Vec<WriterLog> = sh
        .writers
        .iter()
        .map(|m| std::mem::take(&mut *m.lock().unwrap()))
        .collect();
    let mut samples_exported = 0u64;
    for (labels, points) in &exported {
        let key = (
            labels.get("writer").and_then(|v| v.parse::<usize>().ok()),
            labels.get("series").and_then(|v| v.parse::<usize>().ok()),
        );
        let (Some(w), Some(s)) = key else {
            errors.push(format!("export has an unknown series {labels:?}"));
            continue;
        };
        if w >= WRITERS || s >= SERIES_PER_WRITER || labels.len() != 3 {
            errors.push(format!("export has an unknown series {labels:?}"));
            continue;
        }
        let series = stored.entry((w, s)).or_default();
        let mut prev = i64::MIN;
        for &(t, v) in points {
            samples_exported += 1;
            if t <= prev {
                errors.push(format!(
                    "writer {w} series {s}: timestamps not increasing at {t} (after {prev})"
                ));
            }
            prev = t;
            let off = t - base;
            let i = off.div_euclid(STEP_MS * PER_BATCH);
            if off < 0 || off % STEP_MS != 0 || i as u64 >= logs[w].sent {
                errors.push(format!(
                    "writer {w} series {s}: sample at {t} = {v} was never sent"
                ));
            } else if v.to_bits() != expected(w, s, t).to_bits() {
                errors.push(format!(
                    "writer {w} series {s}: wrong value at {t}: {v:?}, sent {:?} (batch {i}, {})",
                    expected(w, s, t),
                    if logs[w].acked.contains(&(i as u64)) {
                        "acknowledged"
                    } else {
                        "not acknowledged"
                    }
                ));
            }
            series.insert(t, v);
        }
    }
    let mut acked_samples = 0u64;
    let mut missing: Vec<String> = Vec::new();
    let mut missing_count = 0u64;
    for (w, log) in logs.iter().enumerate() {
        for &i in &log.acked {
            for s in 0..SERIES_PER_WRITER {
                for j in 0..PER_BATCH {
                    acked_samples += 1;
                    let t = ts(base, i, j);
                    if !stored.get(&(w, s)).is_some_and(|m| m.contains_key(&t)) {
                        missing_count += 1;
                        if missing.len() < 10 {
                            missing.push(format!(
                                "writer {w} series {s} t={t} (batch {i}, sample {j})"
                            ));
                        }
                    }
                }
            }
        }
    }
    if missing_count > 0 {
        errors.push(format!(
            "{missing_count} acknowledged samples missing after {} kills; first: {}",
            kills + 1,
            missing.join(", ")
        ));
    }
    // The fate of unknown batches: each may be stored or not; report.
    let (mut unknown_stored, mut unknown_absent, mut unknown_partial) = (0, 0, 0);
    for (w, log) in logs.iter().enumerate() {
        for &i in &log.unknown {
            let present = (0..SERIES_PER_WRITER)
                .flat_map(|s| (0..PER_BATCH).map(move |j| (s, j)))
                .filter(|&(s, j)| {
                    stored
                        .get(&(w, s))
                        .is_some_and(|m| m.contains_key(&ts(base, i, j)))
                })
                .count();
            match present {
                0 => unknown_absent += 1,
                n if n == SERIES_PER_WRITER * PER_BATCH as usize => unknown_stored += 1,
                _ => unknown_partial += 1,
            }
        }
    }
    let acked_batches: usize = logs.iter().map(|l| l.acked.len()).sum();
    let failed_attempts: u64 = logs.iter().map(|l| l.failed_attempts).sum();
    let flushes = sh.flushes_ok.load(Ordering::Relaxed);
    let merges = sh.merges_ok.load(Ordering::Relaxed);
    let checked = sh.queries_checked.load(Ordering::Relaxed);
    restart_ms.sort_unstable();
    let problems = errors.len();
    let kills_done = kills + 1;
    let ready_median = restart_ms[restart_ms.len() / 2];
    let ready_max = restart_ms[restart_ms.len() - 1];
    let unavailable = sh.queries_unavailable.load(Ordering::Relaxed);
    let (flush_landed, flush_aimed, merge_landed, merge_aimed) =
        (landed[0], aimed[0], landed[1], aimed[1]);
    let wall = started.elapsed().as_secs_f64();
    eprintln!(
        "crash_server: seed {seed}: {kills_done} SIGKILLs, {generation} restarts (ready in median \
         {ready_median} ms, max {ready_max} ms); {acked_batches} batches / {acked_samples} samples \
         acknowledged, {missing_count} of them missing; {samples_exported} samples exported; \
         {problems} problems found; {failed_attempts} write attempts failed at kills; unknown \
         batches: {unknown_stored} stored, {unknown_absent} absent, {unknown_partial} partly; \
         {checked} query answers checked ({unavailable} unavailable at kills); {flushes} \
         force_flush and {merges} force_merge done; kills aimed at a flush {flush_landed}/{flush_aimed} \
         and at a merge {merge_landed}/{merge_aimed} landed while it ran; {damage_reports} \
         restarts reported damage at open; {wall:.1} s"
    );
    if !lost_series_reports.is_empty() {
        errors.push(format!(
            "the server reported samples of lost series records at open (acknowledged data dropped at replay):\n  {}",
            lost_series_reports.join("\n  ")
        ));
    }
    assert!(
        acked_batches > 0 && checked > 0,
        "nothing written or checked"
    );
    assert!(
        !cuts || (flushes > 0 && merges > 0),
        "no force_flush or force_merge went through"
    );
    if !errors.is_empty() {
        drop(server);
        let kept = dir.keep();
        let shown = errors.len().min(25);
        panic!(
            "seed {seed} (STRATA_CRASH_SEED={seed}); data dir and server logs kept in {}; \
             {} problems, the first {shown}:\n{}",
            kept.display(),
            errors.len(),
            errors[..shown].join("\n")
        );
    }
}

fn one_series(name: &str, s: &str, t: i64, v: f64) -> TimeSeries {
    TimeSeries {
        labels: vec![
            Label {
                name: "__name__".into(),
                value: name.into(),
            },
            Label {
                name: "s".into(),
                value: s.into(),
            },
        ],
        samples: vec![Sample {
            value: v,
            timestamp: t,
        }],
    }
}

fn write_ok(addr: &str, series: Vec<TimeSeries>) {
    let (status, body) = post_write(addr, &write_body(series), Duration::from_secs(30)).unwrap();
    assert_eq!(status, 204, "{}", String::from_utf8_lossy(&body));
}

/// The exact on-disk state a SIGKILL leaves when it lands during a head
/// cut, after the blocks were written but before the WAL checkpoint: the
/// blocks, every old WAL segment, and the new segment holding what was
/// written meanwhile. The random kills above land there now and then; this
/// builds that state deterministically (by putting back the old segments
/// the checkpoint deleted) and checks that the writes made after the cut
/// survive the restart, to the right series.
#[test]
fn kill_between_head_cut_and_wal_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let wal = data.join("wal");
    let saved = dir.path().join("wal-before-cut");
    let t1 = (now_ms() - 3_600_000) / 1000 * 1000;
    let t2 = t1 + 60_000;
    let name = "cut_race";

    // x and y get series refs 1 and 2.
    let (mut p, addr) = start_strata_at("strata-a", dir.path(), &data, &[]);
    write_ok(
        &addr,
        vec![
            one_series(name, "x", t1, 1.0),
            one_series(name, "y", t1, 2.0),
        ],
    );
    p.kill();

    // The WAL before the head cut (the running server wrote nothing since
    // it opened): its segments are what a crash during the cut leaves.
    let (mut p, addr) = start_strata_at("strata-b", dir.path(), &data, &[]);
    std::fs::create_dir_all(&saved).unwrap();
    for e in std::fs::read_dir(&wal).unwrap().flatten() {
        if e.path().is_file() {
            std::fs::copy(e.path(), saved.join(e.file_name())).unwrap();
        }
    }
    let (status, body) = http(&addr, "GET", "/internal/force_flush", &[], b"").unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    // The cut emptied the head: y then x come back as new series.
    write_ok(&addr, vec![one_series(name, "y", t2, 4.0)]);
    write_ok(&addr, vec![one_series(name, "x", t2, 3.0)]);
    let before_kill = export(&addr, &format!("{{__name__=\"{name}\"}}"));
    p.kill();

    // Undo the checkpoint: the crash came before it.
    for e in std::fs::read_dir(&wal).unwrap().flatten() {
        if e.file_name().to_string_lossy().starts_with("checkpoint.") {
            std::fs::remove_dir_all(e.path()).unwrap();
        }
    }
    for e in std::fs::read_dir(&saved).unwrap().flatten() {
        let dest = wal.join(e.file_name());
        if !dest.exists() {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
    let (p, addr) = start_strata_at("strata-c", dir.path(), &data, &[]);
    let got = export(&addr, &format!("{{__name__=\"{name}\"}}"));
    let show = |e: &crate::process::Exported| -> Vec<(String, Vec<(i64, f64)>)> {
        e.iter()
            .map(|(l, pts)| (l["s"].clone(), pts.clone()))
            .collect()
    };
    let want = vec![
        ("x".to_owned(), vec![(t1, 1.0), (t2, 3.0)]),
        ("y".to_owned(), vec![(t1, 2.0), (t2, 4.0)]),
    ];
    assert_eq!(show(&before_kill), want, "before the kill");
    assert_eq!(
        show(&got),
        want,
        "after a crash between the head cut's block write and its WAL checkpoint \
         (restart log: {})",
        p.log_tail(5)
    );
}

/// The same crash state, one step further, through the engine directly
/// (the server runs `maintain` only once a minute): after the restart, a
/// series ref that a stale WAL record still uses is handed out to another
/// series, a partial head cut's checkpoint keeps the stale record (its ref
/// is "alive"), and the next replay gives two series the same ref, so
/// samples written to one come back in the other.
#[test]
fn engine_replay_after_interrupted_head_cut_keeps_series_apart() {
    use strata_engine::{Labels, Matcher, Options, Querier, Storage};

    const HOUR: i64 = 3_600_000;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let wal = data.join("wal");
    let saved = dir.path().join("wal-before-cut");
    let open = || Storage::open(&data, Options::default().without_maintenance()).unwrap();
    let lbl = |s: &str| Labels::from_pairs(&[("__name__", "mix"), ("s", s)]).unwrap();
    let write = |st: &Storage, s: &str, t: i64, v: f64| {
        let mut app = st.appender();
        app.append(&lbl(s), t, v).unwrap();
        app.commit().unwrap();
    };
    let t = (now_ms() - 48 * HOUR).div_euclid(2 * HOUR) * (2 * HOUR);

    let st = open();
    write(&st, "x", t, 1.0);
    write(&st, "y", t, 2.0);
    drop(st);

    // A head cut, then y and x written again; the crash comes before the
    // cut's checkpoint (old segments back, checkpoint gone).
    let st = open();
    std::fs::create_dir_all(&saved).unwrap();
    for e in std::fs::read_dir(&wal).unwrap().flatten() {
        if e.path().is_file() {
            std::fs::copy(e.path(), saved.join(e.file_name())).unwrap();
        }
    }
    st.flush().unwrap();
    write(&st, "y", t + 60_000, 4.0);
    write(&st, "x", t + 60_000, 3.0);
    drop(st);
    for e in std::fs::read_dir(&wal).unwrap().flatten() {
        if e.file_name().to_string_lossy().starts_with("checkpoint.") {
            std::fs::remove_dir_all(e.path()).unwrap();
        }
    }
    for e in std::fs::read_dir(&saved).unwrap().flatten() {
        let dest = wal.join(e.file_name());
        if !dest.exists() {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }

    // A new series z, then a partial head cut (the head spans 5 h) that
    // keeps z in the head.
    let st = open();
    write(&st, "z", t + 5 * HOUR, 5.0);
    st.maintain().unwrap();
    drop(st);

    // y written after another restart, read after one more.
    let st = open();
    write(&st, "y", t + 5 * HOUR + 60_000, 6.0);
    drop(st);
    let st = open();
    let got: Vec<(String, Vec<(i64, f64)>)> = st
        .querier()
        .select(
            &[Matcher::equal("__name__", "mix")],
            i64::MIN / 2,
            i64::MAX / 2,
        )
        .unwrap()
        .iter()
        .map(|s| {
            (
                s.labels().get("s").unwrap_or_default().to_owned(),
                s.samples().unwrap().iter().map(|x| (x.t, x.v)).collect(),
            )
        })
        .collect();
    let report = format!("{:?}", st.open_report().damage);
    st.close().unwrap();
    assert_eq!(
        got,
        vec![
            ("x".to_owned(), vec![(t, 1.0), (t + 60_000, 3.0)]),
            (
                "y".to_owned(),
                vec![(t, 2.0), (t + 60_000, 4.0), (t + 5 * HOUR + 60_000, 6.0)]
            ),
            ("z".to_owned(), vec![(t + 5 * HOUR, 5.0)]),
        ],
        "damage reported at the last open: {report}"
    );
}

/// Issue 15, A.7: SIGKILLs aimed at compactions and head cuts that run
/// while deletions are pending (tombstones on blocks), interleaved with
/// `delete_series` calls. After every restart, no deleted sample may be
/// served again (a compaction interrupted between writing its child and
/// rewriting the tombstones used to bring them back, or serve parents and
/// child side by side) and no acknowledged, undeleted sample may be
/// missing. `STRATA_CRASH_KILLS` (default 8 here) and `STRATA_CRASH_SEED`
/// as for the test above.
#[test]
fn sigkill_during_deletes_and_compactions_brings_no_deleted_sample_back() {
    const NAME: &str = "crash_delete";
    const SERIES: usize = 24;
    const STEP: i64 = 300_000; // 5 min: a batch of 20 spans 100 min
    let kills: usize = std::env::var("STRATA_CRASH_KILLS")
        .ok()
        .map(|s| s.parse().expect("STRATA_CRASH_KILLS is a number"))
        .unwrap_or(8);
    let seed = Rng::seed_from_env("STRATA_CRASH_SEED");
    eprintln!("crash_server deletes: seed {seed} (STRATA_CRASH_SEED={seed}), {kills} kills");
    let mut rng = Rng::new(seed);
    let dir = tempfile::Builder::new()
        .prefix("strata-crash-delete-")
        .tempdir()
        .unwrap();
    let data = dir.path().join("data");
    let day = 86_400_000;
    let base = (now_ms() - 60 * day).div_euclid(7_200_000) * 7_200_000;
    let admin = ["--enable-admin-api"];
    let (mut server, mut addr) = start_strata_at("strata-d0", dir.path(), &data, &admin);

    // Per series: acknowledged timestamps, and deleted ranges.
    let mut acked: Vec<BTreeSet<i64>> = vec![BTreeSet::new(); SERIES];
    let mut deleted: Vec<Vec<(i64, i64)>> = vec![Vec::new(); SERIES];
    let mut gone: BTreeSet<usize> = BTreeSet::new();
    let value = |s: usize, t: i64| expected(99, s, t);
    let mut next_t = base;
    let (mut aimed, mut landed, mut problems) = (0usize, 0usize, Vec::<String>::new());
    for k in 0..kills {
        // Two batches for every series not wholly deleted, then a head cut,
        // so that the next deletions land on blocks as tombstones.
        for _ in 0..2 {
            let times: Vec<i64> = (0..PER_BATCH).map(|j| next_t + j * STEP).collect();
            next_t += PER_BATCH * STEP;
            let live: Vec<usize> = (0..SERIES).filter(|s| !gone.contains(s)).collect();
            let body = write_body(
                live.iter()
                    .map(|&s| {
                        let samples: Vec<(i64, f64)> =
                            times.iter().map(|&t| (t, value(s, t))).collect();
                        crate::api::series(NAME, &[("series", &s.to_string())], &samples)
                    })
                    .collect(),
            );
            let (status, answer) = post_write(&addr, &body, Duration::from_secs(30)).unwrap();
            assert_eq!(status, 204, "{}", String::from_utf8_lossy(&answer));
            for &s in &live {
                acked[s].extend(times.iter().copied());
            }
        }
        let (status, _) = http(&addr, "GET", "/internal/force_flush", &[], b"").unwrap();
        assert_eq!(status, 200);
        // One series deleted wholly, another over part of what it holds.
        let live: Vec<usize> = (0..SERIES).filter(|s| !gone.contains(s)).collect();
        let whole = live[rng.range(0, live.len() as u64) as usize];
        let part = live[rng.range(0, live.len() as u64) as usize];
        let (first, last) = (*acked[part].first().unwrap(), *acked[part].last().unwrap());
        let lo = first + (rng.range(0, 10) as i64) * (last - first) / 10;
        let hi = lo + (last - lo) / 2;
        for (s, range) in [(whole, None), (part, Some((lo, hi)))] {
            let selector = format!("{{__name__=\"{NAME}\",series=\"{s}\"}}");
            let mut params = vec![("match[]", selector)];
            if let Some((lo, hi)) = range {
                params.push(("start", format!("{:.3}", lo as f64 / 1000.0)));
                params.push(("end", format!("{:.3}", hi as f64 / 1000.0)));
            }
            let params: Vec<(&str, &str)> = params.iter().map(|(n, v)| (*n, v.as_str())).collect();
            let target = with_params("/api/v1/admin/tsdb/delete_series", &params);
            let (status, answer) = http(&addr, "POST", &target, &[], b"").unwrap();
            assert_eq!(status, 204, "{}", String::from_utf8_lossy(&answer));
            deleted[s].push(range.unwrap_or((i64::MIN, i64::MAX)));
        }
        gone.insert(whole);
        // Kill while a compaction (rewriting the blocks with tombstones) or
        // a head cut runs.
        let path = if k % 3 == 2 {
            "/internal/force_flush"
        } else {
            "/internal/force_merge"
        };
        let a = addr.clone();
        let call = thread::spawn(move || http(&a, "GET", path, &[], b"").is_ok());
        sleep_ms(rng.range(0, 40));
        let status = server.kill();
        aimed += 1;
        if !call.join().unwrap() {
            landed += 1;
        }
        assert!(status.is_some_and(|s| s.code().is_none()), "{status:?}");
        let (next, next_addr) =
            start_strata_at(&format!("strata-d{}", k + 1), dir.path(), &data, &admin);
        server = next;
        addr = next_addr;

        // Every restart: exactly the acknowledged, undeleted samples.
        let exported = export(&addr, &format!("{{__name__=\"{NAME}\"}}"));
        let mut seen: Vec<BTreeMap<i64, f64>> = vec![BTreeMap::new(); SERIES];
        for (labels, points) in &exported {
            let Some(s) = labels.get("series").and_then(|v| v.parse::<usize>().ok()) else {
                problems.push(format!("unknown series {labels:?}"));
                continue;
            };
            if s >= SERIES {
                problems.push(format!("unknown series {labels:?}"));
                continue;
            }
            for &(t, v) in points {
                if seen[s].insert(t, v).is_some() {
                    problems.push(format!("restart {}: series {s} t={t} served twice", k + 1));
                }
                if deleted[s].iter().any(|&(lo, hi)| (lo..=hi).contains(&t)) {
                    problems.push(format!("restart {}: series {s} t={t} was deleted", k + 1));
                } else if v.to_bits() != value(s, t).to_bits() {
                    problems.push(format!(
                        "restart {}: series {s} t={t} wrong value {v}",
                        k + 1
                    ));
                }
            }
        }
        for s in 0..SERIES {
            let missing = acked[s]
                .iter()
                .filter(|t| !deleted[s].iter().any(|&(lo, hi)| (lo..=hi).contains(*t)))
                .filter(|t| !seen[s].contains_key(t))
                .count();
            if missing > 0 {
                problems.push(format!(
                    "restart {}: series {s}: {missing} acknowledged samples missing",
                    k + 1
                ));
            }
        }
        if problems.len() > 20 {
            break;
        }
    }
    eprintln!(
        "crash_server deletes: seed {seed}: {aimed} kills aimed at a merge or flush, {landed} \
         landed while it ran; {} series wholly deleted; {} problems",
        gone.len(),
        problems.len()
    );
    if !problems.is_empty() {
        drop(server);
        let kept = dir.keep();
        panic!(
            "seed {seed} (STRATA_CRASH_SEED={seed}); data kept in {}:\n{}",
            kept.display(),
            problems.join("\n")
        );
    }
}

/// Issue 15, A.7: the disk fills up while the head is being cut to blocks
/// (a snapshot with the head, then a head cut), and the server is killed
/// right then, with a deletion pending. After space is freed and the server
/// restarted, every acknowledged sample is there and no deleted one is.
/// Needs root to mount a 32 MiB tmpfs (see `disk_full.rs`); skips loudly
/// otherwise (a failure under `STRATA_REQUIRE_ALL=1`, as `.ci/run` sets).
#[test]
fn disk_full_during_snapshot_and_flush_then_sigkill_loses_nothing() {
    const NAME: &str = "crash_full";
    const SERIES: usize = 40;
    const STEP: i64 = 10_000;
    let dir = tempfile::tempdir().unwrap();
    let fs = dir.path().join("small-fs");
    let _mount = match crate::disk_full::mount_small_fs(&fs, dir.path()) {
        Ok(m) => m,
        Err(why) => {
            strata_promql::promqltest::require::missing(
                &format!("a small file system it can mount (crash_full: {why})"),
                "run the tests as root (CAP_SYS_ADMIN)",
            );
            return;
        }
    };
    let data = fs.join("data");
    let admin = ["--enable-admin-api"];
    let (mut server, addr) = start_strata_at("strata-full-0", dir.path(), &data, &admin);
    let base = (now_ms() - 2 * 86_400_000).div_euclid(7_200_000) * 7_200_000;
    let value = |s: usize, t: i64| expected(77, s, t);
    let mut acked: BTreeMap<usize, BTreeSet<i64>> = BTreeMap::new();
    let next_t = std::cell::Cell::new(base);
    let send = |addr: &str, acked: &mut BTreeMap<usize, BTreeSet<i64>>| -> u16 {
        let times: Vec<i64> = (0..PER_BATCH).map(|j| next_t.get() + j * STEP).collect();
        next_t.set(next_t.get() + PER_BATCH * STEP);
        let body = write_body(
            (0..SERIES)
                .map(|s| {
                    let samples: Vec<(i64, f64)> =
                        times.iter().map(|&t| (t, value(s, t))).collect();
                    crate::api::series(NAME, &[("series", &s.to_string())], &samples)
                })
                .collect(),
        );
        let status = post_write(addr, &body, Duration::from_secs(30)).map_or(0, |r| r.0);
        if status == 204 {
            for s in 0..SERIES {
                acked.entry(s).or_default().extend(times.iter().copied());
            }
        }
        status
    };
    for _ in 0..50 {
        assert_eq!(send(&addr, &mut acked), 204);
    }
    // Series 0 deleted while it is all in the head and in the WAL.
    let target = with_params(
        "/api/v1/admin/tsdb/delete_series",
        &[("match[]", &format!("{{__name__=\"{NAME}\",series=\"0\"}}"))],
    );
    assert_eq!(http(&addr, "POST", &target, &[], b"").unwrap().0, 204);
    let deleted_upto = next_t.get();
    // Fill the disk: a filler, then writes until they are refused.
    let free = fs2_free_bytes(&fs);
    crate::disk_full::make_filler(&fs.join("filler"), free.saturating_sub(3 << 20));
    let mut refused = 0;
    for _ in 0..400 {
        if send(&addr, &mut acked) != 204 {
            refused += 1;
            if refused >= 3 {
                break;
            }
        }
    }
    assert!(refused >= 3, "the disk never filled up");
    // Room for the WAL to switch segments, not for the blocks of a cut: the
    // snapshot's head cut fails while writing blocks.
    std::fs::remove_file(fs.join("filler")).unwrap();
    let room = fs2_free_bytes(&fs).saturating_sub(96 << 10);
    crate::disk_full::make_filler(&fs.join("filler"), room);
    let (snap, snap_body) = http(&addr, "POST", "/api/v1/admin/tsdb/snapshot", &[], b"").unwrap();
    eprintln!(
        "crash_server full: snapshot on the full disk: {snap} {}",
        String::from_utf8_lossy(&snap_body)
    );
    assert!(snap == 200 || snap >= 500, "snapshot: {snap}");
    // A head cut on the full disk, killed while it runs (or just after).
    let a = addr.clone();
    let flush = thread::spawn(move || http(&a, "GET", "/internal/force_flush", &[], b""));
    sleep_ms(5);
    let status = server.kill();
    assert!(status.is_some_and(|s| s.code().is_none()), "{status:?}");
    let flush = flush.join().unwrap();
    eprintln!(
        "crash_server full: force_flush at the kill: {:?}",
        flush.map(|r| r.0)
    );
    std::fs::remove_file(fs.join("filler")).unwrap();
    let (server, addr) = start_strata_at("strata-full-1", dir.path(), &data, &admin);
    let mut problems = Vec::new();
    let check = |addr: &str, when: &str, problems: &mut Vec<String>| {
        check_full(addr, NAME, &acked, deleted_upto, &value, when, problems)
    };
    check(&addr, "after the restart", &mut problems);
    // A head cut and WAL checkpoint now that there is room, and a restart:
    // what came back must still all be there.
    let (cut, _) = http(&addr, "GET", "/internal/force_flush", &[], b"").unwrap();
    assert_eq!(cut, 200);
    drop(server);
    let (server, addr) = start_strata_at("strata-full-2", dir.path(), &data, &admin);
    check(&addr, "after a cut and a restart", &mut problems);
    drop(server);
    assert!(
        problems.is_empty(),
        "{}",
        problems[..problems.len().min(20)].join("\n")
    );
}

/// Export of `name` against what was acknowledged and deleted (series 0
/// before `deleted_upto`).
fn check_full(
    addr: &str,
    name: &str,
    acked: &BTreeMap<usize, BTreeSet<i64>>,
    deleted_upto: i64,
    value: &dyn Fn(usize, i64) -> f64,
    when: &str,
    problems: &mut Vec<String>,
) {
    let mut seen: BTreeMap<usize, BTreeSet<i64>> = BTreeMap::new();
    for (labels, points) in export(addr, &format!("{{__name__=\"{name}\"}}")) {
        let s: usize = labels["series"].parse().unwrap();
        for (t, v) in points {
            if s == 0 && t < deleted_upto {
                problems.push(format!("deleted sample of series 0 at {t} came back"));
            } else if v.to_bits() != value(s, t).to_bits() {
                problems.push(format!("series {s} t={t}: wrong value {v}"));
            }
            seen.entry(s).or_default().insert(t);
        }
    }
    let mut missing = 0usize;
    for (s, times) in acked {
        for t in times {
            let deleted = *s == 0 && *t < deleted_upto;
            if !deleted && !seen.get(s).is_some_and(|m| m.contains(t)) {
                missing += 1;
            }
        }
    }
    if missing > 0 {
        problems.push(format!("{missing} acknowledged samples missing"));
    }
    let acked_samples: usize = acked.values().map(BTreeSet::len).sum();
    eprintln!(
        "crash_server full: {when}: {acked_samples} samples acknowledged, {missing} missing, {} problems",
        problems.len()
    );
}

/// Free bytes of the file system holding `path` (from `df`).
fn fs2_free_bytes(path: &std::path::Path) -> u64 {
    let out = std::process::Command::new("df")
        .arg("-B1")
        .arg("--output=avail")
        .arg(path)
        .output()
        .expect("df runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .expect("df prints the free bytes")
}
