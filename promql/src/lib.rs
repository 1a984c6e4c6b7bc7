//! PromQL for Strata: a parser with Prometheus' grammar, type checks and
//! error messages, producing an [`Expr`] whose `Display` is canonical PromQL,
//! and an evaluator over the engine's `Querier`.
//!
//! A tour:
//!
//! - [`parse`] (module `parser`): lexer and parser to an [`Expr`]
//!   ([`ast`]); errors carry positions ([`ParseError`]).
//! - [`functions`]: the one registry of functions. Each row of
//!   [`functions::FUNCTIONS`] holds a function's name, signature and
//!   implementation, so the type checker ([`functions::lookup`]) and the
//!   evaluator read the same row; implementations live by family
//!   (`rate`, `over_time`, `math`, `time`, `label`, `histogram`, `misc`).
//! - [`eval`]: instant and range evaluation ([`eval::eval_instant`],
//!   [`eval::eval_range`]): selectors, aggregations, binary operators; a
//!   call goes to its registry row.
//! - [`promqltest`]: a runner for Prometheus' `.test` scripts.
//!
//! ```
//! use strata_promql::{Expr, ValueType, parse};
//!
//! let e = parse("histogram_quantile(0.9, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))")?;
//! assert_eq!(e.value_type(), ValueType::Vector);
//! assert_eq!(parse(&e.to_string())?, e);
//!
//! let err = parse("rate(http_requests_total)").unwrap_err();
//! assert_eq!(err.to_string(), "1:6: parse error: expected type range vector in call to function \"rate\", got instant vector");
//! # Ok::<(), strata_promql::ParseError>(())
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod ast;
pub mod duration;
pub mod eval;
pub mod functions;
mod parser;
pub mod promqltest;

pub use ast::{Expr, ValueType};
pub use duration::DurationExpr;
pub use parser::{MAX_DEPTH, ParseError, Position, parse};
