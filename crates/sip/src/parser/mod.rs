//! Bytes to [`Message`]: framing, start line and header lines.
//!
//! # Framing
//!
//! On a datagram transport the datagram is the message (RFC 3261 §18.3):
//! without Content-Length the body is the rest of the datagram; a shorter
//! Content-Length truncates it (the extra octets are noise, RFC 4475
//! "dblreq"); a longer one is an error answered with 400 ("clerr").
//! On a stream Content-Length is mandatory and says where the next message
//! starts; [`parse_stream`] returns `Ok(None)` until a whole message is
//! buffered, skips the CRLF keep-alives of RFC 5626 between messages, and
//! refuses to buffer more than [`MAX_HEADER_BYTES`] of headers or a body
//! over [`MAX_BODY_BYTES`].
//!
//! # Header lines
//!
//! Names and values are stored as written; folded continuation lines are
//! joined with one space and the value is trimmed. Names must be tokens and
//! values UTF-8 without control characters. After framing, the message is
//! validated (see `validate`) so that a message that parses has the headers
//! a transaction layer relies on.

mod error_response;
mod headers;
mod lex;
mod uri;
mod validate;

pub use error_response::error_response;
pub use headers::MAX_CSEQ;
pub use lex::{quote, unquote};

use crate::error::ParseError;
use crate::header::{Header, HeaderName, Headers};
use crate::message::{Message, Request, Response};
use crate::method::Method;
use crate::uri::Uri;
use lex::{is_token_byte, trim_wsp_bytes};

pub(crate) use headers::token_list;
pub(crate) use lex::{is_token, parse_digits, quoted_end, split_list};

/// The largest header section (start line included) the parser accepts.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
/// The largest body the parser accepts.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Parses one message received as a datagram (UDP), with tolerant framing.
pub fn parse_datagram(bytes: &[u8]) -> Result<Message, ParseError> {
    let start = leading_crlf_len(bytes);
    let head = match split_head(bytes, start)? {
        Some(head) => head,
        // A datagram whose last header line ends with CRLF but lacks the empty
        // line: the datagram boundary ends the header section.
        None if bytes.ends_with(b"\n") && bytes.len() - start <= MAX_HEADER_BYTES => Head {
            end: bytes.len(),
            body_start: bytes.len(),
        },
        None => return Err(ParseError::Incomplete),
    };
    let (start_line, headers) = parse_head(&bytes[start..head.end])?;
    let available = bytes.len() - head.body_start;
    let body_len = match content_length(&headers)? {
        Some(declared) if declared > available => {
            return Err(ParseError::BodyTruncated {
                declared,
                available,
            })
        }
        Some(declared) => declared,
        None => available,
    };
    if body_len > MAX_BODY_BYTES {
        return Err(ParseError::BodyTooLarge {
            length: body_len,
            limit: MAX_BODY_BYTES,
        });
    }
    let body = bytes[head.body_start..head.body_start + body_len].to_vec();
    build(start_line, headers, body)
}

/// Parses the first message buffered from a stream (TCP, TLS).
///
/// `Ok(None)`: more bytes are needed. `Ok(Some((message, consumed)))`: the
/// first `consumed` bytes (leading keep-alive CRLFs included) made `message`.
/// An error means framing is lost and the connection should be closed.
pub fn parse_stream(buf: &[u8]) -> Result<Option<(Message, usize)>, ParseError> {
    let start = leading_crlf_len(buf);
    let Some(head) = split_head(buf, start)? else {
        return Ok(None);
    };
    let (start_line, headers) = parse_head(&buf[start..head.end])?;
    let length = content_length(&headers)?.ok_or(ParseError::MissingHeader("Content-Length"))?;
    if length > MAX_BODY_BYTES {
        return Err(ParseError::BodyTooLarge {
            length,
            limit: MAX_BODY_BYTES,
        });
    }
    let end = head.body_start + length;
    if buf.len() < end {
        return Ok(None);
    }
    let body = buf[head.body_start..end].to_vec();
    Ok(Some((build(start_line, headers, body)?, end)))
}

