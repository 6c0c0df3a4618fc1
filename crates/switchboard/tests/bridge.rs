//! B2BUA bridging end to end: a caller (testkit SIP UA + RTP peer) calls the
//! real binary, which dials a callee (another UA, or SIPp) and relays media
//! between them. Audio is checked by content (tone frequency), not counts.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;
use testkit::analysis::is_near;

use sdp::{Codec as SdpCodec, LocalMedia};
use testkit::analysis::{dominant_frequency, rfc4733_digits};
use testkit::rtp_source::Source;
use testkit::{free_port, Codec, RtpPeer, Server, SipUa};

const WAIT: Duration = Duration::from_secs(5);

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_switchboard"))
}

/// A server whose `local` callers reach `far` with `9…` (prefix stripped),
/// `far` then `backup` with `8…` (fallback on 503), and a recorded `far`
/// with `7…`.
fn start(far: SocketAddr, backup: SocketAddr, recordings: &Path) -> Server {
    let port = free_port();
    let yaml = format!(
        r#"
transports:
  udp: {{ transport: udp, bind: 127.0.0.1, port: {port} }}
endpoints:
  local:
    match: {{ type: ip, values: ["127.0.0.0/8"] }}
    route: incoming
  far: {{ uri: "sip:{far}" }}
  backup: {{ uri: "sip:{backup}" }}
  secure: {{ uri: "sip:{far}", auth: {{ username: switchboard, password: s3cret }} }}
routes:
  incoming:
    - id: "9"
      match: prefix
      endpoint: far
      strip_prefix: true
      sip_headers: {{ X-Route: nine }}
      sip_headers_pass: [X-Customer]
    - {{ id: "8", match: prefix, endpoint: far, strip_prefix: true, fallback: {{ endpoints: [backup], codes: [503] }} }}
    - {{ id: "7", match: prefix, endpoint: far, strip_prefix: true, recording: true }}
    - {{ id: "6", match: prefix, endpoint: secure }}
media:
  rtp_ports: 40000-40999
  recordings_dir: {recordings}
agent_rpc:
  listen: 127.0.0.1:0
http:
  listen: 127.0.0.1:0
sip:
  shutdown_grace_sec: 0
"#,
        recordings = recordings.display()
    );
    Server::start(binary(), &yaml, port)
}

struct Bench {
    server: Server,
    callee: SipUa,
    _backup: SipUa,
    _dir: tempfile::TempDir,
}

fn bench() -> Bench {
    let callee = SipUa::bind();
    let backup = SipUa::bind();
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start(callee.local_addr(), backup.local_addr(), dir.path());
    Bench {
        server,
        callee,
        _backup: backup,
        _dir: dir,
    }
}

#[test]
fn bridged_call_carries_audio_both_ways_and_the_route_headers() {
    let b = bench();
    let caller = SipUa::bind();
    let caller_rtp = RtpPeer::tone(Codec::Pcmu, 700.0);
    let callee_rtp = RtpPeer::tone(Codec::Pcmu, 1300.0);
    let mut call = caller.call(b.server.addr(), "9555", caller_rtp.local_addr());
    let mut incoming = b.callee.wait_incoming(WAIT).expect("the callee is dialed");
    let invite = incoming.request().clone();
    assert_eq!(incoming.number().as_deref(), Some("555"), "prefix stripped");
    assert_eq!(invite.headers.get_by_name("X-Route"), Some("nine"));
    assert!(invite.headers.get_by_name("X-Orig-Call-ID").is_some());
    let negotiated = incoming
        .answer(callee_rtp.local_addr(), WAIT)
        .expect("callee answers");
    callee_rtp.set_destination(negotiated.remote_rtp);
    assert_eq!(call.wait_final(WAIT), Some(200), "{}", b.server.log());
    let ours = call.negotiated().expect("caller negotiated");
    caller_rtp.set_destination(ours.remote_rtp);
    assert!(caller_rtp.wait_for_packets(40, WAIT), "{}", b.server.log());
    assert!(callee_rtp.wait_for_packets(40, WAIT), "{}", b.server.log());
    assert!(
        is_near(caller_rtp.heard_frequency(), 1300.0),
        "caller heard {:?}",
        caller_rtp.heard_frequency()
    );
    assert!(
        is_near(callee_rtp.heard_frequency(), 700.0),
        "callee heard {:?}",
        callee_rtp.heard_frequency()
    );
    assert_eq!(call.hangup(WAIT).ok(), Some(200));
    assert!(incoming.wait_bye(WAIT).is_some(), "callee gets the BYE");
}

