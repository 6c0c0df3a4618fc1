//! Typed, on-demand access to the headers of a message.
//!
//! Headers are stored as text; these accessors parse what they are asked for
//! and nothing else. A message from [`crate::parse_datagram`] or
//! [`crate::parse_stream`] has already had its mandatory headers checked, so
//! for it `from()`, `cseq()` and friends only fail if someone edited the
//! headers since. Errors name the header ([`ParseError::InvalidHeader`]).

use crate::auth::Auth;
use crate::error::ParseError;
use crate::header::{HeaderName, Headers};
use crate::headers::{CSeq, Contacts, NameAddr, Reason, Via};
use crate::message::{Message, Request, Response};
use crate::parser::{parse_content_length, parse_digits, token_list};

/// Typed header accessors, shared by [`Headers`], [`Request`], [`Response`] and [`Message`].
pub trait TypedHeaders {
    /// The header lines the accessors read.
    fn header_list(&self) -> &Headers;

    /// Every Via entry, top first (several lines and comma lists flattened).
    fn vias(&self) -> Result<Vec<Via>, ParseError> {
        let mut vias = Vec::new();
        for line in self.header_list().get_all(HeaderName::Via) {
            vias.extend(Via::parse_list(line).map_err(|e| e.in_header("Via"))?);
        }
        Ok(vias)
    }

    /// The topmost Via entry.
    fn top_via(&self) -> Result<Via, ParseError> {
        let line = self
            .header_list()
            .get(HeaderName::Via)
            .ok_or(ParseError::MissingHeader("Via"))?;
        let first = crate::parser::split_list(line)
            .ok()
            .and_then(|parts| parts.first().copied())
            .unwrap_or(line);
        Via::parse(first).map_err(|e| e.in_header("Via"))
    }

    /// The From header.
    fn from(&self) -> Result<NameAddr, ParseError> {
        required_name_addr(self.header_list(), HeaderName::From, "From")
    }

    /// The To header.
    fn to(&self) -> Result<NameAddr, ParseError> {
        required_name_addr(self.header_list(), HeaderName::To, "To")
    }

    /// The Call-ID header value.
    fn call_id(&self) -> Option<&str> {
        self.header_list().get(HeaderName::CallId)
    }

    /// The CSeq header.
    fn cseq(&self) -> Result<CSeq, ParseError> {
        let value = self
            .header_list()
            .get(HeaderName::CSeq)
            .ok_or(ParseError::MissingHeader("CSeq"))?;
        CSeq::parse(value).map_err(|e| e.in_header("CSeq"))
    }

    /// The Contact header(s): `*` or the addresses (empty list when absent).
    fn contacts(&self) -> Result<Contacts, ParseError> {
        Contacts::parse_lines(self.header_list().get_all(HeaderName::Contact))
            .map_err(|e| e.in_header("Contact"))
    }

    /// The Route set, in order.
    fn routes(&self) -> Result<Vec<NameAddr>, ParseError> {
        name_addr_list(self.header_list(), HeaderName::Route, "Route")
    }

    /// The Record-Route set, in order.
    fn record_routes(&self) -> Result<Vec<NameAddr>, ParseError> {
        name_addr_list(self.header_list(), HeaderName::RecordRoute, "Record-Route")
    }

    /// Max-Forwards (0–255), `None` when absent.
    fn max_forwards(&self) -> Result<Option<u8>, ParseError> {
        self.header_list()
            .get(HeaderName::MaxForwards)
            .map(|v| {
                parse_digits(v)
                    .and_then(|n| u8::try_from(n).ok())
                    .ok_or_else(|| {
                        ParseError::InvalidSyntax("Max-Forwards").in_header("Max-Forwards")
                    })
            })
            .transpose()
    }

    /// Content-Length, `None` when absent.
    fn content_length(&self) -> Result<Option<usize>, ParseError> {
        self.header_list()
            .get(HeaderName::ContentLength)
            .map(parse_content_length)
            .transpose()
    }

    /// Expires in seconds, `None` when absent; values past 2^32-1 saturate
    /// (RFC 3261 §20.19 and RFC 4475 "scalar02").
    fn expires(&self) -> Result<Option<u32>, ParseError> {
        self.header_list()
            .get(HeaderName::Expires)
            .map(|v| {
                let v = v.trim();
                if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(ParseError::InvalidSyntax("Expires").in_header("Expires"));
                }
                Ok(parse_digits(v)
                    .and_then(|n| u32::try_from(n).ok())
                    .unwrap_or(u32::MAX))
            })
            .transpose()
    }

    /// The Content-Type value as written (`application/sdp`).
    fn content_type(&self) -> Option<&str> {
        self.header_list().get(HeaderName::ContentType)
    }

    /// The methods in Allow (empty when absent).
    fn allow(&self) -> Vec<&str> {
        tokens(self.header_list(), HeaderName::Allow)
    }

    /// The option tags in Supported (empty when absent).
    fn supported(&self) -> Vec<&str> {
        tokens(self.header_list(), HeaderName::Supported)
    }

    /// The option tags in Require (empty when absent).
    fn require(&self) -> Vec<&str> {
        tokens(self.header_list(), HeaderName::Require)
    }

    /// The first entry of the Reason header (RFC 3326), not the status line's reason phrase.
    fn reason(&self) -> Result<Option<Reason>, ParseError> {
        let Some(value) = self.header_list().get(HeaderName::Reason) else {
            return Ok(None);
        };
        let mut list = Reason::parse_list(value).map_err(|e| e.in_header("Reason"))?;
        Ok(Some(list.swap_remove(0)))
    }

    /// Every value of an authentication header (WWW-Authenticate, Authorization,
    /// Proxy-Authenticate, Proxy-Authorization), one per line.
    fn auth(&self, name: HeaderName) -> Result<Vec<Auth>, ParseError> {
        self.header_list()
            .get_all(name)
            .map(|v| Auth::parse(v).map_err(|e| e.in_header(name.as_str())))
            .collect()
    }
}

