//! The fuzz targets' properties, callable on stable so that the seed corpus
//! runs in `cargo test` (`tests/fuzz_corpus.rs`).
//!
//! Until the `xmpp` crate's reader lands, fuzz input is not XML but a
//! sequence of choices that builds an element tree: each string is an index
//! into a small table of names, namespaces and values Rayo cares about, or a
//! short raw string; each count is bounded. Every byte sequence decodes to
//! some tree, so the fuzzer spends its time in the command parsers.
//!
//! Grammar (a missing byte reads as 0, which ends every list):
//! `element = string(NAMES) string(NAMESPACES) count {string(ATTRS) string(VALUES)} count {child}`,
//! `child = byte (even: element, odd: text string(VALUES))`,
//! `string(T) = byte (< 0x80: T[byte % len]; else raw: (byte & 0x3f) bytes, lossy UTF-8)`,
//! `count = byte % 8`.
//!
//! The SRGS and SSML targets ([`check_srgs_untrusted`],
//! [`check_ssml_untrusted`]) read their input as text instead: grammars
//! and documents arrive as strings, so raw bytes reach the XML reader.

use xmpp::{Element, Node};

use crate::command::{parse_command, Command, Target};
use crate::dialect::{Dialect, EventContext};
use crate::event::{ref_element, CallEvent};
use crate::join::JoinTarget;
use crate::mixer::MixerEvent;
use crate::ns;
use crate::srgs::{self, Grammar, Matcher, Progress};
use crate::ssml;

/// Service domain the fuzz check parses against.
pub const DOMAIN: &str = "rayo.test";

/// Deepest element nesting a decoded tree reaches.
const MAX_DEPTH: usize = 6;
/// Most elements in one decoded tree.
const MAX_ELEMENTS: usize = 256;

const NAMES: &[&str] = &[
    "accept",
    "answer",
    "redirect",
    "reject",
    "hangup",
    "hold",
    "unhold",
    "mute",
    "unmute",
    "join",
    "unjoin",
    "dtmf",
    "dial",
    "stop",
    "header",
    "busy",
    "decline",
    "error",
    "output",
    "say",
    "ping",
    "ref", // part 2 below: appended, so older seeds keep their meaning
    "document",
    "input",
    "grammar",
    "prompt",
    "ask",
    "choices",
    "record",
    "hint",
    "pause",
    "resume",
    "seek",
    "speed-up",
    "speed-down",
    "volume-up",
    "volume-down",
    "speak",
    "audio",
    "break",
    "say-as",
];
const NAMESPACES: &[&str] = &[
    ns::RAYO,
    ns::EXT,
    ns::EXT_COMPLETE,
    ns::OUTPUT,
    ns::TROPO_SAY,
    "",
    "jabber:client",
    "urn:example",
    ns::INPUT,
    ns::PROMPT,
    ns::RECORD,
    ns::TROPO_ASK,
    "http://www.w3.org/2001/10/synthesis",
    srgs::NS_SRGS,
];
const ATTRS: &[&str] = &[
    "to",
    "from",
    "uri",
    "timeout",
    "call-uri",
    "call-id",
    "mixer-name",
    "direction",
    "media",
    "name",
    "value",
    "tones",
    "earlyMedia",
    "content-type",
    "url",
    "voice",
    "renderer",
    "start-offset",
    "start-paused",
    "repeat-interval",
    "repeat-times",
    "max-time",
    "interrupt-on",
    "mode",
    "terminator",
    "initial-timeout",
    "inter-digit-timeout",
    "recognition-timeout",
    "min-confidence",
    "barge-in",
    "bargein",
    "format",
    "start-beep",
    "max-duration",
    "final-timeout",
    "mix",
    "amount",
    "src",
    "time",
    "interpret-as",
];
const VALUES: &[&str] = &[
    "",
    "sip:bob@10.0.0.9",
    "sips:bob@x.test",
    "tel:+13055195825",
    "4045551212",
    "xmpp:b@rayo.test",
    "b",
    "xmpp:b@other.test",
    "conf1",
    "duplex",
    "send",
    "recv",
    "bridge",
    "direct",
    "X-Skill",
    "agent",
    "123#",
    "true",
    "30000",
    "-1",
    "user/userb",
    "application/ssml+xml",
    "text/uri-list",
    "text/plain",
    "application/srgs+xml",
    "http://files.test/a.wav",
    "builtin:dtmf/digits?length=4",
    "urn:xmpp:rayo:cpa:beep:1?terminate=true",
    "urn:xmpp:rayo:cpa:dtmf:1",
    "dtmf",
    "any",
    "voice",
    "cpa",
    "forward",
    "back",
    "wav",
    "mp3",
    "#",
    "5000",
    "0",
    "0.5",
    "digits",
    "1234",
    "<speak>Hello <break time='300ms'/>world</speak>",
    PIN_GRAMMAR,
    "[4 DIGITS]",
    "sales(1), support(2)",
    "Hello world",
    "# list\nhttp://files.test/a.wav\n",
];

