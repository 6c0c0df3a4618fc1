use super::*;
use crate::message::Request;
use crate::method::Method;
use crate::uri::{Host, Uri};

const SDP: &[u8] = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";

fn headers(lines: &[(&str, &str)]) -> Headers {
    let mut h = Headers::new();
    for (name, value) in lines {
        h.push(*name, *value);
    }
    h
}

fn sdp_of<'a>(h: &'a Headers, body: &'a [u8]) -> Result<Option<&'a [u8]>, BodyError> {
    session_description(h, body)
}

fn invite(lines: &[(&str, &str)], body: &[u8]) -> Request {
    let mut r = Request::new(
        Method::Invite,
        Uri::sip(
            Some("1"),
            Host::from(std::net::IpAddr::from([127, 0, 0, 1])),
            None,
        ),
    );
    r.headers = headers(lines);
    r.body = body.to_vec();
    r
}

fn multipart(boundary: &str, parts: &[(&str, &[u8])]) -> Vec<u8> {
    let mut body = b"preamble, ignored\r\n".to_vec();
    for (head, content) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n{head}\r\n\r\n").as_bytes());
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\nepilogue").as_bytes());
    body
}

#[test]
fn plain_sdp_whatever_the_spelling_of_its_type() {
    for ct in [
        "application/sdp",
        "Application/SDP",
        "application/sdp; charset=x",
        " application / sdp ;level=1",
    ] {
        let h = headers(&[("Content-Type", ct)]);
        assert_eq!(sdp_of(&h, SDP), Ok(Some(SDP)), "{ct}");
    }
    let compact = headers(&[("c", "application/sdp")]);
    assert_eq!(sdp_of(&compact, SDP), Ok(Some(SDP)));
}

#[test]
fn no_body_is_no_offer_whatever_the_headers() {
    let h = headers(&[("Content-Type", "text/plain")]);
    assert_eq!(sdp_of(&h, b""), Ok(None));
    assert_eq!(sdp_of(&Headers::new(), b""), Ok(None));
}

#[test]
fn other_types_are_415_with_accept() {
    for ct in [
        "text/plain",
        "application/unknownformat",
        "multipart/signed; boundary=x",
    ] {
        let h = headers(&[("Content-Type", ct)]);
        let error = sdp_of(&h, SDP).expect_err(ct);
        assert!(matches!(error, BodyError::UnsupportedType(_)), "{ct}");
        assert_eq!(error.status(), 415);
        assert_eq!(error.answer_headers(), &[("Accept", "application/sdp")]);
        assert_eq!(error.reason_phrase(), "Unsupported Media Type");
    }
}

#[test]
fn missing_or_malformed_content_type_is_400() {
    let error = sdp_of(&Headers::new(), SDP).expect_err("no type");
    assert_eq!(error, BodyError::MissingContentType);
    assert_eq!(
        error.reason_phrase(),
        "Bad Request - Missing Content-Type header"
    );
    for ct in ["sdp", "", "application/", "/sdp", "appli cation/sdp"] {
        let h = headers(&[("Content-Type", ct)]);
        assert_eq!(sdp_of(&h, SDP).map_err(|e| e.status()), Err(400), "{ct:?}");
    }
}

#[test]
fn codings_other_than_identity_are_415_with_accept_encoding() {
    let ok = headers(&[
        ("Content-Type", "application/sdp"),
        ("Content-Encoding", "identity"),
        ("Content-Transfer-Encoding", "8bit"),
    ]);
    assert_eq!(sdp_of(&ok, SDP), Ok(Some(SDP)));
    for (name, value) in [
        ("Content-Encoding", "gzip"),
        ("e", "identity, deflate"),
        ("Content-Transfer-Encoding", "base64"),
    ] {
        let h = headers(&[("Content-Type", "application/sdp"), (name, value)]);
        let error = sdp_of(&h, SDP).expect_err(value);
        assert!(
            matches!(error, BodyError::UnsupportedEncoding(_)),
            "{value}"
        );
        assert_eq!(error.status(), 415);
        assert_eq!(
            error.answer_headers(),
            &[
                ("Accept", "application/sdp"),
                ("Accept-Encoding", "identity")
            ]
        );
    }
}

