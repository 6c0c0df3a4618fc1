//! WWW-Authenticate, Authorization, Proxy-Authenticate and Proxy-Authorization
//! (RFC 3261 §20.7, §20.27, §20.28, §20.44; digest per RFC 7616).
//!
//! These headers are not comma lists: one value is `scheme` followed by
//! comma-separated `name=value` pairs. Values are stored unquoted and
//! unescaped, so `params` holds what the digest computation needs. On output
//! every value is quoted except the ones RFC 7616 writes as tokens:
//! `algorithm`, `nc`, `stale`, and `qop` in credentials (an Authorization
//! with a `response`); a challenge's `qop` is a quoted list.

use std::fmt;
use std::str::FromStr;

use crate::error::ParseError;
use crate::parser::{quote, unquote};

/// One challenge or credentials value: `Digest realm="x", nonce="y", …`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth {
    /// The scheme token (`Digest`).
    pub scheme: String,
    /// Parameters in order, names as written, values unquoted.
    pub params: Vec<(String, String)>,
}

const BAD_AUTH: ParseError = ParseError::InvalidSyntax("authentication header");

impl Auth {
    /// Parses a challenge or credentials value.
    pub fn parse(s: &str) -> Result<Auth, ParseError> {
        let s = s.trim_matches([' ', '\t']);
        let scheme_end = s.find([' ', '\t']).unwrap_or(s.len());
        let scheme = &s[..scheme_end];
        if !crate::parser::is_token(scheme) {
            return Err(BAD_AUTH);
        }
        let mut params = Vec::new();
        let rest = s[scheme_end..].trim_start_matches([' ', '\t']);
        if !rest.is_empty() {
            for item in crate::parser::split_list(rest).map_err(|_| BAD_AUTH)? {
                if item.is_empty() {
                    continue; // RFC 7230 #rule tolerates empty elements
                }
                let (name, value) = item.split_once('=').ok_or(BAD_AUTH)?;
                let name = name.trim_end_matches([' ', '\t']);
                let value = value.trim_start_matches([' ', '\t']);
                let quoted = value.starts_with('"');
                let well_formed = if quoted {
                    crate::parser::quoted_end(value, 0).ok() == Some(value.len())
                } else {
                    crate::parser::is_token(value)
                };
                if !crate::parser::is_token(name) || !well_formed {
                    return Err(BAD_AUTH);
                }
                params.push((name.to_string(), unquote(value)));
            }
        }
        Ok(Auth {
            scheme: scheme.to_string(),
            params,
        })
    }

    /// A parameter's value by case-insensitive name.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether these are credentials (they carry a `response`) rather than a challenge.
    pub fn is_credentials(&self) -> bool {
        self.param("response").is_some()
    }

    fn writes_as_token(&self, name: &str) -> bool {
        ["algorithm", "nc", "stale"]
            .iter()
            .any(|t| name.eq_ignore_ascii_case(t))
            || (name.eq_ignore_ascii_case("qop") && self.is_credentials())
    }
}

impl FromStr for Auth {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Auth, ParseError> {
        Auth::parse(s)
    }
}

impl fmt::Display for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.scheme)?;
        for (i, (name, value)) in self.params.iter().enumerate() {
            f.write_str(if i == 0 { " " } else { ", " })?;
            if self.writes_as_token(name) && crate::parser::is_token(value) {
                write!(f, "{name}={value}")?;
            } else {
                write!(f, "{name}={}", quote(value))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_round_trip() {
        let text = r#"Digest username="bob", realm="biloxi.com", nonce="dcd98b", uri="sip:bob@biloxi.com", qop=auth, nc=00000001, cnonce="0a4f113b", response="6629fae4", algorithm=MD5"#;
        let auth = Auth::parse(text).unwrap();
        assert_eq!(auth.scheme, "Digest");
        assert_eq!(auth.param("URI"), Some("sip:bob@biloxi.com"));
        assert_eq!(auth.param("qop"), Some("auth"));
        assert!(auth.is_credentials());
        assert_eq!(auth.to_string(), text);
    }

    #[test]
    fn challenge_quotes_qop_and_unescapes() {
        let auth = Auth::parse(
            r#"Digest realm="a \"b\", c",qop="auth,auth-int", stale=FALSE ,algorithm=SHA-256"#,
        )
        .unwrap();
        assert_eq!(auth.param("realm"), Some(r#"a "b", c"#));
        assert_eq!(auth.param("qop"), Some("auth,auth-int"));
        assert_eq!(
            auth.to_string(),
            r#"Digest realm="a \"b\", c", qop="auth,auth-int", stale=FALSE, algorithm=SHA-256"#
        );
        assert_eq!(Auth::parse(&auth.to_string()).unwrap(), auth);
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "Digest realm",
            r#"Digest realm="open"#,
            "Digest a=b c",
            "Di gest",
        ] {
            assert!(Auth::parse(bad).is_err(), "{bad}");
        }
        assert!(Auth::parse("Digest").unwrap().params.is_empty());
    }
}
