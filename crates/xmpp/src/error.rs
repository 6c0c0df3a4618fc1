//! Stream errors (RFC 6120 §4.9) and stanza errors (§8.3): the conditions,
//! and the elements that carry them to the peer.
//!
//! A stream error ends the stream; a stanza error answers one stanza and
//! the stream goes on. The IQ helpers here build the replies every IQ
//! `get`/`set` must get exactly one of: a `result` or an `error` that echoes
//! the request's child, addressed back to the sender.

use crate::element::Element;

/// The stream namespace (`stream:` prefix).
pub const NS_STREAMS: &str = "http://etherx.jabber.org/streams";
/// Namespace of stream error conditions.
pub const NS_STREAM_ERRORS: &str = "urn:ietf:params:xml:ns:xmpp-streams";
/// Namespace of stanza error conditions.
pub const NS_STANZA_ERRORS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";

macro_rules! conditions {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
        }

        impl $name {
            /// The condition's element name on the wire.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }

            /// The condition named `text` on the wire, if it is one we know.
            pub fn from_name(text: &str) -> Option<$name> {
                match text {
                    $($text => Some($name::$variant),)*
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

conditions! {
    /// A stream error condition (RFC 6120 §4.9.3); sending one closes the stream.
    StreamError {
        /// XML that is well-formed but not acceptable (e.g. bad attribute).
        BadFormat => "bad-format",
        /// A newer session with the same full JID replaced this one.
        Conflict => "conflict",
        /// The peer was idle or too slow to authenticate.
        ConnectionTimeout => "connection-timeout",
        /// The `to` of the stream header is not a domain we serve.
        HostUnknown => "host-unknown",
        /// The server hit an unexpected condition.
        InternalServerError => "internal-server-error",
        /// A stanza's `from` does not match the session.
        InvalidFrom => "invalid-from",
        /// Wrong stream or content namespace.
        InvalidNamespace => "invalid-namespace",
        /// A stanza before authentication, or after a failed one.
        NotAuthorized => "not-authorized",
        /// The XML is not well-formed.
        NotWellFormed => "not-well-formed",
        /// A local limit (size, depth, attributes, rate) was exceeded.
        PolicyViolation => "policy-violation",
        /// The server is out of resources for this stream.
        ResourceConstraint => "resource-constraint",
        /// Comments, processing instructions, DTDs or entity references.
        RestrictedXml => "restricted-xml",
        /// The server is shutting down.
        SystemShutdown => "system-shutdown",
        /// None of the defined conditions fits.
        UndefinedCondition => "undefined-condition",
        /// A stanza kind other than iq, presence and message.
        UnsupportedStanzaType => "unsupported-stanza-type",
        /// The stream header's version is not 1.0.
        UnsupportedVersion => "unsupported-version",
    }
}

impl StreamError {
    /// The `<stream:error>` element with this condition and optional text.
    pub fn to_element(self, text: Option<&str>) -> Element {
        let mut error =
            Element::new("error", NS_STREAMS).child(Element::new(self.as_str(), NS_STREAM_ERRORS));
        if let Some(text) = text {
            error.push(Element::new("text", NS_STREAM_ERRORS).text(text));
        }
        error
    }

    /// The condition carried by a received `<stream:error>` element.
    pub fn from_element(error: &Element) -> Option<StreamError> {
        error
            .children()
            .filter(|c| c.ns() == NS_STREAM_ERRORS && c.name() != "text")
            .find_map(|c| StreamError::from_name(c.name()))
    }

    /// The bytes to send: the error, then the close of our stream.
    pub fn to_wire(self, text: Option<&str>) -> String {
        let mut out = String::new();
        write_stream_child(&mut out, &self.to_element(text));
        out.push_str("</stream:stream>");
        out
    }
}

/// Writes a child of the stream root, using the `stream:` prefix for
/// elements in the stream namespace (`features`, `error`), as peers expect.
pub fn write_stream_child(out: &mut String, element: &Element) {
    if element.ns() == NS_STREAMS {
        out.push_str("<stream:");
        out.push_str(element.name());
        for (name, value) in element.attrs() {
            out.push(' ');
            out.push_str(name);
            out.push_str("='");
            crate::element::escape_into(out, value);
            out.push('\'');
        }
        out.push('>');
        for node in element.nodes() {
            match node {
                // Children of stream:features / stream:error are in their own namespaces.
                crate::element::Node::Element(child) => child.write_xml(out, NS_STREAMS),
                crate::element::Node::Text(text) => crate::element::escape_into(out, text),
            }
        }
        out.push_str("</stream:");
        out.push_str(element.name());
        out.push('>');
    } else {
        element.write_xml(out, "jabber:client");
    }
}

conditions! {
    /// A stanza error condition (RFC 6120 §8.3.3).
    StanzaCondition {
        /// The request is malformed or not understood.
        BadRequest => "bad-request",
        /// It conflicts with existing state (e.g. a resource in use).
        Conflict => "conflict",
        /// The feature is not implemented by the recipient.
        FeatureNotImplemented => "feature-not-implemented",
        /// The sender may not do this.
        Forbidden => "forbidden",
        /// The recipient is gone.
        Gone => "gone",
        /// The server hit an unexpected condition.
        InternalServerError => "internal-server-error",
        /// The addressed entity or item does not exist.
        ItemNotFound => "item-not-found",
        /// An address is not a valid JID.
        JidMalformed => "jid-malformed",
        /// The request is refused by local policy.
        NotAcceptable => "not-acceptable",
        /// The action is not allowed for anyone.
        NotAllowed => "not-allowed",
        /// The sender must authenticate first.
        NotAuthorized => "not-authorized",
        /// Local policy (e.g. a limit) prevents it.
        PolicyViolation => "policy-violation",
        /// The intended recipient is not available.
        RecipientUnavailable => "recipient-unavailable",
        /// The entity is being redirected.
        Redirect => "redirect",
        /// Registration is needed first.
        RegistrationRequired => "registration-required",
        /// The remote server does not exist.
        RemoteServerNotFound => "remote-server-not-found",
        /// The remote server did not answer in time.
        RemoteServerTimeout => "remote-server-timeout",
        /// Out of resources to serve the request.
        ResourceConstraint => "resource-constraint",
        /// The service is not offered.
        ServiceUnavailable => "service-unavailable",
        /// A subscription is needed first.
        SubscriptionRequired => "subscription-required",
        /// None of the defined conditions fits.
        UndefinedCondition => "undefined-condition",
        /// Right request, wrong moment.
        UnexpectedRequest => "unexpected-request",
    }
}

/// The `type` of a stanza error: what the sender should do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorType {
    /// Retry after providing credentials.
    Auth,
    /// Do not retry.
    Cancel,
    /// Proceed; this was a warning.
    Continue,
    /// Retry after changing the data sent.
    Modify,
    /// Retry later.
    Wait,
}

impl ErrorType {
    /// The `type` attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::Auth => "auth",
            ErrorType::Cancel => "cancel",
            ErrorType::Continue => "continue",
            ErrorType::Modify => "modify",
            ErrorType::Wait => "wait",
        }
    }
}