#[test]
fn disposition_session_is_taken_others_refused_or_skipped() {
    let with = |d: &str| {
        headers(&[
            ("Content-Type", "application/sdp"),
            ("Content-Disposition", d),
        ])
    };
    assert_eq!(sdp_of(&with("session"), SDP), Ok(Some(SDP)));
    assert_eq!(
        sdp_of(&with("Session;handling=required"), SDP),
        Ok(Some(SDP))
    );
    assert_eq!(
        sdp_of(&with("render"), SDP).map_err(|e| e.status()),
        Err(415)
    );
    assert_eq!(
        sdp_of(&with("early-session; handling=optional"), SDP),
        Ok(None)
    );
    // An unknown type marked optional is skipped: no offer.
    let optional = headers(&[
        ("Content-Type", "text/plain"),
        ("Content-Disposition", "render;handling=\"optional\""),
    ]);
    assert_eq!(sdp_of(&optional, b"hello"), Ok(None));
    let gzip_optional = headers(&[
        ("Content-Type", "application/sdp"),
        ("Content-Encoding", "gzip"),
        ("Content-Disposition", "session;handling=optional"),
    ]);
    assert_eq!(sdp_of(&gzip_optional, SDP), Ok(None));
}

#[test]
fn multipart_mixed_yields_its_sdp_part() {
    let body = multipart(
        "xyz",
        &[
            ("Content-Type: application/SDP", SDP),
            (
                "Content-Type: text/plain\r\nContent-Disposition: render; handling=optional",
                b"hi",
            ),
        ],
    );
    for ct in [
        "multipart/mixed;boundary=xyz",
        "multipart/mixed; boundary=\"xyz\"",
        "Multipart/Related; type=\"application/sdp\"; boundary=xyz",
    ] {
        let h = headers(&[("Content-Type", ct)]);
        assert_eq!(sdp_of(&h, &body), Ok(Some(SDP)), "{ct}");
    }
}

#[test]
fn multipart_with_lf_line_ends_and_padding() {
    let body = b"--b \t\nContent-Type: application/sdp\n\nv=0\n--b--\n";
    let h = headers(&[("Content-Type", "multipart/mixed; boundary=b")]);
    assert_eq!(sdp_of(&h, body), Ok(Some(b"v=0".as_slice())));
}

#[test]
fn a_required_part_we_do_not_understand_is_415() {
    let body = multipart(
        "xyz",
        &[
            ("Content-Type: application/sdp", SDP),
            ("Content-Type: application/pkcs7-signature\r\nContent-Disposition: attachment; handling=required", b"\x00\x01"),
        ],
    );
    let h = headers(&[("Content-Type", "multipart/mixed;boundary=xyz")]);
    assert_eq!(sdp_of(&h, &body).map_err(|e| e.status()), Err(415));
    // A part without Content-Type is text/plain, required by default.
    let body = multipart(
        "xyz",
        &[
            ("Content-Type: application/sdp", SDP),
            ("X-Other: 1", b"text"),
        ],
    );
    assert!(matches!(sdp_of(&h, &body), Err(BodyError::UnsupportedType(t)) if t == "text/plain"));
}

#[test]
fn alternative_takes_the_last_sdp_and_skips_the_rest() {
    let second = b"v=0\r\ns=second\r\n";
    let body = multipart(
        "alt",
        &[
            ("Content-Type: text/plain", b"words"),
            ("Content-Type: application/sdp", SDP),
            ("Content-Type: application/sdp", second),
        ],
    );
    let h = headers(&[("Content-Type", "multipart/alternative; boundary=alt")]);
    assert_eq!(sdp_of(&h, &body), Ok(Some(second.as_slice())));
    let none = multipart(
        "alt",
        &[
            ("Content-Type: text/plain", b"a"),
            ("Content-Type: text/html", b"b"),
        ],
    );
    assert!(matches!(sdp_of(&h, &none), Err(BodyError::UnsupportedType(t)) if t == "text/plain"));
}

#[test]
fn two_sessions_in_mixed_are_400() {
    let body = multipart(
        "x",
        &[
            ("Content-Type: application/sdp", SDP),
            ("Content-Type: application/sdp", SDP),
        ],
    );
    let h = headers(&[("Content-Type", "multipart/mixed; boundary=x")]);
    let error = sdp_of(&h, &body).expect_err("two SDPs");
    assert_eq!(error, BodyError::SeveralSessions);
    assert_eq!(error.status(), 400);
}

