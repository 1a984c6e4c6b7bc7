//! Strata's storage engine.
#![deny(missing_docs)]

mod clock;
mod error;
mod labels;
mod sample;

pub mod chunk;
pub mod encoding;
pub mod index;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{Error, LabelError, Result};
pub use labels::{
    Label, LabelLimits, Labels, METRIC_NAME, MatchType, Matcher, matches_all, validate_name,
};
pub use sample::{STALE_NAN, STALE_NAN_BITS, Sample, is_stale_nan};
