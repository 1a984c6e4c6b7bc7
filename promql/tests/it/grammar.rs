//! One table-driven test per grammar rule: what parses, and how it prints.

use strata_engine::MatchType;
use strata_promql::ast::{AtModifier, BinaryOp, Expr, GroupSide, RangeMode};
use strata_promql::{DurationExpr, ValueType, parse};

#[track_caller]
fn prints(q: &str, want: &str) {
    let e = parse(q).unwrap_or_else(|e| panic!("{q:?}: {e}"));
    assert_eq!(e.to_string(), want, "{q:?}");
    assert_eq!(parse(want).unwrap(), e, "{want:?} reparses differently");
}

fn number(q: &str) -> f64 {
    match parse(q).unwrap() {
        Expr::Number(n) => n.0,
        other => panic!("{q:?} is {other:?}"),
    }
}

#[test]
fn number_literals() {
    let cases: &[(&str, f64)] = &[
        ("1", 1.0),
        ("1.5", 1.5),
        (".5", 0.5),
        ("5.", 5.0),
        ("1e3", 1000.0),
        ("1E-3", 0.001),
        ("0x1f", 31.0),
        ("0X1F", 31.0),
        ("010", 8.0),
        ("1_000", 1000.0),
        ("-1", -1.0),
        ("+2", 2.0),
        ("Inf", f64::INFINITY),
        ("-inf", f64::NEG_INFINITY),
        ("INF", f64::INFINITY),
        ("5m", 300.0),
        ("1h30m", 5400.0),
        ("1ms", 0.001),
    ];
    for &(q, v) in cases {
        assert_eq!(number(q), v, "{q}");
    }
    assert!(number("NaN").is_nan() && number("nan").is_nan());
}

