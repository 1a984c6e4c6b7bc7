use std::fs;

use rand::{Rng, SeedableRng};

use super::*;
use crate::index::{PostingsSource, postings_for_matchers};
use crate::labels::Labels;
use crate::labels::{MatchType, Matcher, matches_all};

/// Series with (start time, bytes) chunks.
type TestSeries = Vec<(Labels, Vec<(i64, Vec<u8>)>)>;

fn random_series(n: usize, seed: u64) -> TestSeries {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut out: Vec<_> = (0..n)
        .map(|i| {
            let labels = Labels::from_pairs(&[
                ("__name__", ["a", "b", "c"][i % 3]),
                ("i", &i.to_string()),
                ("k", ["x", "y", "xy", ""][rng.gen_range(0..4)]),
            ])
            .unwrap();
            let chunks = (0..rng.gen_range(1..4))
                .map(|c| {
                    (
                        c as i64 * 1000,
                        (0..rng.gen_range(1..50)).map(|_| rng.r#gen()).collect(),
                    )
                })
                .collect();
            (labels, chunks)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn write(dir: &Path, id: u64, series: &TestSeries) -> BlockMeta {
    let mut w = BlockWriter::create(dir, BlockId(id)).unwrap();
    for (labels, chunks) in series {
        let cs: Vec<ChunkToWrite<'_>> = chunks
            .iter()
            .map(|(t, b)| ChunkToWrite {
                min_t: *t,
                max_t: *t + 999,
                num_samples: 3,
                encoding: 1,
                bytes: b,
            })
            .collect();
        w.add_series(labels, &cs).unwrap();
    }
    w.finish(1, vec![]).unwrap()
}

#[test]
fn round_trip_and_matchers_agree_with_brute_force() {
    let dir = tempfile::tempdir().unwrap();
    // Enough series for several index frames and chunk frames.
    let series = random_series(8000, 1);
    let meta = write(dir.path(), 7, &series);
    assert_eq!(meta.stats.num_series, 8000);
    let b = Block::open(&dir.path().join(BlockId(7).to_string())).unwrap();
    assert_eq!(b.meta(), &meta);
    let ids = b.all_postings().unwrap();
    assert_eq!(ids.len(), series.len());
    let frames: std::collections::BTreeSet<u64> = ids.iter().map(|id| id.frame_offset()).collect();
    assert!(frames.len() > 1, "series entries span several index frames");
    for (id, (labels, chunks)) in ids.iter().zip(&series) {
        let (l, metas) = b.series(*id).unwrap();
        assert_eq!(&l, labels);
        assert_eq!(metas.len(), chunks.len());
        for (m, (t, bytes)) in metas.iter().zip(chunks) {
            assert_eq!((m.min_t, m.max_t, m.num_samples), (*t, *t + 999, 3));
            assert_eq!(&*b.chunk(m).unwrap(), &bytes[..]);
        }
    }
    let matcher_sets = [
        vec![Matcher::equal("__name__", "a")],
        vec![Matcher::new(MatchType::Regex, "k", "x|y").unwrap()],
        vec![Matcher::equal("k", "")],
        vec![
            Matcher::new(MatchType::NotEqual, "k", "x").unwrap(),
            Matcher::equal("__name__", "b"),
        ],
        vec![Matcher::new(MatchType::NotRegex, "i", "1.*").unwrap()],
        vec![Matcher::equal("nope", "1")],
    ];
    for ms in &matcher_sets {
        let got: Vec<Labels> = postings_for_matchers(&b, ms)
            .unwrap()
            .into_iter()
            .map(|id| b.series(id).unwrap().0)
            .collect();
        let want: Vec<Labels> = series
            .iter()
            .map(|s| s.0.clone())
            .filter(|l| matches_all(ms, l))
            .collect();
        assert_eq!(got, want, "{ms:?}");
    }
    assert_eq!(b.label_names().unwrap(), ["__name__", "i", "k"]);
    let mut kv = b.label_values("k").unwrap();
    kv.sort();
    assert_eq!(kv, ["x", "xy", "y"]);
}

#[test]
fn out_of_order_series_are_refused_and_tmp_dirs_invisible() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = BlockWriter::create(dir.path(), BlockId(1)).unwrap();
    let a = Labels::from_pairs(&[("a", "1")]).unwrap();
    let b = Labels::from_pairs(&[("a", "2")]).unwrap();
    w.add_series(&b, &[]).unwrap();
    assert!(w.add_series(&a, &[]).is_err());
    assert!(w.add_series(&b, &[]).is_err());
    drop(w);
    // A writer dropped unfinished removes its directory at once.
    let tmp = dir.path().join(format!("{}{CREATING}", BlockId(1)));
    assert!(!tmp.exists());
    // One left by a crash is not listed, and is removed.
    fs::create_dir_all(tmp.join("chunks")).unwrap();
    assert!(list_blocks(dir.path()).unwrap().is_empty());
    assert!(
        !dir.path()
            .join(format!("{}{CREATING}", BlockId(1)))
            .exists()
    );
    write(dir.path(), 2, &random_series(3, 2));
    let listed = list_blocks(dir.path()).unwrap();
    assert_eq!(listed.iter().map(|b| b.0).collect::<Vec<_>>(), [BlockId(2)]);
    delete_block(&listed[0].1).unwrap();
    assert!(list_blocks(dir.path()).unwrap().is_empty());
}

#[test]
fn damage_is_reported_with_file_and_offset() {
    let pristine = tempfile::tempdir().unwrap();
    write(pristine.path(), 1, &random_series(50, 3));
    let bdir = pristine.path().join(BlockId(1).to_string());
    let index_len = fs::metadata(bdir.join("index")).unwrap().len() as usize;
    let meta_len = fs::metadata(bdir.join("meta")).unwrap().len() as usize;
    // Every byte of index and meta: a flip is detected at open.
    for (file, len) in [("index", index_len), ("meta", meta_len)] {
        for at in (0..len).step_by(7) {
            let work = tempfile::tempdir().unwrap();
            let d = work.path().join("b");
            fs::create_dir_all(d.join("chunks")).unwrap();
            for f in ["index", "meta", "chunks/000001"] {
                fs::copy(bdir.join(f), d.join(f)).unwrap();
            }
            let mut bytes = fs::read(d.join(file)).unwrap();
            bytes[at] ^= 0x01;
            fs::write(d.join(file), &bytes).unwrap();
            match Block::open(&d) {
                Err(Error::Corruption {
                    file: f, offset, ..
                }) => {
                    assert_eq!(f, d.join(file), "flip at {at}");
                    assert!(offset as usize <= len, "offset {offset} beyond {len}");
                }
                other => panic!("{file} flip at {at}: {other:?}"),
            }
            // Truncation too.
            fs::write(d.join(file), &bytes[..at]).unwrap();
            assert!(
                matches!(Block::open(&d), Err(Error::Corruption { .. })),
                "{file} cut at {at}"
            );
        }
    }
    // A flipped chunk byte fails only the chunks of its frame (a block big
    // enough for several frames).
    let big = tempfile::tempdir().unwrap();
    write(big.path(), 1, &random_series(4000, 4));
    let bdir = big.path().join(BlockId(1).to_string());
    let work = tempfile::tempdir().unwrap();
    let d = work.path().join("b");
    fs::create_dir_all(d.join("chunks")).unwrap();
    for f in ["index", "meta", "chunks/000001"] {
        fs::copy(bdir.join(f), d.join(f)).unwrap();
    }
    let b = Block::open(&d).unwrap();
    let all: Vec<ChunkMeta> = b
        .all_postings()
        .unwrap()
        .into_iter()
        .flat_map(|id| b.series(id).unwrap().1)
        .collect();
    drop(b);
    let frame_of = |m: &ChunkMeta| m.chunk_ref.file_offset();
    let victim = all[all.len() / 2];
    let mut bytes = fs::read(d.join("chunks/000001")).unwrap();
    bytes[frame_of(&victim) as usize + 3] ^= 0x80;
    fs::write(d.join("chunks/000001"), &bytes).unwrap();
    let b = Block::open(&d).unwrap();
    let mut failed = 0;
    for m in &all {
        let r = b.chunk(m);
        if frame_of(m) == frame_of(&victim) {
            failed += 1;
            match r {
                Err(Error::Corruption { file, offset, .. }) => {
                    assert_eq!(file, d.join("chunks/000001"));
                    assert_eq!(offset, frame_of(&victim));
                }
                other => panic!("damaged chunk read: {other:?}"),
            }
        } else {
            assert!(r.is_ok());
        }
    }
    assert!(
        failed >= 1 && failed < all.len(),
        "{failed} of {}",
        all.len()
    );
}

#[test]
fn arbitrary_index_and_meta_bytes_never_panic() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..200 {
        let n = rng.gen_range(0..300);
        let bytes: Vec<u8> = (0..n).map(|_| rng.r#gen()).collect();
        fs::write(dir.path().join("index"), &bytes).unwrap();
        fs::write(dir.path().join("meta"), &bytes).unwrap();
        let _ = Block::open(dir.path());
    }
}

/// The files of a block do not depend on how the code types its ids
/// (`ChunkRef`, `BlockSeriesId`): crc32 of each file of a fixed block,
/// recorded from the code before those types existed (several index and
/// chunk frames, so references with non-zero frame offsets are covered).
#[test]
fn block_files_are_byte_for_byte_stable() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), 9, &random_series(3000, 7));
    let b = dir.path().join(BlockId(9).to_string());
    let crc = |p: &str| crate::encoding::crc32(&fs::read(b.join(p)).unwrap());
    let got = (crc("index"), crc("chunks/000001"), crc(meta::FILE));
    assert_eq!(got, (0xd185_b18e, 0xb162_dc30, 0x1b87_5fbc));
}
