//! PromQL text to [`Expr`]: a nom lexer, a recursive-descent parser with a
//! precedence-climbing loop for binary operators, and Prometheus' type checks
//! applied to each node as it is built (so errors carry its position).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::indexing_slicing))]

mod error;
mod expr;
mod lexer;
mod selector;

pub use error::{ParseError, Position};

use crate::ast::Expr;
use crate::duration::DurationExpr;
use lexer::{Tok, Token};

/// Deepest expression accepted: nesting of the parser's recursion and depth
/// of the tree it builds (a node under `MAX_DEPTH` others is refused).
///
/// Prometheus has no such limit (its parser is a table-driven LALR one),
/// but everything here that walks a tree recurses: the parser, type
/// checks, `Display`, evaluation, the JSON of `parse_query` and even `Drop`
/// of the boxes. Evaluation uses the most stack per level (a few KiB at
/// low optimisation), so 200 levels fit a 2 MiB thread with room to spare
/// (`promql/tests/it/shapes.rs` checks the worst shapes on one), and the
/// server gives its threads 8 MiB. Real queries nest a few tens of levels.
pub const MAX_DEPTH: usize = 200;

/// Parses and type-checks a PromQL expression.
///
/// # Errors
/// [`ParseError`] with the position and a Prometheus-style message.
///
/// ```
/// let e = strata_promql::parse("sum by (job) (rate(http_requests_total[5m]))")?;
/// assert_eq!(e.to_string(), "sum by (job) (rate(http_requests_total[5m]))");
/// # Ok::<(), strata_promql::ParseError>(())
/// ```
pub fn parse(input: &str) -> Result<Expr, ParseError> {
    let tokens = lexer::tokenize(input).map_err(|e| ParseError {
        position: Position::at(input, e.offset),
        message: e.message,
    })?;
    let mut p = Parser {
        input,
        tokens,
        pos: 0,
        depth: 0,
        allow_empty_selector: false,
    };
    let e = p.expr(0)?;
    match p.peek() {
        Tok::Eof => Ok(e),
        other => {
            let msg = format!("unexpected {}", other.describe());
            Err(p.error_here(msg))
        }
    }
}

/// Parser state over the token list.
pub(crate) struct Parser<'a> {
    input: &'a str,
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
    /// Set while parsing the label-selector argument of `info()`.
    allow_empty_selector: bool,
}

impl Parser<'_> {
    fn token(&self, i: usize) -> &Token {
        // The list always ends with Eof; stay on it.
        self.tokens.get(i).or(self.tokens.last()).unwrap_or(&EOF)
    }

    pub(crate) fn peek(&self) -> &Tok {
        &self.token(self.pos).tok
    }

    pub(crate) fn peek_at(&self, ahead: usize) -> &Tok {
        &self.token(self.pos + ahead).tok
    }

    /// Byte offset of the next token.
    pub(crate) fn offset(&self) -> usize {
        self.token(self.pos).start
    }

    pub(crate) fn next(&mut self) -> Tok {
        let t = self.peek().clone();
        if self.pos < self.tokens.len() {
            self.pos += 1;
        }
        t
    }

    /// True (and consumed) when the next token is the keyword `kw` (any case).
    pub(crate) fn eat_keyword(&mut self, kw: &str) -> bool {
        if self.is_keyword(kw) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    pub(crate) fn is_keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Tok::Ident(s) if s.eq_ignore_ascii_case(kw))
    }

    pub(crate) fn expect(&mut self, want: Tok, context: &str) -> Result<(), ParseError> {
        if *self.peek() == want {
            self.pos += 1;
            Ok(())
        } else {
            let msg = format!(
                "unexpected {} in {context}, expected {}",
                self.peek().describe(),
                want.describe()
            );
            Err(self.error_here(msg))
        }
    }

    pub(crate) fn error_at(&self, offset: usize, message: impl Into<String>) -> ParseError {
        ParseError {
            position: Position::at(self.input, offset),
            message: message.into(),
        }
    }

    pub(crate) fn error_here(&self, message: impl Into<String>) -> ParseError {
        self.error_at(self.offset(), message)
    }

    pub(crate) fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error_here(format!(
                "expression nested more than {MAX_DEPTH} levels deep"
            )));
        }
        Ok(())
    }

    /// Refuses a tree deeper than [`MAX_DEPTH`], before anything recurses
    /// over it. `e`'s subtrees were checked when they were built, so the
    /// walk itself recurses at most one level more than the limit.
    pub(crate) fn check_depth(&self, e: &Expr, offset: usize) -> Result<(), ParseError> {
        if e.deeper_than(MAX_DEPTH) {
            return Err(self.too_deep(offset));
        }
        Ok(())
    }

    /// As [`Parser::check_depth`], for a duration expression.
    pub(crate) fn check_duration_depth(
        &self,
        d: &DurationExpr,
        offset: usize,
    ) -> Result<(), ParseError> {
        if d.deeper_than(MAX_DEPTH) {
            return Err(self.too_deep(offset));
        }
        Ok(())
    }

    fn too_deep(&self, offset: usize) -> ParseError {
        self.error_at(
            offset,
            format!("expression nested more than {MAX_DEPTH} levels deep"),
        )
    }

    pub(crate) fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }
}

static EOF: Token = Token {
    tok: Tok::Eof,
    start: 0,
    end: 0,
};
