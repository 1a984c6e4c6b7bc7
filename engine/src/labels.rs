//! Label sets and label matchers.

use std::fmt;

use regex::Regex;

use crate::error::{Error, LabelError, Result};

/// The label that holds a series' metric name.
pub const METRIC_NAME: &str = "__name__";

/// One `name="value"` pair.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Label {
    /// The label name, `[a-zA-Z_][a-zA-Z0-9_]*`.
    pub name: String,
    /// The label value, any UTF-8.
    pub value: String,
}

impl Label {
    /// A label `name="value"`.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Label {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// Limits a label set must respect; the defaults are VictoriaMetrics'.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LabelLimits {
    /// Maximum number of labels in one set (`__name__` included).
    pub max_labels: usize,
    /// Maximum length of a label name in bytes.
    pub max_name_len: usize,
    /// Maximum length of a label value in bytes.
    pub max_value_len: usize,
}

impl LabelLimits {
    /// Checks the number of labels and the length of every name and value.
    ///
    /// # Errors
    /// [`LabelError::TooMany`], [`LabelError::NameTooLong`] or
    /// [`LabelError::ValueTooLong`] for the first limit exceeded.
    pub fn check(&self, labels: &[Label]) -> std::result::Result<(), LabelError> {
        if labels.len() > self.max_labels {
            return Err(LabelError::TooMany {
                count: labels.len(),
                limit: self.max_labels,
            });
        }
        for l in labels {
            if l.name.len() > self.max_name_len {
                return Err(LabelError::NameTooLong {
                    name: truncated(&l.name),
                    len: l.name.len(),
                    limit: self.max_name_len,
                });
            }
            if l.value.len() > self.max_value_len {
                return Err(LabelError::ValueTooLong {
                    name: l.name.clone(),
                    len: l.value.len(),
                    limit: self.max_value_len,
                });
            }
        }
        Ok(())
    }

    /// Checks one label as a parser reads it, before the rest of its set is
    /// known: the `count`-th label (1-based, `__name__` included) named
    /// `name` with a value of `value_len` bytes. Parsers call it per label,
    /// so a line with 100,000 labels stops at the first one over the limit.
    ///
    /// # Errors
    /// [`LabelError::MoreThan`], [`LabelError::NameTooLong`] or
    /// [`LabelError::ValueTooLong`] for the first limit exceeded.
    pub fn check_one(
        &self,
        count: usize,
        name: &str,
        value_len: usize,
    ) -> std::result::Result<(), LabelError> {
        if count > self.max_labels {
            return Err(LabelError::MoreThan {
                limit: self.max_labels,
            });
        }
        if name.len() > self.max_name_len {
            return Err(LabelError::NameTooLong {
                name: truncated(name),
                len: name.len(),
                limit: self.max_name_len,
            });
        }
        if value_len > self.max_value_len {
            return Err(LabelError::ValueTooLong {
                name: truncated(name),
                len: value_len,
                limit: self.max_value_len,
            });
        }
        Ok(())
    }
}

impl Default for LabelLimits {
    fn default() -> Self {
        LabelLimits {
            max_labels: 40,
            max_name_len: 256,
            max_value_len: 4096,
        }
    }
}

/// A series' identity: labels sorted by name, no duplicate names, no empty values.
///
/// Labels with an empty value are dropped on construction, as in Prometheus,
/// where `foo=""` means the same as no `foo` label.
///
/// ```
/// use strata_engine::Labels;
/// let l = Labels::from_pairs(&[("job", "node"), ("__name__", "up")])?;
/// assert_eq!(l.to_string(), r#"{__name__="up", job="node"}"#);
/// assert_eq!(l.metric_name(), Some("up"));
/// # Ok::<(), strata_engine::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Labels(Vec<Label>);

impl Labels {
    /// Builds a validated label set with the default [`LabelLimits`].
    ///
    /// # Errors
    /// [`Error::InvalidLabels`] naming the first problem found.
    pub fn new(labels: Vec<Label>) -> Result<Self> {
        Self::with_limits(labels, &LabelLimits::default())
    }

