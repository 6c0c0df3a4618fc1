//! URI parsing (RFC 3261 §19.1 and §25.1, RFC 3966 for `tel:`).
//!
//! The user part may hold `;`, `?`, `,` and `/` (user-unreserved), so the
//! userinfo is cut at the first `@` before looking for parameters: in
//! `sip:user;par=u%40example.net@example.com` the user is `user;par=u%40example.net`
//! (RFC 4475 "semiuri"). Escapes are validated but kept as written.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use super::lex::parse_digits;
use crate::error::ParseError;
use crate::params::Params;
use crate::uri::{Host, Scheme, Uri};

const BAD_URI: ParseError = ParseError::InvalidSyntax("URI");

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
        )
}

fn is_user_byte(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'&' | b'=' | b'+' | b'$' | b',' | b';' | b'?' | b'/')
}

fn is_password_byte(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'&' | b'=' | b'+' | b'$' | b',')
}

fn is_param_byte(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'[' | b']' | b'/' | b':' | b'&' | b'+' | b'$')
}

fn is_hnv_byte(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'[' | b']' | b'/' | b'?' | b':' | b'+' | b'$')
}

fn is_tel_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.' | b'(' | b')' | b'*' | b'#')
}

/// Whether every byte of `s` is allowed by `class` or is part of a valid `%XX` escape.
fn valid_escaped(s: &str, class: fn(u8) -> bool) -> bool {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = |j: usize| bytes.get(j).is_some_and(u8::is_ascii_hexdigit);
            if !(hex(i + 1) && hex(i + 2)) {
                return false;
            }
            i += 3;
        } else if class(bytes[i]) {
            i += 1;
        } else {
            return false;
        }
    }
    true
}

/// Whether `s` is a URI scheme token: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
fn is_scheme(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

impl Uri {
    /// Parses a `sip:`, `sips:` or `tel:` URI. Another well-formed scheme is
    /// [`ParseError::UnsupportedScheme`]; anything else is [`ParseError::InvalidSyntax`].
    pub fn parse(s: &str) -> Result<Uri, ParseError> {
        let colon = s.find(':').ok_or(BAD_URI)?;
        let scheme_text = &s[..colon];
        if !is_scheme(scheme_text) {
            return Err(BAD_URI);
        }
        let scheme = if scheme_text.eq_ignore_ascii_case("sip") {
            Scheme::Sip
        } else if scheme_text.eq_ignore_ascii_case("sips") {
            Scheme::Sips
        } else if scheme_text.eq_ignore_ascii_case("tel") {
            Scheme::Tel
        } else {
            return Err(ParseError::UnsupportedScheme(scheme_text.to_string()));
        };
        let rest = &s[colon + 1..];
        if scheme == Scheme::Tel {
            parse_tel(rest)
        } else {
            parse_sip(scheme, rest)
        }
    }
}

impl FromStr for Uri {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Uri, ParseError> {
        Uri::parse(s)
    }
}

fn parse_tel(rest: &str) -> Result<Uri, ParseError> {
    let end = rest.find(';').unwrap_or(rest.len());
    let number = &rest[..end];
    if number.is_empty() || !number.bytes().all(is_tel_byte) {
        return Err(BAD_URI);
    }
    let (params, tail) = parse_uri_params(&rest[end..])?;
    if !tail.is_empty() {
        return Err(BAD_URI);
    }
    Ok(Uri {
        scheme: Scheme::Tel,
        user: Some(number.to_string()),
        password: None,
        host: Host::Domain(String::new()),
        port: None,
        params,
        headers: Vec::new(),
    })
}

fn parse_sip(scheme: Scheme, rest: &str) -> Result<Uri, ParseError> {
    let (user, password, hostport) = match rest.find('@') {
        Some(at) => {
            let userinfo = &rest[..at];
            let (user, password) = match userinfo.find(':') {
                Some(c) => (&userinfo[..c], Some(&userinfo[c + 1..])),
                None => (userinfo, None),
            };
            if user.is_empty() || !valid_escaped(user, is_user_byte) {
                return Err(BAD_URI);
            }
            if let Some(pw) = password {
                if !valid_escaped(pw, is_password_byte) {
                    return Err(BAD_URI);
                }
            }
            (
                Some(user.to_string()),
                password.map(str::to_string),
                &rest[at + 1..],
            )
        }
        None => (None, None, rest),
    };
    let (host, port, tail) = parse_hostport(hostport).ok_or(BAD_URI)?;
    let (params, tail) = parse_uri_params(tail)?;
    let headers = parse_uri_headers(tail)?;
    Ok(Uri {
        scheme,
        user,
        password,
        host,
        port,
        params,
        headers,
    })
}

/// Parses `host [":" port]` at the start of `s`; returns the rest. Used by
/// URIs and (with white space around the colon stripped by the caller) Via.
pub(crate) fn parse_hostport(s: &str) -> Option<(Host, Option<u16>, &str)> {
    let (host, rest) = parse_host(s)?;
    match rest.strip_prefix(':') {
        Some(after) => {
            let end = after
                .bytes()
                .position(|b| !b.is_ascii_digit())
                .unwrap_or(after.len());
            let port = u16::try_from(parse_digits(&after[..end])?).ok()?;
            Some((host, Some(port), &after[end..]))
        }
        None => Some((host, None, rest)),
    }
}

/// Parses a host (`[v6]`, IPv4 or domain name) at the start of `s`.
pub(crate) fn parse_host(s: &str) -> Option<(Host, &str)> {
    if let Some(inner) = s.strip_prefix('[') {
        let close = inner.find(']')?;
        let addr = Ipv6Addr::from_str(&inner[..close]).ok()?;
        return Some((Host::V6(addr), &inner[close + 1..]));
    }
    let end = s
        .bytes()
        .position(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')))
        .unwrap_or(s.len());
    let name = &s[..end];
    if name.is_empty() || name.starts_with('.') || name.contains("..") {
        return None;
    }
    let host = if name.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        match Ipv4Addr::from_str(name) {
            Ok(addr) => Host::V4(addr),
            Err(_) => return None,
        }
    } else {
        Host::Domain(name.to_string())
    };
    Some((host, &s[end..]))
}

/// Parses `*( ";" pname [ "=" pvalue ] )`; stops at `?` or the end.
fn parse_uri_params(s: &str) -> Result<(Params, &str), ParseError> {
    let mut params = Params::default();
    let mut rest = s;
    while let Some(after) = rest.strip_prefix(';') {
        let end = after.find([';', '?']).unwrap_or(after.len());
        let param = &after[..end];
        let (name, value) = match param.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (param, None),
        };
        if name.is_empty() || !valid_escaped(name, is_param_byte) {
            return Err(BAD_URI);
        }
        if let Some(v) = value {
            if v.is_empty() || !valid_escaped(v, is_param_byte) {
                return Err(BAD_URI);
            }
        }
        params.0.push((name.to_string(), value.map(str::to_string)));
        rest = &after[end..];
    }
    if !rest.is_empty() && !rest.starts_with('?') {
        return Err(BAD_URI);
    }
    Ok((params, rest))
}

