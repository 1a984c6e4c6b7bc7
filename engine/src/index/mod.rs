//! The inverted label index: postings algebra, matcher resolution, and the
//! on-disk index file of a block.

pub mod postings;
mod reader;
pub mod select;
mod series_id;
mod writer;

pub(crate) use reader::IndexReader;
pub use select::{PostingsSource, postings_for_matchers};
pub use series_id::BlockSeriesId;
pub(crate) use writer::IndexWriter;
