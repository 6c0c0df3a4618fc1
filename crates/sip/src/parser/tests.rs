//! Unit tests of framing, start lines, header lines and validation.

use super::*;
use crate::headers::Contacts;
use crate::typed::TypedHeaders;

use crate::uri::Host;

const OPTIONS: &str = "OPTIONS sip:bob@example.com SIP/2.0\r\n\
    Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n\
    From: <sip:alice@example.com>;tag=a\r\n\
    To: <sip:bob@example.com>\r\n\
    Call-ID: c1@192.0.2.1\r\n\
    CSeq: 1 OPTIONS\r\n";

fn with(extra: &str, body: &str) -> Vec<u8> {
    format!("{OPTIONS}{extra}\r\n{body}").into_bytes()
}

fn request(bytes: &[u8]) -> Request {
    match parse_datagram(bytes) {
        Ok(Message::Request(r)) => r,
        other => panic!("expected a request, got {other:?}"),
    }
}

#[test]
fn compact_forms_and_case_insensitive_names() {
    let bytes = b"INVITE sip:bob@example.com SIP/2.0\r\n\
        v: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
        f: <sip:a@x>;tag=1\r\n\
        t: sip:b@x\r\n\
        i: c@x\r\n\
        cseq: 1 INVITE\r\n\
        m: <sip:a@192.0.2.1>\r\n\
        c: application/sdp\r\n\
        k: timer, 100rel\r\n\
        l: 4\r\n\r\nv=0\r\n";
    let req = request(bytes);
    assert_eq!(req.call_id(), Some("c@x"));
    assert_eq!(req.from().unwrap().tag(), Some("1"));
    assert_eq!(req.content_type(), Some("application/sdp"));
    assert_eq!(req.supported(), vec!["timer", "100rel"]);
    assert_eq!(req.body, b"v=0\r");
    assert_eq!(req.contacts().unwrap().addresses().len(), 1);
    assert_eq!(req.headers.0[0].name, "v", "names are kept as written");
}

#[test]
fn folded_lines_and_lws_around_colon() {
    let req = request(&with(
        "Subject  :\r\n  folded\r\n\tacross   lines \r\nX-Empty:\r\nMax-Forwards :\t 0068\r\n",
        "",
    ));
    assert_eq!(
        req.headers.get(HeaderName::Subject),
        Some("folded across   lines")
    );
    assert_eq!(req.headers.get_by_name("x-empty"), Some(""));
    assert_eq!(req.max_forwards().unwrap(), Some(68));
    assert_eq!(req.headers.0[5].name, "Subject");
}

#[test]
fn continuation_without_header_is_rejected() {
    let bytes = b"OPTIONS sip:b@x SIP/2.0\r\n continued\r\n\r\n";
    assert_eq!(parse_datagram(bytes), Err(ParseError::InvalidHeaderLine));
    let bytes = with("No colon here\r\n", "");
    assert_eq!(parse_datagram(&bytes), Err(ParseError::InvalidHeaderLine));
    let bytes = with("Bad Name: x\r\n", "");
    assert_eq!(parse_datagram(&bytes), Err(ParseError::InvalidHeaderLine));
}

#[test]
fn unknown_headers_round_trip_in_order() {
    let bytes = with(
        "X-B: 2\r\nx-a: \"quoted, with comma\" ;p=1\r\nP-Asserted-Identity: <sip:a@x>\r\nContent-Length: 0\r\n",
        "",
    );
    let message = parse_datagram(&bytes).unwrap();
    assert_eq!(message.to_bytes(), bytes);
}

#[test]
fn header_values_must_be_utf8_without_controls() {
    let mut bytes = with("X-Bin: a\u{1}b\r\n", "");
    assert!(matches!(
        parse_datagram(&bytes),
        Err(ParseError::InvalidHeader { ref name, .. }) if name == "X-Bin"
    ));
    bytes = format!("{OPTIONS}Subject: ").into_bytes();
    bytes.extend_from_slice(b"\xff\xfe\r\n\r\n");
    let err = parse_datagram(&bytes).unwrap_err();
    assert_eq!(err.reason_phrase(), "Bad Request - Invalid Subject header");
    // UTF-8 itself is fine.
    assert!(parse_datagram(&with("Subject: caf\u{e9} \u{1f600}\r\n", "")).is_ok());
}

