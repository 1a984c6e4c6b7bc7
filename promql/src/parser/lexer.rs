//! Turns query text into tokens, with nom combinators for each token kind.

use nom::branch::alt;
use nom::bytes::complete::{tag, take_while, take_while1};
use nom::character::complete::{char, digit1, hex_digit1, one_of};
use nom::combinator::{opt, recognize};
use nom::sequence::pair;
use nom::{IResult, Parser};

use crate::duration::parse_duration;

/// A token kind, with its value where it has one.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// Identifiers and keywords (keywords are told apart by the parser).
    Ident(String),
    /// A number literal.
    Number(f64),
    /// A duration literal, in ms.
    Duration(i64),
    /// A string literal, unescaped.
    Str(String),
    LParen,
    RParen,
    LBrace,
    RBrace,
    LBracket,
    RBracket,
    Comma,
    Colon,
    At,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Eql,
    Neq,
    Lss,
    Lte,
    Gtr,
    Gte,
    TrimUpper,
    TrimLower,
    Assign,
    EqlRegex,
    NeqRegex,
    Eof,
}

impl Tok {
    /// How the token is named in error messages.
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("identifier {s:?}"),
            Tok::Number(n) => format!("number {}", crate::ast::format_number(*n)),
            Tok::Duration(d) => format!("duration {}", crate::duration::format_duration(*d)),
            Tok::Str(s) => format!("string {s:?}"),
            Tok::LParen => "\"(\"".into(),
            Tok::RParen => "\")\"".into(),
            Tok::LBrace => "\"{\"".into(),
            Tok::RBrace => "\"}\"".into(),
            Tok::LBracket => "\"[\"".into(),
            Tok::RBracket => "\"]\"".into(),
            Tok::Comma => "\",\"".into(),
            Tok::Colon => "\":\"".into(),
            Tok::At => "\"@\"".into(),
            Tok::Eof => "end of input".into(),
            Tok::Assign => "\"=\"".into(),
            Tok::EqlRegex => "\"=~\"".into(),
            Tok::NeqRegex => "\"!~\"".into(),
            other => match binary_op_text(other) {
                Some(t) => format!("operator {t:?}"),
                None => format!("{other:?}"),
            },
        }
    }
}

fn binary_op_text(t: &Tok) -> Option<&'static str> {
    Some(match t {
        Tok::Add => "+",
        Tok::Sub => "-",
        Tok::Mul => "*",
        Tok::Div => "/",
        Tok::Mod => "%",
        Tok::Pow => "^",
        Tok::Eql => "==",
        Tok::Neq => "!=",
        Tok::Lss => "<",
        Tok::Lte => "<=",
        Tok::Gtr => ">",
        Tok::Gte => ">=",
        Tok::TrimUpper => "</",
        Tok::TrimLower => ">/",
        _ => return None,
    })
}

/// A token and the byte offsets it spans.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

/// A lexing error: message and byte offset.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LexError {
    pub(crate) offset: usize,
    pub(crate) message: String,
}

