//! A single sample.

/// One sample: a timestamp in milliseconds since the Unix epoch and a value.
///
/// The value is stored bit for bit, NaN payloads included, so Prometheus'
/// staleness marker ([`STALE_NAN`]) survives storage.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Milliseconds since the Unix epoch.
    pub t: i64,
    /// The value.
    pub v: f64,
}

/// Bit pattern of Prometheus' staleness marker, a NaN that means "this series ended".
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// Prometheus' staleness marker as an `f64`.
pub const STALE_NAN: f64 = f64::from_bits(STALE_NAN_BITS);

/// True when `v` is the staleness marker (compared by bits, as any NaN compares unequal).
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

impl Sample {
    /// A sample at `t` with value `v`.
    pub fn new(t: i64, v: f64) -> Self {
        Sample { t, v }
    }
}

/// Samples are equal when their timestamps are equal and their values have
/// the same bits (so a NaN equals the same NaN, and `0.0 != -0.0`).
impl PartialEq for Sample {
    fn eq(&self, other: &Self) -> bool {
        self.t == other.t && self.v.to_bits() == other.v.to_bits()
    }
}

impl Eq for Sample {}