    /// Builds a validated label set from `(name, value)` pairs.
    ///
    /// # Errors
    /// As [`Labels::new`].
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Result<Self> {
        Self::new(pairs.iter().map(|(n, v)| Label::new(*n, *v)).collect())
    }

    /// Builds a validated label set, checking `limits`.
    ///
    /// # Errors
    /// [`Error::InvalidLabels`] for an empty set, a bad or duplicate name, or
    /// a limit exceeded.
    pub fn with_limits(mut labels: Vec<Label>, limits: &LabelLimits) -> Result<Self> {
        labels.retain(|l| !l.value.is_empty());
        if labels.is_empty() {
            return Err(LabelError::Empty.into());
        }
        labels.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        for (i, l) in labels.iter().enumerate() {
            validate_name(&l.name)?;
            if i > 0 && labels[i - 1].name == l.name {
                return Err(LabelError::DuplicateName(l.name.clone()).into());
            }
        }
        limits.check(&labels)?;
        Ok(Labels(labels))
    }

    /// Wraps labels known to be sorted, unique and valid (built by the
    /// engine from data it validated before). Checked only in debug builds.
    pub(crate) fn from_sorted_pairs(labels: Vec<Label>) -> Self {
        debug_assert!(labels.windows(2).all(|w| w[0].name < w[1].name));
        Labels(labels)
    }

    /// The labels of a key built by [`with_key`] from valid labels.
    pub(crate) fn from_key(key: &[u8]) -> Labels {
        Labels::from_sorted_pairs(key_pairs(key).map(|(n, v)| Label::new(n, v)).collect())
    }

    /// The value of label `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|l| l.name.as_str().cmp(name))
            .ok()
            .map(|i| self.0[i].value.as_str())
    }

    /// The metric name (`__name__`), if present.
    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    /// The labels in name order.
    pub fn iter(&self) -> std::slice::Iter<'_, Label> {
        self.0.iter()
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True for the empty set (only [`Labels::default`] builds one).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The labels as a slice, in name order.
    pub fn as_slice(&self) -> &[Label] {
        &self.0
    }

    /// A stable 64-bit hash of the label set: XXH64 over names and values,
    /// each followed by 0xff (which cannot occur in UTF-8) — the same value as
    /// Prometheus' `labels.Hash()`.
    pub fn stable_hash(&self) -> u64 {
        hash_pairs(self.byte_pairs())
    }

    /// (name, value) as bytes, in name order: what [`with_key`] takes.
    pub(crate) fn byte_pairs(&self) -> impl Iterator<Item = (&[u8], &[u8])> + Clone {
        self.0
            .iter()
            .map(|l| (l.name.as_bytes(), l.value.as_bytes()))
    }
}

/// [`Labels::stable_hash`] of label pairs given in name order (for lookups
/// from borrowed input without building a [`Labels`]).
pub(crate) fn hash_pairs<'a>(pairs: impl Iterator<Item = (&'a [u8], &'a [u8])> + Clone) -> u64 {
    with_key(pairs, |key| crate::hash::xxh64(key, 0))
}

/// Calls `f` with the series key of label pairs given in name order:
/// `name 0xff value 0xff ...`, the bytes Prometheus' `labels.Hash()`
/// hashes (0xff cannot occur in UTF-8, so the key splits back unambiguously).
/// Built on the stack for usual label sets.
pub(crate) fn with_key<'a, R>(
    pairs: impl Iterator<Item = (&'a [u8], &'a [u8])> + Clone,
    f: impl FnOnce(&[u8]) -> R,
) -> R {
    let len: usize = pairs.clone().map(|(n, v)| n.len() + v.len() + 2).sum();
    let mut stack = [0u8; 512];
    let mut heap = Vec::new();
    let buf: &mut [u8] = if len <= stack.len() {
        stack.get_mut(..len).unwrap_or_default()
    } else {
        heap.resize(len, 0);
        &mut heap
    };
    let mut at = 0;
    for (name, value) in pairs {
        for part in [name, value] {
            if let Some(dst) = buf.get_mut(at..at + part.len()) {
                dst.copy_from_slice(part);
            }
            at += part.len();
            if let Some(sep) = buf.get_mut(at) {
                *sep = 0xff;
            }
            at += 1;
        }
    }
    f(buf)
}

