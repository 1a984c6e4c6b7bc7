//! Prometheus remote_write 2.0: a zero-copy reader of the decompressed
//! `io.prometheus.write.v2.Request` message. Pure decoding, bytes in, so the
//! fuzz target can call it; the HTTP side (content negotiation, snappy,
//! response headers) is in the server's `ingest/remote_write.rs`.
//!
//! # The wire message
//!
//! Specified in <https://prometheus.io/docs/specs/remote_write_spec_2_0/>;
//! field numbers from Prometheus' `prompb/io/prometheus/write/v2/types.proto`.
//! A request is sent with `Content-Type:
//! application/x-protobuf;proto=io.prometheus.write.v2.Request` and
//! `Content-Encoding: snappy` (block format), like 1.0.
//!
//! ```text
//! Request      1..3 reserved (1.0's fields: a 1.0 body read as 2.0 is empty)
//!              4  symbols     repeated string   interned strings; symbols[0] == ""
//!              5  timeseries  repeated TimeSeries
//! TimeSeries   1  labels_refs repeated uint32   (name, value) pairs of indexes
//!                                               into symbols; packed or not
//!              2  samples     repeated Sample
//!              3  histograms  repeated Histogram   native histograms
//!              4  exemplars   repeated Exemplar
//!              5  metadata    Metadata
//!              6  created_timestamp int64       ms; rc.3 and earlier (Prometheus
//!                                               up to 3.7), 0 = unset
//! Sample       1  value       double
//!              2  timestamp   int64             ms
//!              3  start_timestamp int64         ms; rc.4 on (Prometheus 3.8+),
//!                                               replaces TimeSeries.created_timestamp
//! Metadata     1  type        enum              0 unspecified, 1 counter, 2 gauge,
//!                                               3 histogram, 4 gaugehistogram,
//!                                               5 summary, 6 info, 7 stateset
//!              3  help_ref    uint32            index into symbols
//!              4  unit_ref    uint32            index into symbols
//! Exemplar     1  labels_refs, 2 value double, 3 timestamp int64
//! ```
//!
//! What this reader does with each part:
//! - labels and float samples go to the caller, labels as byte slices
//!   borrowed from the body (the storage checks names and values as for 1.0);
//! - metadata is returned per metric family (the `__name__` label's value);
//! - native histograms and exemplars are counted, not decoded (Strata stores
//!   neither yet; the handler refuses histograms and counts exemplars);
//! - created and start timestamps, in either place, are checked for their
//!   wire type and counted, not used: Strata has nothing that stores them yet.
//!
//! Every symbol is checked for UTF-8 once per request (prost refuses a body
//! with a non-UTF-8 string too), and every reference must point into the
//! symbols table.

use super::remote_write::DecodeError;
use super::wire::{FIXED64, LEN, Reader, VARINT, err, expect, utf8};

/// The `Content-Type` parameter naming this message.
pub const PROTO: &str = "io.prometheus.write.v2.Request";

/// Metadata of one metric family as a request gave it (strings borrowed
/// from the body).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FamilyMetadata<'a> {
    /// The metric family: the series' `__name__`.
    pub metric: &'a str,
    /// The type number (the same numbering as 1.0's `MetricMetadata`).
    pub kind: i32,
    /// Help text.
    pub help: &'a str,
    /// Unit.
    pub unit: &'a str,
}

/// What a walk found besides the float samples it handed over.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Walked<'a> {
    /// Metadata of the series that carried any (type, help or unit), once
    /// per run of series of the same family.
    pub metadata: Vec<FamilyMetadata<'a>>,
    /// Native histogram samples, not stored.
    pub histograms: usize,
    /// Exemplars, not stored.
    pub exemplars: usize,
    /// Created (rc.3) and start (rc.4) timestamps set (non-zero), not used.
    pub start_timestamps: usize,
}

/// The strings of the symbols table.
struct Symbols<'a>(Vec<&'a str>);

impl<'a> Symbols<'a> {
    #[inline(always)]
    fn get(&self, r: u64) -> Result<&'a str, DecodeError> {
        usize::try_from(r)
            .ok()
            .and_then(|i| self.0.get(i).copied())
            .ok_or_else(|| {
                err(format!(
                    "symbol reference {r} out of range ({} symbols)",
                    self.0.len()
                ))
            })
    }
}

