//! Writing: the [`Appender`] batch, its checks (label limits, retention,
//! future timestamps) and its commit (WAL first, then the head).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::Inner;
use crate::error::{Error, LabelError, Result};
use crate::head::MemSeries;
use crate::labels::{Label, Labels};
use crate::series_ref::SeriesRef;
use crate::wal::{Record, RefSample, SeriesRecord};

/// A batch of samples to store; see [`Storage::appender`](crate::Storage::appender).
///
/// Each [`Appender::append`] checks its sample at once and returns a typed
/// error for a bad one, which is then left out; the rest of the batch is
/// stored by [`Appender::commit`].
#[derive(Debug)]
pub struct Appender<'a> {
    inner: &'a Arc<Inner>,
    /// Oldest timestamp the retention accepts, read once per batch.
    oldest: i64,
    /// The clock when the batch began; samples later than
    /// `now + max_future_ms` are refused.
    now: i64,
    existing: Vec<(Arc<MemSeries>, i64, f64)>,
    new: Vec<(Labels, i64, f64)>,
}

impl<'a> Appender<'a> {
    /// An empty batch; the clock is read once, for the whole batch.
    pub(super) fn new(inner: &'a Arc<Inner>) -> Appender<'a> {
        let now = inner.opts.clock.now_ms();
        let oldest = now.saturating_sub(inner.opts.retention_ms);
        Appender {
            inner,
            oldest,
            now,
            existing: Vec::new(),
            new: Vec::new(),
        }
    }

    /// Adds a sample to the batch.
    ///
    /// # Errors
    /// [`Error::InvalidLabels`] when `labels` break the storage's
    /// [`crate::LabelLimits`] or are empty; [`Error::OutOfBounds`] when `t`
    /// is older than the retention period allows; [`Error::TooFarInFuture`]
    /// when `t` is more than [`Options::max_future_ms`](crate::Options::max_future_ms) ahead of the
    /// storage's clock. The sample is not added.
    pub fn append(&mut self, labels: &Labels, t: i64, v: f64) -> Result<()> {
        check_limits(labels, &self.inner.opts.label_limits)?;
        if t < self.oldest {
            return Err(Error::OutOfBounds {
                series: labels.to_string(),
                t,
                reason: "older than the retention period",
            });
        }
        if t > self.newest() {
            return Err(self.too_far_in_future(labels.to_string(), t));
        }
        match self.inner.head.get(labels) {
            Some(series) => self.existing.push((series, t, v)),
            None => self.new.push((labels.clone(), t, v)),
        }
        Ok(())
    }

    /// Adds samples of the series with these label pairs, borrowed from the
    /// request (no allocation when the series exists): `pairs` as received,
    /// any order. An existing series is found by its labels alone; a new
    /// one is validated as [`Labels::with_limits`] does, so the outcome is
    /// that of [`Appender::append`] with the same labels.
    ///
    /// # Errors
    /// As [`Appender::append`]; no sample of the series is added then.
    pub fn append_pairs(
        &mut self,
        pairs: &mut [(&str, &str)],
        samples: &[(i64, f64)],
    ) -> Result<()> {
        self.append_bytes(pairs, samples)
    }

    /// [`Appender::append_pairs`] for label pairs as raw bytes from the wire:
    /// they are checked for UTF-8 only when no series has exactly these
    /// bytes (an existing series' labels are valid UTF-8, so equal bytes
    /// are too), which keeps validation off the path of known series.
    ///
    /// # Errors
    /// As [`Appender::append`], and [`LabelError::NotUtf8`] for a name or
    /// value that is not UTF-8; no sample of the series is added then.
    pub fn append_raw(
        &mut self,
        pairs: &mut [(&[u8], &[u8])],
        samples: &[(i64, f64)],
    ) -> Result<()> {
        self.append_bytes(pairs, samples)
    }

    fn append_bytes<N: AsRef<[u8]>, V: AsRef<[u8]>>(
        &mut self,
        pairs: &mut [(N, V)],
        samples: &[(i64, f64)],
    ) -> Result<()> {
        // Byte order of UTF-8 is code point order, so this is name order.
        if !pairs.is_sorted_by(|a, b| a.0.as_ref() <= b.0.as_ref()) {
            pairs.sort_unstable_by(|a, b| a.0.as_ref().cmp(b.0.as_ref()));
        }
        let newest = self.newest();
        if let Some(&(t, _)) = samples
            .iter()
            .find(|(t, _)| *t < self.oldest || *t > newest)
        {
            let labels: Vec<String> = pairs
                .iter()
                .map(|(n, v)| {
                    let (n, v) = (n.as_ref(), v.as_ref());
                    format!(
                        "{}={:?}",
                        String::from_utf8_lossy(n),
                        String::from_utf8_lossy(v)
                    )
                })
                .collect();
            let series = format!("{{{}}}", labels.join(", "));
            if t > newest {
                return Err(self.too_far_in_future(series, t));
            }
            return Err(Error::OutOfBounds {
                series,
                t,
                reason: "older than the retention period",
            });
        }
        if let Some(series) = self.inner.head.get_raw(pairs) {
            self.existing.reserve(samples.len());
            for &(t, v) in samples {
                self.existing.push((series.clone(), t, v));
            }
            return Ok(());
        }
        let mut owned = Vec::with_capacity(pairs.len());
        for (n, v) in pairs.iter() {
            let name = std::str::from_utf8(n.as_ref()).map_err(|_| LabelError::NotUtf8("name"))?;
            let value =
                std::str::from_utf8(v.as_ref()).map_err(|_| LabelError::NotUtf8("value"))?;
            owned.push(Label::new(name, value));
        }
        // Limits and retention are checked: the series is created (or,
        // when dropping empty values made it a known one, found) at commit.
        let labels = Labels::with_limits(owned, &self.inner.opts.label_limits)?;
        self.new
            .extend(samples.iter().map(|&(t, v)| (labels.clone(), t, v)));
        Ok(())
    }

    /// Newest timestamp accepted: the clock plus the allowed lead.
    fn newest(&self) -> i64 {
        self.now.saturating_add(self.inner.opts.max_future_ms)
    }

    fn too_far_in_future(&self, series: String, t: i64) -> Error {
        Error::TooFarInFuture {
            series,
            t,
            now: self.now,
            max_future_ms: self.inner.opts.max_future_ms,
        }
    }

    /// Number of samples in the batch.
    pub fn len(&self) -> usize {
        self.existing.len() + self.new.len()
    }

    /// True when the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stores the batch: WAL first (one write for new series, one for the
    /// samples), then the head. When it returns `Ok`, the samples survive a
    /// crash of the process (and, with `FsyncPolicy::Always`, of the machine).
    ///
    /// # Errors
    /// [`Error::Closed`] or a WAL write failure; nothing of the batch is
    /// visible then.
    pub fn commit(self) -> Result<()> {
        let inner = self.inner;
        let _gate = inner.gate.read();
        if inner.closed.load(Ordering::SeqCst) {
            return Err(Error::Closed);
        }
        let mut batch: Vec<(Arc<MemSeries>, i64, f64)> = self.existing;
        let mut refound = Vec::new();
        // A head cut may have dropped a series since `append` found it.
        if batch.iter().any(|(s, _, _)| s.is_dropped()) {
            batch.retain(|(s, t, v)| {
                let dropped = s.is_dropped();
                if dropped {
                    refound.push((s.labels(), *t, *v));
                }
                !dropped
            });
        }
        refound.extend(self.new);
        if !refound.is_empty() {
            let labels: Vec<Labels> = refound.iter().map(|(l, _, _)| l.clone()).collect();
            let series = inner
                .head
                .get_or_create(&labels, |new| inner.log_new_series(new))?;
            batch.extend(
                series
                    .into_iter()
                    .zip(refound)
                    .map(|(s, (_, t, v))| (s, t, v)),
            );
        }
        if batch.is_empty() {
            return Ok(());
        }
        let samples: Vec<RefSample> = batch
            .iter()
            .map(|(s, t, v)| RefSample {
                series_ref: s.series_ref,
                t: *t,
                v: *v,
            })
            .collect();
        inner.with_wal(|w| w.log(&[Record::Samples(samples)]))?;
        inner
            .head
            .append_batch(batch.iter().map(|(s, t, v)| (&**s, *t, *v)));
        inner
            .stats
            .samples_appended
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

fn check_limits(labels: &Labels, limits: &crate::LabelLimits) -> Result<()> {
    if labels.is_empty() {
        return Err(LabelError::Empty.into());
    }
    Ok(limits.check(labels.as_slice())?)
}

impl Inner {
    pub(super) fn log_new_series(&self, new: &[(SeriesRef, &Labels)]) -> Result<()> {
        let records = new
            .iter()
            .map(|&(series_ref, labels)| SeriesRecord {
                series_ref,
                labels: labels.clone(),
            })
            .collect();
        self.with_wal(|w| w.log(&[Record::Series(records)]))
    }
}
