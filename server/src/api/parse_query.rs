//! `GET/POST /api/v1/parse_query`: the syntax tree of a query as JSON, in
//! the shape Prometheus' UI tree view reads.

use serde_json::{Value, json};
use strata_promql::ast::{AtModifier, Binary, Expr, GroupSide, UnaryOp, ValueType, VectorSelector};
use strata_promql::duration::DurationExpr;

/// The JSON tree of `expr`.
pub fn tree(expr: &Expr) -> Value {
    match expr {
        Expr::Number(n) => json!({"type": "numberLiteral", "val": number(n.0)}),
        Expr::String(s) => json!({"type": "stringLiteral", "val": s}),
        Expr::Vector(v) => {
            let mut o = selector(v);
            o["type"] = json!("vectorSelector");
            o
        }
        Expr::Matrix(m) => {
            let mut o = selector(&m.vector);
            o["type"] = json!("matrixSelector");
            o["range"] = json!(millis(Some(&m.range)));
            o
        }
        Expr::Subquery(s) => {
            let (timestamp, start_or_end) = at(s.at.as_ref());
            json!({
                "type": "subquery",
                "expr": tree(&s.expr),
                "range": millis(Some(&s.range)),
                "offset": millis(s.offset.as_ref()),
                "step": millis(s.step.as_ref()),
                "timestamp": timestamp,
                "startOrEnd": start_or_end,
            })
        }
        Expr::Paren(e) => json!({"type": "parenExpr", "expr": tree(e)}),
        Expr::Unary(op, e) => json!({
            "type": "unaryExpr",
            "op": match op { UnaryOp::Neg => "-", UnaryOp::Plus => "+" },
            "expr": tree(e),
        }),
        Expr::Binary(b) => binary(b),
        Expr::Aggregate(a) => {
            let (without, grouping) = a
                .grouping
                .as_ref()
                .map_or((false, Vec::new()), |g| (g.without, g.labels.clone()));
            json!({
                "type": "aggregation",
                "op": a.op.as_str(),
                "expr": tree(&a.expr),
                "param": a.param.as_deref().map_or(Value::Null, tree),
                "grouping": grouping,
                "without": without,
            })
        }
        Expr::Call(c) => {
            let f = strata_promql::functions::lookup(c.func);
            let (arg_types, variadic, returns) = f.map_or((Vec::new(), 0, "vector"), |f| {
                let variadic = f
                    .max_args
                    .map_or(-1, |max| max.saturating_sub(f.min_args) as i64);
                (
                    f.args.iter().map(|t| value_type(*t)).collect(),
                    variadic,
                    value_type(f.returns),
                )
            });
            json!({
                "type": "call",
                "func": {
                    "name": c.func,
                    "argTypes": arg_types,
                    "variadic": variadic,
                    "returnType": returns,
                },
                "args": c.args.iter().map(tree).collect::<Vec<_>>(),
            })
        }
    }
}

fn binary(b: &Binary) -> Value {
    let card = if b.op.is_set() {
        "many-to-many"
    } else {
        match b.matching.as_ref().and_then(|m| m.group.as_ref()) {
            Some(g) if g.side == GroupSide::Left => "many-to-one",
            Some(_) => "one-to-many",
            None => "one-to-one",
        }
    };
    let (on, labels, include) = b
        .matching
        .as_ref()
        .map_or((false, Vec::new(), Vec::new()), |m| {
            (
                m.on,
                m.labels.clone(),
                m.group
                    .as_ref()
                    .map(|g| g.labels.clone())
                    .unwrap_or_default(),
            )
        });
    let fill = |v: Option<strata_promql::ast::Number>| v.map_or(Value::Null, |n| json!(n.0));
    json!({
        "type": "binaryExpr",
        "op": b.op.as_str(),
        "lhs": tree(&b.lhs),
        "rhs": tree(&b.rhs),
        "matching": {
            "card": card,
            "labels": labels,
            "on": on,
            "include": include,
            "fillValues": {
                "lhs": fill(b.fill.and_then(|f| f.left)),
                "rhs": fill(b.fill.and_then(|f| f.right)),
            },
        },
        "bool": b.return_bool,
    })
}

