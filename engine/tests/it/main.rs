//! Engine integration tests: one binary, one module per concern.

mod common;
mod concurrency;
mod corruption;
mod crash;
mod limits;
mod model;
mod recovery;
mod snapshot;
