//! A zero-copy reader of remote_write's `WriteRequest`: walks the
//! decompressed protobuf and hands each series' labels (borrowed `&str`s)
//! and samples to a callback, allocating nothing per series. Decodes the
//! same messages as the prost types in [`super::remote_write`] (tested
//! against them). Exemplars and native histograms are not stored: the walk
//! counts them (see [`Walked`]) so the handler can refuse or count them,
//! never acknowledge them silently. The protobuf reader here is shared with
//! [`super::remote_write_v2`].

use prost::Message;

use super::remote_write::{DecodeError, MetricMetadata};

/// Protobuf wire types.
pub(crate) const VARINT: u64 = 0;
pub(crate) const FIXED64: u64 = 1;
pub(crate) const LEN: u64 = 2;
pub(crate) const FIXED32: u64 = 5;

/// A protobuf reader over borrowed bytes.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

pub(crate) fn err(what: impl Into<String>) -> DecodeError {
    DecodeError::Protobuf(what.into())
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub(crate) fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }

    #[inline(always)]
    pub(crate) fn varint(&mut self) -> Result<u64, DecodeError> {
        // Keys and most lengths fit in one byte.
        if let Some(&b) = self.buf.get(self.pos)
            && b < 0x80
        {
            self.pos += 1;
            return Ok(u64::from(b));
        }
        self.varint_long()
    }

    #[inline(never)]
    fn varint_long(&mut self) -> Result<u64, DecodeError> {
        let mut v = 0u64;
        for i in 0..10 {
            let b = *self
                .buf
                .get(self.pos)
                .ok_or_else(|| err("buffer underflow reading a varint"))?;
            self.pos += 1;
            if i == 9 && b > 1 {
                return Err(err("invalid varint"));
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(err("invalid varint"))
    }

    #[inline(always)]
    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| err("buffer underflow: length beyond the message"))?;
        let b = self.buf.get(self.pos..end).unwrap_or_default();
        self.pos = end;
        Ok(b)
    }

    #[inline(always)]
    pub(crate) fn len_delimited(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = self.varint()?;
        self.bytes(usize::try_from(n).map_err(|_| err("length overflow"))?)
    }

    /// The next field's number and wire type.
    #[inline(always)]
    pub(crate) fn key(&mut self) -> Result<(u64, u64), DecodeError> {
        let k = self.varint()?;
        if k > u64::from(u32::MAX) {
            return Err(err(format!("invalid key value: {k}")));
        }
        let (field, wire) = (k >> 3, k & 7);
        if field == 0 {
            return Err(err("invalid field number 0"));
        }
        Ok((field, wire))
    }

    pub(crate) fn skip(&mut self, wire: u64) -> Result<(), DecodeError> {
        match wire {
            VARINT => self.varint().map(drop),
            FIXED64 => self.bytes(8).map(drop),
            LEN => self.len_delimited().map(drop),
            FIXED32 => self.bytes(4).map(drop),
            other => Err(err(format!("unsupported wire type {other}"))),
        }
    }
}

pub(crate) fn utf8(b: &[u8]) -> Result<&str, DecodeError> {
    std::str::from_utf8(b).map_err(|_| not_utf8())
}

pub(crate) fn expect(wire: u64, want: u64, what: &str) -> Result<(), DecodeError> {
    if wire == want {
        Ok(())
    } else {
        Err(err(format!("invalid wire type {wire} for {what}")))
    }
}

/// One `Label` message: (name, value) as bytes (UTF-8 is checked by the
/// caller), proto3 defaults for missing fields.
fn label(msg: &[u8]) -> Result<(&[u8], &[u8]), DecodeError> {
    let mut r = Reader::new(msg);
    let (mut name, mut value): (&[u8], &[u8]) = (b"", b"");
    while !r.done() {
        match r.key()? {
            (1, w) => {
                expect(w, LEN, "Label.name")?;
                name = r.len_delimited()?;
            }
            (2, w) => {
                expect(w, LEN, "Label.value")?;
                value = r.len_delimited()?;
            }
            (_, w) => r.skip(w)?,
        }
    }
    Ok((name, value))
}

/// One `Sample` message: (timestamp ms, value).
fn sample(msg: &[u8]) -> Result<(i64, f64), DecodeError> {
    let mut r = Reader::new(msg);
    let (mut t, mut v) = (0i64, 0.0f64);
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
            (_, w) => r.skip(w)?,
        }
    }
    Ok((t, v))
}

/// What a walk found besides the float samples it handed over.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Walked {
    /// The `metadata` entries.
    pub metadata: Vec<MetricMetadata>,
    /// Native histogram samples (`TimeSeries.histograms`), not stored.
    pub histograms: usize,
    /// Exemplars (`TimeSeries.exemplars`), not stored.
    pub exemplars: usize,
}

/// Walks a decompressed `WriteRequest`, calling `series` with each
/// series' labels and samples (buffers reused between calls), and returns
/// the metadata entries and how many histograms and exemplars it met.
/// Stops at the first malformed byte.
///
/// # Errors
/// [`DecodeError::Protobuf`] naming what is malformed (including a label
/// that is not UTF-8); `series` may have been called for earlier series by
/// then.
pub fn for_each_series<'a>(
    raw: &'a [u8],
    mut series: impl FnMut(&mut Vec<(&'a str, &'a str)>, &[(i64, f64)]),
) -> Result<Walked, DecodeError> {
    let mut strs: Vec<(&str, &str)> = Vec::with_capacity(16);
    for_each_series_raw(raw, |labels, samples| {
        strs.clear();
        for &(n, v) in labels.iter() {
            strs.push((utf8(n)?, utf8(v)?));
        }
        series(&mut strs, samples);
        Ok(())
    })
}