fn ident(i: &str) -> IResult<&str, &str> {
    recognize(pair(
        take_while1(|c: char| c.is_ascii_alphabetic() || c == '_' || c == ':'),
        take_while(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
    ))
    .parse(i)
}

fn digits_(i: &str) -> IResult<&str, &str> {
    recognize(pair(
        digit1,
        take_while(|c: char| c.is_ascii_digit() || c == '_'),
    ))
    .parse(i)
}

/// Decimal number text: `1`, `1.5`, `.5`, `5.`, `1e3`, `1_000`.
fn decimal(i: &str) -> IResult<&str, &str> {
    let exponent = recognize((one_of("eE"), opt(one_of("+-")), digit1));
    let with_int = recognize((digits_, opt(pair(char('.'), opt(digit1))), opt(exponent)));
    let exponent2 = recognize((one_of("eE"), opt(one_of("+-")), digit1));
    let frac_only = recognize((char('.'), digit1, opt(exponent2)));
    alt((with_int, frac_only)).parse(i)
}

fn hex(i: &str) -> IResult<&str, &str> {
    recognize((char('0'), one_of("xX"), hex_digit1)).parse(i)
}

/// The value of a number literal, with Go's base-0 integer rules first
/// (a leading 0 means octal) and float parsing after.
fn number_value(text: &str) -> Option<f64> {
    let clean: String = text.chars().filter(|&c| c != '_').collect();
    if text.contains("__") || text.ends_with('_') {
        return None;
    }
    if let Some(h) = clean
        .strip_prefix("0x")
        .or_else(|| clean.strip_prefix("0X"))
    {
        return u64::from_str_radix(h, 16).ok().map(|v| v as f64);
    }
    if clean.len() > 1
        && clean.bytes().all(|b| b.is_ascii_digit())
        && let Some(octal) = clean.strip_prefix('0')
        && let Ok(v) = u64::from_str_radix(octal, 8)
    {
        return Some(v as f64);
    }
    clean.parse::<f64>().ok()
}

/// Reads a quoted string starting at the quote; returns the unescaped text
/// and the rest of the input.
fn string(i: &str) -> Result<(String, &str), (usize, String)> {
    let mut chars = i.char_indices();
    let Some((_, quote)) = chars.next() else {
        return Err((0, "empty input".into()));
    };
    if quote == '`' {
        return match i[1..].find('`') {
            Some(end) => Ok((i[1..end + 1].to_owned(), &i[end + 2..])),
            None => Err((0, "unterminated raw string".into())),
        };
    }
    // Bytes, since Go-style `\xff` escapes may produce invalid UTF-8; such
    // sequences become U+FFFD (and can never form a valid label name).
    let mut out: Vec<u8> = Vec::new();
    let push = |out: &mut Vec<u8>, c: char| {
        let mut buf = [0u8; 4];
        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
    };
    while let Some((idx, c)) = chars.next() {
        match c {
            c if c == quote => {
                let s = String::from_utf8(out)
                    .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
                return Ok((s, &i[idx + 1..]));
            }
            '\n' => return Err((idx, "unterminated quoted string".into())),
            '\\' => {
                let Some((eidx, e)) = chars.next() else { break };
                let simple = match e {
                    'a' => Some('\u{7}'),
                    'b' => Some('\u{8}'),
                    'f' => Some('\u{c}'),
                    'n' => Some('\n'),
                    'r' => Some('\r'),
                    't' => Some('\t'),
                    'v' => Some('\u{b}'),
                    '\\' => Some('\\'),
                    c if c == quote => Some(c),
                    _ => None,
                };
                if let Some(s) = simple {
                    push(&mut out, s);
                    continue;
                }
                let (len, radix) = match e {
                    'x' => (2, 16),
                    'u' => (4, 16),
                    'U' => (8, 16),
                    '0'..='7' => (2, 8),
                    _ => return Err((eidx - 1, format!("unknown escape sequence \\{e}"))),
                };
                let mut code = String::new();
                if radix == 8 {
                    code.push(e);
                }
                for _ in 0..len {
                    match chars.next() {
                        Some((_, d)) if d.is_digit(radix) => code.push(d),
                        _ => return Err((eidx - 1, "invalid escape sequence".into())),
                    }
                }
                let v = u32::from_str_radix(&code, radix)
                    .map_err(|_| (eidx - 1, "invalid escape sequence".to_string()))?;
                if radix == 8 && v > 255 {
                    return Err((eidx - 1, "octal escape value > 255".into()));
                }
                match (e, char::from_u32(v)) {
                    ('x' | '0'..='7', _) => out.push(v as u8),
                    (_, Some(ch)) => push(&mut out, ch),
                    (_, None) => {
                        return Err((
                            eidx - 1,
                            "escape sequence is an invalid Unicode code point".into(),
                        ));
                    }
                }
            }
            c => push(&mut out, c),
        }
    }
    Err((0, "unterminated quoted string".into()))
}

fn punct(i: &str) -> IResult<&str, Tok> {
    alt((
        alt((
            tag("==").map(|_| Tok::Eql),
            tag("!=").map(|_| Tok::Neq),
            tag("=~").map(|_| Tok::EqlRegex),
            tag("!~").map(|_| Tok::NeqRegex),
            tag("<=").map(|_| Tok::Lte),
            tag(">=").map(|_| Tok::Gte),
            tag("</").map(|_| Tok::TrimUpper),
            tag(">/").map(|_| Tok::TrimLower),
        )),
        alt((
            char('(').map(|_| Tok::LParen),
            char(')').map(|_| Tok::RParen),
            char('{').map(|_| Tok::LBrace),
            char('}').map(|_| Tok::RBrace),
            char('[').map(|_| Tok::LBracket),
            char(']').map(|_| Tok::RBracket),
            char(',').map(|_| Tok::Comma),
            char(':').map(|_| Tok::Colon),
            char('@').map(|_| Tok::At),
            char('+').map(|_| Tok::Add),
            char('-').map(|_| Tok::Sub),
            char('*').map(|_| Tok::Mul),
            char('/').map(|_| Tok::Div),
            char('%').map(|_| Tok::Mod),
            char('^').map(|_| Tok::Pow),
            char('<').map(|_| Tok::Lss),
            char('>').map(|_| Tok::Gtr),
            char('=').map(|_| Tok::Assign),
        )),
    ))
    .parse(i)
}

/// Splits `input` into tokens, ending with [`Tok::Eof`].
pub(crate) fn tokenize(input: &str) -> Result<Vec<Token>, LexError> {
    let mut out = Vec::new();
    let mut rest = input;
    let offset = |rest: &str| input.len() - rest.len();
    // Inside `[...]` a colon separates range and step; elsewhere it may be
    // part of a metric name.
    let mut brackets = 0usize;
    loop {
        rest = rest.trim_start_matches([' ', '\t', '\n', '\r']);
        if let Some(after) = rest.strip_prefix('#') {
            rest = after.find('\n').map_or("", |i| &after[i..]);
            continue;
        }
        let start = offset(rest);
        let Some(c) = rest.chars().next() else {
            out.push(Token {
                tok: Tok::Eof,
                start,
                end: start,
            });
            return Ok(out);
        };
        let (tok, after) = if c == '"' || c == '\'' || c == '`' {
            match string(rest) {
                Ok((s, after)) => (Tok::Str(s), after),
                Err((at, message)) => {
                    return Err(LexError {
                        offset: start + at,
                        message,
                    });
                }
            }
        } else if c.is_ascii_digit()
            || (c == '.' && rest[1..].starts_with(|d: char| d.is_ascii_digit()))
        {
            if let Ok((after, text)) = hex(rest) {
                let v = number_value(text).ok_or(LexError {
                    offset: start,
                    message: format!("bad number {text:?}"),
                })?;
                (Tok::Number(v), after)
            } else if let Ok((after, text)) = recognize(pair(
                digit1::<&str, nom::error::Error<&str>>,
                take_while(|c: char| c.is_ascii_alphanumeric()),
            ))
            .parse(rest)
                && text.ends_with(['s', 'm', 'h', 'd', 'w', 'y'])
                && let Some(ms) = parse_duration(text)
            {
                (Tok::Duration(ms), after)
            } else {
                let (after, text) = decimal(rest).map_err(|_| LexError {
                    offset: start,
                    message: "bad number".into(),
                })?;
                let v = number_value(text).ok_or(LexError {
                    offset: start,
                    message: format!("bad number or duration syntax {text:?}"),
                })?;
                (Tok::Number(v), after)
            }
        } else if c == ':' && brackets > 0 {
            (Tok::Colon, &rest[1..])
        } else if let Ok((after, text)) = ident(rest) {
            (Tok::Ident(text.to_owned()), after)
        } else if let Ok((after, tok)) = punct(rest) {
            (tok, after)
        } else {
            return Err(LexError {
                offset: start,
                message: format!("unexpected character {c:?}"),
            });
        };
        // A number or duration glued to letters ("5x", "1mm") is an error.
        if matches!(tok, Tok::Number(_) | Tok::Duration(_))
            && after.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        {
            let bad_end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            return Err(LexError {
                offset: start,
                message: format!(
                    "bad number or duration syntax: {:?}",
                    &rest[..rest.len() - after.len() + bad_end]
                ),
            });
        }
        match tok {
            Tok::LBracket => brackets += 1,
            Tok::RBracket => brackets = brackets.saturating_sub(1),
            _ => {}
        }
        out.push(Token {
            tok,
            start,
            end: offset(after),
        });
        rest = after;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        tokenize(s).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn numbers_durations_and_strings() {
        assert_eq!(
            toks("1 1.5 .5 5. 1e3 1E-3 0x1F 010 1_000"),
            [
                Tok::Number(1.0),
                Tok::Number(1.5),
                Tok::Number(0.5),
                Tok::Number(5.0),
                Tok::Number(1000.0),
                Tok::Number(0.001),
                Tok::Number(31.0),
                Tok::Number(8.0),
                Tok::Number(1000.0),
                Tok::Eof
            ]
        );
        assert_eq!(
            toks("5m 1h30m 10ms"),
            [
                Tok::Duration(300_000),
                Tok::Duration(5_400_000),
                Tok::Duration(10),
                Tok::Eof
            ]
        );
        assert_eq!(
            toks(r#""a\"b\n" 'c\'d' `e\n`"#),
            [
                Tok::Str("a\"b\n".into()),
                Tok::Str("c'd".into()),
                Tok::Str("e\\n".into()),
                Tok::Eof
            ]
        );
        assert_eq!(
            toks(r#""\x41\u00e9\101""#),
            [Tok::Str("AéA".into()), Tok::Eof]
        );
        assert!(tokenize("5x").is_err());
        assert!(tokenize("\"abc").is_err());
        assert!(tokenize(r#""\q""#).is_err());
    }

    #[test]
    fn operators_and_comments() {
        assert_eq!(
            toks("a</b >/ c=~ # comment\n!~ != == <= >= < > ="),
            [
                Tok::Ident("a".into()),
                Tok::TrimUpper,
                Tok::Ident("b".into()),
                Tok::TrimLower,
                Tok::Ident("c".into()),
                Tok::EqlRegex,
                Tok::NeqRegex,
                Tok::Neq,
                Tok::Eql,
                Tok::Lte,
                Tok::Gte,
                Tok::Lss,
                Tok::Gtr,
                Tok::Assign,
                Tok::Eof
            ]
        );
        assert_eq!(
            toks("foo:bar_1"),
            [Tok::Ident("foo:bar_1".into()), Tok::Eof]
        );
    }
}
