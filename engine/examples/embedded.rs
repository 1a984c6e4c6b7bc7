//! Writes an hour of node-exporter-like data into a data directory, reads
//! it back with label matchers, closes, reopens and reads again.
//!
//! Run: `cargo run --release -p strata-engine --example embedded [DATA_DIR]`

use std::time::Instant;

use strata_engine::{Clock, Labels, MatchType, Matcher, Options, Querier, Storage, SystemClock};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "example-data".into());
    let storage = Storage::open(&dir, Options::default())?;
    println!("opened {dir}: {:?}", storage.open_report());

    let hosts = 50;
    let cpus = 4;
    let modes = ["idle", "user", "system", "iowait"];
    let now = SystemClock.now_ms();
    let start = now - 3_600_000;
    let mut series = Vec::new();
    for h in 0..hosts {
        for c in 0..cpus {
            for m in modes {
                series.push(Labels::from_pairs(&[
                    ("__name__", "node_cpu_seconds_total"),
                    ("instance", &format!("host-{h}:9100")),
                    ("job", "node"),
                    ("cpu", &c.to_string()),
                    ("mode", m),
                ])?);
            }
        }
    }
    let began = Instant::now();
    let mut written = 0u64;
    for step in 0..240 {
        let t = start + step * 15_000;
        let mut app = storage.appender();
        for (i, labels) in series.iter().enumerate() {
            app.append(labels, t, (step as f64) * 0.25 * ((i % 7) as f64 + 1.0))?;
        }
        written += app.len() as u64;
        app.commit()?;
    }
    println!(
        "appended {written} samples of {} series in {:.2?}",
        series.len(),
        began.elapsed()
    );

    let read = |storage: &Storage| -> Result<(usize, usize), Box<dyn std::error::Error>> {
        let matchers = [
            Matcher::equal("__name__", "node_cpu_seconds_total"),
            Matcher::new(MatchType::NotEqual, "mode", "idle")?,
            Matcher::new(MatchType::Regex, "instance", "host-(1|2)[0-9]:9100")?,
        ];
        let selected = storage.querier().select(&matchers, start, now)?;
        let samples = selected
            .iter()
            .map(|s| s.samples().map(|v| v.len()))
            .sum::<Result<usize, _>>()?;
        Ok((selected.len(), samples))
    };
    let (n, samples) = read(&storage)?;
    println!(
        "selected {n} series with {samples} samples (cpu modes other than idle on hosts 10-29)"
    );

    storage.flush()?;
    println!("flushed head to blocks: {:?}", storage.stats());
    storage.close()?;

    let storage = Storage::open(&dir, Options::default())?;
    let (n2, samples2) = read(&storage)?;
    println!("after reopen: {n2} series, {samples2} samples");
    assert_eq!((n, samples), (n2, samples2), "data changed across reopen");
    storage.close()?;
    Ok(())
}
