//! Stanza errors as values: what the adapter puts in an `<iq type='error'>`
//! when a command cannot be parsed or carried out.
//!
//! Conditions and types follow XEP-0327's table (RAYO.md §3.7), not
//! mod_rayo's fixed per-condition types. The conditions, types and the
//! rendering are the `xmpp` crate's; this module adds only the XEP's choice
//! of type per condition.

use xmpp::error::stanza_error;
use xmpp::Element;
pub use xmpp::{ErrorType, StanzaCondition};

/// The type XEP-0327 gives `condition` where it says one (RAYO.md §3.7);
/// a caller that needs another (dial `uri` in use → `conflict` modify)
/// builds the error with [`CommandError::new`].
pub fn xep_error_type(condition: StanzaCondition) -> ErrorType {
    use StanzaCondition as C;
    match condition {
        C::BadRequest | C::JidMalformed | C::NotAcceptable => ErrorType::Modify,
        C::ResourceConstraint
        | C::UnexpectedRequest
        | C::InternalServerError
        | C::RecipientUnavailable
        | C::RemoteServerTimeout => ErrorType::Wait,
        C::NotAuthorized | C::RegistrationRequired | C::SubscriptionRequired => ErrorType::Auth,
        _ => ErrorType::Cancel,
    }
}

/// Why a command was refused: condition, type and a human-readable text,
/// everything the adapter needs to answer the IQ.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{condition} ({}): {text}", kind.as_str())]
pub struct CommandError {
    /// The defined condition.
    pub condition: StanzaCondition,
    /// The error type (`cancel`, `modify`, `wait`, `auth`).
    pub kind: ErrorType,
    /// Explanation for the client's log, in English.
    pub text: String,
}

impl CommandError {
    /// An error with an explicit type.
    pub fn new(condition: StanzaCondition, kind: ErrorType, text: impl Into<String>) -> Self {
        CommandError {
            condition,
            kind,
            text: text.into(),
        }
    }

    /// An error with the condition's XEP-0327 type.
    pub fn of(condition: StanzaCondition, text: impl Into<String>) -> Self {
        CommandError::new(condition, xep_error_type(condition), text)
    }

    /// `bad-request` (modify): the command is malformed.
    pub fn bad_request(text: impl Into<String>) -> Self {
        CommandError::of(StanzaCondition::BadRequest, text)
    }

    /// `feature-not-implemented` (cancel): an unsupported command or component.
    pub fn not_implemented(text: impl Into<String>) -> Self {
        CommandError::of(StanzaCondition::FeatureNotImplemented, text)
    }

    /// `feature-not-implemented` (modify): a supported command with an
    /// option value this server does not support (join `media='direct'`).
    pub fn unsupported_option(text: impl Into<String>) -> Self {
        CommandError::new(
            StanzaCondition::FeatureNotImplemented,
            ErrorType::Modify,
            text,
        )
    }

    /// `item-not-found` (cancel): the entity never existed or is gone.
    pub fn item_not_found(text: impl Into<String>) -> Self {
        CommandError::of(StanzaCondition::ItemNotFound, text)
    }

    /// The `<error>` child of the IQ error answering the command (an empty
    /// text is left out).
    pub fn to_element(&self) -> Element {
        stanza_error(
            self.condition,
            self.kind,
            Some(self.text.as_str()).filter(|t| !t.is_empty()),
        )
    }

    /// The whole IQ error answering `iq`: addresses swapped, id kept,
    /// payload echoed (RFC 6120 §8.2).
    pub fn reply_to(&self, iq: &Element) -> Element {
        xmpp::iq_error(
            iq,
            self.condition,
            self.kind,
            Some(self.text.as_str()).filter(|t| !t.is_empty()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_condition_type_and_text() {
        let e = CommandError::bad_request("redirect needs a 'to'");
        assert_eq!(
            e.to_element().to_xml("jabber:client"),
            "<error type='modify'><bad-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>\
             <text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>redirect needs a &apos;to&apos;</text></error>"
        );
        assert_eq!(e.to_string(), "bad-request (modify): redirect needs a 'to'");
    }

    #[test]
    fn empty_text_is_left_out() {
        let e =
            CommandError::new(StanzaCondition::ItemNotFound, ErrorType::Cancel, "").to_element();
        assert_eq!(
            e.to_xml("jabber:client"),
            "<error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>"
        );
    }

    #[test]
    fn types_follow_the_xep_table() {
        use StanzaCondition::*;
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
            assert_eq!(xep_error_type(condition).as_str(), kind, "{condition}");
        }
        assert_eq!(
            CommandError::unsupported_option("direct media").kind,
            ErrorType::Modify
        );
    }
}