/// Walks a decompressed `io.prometheus.write.v2.Request`, calling `series`
/// with each series' labels (name and value bytes, in the order sent) and
/// float samples, buffers reused between calls. Stops at the first
/// malformed byte.
///
/// # Errors
/// [`DecodeError::Protobuf`] naming what is malformed (a symbol that is not
/// UTF-8, a reference outside the symbols table, an odd number of label
/// references), or the error `series` returned; `series` may have been
/// called for earlier series by then.
pub fn for_each_series<'a>(
    raw: &'a [u8],
    mut series: impl FnMut(&mut Vec<(&'a [u8], &'a [u8])>, &[(i64, f64)]) -> Result<(), DecodeError>,
) -> Result<Walked<'a>, DecodeError> {
    // Symbols may come after the series that use them: collect them first.
    let mut symbols = Symbols(Vec::new());
    let mut r = Reader::new(raw);
    let mut any_series = false;
    while !r.done() {
        match r.key()? {
            (4, w) => {
                expect(w, LEN, "Request.symbols")?;
                symbols.0.push(utf8(r.len_delimited()?)?);
            }
            (5, w) => {
                expect(w, LEN, "Request.timeseries")?;
                r.len_delimited()?;
                any_series = true;
            }
            // Reserved for 1.0's fields: a 1.0 `WriteRequest` sent as 2.0
            // would otherwise decode as empty and be acknowledged.
            (1..=3, LEN) => {
                return Err(err(
                    "field 1-3 (reserved) in an io.prometheus.write.v2.Request: this is a \
                     remote_write 1.0 body; send it with Content-Type: \
                     application/x-protobuf;proto=prometheus.WriteRequest",
                ));
            }
            (_, w) => r.skip(w)?,
        }
    }
    let mut walked = Walked::default();
    if !any_series {
        return Ok(walked);
    }
    let mut labels: Vec<(&[u8], &[u8])> = Vec::with_capacity(16);
    let mut samples: Vec<(i64, f64)> = Vec::with_capacity(16);
    let mut r = Reader::new(raw);
    while !r.done() {
        match r.key()? {
            (5, _) => {
                let msg = r.len_delimited()?;
                labels.clear();
                samples.clear();
                let md = time_series(msg, &symbols, &mut labels, &mut samples, &mut walked)?;
                if let Some((kind, help, unit)) = md {
                    let name = labels
                        .iter()
                        .find(|(n, _)| *n == b"__name__")
                        .map(|(_, v)| *v)
                        .unwrap_or_default();
                    // Symbols are UTF-8 (checked above), so is every label.
                    let metric = std::str::from_utf8(name).unwrap_or_default();
                    if !metric.is_empty()
                        && walked.metadata.last().is_none_or(|m| m.metric != metric)
                    {
                        walked.metadata.push(FamilyMetadata {
                            metric,
                            kind,
                            help,
                            unit,
                        });
                    }
                }
                series(&mut labels, &samples)?;
            }
            (_, w) => r.skip(w)?,
        }
    }
    Ok(walked)
}

