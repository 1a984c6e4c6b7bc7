//! The body of every fuzz target, one function per target, shared by the
//! cargo-fuzz binaries (`fuzz_targets/*.rs`, each a one-line wrapper) and
//! by the server's test binary (`server/tests/it/fuzz_regressions.rs`),
//! which replays every file of `fuzz/corpus/<target>/` and
//! `fuzz/regressions/<target>/` through the same function on every
//! `cargo test --workspace`. A check panics only on a bug.
//!
//! Included with `#[path]` by both crates: keep to what both depend on
//! (strata-engine, strata-promql, strata-server, prost, snap, tempfile).
#![allow(dead_code)]

use prost::Message;
use strata_engine::block::Block;
use strata_engine::chunk::{ChunkIter, Encoding, decode_all, encode, encode_cold};
use strata_engine::index::PostingsSource;
use strata_engine::wal::Wal;
use strata_engine::{Label, LabelLimits, Labels, MatchType, Matcher, Sample};
use strata_server::budget::MemoryBudget;
use strata_server::formats::decompress::{
    DecompressError, Encoding as BodyEncoding, decompress, snappy_len,
};
use strata_server::formats::remote_read::decode_request;
use strata_server::formats::{exposition, influx, jsonl, otlp, remote_write, remote_write_v2};

/// A target's check: panics on a bug, returns otherwise.
pub(crate) type Check = fn(&[u8]);

/// Every target: its name (the cargo-fuzz binary and the corpus and
/// regressions directory names) and its check.
pub(crate) const TARGETS: &[(&str, Check)] = &[
    ("promql_parse", promql_parse),
    ("chunk_decode", chunk_decode),
    ("wal_replay", wal_replay),
    ("block_open", block_open),
    ("exposition_parse", exposition_parse),
    ("jsonl_parse", jsonl_parse),
    ("influx_parse", influx_parse),
    ("remote_write_decode", remote_write_decode),
    ("remote_write_v2_decode", remote_write_v2_decode),
    ("remote_read_decode", remote_read_decode),
    ("decompress_bounded", decompress_bounded),
    ("otlp_decode", otlp_decode),
];

