//! Lexical pieces of RFC 3261 §25: character classes, quoted strings,
//! comma lists and `;name=value` header parameters.
//!
//! All delimiters the grammar uses are ASCII, so slicing a `&str` at the
//! positions these helpers return is always on a character boundary.

use crate::error::ParseError;
use crate::params::Params;

/// A set of bytes as a table built at compile time: the parser asks about
/// every byte of every header, and one lookup beats a chain of comparisons.
pub(crate) struct ByteSet([bool; 256]);

impl ByteSet {
    /// ASCII letters and digits.
    pub(crate) const fn alphanumeric() -> ByteSet {
        let mut set = [false; 256];
        let mut b = 0;
        while b < 256 {
            set[b] = (b as u8).is_ascii_alphanumeric();
            b += 1;
        }
        ByteSet(set)
    }

    /// This set and `bytes`.
    pub(crate) const fn with(mut self, bytes: &[u8]) -> ByteSet {
        let mut i = 0;
        while i < bytes.len() {
            self.0[bytes[i] as usize] = true;
            i += 1;
        }
        self
    }

    /// Whether `b` is in the set.
    #[inline]
    pub(crate) fn contains(&self, b: u8) -> bool {
        self.0[usize::from(b)]
    }
}

/// `token` characters (RFC 3261 §25.1).
static TOKEN_BYTES: ByteSet = ByteSet::alphanumeric().with(b"-.!%*_+`'~");

/// Whether `b` is a `token` character (RFC 3261 §25.1).
pub(crate) fn is_token_byte(b: u8) -> bool {
    TOKEN_BYTES.contains(b)
}

/// The index of the first `byte` in `s` (`str::find` for one ASCII byte,
/// without its per-call cost on the short pieces a header is cut into).
pub(crate) fn find_byte(s: &str, byte: u8) -> Option<usize> {
    memchr::memchr(byte, s.as_bytes())
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
    let bytes = s.as_bytes();
    let start = bytes
        .iter()
        .position(|&b| !is_wsp(b))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|&b| !is_wsp(b))
        .map_or(start, |i| i + 1);
    // SP and HTAB are ASCII, so both ends are character boundaries.
    &s[start..end]
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
        // Outside brackets a comma, a quote or `<` matters; inside, `>` or a quote.
        let next_delimiter = |i: usize, angle: bool| {
            let rest = &bytes[i..];
            let found = if angle {
                memchr::memchr2(b'>', b'"', rest)
            } else {
                memchr::memchr3(b',', b'"', b'<', rest)
            };
            found.map(|offset| i + offset)
        };
        while let Some(at) = next_delimiter(i, angle) {
            match bytes[at] {
                b'"' => match quoted_end(self.value, at) {
                    Ok(end) => i = end,
                    Err(e) => {
                        self.start = None;
                        return Some(Err(e));
                    }
                },
                b',' => {
                    self.start = Some(at + 1);
                    return Some(Ok(trim_wsp(&self.value[start..at])));
                }
                b'<' => (angle, i) = (true, at + 1),
                _ => (angle, i) = (false, at + 1), // `>`
            }
        }
        self.start = None;
        Some(Ok(trim_wsp(&self.value[start..])))
    }
}

/// [`list_items`] collected; an unterminated quoted string anywhere is an error.
pub(crate) fn split_list(value: &str) -> Result<Vec<&str>, ParseError> {
    list_items(value).collect()
}

/// Hands each element of a list whose elements must all be present (`a,,b`
/// is an error) to `each`, in one pass; returns how many there were. Errors
/// come out as if the whole list were checked first: a quoting error, then
/// an empty element, then the first element `each` refuses.
pub(crate) fn for_each_list_element<'a>(
    value: &'a str,
    mut each: impl FnMut(&'a str) -> Result<(), ParseError>,
) -> Result<usize, ParseError> {
    let mut count = 0;
    for item in list_items(value) {
        let outcome = item.and_then(|item| match item {
            "" => Err(EMPTY_LIST_ELEMENT),
            item => each(item),
        });
        match outcome {
            Ok(()) => count += 1,
            Err(refused) => return Err(list_shape_error(value).unwrap_or(refused)),
        }
    }
    Ok(count)
}

const EMPTY_LIST_ELEMENT: ParseError = ParseError::InvalidSyntax("empty list element");

/// What is wrong with the shape of a list, if anything: a quoting error
/// (which ends the list), else an empty element anywhere.
fn list_shape_error(value: &str) -> Option<ParseError> {
    let mut empty = false;
    for item in list_items(value) {
        match item {
            Ok(item) => empty |= item.is_empty(),
            Err(quoting) => return Some(quoting),
        }
    }
    empty.then_some(EMPTY_LIST_ELEMENT)
}

/// Characters of a `gen-value` that is not quoted: token or host (IPv6 included).
static GEN_VALUE_BYTES: ByteSet = ByteSet::alphanumeric().with(b"-.!%*_+`'~:[]");

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
                while i < bytes.len() && GEN_VALUE_BYTES.contains(bytes[i]) {
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
        let count = |list| for_each_list_element(list, |_| Ok(()));
        assert_eq!(count("a, \"b,\" ,c"), Ok(3));
        assert_eq!(count("a,,b"), Err(EMPTY_LIST_ELEMENT));
        let refuse_b = |item: &str| match item {
            "b" => Err(ParseError::InvalidSyntax("b")),
            _ => Ok(()),
        };
        assert_eq!(
            for_each_list_element("a, b", refuse_b),
            Err(ParseError::InvalidSyntax("b"))
        );
        assert_eq!(
            for_each_list_element("b, , c", refuse_b),
            Err(EMPTY_LIST_ELEMENT),
            "an empty element wins over a refused one"
        );
        assert_eq!(
            for_each_list_element(",b,\"open", refuse_b),
            Err(ParseError::InvalidSyntax("quoted string")),
            "a quoting error wins over both"
        );
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
    fn byte_sets_hold_what_the_grammar_says() {
        for b in 0..=255u8 {
            let token = b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b);
            assert_eq!(is_token_byte(b), token, "{b}");
            assert_eq!(
                GEN_VALUE_BYTES.contains(b),
                token || b":[]".contains(&b),
                "{b}"
            );
        }
    }

    #[test]
    fn digits() {
        assert_eq!(parse_digits("0068"), Some(68));
        assert_eq!(parse_digits("-1"), None);
        assert_eq!(parse_digits(""), None);
        assert_eq!(parse_digits("99999999999999999999999"), None);
    }
}
