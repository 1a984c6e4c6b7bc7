use super::*;
use crate::sample::STALE_NAN;
use proptest::prelude::*;

fn samples(ts: &[i64], vs: &[f64]) -> Vec<Sample> {
    ts.iter().zip(vs).map(|(&t, &v)| Sample { t, v }).collect()
}

fn bits(s: &[Sample]) -> Vec<(i64, u64)> {
    s.iter().map(|x| (x.t, x.v.to_bits())).collect()
}

/// Pins the encoding: a change to the format must be deliberate.
#[test]
fn golden_bytes() {
    let s = samples(&[1000, 2000, 3000, 4005], &[1.0, 1.0, 2.5, 2.5]);
    let hex: String = encode(Encoding::Xor, &s)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(hex, "000400000000000003e83ff000000000000083e8309bffd80050");
    assert_eq!(decode_all(Encoding::Xor, &hex_bytes(&hex)).unwrap(), s);
}

fn hex_bytes(h: &str) -> Vec<u8> {
    (0..h.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn special_values_round_trip_bit_exact() {
    let vs = [
        STALE_NAN,
        f64::NAN,
        f64::from_bits(0x7ff8_dead_beef_0001),
        f64::from_bits(0xfff0_0000_0000_0001),
        f64::INFINITY,
        f64::NEG_INFINITY,
        -0.0,
        0.0,
        f64::MIN_POSITIVE / 2.0,
        f64::MAX,
        f64::MIN,
        STALE_NAN,
    ];
    let ts: Vec<i64> = (0..vs.len() as i64).map(|i| i * 15_000).collect();
    let s = samples(&ts, &vs);
    let got = decode_all(Encoding::Xor, &encode(Encoding::Xor, &s)).unwrap();
    assert_eq!(bits(&got), bits(&s));
}

#[test]
fn extreme_timestamps_round_trip() {
    let ts = [i64::MIN, i64::MIN + 1, -5, 0, 1, i64::MAX - 1, i64::MAX];
    let s = samples(&ts, &[1.0; 7]);
    assert_eq!(
        decode_all(Encoding::Xor, &encode(Encoding::Xor, &s)).unwrap(),
        s
    );
}

#[test]
fn bytes_are_valid_at_every_point_of_appending() {
    let mut app = XorAppender::new();
    let mut want = Vec::new();
    for i in 0..300i64 {
        let (t, v) = (i * 15_000 + (i * 7919) % 13, (i as f64).sqrt());
        app.append(t, v);
        want.push(Sample { t, v });
        assert_eq!(decode_all(Encoding::Xor, app.bytes()).unwrap(), want);
        assert_eq!(app.num_samples(), want.len());
    }
    assert_eq!(app.min_t(), Some(0));
    assert_eq!(app.max_t(), want.last().map(|s| s.t));
}

#[test]
fn seek_finds_the_first_sample_at_or_after() {
    let s: Vec<Sample> = (0..100)
        .map(|i| Sample {
            t: i * 10,
            v: i as f64,
        })
        .collect();
    let bytes = encode(Encoding::Xor, &s);
    for target in [-5, 0, 5, 10, 495, 990, 991, 2000] {
        let mut it = ChunkIter::new(Encoding::Xor, &bytes).unwrap();
        let want = s.iter().find(|x| x.t >= target).copied();
        assert_eq!(it.seek(target).transpose().unwrap(), want, "seek {target}");
    }
    // Repeated seeks move forward only; a seek backwards returns the next sample.
    let mut it = ChunkIter::new(Encoding::Xor, &bytes).unwrap();
    assert_eq!(it.seek(200).unwrap().unwrap().t, 200);
    assert_eq!(it.seek(100).unwrap().unwrap().t, 210);
    assert_eq!(it.seek(985).unwrap().unwrap().t, 990);
    assert!(it.seek(0).is_none());
}

#[test]
fn short_and_truncated_chunks_error_with_offsets() {
    assert!(ChunkIter::new(Encoding::Xor, &[7]).is_err());
    let s: Vec<Sample> = (0..50)
        .map(|i| Sample {
            t: i * 1000,
            v: i as f64 * 1.5,
        })
        .collect();
    let bytes = encode(Encoding::Xor, &s);
    for cut in 2..bytes.len() - 1 {
        let res = decode_all(Encoding::Xor, &bytes[..cut]);
        let err = res.expect_err("truncated chunk decoded");
        assert!(err.offset <= cut, "offset {} beyond {cut}", err.offset);
    }
}

#[test]
fn unknown_encoding_tag() {
    assert_eq!(Encoding::from_u8(1), Some(Encoding::Xor));
    assert_eq!(Encoding::from_u8(2), Some(Encoding::Decimal));
    assert_eq!(Encoding::from_u8(0), None);
    assert_eq!(Encoding::from_u8(3), None);
    assert_eq!(Encoding::Xor.to_string(), "XOR");
}

/// Pins the decimal encoding: count, timestamp section length, zig-zag
/// varints of t0 and the delta-of-deltas, scale, value mode, mantissas.
#[test]
fn decimal_golden_bytes() {
    let s = samples(&[1000, 2000, 3000, 4005], &[0.25, 0.5, 0.75, 1.0]);
    let (enc, bytes) = encode_cold(&s);
    assert_eq!(enc, Encoding::Decimal);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    // n=4 | tlen=6 | t0=1000 (zig-zag 2000: d00f), dods 1000 (d00f), 0, 5 (0a)
    // | k=2, mode 0 (deltas: a tie with delta-of-deltas keeps deltas)
    // | m0=25 (zig-zag 50: 32), deltas 25 25 25
    assert_eq!(hex, "000406d00fd00f000a020032323232");
    assert_eq!(
        bits(&decode_all(Encoding::Decimal, &bytes).unwrap()),
        bits(&s)
    );
}

#[test]
fn decimal_falls_back_to_gorilla_for_other_values() {
    for odd in [
        f64::NAN,
        STALE_NAN,
        -0.0,
        f64::INFINITY,
        0.1 + 0.2,
        1e300,
        2f64.powi(60),
    ] {
        let s = samples(&[1, 2, 3], &[1.0, odd, 2.0]);
        let (enc, bytes) = encode_cold(&s);
        assert_eq!(enc, Encoding::Xor, "{odd}");
        assert_eq!(bits(&decode_all(enc, &bytes).unwrap()), bits(&s));
    }
    // Integers and short decimals, negative too, take the decimal form.
    let s = samples(&[1, 2, 3, 4], &[-3.0, 1e9, 12.345, -0.001]);
    let (enc, bytes) = encode_cold(&s);
    assert_eq!(enc, Encoding::Decimal);
    assert_eq!(bits(&decode_all(enc, &bytes).unwrap()), bits(&s));
}

#[test]
fn decimal_damage_is_an_error_not_a_panic() {
    let s = samples(&[1000, 2000, 3000], &[1.5, 2.5, 3.5]);
    let (_, bytes) = encode_cold(&s);
    for cut in 0..bytes.len() {
        let r = decode_all(Encoding::Decimal, &bytes[..cut]);
        assert!(r.is_err(), "cut at {cut}: {r:?}");
    }
    let mut bad = bytes.clone();
    bad[8] = 99; // scale byte: beyond the largest scale
    assert!(decode_all(Encoding::Decimal, &bad).is_err());
}

fn increasing_timestamps() -> impl Strategy<Value = Vec<i64>> {
    (
        any::<i64>(),
        proptest::collection::vec(
            prop_oneof![1u64..100, 14_990u64..15_010, 1u64..u64::MAX / 512],
            0..300,
        ),
    )
        .prop_map(|(start, deltas)| {
            let mut t = start.min(i64::MAX - 1);
            let mut out = vec![t];
            for d in deltas {
                match t.checked_add(d as i64) {
                    Some(n) => {
                        t = n;
                        out.push(t);
                    }
                    None => break,
                }
            }
            out
        })
}

fn values(n: usize) -> impl Strategy<Value = Vec<f64>> {
    proptest::collection::vec(
        prop_oneof![
            any::<u64>().prop_map(f64::from_bits),
            (0u32..1000).prop_map(f64::from),
            Just(STALE_NAN),
            Just(-0.0),
            Just(f64::INFINITY),
        ],
        n,
    )
}

fn decimal_values(n: usize) -> impl Strategy<Value = Vec<f64>> {
    (
        0i32..6,
        proptest::collection::vec(-1_000_000_000i64..1_000_000_000, n),
    )
        .prop_map(|(k, ms)| {
            let p = 10f64.powi(k);
            ms.into_iter().map(|m| m as f64 / p).collect()
        })
}

proptest! {
    #[test]
    fn decimal_round_trips_short_decimals((ts, vs) in increasing_timestamps().prop_flat_map(|ts| { let n = ts.len(); (Just(ts), decimal_values(n)) })) {
        let s = samples(&ts, &vs);
        let (enc, bytes) = encode_cold(&s);
        prop_assert_eq!(enc, Encoding::Decimal);
        prop_assert_eq!(bits(&decode_all(enc, &bytes).unwrap()), bits(&s));
        // The sample-by-sample iterator gives the same.
        let iterated: Vec<Sample> = ChunkIter::new(enc, &bytes).unwrap().collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(bits(&iterated), bits(&s));
    }

    #[test]
    fn bulk_and_iterated_decoding_agree_on_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        for enc in [Encoding::Decimal, Encoding::Xor] {
            let bulk = decode_all(enc, &bytes);
            let iterated: Option<Result<Vec<Sample>, _>> = ChunkIter::new(enc, &bytes).ok().map(|it| it.collect());
            match (bulk, iterated) {
                (Ok(b), Some(Ok(i))) => prop_assert_eq!(bits(&b), bits(&i)),
                (Err(_), None | Some(Err(_))) => {}
                (b, i) => prop_assert!(false, "{enc}: bulk {b:?} iterated {i:?}"),
            }
        }
    }

    #[test]
    fn cold_encoding_round_trips_any_bits((ts, vs) in increasing_timestamps().prop_flat_map(|ts| { let n = ts.len(); (Just(ts), values(n)) })) {
        let s = samples(&ts, &vs);
        let (enc, bytes) = encode_cold(&s);
        prop_assert_eq!(bits(&decode_all(enc, &bytes).unwrap()), bits(&s));
    }

    #[test]
    fn decimal_arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut n = 0;
        if let Ok(it) = ChunkIter::new(Encoding::Decimal, &bytes) {
            for s in it {
                n += 1;
                if s.is_err() { break; }
            }
        }
        prop_assert!(n <= 65_536);
    }

    #[test]
    fn round_trips_any_increasing_timestamps_and_any_bits((ts, vs) in increasing_timestamps().prop_flat_map(|ts| { let n = ts.len(); (Just(ts), values(n)) })) {
        let s = samples(&ts, &vs);
        let got = decode_all(Encoding::Xor, &encode(Encoding::Xor, &s)).unwrap();
        prop_assert_eq!(bits(&got), bits(&s));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut n = 0;
        if let Ok(it) = ChunkIter::new(Encoding::Xor, &bytes) {
            for s in it {
                n += 1;
                if s.is_err() { break; }
            }
        }
        prop_assert!(n <= 65_536);
    }
}