#[test]
fn ipv6_in_uri_and_via() {
    let bytes = b"OPTIONS sip:bob@[2001:db8::10]:5070 SIP/2.0\r\n\
        Via: SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK1;received=2001:db8::9\r\n\
        From: <sip:alice@[2001:db8::1]>;tag=a\r\n\
        To: sip:bob@[2001:db8::10]\r\n\
        Call-ID: c1\r\nCSeq: 1 OPTIONS\r\n\r\n";
    let req = request(bytes);
    assert_eq!(req.uri.host, Host::V6("2001:db8::10".parse().unwrap()));
    assert_eq!(req.uri.port, Some(5070));
    let via = req.top_via().unwrap();
    assert_eq!(via.host, Host::V6("2001:db8::1".parse().unwrap()));
    assert_eq!(via.port, Some(5060));
    assert_eq!(via.received(), Some("2001:db8::9"));
    assert_eq!(
        req.to().unwrap().uri.host,
        Host::V6("2001:db8::10".parse().unwrap())
    );
}

#[test]
fn name_addr_versus_addr_spec_params() {
    let req = request(&with(
        "Contact: sip:a@192.0.2.1;expires=60\r\nRoute: <sip:p1@x;lr>;foo=bar, <sip:p2@y;lr>\r\n",
        "",
    ));
    let contacts = req.contacts().unwrap();
    let contact = &contacts.addresses()[0];
    assert!(contact.uri.params.0.is_empty());
    assert_eq!(contact.params.value("expires"), Some("60"));
    let routes = req.routes().unwrap();
    assert_eq!(routes.len(), 2);
    assert!(routes[0].uri.params.contains("lr"));
    assert_eq!(routes[0].params.value("foo"), Some("bar"));
}

#[test]
fn comma_lists_with_quoted_commas() {
    let req = request(&with(
        "Contact: \"Doe, John\" <sip:j,k@x;a=1>, <sip:k@y>\r\nContact: <sip:l@z>\r\nVia: SIP/2.0/TCP p;branch=z9hG4bK2, SIP/2.0/TLS q\r\n",
        "",
    ));
    let contacts = req.contacts().unwrap();
    assert_eq!(contacts.addresses().len(), 3);
    assert_eq!(
        contacts.addresses()[0].display_name.as_deref(),
        Some("\"Doe, John\"")
    );
    assert_eq!(req.vias().unwrap().len(), 3);
}

#[test]
fn contact_star() {
    let bytes = b"REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
        From: <sip:a@example.com>;tag=1\r\nTo: <sip:a@example.com>\r\nCall-ID: r\r\n\
        CSeq: 2 REGISTER\r\nContact: *\r\nExpires: 0\r\n\r\n";
    let req = request(bytes);
    assert_eq!(req.contacts().unwrap(), Contacts::Star);
    assert_eq!(req.expires().unwrap(), Some(0));
    let invite = with("Contact: *\r\n", "");
    assert!(parse_datagram(&invite).is_err());
}

#[test]
fn datagram_content_length_is_tolerant() {
    // Missing: the rest of the datagram is the body.
    assert_eq!(request(&with("", "hello")).body, b"hello");
    // Shorter: extra bytes are ignored.
    assert_eq!(request(&with("Content-Length: 2\r\n", "hello")).body, b"he");
    // Longer: rejected (RFC 4475 clerr).
    assert_eq!(
        parse_datagram(&with("Content-Length: 9\r\n", "hello")),
        Err(ParseError::BodyTruncated {
            declared: 9,
            available: 5
        })
    );
    assert!(parse_datagram(&with("Content-Length: -1\r\n", "")).is_err());
    assert_eq!(
        parse_datagram(&with("Content-Length: 0\r\nl: 0\r\n", "")),
        Err(ParseError::DuplicateHeader("Content-Length"))
    );
    // No empty line: the end of the datagram ends the headers, if it ends a line.
    assert!(parse_datagram(OPTIONS.as_bytes()).is_ok());
    assert_eq!(
        parse_datagram(&OPTIONS.as_bytes()[..OPTIONS.len() - 2]),
        Err(ParseError::Incomplete)
    );
}

