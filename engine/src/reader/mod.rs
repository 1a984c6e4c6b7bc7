//! The one reader trait: what every place data can be read from (the head,
//! the frozen set of a head cut in progress, each block) answers, so that
//! the storage's querier merges them without knowing which is which (as
//! Prometheus' `BlockReader` is implemented by blocks and the head).
//!
//! - `head.rs`: the head;
//! - `frozen.rs`: [`FrozenSet`], data a head cut is writing out;
//! - `block.rs`: [`BlockReader`], a block with its pending deletions.
//!
//! The merge, newest reader first, is in `storage/query.rs`.

mod block;
mod frozen;
mod head;

use std::sync::Arc;

use crate::error::Result;
use crate::labels::Matcher;
use crate::source::Source;

pub(crate) use block::BlockReader;
pub(crate) use frozen::FrozenSet;

/// A place series data can be read from, for one query.
pub(crate) trait Reader {
    /// Whether the reader may hold data in `[mint, maxt]`; the querier skips
    /// readers that do not.
    fn overlaps(&self, mint: i64, maxt: i64) -> bool;

    /// Adds to `sink` every series matching all `matchers` that has data
    /// in `[mint, maxt]`: its key once, and its sources (newest first)
    /// under that key.
    ///
    /// # Errors
    /// A corrupt index or an I/O failure.
    fn select_into(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        sink: &mut SourceSink,
    ) -> Result<()>;

    /// Appends the label names of the series matching `matchers` (every
    /// series when empty) to `out`, in any order, duplicates allowed.
    ///
    /// # Errors
    /// As [`Reader::select_into`].
    fn label_names_into(&self, matchers: &[Matcher], out: &mut Vec<String>) -> Result<()>;

    /// Appends the values of label `name` among the series matching
    /// `matchers` to `out`, in any order, duplicates allowed.
    ///
    /// # Errors
    /// As [`Reader::select_into`].
    fn label_values_into(
        &self,
        name: &str,
        matchers: &[Matcher],
        out: &mut Vec<String>,
    ) -> Result<()>;
}

/// What readers find for a selection: series keys (`name 0xff value 0xff
/// ...`) in one buffer, and each source with the `(start, end)` of its
/// series' key there. Keys rather than `Labels`, so that a series found by
/// several readers has its labels built once, not once per source.
#[derive(Debug)]
pub(crate) struct SourceSink {
    /// Every key pushed, back to back.
    pub(crate) keys: Vec<u8>,
    /// Each source with its key's range in `keys`, in the order pushed.
    pub(crate) sources: Vec<(usize, usize, Source)>,
    /// One empty deletion list shared by every block source without
    /// deletions, so that they allocate none.
    pub(crate) no_deletions: Arc<[(i64, i64)]>,
}

impl SourceSink {
    /// An empty sink.
    pub(crate) fn new() -> SourceSink {
        SourceSink {
            keys: Vec::new(),
            sources: Vec::new(),
            no_deletions: Arc::from(Vec::new()),
        }
    }

    /// Copies `key` into the buffer; returns its range there.
    pub(crate) fn push_key(&mut self, key: &[u8]) -> (usize, usize) {
        let start = self.keys.len();
        self.keys.extend_from_slice(key);
        (start, self.keys.len())
    }
}
