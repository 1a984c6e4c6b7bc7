//! Server integration tests: one binary, one module per concern.

mod access;
mod api;
mod bodies;
mod clients;
mod connections;
mod corruption;
mod crash_server;
mod deploy;
mod deploy_smoke;
mod disk_full;
mod fuzz_regressions;
mod hostile;
mod influx;
mod otlp;
mod overload;
mod process;
mod remote_read;
mod secrets;
mod snapshot;
mod storage_errors;
mod unstorable;
