//! Strata's HTTP server: a drop-in for single-node VictoriaMetrics on port
//! 8428 — Prometheus remote_write in, the Prometheus query API out.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod api;
pub mod app;
pub mod auth;
pub mod body;
pub mod decompress;
pub mod error;
pub mod ingest;
pub mod limits;
pub mod metrics;
pub mod serve;

pub use app::{AppState, router};
