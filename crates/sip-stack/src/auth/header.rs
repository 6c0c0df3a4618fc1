//! `WWW-Authenticate` / `Proxy-Authenticate` challenges and
//! `Authorization` / `Proxy-Authorization` credentials of the Digest scheme.
//!
//! Both are `Digest` followed by a comma list of `name=value` directives, where
//! a value is a token or a quoted string with `\` escapes. The syntax (both
//! ways) is [`sip::Auth`]'s; this module gives the directives digest meaning:
//! which are required, the algorithm, the qop list, `stale`. Which directives
//! are quoted on output is fixed by RFC 7616 (`algorithm`, `qop` in
//! credentials, `nc` and `stale` are tokens; the rest are quoted), and some
//! peers are picky about it; `sip::Auth` writes exactly that.
//!
//! `sip::Auth` holds to the RFC grammar where a hand-rolled reader might be
//! lenient: an unquoted value must be a token (`uri=sip:a@b` without quotes
//! is refused), directives must be separated by commas, and an empty
//! unquoted value is refused. Clients that follow RFC 2617/7616 always quote
//! the directives that could hold anything else.

use std::fmt;

use sip::Auth;

use super::digest::DigestAlgorithm;
use super::AuthError;

/// Parses a Digest challenge or credentials value. The scheme is checked
/// first, so `Basic <token68>` reads as [`AuthError::NotDigest`], not as malformed.
fn parse_digest(value: &str) -> Result<Auth, AuthError> {
    let scheme = value.split_ascii_whitespace().next().unwrap_or_default();
    if scheme.is_empty() {
        return Err(AuthError::Malformed("missing scheme"));
    }
    if !scheme.eq_ignore_ascii_case("Digest") {
        return Err(AuthError::NotDigest);
    }
    Auth::parse(value)
        .map_err(|_| AuthError::Malformed("not a comma list of name=value directives"))
}

fn required(auth: &Auth, name: &'static str) -> Result<String, AuthError> {
    auth.param(name)
        .map(str::to_string)
        .ok_or(AuthError::MissingDirective(name))
}

/// The `algorithm` directive; MD5 when absent.
fn algorithm(auth: &Auth) -> Result<DigestAlgorithm, AuthError> {
    match auth.param("algorithm") {
        None => Ok(DigestAlgorithm::Md5),
        Some(token) => DigestAlgorithm::from_token(token)
            .ok_or_else(|| AuthError::UnsupportedAlgorithm(token.to_string())),
    }
}

/// Writes `Digest` and the directives that are present, in order, through `sip::Auth`.
fn write_digest(f: &mut fmt::Formatter<'_>, params: &[(&str, Option<&str>)]) -> fmt::Result {
    let auth = Auth {
        scheme: "Digest".to_string(),
        params: params
            .iter()
            .filter_map(|(name, value)| Some((name.to_string(), (*value)?.to_string())))
            .collect(),
    };
    fmt::Display::fmt(&auth, f)
}

/// A Digest challenge from a 401 or 407 (RFC 7616 §3.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestChallenge {
    /// Protection space, shown to users and mixed into H(A1).
    pub realm: String,
    /// Server nonce.
    pub nonce: String,
    /// Opaque value the client must echo.
    pub opaque: Option<String>,
    /// Hash algorithm (MD5 when the directive is absent).
    pub algorithm: DigestAlgorithm,
    /// Offered qop values (`auth`, `auth-int`); empty for an RFC 2069 challenge.
    pub qop: Vec<String>,
    /// `stale=true`: the credentials were right but the nonce expired; retry silently.
    pub stale: bool,
}

impl DigestChallenge {
    /// Parses one challenge header value.
    ///
    /// A challenge naming an algorithm this crate does not implement yields
    /// [`AuthError::UnsupportedAlgorithm`], so a caller facing several challenges
    /// can skip it (RFC 7616 §3.7).
    pub fn parse(value: &str) -> Result<DigestChallenge, AuthError> {
        let auth = parse_digest(value)?;
        let algorithm = algorithm(&auth)?;
        Ok(DigestChallenge {
            realm: required(&auth, "realm")?,
            nonce: required(&auth, "nonce")?,
            opaque: auth.param("opaque").map(str::to_string),
            algorithm,
            qop: auth
                .param("qop")
                .map(|q| {
                    q.split(',')
                        .map(|s| s.trim().to_ascii_lowercase())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            stale: auth
                .param("stale")
                .is_some_and(|s| s.eq_ignore_ascii_case("true")),
        })
    }

    /// Whether the server offers `qop=auth`.
    pub fn offers_auth_qop(&self) -> bool {
        self.qop.iter().any(|q| q == "auth")
    }
}

impl fmt::Display for DigestChallenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let qop = self.qop.join(",");
        write_digest(
            f,
            &[
                ("realm", Some(self.realm.as_str())),
                ("nonce", Some(self.nonce.as_str())),
                ("opaque", self.opaque.as_deref()),
                ("algorithm", Some(self.algorithm.as_str())),
                ("qop", (!qop.is_empty()).then_some(qop.as_str())),
                ("stale", self.stale.then_some("true")),
            ],
        )
    }
}

/// Digest credentials from an Authorization or Proxy-Authorization header (RFC 7616 §3.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestCredentials {
    /// User name.
    pub username: String,
    /// Realm the credentials are for.
    pub realm: String,
    /// The server nonce being answered.
    pub nonce: String,
    /// The `uri` directive (the Request-URI as the client saw it).
    pub uri: String,
    /// The computed response, lowercase hex.
    pub response: String,
    /// Algorithm used (MD5 when absent).
    pub algorithm: DigestAlgorithm,
    /// Client nonce (with qop).
    pub cnonce: Option<String>,
    /// Echoed opaque.
    pub opaque: Option<String>,
    /// Chosen qop (`auth`), `None` for the RFC 2069 form.
    pub qop: Option<String>,
    /// Nonce count, eight hex digits as written (with qop).
    pub nc: Option<String>,
}

