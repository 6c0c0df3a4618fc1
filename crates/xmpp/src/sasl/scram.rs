//! SCRAM (RFC 5802) with SHA-1 and SHA-256 (RFC 7677), without channel
//! binding: a client may say `n` (does not support it) or `y` (supports
//! it, thinks we do not); `p=` (wants it) is refused.
//!
//! The server stores no SCRAM secrets: it derives them from the plain
//! password with a fixed salt per user (see [`user_salt`]), so changing a
//! password in the config is all an operator does. An unknown user goes
//! through the same exchange with made-up keys and fails at the proof, so
//! the exchange does not reveal which user names exist.

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::SaslError;

/// The iteration count the server asks for (RFC 7677's minimum).
pub const DEFAULT_ITERATIONS: u32 = 4096;

/// The hash a SCRAM variant is built on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScramHash {
    /// SCRAM-SHA-1.
    Sha1,
    /// SCRAM-SHA-256.
    Sha256,
}

impl ScramHash {
    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        const ANY_KEY: &str = "HMAC accepts keys of any length";
        match self {
            ScramHash::Sha1 => {
                let mut mac = Hmac::<Sha1>::new_from_slice(key).expect(ANY_KEY);
                mac.update(data);
                mac.finalize().into_bytes().to_vec()
            }
            ScramHash::Sha256 => {
                let mut mac = Hmac::<Sha256>::new_from_slice(key).expect(ANY_KEY);
                mac.update(data);
                mac.finalize().into_bytes().to_vec()
            }
        }
    }

    fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            ScramHash::Sha1 => Sha1::digest(data).to_vec(),
            ScramHash::Sha256 => Sha256::digest(data).to_vec(),
        }
    }

    /// `Hi()` of RFC 5802 §2.2 (PBKDF2 with HMAC of this hash, one block).
    pub fn salted_password(self, password: &str, salt: &[u8], iterations: u32) -> Vec<u8> {
        let mut block = salt.to_vec();
        block.extend_from_slice(&1u32.to_be_bytes());
        let mut u = self.hmac(password.as_bytes(), &block);
        let mut out = u.clone();
        for _ in 1..iterations {
            u = self.hmac(password.as_bytes(), &u);
            for (o, x) in out.iter_mut().zip(&u) {
                *o ^= x;
            }
        }
        out
    }
}

/// The fixed salt the server uses for `username` on `domain`.
pub fn user_salt(domain: &str, username: &str) -> Vec<u8> {
    let digest = Sha256::digest(format!("switchboard-scram\0{domain}\0{username}").as_bytes());
    digest[..16].to_vec()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn unb64(text: &str) -> Result<Vec<u8>, SaslError> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| SaslError::MalformedRequest)
}

/// `saslname` decoding: `=2C` is `,`, `=3D` is `=`, any other `=` is an error.
fn decode_name(text: &str) -> Result<String, SaslError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('=') {
        out.push_str(&rest[..at]);
        let code = rest
            .get(at + 1..at + 3)
            .ok_or(SaslError::MalformedRequest)?;
        out.push(match code {
            "2C" => ',',
            "3D" => '=',
            _ => return Err(SaslError::MalformedRequest),
        });
        rest = &rest[at + 3..];
    }
    out.push_str(rest);
    if out.is_empty() {
        return Err(SaslError::MalformedRequest);
    }
    Ok(out)
}

fn encode_name(name: &str) -> String {
    name.replace('=', "=3D").replace(',', "=2C")
}

fn xor(a: &[u8], b: &[u8]) -> Vec<u8> {
    a.iter().zip(b).map(|(x, y)| x ^ y).collect()
}

/// Comparison whose time does not depend on where the bytes differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn printable_nonce(nonce: &str) -> bool {
    !nonce.is_empty()
        && nonce
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b',')
}

/// The parts of a client-first message the server needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFirst {
    /// The user name (`n=`), unescaped.
    pub username: String,
    /// The authorization identity (`a=`), if given.
    pub authzid: Option<String>,
    gs2_header: String,
    bare: String,
    nonce: String,
}

/// Parses a client-first message.
pub fn parse_client_first(message: &[u8]) -> Result<ClientFirst, SaslError> {
    let text = std::str::from_utf8(message).map_err(|_| SaslError::MalformedRequest)?;
    let mut parts = text.splitn(3, ',');
    let (Some(flag), Some(authz), Some(bare)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(SaslError::MalformedRequest);
    };
    match flag {
        "n" | "y" => {}
        // We offer no -PLUS mechanism, so a channel-binding request cannot be honoured.
        f if f.starts_with("p=") => return Err(SaslError::NotAuthorized),
        _ => return Err(SaslError::MalformedRequest),
    }
    let authzid = match authz {
        "" => None,
        a => Some(decode_name(
            a.strip_prefix("a=").ok_or(SaslError::MalformedRequest)?,
        )?),
    };
    let mut fields = bare.split(',');
    let username = fields
        .next()
        .and_then(|f| f.strip_prefix("n="))
        .ok_or(SaslError::MalformedRequest)?;
    let nonce = fields
        .next()
        .and_then(|f| f.strip_prefix("r="))
        .filter(|n| printable_nonce(n))
        .ok_or(SaslError::MalformedRequest)?;
    Ok(ClientFirst {
        username: decode_name(username)?,
        authzid,
        gs2_header: format!("{flag},{authz},"),
        bare: bare.to_owned(),
        nonce: nonce.to_owned(),
    })
}

