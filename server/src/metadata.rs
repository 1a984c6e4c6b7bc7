//! The metric metadata store: type, help and unit of each metric family,
//! as remote_write and the text import send them, served by
//! `/api/v1/metadata`. Written by `ingest/`, read by `api/`.

use std::collections::BTreeMap;

/// Metadata by metric family name, shared by the ingest and API handlers.
pub type Store = parking_lot::RwLock<BTreeMap<String, Metadata>>;

/// Metadata of one metric family, as remote_write sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    /// `counter`, `gauge`, `histogram`, `summary`, ...
    pub kind: &'static str,
    /// Help text.
    pub help: String,
    /// Unit.
    pub unit: String,
}

/// The Prometheus name of remote_write's metric type number.
pub fn metric_type_name(t: i32) -> &'static str {
    match t {
        1 => "counter",
        2 => "gauge",
        3 => "histogram",
        4 => "gaugehistogram",
        5 => "summary",
        6 => "info",
        7 => "stateset",
        _ => "unknown",
    }
}