#[test]
fn string_literals() {
    let cases = [
        (r#""a\"b""#, "a\"b"),
        (r"'it\'s'", "it's"),
        (r"`raw\n`", "raw\\n"),
        (r#""\t\x41\u00e9\U0001F600\101""#, "\tAé😀A"),
    ];
    for (q, want) in cases {
        assert_eq!(parse(q).unwrap(), Expr::String(want.into()), "{q}");
    }
}

#[test]
fn vector_selectors() {
    prints("foo", "foo");
    prints("foo:bar:rate5m", "foo:bar:rate5m");
    prints("foo{}", "foo");
    prints(
        "foo{a=\"1\", b!=\"2\", c=~\"x.*\", d!~'y',}",
        "foo{a=\"1\", b!=\"2\", c=~\"x.*\", d!~\"y\"}",
    );
    prints("{__name__=~\"foo.+\"}", "{__name__=~\"foo.+\"}");
    prints("{\"foo.bar\"}", "{\"foo.bar\"}");
    prints("{\"foo\", job=\"x\"}", "foo{job=\"x\"}");
    prints("{\"a.b\"=\"c\", x=\"y\"}", "{\"a.b\"=\"c\", x=\"y\"}");
    // Keywords are fine as label names and most as metric names.
    prints(
        "{on=\"x\", by=\"y\", offset=\"z\"}",
        "{on=\"x\", by=\"y\", offset=\"z\"}",
    );
    prints("sum", "sum");
    prints("and_more", "and_more");
    let Expr::Vector(v) = parse("foo{a=~\"x|y\"}").unwrap() else {
        panic!()
    };
    assert_eq!(v.name.as_deref(), Some("foo"));
    assert_eq!(v.matchers[0].kind, MatchType::Regex);
    assert!(v.matchers[0].matches("y") && !v.matchers[0].matches("xy"));
    assert_eq!(v.all_matchers().len(), 2);
}

#[test]
fn ranges_offsets_at_and_subqueries() {
    prints("foo[5m]", "foo[5m]");
    prints("foo[90s]", "foo[1m30s]");
    prints("foo[1h30m] offset -5m", "foo[1h30m] offset -5m");
    prints("foo offset 1w", "foo offset 1w");
    prints("foo @ 1609746000", "foo @ 1609746000");
    prints("foo @ 1.5 offset 1m", "foo @ 1.5 offset 1m");
    prints("foo offset 1m @ start()", "foo @ start() offset 1m");
    prints("foo[5m] @ end()", "foo[5m] @ end()");
    prints("rate(foo[5m])[30m:1m]", "rate(foo[5m])[30m:1m]");
    prints("foo[30m:]", "foo[30m:]");
    prints("(a + b)[5m:] offset 1m", "(a + b)[5m:] offset 1m");
    prints("foo @ -100", "foo @ -100");
    let Expr::Matrix(m) = parse("foo[5m] offset 1m").unwrap() else {
        panic!()
    };
    assert_eq!(m.vector.offset, Some(DurationExpr::Literal(60_000)));
    assert_eq!(m.range.as_literal_ms(), Some(300_000));
    let Expr::Vector(v) = parse("foo @ start()").unwrap() else {
        panic!()
    };
    assert_eq!(v.at, Some(AtModifier::Start));
    assert_eq!(parse("x[5m:]").unwrap().value_type(), ValueType::Matrix);
}

#[test]
fn experimental_duration_expressions_and_range_modes() {
    prints("foo[5m * 2]", "foo[5m * 2]");
    prints("foo[step() * 2:step()]", "foo[step() * 2:step()]");
    prints("foo[1+(STep()-5)*2]", "foo[1 + (step() - 5) * 2]");
    prints("foo offset (1h / 2)", "foo offset (1h / 2)");
    prints("foo offset STEP()", "foo offset step()");
    prints("foo[max_of(step(), 5m)]", "foo[max_of(step(), 5m)]");
    prints("foo[-5m + 10m]", "foo[-5m + 10m]");
    prints("rate(foo[5m] anchored)", "rate(foo[5m] anchored)");
    prints("foo smoothed", "foo smoothed");
    let Expr::Vector(v) = parse("foo anchored").unwrap() else {
        panic!()
    };
    assert_eq!(v.range_mode, Some(RangeMode::Anchored));
    let Expr::Matrix(m) = parse("x[range()]").unwrap() else {
        panic!()
    };
    assert_eq!(m.range.eval_ms(0, 3_600_000), Some(3_600_000));
    // `offset 1m * 2` is `(x offset 1m) * 2`.
    let Expr::Binary(b) = parse("x offset 1m * 2").unwrap() else {
        panic!()
    };
    assert_eq!(b.op, BinaryOp::Mul);
}

#[test]
fn operators_precedence_and_modifiers() {
    let shape = |q: &str| parse(q).unwrap();
    // `*` binds tighter than `+`; `^` is right-associative; unary minus below `^`.
    let Expr::Binary(b) = shape("1 + 2 * 3") else {
        panic!()
    };
    assert_eq!(b.op, BinaryOp::Add);
    let Expr::Binary(b) = shape("2 ^ 3 ^ 2") else {
        panic!()
    };
    assert!(matches!(*b.rhs, Expr::Binary(ref r) if r.op == BinaryOp::Pow));
    assert!(matches!(shape("-2 ^ 2"), Expr::Unary(..)));
    let Expr::Binary(b) = shape("-a * b") else {
        panic!()
    };
    assert!(matches!(*b.lhs, Expr::Unary(..)));
    let Expr::Binary(b) = shape("a or b and c unless d") else {
        panic!()
    };
    assert_eq!(b.op, BinaryOp::Or);
    let Expr::Binary(b) = shape("a - b - c") else {
        panic!()
    };
    assert!(matches!(*b.lhs, Expr::Binary(_)), "left-associative");
    let Expr::Binary(b) = shape("a == bool b") else {
        panic!()
    };
    assert!(b.return_bool);
    let Expr::Binary(b) = shape("a * on(x, y) group_left(z) b") else {
        panic!()
    };
    let m = b.matching.unwrap();
    assert!(m.on && m.labels == ["x", "y"]);
    assert_eq!(m.group.unwrap().side, GroupSide::Left);
    prints(
        "a + ignoring(x) group_right b",
        "a + ignoring(x) group_right() b",
    );
    prints("a AND b", "a and b");
    prints("a atan2 b", "a atan2 b");
    prints("a / on() b", "a / on() b");
    prints("a + fill(0) b", "a + fill(0) b");
    prints(
        "a + on(x) fill_left(1) fill_right(-2) b",
        "a + on(x) fill_left(1) fill_right(-2) b",
    );
    prints("a </ 0.5", "a </ 0.5");
    prints("a >/ b", "a >/ b");
    prints("1 < bool 2", "1 < bool 2");
    prints("-foo", "-foo");
    prints("+foo", "+foo");
    prints("-(1)", "-(1)");
    prints("a # trailing comment\n + b", "a + b");
    assert_eq!(shape("1 + 2").value_type(), ValueType::Scalar);
    assert_eq!(shape("1 + foo").value_type(), ValueType::Vector);
}

#[test]
fn aggregations_and_calls() {
    prints("sum(foo)", "sum (foo)");
    prints("sum by (job) (foo)", "sum by (job) (foo)");
    prints(
        "sum(foo) by (job, instance)",
        "sum by (job, instance) (foo)",
    );
    prints("SUM(x) BY (job)", "sum by (job) (x)");
    prints("avg without () (foo)", "avg without () (foo)");
    prints("max by (\"a.b\", c,) (foo)", "max by (\"a.b\", c) (foo)");
    prints("topk(5, foo)", "topk (5, foo)");
    prints("quantile(0.9, foo)", "quantile (0.9, foo)");
    prints("count_values(\"v\", foo)", "count_values (\"v\", foo)");
    prints("limitk(2, foo)", "limitk (2, foo)");
    prints("limit_ratio(-0.5, foo)", "limit_ratio (-0.5, foo)");
    prints("rate(foo[5m])", "rate(foo[5m])");
    prints("time()", "time()");
    prints(
        "label_replace(up, \"a\", \"$1\", \"b\", \"(.*)\")",
        "label_replace(up, \"a\", \"$1\", \"b\", \"(.*)\")",
    );
    prints(
        "label_join(up, \"a\", \",\", \"b\", \"c\", \"d\")",
        "label_join(up, \"a\", \",\", \"b\", \"c\", \"d\")",
    );
    prints("round(foo)", "round(foo)");
    prints("day_of_week()", "day_of_week()");
    prints(
        "histogram_quantile(0.9, sum by (le) (rate(x_bucket[5m])))",
        "histogram_quantile(0.9, sum by (le) (rate(x_bucket[5m])))",
    );
    prints(
        "info(up, {k8s_cluster=~\".+\"})",
        "info(up, {k8s_cluster=~\".+\"})",
    );
    prints("vector(1) + scalar(foo)", "vector(1) + scalar(foo)");
}
