//! The inverted label index: postings algebra, matcher resolution, and the
//! on-disk index file of a block.

pub mod postings;
pub mod select;

pub use select::{PostingsSource, postings_for_matchers};
