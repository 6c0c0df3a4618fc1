//! Typed parsing of Via, From/To/Contact/Route (name-addr), CSeq and Reason.
//!
//! The sharp edge is RFC 3261 §20.10: in `name-addr` form (`<uri>`) the
//! parameters inside the brackets belong to the URI and those after `>` to
//! the header; in `addr-spec` form (no brackets) *every* `;param` after the
//! host belongs to the header, and the URI may carry neither parameters nor
//! `?headers` (RFC 4475 "regbadct").

use std::str::FromStr;

use super::lex::{
    find_byte, for_each_list_element, is_token, is_token_byte, is_wsp, parse_digits,
    parse_header_params, quoted_end, scan_header_params, skip_wsp, split_list, trim_wsp,
};
use super::sink::{Collect, PartSink};
use super::uri::{scan_host, scan_uri, HostRef, UriRef};
use crate::error::ParseError;
use crate::headers::{CSeq, Contacts, NameAddr, Reason, Via};
use crate::method::Method;

const BAD_VIA: ParseError = ParseError::InvalidSyntax("Via");
const BAD_NAME_ADDR: ParseError = ParseError::InvalidSyntax("name-addr");

/// Reads a token at `i`; returns it and the index after it.
fn token_at(s: &str, i: usize) -> Option<(&str, usize)> {
    let bytes = s.as_bytes();
    let mut end = i;
    while end < bytes.len() && is_token_byte(bytes[end]) {
        end += 1;
    }
    (end > i).then(|| (&s[i..end], end))
}

/// The fixed parts of one via-parm; its parameters went to the sink.
pub(crate) struct ViaRef<'a> {
    pub transport: &'a str,
    pub host: HostRef<'a>,
    pub port: Option<u16>,
}

/// Scans one via-parm: `SIP / 2.0 / UDP host[:port] *(; param)`, with the
/// white space RFC 3261 allows around `/`, `:`, `;` and `=`. Every error is
/// [`ParseError::InvalidSyntax`]`("Via")`.
pub(crate) fn scan_via<'a>(
    s: &'a str,
    sink: &mut impl PartSink<'a>,
) -> Result<ViaRef<'a>, ParseError> {
    let bytes = s.as_bytes();
    let i = skip_wsp(bytes, 0);
    let (name, i) = token_at(s, i).ok_or(BAD_VIA)?;
    let i = expect_slash(bytes, i)?;
    let (version, i) = token_at(s, i).ok_or(BAD_VIA)?;
    let i = expect_slash(bytes, i)?;
    let (transport, i) = token_at(s, i).ok_or(BAD_VIA)?;
    if !name.eq_ignore_ascii_case("SIP") || version != "2.0" {
        return Err(BAD_VIA);
    }
    let host_start = skip_wsp(bytes, i);
    if host_start == i {
        return Err(BAD_VIA);
    }
    let (host, rest) = scan_host(&s[host_start..]).ok_or(BAD_VIA)?;
    let after_host = s.len() - rest.len();
    let mut i = skip_wsp(bytes, after_host);
    let mut port = None;
    if bytes.get(i) == Some(&b':') {
        i = skip_wsp(bytes, i + 1);
        let end = s[i..]
            .bytes()
            .position(|b| !b.is_ascii_digit())
            .map_or(s.len(), |p| i + p);
        let value = parse_digits(&s[i..end]).ok_or(BAD_VIA)?;
        port = Some(u16::try_from(value).map_err(|_| BAD_VIA)?);
        i = end;
    }
    scan_header_params(&s[i..], |name, value| sink.header_param(name, value))
        .map_err(|_| BAD_VIA)?;
    Ok(ViaRef {
        transport,
        host,
        port,
    })
}

/// Scans a Via header value that may hold several comma-separated entries;
/// returns how many.
pub(crate) fn scan_via_list<'a>(
    s: &'a str,
    sink: &mut impl PartSink<'a>,
) -> Result<usize, ParseError> {
    for_each_list_element(s, |item| scan_via(item, sink).map(drop)).map_err(|_| BAD_VIA)
}

