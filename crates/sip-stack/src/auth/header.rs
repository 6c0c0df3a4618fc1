//! `WWW-Authenticate` / `Proxy-Authenticate` challenges and
//! `Authorization` / `Proxy-Authorization` credentials of the Digest scheme.
//!
//! Both are `Digest` followed by a comma list of `name=value` directives, where
//! a value is a token or a quoted string with `\` escapes. Which directives are
//! quoted is fixed by RFC 7616 (`algorithm`, `qop` in credentials, `nc` and
//! `stale` are tokens; the rest are quoted), and some peers are picky about it,
//! so [`fmt::Display`] follows it exactly.

use std::fmt;

use super::digest::DigestAlgorithm;
use super::AuthError;

/// Splits `Digest a=b, c="d"` into the scheme and its directives (names lowercased,
/// values unquoted and unescaped).
pub(crate) fn parse_auth_params(value: &str) -> Result<(String, Vec<(String, String)>), AuthError> {
    let value = value.trim();
    let (scheme, rest) = match value.find(|c: char| c.is_ascii_whitespace()) {
        Some(i) => (&value[..i], &value[i..]),
        None => (value, ""),
    };
    if scheme.is_empty() {
        return Err(AuthError::Malformed("missing scheme"));
    }
    let mut params = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars
            .peek()
            .is_some_and(|c| c.is_ascii_whitespace() || *c == ',')
        {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut name = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_ascii_whitespace() || c == ',' {
                break;
            }
            name.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') {
            return Err(AuthError::Malformed("directive without '='"));
        }
        while chars.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            chars.next();
        }
        let mut val = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            let mut closed = false;
            while let Some(c) = chars.next() {
                match c {
                    '\\' => match chars.next() {
                        Some(escaped) => val.push(escaped),
                        None => break,
                    },
                    '"' => {
                        closed = true;
                        break;
                    }
                    other => val.push(other),
                }
            }
            if !closed {
                return Err(AuthError::Malformed("unterminated quoted string"));
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' || c.is_ascii_whitespace() {
                    break;
                }
                val.push(c);
                chars.next();
            }
        }
        if name.is_empty() {
            return Err(AuthError::Malformed("empty directive name"));
        }
        params.push((name.to_ascii_lowercase(), val));
    }
    Ok((scheme.to_string(), params))
}

fn find<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn required(params: &[(String, String)], name: &'static str) -> Result<String, AuthError> {
    find(params, name)
        .map(str::to_string)
        .ok_or(AuthError::MissingDirective(name))
}

/// Writes `value` as a quoted string, escaping `"` and `\`.
fn quoted(f: &mut fmt::Formatter<'_>, value: &str) -> fmt::Result {
    f.write_str("\"")?;
    for c in value.chars() {
        if c == '"' || c == '\\' {
            f.write_str("\\")?;
        }
        write!(f, "{c}")?;
    }
    f.write_str("\"")
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
        let (scheme, params) = parse_auth_params(value)?;
        if !scheme.eq_ignore_ascii_case("Digest") {
            return Err(AuthError::NotDigest);
        }
        let algorithm = match find(&params, "algorithm") {
            None => DigestAlgorithm::Md5,
            Some(token) => DigestAlgorithm::from_token(token)
                .ok_or_else(|| AuthError::UnsupportedAlgorithm(token.to_string()))?,
        };
        Ok(DigestChallenge {
            realm: required(&params, "realm")?,
            nonce: required(&params, "nonce")?,
            opaque: find(&params, "opaque").map(str::to_string),
            algorithm,
            qop: find(&params, "qop")
                .map(|q| {
                    q.split(',')
                        .map(|s| s.trim().to_ascii_lowercase())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            stale: find(&params, "stale").is_some_and(|s| s.eq_ignore_ascii_case("true")),
        })
    }

    /// Whether the server offers `qop=auth`.
    pub fn offers_auth_qop(&self) -> bool {
        self.qop.iter().any(|q| q == "auth")
    }
}

impl fmt::Display for DigestChallenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Digest realm=")?;
        quoted(f, &self.realm)?;
        f.write_str(", nonce=")?;
        quoted(f, &self.nonce)?;
        if let Some(opaque) = &self.opaque {
            f.write_str(", opaque=")?;
            quoted(f, opaque)?;
        }
        write!(f, ", algorithm={}", self.algorithm)?;
        if !self.qop.is_empty() {
            f.write_str(", qop=")?;
            quoted(f, &self.qop.join(","))?;
        }
        if self.stale {
            f.write_str(", stale=true")?;
        }
        Ok(())
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
        let (scheme, params) = parse_auth_params(value)?;
        if !scheme.eq_ignore_ascii_case("Digest") {
            return Err(AuthError::NotDigest);
        }
        let algorithm = match find(&params, "algorithm") {
            None => DigestAlgorithm::Md5,
            Some(token) => DigestAlgorithm::from_token(token)
                .ok_or_else(|| AuthError::UnsupportedAlgorithm(token.to_string()))?,
        };
        let get = |name| find(&params, name).map(str::to_string);
        Ok(DigestCredentials {
            username: required(&params, "username")?,
            realm: required(&params, "realm")?,
            nonce: required(&params, "nonce")?,
            uri: required(&params, "uri")?,
            response: required(&params, "response")?.to_ascii_lowercase(),
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
        f.write_str("Digest username=")?;
        quoted(f, &self.username)?;
        f.write_str(", realm=")?;
        quoted(f, &self.realm)?;
        f.write_str(", nonce=")?;
        quoted(f, &self.nonce)?;
        f.write_str(", uri=")?;
        quoted(f, &self.uri)?;
        f.write_str(", response=")?;
        quoted(f, &self.response)?;
        write!(f, ", algorithm={}", self.algorithm)?;
        if let Some(cnonce) = &self.cnonce {
            f.write_str(", cnonce=")?;
            quoted(f, cnonce)?;
        }
        if let Some(opaque) = &self.opaque {
            f.write_str(", opaque=")?;
            quoted(f, opaque)?;
        }
        if let Some(qop) = &self.qop {
            write!(f, ", qop={qop}")?;
        }
        if let Some(nc) = &self.nc {
            write!(f, ", nc={nc}")?;
        }
        Ok(())
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
