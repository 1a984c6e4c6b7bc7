//! The in-memory head: recent samples of every active series, appended to
//! by many threads at once.
//!
//! Series live in sharded maps (by label hash for appends, by ref for WAL
//! replay), each series behind its own mutex, so appends to different series
//! never contend on a global lock. Postings are updated only when a series
//! is created or dropped.

mod postings;
mod series;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use parking_lot::{Mutex, RwLock};

use crate::Result;
use crate::hash::xxh64;
use crate::index::{PostingsSource, postings_for_matchers};
use crate::labels::{Labels, Matcher, key_pairs, with_key};
use crate::series_ref::SeriesRef;

use postings::MemPostings;
use series::SeriesData;
pub(crate) use series::{HeadChunk, SeriesSnapshot};

const SHARDS: usize = 64;

/// One series of the head.
#[derive(Debug)]
pub(crate) struct MemSeries {
    pub(crate) series_ref: SeriesRef,
    /// [`Labels::stable_hash`] of the labels: the key in the head's table.
    hash: u64,
    /// The labels as `name 0xff value 0xff ...` (see `labels::with_key`):
    /// one allocation, compared with a lookup's key in one go.
    key: Box<[u8]>,
    data: Mutex<SeriesData>,
    /// Set when a head cut drops the series; appenders holding it look the
    /// labels up again.
    dropped: std::sync::atomic::AtomicBool,
}

impl MemSeries {
    /// The series' labels as a public [`Labels`].
    pub(crate) fn labels(&self) -> Labels {
        Labels::from_key(&self.key)
    }

    /// The label pairs in name order.
    pub(crate) fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        key_pairs(&self.key)
    }

    /// The series' labels as `name 0xff value 0xff ...` bytes.
    pub(crate) fn key(&self) -> &[u8] {
        &self.key
    }

    /// Orders series as their [`Labels`] order (pair by pair), without
    /// building them.
    pub(crate) fn cmp_labels(&self, other: &MemSeries) -> std::cmp::Ordering {
        crate::labels::cmp_keys(&self.key, &other.key)
    }

    /// True when the series' labels satisfy every matcher.
    pub(crate) fn matches_all(&self, matchers: &[Matcher]) -> bool {
        matchers.iter().all(|m| {
            let value = self
                .pairs()
                .find(|(n, _)| *n == m.name)
                .map_or("", |(_, v)| v);
            m.matches(value)
        })
    }

    /// True once a head cut removed the series from the head.
    pub(crate) fn is_dropped(&self) -> bool {
        self.dropped.load(Ordering::Acquire)
    }
}

/// Hasher for maps keyed by values that are already well mixed (label
/// hashes) or sequential (refs, mixed here): SipHash would cost more than the
/// lookup itself.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct U64Hasher(u64);

impl std::hash::Hasher for U64Hasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn write_u64(&mut self, v: u64) {
        // A different mixer from `shard_of`, so keys of one shard still
        // differ in the top bits the map uses for its tags.
        let x = (v ^ (v >> 31)).wrapping_mul(0xd6e8_feb8_6659_fd93);
        self.0 = x ^ (x >> 32);
    }
}

type RefMap<V> = HashMap<SeriesRef, V, std::hash::BuildHasherDefault<U64Hasher>>;
/// Series by label hash (each series holds its hash): one pointer per
/// series, so a lookup touches the table slot and then the series itself.
type HashShard = hashbrown::HashTable<Arc<MemSeries>>;

/// The table's hash of a label hash (the shard took the top bits already).
fn table_hash(hash: u64) -> u64 {
    use std::hash::Hasher;
    let mut h = U64Hasher::default();
    h.write_u64(hash);
    h.finish()
}
/// Series ref -> series.
type RefShard = RefMap<Arc<MemSeries>>;

/// The head.
#[derive(Debug)]
pub(crate) struct Head {
    by_hash: Box<[RwLock<HashShard>]>,
    by_ref: Box<[RwLock<RefShard>]>,
    postings: RwLock<MemPostings>,
    /// Serialises series creation so a series' WAL record is written before
    /// any other writer can see (and log samples for) the series.
    creation: Mutex<()>,
    /// Extra refs of series, met in WAL replay (see `create_with_ref`):
    /// alias -> the series' own ref.
    aliases: RwLock<HashMap<SeriesRef, SeriesRef>>,
    next_ref: AtomicU64,
    /// Block range in ms: head chunks are cut at its multiples.
    range: i64,
    min_t: AtomicI64,
    max_t: AtomicI64,
    num_series: AtomicU64,
    out_of_order_samples: AtomicU64,
}

fn shard_of(key: u64) -> usize {
    // Mix the bits: refs are sequential, hashes are already mixed.
    (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 58) as usize % SHARDS
}

