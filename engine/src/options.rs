//! Options for [`crate::Storage::open`].

use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, SystemClock};
use crate::labels::LabelLimits;
use crate::wal::{FsyncPolicy, WalOptions};

/// One hour in milliseconds.
pub const HOUR_MS: i64 = 3_600_000;
/// One day in milliseconds.
pub const DAY_MS: i64 = 24 * HOUR_MS;

/// How a [`crate::Storage`] behaves. `Options::default()` is what a
/// Prometheus user expects: 2 h blocks, 90 days of retention, WAL fsync
/// every second.
#[derive(Debug, Clone)]
pub struct Options {
    /// Time span of the blocks cut from the head, in ms (default 2 h). Head
    /// chunks never straddle a multiple of it.
    pub block_range_ms: i64,
    /// How long data is kept, in ms (default 90 days). Blocks entirely
    /// older than `now - retention` are deleted; samples older than that are
    /// refused.
    pub retention_ms: i64,
    /// Largest block compaction builds, in ms (default: 10% of retention).
    pub max_block_range_ms: Option<i64>,
    /// Write-ahead log settings (segment size, fsync policy).
    pub wal: WalOptions,
    /// Limits every appended label set must respect.
    pub label_limits: LabelLimits,
    /// How often the background thread cuts the head, compacts and applies
    /// retention; `None` runs no thread (call [`crate::Storage::maintain`]).
    pub maintenance_interval: Option<Duration>,
    /// The source of "now" (retention, bounds checks).
    pub clock: Arc<dyn Clock>,
    /// How far ahead of "now" a sample may lie, in ms (default 2 days, as
    /// VictoriaMetrics' `-futureRetention`). Later samples are refused
    /// with [`crate::Error::TooFarInFuture`], so one client with a wrong
    /// clock cannot stretch the head's time range.
    pub max_future_ms: i64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            block_range_ms: 2 * HOUR_MS,
            retention_ms: 90 * DAY_MS,
            max_block_range_ms: None,
            wal: WalOptions::default(),
            label_limits: LabelLimits::default(),
            maintenance_interval: Some(Duration::from_secs(60)),
            clock: Arc::new(SystemClock),
            max_future_ms: 2 * DAY_MS,
        }
    }
}

impl Options {
    /// Sets the WAL fsync policy.
    pub fn with_fsync(mut self, fsync: FsyncPolicy) -> Self {
        self.wal.fsync = fsync;
        self
    }

    /// Sets the retention period in ms.
    pub fn with_retention_ms(mut self, ms: i64) -> Self {
        self.retention_ms = ms;
        self
    }

    /// Sets the clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Sets how far ahead of now a sample may lie, in ms.
    pub fn with_max_future_ms(mut self, ms: i64) -> Self {
        self.max_future_ms = ms;
        self
    }

    /// Disables the background maintenance thread.
    pub fn without_maintenance(mut self) -> Self {
        self.maintenance_interval = None;
        self
    }

    /// The compaction ranges: block range, then x3 each step, up to the max.
    pub(crate) fn compaction_ranges(&self) -> Vec<i64> {
        let max = self
            .max_block_range_ms
            .unwrap_or(self.retention_ms / 10)
            .max(self.block_range_ms);
        let mut ranges = vec![self.block_range_ms];
        while let Some(&last) = ranges.last() {
            let next = last.saturating_mul(3);
            if next > max {
                break;
            }
            ranges.push(next);
        }
        ranges
    }

    pub(crate) fn validate(&self) -> crate::Result<()> {
        let bad = |name, reason: &str| {
            Err(crate::Error::InvalidOption {
                name,
                reason: reason.into(),
            })
        };
        if self.block_range_ms < 1000 {
            return bad("block_range_ms", "must be at least 1000 ms");
        }
        if self.retention_ms <= 0 {
            return bad("retention_ms", "must be positive");
        }
        if self.max_future_ms < 0 {
            return bad("max_future_ms", "must not be negative");
        }
        if self.label_limits.max_labels == 0 {
            return bad("label_limits.max_labels", "must be positive");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_compaction_ranges_stop_at_a_tenth_of_retention() {
        let ranges = Options::default().compaction_ranges();
        let hours: Vec<i64> = ranges.iter().map(|r| r / HOUR_MS).collect();
        assert_eq!(hours, [2, 6, 18, 54, 162]);
        assert!(ranges.iter().all(|&r| r <= 9 * DAY_MS));
    }
}
