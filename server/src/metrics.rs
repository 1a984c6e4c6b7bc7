//! The server's own metrics at `/metrics`, in Prometheus' text format.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use strata_engine::StorageStats;

/// `path` and `code` of an HTTP request.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    /// The route (not the raw path, to bound cardinality).
    pub path: String,
    /// The status code.
    pub code: String,
}

/// A query endpoint.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabels {
    /// `query` or `query_range`.
    pub endpoint: String,
}

/// Why samples were refused or dropped.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    /// `invalid_labels`, `out_of_bounds`, `too_far_in_future`, `bad_request`; `native_histogram`
    /// (histogram samples refused: not stored yet); `exemplar` (exemplars
    /// dropped while their request is acknowledged: not stored yet).
    pub reason: String,
}

fn histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// Every metric the server exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// HTTP requests by route and status code.
    pub http_requests: Family<HttpLabels, Counter>,
    /// Query latency by endpoint.
    pub query_duration: Family<EndpointLabels, Histogram, fn() -> Histogram>,
    /// Samples stored through remote_write and the import endpoints.
    pub samples_ingested: Counter,
    /// Samples refused (and exemplars dropped), by reason.
    pub samples_rejected: Family<ReasonLabels, Counter>,
    /// Requests refused by the concurrency limit.
    pub requests_refused: Counter,
    /// Open HTTP connections.
    pub open_connections: Gauge,
    /// Connections closed by the header-read or idle timeout.
    pub connections_timed_out: Counter,
    /// Request bodies refused by the memory budget or a size cap, by reason.
    pub bodies_refused: Family<ReasonLabels, Counter>,
    storage: StorageGauges,
}

#[derive(Debug, Default)]
struct StorageGauges {
    active_series: Gauge,
    blocks: Gauge,
    block_bytes: Gauge<u64, AtomicU64>,
    block_samples: Gauge<u64, AtomicU64>,
    wal_bytes: Gauge<u64, AtomicU64>,
    head_chunks: Gauge<u64, AtomicU64>,
    wal_fsyncs: Gauge<u64, AtomicU64>,
    wal_fsync_seconds: Gauge<f64, AtomicU64>,
    head_cuts: Gauge<u64, AtomicU64>,
    compactions: Gauge<u64, AtomicU64>,
    retention_deletions: Gauge<u64, AtomicU64>,
    out_of_order_samples: Gauge<u64, AtomicU64>,
    maintenance_errors: Gauge<u64, AtomicU64>,
    open_damage: Gauge<u64, AtomicU64>,
    read_damage: Gauge<u64, AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("strata");
        let m = Metrics {
            http_requests: Family::default(),
            query_duration: Family::new_with_constructor(histogram),
            samples_ingested: Counter::default(),
            samples_rejected: Family::default(),
            requests_refused: Counter::default(),
            open_connections: Gauge::default(),
            connections_timed_out: Counter::default(),
            bodies_refused: Family::default(),
            storage: StorageGauges::default(),
            registry: Registry::default(),
        };
        registry.register(
            "http_requests",
            "HTTP requests by route and status code",
            m.http_requests.clone(),
        );
        registry.register(
            "query_duration_seconds",
            "Query latency by endpoint",
            m.query_duration.clone(),
        );
        registry.register(
            "samples_ingested",
            "Samples stored through remote_write and the import endpoints",
            m.samples_ingested.clone(),
        );
        registry.register(
            "samples_rejected",
            "Samples refused, by reason (native_histogram: histogram samples, refused; exemplar: exemplars, dropped and counted)",
            m.samples_rejected.clone(),
        );
        registry.register(
            "http_open_connections",
            "Open HTTP connections",
            m.open_connections.clone(),
        );
        registry.register(
            "http_connections_timed_out",
            "Connections closed by the header-read or idle timeout",
            m.connections_timed_out.clone(),
        );
        let s = &m.storage;
        registry.register(
            "active_series",
            "Series in the head",
            s.active_series.clone(),
        );
        registry.register("blocks", "Blocks on disk", s.blocks.clone());
        registry.register(
            "block_bytes",
            "Bytes of all blocks on disk",
            s.block_bytes.clone(),
        );
        registry.register(
            "block_samples",
            "Samples in all blocks",
            s.block_samples.clone(),
        );
        registry.register(
            "wal_bytes",
            "Bytes of the write-ahead log on disk",
            s.wal_bytes.clone(),
        );
        registry.register(
            "head_chunks",
            "Chunks in the head (closed and open)",
            s.head_chunks.clone(),
        );
        registry.register(
            "wal_fsyncs",
            "WAL fsyncs since start (a counter)",
            s.wal_fsyncs.clone(),
        );
        registry.register(
            "wal_fsync_seconds",
            "Total seconds spent in WAL fsyncs since start (a counter; divide its rate by wal_fsyncs' for the mean latency)",
            s.wal_fsync_seconds.clone(),
        );
        registry.register(
            "requests_refused",
            "Requests refused by the concurrency limit (--max-concurrent-requests)",
            m.requests_refused.clone(),
        );
        registry.register(
            "bodies_refused",
            "Request bodies refused, by reason: memory_budget (--max-ingest-memory-bytes; 503 for writes, 429 for reads), decompressed_too_large (--max-decompressed-bytes; 413), unsupported_encoding (415)",
            m.bodies_refused.clone(),
        );
        registry.register(
            "head_cuts",
            "Head cuts (blocks written from the head) since start",
            s.head_cuts.clone(),
        );
        registry.register(
            "compactions",
            "Compactions since start",
            s.compactions.clone(),
        );
        registry.register(
            "retention_deletions",
            "Blocks deleted by retention since start",
            s.retention_deletions.clone(),
        );
        registry.register(
            "out_of_order_samples",
            "Samples that arrived out of order since start",
            s.out_of_order_samples.clone(),
        );
        registry.register(
            "maintenance_errors",
            "Failed background maintenance rounds since start",
            s.maintenance_errors.clone(),
        );
        registry.register(
            "read_damage",
            "Damaged chunks met by queries since start (a counter; the query's error names the file and offset)",
            s.read_damage.clone(),
        );
        registry.register(
            "open_damage",
            "Damaged files or records found when the storage opened",
            s.open_damage.clone(),
        );
        Metrics { registry, ..m }
    }
}