#[test]
fn stream_requires_content_length() {
    assert_eq!(
        parse_stream(&with("", "")),
        Err(ParseError::MissingHeader("Content-Length"))
    );
}

#[test]
fn stream_incomplete_complete_and_pipelined() {
    let first = with("Content-Length: 5\r\n", "hello");
    let second = with("Content-Length: 0\r\n", "");
    let mut buf = b"\r\n\r\n".to_vec();
    buf.extend_from_slice(&first);
    buf.extend_from_slice(&second);
    // Every strict prefix of the first message is incomplete.
    for cut in 0..4 + first.len() {
        assert_eq!(parse_stream(&buf[..cut]), Ok(None), "cut at {cut}");
    }
    let (msg, used) = parse_stream(&buf).unwrap().unwrap();
    assert_eq!(used, 4 + first.len());
    assert_eq!(msg.body(), b"hello");
    let (msg, used2) = parse_stream(&buf[used..]).unwrap().unwrap();
    assert_eq!(used2, second.len());
    assert!(msg.body().is_empty());
    assert_eq!(parse_stream(&buf[used + used2..]), Ok(None));
}

/// A complete request with `Content-Length` and `body`; `edit` rewrites its header section.
fn stream_request(edit: impl Fn(String) -> String, body: &str) -> Vec<u8> {
    let head = edit(format!("{OPTIONS}Content-Length: {}\r\n", body.len()));
    format!("{head}\r\n{body}").into_bytes()
}

#[test]
fn stream_skips_a_framed_but_invalid_message() {
    let first = stream_request(|h| h, "");
    let bad_cseq = stream_request(
        |h| {
            h.replace("OPTIONS sip:", "INVITE sip:")
                .replace("CSeq: 1 OPTIONS", "CSeq: one INVITE")
        },
        "v=0\r\n",
    );
    let last = stream_request(|h| h.replace("CSeq: 1", "CSeq: 2"), "");
    let buf = [&first[..], b"\r\n", &bad_cseq, &last].concat();

    let frame = parse_stream_frame(&buf).unwrap().unwrap();
    assert_eq!(frame.consumed, first.len());
    assert!(frame.message.is_ok());
    let mut at = frame.consumed;

    let frame = parse_stream_frame(&buf[at..]).unwrap().unwrap();
    assert_eq!(
        frame.consumed,
        2 + bad_cseq.len(),
        "keep-alive, head and body"
    );
    let err = frame.message.unwrap_err();
    assert_eq!(err.reason_phrase(), "Bad Request - Invalid CSeq header");
    let answer = error_response(&buf[at..at + frame.consumed], &err).unwrap();
    assert_eq!(answer.status, 400);
    assert_eq!(answer.headers.get(HeaderName::CSeq), Some("one INVITE"));
    at += frame.consumed;

    let frame = parse_stream_frame(&buf[at..]).unwrap().unwrap();
    assert_eq!(frame.consumed, last.len());
    assert_eq!(frame.message.unwrap().cseq().unwrap().seq, 2);
    at += frame.consumed;
    assert_eq!(parse_stream_frame(&buf[at..]), Ok(None));

    // parse_stream reports the bad message as an error, as before.
    assert_eq!(parse_stream(&buf[first.len()..]), Err(err));
}

#[test]
fn stream_waits_for_the_body_of_an_invalid_message() {
    let bad = stream_request(|h| h.replace("CSeq: 1 OPTIONS", "CSeq: 1 BYE"), "hello");
    for cut in 0..bad.len() {
        assert_eq!(parse_stream_frame(&bad[..cut]), Ok(None), "cut at {cut}");
    }
    let frame = parse_stream_frame(&bad).unwrap().unwrap();
    assert_eq!(frame.consumed, bad.len());
    assert!(matches!(
        frame.message,
        Err(ParseError::CSeqMethodMismatch { .. })
    ));
}