/// Arbitrary bytes as a PromQL query: never a panic, and whatever parses
/// prints to text that parses back to the same tree.
pub(crate) fn promql_parse(data: &[u8]) {
    if data.len() > 4096 {
        return;
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(expr) = strata_promql::parse(text) {
        // Accepted trees are within the depth limit every recursive pass
        // (printing, evaluation, drop) relies on (issue 14).
        assert!(!expr.deeper_than(strata_promql::MAX_DEPTH), "{text:?}");
        let printed = expr.to_string();
        let again = strata_promql::parse(&printed)
            .unwrap_or_else(|e| panic!("{printed:?} does not parse: {e}"));
        assert_eq!(again, expr, "{printed:?}");
    }
}

/// Arbitrary bytes as a chunk never panic; and arbitrary samples round-trip.
pub(crate) fn chunk_decode(data: &[u8]) {
    if data.len() > 1 << 16 {
        return;
    }
    for encoding in [Encoding::Xor, Encoding::Decimal] {
        if let Ok(it) = ChunkIter::new(encoding, data) {
            for s in it {
                if s.is_err() {
                    break;
                }
            }
        }
    }
    // Structured: read (delta, value bits) pairs and round-trip them.
    let mut samples = Vec::new();
    let mut t = 0i64;
    for c in data.chunks_exact(12) {
        let delta = u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64 + 1;
        let bits = u64::from_le_bytes([c[4], c[5], c[6], c[7], c[8], c[9], c[10], c[11]]);
        t = match t.checked_add(delta) {
            Some(n) => n,
            None => break,
        };
        samples.push(Sample {
            t,
            v: f64::from_bits(bits),
        });
    }
    let back =
        decode_all(Encoding::Xor, &encode(Encoding::Xor, &samples)).expect("own chunk decodes");
    assert_eq!(back, samples);
    // The block encoding (Decimal when every value is a short decimal) is
    // bit-exact too, on the raw values and on values made decimal.
    let bits = |s: &[Sample]| s.iter().map(|x| (x.t, x.v.to_bits())).collect::<Vec<_>>();
    let (enc, bytes) = encode_cold(&samples);
    assert_eq!(
        bits(&decode_all(enc, &bytes).expect("own chunk decodes")),
        bits(&samples)
    );
    let decimal: Vec<Sample> = samples
        .iter()
        .map(|s| Sample {
            t: s.t,
            v: ((s.v.to_bits() % 2_000_001) as i64 - 1_000_000) as f64 / 100.0,
        })
        .collect();
    let (enc, bytes) = encode_cold(&decimal);
    if !decimal.is_empty() {
        assert_eq!(
            enc,
            Encoding::Decimal,
            "short decimals take the decimal form"
        );
    }
    assert_eq!(
        bits(&decode_all(enc, &bytes).expect("own chunk decodes")),
        bits(&decimal)
    );
}

/// Arbitrary bytes as a WAL segment: replay never panics.
pub(crate) fn wal_replay(data: &[u8]) {
    if data.len() > 1 << 20 {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("00000001"), data).unwrap();
    let _ = Wal::replay(dir.path(), |_| Ok(()));
}

/// Arbitrary bytes as a block's index (with arbitrary meta and chunk files):
/// opening and reading every series and chunk never panics.
pub(crate) fn block_open(data: &[u8]) {
    if data.len() > 1 << 20 {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (a, rest) = data.split_at(data.len() / 3);
    let (b, c) = rest.split_at(rest.len() / 2);
    std::fs::write(dir.path().join("meta"), a).unwrap();
    std::fs::write(dir.path().join("index"), b).unwrap();
    std::fs::create_dir(dir.path().join("chunks")).unwrap();
    std::fs::write(dir.path().join("chunks/000001"), c).unwrap();
    if let Ok(block) = Block::open(dir.path()) {
        if let Ok(ids) = block.all_postings() {
            for id in ids {
                if let Ok((_, chunks)) = block.series(id) {
                    for m in chunks {
                        let _ = block.chunk(&m);
                    }
                }
            }
        }
        let _ = block.label_names();
    }
}

/// Arbitrary bytes as a Prometheus text exposition body: never a panic, and
/// every sample parsed prints back (write_sample) to a line that parses to
/// the same sample.
pub(crate) fn exposition_parse(data: &[u8]) {
    use exposition::{Entry, parse, parse_line, write_sample};
    if data.len() > 1 << 16 {
        return;
    }
    for entry in parse(data, LabelLimits::default()) {
        let Ok((_, Entry::Sample(s))) = entry else {
            continue;
        };
        let labels: Vec<(&str, &str)> = s.labels.iter().map(|(n, v)| (*n, v.as_ref())).collect();
        let mut out = String::new();
        write_sample(&mut out, s.name, &labels, s.value, s.timestamp);
        let again = parse_line(
            out.trim_end_matches('\n').as_bytes(),
            &LabelLimits::default(),
        );
        let Ok(Some(Entry::Sample(b))) = again else {
            panic!("{out:?}: {again:?}")
        };
        assert_eq!(
            (b.name, &b.labels, b.timestamp),
            (s.name, &s.labels, s.timestamp),
            "{out:?}"
        );
        assert!(
            b.value.to_bits() == s.value.to_bits() || (b.value.is_nan() && s.value.is_nan()),
            "{out:?}"
        );
    }
}

/// Arbitrary bytes as a VictoriaMetrics JSON lines body: never a panic, and
/// every line parsed writes back (write_line) to a line that parses the same.
pub(crate) fn jsonl_parse(data: &[u8]) {
    use jsonl::{parse, parse_line, write_line};
    if data.len() > 1 << 16 {
        return;
    }
    for line in parse(data, LabelLimits::default()) {
        let Ok((_, l)) = line else { continue };
        let labels: Vec<Label> = l
            .labels
            .iter()
            .map(|(n, v)| Label::new(n.as_str(), v.as_str()))
            .collect();
        let samples: Vec<Sample> = l
            .timestamps
            .iter()
            .zip(&l.values)
            .map(|(&t, &v)| Sample::new(t, v))
            .collect();
        let mut out = String::new();
        write_line(&mut out, &labels, &samples);
        let b = parse_line(
            out.trim_end_matches('\n').as_bytes(),
            &LabelLimits::default(),
        )
        .unwrap_or_else(|e| panic!("{out:?}: {e}"));
        let (mut x, mut y) = (b.labels.clone(), l.labels.clone());
        x.sort();
        y.sort();
        assert_eq!(x, y, "{out:?}");
        assert_eq!(b.timestamps, l.timestamps, "{out:?}");
        for (p, q) in b.values.iter().zip(&l.values) {
            assert!(
                p.to_bits() == q.to_bits() || (p.is_nan() && q.is_nan()),
                "{out:?}"
            );
        }
    }
}

/// Arbitrary bytes as an InfluxDB line protocol body: never a panic, and
/// every line parsed writes back (`write_line`) to a line that parses the
/// same (floats compared by bits, NaN equal to NaN).
pub(crate) fn influx_parse(data: &[u8]) {
    use influx::{Value, parse, parse_line, write_line};
    if data.len() > 1 << 16 {
        return;
    }
    for line in parse(data, LabelLimits::default()) {
        let Ok((_, l)) = line else { continue };
        if l.measurement.is_empty() && l.tags.is_empty() {
            // `,=x f=1`: no measurement and only empty tags, which the
            // writer cannot spell.
            continue;
        }
        let mut out = String::new();
        write_line(&mut out, &l);
        let b = parse_line(
            out.trim_end_matches('\n').as_bytes(),
            &LabelLimits::default(),
        )
        .unwrap_or_else(|e| panic!("{out:?}: {e}"))
        .unwrap_or_else(|| panic!("{out:?}: no point"));
        assert_eq!(b.measurement, l.measurement, "{out:?}");
        assert_eq!(b.tags, l.tags, "{out:?}");
        assert_eq!(b.timestamp, l.timestamp, "{out:?}");
        assert_eq!(b.fields.len(), l.fields.len(), "{out:?}");
        for ((k1, v1), (k2, v2)) in b.fields.iter().zip(&l.fields) {
            assert_eq!(k1, k2, "{out:?}");
            match (v1, v2) {
                (Value::Float(p), Value::Float(q)) => assert!(
                    p.to_bits() == q.to_bits() || (p.is_nan() && q.is_nan()),
                    "{out:?}"
                ),
                _ => assert_eq!(v1, v2, "{out:?}"),
            }
        }
    }
}

/// Largest decompressed body the remote targets accept (the server allows
/// 8 x `--max-request-bytes`; a smaller bound keeps the fuzzer fast).
const MAX_DECOMPRESSED: usize = 4 << 20;

/// Arbitrary bytes as a remote_write 2.0 body (snappy block + protobuf
/// `io.prometheus.write.v2.Request`), and as the decompressed protobuf
/// itself (so mutations reach the message without going through snappy):
/// never a panic; a walk is deterministic; every label handed over is UTF-8
/// (the symbols are checked), and each metadata entry names the `__name__`
/// of a series of the request.
pub(crate) fn remote_write_v2_decode(data: &[u8]) {
    if data.len() > 1 << 20 {
        return;
    }
    let walk = |raw: &[u8]| {
        let mut names: Vec<String> = Vec::new();
        let mut seen = Vec::new();
        let res = remote_write_v2::for_each_series(raw, |labels, samples| {
            for (n, v) in labels.iter() {
                assert!(std::str::from_utf8(n).is_ok() && std::str::from_utf8(v).is_ok());
                if *n == b"__name__" {
                    names.push(String::from_utf8_lossy(v).into_owned());
                }
            }
            let owned: Vec<(Vec<u8>, Vec<u8>)> = labels
                .iter()
                .map(|(n, v)| (n.to_vec(), v.to_vec()))
                .collect();
            let bits: Vec<(i64, u64)> = samples.iter().map(|(t, v)| (*t, v.to_bits())).collect();
            seen.push((owned, bits));
            Ok(())
        });
        if let Ok(w) = &res {
            for m in &w.metadata {
                assert!(
                    names.iter().any(|n| n == m.metric),
                    "metadata for {:?}",
                    m.metric
                );
            }
        }
        (
            res.map(|w| {
                (
                    w.histograms,
                    w.exemplars,
                    w.start_timestamps,
                    w.metadata.len(),
                )
            }),
            seen,
        )
    };
    let direct = walk(data);
    assert_eq!(walk(data), direct, "a walk of the same bytes differs");
    if let Ok(raw) = remote_write::decompress(data, MAX_DECOMPRESSED) {
        let once = walk(&raw);
        assert_eq!(walk(&raw), once, "a walk of the same bytes differs");
    }
}

/// Arbitrary bytes as a remote_write body (snappy block + protobuf
/// `WriteRequest`), as `POST /api/v1/write` decodes it: never a panic,
/// nothing decompresses past the limit, a request that decodes re-encodes
/// to a body that decodes to the same bytes again, and every series goes
/// through the label validation the write handler applies.
pub(crate) fn remote_write_decode(data: &[u8]) {
    if data.len() > 1 << 20 {
        return;
    }
    let Ok(req) = remote_write::decode(data, MAX_DECOMPRESSED) else {
        return;
    };
    let raw = req.encode_to_vec();
    let body = remote_write::encode(&req);
    let again = remote_write::decode(&body, usize::MAX)
        .unwrap_or_else(|e| panic!("re-encoded request does not decode: {e}"));
    assert_eq!(again.encode_to_vec(), raw, "decode(encode(req)) != req");
    let limits = LabelLimits::default();
    for ts in req.timeseries {
        let pairs: Vec<Label> = ts
            .labels
            .into_iter()
            .map(|l| Label::new(l.name, l.value))
            .collect();
        if let Ok(labels) = Labels::with_limits(pairs, &limits) {
            // A valid label set is within the limits and prints and
            // re-validates as the same set.
            assert!(labels.as_slice().len() <= limits.max_labels);
            let again = Labels::with_limits(labels.as_slice().to_vec(), &limits)
                .unwrap_or_else(|e| panic!("{labels}: accepted once, then refused: {e}"));
            assert_eq!(again, labels);
        }
    }
}

/// Arbitrary bytes as a remote_read body (snappy block + protobuf
/// `ReadRequest`), as `POST /api/v1/read` decodes it: never a panic, a
/// request that decodes round-trips, and every matcher of type 0..=3 builds
/// (regular expressions compile or are refused with an error, never a panic).
pub(crate) fn remote_read_decode(data: &[u8]) {
    if data.len() > 1 << 20 {
        return;
    }
    let Ok(req) = decode_request(data, MAX_DECOMPRESSED) else {
        return;
    };
    let raw = req.encode_to_vec();
    let body = snap::raw::Encoder::new()
        .compress_vec(&raw)
        .expect("snappy compresses any input");
    let again = decode_request(&body, usize::MAX)
        .unwrap_or_else(|e| panic!("re-encoded request does not decode: {e}"));
    assert_eq!(again.encode_to_vec(), raw, "decode(encode(req)) != req");
    for q in req.queries.iter().take(16) {
        for m in q.matchers.iter().take(16) {
            let kind = match m.r#type {
                0 => MatchType::Equal,
                1 => MatchType::NotEqual,
                2 => MatchType::Regex,
                3 => MatchType::NotRegex,
                _ => continue,
            };
            if m.value.len() > 1024 {
                continue;
            }
            if let Ok(matcher) = Matcher::new(kind, m.name.clone(), m.value.clone()) {
                let _ = matcher.matches(&m.value);
            }
        }
    }
}

/// Arbitrary bytes through every decompressor (identity, gzip, zstd,
/// snappy) as the import and remote endpoints run them: the first two bytes
/// are the cap (little-endian u16), the rest the body. Never a panic; output
/// never exceeds the cap and is all reserved from the budget; every error
/// is one of the expected kinds for its encoding (never a budget error: the
/// budget is large enough for anything under the cap); a snappy block's
/// declared length is what it decodes to; every reservation is given back.
pub(crate) fn decompress_bounded(data: &[u8]) {
    if data.len() > 1 << 16 {
        return;
    }
    let Some((cap, body)) = data.split_first_chunk::<2>() else {
        return;
    };
    let cap = usize::from(u16::from_le_bytes(*cap));
    // Output, first-pass buffer, read chunk and zstd window, all <= 64 KiB.
    let budget = MemoryBudget::new(1 << 20);
    for enc in [
        BodyEncoding::Identity,
        BodyEncoding::Gzip,
        BodyEncoding::Zstd,
        BodyEncoding::Snappy,
    ] {
        let mut res = budget.reservation();
        match decompress(enc, body, cap, &mut res) {
            Ok(out) => {
                assert!(
                    out.len() <= cap,
                    "{enc}: {} bytes over the cap {cap}",
                    out.len()
                );
                assert!(res.bytes() >= out.len(), "{enc}: output not reserved");
                match enc {
                    BodyEncoding::Identity => assert_eq!(out, body),
                    BodyEncoding::Snappy => {
                        assert_eq!(snappy_len(body, cap), Ok(out.len()), "declared != decoded");
                    }
                    _ => {}
                }
            }
            Err(DecompressError::TooLarge { limit, declared }) => {
                assert_eq!(limit, cap, "{enc}");
                if let Some(n) = declared {
                    assert!(n > cap, "{enc}: declared {n} is within the cap {cap}");
                }
            }
            Err(DecompressError::Implausible {
                declared,
                compressed,
            }) => {
                assert_eq!(enc, BodyEncoding::Snappy);
                assert!(compressed < body.len() && declared > compressed * 64 / 3);
            }
            Err(DecompressError::Corrupt { encoding, .. }) => {
                assert_eq!(encoding, enc);
                assert_ne!(
                    enc,
                    BodyEncoding::Identity,
                    "identity bodies never fail to decode"
                );
            }
            Err(e) => panic!("{enc}: unexpected error {e:?}"),
        }
        drop(res);
        assert_eq!(budget.in_use(), 0, "{enc}: reservation not given back");
    }
}

/// Arbitrary bytes as an OTLP metrics export, protobuf and JSON: never a
/// panic; a decoded protobuf message re-encodes to bytes that decode to the
/// same encoding; every translated series has valid label names, one
/// `__name__`, and no empty value.
pub(crate) fn otlp_decode(data: &[u8]) {
    if data.len() > 1 << 16 {
        return;
    }
    let check = |req: &otlp::proto::ExportMetricsServiceRequest| {
        let opts = otlp::translate::Options::default();
        otlp::translate::translate(
            req,
            &opts,
            &mut |labels: &mut [(&str, &str)], _t: i64, _v: f64, _p: u64| {
                let names = labels.iter().filter(|(n, _)| *n == "__name__").count();
                assert_eq!(names, 1, "{labels:?}");
                for (n, v) in labels.iter() {
                    let ok = n
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                        && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                    assert!(ok, "invalid label name {n:?} in {labels:?}");
                    assert!(!v.is_empty(), "empty value of {n:?} in {labels:?}");
                }
            },
        );
    };
    if let Ok(req) = otlp::proto::decode(data) {
        let once = req.encode_to_vec();
        let again = otlp::proto::decode(&once).expect("re-encoded message decodes");
        assert_eq!(again.encode_to_vec(), once);
        check(&req);
    }
    if let Ok(req) = otlp::json::decode(data) {
        check(&req);
    }
}