impl Via {
    /// Parses one via-parm: `SIP / 2.0 / UDP host[:port] *(; param)`, with the
    /// white space RFC 3261 allows around `/`, `:`, `;` and `=`.
    pub fn parse(s: &str) -> Result<Via, ParseError> {
        let mut parts = Collect::default();
        let via = scan_via(s, &mut parts)?;
        Ok(Via {
            transport: via.transport.to_string(),
            host: via.host.to_host(),
            port: via.port,
            params: parts.params,
        })
    }

    /// Parses a Via header value that may hold several comma-separated entries.
    pub fn parse_list(s: &str) -> Result<Vec<Via>, ParseError> {
        let mut list = Vec::new();
        for_each_list_element(s, |item| {
            list.push(Via::parse(item)?);
            Ok(())
        })
        .map_err(|_| BAD_VIA)?;
        Ok(list)
    }
}

fn expect_slash(bytes: &[u8], i: usize) -> Result<usize, ParseError> {
    let i = skip_wsp(bytes, i);
    if bytes.get(i) != Some(&b'/') {
        return Err(BAD_VIA);
    }
    Ok(skip_wsp(bytes, i + 1))
}

impl FromStr for Via {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Via, ParseError> {
        Via::parse(s)
    }
}

/// The fixed parts of a name-addr or addr-spec; its URI parameters, URI
/// headers and header parameters went to the sink.
pub(crate) struct NameAddrRef<'a> {
    /// The display name as written (quotes kept when quoted).
    pub display_name: Option<&'a str>,
    pub uri: UriRef<'a>,
}

impl NameAddrRef<'_> {
    /// The owned [`NameAddr`], with the parts a [`Collect`] gathered (and now gives up).
    fn into_name_addr(self, parts: &mut Collect) -> NameAddr {
        NameAddr {
            display_name: self.display_name.map(str::to_string),
            uri: self.uri.into_uri(parts),
            params: std::mem::take(&mut parts.params),
        }
    }
}

/// Scans `[display-name] <uri> *(; param)` or `addr-spec *(; param)`.
pub(crate) fn scan_name_addr<'a>(
    s: &'a str,
    sink: &mut impl PartSink<'a>,
) -> Result<NameAddrRef<'a>, ParseError> {
    let s = trim_wsp(s);
    let bytes = s.as_bytes();
    if bytes.first() == Some(&b'"') {
        let end = quoted_end(s, 0).map_err(|_| BAD_NAME_ADDR)?;
        let rest = s[end..].trim_start_matches([' ', '\t']);
        return bracketed(Some(&s[..end]), rest, sink);
    }
    // A token display name ends at '<'; an addr-spec reaches ':' first.
    match bytes.iter().position(|&b| b == b'<' || b == b':') {
        Some(lt) if bytes[lt] == b'<' => {
            let name = trim_wsp(&s[..lt]);
            if !name.bytes().all(|b| is_token_byte(b) || is_wsp(b)) {
                return Err(BAD_NAME_ADDR);
            }
            let display = (!name.is_empty()).then_some(name);
            bracketed(display, &s[lt..], sink)
        }
        _ => addr_spec(s, sink),
    }
}

/// Scans a comma-separated list of name-addrs, each handed to `each` with
/// the parts it sent to the sink; returns how many.
pub(crate) fn scan_name_addr_list<'a, S: PartSink<'a>>(
    s: &'a str,
    sink: &mut S,
    mut each: impl FnMut(NameAddrRef<'a>, &mut S),
) -> Result<usize, ParseError> {
    for_each_list_element(s, |item| {
        let addr = scan_name_addr(item, sink)?;
        each(addr, sink);
        Ok(())
    })
}

impl NameAddr {
    /// Parses `[display-name] <uri> *(; param)` or `addr-spec *(; param)`.
    pub fn parse(s: &str) -> Result<NameAddr, ParseError> {
        let mut parts = Collect::default();
        Ok(scan_name_addr(s, &mut parts)?.into_name_addr(&mut parts))
    }

    /// Parses a comma-separated list (Route, Record-Route, Contact without `*`).
    pub fn parse_list(s: &str) -> Result<Vec<NameAddr>, ParseError> {
        let mut list = Vec::new();
        scan_name_addr_list(s, &mut Collect::default(), |addr, parts| {
            list.push(addr.into_name_addr(parts));
        })?;
        Ok(list)
    }
}

/// `<uri>` followed by header parameters.
fn bracketed<'a>(
    display_name: Option<&'a str>,
    s: &'a str,
    sink: &mut impl PartSink<'a>,
) -> Result<NameAddrRef<'a>, ParseError> {
    let inner = s.strip_prefix('<').ok_or(BAD_NAME_ADDR)?;
    let gt = find_byte(inner, b'>').ok_or(BAD_NAME_ADDR)?;
    let uri = scan_uri(&inner[..gt], sink)?;
    scan_header_params(&inner[gt + 1..], |name, value| {
        sink.header_param(name, value)
    })?;
    Ok(NameAddrRef { display_name, uri })
}

