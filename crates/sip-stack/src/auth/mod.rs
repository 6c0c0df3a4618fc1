//! Digest authentication for SIP (RFC 3261 §22, RFC 2617, RFC 7616, RFC 8760).
//!
//! SIP borrowed HTTP digest: a server answers 401 (user agent server) or 407
//! (proxy) with a challenge, and the client retries with credentials hashed
//! from its password, the method and the Request-URI. The sharp edges:
//!
//! - **The method is part of the hash**, so credentials for an INVITE cannot be
//!   replayed as a BYE. ACK and CANCEL are never challenged (§22.1).
//! - **Several challenges** may arrive in one response — one per realm, and
//!   per RFC 8760 one per algorithm for the same realm (SHA-256 first, MD5 for
//!   old phones). The client answers each realm once, with the strongest
//!   algorithm it implements.
//! - **`stale=true`** tells a client its password was right and only the nonce
//!   expired: it retries silently instead of asking the user again.
//! - **Replay**: with `qop=auth` the client counts requests per nonce (`nc`);
//!   the server must refuse a count it has already seen. See [`verifier`] for
//!   how that stays bounded.
//! - `auth-int` (hashing the body) is neither offered nor accepted.
//!
//! [`digest`] holds the hash chain, [`header`] the header syntax,
//! [`DigestVerifier`] the server side and [`DigestClient`] the client side.

pub mod client;
pub mod digest;
pub mod header;
pub mod verifier;

#[cfg(test)]
mod tests;

pub use client::DigestClient;
pub use digest::{
    ha1, response_from_ha1, response_from_password, DigestAlgorithm, DigestInput, QopAuth,
};
pub use header::{DigestChallenge, DigestCredentials};
pub use verifier::{DigestRejection, DigestVerdict, DigestVerifier, DigestVerifierConfig};

/// Why an authentication header could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The header is not syntactically a challenge or credentials.
    #[error("malformed authentication header: {0}")]
    Malformed(&'static str),
    /// The scheme is not `Digest` (e.g. `Basic`, which SIP forbids).
    #[error("authentication scheme is not Digest")]
    NotDigest,
    /// The algorithm is not one this crate implements.
    #[error("unsupported digest algorithm {0}")]
    UnsupportedAlgorithm(String),
    /// A required directive is absent.
    #[error("missing {0} directive")]
    MissingDirective(&'static str),
    /// The server offers only qop values we do not implement (`auth-int`).
    #[error("no supported qop offered")]
    UnsupportedQop,
    /// The response is not a 401/407 or carries no usable Digest challenge.
    #[error("no usable digest challenge")]
    NoChallenge,
}