impl Head {
    /// An empty head cutting chunks at multiples of `range` ms.
    pub(crate) fn new(range: i64) -> Head {
        Head {
            by_hash: (0..SHARDS).map(|_| RwLock::default()).collect(),
            by_ref: (0..SHARDS).map(|_| RwLock::default()).collect(),
            postings: RwLock::default(),
            creation: Mutex::new(()),
            aliases: RwLock::default(),
            next_ref: AtomicU64::new(1),
            range,
            min_t: AtomicI64::new(i64::MAX),
            max_t: AtomicI64::new(i64::MIN),
            num_series: AtomicU64::new(0),
            out_of_order_samples: AtomicU64::new(0),
        }
    }

    /// The series with these labels, if it exists.
    pub(crate) fn get(&self, labels: &Labels) -> Option<Arc<MemSeries>> {
        with_key(labels.byte_pairs(), |key| self.find_key(key))
    }

    /// The series whose labels are exactly these pairs (in name order, byte
    /// for byte), if any. Input that is not UTF-8 never matches.
    pub(crate) fn get_raw<N: AsRef<[u8]>, V: AsRef<[u8]>>(
        &self,
        pairs: &[(N, V)],
    ) -> Option<Arc<MemSeries>> {
        with_key(pairs.iter().map(|(n, v)| (n.as_ref(), v.as_ref())), |key| {
            self.find_key(key)
        })
    }

    /// The series whose key (see `labels::with_key`) is `key`.
    fn find_key(&self, key: &[u8]) -> Option<Arc<MemSeries>> {
        let hash = xxh64(key, 0);
        self.by_hash[shard_of(hash)]
            .read()
            .find(table_hash(hash), |s| s.hash == hash && *s.key == *key)
            .cloned()
    }

    /// The series with ref `series_ref`, if it exists.
    pub(crate) fn get_by_ref(&self, series_ref: SeriesRef) -> Option<Arc<MemSeries>> {
        if let Some(s) = self.by_ref[shard_of(series_ref.0)].read().get(&series_ref) {
            return Some(s.clone());
        }
        let canonical = *self.aliases.read().get(&series_ref)?;
        self.by_ref[shard_of(canonical.0)]
            .read()
            .get(&canonical)
            .cloned()
    }

    /// Creates the series missing among `wanted`, calling `log` with the new
    /// (ref, labels) pairs *before* they become visible to other writers.
    /// Returns one series per entry of `wanted`, in order.
    pub(crate) fn get_or_create(
        &self,
        wanted: &[Labels],
        log: impl FnOnce(&[(SeriesRef, &Labels)]) -> Result<()>,
    ) -> Result<Vec<Arc<MemSeries>>> {
        let _guard = self.creation.lock();
        let mut found: Vec<Option<Arc<MemSeries>>> = wanted.iter().map(|l| self.get(l)).collect();
        // Assign refs to the missing ones (a batch may name a series twice).
        let mut new: Vec<(SeriesRef, &Labels)> = Vec::new();
        let mut new_index: HashMap<&Labels, SeriesRef> = HashMap::new();
        for (i, l) in wanted.iter().enumerate() {
            if found[i].is_none() && !new_index.contains_key(l) {
                let r = SeriesRef(self.next_ref.fetch_add(1, Ordering::Relaxed));
                new.push((r, l));
                new_index.insert(l, r);
            }
        }
        if !new.is_empty() {
            log(&new)?;
            for &(r, l) in &new {
                self.insert_series(r, l);
            }
        }
        for (i, l) in wanted.iter().enumerate() {
            if found[i].is_none() {
                found[i] = self.get(l);
            }
        }
        Ok(found.into_iter().flatten().collect())
    }

    /// Creates a series with a known ref (WAL replay); returns the existing
    /// one when the labels are already present.
    ///
    /// The same labels can come with a second ref: a head cut dropped the
    /// series and it was re-created under a new ref before the cut's
    /// checkpoint. The second ref then becomes an alias of the first, so
    /// the samples logged under either reach the series; and refs are never
    /// handed out again, even when only an alias used them.
    pub(crate) fn create_with_ref(&self, series_ref: SeriesRef, labels: &Labels) -> Arc<MemSeries> {
        let _guard = self.creation.lock();
        self.next_ref
            .fetch_max(series_ref.0.saturating_add(1), Ordering::Relaxed);
        if let Some(s) = self.get(labels) {
            if s.series_ref != series_ref {
                self.aliases.write().insert(series_ref, s.series_ref);
            }
            return s;
        }
        self.aliases.write().remove(&series_ref);
        self.insert_series(series_ref, labels)
    }