fn reply_to(request: &Element, kind: &str) -> Element {
    let mut reply = Element::new(request.name(), request.ns()).attr("type", kind);
    if let Some(id) = request.get_attr("id") {
        reply.set_attr("id", id);
    }
    if let Some(from) = request.get_attr("from") {
        reply.set_attr("to", from);
    }
    if let Some(to) = request.get_attr("to") {
        reply.set_attr("from", to);
    }
    reply
}

/// The `result` answering IQ `request`, with an optional payload child;
/// `to`/`from` are the request's swapped and the `id` is kept.
pub fn iq_result(request: &Element, payload: Option<Element>) -> Element {
    let mut reply = reply_to(request, "result");
    if let Some(payload) = payload {
        reply.push(payload);
    }
    reply
}

/// The error answering `request` (an IQ, or any stanza): echoes the
/// request's first child, then `<error type=…><condition/><text/>`.
pub fn iq_error(
    request: &Element,
    condition: StanzaCondition,
    kind: ErrorType,
    text: Option<&str>,
) -> Element {
    let mut reply = reply_to(request, "error");
    if let Some(child) = request.first_child() {
        reply.push(child.clone());
    }
    reply.push(stanza_error(condition, kind, text));
    reply
}

/// The `<error>` child alone (for stanzas other than IQs).
pub fn stanza_error(condition: StanzaCondition, kind: ErrorType, text: Option<&str>) -> Element {
    let mut error = Element::new("error", "jabber:client")
        .attr("type", kind.as_str())
        .child(Element::new(condition.as_str(), NS_STANZA_ERRORS));
    if let Some(text) = text {
        error.push(
            Element::new("text", NS_STANZA_ERRORS)
                .attr("xml:lang", "en")
                .text(text),
        );
    }
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_error_wire_form() {
        assert_eq!(
            StreamError::Conflict.to_wire(Some("replaced")),
            "<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>\
             <text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>replaced</text></stream:error></stream:stream>"
        );
        let parsed = StreamError::NotWellFormed.to_element(None);
        assert_eq!(
            StreamError::from_element(&parsed),
            Some(StreamError::NotWellFormed)
        );
    }

    #[test]
    fn iq_error_echoes_the_child_and_swaps_addresses() {
        let request = Element::new("iq", "jabber:client")
            .attr("type", "set")
            .attr("id", "7")
            .attr("from", "u@d/r")
            .attr("to", "c1@d")
            .child(Element::new("answer", "urn:xmpp:rayo:1"));
        let error = iq_error(
            &request,
            StanzaCondition::ItemNotFound,
            ErrorType::Cancel,
            Some("gone"),
        );
        assert_eq!(
            error.to_xml("jabber:client"),
            "<iq type='error' id='7' to='u@d/r' from='c1@d'><answer xmlns='urn:xmpp:rayo:1'/>\
             <error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>\
             <text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>gone</text></error></iq>"
        );
        let result = iq_result(&request, None);
        assert_eq!(
            result.to_xml("jabber:client"),
            "<iq type='result' id='7' to='u@d/r' from='c1@d'/>"
        );
    }
}
