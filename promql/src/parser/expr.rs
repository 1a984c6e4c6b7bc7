//! Expressions: the precedence-climbing loop, primaries, postfix modifiers,
//! aggregations, calls and duration expressions.

use crate::ast::{
    Aggregate, AggregateOp, AtModifier, Binary, BinaryOp, Call, Expr, Fill, Group, GroupSide,
    Grouping, Number, RangeMode, Spans, Subquery, UnaryOp, ValueType, VectorMatching,
};
use crate::duration::{DurationExpr, DurationOp, MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS};
use crate::functions;

use super::lexer::Tok;
use super::{ParseError, Parser, Position};

type R<T> = Result<T, ParseError>;

/// Precedence of unary `+`/`-`: like `*`, so only `^` binds tighter.
const UNARY_OPERAND_PRECEDENCE: u8 = 6;

impl Parser<'_> {
    fn binary_op(&self) -> Option<BinaryOp> {
        Some(match self.peek() {
            Tok::Add => BinaryOp::Add,
            Tok::Sub => BinaryOp::Sub,
            Tok::Mul => BinaryOp::Mul,
            Tok::Div => BinaryOp::Div,
            Tok::Mod => BinaryOp::Mod,
            Tok::Pow => BinaryOp::Pow,
            Tok::Eql => BinaryOp::Eql,
            Tok::Neq => BinaryOp::Neq,
            Tok::Lss => BinaryOp::Lss,
            Tok::Lte => BinaryOp::Lte,
            Tok::Gtr => BinaryOp::Gtr,
            Tok::Gte => BinaryOp::Gte,
            Tok::TrimUpper => BinaryOp::TrimUpper,
            Tok::TrimLower => BinaryOp::TrimLower,
            Tok::Ident(s) if s.eq_ignore_ascii_case("and") => BinaryOp::And,
            Tok::Ident(s) if s.eq_ignore_ascii_case("or") => BinaryOp::Or,
            Tok::Ident(s) if s.eq_ignore_ascii_case("unless") => BinaryOp::Unless,
            Tok::Ident(s) if s.eq_ignore_ascii_case("atan2") => BinaryOp::Atan2,
            _ => return None,
        })
    }

    /// An expression whose binary operators all bind at least as tightly as `min_prec`.
    pub(crate) fn expr(&mut self, min_prec: u8) -> R<Expr> {
        self.enter()?;
        let start = self.offset();
        let mut lhs = self.unary()?;
        while let Some(op) = self.binary_op() {
            let prec = op.precedence();
            if prec < min_prec {
                break;
            }
            let op_at = self.offset();
            self.next();
            let (return_bool, matching, fill) = self.binary_modifiers(op)?;
            let next_min = if op.is_right_associative() {
                prec
            } else {
                prec + 1
            };
            let rhs_at = self.offset();
            let rhs = self.expr(next_min)?;
            let b = Binary {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
                return_bool,
                matching,
                fill,
            };
            // A flat chain (`a + a + ...`) nests its tree without nesting
            // this loop: measure the tree before anything recurses over it.
            let b = Expr::Binary(b);
            self.check_depth(&b, op_at)?;
            if let Expr::Binary(b) = &b {
                self.check_binary(b, start, op_at, rhs_at)?;
            }
            lhs = b;
        }
        self.check_depth(&lhs, start)?;
        self.leave();
        Ok(lhs)
    }

    fn unary(&mut self) -> R<Expr> {
        let start = self.offset();
        let op = match self.peek() {
            Tok::Sub => UnaryOp::Neg,
            Tok::Add => UnaryOp::Plus,
            _ => {
                let primary = self.primary()?;
                return self.postfix(primary, start);
            }
        };
        self.next();
        let operand = self.expr(UNARY_OPERAND_PRECEDENCE)?;
        match operand {
            Expr::Number(Number(v)) => Ok(Expr::Number(Number(if op == UnaryOp::Neg {
                -v
            } else {
                v
            }))),
            e => {
                let t = e.value_type();
                if t != ValueType::Scalar && t != ValueType::Vector {
                    return Err(self.error_at(
                        start,
                        format!("unary expression only allowed on expressions of type scalar or instant vector, got {t:?}", t = t.to_string()),
                    ));
                }
                Ok(Expr::Unary(op, Box::new(e)))
            }
        }
    }

    fn primary(&mut self) -> R<Expr> {
        let start = self.offset();
        match self.next() {
            Tok::Number(v) => Ok(Expr::Number(Number(v))),
            Tok::Duration(ms) => Ok(Expr::Number(Number(ms as f64 / 1000.0))),
            Tok::Str(s) => Ok(Expr::String(s)),
            Tok::LParen => {
                let e = self.expr(0)?;
                self.expect(Tok::RParen, "parenthesized expression")?;
                Ok(Expr::Paren(Box::new(e)))
            }
            Tok::LBrace => {
                self.pos -= 1;
                self.vector_selector(None, start)
            }
            Tok::Ident(name) => self.ident_primary(name, start),
            Tok::Eof => Err(self.error_at(start, "unexpected end of input")),
            other => Err(self.error_at(start, format!("unexpected {}", other.describe()))),
        }
    }

    fn ident_primary(&mut self, name: String, start: usize) -> R<Expr> {
        if let Some(op) = AggregateOp::from_name(&name)
            && (matches!(self.peek(), Tok::LParen)
                || self.is_keyword("by")
                || self.is_keyword("without"))
        {
            return self.aggregate(op, start);
        }
        if is_reserved(&name) {
            return Err(self.error_at(start, format!("unexpected keyword {name:?}")));
        }
        if matches!(self.peek(), Tok::LParen) {
            return self.call(&name, start);
        }
        if name.eq_ignore_ascii_case("inf") {
            return Ok(Expr::Number(Number(f64::INFINITY)));
        }
        if name.eq_ignore_ascii_case("nan") {
            return Ok(Expr::Number(Number(f64::NAN)));
        }
        self.vector_selector(Some(name), start)
    }

    /// `[range]`, `[range:step]`, `offset`, `@`, `anchored`, `smoothed` after a primary.
    fn postfix(&mut self, mut e: Expr, start: usize) -> R<Expr> {
        loop {
            let at = self.offset();
            if matches!(self.peek(), Tok::LBracket) {
                self.next();
                let range = self.duration_expr()?;
                if matches!(self.peek(), Tok::Colon) {
                    self.next();
                    let step = if matches!(self.peek(), Tok::RBracket) {
                        None
                    } else {
                        Some(self.duration_expr()?)
                    };
                    self.expect(Tok::RBracket, "subquery selector")?;
                    if e.value_type() != ValueType::Vector {
                        return Err(self.error_at(
                            start,
                            format!(
                                "subquery is only allowed on instant vector, got {} instead",
                                e.value_type()
                            ),
                        ));
                    }
                    if let Some(ms) = range.as_literal_ms()
                        && ms <= 0
                    {
                        return Err(self.error_at(at, "subquery range must be greater than 0"));
                    }
                    e = Expr::Subquery(Subquery {
                        expr: Box::new(e),
                        range,
                        step,
                        offset: None,
                        at: None,
                    });
                    continue;
                }
                self.expect(Tok::RBracket, "range selector")?;
                match e {
                    Expr::Vector(v)
                        if v.offset.is_none() && v.at.is_none() && v.range_mode.is_none() =>
                    {
                        if let Some(ms) = range.as_literal_ms()
                            && ms <= 0
                        {
                            return Err(self.error_at(at, "range must be greater than 0"));
                        }
                        e = Expr::Matrix(crate::ast::MatrixSelector { vector: v, range });
                    }
                    Expr::Vector(_) => {
                        return Err(self.error_at(
                            at,
                            "no offset, @ or range modifier allowed before a range",
                        ));
                    }
                    _ => return Err(self.error_at(at, "ranges only allowed for vector selectors")),
                }
            } else if self.is_keyword("offset") {
                self.next();
                let d = self.offset_value()?;
                let slot = match &mut e {
                    Expr::Vector(v) => &mut v.offset,
                    Expr::Matrix(m) => &mut m.vector.offset,
                    Expr::Subquery(s) => &mut s.offset,
                    _ => {
                        return Err(self.error_at(
                            at,
                            "offset modifier must be preceded by an instant vector selector or range vector selector or a subquery",
                        ));
                    }
                };
                if slot.is_some() {
                    return Err(self.error_at(at, "offset may not be set multiple times"));
                }
                *slot = Some(d);
            } else if matches!(self.peek(), Tok::At) {
                self.next();
                let value = self.at_value()?;
                let slot = match &mut e {
                    Expr::Vector(v) => &mut v.at,
                    Expr::Matrix(m) => &mut m.vector.at,
                    Expr::Subquery(s) => &mut s.at,
                    _ => {
                        return Err(self.error_at(
                            at,
                            "@ modifier must be preceded by an instant vector selector or range vector selector or a subquery",
                        ));
                    }
                };
                if slot.is_some() {
                    return Err(self.error_at(at, "@ <timestamp> may not be set multiple times"));
                }
                *slot = Some(value);
            } else if self.is_keyword("anchored") || self.is_keyword("smoothed") {
                let mode = if self.is_keyword("anchored") {
                    RangeMode::Anchored
                } else {
                    RangeMode::Smoothed
                };
                let slot = match &mut e {
                    Expr::Vector(v) => &mut v.range_mode,
                    Expr::Matrix(m) => &mut m.vector.range_mode,
                    _ => break,
                };
                self.next();
                if slot.is_some() {
                    return Err(self.error_at(
                        at,
                        "anchored and smoothed may only be given once, and not together",
                    ));
                }
                *slot = Some(mode);
            } else {
                break;
            }
        }
        Ok(e)
    }

    fn at_value(&mut self) -> R<AtModifier> {
        let at = self.offset();
        if (self.is_keyword("start") || self.is_keyword("end"))
            && matches!(self.peek_at(1), Tok::LParen)
        {
            let is_start = self.is_keyword("start");
            self.next();
            self.next();
            self.expect(Tok::RParen, "@ modifier")?;
            return Ok(if is_start {
                AtModifier::Start
            } else {
                AtModifier::End
            });
        }
        let sign = match self.peek() {
            Tok::Sub => {
                self.next();
                -1.0
            }
            Tok::Add => {
                self.next();
                1.0
            }
            _ => 1.0,
        };
        let seconds = match self.next() {
            Tok::Number(v) => v,
            Tok::Duration(ms) => ms as f64 / 1000.0,
            Tok::Ident(s) if s.eq_ignore_ascii_case("inf") => f64::INFINITY,
            Tok::Ident(s) if s.eq_ignore_ascii_case("nan") => f64::NAN,
            other => {
                return Err(self.error_at(
                    at,
                    format!(
                        "unexpected {} in @ modifier, expected a timestamp, start() or end()",
                        other.describe()
                    ),
                ));
            }
        } * sign;
        // Prometheus' message; its bound is tighter here (see
        // MAX_TIMESTAMP_MS) so that evaluation cannot overflow.
        let ms = (seconds * 1000.0).round();
        if !(MIN_TIMESTAMP_MS as f64..=MAX_TIMESTAMP_MS as f64).contains(&ms) {
            return Err(self.error_at(
                at,
                format!(
                    "timestamp out of bounds for @ modifier: {}",
                    go_fixed(seconds)
                ),
            ));
        }
        Ok(AtModifier::Timestamp(ms as i64))
    }

    /// After `offset`: a signed literal, `step()`, `range()`, `min_of`/`max_of`,
    /// or a parenthesised duration expression.
    fn offset_value(&mut self) -> R<DurationExpr> {
        let neg = match self.peek() {
            Tok::Sub => {
                self.next();
                true
            }
            Tok::Add => {
                self.next();
                false
            }
            _ => false,
        };
        let d = self.duration_atom()?;
        Ok(match (neg, d) {
            (true, DurationExpr::Literal(ms)) => DurationExpr::Literal(-ms),
            (true, DurationExpr::Number(n)) => DurationExpr::Number(Number(-n.0)),
            (true, other) => DurationExpr::Neg(Box::new(other)),
            (false, other) => other,
        })
    }

    /// A duration expression inside `[...]` (stops at `:` and `]`).
    pub(crate) fn duration_expr(&mut self) -> R<DurationExpr> {
        self.enter()?;
        let at = self.offset();
        let e = self.duration_binary(0)?;
        self.check_duration_depth(&e, at)?;
        self.leave();
        Ok(e)
    }

    fn duration_op(&self) -> Option<DurationOp> {
        Some(match self.peek() {
            Tok::Add => DurationOp::Add,
            Tok::Sub => DurationOp::Sub,
            Tok::Mul => DurationOp::Mul,
            Tok::Div => DurationOp::Div,
            Tok::Mod => DurationOp::Mod,
            Tok::Pow => DurationOp::Pow,
            _ => return None,
        })
    }

    fn duration_binary(&mut self, min_prec: u8) -> R<DurationExpr> {
        let mut lhs = self.duration_unary()?;
        while let Some(op) = self.duration_op() {
            let prec = op.precedence();
            if prec < min_prec {
                break;
            }
            let at = self.offset();
            self.next();
            let next_min = if op == DurationOp::Pow {
                prec
            } else {
                prec + 1
            };
            self.enter()?;
            let rhs = self.duration_binary(next_min)?;
            self.leave();
            if matches!(op, DurationOp::Div | DurationOp::Mod)
                && matches!(rhs, DurationExpr::Number(Number(z)) if z == 0.0)
                    | matches!(rhs, DurationExpr::Literal(0))
            {
                return Err(self.error_at(at, "division by zero"));
            }
            lhs = DurationExpr::Binary(op, Box::new(lhs), Box::new(rhs));
            self.check_duration_depth(&lhs, at)?;
        }
        Ok(lhs)
    }

    fn duration_unary(&mut self) -> R<DurationExpr> {
        match self.peek() {
            Tok::Sub => {
                self.next();
                self.enter()?;
                let e = self.duration_binary(3)?;
                self.leave();
                Ok(match e {
                    DurationExpr::Literal(ms) => DurationExpr::Literal(-ms),
                    DurationExpr::Number(n) => DurationExpr::Number(Number(-n.0)),
                    other => DurationExpr::Neg(Box::new(other)),
                })
            }
            Tok::Add => {
                self.next();
                self.enter()?;
                let e = self.duration_unary()?;
                self.leave();
                Ok(e)
            }
            _ => self.duration_atom(),
        }
    }

    fn duration_atom(&mut self) -> R<DurationExpr> {
        let at = self.offset();
        match self.next() {
            Tok::Duration(ms) => Ok(DurationExpr::Literal(ms)),
            Tok::Number(v) => Ok(DurationExpr::Number(Number(v))),
            Tok::LParen => {
                self.enter()?;
                let e = self.duration_binary(0)?;
                self.expect(Tok::RParen, "duration expression")?;
                self.leave();
                Ok(DurationExpr::Paren(Box::new(e)))
            }
            Tok::Ident(s) if matches!(self.peek(), Tok::LParen) => {
                self.next();
                let lower = s.to_ascii_lowercase();
                let e = match lower.as_str() {
                    "step" => DurationExpr::Step,
                    "range" => DurationExpr::Range,
                    "min_of" | "max_of" => {
                        let a = self.duration_expr()?;
                        self.expect(Tok::Comma, "duration function")?;
                        let b = self.duration_expr()?;
                        if lower == "min_of" {
                            DurationExpr::MinOf(Box::new(a), Box::new(b))
                        } else {
                            DurationExpr::MaxOf(Box::new(a), Box::new(b))
                        }
                    }
                    _ => {
                        return Err(self.error_at(
                            at,
                            format!("unexpected function {s:?} in duration expression"),
                        ));
                    }
                };
                self.expect(Tok::RParen, "duration function")?;
                Ok(e)
            }
            Tok::Eof => Err(self.error_at(at, "unexpected end of input in duration expression")),
            other => Err(self.error_at(
                at,
                format!(
                    "unexpected {} in duration expression, expected a duration",
                    other.describe()
                ),
            )),
        }
    }

    /// `bool`, `on(...)`/`ignoring(...)`, `group_left/right(...)`, fill modifiers.
    #[allow(clippy::type_complexity)]
    fn binary_modifiers(
        &mut self,
        op: BinaryOp,
    ) -> R<(bool, Option<VectorMatching>, Option<Fill>)> {
        let at = self.offset();
        let return_bool = self.eat_keyword("bool");
        if return_bool && !op.is_comparison() {
            return Err(self.error_at(at, "bool modifier can only be used on comparison operators"));
        }
        let mut matching = None;
        if self.is_keyword("on") || self.is_keyword("ignoring") {
            let on = self.is_keyword("on");
            self.next();
            let labels = self.label_list()?;
            let mut group = None;
            if self.is_keyword("group_left") || self.is_keyword("group_right") {
                let g_at = self.offset();
                let side = if self.is_keyword("group_left") {
                    GroupSide::Left
                } else {
                    GroupSide::Right
                };
                self.next();
                if op.is_set() {
                    return Err(self.error_at(
                        g_at,
                        format!("no grouping allowed for {:?} operation", op.as_str()),
                    ));
                }
                let include = if matches!(self.peek(), Tok::LParen) {
                    self.label_list()?
                } else {
                    Vec::new()
                };
                if on && let Some(l) = include.iter().find(|l| labels.contains(l)) {
                    return Err(self.error_at(
                        g_at,
                        format!("label {l:?} must not occur in ON and GROUP clause at once"),
                    ));
                }
                group = Some(Group {
                    side,
                    labels: include,
                });
            }
            matching = Some(VectorMatching { on, labels, group });
        } else if self.is_keyword("group_left") || self.is_keyword("group_right") {
            return Err(
                self.error_here("group modifiers require a preceding on(...) or ignoring(...)")
            );
        }
        let mut fill: Option<Fill> = None;
        loop {
            let kw = ["fill", "fill_left", "fill_right"]
                .into_iter()
                .find(|k| self.is_keyword(k) && matches!(self.peek_at(1), Tok::LParen));
            let Some(kw) = kw else { break };
            let f_at = self.offset();
            if op.is_set() {
                return Err(self.error_at(
                    f_at,
                    format!(
                        "fill modifiers are not allowed for {:?} operation",
                        op.as_str()
                    ),
                ));
            }
            self.next();
            self.next();
            let v = self.signed_number("fill modifier")?;
            self.expect(Tok::RParen, "fill modifier")?;
            let f = fill.get_or_insert(Fill {
                left: None,
                right: None,
            });
            let (l, r) = match kw {
                "fill" => (true, true),
                "fill_left" => (true, false),
                _ => (false, true),
            };
            if (l && f.left.is_some()) || (r && f.right.is_some()) {
                return Err(self.error_at(f_at, "fill value given more than once"));
            }
            if l {
                f.left = Some(v);
            }
            if r {
                f.right = Some(v);
            }
        }
        Ok((return_bool, matching, fill))
    }

    fn signed_number(&mut self, context: &str) -> R<Number> {
        let sign = match self.peek() {
            Tok::Sub => {
                self.next();
                -1.0
            }
            Tok::Add => {
                self.next();
                1.0
            }
            _ => 1.0,
        };
        let at = self.offset();
        match self.next() {
            Tok::Number(v) => Ok(Number(sign * v)),
            Tok::Duration(ms) => Ok(Number(sign * ms as f64 / 1000.0)),
            Tok::Ident(s) if s.eq_ignore_ascii_case("inf") => Ok(Number(sign * f64::INFINITY)),
            Tok::Ident(s) if s.eq_ignore_ascii_case("nan") => Ok(Number(f64::NAN)),
            other => Err(self.error_at(
                at,
                format!(
                    "unexpected {} in {context}, expected a number",
                    other.describe()
                ),
            )),
        }
    }

    /// `(label, "label", ...)`, possibly empty, trailing comma allowed.
    pub(crate) fn label_list(&mut self) -> R<Vec<String>> {
        self.expect(Tok::LParen, "label list")?;
        let mut labels = Vec::new();
        loop {
            let at = self.offset();
            match self.next() {
                Tok::RParen => return Ok(labels),
                Tok::Ident(s) => {
                    if s.contains(':') {
                        return Err(
                            self.error_at(at, format!("invalid label name {s:?} in grouping"))
                        );
                    }
                    labels.push(s);
                }
                Tok::Str(s) => labels.push(s),
                other => {
                    return Err(self.error_at(
                        at,
                        format!(
                            "unexpected {} in grouping opts, expected label",
                            other.describe()
                        ),
                    ));
                }
            }
            match self.next() {
                Tok::Comma => {}
                Tok::RParen => return Ok(labels),
                other => {
                    return Err(self.error_at(
                        self.token(self.pos.saturating_sub(1)).start,
                        format!(
                            "unexpected {} in grouping opts, expected \",\" or \")\"",
                            other.describe()
                        ),
                    ));
                }
            }
        }
    }

    fn aggregate(&mut self, op: AggregateOp, start: usize) -> R<Expr> {
        let mut grouping = self.grouping()?;
        let args_at = self.offset();
        let args = self.call_args(op.as_str())?;
        if grouping.is_none() {
            grouping = self.grouping()?;
        } else if self.is_keyword("by") || self.is_keyword("without") {
            return Err(self.error_here("grouping given twice in aggregation"));
        }
        let want = if op.param_type().is_some() { 2 } else { 1 };
        if args.len() != want {
            return Err(self.error_at(
                args_at,
                format!("wrong number of arguments for aggregate expression provided, expected {want}, got {}", args.len()),
            ));
        }
        let mut args = args.into_iter();
        let mut param_at = None;
        let (param, expr) = match (op.param_type(), args.next(), args.next()) {
            (Some(pt), Some((p, p_at)), Some(e)) => {
                if p.value_type() != pt {
                    return Err(self.error_at(
                        p_at,
                        format!(
                            "expected type {pt} in aggregation parameter, got {}",
                            p.value_type()
                        ),
                    ));
                }
                param_at = Some(p_at);
                (Some(Box::new(p)), e)
            }
            (None, Some(e), None) => (None, e),
            _ => {
                return Err(self.error_at(
                    args_at,
                    "wrong number of arguments for aggregate expression",
                ));
            }
        };
        let (expr, e_at) = expr;
        if expr.value_type() != ValueType::Vector {
            return Err(self.error_at(
                e_at,
                format!(
                    "expected type instant vector in aggregation expression, got {}",
                    expr.value_type()
                ),
            ));
        }
        let mut positions = vec![Position::at(self.input, start)];
        if let Some(p_at) = param_at {
            positions.push(Position::at(self.input, p_at));
        }
        positions.push(Position::at(self.input, e_at));
        Ok(Expr::Aggregate(Aggregate {
            op,
            expr: Box::new(expr),
            param,
            grouping,
            positions: Spans(positions),
        }))
    }

    fn grouping(&mut self) -> R<Option<Grouping>> {
        let without = if self.is_keyword("by") {
            false
        } else if self.is_keyword("without") {
            true
        } else {
            return Ok(None);
        };
        self.next();
        let labels = self.label_list()?;
        Ok(Some(Grouping { without, labels }))
    }

    /// `(arg, arg, ...)`; each argument with its offset. No trailing comma.
    fn call_args(&mut self, what: &str) -> R<Vec<(Expr, usize)>> {
        self.expect(Tok::LParen, what)?;
        let mut args = Vec::new();
        if matches!(self.peek(), Tok::RParen) {
            self.next();
            return Ok(args);
        }
        loop {
            let at = self.offset();
            // info()'s second argument selects labels and may match empty values.
            self.allow_empty_selector = what == "info" && args.len() == 1;
            let arg = self.expr(0);
            self.allow_empty_selector = false;
            args.push((arg?, at));
            let sep_at = self.offset();
            match self.next() {
                Tok::Comma => {
                    if matches!(self.peek(), Tok::RParen) {
                        return Err(
                            self.error_at(sep_at, format!("trailing comma in call to {what:?}"))
                        );
                    }
                }
                Tok::RParen => return Ok(args),
                other => {
                    let at = self.token(self.pos.saturating_sub(1)).start;
                    return Err(self.error_at(
                        at,
                        format!(
                            "unexpected {} in argument list of {what:?}, expected \",\" or \")\"",
                            other.describe()
                        ),
                    ));
                }
            }
        }
    }

    fn call(&mut self, name: &str, start: usize) -> R<Expr> {
        let Some(f) = functions::lookup(name) else {
            return Err(self.error_at(start, format!("unknown function with name {name:?}")));
        };
        let args = self.call_args(f.name)?;
        let n = args.len();
        if n < f.min_args || f.max_args.is_some_and(|m| n > m) {
            let msg = match f.max_args {
                Some(m) if m == f.min_args => {
                    format!("expected {m} argument(s) in call to {:?}, got {n}", f.name)
                }
                Some(m) if n > m => format!(
                    "expected at most {m} argument(s) in call to {:?}, got {n}",
                    f.name
                ),
                _ => format!(
                    "expected at least {} argument(s) in call to {:?}, got {n}",
                    f.min_args, f.name
                ),
            };
            return Err(self.error_at(start, msg));
        }
        for (i, (a, at)) in args.iter().enumerate() {
            let want = f.arg_type(i);
            if a.value_type() != want {
                return Err(self.error_at(
                    *at,
                    format!(
                        "expected type {want} in call to function {:?}, got {}",
                        f.name,
                        a.value_type()
                    ),
                ));
            }
        }
        if f.name == "info"
            && let Some((second, at)) = args.get(1)
            && !matches!(second, Expr::Vector(v) if v.name.is_none())
        {
            return Err(self.error_at(
                *at,
                "expected label selectors as the second argument to \"info\" function",
            ));
        }
        let positions = std::iter::once(start)
            .chain(args.iter().map(|a| a.1))
            .map(|o| Position::at(self.input, o))
            .collect();
        Ok(Expr::Call(Call {
            func: f.name,
            args: args.into_iter().map(|a| a.0).collect(),
            positions: Spans(positions),
        }))
    }

    fn check_binary(&self, b: &Binary, start: usize, op_at: usize, rhs_at: usize) -> R<()> {
        let (lt, rt) = (b.lhs.value_type(), b.rhs.value_type());
        let ok = |t: ValueType| matches!(t, ValueType::Scalar | ValueType::Vector);
        if !ok(lt) {
            return Err(self.error_at(
                start,
                "binary expression must contain only scalar and instant vector types",
            ));
        }
        if !ok(rt) {
            return Err(self.error_at(
                rhs_at,
                "binary expression must contain only scalar and instant vector types",
            ));
        }
        let both_scalar = lt == ValueType::Scalar && rt == ValueType::Scalar;
        if b.op.is_comparison() && both_scalar && !b.return_bool {
            return Err(self.error_at(op_at, "comparisons between scalars must use BOOL modifier"));
        }
        if b.op.is_set() && (lt == ValueType::Scalar || rt == ValueType::Scalar) {
            return Err(self.error_at(
                op_at,
                format!(
                    "set operator {:?} not allowed in binary scalar expression",
                    b.op.as_str()
                ),
            ));
        }
        if (b.matching.is_some() || b.fill.is_some())
            && (lt != ValueType::Vector || rt != ValueType::Vector)
        {
            return Err(self.error_at(
                op_at,
                "vector matching only allowed between instant vectors",
            ));
        }
        Ok(())
    }
}

/// A float as Go's `%f` prints it: six decimals, `+Inf`, `-Inf`, `NaN`.
fn go_fixed(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{v:.6}")
    }
}

/// Words that cannot start an expression as a metric name.
fn is_reserved(name: &str) -> bool {
    [
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "bool",
        "offset",
    ]
    .iter()
    .any(|k| k.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use crate::parse;

    #[test]
    fn precedence_and_associativity() {
        let cases = [
            ("1 + 2 * 3", "1 + 2 * 3"),
            ("-2 ^ 2", "-2 ^ 2"),
            ("2 ^ 3 ^ 2", "2 ^ 3 ^ 2"),
            ("a or b and c", "a or b and c"),
        ];
        for (q, printed) in cases {
            assert_eq!(parse(q).unwrap().to_string(), printed);
        }
    }
}
