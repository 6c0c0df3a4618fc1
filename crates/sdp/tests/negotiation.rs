//! RFC 3264 offer/answer for one audio stream, against the real-world
//! offers in `tests/offers/`, plus our own offers and the answers to them.

use std::fs;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use sdp::{
    answer, offer, parse, process_answer, Codec, Direction, LocalMedia, NegotiationError,
    OriginState, SessionDescription,
};

fn load(name: &str) -> SessionDescription {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/offers")
        .join(name);
    parse(&fs::read(path).expect("fixture exists")).expect("fixture parses")
}

fn local() -> LocalMedia {
    LocalMedia::new(ip("198.51.100.1"), 30000)
}

fn origin() -> OriginState {
    OriginState::new("switchboard", 3_900_000_000, 3_900_000_000)
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("test socket address")
}

/// Answers `name` with the defaults; checks the answer is well-formed SDP
/// with one m= line per offered one.
fn answer_fixture(name: &str) -> sdp::Answer {
    let offered = load(name);
    let result = answer(&offered, &local(), &mut origin()).expect(name);
    assert_eq!(result.sdp.media.len(), offered.media.len());
    assert_eq!(parse(&result.sdp.to_bytes()), Ok(result.sdp.clone()));
    result
}

#[test]
fn linphone_gets_pcmu_and_te_on_100_and_video_refused() {
    let result = answer_fixture("linphone.sdp");
    let n = result.negotiated;
    assert_eq!((n.codec, n.payload_type), (Codec::Pcmu, 0));
    assert_eq!(n.telephone_event, Some(100));
    assert_eq!(n.remote_rtp, addr("192.168.1.20:7078"));
    assert_eq!(n.remote_rtcp, addr("192.168.1.20:7079"));
    assert_eq!(n.ptime, 20);
    let text = result.sdp.to_string();
    assert!(text.contains("m=audio 30000 RTP/AVP 0 100\r\n"), "{text}");
    assert!(text.contains("a=rtpmap:100 telephone-event/8000\r\n"));
    assert!(text.contains("a=fmtp:100 0-15\r\n"));
    assert!(text.contains("a=sendrecv\r\n"));
    assert!(text.contains("m=video 0 RTP/AVP 103\r\n"));
    assert!(!text.contains("VP8"));
    assert!(text.contains("c=IN IP4 198.51.100.1\r\n"));
    assert!(text.starts_with("v=0\r\no=switchboard 3900000000 3900000000 IN IP4 198.51.100.1\r\n"));
}

#[test]
fn telephone_event_on_96_is_kept() {
    let n = answer_fixture("baresip.sdp").negotiated;
    assert_eq!(n.telephone_event, Some(96));
    assert_eq!(n.codec, Codec::Pcmu);
    let n = answer_fixture("ipv6.sdp").negotiated;
    assert_eq!(n.telephone_event, Some(96));
    assert_eq!(n.remote_rtp, addr("[2001:db8::20]:49172"));
    assert_eq!(n.remote_rtcp, addr("[2001:db8::21]:49181"));
    assert_eq!(n.ptime, 30);
}

#[test]
fn our_codec_preference_wins() {
    let n = answer_fixture("asterisk.sdp").negotiated;
    assert_eq!(
        (n.codec, n.payload_type, n.telephone_event),
        (Codec::Pcmu, 0, Some(101))
    );
    let mut alaw_first = local();
    alaw_first.codecs = vec![Codec::Pcma, Codec::Pcmu];
    let result = answer(&load("asterisk.sdp"), &alaw_first, &mut origin()).unwrap();
    assert_eq!(result.negotiated.codec, Codec::Pcma);
    assert_eq!(result.sdp.media[0].formats, ["8", "101"]);
    assert!(result.sdp.to_string().contains("a=rtpmap:8 PCMA/8000\r\n"));
}

#[test]
fn polycom_session_direction_and_te_127() {
    let n = answer_fixture("polycom.sdp").negotiated;
    assert_eq!(n.telephone_event, Some(127));
    assert_eq!(n.payload_type, 0);
    assert_eq!(n.local_direction, Direction::SendRecv);
}

