//! Issue 14, connections: the real binary closes clients that send nothing,
//! half a header, or sit idle, and a connection cap cannot lock normal
//! clients out for longer than the slow ones' timeout.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::process::{http_timeout, start_strata_at};

/// Waits until the server closes `s` (EOF or reset); how long that took.
fn closed_after(mut s: TcpStream, limit: Duration) -> Duration {
    let started = Instant::now();
    s.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return started.elapsed(),
            Ok(_) => {} // a 408 or similar before the close is fine
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                panic!("connection still open after {limit:?}")
            }
            Err(_) => return started.elapsed(),
        }
    }
}

fn metric(addr: &str, name: &str) -> f64 {
    let (_, body) =
        http_timeout(addr, "GET", "/metrics", &[], b"", Duration::from_secs(10)).unwrap();
    let text = String::from_utf8(body).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
        .unwrap_or_else(|| panic!("{name} not in /metrics:\n{text}"))
}

#[test]
fn silent_and_half_header_clients_are_closed_and_the_cap_frees_up() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (_p, addr) = start_strata_at(
        "strata",
        dir.path(),
        &data,
        &[
            "--header-read-timeout",
            "1s",
            "--idle-timeout",
            "3s",
            "--max-connections",
            "4",
        ],
    );
    // Fill every slot: two send nothing, two send half a header.
    let mut slow = Vec::new();
    for i in 0..4 {
        let mut s = TcpStream::connect(&addr).unwrap();
        if i % 2 == 1 {
            s.write_all(b"GET /api/v1/labels HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .unwrap();
        }
        slow.push(s);
    }
    std::thread::sleep(Duration::from_millis(200));
    // A normal request waits in the backlog until the slow ones time out,
    // then is answered.
    let started = Instant::now();
    let (status, body) = http_timeout(
        &addr,
        "GET",
        "/api/v1/status/buildinfo",
        &[],
        b"",
        Duration::from_secs(20),
    )
    .unwrap();
    let waited = started.elapsed();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert!(
        waited >= Duration::from_millis(300),
        "answered after {waited:?}: the cap of 4 connections was not applied"
    );
    assert!(
        waited < Duration::from_secs(8),
        "answered only after {waited:?}"
    );
    for s in slow {
        let took = closed_after(s, Duration::from_secs(8));
        assert!(took < Duration::from_secs(8), "{took:?}");
    }
    assert!(metric(&addr, "strata_http_connections_timed_out_total ") >= 4.0);
}

#[test]
fn idle_keep_alive_connections_use_the_idle_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (_p, addr) = start_strata_at(
        "strata",
        dir.path(),
        &data,
        &["--header-read-timeout", "1s", "--idle-timeout", "3s"],
    );
    let mut s = TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let req = format!("GET /api/v1/status/buildinfo HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    let answer = |s: &mut TcpStream| {
        s.write_all(req.as_bytes()).unwrap();
        let mut buf = vec![0u8; 8192];
        let n = s.read(&mut buf).unwrap();
        let head = String::from_utf8_lossy(&buf[..n]).into_owned();
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    };
    answer(&mut s);
    // Idle longer than the header timeout but within the idle timeout: the
    // connection is still usable.
    std::thread::sleep(Duration::from_millis(1600));
    answer(&mut s);
    let took = closed_after(s, Duration::from_secs(10));
    assert!(
        took >= Duration::from_millis(2000) && took < Duration::from_secs(8),
        "closed after {took:?} idle (idle timeout 3 s)"
    );
    // The /metrics request itself is the one open connection (a probe's
    // may still be closing).
    let open = metric(&addr, "strata_http_open_connections ");
    assert!((1.0..=2.0).contains(&open), "{open} connections open");
}
