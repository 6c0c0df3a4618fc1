//! The response to a request that failed to parse.
//!
//! A malformed request still deserves an answer (RFC 3261 §8.2 and §16.3),
//! and the answer must reach the sender: it is routed by the Via headers and
//! matched by From, To, Call-ID and CSeq (§8.2.6.2). Those are copied by a
//! lenient line scan that does not care whether the rest of the message
//! parses. Nothing is sent for a response or an ACK (§17.1.1.3: ACK has no
//! response), nor when there is no Via to route by.

use std::hash::{DefaultHasher, Hash, Hasher};

use super::lex::trim_wsp_bytes;
use super::{leading_crlf_len, MAX_HEADER_BYTES};
use crate::error::ParseError;
use crate::header::HeaderName;
use crate::headers::NameAddr;
use crate::message::Response;

/// Builds the response to send for a request that failed with `err`, or
/// `None` when `raw` is a response, an ACK, or has no Via to route by.
pub fn error_response(raw: &[u8], err: &ParseError) -> Option<Response> {
    let raw = &raw[leading_crlf_len(raw)..];
    let raw = &raw[..raw.len().min(MAX_HEADER_BYTES)];
    let mut lines = raw
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let first = lines.next()?;
    if first
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case(b"SIP/"))
    {
        return None;
    }
    if first.split(|&b| b == b' ').next() == Some(b"ACK") {
        return None;
    }

    let mut found: Vec<(Option<HeaderName>, String)> = Vec::new();
    let mut section_len = first.len();
    for line in lines {
        section_len += line.len() + 2;
        if line.is_empty() {
            break;
        }
        if let Some(b' ' | b'\t') = line.first() {
            // A continuation of the previous header, if that one is kept.
            if let Some((Some(_), value)) = found.last_mut() {
                value.push(' ');
                value.push_str(&clean(trim_wsp_bytes(line)));
            }
            continue;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = String::from_utf8_lossy(trim_wsp_bytes(&line[..colon]));
        let kept = [
            HeaderName::Via,
            HeaderName::From,
            HeaderName::To,
            HeaderName::CallId,
            HeaderName::CSeq,
        ]
        .into_iter()
        .find(|h| h.matches(&name));
        // A dropped header stays as `None` so its continuation lines are dropped too.
        let value = kept.map_or_else(String::new, |_| clean(trim_wsp_bytes(&line[colon + 1..])));
        found.push((kept, value));
    }
    let found: Vec<(HeaderName, String)> = found
        .into_iter()
        .filter_map(|(h, v)| Some((h?, v)))
        .collect();
    if !found.iter().any(|(h, _)| *h == HeaderName::Via) {
        return None;
    }

    let mut response = Response::new(err.status());
    response.reason = err.reason_phrase();
    for (h, value) in found.iter().filter(|(h, _)| *h == HeaderName::Via) {
        response.headers.push_known(*h, value.as_str());
    }
    for name in [
        HeaderName::From,
        HeaderName::To,
        HeaderName::CallId,
        HeaderName::CSeq,
    ] {
        if let Some((_, value)) = found.iter().find(|(h, _)| *h == name) {
            let value = if name == HeaderName::To {
                with_to_tag(value, &raw[..section_len.min(raw.len())])
            } else {
                value.clone()
            };
            response.headers.push_known(name, value);
        }
    }
    response.headers.push_known(HeaderName::ContentLength, "0");
    Some(response)
}

/// Header text made safe to send: lossy UTF-8, control characters dropped.
fn clean(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .chars()
        .filter(|&c| c == '\t' || !c.is_control())
        .collect()
}

/// Adds a To tag (RFC 3261 §8.2.6.2) when To parses and has none. The tag is
/// a hash of the request, so a retransmission gets the same answer.
fn with_to_tag(to: &str, request: &[u8]) -> String {
    match NameAddr::parse(to) {
        Ok(addr) if addr.tag().is_none() => {
            let mut hasher = DefaultHasher::new();
            request.hash(&mut hasher);
            format!("{to};tag={:x}", hasher.finish() & 0xffff_ffff_ffff)
        }
        _ => to.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::HeaderName as H;

    const BAD: &[u8] = b"INVITE sip:bob@example.com SIP/2.0\r\n\
        Via: SIP/2.0/UDP a.example.com;branch=z9hG4bK1\r\n\
        v: SIP/2.0/UDP b.example.com;branch=z9hG4bK2\r\n\
        From: <sip:alice@example.com>;tag=1\r\n\
        To: <sip:bob@example.com>\r\n\
        Call-ID: abc\r\n\
        CSeq: one INVITE\r\n\
        X-Long: a\r\n continued\r\n\
        Content-Length: 0\r\n\r\n";

    #[test]
    fn copies_routing_headers() {
        let err = super::super::parse_datagram(BAD).unwrap_err();
        let resp = error_response(BAD, &err).unwrap();
        assert_eq!(resp.status, 400);
        assert_eq!(resp.reason, "Bad Request - Invalid CSeq header");
        let vias: Vec<_> = resp.headers.get_all(H::Via).collect();
        assert_eq!(vias.len(), 2);
        assert_eq!(vias[1], "SIP/2.0/UDP b.example.com;branch=z9hG4bK2");
        assert_eq!(resp.headers.get(H::CallId), Some("abc"));
        assert_eq!(resp.headers.get(H::CSeq), Some("one INVITE"));
        let to = NameAddr::parse(resp.headers.get(H::To).unwrap()).unwrap();
        assert!(to.tag().is_some());
        assert_eq!(resp.headers.get(H::ContentLength), Some("0"));
        // Retransmissions get the same tag.
        let again = error_response(BAD, &err).unwrap();
        assert_eq!(again.headers.get(H::To), resp.headers.get(H::To));
    }

    #[test]
    fn nothing_for_responses_acks_or_without_via() {
        let err = ParseError::InvalidStartLine;
        assert!(error_response(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP x\r\n\r\n", &err).is_none());
        assert!(error_response(b"ACK sip:x SIP/2.0\r\nVia: SIP/2.0/UDP x\r\n\r\n", &err).is_none());
        assert!(error_response(b"INVITE sip:x SIP/2.0\r\nTo: <sip:x>\r\n\r\n", &err).is_none());
        assert!(error_response(b"", &err).is_none());
    }

    #[test]
    fn version_error_answers_505() {
        let raw = b"OPTIONS sip:x SIP/7.0\r\nVia: SIP/7.0/UDP h;branch=z9hG4bK\r\n\r\n";
        let resp = error_response(raw, &ParseError::UnsupportedVersion("SIP/7.0".into())).unwrap();
        assert_eq!(resp.status, 505);
        assert_eq!(resp.reason, "Version Not Supported");
    }
}
