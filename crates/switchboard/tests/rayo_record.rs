//! Rayo `<record>` end to end (issue 11): the real binary, the test kit's
//! UA and RTP peer as the caller (a 600 Hz tone), a 1 kHz prompt played to
//! it, the recording fetched over HTTP from the signed URL in the
//! completion and checked by content. The recorder's finer behaviour
//! (mix, timeouts, pause offsets, beeps) is covered in process by
//! `record.rs`.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::cdr::records;
use common::http::{get, split_url};
use media::tone::ToneGenerator;
use media::wav::WavAudio;
use testkit::analysis::tone_fraction;
use testkit::baresip::write_wav_8k;
use testkit::rayo_harness::{play, Caller, RayoBench, RayoConfig, WAIT};
use testkit::xmpp::{error_condition, XmppClient};
use testkit::{wait_refused, Source};
use xmpp::Element;

const RECORD_NS: &str = "urn:xmpp:rayo:record:1";
const RECORD_COMPLETE_NS: &str = "urn:xmpp:rayo:record:complete:1";
const EXT_NS: &str = "urn:xmpp:rayo:ext:1";

fn bench() -> RayoBench {
    let binary = Path::new(env!("CARGO_BIN_EXE_switchboard"));
    let b = RayoBench::start(binary, &RayoConfig::new());
    let sounds = b.server.dir().join("sounds");
    std::fs::create_dir_all(&sounds).expect("playback dir");
    let mut tone = ToneGenerator::sine(1000.0, -12.0);
    let mut samples = vec![0i16; 8000 * 10];
    tone.fill(&mut samples);
    write_wav_8k(sounds.join("prompt.wav"), &samples).expect("prompt");
    b
}

/// The completion's reason and its `<recording>`.
fn recorded(b: &RayoBench, client: &mut XmppClient, component: &str) -> (String, Element) {
    let news = b.completion(client, component);
    let complete = news.complete.expect("complete");
    let recording = complete
        .get_child("recording", RECORD_COMPLETE_NS)
        .expect("recording")
        .clone();
    (news.element.name().to_owned(), recording)
}

/// The caller sends a 600 Hz tone.
fn tone_600(caller: &Caller) {
    caller.rtp.set_source(Source::Tone {
        frequency: 600.0,
        dbm0: -12.0,
    });
}

