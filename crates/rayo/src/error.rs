//! Stanza errors as values: what the adapter puts in an `<iq type='error'>`
//! when a command cannot be parsed or carried out.
//!
//! Conditions and types follow XEP-0327's table (RAYO.md §3.7), not
//! mod_rayo's fixed per-condition types. The `<error>` is rendered here so
//! that this crate stays independent of the `xmpp` crate's IQ builders.

use std::fmt;

use xmpp::Element;

use crate::ns;

/// RFC 6120 §8.3.3 defined conditions a Rayo server answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StanzaErrorCondition {
    /// Malformed command: missing or invalid attribute, bad URI or number.
    BadRequest,
    /// Command from a party that does not control the entity, or a
    /// resource (dial `uri`, join) already taken.
    Conflict,
    /// A command, component or option value this server does not support.
    FeatureNotImplemented,
    /// The call, mixer or component never existed or has ended.
    ItemNotFound,
    /// Something the server could not do for reasons of its own.
    InternalServerError,
    /// The addressed JID is not a valid JID.
    JidMalformed,
    /// Not allowed in this state or security zone (reject after accept).
    NotAllowed,
    /// The client is not authorised for this command.
    NotAuthorized,
    /// The client must register first (dial from an unknown client).
    RegistrationRequired,
    /// Not enough resources right now (dial, join, component).
    ResourceConstraint,
    /// The service or the named target is not available (join target gone).
    ServiceUnavailable,
    /// The command is valid but not at this stage of the call.
    UnexpectedRequest,
}

impl StanzaErrorCondition {
    /// Element name of the condition (`bad-request`).
    pub fn name(self) -> &'static str {
        match self {
            StanzaErrorCondition::BadRequest => "bad-request",
            StanzaErrorCondition::Conflict => "conflict",
            StanzaErrorCondition::FeatureNotImplemented => "feature-not-implemented",
            StanzaErrorCondition::ItemNotFound => "item-not-found",
            StanzaErrorCondition::InternalServerError => "internal-server-error",
            StanzaErrorCondition::JidMalformed => "jid-malformed",
            StanzaErrorCondition::NotAllowed => "not-allowed",
            StanzaErrorCondition::NotAuthorized => "not-authorized",
            StanzaErrorCondition::RegistrationRequired => "registration-required",
            StanzaErrorCondition::ResourceConstraint => "resource-constraint",
            StanzaErrorCondition::ServiceUnavailable => "service-unavailable",
            StanzaErrorCondition::UnexpectedRequest => "unexpected-request",
        }
    }

    /// The type XEP-0327 gives this condition where it says one (RAYO.md
    /// §3.7); a caller that needs another (dial `uri` in use → `conflict`
    /// modify) builds the error with [`CommandError::new`].
    pub fn default_type(self) -> ErrorType {
        match self {
            StanzaErrorCondition::BadRequest | StanzaErrorCondition::JidMalformed => {
                ErrorType::Modify
            }
            StanzaErrorCondition::ResourceConstraint
            | StanzaErrorCondition::UnexpectedRequest
            | StanzaErrorCondition::InternalServerError => ErrorType::Wait,
            StanzaErrorCondition::NotAuthorized | StanzaErrorCondition::RegistrationRequired => {
                ErrorType::Auth
            }
            StanzaErrorCondition::Conflict
            | StanzaErrorCondition::FeatureNotImplemented
            | StanzaErrorCondition::ItemNotFound
            | StanzaErrorCondition::NotAllowed
            | StanzaErrorCondition::ServiceUnavailable => ErrorType::Cancel,
        }
    }
}

impl fmt::Display for StanzaErrorCondition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// RFC 6120 §8.3.2 error type: what the client should do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorType {
    /// Retry after providing credentials.
    Auth,
    /// Do not retry.
    Cancel,
    /// Proceed; the condition was only a warning.
    Continue,
    /// Retry after changing the data sent.
    Modify,
    /// Retry after waiting.
    Wait,
}

impl ErrorType {
    /// Value of the `type` attribute (`modify`).
    pub fn name(self) -> &'static str {
        match self {
            ErrorType::Auth => "auth",
            ErrorType::Cancel => "cancel",
            ErrorType::Continue => "continue",
            ErrorType::Modify => "modify",
            ErrorType::Wait => "wait",
        }
    }
}

