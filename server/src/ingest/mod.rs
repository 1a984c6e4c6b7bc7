//! Ingestion formats: each a pure decoder plus a thin handler.

pub mod exposition;
pub mod handler;
pub mod import;
pub mod influx;
pub mod influx_write;
pub mod jsonl;
pub mod otlp;
pub mod remote_write;
pub mod remote_write_v2;
pub mod wire;

/// The lines of a text body, each without its `\n`, with its 1-based
/// number: what every line-oriented parser here walks (a bad line names
/// its number).
pub fn numbered_lines(input: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    input
        .split(|b| *b == b'\n')
        .enumerate()
        .map(|(i, line)| (i + 1, line))
}
