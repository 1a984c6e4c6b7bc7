//! PromQL integration tests: one binary, one module per concern.

mod conformance;
mod corpus;
mod errors;
mod fresh_clone;
mod grammar;
mod limits;
mod roundtrip;
mod scripts;
mod shapes;
mod storage;
