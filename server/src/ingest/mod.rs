//! Ingestion formats: each a pure decoder plus a thin handler.

pub mod exposition;
pub mod handler;
pub mod import;
pub mod influx;
pub mod influx_write;
pub mod jsonl;
pub mod otlp;
pub mod remote_write;
pub mod remote_write_v2;
pub mod wire;
