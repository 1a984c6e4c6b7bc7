use super::*;
use proptest::prelude::*;

fn entries(s: &str) -> Result<Vec<(usize, Entry<'_>)>, ParseError> {
    parse(s.as_bytes(), LabelLimits::default()).collect()
}

fn one(s: &str) -> Sample<'_> {
    match parse_line(s.as_bytes(), &LabelLimits::default()) {
        Ok(Some(Entry::Sample(x))) => x,
        other => panic!("{s:?}: {other:?}"),
    }
}

fn err(s: &str) -> String {
    match entries(s) {
        Err(e) => e.to_string(),
        Ok(v) => panic!("{s:?} parsed: {v:?}"),
    }
}

#[test]
fn openmetrics_unit_lines() {
    assert_eq!(
        parse_line(
            b"# UNIT req_duration_seconds seconds ",
            &LabelLimits::default()
        ),
        Ok(Some(Entry::Unit {
            metric: "req_duration_seconds",
            unit: "seconds"
        }))
    );
    assert!(parse_line(b"# UNIT 1bad seconds", &LabelLimits::default()).is_err());
}

#[test]
fn openmetrics_exemplars_are_recognised_and_not_kept() {
    let one = |l: &str| match parse_line(l.as_bytes(), &LabelLimits::default()) {
        Ok(Some(Entry::Sample(s))) => Ok((s.value, s.timestamp, s.exemplar)),
        Ok(other) => panic!("{l:?}: {other:?}"),
        Err(e) => Err(e),
    };
    assert_eq!(
        one(r#"req_bucket{le="0.5"} 3 1000 # {trace_id="abc"} 0.4 1.5"#),
        Ok((3.0, Some(1000), true))
    );
    assert_eq!(one(r#"req_total 7 # {} 1"#), Ok((7.0, None, true)));
    assert_eq!(one("req_total 7 1000"), Ok((7.0, Some(1000), false)));
    for bad in [
        "req_total 7 # trace 1",
        r#"req_total 7 # {a="b"}"#,
        r#"req_total 7 # {a="b"} x"#,
        r#"req_total 7 # {a="b"} 1 NaN"#,
        r#"req_total 7 # {a="b"} 1 2 3"#,
    ] {
        assert!(one(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn samples_help_type_comments() {
    let text = "# HELP http_requests_total The total.\\nSecond line \\\\ \\x\r\n\
                # TYPE http_requests_total counter\n\
                # just a comment\n\
                \n\
                http_requests_total{method=\"post\",code=\"200\",} 1027 1395066363000\r\n\
                \tup 1\n\
                #HELP\n";
    let e = entries(text).unwrap();
    assert_eq!(e.len(), 4);
    assert_eq!(
        e[0],
        (
            1,
            Entry::Help {
                metric: "http_requests_total",
                text: Cow::Owned("The total.\nSecond line \\ \\x".into())
            }
        )
    );
    assert_eq!(
        e[1].1,
        Entry::Type {
            metric: "http_requests_total",
            kind: MetricType::Counter
        }
    );
    let Entry::Sample(s) = &e[2].1 else {
        panic!("{e:?}")
    };
    assert_eq!(e[2].0, 5);
    assert_eq!(s.name, "http_requests_total");
    assert_eq!(
        s.labels,
        vec![
            ("method", Cow::Borrowed("post")),
            ("code", Cow::Borrowed("200"))
        ]
    );
    assert_eq!((s.value, s.timestamp), (1027.0, Some(1_395_066_363_000)));
    assert!(matches!(&e[3].1, Entry::Sample(s) if s.name == "up" && s.timestamp.is_none()));
}

#[test]
fn label_escapes_and_spacing() {
    let s = one(r#"m{ a = "x\\y\"z\nw" , b="é",c=""}	-1.5e3   -7"#);
    assert_eq!(s.labels[0], ("a", Cow::Owned::<str>("x\\y\"z\nw".into())));
    assert_eq!(s.labels[1], ("b", Cow::Borrowed("é")));
    assert_eq!(s.labels[2], ("c", Cow::Borrowed("")));
    assert_eq!((s.value, s.timestamp), (-1500.0, Some(-7)));
    assert!(one("m{} 1").labels.is_empty());
    assert_eq!(one("a:b_c{x=\"}\"}2").value, 2.0);
}

#[test]
fn special_and_go_floats() {
    for (text, want) in [
        ("NaN", f64::NAN),
        ("nan", f64::NAN),
        ("+Inf", f64::INFINITY),
        ("Inf", f64::INFINITY),
        ("-inf", f64::NEG_INFINITY),
        ("-Infinity", f64::NEG_INFINITY),
        ("1", 1.0),
        ("-0", -0.0),
        (".5", 0.5),
        ("5.", 5.0),
        ("+1e3", 1000.0),
        ("1E-2", 0.01),
        ("1_000.5", 1000.5),
        ("0x1p-2", 0.25),
        ("0X1.8P1", 3.0),
        ("-0x_ffp0", -255.0),
        ("0x1p-1074", f64::from_bits(1)),
        ("0x1p-1075", 0.0),
        ("0x1.8p-1074", f64::from_bits(2)),
        ("0x1.fffffffffffff8p0", 2.0),
        (
            "0x1.fffffffffffff7p0",
            f64::from_bits(0x3fff_ffff_ffff_ffff),
        ),
        ("0x1p1024", f64::INFINITY),
        ("0x.8p1", 1.0),
        ("1e400", f64::INFINITY),
    ] {
        let got = parse_float(text).unwrap_or_else(|| panic!("{text}"));
        assert!(
            got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
            "{text}: {got} != {want}"
        );
    }
    for bad in [
        "", "+", "-", ".", "e5", "1e", "+NaN", "--1", "+-1", "1__0", "_1", "1_", "1_.5", "0x1",
        "0xp1", "0x1p", "1.2.3", "infinit", "1f", "0x1p1.5", "١",
    ] {
        assert_eq!(parse_float(bad).map(f64::to_bits), None, "{bad:?}");
    }
}

#[test]
fn errors_name_the_line_and_problem() {
    assert_eq!(
        err("a 1\nb 2\nc{x 1}"),
        "line 3: expected '=' after label name, found '1'"
    );
    assert_eq!(
        err("m{x=y} 1"),
        "line 1: expected '\"' to start label value, found 'y'"
    );
    assert_eq!(
        err("m{x=\"a\\t\"} 1"),
        "line 1: invalid escape sequence '\\t' in label value"
    );
    assert_eq!(err("m{x=\"a} 1"), "line 1: unterminated label value");
    assert_eq!(
        err("m{x=\"a\" y=\"b\"} 1"),
        "line 1: expected ',' or '}' after label value, found 'y'"
    );
    assert_eq!(
        err("m{,} 1"),
        "line 1: expected label name or '}', found ','"
    );
    assert_eq!(
        err("m{__name__=\"x\"} 1"),
        "line 1: label name \"__name__\" is reserved"
    );
    assert_eq!(
        err("m{a=\"1\",a=\"2\"} 1"),
        "line 1: duplicate label name \"a\""
    );
    assert_eq!(err("m"), "line 1: expected value");
    assert_eq!(err("m{} "), "line 1: expected value");
    assert_eq!(
        err("m-x 1"),
        "line 1: expected '{' or a space after metric name, found '-'"
    );
    assert_eq!(err("1m 1"), "line 1: expected metric name, found '1'");
    assert_eq!(err("m one"), "line 1: invalid value \"one\"");
    assert_eq!(err("m 1 1.5"), "line 1: invalid timestamp \"1.5\"");
    assert_eq!(
        err("m 1 2 3"),
        "line 1: unexpected text \"3\" at end of line"
    );
    assert_eq!(
        err("# TYPE m countr"),
        "line 1: invalid metric type \"countr\""
    );
    assert_eq!(
        err("# TYPE m counter x"),
        "line 1: unexpected text \"x\" at end of line"
    );
    assert_eq!(err("# HELP 0m x"), "line 1: invalid metric name \"0m\"");
    assert_eq!(
        parse(b"m 1\n\xff 2", LabelLimits::default())
            .nth(1)
            .map(|r| r.map(|_| ())),
        Some(Err(ParseError {
            line: 2,
            kind: ErrorKind::InvalidUtf8
        }))
    );
}

#[test]
fn never_panics_on_prefixes_of_valid_input() {
    let text = "# HELP m h\\\\\n# TYPE m gauge\nm{a=\"x\\\"é\\n\",b=\"\"} -0x1.8p3 17\n";
    for end in 0..=text.len() {
        let _ = parse(&text.as_bytes()[..end], LabelLimits::default()).count();
    }
    for b in 0..=255u8 {
        let mut bytes = text.as_bytes().to_vec();
        for i in 0..bytes.len() {
            let old = bytes[i];
            bytes[i] = b;
            let _ = parse(&bytes, LabelLimits::default()).count();
            bytes[i] = old;
        }
    }
}

/// Issue 14: a line with 100,000 labels took 11 s of CPU (a duplicate
/// check per label); limits are now checked while the line is read.
#[test]
fn label_limits_are_checked_while_parsing() {
    let mut line = String::from("m{");
    for i in 0..100_000 {
        line.push_str(&format!("l{i}=\"v\","));
    }
    line.push_str("} 1\n");
    let text = format!("ok 1\n{line}");
    let started = std::time::Instant::now();
    let e = entries(&text).unwrap_err();
    assert!(started.elapsed() < std::time::Duration::from_millis(500));
    assert_eq!(e.line, 2);
    assert_eq!(e.kind, ErrorKind::Limit(LabelError::MoreThan { limit: 40 }));
    assert_eq!(
        e.to_string(),
        "line 2: more than 40 labels (limit 40, __name__ included)"
    );
    // 39 labels and the name are fine.
    let ok: Vec<String> = (0..39).map(|i| format!("l{i}=\"v\"")).collect();
    assert!(entries(&format!("m{{{}}} 1", ok.join(","))).is_ok());

    let huge = format!("m{{a=\"{}\"}} 1", "x".repeat(1 << 20));
    let e = entries(&huge).unwrap_err();
    assert_eq!(
        e.kind,
        ErrorKind::Limit(LabelError::ValueTooLong {
            name: "a".into(),
            len: 1 << 20,
            limit: 4096
        })
    );
    let long_name = format!("m{{{}=\"v\"}} 1", "n".repeat(300));
    assert!(matches!(
        entries(&long_name).unwrap_err().kind,
        ErrorKind::Limit(LabelError::NameTooLong {
            len: 300,
            limit: 256,
            ..
        })
    ));
    let long_metric = format!("{} 1", "m".repeat(5000));
    assert!(matches!(
        entries(&long_metric).unwrap_err().kind,
        ErrorKind::Limit(LabelError::ValueTooLong { len: 5000, .. })
    ));
}

#[test]
fn duplicates_are_found_in_small_and_large_sets() {
    for n in [2, 16, 17, 30] {
        let mut labels: Vec<String> = (0..n - 1).map(|i| format!("l{i}=\"v\"")).collect();
        labels.push("l0=\"w\"".into());
        let e = entries(&format!("m{{{}}} 1", labels.join(","))).unwrap_err();
        assert_eq!(e.kind, ErrorKind::DuplicateLabel("l0".into()), "{n} labels");
        labels.pop();
        assert!(
            entries(&format!("m{{{}}} 1", labels.join(","))).is_ok(),
            "{n}"
        );
    }
}

#[test]
fn write_sample_round_trips() {
    let mut out = String::new();
    write_sample(
        &mut out,
        "m",
        &[("a", "q\"\\\n")],
        f64::NEG_INFINITY,
        Some(5),
    );
    write_sample(&mut out, "n", &[], 1e-300, None);
    assert_eq!(out, "m{a=\"q\\\"\\\\\\n\"} -Inf 5\nn 1e-300\n");
    let e = entries(&out).unwrap();
    assert!(matches!(&e[0].1, Entry::Sample(s) if s.labels[0].1 == "q\"\\\n"));
}

fn label_value() -> impl Strategy<Value = String> {
    "[a-z\"\\\\\n\t\r é\u{1}\u{2028}\u{1F600}{}=,#]{0,8}"
}

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(-0.0),
        (-1_000_000i64..1_000_000).prop_map(|i| i as f64),
    ]
}

fn same(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

proptest! {
    #[test]
    fn text_round_trips(
        name in "[a-zA-Z_:][a-zA-Z0-9_:]{0,8}",
        labels in proptest::collection::btree_map("[a-zA-Z][a-zA-Z0-9_]{0,6}", label_value(), 0..5),
        v in value(),
        ts in proptest::option::of(any::<i64>()),
    ) {
        let pairs: Vec<(&str, &str)> = labels.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let mut out = String::new();
        write_sample(&mut out, &name, &pairs, v, ts);
        let parsed = parse_line(out.trim_end_matches('\n').as_bytes(), &LabelLimits::default());
        let Ok(Some(Entry::Sample(s))) = parsed else {
            return Err(TestCaseError::fail(format!("{out:?}: {parsed:?}")));
        };
        prop_assert_eq!(s.name, name.as_str());
        let got: Vec<(&str, &str)> = s.labels.iter().map(|(n, v)| (*n, v.as_ref())).collect();
        prop_assert_eq!(got, pairs);
        prop_assert!(same(s.value, v), "{} != {}", s.value, v);
        prop_assert_eq!(s.timestamp, ts);
    }


    #[test]
    fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = parse(&bytes, LabelLimits::default()).count();
    }
}
