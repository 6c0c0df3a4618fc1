//! The server side of digest authentication: issuing nonces, checking credentials.
//!
//! Nonces are stateless: `hex(issued_ms ‖ serial ‖ HMAC-SHA-256(secret, issued_ms ‖ serial)[..16])`.
//! The timestamp (milliseconds since the verifier was created, from the `now`
//! the caller passes) lets expiry be checked without remembering the nonce, the
//! serial makes every nonce unique, and the MAC keyed with the server secret
//! stops a client from forging a fresh-looking nonce. A nonce issued by another
//! process (or before a restart) fails the MAC; with a response that is right
//! for it the verdict is [`DigestVerdict::Stale`], so a phone that kept its
//! nonce across our restart just fetches a new one, and with a wrong response
//! it is refused like any wrong password.
//!
//! Replay protection needs state: for each nonce in use the highest nonce-count
//! (`nc`) seen is kept, and a request must present a higher one. The table is
//! bounded; when it is full the oldest entry is evicted and its serial becomes
//! a watermark: a nonce at or below the watermark that is no longer in the table
//! is answered `stale=true`, so an evicted nonce can never be replayed — the
//! client just fetches a new one.
//!
//! RFC 2069 credentials (no `qop`) carry no nonce-count; they are accepted only
//! when [`DigestVerifierConfig::allow_no_qop`] is set, and can then be replayed
//! for the nonce lifetime. SIP servers meet such clients rarely.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use sip::{HeaderName, Request, Response};

use super::digest::{constant_time_eq, hex, hmac_sha256, DigestAlgorithm, DigestInput, QopAuth};
use super::header::{DigestChallenge, DigestCredentials};
use crate::response::make_response;

/// Settings of a [`DigestVerifier`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestVerifierConfig {
    /// The protection space named in challenges (`realm="..."`).
    pub realm: String,
    /// Algorithms to challenge with, one challenge header each, in preference
    /// order (RFC 8760 puts SHA-256 before MD5).
    pub algorithms: Vec<DigestAlgorithm>,
    /// How long a nonce stays valid; older ones are answered `stale=true`.
    pub nonce_lifetime: Duration,
    /// Bound of the nonce-count table used for replay protection.
    pub max_tracked_nonces: usize,
    /// Accept RFC 2069 credentials without `qop` (and so without replay protection).
    pub allow_no_qop: bool,
}

impl DigestVerifierConfig {
    /// Defaults for `realm`: SHA-256 then MD5, 5 minute nonces, 65 536 tracked nonces, qop required.
    pub fn new(realm: impl Into<String>) -> DigestVerifierConfig {
        DigestVerifierConfig {
            realm: realm.into(),
            algorithms: vec![DigestAlgorithm::Sha256, DigestAlgorithm::Md5],
            nonce_lifetime: Duration::from_secs(300),
            max_tracked_nonces: 65_536,
            allow_no_qop: false,
        }
    }
}

/// Why credentials were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestRejection {
    /// The header did not parse as Digest credentials.
    Malformed,
    /// The algorithm is not one this verifier challenges with.
    UnsupportedAlgorithm,
    /// `qop` is missing (and RFC 2069 is not allowed) or is not `auth`.
    UnsupportedQop,
    /// The nonce was not issued by this verifier (or was tampered with), and
    /// the response is wrong for it too.
    UnknownNonce,
    /// The user name is not known.
    UnknownUser,
    /// The `uri` directive does not match the Request-URI.
    UriMismatch,
    /// The response hash is wrong: wrong password, or wrong inputs.
    WrongResponse,
    /// The nonce-count was not higher than one already seen for this nonce.
    Replayed,
}

/// The outcome of checking a request's credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DigestVerdict {
    /// The credentials are valid for this user.
    Authorized {
        /// The authenticated user name.
        username: String,
    },
    /// No credentials for our realm: send a challenge.
    Missing,
    /// Right password, but the nonce expired, was evicted or is not ours
    /// (a restart): challenge with `stale=true`.
    Stale,
    /// Wrong or unusable credentials: challenge again (or answer 403 after repeated failures).
    Rejected(DigestRejection),
}

