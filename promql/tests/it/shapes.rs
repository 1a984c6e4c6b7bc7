//! Hostile expression shapes (issue 14): deep and wide trees of every kind
//! parse, type-check, print, parse again, evaluate and drop on a 2 MiB
//! thread up to the depth limit, and past it fail with a parse error
//! naming the limit, never overflowing a stack.

use strata_engine::{Labels, Sample};
use strata_promql::eval::{EvalOptions, eval_instant, eval_range};
use strata_promql::promqltest::MemQuerier;
use strata_promql::{MAX_DEPTH, parse};

/// Stack of the threads that run these checks: tokio's default, smaller
/// than the 8 MiB the server gives its own.
const STACK: usize = 2 * 1024 * 1024;

/// Runs `f` on a thread with a [`STACK`]-byte stack; an overflow aborts the
/// test binary, so reaching the end is the assertion.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(STACK)
        .spawn(f)
        .expect("spawn")
        .join()
        .expect("no panic")
}

fn storage() -> MemQuerier {
    let mut q = MemQuerier::default();
    for i in 0..3 {
        let l = Labels::from_pairs(&[("__name__", "x"), ("i", &i.to_string())]).unwrap();
        let s: Vec<Sample> = (0..40)
            .map(|k| Sample::new(k * 15_000, (k * (i + 1)) as f64))
            .collect();
        q.add(l, &s);
    }
    q
}

/// `n` copies of `term` joined by the operators of `ops`, in turn.
fn chain(term: &str, ops: &[&str], n: usize) -> String {
    let mut s = String::from(term);
    for i in 1..n {
        s.push(' ');
        s.push_str(ops[i % ops.len()]);
        s.push(' ');
        s.push_str(term);
    }
    s
}

/// `open` `n` times, `inner`, then `close` `n` times.
fn nest(open: &str, inner: &str, close: &str, n: usize) -> String {
    format!("{}{inner}{}", open.repeat(n), close.repeat(n))
}

/// Every shape, as a function of its size.
#[allow(clippy::type_complexity)]
fn shapes() -> Vec<(&'static str, Box<dyn Fn(usize) -> String>)> {
    vec![
        ("add chain", Box::new(|n| chain("x", &["+"], n))),
        ("and chain", Box::new(|n| chain("x", &["and"], n))),
        (
            "mixed precedence chain",
            Box::new(|n| chain("x", &["+", "*", "-", "/", "and", "or", "unless", "%"], n)),
        ),
        (
            "matching chain",
            Box::new(|n| chain("x", &["+ on(i)", "== bool ignoring(i)"], n)),
        ),
        (
            "power chain (right-assoc)",
            Box::new(|n| chain("x", &["^"], n)),
        ),
        ("scalar chain", Box::new(|n| chain("1", &["+", "*"], n))),
        ("unary chain", Box::new(|n| format!("{}x", "-".repeat(n)))),
        (
            "unary plus chain",
            Box::new(|n| format!("{}x", "+".repeat(n))),
        ),
        (
            "unary number chain",
            Box::new(|n| format!("{}1", "- ".repeat(n))),
        ),
        ("nested calls", Box::new(|n| nest("abs(", "x", ")", n))),
        ("nested parens", Box::new(|n| nest("(", "x", ")", n))),
        (
            "nested aggregations",
            Box::new(|n| nest("sum by (i) (", "x", ")", n)),
        ),
        ("nested topk", Box::new(|n| nest("topk(1, ", "x", ")", n))),
        (
            "nested subqueries",
            Box::new(|n| nest("max_over_time(", "x", "[2m:1m])", n)),
        ),
        (
            "nested binary in calls",
            Box::new(|n| nest("abs(x + ", "x", ")", n)),
        ),
        (
            "duration chain",
            Box::new(|n| format!("rate(x[{}])", chain("1s", &["+"], n))),
        ),
        (
            "duration parens",
            Box::new(|n| format!("rate(x[{}])", nest("(", "1m", ")", n))),
        ),
        (
            "duration unary",
            Box::new(|n| format!("rate(x[{}1m])", "+".repeat(n))),
        ),
        (
            "offset chain",
            Box::new(|n| format!("x offset ({})", chain("1s", &["+", "-"], n))),
        ),
    ]
}

fn is_depth_error(e: &strata_promql::ParseError) -> bool {
    e.message == format!("expression nested more than {MAX_DEPTH} levels deep")
}

/// Parse, type-check, print, parse again, evaluate (instant and range) and
/// drop `text`; `Err` with the message when it does not parse.
fn full_cycle(text: String) -> Result<(), strata_promql::ParseError> {
    let e = parse(&text)?;
    assert!(!e.deeper_than(MAX_DEPTH), "accepted tree is over the limit");
    let _ = e.value_type();
    let printed = e.to_string();
    let again = parse(&printed).expect("printed form parses");
    assert_eq!(again, e, "print/parse round trip of {printed:.80}");
    let _ = format!("{e:?}");
    let q = storage();
    let opts = EvalOptions::default();
    // Errors are allowed (types, limits); overflowing is not.
    let _ = eval_instant(&q, &e, 600_000, &opts);
    let _ = eval_range(&q, &e, 0, 600_000, 60_000, &opts);
    let cloned = e.clone();
    drop(e);
    drop(again);
    drop(cloned);
    Ok(())
}

#[test]
fn every_shape_up_to_the_limit_works_and_past_it_is_refused() {
    for (name, make) in shapes() {
        // The largest size that parses, found from below: each size is a
        // separate parse, all on the small stack.
        let mut largest = 0;
        let mut n = 1;
        loop {
            let text = make(n);
            let r = on_small_stack(move || parse(&text).map(|_| ()));
            match r {
                Ok(()) => largest = n,
                Err(e) => {
                    assert!(is_depth_error(&e), "{name} at {n}: {e}");
                    break;
                }
            }
            assert!(n < 2_000, "{name}: no limit up to {n}");
            n += 1;
        }
        // Shapes add at most a few nodes per level: the limit is reached
        // near MAX_DEPTH levels, not far below it.
        assert!(largest >= MAX_DEPTH / 4, "{name}: only {largest} accepted");
        // The largest accepted expression goes through everything.
        let text = make(largest);
        on_small_stack(move || full_cycle(text)).unwrap_or_else(|e| panic!("{name}: {e}"));
        // Far past the limit (10^4 terms, far over 16 KiB for some): the
        // same clean error, still on the small stack.
        for big in [largest + 1, 10_000] {
            let text = make(big);
            let r = on_small_stack(move || parse(&text).map(|_| ()));
            let err = r.expect_err("past the limit");
            assert!(is_depth_error(&err), "{name} at {big}: {err}");
        }
    }
}

#[test]
fn wide_but_shallow_expressions_are_fine() {
    // Width is not depth: a call with many arguments' worth of balanced
    // trees, and a balanced tree of additions built with parentheses.
    fn balanced(levels: usize) -> String {
        if levels == 0 {
            "x".into()
        } else {
            let sub = balanced(levels - 1);
            format!("({sub} + {sub})")
        }
    }
    let text = balanced(12); // 4096 leaves, 25 levels deep
    assert!(text.len() > 10_000);
    on_small_stack(move || full_cycle(text)).unwrap();
}

#[test]
fn the_depth_error_names_the_limit_and_position() {
    let text = chain("x", &["+"], 10_000);
    let err = on_small_stack(move || parse(&text)).unwrap_err();
    assert_eq!(err.position.line, 1);
    assert!(
        err.to_string().ends_with(&format!(
            "parse error: expression nested more than {MAX_DEPTH} levels deep"
        )),
        "{err}"
    );
}
