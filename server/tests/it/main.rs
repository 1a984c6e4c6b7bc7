//! Server integration tests: one binary, one module per concern.

mod access;
mod api;
mod clients;
mod deploy;
mod remote_read;
mod snapshot;
