//! The OTLP/JSON encoding of `ExportMetricsServiceRequest` (the protobuf
//! JSON mapping with OTLP's rules: lowerCamelCase keys, original
//! snake_case keys accepted too; 64-bit integers as strings or numbers;
//! enums as integers; `bytesValue` as base64), decoded into the same
//! [`super::proto`] types the protobuf path uses.

use base64::Engine as _;
use serde::Deserialize;
use serde::de::{self, Deserializer};

use super::proto as p;

/// Decodes an OTLP/JSON `ExportMetricsServiceRequest`.
///
/// # Errors
/// The `serde_json` error for a body that is not such a message.
pub fn decode(body: &[u8]) -> Result<p::ExportMetricsServiceRequest, serde_json::Error> {
    let r: Request = serde_json::from_slice(body)?;
    Ok(p::ExportMetricsServiceRequest {
        resource_metrics: r.resource_metrics.into_iter().map(Into::into).collect(),
    })
}

/// The JSON `ExportMetricsServiceResponse`: `{}`, or the partial success.
pub fn response(rejected: i64, message: &str) -> Vec<u8> {
    if rejected == 0 && message.is_empty() {
        return b"{}".to_vec();
    }
    serde_json::json!({
        "partialSuccess": {
            "rejectedDataPoints": rejected.to_string(),
            "errorMessage": message,
        }
    })
    .to_string()
    .into_bytes()
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Request {
    #[serde(alias = "resource_metrics")]
    resource_metrics: Vec<ResourceMetrics>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct ResourceMetrics {
    resource: Option<Resource>,
    #[serde(alias = "scope_metrics")]
    scope_metrics: Vec<ScopeMetrics>,
}

impl From<ResourceMetrics> for p::ResourceMetrics {
    fn from(r: ResourceMetrics) -> Self {
        p::ResourceMetrics {
            resource: r.resource.map(|r| p::Resource {
                attributes: kvs(r.attributes),
            }),
            scope_metrics: r.scope_metrics.into_iter().map(Into::into).collect(),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Resource {
    attributes: Vec<KeyValue>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ScopeMetrics {
    scope: Option<Scope>,
    metrics: Vec<Metric>,
}

impl From<ScopeMetrics> for p::ScopeMetrics {
    fn from(s: ScopeMetrics) -> Self {
        p::ScopeMetrics {
            scope: s.scope.map(|s| p::InstrumentationScope {
                name: s.name,
                version: s.version,
            }),
            metrics: s.metrics.into_iter().map(Into::into).collect(),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Scope {
    name: String,
    version: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct KeyValue {
    key: String,
    value: Option<AnyValue>,
}

fn kvs(v: Vec<KeyValue>) -> Vec<p::KeyValue> {
    v.into_iter()
        .map(|kv| p::KeyValue {
            key: kv.key,
            value: kv.value.map(Into::into),
        })
        .collect()
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct AnyValue {
    #[serde(alias = "string_value")]
    string_value: Option<String>,
    #[serde(alias = "bool_value")]
    bool_value: Option<bool>,
    #[serde(alias = "int_value", deserialize_with = "opt_i64")]
    int_value: Option<i64>,
    #[serde(alias = "double_value", deserialize_with = "opt_f64")]
    double_value: Option<f64>,
    #[serde(alias = "array_value")]
    array_value: Option<ArrayValue>,
    #[serde(alias = "kvlist_value")]
    kvlist_value: Option<KvList>,
    #[serde(alias = "bytes_value", deserialize_with = "opt_base64")]
    bytes_value: Option<Vec<u8>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ArrayValue {
    values: Vec<AnyValue>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct KvList {
    values: Vec<KeyValue>,
}

impl From<AnyValue> for p::AnyValue {
    fn from(a: AnyValue) -> Self {
        let value = if let Some(s) = a.string_value {
            Some(p::Value::String(s))
        } else if let Some(b) = a.bool_value {
            Some(p::Value::Bool(b))
        } else if let Some(i) = a.int_value {
            Some(p::Value::Int(i))
        } else if let Some(d) = a.double_value {
            Some(p::Value::Double(d))
        } else if let Some(arr) = a.array_value {
            Some(p::Value::Array(p::ArrayValue {
                values: arr.values.into_iter().map(Into::into).collect(),
            }))
        } else if let Some(l) = a.kvlist_value {
            Some(p::Value::KvList(p::KeyValueList {
                values: kvs(l.values),
            }))
        } else {
            a.bytes_value.map(p::Value::Bytes)
        };
        p::AnyValue { value }
    }
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Metric {
    name: String,
    unit: String,
    gauge: Option<Points<NumberPoint>>,
    sum: Option<Points<NumberPoint>>,
    histogram: Option<Points<HistogramPoint>>,
    #[serde(alias = "exponential_histogram")]
    exponential_histogram: Option<Points<ExpPoint>>,
    summary: Option<Points<SummaryPoint>>,
}

#[derive(Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Points<T> {
    #[serde(alias = "data_points")]
    data_points: Vec<T>,
    #[serde(alias = "aggregation_temporality", deserialize_with = "temporality")]
    aggregation_temporality: i32,
    #[serde(alias = "is_monotonic")]
    is_monotonic: bool,
}

impl<T> Default for Points<T> {
    fn default() -> Self {
        Points {
            data_points: Vec::new(),
            aggregation_temporality: 0,
            is_monotonic: false,
        }
    }
}

fn map<T, U: From<T>>(v: Vec<T>) -> Vec<U> {
    v.into_iter().map(Into::into).collect()
}

impl From<Metric> for p::Metric {
    fn from(m: Metric) -> Self {
        let data = if let Some(g) = m.gauge {
            Some(p::Data::Gauge(p::Gauge {
                data_points: map(g.data_points),
            }))
        } else if let Some(s) = m.sum {
            Some(p::Data::Sum(p::Sum {
                data_points: map(s.data_points),
                aggregation_temporality: s.aggregation_temporality,
                is_monotonic: s.is_monotonic,
            }))
        } else if let Some(h) = m.histogram {
            Some(p::Data::Histogram(p::Histogram {
                data_points: map(h.data_points),
                aggregation_temporality: h.aggregation_temporality,
            }))
        } else if let Some(h) = m.exponential_histogram {
            Some(p::Data::ExponentialHistogram(p::ExponentialHistogram {
                data_points: map(h.data_points),
                aggregation_temporality: h.aggregation_temporality,
            }))
        } else {
            m.summary.map(|s| {
                p::Data::Summary(p::Summary {
                    data_points: map(s.data_points),
                })
            })
        };
        p::Metric {
            name: m.name,
            unit: m.unit,
            data,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct NumberPoint {
    attributes: Vec<KeyValue>,
    #[serde(alias = "time_unix_nano", deserialize_with = "u64_any")]
    time_unix_nano: u64,
    #[serde(alias = "as_double", deserialize_with = "opt_f64")]
    as_double: Option<f64>,
    #[serde(alias = "as_int", deserialize_with = "opt_i64")]
    as_int: Option<i64>,
    exemplars: Vec<de::IgnoredAny>,
    flags: u32,
}

fn exemplars(v: &[de::IgnoredAny]) -> Vec<p::Exemplar> {
    vec![p::Exemplar::default(); v.len()]
}

impl From<NumberPoint> for p::NumberDataPoint {
    fn from(n: NumberPoint) -> Self {
        let value = match (n.as_double, n.as_int) {
            (Some(d), _) => Some(p::NumberValue::Double(d)),
            (None, Some(i)) => Some(p::NumberValue::Int(i)),
            (None, None) => None,
        };
        p::NumberDataPoint {
            attributes: kvs(n.attributes),
            time_unix_nano: n.time_unix_nano,
            value,
            exemplars: exemplars(&n.exemplars),
            flags: n.flags,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct HistogramPoint {
    attributes: Vec<KeyValue>,
    #[serde(alias = "time_unix_nano", deserialize_with = "u64_any")]
    time_unix_nano: u64,
    #[serde(deserialize_with = "u64_any")]
    count: u64,
    #[serde(deserialize_with = "opt_f64")]
    sum: Option<f64>,
    #[serde(alias = "bucket_counts", deserialize_with = "vec_u64")]
    bucket_counts: Vec<u64>,
    #[serde(alias = "explicit_bounds", deserialize_with = "vec_f64")]
    explicit_bounds: Vec<f64>,
    exemplars: Vec<de::IgnoredAny>,
    flags: u32,
}

impl From<HistogramPoint> for p::HistogramDataPoint {
    fn from(h: HistogramPoint) -> Self {
        p::HistogramDataPoint {
            attributes: kvs(h.attributes),
            time_unix_nano: h.time_unix_nano,
            count: h.count,
            sum: h.sum,
            bucket_counts: h.bucket_counts,
            explicit_bounds: h.explicit_bounds,
            exemplars: exemplars(&h.exemplars),
            flags: h.flags,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct ExpPoint {
    attributes: Vec<KeyValue>,
    #[serde(alias = "time_unix_nano", deserialize_with = "u64_any")]
    time_unix_nano: u64,
    #[serde(deserialize_with = "u64_any")]
    count: u64,
}

impl From<ExpPoint> for p::ExponentialHistogramDataPoint {
    fn from(e: ExpPoint) -> Self {
        p::ExponentialHistogramDataPoint {
            attributes: kvs(e.attributes),
            time_unix_nano: e.time_unix_nano,
            count: e.count,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct SummaryPoint {
    attributes: Vec<KeyValue>,
    #[serde(alias = "time_unix_nano", deserialize_with = "u64_any")]
    time_unix_nano: u64,
    #[serde(deserialize_with = "u64_any")]
    count: u64,
    #[serde(deserialize_with = "f64_any")]
    sum: f64,
    #[serde(alias = "quantile_values")]
    quantile_values: Vec<Quantile>,
    flags: u32,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Quantile {
    #[serde(deserialize_with = "f64_any")]
    quantile: f64,
    #[serde(deserialize_with = "f64_any")]
    value: f64,
}

impl From<SummaryPoint> for p::SummaryDataPoint {
    fn from(s: SummaryPoint) -> Self {
        p::SummaryDataPoint {
            attributes: kvs(s.attributes),
            time_unix_nano: s.time_unix_nano,
            count: s.count,
            sum: s.sum,
            quantile_values: s
                .quantile_values
                .into_iter()
                .map(|q| p::ValueAtQuantile {
                    quantile: q.quantile,
                    value: q.value,
                })
                .collect(),
            flags: s.flags,
        }
    }
}

/// A JSON number, or a string holding one (the protobuf JSON mapping
/// writes 64-bit integers as strings, and NaN/Infinity as strings).
#[derive(Deserialize)]
#[serde(untagged)]
enum Num {
    U(u64),
    I(i64),
    F(f64),
    S(String),
}

impl Num {
    fn u64<E: de::Error>(self) -> Result<u64, E> {
        match self {
            Num::U(u) => Ok(u),
            Num::S(s) => s
                .parse()
                .map_err(|_| E::custom(format!("invalid unsigned integer {s:?}"))),
            Num::I(i) => Err(E::custom(format!(
                "negative value {i} for an unsigned field"
            ))),
            Num::F(f) => Err(E::custom(format!("non-integer {f} for an integer field"))),
        }
    }

    fn i64<E: de::Error>(self) -> Result<i64, E> {
        match self {
            Num::I(i) => Ok(i),
            Num::U(u) => i64::try_from(u).map_err(|_| E::custom(format!("{u} out of range"))),
            Num::S(s) => s
                .parse()
                .map_err(|_| E::custom(format!("invalid integer {s:?}"))),
            Num::F(f) => Err(E::custom(format!("non-integer {f} for an integer field"))),
        }
    }

    fn f64<E: de::Error>(self) -> Result<f64, E> {
        #[allow(clippy::cast_precision_loss)]
        match self {
            Num::F(f) => Ok(f),
            Num::U(u) => Ok(u as f64),
            Num::I(i) => Ok(i as f64),
            Num::S(s) => match s.as_str() {
                "NaN" => Ok(f64::NAN),
                "Infinity" => Ok(f64::INFINITY),
                "-Infinity" => Ok(f64::NEG_INFINITY),
                _ => s
                    .parse()
                    .map_err(|_| E::custom(format!("invalid number {s:?}"))),
            },
        }
    }
}

/// An `AggregationTemporality`: its number (as OTLP/JSON writes enums) or
/// its name (as the generic protobuf JSON mapping does).
fn temporality<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
    match Num::deserialize(d)? {
        Num::S(s) => match s.as_str() {
            "AGGREGATION_TEMPORALITY_UNSPECIFIED" => Ok(0),
            "AGGREGATION_TEMPORALITY_DELTA" => Ok(p::DELTA),
            "AGGREGATION_TEMPORALITY_CUMULATIVE" => Ok(p::CUMULATIVE),
            _ => Err(de::Error::custom(format!(
                "unknown aggregationTemporality {s:?}"
            ))),
        },
        n => i32::try_from(n.i64::<D::Error>()?)
            .map_err(|_| de::Error::custom("aggregationTemporality out of range")),
    }
}

fn u64_any<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    Num::deserialize(d)?.u64()
}

fn f64_any<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Num::deserialize(d)?.f64()
}

fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Option::<Num>::deserialize(d)?.map(Num::i64).transpose()
}

fn opt_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Option::<Num>::deserialize(d)?.map(Num::f64).transpose()
}

fn vec_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u64>, D::Error> {
    Vec::<Num>::deserialize(d)?
        .into_iter()
        .map(Num::u64)
        .collect()
}

fn vec_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
    Vec::<Num>::deserialize(d)?
        .into_iter()
        .map(Num::f64)
        .collect()
}

fn opt_base64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
    Option::<String>::deserialize(d)?
        .map(|s| {
            base64::engine::general_purpose::STANDARD
                .decode(s.as_bytes())
                .map_err(|e| de::Error::custom(format!("invalid base64 in bytesValue: {e}")))
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use prost::Message as _;
    use serde_json::{Value as J, json};

    use super::*;

    /// OTLP/JSON as the spec writes it (lowerCamelCase, 64-bit integers as
    /// strings, or as numbers when `numbers`), written independently of
    /// the decoder.
    fn to_json(r: &p::ExportMetricsServiceRequest, numbers: bool) -> J {
        let u = |v: u64| {
            if numbers {
                json!(v)
            } else {
                json!(v.to_string())
            }
        };
        let i = |v: i64| {
            if numbers {
                json!(v)
            } else {
                json!(v.to_string())
            }
        };
        let any = |a: &p::AnyValue| match &a.value {
            Some(p::Value::String(s)) => json!({"stringValue": s}),
            Some(p::Value::Bool(b)) => json!({"boolValue": b}),
            Some(p::Value::Int(v)) => json!({"intValue": i(*v)}),
            Some(p::Value::Double(d)) => json!({"doubleValue": d}),
            Some(p::Value::Bytes(b)) => {
                json!({"bytesValue": base64::engine::general_purpose::STANDARD.encode(b)})
            }
            _ => json!({}),
        };
        let kvs = |v: &[p::KeyValue]| -> J {
            v.iter()
                .map(|kv| json!({"key": kv.key, "value": kv.value.as_ref().map(any)}))
                .collect()
        };
        let number = |d: &p::NumberDataPoint| {
            let mut o = json!({"attributes": kvs(&d.attributes), "timeUnixNano": u(d.time_unix_nano),
                "flags": d.flags, "exemplars": vec![json!({}); d.exemplars.len()]});
            match d.value {
                Some(p::NumberValue::Double(v)) => o["asDouble"] = json!(v),
                Some(p::NumberValue::Int(v)) => o["asInt"] = i(v),
                None => {}
            }
            o
        };
        let metric = |m: &p::Metric| {
            let mut o = json!({"name": m.name, "unit": m.unit});
            match &m.data {
                Some(p::Data::Gauge(g)) => {
                    o["gauge"] =
                        json!({"dataPoints": g.data_points.iter().map(number).collect::<Vec<_>>()});
                }
                Some(p::Data::Sum(s)) => {
                    o["sum"] = json!({"dataPoints": s.data_points.iter().map(number).collect::<Vec<_>>(),
                        "aggregationTemporality": s.aggregation_temporality, "isMonotonic": s.is_monotonic});
                }
                Some(p::Data::Histogram(h)) => {
                    let pts: Vec<J> = h.data_points.iter().map(|d| {
                        let mut o = json!({"attributes": kvs(&d.attributes), "timeUnixNano": u(d.time_unix_nano),
                            "count": u(d.count), "bucketCounts": d.bucket_counts.iter().map(|c| u(*c)).collect::<Vec<_>>(),
                            "explicitBounds": d.explicit_bounds, "flags": d.flags,
                            "exemplars": vec![json!({}); d.exemplars.len()]});
                        if let Some(s) = d.sum {
                            o["sum"] = json!(s);
                        }
                        o
                    }).collect();
                    o["histogram"] = json!({"dataPoints": pts, "aggregationTemporality": h.aggregation_temporality});
                }
                Some(p::Data::Summary(s)) => {
                    let pts: Vec<J> = s.data_points.iter().map(|d| json!({"attributes": kvs(&d.attributes),
                        "timeUnixNano": u(d.time_unix_nano), "count": u(d.count), "sum": d.sum, "flags": d.flags,
                        "quantileValues": d.quantile_values.iter().map(|q| json!({"quantile": q.quantile, "value": q.value})).collect::<Vec<_>>()})).collect();
                    o["summary"] = json!({"dataPoints": pts});
                }
                _ => {}
            }
            o
        };
        json!({"resourceMetrics": r.resource_metrics.iter().map(|rm| json!({
            "resource": rm.resource.as_ref().map(|r| json!({"attributes": kvs(&r.attributes)})),
            "scopeMetrics": rm.scope_metrics.iter().map(|sm| json!({
                "scope": sm.scope.as_ref().map(|s| json!({"name": s.name, "version": s.version})),
                "metrics": sm.metrics.iter().map(metric).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>()})
    }

    fn finite() -> impl Strategy<Value = f64> {
        prop_oneof![-1e12f64..1e12, Just(0.5), Just(-0.0f64).prop_map(|_| 0.0)]
    }

    fn kv() -> impl Strategy<Value = p::KeyValue> {
        let value = prop_oneof![
            "[a-z./ ]{0,8}".prop_map(p::Value::String),
            any::<bool>().prop_map(p::Value::Bool),
            any::<i64>().prop_map(p::Value::Int),
            finite().prop_map(p::Value::Double),
            proptest::collection::vec(any::<u8>(), 0..6).prop_map(p::Value::Bytes),
        ];
        ("[a-z.]{1,8}", value).prop_map(|(key, v)| p::KeyValue {
            key,
            value: Some(p::AnyValue { value: Some(v) }),
        })
    }

    fn attrs() -> impl Strategy<Value = Vec<p::KeyValue>> {
        proptest::collection::vec(kv(), 0..3)
    }

    fn number() -> impl Strategy<Value = p::NumberDataPoint> {
        let value = prop_oneof![
            Just(None),
            finite().prop_map(|v| Some(p::NumberValue::Double(v))),
            any::<i64>().prop_map(|v| Some(p::NumberValue::Int(v))),
        ];
        (attrs(), any::<u64>(), value, 0usize..2, 0u32..2).prop_map(
            |(attributes, t, value, ex, flags)| p::NumberDataPoint {
                attributes,
                time_unix_nano: t,
                value,
                exemplars: vec![p::Exemplar::default(); ex],
                flags,
            },
        )
    }

    fn data() -> impl Strategy<Value = p::Data> {
        let points = || proptest::collection::vec(number(), 0..3);
        let hist = (
            attrs(),
            any::<u64>(),
            any::<u64>(),
            proptest::option::of(finite()),
            proptest::collection::vec(any::<u64>(), 0..4),
            proptest::collection::vec(finite(), 0..3),
        )
            .prop_map(
                |(attributes, t, count, sum, bucket_counts, explicit_bounds)| {
                    p::HistogramDataPoint {
                        attributes,
                        time_unix_nano: t,
                        count,
                        sum,
                        bucket_counts,
                        explicit_bounds,
                        exemplars: vec![],
                        flags: 0,
                    }
                },
            );
        let summary = (
            attrs(),
            any::<u64>(),
            any::<u64>(),
            finite(),
            proptest::collection::vec((finite(), finite()), 0..3),
        )
            .prop_map(|(attributes, t, count, sum, q)| p::SummaryDataPoint {
                attributes,
                time_unix_nano: t,
                count,
                sum,
                quantile_values: q
                    .into_iter()
                    .map(|(quantile, value)| p::ValueAtQuantile { quantile, value })
                    .collect(),
                flags: 0,
            });
        prop_oneof![
            points().prop_map(|data_points| p::Data::Gauge(p::Gauge { data_points })),
            (points(), 0i32..3, any::<bool>()).prop_map(|(data_points, t, m)| p::Data::Sum(
                p::Sum {
                    data_points,
                    aggregation_temporality: t,
                    is_monotonic: m,
                }
            )),
            (proptest::collection::vec(hist, 0..3), 0i32..3).prop_map(|(data_points, t)| {
                p::Data::Histogram(p::Histogram {
                    data_points,
                    aggregation_temporality: t,
                })
            }),
            proptest::collection::vec(summary, 0..3)
                .prop_map(|data_points| p::Data::Summary(p::Summary { data_points })),
        ]
    }

    fn request() -> impl Strategy<Value = p::ExportMetricsServiceRequest> {
        let metric = (
            "[a-z._]{0,10}",
            "[a-zA-Z/{}1]{0,4}",
            proptest::option::of(data()),
        )
            .prop_map(|(name, unit, data)| p::Metric { name, unit, data });
        let scope = (
            proptest::option::of(
                ("[a-z.]{0,6}", "[0-9.]{0,5}")
                    .prop_map(|(name, version)| p::InstrumentationScope { name, version }),
            ),
            proptest::collection::vec(metric, 0..4),
        )
            .prop_map(|(scope, metrics)| p::ScopeMetrics { scope, metrics });
        let rm = (
            proptest::option::of(attrs().prop_map(|attributes| p::Resource { attributes })),
            proptest::collection::vec(scope, 0..3),
        )
            .prop_map(|(resource, scope_metrics)| p::ResourceMetrics {
                resource,
                scope_metrics,
            });
        proptest::collection::vec(rm, 0..3)
            .prop_map(|resource_metrics| p::ExportMetricsServiceRequest { resource_metrics })
    }

    proptest! {
        /// A random request decodes the same from OTLP/JSON as from its
        /// protobuf encoding through the prost types.
        #[test]
        fn json_decodes_as_protobuf(req in request(), numbers in any::<bool>()) {
            let from_proto = p::decode(&req.encode_to_vec()).unwrap();
            prop_assert_eq!(&from_proto, &req);
            let text = to_json(&req, numbers).to_string();
            let from_json = decode(text.as_bytes()).unwrap();
            prop_assert_eq!(from_json, from_proto);
        }
    }

    /// The seed written by Google's protobuf library (fuzz/corpus): its
    /// binary and its JSON mapping decode to the same request.
    #[test]
    fn google_protobuf_encodings_agree() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/otlp_decode");
        let pb = std::fs::read(dir.join("every_type.pb")).unwrap();
        let js = std::fs::read(dir.join("every_type.json")).unwrap();
        let a = p::decode(&pb).unwrap();
        let b = decode(&js).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.resource_metrics[0].scope_metrics[0].metrics.len(), 5);
    }

    #[test]
    fn response_shapes() {
        assert_eq!(response(0, ""), b"{}");
        let v: J = serde_json::from_slice(&response(3, "why")).unwrap();
        assert_eq!(v["partialSuccess"]["rejectedDataPoints"], "3");
        assert_eq!(v["partialSuccess"]["errorMessage"], "why");
    }
}
