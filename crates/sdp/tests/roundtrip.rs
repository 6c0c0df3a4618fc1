//! Property tests: generated session descriptions survive serialize → parse
//! unchanged, and the parser never panics on arbitrary text.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use sdp::{
    parse, Attribute, Bandwidth, Connection, Field, MediaDescription, Origin, SessionDescription,
    Timing,
};

/// Free text as it may follow `=`: printable, no trailing blank (the parser trims it).
fn text() -> impl Strategy<Value = String> {
    "[ -~]{0,16}".prop_map(|s| s.trim_end().to_string())
}

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9_.+-]{0,9}"
}

fn connection() -> impl Strategy<Value = Connection> {
    prop_oneof![
        any::<u32>().prop_map(|a| IpAddr::V4(Ipv4Addr::from(a))),
        any::<u128>().prop_map(|a| IpAddr::V6(Ipv6Addr::from(a))),
    ]
    .prop_map(|address| Connection { address })
}

fn bandwidths() -> impl Strategy<Value = Vec<Bandwidth>> {
    prop::collection::vec(
        ("[A-Z]{1,4}", any::<u64>()).prop_map(|(kind, value)| Bandwidth { kind, value }),
        0..3,
    )
}

fn attributes() -> impl Strategy<Value = Vec<Attribute>> {
    prop::collection::vec(
        ("[a-zA-Z][a-zA-Z0-9-]{0,10}", prop::option::of(text()))
            .prop_map(|(name, value)| Attribute { name, value }),
        0..6,
    )
}

fn fields(kinds: &'static [char]) -> impl Strategy<Value = Vec<Field>> {
    prop::collection::vec(
        (prop::sample::select(kinds), text()).prop_map(|(kind, value)| Field { kind, value }),
        0..3,
    )
}

fn origin() -> impl Strategy<Value = Origin> {
    (
        token(),
        "[0-9]{1,20}",
        any::<u64>(),
        prop::sample::select(&["IP4", "IP6"][..]),
        token(),
    )
        .prop_map(
            |(username, session_id, version, addr_type, address)| Origin {
                username,
                session_id,
                version,
                net_type: "IN".to_string(),
                addr_type: addr_type.to_string(),
                address,
            },
        )
}

fn media() -> impl Strategy<Value = MediaDescription> {
    let rtp = (
        prop::sample::select(&["RTP/AVP", "RTP/AVPF", "RTP/SAVP"][..]),
        prop::collection::vec(0u8..=127, 0..6),
    )
        .prop_map(|(proto, pts)| {
            let formats = pts.iter().map(u8::to_string).collect();
            (proto.to_string(), formats)
        });
    let other = (
        prop::sample::select(&["udptl", "TCP/BFCP"][..]),
        prop::collection::vec("[a-z0-9*]{1,6}", 1..3),
    )
        .prop_map(|(proto, formats)| (proto.to_string(), formats));
    (
        "[a-z]{1,11}",
        any::<u16>(),
        prop::option::of(1u16..),
        prop_oneof![rtp, other],
        prop::option::of(text()),
        prop::option::of(connection()),
        bandwidths(),
        fields(&['k', 'x', 'y']),
        attributes(),
    )
        .prop_map(
            |(
                media,
                port,
                port_count,
                (proto, formats),
                information,
                connection,
                bandwidths,
                extra,
                attributes,
            )| {
                MediaDescription {
                    media,
                    port,
                    port_count,
                    proto,
                    formats,
                    information,
                    connection,
                    bandwidths,
                    extra,
                    attributes,
                }
            },
        )
}

fn session() -> impl Strategy<Value = SessionDescription> {
    (
        origin(),
        text(),
        prop::option::of(text()),
        (fields(&['u', 'e', 'p']), fields(&['r', 'z', 'k', 'x'])),
        prop::option::of(connection()),
        bandwidths(),
        (any::<u64>(), any::<u64>()),
        attributes(),
        prop::collection::vec(media(), 0..4),
    )
        .prop_map(
            |(
                origin,
                session_name,
                information,
                (early, late),
                connection,
                bandwidths,
                (start, stop),
                attributes,
                mut media,
            )| {
                // A media description in use needs an address at some level.
                for m in &mut media {
                    if connection.is_none() && m.port != 0 && m.connection.is_none() {
                        m.connection = Some(Connection {
                            address: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
                        });
                    }
                }
                SessionDescription {
                    origin,
                    session_name,
                    information,
                    extra: early.into_iter().chain(late).collect(),
                    connection,
                    bandwidths,
                    timing: Timing { start, stop },
                    attributes,
                    media,
                }
            },
        )
}

proptest! {
    #[test]
    fn serialize_then_parse_is_identity(sdp in session()) {
        let bytes = sdp.to_bytes();
        prop_assert_eq!(parse(&bytes), Ok(sdp));
    }

    #[test]
    fn parse_never_panics(text in "(v=0\r?\n)?([a-z]=[ -~]{0,30}\r?\n){0,12}") {
        if let Ok(sdp) = parse(text.as_bytes()) {
            prop_assert_eq!(parse(&sdp.to_bytes()), Ok(sdp));
        }
    }
}
