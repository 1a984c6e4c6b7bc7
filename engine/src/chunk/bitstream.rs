//! Bit-level writing and reading, most significant bit first.

/// Appends bits to a byte vector.
#[derive(Debug, Clone, Default)]
pub(crate) struct BitWriter {
    bytes: Vec<u8>,
    /// Bits used in the last byte (0 means the last byte is full or there is none).
    used: u8,
}

impl BitWriter {
    /// A writer whose output starts with `prefix` (byte aligned).
    pub(crate) fn with_prefix(prefix: &[u8], capacity: usize) -> Self {
        let mut bytes = Vec::with_capacity(capacity.max(prefix.len()));
        bytes.extend_from_slice(prefix);
        BitWriter { bytes, used: 0 }
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.bytes
    }

    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    pub(crate) fn capacity(&self) -> usize {
        self.bytes.capacity()
    }

    #[inline]
    pub(crate) fn write_bit(&mut self, bit: bool) {
        if self.used == 0 {
            self.bytes.push(0);
        }
        if bit && let Some(last) = self.bytes.last_mut() {
            *last |= 0x80 >> self.used;
        }
        self.used = (self.used + 1) % 8;
    }

    /// Writes the low `n` bits of `v` (n <= 64), most significant first.
    #[inline]
    pub(crate) fn write_bits(&mut self, v: u64, n: u32) {
        debug_assert!(n <= 64);
        if n == 0 {
            return;
        }
        // Left-align the n bits.
        let mut bits = v << (64 - n);
        let mut n = n;
        if self.used != 0 {
            // Fill the free low bits of the last byte first.
            let free = 8 - u32::from(self.used);
            let take = free.min(n);
            if let Some(last) = self.bytes.last_mut() {
                *last |= ((bits >> 56) as u8) >> self.used;
            }
            self.used = ((u32::from(self.used) + take) % 8) as u8;
            n -= take;
            if n == 0 {
                return;
            }
            bits <<= take;
        }
        // Byte aligned: append the rest at once.
        let whole = n.div_ceil(8) as usize;
        self.bytes
            .extend_from_slice(bits.to_be_bytes().get(..whole).unwrap_or(&[]));
        self.used = (n % 8) as u8;
    }
}

/// Reads bits from a byte slice; reading past the end is an error.
///
/// Bits are consumed from a 64-bit window refilled eight bytes at a time,
/// so most reads are a shift and a mask.
#[derive(Debug, Clone)]
pub(crate) struct BitReader<'a> {
    bytes: &'a [u8],
    /// Next byte of `bytes` not yet in the window.
    next: usize,
    /// The window: unread bits left-aligned, the rest zero.
    window: u64,
    /// Unread bits in the window.
    avail: u32,
}

/// Reading ran past the end of the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EndOfData {
    /// Byte offset where the read started.
    pub(crate) offset: usize,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        BitReader {
            bytes,
            next: 0,
            window: 0,
            avail: 0,
        }
    }

    /// Byte offset of the current position.
    pub(crate) fn byte_offset(&self) -> usize {
        (self.next * 8 - self.avail as usize) / 8
    }

    fn end(&self) -> EndOfData {
        EndOfData {
            offset: self.byte_offset(),
        }
    }

    /// Tops the window up to at least 57 bits when the data allows.
    #[inline]
    fn refill(&mut self) {
        if let Some(chunk) = self.bytes.get(self.next..self.next + 8) {
            let mut w = [0u8; 8];
            w.copy_from_slice(chunk);
            let word = u64::from_be_bytes(w);
            // avail < 64 here (callers refill only when short).
            self.window |= word >> self.avail;
            let take = (63 - self.avail) / 8;
            self.next += take as usize;
            self.avail += take * 8;
        } else {
            while self.avail <= 56 {
                let Some(&b) = self.bytes.get(self.next) else {
                    break;
                };
                self.window |= u64::from(b) << (56 - self.avail);
                self.next += 1;
                self.avail += 8;
            }
        }
    }

    #[inline]
    pub(crate) fn read_bit(&mut self) -> Result<bool, EndOfData> {
        if self.avail == 0 {
            self.refill();
            if self.avail == 0 {
                return Err(self.end());
            }
        }
        let bit = self.window >> 63 == 1;
        self.window <<= 1;
        self.avail -= 1;
        Ok(bit)
    }

    /// Reads `n` bits (n <= 64) as the low bits of a u64.
    #[inline]
    pub(crate) fn read_bits(&mut self, n: u32) -> Result<u64, EndOfData> {
        debug_assert!(n <= 64);
        if n == 0 {
            return Ok(0);
        }
        if n > 56 {
            return self.read_wide(n);
        }
        self.read_short(n)
    }

    /// [`Self::read_bits`] of more than 56 bits, in two reads (rare: only
    /// full 64-bit values).
    #[cold]
    #[inline(never)]
    fn read_wide(&mut self, n: u32) -> Result<u64, EndOfData> {
        let hi = self.read_short(n - 32)?;
        let lo = self.read_short(32)?;
        Ok((hi << 32) | lo)
    }

    /// [`Self::read_bits`] of 1 to 56 bits: one refill at most.
    #[inline(always)]
    fn read_short(&mut self, n: u32) -> Result<u64, EndOfData> {
        if self.avail < n {
            self.refill();
            if self.avail < n {
                return Err(self.end());
            }
        }
        let v = self.window >> (64 - n);
        self.window <<= n;
        self.avail -= n;
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn bits_round_trip(fields in proptest::collection::vec((any::<u64>(), 0u32..=64), 0..64)) {
            let mut w = BitWriter::default();
            for &(v, n) in &fields {
                w.write_bits(v, n);
                w.write_bit(n % 2 == 0);
            }
            let bytes = w.into_bytes();
            let mut r = BitReader::new(&bytes);
            for &(v, n) in &fields {
                let mask = if n == 64 { u64::MAX } else { (1u64 << n) - 1 };
                prop_assert_eq!(r.read_bits(n).unwrap(), v & mask);
                prop_assert_eq!(r.read_bit().unwrap(), n % 2 == 0);
            }
        }
    }

    #[test]
    fn reading_past_the_end_is_an_error() {
        let mut r = BitReader::new(&[0xff]);
        assert_eq!(r.read_bits(8).unwrap(), 0xff);
        assert!(r.read_bit().is_err());
        assert!(BitReader::new(&[1, 2]).read_bits(17).is_err());
    }
}
