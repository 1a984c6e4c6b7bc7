//! WAL record payloads: what a record says, apart from how it is framed.

use crate::encoding::{Decbuf, DecodeError, Encbuf};
use crate::labels::{Label, Labels};
use crate::series_ref::SeriesRef;

/// A new series and the ref its samples use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesRecord {
    /// The ref samples of this series carry.
    pub series_ref: SeriesRef,
    /// The series' labels.
    pub labels: Labels,
}

/// One sample of the series with ref `series_ref`.
#[derive(Debug, Clone, Copy)]
pub struct RefSample {
    /// The series' ref.
    pub series_ref: SeriesRef,
    /// Timestamp, ms.
    pub t: i64,
    /// Value (stored bit-exact).
    pub v: f64,
}

impl PartialEq for RefSample {
    fn eq(&self, o: &Self) -> bool {
        self.series_ref == o.series_ref && self.t == o.t && self.v.to_bits() == o.v.to_bits()
    }
}

/// Deletion of a series' samples in `[mint, maxt]` (inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeleteRecord {
    /// The series' ref.
    pub series_ref: SeriesRef,
    /// First deleted timestamp.
    pub mint: i64,
    /// Last deleted timestamp.
    pub maxt: i64,
}

/// One WAL record.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// Series created.
    Series(Vec<SeriesRecord>),
    /// Samples appended.
    Samples(Vec<RefSample>),
    /// Samples deleted.
    Deletes(Vec<DeleteRecord>),
}

/// Record type bytes.
pub(crate) const TYPE_SERIES: u8 = 1;
pub(crate) const TYPE_SAMPLES: u8 = 2;
pub(crate) const TYPE_DELETES: u8 = 3;

impl Record {
    /// The record's type byte.
    pub(crate) fn type_byte(&self) -> u8 {
        match self {
            Record::Series(_) => TYPE_SERIES,
            Record::Samples(_) => TYPE_SAMPLES,
            Record::Deletes(_) => TYPE_DELETES,
        }
    }

    /// About how many bytes the record takes encoded (to size buffers).
    pub(crate) fn size_hint(&self) -> usize {
        match self {
            Record::Series(v) => 16 + v.len() * 128,
            Record::Samples(v) => 16 + v.len() * 16,
            Record::Deletes(v) => 16 + v.len() * 24,
        }
    }

    /// True when the record carries nothing.
    pub(crate) fn is_empty(&self) -> bool {
        match self {
            Record::Series(v) => v.is_empty(),
            Record::Samples(v) => v.is_empty(),
            Record::Deletes(v) => v.is_empty(),
        }
    }

    /// Appends the payload to `e`.
    pub(crate) fn encode_payload(&self, e: &mut Encbuf) {
        match self {
            Record::Series(list) => {
                e.put_uvarint(list.len() as u64);
                for s in list {
                    e.put_uvarint(s.series_ref.0);
                    e.put_uvarint(s.labels.len() as u64);
                    for l in &s.labels {
                        e.put_uvarint_str(&l.name);
                        e.put_uvarint_str(&l.value);
                    }
                }
            }
            Record::Samples(list) => {
                e.put_uvarint(list.len() as u64);
                let (mut prev_ref, mut prev_t) = (0u64, 0i64);
                for s in list {
                    e.put_varint(s.series_ref.0.wrapping_sub(prev_ref) as i64);
                    e.put_varint(s.t.wrapping_sub(prev_t));
                    e.put_f64(s.v);
                    prev_ref = s.series_ref.0;
                    prev_t = s.t;
                }
            }
            Record::Deletes(list) => {
                e.put_uvarint(list.len() as u64);
                for d in list {
                    e.put_uvarint(d.series_ref.0);
                    e.put_varint(d.mint);
                    e.put_varint(d.maxt);
                }
            }
        }
    }

