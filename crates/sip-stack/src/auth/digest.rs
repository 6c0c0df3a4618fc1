//! The digest hash chain of RFC 2617 §3.2.2 and RFC 7616 §3.4.
//!
//! ```text
//! A1 = username ":" realm ":" password        (-sess: H(A1) ":" nonce ":" cnonce)
//! A2 = method ":" digest-uri                   (qop=auth; auth-int is not offered)
//! response = H(H(A1) ":" nonce ":" nc ":" cnonce ":" qop ":" H(A2))   with qop
//! response = H(H(A1) ":" nonce ":" H(A2))                              RFC 2069, no qop
//! ```
//!
//! Every hash is rendered as lowercase hex before it is fed to the next step.

use std::fmt;

use md5::Md5;
use sha2::{Digest, Sha256};

/// A digest algorithm token (RFC 7616 §3.3, RFC 8760 for SIP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DigestAlgorithm {
    /// `MD5`, the RFC 2617 default when `algorithm` is absent.
    Md5,
    /// `MD5-sess`: H(A1) is rekeyed with the nonce and cnonce.
    Md5Sess,
    /// `SHA-256` (RFC 7616, RFC 8760).
    Sha256,
    /// `SHA-256-sess`.
    Sha256Sess,
}

impl DigestAlgorithm {
    /// Parses an `algorithm=` token (case-insensitive); `None` for algorithms we do not speak.
    pub fn from_token(token: &str) -> Option<DigestAlgorithm> {
        let token = token.trim_matches('"');
        [
            DigestAlgorithm::Md5,
            DigestAlgorithm::Md5Sess,
            DigestAlgorithm::Sha256,
            DigestAlgorithm::Sha256Sess,
        ]
        .into_iter()
        .find(|a| a.as_str().eq_ignore_ascii_case(token))
    }

    /// The token as written in headers.
    pub fn as_str(self) -> &'static str {
        match self {
            DigestAlgorithm::Md5 => "MD5",
            DigestAlgorithm::Md5Sess => "MD5-sess",
            DigestAlgorithm::Sha256 => "SHA-256",
            DigestAlgorithm::Sha256Sess => "SHA-256-sess",
        }
    }

    /// Whether this is a `-sess` variant.
    pub fn is_session(self) -> bool {
        matches!(self, DigestAlgorithm::Md5Sess | DigestAlgorithm::Sha256Sess)
    }

    /// Preference when a peer offers several challenges: stronger first.
    pub(crate) fn strength(self) -> u8 {
        match self {
            DigestAlgorithm::Md5 | DigestAlgorithm::Md5Sess => 1,
            DigestAlgorithm::Sha256 | DigestAlgorithm::Sha256Sess => 2,
        }
    }

    /// H(data) as lowercase hex.
    pub fn hash_hex(self, data: &[u8]) -> String {
        match self {
            DigestAlgorithm::Md5 | DigestAlgorithm::Md5Sess => hex(&Md5::digest(data)),
            DigestAlgorithm::Sha256 | DigestAlgorithm::Sha256Sess => hex(&Sha256::digest(data)),
        }
    }
}

impl fmt::Display for DigestAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Lowercase hex of a byte string.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    out
}

/// H(username ":" realm ":" password): what a user database may store instead
/// of the password (it is specific to one realm and one algorithm family).
pub fn ha1(algorithm: DigestAlgorithm, username: &str, realm: &str, password: &str) -> String {
    algorithm.hash_hex(format!("{username}:{realm}:{password}").as_bytes())
}

/// The `qop=auth` inputs of a response: nonce-count and client nonce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QopAuth<'a> {
    /// `nc`, eight hex digits as written (`00000001`).
    pub nc: &'a str,
    /// `cnonce`, unquoted.
    pub cnonce: &'a str,
}

/// Everything the `response` value is computed from, besides the secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigestInput<'a> {
    /// Algorithm named in the challenge.
    pub algorithm: DigestAlgorithm,
    /// Request method (`INVITE`, `REGISTER`, …; `ACK`/`CANCEL` reuse the INVITE's credentials).
    pub method: &'a str,
    /// The `uri` directive, exactly as sent.
    pub digest_uri: &'a str,
    /// Server nonce, unquoted.
    pub nonce: &'a str,
    /// `qop=auth` inputs, or `None` for the RFC 2069 form.
    pub qop: Option<QopAuth<'a>>,
}