/// The (name, value) pairs of a key built by [`with_key`] from UTF-8 labels.
pub(crate) fn key_pairs(key: &[u8]) -> impl Iterator<Item = (&str, &str)> {
    let mut from = 0;
    let mut parts = memchr::memchr_iter(0xff, key).map(move |end| {
        let part = key.get(from..end).unwrap_or_default();
        from = end + 1;
        std::str::from_utf8(part).unwrap_or_default()
    });
    std::iter::from_fn(move || {
        let name = parts.next().filter(|n| !n.is_empty())?;
        Some((name, parts.next()?))
    })
}

/// Orders two keys built by [`with_key`] as their [`Labels`] order (pair
/// by pair, name then value), without splitting them: up to the first
/// differing byte both keys agree; there a 0xff (one name or value ended
/// first, so it is the smaller string) sorts first, and any other two
/// bytes compare as the strings do.
pub(crate) fn cmp_keys(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    // Skip the common prefix eight bytes at a time.
    let mut same = 0;
    for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        if x != y {
            break;
        }
        same += 8;
    }
    let (a, b) = (
        a.get(same..).unwrap_or_default(),
        b.get(same..).unwrap_or_default(),
    );
    match a.iter().zip(b).find(|(x, y)| x != y) {
        Some((0xff, _)) => Ordering::Less,
        Some((_, 0xff)) => Ordering::Greater,
        Some((x, y)) => x.cmp(y),
        None => a.len().cmp(&b.len()),
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = &'a Label;
    type IntoIter = std::slice::Iter<'a, Label>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Prints `{a="1", b="2"}`, values escaped as Go's `%q` would.
impl fmt::Display for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, l) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}={:?}", l.name, l.value)?;
        }
        f.write_str("}")
    }
}

fn truncated(s: &str) -> String {
    s.char_indices()
        .take_while(|(i, _)| *i < 64)
        .map(|(_, c)| c)
        .collect()
}

/// Checks a label name against `[a-zA-Z_][a-zA-Z0-9_]*`.
///
/// # Errors
/// [`LabelError::EmptyName`] or [`LabelError::InvalidName`].
pub fn validate_name(name: &str) -> std::result::Result<(), LabelError> {
    let mut bytes = name.bytes();
    match bytes.next() {
        None => return Err(LabelError::EmptyName),
        Some(b) if b.is_ascii_alphabetic() || b == b'_' => {}
        Some(_) => return Err(LabelError::InvalidName(truncated(name))),
    }
    if bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        Ok(())
    } else {
        Err(LabelError::InvalidName(truncated(name)))
    }
}

/// The four matcher kinds of PromQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchType {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~`, fully anchored
    Regex,
    /// `!~`, fully anchored
    NotRegex,
}

impl fmt::Display for MatchType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MatchType::Equal => "=",
            MatchType::NotEqual => "!=",
            MatchType::Regex => "=~",
            MatchType::NotRegex => "!~",
        })
    }
}

/// A condition on one label, as in `{job=~"node|api"}`.
///
/// A series without the label is treated as having it with the empty value,
/// so a matcher that matches `""` also selects series lacking the label.
///
/// ```
/// use strata_engine::{Matcher, MatchType};
/// let m = Matcher::new(MatchType::Regex, "job", "no.*")?;
/// assert!(m.matches("node"));
/// assert!(!m.matches("a-node")); // anchored at both ends
/// # Ok::<(), strata_engine::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Matcher {
    /// The label name.
    pub name: String,
    /// The kind of comparison.
    pub kind: MatchType,
    /// The value or regular expression as written.
    pub value: String,
    regex: Option<Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.kind == other.kind && self.value == other.value
    }
}

impl Eq for Matcher {}

impl Matcher {
    /// A matcher of `kind` on label `name`; regexes are compiled anchored as
    /// `^(?s:value)$`, as Prometheus does.
    ///
    /// # Errors
    /// [`Error::InvalidRegex`] when the expression does not compile.
    pub fn new(kind: MatchType, name: impl Into<String>, value: impl Into<String>) -> Result<Self> {
        let name = name.into();
        let value = value.into();
        let regex = match kind {
            MatchType::Regex | MatchType::NotRegex => Some(
                Regex::new(&format!("^(?s:{value})$")).map_err(|e| Error::InvalidRegex {
                    label: name.clone(),
                    regex: value.clone(),
                    reason: e.to_string(),
                })?,
            ),
            MatchType::Equal | MatchType::NotEqual => None,
        };
        Ok(Matcher {
            name,
            kind,
            value,
            regex,
        })
    }

