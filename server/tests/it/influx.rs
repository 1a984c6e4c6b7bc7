//! InfluxDB line protocol against the real `strata` binary: the Python
//! `influxdb-client` (PyPI; `.ci/run` installs it) writes points with every
//! field type, escaped tag values, at every precision, gzipped and not;
//! raw bodies check the bad-line answer, `db`, the `/write` and
//! `/influx/write` paths and `--influx-listen`. Without python3 or the
//! module the client test prints `SKIPPED: needs ...` and passes, unless
//! `STRATA_REQUIRE_ALL=1`.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use strata_promql::promqltest::require;

use crate::process::{
    LabelSet, export, free_port, http, now_ms, sleep_ms, start_strata_at, with_params,
};

const SCRIPT: &str = r#"
import sys
from influxdb_client import InfluxDBClient, Point, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS

url, base = sys.argv[1], int(sys.argv[2])
cases = [
    (WritePrecision.NS, 10**9, 123456789, False),
    (WritePrecision.US, 10**6, 123456, True),
    (WritePrecision.MS, 10**3, 123, False),
    (WritePrecision.S, 1, 0, True),
]
for i, (prec, mult, frac, gzip) in enumerate(cases):
    with InfluxDBClient(url=url, token="t", org="o", enable_gzip=gzip) as c:
        w = c.write_api(write_options=SYNCHRONOUS)
        p = (
            Point("weather")
            .tag("host", "a b,c=d\\e")
            .tag("prec", str(prec))
            .field("temp", 21.5)
            .field("count", -7)
            .field("up", True)
            .field("down", False)
            .field("word", 'say "hi", ok')
            .field("numstr", "42.5")
            .time((base + i) * mult + frac, prec)
        )
        w.write(bucket="home", record=p, write_precision=prec)
print("ok")
"#;

