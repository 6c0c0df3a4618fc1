//! RFC 4475 torture tests.
//!
//! The messages in `tests/torture/{valid,invalid}/*.sip` were written for
//! Switchboard from the RFC's descriptions; `tests/torture/expected.tsv` says
//! what each must do. The end-to-end tests of the server fire the same files
//! at it over UDP.
//!
//! Decisions where the RFC leaves room:
//! - Syntactically valid messages that the *application* must refuse (bext01
//!   → 420, sdp01 → 406, sipsbad → 400 Bad Contact, zeromf → 483) parse here.
//! - Semantic errors that make a request unusable for a transaction layer are
//!   parse errors: CSeq method mismatch (mismatch01/02) and duplicated
//!   single-value headers (multi01) → 400.
//! - A Request-URI scheme other than sip/sips/tel is 416 (unkscm, novelsc),
//!   while an unknown scheme in To/From is a 400 (unksm, unksm2): RFC 4475
//!   says these parse, but a registrar must answer 400 and our URI model has
//!   no place for foreign schemes.
//! - scalar02: the RFC allows tolerating the overlarge Max-Forwards and Expires
//!   alone, but the CSeq past 2^31 makes it a 400 either way.
//! - bigcode and scalarlg are responses: they fail to parse and nothing is
//!   sent back.
//! - invut (415) and regaut01 (a registrar's 401, or any UAS's own answer)
//!   are for the application: they parse here.

use std::fs;
use std::path::{Path, PathBuf};

use sip::{
    error_response, parse_datagram, parse_stream, parse_stream_frame, Message, TypedHeaders,
};

fn torture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/torture")
}

/// `(relative file, expected status or None for "must parse")`.
fn expectations() -> Vec<(String, Option<u16>)> {
    let table = fs::read_to_string(torture_dir().join("expected.tsv")).expect("expected.tsv");
    table
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let mut cols = l.split('\t');
            let file = cols.next().expect("file column").to_string();
            let expect = cols.next().expect("expect column");
            let status = (expect != "ok").then(|| expect.parse().expect("status code"));
            (file, status)
        })
        .collect()
}

#[test]
fn every_file_has_an_expectation() {
    let listed: Vec<String> = expectations().into_iter().map(|(f, _)| f).collect();
    for kind in ["valid", "invalid"] {
        for entry in fs::read_dir(torture_dir().join(kind)).expect("torture dir") {
            let name = entry.expect("dir entry").file_name();
            let rel = format!("{kind}/{}", name.to_string_lossy());
            assert!(listed.contains(&rel), "{rel} missing from expected.tsv");
        }
    }
    for file in &listed {
        assert!(
            torture_dir().join(file).is_file(),
            "{file} listed but absent"
        );
        let must_parse = file.starts_with("valid/");
        let status = expectations()
            .into_iter()
            .find(|(f, _)| f == file)
            .and_then(|(_, s)| s);
        assert_eq!(
            must_parse,
            status.is_none(),
            "{file} is in the wrong folder"
        );
    }
}