/// A URI without brackets: it ends at the first `;` or white space after the
/// userinfo, and everything after is header parameters.
fn addr_spec<'a>(s: &'a str, sink: &mut impl PartSink<'a>) -> Result<NameAddrRef<'a>, ParseError> {
    let bytes = s.as_bytes();
    let colon = find_byte(s, b':').ok_or(BAD_NAME_ADDR)?;
    // The userinfo (which may hold ';') ends at the first '@', if any, before
    // a quoted parameter value could start.
    let quote = find_byte(s, b'"').unwrap_or(s.len());
    let host_start = find_byte(&s[..quote], b'@').map_or(colon + 1, |at| at + 1);
    let end = bytes[host_start..]
        .iter()
        .position(|&b| b == b';' || is_wsp(b))
        .map_or(s.len(), |p| host_start + p);
    let uri = scan_uri(&s[..end], sink)?;
    if uri.has_headers {
        return Err(ParseError::InvalidSyntax("addr-spec with URI headers"));
    }
    scan_header_params(&s[end..], |name, value| sink.header_param(name, value))?;
    Ok(NameAddrRef {
        display_name: None,
        uri,
    })
}

impl FromStr for NameAddr {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<NameAddr, ParseError> {
        NameAddr::parse(s)
    }
}

impl Contacts {
    /// Parses one Contact header value: `*` or a list of addresses.
    pub fn parse(s: &str) -> Result<Contacts, ParseError> {
        if trim_wsp(s) == "*" {
            return Ok(Contacts::Star);
        }
        NameAddr::parse_list(s).map(Contacts::List)
    }

    /// Parses all Contact header lines of a message; `*` must stand alone.
    pub fn parse_lines<'a>(
        lines: impl IntoIterator<Item = &'a str>,
    ) -> Result<Contacts, ParseError> {
        let mut list = Vec::new();
        let mut star = false;
        for line in lines {
            match Contacts::parse(line)? {
                Contacts::Star if !star && list.is_empty() => star = true,
                Contacts::Star => return Err(ParseError::InvalidSyntax("Contact *")),
                Contacts::List(mut addrs) => {
                    if star {
                        return Err(ParseError::InvalidSyntax("Contact *"));
                    }
                    list.append(&mut addrs);
                }
            }
        }
        Ok(if star {
            Contacts::Star
        } else {
            Contacts::List(list)
        })
    }
}

impl FromStr for Contacts {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Contacts, ParseError> {
        Contacts::parse(s)
    }
}

/// The largest CSeq number RFC 3261 §8.1.1.5 allows (2^31 - 1).
pub const MAX_CSEQ: u32 = (1 << 31) - 1;

/// Scans `1*DIGIT LWS Method`; returns the number and the method token.
pub(crate) fn scan_cseq(s: &str) -> Result<(u32, &str), ParseError> {
    const BAD: ParseError = ParseError::InvalidSyntax("CSeq");
    let s = trim_wsp(s);
    let split = memchr::memchr2(b' ', b'\t', s.as_bytes()).ok_or(BAD)?;
    let seq = parse_digits(&s[..split])
        .filter(|&n| n <= u64::from(MAX_CSEQ))
        .ok_or(BAD)?;
    let method = trim_wsp(&s[split..]);
    if !is_token(method) {
        return Err(BAD);
    }
    Ok((u32::try_from(seq).map_err(|_| BAD)?, method))
}

