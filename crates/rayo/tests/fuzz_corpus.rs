//! Runs the `parse_rayo_command` fuzz target's properties over its seed
//! corpus (`fuzz/corpus/parse_rayo_command/*`) and every prefix of each seed,
//! on stable Rust. The seeds are choice sequences (see `rayo::fuzz`); the
//! ignored test below writes them from readable elements. It also runs the
//! `parse_srgs` target's properties over `fuzz/corpus/parse_srgs/*` (text
//! seeds; `err_*` ones must be refused both as SRGS and as a builtin URL).

use std::fs;
use std::path::{Path, PathBuf};

use rayo::fuzz::{check_srgs_untrusted, check_ssml_untrusted, check_untrusted, decode, encode};
use rayo::ns;
use xmpp::Element;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/parse_rayo_command")
}

#[test]
fn every_seed_and_prefix_holds_the_properties() {
    let (mut seeds, mut commands) = (0, 0);
    for entry in fs::read_dir(corpus()).expect("fuzz/corpus/parse_rayo_command exists") {
        let data = fs::read(entry.expect("dir entry").path()).expect("read seed");
        for end in 0..=data.len() {
            check_untrusted(&data[..end]);
        }
        seeds += 1;
        let payload = decode(&data);
        let parsed = [
            rayo::Target::Domain,
            rayo::Target::Call,
            rayo::Target::Component,
        ]
        .into_iter()
        .any(|t| rayo::parse_command(t, &payload, rayo::fuzz::DOMAIN).is_ok());
        commands += usize::from(parsed);
    }
    assert!(seeds >= 50, "only {seeds} seeds");
    assert!(commands >= 30, "only {commands} seeds parse as a command");
}

#[test]
fn every_srgs_seed_and_prefix_holds_the_properties() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/parse_srgs");
    let (mut seeds, mut grammars) = (0, 0);
    for entry in fs::read_dir(dir).expect("fuzz/corpus/parse_srgs exists") {
        let path = entry.expect("dir entry").path();
        let data = fs::read(&path).expect("read seed");
        for end in 0..=data.len() {
            check_srgs_untrusted(&data[..end]);
        }
        seeds += 1;
        let text = std::str::from_utf8(&data).expect("seeds are UTF-8");
        let parsed =
            rayo::srgs::parse_srgs(text).is_ok() || rayo::srgs::parse_builtin(text).is_ok();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        assert_eq!(parsed, !name.starts_with("err_"), "{name}");
        grammars += usize::from(parsed);
    }
    assert!(seeds >= 12, "only {seeds} seeds");
    assert!(grammars >= 6, "only {grammars} seeds parse as a grammar");
}

#[test]
fn seeds_parse_or_fail_as_named() {
    for (name, element) in seeds() {
        let parsed = [
            rayo::Target::Domain,
            rayo::Target::Call,
            rayo::Target::Component,
        ]
        .into_iter()
        .any(|t| rayo::parse_command(t, &element, rayo::fuzz::DOMAIN).is_ok());
        let refused = name.starts_with("err_") || name == "foreign_ping";
        assert_eq!(parsed, !refused, "{name}");
    }
}

#[test]
fn every_ssml_seed_and_prefix_holds_the_properties() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/parse_ssml");
    let (mut seeds, mut documents) = (0, 0);
    for entry in fs::read_dir(dir).expect("fuzz/corpus/parse_ssml exists") {
        let path = entry.expect("dir entry").path();
        let data = fs::read(&path).expect("read seed");
        for end in 0..=data.len() {
            check_ssml_untrusted(&data[..end]);
        }
        seeds += 1;
        let text = std::str::from_utf8(&data).expect("seeds are UTF-8");
        let parsed = rayo::ssml::parse_ssml(text).is_ok();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        assert_eq!(parsed, !name.starts_with("err_"), "{name}");
        documents += usize::from(parsed);
    }
    assert!(seeds >= 10, "only {seeds} seeds");
    assert!(documents >= 6, "only {documents} seeds parse as SSML");
}

#[test]
fn seeds_match_their_sources() {
    for (name, element) in seeds() {
        let path = corpus().join(format!("{name}.bin"));
        let data = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(decode(&data), element, "{name}");
    }
}

/// Rewrites the corpus from [`seeds`]: `cargo test -p rayo --test fuzz_corpus -- --ignored`.
#[test]
#[ignore]
fn write_seeds() {
    fs::create_dir_all(corpus()).expect("create corpus dir");
    for (name, element) in seeds() {
        let data = encode(&element).unwrap_or_else(|| panic!("{name} does not encode"));
        fs::write(corpus().join(format!("{name}.bin")), data).expect("write seed");
    }
}

fn rayo(name: &str) -> Element {
    Element::new(name, ns::RAYO)
}

fn header(name: &str, value: &str) -> Element {
    rayo("header").attr("name", name).attr("value", value)
}

