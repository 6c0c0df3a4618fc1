//! SIP request methods.

use std::fmt;

/// A SIP request method. Methods are case-sensitive (RFC 3261 §7.1); anything
/// not listed is kept verbatim as [`Method::Extension`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    /// Starts a session (RFC 3261).
    Invite,
    /// Acknowledges a final response to INVITE.
    Ack,
    /// Ends a dialog.
    Bye,
    /// Cancels a pending INVITE.
    Cancel,
    /// Capability query / keep-alive.
    Options,
    /// Binds an address of record to a contact.
    Register,
    /// Mid-dialog information (RFC 6086).
    Info,
    /// Session update without a re-INVITE (RFC 3311).
    Update,
    /// Reliable provisional acknowledgement (RFC 3262).
    Prack,
    /// Event subscription (RFC 6665).
    Subscribe,
    /// Event notification (RFC 6665).
    Notify,
    /// Call transfer (RFC 3515).
    Refer,
    /// Instant message (RFC 3428).
    Message,
    /// Event publication (RFC 3903).
    Publish,
    /// Any other token, kept as written.
    Extension(String),
}

impl Method {
    /// Maps a method token to a method; unknown tokens become [`Method::Extension`].
    pub fn from_token(token: &str) -> Method {
        match token {
            "INVITE" => Method::Invite,
            "ACK" => Method::Ack,
            "BYE" => Method::Bye,
            "CANCEL" => Method::Cancel,
            "OPTIONS" => Method::Options,
            "REGISTER" => Method::Register,
            "INFO" => Method::Info,
            "UPDATE" => Method::Update,
            "PRACK" => Method::Prack,
            "SUBSCRIBE" => Method::Subscribe,
            "NOTIFY" => Method::Notify,
            "REFER" => Method::Refer,
            "MESSAGE" => Method::Message,
            "PUBLISH" => Method::Publish,
            other => Method::Extension(other.to_string()),
        }
    }

    /// The method token as it appears on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Options => "OPTIONS",
            Method::Register => "REGISTER",
            Method::Info => "INFO",
            Method::Update => "UPDATE",
            Method::Prack => "PRACK",
            Method::Subscribe => "SUBSCRIBE",
            Method::Notify => "NOTIFY",
            Method::Refer => "REFER",
            Method::Message => "MESSAGE",
            Method::Publish => "PUBLISH",
            Method::Extension(s) => s,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
