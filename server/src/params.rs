//! Request parameters from the query string and form bodies, and Prometheus'
//! time and duration syntaxes.

use strata_promql::duration::{MAX_DURATION_MS, MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS};

use crate::error::ApiError;

/// Parameters of a request, in order (repeated ones like `match[]` kept).
#[derive(Debug, Default, Clone)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Parameters from a query string and, for a form POST, the body.
    pub fn parse(query: Option<&str>, form_body: Option<&[u8]>) -> Result<Params, ApiError> {
        let mut all: Vec<(String, String)> = Vec::new();
        if let Some(q) = query {
            all.extend(
                serde_urlencoded::from_str::<Vec<(String, String)>>(q)
                    .map_err(|e| ApiError::bad_data(format!("invalid query string: {e}")))?,
            );
        }
        if let Some(b) = form_body {
            all.extend(
                serde_urlencoded::from_bytes::<Vec<(String, String)>>(b)
                    .map_err(|e| ApiError::bad_data(format!("invalid form body: {e}")))?,
            );
        }
        Ok(Params(all))
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// A time: Unix seconds with an optional fraction, or RFC 3339. In ms.
/// `None` when it does not parse, is not finite, or lies outside
/// [`MIN_TIMESTAMP_MS`, `MAX_TIMESTAMP_MS`] (so no later arithmetic on it
/// can overflow).
pub fn parse_time(s: &str) -> Option<i64> {
    let ms = if let Ok(secs) = s.parse::<f64>() {
        let ms = (secs * 1000.0).round();
        // The range test also rejects NaN and infinities.
        if !(MIN_TIMESTAMP_MS as f64..=MAX_TIMESTAMP_MS as f64).contains(&ms) {
            return None;
        }
        ms as i64
    } else {
        parse_rfc3339(s)?
    };
    (MIN_TIMESTAMP_MS..=MAX_TIMESTAMP_MS)
        .contains(&ms)
        .then_some(ms)
}

/// `2015-07-01T20:10:51.781Z` or with a `+02:00` offset, in ms.
fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> { s.get(r)?.parse().ok() };
    if b.len() < 20
        || b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || !matches!(b.get(10), Some(b'T' | b't' | b' '))
    {
        return None;
    }
    let (y, mo, d, h, mi, sec) = (
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    );
    let mut i = 19;
    let mut ms = 0i64;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let frac = s.get(start..i)?;
        let padded = format!("{frac:0<3}");
        ms = padded.get(..3)?.parse().ok()?;
    }
    let offset_min = match b.get(i)? {
        b'Z' | b'z' => 0,
        b'+' | b'-' => {
            let sign = if b[i] == b'-' { -1 } else { 1 };
            sign * (num(i + 1..i + 3)? * 60 + num(i + 4..i + 6)?)
        }
        _ => return None,
    };
    // Days from civil date (proleptic Gregorian).
    let (yy, mm) = if mo <= 2 {
        (y - 1, mo + 9)
    } else {
        (y, mo - 3)
    };
    let era = yy.div_euclid(400);
    let yoe = yy.rem_euclid(400);
    let doy = (153 * mm + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400 + h * 3600 + mi * 60 + sec - offset_min * 60) * 1000) + ms)
}

/// A duration: Prometheus syntax (`5m`, `1h30m`) or seconds (`15`, `0.5`,
/// `-1`), in ms, rounded. Errors are Prometheus' (the caller prefixes the
/// parameter): a number over a Go `time.Duration` (2^63 ns) "overflows
/// int64", anything else that is not a duration "cannot parse". Zero and
/// negative values are the caller's to refuse.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    if let Ok(secs) = s.parse::<f64>() {
        let ms = (secs * 1000.0).round();
        if secs.is_nan() {
            return Err(format!("cannot parse {s:?} to a valid duration"));
        }
        if ms.abs() > MAX_DURATION_MS as f64 {
            return Err(format!(
                "cannot parse {s:?} to a valid duration. It overflows int64"
            ));
        }
        return Ok(ms as i64);
    }
    strata_promql::duration::parse_duration(s)
        .ok_or_else(|| format!("cannot parse {s:?} to a valid duration"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_durations() {
        assert_eq!(parse_time("4"), Some(4000));
        assert_eq!(parse_time("1435781451.781"), Some(1_435_781_451_781));
        assert_eq!(
            parse_time("2015-07-01T20:10:51.781Z"),
            Some(1_435_781_451_781)
        );
        assert_eq!(
            parse_time("2015-07-01T22:10:51.781+02:00"),
            Some(1_435_781_451_781)
        );
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(parse_duration("15s"), Ok(15_000));
        assert_eq!(parse_duration("0.5"), Ok(500));
        assert_eq!(parse_duration("1h30m"), Ok(5_400_000));
        assert_eq!(parse_duration("-1"), Ok(-1000));
        assert_eq!(
            parse_duration("1e290"),
            Err("cannot parse \"1e290\" to a valid duration. It overflows int64".into())
        );
        assert_eq!(
            parse_duration("NaN"),
            Err("cannot parse \"NaN\" to a valid duration".into())
        );
        assert_eq!(
            parse_duration("1000y"),
            Err("cannot parse \"1000y\" to a valid duration".into())
        );
        assert_eq!(
            parse_duration("soon"),
            Err("cannot parse \"soon\" to a valid duration".into())
        );
    }

    #[test]
    fn times_are_bounded() {
        for bad in [
            "1e300",
            "-1e300",
            "inf",
            "-Inf",
            "NaN",
            "9223372036854775.807",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
        // The bound is about +-2.3e15 s (floats lose ms precision there, as
        // in Prometheus).
        const { assert!(MAX_TIMESTAMP_MS > 2_300_000_000_000_000_000) };
        assert_eq!(parse_time("1e15"), Some(1_000_000_000_000_000_000));
        assert_eq!(parse_time("-1e15"), Some(-1_000_000_000_000_000_000));
        assert_eq!(parse_time("2.4e15"), None);
        assert_eq!(parse_time("-2.4e15"), None);
    }
}
