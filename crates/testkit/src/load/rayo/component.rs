//! The Rayo media components the load client starts (XEP-0327 output,
//! input, prompt, record), as plain functions: the IQ that starts one, the
//! `<ref>` its result carries, the `<stop>` command, and what its
//! `<complete>` presence says (reason, `<recording>`, the NLSML instance).

use xmpp::Element;

use super::stanza::NS_RAYO;

/// Generic component extension: `<stop>` and `<complete>`.
pub const NS_EXT: &str = "urn:xmpp:rayo:ext:1";
/// Core completion reasons (`stop`, `hangup`, `error`).
pub const NS_EXT_COMPLETE: &str = "urn:xmpp:rayo:ext:complete:1";
/// Output component.
pub const NS_OUTPUT: &str = "urn:xmpp:rayo:output:1";
/// Input component.
pub const NS_INPUT: &str = "urn:xmpp:rayo:input:1";
/// Prompt component (output + input).
pub const NS_PROMPT: &str = "urn:xmpp:rayo:prompt:1";
/// Record component.
pub const NS_RECORD: &str = "urn:xmpp:rayo:record:1";
/// Record completion reasons and `<recording>`.
pub const NS_RECORD_COMPLETE: &str = "urn:xmpp:rayo:record:complete:1";
/// SRGS grammars.
/// SSML documents.
const NS_SSML: &str = "http://www.w3.org/2001/10/synthesis";

/// What an output plays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Document {
    /// A `text/uri-list` of one audio file (`file://tone.wav` is in the
    /// server's playback directory).
    Url(String),
    /// An SSML `<speak>` of this text, rendered by the server's TTS.
    Speech(String),
}

impl Document {
    /// The `<document>` element carrying it (the body as text, which is
    /// what a CDATA section is to an XML reader).
    pub fn to_element(&self) -> Element {
        let document = Element::new("document", NS_OUTPUT);
        match self {
            Document::Url(url) => document
                .attr("content-type", "text/uri-list")
                .text(url.as_str()),
            Document::Speech(text) => {
                let mut speak = String::new();
                xmpp::element::escape_into(&mut speak, text);
                document
                    .attr("content-type", "application/ssml+xml")
                    .text(format!(
                        "<speak version='1.0' xmlns='{NS_SSML}' xml:lang='en-US'>{speak}</speak>"
                    ))
            }
        }
    }
}

/// An `<output>` of `document`, played `repeat_times` (0: until stopped).
pub fn output(document: &Document, repeat_times: u32) -> Element {
    Element::new("output", NS_OUTPUT)
        .attr("repeat-times", repeat_times.to_string())
        .child(document.to_element())
}

/// A DTMF `<input>` for `digits` keys, `noinput` after `initial_timeout_ms`
/// without a key (inter-digit timeout 2 s).
pub fn input(digits: usize, initial_timeout_ms: u64) -> Element {
    Element::new("input", NS_INPUT)
        .attr("mode", "dtmf")
        .attr("initial-timeout", initial_timeout_ms.to_string())
        .attr("inter-digit-timeout", "2000")
        .child(
            Element::new("grammar", NS_INPUT)
                .attr("content-type", "application/srgs+xml")
                .text(crate::rayo_harness::srgs_digits(&digits.to_string())),
        )
}

/// A `<prompt barge-in='true'>` of an output played once and a DTMF input.
pub fn prompt(document: &Document, digits: usize) -> Element {
    Element::new("prompt", NS_PROMPT)
        .attr("barge-in", "true")
        .child(output(document, 1))
        .child(input(digits, 5000))
}

/// A duplex `<record>` stopped by the server after `max_duration_ms`.
pub fn record(max_duration_ms: u64) -> Element {
    Element::new("record", NS_RECORD)
        .attr("direction", "duplex")
        .attr("max-duration", max_duration_ms.to_string())
}

/// `<iq type='set'>` carrying `component` to `to` (a call or component JID).
pub fn component_iq(id: &str, to: &str, component: Element) -> Element {
    Element::new("iq", "jabber:client")
        .attr("type", "set")
        .attr("id", id)
        .attr("to", to)
        .child(component)
}

/// `<stop xmlns='urn:xmpp:rayo:ext:1'/>` for a component JID.
pub fn stop(id: &str, component: &str) -> Element {
    component_iq(id, component, Element::new("stop", NS_EXT))
}

/// The component JID of an IQ result's `<ref uri='xmpp:…'/>` (the `uri`
/// without its `xmpp:` scheme); None when the result has no ref.
pub fn ref_jid(result: &Element) -> Option<String> {
    let uri = result.get_child("ref", NS_RAYO)?.get_attr("uri")?;
    let jid = uri.strip_prefix("xmpp:").unwrap_or(uri);
    (!jid.is_empty()).then(|| jid.to_owned())
}

