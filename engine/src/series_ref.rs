//! [`SeriesRef`]: the number a head series goes by in the WAL.

use std::fmt;

/// The id of a head series: WAL series records give it to a label set,
/// and sample and deletion records name the series by it. Assigned by the
/// head, never reused while the WAL may still hold records naming it. Not
/// to be confused with a block's series id (an offset in its index file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SeriesRef(pub u64);

impl fmt::Display for SeriesRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
