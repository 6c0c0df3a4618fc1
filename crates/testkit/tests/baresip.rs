//! baresip (a real softphone) against the in-process `SipUa` over
//! 127.0.0.1: signalling both ways, audio both ways checked by content, and
//! RFC 4733 DTMF. Skipped with a message when baresip is not installed
//! (`scripts/test` installs it).

use std::time::Duration;

use testkit::analysis;
use testkit::baresip::{write_tone_wav, Baresip, BaresipConfig};
use testkit::sip_ua::SipUa;
use testkit::{RtpPeer, Source};

const WAIT: Duration = Duration::from_secs(5);
/// The telephone-event payload type baresip 1.0 offers.
const BARESIP_DTMF_PT: u8 = 101;

fn skip() -> bool {
    if Baresip::available() {
        return false;
    }
    eprintln!("skipped: baresip is not installed (apt-get install baresip)");
    true
}

fn hz(samples: &[i16]) -> f64 {
    analysis::dominant_frequency(samples, 8000).unwrap_or(0.0)
}

#[test]
fn baresip_calls_sip_ua_audio_both_ways_dtmf_and_bye() {
    if skip() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let tone = dir.path().join("tone-700.wav");
    write_tone_wav(&tone, 700.0, -10.0, Duration::from_secs(30)).expect("write tone");
    let phone = Baresip::start_with(BaresipConfig {
        auto_answer: true,
        source_wav: Some(tone),
    })
    .expect("baresip starts");
    let ua = SipUa::bind();
    let ua_rtp = RtpPeer::bind();

    phone
        .dial(&format!("sip:100@{}", ua.local_addr()))
        .expect("dial");
    let mut incoming = ua.wait_incoming(WAIT).expect("the UA gets the INVITE");
    assert_eq!(incoming.number().as_deref(), Some("100"));
    incoming.ring().expect("180");
    phone
        .wait_event("CALL_RINGING", WAIT)
        .expect("baresip sees 180");
    let negotiated = incoming
        .answer(ua_rtp.local_addr(), WAIT)
        .expect("answered and ACKed");
    assert!(negotiated.remote_rtp.ip().is_loopback(), "{negotiated:?}");
    let established = phone
        .wait_event("CALL_ESTABLISHED", WAIT)
        .expect("baresip sees 200");
    assert_eq!(established.direction.as_deref(), Some("outgoing"));

    ua_rtp.set_source(Source::Tone {
        frequency: 400.0,
        dbm0: -10.0,
    });
    ua_rtp.set_destination(negotiated.remote_rtp);
    assert!(
        ua_rtp.wait_for_packets(75, WAIT),
        "RTP from baresip; log:\n{}",
        phone.log()
    );
    let at_ua = analysis::decode_audio(&ua_rtp.received());
    assert!(
        (hz(&at_ua) - 700.0).abs() < 20.0,
        "the UA hears baresip's 700 Hz, got {} Hz",
        hz(&at_ua)
    );

    // RFC 4733 from baresip, on the payload type it offered.
    phone.send_dtmf("19#").expect("sndcode");
    let deadline = std::time::Instant::now() + WAIT;
    let mut digits = String::new();
    while std::time::Instant::now() < deadline && digits != "19#" {
        std::thread::sleep(Duration::from_millis(100));
        digits = analysis::rfc4733_digits(&ua_rtp.received(), BARESIP_DTMF_PT);
    }
    assert_eq!(digits, "19#", "DTMF from baresip");

    phone.hangup().expect("hangup");
    assert!(incoming.wait_bye(WAIT).is_some(), "the UA sees the BYE");
    let closed = phone
        .wait_event("CALL_CLOSED", WAIT)
        .expect("baresip closes the call");
    assert_eq!(closed.call_id, established.call_id);

    let heard = phone.heard(WAIT).expect("baresip's recording");
    assert!(
        heard.len() > 8000,
        "over a second recorded, got {}",
        heard.len()
    );
    // Skip the start, before the UA's RTP arrived.
    let steady = &heard[heard.len() / 2..];
    assert!(
        (hz(steady) - 400.0).abs() < 20.0,
        "baresip heard the UA's 400 Hz, got {} Hz",
        hz(steady)
    );
    assert!(analysis::tone_present(steady, 400.0, 0.8));
    let sent = phone.sent(WAIT).expect("baresip's send recording");
    assert!((hz(&sent) - 700.0).abs() < 20.0, "{} Hz", hz(&sent));
}

