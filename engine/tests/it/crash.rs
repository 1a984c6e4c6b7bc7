//! Crash safety: a child process appends and reports each committed batch;
//! the parent kills it with SIGKILL at random moments (during appends, head
//! cuts and compactions), reopens the storage and checks that every
//! committed sample is there.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use strata_engine::{FsyncPolicy, Storage};

use crate::common::{NOW, dump, series, test_options};

const DIR_VAR: &str = "STRATA_CRASH_CHILD_DIR";
const RUN_VAR: &str = "STRATA_CRASH_CHILD_RUN";
const SERIES: usize = 40;

/// Batch `k` of run `run`: one sample per series at a time unique to (run, k).
fn batch_time(run: u64, k: u64) -> i64 {
    NOW + (run * 100_000 + k) as i64 * 250
}

/// Entry point of the child process (run by `kills_at_random_moments_lose_nothing`).
#[test]
#[ignore = "run only as the child process of the crash test"]
fn crash_child_writer() {
    let Ok(dir) = std::env::var(DIR_VAR) else {
        return;
    };
    let run: u64 = std::env::var(RUN_VAR).unwrap().parse().unwrap();
    let (opts, _clock) = test_options();
    let storage = Storage::open(&dir, opts.with_fsync(FsyncPolicy::Never)).unwrap();
    let stdout = std::io::stdout();
    for k in 0.. {
        let mut app = storage.appender();
        let t = batch_time(run, k);
        for i in 0..SERIES {
            app.append(&series(i), t, (run * 1000 + k) as f64).unwrap();
        }
        // Some late samples, out of order.
        if k > 10 {
            app.append(&series(0), batch_time(run, k - 10) + 1, k as f64)
                .unwrap();
        }
        app.commit().unwrap();
        writeln!(stdout.lock(), "committed {k}").unwrap();
        if k % 25 == 24 {
            storage.maintain().unwrap();
        }
        if k % 100 == 99 {
            storage.flush().unwrap();
        }
    }
}

#[test]
fn kills_at_random_moments_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let mut committed: Vec<(u64, u64)> = Vec::new(); // (run, batches committed)
    const RUNS: u64 = 20;
    for run in 0..RUNS {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "crash::crash_child_writer",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(DIR_VAR, dir.path())
            .env(RUN_VAR, run.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        // Kill after a random number of commits (sometimes mid-maintenance).
        let target = rng.gen_range(5..400);
        let mut last: Option<u64> = None;
        let started = Instant::now();
        while let Some(Ok(line)) = lines.next() {
            if let Some(k) = line.strip_prefix("committed ") {
                last = Some(k.trim().parse().unwrap());
                if last.unwrap() >= target {
                    break;
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "child too slow"
            );
        }
        // A little more time so the kill lands mid-write.
        std::thread::sleep(Duration::from_micros(rng.gen_range(0..3000)));
        child.kill().unwrap();
        // Batches acknowledged after we stopped reading count too, if printed.
        for line in lines.map_while(Result::ok) {
            if let Some(k) = line.strip_prefix("committed ") {
                last = Some(k.trim().parse().unwrap());
            }
        }
        child.wait().unwrap();
        let n = last.map_or(0, |k| k + 1);
        committed.push((run, n));

        // Reopen and check everything committed so far, in every run.
        let (opts, _clock) = test_options();
        let storage = Storage::open(dir.path(), opts).unwrap();
        let data = dump(&storage);
        for &(r, n) in &committed {
            for k in 0..n {
                let t = batch_time(r, k);
                for i in 0..SERIES {
                    let got = data.get(&series(i)).and_then(|m| m.get(&t));
                    assert_eq!(
                        got.map(|b| f64::from_bits(*b)),
                        Some((r * 1000 + k) as f64),
                        "run {r} batch {k} series {i} lost (run {run} killed after {n} batches)"
                    );
                }
            }
        }
        storage.close().unwrap();
    }
    let total: u64 = committed.iter().map(|c| c.1).sum();
    assert!(
        total > RUNS * 5,
        "children committed too little: {committed:?}"
    );
    eprintln!("crash test: {RUNS} kills survived, {total} committed batches verified");
}