#[test]
fn pcma_caller_and_pcmu_callee_are_transcoded() {
    let b = bench();
    let caller = SipUa::bind();
    let caller_rtp = RtpPeer::tone(Codec::Pcma, 600.0);
    let callee_rtp = RtpPeer::tone(Codec::Pcmu, 1100.0);
    let mut offer = LocalMedia::new(caller_rtp.local_addr().ip(), caller_rtp.local_addr().port());
    offer.codecs = vec![SdpCodec::Pcma];
    let mut call = caller.call_with(b.server.addr(), "9100", offer);
    let mut incoming = b.callee.wait_incoming(WAIT).expect("dialed");
    let mut answer = LocalMedia::new(callee_rtp.local_addr().ip(), callee_rtp.local_addr().port());
    answer.codecs = vec![SdpCodec::Pcmu];
    let negotiated = incoming.answer_with(answer, WAIT).expect("answer");
    assert_eq!(negotiated.codec, SdpCodec::Pcmu);
    callee_rtp.set_destination(negotiated.remote_rtp);
    assert_eq!(call.wait_final(WAIT), Some(200));
    let ours = call.negotiated().expect("negotiated");
    assert_eq!(ours.codec, SdpCodec::Pcma);
    caller_rtp.set_destination(ours.remote_rtp);
    assert!(caller_rtp.wait_for_packets(40, WAIT));
    assert!(callee_rtp.wait_for_packets(40, WAIT));
    assert!(caller_rtp
        .received()
        .iter()
        .skip(5)
        .all(|p| p.payload_type == 8));
    assert!(callee_rtp
        .received()
        .iter()
        .skip(5)
        .all(|p| p.payload_type == 0));
    assert!(
        is_near(caller_rtp.heard_frequency(), 1100.0),
        "caller heard {:?}",
        caller_rtp.heard_frequency()
    );
    assert!(
        is_near(callee_rtp.heard_frequency(), 600.0),
        "callee heard {:?}",
        callee_rtp.heard_frequency()
    );
    assert_eq!(call.hangup(WAIT).ok(), Some(200));
}

#[test]
fn cancel_while_ringing_reaches_the_callee_and_the_caller_gets_487() {
    let b = bench();
    let caller = SipUa::bind();
    let rtp: SocketAddr = "127.0.0.1:9".parse().expect("address");
    let mut call = caller.call(b.server.addr(), "9200", rtp);
    let mut incoming = b.callee.wait_incoming(WAIT).expect("dialed");
    incoming.ring().expect("180");
    let mut saw_ringing = false;
    while let Some(status) = call.wait_response(WAIT) {
        if status == 180 {
            saw_ringing = true;
            break;
        }
    }
    assert!(saw_ringing, "180 propagates");
    call.cancel().expect("CANCEL");
    assert!(incoming.wait_cancel(WAIT).is_some(), "{}", b.server.log());
    assert_eq!(call.wait_final(WAIT), Some(487));
}

#[test]
fn callee_bye_ends_the_caller_leg() {
    let b = bench();
    let caller = SipUa::bind();
    let rtp: SocketAddr = "127.0.0.1:9".parse().expect("address");
    let mut call = caller.call(b.server.addr(), "9300", rtp);
    let mut incoming = b.callee.wait_incoming(WAIT).expect("dialed");
    incoming.answer(rtp, WAIT).expect("answer");
    assert_eq!(call.wait_final(WAIT), Some(200));
    assert_eq!(incoming.hangup(WAIT).ok(), Some(200));
    assert!(call.wait_bye(WAIT).is_some(), "{}", b.server.log());
}

