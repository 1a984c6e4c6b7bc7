//! Bad queries: the message a Prometheus user recognises, at the right place.

use strata_promql::parse;

#[track_caller]
fn fails(q: &str, position: &str, needle: &str) {
    let shown: String = q.chars().take(80).collect();
    match parse(q) {
        Ok(e) => panic!("{shown:?} parsed as {e}"),
        Err(e) => {
            assert_eq!(e.position.to_string(), position, "{shown:?}: {e}");
            assert!(
                e.message.contains(needle),
                "{shown:?}: {e} (wanted {needle:?})"
            );
            assert!(
                e.to_string()
                    .starts_with(&format!("{position}: parse error: "))
            );
        }
    }
}

#[test]
fn syntax_errors() {
    fails("", "1:1", "unexpected end of input");
    fails("sum(", "1:5", "unexpected end of input");
    fails("foo{", "1:5", "unexpected end of input");
    fails("foo{a=\"b\"", "1:10", "unexpected end of input");
    fails("foo{a b}", "1:7", "expected label matching operator");
    fails("foo{a=b}", "1:7", "expected string");
    fails("1 +", "1:4", "unexpected end of input");
    fails("(1", "1:3", "unexpected end of input");
    fails("foo bar", "1:5", "unexpected identifier \"bar\"");
    fails("rate(x[5m],)", "1:11", "trailing comma");
    fails("\"unterminated", "1:1", "unterminated");
    fails("foo[5x]", "1:5", "bad number or duration");
    fails("foo[1m1h]", "1:5", "bad number or duration");
    fails("foo offset", "1:11", "unexpected end of input");
    fails("foo @", "1:6", "expected a timestamp");
    fails("x\n  + )", "2:5", "unexpected \")\"");
    fails("{a=~\"(\"}", "1:5", "invalid regular expression");
    fails("sum by (a) (x) by (b)", "1:16", "grouping given twice");
    fails(
        "foo{a=\"b\"} group_left(x) bar",
        "1:12",
        "unexpected identifier",
    );
}

#[test]
fn type_errors() {
    fails(
        "rate(foo)",
        "1:6",
        "expected type range vector in call to function \"rate\", got instant vector",
    );
    fails(
        "abs(foo[5m])",
        "1:5",
        "expected type instant vector in call to function \"abs\", got range vector",
    );
    fails(
        "rate()",
        "1:1",
        "expected 1 argument(s) in call to \"rate\", got 0",
    );
    fails(
        "round(a, 1, 2)",
        "1:1",
        "expected at most 2 argument(s) in call to \"round\", got 3",
    );
    fails(
        "label_join(a, \"b\")",
        "1:1",
        "expected at least 3 argument(s)",
    );
    fails(
        "nosuchfunc(a)",
        "1:1",
        "unknown function with name \"nosuchfunc\"",
    );
    fails("Rate(x[5m])", "1:1", "unknown function with name \"Rate\"");
    fails(
        "sum(foo[5m])",
        "1:5",
        "expected type instant vector in aggregation expression, got range vector",
    );
    fails(
        "topk(foo, bar)",
        "1:6",
        "expected type scalar in aggregation parameter, got instant vector",
    );
    fails(
        "count_values(1, bar)",
        "1:14",
        "expected type string in aggregation parameter, got scalar",
    );
    fails("topk(bar)", "1:5", "wrong number of arguments");
    fails(
        "1 > 2",
        "1:3",
        "comparisons between scalars must use BOOL modifier",
    );
    fails(
        "a + bool b",
        "1:5",
        "bool modifier can only be used on comparison operators",
    );
    fails(
        "1 and foo",
        "1:3",
        "set operator \"and\" not allowed in binary scalar expression",
    );
    fails(
        "a and on(x) group_left b",
        "1:13",
        "no grouping allowed for \"and\" operation",
    );
    fails(
        "a * on(x) group_left(x) b",
        "1:11",
        "label \"x\" must not occur in ON and GROUP clause at once",
    );
    fails(
        "1 + on(x) a",
        "1:3",
        "vector matching only allowed between instant vectors",
    );
    fails(
        "foo[5m] + 1",
        "1:1",
        "binary expression must contain only scalar and instant vector types",
    );
    fails(
        "-foo[5m]",
        "1:1",
        "unary expression only allowed on expressions of type scalar or instant vector",
    );
    fails(
        "rate(x[5m])[5m]",
        "1:12",
        "ranges only allowed for vector selectors",
    );
    fails(
        "x[5m][10m:]",
        "1:1",
        "subquery is only allowed on instant vector, got range vector",
    );
    fails(
        "sum(x) offset 5m",
        "1:8",
        "offset modifier must be preceded by an instant vector selector",
    );
    fails("sum(x) @ 5", "1:8", "@ modifier must be preceded");
    fails(
        "x offset 5m offset 1m",
        "1:13",
        "offset may not be set multiple times",
    );
    fails(
        "x @ 1 @ 2",
        "1:7",
        "@ <timestamp> may not be set multiple times",
    );
    fails(
        "{}",
        "1:1",
        "vector selector must contain at least one non-empty matcher",
    );
    fails("{a=\"\"}", "1:1", "at least one non-empty matcher");
    fails("{a=~\".*\"}", "1:1", "at least one non-empty matcher");
    fails(
        "foo{__name__=\"bar\"}",
        "1:1",
        "metric name must not be set twice: \"foo\" or \"bar\"",
    );
    fails(
        "{\"foo\", \"bar\"}",
        "1:9",
        "metric name must not be set twice",
    );
    fails("foo[0s]", "1:4", "range must be greater than 0");
    fails("foo[5m / 0]", "1:8", "division by zero");
    fails(
        "info(x, y)",
        "1:9",
        "expected label selectors as the second argument",
    );
    fails("a + fill(1) on(x) b", "1:13", "unexpected keyword \"on\"");
    fails(
        "a or fill(1) b",
        "1:6",
        "fill modifiers are not allowed for \"or\" operation",
    );
}

#[test]
fn hostile_input_never_panics() {
    let deep = "(".repeat(100_000) + "1" + &")".repeat(100_000);
    fails(&deep, "1:201", "nested more than");
    let deep_unary = "-".repeat(50_000) + "x";
    assert!(parse(&deep_unary).is_err());
    let long_chain = vec!["x"; 20_000].join(" + ");
    // A long flat chain builds a tree as deep as it is long, which every
    // recursive pass (printing, evaluation, drop) would descend: refused.
    fails(&long_chain, "1:799", "nested more than 200 levels deep");
    for q in [
        "\u{0}",
        "foo{\u{feff}}",
        "@@@",
        "[[[",
        "1e999999",
        "0x",
        "'\\",
        "\"\\u12\"",
        "sum by (",
        "x[5m:1m:1m]",
    ] {
        let _ = parse(q);
    }
}