fn required_name_addr(
    headers: &Headers,
    name: HeaderName,
    label: &'static str,
) -> Result<NameAddr, ParseError> {
    let value = headers.get(name).ok_or(ParseError::MissingHeader(label))?;
    NameAddr::parse(value).map_err(|e| e.in_header(label))
}

fn name_addr_list(
    headers: &Headers,
    name: HeaderName,
    label: &'static str,
) -> Result<Vec<NameAddr>, ParseError> {
    let mut list = Vec::new();
    for line in headers.get_all(name) {
        list.extend(NameAddr::parse_list(line).map_err(|e| e.in_header(label))?);
    }
    Ok(list)
}

fn tokens(headers: &Headers, name: HeaderName) -> Vec<&str> {
    headers.get_all(name).flat_map(token_list).collect()
}

impl TypedHeaders for Headers {
    fn header_list(&self) -> &Headers {
        self
    }
}

impl TypedHeaders for Request {
    fn header_list(&self) -> &Headers {
        &self.headers
    }
}

impl TypedHeaders for Response {
    fn header_list(&self) -> &Headers {
        &self.headers
    }
}

impl TypedHeaders for Message {
    fn header_list(&self) -> &Headers {
        self.headers()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::method::Method;

    fn headers(lines: &[(&str, &str)]) -> Headers {
        let mut h = Headers::new();
        for (name, value) in lines {
            h.push(*name, *value);
        }
        h
    }

    #[test]
    fn header_names_resolve_long_and_compact() {
        for name in HeaderName::ALL {
            assert_eq!(HeaderName::from_name(name.as_str()), Some(name));
            assert_eq!(
                HeaderName::from_name(&name.as_str().to_uppercase()),
                Some(name)
            );
            if let Some(c) = name.compact() {
                assert_eq!(HeaderName::from_name(&c.to_uppercase()), Some(name));
            }
        }
        assert_eq!(HeaderName::from_name("X-Unknown"), None);
        assert_eq!(HeaderName::from_name("q"), None);
    }

    #[test]
    fn scalar_accessors() {
        let h = headers(&[
            ("Max-Forwards", "70"),
            ("Expires", "99999999999999999999"),
            ("l", "12"),
            ("Allow", "INVITE, ACK,,BYE"),
            ("Allow", "OPTIONS"),
            ("Require", "100rel"),
        ]);
        assert_eq!(h.max_forwards(), Ok(Some(70)));
        assert_eq!(h.expires(), Ok(Some(u32::MAX)));
        assert_eq!(h.content_length(), Ok(Some(12)));
        assert_eq!(h.allow(), vec!["INVITE", "ACK", "BYE", "OPTIONS"]);
        assert_eq!(h.require(), vec!["100rel"]);
        assert!(h.supported().is_empty());
        assert_eq!(h.content_type(), None);
        let bad = headers(&[("Max-Forwards", "256"), ("Expires", "soon")]);
        assert!(bad.max_forwards().is_err());
        let err = bad.expires().unwrap_err();
        assert_eq!(err.reason_phrase(), "Bad Request - Invalid Expires header");
    }

    #[test]
    fn missing_and_invalid_headers_are_named() {
        let h = headers(&[("Via", "garbage"), ("CSeq", "x")]);
        assert_eq!(h.from(), Err(ParseError::MissingHeader("From")));
        assert!(
            matches!(h.top_via(), Err(ParseError::InvalidHeader { ref name, .. }) if name == "Via")
        );
        assert!(
            matches!(h.cseq(), Err(ParseError::InvalidHeader { ref name, .. }) if name == "CSeq")
        );
        assert_eq!(h.routes(), Ok(Vec::new()));
        assert_eq!(h.reason(), Ok(None));
        assert_eq!(h.contacts(), Ok(Contacts::List(Vec::new())));
    }

    #[test]
    fn structured_accessors() {
        let h = headers(&[
            ("Via", "SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/TCP b"),
            ("v", "SIP/2.0/TLS c"),
            ("CSeq", "7 BYE"),
            ("Record-Route", "<sip:p1;lr>, <sip:p2;lr>"),
            ("Reason", "Q.850;cause=16;text=\"Normal\""),
            ("WWW-Authenticate", "Digest realm=\"r\", nonce=\"n\""),
        ]);
        assert_eq!(h.top_via().map(|v| v.transport), Ok("UDP".to_string()));
        assert_eq!(h.vias().map(|v| v.len()), Ok(3));
        assert_eq!(h.cseq().map(|c| c.method), Ok(Method::Bye));
        assert_eq!(h.record_routes().map(|r| r.len()), Ok(2));
        let reason = h.reason().unwrap().unwrap();
        assert_eq!(
            (reason.cause(), reason.text()),
            (Some(16), Some("Normal".into()))
        );
        let challenges = h.auth(HeaderName::WwwAuthenticate).unwrap();
        assert_eq!(challenges[0].param("nonce"), Some("n"));
    }
}
