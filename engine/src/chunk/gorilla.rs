//! The Gorilla XOR chunk (Pelkonen et al., "Gorilla: A Fast, Scalable,
//! In-Memory Time Series Database", VLDB 2015): delta-of-delta timestamps and
//! XOR-compressed values. The exact bits are in `FORMAT.md`.

use super::ChunkError;
use super::bitstream::{BitReader, BitWriter, EndOfData};
use crate::sample::Sample;

/// Bytes of the sample-count header.
pub(crate) const HEADER_LEN: usize = 2;

/// Delta-of-delta buckets: (prefix bits, prefix length, payload bits).
/// The last bucket (`1111`) takes a full 64-bit value.
const DOD_BUCKETS: [(u64, u32, u32); 3] = [(0b10, 2, 14), (0b110, 3, 17), (0b1110, 4, 20)];

fn fits(v: i64, bits: u32) -> bool {
    let lim = 1i64 << (bits - 1);
    (-lim..lim).contains(&v)
}

/// Builds a Gorilla chunk one sample at a time.
#[derive(Debug, Clone)]
pub struct XorAppender {
    w: BitWriter,
    count: u16,
    t: i64,
    delta: i64,
    first_t: i64,
    v: u64,
    leading: u32,
    trailing: u32,
}

impl Default for XorAppender {
    fn default() -> Self {
        Self::new()
    }
}

impl XorAppender {
    /// An empty chunk.
    pub fn new() -> Self {
        Self::with_capacity(32)
    }

    /// An empty chunk with room for `bytes` bytes before it reallocates.
    pub fn with_capacity(bytes: usize) -> Self {
        XorAppender {
            w: BitWriter::with_prefix(&[0; HEADER_LEN], bytes),
            count: 0,
            t: 0,
            delta: 0,
            first_t: 0,
            v: 0,
            // No window yet: forces the explicit form for the first XOR.
            leading: u32::MAX,
            trailing: 0,
        }
    }

    /// Appends a sample. Timestamps must be strictly increasing (the head
    /// guarantees it); a chunk holds at most 65 535 samples.
    ///
    /// # Panics
    /// In debug builds, when the chunk is full or `t` does not increase.
    pub fn append(&mut self, t: i64, v: f64) {
        debug_assert!(self.count < u16::MAX, "chunk full");
        debug_assert!(self.count == 0 || t > self.t, "timestamps must increase");
        let bits = v.to_bits();
        if self.count == 0 {
            self.w.write_bits(t as u64, 64);
            self.w.write_bits(bits, 64);
            self.first_t = t;
        } else {
            let delta = t.wrapping_sub(self.t);
            self.write_dod(delta.wrapping_sub(self.delta));
            self.write_xor(bits ^ self.v);
            self.delta = delta;
        }
        self.t = t;
        self.v = bits;
        self.count = self.count.saturating_add(1);
        let header = self.count.to_be_bytes();
        if let Some(h) = self.w.bytes_mut().get_mut(..HEADER_LEN) {
            h.copy_from_slice(&header);
        }
    }

    fn write_dod(&mut self, dod: i64) {
        if dod == 0 {
            self.w.write_bit(false);
            return;
        }
        for (prefix, plen, bits) in DOD_BUCKETS {
            if fits(dod, bits) {
                self.w.write_bits(prefix, plen);
                self.w.write_bits(dod as u64, bits);
                return;
            }
        }
        self.w.write_bits(0b1111, 4);
        self.w.write_bits(dod as u64, 64);
    }

    fn write_xor(&mut self, x: u64) {
        if x == 0 {
            self.w.write_bit(false);
            return;
        }
        let leading = x.leading_zeros().min(31);
        let trailing = x.trailing_zeros();
        if self.leading != u32::MAX && leading >= self.leading && trailing >= self.trailing {
            // Fits the previous window: `10` + the window's bits.
            self.w.write_bits(0b10, 2);
            let sig = 64 - self.leading - self.trailing;
            self.w.write_bits(x >> self.trailing, sig);
            return;
        }
        // New window: `11` + 5 bits leading + 6 bits length (64 as 0) + bits.
        let sig = 64 - leading - trailing;
        self.w.write_bits(0b11, 2);
        self.w.write_bits(u64::from(leading), 5);
        self.w.write_bits(u64::from(sig % 64), 6);
        self.w.write_bits(x >> trailing, sig);
        self.leading = leading;
        self.trailing = trailing;
    }