impl DigestVerdict {
    /// Whether the request may proceed.
    pub fn is_authorized(&self) -> bool {
        matches!(self, DigestVerdict::Authorized { .. })
    }
}

/// Issues nonces and checks digest credentials for one realm (see the module doc).
#[derive(Debug)]
pub struct DigestVerifier {
    config: DigestVerifierConfig,
    secret: [u8; 32],
    epoch: Instant,
    next_serial: u64,
    /// Highest nonce-count seen, per nonce serial.
    nonce_counts: HashMap<u64, u32>,
    /// Serials in the order they were first used, with their issue time, for eviction.
    first_use: VecDeque<(u64, u64)>,
    /// Serials at or below this were evicted from the table (or never tracked).
    evicted_up_to: Option<u64>,
    /// What unknown users' credentials are hashed against: derived from the
    /// secret, so nobody can present it.
    decoy_password: String,
}

const NONCE_BYTES: usize = 8 + 8 + 16;

impl DigestVerifier {
    /// A verifier keyed with `secret` (keep it across a cluster to share nonces
    /// between processes that share an epoch; otherwise any random 32 bytes).
    pub fn new(config: DigestVerifierConfig, secret: [u8; 32], now: Instant) -> DigestVerifier {
        DigestVerifier {
            config,
            decoy_password: hex(&hmac_sha256(&secret, b"unknown-user decoy password")),
            secret,
            epoch: now,
            next_serial: 1,
            nonce_counts: HashMap::new(),
            first_use: VecDeque::new(),
            evicted_up_to: None,
        }
    }

    /// A verifier keyed with a secret from the operating system's random source.
    pub fn with_random_secret(config: DigestVerifierConfig, now: Instant) -> DigestVerifier {
        let mut secret = [0u8; 32];
        rand::fill(&mut secret);
        DigestVerifier::new(config, secret, now)
    }

    /// The configuration in force.
    pub fn config(&self) -> &DigestVerifierConfig {
        &self.config
    }

    /// Number of nonces whose nonce-count is being tracked.
    pub fn tracked_nonces(&self) -> usize {
        self.nonce_counts.len()
    }

