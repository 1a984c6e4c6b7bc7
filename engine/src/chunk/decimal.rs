//! [`Encoding::Decimal`](super::Encoding::Decimal): a byte-aligned encoding
//! for chunks whose values are all short decimals (`m / 10^k`, `m` an
//! integer), as most scraped metrics are: counters of bytes or requests,
//! gauges with two decimals. Varints of small deltas, laid out so that a
//! general-purpose compressor (zstd, over groups of chunks in a block) finds
//! the repetition across series; see `FORMAT.md`.

use super::{ChunkError, HEADER_LEN};
use crate::sample::Sample;

/// Largest decimal exponent tried.
const MAX_SCALE: u8 = 12;
/// Integers up to 2^53 convert to `f64` exactly.
const MAX_MANTISSA: f64 = 9_007_199_254_740_992.0;

/// Powers of ten exact in `f64`.
const POW10: [f64; MAX_SCALE as usize + 1] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12,
];

/// `v` as `m / 10^k`, when that reproduces `v` bit for bit.
/// The check runs on the integer, so `-0.0` (which would come back as
/// `0.0`) is refused.
#[inline]
fn mantissa(v: f64, k: u8) -> Option<i64> {
    let p = pow10(k);
    let m = (v * p).round();
    // NaN fails this comparison too.
    if m.is_nan() || m.abs() > MAX_MANTISSA {
        return None;
    }
    let m = m as i64;
    (value_of(m, p).to_bits() == v.to_bits()).then_some(m)
}

/// `10^k` for `k <= MAX_SCALE`.
#[inline]
fn pow10(k: u8) -> f64 {
    POW10.get(usize::from(k)).copied().unwrap_or(1.0)
}

/// The value a mantissa stands for (the decoder's exact arithmetic).
#[inline]
fn value_of(m: i64, scale: f64) -> f64 {
    let m = m as f64;
    if scale == 1.0 { m } else { m / scale }
}

/// The smallest scale `k` at which every value is an exact decimal, with
/// the mantissas; `None` when some value is not (NaN, infinities, `-0.0`,
/// full-precision floats), which leaves the chunk to Gorilla.
fn decimals(samples: &[Sample]) -> Option<(u8, Vec<i64>)> {
    let mut k = 0u8;
    let mut out = Vec::with_capacity(samples.len());
    'scale: loop {
        for s in samples {
            match mantissa(s.v, k) {
                Some(m) => out.push(m),
                None if k < MAX_SCALE => {
                    // Start over with one more decimal.
                    k += 1;
                    out.clear();
                    continue 'scale;
                }
                None => return None,
            }
        }
        return Some((k, out));
    }
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Encodes `samples` (1 to 65 535, increasing timestamps) when every value
/// is a short decimal; `None` otherwise.
pub(crate) fn encode(samples: &[Sample]) -> Option<Vec<u8>> {
    let n = u16::try_from(samples.len()).ok().filter(|n| *n > 0)?;
    let (k, ms) = decimals(samples)?;
    let mut times = Vec::with_capacity(samples.len() + 8);
    let mut prev_t = 0i64;
    let mut prev_d = 0i64;
    for (i, s) in samples.iter().enumerate() {
        if i == 0 {
            put_uvarint(&mut times, zigzag(s.t));
        } else {
            let d = s.t.wrapping_sub(prev_t);
            put_uvarint(&mut times, zigzag(d.wrapping_sub(prev_d)));
            prev_d = d;
        }
        prev_t = s.t;
    }
    // Deltas suit gauges, delta-of-deltas steady counters: keep the smaller.
    let mut deltas = Vec::with_capacity(ms.len() + 8);
    let mut dods = Vec::with_capacity(ms.len() + 8);
    let (mut prev_m, mut prev_dm) = (0i64, 0i64);
    for (i, &m) in ms.iter().enumerate() {
        if i == 0 {
            put_uvarint(&mut deltas, zigzag(m));
            put_uvarint(&mut dods, zigzag(m));
        } else {
            let d = m.wrapping_sub(prev_m);
            put_uvarint(&mut deltas, zigzag(d));
            put_uvarint(&mut dods, zigzag(d.wrapping_sub(prev_dm)));
            prev_dm = d;
        }
        prev_m = m;
    }
    let (mode, values) = if dods.len() < deltas.len() {
        (1u8, dods)
    } else {
        (0u8, deltas)
    };
    let mut out = Vec::with_capacity(HEADER_LEN + 12 + times.len() + values.len());
    out.extend_from_slice(&n.to_be_bytes());
    put_uvarint(&mut out, times.len() as u64);
    out.extend_from_slice(&times);
    out.push(k);
    out.push(mode);
    out.extend_from_slice(&values);
    Some(out)
}

/// Reads a [`decimal`](self) chunk sample by sample.
#[derive(Debug, Clone)]
pub(crate) struct DecimalDecoder<'a> {
    bytes: &'a [u8],
    /// Cursor in the timestamp section.
    tpos: usize,
    /// Cursor in the value section.
    vpos: usize,
    total: u16,
    read: u16,
    scale: f64,
    dod_values: bool,
    t: i64,
    dt: i64,
    m: i64,
    dm: i64,
}

fn bad(offset: usize, reason: impl Into<String>) -> ChunkError {
    ChunkError {
        offset,
        reason: reason.into(),
    }
}

