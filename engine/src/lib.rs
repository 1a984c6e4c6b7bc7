//! Strata's storage engine: a Gorilla-compressed, append-only time-series
//! store with a write-ahead log, immutable memory-mapped blocks, an inverted
//! label index, compaction and retention. Synchronous and embeddable: no
//! async runtime, no HTTP.
//!
//! The tour:
//! - [`Storage`] opens a data directory ([`Options`] for block range,
//!   retention, WAL fsync policy, label limits, clock).
//! - [`Storage::appender`] gives an [`Appender`]: `append(&labels, t, v)`
//!   then `commit()`; committed samples survive `kill -9`.
//! - [`Storage::querier`] gives a [`StorageQuerier`], which implements the
//!   [`Querier`] trait: `select(matchers, mint, maxt)` returns [`Series`]
//!   sorted by labels, each with a merged sample iterator over the head,
//!   blocks and out-of-order data.
//! - [`Labels`], [`Matcher`] and [`Sample`] are Prometheus' data model.
//! - [`Storage::flush`] cuts the head to a block now, [`Storage::compact`]
//!   merges blocks, [`Storage::delete`] removes data; a background thread
//!   does cuts, compaction and retention on its own.
//!
//! - [`Storage::snapshot`] links the blocks into a directory of their own;
//!   [`SnapshotScope`] says whether the head is written out first.
//!
//! Inside, `storage/` is split by when things happen: `mod.rs` is the
//! facade (and the durability protocol), `open.rs` recovery (lock, blocks,
//! quarantine, WAL replay), `append.rs` the [`Appender`], `cut.rs` head
//! cuts (head -> frozen set -> blocks), `maintain.rs` the background
//! thread, compaction, retention and deletion, `query.rs` the
//! [`StorageQuerier`]. Reads go through one internal `Reader` trait
//! (`reader/`), implemented by the head, the frozen set of a cut in
//! progress and each block: postings for matchers, each series' key with
//! its chunk sources, label names and values. `StorageQuerier` merges the
//! readers, newest first, in one place; `source.rs` holds the kinds of
//! source a series' samples are decoded from, and `querier.rs` merges them
//! per series.
//!
//! The low-level modules ([`chunk`], [`wal`], [`block`], [`index`],
//! [`encoding`]) are public for tools and fuzzing; their formats are
//! described byte by byte in `FORMAT.md`.
//!
//! Ids are typed, each a zero-cost wrapper of the `u64` on disk, so one
//! kind cannot be passed where another is meant: [`SeriesRef`] names a head
//! series (in WAL records and head postings), [`index::BlockSeriesId`] a
//! series inside one block (its postings, [`block::Block::series`]), and
//! [`block::ChunkRef`] a chunk in a block's segment files
//! ([`block::ChunkMeta`]). The postings algebra ([`index::postings`],
//! [`index::postings_for_matchers`]) is generic over the id type.
//!
//! ```
//! use strata_engine::{Clock, Labels, MatchType, Matcher, Options, Querier, Storage, SystemClock};
//!
//! let dir = tempfile::tempdir()?;
//! let now = SystemClock.now_ms();
//! let storage = Storage::open(dir.path(), Options::default())?;
//! let mut app = storage.appender();
//! for i in 0..10 {
//!     let labels = Labels::from_pairs(&[("__name__", "up"), ("instance", &format!("host{i}"))])?;
//!     app.append(&labels, now, 1.0)?;
//! }
//! app.commit()?;
//!
//! let querier = storage.querier();
//! let matchers = [Matcher::equal("__name__", "up"), Matcher::new(MatchType::Regex, "instance", "host[0-4]")?];
//! let series = querier.select(&matchers, 0, i64::MAX)?;
//! assert_eq!(series.len(), 5);
//! assert_eq!(series[0].labels().get("instance"), Some("host0"));
//! storage.close()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod clock;
mod compact;
mod error;
mod frame_cache;
mod fsutil;
mod hash;
mod head;
mod labels;
mod options;
mod querier;
mod reader;
mod retention;
mod sample;
mod series_ref;
mod snapshot;
mod source;
mod stats;
mod storage;
mod tombstones;

pub mod block;
pub mod chunk;
pub mod encoding;
pub mod index;
pub mod wal;

pub use clock::{Clock, ManualClock, SystemClock, civil_from_days};
pub use error::{Error, LabelError, Result};
pub use labels::{
    Label, LabelLimits, Labels, METRIC_NAME, MatchType, Matcher, matches_all, validate_name,
};
pub use options::{DAY_MS, HOUR_MS, Options};
pub use querier::{LabelSetVisitor, Querier, Series, SeriesIter};
pub use sample::{STALE_NAN, STALE_NAN_BITS, Sample, is_stale_nan};
pub use series_ref::SeriesRef;
pub use snapshot::SnapshotScope;
pub use stats::{StorageStats, TsdbStats};
pub use storage::{Appender, Damage, OpenReport, Storage, StorageQuerier};
pub use wal::FsyncPolicy;
