//! Reading the header fields the stack needs, and writing messages as bytes.
//!
//! The `sip` crate owns the grammar; this module is the narrow set of views
//! the transaction and dialog layers depend on (top Via, tags, CSeq, Contact,
//! Record-Route), returning `None` for anything malformed so callers decide
//! what a bad header means. Serialization always writes Content-Length from
//! the body, because the user may have replaced a body without fixing it.

use std::fmt::Write as _;

use sip::{CSeq, Header, HeaderName, Headers, NameAddr, Request, Response, Via};

/// Every Via entry of a message, top first.
pub(crate) fn vias(headers: &Headers) -> Option<Vec<Via>> {
    let mut all = Vec::new();
    for line in headers.get_all(HeaderName::Via) {
        all.extend(Via::parse_list(line).ok()?);
    }
    Some(all)
}

/// The top Via entry.
pub(crate) fn top_via(headers: &Headers) -> Option<Via> {
    Via::parse_list(headers.get(HeaderName::Via)?)
        .ok()?
        .into_iter()
        .next()
}

/// Replaces the top Via entry, keeping the others (also those folded in the same line).
pub(crate) fn replace_top_via(headers: &mut Headers, via: &Via) {
    let Some(line) = headers.0.iter_mut().find(|h| h.is(HeaderName::Via)) else {
        return;
    };
    let Ok(entries) = Via::parse_list(&line.value) else {
        return;
    };
    let mut value = via.to_string();
    for other in entries.iter().skip(1) {
        let _ = write!(value, ", {other}");
    }
    line.value = value;
}

/// Every entry of a list header (Record-Route, Route, Contact), in order; `None` if any is malformed.
pub(crate) fn name_addr_list(headers: &Headers, name: HeaderName) -> Option<Vec<NameAddr>> {
    let mut all = Vec::new();
    for line in headers.get_all(name) {
        all.extend(NameAddr::parse_list(line).ok()?);
    }
    Some(all)
}

/// The From or To header.
pub(crate) fn party(headers: &Headers, name: HeaderName) -> Option<NameAddr> {
    NameAddr::parse(headers.get(name)?).ok()
}

/// The `tag` of From or To.
pub(crate) fn tag_of(headers: &Headers, name: HeaderName) -> Option<String> {
    party(headers, name).and_then(|p| p.tag().map(str::to_string))
}

/// Parses `CSeq: 4711 INVITE`.
pub(crate) fn parse_cseq(text: &str) -> Option<CSeq> {
    CSeq::parse(text).ok()
}

/// The CSeq header of a message.
pub(crate) fn cseq(headers: &Headers) -> Option<CSeq> {
    parse_cseq(headers.get(HeaderName::CSeq)?)
}

fn write_headers(out: &mut String, headers: &Headers, body_len: usize) {
    for Header { name, value } in headers.iter() {
        if HeaderName::ContentLength.matches(name) {
            continue;
        }
        let _ = write!(out, "{name}: {value}\r\n");
    }
    let _ = write!(out, "Content-Length: {body_len}\r\n\r\n");
}

/// A request as wire bytes; Content-Length is always written from the body.
pub(crate) fn request_bytes(request: &Request) -> Vec<u8> {
    let mut head = format!("{} {} SIP/2.0\r\n", request.method, request.uri);
    write_headers(&mut head, &request.headers, request.body.len());
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(&request.body);
    bytes
}

/// A response as wire bytes; Content-Length is always written from the body.
pub(crate) fn response_bytes(response: &Response) -> Vec<u8> {
    let mut head = format!("SIP/2.0 {} {}\r\n", response.status, response.reason);
    write_headers(&mut head, &response.headers, response.body.len());
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(&response.body);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_via_list_with_compact_form() {
        let mut headers = Headers::new();
        headers.push(
            "v",
            "SIP/2.0/UDP [2001:db8::1]:5070;branch=z9hG4bK1;rport, SIP/2.0/TCP proxy.example.com",
        );
        headers.push("Via", "SIP/2.0/UDP 10.0.0.1;received=10.0.0.2");
        let all = vias(&headers).expect("valid vias");
        assert_eq!(all.len(), 3);
        assert_eq!(all[0].port, Some(5070));
        assert_eq!(all[0].rport(), Some(None));
        assert_eq!(all[2].received(), Some("10.0.0.2"));
        assert_eq!(top_via(&headers), Some(all[0].clone()));
    }

    #[test]
    fn replaces_only_the_top_via() {
        let mut headers = Headers::new();
        headers.push(
            "Via",
            "SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9hG4bK2",
        );
        let mut top = top_via(&headers).expect("top via");
        top.params.set("received", Some("1.2.3.4".into()));
        replace_top_via(&mut headers, &top);
        assert_eq!(
            headers.get(HeaderName::Via),
            Some("SIP/2.0/UDP a;branch=z9hG4bK1;received=1.2.3.4, SIP/2.0/UDP b;branch=z9hG4bK2")
        );
    }

    #[test]
    fn malformed_values_read_as_none() {
        let mut headers = Headers::new();
        headers.push("Via", "SIP/3.0/UDP host");
        headers.push("CSeq", "abc INVITE");
        headers.push("Record-Route", "<sip:a");
        assert!(top_via(&headers).is_none());
        assert!(cseq(&headers).is_none());
        assert!(name_addr_list(&headers, HeaderName::RecordRoute).is_none());
    }

    #[test]
    fn content_length_is_recomputed() {
        let mut response = Response::new(200);
        response.headers.push("Content-Length", "99");
        response.body = b"abc".to_vec();
        let bytes = response_bytes(&response);
        assert!(bytes.ends_with(b"Content-Length: 3\r\n\r\nabc"));
    }
}
