//! Which part of a message body is its session description.
//!
//! A peer's body is taken as SDP only when the message says it is SDP. A UAS
//! asks one question: [`session_offer`] for a request whose answer will carry
//! our SDP (INVITE, re-INVITE), [`session_description`] for any other message
//! (an answer in a response or an ACK). Either returns the SDP bytes
//! (borrowed from the body, never copied), `None` when the message offers no
//! session, or a [`BodyError`] that knows the SIP answer it deserves.
//!
//! The rules, and what we chose where the RFCs leave room:
//!
//! - Media types compare case-insensitively and their parameters are ignored:
//!   `application/SDP; charset=x` is SDP (RFC 3261 §7.3.1, RFC 2045 §5.1).
//! - A non-empty body needs a Content-Type (RFC 3261 §7.4.1): 400 without.
//! - A Content-Encoding other than `identity`, or a Content-Transfer-Encoding
//!   other than 7bit/8bit/binary, is not understood: 415 with
//!   `Accept-Encoding: identity` (RFC 3261 §8.2.3).
//! - Content-Disposition (RFC 3261 §20.11, RFC 5621): `session`, the default
//!   for application/sdp, is what we take. A body or part of another type, or
//!   with another disposition, is skipped when it says `handling=optional`
//!   and refused with 415 + `Accept` otherwise (`required` is the default).
//! - multipart/mixed and multipart/related (RFC 2046 §5.1, RFC 2387): every
//!   part goes through the rules above; two session descriptions are a 400.
//!   multipart/alternative: the last SDP alternative wins (RFC 2046 orders
//!   alternatives by rising preference) and the others are skipped; with no
//!   SDP alternative, the first refusal stands. Other multipart subtypes
//!   (signed, encrypted) are types we do not understand.
//! - Accept (RFC 3261 §20.1): absent means application/sdp. `*/*` and
//!   `application/*` match, the most specific range decides, and `q=0` means
//!   "not acceptable". An Accept header with no entries accepts nothing, so
//!   a request carrying one cannot get an SDP answer: 406.
//! - Bounds: at most [`MAX_PARTS`] parts in all, multiparts nested at most
//!   [`MAX_NESTING`] deep (413 beyond); the close delimiter is required.
//!   Parsing is linear in the body and never panics. A multipart body's part
//!   headers are read by the message parser's header-block reader (same
//!   folding, token names, UTF-8 and control-character checks), into one
//!   [`Headers`] per part: at most [`MAX_PARTS`] small allocations; a
//!   single-part body allocates nothing on success.

use memchr::memmem;
use thiserror::Error;

use crate::header::{HeaderName, Headers};
use crate::message::Request;
// RFC 3261 §25.1 `token`, which includes `*`, so `*/*` parses.
use crate::parser::{is_token, parse_header_block, split_head, HeadBounds};

/// Body types we take, for `Accept` in a 415 (and an OPTIONS answer).
pub const ACCEPT: &str = "application/sdp";
/// Content codings we take, for `Accept-Encoding` in a 415.
pub const ACCEPT_ENCODING: &str = "identity";
/// Most body parts read in one message, all multipart levels together.
pub const MAX_PARTS: usize = 16;
/// Deepest nesting of multipart bodies read (a multipart inside a multipart is 2).
pub const MAX_NESTING: usize = 2;

/// Longest media type or coding name quoted back in an error.
const MAX_QUOTED: usize = 64;

/// Why a body cannot be taken as a session description; each maps to the
/// SIP answer a UAS sends ([`BodyError::status`], [`BodyError::answer_headers`]).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BodyError {
    /// A required body or part of a type (or disposition) we do not understand.
    #[error("body type {0} is not understood")]
    UnsupportedType(String),
    /// A required body or part in a content or transfer coding we do not understand.
    #[error("content coding {0} is not understood")]
    UnsupportedEncoding(String),
    /// A non-empty body without Content-Type.
    #[error("body without Content-Type")]
    MissingContentType,
    /// A Content-Type, part header or multipart framing that does not parse.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// More than one session description where one is expected.
    #[error("more than one session description")]
    SeveralSessions,
    /// Past [`MAX_PARTS`] parts or [`MAX_NESTING`] levels.
    #[error("more than {MAX_PARTS} body parts or {MAX_NESTING} multipart levels")]
    TooManyParts,
    /// The request's Accept excludes application/sdp, which our answer would carry.
    #[error("Accept excludes application/sdp")]
    NotAcceptable,
}