/// An SRGS body the tables offer (a 4-digit PIN with a tag).
const PIN_GRAMMAR: &str =
    "<grammar xmlns='http://www.w3.org/2001/06/grammar' mode='dtmf' root='p'>\
    <rule id='p'><item repeat='4'><one-of><item>1</item><item>2</item><item>3</item><item>4</item>\
    </one-of></item><tag>'pin'</tag></rule></grammar>";

/// Decodes `data` into an element tree (never fails; see the module doc).
pub fn decode(data: &[u8]) -> Element {
    let mut reader = Choices {
        data,
        at: 0,
        elements: 0,
    };
    reader.element(0)
}

/// Encodes an element so that [`decode`] gives it back, or `None` when a
/// name, count or raw string does not fit the grammar. Seeds are made with it.
pub fn encode(e: &Element) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    encode_element(e, 0, &mut out)?;
    Some(out)
}

/// The target's properties for one input: parsing never panics; an error
/// renders as an `<error>` with a text; a parsed command written back
/// parses to the same command; events built from its data render.
#[doc(hidden)]
pub fn check_untrusted(data: &[u8]) {
    let payload = decode(data);
    for target in [Target::Domain, Target::Call, Target::Component] {
        match parse_command(target, &payload, DOMAIN) {
            Err(error) => {
                assert!(!error.text.is_empty());
                let rendered = error.to_element();
                assert_eq!(rendered.first_child().map(Element::ns), Some(ns::STANZAS));
            }
            Ok(command) => {
                let written = command.to_element(DOMAIN);
                assert_eq!(
                    parse_command(target, &written, DOMAIN).as_ref(),
                    Ok(&command),
                    "{written}"
                );
                render_events(&command);
                check_component(&command);
            }
        }
    }
}

/// The DTMF keys a fuzz input's tail is read as, one per byte.
const KEYS: &[u8; 16] = b"0123456789*#ABCD";
/// Most digits fed to a matcher from one input's tail.
const MAX_FED: usize = 24;

/// The `parse_srgs` target's properties for one input: parsing the text as
/// an SRGS body or a builtin URL never panics and errors render; a parsed
/// grammar fits [`MAX_STATES`](crate::srgs::MAX_STATES) and walks the
/// digits derived from the input's tail as [`check_matcher`] requires.
#[doc(hidden)]
pub fn check_srgs_untrusted(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let keys: String = data[data.len().saturating_sub(MAX_FED)..]
        .iter()
        .map(|b| char::from(KEYS[usize::from(b % 16)]))
        .collect();
    for parsed in [srgs::parse_srgs(text), srgs::parse_builtin(text)] {
        match parsed {
            Err(error) => assert!(!error.text.is_empty()),
            Ok(grammar) => {
                assert!(grammar.states() <= srgs::MAX_STATES);
                check_matcher(grammar, &keys);
            }
        }
    }
}

/// Feeds `keys` to a matcher of `grammar`: each verdict is what
/// `progress()` then says; `NoMatch` stays `NoMatch`; after a match that
/// cannot grow any key is `NoMatch`; `digits()` is every key fed; a
/// non-key is `NoMatch` and leaves the digits alone.
fn check_matcher(grammar: Grammar, keys: &str) {
    let mut matcher = Matcher::new(grammar);
    let mut last = matcher.progress();
    for (i, key) in keys.char_indices() {
        let mut other = matcher.clone();
        assert_eq!(other.feed('x'), Progress::NoMatch);
        assert_eq!(other.digits(), matcher.digits());
        let next = matcher.feed(key);
        assert_eq!(next, matcher.progress());
        match last {
            Progress::NoMatch => assert_eq!(next, Progress::NoMatch, "{keys}"),
            Progress::Match {
                can_grow: false, ..
            } => assert_eq!(next, Progress::NoMatch, "{keys}"),
            _ => {}
        }
        assert_eq!(matcher.digits(), &keys[..=i]);
        last = next;
    }
}