impl CSeq {
    /// Parses `1*DIGIT LWS Method`; the number must be below 2^31.
    pub fn parse(s: &str) -> Result<CSeq, ParseError> {
        let (seq, method) = scan_cseq(s)?;
        Ok(CSeq {
            seq,
            method: Method::from_token(method),
        })
    }
}

impl FromStr for CSeq {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<CSeq, ParseError> {
        CSeq::parse(s)
    }
}

impl Reason {
    /// Parses one entry: `protocol *(; param)`.
    pub fn parse(s: &str) -> Result<Reason, ParseError> {
        let s = trim_wsp(s);
        let end = s.bytes().position(|b| !is_token_byte(b)).unwrap_or(s.len());
        if end == 0 {
            return Err(ParseError::InvalidSyntax("Reason"));
        }
        Ok(Reason {
            protocol: s[..end].to_string(),
            params: parse_header_params(&s[end..])?,
        })
    }

    /// Parses a comma-separated list of entries.
    pub fn parse_list(s: &str) -> Result<Vec<Reason>, ParseError> {
        let mut list = Vec::new();
        for_each_list_element(s, |item| {
            list.push(Reason::parse(item)?);
            Ok(())
        })?;
        Ok(list)
    }
}

/// Splits a token list (Allow, Supported, Require…), skipping empty elements.
pub(crate) fn token_list(value: &str) -> impl Iterator<Item = &str> {
    split_list(value)
        .unwrap_or_default()
        .into_iter()
        .filter(|t| !t.is_empty())
}