#[test]
fn hold_offers_are_mirrored() {
    let result = answer_fixture("hold_sendonly.sdp");
    assert_eq!(result.negotiated.remote_direction, Direction::SendOnly);
    assert_eq!(result.negotiated.local_direction, Direction::RecvOnly);
    assert!(result.negotiated.remote_hold());
    assert!(result.sdp.to_string().contains("a=recvonly\r\n"));

    let result = answer_fixture("hold_inactive.sdp");
    assert_eq!(result.negotiated.local_direction, Direction::Inactive);
    assert_eq!(result.negotiated.codec, Codec::Pcma);
    assert!(result.sdp.to_string().contains("a=inactive\r\n"));

    let result = answer_fixture("hold_zero.sdp");
    assert_eq!(result.negotiated.remote_direction, Direction::SendOnly);
    assert_eq!(result.negotiated.local_direction, Direction::RecvOnly);
    assert!(result.negotiated.remote_hold());
    assert_eq!(result.negotiated.remote_rtp, addr("0.0.0.0:17250"));
}

#[test]
fn recvonly_offer_gets_sendonly() {
    let result = answer_fixture("srtp_then_rtp.sdp");
    let n = result.negotiated;
    assert_eq!(n.media_index, 1);
    assert_eq!(n.remote_rtp, addr("192.0.2.71:40378"));
    assert_eq!(n.local_direction, Direction::SendOnly);
    assert_eq!(n.telephone_event, Some(101));
    assert_eq!(result.sdp.media[0].port, 0);
    assert_eq!(result.sdp.media[0].proto, "RTP/SAVP");
    assert!(result.sdp.media[0].attributes.is_empty());
}

#[test]
fn t38_is_refused_in_place() {
    let result = answer_fixture("t38_and_audio.sdp");
    assert_eq!(result.negotiated.media_index, 1);
    assert!(result.negotiated.telephone_event.is_none());
    assert!(result.sdp.to_string().contains("m=image 0 udptl t38\r\n"));
    assert_eq!(result.sdp.media[1].formats, ["0"]);
}

#[test]
fn local_hold_limits_our_direction() {
    let mut holding = local();
    holding.direction = Direction::SendOnly;
    let result = answer(&load("asterisk.sdp"), &holding, &mut origin()).unwrap();
    assert_eq!(result.negotiated.local_direction, Direction::SendOnly);
    let result = answer(&load("hold_sendonly.sdp"), &holding, &mut origin()).unwrap();
    assert_eq!(result.negotiated.local_direction, Direction::Inactive);
}

#[test]
fn no_telephone_event_when_we_do_not_support_it() {
    let mut plain = local();
    plain.telephone_event = false;
    let result = answer(&load("linphone.sdp"), &plain, &mut origin()).unwrap();
    assert_eq!(result.negotiated.telephone_event, None);
    assert_eq!(result.sdp.media[0].formats, ["0"]);
}

