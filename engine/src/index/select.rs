//! Resolving label matchers to postings, shared by the head and by blocks.
//!
//! Semantics are Prometheus': a series lacking a label is treated as having
//! it with the empty value, so a matcher that matches `""` selects it too.

use crate::Result;
use crate::index::postings;
use crate::labels::{MatchType, Matcher};

/// What an index must answer for [`postings_for_matchers`] to work on it.
///
/// Each index names its series by its own id type ([`PostingsSource::Id`]):
/// the head by [`crate::SeriesRef`], a block by
/// [`crate::index::BlockSeriesId`], so an id of one cannot be looked up in
/// the other.
pub trait PostingsSource {
    /// The id a postings list holds (in the engine, a newtype over a `u64`).
    type Id: Copy + Ord;
    /// Sorted ids of the series with label `name` equal to `value`.
    fn postings(&self, name: &str, value: &str) -> Result<Vec<Self::Id>>;
    /// Every value label `name` takes, in any order.
    fn label_values(&self, name: &str) -> Result<Vec<String>>;
    /// Sorted ids of every series.
    fn all_postings(&self) -> Result<Vec<Self::Id>>;
}

/// Sorted ids of the series that satisfy every matcher.
///
/// # Errors
/// Whatever the source returns (a corrupt index, for a block).
pub fn postings_for_matchers<S: PostingsSource + ?Sized>(
    source: &S,
    matchers: &[Matcher],
) -> Result<Vec<S::Id>> {
    // Matchers that need the label present narrow the set by intersection;
    // those that also accept a missing label can only subtract series.
    let (narrowing, subtracting): (Vec<&Matcher>, Vec<&Matcher>) =
        matchers.iter().partition(|m| !m.matches_empty());
    let mut result: Option<Vec<S::Id>> = None;
    for m in narrowing {
        let ps = matching_postings(source, m)?;
        result = Some(match result {
            None => ps,
            Some(r) => postings::intersect(&r, &ps),
        });
        if result.as_ref().is_some_and(Vec::is_empty) {
            return Ok(Vec::new());
        }
    }
    let mut result = match result {
        Some(r) => r,
        None => source.all_postings()?,
    };
    for m in subtracting {
        let excluded = excluded_postings(source, m)?;
        result = postings::without(&result, &excluded);
    }
    Ok(result)
}

/// Series whose value of `m.name` is present and satisfies `m`.
fn matching_postings<S: PostingsSource + ?Sized>(source: &S, m: &Matcher) -> Result<Vec<S::Id>> {
    if m.kind == MatchType::Equal {
        return source.postings(&m.name, &m.value);
    }
    if let Some(values) = m.set_matches() {
        let lists = values
            .iter()
            .map(|v| source.postings(&m.name, v))
            .collect::<Result<Vec<_>>>()?;
        return Ok(postings::union(lists));
    }
    let lists = source
        .label_values(&m.name)?
        .iter()
        .filter(|v| m.matches(v))
        .map(|v| source.postings(&m.name, v))
        .collect::<Result<Vec<_>>>()?;
    Ok(postings::union(lists))
}

/// For a matcher that accepts the empty value: series that have the label
/// with a value the matcher rejects.
fn excluded_postings<S: PostingsSource + ?Sized>(source: &S, m: &Matcher) -> Result<Vec<S::Id>> {
    if m.kind == MatchType::NotEqual {
        return source.postings(&m.name, &m.value);
    }
    let lists = source
        .label_values(&m.name)?
        .iter()
        .filter(|v| !m.matches(v))
        .map(|v| source.postings(&m.name, v))
        .collect::<Result<Vec<_>>>()?;
    Ok(postings::union(lists))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::{Labels, matches_all};
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    /// A brute-force index over a list of label sets.
    struct Brute(Vec<Labels>);

    impl PostingsSource for Brute {
        type Id = u64;

        fn postings(&self, name: &str, value: &str) -> Result<Vec<u64>> {
            Ok((0..self.0.len() as u64)
                .filter(|&i| self.0[i as usize].get(name) == Some(value))
                .collect())
        }
        fn label_values(&self, name: &str) -> Result<Vec<String>> {
            let mut v: Vec<String> = self
                .0
                .iter()
                .filter_map(|l| l.get(name))
                .map(str::to_owned)
                .collect();
            v.sort();
            v.dedup();
            Ok(v)
        }
        fn all_postings(&self) -> Result<Vec<u64>> {
            Ok((0..self.0.len() as u64).collect())
        }
    }

    fn label_set() -> impl Strategy<Value = Labels> {
        proptest::collection::btree_map(
            prop_oneof![Just("a"), Just("b"), Just("c")],
            prop_oneof![Just("x"), Just("y"), Just("xy"), Just("")],
            0..3,
        )
        .prop_map(|m: BTreeMap<&str, &str>| {
            let mut pairs: Vec<(&str, &str)> = m.into_iter().collect();
            pairs.push(("__name__", "m"));
            Labels::from_pairs(&pairs).unwrap()
        })
    }

    fn matcher() -> impl Strategy<Value = Matcher> {
        (
            prop_oneof![
                Just(MatchType::Equal),
                Just(MatchType::NotEqual),
                Just(MatchType::Regex),
                Just(MatchType::NotRegex)
            ],
            prop_oneof![Just("a"), Just("b"), Just("zz")],
            prop_oneof![
                Just("x"),
                Just(""),
                Just("x|y"),
                Just("x.*"),
                Just(".*"),
                Just(".+")
            ],
        )
            .prop_map(|(k, n, v)| Matcher::new(k, n, v).unwrap())
    }

    proptest! {
        #[test]
        fn agrees_with_filtering_every_series(sets in proptest::collection::vec(label_set(), 0..30),
                                               ms in proptest::collection::vec(matcher(), 1..4)) {
            let idx = Brute(sets.clone());
            let want: Vec<u64> = (0..sets.len() as u64).filter(|&i| matches_all(&ms, &sets[i as usize])).collect();
            prop_assert_eq!(postings_for_matchers(&idx, &ms).unwrap(), want);
        }
    }
}
