//! [`Message`] to bytes.
//!
//! Headers are written exactly as stored (`name: value` CRLF), so a message
//! that was parsed and not edited goes back out with its headers unchanged.
//! The one addition: a message without a Content-Length header gets one
//! computed from the body, because a stream peer cannot frame it otherwise
//! (RFC 3261 §18.3 and §20.14). Everything is written straight into the
//! caller's `Vec`, which is reserved once.

use std::io::Write;

use crate::header::{HeaderName, Headers};
use crate::message::{Message, Request, Response};

/// Bytes the headers and body will take, for one reservation.
fn size_hint(headers: &Headers, body: &[u8]) -> usize {
    let headers: usize = headers
        .iter()
        .map(|h| h.name.len() + h.value.len() + 4)
        .sum();
    headers + body.len() + 96
}

fn write_headers_and_body(headers: &Headers, body: &[u8], out: &mut Vec<u8>) {
    let mut has_length = false;
    for header in headers.iter() {
        has_length |= header.is(HeaderName::ContentLength);
        out.extend_from_slice(header.name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(header.value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !has_length {
        write!(out, "Content-Length: {}\r\n", body.len()).expect("writing to a Vec cannot fail");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
}

/// Replaces the body and keeps Content-Type and Content-Length consistent with it.
fn replace_body(headers: &mut Headers, slot: &mut Vec<u8>, content_type: &str, body: Vec<u8>) {
    if body.is_empty() {
        headers.remove(HeaderName::ContentType);
    } else {
        headers.set(HeaderName::ContentType, content_type);
    }
    headers.set(HeaderName::ContentLength, body.len().to_string());
    *slot = body;
}

impl Request {
    /// Appends the wire form of the request to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.reserve(size_hint(&self.headers, &self.body));
        out.extend_from_slice(self.method.as_str().as_bytes());
        out.push(b' ');
        write!(out, "{}", self.uri).expect("writing to a Vec cannot fail");
        out.extend_from_slice(b" SIP/2.0\r\n");
        write_headers_and_body(&self.headers, &self.body, out);
    }

    /// The wire form of the request.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_to(&mut out);
        out
    }

    /// Sets the body with its Content-Type (removed for an empty body) and Content-Length.
    pub fn set_body(&mut self, content_type: &str, body: Vec<u8>) {
        replace_body(&mut self.headers, &mut self.body, content_type, body);
    }
}

impl Response {
    /// Appends the wire form of the response to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.reserve(size_hint(&self.headers, &self.body) + self.reason.len());
        write!(out, "SIP/2.0 {} ", self.status).expect("writing to a Vec cannot fail");
        out.extend_from_slice(self.reason.as_bytes());
        out.extend_from_slice(b"\r\n");
        write_headers_and_body(&self.headers, &self.body, out);
    }

    /// The wire form of the response.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_to(&mut out);
        out
    }

    /// Sets the body with its Content-Type (removed for an empty body) and Content-Length.
    pub fn set_body(&mut self, content_type: &str, body: Vec<u8>) {
        replace_body(&mut self.headers, &mut self.body, content_type, body);
    }
}

impl Message {
    /// Appends the wire form of the message to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        match self {
            Message::Request(r) => r.write_to(out),
            Message::Response(r) => r.write_to(out),
        }
    }

    /// The wire form of the message.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_to(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::method::Method;
    use crate::uri::{Host, Uri};

    #[test]
    fn request_wire_form() {
        let mut req = Request::new(
            Method::Options,
            Uri::sip(Some("bob"), Host::Domain("example.com".into()), None),
        );
        req.headers.push("Via", "SIP/2.0/UDP h;branch=z9hG4bK1");
        req.headers.push("X-Empty", "");
        assert_eq!(
            req.to_bytes(),
            b"OPTIONS sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
              X-Empty: \r\nContent-Length: 0\r\n\r\n"
        );
        req.set_body("application/sdp", b"v=0\r\n".to_vec());
        let text = String::from_utf8(req.to_bytes()).unwrap();
        assert!(text.ends_with("Content-Type: application/sdp\r\nContent-Length: 5\r\n\r\nv=0\r\n"));
        req.set_body("application/sdp", Vec::new());
        assert_eq!(req.headers.get(HeaderName::ContentType), None);
        assert_eq!(req.headers.get(HeaderName::ContentLength), Some("0"));
    }

    #[test]
    fn response_wire_form() {
        let mut resp = Response::new(180);
        resp.headers.push("l", "0");
        assert_eq!(resp.to_bytes(), b"SIP/2.0 180 Ringing\r\nl: 0\r\n\r\n");
        resp.reason.clear();
        let mut out = b"prefix".to_vec();
        Message::Response(resp).write_to(&mut out);
        assert_eq!(out, b"prefixSIP/2.0 180 \r\nl: 0\r\n\r\n");
    }
}
