//! URI parsing (RFC 3261 §19.1 and §25.1, RFC 3966 for `tel:`).
//!
//! The user part may hold `;`, `?`, `,` and `/` (user-unreserved), so the
//! userinfo is cut at the first `@` before looking for parameters: in
//! `sip:user;par=u%40example.net@example.com` the user is `user;par=u%40example.net`
//! (RFC 4475 "semiuri"). Escapes are validated but kept as written.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use super::lex::{find_byte, parse_digits, ByteSet};
use super::sink::{Collect, PartSink};
use crate::error::ParseError;
use crate::uri::{Host, Scheme, Uri};

const BAD_URI: ParseError = ParseError::InvalidSyntax("URI");

/// `unreserved` (RFC 3261 §25.1): alphanumerics and marks.
const UNRESERVED_MARKS: &[u8] = b"-_.!~*'()";
/// `user` characters besides escapes.
static USER_BYTES: ByteSet = ByteSet::alphanumeric()
    .with(UNRESERVED_MARKS)
    .with(b"&=+$,;?/");
/// `password` characters besides escapes.
static PASSWORD_BYTES: ByteSet = ByteSet::alphanumeric()
    .with(UNRESERVED_MARKS)
    .with(b"&=+$,");
/// `paramchar` (URI parameter names and values) besides escapes.
static PARAM_BYTES: ByteSet = ByteSet::alphanumeric()
    .with(UNRESERVED_MARKS)
    .with(b"[]/:&+$");
/// `hname` / `hvalue` (URI headers) characters besides escapes.
static HEADER_BYTES: ByteSet = ByteSet::alphanumeric()
    .with(UNRESERVED_MARKS)
    .with(b"[]/?:+$");
/// Characters of a telephone number (RFC 3966, leniently).
static TEL_BYTES: ByteSet = ByteSet::alphanumeric().with(b"+-.()*#");
/// Characters of a host name or IPv4 address.
static HOST_NAME_BYTES: ByteSet = ByteSet::alphanumeric().with(b"-._");

/// Whether every byte of `s` is in `class` or is part of a valid `%XX` escape.
fn valid_escaped(s: &str, class: &ByteSet) -> bool {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = |j: usize| bytes.get(j).is_some_and(u8::is_ascii_hexdigit);
            if !(hex(i + 1) && hex(i + 2)) {
                return false;
            }
            i += 3;
        } else if class.contains(bytes[i]) {
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

/// A host borrowed from the text it was scanned from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HostRef<'a> {
    /// A domain name as written.
    Domain(&'a str),
    /// An IPv4 address.
    V4(Ipv4Addr),
    /// An IPv6 address.
    V6(Ipv6Addr),
}

impl HostRef<'_> {
    /// The owned [`Host`].
    pub(crate) fn to_host(self) -> Host {
        match self {
            HostRef::Domain(name) => Host::Domain(name.to_string()),
            HostRef::V4(addr) => Host::V4(addr),
            HostRef::V6(addr) => Host::V6(addr),
        }
    }
}

/// The fixed parts of a URI, borrowed from its text; its parameters and
/// headers went to the [`PartSink`] the scanner was given.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UriRef<'a> {
    pub scheme: Scheme,
    /// The user part (the number, for `tel:`), escapes kept.
    pub user: Option<&'a str>,
    pub password: Option<&'a str>,
    pub host: HostRef<'a>,
    pub port: Option<u16>,
    /// Whether the URI carries `?headers`.
    pub has_headers: bool,
}

impl UriRef<'_> {
    /// The owned [`Uri`], with the parameters and headers a [`Collect`]
    /// gathered (and now gives up).
    pub(crate) fn into_uri(self, parts: &mut Collect) -> Uri {
        Uri {
            scheme: self.scheme,
            user: self.user.map(str::to_string),
            password: self.password.map(str::to_string),
            host: self.host.to_host(),
            port: self.port,
            params: std::mem::take(&mut parts.uri_params),
            headers: std::mem::take(&mut parts.uri_headers),
        }
    }
}

impl Uri {
    /// Parses a `sip:`, `sips:` or `tel:` URI. Another well-formed scheme is
    /// [`ParseError::UnsupportedScheme`]; anything else is [`ParseError::InvalidSyntax`].
    pub fn parse(s: &str) -> Result<Uri, ParseError> {
        let mut parts = Collect::default();
        Ok(scan_uri(s, &mut parts)?.into_uri(&mut parts))
    }
}

impl FromStr for Uri {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Uri, ParseError> {
        Uri::parse(s)
    }
}

/// Scans a `sip:`, `sips:` or `tel:` URI (see [`Uri::parse`] for the errors).
pub(crate) fn scan_uri<'a>(
    s: &'a str,
    sink: &mut impl PartSink<'a>,
) -> Result<UriRef<'a>, ParseError> {
    let colon = find_byte(s, b':').ok_or(BAD_URI)?;
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
        scan_tel(rest, sink)
    } else {
        scan_sip(scheme, rest, sink)
    }
}