#[test]
fn valid_messages_parse_and_round_trip() {
    for (file, status) in expectations() {
        if status.is_some() {
            continue;
        }
        let bytes = fs::read(torture_dir().join(&file)).expect("read");
        let message = parse_datagram(&bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
        // Typed views of the mandatory headers work on every valid message.
        message.vias().unwrap_or_else(|e| panic!("{file}: {e}"));
        message.from().unwrap_or_else(|e| panic!("{file}: {e}"));
        message.to().unwrap_or_else(|e| panic!("{file}: {e}"));
        message.cseq().unwrap_or_else(|e| panic!("{file}: {e}"));
        // Serialize and parse again: the same message.
        let again = parse_datagram(&message.to_bytes()).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(again, message, "{file} round trip");
        // As a stream, they frame the same way (all carry Content-Length).
        let (streamed, used) = parse_stream(&bytes)
            .unwrap_or_else(|e| panic!("{file}: {e}"))
            .unwrap_or_else(|| panic!("{file}: incomplete on a stream"));
        assert_eq!(streamed, message, "{file} as a stream");
        assert!(used <= bytes.len());
    }
}

#[test]
fn invalid_messages_are_rejected_with_the_right_status() {
    for (file, status) in expectations() {
        let Some(status) = status else { continue };
        let bytes = fs::read(torture_dir().join(&file)).expect("read");
        let err = match parse_datagram(&bytes) {
            Ok(m) => panic!("{file} parsed: {m:?}"),
            Err(e) => e,
        };
        assert_eq!(err.status(), status, "{file}: {err}");
        let answer = error_response(&bytes, &err);
        if bytes.starts_with(b"SIP/2.0 ") {
            assert!(answer.is_none(), "{file}: no answer to a response");
            continue;
        }
        let answer = answer.unwrap_or_else(|| panic!("{file}: no error response"));
        assert_eq!(answer.status, status);
        assert_eq!(answer.reason, err.reason_phrase());
        // The answer goes back along the request's Vias.
        let wire = String::from_utf8_lossy(&answer.to_bytes()).into_owned();
        assert!(wire.starts_with(&format!("SIP/2.0 {status} ")), "{file}");
        assert!(answer.headers.get(sip::HeaderName::Via).is_some(), "{file}");
    }
}

/// On a stream, every invalid message is skipped and answered like a
/// datagram, except those whose Content-Length is itself the fault: mcl01
/// (two of them) and ncl (negative) lose the framing, and clerr (longer
/// than what follows) waits for more bytes.
#[test]
fn invalid_messages_pipelined_on_a_stream() {
    let mut stream = Vec::new();
    let mut expected = Vec::new();
    for (file, status) in expectations() {
        let Some(status) = status else { continue };
        let bytes = fs::read(torture_dir().join(&file)).expect("read");
        let verdict = parse_stream_frame(&bytes);
        if file.ends_with("mcl01.sip") || file.ends_with("ncl.sip") {
            assert!(verdict.is_err(), "{file}: {verdict:?}");
        } else if file.ends_with("clerr.sip") {
            assert_eq!(verdict, Ok(None), "{file}");
        } else {
            stream.extend_from_slice(b"\r\n");
            stream.extend_from_slice(&bytes);
            expected.push((file, status, bytes.len() + 2));
        }
    }
    let mut rest = stream.as_slice();
    for (file, status, len) in expected {
        let frame = parse_stream_frame(rest)
            .unwrap_or_else(|e| panic!("{file}: framing lost: {e}"))
            .unwrap_or_else(|| panic!("{file}: incomplete"));
        assert_eq!(frame.consumed, len, "{file}");
        let err = frame.message.expect_err(&file);
        assert_eq!(err.status(), status, "{file}: {err}");
        rest = &rest[frame.consumed..];
    }
    assert!(rest.is_empty());
}

#[test]
fn selected_details() {
    let read = |f: &str| fs::read(torture_dir().join(f)).expect("read");
    let wsinv = parse_datagram(&read("valid/wsinv.sip")).expect("wsinv");
    assert_eq!(wsinv.vias().expect("vias").len(), 3);
    assert_eq!(wsinv.cseq().expect("cseq").seq, 17);
    assert_eq!(wsinv.max_forwards().expect("max-forwards"), Some(42));
    assert_eq!(wsinv.to().expect("to").tag(), Some("7707tag9"));
    assert_eq!(wsinv.from().expect("from").tag(), Some("4xq1"));
    let contact = wsinv.contacts().expect("contacts");
    assert_eq!(contact.addresses()[0].params.value("q"), Some("0.5"));

    let dblreq = parse_datagram(&read("valid/dblreq.sip")).expect("dblreq");
    assert!(dblreq.body().is_empty());
    assert_eq!(dblreq.cseq().expect("cseq").method, sip::Method::Register);

    let unreason = parse_datagram(&read("valid/unreason.sip")).expect("unreason");
    let Message::Response(r) = unreason else {
        panic!("response expected")
    };
    assert!(r.reason.starts_with("= 2**3 * 5**2 но"));

    let err = parse_datagram(&read("invalid/scalar02.sip")).expect_err("scalar02");
    assert_eq!(err.reason_phrase(), "Bad Request - Invalid CSeq header");
    let err = parse_datagram(&read("invalid/scalarlg.sip")).expect_err("scalarlg");
    assert_eq!(err.reason_phrase(), "Bad Request - Invalid CSeq header");

    let invut = parse_datagram(&read("valid/invut.sip")).expect("invut");
    assert_eq!(invut.content_type(), Some("application/unknownformat"));
    assert!(matches!(
        sip::body::session_description(invut.headers(), invut.body()),
        Err(sip::body::BodyError::UnsupportedType(_))
    ));
    let Message::Request(sdp01) = parse_datagram(&read("valid/sdp01.sip")).expect("sdp01") else {
        panic!("request expected")
    };
    assert_eq!(
        sip::body::session_offer(&sdp01),
        Err(sip::body::BodyError::NotAcceptable)
    );
    let regaut = parse_datagram(&read("valid/regaut01.sip")).expect("regaut01");
    let auth = regaut
        .auth(sip::HeaderName::Authorization)
        .expect("an unknown scheme parses");
    assert_eq!(auth.len(), 1);
    let err = parse_datagram(&read("invalid/insuf.sip")).expect_err("insuf");
    assert_eq!(err.reason_phrase(), "Bad Request - Missing From header");
}