    fn insert_series(&self, series_ref: SeriesRef, labels: &Labels) -> Arc<MemSeries> {
        let key: Box<[u8]> = with_key(labels.byte_pairs(), |k: &[u8]| Box::<[u8]>::from(k));
        let hash = xxh64(&key, 0);
        let series = Arc::new(MemSeries {
            series_ref,
            hash,
            key,
            data: Mutex::new(SeriesData::default()),
            dropped: std::sync::atomic::AtomicBool::new(false),
        });
        self.postings.write().add(series_ref, series.pairs());
        self.by_ref[shard_of(series_ref.0)]
            .write()
            .insert(series_ref, series.clone());
        self.by_hash[shard_of(hash)]
            .write()
            .insert_unique(table_hash(hash), series.clone(), |s| table_hash(s.hash));
        self.num_series.fetch_add(1, Ordering::Relaxed);
        series
    }

    /// Appends one sample to `series`.
    pub(crate) fn append(&self, series: &MemSeries, t: i64, v: f64) {
        self.append_batch(std::iter::once((series, t, v)));
    }

    /// Appends samples; the head's time range and counters are updated once
    /// per batch, not per sample (they are shared by all writers).
    pub(crate) fn append_batch<'a>(
        &self,
        samples: impl IntoIterator<Item = (&'a MemSeries, i64, f64)>,
    ) {
        let (mut lo, mut hi, mut ooo) = (i64::MAX, i64::MIN, 0u64);
        for (series, t, v) in samples {
            if series.data.lock().append(t, v, self.range) {
                ooo += 1;
            }
            lo = lo.min(t);
            hi = hi.max(t);
        }
        if ooo > 0 {
            self.out_of_order_samples.fetch_add(ooo, Ordering::Relaxed);
        }
        if lo <= hi {
            if lo < self.min_t.load(Ordering::Relaxed) {
                self.min_t.fetch_min(lo, Ordering::Relaxed);
            }
            if hi > self.max_t.load(Ordering::Relaxed) {
                self.max_t.fetch_max(hi, Ordering::Relaxed);
            }
        }
    }

    /// Removes samples in `[mint, maxt]` from `series`; returns how many.
    pub(crate) fn delete(&self, series: &MemSeries, mint: i64, maxt: i64) -> usize {
        series.data.lock().delete(mint, maxt, self.range)
    }

    /// Oldest and newest timestamps appended (conservative: `min_t` may be
    /// older than the oldest sample still held). None when empty.
    pub(crate) fn time_range(&self) -> Option<(i64, i64)> {
        let (lo, hi) = (
            self.min_t.load(Ordering::Relaxed),
            self.max_t.load(Ordering::Relaxed),
        );
        (lo <= hi).then_some((lo, hi))
    }

    /// Number of series.
    pub(crate) fn num_series(&self) -> u64 {
        self.num_series.load(Ordering::Relaxed)
    }

    /// Chunks held by all series (closed and open); walks every series.
    pub(crate) fn num_chunks(&self) -> u64 {
        self.by_ref
            .iter()
            .map(|shard| {
                shard
                    .read()
                    .values()
                    .map(|s| s.data.lock().num_chunks())
                    .sum::<u64>()
            })
            .sum()
    }

    /// Samples that arrived out of order since start.
    pub(crate) fn out_of_order_samples(&self) -> u64 {
        self.out_of_order_samples.load(Ordering::Relaxed)
    }

    /// Series matching `matchers`, sorted by ref.
    pub(crate) fn select(&self, matchers: &[Matcher]) -> Result<Vec<Arc<MemSeries>>> {
        let refs = postings_for_matchers(self, matchers)?;
        Ok(refs
            .into_iter()
            .filter_map(|r| self.get_by_ref(r))
            .collect())
    }

    /// A snapshot of `series` in `[mint, maxt]`.
    pub(crate) fn snapshot(&self, series: &MemSeries, mint: i64, maxt: i64) -> SeriesSnapshot {
        series.data.lock().snapshot(mint, maxt)
    }

    /// Every series, in ref order.
    pub(crate) fn all_series(&self) -> Vec<Arc<MemSeries>> {
        let mut all: Vec<Arc<MemSeries>> = self
            .by_ref
            .iter()
            .flat_map(|s| s.read().values().cloned().collect::<Vec<_>>())
            .collect();
        all.sort_by_key(|s| s.series_ref);
        all
    }