fn scan_tel<'a>(rest: &'a str, sink: &mut impl PartSink<'a>) -> Result<UriRef<'a>, ParseError> {
    let end = find_byte(rest, b';').unwrap_or(rest.len());
    let number = &rest[..end];
    if number.is_empty() || !number.bytes().all(|b| TEL_BYTES.contains(b)) {
        return Err(BAD_URI);
    }
    let tail = scan_uri_params(&rest[end..], sink)?;
    if !tail.is_empty() {
        return Err(BAD_URI);
    }
    Ok(UriRef {
        scheme: Scheme::Tel,
        user: Some(number),
        password: None,
        host: HostRef::Domain(""),
        port: None,
        has_headers: false,
    })
}

fn scan_sip<'a>(
    scheme: Scheme,
    rest: &'a str,
    sink: &mut impl PartSink<'a>,
) -> Result<UriRef<'a>, ParseError> {
    let (user, password, hostport) = match find_byte(rest, b'@') {
        Some(at) => {
            let userinfo = &rest[..at];
            let (user, password) = match find_byte(userinfo, b':') {
                Some(c) => (&userinfo[..c], Some(&userinfo[c + 1..])),
                None => (userinfo, None),
            };
            if user.is_empty() || !valid_escaped(user, &USER_BYTES) {
                return Err(BAD_URI);
            }
            if let Some(pw) = password {
                if !valid_escaped(pw, &PASSWORD_BYTES) {
                    return Err(BAD_URI);
                }
            }
            (Some(user), password, &rest[at + 1..])
        }
        None => (None, None, rest),
    };
    let (host, port, tail) = scan_hostport(hostport).ok_or(BAD_URI)?;
    let tail = scan_uri_params(tail, sink)?;
    let has_headers = scan_uri_headers(tail, sink)?;
    Ok(UriRef {
        scheme,
        user,
        password,
        host,
        port,
        has_headers,
    })
}

/// Scans `host [":" port]` at the start of `s`; returns the rest.
fn scan_hostport(s: &str) -> Option<(HostRef<'_>, Option<u16>, &str)> {
    let (host, rest) = scan_host(s)?;
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

/// Scans a host (`[v6]`, IPv4 or domain name) at the start of `s`; returns the rest.
pub(crate) fn scan_host(s: &str) -> Option<(HostRef<'_>, &str)> {
    if let Some(inner) = s.strip_prefix('[') {
        let close = find_byte(inner, b']')?;
        let addr = Ipv6Addr::from_str(&inner[..close]).ok()?;
        return Some((HostRef::V6(addr), &inner[close + 1..]));
    }
    let end = s
        .bytes()
        .position(|b| !HOST_NAME_BYTES.contains(b))
        .unwrap_or(s.len());
    let name = &s[..end];
    let double_dot = name.as_bytes().windows(2).any(|pair| pair == b"..");
    if name.is_empty() || name.starts_with('.') || double_dot {
        return None;
    }
    let numeric = name.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    let host = if numeric {
        match Ipv4Addr::from_str(name) {
            Ok(addr) => HostRef::V4(addr),
            Err(_) => return None,
        }
    } else {
        HostRef::Domain(name)
    };
    Some((host, &s[end..]))
}

/// Scans `*( ";" pname [ "=" pvalue ] )`; stops at `?` or the end.
fn scan_uri_params<'a>(s: &'a str, sink: &mut impl PartSink<'a>) -> Result<&'a str, ParseError> {
    let mut rest = s;
    while let Some(after) = rest.strip_prefix(';') {
        let end = memchr::memchr2(b';', b'?', after.as_bytes()).unwrap_or(after.len());
        let param = &after[..end];
        let (name, value) = match find_byte(param, b'=') {
            Some(eq) => (&param[..eq], Some(&param[eq + 1..])),
            None => (param, None),
        };
        if name.is_empty() || !valid_escaped(name, &PARAM_BYTES) {
            return Err(BAD_URI);
        }
        if let Some(v) = value {
            if v.is_empty() || !valid_escaped(v, &PARAM_BYTES) {
                return Err(BAD_URI);
            }
        }
        sink.uri_param(name, value);
        rest = &after[end..];
    }
    if !rest.is_empty() && !rest.starts_with('?') {
        return Err(BAD_URI);
    }
    Ok(rest)
}

/// Scans `"?" header *( "&" header )` (or nothing); whether there were any.
fn scan_uri_headers<'a>(s: &'a str, sink: &mut impl PartSink<'a>) -> Result<bool, ParseError> {
    let Some(list) = s.strip_prefix('?') else {
        return if s.is_empty() {
            Ok(false)
        } else {
            Err(BAD_URI)
        };
    };
    for h in list.split('&') {
        let eq = find_byte(h, b'=').ok_or(BAD_URI)?;
        let (name, value) = (&h[..eq], &h[eq + 1..]);
        if name.is_empty()
            || !valid_escaped(name, &HEADER_BYTES)
            || !valid_escaped(value, &HEADER_BYTES)
        {
            return Err(BAD_URI);
        }
        sink.uri_header(name, value);
    }
    Ok(true)
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
