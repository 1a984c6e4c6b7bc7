//! Pure codecs: bytes in, series out (and, for [`json`], results out as
//! Prometheus' JSON). Nothing here knows HTTP, axum or the server's state,
//! so the fuzz targets and benches call these decoders directly; the
//! handlers in `ingest/` and `api/` decode with them.

pub mod decompress;
pub mod exposition;
pub mod influx;
pub mod json;
pub mod jsonl;
pub mod otlp;
pub mod remote_read;
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