/// The rejection reason counted for an append error: `out_of_bounds`
/// (older than the retention), `too_far_in_future` (beyond
/// `--max-future`), else `invalid_labels`.
pub fn reason_of(e: &strata_engine::Error) -> &'static str {
    match e {
        strata_engine::Error::OutOfBounds { .. } => "out_of_bounds",
        strata_engine::Error::TooFarInFuture { .. } => "too_far_in_future",
        _ => "invalid_labels",
    }
}

impl Metrics {
    /// Counts `n` samples refused for `reason`.
    pub fn reject(&self, reason: &str, n: usize) {
        self.samples_rejected
            .get_or_create(&ReasonLabels {
                reason: reason.into(),
            })
            .inc_by(n as u64);
    }

    /// Counts a request body refused for `reason`.
    pub fn refuse_body(&self, reason: &str) {
        self.bodies_refused
            .get_or_create(&ReasonLabels {
                reason: reason.into(),
            })
            .inc();
    }

    /// The text exposition, with storage figures read now.
    pub fn render(&self, stats: Option<&StorageStats>) -> String {
        if let Some(st) = stats {
            let g = &self.storage;
            g.active_series.set(st.head_series as i64);
            g.blocks.set(st.blocks as i64);
            g.block_bytes.set(st.block_bytes);
            g.block_samples.set(st.block_samples);
            g.wal_bytes.set(st.wal_bytes);
            g.head_chunks.set(st.head_chunks);
            g.wal_fsyncs.set(st.wal_fsyncs);
            g.wal_fsync_seconds.set(st.wal_fsync_nanos as f64 / 1e9);
            g.head_cuts.set(st.head_cuts);
            g.compactions.set(st.compactions);
            g.retention_deletions.set(st.retention_deletions);
            g.out_of_order_samples.set(st.out_of_order_samples);
            g.maintenance_errors.set(st.maintenance_errors);
            g.open_damage.set(st.open_damage);
            g.read_damage.set(st.read_damage);
        }
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