/// Parses `"?" header *( "&" header )` (or nothing).
fn parse_uri_headers(s: &str) -> Result<Vec<(String, String)>, ParseError> {
    let Some(list) = s.strip_prefix('?') else {
        return if s.is_empty() {
            Ok(Vec::new())
        } else {
            Err(BAD_URI)
        };
    };
    list.split('&')
        .map(|h| {
            let (name, value) = h.split_once('=').ok_or(BAD_URI)?;
            if name.is_empty()
                || !valid_escaped(name, is_hnv_byte)
                || !valid_escaped(value, is_hnv_byte)
            {
                return Err(BAD_URI);
            }
            Ok((name.to_string(), value.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(s: &str) -> Uri {
        let uri = Uri::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(uri.to_string(), s);
        uri
    }

    #[test]
    fn plain_and_full_uris() {
        let uri = round_trip("sip:alice@atlanta.example.com");
        assert_eq!(uri.user.as_deref(), Some("alice"));
        assert_eq!(uri.host, Host::Domain("atlanta.example.com".into()));
        let uri = round_trip("sips:alice:secret@192.0.2.4:5061;transport=tcp;lr?Subject=x&P=y");
        assert_eq!(uri.scheme, Scheme::Sips);
        assert_eq!(uri.password.as_deref(), Some("secret"));
        assert_eq!(uri.host, Host::V4(Ipv4Addr::new(192, 0, 2, 4)));
        assert_eq!(uri.port, Some(5061));
        assert_eq!(uri.params.value("transport"), Some("tcp"));
        assert!(uri.params.contains("lr"));
        assert_eq!(uri.headers.len(), 2);
    }

    #[test]
    fn ipv6_reference() {
        let uri = round_trip("sip:bob@[2001:db8::10]:5070;maddr=[2001:db8::1]");
        assert_eq!(uri.host, Host::V6("2001:db8::10".parse().unwrap()));
        assert_eq!(uri.port, Some(5070));
        assert_eq!(uri.params.value("maddr"), Some("[2001:db8::1]"));
        assert!(Uri::parse("sip:[2001:db8::10").is_err());
        assert!(Uri::parse("sip:[not-an-address]").is_err());
    }

    #[test]
    fn user_may_hold_semicolons_and_escapes() {
        let uri = round_trip("sip:user;par=u%40example.net@example.com");
        assert_eq!(uri.user.as_deref(), Some("user;par=u%40example.net"));
        assert_eq!(
            uri.user_unescaped().as_deref(),
            Some("user;par=u@example.net")
        );
        assert!(uri.params.0.is_empty());
        round_trip("sip:null-%00-null@example.com");
        assert!(Uri::parse("sip:bad%zzescape@example.com").is_err());
    }

    #[test]
    fn tel_uri() {
        let uri = round_trip("tel:+1-201-555-0123;phone-context=example.com");
        assert_eq!(uri.scheme, Scheme::Tel);
        assert_eq!(uri.user.as_deref(), Some("+1-201-555-0123"));
    }

    #[test]
    fn schemes() {
        assert_eq!(
            Uri::parse("nobodyknowsthisscheme:totallyopaquecontent"),
            Err(ParseError::UnsupportedScheme(
                "nobodyknowsthisscheme".into()
            ))
        );
        assert!(matches!(
            Uri::parse("soap.beep://192.0.2.103:3002"),
            Err(ParseError::UnsupportedScheme(_))
        ));
        assert_eq!(Uri::parse("SIP:Host").unwrap().scheme, Scheme::Sip);
        assert_eq!(Uri::parse("<sip:x>"), Err(BAD_URI));
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "sip:",
            "sip:@host",
            "sip:host:",
            "sip:host:99999",
            "sip:host; lr",
            "sip:user@host name",
            "sip:host;=x",
            "sip:host;a=",
            "sip:host?x",
            "sip:a..b",
            "sip:1.2.3.999",
        ] {
            assert!(Uri::parse(bad).is_err(), "{bad} should be rejected");
        }
    }
}