impl BodyError {
    /// The status of the answer: 415, 406, 413 or 400.
    pub fn status(&self) -> u16 {
        match self {
            BodyError::UnsupportedType(_) | BodyError::UnsupportedEncoding(_) => 415,
            BodyError::NotAcceptable => 406,
            BodyError::TooManyParts => 413,
            BodyError::MissingContentType
            | BodyError::Malformed(_)
            | BodyError::SeveralSessions => 400,
        }
    }

    /// The reason phrase of that answer; a 400's says what is wrong.
    pub fn reason_phrase(&self) -> String {
        let base = crate::message::default_reason(self.status());
        let detail = match self {
            BodyError::MissingContentType => "Missing Content-Type header",
            BodyError::Malformed(what) => return format!("{base} - Malformed {what}"),
            BodyError::SeveralSessions => "Several session descriptions",
            _ => return base.to_string(),
        };
        format!("{base} - {detail}")
    }

    /// Headers the answer must carry (RFC 3261 §8.2.3): `Accept` on every 415,
    /// and `Accept-Encoding` when a coding was at fault.
    pub fn answer_headers(&self) -> &'static [(&'static str, &'static str)] {
        match self {
            BodyError::UnsupportedType(_) => &[("Accept", ACCEPT)],
            BodyError::UnsupportedEncoding(_) => {
                &[("Accept", ACCEPT), ("Accept-Encoding", ACCEPT_ENCODING)]
            }
            _ => &[],
        }
    }
}

/// The SDP offer of a request whose answer will carry our SDP (INVITE,
/// re-INVITE): `None` for no offer (we offer in the answer), or the error
/// to answer with — the body's (415, 400, 413) first, then 406 when the
/// request's Accept excludes application/sdp.
pub fn session_offer(request: &Request) -> Result<Option<&[u8]>, BodyError> {
    let offer = session_description(&request.headers, &request.body)?;
    if !accepts_sdp(&request.headers) {
        return Err(BodyError::NotAcceptable);
    }
    Ok(offer)
}

/// The SDP in a message's body (an answer in a response or ACK, or an offer
/// in a request): `None` when the body is empty or only holds optional parts
/// we skip.
pub fn session_description<'a>(
    headers: &Headers,
    body: &'a [u8],
) -> Result<Option<&'a [u8]>, BodyError> {
    if body.is_empty() {
        return Ok(None);
    }
    let content_type = headers
        .get(HeaderName::ContentType)
        .ok_or(BodyError::MissingContentType)?;
    let mut walk = Walk { parts: 0 };
    entity_session(headers, content_type, body, 0, &mut walk)
}

/// Whether a request's Accept lets our answer carry application/sdp.
pub(crate) fn accepts_sdp(headers: &Headers) -> bool {
    let mut present = false;
    // (specificity, acceptable) of the most specific matching range so far.
    let mut best: Option<(u8, bool)> = None;
    for line in headers.get_all(HeaderName::Accept) {
        present = true;
        for range in QuotedSplit::new(line, b',') {
            let Some(media) = MediaType::parse(range) else {
                continue;
            };
            let specificity = if media.is("*", "*") {
                1
            } else if media.is("application", "*") {
                2
            } else if media.is("application", "sdp") {
                3
            } else {
                continue;
            };
            let acceptable = !media.param("q").is_some_and(is_zero_q);
            if best.is_none_or(|(s, _)| specificity > s) {
                best = Some((specificity, acceptable));
            }
        }
    }
    !present || best.is_some_and(|(_, acceptable)| acceptable)
}

/// The fuzz target's property check (also run over the seeds on stable):
/// `data` is header lines, an empty line, then the body. Reading the body
/// for its session description, and the headers' Accept, never panics on
/// any input, and an SDP found lies inside the body. Returns whether an
/// SDP was found.
#[doc(hidden)]
pub fn check_untrusted(data: &[u8]) -> bool {
    let (head, body) = split_seed(data);
    let mut headers = Headers::new();
    for line in head.split(|&b| b == b'\n') {
        let Ok(line) = std::str::from_utf8(line) else {
            continue;
        };
        if let Some((name, value)) = line.split_once(':') {
            headers.push(name.trim(), value.trim());
        }
    }
    let _ = accepts_sdp(&headers);
    match session_description(&headers, body) {
        Ok(Some(sdp)) => {
            let range = body.as_ptr_range();
            let found = sdp.as_ptr_range();
            assert!(range.start <= found.start && found.end <= range.end);
            true
        }
        Ok(None) | Err(_) => false,
    }
}

