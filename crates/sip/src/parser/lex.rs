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

/// The elements of a header value split at top-level commas: commas inside
/// quoted strings and inside `<...>` do not split. Elements are trimmed;
/// empty ones are kept so that callers decide whether `a,,b` is an error.
/// An unterminated quoted string ends the iteration with an error.
pub(crate) fn list_items(value: &str) -> ListItems<'_> {
    ListItems {
        value,
        start: Some(0),
    }
}

/// Iterator returned by [`list_items`]; borrows, never allocates.
pub(crate) struct ListItems<'a> {
    value: &'a str,
    /// Where the next element starts; `None` once the last one was returned.
    start: Option<usize>,
}

impl<'a> Iterator for ListItems<'a> {
    type Item = Result<&'a str, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        let start = self.start?;
        let bytes = self.value.as_bytes();
        let mut angle = false;
        let mut i = start;
        while i < bytes.len() {
            match bytes[i] {
                b'"' => match quoted_end(self.value, i) {
                    Ok(end) => {
                        i = end;
                        continue;
                    }
                    Err(e) => {
                        self.start = None;
                        return Some(Err(e));
                    }
                },
                b'<' => angle = true,
                b'>' => angle = false,
                b',' if !angle => {
                    self.start = Some(i + 1);
                    return Some(Ok(trim_wsp(&self.value[start..i])));
                }
                _ => {}
            }
            i += 1;
        }
        self.start = None;
        Some(Ok(trim_wsp(&self.value[start..])))
    }
}

/// [`list_items`] collected; an unterminated quoted string anywhere is an error.
pub(crate) fn split_list(value: &str) -> Result<Vec<&str>, ParseError> {
    list_items(value).collect()
}

/// The elements of a list whose elements must all be present (`a,,b` is an
/// error). The whole list is checked before the first element is returned,
/// so a quoting error wins over an empty element, which wins over whatever
/// the caller finds wrong in an element.
pub(crate) fn nonempty_list_items(value: &str) -> Result<ListItems<'_>, ParseError> {
    let mut empty = false;
    for item in list_items(value) {
        empty |= item?.is_empty();
    }
    if empty {
        return Err(ParseError::InvalidSyntax("empty list element"));
    }
    Ok(list_items(value))
}

/// Characters of a `gen-value` that is not quoted: token or host (IPv6 included).
fn is_gen_value_byte(b: u8) -> bool {
    is_token_byte(b) || matches!(b, b':' | b'[' | b']')
}

/// Scans `*( SEMI generic-param )` with optional white space around `;` and `=`
/// (RFC 3261 `SEMI` and `EQUAL`), handing each parameter to `each`. `s` must
/// be empty or start (after white space) with `;`. Quoted values keep their quotes.
pub(crate) fn scan_header_params<'a>(
    s: &'a str,
    mut each: impl FnMut(&'a str, Option<&'a str>),
) -> Result<(), ParseError> {
    let bytes = s.as_bytes();
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
            value = Some(&s[value_start..i]);
            i = skip_wsp(bytes, i);
        }
        each(name, value);
    }
    Ok(())
}

/// [`scan_header_params`] collected into [`Params`].
pub(crate) fn parse_header_params(s: &str) -> Result<Params, ParseError> {
    let mut params = Params::default();
    scan_header_params(s, |name, value| params.push_borrowed(name, value))?;
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
