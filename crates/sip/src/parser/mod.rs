//! Bytes to [`Message`]: framing, start line and header lines.
//!
//! # Framing
//!
//! On a datagram transport the datagram is the message (RFC 3261 §18.3):
//! without Content-Length the body is the rest of the datagram; a shorter
//! Content-Length truncates it (the extra octets are noise, RFC 4475
//! "dblreq"); a longer one is an error answered with 400 ("clerr").
//! On a stream Content-Length is mandatory and says where the next message
//! starts; see [`parse_stream_frame`] for how a stream reader moves past a
//! message that is framed but invalid, and which errors lose the framing.
//!
//! # Header lines and validation
//!
//! The header section is split into lines as written (see `head`). The
//! message is then validated (see `validate`) so that a message that parses
//! has the headers a transaction layer relies on.
//!
//! When a datagram has several faults, the one reported is the first of:
//! a start line that is not UTF-8, the first malformed header line or value
//! in wire order, a Content-Length problem, a body too short or too large,
//! the start line's grammar, then validation. On a stream, the faults that
//! lose the framing are reported first.

mod error_response;
mod head;
mod headers;
mod lex;
mod sink;
mod stream;
mod uri;
mod validate;

pub use error_response::error_response;
pub use headers::MAX_CSEQ;
pub use lex::{quote, unquote};
pub use stream::{parse_stream, parse_stream_frame, StreamFrame};

use crate::error::ParseError;
use crate::header::{HeaderName, Headers};
use crate::message::{Message, Request, Response};
use crate::method::Method;
use crate::uri::Uri;
use head::parse_head;

pub(crate) use head::{parse_header_block, split_head, HeadBounds};

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
        None if bytes.ends_with(b"\n") && bytes.len() - start <= MAX_HEADER_BYTES => HeadBounds {
            end: bytes.len(),
            body_start: bytes.len(),
        },
        None => return Err(ParseError::Incomplete),
    };
    let head_lines = parse_head(&bytes[start..head.end]);
    let start_line = head_lines.start_line()?;
    if let Some(error) = head_lines.error {
        return Err(error);
    }
    let available = bytes.len() - head.body_start;
    let body_len = match head_lines.content_length()? {
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
    build(start_line, head_lines.headers, body)
}

/// The number of leading CR and LF bytes (keep-alives before a message).
pub fn leading_crlf_len(buf: &[u8]) -> usize {
    buf.iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len())
}

/// The length of the header section at the start of `buf`, up to and
/// including the empty line that ends it (CRLF or bare LF, as the parser
/// accepts), or `None` while that empty line has not arrived (or is not
/// within [`MAX_HEADER_BYTES`]).
pub fn head_len(buf: &[u8]) -> Option<usize> {
    head::split_head(buf, 0)
        .ok()
        .flatten()
        .map(|bounds| bounds.body_start)
}

/// An [`ParseError::InvalidHeader`] for the header as written, named canonically when known.
pub(crate) fn invalid_header(written: &str, detail: &'static str) -> ParseError {
    let name = match HeaderName::from_name(written) {
        Some(known) => known.as_str().to_string(),
        None => written.to_string(),
    };
    ParseError::InvalidHeader { name, detail }
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