/// Splits a seed at its first empty line (CRLF or LF).
fn split_seed(data: &[u8]) -> (&[u8], &[u8]) {
    let crlf = memmem::find(data, b"\r\n\r\n").map(|i| (i, i + 4));
    let lf = memmem::find(data, b"\n\n").map(|i| (i, i + 2));
    match (crlf, lf) {
        (Some(a), Some(b)) => {
            let (end, start) = if a.0 <= b.0 { a } else { b };
            (&data[..end], &data[start..])
        }
        (Some((end, start)), None) | (None, Some((end, start))) => (&data[..end], &data[start..]),
        (None, None) => (data, &[]),
    }
}

/// Counts the parts read so far, against [`MAX_PARTS`].
struct Walk {
    parts: usize,
}

/// The SDP one body or body part holds, as its `headers` describe it
/// (`content_type` is theirs or the default); `nesting` multipart levels
/// enclose it.
fn entity_session<'a>(
    headers: &Headers,
    content_type: &str,
    body: &'a [u8],
    nesting: usize,
    walk: &mut Walk,
) -> Result<Option<&'a [u8]>, BodyError> {
    let (disposition, optional) = disposition(headers.get_by_name("Content-Disposition"));
    // What we do not understand is skipped if optional, refused otherwise.
    let skip = |error: BodyError| if optional { Ok(None) } else { Err(error) };
    let coding = headers
        .get_all(HeaderName::ContentEncoding)
        .try_for_each(content_coding)
        .and_then(|()| transfer_coding(headers.get_by_name("Content-Transfer-Encoding")));
    if let Err(error) = coding {
        return skip(error);
    }
    let media = MediaType::parse(content_type).ok_or(BodyError::Malformed("Content-Type"))?;
    if media.is("application", "sdp") {
        return match disposition {
            None => Ok(Some(body)),
            Some(d) if d.eq_ignore_ascii_case("session") => Ok(Some(body)),
            Some(d) => skip(BodyError::UnsupportedType(quoted(&format!(
                "application/sdp;disposition={d}"
            )))),
        };
    }
    let multipart = media.kind.eq_ignore_ascii_case("multipart")
        && ["mixed", "alternative", "related"]
            .iter()
            .any(|s| media.subtype.eq_ignore_ascii_case(s));
    if !multipart {
        return skip(BodyError::UnsupportedType(quoted(&format!(
            "{}/{}",
            media.kind, media.subtype
        ))));
    }
    if nesting >= MAX_NESTING {
        return Err(BodyError::TooManyParts);
    }
    let boundary = media
        .param("boundary")
        .filter(|b| (1..=70).contains(&b.len()))
        .ok_or(BodyError::Malformed("multipart boundary"))?;
    let alternative = media.subtype.eq_ignore_ascii_case("alternative");
    multipart_session(body, boundary.as_bytes(), alternative, nesting + 1, walk)
}

/// The SDP in a multipart body's parts (see the module doc for the rules).
fn multipart_session<'a>(
    body: &'a [u8],
    boundary: &[u8],
    alternative: bool,
    nesting: usize,
    walk: &mut Walk,
) -> Result<Option<&'a [u8]>, BodyError> {
    let mut found = None;
    let mut refusal = None;
    let mut parts = Parts::new(body, boundary);
    while let Some(part) = parts.next_part()? {
        walk.parts += 1;
        if walk.parts > MAX_PARTS {
            return Err(BodyError::TooManyParts);
        }
        let (head, part_body) = part;
        let part_headers =
            parse_header_block(head).map_err(|_| BodyError::Malformed("body part header"))?;
        // A part without Content-Type is text/plain (RFC 2046 §5.1).
        let content_type = part_headers
            .get(HeaderName::ContentType)
            .unwrap_or("text/plain");
        match entity_session(&part_headers, content_type, part_body, nesting, walk) {
            Ok(None) => {}
            Ok(Some(sdp)) => {
                if found.is_some() && !alternative {
                    return Err(BodyError::SeveralSessions);
                }
                found = Some(sdp);
            }
            Err(error @ (BodyError::UnsupportedType(_) | BodyError::UnsupportedEncoding(_)))
                if alternative =>
            {
                refusal.get_or_insert(error);
            }
            Err(error) => return Err(error),
        }
    }
    match (found, refusal) {
        (Some(sdp), _) => Ok(Some(sdp)),
        (None, Some(error)) => Err(error),
        (None, None) => Ok(None),
    }
}

