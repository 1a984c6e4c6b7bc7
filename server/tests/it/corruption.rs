//! Damaged files under a running `strata serve` (issue 7, point 2).
//!
//! One template data directory is built once through the real binary: four
//! head cuts and a forced merge leave compacted blocks (level >= 2), a
//! maintenance head cut leaves a level-1 block and a WAL checkpoint that
//! holds series and samples, two more WAL segments hold samples, and a
//! `delete_series` leaves a tombstones file. Then, for each file kind, on
//! a fresh copy each time, random bytes are flipped (header, tail and
//! anywhere) or the file is cut at a random offset (seeded: the seed is
//! printed, `STRATA_CORRUPTION_SEED` replays a run and
//! `STRATA_CORRUPTION_TRIALS` sets the trials per kind and mode), the server
//! is started and every trial asserts:
//!
//! - it starts, becomes ready, never panics (log checked), stops cleanly;
//! - no value is ever wrong: every sample that `/api/v1/export` (all series)
//!   or a PromQL range selector over everything returns is compared with
//!   the value written for its (series, timestamp); a deleted series may
//!   come back only with its original values and only with damage reported;
//! - data that does not live in the damaged file is all there (per-range
//!   exports, 200, every sample);
//! - the damage is reported: at open, a `damage found at open` log line
//!   naming the damaged file with an `offset`, and `strata_open_damage`
//!   counting every such line; or, for a chunk found bad only when read, the
//!   failing query's error (or the log) names the chunk file and offset;
//!   damage that loses nothing and changes nothing (bytes of a deleted
//!   series' chunk) may go unreported.
//!
//! The tests depend on the layout of `engine/FORMAT.md` only for the
//! block `meta` time range and WAL record framing, never on the chunk
//! encoding (which changes). Tests marked `#[ignore]` reproduce bugs found
//! here; they fail until the bugs are fixed.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use prost::Message;
use serde_json::Value;
use strata_server::formats::remote_read::{LabelMatcher, Query, ReadRequest, ReadResponse};
use strata_server::formats::remote_write::TimeSeries;

use crate::process::{
    Exported, LabelSet, Proc, Rng, find, mix, now_ms, parse_export, post_write, secs, sleep_ms,
    start_strata_at, with_params, write_body,
};

const METRIC: &str = "corruption_test";
const SERIES: usize = 8;
/// Deleted with `delete_series` (all time) before the template is closed.
const DELETED: usize = 7;
const STEP: i64 = 60_000;
const HOUR: i64 = 3_600_000;
/// Template data spans `[base, base + SPAN)`.
const SPAN: i64 = 14 * HOUR;

fn series_name(i: usize) -> String {
    format!("s{i}")
}

/// The value written for series `i` at `t`: exact in an f64, different for
/// every (series, timestamp), recomputable.
fn value_of(i: usize, t: i64) -> f64 {
    ((mix(((i as u64) << 48) ^ t as u64) >> 12) as f64) / 8.0
}

fn timeseries(i: usize, from: i64, to: i64) -> TimeSeries {
    let samples: Vec<(i64, f64)> = (from..to)
        .step_by(STEP as usize)
        .map(|t| (t, value_of(i, t)))
        .collect();
    crate::api::series(METRIC, &[("series", &series_name(i))], &samples)
}

/// Writes every series over `[from, to)`.
fn write_range(addr: &str, from: i64, to: i64) {
    let body = write_body((0..SERIES).map(|i| timeseries(i, from, to)).collect());
    let (status, resp) = post_write(addr, &body, Duration::from_secs(60)).unwrap();
    assert_eq!(
        status,
        204,
        "remote_write: {}",
        String::from_utf8_lossy(&resp)
    );
}

fn get_ok(addr: &str, target: &str) {
    let a = get(addr, "GET", target);
    assert!(
        (200..300).contains(&a.status) && a.complete,
        "GET {target}: {} {}",
        a.status,
        a.text()
    );
}

// ------------------------------------------------------------------ HTTP

/// An answer, possibly cut short: `complete` is false when the connection
/// ended before the body did (the server aborts a streamed export when a
/// chunk cannot be read), and `body` then holds what arrived; `status` is 0
/// when the connection closed before any status line.
#[derive(Debug)]
struct Answer {
    status: u16,
    body: Vec<u8>,
    complete: bool,
}

impl Answer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn get(addr: &str, method: &str, target: &str) -> Answer {
    request(addr, method, target, &[], b"")
}

fn request(
    addr: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Answer {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut head = format!(
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut buf = Vec::new();
    let read_ok = s.read_to_end(&mut buf).is_ok();
    let Some(end) = find(&buf, b"\r\n\r\n") else {
        // The connection closed before a status line: an error for any
        // client (the export stream failed before its first bytes).
        return Answer {
            status: 0,
            body: buf,
            complete: false,
        };
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    let status: u16 = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap();
    let raw = &buf[end + 4..];
    if !head
        .lines()
        .any(|l| l.starts_with("transfer-encoding:") && l.contains("chunked"))
    {
        let want = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse::<usize>().ok());
        let complete = read_ok && want.is_none_or(|n| raw.len() >= n);
        return Answer {
            status,
            body: raw.to_vec(),
            complete,
        };
    }
    let mut body = Vec::new();
    let mut rest = raw;
    while let Some(eol) = find(rest, b"\r\n") {
        let size_text = String::from_utf8_lossy(&rest[..eol]).into_owned();
        let Ok(size) = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16)
        else {
            break;
        };
        if size == 0 {
            return Answer {
                status,
                body,
                complete: read_ok,
            };
        }
        let Some(chunk) = rest.get(eol + 2..eol + 2 + size) else {
            body.extend_from_slice(&rest[(eol + 2).min(rest.len())..]);
            break;
        };
        body.extend_from_slice(chunk);
        rest = rest.get(eol + 4 + size..).unwrap_or(&[]);
    }
    Answer {
        status,
        body,
        complete: false,
    }
}

/// `strata_open_damage` from `/metrics`.
fn open_damage_metric(addr: &str) -> u64 {
    metric(addr, "strata_open_damage")
}

fn metric(addr: &str, name: &str) -> u64 {
    let a = get(addr, "GET", "/metrics");
    assert_eq!(a.status, 200, "/metrics: {}", a.text());
    let text = a.text();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("/metrics has no {name}:\n{text}"))
        .trim()
        .parse::<f64>()
        .unwrap() as u64
}