#[test]
fn callee_busy_reaches_the_caller_as_486() {
    let b = bench();
    let caller = SipUa::bind();
    let rtp: SocketAddr = "127.0.0.1:9".parse().expect("address");
    let mut call = caller.call(b.server.addr(), "9400", rtp);
    let mut incoming = b.callee.wait_incoming(WAIT).expect("dialed");
    incoming.reject(486).expect("486");
    assert_eq!(call.wait_final(WAIT), Some(486));
}

#[test]
fn a_503_from_the_first_endpoint_falls_back_to_the_next() {
    let callee = SipUa::bind();
    let backup = SipUa::bind();
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start(callee.local_addr(), backup.local_addr(), dir.path());
    let caller = SipUa::bind();
    let rtp: SocketAddr = "127.0.0.1:9".parse().expect("address");
    let mut call = caller.call(server.addr(), "8500", rtp);
    let mut first = callee.wait_incoming(WAIT).expect("first endpoint dialed");
    first.reject(503).expect("503");
    let mut second = backup.wait_incoming(WAIT).expect("fallback dialed");
    assert_eq!(second.number().as_deref(), Some("500"));
    second.answer(rtp, WAIT).expect("answer");
    assert_eq!(call.wait_final(WAIT), Some(200), "{}", server.log());
    assert_eq!(call.hangup(WAIT).ok(), Some(200));
    assert!(second.wait_bye(WAIT).is_some());
}

#[test]
fn rfc4733_digits_from_the_caller_reach_the_callee() {
    let b = bench();
    let caller = SipUa::bind();
    let caller_rtp = RtpPeer::tone(Codec::Pcmu, 700.0);
    let callee_rtp = RtpPeer::bind();
    let mut call = caller.call(b.server.addr(), "9600", caller_rtp.local_addr());
    let mut incoming = b.callee.wait_incoming(WAIT).expect("dialed");
    let negotiated = incoming
        .answer(callee_rtp.local_addr(), WAIT)
        .expect("answer");
    let event_pt = negotiated.telephone_event.expect("telephone-event offered");
    assert_eq!(call.wait_final(WAIT), Some(200));
    let ours = call.negotiated().expect("negotiated");
    caller_rtp.set_destination(ours.remote_rtp);
    caller_rtp.set_source(Source::Digits {
        digits: "1234#".to_string(),
        payload_type: ours.telephone_event.expect("telephone-event answered"),
        duration_ms: 100,
        gap_ms: 100,
    });
    assert!(caller_rtp.wait_source_finished(WAIT));
    std::thread::sleep(Duration::from_millis(300));
    let digits = rfc4733_digits(&callee_rtp.received(), event_pt);
    assert_eq!(digits, "1234#", "{}", b.server.log());
    assert_eq!(call.hangup(WAIT).ok(), Some(200));
}

#[test]
fn sipp_echoing_callee_returns_the_callers_own_tone() {
    let sipp_port = free_port();
    let far: SocketAddr = format!("127.0.0.1:{sipp_port}").parse().expect("address");
    let dir = tempfile::tempdir().expect("temp dir");
    let backup = SipUa::bind();
    let server = start(far, backup.local_addr(), dir.path());
    let uas = testkit::Sipp::built_in("uas", server.addr())
        .port(sipp_port)
        .arg("-rtp_echo")
        .timeout(Duration::from_secs(20))
        .spawn();
    let caller = SipUa::bind();
    let caller_rtp = RtpPeer::tone(Codec::Pcmu, 700.0);
    let mut call = caller.call(server.addr(), "9777", caller_rtp.local_addr());
    assert_eq!(call.wait_final(WAIT), Some(200), "{}", server.log());
    let ours = call.negotiated().expect("negotiated");
    caller_rtp.set_destination(ours.remote_rtp);
    assert!(caller_rtp.wait_for_packets(50, WAIT), "{}", server.log());
    assert!(
        is_near(caller_rtp.heard_frequency(), 700.0),
        "caller heard {:?}",
        caller_rtp.heard_frequency()
    );
    assert_eq!(call.hangup(WAIT).ok(), Some(200));
    let run = uas.wait();
    assert!(run.success, "{}", run.report());
    assert_eq!(run.received("BYE "), 1, "{}", run.report());
}

