//! Counters and cardinality statistics.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;

use parking_lot::Mutex;

use crate::head::Head;
use crate::labels::METRIC_NAME;

/// Running counters of a storage.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) samples_appended: AtomicU64,
    pub(crate) head_cuts: AtomicU64,
    pub(crate) compactions: AtomicU64,
    pub(crate) retention_deletions: AtomicU64,
    pub(crate) maintenance_errors: AtomicU64,
    pub(crate) last_maintenance_error: Mutex<Option<String>>,
}

/// Damaged block data met by reads (a chunk or frame failing its crc or
/// not decoding), process-wide: the readers that meet it do not know their
/// storage.
pub(crate) static READ_DAMAGE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Counts one piece of damaged block data met by a read.
pub(crate) fn count_read_damage() {
    READ_DAMAGE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// A snapshot of the storage's counters and sizes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StorageStats {
    /// Series in the head.
    pub head_series: u64,
    /// Oldest timestamp in the head (conservative).
    pub head_min_t: Option<i64>,
    /// Newest timestamp in the head.
    pub head_max_t: Option<i64>,
    /// Samples that arrived out of order since open.
    pub out_of_order_samples: u64,
    /// Samples committed since open.
    pub samples_appended: u64,
    /// Blocks on disk.
    pub blocks: u64,
    /// Bytes of all blocks on disk.
    pub block_bytes: u64,
    /// Samples in all blocks.
    pub block_samples: u64,
    /// Bytes of the WAL on disk.
    pub wal_bytes: u64,
    /// Chunks in the head (closed and open).
    pub head_chunks: u64,
    /// WAL fsyncs since open.
    pub wal_fsyncs: u64,
    /// Total time spent in WAL fsyncs since open, in nanoseconds.
    pub wal_fsync_nanos: u64,
    /// Head cuts (blocks written from the head) since open.
    pub head_cuts: u64,
    /// Compactions since open.
    pub compactions: u64,
    /// Blocks deleted by retention since open.
    pub retention_deletions: u64,
    /// Failed background maintenance rounds since open.
    pub maintenance_errors: u64,
    /// Damaged files or records found at open.
    pub open_damage: u64,
    /// Damaged chunks met by queries since the process started.
    pub read_damage: u64,
}

/// Cardinality of the head, as Prometheus' `/api/v1/status/tsdb` reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TsdbStats {
    /// Series in the head.
    pub num_series: u64,
    /// Distinct label pairs.
    pub num_label_pairs: u64,
    /// Oldest and newest timestamps in the head.
    pub min_time: Option<i64>,
    /// Newest timestamp in the head.
    pub max_time: Option<i64>,
    /// Series per metric name, largest first.
    pub series_count_by_metric_name: Vec<(String, u64)>,
    /// Distinct values per label name, largest first.
    pub label_value_count_by_label_name: Vec<(String, u64)>,
    /// Series per `name=value` pair, largest first.
    pub series_count_by_label_value_pair: Vec<(String, u64)>,
    /// Bytes of label values per label name, largest first.
    pub memory_in_bytes_by_label_name: Vec<(String, u64)>,
}

fn top(mut v: Vec<(String, u64)>, limit: usize) -> Vec<(String, u64)> {
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(limit);
    v
}

pub(crate) fn tsdb_stats(head: &Head, limit: usize) -> TsdbStats {
    let pairs = head.pair_counts();
    let mut by_metric = Vec::new();
    let mut values_per_name: HashMap<String, u64> = HashMap::new();
    let mut bytes_per_name: HashMap<String, u64> = HashMap::new();
    let mut by_pair = Vec::new();
    for (n, v, count) in &pairs {
        if n == METRIC_NAME {
            by_metric.push((v.clone(), *count as u64));
        }
        *values_per_name.entry(n.clone()).or_default() += 1;
        *bytes_per_name.entry(n.clone()).or_default() += (v.len() * count) as u64;
        by_pair.push((format!("{n}={v}"), *count as u64));
    }
    let range = head.time_range();
    TsdbStats {
        num_series: head.num_series(),
        num_label_pairs: pairs.len() as u64,
        min_time: range.map(|r| r.0),
        max_time: range.map(|r| r.1),
        series_count_by_metric_name: top(by_metric, limit),
        label_value_count_by_label_name: top(values_per_name.into_iter().collect(), limit),
        series_count_by_label_value_pair: top(by_pair, limit),
        memory_in_bytes_by_label_name: top(bytes_per_name.into_iter().collect(), limit),
    }
}
