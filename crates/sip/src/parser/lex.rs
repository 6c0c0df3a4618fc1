//! Lexical pieces of RFC 3261 §25: character classes, quoted strings,
//! comma lists and `;name=value` header parameters.
//!
//! All delimiters the grammar uses are ASCII, so slicing a `&str` at the
//! positions these helpers return is always on a character boundary.

use crate::error::ParseError;
use crate::params::Params;

/// `token` characters (RFC 3261 §25.1).
pub(crate) fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
        )
}

/// Whether `s` is a non-empty `token`.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_byte)
}

/// Whether `b` is linear white space inside one (unfolded) line.
pub(crate) fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Trims SP and HTAB on both sides.
pub(crate) fn trim_wsp(s: &str) -> &str {
    s.trim_matches([' ', '\t'])
}

/// Trims SP and HTAB on both sides of a byte slice.
pub(crate) fn trim_wsp_bytes(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if !is_wsp(*first) {
            break;
        }
        s = rest;
    }
    while let [rest @ .., last] = s {
        if !is_wsp(*last) {
            break;
        }
        s = rest;
    }
    s
}

/// Given `s[start] == '"'`, the index just past the closing quote.
/// Backslash escapes any character; an unterminated string is an error.
pub(crate) fn quoted_end(s: &str, start: usize) -> Result<usize, ParseError> {
    let bytes = s.as_bytes();
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => return Ok(i + 1),
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
    Err(ParseError::InvalidSyntax("quoted string"))
}

/// The content of a quoted string (quotes removed, backslash escapes resolved);
/// text that is not quoted is returned unchanged.
pub fn unquote(s: &str) -> String {
    let Some(inner) = s.strip_prefix('"').and_then(|s| s.strip_suffix('"')) else {
        return s.to_string();
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(escaped) = chars.next() {
                out.push(escaped);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `text` as a quoted string, escaping `"` and `\`.
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Splits a header value at top-level commas: commas inside quoted strings
/// and inside `<...>` do not split. Elements are trimmed; empty elements are
/// kept so that callers decide whether `a,,b` is an error.
pub(crate) fn split_list(value: &str) -> Result<Vec<&str>, ParseError> {
    let bytes = value.as_bytes();
    let mut parts = Vec::new();
    let mut start = 0;
    let mut angle = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i = quoted_end(value, i)?;
                continue;
            }
            b'<' => angle = true,
            b'>' => angle = false,
            b',' if !angle => {
                parts.push(trim_wsp(&value[start..i]));
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    parts.push(trim_wsp(&value[start..]));
    Ok(parts)
}

/// Splits a list whose elements must all be present (`a,,b` is an error).
pub(crate) fn split_nonempty_list(value: &str) -> Result<Vec<&str>, ParseError> {
    let parts = split_list(value)?;
    if parts.iter().any(|p| p.is_empty()) {
        return Err(ParseError::InvalidSyntax("empty list element"));
    }
    Ok(parts)
}

/// Characters of a `gen-value` that is not quoted: token or host (IPv6 included).
fn is_gen_value_byte(b: u8) -> bool {
    is_token_byte(b) || matches!(b, b':' | b'[' | b']')
}

/// Parses `*( SEMI generic-param )` with optional white space around `;` and `=`
/// (RFC 3261 `SEMI` and `EQUAL`). `s` must be empty or start (after white space)
/// with `;`. Quoted values keep their quotes.
pub(crate) fn parse_header_params(s: &str) -> Result<Params, ParseError> {
    let bytes = s.as_bytes();
    let mut params = Params::default();
    let mut i = skip_wsp(bytes, 0);
    while i < bytes.len() {
        if bytes[i] != b';' {
            return Err(ParseError::InvalidSyntax("parameter"));
        }
        i = skip_wsp(bytes, i + 1);
        let name_start = i;
        while i < bytes.len() && is_token_byte(bytes[i]) {
            i += 1;
        }
        if i == name_start {
            return Err(ParseError::InvalidSyntax("parameter"));
        }
        let name = &s[name_start..i];
        i = skip_wsp(bytes, i);
        let mut value = None;
        if i < bytes.len() && bytes[i] == b'=' {
            i = skip_wsp(bytes, i + 1);
            let value_start = i;
            if i < bytes.len() && bytes[i] == b'"' {
                i = quoted_end(s, i)?;
            } else {
                while i < bytes.len() && is_gen_value_byte(bytes[i]) {
                    i += 1;
                }
            }
            if i == value_start {
                return Err(ParseError::InvalidSyntax("parameter value"));
            }
            value = Some(s[value_start..i].to_string());
            i = skip_wsp(bytes, i);
        }
        params.0.push((name.to_string(), value));
    }
    Ok(params)
}

/// The first index at or after `i` that is not SP or HTAB.
pub(crate) fn skip_wsp(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() && is_wsp(bytes[i]) {
        i += 1;
    }
    i
}

/// Parses `1*DIGIT` into a u64, rejecting empty input, signs and overflow.
pub(crate) fn parse_digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.bytes().try_fold(0u64, |acc, b| {
        acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_split_respects_quotes_and_brackets() {
        let parts = split_list(r#""a, \"b" <sip:x@y;p=1,2>;q=1 , <sip:z>"#).unwrap();
        assert_eq!(parts, vec![r#""a, \"b" <sip:x@y;p=1,2>;q=1"#, "<sip:z>"]);
        assert_eq!(split_list("a,,b").unwrap(), vec!["a", "", "b"]);
        assert!(split_nonempty_list("a,,b").is_err());
        assert!(split_list("\"open").is_err());
    }

    #[test]
    fn header_params_allow_lws() {
        let p = parse_header_params(" ; newparam =  newvalue ; secondparam ; q = 0.33").unwrap();
        assert_eq!(p.value("newparam"), Some("newvalue"));
        assert_eq!(p.get("secondparam"), Some(None));
        assert_eq!(p.value("q"), Some("0.33"));
        let p = parse_header_params(r#";x="a;b\"c";received=[2001:db8::1]"#).unwrap();
        assert_eq!(p.value("x"), Some(r#""a;b\"c""#));
        assert_eq!(p.value("received"), Some("[2001:db8::1]"));
        assert!(parse_header_params(";;").is_err());
        assert!(parse_header_params(";a=").is_err());
        assert!(parse_header_params("x").is_err());
    }

    #[test]
    fn quoting_round_trips() {
        assert_eq!(unquote(r#""J \"R\" \\""#), r#"J "R" \"#);
        assert_eq!(quote(r#"J "R" \"#), r#""J \"R\" \\""#);
        assert_eq!(unquote("plain"), "plain");
    }

    #[test]
    fn digits() {
        assert_eq!(parse_digits("0068"), Some(68));
        assert_eq!(parse_digits("-1"), None);
        assert_eq!(parse_digits(""), None);
        assert_eq!(parse_digits("99999999999999999999999"), None);
    }
}