/// A component that parsed was validated whole: its inline documents
/// render and its DTMF grammars compile.
fn check_component(command: &Command) {
    let Command::Call(crate::CallCommand::Start(component)) = command else {
        return;
    };
    let (output, input) = match component.as_ref() {
        crate::MediaComponent::Output(o) => (Some(o), None),
        crate::MediaComponent::Input(i) => (None, Some(i)),
        crate::MediaComponent::Prompt(p) => (Some(&p.output), Some(&p.input)),
        crate::MediaComponent::Record(_) => (None, None),
    };
    for document in output.map_or(&[][..], |o| &o.documents[..]) {
        if let Some(rendered) = document.render() {
            assert!(rendered.is_ok(), "{document:?}");
        }
    }
    if let Some(input) = input.filter(|i| i.mode != crate::InputMode::Voice) {
        assert!(input.compile().is_ok(), "{input:?}");
    }
}

/// The `parse_ssml` target's properties for one input: reading the text
/// as SSML, as a uri-list and as plain text never panics; what renders
/// stays within the segment, break and rate bounds, and spoken text is
/// never empty nor padded.
#[doc(hidden)]
pub fn check_ssml_untrusted(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for rendered in [
        ssml::parse_ssml(text),
        ssml::parse_uri_list(text),
        Ok(ssml::plain_text(text)),
    ] {
        match rendered {
            Err(error) => assert!(!error.to_string().is_empty()),
            Ok(segments) => assert!(check_segments(&segments) <= ssml::MAX_SEGMENTS),
        }
    }
}

/// Checks each segment's bounds; returns how many there are, nested included.
fn check_segments(segments: &[ssml::Segment]) -> usize {
    let mut n = 0;
    for segment in segments {
        n += 1;
        match segment {
            ssml::Segment::Speak {
                text,
                rate,
                volume_db,
                ..
            } => {
                assert!(!text.is_empty() && text.trim() == text, "{text:?}");
                assert!((ssml::RATE_BOUNDS.0..=ssml::RATE_BOUNDS.1).contains(rate));
                assert!(volume_db.is_finite() && *volume_db >= ssml::SILENT_DB);
            }
            ssml::Segment::Audio { src, fallback } => {
                assert!(!src.is_empty());
                n += check_segments(fallback);
            }
            ssml::Segment::Break { ms } => assert!(*ms <= ssml::MAX_BREAK_MS),
        }
    }
    n
}

/// Renders events carrying the command's data in both dialects.
fn render_events(command: &Command) {
    let (headers, target) = match command {
        Command::Call(c) => (c.headers().clone(), None),
        Command::Dial(d) => (d.headers.clone(), d.joins.first().map(|j| j.target.clone())),
        Command::Component(_) => (Vec::new(), None),
    };
    let target = target.unwrap_or(JoinTarget::Mixer("m".into()));
    for dialect in [Dialect::Xep, Dialect::Wiki] {
        let cx = EventContext {
            dialect,
            domain: DOMAIN,
            legacy_ids: true,
        };
        for event in [
            CallEvent::Offer {
                to: "sip:1000@rayo.test".into(),
                from: None,
                headers: headers.clone(),
            },
            CallEvent::Joined(target.clone()),
        ] {
            let _ = event.payload(&cx, None);
        }
        let _ = ref_element(&cx, "c", Some("output-1"));
        let (JoinTarget::Call(node) | JoinTarget::Mixer(node)) = &target;
        let _ = ref_element(&cx, node, None);
        let _ = MixerEvent::StartedSpeaking(node.clone()).payload(&cx, true);
    }
}

struct Choices<'a> {
    data: &'a [u8],
    at: usize,
    elements: usize,
}