#[test]
fn stream_recoverable_errors() {
    let cases: Vec<(Vec<u8>, u16)> = vec![
        (
            stream_request(|h| h.replace("Call-ID: c1@192.0.2.1\r\n", ""), ""),
            400,
        ),
        (
            stream_request(|h| h.replace("Call-ID: c1@", "Call-ID: c1@@"), ""),
            400,
        ),
        (
            stream_request(|h| h.replace("SIP/2.0\r\n", "SIP/3.0\r\n"), ""),
            505,
        ),
        (
            stream_request(
                |h| h.replace("sip:bob@example.com SIP", "http://example.com SIP"),
                "",
            ),
            416,
        ),
        (
            stream_request(|h| h.replace("OPTIONS sip:", "OPTIONS  sip:"), ""),
            400,
        ),
        (
            stream_request(|h| h.replace("Via: SIP/2.0/UDP", "Via: SIP/2.0/"), ""),
            400,
        ),
        (
            stream_request(|h| format!("{h}X-Bin: a\u{1}b\r\n"), "body"),
            400,
        ),
        (
            stream_request(|h| format!("{h}Subject: \u{1f600}\r\nContact: *\r\n"), ""),
            400,
        ),
        (
            stream_request(
                |h| h.replacen("OPTIONS sip:bob@example.com SIP/2.0", "SIP/2.0 20x OK", 1),
                "",
            ),
            400,
        ),
    ];
    for (bytes, status) in cases {
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let frame = parse_stream_frame(&bytes)
            .unwrap_or_else(|e| panic!("fatal {e} for {text}"))
            .unwrap_or_else(|| panic!("incomplete: {text}"));
        assert_eq!(frame.consumed, bytes.len(), "{text}");
        let err = frame.message.expect_err(&text);
        assert_eq!(err.status(), status, "{text}: {err}");
        assert_eq!(
            Err(err),
            parse_datagram(&bytes),
            "same verdict as a datagram"
        );
    }
}

#[test]
fn stream_fatal_errors() {
    let content_length = |h: String, with: &str| h.replace("Content-Length: 0\r\n", with);
    let cases: Vec<(Vec<u8>, ParseError)> = vec![
        (
            stream_request(|h| content_length(h, ""), ""),
            ParseError::MissingHeader("Content-Length"),
        ),
        (
            stream_request(|h| content_length(h, "Content-Length: 0\r\nl: 0\r\n"), ""),
            ParseError::DuplicateHeader("Content-Length"),
        ),
        (
            stream_request(|h| content_length(h, "Content-Length: zero\r\n"), ""),
            invalid_header("Content-Length", "not a number"),
        ),
        (
            stream_request(|h| content_length(h, "l: 0\u{1}\r\n"), ""),
            invalid_header("l", "control character"),
        ),
        (
            stream_request(|h| format!("{h}Content Length: 5\r\n"), ""),
            ParseError::InvalidHeaderLine,
        ),
        (
            stream_request(|h| format!("{h}no colon\r\n"), ""),
            ParseError::InvalidHeaderLine,
        ),
        (
            b"a=rtpmap:0 PCMU/8000\r\nContent-Length: 0\r\n\r\n".to_vec(),
            ParseError::InvalidStartLine,
        ),
        (
            b"GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n".to_vec(),
            ParseError::InvalidStartLine,
        ),
        (
            stream_request(
                |h| content_length(h, &format!("Content-Length: {}\r\n", MAX_BODY_BYTES + 1)),
                "",
            ),
            ParseError::BodyTooLarge {
                length: MAX_BODY_BYTES + 1,
                limit: MAX_BODY_BYTES,
            },
        ),
    ];
    for (bytes, expected) in cases {
        let text = String::from_utf8_lossy(&bytes).into_owned();
        assert_eq!(parse_stream_frame(&bytes), Err(expected), "{text}");
    }
}

