//! Float syntax of the text format: what Go's `strconv.ParseFloat` accepts
//! (decimal, hexadecimal with a binary exponent, `_` between digits, NaN
//! and the infinities), rounded exactly as Go rounds.

use std::borrow::Cow;

/// A float in any syntax Go's `strconv.ParseFloat` accepts: decimal with an
/// optional sign, fraction and exponent (`1`, `-.5`, `6.02e23`), hexadecimal
/// with a binary exponent (`0x1.8p3`), `_` between digits (`1_000`), and,
/// ignoring case, `NaN`, `Inf`, `+Inf`, `-Inf`, `Infinity`.
pub fn parse_float(s: &str) -> Option<f64> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, s.get(1..)?),
        Some(b'+') => (false, s.get(1..)?),
        _ => (false, s),
    };
    if body.eq_ignore_ascii_case("inf") || body.eq_ignore_ascii_case("infinity") {
        return Some(if neg {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    if body.eq_ignore_ascii_case("nan") {
        return (body.len() == s.len()).then_some(f64::NAN);
    }
    let cleaned: Cow<'_, str> = if body.contains('_') {
        if !underscores_ok(body) {
            return None;
        }
        Cow::Owned(body.replace('_', ""))
    } else {
        Cow::Borrowed(body)
    };
    let v = match cleaned.strip_prefix("0x").or(cleaned.strip_prefix("0X")) {
        Some(hex) => parse_hex(hex)?,
        None => {
            let decimal = cleaned
                .bytes()
                .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
            if !decimal || cleaned.starts_with(['+', '-']) {
                return None;
            }
            cleaned.parse::<f64>().ok()?
        }
    };
    Some(if neg { -v } else { v })
}

/// Go's rule: every `_` sits between two digits (a base prefix counts as a digit).
fn underscores_ok(s: &str) -> bool {
    let b = s.as_bytes();
    let hex = b.len() >= 2 && b[0] == b'0' && matches!(b[1], b'x' | b'X');
    // 'd': after a digit, '_': after an underscore, 'o': after anything else.
    let mut saw = if hex { 'd' } else { 'o' };
    for &c in b.get(if hex { 2 } else { 0 }..).unwrap_or_default() {
        if c.is_ascii_digit() || (hex && c.is_ascii_hexdigit()) {
            saw = 'd';
        } else if c == b'_' {
            if saw != 'd' {
                return false;
            }
            saw = '_';
        } else if saw == '_' {
            return false;
        } else {
            saw = 'o';
        }
    }
    saw != '_'
}

/// The part after `0x`: hex digits with an optional `.`, then a mandatory
/// `p` exponent. Rounded to nearest, ties to even, subnormals included.
fn parse_hex(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let (mut mant, mut exp, mut sticky) = (0u64, 0i64, false);
    let (mut digits, mut dot, mut i) = (0usize, false, 0usize);
    while let Some(&c) = b.get(i) {
        if c == b'.' && !dot {
            dot = true;
        } else if let Some(d) = char::from(c).to_digit(16) {
            digits += 1;
            if mant >> 60 == 0 {
                mant = (mant << 4) | u64::from(d);
                exp -= if dot { 4 } else { 0 };
            } else {
                sticky |= d != 0;
                exp += if dot { 0 } else { 4 };
            }
        } else {
            break;
        }
        i += 1;
    }
    if digits == 0 || !matches!(b.get(i), Some(b'p' | b'P')) {
        return None;
    }
    i += 1;
    let neg_exp = match b.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let start = i;
    let mut e = 0i64;
    while let Some(&c) = b.get(i).filter(|c| c.is_ascii_digit()) {
        e = (e * 10 + i64::from(c - b'0')).min(1_000_000);
        i += 1;
    }
    if i == start || i != b.len() {
        return None;
    }
    exp += if neg_exp { -e } else { e };
    if mant == 0 {
        return Some(0.0);
    }
    Some(round_to_f64(mant | u64::from(sticky), exp))
}

/// `m * 2^e` (m > 0) rounded to the nearest f64, ties to even.
fn round_to_f64(m: u64, e: i64) -> f64 {
    let lz = i64::from(m.leading_zeros());
    let (m, e) = (m << lz, e - lz); // top bit at 2^(e + 63)
    let top = e + 63;
    if top > 1023 {
        return f64::INFINITY;
    }
    let low = (top - 52).max(-1074); // weight of the last kept bit
    let shift = low - e; // >= 11
    if shift > 64 {
        return 0.0; // below half of the smallest subnormal
    }
    let shift = shift as u32;
    let m = u128::from(m);
    let mut q = m >> shift;
    let rem = m & ((1u128 << shift) - 1);
    let half = 1u128 << (shift - 1);
    if rem > half || (rem == half && q & 1 == 1) {
        q += 1;
    }
    // q <= 2^53, so exact; every product below is exact but the last,
    // which is exact too because q was rounded to the final precision.
    let mut x = q as f64;
    let mut k = low;
    while k > 1000 {
        x *= pow2(1000);
        k -= 1000;
    }
    while k < -1000 {
        x *= pow2(-1000);
        k += 1000;
    }
    x * pow2(k)
}

/// 2^k for -1022 <= k <= 1023.
fn pow2(k: i64) -> f64 {
    f64::from_bits(((k + 1023) as u64) << 52)
}