    /// Shorthand for an `=` matcher.
    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Self {
        Matcher {
            name: name.into(),
            kind: MatchType::Equal,
            value: value.into(),
            regex: None,
        }
    }

    /// True when a label value `value` (empty for a missing label) satisfies the matcher.
    pub fn matches(&self, value: &str) -> bool {
        match (self.kind, &self.regex) {
            (MatchType::Equal, _) => value == self.value,
            (MatchType::NotEqual, _) => value != self.value,
            (MatchType::Regex, Some(re)) => re.is_match(value),
            (MatchType::NotRegex, Some(re)) => !re.is_match(value),
            (MatchType::Regex | MatchType::NotRegex, None) => false,
        }
    }

    /// True when the matcher accepts a series that lacks the label.
    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }

    /// True when `labels` satisfies the matcher.
    pub fn matches_labels(&self, labels: &Labels) -> bool {
        self.matches(labels.get(&self.name).unwrap_or(""))
    }

    /// For a regex of literal alternatives (`a|b|c`), the alternatives; lets
    /// the index look them up directly instead of scanning all values.
    pub fn set_matches(&self) -> Option<Vec<String>> {
        if self.kind != MatchType::Regex {
            return None;
        }
        let special = |c: char| "\\.+*?()[]{}^$".contains(c);
        if self.value.is_empty() || self.value.chars().any(special) {
            return None;
        }
        Some(self.value.split('|').map(str::to_owned).collect())
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{:?}", self.name, self.kind, self.value)
    }
}

