//! Helpers shared by the tests that run the real `strata` binary (and other
//! programs) as child processes: free ports, a child guard that kills on
//! drop, a blocking std::net HTTP/1.1 client, remote_write bodies, a JSON
//! lines export reader and a small seeded random number generator.
//!
//! Used by `clients.rs` (real Prometheus / VictoriaMetrics clients) and by
//! the reliability tests (`crash_server.rs`, `disk_full.rs`,
//! `overload.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use strata_server::formats::remote_write::{TimeSeries, WriteRequest, encode};

// ---------------------------------------------------------------- time

pub(crate) fn now_ms() -> i64 {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    i64::try_from(d.as_millis()).unwrap()
}

/// Milliseconds as the API's decimal seconds (`1700000000.123`).
pub(crate) fn secs(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

pub(crate) fn sleep_ms(ms: u64) {
    thread::sleep(Duration::from_millis(ms));
}

// ---------------------------------------------------------------- ports

/// A free 127.0.0.1 port, never the same one twice in this process (tests
/// run in parallel threads, and a restarted server must never be confused
/// with another test's).
pub(crate) fn free_port() -> u16 {
    static TAKEN: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if TAKEN.lock().unwrap().insert(port) {
            return port;
        }
    }
}

pub(crate) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

// ------------------------------------------------------------ processes

/// A child process with its output in `<dir>/<name>.log`; killed on drop.
#[derive(Debug)]
pub(crate) struct Proc {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Proc {
    pub(crate) fn spawn(name: &str, program: &Path, args: &[String], dir: &Path) -> Proc {
        let log = dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let err = out.try_clone().unwrap();
        let child = Command::new(program)
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        Proc {
            name: name.to_owned(),
            child,
            log,
        }
    }

    pub(crate) fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    pub(crate) fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// The whole log.
    pub(crate) fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL (`Child::kill` sends SIGKILL on Unix), and reap it.
    pub(crate) fn kill(&mut self) -> Option<ExitStatus> {
        let _ = self.child.kill();
        self.child.wait().ok()
    }

    /// Resident set size in KiB (`VmRSS` of `/proc/<pid>/status`), `None`
    /// once the process is gone.
    pub(crate) fn rss_kib(&self) -> Option<u64> {
        proc_status_kib(self.pid(), "VmRSS:")
    }
}

/// A `kB` field of `/proc/<pid>/status`.
pub(crate) fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line[field.len()..]
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() {
            eprintln!(
                "---- last lines of {} ({}):\n{}",
                self.name,
                self.log.display(),
                self.log_tail(25)
            );
        }
    }
}

/// Starts a server on a free port (`args` gets the port) and waits until
/// `GET ready_path` answers 200. A process that exits first because its port
/// was taken meanwhile is started again on another port.
pub(crate) fn start_server(
    name: &str,
    program: &Path,
    dir: &Path,
    ready_path: &str,
    args: impl Fn(u16) -> Vec<String>,
) -> (Proc, String) {
    let mut attempt = 0;
    'attempt: loop {
        attempt += 1;
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let mut p = Proc::spawn(name, program, &args(port), dir);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = p.exited() {
                let log = p.log_tail(40);
                if attempt < 3 && log.contains("address already in use") {
                    continue 'attempt;
                }
                panic!("{name} exited ({status}) before it was ready; log:\n{log}");
            }
            if let Ok((200, _)) = http(&addr, "GET", ready_path, &[], b"") {
                return (p, addr);
            }
            assert!(
                Instant::now() < deadline,
                "{name} not ready at http://{addr}{ready_path} after 60 s; log:\n{}",
                p.log_tail(40)
            );
            sleep_ms(if attempt == 1 { 20 } else { 100 });
        }
    }
}

/// The `strata` binary of this build.
pub(crate) fn strata_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_strata"))
}

/// `strata serve --data-dir <data> <extra...>` on a free port, logging to
/// `<dir>/<name>.log`; returns once `/-/ready` answers 200.
pub(crate) fn start_strata_at(
    name: &str,
    dir: &Path,
    data: &Path,
    extra: &[&str],
) -> (Proc, String) {
    start_server(name, strata_bin(), dir, "/-/ready", |port| {
        let mut args: Vec<String> = vec![
            "serve".into(),
            "--listen".into(),
            format!("127.0.0.1:{port}"),
            "--data-dir".into(),
            data.display().to_string(),
        ];
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        args
    })
}

// ---------------------------------------------------------------- HTTP

