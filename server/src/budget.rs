//! The memory budget request bodies share (`--max-ingest-memory-bytes`):
//! a [`MemoryBudget`] hands out [`Reservation`]s, which give their bytes
//! back when dropped. No HTTP here, so the decoders and the decompressor
//! can take a reservation without depending on the handlers.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Default `--max-ingest-memory-bytes`: 128 MiB.
pub const DEFAULT_MAX_INGEST_MEMORY_BYTES: usize = 128 << 20;

/// Bytes that request bodies may hold at once, shared by every request.
#[derive(Debug, Clone)]
pub struct MemoryBudget {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    limit: usize,
    used: AtomicUsize,
}

/// Why a reservation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BudgetError {
    /// Other requests hold too much of the budget now; retrying later can
    /// succeed.
    #[error(
        "request bodies in flight hold {in_use} of {limit} bytes (--max-ingest-memory-bytes); this request needs {requested} more; retry later"
    )]
    Exhausted {
        /// Bytes asked for.
        requested: usize,
        /// Bytes held by all requests when it was refused.
        in_use: usize,
        /// The budget.
        limit: usize,
    },
    /// The request alone needs more than the whole budget: it can never
    /// succeed.
    #[error(
        "request needs {requested} bytes for its body, more than the whole budget of {limit} bytes (--max-ingest-memory-bytes)"
    )]
    Exceeds {
        /// Bytes the request would hold in all.
        requested: usize,
        /// The budget.
        limit: usize,
    },
}

impl MemoryBudget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> MemoryBudget {
        MemoryBudget {
            inner: Arc::new(Inner {
                limit,
                used: AtomicUsize::new(0),
            }),
        }
    }

    /// The budget in bytes.
    pub fn limit(&self) -> usize {
        self.inner.limit
    }

    /// Bytes reserved now.
    pub fn in_use(&self) -> usize {
        self.inner.used.load(Ordering::Relaxed)
    }

    /// An empty reservation, to grow with [`Reservation::grow`].
    pub fn reservation(&self) -> Reservation {
        Reservation {
            budget: self.clone(),
            bytes: 0,
        }
    }

    /// Reserves `bytes` at once.
    ///
    /// # Errors
    /// [`BudgetError`] when they do not fit.
    pub fn reserve(&self, bytes: usize) -> Result<Reservation, BudgetError> {
        let mut r = self.reservation();
        r.grow(bytes)?;
        Ok(r)
    }

    fn take(&self, requested: usize, held: usize) -> Result<(), BudgetError> {
        let limit = self.inner.limit;
        if held.saturating_add(requested) > limit {
            return Err(BudgetError::Exceeds {
                requested: held.saturating_add(requested),
                limit,
            });
        }
        self.inner
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(requested).filter(|n| *n <= limit)
            })
            .map(|_| ())
            .map_err(|in_use| BudgetError::Exhausted {
                requested,
                in_use,
                limit,
            })
    }
}

impl Default for MemoryBudget {
    fn default() -> Self {
        MemoryBudget::new(DEFAULT_MAX_INGEST_MEMORY_BYTES)
    }
}

/// Bytes held from a [`MemoryBudget`]; given back when dropped.
#[derive(Debug)]
pub struct Reservation {
    budget: MemoryBudget,
    bytes: usize,
}

impl Reservation {
    /// Reserves `additional` more bytes.
    ///
    /// # Errors
    /// [`BudgetError`] when they do not fit (what is held stays held).
    pub fn grow(&mut self, additional: usize) -> Result<(), BudgetError> {
        if additional == 0 {
            return Ok(());
        }
        self.budget.take(additional, self.bytes)?;
        self.bytes += additional;
        Ok(())
    }

    /// Gives back `bytes` of what is held (at most all of it), for memory
    /// freed before the request ends.
    pub fn release(&mut self, bytes: usize) {
        let bytes = bytes.min(self.bytes);
        self.bytes -= bytes;
        self.budget.inner.used.fetch_sub(bytes, Ordering::AcqRel);
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget
            .inner
            .used
            .fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_add_up_and_are_released_on_drop() {
        let b = MemoryBudget::new(100);
        let a = b.reserve(60).unwrap();
        let mut c = b.reserve(30).unwrap();
        assert_eq!(b.in_use(), 90);
        assert_eq!(
            c.grow(20),
            Err(BudgetError::Exhausted {
                requested: 20,
                in_use: 90,
                limit: 100
            })
        );
        assert_eq!(c.bytes(), 30, "a refused growth keeps what was held");
        c.grow(10).unwrap();
        assert_eq!(b.in_use(), 100);
        c.release(15);
        assert_eq!((c.bytes(), b.in_use()), (25, 85));
        c.grow(15).unwrap();
        drop(a);
        assert_eq!(b.in_use(), 40);
        drop(c);
        assert_eq!(b.in_use(), 0);
    }

    #[test]
    fn a_request_larger_than_the_whole_budget_can_never_fit() {
        let b = MemoryBudget::new(100);
        let mut r = b.reserve(50).unwrap();
        assert_eq!(
            r.grow(51),
            Err(BudgetError::Exceeds {
                requested: 101,
                limit: 100
            })
        );
        assert_eq!(b.in_use(), 50);
        assert!(matches!(
            b.reserve(usize::MAX),
            Err(BudgetError::Exceeds { .. })
        ));
    }

    #[test]
    fn concurrent_reservations_never_exceed_the_budget() {
        let b = MemoryBudget::new(1000);
        let peak = std::sync::Arc::new(AtomicUsize::new(0));
        std::thread::scope(|s| {
            for _ in 0..8 {
                let (b, peak) = (b.clone(), peak.clone());
                s.spawn(move || {
                    for i in 0..2000 {
                        if let Ok(r) = b.reserve(100 + i % 200) {
                            peak.fetch_max(b.in_use(), Ordering::Relaxed);
                            drop(r);
                        }
                    }
                });
            }
        });
        assert!(peak.load(Ordering::Relaxed) <= 1000);
        assert!(peak.load(Ordering::Relaxed) > 0);
        assert_eq!(b.in_use(), 0);
    }
}
