//! Memory per active series in the head with 1M series (labels, open chunk,
//! postings), from the process' resident set size. Not a criterion bench:
//! it prints one figure. Run with `cargo bench --bench head_memory`.

use strata_engine::{FsyncPolicy, Labels, Options, Storage};

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let series: usize = std::env::var("HEAD_MEMORY_SERIES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let opts = Options::default()
        .without_maintenance()
        .with_fsync(FsyncPolicy::Never);
    let storage = Storage::open(dir.path(), opts).unwrap();
    let now = strata_engine::Clock::now_ms(&strata_engine::SystemClock);
    let before = rss_bytes();
    for batch in 0..series / 10_000 {
        let mut app = storage.appender();
        for i in 0..10_000 {
            let n = batch * 10_000 + i;
            let l = Labels::from_pairs(&[
                (
                    "__name__",
                    [
                        "node_cpu_seconds_total",
                        "node_filesystem_avail_bytes",
                        "http_requests_total",
                    ][n % 3],
                ),
                (
                    "instance",
                    &format!("10.{}.{}.{}:9100", n / 65536, (n / 256) % 256, n % 256),
                ),
                ("job", "node"),
                ("mode", ["idle", "user", "system", "iowait"][n % 4]),
            ])
            .unwrap();
            // Ten samples each: an open chunk with some data in it.
            for k in 0..10 {
                app.append(&l, now - 600_000 + k * 15_000, (k * 3) as f64)
                    .unwrap();
            }
        }
        app.commit().unwrap();
    }
    let after = rss_bytes();
    let per = (after.saturating_sub(before)) as f64 / series as f64;
    println!(
        "head memory: {series} series, {:.0} bytes per series (RSS {} -> {} MiB)",
        per,
        before >> 20,
        after >> 20
    );
}
