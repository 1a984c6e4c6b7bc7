//! The OTLP metrics messages Strata reads
//! (`opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest`
//! and what it contains), as `prost` messages with the field numbers of the
//! OTLP `.proto` files. Fields Strata does not use (descriptions, min/max,
//! exponential bucket contents) are left out: `prost` skips them.

use prost::Message;

/// `ExportMetricsServiceRequest`: the body of an OTLP/HTTP metrics export.
#[derive(Clone, PartialEq, Message)]
pub struct ExportMetricsServiceRequest {
    /// Metrics grouped by the resource that produced them.
    #[prost(message, repeated, tag = "1")]
    pub resource_metrics: Vec<ResourceMetrics>,
}

/// `ExportMetricsServiceResponse`: the answer to an export.
#[derive(Clone, PartialEq, Message)]
pub struct ExportMetricsServiceResponse {
    /// Set when part of the request was not stored.
    #[prost(message, optional, tag = "1")]
    pub partial_success: Option<ExportMetricsPartialSuccess>,
}

/// `ExportMetricsPartialSuccess`.
#[derive(Clone, PartialEq, Message)]
pub struct ExportMetricsPartialSuccess {
    /// Data points refused.
    #[prost(int64, tag = "1")]
    pub rejected_data_points: i64,
    /// Why.
    #[prost(string, tag = "2")]
    pub error_message: String,
}

/// `ResourceMetrics`.
#[derive(Clone, PartialEq, Message)]
pub struct ResourceMetrics {
    /// The resource (its attributes give `job`, `instance` and `target_info`).
    #[prost(message, optional, tag = "1")]
    pub resource: Option<Resource>,
    /// Metrics by instrumentation scope.
    #[prost(message, repeated, tag = "2")]
    pub scope_metrics: Vec<ScopeMetrics>,
}

/// `Resource`.
#[derive(Clone, PartialEq, Message)]
pub struct Resource {
    /// Attributes.
    #[prost(message, repeated, tag = "1")]
    pub attributes: Vec<KeyValue>,
}

/// `ScopeMetrics`.
#[derive(Clone, PartialEq, Message)]
pub struct ScopeMetrics {
    /// The instrumentation scope.
    #[prost(message, optional, tag = "1")]
    pub scope: Option<InstrumentationScope>,
    /// Metrics.
    #[prost(message, repeated, tag = "2")]
    pub metrics: Vec<Metric>,
}

/// `InstrumentationScope`.
#[derive(Clone, PartialEq, Message)]
pub struct InstrumentationScope {
    /// Name (becomes `otel_scope_name`).
    #[prost(string, tag = "1")]
    pub name: String,
    /// Version (becomes `otel_scope_version`).
    #[prost(string, tag = "2")]
    pub version: String,
}

/// `KeyValue`.
#[derive(Clone, PartialEq, Message)]
pub struct KeyValue {
    /// Key.
    #[prost(string, tag = "1")]
    pub key: String,
    /// Value.
    #[prost(message, optional, tag = "2")]
    pub value: Option<AnyValue>,
}

/// `AnyValue`.
#[derive(Clone, PartialEq, Message)]
pub struct AnyValue {
    /// The value.
    #[prost(oneof = "Value", tags = "1, 2, 3, 4, 5, 6, 7")]
    pub value: Option<Value>,
}

/// `AnyValue.value`.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Value {
    /// `string_value`.
    #[prost(string, tag = "1")]
    String(String),
    /// `bool_value`.
    #[prost(bool, tag = "2")]
    Bool(bool),
    /// `int_value`.
    #[prost(int64, tag = "3")]
    Int(i64),
    /// `double_value`.
    #[prost(double, tag = "4")]
    Double(f64),
    /// `array_value`.
    #[prost(message, tag = "5")]
    Array(ArrayValue),
    /// `kvlist_value`.
    #[prost(message, tag = "6")]
    KvList(KeyValueList),
    /// `bytes_value`.
    #[prost(bytes = "vec", tag = "7")]
    Bytes(Vec<u8>),
}

