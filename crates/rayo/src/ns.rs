//! Namespace URIs and caps nodes of Rayo and of the XMPP extensions its
//! stanzas carry. Compare element namespaces against these, never prefixes.

/// Rayo core: call commands, call events, `<header>`, `<ref>`.
pub const RAYO: &str = "urn:xmpp:rayo:1";
/// Generic component extension: `<stop>` and `<complete>`.
pub const EXT: &str = "urn:xmpp:rayo:ext:1";
/// Core completion reasons (`stop`, `hangup`, `error`) inside `<complete>`.
pub const EXT_COMPLETE: &str = "urn:xmpp:rayo:ext:complete:1";

/// XEP-0115 caps node of a call's first presence (the offer).
pub const CALL_CAPS_NODE: &str = "urn:xmpp:rayo:call:1";
/// XEP-0115 caps node of a mixer's first presence.
pub const MIXER_CAPS_NODE: &str = "urn:xmpp:rayo:mixer:1";
/// XEP-0115 caps node a Rayo client advertises with its `chat` presence.
pub const CLIENT_CAPS_NODE: &str = "urn:xmpp:rayo:client:1";

/// Output component (part 2).
pub const OUTPUT: &str = "urn:xmpp:rayo:output:1";
/// Output completion reasons (`finish`, `max-time`).
pub const OUTPUT_COMPLETE: &str = "urn:xmpp:rayo:output:complete:1";
/// Input component (part 2).
pub const INPUT: &str = "urn:xmpp:rayo:input:1";
/// Input completion reasons (`match`, `nomatch`, `noinput`).
pub const INPUT_COMPLETE: &str = "urn:xmpp:rayo:input:complete:1";
/// Record component (part 2).
pub const RECORD: &str = "urn:xmpp:rayo:record:1";
/// Record completion reasons and `<recording>`.
pub const RECORD_COMPLETE: &str = "urn:xmpp:rayo:record:complete:1";
/// Prompt component (output + input, part 2).
pub const PROMPT: &str = "urn:xmpp:rayo:prompt:1";
/// Tropo `<say>`, the wiki page's output component (part 2).
pub const TROPO_SAY: &str = "urn:xmpp:tropo:say:1";
/// Completion reasons of Tropo `<say>` (`success`).
pub const TROPO_SAY_COMPLETE: &str = "urn:xmpp:tropo:say:complete:1";

/// Tropo `<ask>`, the wiki-era prompt (part 2).
pub const TROPO_ASK: &str = "urn:xmpp:tropo:ask:1";
/// Completion reasons of Tropo `<ask>` (`success`, `nomatch`, `noinput`).
pub const TROPO_ASK_COMPLETE: &str = "urn:xmpp:tropo:ask:complete:1";
/// XEP-0341 call progress analysis: `<signal>`.
pub const CPA: &str = "urn:xmpp:rayo:cpa:1";

/// XEP-0203 delayed delivery: the `<delay stamp>` on every event.
pub const DELAY: &str = "urn:xmpp:delay";
/// XEP-0115 entity capabilities: the `<c>` on an offer.
pub const CAPS: &str = "http://jabber.org/protocol/caps";
/// RFC 6120 stanza error conditions and `<text>`.
pub const STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";

/// Whether `ns` belongs to Rayo or its Tropo ancestors, which decides
/// between `feature-not-implemented` and `service-unavailable` for an
/// element nobody handles (see [`crate::CommandError`]).
pub fn is_rayo(ns: &str) -> bool {
    ns.starts_with("urn:xmpp:rayo:") || ns.starts_with("urn:xmpp:tropo:")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rayo_family_is_recognised_by_prefix() {
        assert!(is_rayo(RAYO));
        assert!(is_rayo(EXT_COMPLETE));
        assert!(is_rayo(TROPO_SAY));
        assert!(is_rayo(OUTPUT));
        assert!(!is_rayo("urn:xmpp:ping"));
        assert!(!is_rayo("jabber:iq:roster"));
        assert!(!is_rayo(""));
    }
}
