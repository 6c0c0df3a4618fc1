//! IQs the stream answers itself once bound (RFC 6120 session, roster
//! get, XEP-0199 ping, XEP-0030 disco#info on the domain), so the adapter
//! above only sees what it routes.

use crate::element::Element;
use crate::error::{iq_error, iq_result, ErrorType, StanzaCondition};
use crate::jid::{FullJid, Jid};

/// Legacy session establishment (RFC 3921), advertised as optional.
pub const NS_SESSION: &str = "urn:ietf:params:xml:ns:xmpp-session";
/// Resource binding.
pub const NS_BIND: &str = "urn:ietf:params:xml:ns:xmpp-bind";
/// Roster.
pub const NS_ROSTER: &str = "jabber:iq:roster";
/// XEP-0199 ping.
pub const NS_PING: &str = "urn:xmpp:ping";
/// XEP-0030 disco#info.
pub const NS_DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";

/// The reply to `iq` if the stream answers it itself, else None.
pub fn answer(iq: &Element, domain: &str, jid: &FullJid, features: &[String]) -> Option<Element> {
    if iq.name() != "iq" || !matches!(iq.get_attr("type"), Some("get" | "set")) {
        return None;
    }
    let to = match iq.get_attr("to") {
        None => None,
        Some(to) => Some(Jid::parse(to).ok()?),
    };
    let to_domain = to
        .as_ref()
        .is_none_or(|to| to.node().is_none() && to.is_bare() && to.domain() == domain);
    let to_self = to.as_ref().is_none_or(|to| *to == jid.to_bare());
    let child = iq.first_child()?;
    let get = iq.get_attr("type") == Some("get");
    if child.is("session", NS_SESSION) && to_domain {
        return Some(iq_result(iq, None));
    }
    if child.is("bind", NS_BIND) {
        return Some(iq_error(
            iq,
            StanzaCondition::NotAllowed,
            ErrorType::Cancel,
            Some("already bound"),
        ));
    }
    if child.is("ping", NS_PING) && get && to_domain {
        return Some(iq_result(iq, None));
    }
    if child.is("query", NS_ROSTER) && to_self {
        return Some(if get {
            iq_result(iq, Some(Element::new("query", NS_ROSTER)))
        } else {
            iq_error(iq, StanzaCondition::NotAllowed, ErrorType::Cancel, None)
        });
    }
    if child.is("query", NS_DISCO_INFO) && get && to_domain && child.get_attr("node").is_none() {
        let mut query = Element::new("query", NS_DISCO_INFO).child(
            Element::new("identity", NS_DISCO_INFO)
                .attr("category", "server")
                .attr("type", "im")
                .attr("name", "Switchboard"),
        );
        let mut all = vec![NS_DISCO_INFO.to_owned(), NS_PING.to_owned()];
        all.extend(features.iter().cloned());
        for feature in all {
            query.push(Element::new("feature", NS_DISCO_INFO).attr("var", feature));
        }
        return Some(iq_result(iq, Some(query)));
    }
    None
}