#[test]
fn stream_limits() {
    let mut huge = OPTIONS.as_bytes().to_vec();
    while huge.len() <= MAX_HEADER_BYTES {
        huge.extend_from_slice(b"X-Filler: 0123456789012345678901234567890123456789\r\n");
    }
    assert!(matches!(
        parse_stream(&huge),
        Err(ParseError::HeadersTooLarge { .. })
    ));
    assert_eq!(parse_stream(&huge).unwrap_err().status(), 413);
    let big_body = with(&format!("Content-Length: {}\r\n", MAX_BODY_BYTES + 1), "");
    assert!(matches!(
        parse_stream(&big_body),
        Err(ParseError::BodyTooLarge { .. })
    ));
}

#[test]
fn start_line_errors() {
    let cases: &[(&str, u16)] = &[
        ("OPTIONS sip:bob@example.com SIP/3.0", 505),
        ("OPTIONS sip:bob@example.com sip/2.0", 0),
        ("OPTIONS  sip:bob@example.com SIP/2.0", 400),
        ("OPTIONS sip:bob@example.com SIP/2.0 ", 400),
        ("OPTIONS sip:bob@example.com; lr SIP/2.0", 400),
        ("OPTIONS <sip:bob@example.com> SIP/2.0", 400),
        ("OPTIONS http://example.com SIP/2.0", 416),
        ("OPTIONS sip:bob@example.com?Route=x SIP/2.0", 400),
        ("OPTIONS sip:bob@example.com HTTP/1.1", 400),
        ("OPT:IONS sip:bob@example.com SIP/2.0", 400),
    ];
    for (line, status) in cases {
        let rest = OPTIONS.split_once("\r\n").unwrap().1;
        let bytes = format!("{line}\r\n{rest}\r\n");
        match parse_datagram(bytes.as_bytes()) {
            Ok(_) => assert_eq!(*status, 0, "{line} parsed"),
            Err(e) => assert_eq!(e.status(), *status, "{line}: {e}"),
        }
    }
}

#[test]
fn status_lines() {
    let rest = OPTIONS.split_once("\r\n").unwrap().1;
    for (line, ok) in [
        ("SIP/2.0 200 OK", true),
        ("SIP/2.0 100 ", true),
        ("SIP/2.0 100", true),
        ("SIP/2.0 183 Sitzung \u{e4}hm", true),
        ("SIP/2.0 99 Low", false),
        ("SIP/2.0 4294967301 better not break the receiver", false),
        ("SIP/2.0 20x OK", false),
    ] {
        let bytes = format!("{line}\r\n{rest}\r\n");
        assert_eq!(parse_datagram(bytes.as_bytes()).is_ok(), ok, "{line}");
    }
}

#[test]
fn mandatory_headers_and_cseq_match() {
    let without = |name: &str| {
        let kept: String = OPTIONS
            .split_inclusive("\r\n")
            .filter(|l| !l.starts_with(name))
            .collect();
        parse_datagram(format!("{kept}\r\n").as_bytes()).unwrap_err()
    };
    assert_eq!(without("Via"), ParseError::MissingHeader("Via"));
    assert_eq!(without("From"), ParseError::MissingHeader("From"));
    assert_eq!(without("To"), ParseError::MissingHeader("To"));
    assert_eq!(without("Call-ID"), ParseError::MissingHeader("Call-ID"));
    assert_eq!(without("CSeq"), ParseError::MissingHeader("CSeq"));
    let mismatch = OPTIONS.replace("1 OPTIONS", "1 INVITE");
    assert!(matches!(
        parse_datagram(format!("{mismatch}\r\n").as_bytes()),
        Err(ParseError::CSeqMethodMismatch { .. })
    ));
    assert_eq!(
        parse_datagram(&with("Call-ID: again\r\n", "")),
        Err(ParseError::DuplicateHeader("Call-ID"))
    );
    let err = parse_datagram(&with("Max-Forwards: 256\r\n", "")).unwrap_err();
    assert_eq!(
        err.reason_phrase(),
        "Bad Request - Invalid Max-Forwards header"
    );
}

#[test]
fn methods_are_case_sensitive() {
    let bytes = OPTIONS.replace("OPTIONS", "options");
    let req = request(format!("{bytes}\r\n").as_bytes());
    assert_eq!(
        req.method,
        crate::method::Method::Extension("options".into())
    );
}