#[test]
fn a_duplex_recording_holds_the_caller_and_the_prompt_on_their_channels() {
    let b = bench();
    let mut client = b.available("usera");
    let caller = Caller::new();
    let (mut call, offered) = b.answered(&mut client, &caller);
    tone_600(&caller);
    let prompt = play("file://prompt.wav");
    b.start_component(&mut client, &offered.call, prompt);
    let record = Element::new("record", RECORD_NS)
        .attr("direction", "duplex")
        .attr("max-duration", "3000");
    let component = b.start_component(&mut client, &offered.call, record);
    let (reason, recording) = recorded(&b, &mut client, &component);
    assert_eq!(reason, "max-duration");
    assert_eq!(recording.get_attr("duration"), Some("3000"));
    let url = recording.get_attr("uri").expect("uri");
    let (address, target) = split_url(url);
    let (status, body) = get(address, &target);
    assert_eq!(status, 200);
    assert_eq!(
        recording
            .get_attr("size")
            .and_then(|s| s.parse::<usize>().ok()),
        Some(body.len())
    );
    let wav = WavAudio::read(body.as_slice()).expect("a WAV");
    assert_eq!((wav.channels, wav.sample_rate), (2, 8000));
    // Skip the first half second (packets in flight when it started).
    let said = wav.channel(0);
    let heard = wav.channel(1);
    assert!(
        tone_fraction(&said[4000..], 600.0, 8000) > 0.8,
        "the caller's tone on the left"
    );
    assert!(
        tone_fraction(&heard[4000..], 1000.0, 8000) > 0.8,
        "the prompt on the right"
    );
    assert!(tone_fraction(&said[4000..], 1000.0, 8000) < 0.1);

    // The same URL with a damaged signature, or none, is refused.
    let forged = target.replace("sig=", "sig=00");
    assert_eq!(get(address, &forged).0, 403);
    let unsigned = target.split('?').next().expect("path").to_owned();
    assert_eq!(get(address, &unsigned).0, 403);

    // The call's detail record lists the file the component made.
    let name = unsigned.rsplit('/').next().expect("file name").to_owned();
    assert!(call.hangup(WAIT).is_ok(), "{}", b.server.log());
    let deadline = Instant::now() + WAIT;
    loop {
        let listed = records(&b.server.config_path())
            .iter()
            .flat_map(|r| r["recordings"].as_array().cloned().unwrap_or_default())
            .any(|path| {
                path.as_str()
                    .is_some_and(|p| p.ends_with(&format!("/{name}")))
            });
        if listed {
            break;
        }
        assert!(Instant::now() < deadline, "{name} in no call record");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn pause_resume_and_stop_over_rayo() {
    let b = bench();
    let mut client = b.available("usera");
    let caller = Caller::new();
    let (_call, offered) = b.answered(&mut client, &caller);
    tone_600(&caller);
    let record = Element::new("record", RECORD_NS).attr("direction", "send");
    let component = b.start_component(&mut client, &offered.call, record);
    let started = Instant::now();
    std::thread::sleep(Duration::from_millis(1000));
    let mut at = Vec::new();
    for command in ["pause", "resume"] {
        let reply = client
            .iq_set(&component, Element::new(command, RECORD_NS), WAIT)
            .expect("reply");
        assert_eq!(error_condition(&reply), None, "{command}");
        at.push(Instant::now());
        std::thread::sleep(Duration::from_millis(1000));
    }
    let reply = client
        .iq_set(&component, Element::new("stop", EXT_NS), WAIT)
        .expect("reply");
    assert_eq!(error_condition(&reply), None);
    let paused = at[1] - at[0];
    let expected = (started.elapsed() - paused).as_millis() as i64;
    let (reason, recording) = recorded(&b, &mut client, &component);
    assert_eq!(reason, "stop");
    let duration: u64 = recording
        .get_attr("duration")
        .and_then(|d| d.parse().ok())
        .expect("duration");
    // The paused stretch (≥ 1 s, as the client saw it) is not in the file;
    // the slack is the IQs' own latency on a busy machine.
    assert!(
        (duration as i64 - expected).abs() <= 400,
        "{duration} ms recorded, {expected} ms expected ({} ms paused)",
        paused.as_millis()
    );
    let (address, target) = split_url(recording.get_attr("uri").expect("uri"));
    let (status, body) = get(address, &target);
    assert_eq!(status, 200);
    let wav = WavAudio::read(body.as_slice()).expect("a WAV");
    assert_eq!(wav.channels, 1);
    assert_eq!(wav.duration_ms(), duration);
}

#[test]
fn silence_ends_a_recording_at_its_initial_timeout() {
    let b = bench();
    let mut client = b.available("usera");
    let caller = Caller::new();
    let (_call, offered) = b.answered(&mut client, &caller);
    tone_600(&caller);
    caller.rtp.set_source(Source::Silence);
    let record = Element::new("record", RECORD_NS).attr("initial-timeout", "800");
    let component = b.start_component(&mut client, &offered.call, record);
    let (reason, recording) = recorded(&b, &mut client, &component);
    assert_eq!(reason, "initial-timeout");
    assert!(recording
        .get_attr("uri")
        .is_some_and(|u| u.starts_with("http://")));
}

#[test]
fn an_mp3_recording_is_refused_before_it_starts() {
    let b = bench();
    let mut client = b.available("usera");
    let caller = Caller::new();
    let (_call, offered) = b.answered(&mut client, &caller);
    let record = Element::new("record", RECORD_NS).attr("format", "mp3");
    let reply = client.iq_set(&offered.call, record, WAIT).expect("reply");
    assert_eq!(
        error_condition(&reply).as_deref(),
        Some("feature-not-implemented")
    );
}

#[test]
fn recording_urls_follow_an_http_listener_moved_by_a_reload() {
    let b = bench();
    let mut client = b.available("usera");
    let caller = Caller::new();
    let (_call, offered) = b.answered(&mut client, &caller);
    tone_600(&caller);
    let record = || Element::new("record", RECORD_NS).attr("max-duration", "1000");
    let component = b.start_component(&mut client, &offered.call, record());
    let (_, before) = recorded(&b, &mut client, &component);
    let before = before.get_attr("uri").expect("uri").to_owned();
    let old = b.server.http_addr().expect("the HTTP listener's address");
    assert!(
        before.starts_with(&format!("http://{old}/recordings/")),
        "{before}"
    );

    // Only `http.listen` changes; the Agent RPC and Rayo listeners, on
    // port 0 in the file, stay where they are.
    let moved = testkit::free_port();
    let config = std::fs::read_to_string(b.server.config_path()).expect("read config");
    let changed = config.replace(
        "http:\n  listen: 127.0.0.1:0\n",
        &format!("http:\n  listen: 127.0.0.1:{moved}\n"),
    );
    assert_ne!(
        config, changed,
        "the harness config has http.listen on port 0"
    );
    std::fs::write(b.server.config_path(), changed).expect("write config");
    assert!(b.server.reload(), "no reload logged\n{}", b.server.log());
    let log = b.server.log();
    assert!(log.contains("HTTP listener moved"), "{log}");
    assert!(!log.contains("needs a restart"), "{log}");
    assert!(!log.contains("Rayo listener moved"), "{log}");
    assert!(!log.contains("Agent RPC listener moved"), "{log}");

    // The same Rayo session records again: the URL names the new port,
    // and the recording is served there.
    let component = b.start_component(&mut client, &offered.call, record());
    let (_, after) = recorded(&b, &mut client, &component);
    let after = after.get_attr("uri").expect("uri");
    assert!(
        after.starts_with(&format!("http://127.0.0.1:{moved}/recordings/")),
        "{after}"
    );
    let (address, target) = split_url(after);
    let (status, body) = get(address, &target);
    assert_eq!(status, 200);
    let wav = WavAudio::read(body.as_slice()).expect("a WAV");
    assert!(tone_fraction(&wav.channel(0)[2000..], 600.0, 8000) > 0.8);
    // A URL handed out before the move is still signed right: the new
    // listener serves it; the old port is closed.
    let (_, target) = split_url(&before);
    assert_eq!(get(address, &target).0, 200);
    assert!(wait_refused(old, WAIT), "the old HTTP port still accepts");
}
