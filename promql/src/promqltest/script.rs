//! Reading a `.test` script: its lines, `load` blocks (series notation and
//! values), `eval` headers and their expectation blocks, and the script's
//! numbers and durations.

use std::collections::BTreeMap;

use strata_engine::{Label, Labels, STALE_NAN, Sample};

use crate::ast::Expr;

use super::skip::nhcb_series;

/// A Prometheus duration as used by the script layer (`5m`, `1m30s`, `0`).
pub(super) fn script_duration(s: &str) -> Option<i64> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let ms = crate::duration::parse_duration(body)?;
    Some(if neg { -ms } else { ms })
}

/// Parses a number like Go: base-0 integers first, then floats, `Inf`/`NaN`.
pub(super) fn script_number(s: &str) -> Option<f64> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let v = match body.to_ascii_lowercase().as_str() {
        "inf" => f64::INFINITY,
        "nan" => f64::NAN,
        b if b.len() > 1 && b.starts_with('0') && b.bytes().all(|c| c.is_ascii_digit()) => {
            u64::from_str_radix(&b[1..], 8).ok()? as f64
        }
        b if b.starts_with("0x") => u64::from_str_radix(&b[2..], 16).ok()? as f64,
        _ => body.parse::<f64>().ok()?,
    };
    Some(if neg { -v } else { v })
}

/// Splits a series description into its label part and its values.
pub(super) fn split_series(line: &str) -> Option<(&str, &str)> {
    let mut in_quote: Option<char> = None;
    let mut depth = 0;
    for (i, c) in line.char_indices() {
        match (in_quote, c) {
            (Some(q), c) if c == q => in_quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'' | '`') => in_quote = Some(c),
            (None, '{') => depth += 1,
            (None, '}') => {
                depth -= 1;
                if depth == 0 {
                    // A start-timestamp line names `metric{...}@st`.
                    let end = if line[i + 1..].starts_with("@st") {
                        i + 4
                    } else {
                        i + 1
                    };
                    return Some((&line[..end], line[end..].trim()));
                }
            }
            (None, c) if c.is_whitespace() && depth == 0 => {
                return Some((&line[..i], line[i..].trim()));
            }
            _ => {}
        }
    }
    Some((line, ""))
}

/// Labels of a series description's label part.
pub(super) fn parse_labels(text: &str) -> Result<Labels, String> {
    let t = text.trim();
    if t == "{}" {
        return Ok(Labels::default());
    }
    let expr = crate::parse(t).map_err(|e| format!("bad series {t:?}: {e}"))?;
    let Expr::Vector(v) = expr else {
        return Err(format!("bad series {t:?}"));
    };
    let mut labels: Vec<Label> = v
        .matchers
        .iter()
        .map(|m| Label::new(m.name.clone(), m.value.clone()))
        .collect();
    if let Some(n) = v.name {
        labels.push(Label::new("__name__", n));
    }
    Labels::new(labels).map_err(|e| e.to_string())
}

/// The items of a series description's value part: split at whitespace,
/// except inside a native histogram's `{{...}}` (which has spaces).
fn value_items(text: &str) -> Vec<&str> {
    let mut items = Vec::new();
    let mut start: Option<usize> = None;
    let mut depth = 0usize;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            c if c.is_whitespace() && depth == 0 => {
                if let Some(s) = start.take() {
                    items.push(&text[s..i]);
                }
                continue;
            }
            _ => {}
        }
        start.get_or_insert(i);
    }
    if let Some(s) = start {
        items.push(&text[s..]);
    }
    items
}

