//! Parse errors with their position.

use std::fmt;

/// A position in the query text: 1-based line and column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub column: usize,
    /// Byte offset from the start of the query.
    pub offset: usize,
}

impl Position {
    /// The position of byte `offset` in `input`.
    pub fn at(input: &str, offset: usize) -> Position {
        let offset = offset.min(input.len());
        let before = input.get(..offset).unwrap_or(input);
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
        Position {
            line,
            column,
            offset,
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// A query that does not parse or does not type-check.
///
/// Displays as Prometheus does: `1:8: parse error: unexpected end of input`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{position}: parse error: {message}")]
pub struct ParseError {
    /// Where the problem is.
    pub position: Position,
    /// What the problem is.
    pub message: String,
}
