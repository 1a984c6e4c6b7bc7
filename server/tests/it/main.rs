//! Server integration tests: one binary, one module per concern.

mod access;
mod api;
mod clients;
mod crash_server;
mod deploy;
mod disk_full;
mod overload;
mod process;
mod remote_read;
mod secrets;
mod snapshot;