    /// Number of samples appended.
    pub fn num_samples(&self) -> usize {
        usize::from(self.count)
    }

    /// The chunk as it stands: always complete and decodable.
    pub fn bytes(&self) -> &[u8] {
        self.w.bytes()
    }

    /// The chunk's bytes, consuming the appender.
    pub fn into_bytes(self) -> Vec<u8> {
        self.w.into_bytes()
    }

    /// Timestamp of the first sample.
    pub fn min_t(&self) -> Option<i64> {
        (self.count > 0).then_some(self.first_t)
    }

    /// Timestamp of the last sample.
    pub fn max_t(&self) -> Option<i64> {
        (self.count > 0).then_some(self.t)
    }

    /// Heap bytes held (for memory accounting).
    pub fn size_bytes(&self) -> usize {
        self.w.capacity()
    }
}

/// Decoding state of a Gorilla chunk.
#[derive(Debug, Clone)]
pub(crate) struct XorDecoder<'a> {
    r: BitReader<'a>,
    total: u16,
    read: u16,
    t: i64,
    delta: i64,
    v: u64,
    leading: u32,
    trailing: u32,
    /// A value window was read (`11` form) and may be reused.
    window: bool,
}

fn corrupt(e: EndOfData, what: &str) -> ChunkError {
    ChunkError {
        offset: e.offset + HEADER_LEN,
        reason: format!("unexpected end of data reading {what}"),
    }
}

impl<'a> XorDecoder<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Result<Self, ChunkError> {
        let (header, body) = bytes
            .split_at_checked(HEADER_LEN)
            .ok_or_else(|| ChunkError {
                offset: 0,
                reason: format!("chunk of {} bytes is shorter than its header", bytes.len()),
            })?;
        Ok(XorDecoder {
            r: BitReader::new(body),
            total: u16::from_be_bytes(<[u8; HEADER_LEN]>::try_from(header).unwrap_or_default()),
            read: 0,
            t: 0,
            delta: 0,
            v: 0,
            leading: 0,
            trailing: 0,
            window: false,
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
        if self.read == 0 {
            self.t = self
                .r
                .read_bits(64)
                .map_err(|e| corrupt(e, "first timestamp"))? as i64;
            self.v = self
                .r
                .read_bits(64)
                .map_err(|e| corrupt(e, "first value"))?;
        } else {
            let dod = self.read_dod()?;
            self.delta = self.delta.wrapping_add(dod);
            self.t = self.t.wrapping_add(self.delta);
            self.read_xor()?;
        }
        self.read += 1;
        Ok(Some(Sample {
            t: self.t,
            v: f64::from_bits(self.v),
        }))
    }

    #[inline]
    fn read_dod(&mut self) -> Result<i64, ChunkError> {
        let err = |e| corrupt(e, "timestamp");
        // Count leading 1 bits of the prefix, up to 4.
        let mut ones = 0;
        while ones < 4 && self.r.read_bit().map_err(err)? {
            ones += 1;
        }
        let bits = match ones {
            0 => return Ok(0),
            1 => 14,
            2 => 17,
            3 => 20,
            _ => 64,
        };
        let raw = self.r.read_bits(bits).map_err(err)?;
        // Sign-extend the `bits`-bit two's complement value.
        Ok(((raw << (64 - bits)) as i64) >> (64 - bits))
    }

    #[inline]
    fn read_xor(&mut self) -> Result<(), ChunkError> {
        let err = |e| corrupt(e, "value");
        if !self.r.read_bit().map_err(err)? {
            return Ok(());
        }
        if self.r.read_bit().map_err(err)? {
            let at = self.r.byte_offset();
            self.leading = self.r.read_bits(5).map_err(err)? as u32;
            let mut sig = self.r.read_bits(6).map_err(err)? as u32;
            if sig == 0 {
                sig = 64;
            }
            if self.leading + sig > 64 {
                return Err(ChunkError {
                    offset: at + HEADER_LEN,
                    reason: format!(
                        "value window of {} leading + {sig} bits exceeds 64",
                        self.leading
                    ),
                });
            }
            self.trailing = 64 - self.leading - sig;
            self.window = true;
        } else if !self.window {
            return Err(ChunkError {
                offset: self.r.byte_offset() + HEADER_LEN,
                reason: "value reuses a window before one was set".into(),
            });
        }
        let sig = 64 - self.leading - self.trailing;
        let bits = self.r.read_bits(sig).map_err(err)?;
        self.v ^= bits << self.trailing;
        Ok(())
    }
}