/// The server side of one SCRAM exchange, after the client-first message.
#[derive(Debug, Clone)]
pub struct ScramServer {
    hash: ScramHash,
    first: ClientFirst,
    server_first: String,
    nonce: String,
    stored_key: Vec<u8>,
    server_key: Vec<u8>,
}

impl ScramServer {
    /// Answers `first` with the server-first message. `password` is the
    /// user's (None for an unknown user: the exchange then fails at the
    /// proof); `server_nonce` is appended to the client's nonce.
    pub fn new(
        hash: ScramHash,
        first: ClientFirst,
        password: Option<&str>,
        salt: &[u8],
        iterations: u32,
        server_nonce: &str,
    ) -> ScramServer {
        let salted = match password {
            Some(password) => hash.salted_password(password, salt, iterations),
            None => {
                let mut fake = vec![0u8; 32];
                super::random_bytes(&mut fake);
                fake
            }
        };
        let client_key = hash.hmac(&salted, b"Client Key");
        let nonce = format!("{}{}", first.nonce, server_nonce);
        let server_first = format!("r={nonce},s={},i={iterations}", b64(salt));
        ScramServer {
            hash,
            stored_key: hash.hash(&client_key),
            server_key: hash.hmac(&salted, b"Server Key"),
            first,
            server_first,
            nonce,
        }
    }

    /// The server-first message to send as the challenge.
    pub fn server_first(&self) -> &str {
        &self.server_first
    }

    /// The user name the client gave.
    pub fn username(&self) -> &str {
        &self.first.username
    }

    /// Checks the client-final message; on success returns the
    /// server-final message (`v=…`) to send with `<success>`.
    pub fn client_final(&self, message: &[u8]) -> Result<String, SaslError> {
        let text = std::str::from_utf8(message).map_err(|_| SaslError::MalformedRequest)?;
        let (without_proof, proof) = text.rsplit_once(",p=").ok_or(SaslError::MalformedRequest)?;
        let mut fields = without_proof.split(',');
        let binding = fields
            .next()
            .and_then(|f| f.strip_prefix("c="))
            .ok_or(SaslError::MalformedRequest)?;
        let nonce = fields
            .next()
            .and_then(|f| f.strip_prefix("r="))
            .ok_or(SaslError::MalformedRequest)?;
        if unb64(binding)? != self.first.gs2_header.as_bytes() {
            return Err(SaslError::NotAuthorized);
        }
        if nonce != self.nonce {
            return Err(SaslError::NotAuthorized);
        }
        let proof = unb64(proof)?;
        let auth_message = format!(
            "{},{},{}",
            self.first.bare, self.server_first, without_proof
        );
        let signature = self.hash.hmac(&self.stored_key, auth_message.as_bytes());
        let client_key = xor(&proof, &signature);
        if proof.len() != signature.len() || !same(&self.hash.hash(&client_key), &self.stored_key) {
            return Err(SaslError::NotAuthorized);
        }
        let verifier = self.hash.hmac(&self.server_key, auth_message.as_bytes());
        Ok(format!("v={}", b64(&verifier)))
    }
}

/// The client side of one SCRAM exchange.
#[derive(Debug, Clone)]
pub struct ScramClient {
    hash: ScramHash,
    password: String,
    bare: String,
    nonce: String,
    server_signature: Option<Vec<u8>>,
}

impl ScramClient {
    /// Starts an exchange for `username` with `nonce` (random, printable).
    pub fn new(hash: ScramHash, username: &str, password: &str, nonce: &str) -> ScramClient {
        ScramClient {
            hash,
            password: password.to_owned(),
            bare: format!("n={},r={nonce}", encode_name(username)),
            nonce: nonce.to_owned(),
            server_signature: None,
        }
    }

    /// The client-first message (`n,,n=user,r=nonce`).
    pub fn client_first(&self) -> String {
        format!("n,,{}", self.bare)
    }

