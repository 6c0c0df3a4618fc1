//! The Rayo stanzas the load client reads and writes, as plain functions:
//! what an inbound stanza means to a controlling party, and the command IQs
//! and presence it sends. Both dialects are read: the call is the bare JID
//! of `from` (the wiki's resource on a call JID is dropped), and an
//! `<end>`'s reason is its first child element, whatever its name.

use xmpp::error::NS_STANZA_ERRORS;
use xmpp::{iq_error, iq_result, Element, ErrorType, StanzaCondition};

use super::component::{completion, ref_jid, Completion, NS_EXT};

/// The Rayo core namespace (offer, answer, hangup, end).
pub const NS_RAYO: &str = "urn:xmpp:rayo:1";
/// XEP-0199 ping, the one request a client must answer with a result.
const NS_PING: &str = "urn:xmpp:ping";

/// What a stanza from the server is to the load client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// An offer presence: commands for the call go to `call`.
    Offer {
        /// The call's bare JID, `<call-id>@<domain>`.
        call: String,
        /// The offered INVITE's `Call-ID` header, to join with what the
        /// caller measured.
        sip_call_id: Option<String>,
    },
    /// A component's `<complete>` (its presence is unavailable).
    Complete {
        /// The component's full JID, `<call>@<domain>/<component-id>`.
        component: String,
        /// What the completion says.
        completion: Completion,
    },
    /// The call's last event.
    End {
        /// The call's bare JID.
        call: String,
        /// The reason element's name (`hungup`, `hangup-command`, `hangup` …).
        reason: String,
        /// Its `platform-code` (a SIP status), when given.
        platform_code: Option<String>,
    },
    /// Any other Rayo presence from a call or its components (ringing,
    /// answered, complete …): nothing to do.
    CallEvent,
    /// The `result` of one of our IQs.
    Result {
        /// The IQ's id.
        id: String,
        /// The component JID of its `<ref>`, for a component's start.
        reference: Option<String>,
    },
    /// The `error` answering one of our IQs.
    Error {
        /// The IQ's id.
        id: String,
        /// The stanza error condition (`item-not-found`, `conflict` …).
        condition: String,
    },
    /// An IQ get or set from the server (a ping): it needs a reply.
    Request,
    /// Anything else: roster pushes, messages, presence of other entities.
    Other,
}

/// Reads one stanza.
pub fn classify(stanza: &Element) -> Inbound {
    match stanza.name() {
        "presence" => classify_presence(stanza),
        "iq" => classify_iq(stanza),
        _ => Inbound::Other,
    }
}

fn classify_presence(presence: &Element) -> Inbound {
    let from = presence.get_attr("from").unwrap_or_default();
    let Some(call) = bare_call_jid(from) else {
        return Inbound::Other;
    };
    if presence.get_child("complete", NS_EXT).is_some() {
        if let Some(completion) = completion(presence) {
            return Inbound::Complete {
                component: from.to_owned(),
                completion,
            };
        }
    }
    let Some(event) = presence
        .children()
        .find(|c| c.ns().starts_with("urn:xmpp:rayo:"))
    else {
        return Inbound::Other;
    };
    match (event.name(), event.ns()) {
        ("offer", NS_RAYO) if presence.get_attr("type").is_none() => Inbound::Offer {
            call,
            sip_call_id: event
                .children()
                .filter(|h| h.is("header", NS_RAYO))
                .find(|h| {
                    h.get_attr("name")
                        .is_some_and(|n| n.eq_ignore_ascii_case("call-id"))
                })
                .and_then(|h| h.get_attr("value"))
                .map(|v| v.trim().to_owned()),
        },
        ("end", NS_RAYO) => {
            let reason = event.first_child();
            Inbound::End {
                call,
                reason: reason.map_or("", |r| r.name()).to_owned(),
                platform_code: reason
                    .and_then(|r| r.get_attr("platform-code"))
                    .map(str::to_owned),
            }
        }
        _ => Inbound::CallEvent,
    }
}

fn classify_iq(iq: &Element) -> Inbound {
    let id = iq.get_attr("id").unwrap_or_default().to_owned();
    match iq.get_attr("type") {
        Some("result") => Inbound::Result {
            id,
            reference: ref_jid(iq),
        },
        Some("error") => Inbound::Error {
            id,
            condition: error_condition(iq),
        },
        Some("get" | "set") => Inbound::Request,
        _ => Inbound::Other,
    }
}

/// The bare JID of a call entity: `node@domain`, any resource dropped;
/// None for a JID without a node (the server itself).
pub fn bare_call_jid(from: &str) -> Option<String> {
    let bare = from.split_once('/').map_or(from, |(bare, _)| bare);
    let (node, domain) = bare.split_once('@')?;
    (!node.is_empty() && !domain.is_empty()).then(|| bare.to_owned())
}