impl Choices<'_> {
    fn byte(&mut self) -> u8 {
        let b = self.data.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        b
    }

    fn string(&mut self, table: &[&str]) -> String {
        let tag = self.byte();
        if tag < 0x80 {
            return table[usize::from(tag) % table.len()].to_owned();
        }
        let len = usize::from(tag & 0x3f);
        let start = self.at.min(self.data.len());
        let end = (start + len).min(self.data.len());
        self.at += len;
        String::from_utf8_lossy(&self.data[start..end]).into_owned()
    }

    fn element(&mut self, depth: usize) -> Element {
        self.elements += 1;
        let name = self.string(NAMES);
        let namespace = self.string(NAMESPACES);
        let mut e = Element::new(name, namespace);
        for _ in 0..self.byte() % 8 {
            let name = self.string(ATTRS);
            let value = self.string(VALUES);
            e.set_attr(name, value);
        }
        for _ in 0..self.byte() % 8 {
            if self.byte().is_multiple_of(2) {
                if depth < MAX_DEPTH && self.elements < MAX_ELEMENTS {
                    let child = self.element(depth + 1);
                    e.push(child);
                }
            } else {
                let text = self.string(VALUES);
                e.push_text(text);
            }
        }
        e
    }
}

fn encode_string(s: &str, table: &[&str], out: &mut Vec<u8>) -> Option<()> {
    if let Some(i) = table.iter().position(|t| *t == s) {
        out.push(u8::try_from(i).ok()?);
    } else {
        let len = u8::try_from(s.len()).ok().filter(|l| *l < 0x40)?;
        out.push(0x80 | len);
        out.extend_from_slice(s.as_bytes());
    }
    Some(())
}

fn encode_element(e: &Element, depth: usize, out: &mut Vec<u8>) -> Option<()> {
    if depth > MAX_DEPTH {
        return None;
    }
    encode_string(e.name(), NAMES, out)?;
    encode_string(e.ns(), NAMESPACES, out)?;
    let attrs: Vec<_> = e.attrs().collect();
    out.push(u8::try_from(attrs.len()).ok().filter(|n| *n < 8)?);
    for (name, value) in attrs {
        encode_string(name, ATTRS, out)?;
        encode_string(value, VALUES, out)?;
    }
    out.push(u8::try_from(e.nodes().len()).ok().filter(|n| *n < 8)?);
    for node in e.nodes() {
        match node {
            Node::Element(child) => {
                out.push(0);
                encode_element(child, depth + 1, out)?;
            }
            Node::Text(text) => {
                out.push(1);
                encode_string(text, VALUES, out)?;
            }
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_then_decode_gives_the_element_back() {
        let e = Element::new("dial", ns::RAYO)
            .attr("to", "sip:bob@10.0.0.9")
            .attr("uri", "xmpp:custom@rayo.test")
            .child(
                Element::new("header", ns::RAYO)
                    .attr("name", "X-Skill")
                    .attr("value", "agent"),
            )
            .text("hello")
            .child(Element::new("join", ns::RAYO).attr("call-id", "b"));
        let bytes = encode(&e).unwrap();
        assert_eq!(decode(&bytes), e);
        check_untrusted(&bytes);
    }

    #[test]
    fn any_bytes_decode_and_hold() {
        let mut state = 0x2545_f491_u32;
        for len in 0..400 {
            let data: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 17;
                    state ^= state << 5;
                    state.to_le_bytes()[0]
                })
                .collect();
            check_untrusted(&data);
        }
        check_untrusted(&[]);
        check_untrusted(&[0xff; 64]);
    }

    #[test]
    fn srgs_check_holds_for_grammars_and_junk() {
        let grammar = format!(
            "<grammar xmlns='{}' mode='dtmf' root='main'><rule id='main'>\
             <item repeat='1-3'><one-of><item>1</item><item>2<tag>two</tag></item></one-of></item>\
             </rule></grammar>",
            srgs::NS_SRGS
        );
        for text in [
            grammar.as_str(),
            "builtin:dtmf/digits?minlength=2;maxlength=4",
            "builtin:dtmf/boolean?y=1;n=2",
            "",
            "<grammar",
        ] {
            check_srgs_untrusted(text.as_bytes());
        }
        check_srgs_untrusted(&[0xff; 16]);
    }
}
