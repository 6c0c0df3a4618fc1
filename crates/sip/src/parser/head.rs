//! The header section: where it ends, its lines, and folding.
//!
//! Names and values are stored as written; folded continuation lines are
//! joined with one space and the value is trimmed. Names must be tokens and
//! values UTF-8 without control characters.
//!
//! A malformed line does not stop the split: the lines after it are still
//! read, so that a stream reader can find the Content-Length and skip the
//! message (see `stream`).

use std::ops::Range;

use super::lex::{is_token_byte, is_wsp};
use super::{invalid_header, parse_content_length, MAX_HEADER_BYTES};
use crate::error::ParseError;
use crate::header::{Header, HeaderName, Headers};

/// Where the header section ends: `end` is just past the last header line's
/// LF, `body_start` just past the empty line.
pub(crate) struct HeadBounds {
    pub end: usize,
    pub body_start: usize,
}

/// Finds the empty line that ends the header section starting at `start`.
pub(crate) fn split_head(buf: &[u8], start: usize) -> Result<Option<HeadBounds>, ParseError> {
    let limit = buf.len().min(start.saturating_add(MAX_HEADER_BYTES));
    let mut i = start;
    while let Some(offset) = memchr::memchr(b'\n', &buf[i..limit]) {
        let lf = i + offset;
        match (buf.get(lf + 1), buf.get(lf + 2)) {
            (Some(b'\n'), _) => {
                return Ok(Some(HeadBounds {
                    end: lf + 1,
                    body_start: lf + 2,
                }))
            }
            (Some(b'\r'), Some(b'\n')) => {
                return Ok(Some(HeadBounds {
                    end: lf + 1,
                    body_start: lf + 3,
                }))
            }
            _ => i = lf + 1,
        }
    }
    if buf.len() - start >= MAX_HEADER_BYTES {
        return Err(ParseError::HeadersTooLarge {
            limit: MAX_HEADER_BYTES,
        });
    }
    Ok(None)
}

/// The lines of `head` as ranges of it (LF or CRLF terminated, without the
/// terminator; the last line may lack one).
fn line_ranges(head: &[u8]) -> impl Iterator<Item = Range<usize>> + '_ {
    let head = head.strip_suffix(b"\n").unwrap_or(head);
    let mut start = 0;
    memchr::memchr_iter(b'\n', head)
        .chain(std::iter::once(head.len()))
        .map(move |lf| {
            let line = start..lf;
            start = lf + 1;
            match head[line.clone()] {
                [.., b'\r'] => line.start..lf - 1,
                _ => line,
            }
        })
}

/// `range` of `bytes` without SP and HTAB on either side.
fn trim_wsp_range(bytes: &[u8], mut range: Range<usize>) -> Range<usize> {
    while range.start < range.end && is_wsp(bytes[range.start]) {
        range.start += 1;
    }
    while range.end > range.start && is_wsp(bytes[range.end - 1]) {
        range.end -= 1;
    }
    range
}

/// The header section split into the start line and the header lines; a
/// malformed line is skipped and reported in `error`.
pub(super) struct HeadLines<'a> {
    pub start_line: &'a [u8],
    /// The well-formed header lines, in wire order.
    pub headers: Headers,
    /// The first malformed header line or value, in wire order.
    pub error: Option<ParseError>,
    /// The first line that could not be read as `name: value` (it might
    /// have been a Content-Length), or a Content-Length line whose value
    /// could not be read: the message's length is then unknown.
    pub framing_error: Option<ParseError>,
    /// How many of `headers` are Content-Length, and where the first is.
    content_length_lines: usize,
    first_content_length: usize,
}

impl<'a> HeadLines<'a> {
    /// The start line as text.
    pub fn start_line(&self) -> Result<&'a str, ParseError> {
        std::str::from_utf8(self.start_line).map_err(|_| ParseError::InvalidStartLine)
    }

    fn fail(&mut self, error: ParseError, loses_framing: bool) {
        if loses_framing && self.framing_error.is_none() {
            self.framing_error = Some(error.clone());
        }
        self.error.get_or_insert(error);
    }

    /// The Content-Length value; more than one Content-Length header is an
    /// error because the framing would be ambiguous (RFC 4475 "mcl01").
    pub fn content_length(&self) -> Result<Option<usize>, ParseError> {
        match self.content_length_lines {
            0 => Ok(None),
            1 => parse_content_length(&self.headers.0[self.first_content_length].value).map(Some),
            _ => Err(ParseError::DuplicateHeader("Content-Length")),
        }
    }

    fn finish(&mut self, pending: PendingHeader<'_>, head: &HeadText<'_>) {
        match pending.finish(head) {
            Ok(header) => {
                if HeaderName::ContentLength.matches(&header.name) {
                    if self.content_length_lines == 0 {
                        self.first_content_length = self.headers.len();
                    }
                    self.content_length_lines += 1;
                }
                self.headers.0.push(header);
            }
            Err((error, name)) => {
                let loses_framing = HeaderName::ContentLength.matches(name);
                self.fail(error, loses_framing);
            }
        }
    }
}