/// One `TimeSeries`: fills `labels` and `samples`, counts what is not
/// stored, and returns its metadata when it has any.
fn time_series<'a>(
    msg: &'a [u8],
    symbols: &Symbols<'a>,
    labels: &mut Vec<(&'a [u8], &'a [u8])>,
    samples: &mut Vec<(i64, f64)>,
    walked: &mut Walked<'a>,
) -> Result<Option<(i32, &'a str, &'a str)>, DecodeError> {
    let mut ts = Reader::new(msg);
    let mut name: Option<&'a str> = None;
    let mut metadata = None;
    let mut push_ref = |r: u64, name: &mut Option<&'a str>| -> Result<(), DecodeError> {
        let s = symbols.get(r)?;
        match name.take() {
            None => *name = Some(s),
            Some(n) => labels.push((n.as_bytes(), s.as_bytes())),
        }
        Ok(())
    };
    while !ts.done() {
        match ts.key()? {
            (1, LEN) => {
                let mut packed = Reader::new(ts.len_delimited()?);
                while !packed.done() {
                    let v = packed.varint()?;
                    push_ref(u64::from(v as u32), &mut name)?;
                }
            }
            (1, w) => {
                expect(w, VARINT, "TimeSeries.labels_refs")?;
                let v = ts.varint()?;
                push_ref(u64::from(v as u32), &mut name)?;
            }
            (2, w) => {
                expect(w, LEN, "TimeSeries.samples")?;
                let (t, v, start) = sample(ts.len_delimited()?)?;
                samples.push((t, v));
                walked.start_timestamps += usize::from(start != 0);
            }
            (3, w) => {
                expect(w, LEN, "TimeSeries.histograms")?;
                check_message(ts.len_delimited()?)?;
                walked.histograms += 1;
            }
            (4, w) => {
                expect(w, LEN, "TimeSeries.exemplars")?;
                check_message(ts.len_delimited()?)?;
                walked.exemplars += 1;
            }
            (5, w) => {
                expect(w, LEN, "TimeSeries.metadata")?;
                metadata = Some(series_metadata(ts.len_delimited()?, symbols)?);
            }
            (6, w) => {
                expect(w, VARINT, "TimeSeries.created_timestamp")?;
                walked.start_timestamps += usize::from(ts.varint()? != 0);
            }
            (_, w) => ts.skip(w)?,
        }
    }
    if name.is_some() {
        return Err(err(
            "TimeSeries.labels_refs has an odd number of references",
        ));
    }
    Ok(metadata.filter(|(kind, help, unit): &(i32, &str, &str)| {
        *kind != 0 || !help.is_empty() || !unit.is_empty()
    }))
}

/// One `Sample`: (timestamp ms, value, start timestamp ms or 0).
#[inline(always)]
fn sample(msg: &[u8]) -> Result<(i64, f64, i64), DecodeError> {
    let mut r = Reader::new(msg);
    let (mut t, mut v, mut start) = (0i64, 0.0f64, 0i64);
    while !r.done() {
        match r.key()? {
            (1, w) => {
                expect(w, FIXED64, "Sample.value")?;
                let b: [u8; 8] = r.bytes(8)?.try_into().unwrap_or_default();
                v = f64::from_le_bytes(b);
            }
            (2, w) => {
                expect(w, VARINT, "Sample.timestamp")?;
                t = r.varint()? as i64;
            }
            (3, w) => {
                expect(w, VARINT, "Sample.start_timestamp")?;
                start = r.varint()? as i64;
            }
            (_, w) => r.skip(w)?,
        }
    }
    Ok((t, v, start))
}

/// One `Metadata`: (type, help, unit), strings resolved. A reference of 0
/// into an empty table is the empty string (the unset default).
fn series_metadata<'a>(
    msg: &[u8],
    symbols: &Symbols<'a>,
) -> Result<(i32, &'a str, &'a str), DecodeError> {
    let mut r = Reader::new(msg);
    let (mut kind, mut help, mut unit) = (0i32, 0u64, 0u64);
    while !r.done() {
        match r.key()? {
            (1, w) => {
                expect(w, VARINT, "Metadata.type")?;
                kind = r.varint()? as i32;
            }
            (3, w) => {
                expect(w, VARINT, "Metadata.help_ref")?;
                help = u64::from(r.varint()? as u32);
            }
            (4, w) => {
                expect(w, VARINT, "Metadata.unit_ref")?;
                unit = u64::from(r.varint()? as u32);
            }
            (_, w) => r.skip(w)?,
        }
    }
    let resolve = |r: u64| {
        if r == 0 && symbols.0.is_empty() {
            Ok("")
        } else {
            symbols.get(r)
        }
    };
    Ok((kind, resolve(help)?, resolve(unit)?))
}

