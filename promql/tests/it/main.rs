//! PromQL integration tests: one binary, one module per concern.

mod conformance;
mod corpus;
mod errors;
mod grammar;
mod limits;
mod roundtrip;
mod shapes;
mod storage;