/// The condition of an error stanza's `<error>`; `undefined-condition`
/// when it names none.
fn error_condition(stanza: &Element) -> String {
    stanza
        .children()
        .find(|c| c.name() == "error")
        .and_then(|error| {
            error
                .children()
                .find(|c| c.ns() == NS_STANZA_ERRORS && c.name() != "text")
        })
        .map_or("undefined-condition", Element::name)
        .to_owned()
}

/// `<iq type='set' id=id to=call><command xmlns='urn:xmpp:rayo:1'/></iq>`.
pub fn command(id: &str, call: &str, command: &str) -> Element {
    Element::new("iq", "jabber:client")
        .attr("type", "set")
        .attr("id", id)
        .attr("to", call)
        .child(Element::new(command, NS_RAYO))
}

/// `<presence to=domain><show>chat</show></presence>`: available for offers.
pub fn chat_presence(domain: &str) -> Element {
    Element::new("presence", "jabber:client")
        .attr("to", domain)
        .child(Element::new("show", "jabber:client").text("chat"))
}

/// The reply to a request from the server: a ping gets its result, any
/// other request `service-unavailable`, as a plain client answers.
pub fn reply(request: &Element) -> Element {
    if request.get_attr("type") == Some("get") && request.children().any(|c| c.is("ping", NS_PING))
    {
        iq_result(request, None)
    } else {
        iq_error(
            request,
            StanzaCondition::ServiceUnavailable,
            ErrorType::Cancel,
            None,
        )
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use xmpp::{Limits, StreamEvent, StreamReader};

    /// Parses one stanza as it would come off the stream.
    pub(in crate::load::rayo) fn parse(xml: &str) -> Element {
        let mut reader = StreamReader::new(Limits::default(), "jabber:client");
        let header = "<stream:stream xmlns='jabber:client' \
                      xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>";
        reader.feed(header.as_bytes()).expect("header");
        reader.feed(xml.as_bytes()).expect("stanza");
        loop {
            match reader.next_event().expect("well-formed") {
                Some(StreamEvent::Stanza(stanza)) => return stanza,
                Some(_) => continue,
                None => panic!("no stanza in {xml}"),
            }
        }
    }

    #[test]
    fn an_offer_names_the_bare_call_jid() {
        let offer = parse(
            "<presence from='9f00061@rayo.test' to='usera@rayo.test/app1'>\
               <c xmlns='http://jabber.org/protocol/caps' hash='sha-1' \
                  node='urn:xmpp:rayo:call:1' ver='x'/>\
               <offer xmlns='urn:xmpp:rayo:1' to='sip:1000@rayo.test' from='sip:a@10.0.0.5'>\
                 <header name='X-Customer' value='8877'/><header name='Call-ID' value='ab7@h'/></offer>\
               <delay xmlns='urn:xmpp:delay' stamp='2024-01-01T00:00:00Z'/></presence>",
        );
        let call = "9f00061@rayo.test".to_owned();
        let sip_call_id = Some("ab7@h".to_owned());
        assert_eq!(classify(&offer), Inbound::Offer { call, sip_call_id });
        // The wiki's resource on the call JID is not part of the call.
        let wiki = parse(
            "<presence from='9f00061@call.rayo.test/1'><offer xmlns='urn:xmpp:rayo:1' to='sip:x@y'/></presence>",
        );
        let call = "9f00061@call.rayo.test".to_owned();
        let sip_call_id = None;
        assert_eq!(classify(&wiki), Inbound::Offer { call, sip_call_id });
    }

    #[test]
    fn what_is_not_an_offer() {
        for xml in [
            // From the server, not a call.
            "<presence from='rayo.test'><offer xmlns='urn:xmpp:rayo:1'/></presence>",
            // Another namespace.
            "<presence from='c@rayo.test'><offer xmlns='urn:xmpp:ozone:1'/></presence>",
            // No Rayo child at all.
            "<presence from='c@rayo.test'><show>chat</show></presence>",
        ] {
            assert_eq!(classify(&parse(xml)), Inbound::Other, "{xml}");
        }
        let bounced =
            "<presence from='c@rayo.test' type='error'><offer xmlns='urn:xmpp:rayo:1'/></presence>";
        assert_eq!(classify(&parse(bounced)), Inbound::CallEvent);
        let ringing = "<presence from='c@rayo.test'><ringing xmlns='urn:xmpp:rayo:1'/></presence>";
        assert_eq!(classify(&parse(ringing)), Inbound::CallEvent);
        let complete = "<presence from='c@rayo.test/output-1' type='unavailable'>\
                        <complete xmlns='urn:xmpp:rayo:ext:1'><finish xmlns='urn:xmpp:rayo:output:complete:1'/></complete></presence>";
        assert!(matches!(
            classify(&parse(complete)),
            Inbound::Complete { component, completion }
                if component == "c@rayo.test/output-1" && completion.reason == "finish"
        ));
    }

    #[test]
    fn an_end_gives_its_reason_and_platform_code() {
        let end = parse(
            "<presence from='9f00061@rayo.test' to='usera@rayo.test/app1' type='unavailable'>\
               <end xmlns='urn:xmpp:rayo:1'><hungup platform-code='16'/>\
                 <header name='X-Why' value='x'/></end></presence>",
        );
        assert_eq!(
            classify(&end),
            Inbound::End {
                call: "9f00061@rayo.test".into(),
                reason: "hungup".into(),
                platform_code: Some("16".into()),
            }
        );
        // Wiki dialect: available presence, legacy reason, no code.
        let wiki = parse(
            "<presence from='c1@rayo.test'><end xmlns='urn:xmpp:rayo:1'><hangup/></end></presence>",
        );
        assert_eq!(
            classify(&wiki),
            Inbound::End {
                call: "c1@rayo.test".into(),
                reason: "hangup".into(),
                platform_code: None,
            }
        );
        let empty =
            parse("<presence from='c1@rayo.test'><end xmlns='urn:xmpp:rayo:1'/></presence>");
        assert!(matches!(classify(&empty), Inbound::End { reason, .. } if reason.is_empty()));
    }

    #[test]
    fn iq_results_and_errors_carry_their_id() {
        let result = parse("<iq type='result' id='a7' from='c1@rayo.test' to='u@rayo.test/r'/>");
        assert_eq!(
            classify(&result),
            Inbound::Result {
                id: "a7".into(),
                reference: None
            }
        );
        let started = parse(
            "<iq type='result' id='a8' from='c1@rayo.test'>\
             <ref xmlns='urn:xmpp:rayo:1' uri='xmpp:c1@rayo.test/o1'/></iq>",
        );
        assert_eq!(
            classify(&started),
            Inbound::Result {
                id: "a8".into(),
                reference: Some("c1@rayo.test/o1".into())
            }
        );
        let error = parse(
            "<iq type='error' id='a8' from='c1@rayo.test'><answer xmlns='urn:xmpp:rayo:1'/>\
               <error type='cancel'><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>gone</text>\
                 <item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>",
        );
        assert_eq!(
            classify(&error),
            Inbound::Error {
                id: "a8".into(),
                condition: "item-not-found".into()
            }
        );
        let bare = parse("<iq type='error' id='a9'/>");
        assert_eq!(
            classify(&bare),
            Inbound::Error {
                id: "a9".into(),
                condition: "undefined-condition".into()
            }
        );
    }

    #[test]
    fn requests_from_the_server_are_answered() {
        let ping = parse("<iq type='get' id='p1' from='rayo.test' to='u@rayo.test/r'><ping xmlns='urn:xmpp:ping'/></iq>");
        assert_eq!(classify(&ping), Inbound::Request);
        let pong = reply(&ping);
        assert_eq!(pong.get_attr("type"), Some("result"));
        assert_eq!(pong.get_attr("id"), Some("p1"));
        assert_eq!(pong.get_attr("to"), Some("rayo.test"));
        let query = parse(
            "<iq type='get' id='q1' from='rayo.test'><query xmlns='jabber:iq:version'/></iq>",
        );
        let refusal = reply(&query);
        assert_eq!(refusal.get_attr("type"), Some("error"));
        assert_eq!(
            classify(&refusal),
            Inbound::Error {
                id: "q1".into(),
                condition: "service-unavailable".into()
            }
        );
    }

    #[test]
    fn commands_and_presence_are_what_the_wire_expects() {
        let answer = command("a1", "c1@rayo.test", "answer");
        assert_eq!(
            answer.to_xml("jabber:client"),
            "<iq type='set' id='a1' to='c1@rayo.test'><answer xmlns='urn:xmpp:rayo:1'/></iq>"
        );
        let chat = chat_presence("rayo.test").to_xml("jabber:client");
        assert_eq!(
            chat,
            "<presence to='rayo.test'><show>chat</show></presence>"
        );
        assert_eq!(bare_call_jid("rayo.test/x"), None);
        assert_eq!(bare_call_jid("@rayo.test"), None);
        assert_eq!(bare_call_jid("c@"), None);
    }
}