/// Whether every element of a token list (Allow, Supported, Require…) is a
/// token or empty. Without quotes or brackets, which no token holds, the
/// list splits at every comma; one pass checks each element's shape:
/// optional white space, a token, optional white space.
pub(crate) fn is_token_list(value: &str) -> bool {
    #[derive(PartialEq)]
    enum At {
        Lead,
        Token,
        Trail,
    }
    let mut at = At::Lead;
    for b in value.bytes() {
        at = match b {
            b',' => At::Lead,
            b' ' | b'\t' if at == At::Lead => At::Lead,
            b' ' | b'\t' => At::Trail,
            _ if is_token_byte(b) && at != At::Trail => At::Token,
            _ => return false,
        };
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uri::Host;

    #[test]
    fn via_with_odd_whitespace() {
        let vias = Via::parse_list(
            "SIP  / 2.0  / TCP     spindle.example.com   ; branch  =   z9hG4bK9ikj8  , \
             SIP  /    2.0   / UDP  192.168.255.111   ; branch= z9hG4bK30239",
        )
        .unwrap();
        assert_eq!(vias.len(), 2);
        assert_eq!(vias[0].transport, "TCP");
        assert_eq!(vias[0].branch(), Some("z9hG4bK9ikj8"));
        assert_eq!(vias[1].host, Host::V4("192.168.255.111".parse().unwrap()));
        assert_eq!(vias[1].branch(), Some("z9hG4bK30239"));
    }

    #[test]
    fn via_ipv6_port_and_flags() {
        let via = Via::parse("SIP/2.0/TCP [2001:db8::10]:5070;rport;branch=z9hG4bKx").unwrap();
        assert_eq!(via.host, Host::V6("2001:db8::10".parse().unwrap()));
        assert_eq!(via.port, Some(5070));
        assert_eq!(via.rport(), Some(None));
        assert_eq!(
            via.to_string(),
            "SIP/2.0/TCP [2001:db8::10]:5070;rport;branch=z9hG4bKx"
        );
        let via = Via::parse("SIP/2.0/UDP host : 5060 ;received=192.0.2.1").unwrap();
        assert_eq!(via.port, Some(5060));
        assert_eq!(via.received(), Some("192.0.2.1"));
    }

    #[test]
    fn via_rejects_garbage() {
        for bad in [
            "SIP/2.0/UDP 192.0.2.15;;,;,,",
            "SIP/2.0/UDP",
            "SIP/2.0/UDPhost",
            "SIP/7.0/UDP host",
            "SIP/2.0/UDP host:port",
            "SIP/2.0 host",
        ] {
            assert!(Via::parse_list(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn name_addr_forms() {
        let a = NameAddr::parse(r#""Bob" <sip:bob@x;transport=tcp>;tag=1"#).unwrap();
        assert_eq!(a.display_name.as_deref(), Some("\"Bob\""));
        assert_eq!(a.uri.params.value("transport"), Some("tcp"));
        assert_eq!(a.tag(), Some("1"));

        // addr-spec: every parameter belongs to the header (RFC 3261 §20.10).
        let a = NameAddr::parse("sip:bob@x;tag=1;transport=tcp").unwrap();
        assert!(a.uri.params.0.is_empty());
        assert_eq!(a.tag(), Some("1"));
        assert_eq!(a.params.value("transport"), Some("tcp"));

        let a =
            NameAddr::parse("sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n").unwrap();
        assert_eq!(a.tag(), Some("1918181833n"));

        let a = NameAddr::parse("caller<sip:caller@example.com>;tag=323").unwrap();
        assert_eq!(a.display_name.as_deref(), Some("caller"));

        let a = NameAddr::parse(r#""J Rosenberg \\\"" <sip:jdrosen@example.com> ; tag = 98asjd8"#)
            .unwrap();
        assert_eq!(a.tag(), Some("98asjd8"));
        assert_eq!(a.display_name.as_deref(), Some(r#""J Rosenberg \\\"""#));

        let a = NameAddr::parse("sip:user;par=u%40example.net@example.com;tag=7").unwrap();
        assert_eq!(a.uri.user.as_deref(), Some("user;par=u%40example.net"));
        assert_eq!(a.tag(), Some("7"));
    }

    #[test]
    fn name_addr_rejects() {
        for bad in [
            r#""Mr. J. User <sip:j.user@example.com>"#,
            "Bell, Alexander <sip:a.g.bell@example.com>;tag=43",
            "< sip:t.watson@example.org >",
            "sip:user@example.com?Route=%3Csip:sip.example.com%3E",
            "\"Joe\" <sip:joe@example.org>;;;;",
            "<sip:x@y",
            "",
        ] {
            assert!(NameAddr::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn contact_lists() {
        assert!(Contacts::parse(" * ").unwrap().is_star());
        let c = Contacts::parse(r#""A, B" <sip:a@x>;q=0.5, <sip:b@y;lr>"#).unwrap();
        assert_eq!(c.addresses().len(), 2);
        assert!(Contacts::parse_lines(["*", "<sip:a@x>"]).is_err());
        assert_eq!(Contacts::parse_lines([]).unwrap(), Contacts::List(vec![]));
    }

    #[test]
    fn cseq() {
        let c = CSeq::parse("0009 INVITE").unwrap();
        assert_eq!((c.seq, c.method), (9, Method::Invite));
        assert_eq!(CSeq::parse("2147483647 FOO").unwrap().seq, MAX_CSEQ);
        for bad in [
            "36893488147419103232 REGISTER",
            "2147483648 INVITE",
            "-1 BYE",
            "1",
            "1 A B",
            "x INVITE",
        ] {
            assert!(CSeq::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn token_lists() {
        for good in ["INVITE, ACK,,BYE", "", " , ", "timer ,100rel\t", "a"] {
            assert!(is_token_list(good), "{good:?}");
        }
        for bad in [
            "INVITE ACK",
            "a, b c",
            "\"INVITE",
            "\"a\"",
            "<a>",
            "a;b",
            "caf\u{e9}",
        ] {
            assert!(!is_token_list(bad), "{bad:?}");
        }
    }

    #[test]
    fn reason() {
        let r = Reason::parse_list(
            r#"SIP ;cause=200 ;text="Call completed elsewhere", Q.850;cause=16"#,
        )
        .unwrap();
        assert_eq!(r[0].cause(), Some(200));
        assert_eq!(r[0].text().as_deref(), Some("Call completed elsewhere"));
        assert_eq!(r[1].protocol, "Q.850");
    }
}