/// Float values of a series description, one entry per slot: `None` for an
/// empty slot (`_`) and for a native histogram sample, which this runner
/// does not load. The flag says whether there were histogram samples; a
/// mixed series keeps its float samples.
pub(super) fn parse_values(text: &str) -> Result<(Vec<Option<f64>>, bool), String> {
    let mut out = Vec::new();
    let mut histograms = false;
    for item in value_items(text) {
        if item.contains("{{") {
            histograms = true;
            // `{{...}}`, or `{{...}}x<n>` / `{{...}}+{{...}}x<n>` (n + 1 samples).
            let tail = item.rsplit("}}").next().unwrap_or("");
            let n = match tail.strip_prefix('x') {
                Some(n) => n.parse::<usize>().map_err(|_| format!("bad item {item}"))? + 1,
                None => 1,
            };
            out.extend(std::iter::repeat_n(None, n));
        } else if item == "_" {
            out.push(None);
        } else if let Some(n) = item.strip_prefix("_x") {
            let n: usize = n.parse().map_err(|_| format!("bad item {item}"))?;
            out.extend(std::iter::repeat_n(None, n));
        } else if item == "stale" {
            out.push(Some(STALE_NAN));
        } else if let Some((head, times)) = item.split_once('x') {
            let n: usize = times.parse().map_err(|_| format!("bad item {item}"))?;
            // head is V, V+D or V-D (V may carry a sign).
            let split = head
                .char_indices()
                .skip(1)
                .find(|&(i, c)| (c == '+' || c == '-') && !head[..i].ends_with(['e', 'E']))
                .map(|(i, _)| i);
            let (start, delta) = match split {
                Some(i) => (
                    script_number(&head[..i]).ok_or(format!("bad item {item}"))?,
                    script_number(&head[i..]).ok_or(format!("bad item {item}"))?,
                ),
                None => (script_number(head).ok_or(format!("bad item {item}"))?, 0.0),
            };
            for k in 0..=n {
                out.push(Some(start + delta * k as f64));
            }
        } else {
            out.push(Some(script_number(item).ok_or(format!("bad item {item}"))?));
        }
    }
    Ok((out, histograms))
}

/// The script's lines, trimmed, with comment lines blanked so that line
/// numbers stay those of the file.
pub(super) fn script_lines(text: &str) -> Vec<&str> {
    text.lines()
        .map(|l| {
            if l.trim_start().starts_with('#') {
                ""
            } else {
                l.trim()
            }
        })
        .collect()
}

/// The command word of a statement line, lower-cased (`load`, `eval_fail`...).
pub(super) fn command(line: &str) -> String {
    line.split_whitespace()
        .next()
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// What a `load` (or `load_with_nhcb`) block adds.
#[derive(Debug, Default)]
pub(super) struct Load {
    /// The float samples of each series.
    pub(super) series: BTreeMap<Labels, Vec<Sample>>,
    /// Series with native histogram samples (not loaded), and those
    /// `load_with_nhcb` would turn into native histograms.
    pub(super) histograms: Vec<Labels>,
    /// Series named by start-timestamp lines (`metric{...}@st`).
    pub(super) start_timestamps: Vec<Labels>,
}

/// Reads the `load` block whose header is `lines[i]`; returns it and the
/// index of the line after it.
pub(super) fn parse_load(lines: &[&str], mut i: usize) -> Result<(Load, usize), String> {
    let line = lines[i];
    let interval = line
        .split_whitespace()
        .nth(1)
        .and_then(script_duration)
        .ok_or(format!("line {}: bad load", i + 1))?;
    let nhcb = command(line) == "load_with_nhcb";
    i += 1;
    let mut load = Load::default();
    while i < lines.len() && !lines[i].is_empty() {
        let (metric, values) =
            split_series(lines[i]).ok_or(format!("line {}: bad series", i + 1))?;
        // Start timestamps (`metric{...}@st`) belong to the series
        // of that name; they are not loaded (a feature-flagged
        // experiment), but the series is remembered for the excuse.
        if let Some(m) = metric.strip_suffix("@st") {
            let labels = parse_labels(m).map_err(|e| format!("line {}: {e}", i + 1))?;
            load.start_timestamps.push(labels);
            i += 1;
            continue;
        }
        let labels = parse_labels(metric).map_err(|e| format!("line {}: {e}", i + 1))?;
        if nhcb && let Some(h) = nhcb_series(&labels) {
            load.histograms.push(h);
        }
        let (vals, has_histograms) =
            parse_values(values).map_err(|e| format!("line {}: {e}", i + 1))?;
        if has_histograms {
            load.histograms.push(labels.clone());
        }
        let samples: Vec<Sample> = vals
            .iter()
            .enumerate()
            .filter_map(|(k, v)| v.map(|v| Sample::new(k as i64 * interval, v)))
            .collect();
        if !samples.is_empty() {
            load.series.insert(labels, samples);
        }
        i += 1;
    }
    Ok((load, i))
}

/// Whether an `eval` statement is an instant or a range query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum EvalMode {
    /// `eval instant at <t> <query>`.
    Instant,
    /// `eval range from <start> to <end> step <step> <query>`.
    Range,
}