#[test]
fn a_challenging_destination_gets_the_endpoints_digest_credentials() {
    let sipp_port = free_port();
    let far: SocketAddr = format!("127.0.0.1:{sipp_port}").parse().expect("address");
    let dir = tempfile::tempdir().expect("temp dir");
    let backup = SipUa::bind();
    let server = start(far, backup.local_addr(), dir.path());
    let uas = testkit::Sipp::xml(include_str!("scenarios/uas_digest.xml"), server.addr())
        .port(sipp_port)
        .timeout(Duration::from_secs(20))
        .spawn();
    let caller = SipUa::bind();
    let rtp: SocketAddr = "127.0.0.1:9".parse().expect("address");
    let mut call = caller.call(server.addr(), "6000", rtp);
    assert_eq!(call.wait_final(WAIT), Some(200), "{}", server.log());
    assert_eq!(call.hangup(WAIT).ok(), Some(200));
    let run = uas.wait();
    assert!(run.success, "{}", run.report());
    assert_eq!(run.received("INVITE "), 2, "{}", run.report());
}

/// The one WAV in `dir`, once its header agrees with its size and the size
/// has stopped changing (the recorder rewrites the header while recording).
fn finished_recording(dir: &Path) -> (hound::WavSpec, Vec<i16>) {
    let deadline = std::time::Instant::now() + WAIT;
    let mut last_len = 0;
    loop {
        let wav = std::fs::read_dir(dir)
            .expect("recordings dir")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "wav"));
        if let Some(path) = wav {
            if let Ok(reader) = hound::WavReader::open(&path) {
                let spec = reader.spec();
                let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                let consistent = reader.len() > 0 && len == 44 + u64::from(reader.len()) * 2;
                if consistent && len == last_len {
                    let samples: Vec<i16> = reader.into_samples().filter_map(Result::ok).collect();
                    return (spec, samples);
                }
                last_len = len;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no finished WAV in {}",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Checks a stereo recording: duration, caller tone left, callee tone right.
fn check_recording(dir: &Path, call_duration: Duration, left: f64, right: f64) {
    let (spec, samples) = finished_recording(dir);
    assert_eq!(
        (spec.channels, spec.sample_rate, spec.bits_per_sample),
        (2, 8000, 16)
    );
    let frames = samples.len() / 2;
    let duration_ms = frames as f64 / 8.0;
    let expected_ms = call_duration.as_secs_f64() * 1000.0;
    assert!(
        (duration_ms - expected_ms).abs() <= 40.0,
        "recording {duration_ms} ms, call {expected_ms} ms"
    );
    let channel = |c: usize| -> Vec<i16> { samples.iter().skip(c).step_by(2).copied().collect() };
    // Skip the first 200 ms (media starts a moment after the answer).
    let (l, r) = (channel(0), channel(1));
    assert!(
        is_near(dominant_frequency(&l[1600..], 8000), left),
        "left {:?}",
        dominant_frequency(&l[1600..], 8000)
    );
    assert!(
        is_near(dominant_frequency(&r[1600..], 8000), right),
        "right {:?}",
        dominant_frequency(&r[1600..], 8000)
    );
}

/// Places a recorded call with tones both ways; returns it once media flows
/// and the instant the caller saw the 200.
fn recorded_call(
    b: &Bench,
    caller: &SipUa,
    caller_rtp: &RtpPeer,
    callee_rtp: &RtpPeer,
) -> (
    testkit::CallHandle,
    testkit::IncomingCall,
    std::time::Instant,
) {
    let mut call = caller.call(b.server.addr(), "7123", caller_rtp.local_addr());
    let mut incoming = b.callee.wait_incoming(WAIT).expect("dialed");
    let negotiated = incoming
        .answer(callee_rtp.local_addr(), WAIT)
        .expect("answer");
    callee_rtp.set_destination(negotiated.remote_rtp);
    assert_eq!(call.wait_final(WAIT), Some(200));
    let answered = std::time::Instant::now();
    caller_rtp.set_destination(call.negotiated().expect("negotiated").remote_rtp);
    (call, incoming, answered)
}

#[test]
fn a_recorded_call_leaves_a_stereo_wav_as_long_as_the_call() {
    let b = bench();
    let caller = SipUa::bind();
    let caller_rtp = RtpPeer::tone(Codec::Pcmu, 700.0);
    let callee_rtp = RtpPeer::tone(Codec::Pcmu, 1300.0);
    let (mut call, mut incoming, answered) = recorded_call(&b, &caller, &caller_rtp, &callee_rtp);
    std::thread::sleep(Duration::from_millis(2000));
    let hangup_at = std::time::Instant::now();
    assert_eq!(call.hangup(WAIT).ok(), Some(200));
    let ended = hangup_at + (std::time::Instant::now() - hangup_at) / 2;
    assert!(incoming.wait_bye(WAIT).is_some());
    check_recording(b._dir.path(), ended - answered, 700.0, 1300.0);
}

#[test]
fn sigterm_mid_call_hangs_up_and_completes_the_recording() {
    let mut b = bench();
    let caller = SipUa::bind();
    let caller_rtp = RtpPeer::tone(Codec::Pcmu, 500.0);
    let callee_rtp = RtpPeer::tone(Codec::Pcmu, 1500.0);
    let (mut call, mut incoming, answered) = recorded_call(&b, &caller, &caller_rtp, &callee_rtp);
    std::thread::sleep(Duration::from_millis(1500));
    let term_at = std::time::Instant::now();
    b.server.terminate();
    assert!(call.wait_bye(WAIT).is_some(), "caller gets BYE on shutdown");
    let ended = term_at + (std::time::Instant::now() - term_at) / 2;
    assert!(
        incoming.wait_bye(WAIT).is_some(),
        "callee gets BYE on shutdown"
    );
    assert_eq!(b.server.wait_exit(WAIT), Some(0), "{}", b.server.log());
    check_recording(b._dir.path(), ended - answered, 500.0, 1500.0);
}

#[test]
fn hold_and_unhold_from_the_caller_are_answered_and_reflected_to_the_callee() {
    let sipp_port = free_port();
    let far: SocketAddr = format!("127.0.0.1:{sipp_port}").parse().expect("address");
    let dir = tempfile::tempdir().expect("temp dir");
    let backup = SipUa::bind();
    let server = start(far, backup.local_addr(), dir.path());
    let callee = testkit::Sipp::xml(include_str!("scenarios/uas_hold.xml"), server.addr())
        .port(sipp_port)
        .timeout(Duration::from_secs(20))
        .spawn();
    let caller = testkit::Sipp::xml(include_str!("scenarios/uac_hold.xml"), server.addr())
        .service("9800")
        .timeout(Duration::from_secs(20))
        .run();
    assert!(caller.success, "{}\n{}", caller.report(), server.log());
    let callee = callee.wait();
    assert!(callee.success, "{}\n{}", callee.report(), server.log());
}

#[test]
fn a_late_offer_caller_gets_our_offer_in_the_200_and_answers_in_the_ack() {
    let b = bench();
    let caller = testkit::Sipp::xml(
        include_str!("scenarios/uac_late_offer.xml"),
        b.server.addr(),
    )
    .service("9900")
    .timeout(Duration::from_secs(20))
    .spawn();
    let mut incoming = b.callee.wait_incoming(WAIT).expect("dialed");
    incoming
        .answer("127.0.0.1:9".parse().expect("address"), WAIT)
        .expect("callee answers");
    let run = caller.wait();
    assert!(run.success, "{}\n{}", run.report(), b.server.log());
    assert!(
        incoming.wait_bye(WAIT).is_some(),
        "the caller's BYE reaches the callee"
    );
    assert!(
        !b.server.log().contains("no usable SDP answer"),
        "{}",
        b.server.log()
    );
}

/// An INVITE to a bridged route whose body is `sdp`.
fn raw_invite(from: SocketAddr, to: SocketAddr, call_id: &str, sdp: &str) -> Vec<u8> {
    format!(
        "INVITE sip:9123@{to} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {from};branch=z9hG4bK-{call_id}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:hostile@{from}>;tag=h1\r\n\
         To: <sip:9123@{to}>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:hostile@{from}>\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
    .into_bytes()
}

#[test]
fn hostile_sdp_is_refused_without_dialing_and_the_server_carries_on() {
    let b = bench();
    let udp = testkit::udp::RawUdp::bind();
    let cases = [
        ("garbage", "this is not SDP\r\n", 400),
        (
            "no-codec",
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 18\r\n",
            488,
        ),
        (
            "video-only",
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=video 4000 RTP/AVP 96\r\n",
            488,
        ),
    ];
    for (call_id, sdp, status) in cases {
        udp.send(
            &raw_invite(udp.local_addr(), b.server.addr(), call_id, sdp),
            b.server.addr(),
        );
        let mut last = None;
        while let Some(r) = udp.recv_response(call_id, WAIT) {
            last = Some(r.status);
            if r.status >= 200 {
                break;
            }
        }
        assert_eq!(last, Some(status), "{call_id}\n{}", b.server.log());
    }
    assert!(
        b.callee.wait_incoming(Duration::from_millis(300)).is_none(),
        "nothing was dialed"
    );
    // A good call still goes through.
    let caller = SipUa::bind();
    let rtp: SocketAddr = "127.0.0.1:9".parse().expect("address");
    let mut call = caller.call(b.server.addr(), "9124", rtp);
    let mut incoming = b.callee.wait_incoming(WAIT).expect("dialed");
    incoming.answer(rtp, WAIT).expect("answer");
    assert_eq!(call.wait_final(WAIT), Some(200));
    assert_eq!(call.hangup(WAIT).ok(), Some(200));
}

#[test]
fn an_unusable_answer_from_the_callee_ends_both_legs() {
    let sipp_port = free_port();
    let far: SocketAddr = format!("127.0.0.1:{sipp_port}").parse().expect("address");
    let dir = tempfile::tempdir().expect("temp dir");
    let backup = SipUa::bind();
    let server = start(far, backup.local_addr(), dir.path());
    let callee = testkit::Sipp::xml(include_str!("scenarios/uas_bad_answer.xml"), server.addr())
        .port(sipp_port)
        .timeout(Duration::from_secs(20))
        .spawn();
    let caller = SipUa::bind();
    let rtp: SocketAddr = "127.0.0.1:9".parse().expect("address");
    let mut call = caller.call(server.addr(), "9950", rtp);
    assert_eq!(call.wait_final(WAIT), Some(488), "{}", server.log());
    let run = callee.wait();
    assert!(run.success, "{}\n{}", run.report(), server.log());
}

#[test]
fn sip_info_dtmf_from_the_caller_reaches_the_callee() {
    let sipp_port = free_port();
    let far: SocketAddr = format!("127.0.0.1:{sipp_port}").parse().expect("address");
    let dir = tempfile::tempdir().expect("temp dir");
    let backup = SipUa::bind();
    let server = start(far, backup.local_addr(), dir.path());
    let callee = testkit::Sipp::xml(include_str!("scenarios/uas_info.xml"), server.addr())
        .port(sipp_port)
        .timeout(Duration::from_secs(20))
        .spawn();
    let caller = testkit::Sipp::xml(include_str!("scenarios/uac_info.xml"), server.addr())
        .service("9810")
        .timeout(Duration::from_secs(20))
        .run();
    assert!(caller.success, "{}\n{}", caller.report(), server.log());
    let callee = callee.wait();
    assert!(callee.success, "{}\n{}", callee.report(), server.log());
}
