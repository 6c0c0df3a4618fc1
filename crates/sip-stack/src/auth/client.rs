//! The client side of digest authentication: answering a 401/407.
//!
//! A response may carry several challenges (one per realm, and since RFC 8760
//! one per algorithm for the same realm); [`DigestClient`] picks the strongest
//! algorithm it implements. The retried request is a new transaction: it needs
//! a new Via branch (the stack assigns one on send) and a higher CSeq
//! ([`DigestClient::authorize_request`] bumps it), but keeps Call-ID and From tag.

use std::collections::HashMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sip::{CSeq, HeaderName, Request, Response};

use super::digest::{hex, response_from_password, DigestInput, QopAuth};
use super::header::{DigestChallenge, DigestCredentials};
use super::AuthError;

/// A user's credentials plus the per-nonce counters needed to reuse a nonce.
#[derive(Debug)]
pub struct DigestClient {
    username: String,
    password: String,
    rng: StdRng,
    /// Last nonce-count used, per (realm, nonce).
    nonce_counts: HashMap<(String, String), u32>,
}

/// Bound on remembered nonces; old ones are simply forgotten (the server re-challenges).
const MAX_REMEMBERED_NONCES: usize = 64;

impl DigestClient {
    /// Credentials for `username`, with client nonces from the OS random source.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> DigestClient {
        DigestClient::with_rng(username, password, rand::make_rng())
    }

    /// Credentials with a seeded client-nonce generator (deterministic tests).
    pub fn with_seed(
        username: impl Into<String>,
        password: impl Into<String>,
        seed: u64,
    ) -> DigestClient {
        DigestClient::with_rng(username, password, StdRng::seed_from_u64(seed))
    }

    fn with_rng(
        username: impl Into<String>,
        password: impl Into<String>,
        rng: StdRng,
    ) -> DigestClient {
        DigestClient {
            username: username.into(),
            password: password.into(),
            rng,
            nonce_counts: HashMap::new(),
        }
    }

    /// The user name.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// Credentials answering `challenge` for a request with `method` and `uri`.
    ///
    /// Uses `qop=auth` when offered (with a fresh cnonce and the next nonce-count
    /// for this nonce), the RFC 2069 form otherwise.
    pub fn authorize(
        &mut self,
        challenge: &DigestChallenge,
        method: &str,
        uri: &str,
    ) -> Result<DigestCredentials, AuthError> {
        let qop = if challenge.offers_auth_qop() {
            Some("auth")
        } else if challenge.qop.is_empty() {
            None
        } else {
            return Err(AuthError::UnsupportedQop);
        };
        let (nc, cnonce) = match qop {
            Some(_) => {
                if self.nonce_counts.len() >= MAX_REMEMBERED_NONCES {
                    self.nonce_counts.clear();
                }
                let count = self
                    .nonce_counts
                    .entry((challenge.realm.clone(), challenge.nonce.clone()))
                    .or_insert(0);
                *count += 1;
                let mut raw = [0u8; 12];
                self.rng.fill_bytes(&mut raw);
                (Some(format!("{count:08x}")), Some(hex(&raw)))
            }
            None => (None, None),
        };
        let input = DigestInput {
            algorithm: challenge.algorithm,
            method,
            digest_uri: uri,
            nonce: &challenge.nonce,
            qop: match (&nc, &cnonce) {
                (Some(nc), Some(cnonce)) => Some(QopAuth { nc, cnonce }),
                _ => None,
            },
        };
        let response =
            response_from_password(&input, &self.username, &challenge.realm, &self.password);
        Ok(DigestCredentials {
            username: self.username.clone(),
            realm: challenge.realm.clone(),
            nonce: challenge.nonce.clone(),
            uri: uri.to_string(),
            response,
            algorithm: challenge.algorithm,
            cnonce,
            opaque: challenge.opaque.clone(),
            qop: qop.map(str::to_string),
            nc,
        })
    }

    /// Turns `request` (the one that drew `challenge_response`, a 401 or 407)
    /// into its authenticated retry: adds one credentials header per challenged
    /// realm (strongest supported algorithm each) and increments the CSeq.
    pub fn authorize_request(
        &mut self,
        request: &mut Request,
        challenge_response: &Response,
    ) -> Result<(), AuthError> {
        let (challenge_header, credentials_header) = match challenge_response.status {
            401 => (HeaderName::WwwAuthenticate, HeaderName::Authorization),
            407 => (
                HeaderName::ProxyAuthenticate,
                HeaderName::ProxyAuthorization,
            ),
            _ => return Err(AuthError::NoChallenge),
        };
        // Strongest usable challenge per realm, in the order realms first appear.
        let mut chosen: Vec<DigestChallenge> = Vec::new();
        for value in challenge_response.headers.get_all(challenge_header) {
            let Ok(challenge) = DigestChallenge::parse(value) else {
                continue;
            };
            match chosen.iter_mut().find(|c| c.realm == challenge.realm) {
                Some(existing)
                    if existing.algorithm.strength() < challenge.algorithm.strength() =>
                {
                    *existing = challenge;
                }
                Some(_) => {}
                None => chosen.push(challenge),
            }
        }
        if chosen.is_empty() {
            return Err(AuthError::NoChallenge);
        }
        let uri = request.uri.to_string();
        let method = request.method.as_str().to_string();
        // Credentials for these realms from an earlier attempt are replaced.
        request.headers.0.retain(|h| {
            if !h.is(credentials_header) {
                return true;
            }
            DigestCredentials::parse(&h.value)
                .map_or(true, |c| chosen.iter().all(|ch| ch.realm != c.realm))
        });
        for challenge in &chosen {
            let credentials = self.authorize(challenge, &method, &uri)?;
            request
                .headers
                .push_known(credentials_header, credentials.to_string());
        }
        let cseq = request
            .headers
            .get(HeaderName::CSeq)
            .and_then(|v| CSeq::parse(v).ok())
            .ok_or(AuthError::Malformed("request without a valid CSeq"))?;
        let next = cseq
            .seq
            .checked_add(1)
            .ok_or(AuthError::Malformed("CSeq overflow"))?;
        request
            .headers
            .set(HeaderName::CSeq, format!("{next} {}", cseq.method));
        Ok(())
    }
}