const SSML_NS: &str = "http://www.w3.org/2001/10/synthesis";
const SPEAK: &str = "<speak>Hello <break time='300ms'/>world</speak>";
const PIN: &str = "<grammar xmlns='http://www.w3.org/2001/06/grammar' mode='dtmf' root='p'>\
    <rule id='p'><item repeat='4'><one-of><item>1</item><item>2</item><item>3</item><item>4</item>\
    </one-of></item><tag>'pin'</tag></rule></grammar>";

fn output() -> Element {
    Element::new("output", ns::OUTPUT)
}

fn input() -> Element {
    Element::new("input", ns::INPUT)
}

fn document(content_type: &str, body: &str) -> Element {
    document_like("document", ns::OUTPUT, content_type, body)
}

fn document_like(name: &str, namespace: &str, content_type: &str, body: &str) -> Element {
    Element::new(name, namespace)
        .attr("content-type", content_type)
        .text(body)
}

fn seeds() -> Vec<(&'static str, Element)> {
    vec![
        (
            "accept_headers",
            rayo("accept")
                .child(header("X-Skill", "agent"))
                .child(header("X-Id", "8877")),
        ),
        (
            "accept_early_media",
            rayo("accept").attr("earlyMedia", "true"),
        ),
        ("answer", rayo("answer")),
        (
            "redirect",
            rayo("redirect")
                .attr("to", "tel:+13055195825")
                .child(header("X-Skill", "agent")),
        ),
        ("err_redirect_without_to", rayo("redirect")),
        ("reject_busy", rayo("reject").child(rayo("busy"))),
        (
            "reject_decline_headers",
            rayo("reject")
                .child(rayo("decline"))
                .child(header("X-Why", "x")),
        ),
        ("reject_without_reason", rayo("reject")),
        (
            "err_reject_unknown_reason",
            rayo("reject").child(rayo("later")),
        ),
        (
            "hangup_header",
            rayo("hangup").child(header("X-Skill", "agent")),
        ),
        (
            "err_header_without_value",
            rayo("hangup").child(rayo("header").attr("name", "X-Skill")),
        ),
        ("hold", rayo("hold")),
        ("unhold", rayo("unhold")),
        ("mute", rayo("mute")),
        ("unmute", rayo("unmute")),
        (
            "join_call_uri",
            rayo("join")
                .attr("call-uri", "xmpp:b@rayo.test")
                .attr("direction", "send"),
        ),
        (
            "join_call_id_direct",
            rayo("join").attr("call-id", "b").attr("media", "direct"),
        ),
        (
            "join_empty_call_uri_mixer",
            rayo("join")
                .attr("call-uri", "")
                .attr("mixer-name", "conf1"),
        ),
        (
            "err_join_both",
            rayo("join")
                .attr("call-uri", "xmpp:b@rayo.test")
                .attr("mixer-name", "conf1"),
        ),
        ("err_join_neither", rayo("join")),
        (
            "err_join_other_domain",
            rayo("join").attr("call-uri", "xmpp:b@other.test"),
        ),
        ("unjoin_all", rayo("unjoin")),
        ("unjoin_mixer", rayo("unjoin").attr("mixer-name", "conf1")),
        (
            "join_mixer_recv",
            rayo("join")
                .attr("mixer-name", "conf1")
                .attr("direction", "recv"),
        ),
        (
            "err_join_mixer_bad_name",
            rayo("join").attr("mixer-name", "conf1@rayo.test"),
        ),
        (
            "dial_join_mixer",
            rayo("dial")
                .attr("to", "sip:bob@10.0.0.9")
                .child(rayo("join").attr("mixer-name", "conf1")),
        ),
        ("send_dtmf", rayo("dtmf").attr("tones", "123#")),
        (
            "dial_full",
            rayo("dial")
                .attr("to", "sip:bob@10.0.0.9")
                .attr("from", "tel:+13055195825")
                .attr("uri", "xmpp:custom1@rayo.test")
                .attr("timeout", "30000")
                .child(header("X-Skill", "agent"))
                .child(rayo("join").attr("call-uri", "xmpp:b@rayo.test")),
        ),
        (
            "dial_number",
            rayo("dial").attr("to", "4045551212").attr("timeout", "-1"),
        ),
        ("err_dial_bad_scheme", rayo("dial").attr("to", "user/userb")),
        (
            "err_dial_bad_timeout",
            rayo("dial")
                .attr("to", "sips:bob@x.test")
                .attr("timeout", "soon"),
        ),
        ("stop_ext", Element::new("stop", ns::EXT)),
        ("stop_core", rayo("stop").child(header("X-Skill", "agent"))),
        (
            "output_part2",
            Element::new("output", ns::OUTPUT).text("hello"),
        ),
        (
            "output_ssml_document",
            output()
                .attr("voice", "voice")
                .attr("repeat-times", "0")
                .attr("max-time", "5000")
                .child(document("application/ssml+xml", SPEAK)),
        ),
        (
            "output_documents",
            output()
                .attr("start-offset", "0")
                .attr("start-paused", "true")
                .attr("interrupt-on", "dtmf")
                .child(Element::new("document", ns::OUTPUT).attr("url", "http://files.test/a.wav"))
                .child(document(
                    "text/uri-list",
                    "# list\nhttp://files.test/a.wav\n",
                ))
                .child(document("text/plain", "Hello world"))
                .child(header("X-Skill", "agent")),
        ),
        (
            "output_nested_speak",
            output().child(
                Element::new("document", ns::OUTPUT)
                    .attr("content-type", "application/ssml+xml")
                    .child(Element::new("speak", SSML_NS).text("Hello world").child(
                        Element::new("audio", SSML_NS).attr("src", "http://files.test/a.wav"),
                    )),
            ),
        ),
        (
            "err_output_max_time_zero",
            output()
                .attr("max-time", "0")
                .child(document("text/plain", "Hello world")),
        ),
        (
            "err_output_bad_content_type",
            output().child(document("dtmf", "Hello world")),
        ),
        (
            "say_seed_page",
            Element::new("say", ns::TROPO_SAY)
                .attr("voice", "voice")
                .child(
                    Element::new("audio", ns::TROPO_SAY)
                        .attr("src", "http://files.test/a.wav")
                        .text("Hello world"),
                )
                .child(
                    Element::new("say-as", ns::TROPO_SAY)
                        .attr("interpret-as", "digits")
                        .text("1234"),
                ),
        ),
        (
            "input_pin",
            input()
                .attr("mode", "dtmf")
                .attr("terminator", "#")
                .attr("initial-timeout", "5000")
                .attr("inter-digit-timeout", "5000")
                .attr("min-confidence", "0.5")
                .child(document_like(
                    "grammar",
                    ns::INPUT,
                    "application/srgs+xml",
                    PIN,
                )),
        ),
        (
            "input_builtin",
            input().child(
                Element::new("grammar", ns::INPUT).attr("url", "builtin:dtmf/digits?length=4"),
            ),
        ),
        (
            "input_cpa",
            input()
                .attr("mode", "cpa")
                .child(
                    Element::new("grammar", ns::INPUT)
                        .attr("url", "urn:xmpp:rayo:cpa:beep:1?terminate=true"),
                )
                .child(Element::new("grammar", ns::INPUT).attr("url", "urn:xmpp:rayo:cpa:dtmf:1")),
        ),
        (
            "err_input_cpa_twice",
            input()
                .attr("mode", "cpa")
                .child(Element::new("grammar", ns::INPUT).attr("url", "urn:xmpp:rayo:cpa:dtmf:1"))
                .child(Element::new("grammar", ns::INPUT).attr("url", "urn:xmpp:rayo:cpa:dtmf:1")),
        ),
        ("err_input_no_grammar", input().attr("mode", "dtmf")),
        (
            "err_input_initial_timeout_zero",
            input().attr("initial-timeout", "0").child(
                Element::new("grammar", ns::INPUT).attr("url", "builtin:dtmf/digits?length=4"),
            ),
        ),
        (
            "prompt_input_first",
            Element::new("prompt", ns::PROMPT)
                .attr("barge-in", "true")
                .child(input().child(
                    Element::new("grammar", ns::INPUT).attr("url", "builtin:dtmf/digits?length=4"),
                ))
                .child(output().child(document("text/plain", "Hello world"))),
        ),
        (
            "err_prompt_without_input",
            Element::new("prompt", ns::PROMPT)
                .child(output().child(document("text/plain", "Hello world"))),
        ),
        (
            "ask_digits",
            Element::new("ask", ns::TROPO_ASK)
                .attr("mode", "dtmf")
                .attr("terminator", "#")
                .attr("bargein", "true")
                .child(Element::new("prompt", ns::TROPO_ASK).text("Hello world"))
                .child(Element::new("choices", ns::TROPO_ASK).text("[4 DIGITS]")),
        ),
        (
            "ask_list",
            Element::new("ask", ns::TROPO_ASK)
                .child(Element::new("prompt", ns::TROPO_ASK).text(SPEAK))
                .child(Element::new("choices", ns::TROPO_ASK).text("sales(1), support(2)")),
        ),
        (
            "record_full",
            Element::new("record", ns::RECORD)
                .attr("format", "mp3")
                .attr("start-beep", "true")
                .attr("max-duration", "5000")
                .attr("final-timeout", "5000")
                .attr("direction", "send")
                .attr("mix", "true")
                .child(
                    Element::new("hint", ns::RECORD)
                        .attr("name", "X-Skill")
                        .attr("value", "2"),
                ),
        ),
        (
            "err_record_final_timeout",
            Element::new("record", ns::RECORD).attr("final-timeout", "0"),
        ),
        ("output_pause", Element::new("pause", ns::OUTPUT)),
        ("output_volume_up", Element::new("volume-up", ns::OUTPUT)),
        (
            "output_seek",
            Element::new("seek", ns::OUTPUT)
                .attr("direction", "forward")
                .attr("amount", "5000"),
        ),
        (
            "err_output_seek_without_amount",
            Element::new("seek", ns::OUTPUT).attr("direction", "back"),
        ),
        ("record_resume", Element::new("resume", ns::RECORD)),
        ("say_pause", Element::new("pause", ns::TROPO_SAY)),
        ("foreign_ping", Element::new("ping", "urn:xmpp:ping")),
    ]
}
