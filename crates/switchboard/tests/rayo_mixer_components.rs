//! Components on a Rayo mixer end to end (issue 12, item 2): the real
//! binary over 127.0.0.1, three test kit callers sending 600, 900 and
//! 1300 Hz into one mixer. An `<output>` sent to the mixer's JID is heard
//! by every caller, a `<record>` of the mixer fetched from its signed URL
//! holds the three tones, and an `<input>` on the mixer takes the keys one
//! of the callers presses. Audio is judged over half-second windows of
//! fresh audio (`common::hearing`), never by exact timing.

mod common;

use std::path::Path;
use std::time::Duration;

use common::hearing::wait_hearing;
use common::http::{get, split_url};
use media::tone::ToneGenerator;
use media::wav::WavAudio;
use testkit::analysis::tone_fraction;
use testkit::baresip::write_wav_8k;
use testkit::rayo_harness::{
    mixer_jid, play, send_digits, srgs_digits, Caller, RayoBench, RayoConfig,
};
use testkit::sip_ua::CallHandle;
use testkit::xmpp::XmppClient;
use xmpp::Element;

const RECORD_NS: &str = "urn:xmpp:rayo:record:1";
const RECORD_COMPLETE_NS: &str = "urn:xmpp:rayo:record:complete:1";
const INPUT_NS: &str = "urn:xmpp:rayo:input:1";

/// The callers' tones, and the announcement's.
const TONES: [f64; 3] = [600.0, 900.0, 1300.0];
const ANNOUNCEMENT: f64 = 400.0;
const MIXER: &str = "room";

/// A server with `announce.wav` (4 s of 400 Hz) in its playback directory.
fn bench() -> RayoBench {
    let b = RayoBench::start(
        Path::new(env!("CARGO_BIN_EXE_switchboard")),
        &RayoConfig::new(),
    );
    let sounds = b.server.dir().join("sounds");
    std::fs::create_dir_all(&sounds).expect("playback dir");
    let mut tone = ToneGenerator::sine(ANNOUNCEMENT, -10.0);
    let mut samples = vec![0i16; 8000 * 4];
    tone.fill(&mut samples);
    write_wav_8k(sounds.join("announce.wav"), &samples).expect("prompt");
    b
}

/// A caller sending `tone`, answered by `client` and joined to [`MIXER`].
struct Party {
    caller: Caller,
    sip: CallHandle,
}

fn join(b: &RayoBench, client: &mut XmppClient, tone: f64) -> Party {
    let caller = Caller::tone(tone);
    let (sip, offered) = b.answered(client, &caller);
    b.join_mixer(client, &offered.call, MIXER, "duplex");
    Party { caller, sip }
}

#[test]
fn an_output_a_recording_and_an_input_on_a_mixer() {
    let b = bench();
    let mut client = b.available("usera");
    let parties: Vec<Party> = TONES.iter().map(|&t| join(&b, &mut client, t)).collect();
    let mixer = mixer_jid(MIXER);
    let hear = Duration::from_secs(6);

    // The output to the mixer: every caller hears it and the other two.
    let output = play("file://announce.wav");
    let component = b.start_component(&mut client, &mixer, output);
    assert!(
        component.starts_with(&format!("{mixer}/")),
        "the output's JID is under the mixer's: {component}"
    );
    for (party, tone) in parties.iter().zip(TONES) {
        let mut heard: Vec<f64> = TONES.into_iter().filter(|&t| t != tone).collect();
        heard.push(ANNOUNCEMENT);
        let result = wait_hearing(&party.caller.rtp, &heard, &[tone], hear);
        assert!(
            result.is_ok(),
            "the {tone} Hz caller with the output: {result:?}\n{}",
            b.server.log()
        );
    }
    let done = b.completion(&mut client, &component);
    assert_eq!(done.element.name(), "finish", "{}", done.element.to_xml(""));

    // A recording of the room holds all three callers.
    let record = Element::new("record", RECORD_NS).attr("max-duration", "2000");
    let component = b.start_component(&mut client, &mixer, record);
    let done = b.completion(&mut client, &component);
    assert_eq!(done.element.name(), "max-duration");
    let recording = done
        .complete
        .as_ref()
        .and_then(|c| c.get_child("recording", RECORD_COMPLETE_NS))
        .expect("a <recording>");
    let (address, target) = split_url(recording.get_attr("uri").expect("uri"));
    let (status, body) = get(address, &target);
    assert_eq!(status, 200);
    let wav = WavAudio::read(body.as_slice()).expect("a WAV");
    assert_eq!((wav.channels, wav.sample_rate), (1, 8000));
    let mix = wav.channel(0);
    assert!(mix.len() >= 8000, "{} samples", mix.len());
    for tone in TONES {
        let share = tone_fraction(&mix, tone, 8000);
        assert!(
            share > 0.15,
            "{tone} Hz is {share:.3} of the room's recording"
        );
    }

    // An input on the mixer takes the keys the second caller presses.
    let input = Element::new("input", INPUT_NS).attr("mode", "dtmf").child(
        Element::new("grammar", INPUT_NS)
            .attr("content-type", "application/srgs+xml")
            .text(srgs_digits("2")),
    );
    let component = b.start_component(&mut client, &mixer, input);
    std::thread::sleep(Duration::from_millis(100));
    send_digits(&parties[1].caller, &parties[1].sip, "42", 100);
    let done = b.completion(&mut client, &component);
    assert_eq!(done.element.name(), "match", "{}", done.element.to_xml(""));
    assert!(
        done.element
            .text_content()
            .contains("<instance>42</instance>"),
        "{}",
        done.element.text_content()
    );
}