/// `ArrayValue`.
#[derive(Clone, PartialEq, Message)]
pub struct ArrayValue {
    /// Elements.
    #[prost(message, repeated, tag = "1")]
    pub values: Vec<AnyValue>,
}

/// `KeyValueList`.
#[derive(Clone, PartialEq, Message)]
pub struct KeyValueList {
    /// Entries.
    #[prost(message, repeated, tag = "1")]
    pub values: Vec<KeyValue>,
}

/// `Metric`.
#[derive(Clone, PartialEq, Message)]
pub struct Metric {
    /// Name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Unit (UCUM), e.g. `s`, `By`, `1`.
    #[prost(string, tag = "3")]
    pub unit: String,
    /// The data.
    #[prost(oneof = "Data", tags = "5, 7, 9, 10, 11")]
    pub data: Option<Data>,
}

/// `Metric.data`.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Data {
    /// `gauge`.
    #[prost(message, tag = "5")]
    Gauge(Gauge),
    /// `sum`.
    #[prost(message, tag = "7")]
    Sum(Sum),
    /// `histogram`.
    #[prost(message, tag = "9")]
    Histogram(Histogram),
    /// `exponential_histogram`.
    #[prost(message, tag = "10")]
    ExponentialHistogram(ExponentialHistogram),
    /// `summary`.
    #[prost(message, tag = "11")]
    Summary(Summary),
}

/// `AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA`.
pub const DELTA: i32 = 1;
/// `AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE`.
pub const CUMULATIVE: i32 = 2;
/// `DataPointFlags.DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK`.
pub const NO_RECORDED_VALUE: u32 = 1;

/// `Gauge`.
#[derive(Clone, PartialEq, Message)]
pub struct Gauge {
    /// Points.
    #[prost(message, repeated, tag = "1")]
    pub data_points: Vec<NumberDataPoint>,
}

/// `Sum`.
#[derive(Clone, PartialEq, Message)]
pub struct Sum {
    /// Points.
    #[prost(message, repeated, tag = "1")]
    pub data_points: Vec<NumberDataPoint>,
    /// [`DELTA`] or [`CUMULATIVE`].
    #[prost(int32, tag = "2")]
    pub aggregation_temporality: i32,
    /// A counter when set.
    #[prost(bool, tag = "3")]
    pub is_monotonic: bool,
}

/// `Histogram`.
#[derive(Clone, PartialEq, Message)]
pub struct Histogram {
    /// Points.
    #[prost(message, repeated, tag = "1")]
    pub data_points: Vec<HistogramDataPoint>,
    /// [`DELTA`] or [`CUMULATIVE`].
    #[prost(int32, tag = "2")]
    pub aggregation_temporality: i32,
}

/// `ExponentialHistogram` (only its points are counted: refused).
#[derive(Clone, PartialEq, Message)]
pub struct ExponentialHistogram {
    /// Points.
    #[prost(message, repeated, tag = "1")]
    pub data_points: Vec<ExponentialHistogramDataPoint>,
    /// [`DELTA`] or [`CUMULATIVE`].
    #[prost(int32, tag = "2")]
    pub aggregation_temporality: i32,
}

/// `Summary`.
#[derive(Clone, PartialEq, Message)]
pub struct Summary {
    /// Points.
    #[prost(message, repeated, tag = "1")]
    pub data_points: Vec<SummaryDataPoint>,
}

/// `NumberDataPoint`.
#[derive(Clone, PartialEq, Message)]
pub struct NumberDataPoint {
    /// Attributes (become labels).
    #[prost(message, repeated, tag = "7")]
    pub attributes: Vec<KeyValue>,
    /// Nanoseconds since the epoch.
    #[prost(fixed64, tag = "3")]
    pub time_unix_nano: u64,
    /// The value.
    #[prost(oneof = "NumberValue", tags = "4, 6")]
    pub value: Option<NumberValue>,
    /// Exemplars (dropped, counted).
    #[prost(message, repeated, tag = "5")]
    pub exemplars: Vec<Exemplar>,
    /// [`NO_RECORDED_VALUE`] marks a stale series.
    #[prost(uint32, tag = "8")]
    pub flags: u32,
}