#[test]
fn nested_multipart_is_read_one_level_deep() {
    let inner = multipart("in", &[("Content-Type: application/sdp", SDP)]);
    let head = "Content-Type: multipart/alternative; boundary=in";
    let outer = multipart("out", &[(head, &inner)]);
    let h = headers(&[("Content-Type", "multipart/mixed; boundary=out")]);
    assert_eq!(sdp_of(&h, &outer), Ok(Some(SDP)));
    let deeper = multipart(
        "deep",
        &[("Content-Type: multipart/mixed; boundary=out", &outer)],
    );
    let h = headers(&[("Content-Type", "multipart/mixed; boundary=deep")]);
    assert_eq!(sdp_of(&h, &deeper), Err(BodyError::TooManyParts));
}

#[test]
fn too_many_parts_is_413() {
    let parts: Vec<(&str, &[u8])> = (0..=MAX_PARTS)
        .map(|_| {
            (
                "Content-Type: text/plain\r\nContent-Disposition: render;handling=optional",
                b"x".as_slice(),
            )
        })
        .collect();
    let body = multipart("many", &parts);
    let h = headers(&[("Content-Type", "multipart/mixed; boundary=many")]);
    let error = sdp_of(&h, &body).expect_err("too many");
    assert_eq!(error, BodyError::TooManyParts);
    assert_eq!(error.status(), 413);
    let fewer = multipart("many", &parts[1..]);
    assert_eq!(sdp_of(&h, &fewer), Ok(None));
}