/// The `<recording>` metadata of a record's completion.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Recording {
    /// Where to fetch it (a signed HTTP URL).
    pub uri: Option<String>,
    /// Its length, ms.
    pub duration_ms: Option<u64>,
    /// Its size, bytes.
    pub size: Option<u64>,
}

impl Recording {
    /// True when uri, duration and size are all there.
    pub fn is_complete(&self) -> bool {
        self.uri.is_some() && self.duration_ms.is_some() && self.size.is_some()
    }
}

/// What a component's `<complete>` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// The reason element's name (`finish`, `hangup`, `match`, `max-duration` …).
    pub reason: String,
    /// Its namespace.
    pub reason_ns: String,
    /// The `<recording>` of a record, when there is one.
    pub recording: Option<Recording>,
    /// The NLSML `<instance>` of an input's `match`.
    pub instance: Option<String>,
    /// The reason's text (what an `error` says), when it has any.
    pub text: Option<String>,
}

/// Reads the `<complete>` of a presence from a component; None for any
/// other stanza.
pub fn completion(presence: &Element) -> Option<Completion> {
    let complete = presence.get_child("complete", NS_EXT)?;
    let reason = complete.first_child();
    let recording = complete
        .children()
        .chain(reason.into_iter().flat_map(Element::children))
        .find(|c| c.is("recording", NS_RECORD_COMPLETE))
        .map(|r| Recording {
            uri: r.get_attr("uri").map(str::to_owned),
            duration_ms: r.get_attr("duration").and_then(|d| d.parse().ok()),
            size: r.get_attr("size").and_then(|s| s.parse().ok()),
        });
    let instance = reason
        .filter(|r| r.name() == "match")
        .and_then(nlsml_instance);
    let text = reason
        .filter(|r| r.name() != "match")
        .map(|r| r.text_content().trim().to_owned())
        .filter(|t| !t.is_empty());
    Some(Completion {
        text,
        reason: reason.map_or("", Element::name).to_owned(),
        reason_ns: reason.map_or("", Element::ns).to_owned(),
        recording,
        instance,
    })
}

