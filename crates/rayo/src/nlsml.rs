//! NLSML match results (`application/nlsml+xml`, RAYO.md §3.2 and §5.2):
//! what an input component's `<match>` carries, in the shape Punchblock
//! and Adhearsion read (highest-confidence interpretation, its instance
//! and its DTMF input).

use xmpp::Element;

/// The MRCPv2 NLSML namespace Adhearsion requires.
pub const NS_NLSML: &str = "http://www.ietf.org/xml/ns/mrcpv2";
/// The content type of an NLSML document (`match-content-type`).
pub const CONTENT_TYPE: &str = "application/nlsml+xml";

/// `<result>` for a DTMF match: one interpretation with confidence 1,
/// `instance` the tag literal (or the digits), `input mode='dtmf'` the
/// digits as pressed, without separators.
pub fn dtmf_result(digits: &str, instance: &str) -> Element {
    result("dtmf", digits, instance, "1")
}

/// `<result>` with one interpretation: `confidence` (0–1, as text),
/// `instance`, and `input` given in `mode` (`dtmf`, `speech`).
pub fn result(mode: &str, input: &str, instance: &str, confidence: &str) -> Element {
    Element::new("result", NS_NLSML).child(
        Element::new("interpretation", NS_NLSML)
            .attr("confidence", confidence)
            .child(Element::new("instance", NS_NLSML).text(instance))
            .child(
                Element::new("input", NS_NLSML)
                    .attr("mode", mode)
                    .text(input),
            ),
    )
}

/// The result as a standalone document, for a `<match>`'s text content.
pub fn dtmf_result_xml(digits: &str, instance: &str) -> String {
    dtmf_result(digits, instance).to_xml("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_document() {
        assert_eq!(
            dtmf_result_xml("1234", "1234"),
            "<result xmlns='http://www.ietf.org/xml/ns/mrcpv2'><interpretation confidence='1'>\
             <instance>1234</instance><input mode='dtmf'>1234</input></interpretation></result>"
        );
    }

    #[test]
    fn tag_literal_is_the_instance_and_text_is_escaped() {
        let xml = dtmf_result_xml("2", "<two>&");
        assert!(
            xml.contains("<instance>&lt;two&gt;&amp;</instance>"),
            "{xml}"
        );
        assert!(xml.contains("<input mode='dtmf'>2</input>"), "{xml}");
    }

    #[test]
    fn nested_in_a_match_inherits_nothing() {
        let m = Element::new("match", crate::ns::INPUT_COMPLETE)
            .attr("content-type", CONTENT_TYPE)
            .child(dtmf_result("12", "1"));
        let xml = m.to_xml("jabber:client");
        assert!(
            xml.contains("<result xmlns='http://www.ietf.org/xml/ns/mrcpv2'>"),
            "{xml}"
        );
    }
}