/// `NumberDataPoint.value`.
#[derive(Clone, Copy, PartialEq, prost::Oneof)]
pub enum NumberValue {
    /// `as_double`.
    #[prost(double, tag = "4")]
    Double(f64),
    /// `as_int`.
    #[prost(sfixed64, tag = "6")]
    Int(i64),
}

/// `HistogramDataPoint`.
#[derive(Clone, PartialEq, Message)]
pub struct HistogramDataPoint {
    /// Attributes.
    #[prost(message, repeated, tag = "9")]
    pub attributes: Vec<KeyValue>,
    /// Nanoseconds since the epoch.
    #[prost(fixed64, tag = "3")]
    pub time_unix_nano: u64,
    /// Observations.
    #[prost(fixed64, tag = "4")]
    pub count: u64,
    /// Sum of the observations, when known.
    #[prost(double, optional, tag = "5")]
    pub sum: Option<f64>,
    /// Per-bucket (not cumulative) counts; one more than `explicit_bounds`.
    #[prost(fixed64, repeated, tag = "6")]
    pub bucket_counts: Vec<u64>,
    /// Upper bounds.
    #[prost(double, repeated, tag = "7")]
    pub explicit_bounds: Vec<f64>,
    /// Exemplars.
    #[prost(message, repeated, tag = "8")]
    pub exemplars: Vec<Exemplar>,
    /// Flags.
    #[prost(uint32, tag = "10")]
    pub flags: u32,
}

/// `ExponentialHistogramDataPoint` (attributes and time only).
#[derive(Clone, PartialEq, Message)]
pub struct ExponentialHistogramDataPoint {
    /// Attributes.
    #[prost(message, repeated, tag = "1")]
    pub attributes: Vec<KeyValue>,
    /// Nanoseconds since the epoch.
    #[prost(fixed64, tag = "3")]
    pub time_unix_nano: u64,
    /// Observations.
    #[prost(fixed64, tag = "4")]
    pub count: u64,
}

/// `SummaryDataPoint`.
#[derive(Clone, PartialEq, Message)]
pub struct SummaryDataPoint {
    /// Attributes.
    #[prost(message, repeated, tag = "7")]
    pub attributes: Vec<KeyValue>,
    /// Nanoseconds since the epoch.
    #[prost(fixed64, tag = "3")]
    pub time_unix_nano: u64,
    /// Observations.
    #[prost(fixed64, tag = "4")]
    pub count: u64,
    /// Sum of the observations.
    #[prost(double, tag = "5")]
    pub sum: f64,
    /// Quantiles.
    #[prost(message, repeated, tag = "6")]
    pub quantile_values: Vec<ValueAtQuantile>,
    /// Flags.
    #[prost(uint32, tag = "8")]
    pub flags: u32,
}

/// `SummaryDataPoint.ValueAtQuantile`.
#[derive(Clone, PartialEq, Message)]
pub struct ValueAtQuantile {
    /// Quantile in \[0, 1\].
    #[prost(double, tag = "1")]
    pub quantile: f64,
    /// Value.
    #[prost(double, tag = "2")]
    pub value: f64,
}

/// `Exemplar` (only counted).
#[derive(Clone, PartialEq, Message)]
pub struct Exemplar {
    /// Nanoseconds since the epoch.
    #[prost(fixed64, tag = "2")]
    pub time_unix_nano: u64,
}

/// Decodes a protobuf `ExportMetricsServiceRequest`.
///
/// # Errors
/// The `prost` error for a malformed message.
pub fn decode(body: &[u8]) -> Result<ExportMetricsServiceRequest, prost::DecodeError> {
    ExportMetricsServiceRequest::decode(body)
}
