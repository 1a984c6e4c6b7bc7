//! Vector selectors: `name`, `name{...}`, `{...}`, `{"quoted.name", ...}`.

use strata_engine::{METRIC_NAME, MatchType, Matcher};

use crate::ast::{Expr, VectorSelector};

use super::lexer::Tok;
use super::{ParseError, Parser};

impl Parser<'_> {
    /// A selector whose metric name (if any) was just read; the next token
    /// may open the braces.
    pub(crate) fn vector_selector(
        &mut self,
        name: Option<String>,
        start: usize,
    ) -> Result<Expr, ParseError> {
        let mut name = name;
        let mut matchers = Vec::new();
        if matches!(self.peek(), Tok::LBrace) {
            self.next();
            loop {
                let at = self.offset();
                let label = match self.next() {
                    Tok::RBrace => break,
                    Tok::Ident(s) => s,
                    Tok::Str(s) => {
                        // A lone quoted string is the metric name.
                        if matches!(self.peek(), Tok::Comma | Tok::RBrace) {
                            if let Some(prev) = &name {
                                return Err(self.error_at(
                                    at,
                                    format!("metric name must not be set twice: {prev:?} or {s:?}"),
                                ));
                            }
                            name = Some(s);
                            if matches!(self.peek(), Tok::Comma) {
                                self.next();
                            }
                            continue;
                        }
                        s
                    }
                    other => {
                        return Err(self.error_at(
                            at,
                            format!(
                                "unexpected {} in label matching, expected label",
                                other.describe()
                            ),
                        ));
                    }
                };
                if label.contains(':') {
                    return Err(self.error_at(at, format!("invalid label name {label:?}")));
                }
                let op_at = self.offset();
                let kind = match self.next() {
                    Tok::Assign => MatchType::Equal,
                    Tok::Neq => MatchType::NotEqual,
                    Tok::EqlRegex => MatchType::Regex,
                    Tok::NeqRegex => MatchType::NotRegex,
                    other => {
                        return Err(self.error_at(
                            op_at,
                            format!(
                                "unexpected {} in label matching, expected label matching operator",
                                other.describe()
                            ),
                        ));
                    }
                };
                let v_at = self.offset();
                let value = match self.next() {
                    Tok::Str(s) => s,
                    other => {
                        return Err(self.error_at(
                            v_at,
                            format!(
                                "unexpected {} in label matching, expected string",
                                other.describe()
                            ),
                        ));
                    }
                };
                let m = Matcher::new(kind, label, value)
                    .map_err(|e| self.error_at(v_at, e.to_string()))?;
                matchers.push(m);
                match self.next() {
                    Tok::Comma => {}
                    Tok::RBrace => break,
                    other => {
                        let at = self.token(self.pos.saturating_sub(1)).start;
                        return Err(self.error_at(
                            at,
                            format!(
                                "unexpected {} in label matching, expected \",\" or \"}}\"",
                                other.describe()
                            ),
                        ));
                    }
                }
            }
        }
        if let Some(n) = &name
            && let Some(m) = matchers.iter().find(|m| m.name == METRIC_NAME)
        {
            return Err(self.error_at(
                start,
                format!("metric name must not be set twice: {n:?} or {:?}", m.value),
            ));
        }
        let v = VectorSelector {
            name,
            matchers,
            offset: None,
            at: None,
            range_mode: None,
        };
        if v.name.is_none()
            && !self.allow_empty_selector
            && v.matchers.iter().all(Matcher::matches_empty)
        {
            return Err(self.error_at(
                start,
                "vector selector must contain at least one non-empty matcher",
            ));
        }
        Ok(Expr::Vector(v))
    }
}