/// True when `labels` satisfies every matcher.
pub fn matches_all(matchers: &[Matcher], labels: &Labels) -> bool {
    matchers.iter().all(|m| m.matches_labels(labels))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn keys_split_back_into_their_pairs(
            pairs in proptest::collection::btree_map("[a-zA-Z_][a-zA-Z0-9_]{0,8}", "\\PC{1,8}", 0..8)
        ) {
            let pairs: Vec<(&str, &str)> = pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
            let bytes = pairs.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes()));
            let back: Vec<(String, String)> = with_key(bytes.clone(), |k| {
                key_pairs(k).map(|(n, v)| (n.to_owned(), v.to_owned())).collect()
            });
            let want: Vec<(String, String)> = pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
            prop_assert_eq!(back, want);
            // The key is what the hash covers.
            prop_assert_eq!(with_key(bytes.clone(), |k| crate::hash::xxh64(k, 0)), hash_pairs(bytes));
        }

        #[test]
        fn keys_order_as_labels_do(
            // Long shared prefixes too, past the 8-byte steps of `cmp_keys`.
            a in proptest::collection::btree_map("a|ab|b|a_|instance_name|instance_name_x", "|x|xy|y|0123456789abcdef|0123456789abcdeg|0123456789abcdefg", 1..4),
            b in proptest::collection::btree_map("a|ab|b|a_|instance_name|instance_name_x", "|x|xy|y|0123456789abcdef|0123456789abcdeg|0123456789abcdefg", 1..4),
        ) {
            let labels = |m: &std::collections::BTreeMap<String, String>| {
                Labels::from_sorted_pairs(m.iter().filter(|(_, v)| !v.is_empty()).map(|(n, v)| Label::new(n, v)).collect())
            };
            let key = |l: &Labels| with_key(l.byte_pairs(), |k: &[u8]| k.to_vec());
            let (la, lb) = (labels(&a), labels(&b));
            let (ka, kb) = (key(&la), key(&lb));
            prop_assert_eq!(key_pairs(&ka).cmp(key_pairs(&kb)), la.cmp(&lb));
            prop_assert_eq!(cmp_keys(&ka, &kb), la.cmp(&lb));
            prop_assert_eq!(cmp_keys(&kb, &ka), lb.cmp(&la));
            prop_assert_eq!(Labels::from_key(&ka), la);
        }
    }

    #[test]
    fn labels_are_sorted_and_empty_values_dropped() {
        let l = Labels::from_pairs(&[("b", "2"), ("a", "1"), ("c", "")]).unwrap();
        let names: Vec<_> = l.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(l.get("c"), None);
    }

    #[test]
    fn label_errors_name_the_problem() {
        let cases: &[(&[(&str, &str)], LabelError)] = &[
            (&[], LabelError::Empty),
            (&[("a", "")], LabelError::Empty),
            (&[("", "x")], LabelError::EmptyName),
            (&[("1a", "x")], LabelError::InvalidName("1a".into())),
            (&[("a-b", "x")], LabelError::InvalidName("a-b".into())),
            (
                &[("a", "1"), ("a", "2")],
                LabelError::DuplicateName("a".into()),
            ),
        ];
        for (pairs, want) in cases {
            match Labels::from_pairs(pairs) {
                Err(Error::InvalidLabels(got)) => assert_eq!(&got, want, "{pairs:?}"),
                other => panic!("{pairs:?}: expected {want:?}, got {other:?}"),
            }
        }
    }

    #[test]
    fn limits_are_enforced() {
        let limits = LabelLimits {
            max_labels: 2,
            max_name_len: 3,
            max_value_len: 4,
        };
        let mk = |p: &[(&str, &str)]| {
            Labels::with_limits(p.iter().map(|(n, v)| Label::new(*n, *v)).collect(), &limits)
        };
        assert!(mk(&[("abc", "1234")]).is_ok());
        assert!(matches!(
            mk(&[("abcd", "1")]),
            Err(Error::InvalidLabels(LabelError::NameTooLong {
                len: 4,
                limit: 3,
                ..
            }))
        ));
        assert!(matches!(
            mk(&[("a", "12345")]),
            Err(Error::InvalidLabels(LabelError::ValueTooLong {
                len: 5,
                limit: 4,
                ..
            }))
        ));
        assert!(matches!(
            mk(&[("a", "1"), ("b", "1"), ("c", "1")]),
            Err(Error::InvalidLabels(LabelError::TooMany {
                count: 3,
                limit: 2
            }))
        ));
    }

    #[test]
    fn matchers_follow_prometheus() {
        let re = Matcher::new(MatchType::Regex, "a", "fo+").unwrap();
        assert!(re.matches("foo"));
        assert!(!re.matches("xfoo"));
        assert!(!re.matches("foox"));
        assert!(!re.matches(""));
        // (?s): dot matches newline
        assert!(
            Matcher::new(MatchType::Regex, "a", "a.b")
                .unwrap()
                .matches("a\nb")
        );
        let nre = Matcher::new(MatchType::NotRegex, "a", "fo+").unwrap();
        assert!(nre.matches("") && !nre.matches("foo"));
        assert!(Matcher::equal("a", "").matches_empty());
        assert!(
            Matcher::new(MatchType::NotEqual, "a", "x")
                .unwrap()
                .matches_empty()
        );
        assert!(
            Matcher::new(MatchType::Regex, "a", ".*")
                .unwrap()
                .matches_empty()
        );
        assert!(
            !Matcher::new(MatchType::Regex, "a", ".+")
                .unwrap()
                .matches_empty()
        );
        let l = Labels::from_pairs(&[("job", "node")]).unwrap();
        assert!(Matcher::equal("instance", "").matches_labels(&l));
        assert!(!Matcher::equal("job", "").matches_labels(&l));
    }

    #[test]
    fn bad_regex_is_a_typed_error() {
        let err = Matcher::new(MatchType::Regex, "job", "(").unwrap_err();
        assert!(matches!(err, Error::InvalidRegex { ref label, .. } if label == "job"));
        assert!(err.is_bad_input());
    }

    #[test]
    fn set_matches_only_for_literal_alternations() {
        let m = Matcher::new(MatchType::Regex, "a", "x|y|zz").unwrap();
        assert_eq!(m.set_matches().unwrap(), ["x", "y", "zz"]);
        assert!(
            Matcher::new(MatchType::Regex, "a", "x.*")
                .unwrap()
                .set_matches()
                .is_none()
        );
    }
}
