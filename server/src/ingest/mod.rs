//! Ingestion handlers, thin: each decodes its body with a codec from
//! [`crate::formats`], applies the limits and commits through the
//! engine's appender.

pub mod import;
pub mod influx;
pub mod otlp;
pub mod remote_write;
