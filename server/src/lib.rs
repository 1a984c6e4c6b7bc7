//! Strata's HTTP server: a drop-in for single-node VictoriaMetrics on port
//! 8428 — Prometheus remote_write in, the Prometheus query API out.
//!
//! # Module map
//!
//! - [`app`]: [`AppState`] and [`router`], every route in one place (tests
//!   drive the router without a socket); [`serve`] runs it on a listener.
//! - [`formats`]: pure codecs, bytes in and series out, no HTTP: remote_write
//!   1.0/2.0 and remote_read protobuf with the zero-copy reader, capped
//!   decompression (snappy, gzip, zstd), text
//!   exposition, JSON lines, OTLP, Influx line protocol, and Prometheus'
//!   JSON encoding of results. The fuzz targets and benches call them.
//! - [`ingest`]: thin write handlers: decode with [`formats`], apply the
//!   limits, commit through the engine's appender.
//! - [`api`]: the read and admin handlers (query, series, labels, status,
//!   admin, snapshots, export, remote_read).
//! - Shared by both: [`params`] (query string and form parameters, times,
//!   durations) and [`metadata`] (the metric metadata store).
//! - Around the handlers: [`body`] (reading bodies under the memory
//!   [`budget`]), [`limits`] (concurrency), [`auth`],
//!   [`error`] (Prometheus' error JSON), [`metrics`] (the server's own
//!   `/metrics`).
//!
//! `ingest` and `api` do not import each other, and `formats` imports
//! neither.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod api;
pub mod app;
pub mod auth;
pub mod body;
pub mod budget;
pub mod error;
pub mod formats;
pub mod ingest;
pub mod limits;
pub mod metadata;
pub mod metrics;
pub mod params;
pub mod serve;

pub use app::{AppState, router};