    fn issued_ms(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX)
    }

    fn mac(&self, issued_ms: u64, serial: u64) -> [u8; 32] {
        let mut message = [0u8; 16];
        message[..8].copy_from_slice(&issued_ms.to_be_bytes());
        message[8..].copy_from_slice(&serial.to_be_bytes());
        hmac_sha256(&self.secret, &message)
    }

    /// Issues a fresh nonce.
    pub fn new_nonce(&mut self, now: Instant) -> String {
        let issued = self.issued_ms(now);
        let serial = self.next_serial;
        self.next_serial += 1;
        let mut raw = [0u8; NONCE_BYTES];
        raw[..8].copy_from_slice(&issued.to_be_bytes());
        raw[8..16].copy_from_slice(&serial.to_be_bytes());
        raw[16..].copy_from_slice(&self.mac(issued, serial)[..16]);
        hex(&raw)
    }

    /// Checks a nonce's MAC; returns (issued_ms, serial).
    fn open_nonce(&self, nonce: &str) -> Option<(u64, u64)> {
        let bytes = nonce.as_bytes();
        if bytes.len() != NONCE_BYTES * 2 {
            return None;
        }
        let mut raw = [0u8; NONCE_BYTES];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            let text = std::str::from_utf8(pair).ok()?;
            raw[i] = u8::from_str_radix(text, 16).ok()?;
        }
        let issued = u64::from_be_bytes(raw[..8].try_into().ok()?);
        let serial = u64::from_be_bytes(raw[8..16].try_into().ok()?);
        let mac = self.mac(issued, serial);
        constant_time_eq(&mac[..16], &raw[16..]).then_some((issued, serial))
    }

    /// One challenge per configured algorithm, all with the same fresh nonce.
    pub fn challenges(&mut self, now: Instant, stale: bool) -> Vec<DigestChallenge> {
        let nonce = self.new_nonce(now);
        self.config
            .algorithms
            .iter()
            .map(|&algorithm| DigestChallenge {
                realm: self.config.realm.clone(),
                nonce: nonce.clone(),
                opaque: None,
                algorithm,
                qop: vec!["auth".to_string()],
                stale,
            })
            .collect()
    }

    /// A 401 (or 407 when `proxy`) to `request` carrying fresh challenges.
    pub fn challenge_response(
        &mut self,
        now: Instant,
        request: &Request,
        proxy: bool,
        stale: bool,
    ) -> Response {
        let (status, header) = if proxy {
            (407, HeaderName::ProxyAuthenticate)
        } else {
            (401, HeaderName::WwwAuthenticate)
        };
        let mut response = make_response(request, status);
        for challenge in self.challenges(now, stale) {
            response.headers.push_known(header, challenge.to_string());
        }
        response
    }

    /// Checks the Authorization (or Proxy-Authorization when `proxy`) header of
    /// `request` for this realm. `password_of` maps a user name to its password.
    pub fn verify_request(
        &mut self,
        now: Instant,
        request: &Request,
        proxy: bool,
        password_of: impl FnOnce(&str) -> Option<String>,
    ) -> DigestVerdict {
        let header = if proxy {
            HeaderName::ProxyAuthorization
        } else {
            HeaderName::Authorization
        };
        let mut malformed = false;
        let mut ours = None;
        for value in request.headers.get_all(header) {
            match DigestCredentials::parse(value) {
                Ok(c) if c.realm == self.config.realm => {
                    ours = Some(c);
                    break;
                }
                Ok(_) => {}
                Err(_) => malformed = true,
            }
        }
        let Some(credentials) = ours else {
            return if malformed {
                DigestVerdict::Rejected(DigestRejection::Malformed)
            } else {
                DigestVerdict::Missing
            };
        };
        if !digest_uri_matches(&credentials.uri, &request.uri) {
            return DigestVerdict::Rejected(DigestRejection::UriMismatch);
        }
        self.verify(now, request.method.as_str(), &credentials, password_of)
    }

    /// Checks parsed credentials for a request with `method`. The caller is
    /// responsible for comparing `credentials.uri` with the Request-URI
    /// ([`DigestVerifier::verify_request`] does).
    pub fn verify(
        &mut self,
        now: Instant,
        method: &str,
        credentials: &DigestCredentials,
        password_of: impl FnOnce(&str) -> Option<String>,
    ) -> DigestVerdict {
        use DigestRejection as R;
        if credentials.realm != self.config.realm {
            return DigestVerdict::Missing;
        }
        if !self.config.algorithms.contains(&credentials.algorithm) {
            return DigestVerdict::Rejected(R::UnsupportedAlgorithm);
        }
        let qop = match (
            credentials.qop.as_deref(),
            &credentials.cnonce,
            credentials.nonce_count(),
        ) {
            (Some("auth"), Some(cnonce), Some(nc)) => Some((cnonce.as_str(), nc)),
            (None, _, _) if self.config.allow_no_qop => None,
            _ => return DigestVerdict::Rejected(R::UnsupportedQop),
        };
        let password = password_of(&credentials.username);
        let input = DigestInput {
            algorithm: credentials.algorithm,
            method,
            digest_uri: &credentials.uri,
            nonce: &credentials.nonce,
            qop: qop.map(|(cnonce, _)| QopAuth {
                nc: credentials.nc.as_deref().unwrap_or_default(),
                cnonce,
            }),
        };
        // An unknown user is hashed like a known one (against a password
        // nobody has), so the time a refusal takes does not tell which user
        // names exist.
        let expected = super::digest::response_from_password(
            &input,
            &credentials.username,
            &credentials.realm,
            password.as_deref().unwrap_or(&self.decoy_password),
        );
        if password.is_none() {
            std::hint::black_box(&expected);
            return DigestVerdict::Rejected(R::UnknownUser);
        }
        let right = constant_time_eq(expected.as_bytes(), credentials.response.as_bytes());
        // A nonce we cannot open (issued before a restart, by another process,
        // or made up) is stale when the response is right for it (RFC 7616
        // §3.3): the client retries with a fresh nonce instead of failing.
        let Some((issued, serial)) = self.open_nonce(&credentials.nonce) else {
            return if right {
                DigestVerdict::Stale
            } else {
                DigestVerdict::Rejected(R::UnknownNonce)
            };
        };
        if !right {
            return DigestVerdict::Rejected(R::WrongResponse);
        }
        let now_ms = self.issued_ms(now);
        let lifetime_ms = u64::try_from(self.config.nonce_lifetime.as_millis()).unwrap_or(u64::MAX);
        if now_ms.saturating_sub(issued) > lifetime_ms {
            return DigestVerdict::Stale;
        }
        if let Some((_, nc)) = qop {
            if let Some(verdict) = self.record_nonce_count(now_ms, issued, serial, nc) {
                return verdict;
            }
        }
        DigestVerdict::Authorized {
            username: credentials.username.clone(),
        }
    }

    /// Replay check: `None` when `nc` is new for this nonce (and is now recorded).
    fn record_nonce_count(
        &mut self,
        now_ms: u64,
        issued: u64,
        serial: u64,
        nc: u32,
    ) -> Option<DigestVerdict> {
        self.forget_expired(now_ms);
        if let Some(last) = self.nonce_counts.get_mut(&serial) {
            if nc <= *last {
                return Some(DigestVerdict::Rejected(DigestRejection::Replayed));
            }
            *last = nc;
            return None;
        }
        if self.evicted_up_to.is_some_and(|w| serial <= w) {
            return Some(DigestVerdict::Stale);
        }
        self.nonce_counts.insert(serial, nc);
        self.first_use.push_back((serial, issued));
        while self.nonce_counts.len() > self.config.max_tracked_nonces.max(1) {
            let Some((old, _)) = self.first_use.pop_front() else {
                break;
            };
            self.nonce_counts.remove(&old);
            self.evicted_up_to = Some(self.evicted_up_to.map_or(old, |w| w.max(old)));
        }
        None
    }

    /// Drops table entries whose nonce has expired anyway (they would be answered stale).
    fn forget_expired(&mut self, now_ms: u64) {
        let lifetime_ms = u64::try_from(self.config.nonce_lifetime.as_millis()).unwrap_or(u64::MAX);
        while let Some(&(serial, issued)) = self.first_use.front() {
            if now_ms.saturating_sub(issued) <= lifetime_ms {
                break;
            }
            self.first_use.pop_front();
            self.nonce_counts.remove(&serial);
        }
    }
}

