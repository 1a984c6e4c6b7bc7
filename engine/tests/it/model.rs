//! Random operations against the storage and a BTreeMap model (last write
//! wins), including flushes, compactions, deletions and reopening.

use std::collections::BTreeMap;

use proptest::prelude::*;
use strata_engine::{Labels, Matcher, Querier, Storage};

use crate::common::{NOW, dump, series, test_options};

#[derive(Debug, Clone)]
enum Op {
    Append(Vec<(usize, i64, u64)>),
    Flush,
    Maintain,
    Compact,
    Delete(usize, i64, i64),
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    let t = 0i64..60_000;
    prop_oneof![
        6 => proptest::collection::vec((0usize..6, t.clone(), prop_oneof![any::<u64>(), (0u64..5).prop_map(|x| (x as f64).to_bits())]), 1..40)
            .prop_map(Op::Append),
        1 => Just(Op::Flush),
        1 => Just(Op::Maintain),
        1 => Just(Op::Compact),
        1 => (0usize..6, t.clone(), 0i64..20_000).prop_map(|(s, lo, len)| Op::Delete(s, lo, lo + len)),
        1 => Just(Op::Reopen),
    ]
}

type Model = BTreeMap<Labels, BTreeMap<i64, u64>>;

fn check(storage: &Storage, model: &Model) {
    let got = dump(storage);
    let want: Model = model
        .iter()
        .filter(|(_, m)| !m.is_empty())
        .map(|(l, m)| (l.clone(), m.clone()))
        .collect();
    assert_eq!(got, want);
    // A window that cuts through chunks: bulk reads and the iterator agree
    // with the model.
    let (lo, hi) = (NOW + 13_333, NOW + 41_111);
    let all = [Matcher::new(strata_engine::MatchType::Regex, "__name__", ".+").unwrap()];
    for s in storage.querier().select(&all, lo, hi).unwrap() {
        let bulk: Vec<(i64, u64)> = s
            .samples()
            .unwrap()
            .iter()
            .map(|x| (x.t, x.v.to_bits()))
            .collect();
        let iter: Vec<(i64, u64)> = s
            .iter()
            .map(|x| x.map(|x| (x.t, x.v.to_bits())))
            .collect::<Result<_, _>>()
            .unwrap();
        let model: Vec<(i64, u64)> = model
            .get(s.labels())
            .map(|m| m.range(lo..=hi).map(|(t, v)| (*t, *v)).collect())
            .unwrap_or_default();
        assert_eq!(bulk, model, "{}", s.labels());
        assert_eq!(iter, model, "{}", s.labels());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn storage_matches_model(ops in proptest::collection::vec(op(), 1..25)) {
        let dir = tempfile::tempdir().unwrap();
        let (opts, _clock) = test_options();
        let mut storage = Some(Storage::open(dir.path(), opts.clone()).unwrap());
        let mut model: Model = BTreeMap::new();
        for op in ops {
            let s = storage.as_ref().unwrap();
            match op {
                Op::Append(samples) => {
                    let mut app = s.appender();
                    for (i, t, bits) in samples {
                        app.append(&series(i), NOW + t, f64::from_bits(bits)).unwrap();
                        model.entry(series(i)).or_default().insert(NOW + t, bits);
                    }
                    app.commit().unwrap();
                }
                Op::Flush => s.flush().unwrap(),
                Op::Maintain => s.maintain().unwrap(),
                Op::Compact => s.compact().unwrap(),
                Op::Delete(i, lo, hi) => {
                    let l = series(i);
                    let matchers = [Matcher::equal("s", l.get("s").unwrap())];
                    s.delete(&matchers, NOW + lo, NOW + hi).unwrap();
                    if let Some(m) = model.get_mut(&l) {
                        m.retain(|t, _| *t < NOW + lo || *t > NOW + hi);
                    }
                }
                Op::Reopen => {
                    storage.take().unwrap().close().unwrap();
                    storage = Some(Storage::open(dir.path(), opts.clone()).unwrap());
                    prop_assert!(storage.as_ref().unwrap().open_report().damage.is_empty(),
                        "{:?}", storage.as_ref().unwrap().open_report().damage);
                }
            }
            check(storage.as_ref().unwrap(), &model);
        }
    }
}
