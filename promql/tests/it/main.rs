//! PromQL integration tests: one binary, one module per concern.

mod conformance;
mod corpus;
mod errors;
mod grammar;
mod limits;
mod roundtrip;
mod scripts;
mod shapes;
mod storage;