/// The fields vector and matrix selectors share. Prometheus lists the
/// metric name's matcher after the others.
fn selector(v: &VectorSelector) -> Value {
    let mut matchers: Vec<Value> = v
        .matchers
        .iter()
        .map(|m| json!({"name": m.name, "value": m.value, "type": m.kind.to_string()}))
        .collect();
    if let Some(n) = &v.name {
        matchers.push(json!({"name": strata_engine::METRIC_NAME, "value": n, "type": "="}));
    }
    let (timestamp, start_or_end) = at(v.at.as_ref());
    let mode = v.range_mode;
    json!({
        "name": v.name.clone().unwrap_or_default(),
        "offset": millis(v.offset.as_ref()),
        "matchers": matchers,
        "timestamp": timestamp,
        "startOrEnd": start_or_end,
        "anchored": mode == Some(strata_promql::ast::RangeMode::Anchored),
        "smoothed": mode == Some(strata_promql::ast::RangeMode::Smoothed),
    })
}

fn at(a: Option<&AtModifier>) -> (Value, Value) {
    match a {
        None => (Value::Null, Value::Null),
        Some(AtModifier::Timestamp(t)) => (json!(t), Value::Null),
        Some(AtModifier::Start) => (Value::Null, json!("start")),
        Some(AtModifier::End) => (Value::Null, json!("end")),
    }
}

/// A duration in ms; expressions that need the query's step are 0, as
/// Prometheus prints them before evaluation.
fn millis(d: Option<&DurationExpr>) -> i64 {
    d.and_then(DurationExpr::as_literal_ms).unwrap_or(0)
}

fn value_type(t: ValueType) -> &'static str {
    match t {
        ValueType::Scalar => "scalar",
        ValueType::Vector => "vector",
        ValueType::Matrix => "matrix",
        ValueType::String => "string",
    }
}

/// A float as Go's `strconv.FormatFloat(v, 'f', -1, 64)` prints it.
fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

/// `GET/POST /api/v1/parse_query`.
pub async fn handler(
    axum::extract::RawQuery(q): axum::extract::RawQuery,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<axum::response::Response, crate::error::ApiError> {
    let p = super::params(q, &headers, &body)?;
    let expr = super::query::parse_query(&p)?;
    Ok(super::success(tree(&expr).to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(q: &str) -> Value {
        tree(&strata_promql::parse(q).unwrap())
    }

    #[test]
    fn selector_tree() {
        let t = parsed(r#"rate(http_requests_total{job=~"api|web"}[5m] offset 1m)"#);
        assert_eq!(t["type"], "call");
        assert_eq!(t["func"]["name"], "rate");
        assert_eq!(t["func"]["argTypes"], json!(["matrix"]));
        assert_eq!(t["func"]["returnType"], "vector");
        let m = &t["args"][0];
        assert_eq!(m["type"], "matrixSelector");
        assert_eq!(m["range"], 300_000);
        assert_eq!(m["offset"], 60_000);
        assert_eq!(
            m["matchers"],
            json!([
                {"name": "job", "value": "api|web", "type": "=~"},
                {"name": "__name__", "value": "http_requests_total", "type": "="}
            ])
        );
    }

    #[test]
    fn binary_and_aggregation_tree() {
        let t = parsed("sum by (job) (a) / on (job) group_left (x) b");
        assert_eq!(t["type"], "binaryExpr");
        assert_eq!(t["op"], "/");
        assert_eq!(t["matching"]["card"], "many-to-one");
        assert_eq!(t["matching"]["on"], true);
        assert_eq!(t["matching"]["labels"], json!(["job"]));
        assert_eq!(t["matching"]["include"], json!(["x"]));
        assert_eq!(t["lhs"]["type"], "aggregation");
        assert_eq!(t["lhs"]["grouping"], json!(["job"]));
        assert_eq!(t["lhs"]["without"], false);
        assert_eq!(parsed("a or b")["matching"]["card"], "many-to-many");
        assert_eq!(parsed("-a")["type"], "unaryExpr");
        assert_eq!(parsed("-1.5")["val"], "-1.5", "folded, as Prometheus does");
        assert_eq!(parsed("1.5")["val"], "1.5");
        assert_eq!(parsed("Inf")["val"], "+Inf");
        let s = parsed("max_over_time(up[10m:30s] @ end())");
        assert_eq!(s["args"][0]["type"], "subquery");
        assert_eq!(s["args"][0]["step"], 30_000);
        assert_eq!(s["args"][0]["startOrEnd"], "end");
    }
}