    /// Decodes a payload of type `kind`.
    pub(crate) fn decode_payload(kind: u8, payload: &[u8]) -> Result<Record, DecodeError> {
        let mut d = Decbuf::new(payload);
        let n = d.uvarint()?;
        // Every entry takes at least one byte: refuse absurd counts early.
        if n > payload.len() as u64 {
            return Err(d.error(format!("count {n} exceeds payload size")));
        }
        let rec = match kind {
            TYPE_SERIES => {
                let mut list = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    let series_ref = SeriesRef(d.uvarint()?);
                    let at = d.offset();
                    let nl = d.uvarint()?;
                    if nl > d.remaining() as u64 {
                        return Err(d.error(format!("label count {nl} exceeds payload size")));
                    }
                    let mut labels = Vec::with_capacity(nl as usize);
                    for _ in 0..nl {
                        let name = d.uvarint_str()?;
                        let value = d.uvarint_str()?;
                        labels.push(Label::new(name, value));
                    }
                    let limits = crate::LabelLimits {
                        max_labels: usize::MAX,
                        max_name_len: usize::MAX,
                        max_value_len: usize::MAX,
                    };
                    let labels = Labels::with_limits(labels, &limits).map_err(|e| DecodeError {
                        offset: at,
                        what: format!("invalid labels in series record: {e}"),
                    })?;
                    list.push(SeriesRecord { series_ref, labels });
                }
                Record::Series(list)
            }
            TYPE_SAMPLES => {
                let mut list = Vec::with_capacity(n as usize);
                let (mut r, mut t) = (0u64, 0i64);
                for _ in 0..n {
                    r = r.wrapping_add(d.varint()? as u64);
                    t = t.wrapping_add(d.varint()?);
                    let v = d.f64()?;
                    list.push(RefSample {
                        series_ref: SeriesRef(r),
                        t,
                        v,
                    });
                }
                Record::Samples(list)
            }
            TYPE_DELETES => {
                let mut list = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    list.push(DeleteRecord {
                        series_ref: SeriesRef(d.uvarint()?),
                        mint: d.varint()?,
                        maxt: d.varint()?,
                    });
                }
                Record::Deletes(list)
            }
            other => {
                return Err(DecodeError {
                    offset: 0,
                    what: format!("unknown record type {other}"),
                });
            }
        };
        if !d.is_empty() {
            return Err(d.error(format!("{} trailing bytes after record", d.remaining())));
        }
        Ok(rec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn record() -> impl Strategy<Value = Record> {
        prop_oneof![
            proptest::collection::vec((any::<u64>(), any::<i64>(), any::<u64>()), 0..50).prop_map(
                |v| Record::Samples(
                    v.into_iter()
                        .map(|(r, t, b)| RefSample {
                            series_ref: SeriesRef(r),
                            t,
                            v: f64::from_bits(b)
                        })
                        .collect()
                )
            ),
            proptest::collection::vec((any::<u64>(), any::<i64>(), any::<i64>()), 0..20).prop_map(
                |v| Record::Deletes(
                    v.into_iter()
                        .map(|(r, a, b)| DeleteRecord {
                            series_ref: SeriesRef(r),
                            mint: a,
                            maxt: b
                        })
                        .collect()
                )
            ),
            proptest::collection::vec((any::<u64>(), "[a-z_]{1,8}", ".{1,12}"), 0..10).prop_map(
                |v| Record::Series(
                    v.into_iter()
                        .map(|(r, n, val)| SeriesRecord {
                            series_ref: SeriesRef(r),
                            labels: Labels::new(vec![Label::new(n, val)]).unwrap(),
                        })
                        .collect()
                )
            ),
        ]
    }

    proptest! {
        #[test]
        fn payload_round_trip(rec in record()) {
            let mut e = Encbuf::new();
            rec.encode_payload(&mut e);
            prop_assert_eq!(Record::decode_payload(rec.type_byte(), e.as_slice()).unwrap(), rec);
        }

        #[test]
        fn arbitrary_payloads_never_panic(kind in 0u8..5, bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            let _ = Record::decode_payload(kind, &bytes);
        }
    }
}