    /// Moves every sample older than `cut` out of the head, series by
    /// series, then drops series left empty. The caller must keep writers
    /// out while this runs (the storage's append gate).
    pub(crate) fn take_before(&self, cut: i64) -> Vec<(Arc<MemSeries>, SeriesSnapshot)> {
        let mut out = Vec::new();
        let mut emptied = Vec::new();
        for series in self.all_series() {
            let mut data = series.data.lock();
            let taken = data.take_before(cut);
            if data.is_empty() {
                emptied.push(series.clone());
            }
            drop(data);
            if !taken.is_empty() {
                out.push((series.clone(), taken));
            }
        }
        self.drop_all(&emptied);
        let new_min = self
            .all_series()
            .iter()
            .filter_map(|s| s.data.lock().min_t())
            .min()
            .unwrap_or(i64::MAX);
        self.min_t.store(new_min, Ordering::Relaxed);
        if new_min == i64::MAX {
            self.max_t.store(i64::MIN, Ordering::Relaxed);
        }
        out
    }

    /// The ref aliases (`alias -> canonical ref`): WAL refs of series
    /// records that met a series already known under another ref.
    pub(crate) fn aliases(&self) -> Vec<(SeriesRef, SeriesRef)> {
        self.aliases.read().iter().map(|(&a, &c)| (a, c)).collect()
    }

    /// Makes `alias` name the series `canonical` again (unless `alias` is
    /// a series' own ref).
    pub(crate) fn add_alias(&self, alias: SeriesRef, canonical: SeriesRef) {
        let _guard = self.creation.lock();
        if alias != canonical && !self.by_ref[shard_of(alias.0)].read().contains_key(&alias) {
            self.aliases.write().insert(alias, canonical);
        }
    }

    /// Removes these series from the head (maps, aliases, postings).
    fn drop_all(&self, gone: &[Arc<MemSeries>]) {
        if gone.is_empty() {
            return;
        }
        let mut refs: Vec<SeriesRef> = gone.iter().map(|s| s.series_ref).collect();
        refs.sort_unstable();
        {
            let mut aliases = self.aliases.write();
            if !aliases.is_empty() {
                aliases.retain(|_, canonical| refs.binary_search(canonical).is_err());
            }
        }
        for series in gone {
            series.dropped.store(true, Ordering::Release);
            let r = series.series_ref;
            self.by_ref[shard_of(r.0)].write().remove(&r);
            let hash = series.hash;
            if let Ok(entry) = self.by_hash[shard_of(hash)]
                .write()
                .find_entry(table_hash(hash), |s| s.series_ref == r)
            {
                entry.remove();
            }
        }
        for shard in &self.by_ref {
            let mut shard = shard.write();
            if shard.len() < shard.capacity() / 4 {
                shard.shrink_to_fit();
            }
        }
        for shard in &self.by_hash {
            let mut shard = shard.write();
            if shard.len() < shard.capacity() / 4 {
                shard.shrink_to_fit(|s| table_hash(s.hash));
            }
        }
        {
            let mut postings = self.postings.write();
            // A few series: remove them where they are; many: one sweep.
            if gone.len() < 64 {
                for series in gone {
                    postings.remove(series.series_ref, series.pairs());
                }
            } else {
                postings.remove_all(&refs);
            }
        }
        self.num_series
            .fetch_sub(gone.len() as u64, Ordering::Relaxed);
    }

    /// Sorted label names of the series matching `matchers` (all series when empty).
    pub(crate) fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>> {
        let mut names = if matchers.is_empty() {
            self.postings.read().names()
        } else {
            let mut names: Vec<String> = self
                .select(matchers)?
                .iter()
                .flat_map(|s| s.pairs().map(|(n, _)| n.to_string()).collect::<Vec<_>>())
                .collect();
            names.dedup();
            names
        };
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// Sorted values of label `name` among the series matching `matchers`.
    pub(crate) fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>> {
        let mut values = if matchers.is_empty() {
            self.postings.read().values(name)
        } else {
            self.select(matchers)?
                .iter()
                .filter_map(|s| {
                    s.pairs()
                        .find(|(n, _)| *n == name)
                        .map(|(_, v)| v.to_string())
                })
                .collect()
        };
        values.sort();
        values.dedup();
        Ok(values)
    }

    /// (name, value, series count) for every label pair in the head.
    pub(crate) fn pair_counts(&self) -> Vec<(String, String, usize)> {
        self.postings
            .read()
            .pair_counts()
            .map(|(n, v, c)| (n.to_owned(), v.to_owned(), c))
            .collect()
    }
}

impl PostingsSource for Head {
    type Id = SeriesRef;

    fn postings(&self, name: &str, value: &str) -> Result<Vec<SeriesRef>> {
        Ok(self.postings.read().get(name, value))
    }

    fn label_values(&self, name: &str) -> Result<Vec<String>> {
        Ok(self.postings.read().values(name))
    }

    fn all_postings(&self) -> Result<Vec<SeriesRef>> {
        Ok(self.postings.read().all())
    }
}