/// The number of leading CR and LF bytes (keep-alives before a message).
pub fn leading_crlf_len(buf: &[u8]) -> usize {
    buf.iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len())
}

/// Where the header section ends: `end` is just past the last header line's
/// LF, `body_start` just past the empty line.
struct Head {
    end: usize,
    body_start: usize,
}

/// Finds the empty line that ends the header section starting at `start`.
fn split_head(buf: &[u8], start: usize) -> Result<Option<Head>, ParseError> {
    let limit = buf.len().min(start.saturating_add(MAX_HEADER_BYTES));
    let mut i = start;
    while let Some(offset) = buf[i..limit].iter().position(|&b| b == b'\n') {
        let lf = i + offset;
        match (buf.get(lf + 1), buf.get(lf + 2)) {
            (Some(b'\n'), _) => {
                return Ok(Some(Head {
                    end: lf + 1,
                    body_start: lf + 2,
                }))
            }
            (Some(b'\r'), Some(b'\n')) => {
                return Ok(Some(Head {
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

/// Splits `head` into lines (LF or CRLF terminated; the last may lack one).
fn lines(head: &[u8]) -> impl Iterator<Item = &[u8]> {
    let head = head.strip_suffix(b"\n").unwrap_or(head);
    head.split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
}

/// Splits the header section into the start line and the header lines.
fn parse_head(head: &[u8]) -> Result<(&str, Headers), ParseError> {
    let mut lines = lines(head);
    let first = lines.next().ok_or(ParseError::InvalidStartLine)?;
    let start_line = std::str::from_utf8(first).map_err(|_| ParseError::InvalidStartLine)?;
    let mut headers = Vec::with_capacity(16);
    let mut pending: Option<PendingHeader> = None;
    for line in lines {
        if let Some(b' ' | b'\t') = line.first() {
            let piece = trim_wsp_bytes(line);
            let header = pending.as_mut().ok_or(ParseError::InvalidHeaderLine)?;
            if !piece.is_empty() {
                if !header.value.is_empty() {
                    header.value.push(b' ');
                }
                header.value.extend_from_slice(piece);
            }
            continue;
        }
        if let Some(done) = pending.take() {
            headers.push(done.finish()?);
        }
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .ok_or(ParseError::InvalidHeaderLine)?;
        let name = trim_wsp_bytes(&line[..colon]);
        if name.is_empty() || !name.iter().all(|&b| is_token_byte(b)) {
            return Err(ParseError::InvalidHeaderLine);
        }
        pending = Some(PendingHeader {
            name,
            value: trim_wsp_bytes(&line[colon + 1..]).to_vec(),
        });
    }
    if let Some(done) = pending {
        headers.push(done.finish()?);
    }
    Ok((start_line, Headers(headers)))
}

/// A header line whose continuation lines may still follow.
struct PendingHeader<'a> {
    name: &'a [u8],
    value: Vec<u8>,
}

impl PendingHeader<'_> {
    fn finish(self) -> Result<Header, ParseError> {
        // The name is a token, hence ASCII.
        let name = String::from_utf8_lossy(self.name).into_owned();
        // A control character is allowed only as a quoted-pair (`\` then the
        // character, RFC 3261 §25.1), never CR or LF (RFC 4475 "intmeth").
        let value = &self.value;
        let stray_control = value.iter().enumerate().any(|(i, &b)| {
            let control = (b < 0x20 && b != b'\t') || b == 0x7f;
            control && (b == b'\r' || i == 0 || value[i - 1] != b'\\')
        });
        if stray_control {
            return Err(invalid_header(&name, "control character"));
        }
        match String::from_utf8(self.value) {
            Ok(value) => Ok(Header { name, value }),
            Err(_) => Err(invalid_header(&name, "not UTF-8")),
        }
    }
}

/// An [`ParseError::InvalidHeader`] for the header as written, named canonically when known.
pub(crate) fn invalid_header(written: &str, detail: &'static str) -> ParseError {
    let name = match HeaderName::from_name(written) {
        Some(known) => known.as_str().to_string(),
        None => written.to_string(),
    };
    ParseError::InvalidHeader { name, detail }
}

/// The Content-Length value; more than one Content-Length header is an error
/// because the framing would be ambiguous (RFC 4475 "mcl01").
fn content_length(headers: &Headers) -> Result<Option<usize>, ParseError> {
    let mut lines = headers.get_all(HeaderName::ContentLength);
    let Some(value) = lines.next() else {
        return Ok(None);
    };
    if lines.next().is_some() {
        return Err(ParseError::DuplicateHeader("Content-Length"));
    }
    parse_content_length(value).map(Some)
}

/// Parses a Content-Length value (`1*DIGIT`).
pub(crate) fn parse_content_length(value: &str) -> Result<usize, ParseError> {
    parse_digits(value)
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| invalid_header("Content-Length", "not a number"))
}

/// Builds and validates the message from its parts.
fn build(start_line: &str, headers: Headers, body: Vec<u8>) -> Result<Message, ParseError> {
    if is_status_line(start_line) {
        let (status, reason) = parse_status_line(start_line)?;
        let response = Response {
            status,
            reason: reason.to_string(),
            headers,
            body,
        };
        validate::response(&response)?;
        Ok(Message::Response(response))
    } else {
        let (method, uri) = parse_request_line(start_line)?;
        let request = Request {
            method,
            uri,
            headers,
            body,
        };
        validate::request(&request)?;
        Ok(Message::Request(request))
    }
}

fn is_status_line(line: &str) -> bool {
    line.get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case("SIP/"))
}

/// Checks `SIP/2.0`; another `SIP/x.y` is a 505, anything else a 400.
fn check_version(version: &str) -> Result<(), ParseError> {
    if version.eq_ignore_ascii_case("SIP/2.0") {
        return Ok(());
    }
    let numbers = version
        .get(..4)
        .filter(|p| p.eq_ignore_ascii_case("SIP/"))
        .and_then(|_| version[4..].split_once('.'));
    match numbers {
        Some((major, minor)) if parse_digits(major).is_some() && parse_digits(minor).is_some() => {
            Err(ParseError::UnsupportedVersion(version.to_string()))
        }
        _ => Err(ParseError::InvalidStartLine),
    }
}

/// `Method SP Request-URI SP SIP-Version`, with exactly one SP between the
/// three (RFC 4475 "lwsstart", "trws", "lwsruri").
fn parse_request_line(line: &str) -> Result<(Method, Uri), ParseError> {
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ParseError::InvalidStartLine);
    };
    if !is_token(method) {
        return Err(ParseError::InvalidStartLine);
    }
    check_version(version)?;
    let uri = match Uri::parse(target) {
        Ok(uri) => uri,
        Err(ParseError::UnsupportedScheme(scheme)) => {
            return Err(ParseError::UnsupportedScheme(scheme))
        }
        Err(_) => return Err(ParseError::InvalidRequestUri),
    };
    // RFC 3261 §19.1.5: URI headers are not allowed in a Request-URI ("escruri").
    if !uri.headers.is_empty() {
        return Err(ParseError::InvalidRequestUri);
    }
    Ok((Method::from_token(method), uri))
}

/// `SIP-Version SP Status-Code SP Reason-Phrase`; the reason may be empty
/// (RFC 4475 "noreason") and may hold any UTF-8 text ("unreason").
fn parse_status_line(line: &str) -> Result<(u16, &str), ParseError> {
    let (version, rest) = line.split_once(' ').ok_or(ParseError::InvalidStartLine)?;
    check_version(version)?;
    let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
    if code.len() != 3 {
        return Err(ParseError::InvalidStartLine);
    }
    let status = parse_digits(code)
        .and_then(|c| u16::try_from(c).ok())
        .filter(|c| (100..700).contains(c))
        .ok_or(ParseError::InvalidStartLine)?;
    if reason
        .bytes()
        .any(|b| (b < 0x20 && b != b'\t') || b == 0x7f)
    {
        return Err(ParseError::InvalidStartLine);
    }
    Ok((status, reason))
}

#[cfg(test)]
mod tests;
