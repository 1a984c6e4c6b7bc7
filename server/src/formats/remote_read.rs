//! Prometheus remote_read protobuf: the `ReadRequest` a reader sends and
//! the sampled `ReadResponse` it gets back. The series in a response are
//! remote_write 1.0's [`TimeSeries`]. Pure decoding, so the fuzz target can
//! call it; the handler is in the server's `api/remote_read.rs`.

use prost::Message;

use super::remote_write::{DecodeError, TimeSeries, decompress};

/// `prometheus.ReadRequest`.
#[derive(Clone, PartialEq, Message)]
pub struct ReadRequest {
    /// The queries, answered in order.
    #[prost(message, repeated, tag = "1")]
    pub queries: Vec<Query>,
    /// Response types the client accepts, in its order of preference
    /// (`0` = samples, `1` = streamed XOR chunks); empty means samples.
    #[prost(int32, repeated, tag = "2")]
    pub accepted_response_types: Vec<i32>,
}

/// `prometheus.Query`.
#[derive(Clone, PartialEq, Message)]
pub struct Query {
    /// First millisecond, inclusive.
    #[prost(int64, tag = "1")]
    pub start_timestamp_ms: i64,
    /// Last millisecond, inclusive.
    #[prost(int64, tag = "2")]
    pub end_timestamp_ms: i64,
    /// The series selector.
    #[prost(message, repeated, tag = "3")]
    pub matchers: Vec<LabelMatcher>,
}

/// `prometheus.LabelMatcher`.
#[derive(Clone, PartialEq, Message)]
pub struct LabelMatcher {
    /// `0` =, `1` !=, `2` =~, `3` !~.
    #[prost(int32, tag = "1")]
    pub r#type: i32,
    /// Label name.
    #[prost(string, tag = "2")]
    pub name: String,
    /// Value or regular expression.
    #[prost(string, tag = "3")]
    pub value: String,
}

/// `prometheus.ReadResponse`.
#[derive(Clone, PartialEq, Message)]
pub struct ReadResponse {
    /// One result per query, in the request's order.
    #[prost(message, repeated, tag = "1")]
    pub results: Vec<QueryResult>,
}

/// `prometheus.QueryResult`.
#[derive(Clone, PartialEq, Message)]
pub struct QueryResult {
    /// The matching series with their samples in the range.
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

/// The response type number of raw samples.
pub const SAMPLES: i32 = 0;

/// Decompresses and decodes a remote_read body.
///
/// # Errors
/// [`DecodeError`] naming what is wrong.
pub fn decode_request(body: &[u8], max_decompressed: usize) -> Result<ReadRequest, DecodeError> {
    let raw = decompress(body, max_decompressed)?;
    ReadRequest::decode(raw.as_slice()).map_err(|e| DecodeError::Protobuf(e.to_string()))
}