#[test]
fn unusable_offers_are_488() {
    let err = answer(&load("no_common_codec.sdp"), &local(), &mut origin()).unwrap_err();
    assert_eq!(err, NegotiationError::NoCommonCodec);
    assert_eq!(err.status(), 488);

    let video_only = parse(
        b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=video 5000 RTP/AVP 96\r\n",
    )
    .unwrap();
    assert_eq!(
        answer(&video_only, &local(), &mut origin()),
        Err(NegotiationError::NoAudioStream)
    );
    let refused_audio =
        parse(b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=audio 0 RTP/AVP 0\r\n").unwrap();
    assert_eq!(
        answer(&refused_audio, &local(), &mut origin()),
        Err(NegotiationError::NoAudioStream)
    );
    let mut only_pcma = local();
    only_pcma.codecs = vec![Codec::Pcma];
    assert_eq!(
        answer(&load("ipv6.sdp"), &only_pcma, &mut origin()),
        Err(NegotiationError::NoCommonCodec)
    );
}

#[test]
fn our_offer_has_pcmu_pcma_and_te_101() {
    let mut state = origin();
    let ours = offer(&local(), &mut state);
    let text = ours.to_string();
    assert_eq!(
        text,
        "v=0\r\n\
         o=switchboard 3900000000 3900000000 IN IP4 198.51.100.1\r\n\
         s=-\r\n\
         c=IN IP4 198.51.100.1\r\n\
         t=0 0\r\n\
         m=audio 30000 RTP/AVP 0 8 101\r\n\
         a=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:8 PCMA/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\n\
         a=fmtp:101 0-15\r\n\
         a=ptime:20\r\n\
         a=sendrecv\r\n"
    );
}

#[test]
fn our_offer_answered_by_ourselves() {
    let ours = offer(&local(), &mut origin());
    let peer = LocalMedia {
        codecs: vec![Codec::Pcma],
        ptime: 30,
        ..LocalMedia::new(ip("2001:db8::9"), 40000)
    };
    let theirs = answer(&ours, &peer, &mut OriginState::new("peer", 7, 7)).unwrap();
    let n = process_answer(&ours, &theirs.sdp).unwrap();
    assert_eq!((n.codec, n.payload_type), (Codec::Pcma, 8));
    assert_eq!(n.telephone_event, Some(101));
    assert_eq!(n.ptime, 30);
    assert_eq!(n.remote_rtp, addr("[2001:db8::9]:40000"));
    assert_eq!(n.local_direction, Direction::SendRecv);
    assert!(theirs
        .sdp
        .to_string()
        .contains("o=peer 7 7 IN IP6 2001:db8::9\r\n"));
}

#[test]
fn process_answer_reads_real_answers() {
    let ours = offer(&local(), &mut origin());
    let hold_answer = load("hold_sendonly.sdp");
    let n = process_answer(&ours, &hold_answer).unwrap();
    assert_eq!(n.codec, Codec::Pcmu);
    assert_eq!(n.remote_direction, Direction::SendOnly);
    assert_eq!(n.local_direction, Direction::RecvOnly);
    assert_eq!(n.remote_rtp, addr("203.0.113.7:18382"));

    let n = process_answer(&ours, &load("asterisk.sdp")).unwrap();
    assert_eq!((n.codec, n.payload_type), (Codec::Pcma, 8));
}

#[test]
fn process_answer_errors() {
    let ours = offer(&local(), &mut origin());
    assert_eq!(
        process_answer(&ours, &load("linphone.sdp")),
        Err(NegotiationError::MediaCountMismatch {
            offered: 1,
            answered: 2
        })
    );
    let mut rejected = load("asterisk.sdp");
    rejected.media[0].port = 0;
    assert_eq!(
        process_answer(&ours, &rejected),
        Err(NegotiationError::AudioRejected)
    );
    assert_eq!(
        process_answer(&ours, &load("no_common_codec.sdp")),
        Err(NegotiationError::NoCommonCodec)
    );
    let mut image = load("asterisk.sdp");
    image.media[0].media = "image".into();
    assert_eq!(
        process_answer(&ours, &image),
        Err(NegotiationError::AnswerMismatch)
    );
}

#[test]
fn version_increments_only_on_change() {
    let mut state = origin();
    let first = offer(&local(), &mut state);
    assert_eq!(first.origin.version, 3_900_000_000);
    let same = offer(&local(), &mut state);
    assert_eq!(same.origin.version, 3_900_000_000);
    assert_eq!(same, first);

    let mut holding = local();
    holding.direction = Direction::SendOnly;
    let hold = offer(&holding, &mut state);
    assert_eq!(hold.origin.version, 3_900_000_001);
    assert_eq!(state.version(), 3_900_000_001);
    let resume = offer(&local(), &mut state);
    assert_eq!(resume.origin.version, 3_900_000_002);
    assert_eq!(resume.origin.session_id, "3900000000");

    // An answer in the same session follows the same rule.
    let reply = answer(&load("asterisk.sdp"), &local(), &mut state).unwrap();
    assert_eq!(reply.sdp.origin.version, 3_900_000_003);
    let again = answer(&load("asterisk.sdp"), &local(), &mut state).unwrap();
    assert_eq!(again.sdp.origin.version, 3_900_000_003);
    assert_eq!(state.last(), Some(&again.sdp));
}

#[test]
fn absurd_ptime_falls_back_to_ours() {
    for (ptime, expected) in [("1000", 20), ("5", 20), ("150", 150), ("30.0", 30)] {
        let mut offered = load("asterisk.sdp");
        let audio = &mut offered.media[0];
        audio.attributes.retain(|a| a.name != "ptime");
        audio.attributes.push(sdp::Attribute::value("ptime", ptime));
        let n = answer(&offered, &local(), &mut origin())
            .unwrap()
            .negotiated;
        assert_eq!(n.ptime, expected, "a=ptime:{ptime}");
    }
}
