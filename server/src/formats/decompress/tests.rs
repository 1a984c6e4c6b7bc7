use std::io::Write;

use super::*;
use crate::budget::MemoryBudget;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::bulk::compress(data, 3).unwrap()
}

fn snappy(data: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new().compress_vec(data).unwrap()
}

fn unbudgeted() -> Reservation {
    MemoryBudget::new(usize::MAX).reservation()
}

/// Some bytes that compress but not to nothing.
fn sample(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8 ^ (i / 1000) as u8).collect()
}

#[test]
fn content_encoding_names() {
    for (v, e) in [
        ("", Encoding::Identity),
        ("identity", Encoding::Identity),
        ("gzip", Encoding::Gzip),
        ("x-gzip", Encoding::Gzip),
        ("GZip", Encoding::Gzip),
        (" zstd ", Encoding::Zstd),
        ("snappy", Encoding::Snappy),
    ] {
        assert_eq!(Encoding::parse(v), Some(e), "{v:?}");
    }
    for v in ["br", "deflate", "gzip, zstd", "lz4", "compress"] {
        assert_eq!(Encoding::parse(v), None, "{v:?}");
    }
    assert_eq!(Encoding::from_header(None), Ok(Encoding::Identity));
    assert_eq!(Encoding::from_header(Some(b"gzip")), Ok(Encoding::Gzip));
    let e = Encoding::from_header(Some(b"br")).unwrap_err();
    assert!(matches!(&e, DecompressError::Unsupported { encoding, .. } if encoding == "br"));
    assert!(e.to_string().contains("\"br\""), "{e}");
}

#[test]
fn every_encoding_round_trips_and_the_cap_is_exact() {
    let data = sample(100_000);
    for (enc, body) in [
        (Encoding::Identity, data.clone()),
        (Encoding::Gzip, gzip(&data)),
        (Encoding::Zstd, zstd(&data)),
        (Encoding::Snappy, snappy(&data)),
    ] {
        // Exactly at the cap: accepted, whole.
        let out = decompress(enc, &body, data.len(), &mut unbudgeted()).unwrap();
        assert_eq!(out, data, "{enc}");
        // One byte under the size: refused, and nothing past the cap held.
        let mut res = unbudgeted();
        let e = decompress(enc, &body, data.len() - 1, &mut res).unwrap_err();
        assert!(
            matches!(e, DecompressError::TooLarge { limit, .. } if limit == data.len() - 1),
            "{enc}: {e:?}"
        );
        assert!(e.to_string().contains("--max-decompressed-bytes"), "{e}");
        let window = if enc == Encoding::Zstd {
            ZSTD_WINDOW_RESERVED.min(data.len() - 1)
        } else {
            0
        };
        assert!(
            res.bytes() <= SMALL_OUTPUT + STREAM_CHUNK + window,
            "{enc}: reserved {} for a cap of {}",
            res.bytes(),
            data.len() - 1
        );
    }
}

#[test]
fn large_output_is_decoded_into_one_exact_buffer() {
    let data = sample(3 * SMALL_OUTPUT + 12_345);
    for (enc, body) in [(Encoding::Gzip, gzip(&data)), (Encoding::Zstd, zstd(&data))] {
        let mut res = unbudgeted();
        let out = decompress(enc, &body, 64 << 20, &mut res).unwrap();
        assert_eq!(out, data, "{enc}");
        assert_eq!(out.capacity(), data.len(), "{enc}: no slack, no doubling");
        let window = if enc == Encoding::Zstd {
            ZSTD_WINDOW_RESERVED
        } else {
            0
        };
        assert_eq!(
            res.bytes(),
            data.len() + window,
            "{enc}: what is held is reserved"
        );
    }
}

#[test]
fn snappy_declaring_its_size_is_refused_before_allocating() {
    // A 10-byte body that declares 250 MiB: impossible for 6 bytes of
    // snappy elements; nothing is reserved or allocated.
    let mut bomb = Vec::new();
    let mut n = 250usize << 20;
    while n >= 0x80 {
        bomb.push((n as u8) | 0x80);
        n >>= 7;
    }
    bomb.push(n as u8);
    bomb.resize(10, 0);
    let mut res = unbudgeted();
    let mut out = Vec::new();
    let e = snappy_into(&bomb, usize::MAX, &mut res, &mut out).unwrap_err();
    assert_eq!(
        e,
        DecompressError::Implausible {
            declared: 250 << 20,
            compressed: 6
        }
    );
    assert_eq!((out.capacity(), res.bytes()), (0, 0));

    // A real block of zeros over the cap: refused on its declared size.
    let zeros = snappy(&vec![0u8; 4 << 20]);
    let e = snappy_into(&zeros, 1 << 20, &mut res, &mut out).unwrap_err();
    assert_eq!(
        e,
        DecompressError::TooLarge {
            declared: Some(4 << 20),
            limit: 1 << 20
        }
    );
    assert_eq!((out.capacity(), res.bytes()), (0, 0));

    // The densest block snappy makes is within the plausibility bound.
    assert_eq!(snappy_len(&zeros, usize::MAX), Ok(4 << 20));
}