/// Whether the `uri` directive names the Request-URI (RFC 3261 §22.4 wants
/// them equal). Deployed clients, SIPp among them, send the Request-URI
/// without its user part or with parameters reordered, so the comparison is
/// on what identifies the target: scheme, host and port must be equal, and a
/// user part, when the directive has one, must be equal too. The response
/// hash covers the directive as sent, so this loosening cannot be used to
/// alter what was signed.
fn digest_uri_matches(directive: &str, request_uri: &sip::Uri) -> bool {
    if directive == request_uri.to_string() {
        return true;
    }
    let Ok(uri) = sip::Uri::parse(directive) else {
        return false;
    };
    uri.scheme == request_uri.scheme
        && uri.host == request_uri.host
        && uri.port == request_uri.port
        && (uri.user.is_none() || uri.user == request_uri.user)
}

#[cfg(test)]
mod uri_tests {
    use super::digest_uri_matches;

    #[test]
    fn directive_may_omit_the_user_but_not_change_the_target() {
        let request = sip::Uri::parse("sip:100@10.0.0.1:5060;transport=udp").expect("uri");
        for (directive, ok) in [
            ("sip:100@10.0.0.1:5060;transport=udp", true),
            ("sip:10.0.0.1:5060", true),
            ("sip:100@10.0.0.1:5060", true),
            ("sip:200@10.0.0.1:5060", false),
            ("sip:10.0.0.1", false),
            ("sip:10.0.0.2:5060", false),
            ("sips:10.0.0.1:5060", false),
            ("not a uri", false),
        ] {
            assert_eq!(digest_uri_matches(directive, &request), ok, "{directive}");
        }
    }
}