/// The header section's bytes, and the same as text when it is all UTF-8
/// (the usual case: one check for the whole section instead of one per value).
struct HeadText<'a> {
    bytes: &'a [u8],
    text: Option<&'a str>,
}

impl<'a> HeadText<'a> {
    /// `range` of the section as text, if it is UTF-8.
    fn get(&self, range: Range<usize>) -> Result<&'a str, std::str::Utf8Error> {
        match self.text.and_then(|text| text.get(range.clone())) {
            Some(text) => Ok(text),
            None => std::str::from_utf8(&self.bytes[range]),
        }
    }
}

/// Splits the header section (`head`, without the empty line) into lines.
pub(super) fn parse_head(head: &[u8]) -> HeadLines<'_> {
    let mut lines = line_ranges(head);
    let start_line = lines.next().map_or(&head[..0], |line| &head[line]);
    read_header_lines(head, start_line, lines, 16)
}

/// A header block with no start line (a multipart body part's, RFC 2046
/// §5.1; `head` without the empty line), read with the same folding and
/// checks as a message's header section: the headers, or the first
/// malformed line's error.
pub(crate) fn parse_header_block(head: &[u8]) -> Result<Headers, ParseError> {
    if head.is_empty() {
        return Ok(Headers::new());
    }
    let parsed = read_header_lines(head, &head[..0], line_ranges(head), 4);
    match parsed.error {
        Some(error) => Err(error),
        None => Ok(parsed.headers),
    }
}

/// Reads the header `lines` of `head` (ranges of it, start line excluded).
fn read_header_lines<'a>(
    head: &'a [u8],
    start_line: &'a [u8],
    lines: impl Iterator<Item = Range<usize>>,
    capacity: usize,
) -> HeadLines<'a> {
    let section = HeadText {
        bytes: head,
        text: std::str::from_utf8(head).ok(),
    };
    let mut parsed = HeadLines {
        start_line,
        headers: Headers(Vec::with_capacity(capacity)),
        error: None,
        framing_error: None,
        content_length_lines: 0,
        first_content_length: 0,
    };
    let mut pending: Option<PendingHeader> = None;
    for line in lines {
        if let Some(b' ' | b'\t') = head[line.clone()].first() {
            match pending.as_mut() {
                Some(header) => header.continue_with(head, trim_wsp_range(head, line)),
                None => parsed.fail(ParseError::InvalidHeaderLine, true),
            }
            continue;
        }
        if let Some(done) = pending.take() {
            parsed.finish(done, &section);
        }
        let Some(colon) = memchr::memchr(b':', &head[line.clone()]).map(|c| line.start + c) else {
            parsed.fail(ParseError::InvalidHeaderLine, true);
            continue;
        };
        let name = trim_wsp_range(head, line.start..colon);
        let is_token = !name.is_empty() && head[name.clone()].iter().all(|&b| is_token_byte(b));
        // A token is ASCII, hence UTF-8.
        match section.get(name) {
            Ok(name) if is_token => {
                pending = Some(PendingHeader {
                    name,
                    value: trim_wsp_range(head, colon + 1..line.end),
                    folded: None,
                });
            }
            _ => parsed.fail(ParseError::InvalidHeaderLine, true),
        }
    }
    if let Some(done) = pending {
        parsed.finish(done, &section);
    }
    parsed
}

/// A header line whose continuation lines may still follow.
struct PendingHeader<'a> {
    name: &'a str,
    /// Where the value of the first line (trimmed) lies in the section.
    value: Range<usize>,
    /// The value joined across continuation lines, once there is one.
    folded: Option<Vec<u8>>,
}

impl<'a> PendingHeader<'a> {
    /// Appends a continuation line (`piece` of the section, trimmed), joined with one space.
    fn continue_with(&mut self, head: &[u8], piece: Range<usize>) {
        if piece.is_empty() {
            return;
        }
        let value = self
            .folded
            .get_or_insert_with(|| head[self.value.clone()].to_vec());
        if !value.is_empty() {
            value.push(b' ');
        }
        value.extend_from_slice(&head[piece]);
    }

    /// The header, or why its value is refused (with the name as written).
    fn finish(self, head: &HeadText<'_>) -> Result<Header, (ParseError, &'a str)> {
        let value = self
            .folded
            .as_deref()
            .unwrap_or(&head.bytes[self.value.clone()]);
        // A control character is allowed only as a quoted-pair (`\` then the
        // character, RFC 3261 §25.1), never CR or LF (RFC 4475 "intmeth").
        let stray_control = value.iter().enumerate().any(|(i, &b)| {
            let control = (b < 0x20 && b != b'\t') || b == 0x7f;
            control && (b == b'\r' || i == 0 || value[i - 1] != b'\\')
        });
        if stray_control {
            return Err((invalid_header(self.name, "control character"), self.name));
        }
        let text = match &self.folded {
            Some(value) => std::str::from_utf8(value),
            None => head.get(self.value),
        };
        match text {
            Ok(text) => Ok(Header {
                name: self.name.to_string(),
                value: text.to_string(),
            }),
            Err(_) => Err((invalid_header(self.name, "not UTF-8"), self.name)),
        }
    }
}
