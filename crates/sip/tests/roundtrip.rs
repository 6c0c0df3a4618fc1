//! Property tests: generated messages survive serialize → parse unchanged,
//! over both framings, and typed values survive Display → parse.

use std::net::{Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use sip::{
    parse_datagram, parse_stream, Auth, CSeq, Header, Headers, Host, Message, Method, NameAddr,
    Params, Request, Response, Scheme, Uri, Via,
};

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9.!%*_+`'~-]{0,11}"
}

fn domain() -> impl Strategy<Value = String> {
    prop::collection::vec("[a-z][a-z0-9-]{0,8}[a-z0-9]", 1..4).prop_map(|labels| labels.join("."))
}

fn host() -> impl Strategy<Value = Host> {
    prop_oneof![
        domain().prop_map(Host::Domain),
        any::<u32>().prop_map(|a| Host::V4(Ipv4Addr::from(a))),
        any::<u128>().prop_map(|a| Host::V6(Ipv6Addr::from(a))),
    ]
}

fn uri_params() -> impl Strategy<Value = Params> {
    prop::collection::vec(
        (
            "[a-z][a-z0-9-]{0,7}",
            prop::option::of("[A-Za-z0-9.:-]{1,10}"),
        ),
        0..4,
    )
    .prop_map(Params)
}

fn header_params() -> impl Strategy<Value = Params> {
    let value = prop_oneof![
        token(),
        "[ -!#-\\[\\]-~]{0,12}".prop_map(|s| format!("\"{s}\"")),
    ];
    prop::collection::vec(("[a-z][a-z0-9-]{0,7}", prop::option::of(value)), 0..3).prop_map(Params)
}

fn sip_uri() -> impl Strategy<Value = Uri> {
    (
        prop::bool::ANY,
        prop::option::of("[a-zA-Z0-9_.!~*'()&=+$,;?/-]{1,12}"),
        host(),
        prop::option::of(any::<u16>()),
        uri_params(),
    )
        .prop_map(|(sips, user, host, port, params)| Uri {
            scheme: if sips { Scheme::Sips } else { Scheme::Sip },
            user,
            password: None,
            host,
            port,
            params,
            headers: Vec::new(),
        })
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        Just(Method::Invite),
        Just(Method::Options),
        Just(Method::Bye),
        Just(Method::Register),
        token().prop_map(|t| Method::from_token(&t)),
    ]
}

fn via() -> impl Strategy<Value = Via> {
    (
        "UDP|TCP|TLS|WS|SCTP",
        host(),
        prop::option::of(any::<u16>()),
        header_params(),
    )
        .prop_map(|(transport, host, port, mut params)| {
            params.set("branch", Some("z9hG4bK-gen".to_string()));
            Via {
                transport,
                host,
                port,
                params,
            }
        })
}

fn name_addr() -> impl Strategy<Value = NameAddr> {
    let display = prop::option::of(prop_oneof![
        "[A-Za-z]{1,8}( [A-Za-z]{1,8})?",
        "[ -!#-\\[\\]-~]{0,12}".prop_map(|s| format!("\"{s}\"")),
    ]);
    (display, sip_uri(), header_params()).prop_map(|(display_name, uri, params)| NameAddr {
        display_name,
        uri,
        params,
    })
}

/// Free text for unknown header values: no controls, no surrounding white space.
fn header_value() -> impl Strategy<Value = String> {
    "[^\\p{Cc}]{0,40}".prop_map(|s| s.trim_matches([' ', '\t']).to_string())
}

/// The mandatory headers plus unknown ones, in a shuffled order.
fn headers(method: Method) -> impl Strategy<Value = Vec<Header>> {
    (
        prop::collection::vec(via(), 1..3),
        name_addr(),
        name_addr(),
        "[A-Za-z0-9.@-]{1,20}".prop_filter("one @ at most", |c| {
            c.matches('@').count() <= 1 && !c.starts_with('@') && !c.ends_with('@')
        }),
        0..=sip::MAX_CSEQ,
        prop::collection::vec(("X-[A-Za-z0-9-]{1,10}", header_value()), 0..5),
        prop::sample::select(vec!["Via", "v", "VIA"]),
    )
        .prop_map(move |(vias, from, to, call_id, seq, extra, via_name)| {
            let mut h: Vec<Header> = vias
                .iter()
                .map(|v| Header::new(via_name, v.to_string()))
                .collect();
            h.push(Header::new("From", from.to_string()));
            h.push(Header::new("t", to.to_string()));
            h.push(Header::new("Call-ID", call_id));
            let cseq = CSeq {
                seq,
                method: method.clone(),
            };
            h.push(Header::new("CSeq", cseq.to_string()));
            h.extend(extra.into_iter().map(|(n, v)| Header::new(n, v)));
            h
        })
}

fn request() -> impl Strategy<Value = Request> {
    method().prop_flat_map(|m| {
        (
            Just(m.clone()),
            sip_uri(),
            headers(m),
            prop::collection::vec(any::<u8>(), 0..300),
        )
            .prop_map(|(method, uri, headers, body)| {
                let mut req = Request::new(method, uri);
                req.headers = Headers(headers);
                req.set_body("application/octet-stream", body);
                req
            })
    })
}

fn response() -> impl Strategy<Value = Response> {
    (
        100u16..700,
        "[^\\p{Cc}]{0,30}",
        method().prop_flat_map(headers),
        prop::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(|(status, reason, headers, body)| {
            let mut resp = Response::new(status);
            resp.reason = reason;
            resp.headers = Headers(headers);
            resp.set_body("text/plain", body);
            resp
        })
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        request().prop_map(Message::Request),
        response().prop_map(Message::Response)
    ]
}

proptest! {
    #[test]
    fn messages_round_trip(m in message()) {
        let bytes = m.to_bytes();
        prop_assert_eq!(parse_datagram(&bytes), Ok(m.clone()));
        let mut stream = bytes.clone();
        stream.extend_from_slice(&bytes);
        let (first, used) = parse_stream(&stream).expect("parses").expect("complete");
        prop_assert_eq!(&first, &m);
        prop_assert_eq!(used, bytes.len());
        prop_assert_eq!(parse_stream(&bytes[..bytes.len() - 1]), Ok(None));
    }

    #[test]
    fn uris_round_trip(uri in sip_uri()) {
        prop_assert_eq!(Uri::parse(&uri.to_string()), Ok(uri));
    }

    #[test]
    fn vias_round_trip(v in prop::collection::vec(via(), 1..4)) {
        let text = v.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
        prop_assert_eq!(Via::parse_list(&text), Ok(v));
    }

    #[test]
    fn name_addrs_round_trip(a in name_addr()) {
        prop_assert_eq!(NameAddr::parse(&a.to_string()), Ok(a));
    }

    #[test]
    fn auth_round_trips(
        scheme in "Digest|Bearer",
        params in prop::collection::vec(("[a-z]{1,8}", "[^\\p{Cc}]{0,16}"), 0..6),
    ) {
        let auth = Auth { scheme, params };
        prop_assert_eq!(Auth::parse(&auth.to_string()), Ok(auth));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = parse_datagram(&bytes);
        let _ = parse_stream(&bytes);
        if let Err(e) = parse_datagram(&bytes) {
            let _ = sip::error_response(&bytes, &e);
        }
    }
}