/// Walks a multipart body's delimiters (RFC 2046 §5.1.1): a delimiter is
/// `--boundary` at the start of a line, then optional spaces or tabs and a
/// line end; the line break before it belongs to it. LF alone is accepted
/// for CRLF.
struct Parts<'a, 'b> {
    body: &'a [u8],
    finder: memmem::Finder<'b>,
    boundary_len: usize,
    /// Where the next part starts; `None` before the first delimiter.
    next: Option<usize>,
    done: bool,
}

/// A delimiter found in the body.
struct Delimiter {
    /// Where the preceding part ends (the start of the delimiter's line break).
    part_end: usize,
    /// Just past the delimiter line.
    after: usize,
    /// It is the close delimiter (`--boundary--`).
    close: bool,
}

impl<'a, 'b> Parts<'a, 'b> {
    fn new(body: &'a [u8], boundary: &'b [u8]) -> Parts<'a, 'b> {
        Parts {
            body,
            finder: memmem::Finder::new(boundary),
            boundary_len: boundary.len(),
            next: None,
            done: false,
        }
    }

    /// The next part's header block and content, `None` after the close
    /// delimiter.
    fn next_part(&mut self) -> Result<Option<SplitPart<'a>>, BodyError> {
        if self.done {
            return Ok(None);
        }
        let start = match self.next {
            Some(start) => start,
            None => {
                // The preamble before the first delimiter is ignored.
                let first = self
                    .delimiter(0)
                    .ok_or(BodyError::Malformed("multipart body"))?;
                if first.close {
                    // RFC 2046 requires at least one part.
                    return Err(BodyError::Malformed("multipart body"));
                }
                first.after
            }
        };
        let Some(end) = self.delimiter(start) else {
            return Err(BodyError::Malformed("multipart body"));
        };
        self.next = Some(end.after);
        self.done = end.close;
        // A delimiter right after the previous one shares its line break.
        let part = self
            .body
            .get(start..end.part_end.max(start))
            .unwrap_or_default();
        split_part(part).map(Some)
    }

    /// The first delimiter at or after `from`.
    fn delimiter(&self, from: usize) -> Option<Delimiter> {
        let body = self.body;
        let rest = body.get(from..)?;
        for found in self.finder.find_iter(rest) {
            let at = from + found;
            // "--" then the boundary, at the start of a line.
            let Some(dash) = at.checked_sub(2) else {
                continue;
            };
            if body.get(dash..at) != Some(b"--".as_slice()) {
                continue;
            }
            let part_end = match dash.checked_sub(1).map(|i| (i, body[i])) {
                None => 0,
                Some((lf, b'\n')) => match lf.checked_sub(1) {
                    Some(cr) if body[cr] == b'\r' => cr,
                    _ => lf,
                },
                Some(_) => continue,
            };
            let mut i = at + self.boundary_len;
            let close = body.get(i..i + 2) == Some(b"--".as_slice());
            if close {
                i += 2;
            }
            while matches!(body.get(i), Some(b' ' | b'\t')) {
                i += 1;
            }
            let after = match body.get(i) {
                None => i,
                Some(b'\n') => i + 1,
                Some(b'\r') if body.get(i + 1) == Some(&b'\n') => i + 2,
                // Anything may follow the close delimiter (the epilogue).
                Some(_) if close => i,
                // A longer line that merely starts with the boundary.
                Some(_) => continue,
            };
            return Some(Delimiter {
                part_end,
                after,
                close,
            });
        }
        None
    }
}

/// A multipart body's part: its header block and its content.
type SplitPart<'a> = (&'a [u8], &'a [u8]);

/// Splits a part at its first empty line into its header block (the empty
/// line excluded) and its content; a part with none is all headers.
fn split_part(part: &[u8]) -> Result<SplitPart<'_>, BodyError> {
    // No header lines: the part starts with the empty line.
    for empty in [b"\r\n".as_slice(), b"\n"] {
        if let Some(content) = part.strip_prefix(empty) {
            return Ok((&part[..0], content));
        }
    }
    match split_head(part, 0) {
        Ok(Some(HeadBounds { end, body_start })) => Ok((&part[..end], &part[body_start..])),
        // Empty, but still inside the body, like every slice handed out.
        Ok(None) => Ok((part, &part[part.len()..])),
        Err(_) => Err(BodyError::Malformed("body part header")),
    }
}

/// `type/subtype` and its `;params` (kept unparsed until asked).
struct MediaType<'a> {
    kind: &'a str,
    subtype: &'a str,
    params: &'a str,
}