impl DigestCredentials {
    /// Parses one credentials header value.
    pub fn parse(value: &str) -> Result<DigestCredentials, AuthError> {
        let auth = parse_digest(value)?;
        let algorithm = algorithm(&auth)?;
        let get = |name| auth.param(name).map(str::to_string);
        Ok(DigestCredentials {
            username: required(&auth, "username")?,
            realm: required(&auth, "realm")?,
            nonce: required(&auth, "nonce")?,
            uri: required(&auth, "uri")?,
            response: required(&auth, "response")?.to_ascii_lowercase(),
            algorithm,
            cnonce: get("cnonce"),
            opaque: get("opaque"),
            qop: get("qop").map(|q| q.to_ascii_lowercase()),
            nc: get("nc"),
        })
    }

    /// The nonce count as a number, when present and well-formed (eight hex digits).
    pub fn nonce_count(&self) -> Option<u32> {
        let nc = self.nc.as_deref()?;
        if nc.len() != 8 {
            return None;
        }
        u32::from_str_radix(nc, 16).ok()
    }
}

impl fmt::Display for DigestCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_digest(
            f,
            &[
                ("username", Some(self.username.as_str())),
                ("realm", Some(self.realm.as_str())),
                ("nonce", Some(self.nonce.as_str())),
                ("uri", Some(self.uri.as_str())),
                ("response", Some(self.response.as_str())),
                ("algorithm", Some(self.algorithm.as_str())),
                ("cnonce", self.cnonce.as_deref()),
                ("opaque", self.opaque.as_deref()),
                ("qop", self.qop.as_deref()),
                ("nc", self.nc.as_deref()),
            ],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rfc2617_credentials() {
        let header = r#"Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", qop=auth, nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1", opaque="5ccc069c403ebaf9f0171e9517f40e41""#;
        let creds = DigestCredentials::parse(header).expect("valid credentials");
        assert_eq!(creds.username, "Mufasa");
        assert_eq!(creds.nonce_count(), Some(1));
        assert_eq!(creds.qop.as_deref(), Some("auth"));
        assert_eq!(creds.algorithm, DigestAlgorithm::Md5);
        let again = DigestCredentials::parse(&creds.to_string()).expect("round trip");
        assert_eq!(again, creds);
    }

    #[test]
    fn parses_challenge_with_qop_list_and_stale() {
        let c = DigestChallenge::parse(
            r#"Digest realm="sb", qop="auth,auth-int", nonce="n1", algorithm=SHA-256, stale=TRUE"#,
        )
        .expect("valid challenge");
        assert_eq!(c.algorithm, DigestAlgorithm::Sha256);
        assert!(c.offers_auth_qop());
        assert!(c.stale);
        assert_eq!(
            DigestChallenge::parse(&c.to_string()).expect("round trip"),
            c
        );
    }

    #[test]
    fn escapes_survive_a_round_trip() {
        let c = DigestChallenge {
            realm: r#"a "quoted" \ realm"#.into(),
            nonce: "n".into(),
            opaque: None,
            algorithm: DigestAlgorithm::Md5,
            qop: vec![],
            stale: false,
        };
        assert_eq!(
            DigestChallenge::parse(&c.to_string()).expect("round trip"),
            c
        );
    }

    #[test]
    fn writes_rfc7616_quoting() {
        let challenge = DigestChallenge {
            realm: "sb".into(),
            nonce: "n1".into(),
            opaque: Some("o".into()),
            algorithm: DigestAlgorithm::Sha256,
            qop: vec!["auth".into(), "auth-int".into()],
            stale: true,
        };
        assert_eq!(
            challenge.to_string(),
            r#"Digest realm="sb", nonce="n1", opaque="o", algorithm=SHA-256, qop="auth,auth-int", stale=true"#
        );
        let credentials = DigestCredentials {
            username: "alice".into(),
            realm: "sb".into(),
            nonce: "n1".into(),
            uri: "sip:sb.example".into(),
            response: "abc".into(),
            algorithm: DigestAlgorithm::Md5,
            cnonce: Some("c1".into()),
            opaque: None,
            qop: Some("auth".into()),
            nc: Some("00000001".into()),
        };
        assert_eq!(
            credentials.to_string(),
            r#"Digest username="alice", realm="sb", nonce="n1", uri="sip:sb.example", response="abc", algorithm=MD5, cnonce="c1", qop=auth, nc=00000001"#
        );
    }

    #[test]
    fn other_schemes_are_not_digest() {
        assert_eq!(
            DigestCredentials::parse("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="),
            Err(AuthError::NotDigest)
        );
        assert_eq!(
            DigestChallenge::parse(r#"Basic realm="sb""#),
            Err(AuthError::NotDigest)
        );
    }

    #[test]
    fn rejects_malformed_input_without_panicking() {
        for bad in [
            "",
            "Digest realm",
            r#"Digest realm="open"#,
            "Basic abc=",
            "Digest =x",
            r#"Digest realm="r", nonce="n", algorithm=SHA-512-256"#,
        ] {
            assert!(
                DigestChallenge::parse(bad).is_err(),
                "{bad:?} should not parse"
            );
        }
        assert_eq!(
            DigestCredentials::parse(r#"Digest username="u""#),
            Err(AuthError::MissingDirective("realm"))
        );
    }
}
