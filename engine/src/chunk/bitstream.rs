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
    pub(crate) fn with_prefix(prefix: &[u8]) -> Self {
        BitWriter {
            bytes: prefix.to_vec(),
            used: 0,
        }
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
    pub(crate) fn write_bits(&mut self, v: u64, mut n: u32) {
        debug_assert!(n <= 64);
        while n > 0 {
            if self.used == 0 {
                self.bytes.push(0);
            }
            let free = 8 - u32::from(self.used);
            let take = free.min(n);
            // The `take` bits of v just below bit n.
            let chunk = ((v >> (n - take)) & ((1u64 << take) - 1)) as u8;
            if let Some(last) = self.bytes.last_mut() {
                *last |= chunk << (free - take);
            }
            self.used = ((u32::from(self.used) + take) % 8) as u8;
            n -= take;
        }
    }
}

/// Reads bits from a byte slice; reading past the end is an error.
#[derive(Debug, Clone)]
pub(crate) struct BitReader<'a> {
    bytes: &'a [u8],
    /// Position in bits from the start of `bytes`.
    pos: usize,
}

/// Reading ran past the end of the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EndOfData {
    /// Byte offset where the read started.
    pub(crate) offset: usize,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        BitReader { bytes, pos: 0 }
    }

    /// Byte offset of the current position.
    pub(crate) fn byte_offset(&self) -> usize {
        self.pos / 8
    }

    #[inline]
    pub(crate) fn read_bit(&mut self) -> Result<bool, EndOfData> {
        let byte = *self.bytes.get(self.pos / 8).ok_or(EndOfData {
            offset: self.pos / 8,
        })?;
        let bit = byte & (0x80 >> (self.pos % 8)) != 0;
        self.pos += 1;
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
            let hi = self.read_bits(n - 32)?;
            let lo = self.read_bits(32)?;
            return Ok((hi << 32) | lo);
        }
        let end = self.pos + n as usize;
        if end > self.bytes.len() * 8 {
            return Err(EndOfData {
                offset: self.pos / 8,
            });
        }
        // Load 8 bytes starting at the current byte (zero padded at the end).
        let start = self.pos / 8;
        let mut word = [0u8; 8];
        let avail = self.bytes.get(start..).unwrap_or(&[]);
        for (w, b) in word.iter_mut().zip(avail) {
            *w = *b;
        }
        let w = u64::from_be_bytes(word);
        let shift = 64 - (self.pos % 8) as u32 - n;
        self.pos = end;
        Ok((w >> shift) & (u64::MAX >> (64 - n)))
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