/// One blocking HTTP/1.1 request (`Connection: close`): status and body.
pub(crate) fn http(
    addr: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<(u16, Vec<u8>)> {
    http_timeout(addr, method, target, headers, body, Duration::from_secs(60))
}

/// [`http`] with a read and write timeout. A body shorter than its
/// `Content-Length`, or a chunked body cut short, is an error (the server
/// died while answering), never a short answer.
pub(crate) fn http_timeout(
    addr: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> std::io::Result<(u16, Vec<u8>)> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_owned());
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    let mut req = format!(
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())?;
    s.write_all(body)?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let end = find(&buf, b"\r\n\r\n").ok_or_else(|| bad("no end of headers"))?;
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no status"))?;
    let mut body = buf[end + 4..].to_vec();
    if head
        .lines()
        .any(|l| l.starts_with("transfer-encoding:") && l.contains("chunked"))
    {
        let mut out = Vec::new();
        let mut rest = &body[..];
        loop {
            let eol = find(rest, b"\r\n").ok_or_else(|| bad("bad chunk"))?;
            let size_text = String::from_utf8_lossy(&rest[..eol]);
            let size_text = size_text.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_text, 16).map_err(|_| bad("bad chunk size"))?;
            if size == 0 {
                break;
            }
            let chunk = rest
                .get(eol + 2..eol + 2 + size)
                .ok_or_else(|| bad("short chunk"))?;
            out.extend_from_slice(chunk);
            rest = rest
                .get(eol + 4 + size..)
                .ok_or_else(|| bad("short chunk"))?;
        }
        body = out;
    } else if let Some(len) = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        && body.len() < len
    {
        return Err(bad("body shorter than its content-length"));
    }
    Ok((status, body))
}

pub(crate) fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub(crate) fn with_params(path: &str, params: &[(&str, &str)]) -> String {
    let q: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
        .collect();
    format!("{path}?{}", q.join("&"))
}

// ------------------------------------------------------------ remote_write

/// A remote_write body (snappy-compressed protobuf).
pub(crate) fn write_body(timeseries: Vec<TimeSeries>) -> Vec<u8> {
    encode(&WriteRequest {
        timeseries,
        metadata: vec![],
    })
}

/// `POST /api/v1/write` with a body from [`write_body`].
pub(crate) fn post_write(
    addr: &str,
    body: &[u8],
    timeout: Duration,
) -> std::io::Result<(u16, Vec<u8>)> {
    http_timeout(
        addr,
        "POST",
        "/api/v1/write",
        &[
            ("Content-Encoding", "snappy"),
            ("Content-Type", "application/x-protobuf"),
            ("X-Prometheus-Remote-Write-Version", "0.1.0"),
        ],
        body,
        timeout,
    )
}

// ------------------------------------------------------------ export

/// A label set.
pub(crate) type LabelSet = BTreeMap<String, String>;

/// One series of `/api/v1/export`: labels, then (timestamp ms, value) in
/// the order the server sent them.
pub(crate) type Exported = Vec<(LabelSet, Vec<(i64, f64)>)>;

/// `GET /api/v1/export?match[]=<selector>`: every line parsed. Panics on a
/// non-200 answer or a line that does not parse.
pub(crate) fn export(addr: &str, selector: &str) -> Exported {
    let target = with_params("/api/v1/export", &[("match[]", selector)]);
    let (status, body) = http(addr, "GET", &target, &[], b"")
        .unwrap_or_else(|e| panic!("GET http://{addr}{target}: {e}"));
    assert_eq!(
        status,
        200,
        "GET http://{addr}{target}: {}",
        String::from_utf8_lossy(&body)
    );
    parse_export(&body)
}

/// Parses VictoriaMetrics JSON lines (`{"metric":{..},"values":[..],"timestamps":[..]}`).
pub(crate) fn parse_export(body: &[u8]) -> Exported {
    let text = std::str::from_utf8(body).expect("export is UTF-8");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let v: Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("export line {line:?}: {e}"));
            let labels: LabelSet = v["metric"]
                .as_object()
                .unwrap_or_else(|| panic!("export line without metric: {line}"))
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .collect();
            let values = v["values"].as_array().expect("values");
            let ts = v["timestamps"].as_array().expect("timestamps");
            assert_eq!(values.len(), ts.len(), "export line: {line}");
            let points = ts
                .iter()
                .zip(values)
                .map(|(t, x)| {
                    let t = t.as_i64().unwrap_or_else(|| panic!("timestamp {t}"));
                    let x = match x {
                        Value::Null => f64::NAN,
                        Value::String(s) if s == "Infinity" => f64::INFINITY,
                        Value::String(s) if s == "-Infinity" => f64::NEG_INFINITY,
                        other => other.as_f64().unwrap_or_else(|| panic!("value {other}")),
                    };
                    (t, x)
                })
                .collect();
            (labels, points)
        })
        .collect()
}

// ------------------------------------------------------------ randomness

/// SplitMix64: a small, seeded, reproducible generator (the tests print
/// their seed; set it again through the test's env var to replay a run).
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// A seed from `env_var` if set (decimal or 0x-hex), else from the clock.
    pub(crate) fn seed_from_env(env_var: &str) -> u64 {
        match std::env::var(env_var) {
            Ok(s) => {
                let s = s.trim();
                let parsed = match s.strip_prefix("0x") {
                    Some(h) => u64::from_str_radix(h, 16),
                    None => s.parse(),
                };
                parsed.unwrap_or_else(|e| panic!("{env_var}={s:?}: {e}"))
            }
            Err(_) => {
                let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
                (d.as_nanos() as u64) ^ (u64::from(std::process::id()) << 32)
            }
        }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[lo, hi)` (`lo` when the range is empty).
    pub(crate) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            lo
        } else {
            lo + self.next_u64() % (hi - lo)
        }
    }
}

/// A 64-bit mix of `x` (SplitMix64's finaliser): values derived from
/// (series, timestamp) that look random but can be recomputed exactly.
pub(crate) fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