    /// Answers the server-first message with the client-final message.
    pub fn server_first(&mut self, message: &[u8]) -> Result<String, SaslError> {
        let text = std::str::from_utf8(message).map_err(|_| SaslError::MalformedRequest)?;
        let mut nonce = None;
        let mut salt = None;
        let mut iterations = None;
        for field in text.split(',') {
            match field.split_at_checked(2) {
                Some(("r=", v)) => nonce = Some(v),
                Some(("s=", v)) => salt = Some(unb64(v)?),
                Some(("i=", v)) => iterations = v.parse::<u32>().ok(),
                Some(("m=", _)) => return Err(SaslError::MalformedRequest),
                _ => {}
            }
        }
        let (Some(nonce), Some(salt), Some(iterations)) = (nonce, salt, iterations) else {
            return Err(SaslError::MalformedRequest);
        };
        if !nonce.starts_with(&self.nonce) || nonce.len() == self.nonce.len() || iterations == 0 {
            return Err(SaslError::MalformedRequest);
        }
        let salted = self.hash.salted_password(&self.password, &salt, iterations);
        let without_proof = format!("c={},r={nonce}", b64(b"n,,"));
        let auth_message = format!("{},{},{}", self.bare, text, without_proof);
        let client_key = self.hash.hmac(&salted, b"Client Key");
        let stored_key = self.hash.hash(&client_key);
        let signature = self.hash.hmac(&stored_key, auth_message.as_bytes());
        let server_key = self.hash.hmac(&salted, b"Server Key");
        self.server_signature = Some(self.hash.hmac(&server_key, auth_message.as_bytes()));
        Ok(format!(
            "{without_proof},p={}",
            b64(&xor(&client_key, &signature))
        ))
    }

    /// Checks the server-final message (`v=…`) that came with `<success>`.
    pub fn server_final(&self, message: &[u8]) -> Result<(), SaslError> {
        let text = std::str::from_utf8(message).map_err(|_| SaslError::MalformedRequest)?;
        let verifier = text
            .strip_prefix("v=")
            .ok_or(SaslError::NotAuthorized)
            .and_then(unb64)?;
        match &self.server_signature {
            Some(expected) if same(expected, &verifier) => Ok(()),
            _ => Err(SaslError::NotAuthorized),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example exchange of RFC 5802 §5 (user "user", password "pencil").
    #[test]
    fn rfc5802_sha1_example() {
        let first = parse_client_first(b"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL").expect("valid");
        assert_eq!(first.username, "user");
        let salt = unb64("QSXCR+Q6sek8bf92").expect("salt");
        let server = ScramServer::new(
            ScramHash::Sha1,
            first,
            Some("pencil"),
            &salt,
            4096,
            "3rfcNHYJY1ZVvWVs7j",
        );
        assert_eq!(
            server.server_first(),
            "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096"
        );
        let final_message =
            b"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=";
        assert_eq!(
            server.client_final(final_message).as_deref(),
            Ok("v=rmF9pqV8S7suAoZWja4dJRkFsKQ=")
        );
        let mut client = ScramClient::new(
            ScramHash::Sha1,
            "user",
            "pencil",
            "fyko+d2lbbFgONRv9qkxdawL",
        );
        assert_eq!(
            client.client_first(),
            "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"
        );
        let answer = client
            .server_first(server.server_first().as_bytes())
            .expect("valid");
        assert_eq!(answer.as_bytes(), final_message);
        assert_eq!(
            client.server_final(b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ="),
            Ok(())
        );
    }

    /// The example exchange of RFC 7677 §3 (user "user", password "pencil").
    #[test]
    fn rfc7677_sha256_example() {
        let first = parse_client_first(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO").expect("valid");
        let salt = unb64("W22ZaJ0SNY7soEsUEjb6gQ==").expect("salt");
        let server = ScramServer::new(
            ScramHash::Sha256,
            first,
            Some("pencil"),
            &salt,
            4096,
            "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
        );
        assert_eq!(
            server.server_first(),
            "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
        );
        let final_message = b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
        assert_eq!(
            server.client_final(final_message).as_deref(),
            Ok("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
        );
        let mut client =
            ScramClient::new(ScramHash::Sha256, "user", "pencil", "rOprNGfwEbeRWgbNEkqO");
        let answer = client
            .server_first(server.server_first().as_bytes())
            .expect("valid");
        assert_eq!(answer.as_bytes(), final_message);
    }

    #[test]
    fn wrong_password_and_unknown_user_fail_at_the_proof() {
        for password in [Some("other"), None] {
            let first = parse_client_first(b"n,,n=user,r=abc").expect("valid");
            let server = ScramServer::new(ScramHash::Sha256, first, password, b"salt", 16, "def");
            let mut client = ScramClient::new(ScramHash::Sha256, "user", "pencil", "abc");
            let answer = client
                .server_first(server.server_first().as_bytes())
                .expect("valid");
            assert_eq!(
                server.client_final(answer.as_bytes()),
                Err(SaslError::NotAuthorized)
            );
        }
    }

    #[test]
    fn refuses_channel_binding_and_bad_names() {
        assert_eq!(
            parse_client_first(b"p=tls-unique,,n=user,r=abc"),
            Err(SaslError::NotAuthorized)
        );
        assert_eq!(
            parse_client_first(b"n,,n=us=2Aer,r=a"),
            Err(SaslError::MalformedRequest)
        );
        assert_eq!(
            parse_client_first(b"n,,n=,r=a"),
            Err(SaslError::MalformedRequest)
        );
        assert_eq!(
            parse_client_first(b"x,,n=u,r=a"),
            Err(SaslError::MalformedRequest)
        );
        let first = parse_client_first(b"n,a=u=2Cv,n=u=2Cv,r=a").expect("valid");
        assert_eq!(first.username, "u,v");
        assert_eq!(first.authzid.as_deref(), Some("u,v"));
    }
}
