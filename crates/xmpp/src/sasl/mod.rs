//! SASL (RFC 4422) as XMPP uses it (RFC 6120 §6): PLAIN (RFC 4616) and
//! SCRAM-SHA-1 / SCRAM-SHA-256 (RFC 5802, RFC 7677), server and client side.
//!
//! Only the mechanisms' message logic lives here; the `<auth>`,
//! `<challenge>`, `<response>`, `<success>` and `<failure>` elements and
//! their base64 are handled by the stream machines.

pub mod plain;
pub mod scram;

use crate::element::Element;

/// The SASL namespace.
pub const NS_SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";

/// A mechanism we implement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mechanism {
    /// RFC 4616; the password travels in the clear, so only over TLS.
    Plain,
    /// RFC 5802 with SHA-1.
    ScramSha1,
    /// RFC 7677.
    ScramSha256,
}

impl Mechanism {
    /// The IANA mechanism name.
    pub fn as_str(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::ScramSha1 => "SCRAM-SHA-1",
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
        }
    }

    /// The mechanism called `name`, if we implement it.
    pub fn from_name(name: &str) -> Option<Mechanism> {
        match name {
            "PLAIN" => Some(Mechanism::Plain),
            "SCRAM-SHA-1" => Some(Mechanism::ScramSha1),
            "SCRAM-SHA-256" => Some(Mechanism::ScramSha256),
            _ => None,
        }
    }
}

/// Why an authentication exchange failed; each maps to the `<failure>`
/// condition of RFC 6120 §6.5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SaslError {
    /// The client aborted the exchange.
    #[error("aborted")]
    Aborted,
    /// The mechanism needs TLS first.
    #[error("encryption required")]
    EncryptionRequired,
    /// Bad base64 in `<auth>` or `<response>`.
    #[error("incorrect encoding")]
    IncorrectEncoding,
    /// An authorization identity other than the user's own.
    #[error("invalid authzid")]
    InvalidAuthzid,
    /// A mechanism not offered.
    #[error("invalid mechanism")]
    InvalidMechanism,
    /// A message that does not follow the mechanism.
    #[error("malformed request")]
    MalformedRequest,
    /// Wrong credentials (or unknown user: we do not tell which).
    #[error("not authorized")]
    NotAuthorized,
}

impl SaslError {
    /// The condition element's name.
    pub fn condition(self) -> &'static str {
        match self {
            SaslError::Aborted => "aborted",
            SaslError::EncryptionRequired => "encryption-required",
            SaslError::IncorrectEncoding => "incorrect-encoding",
            SaslError::InvalidAuthzid => "invalid-authzid",
            SaslError::InvalidMechanism => "invalid-mechanism",
            SaslError::MalformedRequest => "malformed-request",
            SaslError::NotAuthorized => "not-authorized",
        }
    }

    /// The `<failure>` element to send.
    pub fn to_failure(self) -> Element {
        Element::new("failure", NS_SASL).child(Element::new(self.condition(), NS_SASL))
    }
}

/// Decodes the base64 text of `<auth>`/`<response>` (`=` means empty).
pub fn decode_payload(text: &str) -> Result<Vec<u8>, SaslError> {
    use base64::Engine as _;
    let text = text.trim();
    if text.is_empty() || text == "=" {
        return Ok(Vec::new());
    }
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| SaslError::IncorrectEncoding)
}

/// Encodes a SASL payload as element text (`=` for an empty one).
pub fn encode_payload(bytes: &[u8]) -> String {
    use base64::Engine as _;
    if bytes.is_empty() {
        return "=".to_owned();
    }
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Fills `out` from the operating system's random source; a failure
/// there is not recoverable for a server that must make nonces.
pub(crate) fn random_bytes(out: &mut [u8]) {
    if getrandom::fill(out).is_err() {
        // No OS randomness: fall back to a time- and address-seeded mix rather than abort.
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default() as u64
            ^ (out.as_ptr() as u64);
        let mut x = seed | 1;
        for b in out.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
    }
}

/// A random printable token (for nonces, stream ids, resources).
pub fn random_token(bytes: usize) -> String {
    use base64::Engine as _;
    let mut raw = vec![0u8; bytes];
    random_bytes(&mut raw);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}
