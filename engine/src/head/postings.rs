//! In-memory postings of the head: label pair -> sorted series refs; each
//! distinct name, and each distinct value of a name, is stored once.

use std::collections::HashMap;
use std::sync::Arc;

use crate::index::postings;

/// label name -> label value -> sorted refs.
#[derive(Debug, Default)]
pub(crate) struct MemPostings {
    by_name: HashMap<Arc<str>, HashMap<Arc<str>, Vec<u64>>>,
    all: Vec<u64>,
}

impl MemPostings {
    pub(crate) fn add<'a>(
        &mut self,
        series_ref: u64,
        labels: impl Iterator<Item = (&'a str, &'a str)>,
    ) {
        for (n, v) in labels {
            if !self.by_name.contains_key(n) {
                self.by_name.insert(Arc::from(n), HashMap::new());
            }
            let Some(values) = self.by_name.get_mut(n) else {
                continue;
            };
            match values.get_mut(v) {
                Some(list) => postings::insert(list, series_ref),
                None => {
                    values.insert(Arc::from(v), vec![series_ref]);
                }
            }
        }
        postings::insert(&mut self.all, series_ref);
    }

    pub(crate) fn remove<'a>(
        &mut self,
        series_ref: u64,
        labels: impl Iterator<Item = (&'a str, &'a str)>,
    ) {
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