#[test]
fn sip_ua_calls_baresip_auto_answer_then_ua_hangs_up() {
    if skip() {
        return;
    }
    let phone = Baresip::start().expect("baresip starts");
    let ua = SipUa::bind();
    let ua_rtp = RtpPeer::bind();
    let mut call = ua.call(phone.sip_addr(), "baresip", ua_rtp.local_addr());
    assert_eq!(call.wait_final(WAIT), Some(200), "log:\n{}", phone.log());
    let established = phone
        .wait_event("CALL_ESTABLISHED", WAIT)
        .expect("baresip answered by itself");
    assert_eq!(established.direction.as_deref(), Some("incoming"));
    let negotiated = call.negotiated().expect("answer processed");
    assert!(negotiated.remote_rtp.ip().is_loopback(), "{negotiated:?}");
    // Its default source is a 1 kHz tone.
    assert!(ua_rtp.wait_for_packets(50, WAIT), "RTP from baresip");
    let at_ua = analysis::decode_audio(&ua_rtp.received());
    assert!((hz(&at_ua) - 1000.0).abs() < 20.0, "{} Hz", hz(&at_ua));

    assert_eq!(call.hangup(WAIT).expect("BYE answered"), 200);
    let closed = phone.wait_event("CALL_CLOSED", WAIT).expect("closed");
    assert_eq!(closed.call_id, established.call_id);
}

#[test]
fn manual_answer_and_a_wrong_user_gets_404() {
    if skip() {
        return;
    }
    let phone = Baresip::start_with(BaresipConfig {
        auto_answer: false,
        ..BaresipConfig::default()
    })
    .expect("baresip starts");
    let ua = SipUa::bind();

    // baresip only takes its own user.
    let mut wrong = ua.call(phone.sip_addr(), "100", "127.0.0.1:9".parse().unwrap());
    assert_eq!(wrong.wait_final(WAIT), Some(404));

    let ua_rtp = RtpPeer::bind();
    let mut call = ua.call(phone.sip_addr(), "baresip", ua_rtp.local_addr());
    let incoming = phone
        .wait_event("CALL_INCOMING", WAIT)
        .expect("baresip rings");
    assert_eq!(incoming.direction.as_deref(), Some("incoming"));
    // baresip 1.0 sends no 100 Trying, only 180.
    assert_eq!(call.wait_response(WAIT), Some(180));
    phone.answer().expect("accept");
    assert_eq!(call.wait_final(WAIT), Some(200));
    phone
        .wait_event("CALL_ESTABLISHED", WAIT)
        .expect("established");
    phone.hangup().expect("hangup");
    assert!(call.wait_bye(WAIT).is_some(), "the UA sees the BYE");
    phone.wait_event("CALL_CLOSED", WAIT).expect("closed");
}

#[test]
fn baresip_hangs_up_when_its_source_wav_ends() {
    if skip() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let short = dir.path().join("short.wav");
    write_tone_wav(&short, 500.0, -10.0, Duration::from_millis(500)).expect("write tone");
    let phone = Baresip::start_with(BaresipConfig {
        auto_answer: true,
        source_wav: Some(short),
    })
    .expect("baresip starts");
    let ua = SipUa::bind();
    let ua_rtp = RtpPeer::bind();
    phone
        .dial(&format!("sip:200@{}", ua.local_addr()))
        .expect("dial");
    let mut incoming = ua.wait_incoming(WAIT).expect("INVITE");
    incoming
        .answer(ua_rtp.local_addr(), WAIT)
        .expect("answered");
    let closed = phone
        .wait_event("CALL_CLOSED", WAIT)
        .expect("baresip hangs up by itself");
    assert_eq!(closed.param.as_deref(), Some("end of file"));
    assert!(incoming.wait_bye(WAIT).is_some(), "the UA sees the BYE");
}