/// Why a command was refused: condition, type and a human-readable text,
/// everything the adapter needs to answer the IQ.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{condition} ({}): {text}", kind.name())]
pub struct CommandError {
    /// The defined condition.
    pub condition: StanzaErrorCondition,
    /// The error type (`cancel`, `modify`, `wait`, `auth`).
    pub kind: ErrorType,
    /// Explanation for the client's log, in English.
    pub text: String,
}

impl CommandError {
    /// An error with an explicit type.
    pub fn new(condition: StanzaErrorCondition, kind: ErrorType, text: impl Into<String>) -> Self {
        CommandError {
            condition,
            kind,
            text: text.into(),
        }
    }

    /// An error with the condition's XEP-0327 type.
    pub fn of(condition: StanzaErrorCondition, text: impl Into<String>) -> Self {
        CommandError::new(condition, condition.default_type(), text)
    }

    /// `bad-request` (modify): the command is malformed.
    pub fn bad_request(text: impl Into<String>) -> Self {
        CommandError::of(StanzaErrorCondition::BadRequest, text)
    }

    /// `feature-not-implemented` (cancel): an unsupported command or component.
    pub fn not_implemented(text: impl Into<String>) -> Self {
        CommandError::of(StanzaErrorCondition::FeatureNotImplemented, text)
    }

    /// `feature-not-implemented` (modify): a supported command with an
    /// option value this server does not support (join `media='direct'`).
    pub fn unsupported_option(text: impl Into<String>) -> Self {
        CommandError::new(
            StanzaErrorCondition::FeatureNotImplemented,
            ErrorType::Modify,
            text,
        )
    }

    /// `item-not-found` (cancel): the entity never existed or is gone.
    pub fn item_not_found(text: impl Into<String>) -> Self {
        CommandError::of(StanzaErrorCondition::ItemNotFound, text)
    }

    /// The `<error>` element for this error (see [`error_element`]).
    pub fn to_element(&self, stanza_ns: &str) -> Element {
        error_element(stanza_ns, self.condition, self.kind, Some(&self.text))
    }
}

/// `<error type='…'><condition xmlns='…stanzas'/><text …>…</text></error>`,
/// in `stanza_ns` (`jabber:client` on a c2s stream) so that it serialises
/// without an `xmlns` inside the IQ. An empty or absent text is left out.
pub fn error_element(
    stanza_ns: &str,
    condition: StanzaErrorCondition,
    kind: ErrorType,
    text: Option<&str>,
) -> Element {
    let mut error = Element::new("error", stanza_ns)
        .attr("type", kind.name())
        .child(Element::new(condition.name(), ns::STANZAS));
    if let Some(text) = text.filter(|t| !t.is_empty()) {
        error.push(
            Element::new("text", ns::STANZAS)
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
    fn renders_condition_type_and_text() {
        let e = CommandError::bad_request("redirect needs a 'to'");
        assert_eq!(
            e.to_element("jabber:client").to_xml("jabber:client"),
            "<error type='modify'><bad-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>\
             <text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>redirect needs a &apos;to&apos;</text></error>"
        );
        assert_eq!(e.to_string(), "bad-request (modify): redirect needs a 'to'");
    }

    #[test]
    fn empty_text_is_left_out() {
        let e = error_element(
            "jabber:client",
            StanzaErrorCondition::ItemNotFound,
            ErrorType::Cancel,
            Some(""),
        );
        assert_eq!(
            e.to_xml("jabber:client"),
            "<error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>"
        );
    }

    #[test]
    fn types_follow_the_xep_table() {
        use StanzaErrorCondition::*;
        let expected = [
            (ItemNotFound, "cancel"),
            (BadRequest, "modify"),
            (Conflict, "cancel"),
            (UnexpectedRequest, "wait"),
            (ServiceUnavailable, "cancel"),
            (NotAllowed, "cancel"),
            (FeatureNotImplemented, "cancel"),
            (ResourceConstraint, "wait"),
            (RegistrationRequired, "auth"),
            (NotAuthorized, "auth"),
        ];
        for (condition, kind) in expected {
            assert_eq!(condition.default_type().name(), kind, "{condition}");
        }
        assert_eq!(
            CommandError::unsupported_option("direct media").kind,
            ErrorType::Modify
        );
    }
}