/// What an `eval` header's command asks for besides the expectation lines:
/// the legacy forms `eval_fail` and `eval_ordered`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Legacy {
    /// Plain `eval`: only the expectation lines say what to expect.
    None,
    /// `eval_fail`: the query must fail.
    Fail,
    /// `eval_ordered`: the result must come in the listed order.
    Ordered,
}

impl Legacy {
    /// The legacy form a command names.
    pub(super) fn of(command: &str) -> Legacy {
        match command {
            "eval_fail" => Legacy::Fail,
            "eval_ordered" => Legacy::Ordered,
            _ => Legacy::None,
        }
    }
}

/// An `eval` statement as written: header and expectation block.
#[derive(Debug)]
pub(super) struct EvalStatement<'a> {
    /// 1-based line of the `eval`.
    pub(super) line: usize,
    /// `eval`, `eval_fail` or `eval_ordered`.
    pub(super) command: String,
    /// The header's words (`eval instant at 5m ...`).
    pub(super) words: Vec<&'a str>,
    /// `instant` or `range`.
    pub(super) mode: EvalMode,
    /// The query text.
    pub(super) query: String,
    /// The expectation lines under the header.
    pub(super) block: Vec<&'a str>,
}

/// Reads the `eval` statement whose header is `lines[i]`; returns it and the
/// index of the line after its block.
pub(super) fn parse_eval<'a>(
    lines: &[&'a str],
    mut i: usize,
) -> Result<(EvalStatement<'a>, usize), String> {
    let line = lines[i];
    let start_line = i + 1;
    let words: Vec<&str> = line.split_whitespace().collect();
    let (mode, query_at) = match words.get(1) {
        Some(&"instant") => (EvalMode::Instant, 4),
        Some(&"range") => (EvalMode::Range, 8),
        _ => return Err(format!("line {start_line}: bad eval")),
    };
    let mut rest = line;
    for _ in 0..query_at {
        let w = rest.find(char::is_whitespace).unwrap_or(rest.len());
        rest = rest[w..].trim_start();
    }
    let query = rest.to_owned();
    i += 1;
    let mut block = Vec::new();
    while i < lines.len() && !lines[i].is_empty() {
        block.push(lines[i]);
        let is_number = script_number(lines[i]).is_some();
        i += 1;
        if is_number {
            break;
        }
    }
    let statement = EvalStatement {
        line: start_line,
        command: command(line),
        words,
        mode,
        query,
        block,
    };
    Ok((statement, i))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_descriptions() {
        assert_eq!(
            parse_values("1 _ 3 _x2 1+2x2 10-2x1 -2+4x1 1x1 stale")
                .unwrap()
                .0
                .len(),
            15
        );
        let v = parse_values("0+10x2 1e3").unwrap();
        assert_eq!(
            v,
            (vec![Some(0.0), Some(10.0), Some(20.0), Some(1000.0)], false)
        );
        assert_eq!(parse_values("{{schema:0}}").unwrap(), (vec![None], true));
        assert_eq!(
            parse_labels("foo{a=\"b\"}").unwrap().to_string(),
            r#"{__name__="foo", a="b"}"#
        );
        assert_eq!(parse_labels("{}").unwrap(), Labels::default());
        assert_eq!(
            split_series(r#"m{a="x y}"} 1 2"#),
            Some((r#"m{a="x y}"}"#, "1 2"))
        );
    }
}
