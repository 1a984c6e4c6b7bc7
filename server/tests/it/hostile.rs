//! Hostile requests (issue 14): single requests, and bursts of them, sent
//! as an attacker would to the real `strata` binary holding some data.
//!
//! Every case is one class of input that took the process down, or made it
//! hang, allocate without bound or burn seconds of CPU before this suite:
//! time parameters out of range, expressions deep or wide enough to
//! overflow a stack, compression bombs, parsers fed huge lines, samples
//! from a broken clock, admin endpoints, connections that never finish.
//! After each case the suite asserts that the process is alive, that
//! `/-/ready` answers 200, that every answer had an expected status within
//! the case's bound, and that the resident size stays under [`RSS_BOUND_KIB`]
//! (checked on the peak, `VmHWM`, so a burst between two checks counts).
//! At the end every stored sample reads back unchanged.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use strata_server::formats::remote_write::{Label, Sample, TimeSeries};

use crate::process::{
    Exported, Proc, export, http_timeout, now_ms, post_write, proc_status_kib, start_strata_at,
    with_params, write_body,
};

/// Peak resident size allowed over the whole suite, 16 concurrent bombs
/// included (the issue's bound).
const RSS_BOUND_KIB: u64 = 300 * 1024;
/// Header-read and idle timeouts the server runs with here (short, so the
/// connection cases finish quickly).
const HEADER_TIMEOUT_S: u64 = 1;
const MAX_CONNECTIONS: usize = 64;

/// What a case sent: each answer's status and how long it took.
type Answers = Vec<(u16, Duration)>;

struct Case {
    name: &'static str,
    /// Statuses every answer must have.
    expect: &'static [u16],
    /// Every answer must come within this.
    within: Duration,
    run: Box<dyn Fn(&str) -> Answers>,
}

fn label(name: &str, value: &str) -> Label {
    Label {
        name: name.into(),
        value: value.into(),
    }
}

fn timed(f: impl FnOnce() -> std::io::Result<(u16, Vec<u8>)>) -> (u16, Duration, Vec<u8>) {
    let t = Instant::now();
    match f() {
        Ok((s, b)) => (s, t.elapsed(), b),
        // No answer at all (connection reset or timed out): status 0 fails
        // every expectation.
        Err(e) => (0, t.elapsed(), e.to_string().into_bytes()),
    }
}

fn get(addr: &str, target: &str) -> (u16, Duration, Vec<u8>) {
    timed(|| http_timeout(addr, "GET", target, &[], b"", Duration::from_secs(30)))
}

fn post(
    addr: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Duration, Vec<u8>) {
    timed(|| http_timeout(addr, "POST", target, headers, body, Duration::from_secs(30)))
}

fn form(addr: &str, target: &str, params: &[(&str, &str)]) -> (u16, Duration, Vec<u8>) {
    let body = with_params("", params);
    let body = body.trim_start_matches('?').to_owned();
    post(
        addr,
        target,
        &[("Content-Type", "application/x-www-form-urlencoded")],
        body.as_bytes(),
    )
}

/// One answer, with its body checked to name the problem (Prometheus'
/// error JSON with `needle` in `error`).
fn one_naming(answer: (u16, Duration, Vec<u8>), needle: &str) -> Answers {
    let (status, took, body) = answer;
    let text = String::from_utf8_lossy(&body);
    if (400..500).contains(&status) && !needle.is_empty() {
        let v: serde_json::Value = serde_json::from_slice(&body)
            .unwrap_or_else(|e| panic!("answer {status} is not JSON ({e}): {text}"));
        assert_eq!(v["status"], "error", "{text}");
        let err = v["error"].as_str().unwrap_or_default();
        assert!(
            err.to_lowercase().contains(&needle.to_lowercase()),
            "error {err:?} does not name {needle:?}"
        );
    }
    vec![(status, took)]
}

fn one(answer: (u16, Duration, Vec<u8>)) -> Answers {
    one_naming(answer, "")
}

