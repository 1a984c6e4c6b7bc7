//! OTLP/HTTP metrics (`/opentelemetry/v1/metrics`, VictoriaMetrics' path,
//! and `/api/v1/otlp/v1/metrics`, Prometheus 3's): pure decoders
//! ([`proto`] for protobuf, [`json`] for OTLP/JSON, both into the same
//! types) and the translation to Prometheus series ([`translate`]). The
//! HTTP handler is in the server's `ingest/otlp.rs`.

pub mod json;
pub mod proto;
pub mod translate;
