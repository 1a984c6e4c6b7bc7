//! Sorted lists of series ids ("postings") and the set algebra on them.
//!
//! A postings list is a strictly increasing `Vec` of ids. The head's ids are
//! [`crate::SeriesRef`]s, a block's are [`crate::index::BlockSeriesId`]s (where
//! the series is in its index file); the two must never mix, so the algebra
//! is generic over the id type instead of working on bare `u64`s. Both are
//! `Copy + Ord` newtypes over a `u64`: the functions are monomorphized per
//! id type and compile to what they would on `u64`, with no conversion per
//! element.

/// Ids common to `a` and `b`.
pub fn intersect<T: Copy + Ord>(a: &[T], b: &[T]) -> Vec<T> {
    // Gallop through the longer list when sizes differ a lot.
    let (small, large) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    let mut out = Vec::with_capacity(small.len());
    if small.len() * 16 < large.len() {
        let mut rest = large;
        for &x in small {
            match rest.binary_search(&x) {
                Ok(i) => {
                    out.push(x);
                    rest = &rest[i + 1..];
                }
                Err(i) => rest = &rest[i..],
            }
        }
        return out;
    }
    let (mut i, mut j) = (0, 0);
    while i < small.len() && j < large.len() {
        match small[i].cmp(&large[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(small[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

/// Ids in `a` that are not in `b`.
pub fn without<T: Copy + Ord>(a: &[T], b: &[T]) -> Vec<T> {
    let mut out = Vec::with_capacity(a.len());
    let mut j = 0;
    for &x in a {
        while j < b.len() && b[j] < x {
            j += 1;
        }
        if j >= b.len() || b[j] != x {
            out.push(x);
        }
    }
    out
}

/// Ids in any of `lists`, sorted and without repeats.
pub fn union<T: Copy + Ord>(lists: Vec<Vec<T>>) -> Vec<T> {
    match lists.len() {
        0 => Vec::new(),
        1 => lists.into_iter().next().unwrap_or_default(),
        _ => {
            let mut all: Vec<T> = lists.into_iter().flatten().collect();
            all.sort_unstable();
            all.dedup();
            all
        }
    }
}

/// Inserts `id` into a sorted list, keeping it sorted and free of repeats.
pub fn insert<T: Copy + Ord>(list: &mut Vec<T>, id: T) {
    match list.last() {
        Some(&last) if last < id => list.push(id),
        None => list.push(id),
        _ => {
            if let Err(i) = list.binary_search(&id) {
                list.insert(i, id);
            }
        }
    }
}

/// Removes `id` from a sorted list if present.
pub fn remove<T: Copy + Ord>(list: &mut Vec<T>, id: T) {
    if let Ok(i) = list.binary_search(&id) {
        list.remove(i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn sorted() -> impl Strategy<Value = Vec<u64>> {
        proptest::collection::btree_set(0u64..200, 0..80).prop_map(|s| s.into_iter().collect())
    }

    proptest! {
        #[test]
        fn algebra_matches_btreeset(a in sorted(), b in sorted(), c in sorted(), x in 0u64..200) {
            let (sa, sb, sc): (BTreeSet<_>, BTreeSet<_>, BTreeSet<_>) =
                (a.iter().copied().collect(), b.iter().copied().collect(), c.iter().copied().collect());
            prop_assert_eq!(intersect(&a, &b), sa.intersection(&sb).copied().collect::<Vec<_>>());
            prop_assert_eq!(without(&a, &b), sa.difference(&sb).copied().collect::<Vec<_>>());
            let u: BTreeSet<u64> = sa.union(&sb).copied().collect::<BTreeSet<_>>().union(&sc).copied().collect();
            prop_assert_eq!(union(vec![a.clone(), b.clone(), c.clone()]), u.into_iter().collect::<Vec<_>>());
            let mut ins = a.clone();
            insert(&mut ins, x);
            let mut s = sa.clone();
            s.insert(x);
            prop_assert_eq!(&ins, &s.iter().copied().collect::<Vec<_>>());
            remove(&mut ins, x);
            s.remove(&x);
            prop_assert_eq!(ins, s.into_iter().collect::<Vec<_>>());
        }

        #[test]
        fn galloping_intersection_matches(a in proptest::collection::btree_set(0u64..5000, 0..4),
                                          b in proptest::collection::btree_set(0u64..5000, 100..400)) {
            let (va, vb): (Vec<_>, Vec<_>) = (a.iter().copied().collect(), b.iter().copied().collect());
            prop_assert_eq!(intersect(&va, &vb), a.intersection(&b).copied().collect::<Vec<_>>());
        }
    }
}