fn query_range(
    addr: &str,
    q: &str,
    start: &str,
    end: &str,
    step: &str,
) -> (u16, Duration, Vec<u8>) {
    get(
        addr,
        &with_params(
            "/api/v1/query_range",
            &[("query", q), ("start", start), ("end", end), ("step", step)],
        ),
    )
}

fn query(addr: &str, q: &str) -> (u16, Duration, Vec<u8>) {
    form(addr, "/api/v1/query", &[("query", q)])
}

fn query_at(addr: &str, q: &str, time: &str) -> (u16, Duration, Vec<u8>) {
    get(
        addr,
        &with_params("/api/v1/query", &[("query", q), ("time", time)]),
    )
}

/// `n` copies of the request at once; all answers.
fn concurrently(
    addr: &str,
    n: usize,
    send: impl Fn(&str) -> (u16, Duration, Vec<u8>) + Send + Sync + 'static,
) -> Answers {
    let send = Arc::new(send);
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let send = send.clone();
            let addr = addr.to_owned();
            thread::spawn(move || {
                let (s, d, _) = send(&addr);
                (s, d)
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

/// A snappy block header declaring `len` bytes, followed by a few literal
/// bytes: a 10-byte body that claims to be huge.
fn snappy_liar(len: u64) -> Vec<u8> {
    let mut out = Vec::new();
    let mut v = len;
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
    // A 4-byte literal.
    out.extend_from_slice(&[0x0c, b'a', b'b', b'c', b'd']);
    out
}

fn snappy_zeros(n: usize) -> Vec<u8> {
    snap::raw::Encoder::new()
        .compress_vec(&vec![0u8; n])
        .unwrap()
}

fn gzip_zeros(n: usize) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    let mut left = n;
    while left > 0 {
        let k = left.min(zeros.len());
        enc.write_all(&zeros[..k]).unwrap();
        left -= k;
    }
    enc.finish().unwrap()
}

fn zstd_zeros(n: usize) -> Vec<u8> {
    let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..n / zeros.len() {
        enc.write_all(&zeros).unwrap();
    }
    enc.finish().unwrap()
}

/// A POST whose body the server may refuse before reading it: the body is
/// written from another thread (its write errors ignored) while this one
/// reads the answer.
fn post_unread(addr: &str, target: &str, body: Vec<u8>) -> (u16, Duration, Vec<u8>) {
    let started = Instant::now();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let head = format!(
        "POST {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut w = s.try_clone().unwrap();
    let writer = thread::spawn(move || {
        let _ = w
            .write_all(head.as_bytes())
            .and_then(|()| w.write_all(&body));
    });
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    // Read until the status line is in.
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let _ = s.shutdown(std::net::Shutdown::Both);
    let _ = writer.join();
    let status = String::from_utf8_lossy(&buf)
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, started.elapsed(), buf)
}

/// A chain `x op x op ... x` of `terms` terms.
fn chain(op: &str, terms: usize) -> String {
    vec!["x"; terms].join(op)
}

fn nested(open: &str, inner: &str, close: &str, depth: usize) -> String {
    format!("{}{inner}{}", open.repeat(depth), close.repeat(depth))
}

/// The series the suite stores first and reads back at the end.
fn seed(addr: &str, now: i64) -> Exported {
    let series: Vec<TimeSeries> = (0..20)
        .map(|i| TimeSeries {
            labels: vec![
                label("__name__", "hostile_seed"),
                label("instance", &format!("host-{i}")),
            ],
            samples: (0..240)
                .map(|j| Sample {
                    value: (i * 1000 + j) as f64 / 8.0,
                    timestamp: now - 3_600_000 + j * 15_000,
                })
                .collect(),
        })
        .collect();
    let (status, body) = post_write(addr, &write_body(series), Duration::from_secs(30)).unwrap();
    assert_eq!(status, 204, "{}", String::from_utf8_lossy(&body));
    let stored = export(addr, "hostile_seed");
    assert_eq!(stored.len(), 20);
    stored
}

/// The cases, in the order they run.
fn cases() -> Vec<Case> {
    // Generous for a loaded 2-core CI machine running other suites at once;
    // each answer here takes milliseconds when the machine is idle.
    let fast = Duration::from_secs(5);
    let mut v: Vec<Case> = Vec::new();
    let mut add = |name, expect, within, run: Box<dyn Fn(&str) -> Answers>| {
        v.push(Case {
            name,
            expect,
            within,
            run,
        });
    };

    // ---- time parameters
    add(
        "range at 1e300",
        &[400],
        fast,
        Box::new(|a| one_naming(query_range(a, "1", "1e300", "1e300", "1"), "start")),
    );
    add(
        "range -1e300..1e300 step 1e290",
        &[400],
        fast,
        Box::new(|a| one(query_range(a, "1", "-1e300", "1e300", "1e290"))),
    );
    add(
        "subquery @ 9223372036854775.807",
        &[400],
        fast,
        Box::new(|a| {
            one(query(
                a,
                "max_over_time(hostile_seed[1h:1s] @ 9223372036854775.807)",
            ))
        }),
    );
    add(
        "@ -1e300",
        &[400],
        fast,
        Box::new(|a| one(query(a, "hostile_seed @ -1e300"))),
    );
    add(
        "@ NaN via time",
        &[400],
        fast,
        Box::new(|a| one_naming(query_at(a, "1", "NaN"), "time")),
    );
    add(
        "time=Inf",
        &[400],
        fast,
        Box::new(|a| one_naming(query_at(a, "1", "Inf"), "time")),
    );
    add(
        "time=1e19",
        &[400],
        fast,
        Box::new(|a| one_naming(query_at(a, "1", "1e19"), "time")),
    );
    add(
        "step=0",
        &[400],
        fast,
        Box::new(|a| one_naming(query_range(a, "1", "0", "100", "0"), "step")),
    );
    add(
        "step=-5",
        &[400],
        fast,
        Box::new(|a| one_naming(query_range(a, "1", "0", "100", "-5"), "step")),
    );
    add(
        "step=NaN",
        &[400],
        fast,
        Box::new(|a| one_naming(query_range(a, "1", "0", "100", "NaN"), "step")),
    );
    add(
        "step=1e-9 (rounds to nothing)",
        &[400],
        fast,
        Box::new(|a| one(query_range(a, "1", "0", "1", "1e-9"))),
    );
    add(
        "end before start",
        &[400],
        fast,
        Box::new(|a| one_naming(query_range(a, "1", "1000", "10", "1"), "end")),
    );
    add(
        "11,001 points",
        &[400],
        fast,
        Box::new(|a| one_naming(query_range(a, "1", "0", "11001", "1"), "11,000")),
    );
    add(
        "offset of 10^12 years",
        &[400],
        fast,
        Box::new(|a| one(query(a, "hostile_seed offset 1000000000000y"))),
    );
    add(
        "range selector of 10^12 years",
        &[400],
        fast,
        Box::new(|a| one(query(a, "rate(hostile_seed[1000000000000y])"))),
    );
    add(
        "subquery of 10^11 steps",
        &[400, 422],
        fast,
        Box::new(|a| one(query(a, "max_over_time(hostile_seed[1000d:1ms])"))),
    );
    add(
        "nested subqueries, heavy but within limits",
        &[200, 422],
        fast * 5,
        Box::new(|a| {
            one(query(
                a,
                "max_over_time(max_over_time(max_over_time(hostile_seed[1d:1s])[1d:1s])[1d:1s])",
            ))
        }),
    );
    add(
        "nested subqueries multiplying steps",
        &[400, 422],
        fast,
        Box::new(|a| {
            one(query(
                a,
                "max_over_time(max_over_time(max_over_time(hostile_seed[10d:1s])[10d:1s])[10d:1s])",
            ))
        }),
    );

    // ---- expression shape
    add(
        "x+x+... 5,000 terms",
        &[400],
        fast,
        Box::new(|a| one(query(a, &chain("+", 5000)))),
    );
    add(
        "a and a and ... 3,000 terms",
        &[400],
        fast,
        Box::new(|a| one(query(a, &chain(" and ", 3000)))),
    );
    add(
        "x^x^... right-associative 7,000 terms",
        &[400],
        fast,
        Box::new(|a| one(query(a, &chain("^", 7000)))),
    );
    add(
        "parse_query of x+x+...",
        &[400],
        fast,
        Box::new(|a| {
            one(form(
                a,
                "/api/v1/parse_query",
                &[("query", &chain("+", 5000))],
            ))
        }),
    );
    add(
        "format_query of a and a ...",
        &[400],
        fast,
        Box::new(|a| {
            one(form(
                a,
                "/api/v1/format_query",
                &[("query", &chain(" and ", 3000))],
            ))
        }),
    );
    add(
        "16,000 unary minus",
        &[400],
        fast,
        Box::new(|a| one(query(a, &format!("{}x", "-".repeat(16_000))))),
    );
    add(
        "8,000 nested parentheses",
        &[400],
        fast,
        Box::new(|a| one(query(a, &nested("(", "x", ")", 8000)))),
    );
    add(
        "3,000 nested calls",
        &[400],
        fast,
        Box::new(|a| one(query(a, &nested("abs(", "x", ")", 3000)))),
    );
    add(
        "2,000 nested aggregations",
        &[400],
        fast,
        Box::new(|a| one(query(a, &nested("sum(", "x", ")", 2000)))),
    );
    add(
        "1,000 nested subqueries",
        &[400],
        fast,
        Box::new(|a| one(query(a, &nested("max_over_time((", "x", ")[1m:10s])", 500)))),
    );
    add(
        "query over the length limit",
        &[400],
        fast,
        Box::new(|a| one(query(a, &chain("+", 20_000)))),
    );
    add(
        "32 concurrent deep chains",
        &[400, 429],
        fast * 5,
        Box::new(|a| concurrently(a, 32, |a| query(a, &chain("+", 5000)))),
    );

    // ---- compression bombs and bodies
    add(
        "snappy header declaring 250 MiB",
        &[400, 413],
        fast,
        Box::new(|a| {
            one(timed(|| {
                post_write(a, &snappy_liar(250 << 20), Duration::from_secs(30))
            }))
        }),
    );
    add(
        "16 concurrent 250 MiB liars",
        &[400, 413, 503],
        fast * 5,
        Box::new(|a| {
            concurrently(a, 16, |a| {
                timed(|| post_write(a, &snappy_liar(250 << 20), Duration::from_secs(30)))
            })
        }),
    );
    add(
        "snappy zeros over the decompressed cap",
        &[400, 413],
        fast * 3,
        Box::new(|a| {
            let body = snappy_zeros(200 << 20);
            one(timed(|| post_write(a, &body, Duration::from_secs(30))))
        }),
    );
    add(
        "16 concurrent real snappy bombs",
        &[400, 413, 503],
        fast * 10,
        Box::new(|a| {
            let body = Arc::new(snappy_zeros(60 << 20));
            concurrently(a, 16, move |a| {
                let body = body.clone();
                timed(|| post_write(a, &body, Duration::from_secs(30)))
            })
        }),
    );
    add(
        "gzip bomb on import (256 MiB of zeros)",
        &[400, 413],
        fast * 5,
        Box::new(|a| {
            let body = gzip_zeros(256 << 20);
            one(post(
                a,
                "/api/v1/import",
                &[("Content-Encoding", "gzip")],
                &body,
            ))
        }),
    );
    add(
        "16 concurrent gzip bombs on import",
        &[400, 413, 503],
        fast * 10,
        Box::new(|a| {
            let body = Arc::new(gzip_zeros(128 << 20));
            concurrently(a, 16, move |a| {
                post(
                    a,
                    "/api/v1/import/prometheus",
                    &[("Content-Encoding", "gzip")],
                    &body,
                )
            })
        }),
    );
    add(
        "zstd bomb on import",
        &[400, 413],
        fast * 5,
        Box::new(|a| {
            let body = zstd_zeros(256 << 20);
            one(post(
                a,
                "/api/v1/import",
                &[("Content-Encoding", "zstd")],
                &body,
            ))
        }),
    );
    add(
        "unknown Content-Encoding on import",
        &[415],
        fast,
        Box::new(|a| {
            one(post(
                a,
                "/api/v1/import",
                &[("Content-Encoding", "br")],
                b"{}",
            ))
        }),
    );
    add(
        "body over the request limit",
        &[413],
        fast * 3,
        Box::new(|a| {
            one(post_unread(
                a,
                "/api/v1/import/prometheus",
                vec![b'#'; 40 << 20],
            ))
        }),
    );
    add(
        "remote_read snappy liar",
        &[400, 413],
        fast,
        Box::new(|a| {
            one(post(
                a,
                "/api/v1/read",
                &[("Content-Encoding", "snappy")],
                &snappy_liar(250 << 20),
            ))
        }),
    );
    add(
        "remote_write garbage protobuf",
        &[400],
        fast,
        Box::new(|a| {
            let body = snap::raw::Encoder::new().compress_vec(&[0xff; 64]).unwrap();
            one(timed(|| post_write(a, &body, Duration::from_secs(30))))
        }),
    );

    // ---- parsers in linear time
    add(
        "exposition line with 100,000 labels",
        &[400],
        fast,
        Box::new(|a| {
            let labels: Vec<String> = (0..100_000).map(|i| format!("l{i}=\"v\"")).collect();
            let body = format!("m{{{}}} 1\n", labels.join(","));
            one(post(a, "/api/v1/import/prometheus", &[], body.as_bytes()))
        }),
    );
    add(
        "exposition label value of 4 MiB",
        &[400],
        fast,
        Box::new(|a| {
            let body = format!("m{{l=\"{}\"}} 1\n", "v".repeat(4 << 20));
            one(post(a, "/api/v1/import/prometheus", &[], body.as_bytes()))
        }),
    );
    add(
        "exposition metric name of 4 MiB",
        &[400],
        fast,
        Box::new(|a| {
            let body = format!("{} 1\n", "m".repeat(4 << 20));
            one(post(a, "/api/v1/import/prometheus", &[], body.as_bytes()))
        }),
    );
    add(
        "JSON line with 100,000 labels",
        &[400],
        fast,
        Box::new(|a| {
            let labels: Vec<String> = (0..100_000).map(|i| format!("\"l{i}\":\"v\"")).collect();
            let body = format!(
                "{{\"metric\":{{\"__name__\":\"m\",{}}},\"values\":[1],\"timestamps\":[{}]}}\n",
                labels.join(","),
                now_ms()
            );
            one(post(a, "/api/v1/import", &[], body.as_bytes()))
        }),
    );
    add(
        "JSON line nested 100,000 deep",
        &[400],
        fast,
        Box::new(|a| {
            let body = format!("{{\"metric\":{}\n", "[".repeat(100_000));
            one(post(a, "/api/v1/import", &[], body.as_bytes()))
        }),
    );
    add(
        "remote_write series with 100,000 labels",
        &[400],
        fast,
        Box::new(|a| {
            let mut labels = vec![label("__name__", "hostile_wide")];
            labels.extend((0..100_000).map(|i| label(&format!("l{i:06}"), "v")));
            let body = write_body(vec![TimeSeries {
                labels,
                samples: vec![Sample {
                    value: 1.0,
                    timestamp: now_ms(),
                }],
            }]);
            one(timed(|| post_write(a, &body, Duration::from_secs(30))))
        }),
    );
    add(
        "regex matcher that compiles huge",
        &[400],
        fast,
        Box::new(|a| {
            one(query(
                a,
                "hostile_seed{instance=~\"((((a{1,100}){1,100}){1,100}){1,100})\"}",
            ))
        }),
    );

    // ---- a broken clock
    add(
        "remote_write 3 days ahead",
        &[400],
        fast,
        Box::new(|a| {
            let body = write_body(vec![TimeSeries {
                labels: vec![label("__name__", "hostile_future")],
                samples: vec![Sample {
                    value: 1.0,
                    timestamp: now_ms() + 3 * 86_400_000,
                }],
            }]);
            one(timed(|| post_write(a, &body, Duration::from_secs(30))))
        }),
    );
    add(
        "import a year ahead",
        &[400],
        fast,
        Box::new(|a| {
            let body = format!("hostile_future 1 {}\n", now_ms() + 365 * 86_400_000);
            one(post(a, "/api/v1/import/prometheus", &[], body.as_bytes()))
        }),
    );
    add(
        "remote_write at i64::MAX",
        &[400],
        fast,
        Box::new(|a| {
            let body = write_body(vec![TimeSeries {
                labels: vec![label("__name__", "hostile_future")],
                samples: vec![Sample {
                    value: 1.0,
                    timestamp: i64::MAX,
                }],
            }]);
            one(timed(|| post_write(a, &body, Duration::from_secs(30))))
        }),
    );

    // ---- admin endpoints, off by default
    add(
        "delete_series of everything",
        &[403],
        fast,
        Box::new(|a| {
            one_naming(
                form(
                    a,
                    "/api/v1/admin/tsdb/delete_series",
                    &[("match[]", "{__name__=~\".+\"}")],
                ),
                "enable-admin-api",
            )
        }),
    );
    add(
        "delete_series by GET",
        &[403, 405],
        fast,
        Box::new(|a| {
            one(get(
                a,
                &with_params(
                    "/api/v1/admin/tsdb/delete_series",
                    &[("match[]", "hostile_seed")],
                ),
            ))
        }),
    );
    add(
        "Prometheus snapshot",
        &[403],
        fast,
        Box::new(|a| one(post(a, "/api/v1/admin/tsdb/snapshot", &[], b""))),
    );
    add(
        "VictoriaMetrics snapshot/create",
        &[403],
        fast,
        Box::new(|a| one(get(a, "/snapshot/create"))),
    );
    add(
        "VictoriaMetrics snapshot/delete_all",
        &[403],
        fast,
        Box::new(|a| one(get(a, "/snapshot/delete_all"))),
    );
    add(
        "8 concurrent force_merge",
        &[200, 429],
        fast * 15,
        Box::new(|a| concurrently(a, 8, |a| get(a, "/internal/force_merge"))),
    );

    // ---- limiter on every route
    add(
        "64 concurrent parse_query",
        &[200, 429],
        fast * 3,
        Box::new(|a| {
            concurrently(a, 64, |a| {
                form(a, "/api/v1/parse_query", &[("query", "sum(rate(x[5m]))")])
            })
        }),
    );
    add(
        "64 concurrent format_query",
        &[200, 429],
        fast * 3,
        Box::new(|a| {
            concurrently(a, 64, |a| {
                form(a, "/api/v1/format_query", &[("query", "sum(rate(x[5m]))")])
            })
        }),
    );

    // ---- connections
    add(
        "more idle connections than the cap",
        &[200],
        fast * 4,
        Box::new(|a| {
            let idle: Vec<TcpStream> = (0..MAX_CONNECTIONS * 2)
                .filter_map(|_| TcpStream::connect(a).ok())
                .collect();
            // A normal request is answered: right away, or once the idle
            // connections time out.
            let answer = one(timed(|| {
                http_timeout(a, "GET", "/api/v1/labels", &[], b"", Duration::from_secs(8))
            }));
            // The server has closed the idle connections by now.
            thread::sleep(Duration::from_secs(HEADER_TIMEOUT_S + 1));
            for mut s in idle {
                s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                let mut buf = [0u8; 256];
                let closed = match s.read(&mut buf) {
                    Ok(0) => true,
                    // A 408 or other answer before closing is fine too.
                    Ok(_) => s.read(&mut buf).map_or(true, |n| n == 0),
                    Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
                };
                assert!(closed, "an idle connection was still open");
            }
            answer
        }),
    );
    add(
        "slowloris header, a byte at a time",
        &[0, 408],
        fast * 4,
        Box::new(|a| {
            let mut s = TcpStream::connect(a).unwrap();
            let started = Instant::now();
            let header = b"GET /api/v1/labels HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
            let mut status = 0;
            for b in header {
                if s.write_all(&[*b]).is_err() {
                    break;
                }
                thread::sleep(Duration::from_millis(100));
                if started.elapsed() > Duration::from_secs(HEADER_TIMEOUT_S * 5) {
                    panic!(
                        "the server still reads a header after {:?}",
                        started.elapsed()
                    );
                }
            }
            s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            let mut buf = Vec::new();
            let _ = s.read_to_end(&mut buf);
            if buf.starts_with(b"HTTP/1.1 408") {
                status = 408;
            }
            vec![(status, started.elapsed())]
        }),
    );
    v
}

#[test]
fn hostile_requests_neither_kill_nor_bloat_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let timeout = format!("{HEADER_TIMEOUT_S}s");
    let max_conn = MAX_CONNECTIONS.to_string();
    let (mut p, addr) = start_strata_at(
        "strata",
        dir.path(),
        &data,
        &[
            "--header-read-timeout",
            &timeout,
            "--idle-timeout",
            &timeout,
            "--max-connections",
            &max_conn,
        ],
    );
    let now = now_ms();
    let stored = seed(&addr, now);
    let baseline = proc_status_kib(p.pid(), "VmRSS:").unwrap();
    eprintln!("hostile: seeded, RSS {baseline} KiB");
    let all = cases();
    assert!(all.len() >= 40, "{} cases", all.len());
    for case in &all {
        let answers = (case.run)(&addr);
        check_alive(&mut p, &addr, case.name);
        let peak = proc_status_kib(p.pid(), "VmHWM:").unwrap();
        let rss = proc_status_kib(p.pid(), "VmRSS:").unwrap();
        eprintln!(
            "hostile: {:<45} {:?} RSS {rss} KiB, peak {peak} KiB",
            case.name,
            answers.iter().map(|(s, _)| *s).collect::<Vec<_>>()
        );
        for (status, took) in &answers {
            assert!(
                case.expect.contains(status),
                "{}: status {status}, expected one of {:?}",
                case.name,
                case.expect
            );
            assert!(
                *took <= case.within,
                "{}: answered in {took:?}, bound {:?}",
                case.name,
                case.within
            );
        }
        assert!(
            peak < RSS_BOUND_KIB,
            "{}: peak resident size {peak} KiB over the bound {RSS_BOUND_KIB} KiB",
            case.name
        );
    }
    // Nothing stored was lost or changed, and nothing from the future or
    // from refused requests was stored.
    assert_eq!(export(&addr, "hostile_seed"), stored);
    assert!(export(&addr, "hostile_future").is_empty());
    assert!(export(&addr, "hostile_wide").is_empty());
    let (status, _, metrics) = get(&addr, "/metrics");
    assert_eq!(status, 200);
    let metrics = String::from_utf8_lossy(&metrics);
    assert!(
        metrics.contains("too_far_in_future"),
        "the future samples are not counted in /metrics"
    );
}

/// The process is running and `/-/ready` answers 200.
fn check_alive(p: &mut Proc, addr: &str, case: &str) {
    if let Some(status) = p.exited() {
        panic!("{case}: the server exited ({status}):\n{}", p.log_tail(30));
    }
    let (status, _, body) = get(addr, "/-/ready");
    assert_eq!(
        status,
        200,
        "{case}: /-/ready answered {status}: {}",
        String::from_utf8_lossy(&body)
    );
}
