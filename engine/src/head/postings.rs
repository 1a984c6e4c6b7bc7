//! In-memory postings of the head: label pair -> sorted series refs; each
//! distinct name, and each distinct value of a name, is stored once.

use std::collections::HashMap;
use std::sync::Arc;

use crate::index::postings;
use crate::series_ref::SeriesRef;

/// label name -> label value -> sorted refs.
#[derive(Debug, Default)]
pub(crate) struct MemPostings {
    by_name: HashMap<Arc<str>, HashMap<Arc<str>, Vec<SeriesRef>>>,
    all: Vec<SeriesRef>,
}

impl MemPostings {
    pub(crate) fn add<'a>(
        &mut self,
        series_ref: SeriesRef,
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
        series_ref: SeriesRef,
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

    /// Removes the ids in `gone` (sorted) from every list in one sweep:
    /// linear in the postings, where removing ids one by one from long
    /// lists would shift them once per id.
    pub(crate) fn remove_all(&mut self, gone: &[SeriesRef]) {
        if gone.is_empty() {
            return;
        }
        for values in self.by_name.values_mut() {
            for list in values.values_mut() {
                remove_sorted(list, gone);
            }
            values.retain(|_, list| !list.is_empty());
        }
        self.by_name.retain(|_, values| !values.is_empty());
        remove_sorted(&mut self.all, gone);
    }

    pub(crate) fn get(&self, name: &str, value: &str) -> Vec<SeriesRef> {
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

    pub(crate) fn all(&self) -> Vec<SeriesRef> {
        self.all.clone()
    }

    /// Series count per label pair, per name and (via `__name__`) per metric.
    pub(crate) fn pair_counts(&self) -> impl Iterator<Item = (&str, &str, usize)> {
        self.by_name
            .iter()
            .flat_map(|(n, vals)| vals.iter().map(move |(v, l)| (&**n, &**v, l.len())))
    }
}

/// Drops the ids in `gone` (sorted) from the sorted `list`; gives memory
/// back when the list shrank to a quarter of its capacity.
fn remove_sorted(list: &mut Vec<SeriesRef>, gone: &[SeriesRef]) {
    let mut rest = gone;
    list.retain(|x| {
        rest = rest
            .get(rest.partition_point(|g| g < x)..)
            .unwrap_or_default();
        rest.first() != Some(x)
    });
    if list.len() < list.capacity() / 4 {
        list.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pairs(i: u64) -> Vec<(String, String)> {
        vec![
            ("__name__".into(), format!("m{}", i % 3)),
            ("host".into(), format!("h{}", i % 5)),
            ("id".into(), i.to_string()),
        ]
    }

    fn build(n: u64) -> MemPostings {
        let mut p = MemPostings::default();
        for i in 0..n {
            let l = pairs(i);
            p.add(
                SeriesRef(i),
                l.iter().map(|(a, b)| (a.as_str(), b.as_str())),
            );
        }
        p
    }

    proptest! {
        #[test]
        fn one_sweep_removes_what_one_by_one_removes(n in 1u64..200, gone in proptest::collection::btree_set(0u64..220, 0..200)) {
            let gone: Vec<SeriesRef> = gone.into_iter().filter(|&g| g < n).map(SeriesRef).collect();
            let mut swept = build(n);
            swept.remove_all(&gone);
            let mut single = build(n);
            for &g in &gone {
                let l = pairs(g.0);
                single.remove(g, l.iter().map(|(a, b)| (a.as_str(), b.as_str())));
            }
            prop_assert_eq!(swept.all(), single.all());
            let mut names = swept.names();
            names.sort();
            let mut want = single.names();
            want.sort();
            prop_assert_eq!(&names, &want);
            for name in &names {
                let mut values = swept.values(name);
                values.sort();
                let mut want = single.values(name);
                want.sort();
                prop_assert_eq!(&values, &want);
                for v in &values {
                    prop_assert_eq!(swept.get(name, v), single.get(name, v));
                }
            }
            prop_assert_eq!(swept.all().len() as u64, n - gone.len() as u64);
        }
    }
}