// --------------------------------------------------------------- process

/// `--enable-admin-api`: some scenarios build their damage with
/// `delete_series`, which is off by default.
fn start(dir: &Path, data: &Path) -> (Proc, String) {
    start_strata_at(
        "strata",
        dir,
        data,
        &["--log-format", "json", "--enable-admin-api"],
    )
}

/// SIGTERM, then waits (30 s at most) for a clean exit.
fn stop(p: &mut Proc) {
    // The shell's built-in kill: no procps needed.
    let status = std::process::Command::new("sh")
        .args(["-c", &format!("kill -TERM {}", p.pid())])
        .status()
        .unwrap();
    assert!(status.success(), "kill -TERM {}", p.pid());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(st) = p.exited() {
            assert!(
                st.success(),
                "strata exited with {st} after SIGTERM; log:\n{}",
                p.log_tail(30)
            );
            return;
        }
        assert!(
            Instant::now() < deadline,
            "strata still running 30 s after SIGTERM"
        );
        sleep_ms(20);
    }
}

/// The log must show no panic.
fn assert_no_panic(p: &Proc, what: &str) {
    let log = p.log_text();
    assert!(
        !log.contains("panicked"),
        "{what}: strata panicked; log:\n{}",
        p.log_tail(40)
    );
}

/// One `damage found at open` log line.
#[derive(Debug, Clone)]
struct DamageLine {
    file: String,
    offset: Option<u64>,
    reason: String,
}

/// The JSON log lines: `(fields, raw line)`.
fn log_events(p: &Proc) -> Vec<Value> {
    p.log_text()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|v| v["fields"].clone())
        .collect()
}

fn damage_lines(p: &Proc) -> Vec<DamageLine> {
    log_events(p)
        .into_iter()
        .filter(|f| f["message"] == "damage found at open")
        .map(|f| DamageLine {
            file: f["file"].as_str().unwrap_or_default().to_owned(),
            offset: f["offset"].as_u64(),
            reason: f["reason"].as_str().unwrap_or_default().to_owned(),
        })
        .collect()
}

// -------------------------------------------------------------- template

/// Where the template's data lives, by time range.
#[derive(Debug, Clone)]
struct Region {
    /// `[from, to)`.
    from: i64,
    to: i64,
    /// The file (relative to the data dir) or directory holding it.
    home: String,
}

#[derive(Debug)]
struct Template {
    /// Holds `data/` (never started again: trials work on copies).
    _dir: tempfile::TempDir,
    data: PathBuf,
    base: i64,
    /// Block directories (relative), oldest data first.
    blocks: Vec<String>,
    /// The checkpoint file (relative).
    checkpoint: String,
    /// WAL segments holding samples (relative), oldest first.
    segments: Vec<String>,
    regions: Vec<Region>,
}

impl Template {
    /// Every file of a kind that can be damaged (relative paths).
    fn files(&self, kind: Kind) -> Vec<String> {
        match kind {
            Kind::WalSegment => self.segments.clone(),
            Kind::WalCheckpoint => vec![self.checkpoint.clone()],
            Kind::BlockChunks => self
                .blocks
                .iter()
                .map(|b| format!("{b}/chunks/000001"))
                .collect(),
            Kind::BlockIndex => self.blocks.iter().map(|b| format!("{b}/index")).collect(),
            Kind::BlockMeta => self.blocks.iter().map(|b| format!("{b}/meta")).collect(),
            Kind::Tombstones => vec!["tombstones".into()],
        }
    }

    /// The time ranges whose samples may be lost when `file` is damaged.
    fn affected(&self, kind: Kind, file: &str) -> Vec<(i64, i64)> {
        let home = |h: &str| -> Vec<(i64, i64)> {
            self.regions
                .iter()
                .filter(|r| r.home == h)
                .map(|r| (r.from, r.to))
                .collect()
        };
        match kind {
            Kind::BlockChunks | Kind::BlockIndex | Kind::BlockMeta => {
                home(file.rsplit_once('/').unwrap().0.trim_end_matches("/chunks"))
            }
            // Its series records serve the later segments too.
            Kind::WalCheckpoint => self
                .regions
                .iter()
                .filter(|r| r.home.starts_with("wal/"))
                .map(|r| (r.from, r.to))
                .collect(),
            Kind::WalSegment => home(file),
            Kind::Tombstones => Vec::new(),
        }
    }

    /// Every (series, timestamp) written, the deleted series' included.
    fn written(&self) -> BTreeSet<(usize, i64)> {
        (0..SERIES)
            .flat_map(|i| {
                (self.base..self.base + SPAN)
                    .step_by(STEP as usize)
                    .map(move |t| (i, t))
            })
            .collect()
    }
}

