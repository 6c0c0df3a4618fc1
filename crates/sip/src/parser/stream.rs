//! Framing messages on a stream transport (TCP, TLS).
//!
//! On a stream, Content-Length is mandatory and says where the next message
//! starts (RFC 3261 §18.3). Between messages a peer may send CRLF
//! keep-alives (RFC 5626 §3.5.1), which are skipped. The reader never
//! buffers more than [`MAX_HEADER_BYTES`](crate::MAX_HEADER_BYTES) of headers or a body over
//! [`MAX_BODY_BYTES`].
//!
//! # Recovering from a bad message
//!
//! A message can be refused for two different reasons, and a stream reader
//! must tell them apart:
//!
//! - **Framed but invalid** (recoverable): the header section is complete,
//!   its lines can all be read as `name: value`, exactly one of them is a
//!   numeric Content-Length and that many body bytes have arrived, but the
//!   message is still wrong: a bad CSeq, a missing Call-ID, a Via that does
//!   not parse, a control character in a header value, SIP/3.0 (505), a
//!   `http:` Request-URI (416), a malformed status code… The reader knows
//!   where the next message starts, so it answers (with
//!   [`crate::error_response`] over the frame's bytes) and carries on.
//!   [`parse_stream_frame`] returns these as `Ok(Some(StreamFrame { message:
//!   Err(_), .. }))`.
//! - **Framing lost** (fatal): the reader cannot know where the next message
//!   starts, so it answers if it can and closes the connection. These are the
//!   `Err` of [`parse_stream_frame`]:
//!   - [`ParseError::HeadersTooLarge`]: no empty line within [`MAX_HEADER_BYTES`](crate::MAX_HEADER_BYTES);
//!   - [`ParseError::InvalidStartLine`] for a first line that is not shaped
//!     like a start line at all (`SIP/…`, or a method token, a space, then
//!     ` SIP/` further on). This is what a reader sees when an earlier
//!     Content-Length lied and it is now reading body text, or when the peer
//!     does not speak SIP (`GET / HTTP/1.1`);
//!   - [`ParseError::InvalidHeaderLine`]: a header line without a colon or
//!     with a name that is not a token, or a continuation line with nothing
//!     to continue. That line might have been the Content-Length;
//!   - [`ParseError::MissingHeader`]`("Content-Length")`,
//!     [`ParseError::DuplicateHeader`]`("Content-Length")`, or
//!     [`ParseError::InvalidHeader`] for Content-Length (not a number, or a
//!     value with control characters or invalid UTF-8);
//!   - [`ParseError::BodyTooLarge`]: a Content-Length over [`MAX_BODY_BYTES`].
//!
//! The start line check is deliberately loose: `OPTIONS  sip:x SIP/2.0`
//! (two spaces) or `OPTIONS sip:x SIP/7.0` are recognisably SIP and get
//! their 400 or 505 without losing the connection.

use super::lex::is_token_byte;
use super::{leading_crlf_len, parse_head, split_head, MAX_BODY_BYTES};
use crate::error::ParseError;
use crate::message::Message;

/// One message's worth of bytes framed on a stream, and what they held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamFrame {
    /// How many bytes of the buffer the frame used, leading keep-alive CRLFs
    /// included; the next message starts right after them.
    pub consumed: usize,
    /// The message, or why it was refused. Either way the stream is still in
    /// step: answer a refused request and read on.
    pub message: Result<Message, ParseError>,
}

/// Frames the first message buffered from a stream (TCP, TLS).
///
/// - `Ok(None)`: more bytes are needed.
/// - `Ok(Some(frame))`: the first `frame.consumed` bytes were one message,
///   which parsed (`frame.message` is `Ok`) or was refused for a reason that
///   does not affect framing (`Err`, answer it and go on; see the module doc).
/// - `Err(error)`: framing is lost; answer if possible and close the connection.
///
/// `frame.message` is what [`crate::parse_datagram`] returns for the frame's bytes.
pub fn parse_stream_frame(buf: &[u8]) -> Result<Option<StreamFrame>, ParseError> {
    let start = leading_crlf_len(buf);
    let Some(head) = split_head(buf, start)? else {
        return Ok(None);
    };
    let head_lines = parse_head(&buf[start..head.end]);
    if !is_recognisable_start_line(head_lines.start_line) {
        return Err(ParseError::InvalidStartLine);
    }
    if let Some(error) = head_lines.framing_error {
        return Err(error);
    }
    let length = head_lines
        .content_length()?
        .ok_or(ParseError::MissingHeader("Content-Length"))?;
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
    let message = match (head_lines.start_line(), head_lines.error) {
        (Err(error), _) | (Ok(_), Some(error)) => Err(error),
        (Ok(start_line), None) => {
            let body = buf[head.body_start..end].to_vec();
            super::build(start_line, head_lines.headers, body)
        }
    };
    Ok(Some(StreamFrame {
        consumed: end,
        message,
    }))
}

/// Parses the first message buffered from a stream (TCP, TLS).
///
/// `Ok(None)`: more bytes are needed. `Ok(Some((message, consumed)))`: the
/// first `consumed` bytes (leading keep-alive CRLFs included) made `message`.
/// Every error is reported alike, whether or not framing survived it; use
/// [`parse_stream_frame`] to skip a message that is framed but invalid and
/// keep the connection.
pub fn parse_stream(buf: &[u8]) -> Result<Option<(Message, usize)>, ParseError> {
    match parse_stream_frame(buf)? {
        None => Ok(None),
        Some(StreamFrame { consumed, message }) => message.map(|m| Some((m, consumed))),
    }
}

/// Whether `line` is shaped like a start line: a status line (`SIP/…`) or a
/// request line (a method token, SP, and ` SIP/` somewhere after), in any case.
fn is_recognisable_start_line(line: &[u8]) -> bool {
    const SIP: &[u8] = b"SIP/";
    if line
        .get(..SIP.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(SIP))
    {
        return true;
    }
    let Some(sp) = line.iter().position(|&b| b == b' ') else {
        return false;
    };
    sp > 0
        && line[..sp].iter().all(|&b| is_token_byte(b))
        && line[sp..]
            .windows(SIP.len() + 1)
            .any(|w| w[0] == b' ' && w[1..].eq_ignore_ascii_case(SIP))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognisable_start_lines() {
        for line in [
            "OPTIONS sip:bob@example.com SIP/2.0",
            "OPTIONS  sip:bob@example.com SIP/2.0",
            "OPTIONS sip:bob@example.com SIP/2.0 ",
            "options sip:bob@example.com sip/7.0",
            "OPTIONS http://example.com SIP/2.0",
            "SIP/2.0 200 OK",
            "SIP/2.0 20x",
            "sip/3.0 200 OK",
        ] {
            assert!(is_recognisable_start_line(line.as_bytes()), "{line}");
        }
        for line in [
            "",
            "v=0",
            "a=rtpmap:0 PCMU/8000",
            "GET / HTTP/1.1",
            "OPT:IONS sip:bob@example.com SIP/2.0",
            " OPTIONS sip:bob@example.com SIP/2.0",
            "OPTIONS sip:bob@example.comSIP/2.0",
            "SIP",
        ] {
            assert!(!is_recognisable_start_line(line.as_bytes()), "{line}");
        }
    }
}