/// The `<instance>` of an NLSML result given as nested elements or as text.
fn nlsml_instance(matched: &Element) -> Option<String> {
    fn find(element: &Element) -> Option<String> {
        if element.name() == "instance" {
            return Some(element.text_content().trim().to_owned());
        }
        element.children().find_map(find)
    }
    if let Some(found) = matched.children().find_map(find) {
        return Some(found);
    }
    let text = matched.text_content();
    let start = text.find("<instance")?;
    let body = &text[start..];
    let open_end = body.find('>')? + 1;
    let close = body.find("</instance>")?;
    body.get(open_end..close).map(|s| s.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::super::stanza::tests::parse;
    use super::*;

    #[test]
    fn a_looped_output_of_a_file() {
        let iq = component_iq(
            "o1",
            "c1@rayo.test",
            output(&Document::Url("file://tone.wav".into()), 0),
        );
        assert_eq!(
            iq.to_xml("jabber:client"),
            "<iq type='set' id='o1' to='c1@rayo.test'><output xmlns='urn:xmpp:rayo:output:1' \
             repeat-times='0'><document content-type='text/uri-list'>file://tone.wav</document>\
             </output></iq>"
        );
        // What the server reads back is the same tree.
        let read = parse(&iq.to_xml("jabber:client"));
        let document = read
            .first_child()
            .and_then(|o| o.get_child("document", NS_OUTPUT))
            .expect("document");
        assert_eq!(document.text_content(), "file://tone.wav");
    }

    #[test]
    fn speech_is_an_escaped_ssml_document() {
        let doc = Document::Speech("Call 7 & more".into()).to_element();
        assert_eq!(doc.get_attr("content-type"), Some("application/ssml+xml"));
        let body = doc.text_content();
        assert!(
            body.starts_with("<speak version='1.0' xmlns='http://www.w3.org/2001/10/synthesis'")
        );
        assert!(body.ends_with(">Call 7 &amp; more</speak>"), "{body}");
    }

    #[test]
    fn input_prompt_and_record_carry_their_attributes() {
        let input = input(4, 5000);
        assert_eq!(input.ns(), NS_INPUT);
        assert_eq!(input.get_attr("mode"), Some("dtmf"));
        assert_eq!(input.get_attr("initial-timeout"), Some("5000"));
        let grammar = input.get_child("grammar", NS_INPUT).expect("grammar");
        assert_eq!(
            grammar.get_attr("content-type"),
            Some("application/srgs+xml")
        );
        let srgs = grammar.text_content();
        assert!(
            srgs.contains("<item repeat='4'><one-of><item>0</item>"),
            "{srgs}"
        );
        assert!(srgs.contains("<item>9</item></one-of>"), "{srgs}");
        let prompt = prompt(&Document::Speech("PIN?".into()), 4);
        assert_eq!(prompt.get_attr("barge-in"), Some("true"));
        let names: Vec<_> = prompt.children().map(|c| (c.name(), c.ns())).collect();
        assert_eq!(names, [("output", NS_OUTPUT), ("input", NS_INPUT)]);
        let xml = prompt.to_xml("jabber:client");
        assert!(
            xml.contains("<output xmlns='urn:xmpp:rayo:output:1' repeat-times='1'>"),
            "{xml}"
        );
        let record = record(60_000);
        assert_eq!(
            record.to_xml("jabber:client"),
            "<record xmlns='urn:xmpp:rayo:record:1' direction='duplex' max-duration='60000'/>"
        );
        let stop = stop("s1", "c1@rayo.test/abc");
        assert_eq!(
            stop.to_xml("jabber:client"),
            "<iq type='set' id='s1' to='c1@rayo.test/abc'><stop xmlns='urn:xmpp:rayo:ext:1'/></iq>"
        );
    }

    #[test]
    fn the_ref_names_the_component_jid() {
        let result = parse(
            "<iq type='result' id='o1' from='c1@rayo.test'>\
             <ref xmlns='urn:xmpp:rayo:1' uri='xmpp:c1@rayo.test/out-7' id='out-7'/></iq>",
        );
        assert_eq!(ref_jid(&result).as_deref(), Some("c1@rayo.test/out-7"));
        let bare = parse("<iq type='result' id='o1'/>");
        assert_eq!(ref_jid(&bare), None);
    }

    #[test]
    fn completions_give_reason_recording_and_instance() {
        let finish = parse(
            "<presence from='c1@rayo.test/out-7' type='unavailable'>\
             <complete xmlns='urn:xmpp:rayo:ext:1'><finish xmlns='urn:xmpp:rayo:output:complete:1'/>\
             </complete></presence>",
        );
        let c = completion(&finish).expect("a completion");
        assert_eq!(
            (c.reason.as_str(), c.reason_ns.as_str()),
            ("finish", "urn:xmpp:rayo:output:complete:1")
        );
        assert_eq!((c.recording, c.instance), (None, None));
        let hangup = parse(
            "<presence from='c1@rayo.test/out-7' type='unavailable'>\
             <complete xmlns='urn:xmpp:rayo:ext:1'><hangup xmlns='urn:xmpp:rayo:ext:complete:1'/>\
             </complete></presence>",
        );
        assert_eq!(
            completion(&hangup).expect("complete").reason_ns,
            NS_EXT_COMPLETE
        );
        let recorded = parse(
            "<presence from='c1@rayo.test/rec-1' type='unavailable'>\
             <complete xmlns='urn:xmpp:rayo:ext:1'>\
             <max-duration xmlns='urn:xmpp:rayo:record:complete:1'/>\
             <recording xmlns='urn:xmpp:rayo:record:complete:1' uri='http://127.0.0.1:8080/recordings/a.wav?sig=x' \
              duration='3000' size='96044'/></complete></presence>",
        );
        let c = completion(&recorded).expect("complete");
        assert_eq!(c.reason, "max-duration");
        let recording = c.recording.expect("recording");
        assert!(recording.is_complete());
        assert_eq!(
            (recording.duration_ms, recording.size),
            (Some(3000), Some(96044))
        );
        let cdata = parse(
            "<presence from='c1@rayo.test/in-1' type='unavailable'>\
             <complete xmlns='urn:xmpp:rayo:ext:1'>\
             <match xmlns='urn:xmpp:rayo:input:complete:1' content-type='application/nlsml+xml'><![CDATA[\
             <result xmlns='http://www.ietf.org/xml/ns/mrcpv2'><interpretation confidence='1'>\
             <instance>1234</instance><input mode='dtmf'>1234</input></interpretation></result>]]>\
             </match></complete></presence>",
        );
        assert_eq!(
            completion(&cdata).expect("c").instance.as_deref(),
            Some("1234")
        );
        let nested = parse(
            "<presence from='c1@rayo.test/in-1' type='unavailable'>\
             <complete xmlns='urn:xmpp:rayo:ext:1'>\
             <match xmlns='urn:xmpp:rayo:input:complete:1'>\
             <result xmlns='http://www.ietf.org/xml/ns/mrcpv2'><interpretation>\
             <instance> 42 </instance></interpretation></result></match></complete></presence>",
        );
        assert_eq!(
            completion(&nested).expect("c").instance.as_deref(),
            Some("42")
        );
        let error = parse(
            "<presence from='c1@rayo.test/o' type='unavailable'><complete xmlns='urn:xmpp:rayo:ext:1'>\
             <error xmlns='urn:xmpp:rayo:ext:complete:1'> no such file </error></complete></presence>",
        );
        let c = completion(&error).expect("complete");
        assert_eq!(
            (c.reason.as_str(), c.text.as_deref()),
            ("error", Some("no such file"))
        );
        let other = parse("<presence from='c1@rayo.test'><show>chat</show></presence>");
        assert_eq!(completion(&other), None);
    }
}