#[test]
fn broken_framing_is_400() {
    let h = |ct: &str| headers(&[("Content-Type", ct)]);
    let mixed = h("multipart/mixed; boundary=b");
    let cases: [(&Headers, &[u8]); 6] = [
        (&mixed, b"no delimiter at all"),
        (
            &mixed,
            b"--b\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n",
        ),
        (&mixed, b"--b--\r\n"),
        (&mixed, b"--b\r\nnot a header line\r\n\r\nbody\r\n--b--"),
        (&mixed, b"--b\r\nContent-Type: \xff\r\n\r\nbody\r\n--b--"),
        (&mixed, b"x--b\r\n--b--"),
    ];
    for (headers, body) in cases {
        let verdict = sdp_of(headers, body);
        assert_eq!(
            verdict.map_err(|e| e.status()),
            Err(400),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    for ct in ["multipart/mixed", "multipart/mixed; boundary=\"\""] {
        assert_eq!(
            sdp_of(&h(ct), b"--\r\n").map_err(|e| e.status()),
            Err(400),
            "{ct}"
        );
    }
    let long = format!("multipart/mixed; boundary={}", "b".repeat(71));
    assert_eq!(
        sdp_of(&h(&long), b"x"),
        Err(BodyError::Malformed("multipart boundary"))
    );
}

#[test]
fn a_longer_line_starting_with_the_boundary_is_content() {
    let body = b"--b\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n--bx\r\n--b--";
    let h = headers(&[("Content-Type", "multipart/mixed; boundary=b")]);
    assert_eq!(sdp_of(&h, body), Ok(Some(b"v=0\r\n--bx".as_slice())));
}

#[test]
fn folded_part_headers_and_empty_parts() {
    let body = b"--b\r\nContent-Type:\r\n application/sdp\r\n\r\nv=0\r\n--b\r\n\r\n--b--";
    let h = headers(&[("Content-Type", "multipart/mixed; boundary=b")]);
    // The empty second part is text/plain and required.
    assert_eq!(sdp_of(&h, body).map_err(|e| e.status()), Err(415));
    let body = b"--b\r\nContent-Type:\r\n application/sdp\r\n\r\nv=0\r\n--b--";
    assert_eq!(sdp_of(&h, body), Ok(Some(b"v=0".as_slice())));
    // A folded list is joined with a space, as in a message's headers.
    let body = b"--b\r\nContent-Type: application/sdp\r\nContent-Encoding: identity,\r\n identity\r\n\r\nv=0\r\n--b--";
    assert_eq!(sdp_of(&h, body), Ok(Some(b"v=0".as_slice())));
    // A control character in a part header is malformed, as in a message's.
    let body = b"--b\r\nContent-Type: application/sdp\x01\r\n\r\nv=0\r\n--b--";
    assert_eq!(
        sdp_of(&h, body),
        Err(BodyError::Malformed("body part header"))
    );
}

#[test]
fn a_part_without_an_empty_line_has_an_empty_body_inside_the_message() {
    // Found by the fuzzer: the empty SDP pointed outside the body.
    let body = b"--b\r\nContent-Type: application/sdp\r\n--b--";
    let h = headers(&[("Content-Type", "multipart/mixed; boundary=b")]);
    let sdp = sdp_of(&h, body)
        .expect("framing is fine")
        .expect("an SDP part");
    assert!(sdp.is_empty());
    assert!(body.as_ptr_range().contains(&sdp.as_ptr()));
}

#[test]
fn accept_rules() {
    let accepts = |values: &[&str]| {
        let lines: Vec<(&str, &str)> = values.iter().map(|v| ("Accept", *v)).collect();
        accepts_sdp(&headers(&lines))
    };
    assert!(accepts(&[]), "absent means application/sdp");
    assert!(accepts(&["application/sdp"]));
    assert!(accepts(&["text/html, Application/SDP;level=2"]));
    assert!(accepts(&["text/html", "application/sdp"]), "several lines");
    assert!(accepts(&["*/*"]));
    assert!(accepts(&["application/*;q=0.5"]));
    assert!(
        accepts(&["*/*;q=0, application/sdp"]),
        "the most specific decides"
    );
    assert!(!accepts(&["text/nobodyknowsthis"]));
    assert!(!accepts(&[""]), "an empty Accept accepts nothing");
    assert!(!accepts(&["application/sdp;q=0"]));
    assert!(!accepts(&["application/sdp; q=0.000, */*"]));
    assert!(!accepts(&["*/*;q=0"]));
    assert!(!accepts(&["*/sdp, application/sdpx"]));
    assert!(accepts(&["text/x;p=\"a,b\";q=0, application/sdp;q=0.001"]));
}

#[test]
fn session_offer_checks_the_body_then_accept() {
    let sdp = [("Content-Type", "application/sdp")];
    assert_eq!(session_offer(&invite(&sdp, SDP)), Ok(Some(SDP)));
    assert_eq!(session_offer(&invite(&[], b"")), Ok(None));
    let refusing = [
        ("Content-Type", "application/sdp"),
        ("Accept", "text/nobodyknowsthis"),
    ];
    let error = session_offer(&invite(&refusing, SDP)).expect_err("406");
    assert_eq!(
        (error.status(), error.reason_phrase().as_str()),
        (406, "Not Acceptable")
    );
    assert_eq!(error.answer_headers(), &[]);
    // An offerless INVITE is answered with our offer: Accept applies too.
    assert_eq!(
        session_offer(&invite(&[("Accept", "")], b"")),
        Err(BodyError::NotAcceptable)
    );
    // The body's fault comes first.
    let both = [("Content-Type", "text/plain"), ("Accept", "text/plain")];
    assert_eq!(
        session_offer(&invite(&both, SDP)).map_err(|e| e.status()),
        Err(415)
    );
}

#[test]
fn errors_quote_bounded_peer_text() {
    let long = format!("text/{}", "é".repeat(100));
    let h = headers(&[("Content-Type", long.as_str())]);
    // Not a token: malformed, and nothing quoted.
    assert_eq!(sdp_of(&h, SDP), Err(BodyError::Malformed("Content-Type")));
    let long = format!("text/{}", "x".repeat(200));
    let h = headers(&[("Content-Type", long.as_str())]);
    match sdp_of(&h, SDP) {
        Err(BodyError::UnsupportedType(t)) => assert_eq!(t.len(), MAX_QUOTED),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_fuzz_check_holds_on_hand_made_inputs() {
    assert!(check_untrusted(
        b"Content-Type: application/sdp\r\n\r\nv=0\r\n"
    ));
    assert!(!check_untrusted(b"Content-Type: text/plain\n\nv=0\n"));
    assert!(check_untrusted(
        b"Content-Type: multipart/mixed;boundary=q\r\n\r\n--q\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n--q--"
    ));
}

/// Pieces a hostile body is made of: delimiters, line ends, part headers.
const PIECES: [&str; 12] = [
    "--b",
    "--b--",
    "\r\n",
    "\n",
    " ",
    "Content-Type: application/sdp",
    "Content-Type: multipart/alternative; boundary=b",
    "Content-Disposition: render;handling=optional",
    "Content-Encoding: gzip",
    "v=0",
    ":",
    "\"",
];

proptest::proptest! {
    #[test]
    fn any_assembly_of_pieces_is_judged_without_panic(
        picks in proptest::collection::vec(0..PIECES.len(), 0..64),
        top in 0..3usize,
    ) {
        let content_type = ["multipart/mixed; boundary=b", "multipart/related;boundary=\"b\"", "application/sdp"][top];
        let mut data = format!("Content-Type: {content_type}\r\n\r\n").into_bytes();
        for i in picks {
            data.extend_from_slice(PIECES[i].as_bytes());
        }
        check_untrusted(&data);
    }
}
