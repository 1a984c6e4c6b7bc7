//! Property: printing any tree and parsing it back gives the same tree.

use proptest::prelude::*;
use strata_engine::{MatchType, Matcher};
use strata_promql::ast::{
    Aggregate, AggregateOp, AtModifier, Binary, BinaryOp, Call, Expr, Grouping, MatrixSelector,
    Number, Spans, Subquery, UnaryOp, VectorMatching, VectorSelector,
};
use strata_promql::{DurationExpr, ValueType, parse};

fn label() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z_][a-z0-9_]{0,5}",
        Just("on".to_string()),
        Just("a.b".to_string())
    ]
}

fn matcher() -> impl Strategy<Value = Matcher> {
    (
        prop_oneof![
            Just(MatchType::Equal),
            Just(MatchType::NotEqual),
            Just(MatchType::Regex),
            Just(MatchType::NotRegex)
        ],
        label(),
        prop_oneof!["[a-z]{1,4}", "[ -~]{0,6}", Just("a\nb\"c\\".to_string())],
    )
        .prop_filter_map("valid regex", |(k, n, v)| Matcher::new(k, n, v).ok())
}

fn duration() -> impl Strategy<Value = DurationExpr> {
    prop_oneof![
        (1i64..10_000_000).prop_map(DurationExpr::Literal),
        Just(DurationExpr::Step)
    ]
}

fn selector() -> impl Strategy<Value = VectorSelector> {
    (
        prop_oneof![
            Just(None),
            "[a-z_:][a-z0-9_:]{0,6}".prop_map(Some),
            Just(Some("x.y".to_string()))
        ],
        proptest::collection::vec(matcher(), 0..3),
        proptest::option::of((-10_000_000i64..10_000_000).prop_map(DurationExpr::Literal)),
        proptest::option::of(prop_oneof![
            Just(AtModifier::Start),
            Just(AtModifier::End),
            (-1_000_000i64..1_000_000).prop_map(AtModifier::Timestamp)
        ]),
    )
        .prop_map(|(name, mut matchers, offset, at)| {
            if name.is_none() {
                matchers.push(Matcher::equal("job", "x"));
            }
            matchers.retain(|m| m.name != "__name__");
            VectorSelector {
                name,
                matchers,
                offset,
                at,
                range_mode: None,
            }
        })
}

/// Wraps composite operands in parentheses, as a person writing the query would.
fn operand(e: Expr) -> Expr {
    match e {
        Expr::Binary(_) | Expr::Unary(..) => Expr::Paren(Box::new(e)),
        Expr::Number(n) if n.0.is_sign_negative() => Expr::Paren(Box::new(e)),
        e => e,
    }
}

fn vector_expr() -> impl Strategy<Value = Expr> {
    let leaf = selector().prop_map(Expr::Vector);
    leaf.prop_recursive(4, 24, 3, |inner| {
        prop_oneof![
            (
                inner.clone(),
                inner.clone(),
                0usize..12,
                any::<bool>(),
                proptest::collection::vec(label(), 0..2)
            )
                .prop_map(|(a, b, op, on, labels)| {
                    let ops = [
                        BinaryOp::Add,
                        BinaryOp::Sub,
                        BinaryOp::Mul,
                        BinaryOp::Div,
                        BinaryOp::Mod,
                        BinaryOp::Pow,
                        BinaryOp::Eql,
                        BinaryOp::Gtr,
                        BinaryOp::And,
                        BinaryOp::Or,
                        BinaryOp::Unless,
                        BinaryOp::Atan2,
                    ];
                    let op = ops[op];
                    Expr::Binary(Binary {
                        op,
                        lhs: Box::new(operand(a)),
                        rhs: Box::new(operand(b)),
                        return_bool: op.is_comparison() && on,
                        matching: Some(VectorMatching {
                            on,
                            labels,
                            group: None,
                        }),
                        fill: None,
                    })
                }),
            (
                inner.clone(),
                0usize..4,
                proptest::option::of((any::<bool>(), proptest::collection::vec(label(), 0..3)))
            )
                .prop_map(|(e, op, g)| {
                    let op = [
                        AggregateOp::Sum,
                        AggregateOp::Max,
                        AggregateOp::Topk,
                        AggregateOp::CountValues,
                    ][op];
                    let param = match op.param_type() {
                        Some(ValueType::Scalar) => Some(Box::new(Expr::Number(Number(3.0)))),
                        Some(_) => Some(Box::new(Expr::String("v".into()))),
                        None => None,
                    };
                    Expr::Aggregate(Aggregate {
                        op,
                        expr: Box::new(e),
                        param,
                        grouping: g.map(|(without, labels)| Grouping { without, labels }),
                        positions: Spans::default(),
                    })
                }),
            (inner.clone(), duration(), proptest::option::of(duration())).prop_map(
                |(e, range, step)| {
                    Expr::Call(Call {
                        func: "max_over_time",
                        args: vec![Expr::Subquery(Subquery {
                            expr: Box::new(operand(e)),
                            range,
                            step,
                            offset: None,
                            at: None,
                        })],
                        positions: Spans::default(),
                    })
                }
            ),
            (selector(), duration()).prop_map(|(v, range)| Expr::Call(Call {
                func: "rate",
                args: vec![Expr::Matrix(MatrixSelector { vector: v, range })],
                positions: Spans::default(),
            })),
            inner
                .clone()
                .prop_map(|e| Expr::Unary(UnaryOp::Neg, Box::new(operand(e)))),
            inner.clone().prop_map(|e| Expr::Paren(Box::new(e))),
            (inner, any::<f64>()).prop_map(|(e, x)| Expr::Binary(Binary {
                op: BinaryOp::Mul,
                lhs: Box::new(operand(e)),
                rhs: Box::new(operand(Expr::Number(Number(x)))),
                return_bool: false,
                matching: None,
                fill: None,
            })),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]
    #[test]
    fn parse_of_print_is_identity(e in vector_expr()) {
        let printed = e.to_string();
        let back = parse(&printed).map_err(|err| TestCaseError::fail(format!("{printed}: {err}")))?;
        prop_assert_eq!(back, e, "{}", printed);
    }

    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,60}") {
        if let Ok(e) = parse(&s) {
            let printed = e.to_string();
            prop_assert_eq!(parse(&printed).map_err(|err| TestCaseError::fail(format!("{printed}: {err}")))?, e);
        }
    }
}