impl<'a> MediaType<'a> {
    fn parse(value: &'a str) -> Option<MediaType<'a>> {
        let (essence, params) = match value.find(';') {
            Some(i) => (&value[..i], &value[i + 1..]),
            None => (value, ""),
        };
        let (kind, subtype) = essence.split_once('/')?;
        let (kind, subtype) = (trim(kind), trim(subtype));
        if !is_token(kind) || !is_token(subtype) {
            return None;
        }
        Some(MediaType {
            kind,
            subtype,
            params,
        })
    }

    fn is(&self, kind: &str, subtype: &str) -> bool {
        self.kind.eq_ignore_ascii_case(kind) && self.subtype.eq_ignore_ascii_case(subtype)
    }

    fn param(&self, name: &str) -> Option<&'a str> {
        param(self.params, name)
    }
}

/// The value of parameter `name` in `;`-separated `params`, unquoted.
fn param<'a>(params: &'a str, name: &str) -> Option<&'a str> {
    QuotedSplit::new(params, b';').find_map(|p| {
        let (n, v) = p.split_once('=')?;
        trim(n).eq_ignore_ascii_case(name).then(|| unquote(trim(v)))
    })
}

/// The disposition type and whether `handling=optional` (RFC 3261 §20.11).
fn disposition(value: Option<&str>) -> (Option<&str>, bool) {
    let Some(value) = value else {
        return (None, false);
    };
    let (kind, params) = value.split_once(';').unwrap_or((value, ""));
    let kind = Some(trim(kind)).filter(|k| !k.is_empty());
    let optional = param(params, "handling").is_some_and(|h| h.eq_ignore_ascii_case("optional"));
    (kind, optional)
}

/// A Content-Encoding list we read: `identity` only.
fn content_coding(value: &str) -> Result<(), BodyError> {
    for coding in QuotedSplit::new(value, b',') {
        if !coding.eq_ignore_ascii_case("identity") {
            return Err(BodyError::UnsupportedEncoding(quoted(coding)));
        }
    }
    Ok(())
}

/// A Content-Transfer-Encoding we read: none, 7bit, 8bit or binary.
fn transfer_coding(value: Option<&str>) -> Result<(), BodyError> {
    match value.map(trim) {
        None | Some("") => Ok(()),
        Some(v)
            if ["7bit", "8bit", "binary"]
                .iter()
                .any(|c| v.eq_ignore_ascii_case(c)) =>
        {
            Ok(())
        }
        Some(v) => Err(BodyError::UnsupportedEncoding(quoted(v))),
    }
}

/// Whether a q-value is zero ("0", "0.", "0.000").
fn is_zero_q(q: &str) -> bool {
    let q = trim(q);
    match q.strip_prefix('0') {
        Some(rest) => {
            rest.is_empty()
                || rest
                    .strip_prefix('.')
                    .is_some_and(|d| d.bytes().all(|b| b == b'0'))
        }
        None => false,
    }
}

/// Splits at `sep` outside double quotes; yields trimmed, non-empty items.
struct QuotedSplit<'a> {
    rest: &'a str,
    sep: u8,
}

impl<'a> QuotedSplit<'a> {
    fn new(s: &'a str, sep: u8) -> QuotedSplit<'a> {
        QuotedSplit { rest: s, sep }
    }
}

impl<'a> Iterator for QuotedSplit<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        loop {
            if self.rest.is_empty() {
                return None;
            }
            let bytes = self.rest.as_bytes();
            let (mut quoted, mut escaped) = (false, false);
            let mut end = bytes.len();
            for (i, &b) in bytes.iter().enumerate() {
                if escaped {
                    escaped = false;
                } else if quoted && b == b'\\' {
                    escaped = true;
                } else if b == b'"' {
                    quoted = !quoted;
                } else if b == self.sep && !quoted {
                    end = i;
                    break;
                }
            }
            // `end` is at an ASCII byte or the end: a char boundary.
            let item = trim(&self.rest[..end]);
            self.rest = self.rest.get(end + 1..).unwrap_or("");
            if !item.is_empty() {
                return Some(item);
            }
        }
    }
}

fn unquote(value: &str) -> &str {
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value)
}

/// Trims white space (SP, HTAB, CR, LF).
fn trim(s: &str) -> &str {
    s.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'))
}

/// A peer's text for an error message, bounded.
fn quoted(s: &str) -> String {
    let mut end = s.len().min(MAX_QUOTED);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

#[cfg(test)]
mod tests;