#[test]
fn snappy_into_reuses_the_buffer_and_reserves_the_declared_size() {
    let data = sample(10_000);
    let body = snappy(&data);
    let mut out = vec![7u8; 50_000];
    let mut res = unbudgeted();
    let n = snappy_into(&body, 1 << 20, &mut res, &mut out).unwrap();
    assert_eq!(out.get(..n), Some(data.as_slice()));
    assert_eq!(out.len(), 50_000, "a larger buffer is not shrunk");
    assert_eq!(res.bytes(), data.len());
}

#[test]
fn gzip_and_zstd_stop_at_the_cap_whatever_they_would_produce() {
    // 64 MiB of zeros are 64 KiB of gzip and a few KiB of zstd (whose
    // frame declares 64 MiB): decoding stops at the cap.
    let zeros = vec![0u8; 64 << 20];
    let cap = 1 << 20;
    for (enc, body) in [
        (Encoding::Gzip, gzip(&zeros)),
        (Encoding::Zstd, zstd(&zeros)),
    ] {
        assert!(body.len() < 1 << 20, "{enc}: {}", body.len());
        let mut res = unbudgeted();
        let e = decompress(enc, &body, cap, &mut res).unwrap_err();
        assert_eq!(
            e,
            DecompressError::TooLarge {
                declared: None,
                limit: cap
            },
            "{enc}"
        );
        // Only the first pass's small buffer was ever held (and the zstd
        // window): the 64 MiB were counted, not allocated.
        let window = if enc == Encoding::Zstd { cap } else { 0 };
        assert!(
            res.bytes() <= SMALL_OUTPUT + STREAM_CHUNK + window,
            "{enc}: {}",
            res.bytes()
        );
    }
}

#[test]
fn several_gzip_members_and_zstd_frames_are_read() {
    let (a, b) = (sample(3000), sample(5000));
    let mut body = gzip(&a);
    body.extend(gzip(&b));
    let mut want = a.clone();
    want.extend(&b);
    assert_eq!(
        decompress(Encoding::Gzip, &body, 1 << 20, &mut unbudgeted()).unwrap(),
        want
    );
    let mut body = zstd(&a);
    body.extend(zstd(&b));
    assert_eq!(
        decompress(Encoding::Zstd, &body, 1 << 20, &mut unbudgeted()).unwrap(),
        want
    );
}

#[test]
fn corrupt_bodies_name_their_encoding() {
    // (The snappy one declares 110 bytes, which its 16 could hold.)
    for enc in [Encoding::Gzip, Encoding::Zstd, Encoding::Snappy] {
        let e = decompress(enc, b"not snappy at all", 1 << 20, &mut unbudgeted()).unwrap_err();
        assert!(
            matches!(&e, DecompressError::Corrupt { encoding, .. } if *encoding == enc),
            "{enc}: {e:?}"
        );
    }
    // A truncated gzip body is corrupt too, not a short success.
    let body = gzip(&sample(10_000));
    let cut = body.get(..body.len() / 2).unwrap();
    assert!(matches!(
        decompress(Encoding::Gzip, cut, 1 << 20, &mut unbudgeted()),
        Err(DecompressError::Corrupt { .. })
    ));
}

#[test]
fn output_is_charged_to_the_budget_and_refused_when_it_is_used_up() {
    // Other requests hold all but 100 KiB of 4 MiB.
    let budget = MemoryBudget::new(4 << 20);
    let held = budget.reserve((4 << 20) - (100 << 10)).unwrap();
    let data = sample(200_000);
    for (enc, body) in [
        (Encoding::Gzip, gzip(&data)),
        (Encoding::Zstd, zstd(&data)),
        (Encoding::Snappy, snappy(&data)),
    ] {
        let mut res = budget.reservation();
        let e = decompress(enc, &body, 1 << 20, &mut res).unwrap_err();
        assert!(
            matches!(e, DecompressError::Budget(BudgetError::Exhausted { .. })),
            "{enc}: {e:?}"
        );
        drop(res);
        assert_eq!(
            budget.in_use(),
            (4 << 20) - (100 << 10),
            "{enc}: released on drop"
        );
    }
    drop(held);
    let mut res = budget.reservation();
    let out = decompress(Encoding::Gzip, &gzip(&data), 1 << 20, &mut res).unwrap();
    assert_eq!(out, data);
    assert!(res.bytes() >= data.len() && budget.in_use() == res.bytes());
    drop(res);
    assert_eq!(budget.in_use(), 0);
}
