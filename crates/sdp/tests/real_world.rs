//! SDPs in the shapes deployed phones and PBXs send (`tests/offers/*.sdp`,
//! written for Switchboard after Linphone, baresip, Asterisk, Polycom and
//! Cisco gateway traces): each parses, re-serializes to CRLF text that parses
//! to the same value, and exposes the typed views the negotiation relies on.

use std::fs;
use std::net::IpAddr;
use std::path::Path;

use sdp::{parse, Direction, SessionDescription};

fn load(name: &str) -> SessionDescription {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/offers")
        .join(name);
    let bytes = fs::read(&path).expect("fixture exists");
    parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

#[test]
fn every_fixture_round_trips() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/offers");
    let mut count = 0;
    for entry in fs::read_dir(dir).expect("fixtures dir") {
        let path = entry.expect("dir entry").path();
        let sdp = parse(&fs::read(&path).expect("read")).expect("fixture parses");
        let text = sdp.to_string();
        assert!(text.ends_with("\r\n") && !text.replace("\r\n", "").contains('\n'));
        assert_eq!(parse(text.as_bytes()), Ok(sdp), "{}", path.display());
        count += 1;
    }
    assert!(count >= 10);
}

#[test]
fn linphone_offer_keeps_everything() {
    let sdp = load("linphone.sdp");
    assert_eq!(sdp.session_name, "Talk");
    assert_eq!(sdp.attributes[0].name, "rtcp-xr");
    assert_eq!(sdp.media.len(), 2);
    let audio = &sdp.media[0];
    assert_eq!(audio.formats.len(), 8);
    let opus = audio.rtpmap(96).unwrap();
    assert_eq!((opus.clock_rate, opus.channels), (48000, Some(2)));
    assert_eq!(audio.fmtp(96).unwrap().parameters, "useinbandfec=1");
    assert!(audio.rtpmap(100).unwrap().is("telephone-event", 8000));
    assert_eq!(audio.rtpmap(0).unwrap().encoding, "PCMU");
    assert_eq!(audio.attribute_values("rtcp-fb").count(), 2);
    assert_eq!(sdp.media[1].media, "video");
    assert_eq!(sdp.direction_of(audio), Direction::SendRecv);
}

#[test]
fn baresip_lf_and_trailing_blanks_are_tolerated() {
    let sdp = load("baresip.sdp");
    let audio = &sdp.media[0];
    assert_eq!(audio.formats, ["0", "8", "96"]);
    assert_eq!(audio.bandwidths[0].kind, "AS");
    assert_eq!(audio.bandwidths[0].value, 64);
    assert_eq!(audio.direction(), Some(Direction::SendRecv));
    assert_eq!(sdp.connection.unwrap().address, ip("10.0.0.5"));
    assert!(audio
        .attributes
        .iter()
        .any(|a| a.name == "rtcp-rsize" && a.value.is_none()));
}

#[test]
fn asterisk_ptime_and_maxptime() {
    let sdp = load("asterisk.sdp");
    let audio = &sdp.media[0];
    assert_eq!(audio.ptime(), Some(20));
    assert_eq!(audio.maxptime(), Some(150));
    assert_eq!(audio.fmtp(101).unwrap().parameters, "0-16");
    assert_eq!(sdp.origin.version, 1619718475);
    assert!(!sdp.is_hold(audio));
}

#[test]
fn polycom_session_level_direction() {
    let sdp = load("polycom.sdp");
    assert_eq!(sdp.direction(), Some(Direction::SendRecv));
    assert_eq!(sdp.media[0].direction(), None);
    assert_eq!(sdp.media[0].rtpmap(18).unwrap().encoding, "G729");
    assert_eq!(sdp.media[0].rtpmap(127).unwrap().clock_rate, 8000);
}

#[test]
fn ipv6_offer_with_rtcp_attribute() {
    let sdp = load("ipv6.sdp");
    let audio = &sdp.media[0];
    assert_eq!(
        sdp.connection_of(audio).unwrap().address,
        ip("2001:db8::20")
    );
    let rtcp = audio.rtcp().unwrap();
    assert_eq!(rtcp.port, 49181);
    assert_eq!(rtcp.connection.unwrap().address, ip("2001:db8::21"));
    assert!(sdp.to_string().contains("c=IN IP6 2001:db8::20\r\n"));
}

#[test]
fn hold_variants() {
    let sendonly = load("hold_sendonly.sdp");
    assert!(sendonly.is_hold(&sendonly.media[0]));
    assert_eq!(
        sendonly.direction_of(&sendonly.media[0]),
        Direction::SendOnly
    );

    let inactive = load("hold_inactive.sdp");
    assert_eq!(
        inactive.direction_of(&inactive.media[0]),
        Direction::Inactive
    );
    assert!(inactive.is_hold(&inactive.media[0]));

    let zero = load("hold_zero.sdp");
    let audio = &zero.media[0];
    assert_eq!(zero.direction_of(audio), Direction::SendRecv);
    assert!(zero.connection_of(audio).unwrap().is_hold());
    assert!(zero.is_hold(audio));

    assert!(!load("asterisk.sdp").is_hold(&load("asterisk.sdp").media[0]));
}

#[test]
fn media_level_connection_overrides_session_level() {
    let sdp = load("srtp_then_rtp.sdp");
    assert_eq!(sdp.connection, None);
    assert_eq!(
        sdp.connection_of(&sdp.media[0]).unwrap().address,
        ip("192.0.2.70")
    );
    assert_eq!(
        sdp.connection_of(&sdp.media[1]).unwrap().address,
        ip("192.0.2.71")
    );
    assert_eq!(sdp.origin.version, 0);
    assert_eq!(sdp.media[0].proto, "RTP/SAVP");
    assert!(sdp.media[0].is_rtp());
}

#[test]
fn t38_formats_are_not_payload_types() {
    let sdp = load("t38_and_audio.sdp");
    let image = &sdp.media[0];
    assert!(!image.is_rtp());
    assert_eq!(image.formats, ["t38"]);
    assert_eq!(image.payload_types().count(), 0);
    assert_eq!(image.attributes[0].name, "T38FaxVersion");
}