/// Removes template directories left by earlier runs of this test binary.
fn remove_stale_templates(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix("corruption-template-") else {
            continue;
        };
        let pid = pid.split('-').next().unwrap_or_default();
        if pid != std::process::id().to_string() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

fn template() -> &'static Template {
    static T: OnceLock<Template> = OnceLock::new();
    T.get_or_init(build_template)
}

fn build_template() -> Template {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR"));
    remove_stale_templates(root);
    let dir = tempfile::Builder::new()
        .prefix(&format!("corruption-template-{}-", std::process::id()))
        .tempdir_in(root)
        .unwrap();
    let data = dir.path().join("data");
    let base = (now_ms() - 36 * HOUR).div_euclid(6 * HOUR) * 6 * HOUR;
    let began = Instant::now();

    // 1. Four head cuts: four level-1 blocks of two hours each, which the
    //    forced merge compacts (how far is the compaction policy's choice).
    let (mut p, addr) = start(dir.path(), &data);
    for w in 0..4 {
        write_range(&addr, base + w * 2 * HOUR, base + (w + 1) * 2 * HOUR);
        get_ok(&addr, "/internal/force_flush");
    }
    get_ok(&addr, "/internal/force_merge");
    let cuts = metric(&addr, "strata_head_cuts");
    // 2. Four hours in the head: the maintenance round (every 60 s) cuts
    //    [8 h, 10 h) to a block and checkpoints the WAL, keeping series
    //    records and the samples of [10 h, 12 h) in the checkpoint.
    write_range(&addr, base + 8 * HOUR, base + 12 * HOUR);
    let deadline = Instant::now() + Duration::from_secs(150);
    while metric(&addr, "strata_head_cuts") <= cuts {
        assert!(
            Instant::now() < deadline,
            "no maintenance head cut within 150 s"
        );
        sleep_ms(250);
    }
    // 3. One more hour into the next WAL segment, in two records.
    write_range(&addr, base + 12 * HOUR, base + 12 * HOUR + HOUR / 2);
    write_range(&addr, base + 12 * HOUR + HOUR / 2, base + 13 * HOUR);
    stop(&mut p);
    assert_no_panic(&p, "template, first run");
    drop(p);

    // 4. A restart starts a new segment: one more hour, and the deletion of
    //    one series (tombstones for the blocks, a deletes record in the WAL).
    let (mut p, addr) = start(dir.path(), &data);
    write_range(&addr, base + 13 * HOUR, base + 14 * HOUR);
    let target = with_params(
        "/api/v1/admin/tsdb/delete_series",
        &[(
            "match[]",
            &format!("{METRIC}{{series=\"{}\"}}", series_name(DELETED)),
        )],
    );
    let a = get(&addr, "POST", &target);
    assert_eq!(a.status, 204, "delete_series: {}", a.text());
    stop(&mut p);
    assert_no_panic(&p, "template, second run");
    drop(p);

    // What is where.
    let rel = |p: &Path| p.strip_prefix(&data).unwrap().display().to_string();
    let mut blocks: Vec<(i64, i64, u32, String)> = std::fs::read_dir(data.join("blocks"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .map(|p| {
            let (lo, hi, level) = meta_fields(&p.join("meta"));
            (lo, hi, level, rel(&p))
        })
        .collect();
    blocks.sort();
    // How many blocks the merge leaves is the compaction policy's business;
    // there must be a compacted one and one cut by the maintenance round.
    assert!(
        blocks.len() >= 2 && blocks.iter().any(|b| b.2 >= 2) && blocks.iter().any(|b| b.2 == 1),
        "template: want a compacted block and a level-1 block, found {blocks:?}"
    );
    let wal = data.join("wal");
    let mut checkpoints: Vec<PathBuf> = std::fs::read_dir(&wal)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(
        checkpoints.len(),
        1,
        "template: want one checkpoint: {checkpoints:?}"
    );
    let checkpoint = checkpoints.pop().unwrap().join("00000000");
    assert!(
        std::fs::metadata(&checkpoint).unwrap().len() > 1000,
        "template: the checkpoint should hold series and samples"
    );
    let mut segments: Vec<PathBuf> = std::fs::read_dir(&wal)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && std::fs::metadata(p).unwrap().len() > 5)
        .collect();
    segments.sort();
    assert_eq!(
        segments.len(),
        2,
        "template: want two WAL segments with records: {segments:?}"
    );
    assert!(data.join("tombstones").exists(), "template: no tombstones");

    let mut regions: Vec<Region> = blocks
        .iter()
        .map(|(lo, hi, _, b)| Region {
            from: *lo,
            to: hi + 1,
            home: b.clone(),
        })
        .collect();
    let wal_homes = [
        (10, 12, rel(&checkpoint)),
        (12, 13, rel(&segments[0])),
        (13, 14, rel(&segments[1])),
    ];
    for (from, to, home) in wal_homes {
        regions.push(Region {
            from: base + from * HOUR,
            to: base + to * HOUR,
            home,
        });
    }
    // The regions must tile the whole span (a block's `to` is its last
    // sample + 1 ms): that checks the layout is the one planned.
    let mut at = base;
    for r in &regions {
        assert!(
            r.from == at && r.to > r.from,
            "template regions do not tile [{base}, +14h): {regions:?}"
        );
        at = (r.to + STEP - 1).div_euclid(STEP) * STEP;
    }
    assert_eq!(at, base + SPAN, "template regions: {regions:?}");
    eprintln!(
        "corruption: template built in {:.1} s: {regions:#?}",
        began.elapsed().as_secs_f64()
    );
    Template {
        blocks: blocks.into_iter().map(|b| b.3).collect(),
        checkpoint: rel(&checkpoint),
        segments: segments.iter().map(|s| rel(s)).collect(),
        _dir: dir,
        data,
        base,
        regions,
    }
}

/// `min_t`, `max_t` and `level` of a block's `meta` (FORMAT.md: magic <4>,
/// version <1>, id <8>, min_t <8>, max_t <8>, three counts <8> each, level
/// <4>; big-endian).
fn meta_fields(meta: &Path) -> (i64, i64, u32) {
    let b = std::fs::read(meta).unwrap();
    let at = |o: usize| i64::from_be_bytes(b[o..o + 8].try_into().unwrap());
    let level = u32::from_be_bytes(b[53..57].try_into().unwrap());
    (at(13), at(21), level)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if e.file_type().unwrap().is_dir() {
            copy_dir(&src, &dst);
        } else if e.file_name() != "LOCK" {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

/// End offsets of the complete WAL records of a segment (FORMAT.md: 5-byte
/// header; record = 0xa5, type, length <4b>, crc <4b>, payload).
fn wal_record_ends(bytes: &[u8]) -> Vec<usize> {
    let mut ends = vec![5];
    let mut at = 5;
    while at + 10 <= bytes.len() && bytes[at] == 0xa5 {
        let len = u32::from_be_bytes(bytes[at + 2..at + 6].try_into().unwrap()) as usize;
        if at + 10 + len > bytes.len() {
            break;
        }
        at += 10 + len;
        ends.push(at);
    }
    ends
}

// ---------------------------------------------------------------- trials

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    WalSegment,
    WalCheckpoint,
    BlockChunks,
    BlockIndex,
    BlockMeta,
    Tombstones,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Mode {
    Flip,
    Truncate,
}

/// How a trial's damage showed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    /// `damage found at open` named the file; the metric counted it.
    ReportedAtOpen,
    /// Found when read: the query's error (or the log) named the file.
    ReportedAtQuery,
    /// Nothing lost, nothing wrong, nothing reported (damaged bytes that no
    /// visible sample depends on).
    Harmless,
    /// The newest WAL segment cut exactly at a record boundary: the records
    /// after the cut are lost and nothing is reported, which is what a
    /// crash before those writes leaves. (A closed segment or a checkpoint
    /// ends with a seal record, so a cut there is reported:
    /// `sealed_wal_file_cut_at_a_record_boundary_is_reported`.)
    CutAtRecordBoundary,
}

#[derive(Debug)]
struct TrialResult {
    outcome: Outcome,
    quarantined: usize,
    lost: usize,
    /// Samples of the deleted series served again (damage reported).
    resurrected: usize,
}

/// What trials found, for the README (printed by each test).
static SUMMARY: Mutex<BTreeMap<(Kind, Mode), Vec<TrialResult>>> = Mutex::new(BTreeMap::new());

fn trials() -> u64 {
    std::env::var("STRATA_CORRUPTION_TRIALS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4)
}

/// The damage done: a description for messages.
fn damage(rng: &mut Rng, path: &Path, mode: Mode) -> String {
    let mut bytes = std::fs::read(path).unwrap();
    let len = bytes.len() as u64;
    assert!(len > 0, "{} is empty", path.display());
    match mode {
        Mode::Flip => {
            let n = rng.range(1, 5);
            let mut done = Vec::new();
            for _ in 0..n {
                // A quarter in the header (magic, version), a quarter in the
                // last 8 bytes (checksums, table of contents), half anywhere.
                let at = match rng.range(0, 4) {
                    0 => rng.range(0, 5.min(len)),
                    1 => rng.range(len.saturating_sub(8), len),
                    _ => rng.range(0, len),
                } as usize;
                let mask = rng.range(1, 256) as u8;
                bytes[at] ^= mask;
                done.push(format!("{at}^{mask:#04x}"));
            }
            std::fs::write(path, &bytes).unwrap();
            format!("flipped {} (of {len} bytes)", done.join(", "))
        }
        Mode::Truncate => {
            let at = if rng.range(0, 4) == 0 {
                rng.range(0, 6.min(len))
            } else {
                rng.range(0, len)
            };
            let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
            f.set_len(at).unwrap();
            f.sync_all().unwrap();
            format!("truncated to {at} (of {len} bytes)")
        }
    }
}

/// The samples of an export or a matrix, checked: every value must be the
/// one written. Returns the (series, t) seen.
fn check_values(
    t: &Template,
    what: &str,
    series: impl IntoIterator<Item = (LabelSet, Vec<(i64, f64)>)>,
    damage_reported: bool,
) -> BTreeSet<(usize, i64)> {
    let mut seen = BTreeSet::new();
    for (labels, points) in series {
        let want: LabelSet = [("__name__", METRIC), ("series", "")]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        assert_eq!(
            labels.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>(),
            "{what}: a series with unexpected labels {labels:?}"
        );
        assert_eq!(labels["__name__"], METRIC, "{what}: {labels:?}");
        let i = (0..SERIES)
            .find(|&i| labels["series"] == series_name(i))
            .unwrap_or_else(|| panic!("{what}: unknown series {labels:?}"));
        for (ts, v) in points {
            assert!(
                ts >= t.base && ts < t.base + SPAN && (ts - t.base) % STEP == 0,
                "{what}: series {i} has a sample at {ts}, where none was written"
            );
            let want = value_of(i, ts);
            assert!(
                v.to_bits() == want.to_bits(),
                "{what}: WRONG VALUE for series {i} at {ts}: got {v}, wrote {want}"
            );
            assert!(
                i != DELETED || damage_reported,
                "{what}: deleted series {i} returned at {ts} while no damage was reported"
            );
            assert!(seen.insert((i, ts)), "{what}: series {i} at {ts} twice");
        }
    }
    seen
}

/// A PromQL matrix (`result` of a range selector) as export-like series.
fn matrix_series(data: &Value) -> Exported {
    data["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let labels: LabelSet = s["metric"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .collect();
            let points = s["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    let t = (p[0].as_f64().unwrap() * 1000.0).round() as i64;
                    let v: f64 = p[1].as_str().unwrap().parse().unwrap();
                    (t, v)
                })
                .collect();
            (labels, points)
        })
        .collect()
}

/// `POST /api/v1/read` (samples) of every series over the template's span:
/// the series as export-like lines, or the error (a 5xx, or a cut
/// connection).
fn remote_read_all(addr: &str, t: &Template) -> Result<Exported, String> {
    let req = ReadRequest {
        queries: vec![Query {
            start_timestamp_ms: t.base - HOUR,
            end_timestamp_ms: t.base + SPAN,
            matchers: vec![LabelMatcher {
                r#type: 2,
                name: "__name__".into(),
                value: ".+".into(),
            }],
        }],
        accepted_response_types: vec![0],
    };
    let body = snap::raw::Encoder::new()
        .compress_vec(&req.encode_to_vec())
        .unwrap();
    let a = request(
        addr,
        "POST",
        "/api/v1/read",
        &[
            ("Content-Encoding", "snappy"),
            ("Content-Type", "application/x-protobuf"),
            ("X-Prometheus-Remote-Read-Version", "0.1.0"),
        ],
        &body,
    );
    if a.status != 200 || !a.complete {
        assert!(
            a.status == 0 || a.status >= 500,
            "remote_read answered {}: {}",
            a.status,
            a.text()
        );
        return Err(format!("remote_read: status {} {}", a.status, a.text()));
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(&a.body)
        .expect("remote_read answer is snappy");
    let resp = ReadResponse::decode(raw.as_slice()).expect("remote_read answer decodes");
    Ok(resp
        .results
        .into_iter()
        .flat_map(|r| r.timeseries)
        .map(|ts| {
            let labels: LabelSet = ts.labels.into_iter().map(|l| (l.name, l.value)).collect();
            let points = ts.samples.iter().map(|s| (s.timestamp, s.value)).collect();
            (labels, points)
        })
        .collect())
}

/// Lines of an export body up to the last complete one.
fn export_lines(a: &Answer) -> Exported {
    let end = a
        .body
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    parse_export(&a.body[..end])
}

/// Runs the trials of one kind (both modes) and prints what they found.
fn run_kind(kind: Kind) {
    let t = template();
    let seed = Rng::seed_from_env("STRATA_CORRUPTION_SEED");
    eprintln!("corruption {kind:?}: STRATA_CORRUPTION_SEED={seed:#x} replays this run");
    let mut rng = Rng::new(seed ^ mix(kind as u64));
    for mode in [Mode::Flip, Mode::Truncate] {
        for n in 0..trials() {
            let files = t.files(kind);
            let file = files[rng.range(0, files.len() as u64) as usize].clone();
            let r = trial(t, kind, mode, &file, &mut rng, n);
            SUMMARY
                .lock()
                .unwrap()
                .entry((kind, mode))
                .or_default()
                .push(r);
        }
    }
    let summary = SUMMARY.lock().unwrap();
    for mode in [Mode::Flip, Mode::Truncate] {
        let rs = &summary[&(kind, mode)];
        let mut by: BTreeMap<Outcome, usize> = BTreeMap::new();
        for r in rs {
            *by.entry(r.outcome).or_default() += 1;
        }
        eprintln!(
            "corruption summary {kind:?} {mode:?}: {} trials, outcomes {by:?}, blocks quarantined {}, samples lost {}, deleted samples served again {}, wrong values 0",
            rs.len(),
            rs.iter().map(|r| r.quarantined).sum::<usize>(),
            rs.iter().map(|r| r.lost).sum::<usize>(),
            rs.iter().map(|r| r.resurrected).sum::<usize>(),
        );
    }
}

fn trial(t: &Template, kind: Kind, mode: Mode, file: &str, rng: &mut Rng, n: u64) -> TrialResult {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    copy_dir(&t.data, &data);
    let path = data.join(file);
    let original_len = std::fs::metadata(&path).unwrap().len();
    let what = damage(rng, &path, mode);
    let what = format!("{kind:?} trial {n}: {file} {what}");
    eprintln!("corruption: {what}");
    let cut_at_boundary =
        mode == Mode::Truncate && matches!(kind, Kind::WalSegment | Kind::WalCheckpoint) && {
            let orig = std::fs::read(t.data.join(file)).unwrap();
            let now = std::fs::metadata(&path).unwrap().len() as usize;
            now < original_len as usize && wal_record_ends(&orig).contains(&now)
        };

    let (mut p, addr) = start(dir.path(), &data);
    assert_no_panic(&p, &what);
    let lines = damage_lines(&p);
    let metric = open_damage_metric(&addr);
    let names_file = |s: &str| s.ends_with(&format!("/{file}")) || s.ends_with(file);
    let at_open = lines
        .iter()
        .any(|l| names_file(&l.file) && l.offset.is_some());
    assert_eq!(
        metric,
        lines.len() as u64,
        "{what}: strata_open_damage must count every damage logged: {lines:#?}"
    );
    if !lines.is_empty() {
        // A cut at a record boundary shows only through its consequences
        // (samples whose series record was lost, logged against wal/).
        assert!(
            at_open || cut_at_boundary,
            "{what}: damage was logged, but no line names {file} with an offset: {lines:#?}"
        );
    }
    for l in &lines {
        eprintln!(
            "corruption:   logged: file={} offset={:?} reason={}",
            l.file, l.offset, l.reason
        );
    }
    let reported = !lines.is_empty();
    // The newest segment cut exactly at a record boundary looks like a
    // crash before those writes: the records after it are lost unreported,
    // and a lost deletion serves its samples again. Counted as
    // `CutAtRecordBoundary` below, not as a wrong value.
    let deletions_may_return = reported || cut_at_boundary;
    let quarantined = std::fs::read_dir(data.join("quarantine"))
        .map(|d| d.count())
        .unwrap_or(0);

    // Everything, through export (streamed) and PromQL.
    let all = get(
        &addr,
        "GET",
        &with_params("/api/v1/export", &[("match[]", "{__name__=~\".+\"}")]),
    );
    let mut errors: Vec<String> = Vec::new();
    let mut seen = BTreeSet::new();
    if all.status == 200 {
        seen.extend(check_values(
            t,
            &format!("{what}: export"),
            export_lines(&all),
            deletions_may_return,
        ));
        if !all.complete {
            errors.push("export: stream aborted".into());
        }
    } else {
        assert!(
            all.status == 0 || all.status >= 500,
            "{what}: export answered {}: {}",
            all.status,
            all.text()
        );
        errors.push(format!("export: status {} {}", all.status, all.text()));
    }
    let q = get(
        &addr,
        "GET",
        &with_params(
            "/api/v1/query",
            &[
                ("query", &format!("{{__name__=~\".+\"}}[{}ms]", SPAN + HOUR)),
                ("time", &secs(t.base + SPAN)),
            ],
        ),
    );
    assert!(q.complete, "{what}: query answer cut short");
    if q.status == 200 {
        let v: Value = serde_json::from_slice(&q.body).unwrap();
        let got = check_values(
            t,
            &format!("{what}: query"),
            matrix_series(&v["data"]),
            deletions_may_return,
        );
        seen.extend(got);
    } else {
        assert!(
            q.status >= 500 || q.status == 422,
            "{what}: query answered {}: {}",
            q.status,
            q.text()
        );
        errors.push(q.text());
    }
    match remote_read_all(&addr, t) {
        Ok(series) => seen.extend(check_values(
            t,
            &format!("{what}: remote_read"),
            series,
            deletions_may_return,
        )),
        Err(e) => errors.push(e),
    }

    // Data outside the damaged file: complete, exact.
    let affected = t.affected(kind, file);
    for r in &t.regions {
        let hit = affected.iter().any(|&(lo, hi)| lo < r.to && r.from < hi);
        let a = get(
            &addr,
            "GET",
            &with_params(
                "/api/v1/export",
                &[
                    ("match[]", &format!("{{__name__=\"{METRIC}\"}}")),
                    ("start", &secs(r.from)),
                    ("end", &secs(r.to - 1)),
                ],
            ),
        );
        if hit && (a.status != 200 || !a.complete) {
            errors.push(format!("export of {}: {} {}", r.home, a.status, a.text()));
        } else {
            assert_eq!(
                a.status,
                200,
                "{what}: export of {} (undamaged): {}",
                r.home,
                a.text()
            );
            assert!(
                a.complete,
                "{what}: export of {} (undamaged) cut short",
                r.home
            );
        }
        if a.status != 200 {
            assert!(
                a.status == 0 || a.status >= 500,
                "{what}: export of {}: {} {}",
                r.home,
                a.status,
                a.text()
            );
            continue;
        }
        let got = check_values(
            t,
            &format!("{what}: export of {}", r.home),
            export_lines(&a),
            deletions_may_return,
        );
        if !hit {
            let missing: Vec<(usize, i64)> = (0..SERIES)
                .filter(|&i| i != DELETED)
                .flat_map(|i| (r.from..r.to).step_by(STEP as usize).map(move |ts| (i, ts)))
                .filter(|k| !got.contains(k))
                .collect();
            assert!(
                missing.is_empty(),
                "{what}: {} samples missing from {} which was not damaged, first {:?}",
                missing.len(),
                r.home,
                &missing[..missing.len().min(5)]
            );
        }
        seen.extend(got);
    }

    let lost = t
        .written()
        .iter()
        .filter(|(i, _)| *i != DELETED)
        .filter(|k| !seen.contains(k))
        .count();
    // Found when read: the error, or the log, names the file and an offset.
    let events = log_events(&p);
    let at_query = errors
        .iter()
        .chain(
            events
                .iter()
                .filter_map(|f| f["error"].as_str())
                .map(str::to_owned)
                .collect::<Vec<_>>()
                .iter(),
        )
        .any(|e| e.contains(file) && e.contains("offset"));
    assert!(
        errors.is_empty() || reported || at_query,
        "{what}: queries failed, but neither the open report nor the errors name {file}: {errors:?}"
    );
    let resurrected = seen.iter().filter(|(i, _)| *i == DELETED).count();
    let outcome = if at_open {
        Outcome::ReportedAtOpen
    } else if at_query {
        Outcome::ReportedAtQuery
    } else if reported && lost == 0 {
        // Logged (another file named, e.g. lost series), nothing lost.
        Outcome::ReportedAtOpen
    } else if lost == 0 && errors.is_empty() && resurrected == 0 {
        Outcome::Harmless
    } else if cut_at_boundary {
        Outcome::CutAtRecordBoundary
    } else {
        panic!(
            "{what}: {lost} samples lost with no report naming {file} (log damage lines {lines:?}, errors {errors:?})"
        );
    };
    stop(&mut p);
    assert_no_panic(&p, &what);
    eprintln!(
        "corruption: {what}: {outcome:?}, {lost} samples lost, {resurrected} deleted samples back, {quarantined} quarantined"
    );
    TrialResult {
        outcome,
        quarantined,
        lost,
        resurrected,
    }
}

// ----------------------------------------------------------------- tests

/// The control: an undamaged copy serves every sample, exactly, without
/// the deleted series, and reports no damage.
#[test]
fn corruption_intact_copy_serves_everything() {
    let t = template();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    copy_dir(&t.data, &data);
    let (mut p, addr) = start(dir.path(), &data);
    assert_eq!(open_damage_metric(&addr), 0);
    assert!(damage_lines(&p).is_empty());
    let all = get(
        &addr,
        "GET",
        &with_params("/api/v1/export", &[("match[]", "{__name__=~\".+\"}")]),
    );
    assert!(all.status == 200 && all.complete, "{}", all.text());
    let seen = check_values(t, "intact export", export_lines(&all), false);
    let want: BTreeSet<(usize, i64)> = t
        .written()
        .into_iter()
        .filter(|(i, _)| *i != DELETED)
        .collect();
    assert_eq!(seen.len(), want.len());
    assert!(seen == want, "intact export differs from what was written");
    stop(&mut p);
    assert_no_panic(&p, "intact copy");
}

#[test]
fn corruption_of_wal_segments() {
    run_kind(Kind::WalSegment);
}

#[test]
fn corruption_of_the_wal_checkpoint() {
    run_kind(Kind::WalCheckpoint);
}

#[test]
fn corruption_of_block_chunks() {
    run_kind(Kind::BlockChunks);
}

#[test]
fn corruption_of_block_index() {
    run_kind(Kind::BlockIndex);
}

#[test]
fn corruption_of_block_meta() {
    run_kind(Kind::BlockMeta);
}

#[test]
fn corruption_of_tombstones() {
    run_kind(Kind::Tombstones);
}

// ------------------------------------------------ bugs found (ignored)

/// The names and values of every sample in `/metrics` whose name mentions
/// damage or corruption.
fn damage_metrics(addr: &str) -> Vec<(String, f64)> {
    let a = get(addr, "GET", "/metrics");
    assert_eq!(a.status, 200);
    a.text()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.contains("damage") || l.contains("corrupt"))
        .filter_map(|l| {
            let (name, v) = l.rsplit_once(' ')?;
            Some((name.to_owned(), v.parse().ok()?))
        })
        .collect()
}

/// Found by this suite and fixed: a chunk that fails its checksum when a query reads it is reported
/// to the client (5xx, or a cut export) and logged, but `/metrics` never
/// counts it: `strata_open_damage` counts only what the open found, and no
/// other metric moves. Issue 7 wants the damage counted in `/metrics`.
#[test]
fn chunk_damage_found_by_a_query_is_counted_in_metrics() {
    let t = template();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    copy_dir(&t.data, &data);
    // A byte in the middle of a chunk segment: past the header, so the
    // block opens and the damage is found when the chunk is read.
    let file = data.join(&t.blocks[0]).join("chunks/000001");
    let mut bytes = std::fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x5a;
    std::fs::write(&file, &bytes).unwrap();
    let (mut p, addr) = start(dir.path(), &data);
    assert_eq!(open_damage_metric(&addr), 0, "found at open after all");
    let q = get(
        &addr,
        "GET",
        &with_params(
            "/api/v1/query",
            &[
                ("query", &format!("{METRIC}[{}ms]", SPAN + HOUR)),
                ("time", &secs(t.base + SPAN)),
            ],
        ),
    );
    assert!(
        q.status >= 500 && q.text().contains("chunks/000001"),
        "the query must fail naming the chunk file: {} {}",
        q.status,
        q.text()
    );
    let counted = damage_metrics(&addr);
    stop(&mut p);
    assert!(
        counted.iter().any(|(_, v)| *v > 0.0),
        "no /metrics sample counts the damaged chunk the query met: {counted:?}"
    );
}

/// Two head cuts of `reuse_test` (2 h each), then the deletion of the
/// second window: its block gets a tombstone. Returns the dir, the data
/// dir, the first window's start and the second block's directory name.
fn two_blocks_with_a_tombstone() -> (tempfile::TempDir, PathBuf, i64, String) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let base = (now_ms() - 12 * HOUR).div_euclid(2 * HOUR) * 2 * HOUR;
    let (mut p, addr) = start(dir.path(), &data);
    for w in 0..2 {
        write_one(&addr, base + w * 2 * HOUR, base + (w + 1) * 2 * HOUR);
        get_ok(&addr, "/internal/force_flush");
    }
    let target = with_params(
        "/api/v1/admin/tsdb/delete_series",
        &[
            ("match[]", "reuse_test"),
            ("start", &secs(base + 2 * HOUR)),
            ("end", &secs(base + 4 * HOUR - 1)),
        ],
    );
    let a = get(&addr, "POST", &target);
    assert_eq!(a.status, 204, "delete_series: {}", a.text());
    stop(&mut p);
    let second = block_holding(&data, base + 2 * HOUR).expect("a block for the second window");
    (dir, data, base, second)
}

