//! Runs the `parse_rayo_command` fuzz target's properties over its seed
//! corpus (`fuzz/corpus/parse_rayo_command/*`) and every prefix of each seed,
//! on stable Rust. The seeds are choice sequences (see `rayo::fuzz`); the
//! ignored test below writes them from readable elements. It also runs the
//! `parse_srgs` target's properties over `fuzz/corpus/parse_srgs/*` (text
//! seeds; `err_*` ones must be refused both as SRGS and as a builtin URL).

use std::fs;
use std::path::{Path, PathBuf};

use rayo::fuzz::{check_srgs_untrusted, check_untrusted, decode, encode};
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
    assert!(seeds >= 20, "only {seeds} seeds");
    assert!(commands >= 12, "only {commands} seeds parse as a command");
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
        ("foreign_ping", Element::new("ping", "urn:xmpp:ping")),
    ]
}