/// Computes the `response` directive from H(A1) (see [`ha1`]).
///
/// For `-sess` algorithms the session key H(H(A1) ":" nonce ":" cnonce) is derived
/// here; RFC 7616 requires qop with `-sess`, and without it the plain form is used.
pub fn response_from_ha1(input: &DigestInput<'_>, ha1_hex: &str) -> String {
    let alg = input.algorithm;
    let key = match (alg.is_session(), input.qop) {
        (true, Some(q)) => {
            alg.hash_hex(format!("{ha1_hex}:{}:{}", input.nonce, q.cnonce).as_bytes())
        }
        _ => ha1_hex.to_string(),
    };
    let ha2 = alg.hash_hex(format!("{}:{}", input.method, input.digest_uri).as_bytes());
    let data = match input.qop {
        Some(q) => format!("{key}:{}:{}:{}:auth:{ha2}", input.nonce, q.nc, q.cnonce),
        None => format!("{key}:{}:{ha2}", input.nonce),
    };
    alg.hash_hex(data.as_bytes())
}

/// Computes the `response` directive from a plain password.
pub fn response_from_password(
    input: &DigestInput<'_>,
    username: &str,
    realm: &str,
    password: &str,
) -> String {
    response_from_ha1(input, &ha1(input.algorithm, username, realm, password))
}

/// HMAC-SHA-256 (RFC 2104), used to make server nonces tamper-evident.
pub(crate) fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block_key = [0u8; BLOCK];
    if key.len() > BLOCK {
        block_key[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block_key[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block_key.map(|b| b ^ 0x36));
    inner.update(message);
    let inner_hash = inner.finalize();
    let mut outer = Sha256::new();
    outer.update(block_key.map(|b| b ^ 0x5c));
    outer.update(inner_hash);
    let mut out = [0u8; 32];
    out.copy_from_slice(&outer.finalize());
    out
}

/// Compares two byte strings in time independent of where they differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 2617 §3.5: Mufasa / "Circle Of Life", MD5, qop=auth.
    #[test]
    fn rfc2617_example() {
        let input = DigestInput {
            algorithm: DigestAlgorithm::Md5,
            method: "GET",
            digest_uri: "/dir/index.html",
            nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            qop: Some(QopAuth {
                nc: "00000001",
                cnonce: "0a4f113b",
            }),
        };
        let response =
            response_from_password(&input, "Mufasa", "testrealm@host.com", "Circle Of Life");
        assert_eq!(response, "6629fae49393a05397450978507c4ef1");
    }

    fn rfc7616_input(algorithm: DigestAlgorithm) -> DigestInput<'static> {
        DigestInput {
            algorithm,
            method: "GET",
            digest_uri: "/dir/index.html",
            nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
            qop: Some(QopAuth {
                nc: "00000001",
                cnonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
            }),
        }
    }

    /// RFC 7616 §3.9.1, both the SHA-256 and the MD5 response (password "Circle of Life").
    #[test]
    fn rfc7616_examples() {
        let sha = response_from_password(
            &rfc7616_input(DigestAlgorithm::Sha256),
            "Mufasa",
            "http-auth@example.org",
            "Circle of Life",
        );
        assert_eq!(
            sha,
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
        let md5 = response_from_password(
            &rfc7616_input(DigestAlgorithm::Md5),
            "Mufasa",
            "http-auth@example.org",
            "Circle of Life",
        );
        assert_eq!(md5, "8ca523f5e9506fed4657c9700eebdbec");
    }

    #[test]
    fn session_variant_differs_and_uses_cnonce() {
        let plain = response_from_password(&rfc7616_input(DigestAlgorithm::Md5), "u", "r", "p");
        let sess = response_from_password(&rfc7616_input(DigestAlgorithm::Md5Sess), "u", "r", "p");
        assert_ne!(plain, sess);
        assert_eq!(sess.len(), 32);
    }

    /// RFC 4231 test case 2 ("Jefe").
    #[test]
    fn hmac_sha256_rfc4231_case2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex(&mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn algorithm_tokens_round_trip() {
        for alg in [
            DigestAlgorithm::Md5,
            DigestAlgorithm::Md5Sess,
            DigestAlgorithm::Sha256,
            DigestAlgorithm::Sha256Sess,
        ] {
            assert_eq!(DigestAlgorithm::from_token(alg.as_str()), Some(alg));
        }
        assert_eq!(
            DigestAlgorithm::from_token("sha-256"),
            Some(DigestAlgorithm::Sha256)
        );
        assert_eq!(DigestAlgorithm::from_token("SHA-512-256"), None);
    }
}
