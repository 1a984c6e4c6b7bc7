//! In-memory postings of the head: label pair -> sorted series refs, with
//! interned label strings so each distinct name and value is stored once.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::index::postings;
use crate::labels::Labels;

/// Interns strings: equal strings share one allocation.
#[derive(Debug, Default)]
pub(crate) struct Interner(HashSet<Arc<str>>);

impl Interner {
    pub(crate) fn intern(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.0.get(s) {
            return a.clone();
        }
        let a: Arc<str> = Arc::from(s);
        self.0.insert(a.clone());
        a
    }

    /// Drops strings no series uses any more.
    pub(crate) fn purge_unused(&mut self) {
        self.0.retain(|a| Arc::strong_count(a) > 1);
    }
}

/// label name -> label value -> sorted refs.
#[derive(Debug, Default)]
pub(crate) struct MemPostings {
    by_name: HashMap<Arc<str>, HashMap<Arc<str>, Vec<u64>>>,
    all: Vec<u64>,
}

impl MemPostings {
    pub(crate) fn add(&mut self, series_ref: u64, labels: &[(Arc<str>, Arc<str>)]) {
        for (n, v) in labels {
            let values = self.by_name.entry(n.clone()).or_default();
            postings::insert(values.entry(v.clone()).or_default(), series_ref);
        }
        postings::insert(&mut self.all, series_ref);
    }

    pub(crate) fn remove(&mut self, series_ref: u64, labels: &[(Arc<str>, Arc<str>)]) {
        for (n, v) in labels {
            let Some(values) = self.by_name.get_mut(n) else {
                continue;
            };
            if let Some(list) = values.get_mut(v) {
                postings::remove(list, series_ref);
                if list.is_empty() {
                    values.remove(v);
                }
            }
            if values.is_empty() {
                self.by_name.remove(n);
            }
        }
        postings::remove(&mut self.all, series_ref);
    }

    pub(crate) fn get(&self, name: &str, value: &str) -> Vec<u64> {
        self.by_name
            .get(name)
            .and_then(|vals| vals.get(value))
            .cloned()
            .unwrap_or_default()
    }

    pub(crate) fn values(&self, name: &str) -> Vec<String> {
        self.by_name
            .get(name)
            .map(|vals| vals.keys().map(|v| v.to_string()).collect())
            .unwrap_or_default()
    }

    pub(crate) fn names(&self) -> Vec<String> {
        self.by_name.keys().map(|n| n.to_string()).collect()
    }

    pub(crate) fn all(&self) -> Vec<u64> {
        self.all.clone()
    }

    /// Series count per label pair, per name and (via `__name__`) per metric.
    pub(crate) fn pair_counts(&self) -> impl Iterator<Item = (&str, &str, usize)> {
        self.by_name
            .iter()
            .flat_map(|(n, vals)| vals.iter().map(move |(v, l)| (&**n, &**v, l.len())))
    }
}

/// Interns every label of `labels`.
pub(crate) fn intern_labels(
    interner: &mut Interner,
    labels: &Labels,
) -> Box<[(Arc<str>, Arc<str>)]> {
    labels
        .iter()
        .map(|l| (interner.intern(&l.name), interner.intern(&l.value)))
        .collect()
}