/// Whether `python3` can import `influxdb_client`; a `SKIPPED:` line (a
/// failure under `STRATA_REQUIRE_ALL=1`) when not.
fn have_client() -> bool {
    let remedy = "python3 -m pip install influxdb-client";
    if require::program("python3", "apt-get install -y python3").is_none() {
        return false;
    }
    let ok = Command::new("python3")
        .args(["-c", "import influxdb_client"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        require::missing("the Python module influxdb_client", remedy);
    }
    ok
}

fn series(addr: &str, selector: &str) -> BTreeMap<LabelSet, Vec<(i64, f64)>> {
    export(addr, selector).into_iter().collect()
}

fn labels(pairs: &[(&str, &str)]) -> LabelSet {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn influxdb_client_writes_every_field_type_and_precision() {
    if !have_client() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_strata, addr) = start_strata_at("strata", dir.path(), &dir.path().join("data"), &[]);
    let base = now_ms() / 1000 - 600;
    let script = dir.path().join("write.py");
    std::fs::write(&script, SCRIPT).unwrap();
    let out = Command::new("python3")
        .arg(&script)
        .arg(format!("http://{addr}"))
        .arg(base.to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "client failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let got = series(&addr, r#"{__name__=~"weather_.*"}"#);
    let mut want = BTreeMap::new();
    let precisions = [("ns", 123), ("us", 123), ("ms", 123), ("s", 0)];
    for (i, (prec, frac_ms)) in precisions.into_iter().enumerate() {
        let t = (base + i as i64) * 1000 + frac_ms;
        for (field, v) in [
            ("temp", 21.5),
            ("count", -7.0),
            ("up", 1.0),
            ("down", 0.0),
            // Strings as VictoriaMetrics 1.79: the number they spell, else 0.
            ("word", 0.0),
            ("numstr", 42.5),
        ] {
            want.insert(
                labels(&[
                    ("__name__", &format!("weather_{field}")),
                    ("host", "a b,c=d\\e"),
                    ("prec", prec),
                    ("db", "home"),
                ]),
                vec![(t, v)],
            );
        }
    }
    assert_eq!(got, want);
    // And through PromQL.
    let q = with_params(
        "/api/v1/query",
        &[
            ("query", r#"weather_temp{prec="us",host="a b,c=d\\e"}"#),
            ("time", &(base + 5).to_string()),
        ],
    );
    let (status, body) = http(&addr, "GET", &q, &[], b"").unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["data"]["result"][0]["value"][1], "21.5", "{v}");
    assert_eq!(v["data"]["result"][0]["metric"]["db"], "home", "{v}");
}

#[test]
fn bad_lines_get_400_naming_the_line_and_good_lines_are_stored() {
    let dir = tempfile::tempdir().unwrap();
    let (_strata, addr) = start_strata_at(
        "strata",
        dir.path(),
        &dir.path().join("data"),
        &["--influx-skip-single-field"],
    );
    let t = now_ms() - 60_000;
    let body = format!(
        "cpu,host=a usage=1.5,idle=2i {t}\n\
         cpu,host=b usage=abc {t}\n\
         mem,host=a,db=tagged used=3 {t}\n\
         disk,host=a free=4 {t}\n"
    );
    let target = with_params("/write", &[("db", "telegraf"), ("precision", "ms")]);
    let (status, resp) = http(&addr, "POST", &target, &[], body.as_bytes()).unwrap();
    let text = String::from_utf8_lossy(&resp);
    assert_eq!(status, 400, "{text}");
    assert!(
        text.contains(
            "1 lines refused; first: line 2: invalid value \\\"abc\\\" for field \\\"usage\\\""
        ),
        "{text}"
    );
    let got = series(&addr, r#"{host="a"}"#);
    let want: BTreeMap<_, _> = [
        (
            labels(&[("__name__", "cpu_usage"), ("host", "a"), ("db", "telegraf")]),
            vec![(t, 1.5)],
        ),
        (
            labels(&[("__name__", "cpu_idle"), ("host", "a"), ("db", "telegraf")]),
            vec![(t, 2.0)],
        ),
        // A `db` tag wins over the parameter; single-field lines are
        // named after the measurement alone (--influx-skip-single-field).
        (
            labels(&[("__name__", "mem"), ("host", "a"), ("db", "tagged")]),
            vec![(t, 3.0)],
        ),
        (
            labels(&[("__name__", "disk"), ("host", "a"), ("db", "telegraf")]),
            vec![(t, 4.0)],
        ),
    ]
    .into_iter()
    .collect();
    assert_eq!(got, want);
    let (_, metrics) = http(&addr, "GET", "/metrics", &[], b"").unwrap();
    assert!(
        String::from_utf8_lossy(&metrics)
            .contains("strata_samples_rejected_total{reason=\"invalid_line\"} 1"),
        "invalid_line not counted"
    );
    // The other paths, seconds, no db.
    let s = t / 1000;
    let (status, resp) = http(
        &addr,
        "POST",
        "/influx/write?precision=s",
        &[],
        format!("net,host=c rx=5 {s}\n").as_bytes(),
    )
    .unwrap();
    assert_eq!(status, 204, "{}", String::from_utf8_lossy(&resp));
    assert_eq!(
        series(&addr, r#"{host="c"}"#),
        [(
            labels(&[("__name__", "net"), ("host", "c")]),
            vec![(s * 1000, 5.0)]
        )]
        .into_iter()
        .collect()
    );
    let (status, resp) = http(&addr, "POST", "/write?precision=d", &[], b"x f=1").unwrap();
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&resp));
}

#[test]
fn influx_listen_takes_lines_over_tcp() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let (_strata, addr) = start_strata_at(
        "strata",
        dir.path(),
        &dir.path().join("data"),
        &["--influx-listen", &listen],
    );
    let t = now_ms() - 60_000;
    let mut conn = std::net::TcpStream::connect(&listen).unwrap();
    // A line split across writes, a bad line, then a good one.
    conn.write_all(format!("tcp,host=x v=1 {}", t * 1_000_000).as_bytes())
        .unwrap();
    conn.flush().unwrap();
    sleep_ms(50);
    conn.write_all(format!("\ntcp,host=x w=oops\ntcp,host=y v=2 {}\n", t * 1_000_000).as_bytes())
        .unwrap();
    drop(conn);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let got = series(&addr, r#"{__name__="tcp_v"}"#);
        if got.len() == 2 {
            assert_eq!(
                got,
                [
                    (
                        labels(&[("__name__", "tcp_v"), ("host", "x")]),
                        vec![(t, 1.0)]
                    ),
                    (
                        labels(&[("__name__", "tcp_v"), ("host", "y")]),
                        vec![(t, 2.0)]
                    ),
                ]
                .into_iter()
                .collect()
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "tcp lines not stored: {got:?}"
        );
        sleep_ms(50);
    }
}
