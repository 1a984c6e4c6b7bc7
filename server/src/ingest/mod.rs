//! Ingestion formats: each a pure decoder plus a thin handler.

pub mod handler;
pub mod remote_write;
