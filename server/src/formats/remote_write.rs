//! Prometheus remote_write 1.0: a snappy-compressed (block format) protobuf
//! `WriteRequest`. Decoding is pure, so the fuzz target can call it.

use prost::Message;

use crate::budget::MemoryBudget;
use crate::formats::decompress::{DecompressError, snappy_into};

/// `prometheus.WriteRequest`.
#[derive(Clone, PartialEq, Message)]
pub struct WriteRequest {
    /// The series and their samples.
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
    /// Metric metadata (type, help, unit).
    #[prost(message, repeated, tag = "3")]
    pub metadata: Vec<MetricMetadata>,
}

/// `prometheus.TimeSeries` (exemplars and histograms are not read).
#[derive(Clone, PartialEq, Message)]
pub struct TimeSeries {
    /// Labels, including `__name__`.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// Samples, oldest first.
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

/// `prometheus.Label`.
#[derive(Clone, PartialEq, Message)]
pub struct Label {
    /// Name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `prometheus.Sample`.
#[derive(Clone, PartialEq, Message)]
pub struct Sample {
    /// Value.
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Milliseconds since the epoch.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// `prometheus.MetricMetadata`.
#[derive(Clone, PartialEq, Message)]
pub struct MetricMetadata {
    /// Metric type (counter = 1, gauge = 2, ...).
    #[prost(int32, tag = "1")]
    pub r#type: i32,
    /// Metric family name.
    #[prost(string, tag = "2")]
    pub metric_family_name: String,
    /// Help text.
    #[prost(string, tag = "4")]
    pub help: String,
    /// Unit.
    #[prost(string, tag = "5")]
    pub unit: String,
}

/// Why a body was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    /// The snappy block does not decompress, declares an impossible or
    /// too large size ([`DecompressError::TooLarge`]).
    #[error(transparent)]
    Decompress(#[from] DecompressError),
    /// The protobuf does not decode.
    #[error("protobuf decode error: {0}")]
    Protobuf(String),
}

/// Decompresses and decodes a remote_write body, refusing bodies that would
/// decompress to more than `max_decompressed` bytes.
///
/// # Errors
/// [`DecodeError`] naming what is wrong.
pub fn decode(body: &[u8], max_decompressed: usize) -> Result<WriteRequest, DecodeError> {
    let raw = decompress(body, max_decompressed)?;
    WriteRequest::decode(raw.as_slice()).map_err(|e| DecodeError::Protobuf(e.to_string()))
}

/// Decompresses a snappy block, refusing one that declares more than
/// `max_decompressed` bytes (or more than its compressed bytes can hold)
/// before allocating for it. Not charged to any memory budget: the
/// handlers use [`crate::formats::decompress::snappy_into`] with their reservation.
///
/// # Errors
/// [`DecodeError::Decompress`].
pub fn decompress(body: &[u8], max_decompressed: usize) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::new();
    let n = decompress_into(body, max_decompressed, &mut out)?;
    out.truncate(n);
    Ok(out)
}

/// [`decompress`] into a reused buffer: `out` grows to the decompressed
/// size when it is smaller (never shrinks, never cleared), and the
/// decompressed bytes are `out[..n]` for the returned `n`.
///
/// # Errors
/// As [`decompress`].
pub fn decompress_into(
    body: &[u8],
    max_decompressed: usize,
    out: &mut Vec<u8>,
) -> Result<usize, DecodeError> {
    let mut unbudgeted = MemoryBudget::new(usize::MAX).reservation();
    Ok(snappy_into(body, max_decompressed, &mut unbudgeted, out)?)
}

/// Encodes a request as a client would (for tests and tools).
pub fn encode(req: &WriteRequest) -> Vec<u8> {
    snap::raw::Encoder::new()
        .compress_vec(&req.encode_to_vec())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_bad_input() {
        let req = WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![Label {
                    name: "__name__".into(),
                    value: "up".into(),
                }],
                samples: vec![Sample {
                    value: 1.0,
                    timestamp: 1000,
                }],
            }],
            metadata: vec![],
        };
        let body = encode(&req);
        assert_eq!(decode(&body, 1 << 20).unwrap(), req);
        assert!(matches!(
            decode(b"not snappy at all", 1 << 20),
            Err(DecodeError::Decompress(DecompressError::Corrupt { .. }))
        ));
        assert!(matches!(
            decode(&body, 4),
            Err(DecodeError::Decompress(DecompressError::TooLarge {
                declared: Some(_),
                limit: 4
            }))
        ));
        let garbage = snap::raw::Encoder::new().compress_vec(&[0xff; 20]).unwrap();
        assert!(matches!(
            decode(&garbage, 1 << 20),
            Err(DecodeError::Protobuf(_))
        ));
    }
}