fn write_one(addr: &str, from: i64, to: i64) {
    let mut ts = timeseries(0, from, to);
    ts.labels[0].value = "reuse_test".into();
    let (status, resp) = post_write(addr, &write_body(vec![ts]), Duration::from_secs(60)).unwrap();
    assert_eq!(status, 204, "{}", String::from_utf8_lossy(&resp));
}

/// The block directory (name) whose meta range holds `t`.
fn block_holding(data: &Path, t: i64) -> Option<String> {
    std::fs::read_dir(data.join("blocks"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("meta").exists())
        .find(|p| {
            let (lo, hi, _) = meta_fields(&p.join("meta"));
            lo <= t && t <= hi
        })
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
}

fn flip_meta(data: &Path, block: &str) {
    let meta = data.join("blocks").join(block).join("meta");
    let mut b = std::fs::read(&meta).unwrap();
    let last = b.len() - 1;
    b[last] ^= 0xff;
    std::fs::write(&meta, &b).unwrap();
}

/// Found by this suite and fixed: a quarantined block's id is given to the next block written
/// (`next_block_id` is one more than the largest *loaded* block), and the
/// tombstones of the quarantined block still apply to that id: data written
/// again after the loss (here: the lost window re-ingested, 204) is hidden
/// by a deletion made before it was written.
///
/// Reproduction: write `reuse_test` in two 2 h windows with a
/// `force_flush` after each (blocks 1 and 2); `delete_series` the second
/// window (tombstone on block 2); stop; flip the last byte of
/// `blocks/<2>/meta`; start (block 2 quarantined, reported); write the
/// second window again (204); `force_flush`: the new block is
/// `blocks/0000000000000002` again and `/api/v1/export` returns none of
/// the re-written samples.
#[test]
fn a_quarantined_block_id_is_never_reused() {
    let (dir, data, base, second) = two_blocks_with_a_tombstone();
    flip_meta(&data, &second);
    let (mut p, addr) = start(dir.path(), &data);
    assert_eq!(
        open_damage_metric(&addr),
        1,
        "the damaged block is reported"
    );
    assert!(data.join("quarantine").join(&second).exists());
    // The lost window, written again (say, from a replica), after the deletion.
    write_one(&addr, base + 2 * HOUR, base + 4 * HOUR);
    get_ok(&addr, "/internal/force_flush");
    let a = get(
        &addr,
        "GET",
        &with_params(
            "/api/v1/export",
            &[
                ("match[]", "reuse_test"),
                ("start", &secs(base + 2 * HOUR)),
                ("end", &secs(base + 4 * HOUR - 1)),
            ],
        ),
    );
    stop(&mut p);
    let new_block = block_holding(&data, base + 2 * HOUR).expect("a block for the window");
    let got: usize = export_lines(&a).iter().map(|(_, pts)| pts.len()).sum();
    assert!(
        new_block != second && got == 120,
        "quarantined block {second}; the new block is {new_block}; the re-written window \
         exports {got} of 120 samples"
    );
}

/// Found by this suite and fixed: because ids are reused (above), a second damaged block with the
/// same id cannot be moved to `quarantine/<id>` (it exists): the storage
/// does not open and `strata serve` exits instead of starting.
///
/// Reproduction: as above up to the second `force_flush`; stop; flip the
/// last byte of the new `blocks/0000000000000002/meta`; start: the server
/// exits with `rename ... quarantine/0000000000000002: Directory not empty`.
#[test]
fn a_block_id_quarantined_twice_does_not_stop_the_server() {
    let (dir, data, base, second) = two_blocks_with_a_tombstone();
    flip_meta(&data, &second);
    let (mut p, addr) = start(dir.path(), &data);
    write_one(&addr, base + 2 * HOUR, base + 4 * HOUR);
    get_ok(&addr, "/internal/force_flush");
    stop(&mut p);
    drop(p);
    let again = block_holding(&data, base + 2 * HOUR).expect("a block for the window");
    flip_meta(&data, &again);
    // start_strata_at fails the test if the server exits before it is ready.
    let (mut p, addr) = start(dir.path(), &data);
    assert_eq!(open_damage_metric(&addr), 1);
    stop(&mut p);
    assert_no_panic(&p, "second quarantine");
}

/// A closed WAL segment (or the checkpoint) cut exactly between two
/// records: its seal record is gone, which is reported at open with the
/// file and offset and counted (before seals, this lost the records after
/// the cut with nothing logged). Cut: the older of the two WAL segments,
/// and the checkpoint, at the end of the second record before the seal.
#[test]
fn sealed_wal_file_cut_at_a_record_boundary_is_reported() {
    let t = template();
    let mut failures = Vec::new();
    for file in [&t.segments[0], &t.checkpoint] {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        copy_dir(&t.data, &data);
        let path = data.join(file);
        let ends = wal_record_ends(&std::fs::read(&path).unwrap());
        assert!(
            ends.len() >= 4,
            "{file}: want two records and the seal at least: {ends:?}"
        );
        // Drops the last record before the seal, and the seal.
        let cut = ends[ends.len() - 3];
        let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(cut as u64).unwrap();
        drop(f);
        let (mut p, addr) = start(dir.path(), &data);
        let metric = open_damage_metric(&addr);
        let named = damage_lines(&p)
            .iter()
            .any(|l| l.file.ends_with(file.as_str()));
        stop(&mut p);
        if metric == 0 || !named {
            failures.push(format!(
                "{file} cut at record boundary {cut} of {}: strata_open_damage {metric}, \
                 logged naming it: {named}",
                ends[ends.len() - 1]
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