/// Checks that a message not decoded here (a histogram, an exemplar) is
/// well-formed protobuf, as decoding it would.
fn check_message(msg: &[u8]) -> Result<(), DecodeError> {
    let mut r = Reader::new(msg);
    while !r.done() {
        let (_, w) = r.key()?;
        r.skip(w)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use prost::Message;

    // The spec's messages as prost types, written from types.proto: the
    // reference the reader is checked against.

    #[derive(Clone, PartialEq, Message)]
    struct Request {
        #[prost(string, repeated, tag = "4")]
        symbols: Vec<String>,
        #[prost(message, repeated, tag = "5")]
        timeseries: Vec<TimeSeries>,
    }

    #[derive(Clone, PartialEq, Message)]
    struct TimeSeries {
        #[prost(uint32, repeated, tag = "1")]
        labels_refs: Vec<u32>,
        #[prost(message, repeated, tag = "2")]
        samples: Vec<Sample>,
        #[prost(message, repeated, tag = "3")]
        histograms: Vec<Histogram>,
        #[prost(message, repeated, tag = "4")]
        exemplars: Vec<Exemplar>,
        #[prost(message, optional, tag = "5")]
        metadata: Option<Metadata>,
        #[prost(int64, tag = "6")]
        created_timestamp: i64,
    }

    #[derive(Clone, PartialEq, Message)]
    struct Sample {
        #[prost(double, tag = "1")]
        value: f64,
        #[prost(int64, tag = "2")]
        timestamp: i64,
        #[prost(int64, tag = "3")]
        start_timestamp: i64,
    }

    #[derive(Clone, PartialEq, Message)]
    struct Exemplar {
        #[prost(uint32, repeated, tag = "1")]
        labels_refs: Vec<u32>,
        #[prost(double, tag = "2")]
        value: f64,
        #[prost(int64, tag = "3")]
        timestamp: i64,
    }

    #[derive(Clone, PartialEq, Message)]
    struct Metadata {
        #[prost(int32, tag = "1")]
        r#type: i32,
        #[prost(uint32, tag = "3")]
        help_ref: u32,
        #[prost(uint32, tag = "4")]
        unit_ref: u32,
    }

    #[derive(Clone, PartialEq, Message)]
    struct Histogram {
        #[prost(uint64, tag = "1")]
        count_int: u64,
        #[prost(double, tag = "3")]
        sum: f64,
        #[prost(sint32, tag = "4")]
        schema: i32,
        #[prost(sint64, repeated, tag = "12")]
        positive_deltas: Vec<i64>,
        #[prost(int64, tag = "15")]
        timestamp: i64,
    }

    /// The same request with histograms and exemplars as messages whose
    /// fields are not read, as the reader treats them (only their framing
    /// is checked).
    #[derive(Clone, PartialEq, Message)]
    struct OpaqueRequest {
        #[prost(string, repeated, tag = "4")]
        symbols: Vec<String>,
        #[prost(message, repeated, tag = "5")]
        timeseries: Vec<OpaqueTimeSeries>,
    }

    #[derive(Clone, PartialEq, Message)]
    struct OpaqueTimeSeries {
        #[prost(uint32, repeated, tag = "1")]
        labels_refs: Vec<u32>,
        #[prost(message, repeated, tag = "2")]
        samples: Vec<Sample>,
        #[prost(message, repeated, tag = "3")]
        histograms: Vec<Opaque>,
        #[prost(message, repeated, tag = "4")]
        exemplars: Vec<Opaque>,
        #[prost(message, optional, tag = "5")]
        metadata: Option<Metadata>,
        #[prost(int64, tag = "6")]
        created_timestamp: i64,
    }

    #[derive(Clone, PartialEq, Message)]
    struct Opaque {}

    type Owned = (Vec<(String, String)>, Vec<(i64, u64)>);

    fn walk(raw: &[u8]) -> Result<(Vec<Owned>, Walked<'_>), DecodeError> {
        let mut out = Vec::new();
        let w = for_each_series(raw, |l, s| {
            out.push((
                l.iter()
                    .map(|(n, v)| {
                        (
                            String::from_utf8(n.to_vec()).unwrap(),
                            String::from_utf8(v.to_vec()).unwrap(),
                        )
                    })
                    .collect(),
                s.iter().map(|(t, v)| (*t, v.to_bits())).collect(),
            ));
            Ok(())
        })?;
        Ok((out, w))
    }

    /// What prost's decoding says the series are (refs resolved here).
    fn via_prost(req: &Request) -> Vec<Owned> {
        req.timeseries
            .iter()
            .map(|ts| {
                (
                    ts.labels_refs
                        .chunks(2)
                        .map(|p| {
                            (
                                req.symbols[p[0] as usize].clone(),
                                req.symbols[p[1] as usize].clone(),
                            )
                        })
                        .collect(),
                    ts.samples
                        .iter()
                        .map(|s| (s.timestamp, s.value.to_bits()))
                        .collect(),
                )
            })
            .collect()
    }

    fn symbols(strs: &[&str]) -> Vec<String> {
        strs.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn decodes_labels_samples_metadata_and_counts_the_rest() {
        let req = Request {
            symbols: symbols(&[
                "",
                "__name__",
                "http_requests_total",
                "job",
                "api",
                "Requests.",
                "seconds",
                "trace_id",
                "abc",
            ]),
            timeseries: vec![
                TimeSeries {
                    labels_refs: vec![1, 2, 3, 4],
                    samples: vec![
                        Sample {
                            value: 1.5,
                            timestamp: 1000,
                            start_timestamp: 500,
                        },
                        Sample {
                            value: 2.5,
                            timestamp: 2000,
                            start_timestamp: 0,
                        },
                    ],
                    exemplars: vec![Exemplar {
                        labels_refs: vec![7, 8],
                        value: 1.0,
                        timestamp: 1000,
                    }],
                    metadata: Some(Metadata {
                        r#type: 1,
                        help_ref: 5,
                        unit_ref: 6,
                    }),
                    created_timestamp: 400,
                    ..Default::default()
                },
                TimeSeries {
                    labels_refs: vec![1, 2, 3, 7],
                    histograms: vec![
                        Histogram {
                            count_int: 3,
                            sum: 2.0,
                            schema: 3,
                            positive_deltas: vec![1, 1],
                            timestamp: 1000
                        };
                        2
                    ],
                    metadata: Some(Metadata {
                        r#type: 0,
                        help_ref: 0,
                        unit_ref: 0,
                    }),
                    ..Default::default()
                },
            ],
        };
        let raw = req.encode_to_vec();
        let (series, w) = walk(&raw).unwrap();
        assert_eq!(
            series,
            vec![
                (
                    vec![
                        ("__name__".into(), "http_requests_total".into()),
                        ("job".into(), "api".into())
                    ],
                    vec![(1000, 1.5f64.to_bits()), (2000, 2.5f64.to_bits())]
                ),
                (
                    vec![
                        ("__name__".into(), "http_requests_total".into()),
                        ("job".into(), "trace_id".into())
                    ],
                    vec![]
                ),
            ]
        );
        assert_eq!(
            w.metadata,
            vec![FamilyMetadata {
                metric: "http_requests_total",
                kind: 1,
                help: "Requests.",
                unit: "seconds"
            }]
        );
        assert_eq!((w.histograms, w.exemplars, w.start_timestamps), (2, 1, 2));
    }

    #[test]
    fn symbols_after_series_and_unpacked_refs_decode() {
        // timeseries (field 5) before symbols (field 4); labels_refs as
        // single varints (wire type 0), which decoders must accept.
        let ts = [
            0x08, 1, 0x08, 2, 0x12, 11, 0x09, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0x10, 7,
        ];
        let mut raw = vec![0x2a, ts.len() as u8];
        raw.extend_from_slice(&ts);
        for s in ["", "__name__", "up"] {
            raw.push(0x22);
            raw.push(s.len() as u8);
            raw.extend_from_slice(s.as_bytes());
        }
        let req = Request::decode(raw.as_slice()).unwrap();
        let (got, _) = walk(&raw).unwrap();
        assert_eq!(got, via_prost(&req));
        assert_eq!(
            got,
            vec![(
                vec![("__name__".into(), "up".into())],
                vec![(7, 1f64.to_bits())]
            )]
        );
    }

    #[test]
    fn bad_references_are_refused() {
        let odd = Request {
            symbols: symbols(&["", "__name__", "up"]),
            timeseries: vec![TimeSeries {
                labels_refs: vec![1, 2, 1],
                ..Default::default()
            }],
        };
        let e = walk(&odd.encode_to_vec()).unwrap_err().to_string();
        assert!(e.contains("odd number"), "{e}");
        let beyond = Request {
            symbols: symbols(&["", "__name__", "up"]),
            timeseries: vec![TimeSeries {
                labels_refs: vec![1, 3],
                ..Default::default()
            }],
        };
        let e = walk(&beyond.encode_to_vec()).unwrap_err().to_string();
        assert!(
            e.contains("symbol reference 3 out of range (3 symbols)"),
            "{e}"
        );
        let help = Request {
            symbols: symbols(&["", "__name__", "up"]),
            timeseries: vec![TimeSeries {
                labels_refs: vec![1, 2],
                metadata: Some(Metadata {
                    r#type: 2,
                    help_ref: 9,
                    unit_ref: 0,
                }),
                ..Default::default()
            }],
        };
        assert!(walk(&help.encode_to_vec()).is_err());
        // A 1.0 WriteRequest read as 2.0 (its fields are reserved here) is
        // refused, not read as an empty request.
        let v1 = crate::formats::remote_write::WriteRequest {
            timeseries: vec![crate::formats::remote_write::TimeSeries {
                labels: vec![crate::formats::remote_write::Label {
                    name: "__name__".into(),
                    value: "up".into(),
                }],
                samples: vec![crate::formats::remote_write::Sample {
                    value: 1.0,
                    timestamp: 1,
                }],
            }],
            metadata: vec![],
        };
        let raw = v1.encode_to_vec();
        let e = walk(&raw).unwrap_err().to_string();
        assert!(e.contains("this is a remote_write 1.0 body"), "{e}");
        // And a 2.0 body read as 1.0 is refused too.
        let e = crate::formats::wire::for_each_series(&odd.encode_to_vec(), |_, _| {})
            .unwrap_err()
            .to_string();
        assert!(e.contains("this is a remote_write 2.0 body"), "{e}");
    }

    proptest! {
        #[test]
        fn agrees_with_prost(
            syms in proptest::collection::vec("\\PC{0,6}", 1..8),
            series in proptest::collection::vec((
                proptest::collection::vec((any::<u32>(), any::<u32>()), 0..5),
                proptest::collection::vec((any::<i64>(), any::<u64>(), any::<i64>()), 0..4),
                0usize..3, 0usize..3, any::<i64>(),
                proptest::option::of((0i32..8, any::<u32>(), any::<u32>())),
            ), 0..6),
        ) {
            let n = syms.len() as u32;
            let mut symbols = vec![String::new()];
            symbols.extend(syms);
            let n = n + 1;
            let req = Request {
                symbols,
                timeseries: series.iter().map(|(l, s, h, e, ct, md)| TimeSeries {
                    labels_refs: l.iter().flat_map(|(a, b)| [a % n, b % n]).collect(),
                    samples: s.iter().map(|(t, v, st)| Sample { value: f64::from_bits(*v), timestamp: *t, start_timestamp: *st }).collect(),
                    histograms: vec![Histogram { count_int: 1, sum: 1.0, schema: 0, positive_deltas: vec![1], timestamp: 5 }; *h],
                    exemplars: vec![Exemplar { labels_refs: vec![0, 0], value: 2.0, timestamp: 3 }; *e],
                    metadata: md.map(|(t, hr, ur)| Metadata { r#type: t, help_ref: hr % n, unit_ref: ur % n }),
                    created_timestamp: *ct,
                }).collect(),
            };
            let raw = req.encode_to_vec();
            let (got, w) = walk(&raw).unwrap();
            prop_assert_eq!(got, via_prost(&req));
            prop_assert_eq!(w.histograms, series.iter().map(|s| s.2).sum::<usize>());
            prop_assert_eq!(w.exemplars, series.iter().map(|s| s.3).sum::<usize>());
            let starts = req.timeseries.iter().map(|ts| {
                usize::from(ts.created_timestamp != 0)
                    + ts.samples.iter().filter(|s| s.start_timestamp != 0).count()
            }).sum::<usize>();
            prop_assert_eq!(w.start_timestamps, starts);
        }

        #[test]
        fn errors_when_prost_does(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let ours = walk(&bytes);
            let theirs = OpaqueRequest::decode(bytes.as_slice());
            // The reader may refuse more (references outside the table),
            // never less.
            if theirs.is_err() {
                prop_assert!(ours.is_err());
            }
            if let (Ok((got, w)), Ok(req)) = (&ours, &theirs) {
                let full = Request {
                    symbols: req.symbols.clone(),
                    timeseries: req.timeseries.iter().map(|ts| TimeSeries {
                        labels_refs: ts.labels_refs.clone(),
                        samples: ts.samples.clone(),
                        ..Default::default()
                    }).collect(),
                };
                prop_assert_eq!(got, &via_prost(&full));
                prop_assert_eq!(w.histograms, req.timeseries.iter().map(|t| t.histograms.len()).sum::<usize>());
                prop_assert_eq!(w.exemplars, req.timeseries.iter().map(|t| t.exemplars.len()).sum::<usize>());
            }
        }
    }
}