/// A uvarint at `*pos`, advancing it.
#[inline(always)]
fn uvarint(bytes: &[u8], pos: &mut usize, what: &str) -> Result<u64, ChunkError> {
    // Most deltas of delta fit in one byte.
    if let Some(&b) = bytes.get(*pos)
        && b < 0x80
    {
        *pos += 1;
        return Ok(u64::from(b));
    }
    uvarint_long(bytes, pos, what)
}

#[inline(never)]
fn uvarint_long(bytes: &[u8], pos: &mut usize, what: &str) -> Result<u64, ChunkError> {
    let mut v = 0u64;
    let mut shift = 0u32;
    loop {
        let Some(&b) = bytes.get(*pos) else {
            return Err(bad(*pos, format!("unexpected end of data reading {what}")));
        };
        *pos += 1;
        if shift == 63 && b > 1 {
            return Err(bad(*pos - 1, format!("varint overflow reading {what}")));
        }
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Ok(v);
        }
        shift += 7;
        if shift > 63 {
            return Err(bad(*pos, format!("varint too long reading {what}")));
        }
    }
}

impl<'a> DecimalDecoder<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Result<Self, ChunkError> {
        let header = bytes.get(..HEADER_LEN).ok_or_else(|| {
            bad(
                0,
                format!("chunk of {} bytes is shorter than its header", bytes.len()),
            )
        })?;
        let total = u16::from_be_bytes(<[u8; HEADER_LEN]>::try_from(header).unwrap_or_default());
        let mut pos = HEADER_LEN;
        let tlen = uvarint(bytes, &mut pos, "timestamp section length")?;
        let vstart = usize::try_from(tlen)
            .ok()
            .and_then(|l| pos.checked_add(l))
            .filter(|&v| v.checked_add(2).is_some_and(|end| end <= bytes.len()))
            .ok_or_else(|| {
                bad(
                    pos,
                    format!("timestamp section of {tlen} bytes overruns the chunk"),
                )
            })?;
        let (k, mode) = match bytes.get(vstart..vstart + 2) {
            Some(&[k, mode]) => (k, mode),
            _ => return Err(bad(vstart, "value section header missing")),
        };
        if k > MAX_SCALE {
            return Err(bad(
                vstart,
                format!("decimal scale {k} exceeds {MAX_SCALE}"),
            ));
        }
        if mode > 1 {
            return Err(bad(vstart + 1, format!("unknown value mode {mode}")));
        }
        Ok(DecimalDecoder {
            bytes,
            tpos: pos,
            vpos: vstart + 2,
            total,
            read: 0,
            scale: pow10(k),
            dod_values: mode == 1,
            t: 0,
            dt: 0,
            m: 0,
            dm: 0,
        })
    }

    pub(crate) fn num_samples(&self) -> usize {
        usize::from(self.total)
    }

    /// The next sample, `Ok(None)` at the end.
    #[inline]
    pub(crate) fn next(&mut self) -> Result<Option<Sample>, ChunkError> {
        if self.read >= self.total {
            return Ok(None);
        }
        let tv = unzigzag(uvarint(self.bytes, &mut self.tpos, "timestamp")?);
        let mv = unzigzag(uvarint(self.bytes, &mut self.vpos, "value")?);
        if self.read == 0 {
            self.t = tv;
            self.m = mv;
        } else {
            self.dt = self.dt.wrapping_add(tv);
            self.t = self.t.wrapping_add(self.dt);
            if self.dod_values {
                self.dm = self.dm.wrapping_add(mv);
                self.m = self.m.wrapping_add(self.dm);
            } else {
                self.m = self.m.wrapping_add(mv);
            }
        }
        self.read += 1;
        Ok(Some(Sample {
            t: self.t,
            v: value_of(self.m, self.scale),
        }))
    }

    /// Appends every sample not yet read to `out`: [`Self::next`] in a
    /// tight loop, with the per-chunk choices made once.
    pub(crate) fn drain_into(&mut self, out: &mut Vec<Sample>) -> Result<(), ChunkError> {
        if self.read == 0 {
            match self.next()? {
                Some(s) => out.push(s),
                None => return Ok(()),
            }
        }
        let remaining = usize::from(self.total - self.read);
        out.reserve(remaining);
        let (bytes, scale) = (self.bytes, self.scale);
        let (mut t, mut dt, mut m, mut dm) = (self.t, self.dt, self.m, self.dm);
        let (mut tpos, mut vpos) = (self.tpos, self.vpos);
        // Leave the decoder finished whatever happens below.
        self.read = self.total;
        for _ in 0..remaining {
            let tv = unzigzag(uvarint(bytes, &mut tpos, "timestamp")?);
            let mv = unzigzag(uvarint(bytes, &mut vpos, "value")?);
            dt = dt.wrapping_add(tv);
            t = t.wrapping_add(dt);
            if self.dod_values {
                dm = dm.wrapping_add(mv);
                m = m.wrapping_add(dm);
            } else {
                m = m.wrapping_add(mv);
            }
            out.push(Sample {
                t,
                v: value_of(m, scale),
            });
        }
        (self.t, self.dt, self.m, self.dm) = (t, dt, m, dm);
        (self.tpos, self.vpos) = (tpos, vpos);
        Ok(())
    }
}