/// The error prost gives for a string field that is not UTF-8.
pub fn not_utf8() -> DecodeError {
    err("invalid string value: data is not UTF-8 encoded")
}

/// [`for_each_series`] with labels as raw bytes, not checked for UTF-8
/// (the storage checks the bytes of series it does not know; see
/// `Appender::append_raw`). `series` may stop the walk with an error.
///
/// # Errors
/// [`DecodeError::Protobuf`] naming what is malformed, or the error
/// `series` returned; `series` may have been called for earlier series.
pub fn for_each_series_raw<'a>(
    raw: &'a [u8],
    mut series: impl FnMut(&mut Vec<(&'a [u8], &'a [u8])>, &[(i64, f64)]) -> Result<(), DecodeError>,
) -> Result<Walked, DecodeError> {
    let mut r = Reader::new(raw);
    let mut walked = Walked::default();
    let mut labels: Vec<(&[u8], &[u8])> = Vec::with_capacity(16);
    let mut samples: Vec<(i64, f64)> = Vec::with_capacity(16);
    while !r.done() {
        match r.key()? {
            (1, w) => {
                expect(w, LEN, "WriteRequest.timeseries")?;
                let mut ts = Reader::new(r.len_delimited()?);
                labels.clear();
                samples.clear();
                while !ts.done() {
                    match ts.key()? {
                        (1, w) => {
                            expect(w, LEN, "TimeSeries.labels")?;
                            labels.push(label(ts.len_delimited()?)?);
                        }
                        (2, w) => {
                            expect(w, LEN, "TimeSeries.samples")?;
                            samples.push(sample(ts.len_delimited()?)?);
                        }
                        (3, w) => {
                            expect(w, LEN, "TimeSeries.exemplars")?;
                            ts.len_delimited()?;
                            walked.exemplars += 1;
                        }
                        (4, w) => {
                            expect(w, LEN, "TimeSeries.histograms")?;
                            ts.len_delimited()?;
                            walked.histograms += 1;
                        }
                        (_, w) => ts.skip(w)?,
                    }
                }
                series(&mut labels, &samples)?;
            }
            // A 2.0 `Request` sent without its Content-Type: its symbols
            // and series would be skipped and the request acknowledged.
            (4 | 5, LEN) => {
                return Err(err(format!(
                    "field 4/5 in a prometheus.WriteRequest: this is a remote_write 2.0 body; \
                     send it with Content-Type: application/x-protobuf;proto={}",
                    super::remote_write_v2::PROTO
                )));
            }
            (3, w) => {
                expect(w, LEN, "WriteRequest.metadata")?;
                walked.metadata.push(
                    MetricMetadata::decode(r.len_delimited()?).map_err(|e| err(e.to_string()))?,
                );
            }
            (_, w) => r.skip(w)?,
        }
    }
    Ok(walked)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::remote_write::{Label, Sample, TimeSeries, WriteRequest};
    use proptest::prelude::*;

    type Owned = (Vec<(String, String)>, Vec<(i64, u64)>);

    fn walk(raw: &[u8]) -> Result<(Vec<Owned>, usize), DecodeError> {
        let mut out = Vec::new();
        let md = for_each_series(raw, |l, s| {
            out.push((
                l.iter()
                    .map(|(n, v)| (n.to_string(), v.to_string()))
                    .collect(),
                s.iter().map(|(t, v)| (*t, v.to_bits())).collect(),
            ));
        })?;
        Ok((out, md.metadata.len()))
    }

    fn via_prost(req: &WriteRequest) -> Vec<Owned> {
        req.timeseries
            .iter()
            .map(|ts| {
                (
                    ts.labels
                        .iter()
                        .map(|l| (l.name.clone(), l.value.clone()))
                        .collect(),
                    ts.samples
                        .iter()
                        .map(|s| (s.timestamp, s.value.to_bits()))
                        .collect(),
                )
            })
            .collect()
    }

    #[test]
    fn keys_beyond_32_bits_are_refused_as_prost_does() {
        // Field 2^29 (a 33-bit key), fixed32: prost refuses the key.
        let bytes = [133, 128, 128, 128, 16, 0, 0, 0, 0];
        assert!(WriteRequest::decode(&bytes[..]).is_err());
        assert!(walk(&bytes).is_err());
    }

    proptest! {
        #[test]
        fn agrees_with_prost(series in proptest::collection::vec(
            (proptest::collection::vec(("[a-z_]{0,6}", "\\PC{0,6}"), 0..5),
             proptest::collection::vec((any::<i64>(), any::<u64>()), 0..5)), 0..6)) {
            let req = WriteRequest {
                timeseries: series.iter().map(|(l, s)| TimeSeries {
                    labels: l.iter().map(|(n, v)| Label { name: n.clone(), value: v.clone() }).collect(),
                    samples: s.iter().map(|(t, v)| Sample { timestamp: *t, value: f64::from_bits(*v) }).collect(),
                }).collect(),
                metadata: vec![MetricMetadata { r#type: 1, metric_family_name: "x".into(), help: "h".into(), unit: String::new() }],
            };
            let raw = req.encode_to_vec();
            let (got, md) = walk(&raw).unwrap();
            prop_assert_eq!(got, via_prost(&req));
            prop_assert_eq!(md, 1);
        }

        #[test]
        fn errors_exactly_when_prost_does(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let ours = walk(&bytes);
            let theirs = WriteRequest::decode(bytes.as_slice());
            // Our reader may refuse a little more (it checks UTF-8 and wire
            // types eagerly, like prost), never less.
            if theirs.is_err() {
                prop_assert!(ours.is_err());
            }
            if let (Ok((got, _)), Ok(req)) = (&ours, &theirs) {
                prop_assert_eq!(got, &via_prost(req));
            }
        }
    }
}
