//! Reading the header fields the stack needs, and writing messages as bytes.
//!
//! The `sip` crate owns the full RFC 3261 grammar; this module is the narrow
//! set of views the transaction and dialog layers depend on (top Via, tags,
//! CSeq, Contact, Record-Route) plus serialization, so the rest of the crate
//! reads in telephony terms. Everything here returns `None` on malformed input
//! rather than panicking: the values come from the network.

use std::fmt::Write as _;

use sip::{
    CSeq, Header, HeaderName, Headers, Host, Method, NameAddr, Params, Request, Response, Scheme,
    Uri, Via,
};

/// Splits a header value on commas that are outside quotes and angle brackets.
pub(crate) fn split_list(value: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut in_quotes, mut in_angle, mut escaped) = (false, false, false);
    let mut start = 0;
    for (i, c) in value.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if in_quotes => escaped = true,
            '"' => in_quotes = !in_quotes,
            '<' if !in_quotes => in_angle = true,
            '>' if !in_quotes => in_angle = false,
            ',' if !in_quotes && !in_angle => {
                parts.push(value[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(value[start..].trim());
    parts.retain(|p| !p.is_empty());
    parts
}

/// Parses `;a=b;c` into parameters (values kept as written).
fn parse_params(text: &str) -> Params {
    let mut params = Params::default();
    for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('=') {
            Some((n, v)) => params
                .0
                .push((n.trim().to_string(), Some(v.trim().to_string()))),
            None => params.0.push((part.to_string(), None)),
        }
    }
    params
}

/// Parses `host[:port]` where host may be `[v6]`.
pub(crate) fn parse_host_port(text: &str) -> Option<(Host, Option<u16>)> {
    let text = text.trim();
    if let Some(rest) = text.strip_prefix('[') {
        let (addr, after) = rest.split_once(']')?;
        let host = Host::V6(addr.parse().ok()?);
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p.parse().ok()?),
            None if after.is_empty() => None,
            None => return None,
        };
        return Some((host, port));
    }
    let (host, port) = match text.rsplit_once(':') {
        Some((h, p)) => (h, Some(p.parse().ok()?)),
        None => (text, None),
    };
    if host.is_empty()
        || !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
    {
        return None;
    }
    let host = match host.parse() {
        Ok(v4) => Host::V4(v4),
        Err(_) => Host::Domain(host.to_string()),
    };
    Some((host, port))
}

/// Parses a `sip:`/`sips:`/`tel:` URI.
pub(crate) fn parse_uri(text: &str) -> Option<Uri> {
    let text = text.trim();
    let (scheme, rest) = text.split_once(':')?;
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "sip" => Scheme::Sip,
        "sips" => Scheme::Sips,
        "tel" => Scheme::Tel,
        _ => return None,
    };
    let (rest, headers) = match rest.split_once('?') {
        Some((r, h)) => (r, h),
        None => (rest, ""),
    };
    let headers = headers
        .split('&')
        .filter(|h| !h.is_empty())
        .map(|h| match h.split_once('=') {
            Some((n, v)) => (n.to_string(), v.to_string()),
            None => (h.to_string(), String::new()),
        })
        .collect();
    let (main, params) = match rest.split_once(';') {
        Some((m, p)) => (m, parse_params(p)),
        None => (rest, Params::default()),
    };
    if scheme == Scheme::Tel {
        return Some(Uri {
            scheme,
            user: Some(main.to_string()),
            password: None,
            host: Host::Domain(String::new()),
            port: None,
            params,
            headers,
        });
    }
    let (userinfo, hostport) = match main.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, main),
    };
    let (user, password) = match userinfo {
        Some(u) => match u.split_once(':') {
            Some((user, pw)) => (Some(user.to_string()), Some(pw.to_string())),
            None => (Some(u.to_string()), None),
        },
        None => (None, None),
    };
    let (host, port) = parse_host_port(hostport)?;
    Some(Uri {
        scheme,
        user,
        password,
        host,
        port,
        params,
        headers,
    })
}

/// Parses one Via entry: `SIP/2.0/UDP host:port;branch=...`.
pub(crate) fn parse_via(text: &str) -> Option<Via> {
    let text = text.trim();
    let (protocol, rest) = text.split_once(|c: char| c.is_ascii_whitespace())?;
    let mut parts = protocol.split('/');
    let (name, version, transport) = (parts.next()?, parts.next()?, parts.next()?);
    if !name.trim().eq_ignore_ascii_case("SIP") || version.trim() != "2.0" || parts.next().is_some()
    {
        return None;
    }
    let (sent_by, params) = match rest.split_once(';') {
        Some((s, p)) => (s, parse_params(p)),
        None => (rest, Params::default()),
    };
    let (host, port) = parse_host_port(sent_by)?;
    Some(Via {
        transport: transport.trim().to_ascii_uppercase(),
        host,
        port,
        params,
    })
}

/// Every Via entry of a message, top first.
pub(crate) fn vias(headers: &Headers) -> Option<Vec<Via>> {
    headers
        .get_all(HeaderName::Via)
        .flat_map(split_list)
        .map(parse_via)
        .collect()
}

/// The top Via entry.
pub(crate) fn top_via(headers: &Headers) -> Option<Via> {
    let first = headers.get(HeaderName::Via)?;
    parse_via(split_list(first).first()?)
}

/// Replaces the top Via entry, keeping the others (also those folded in the same line).
pub(crate) fn replace_top_via(headers: &mut Headers, via: &Via) {
    let Some(line) = headers.0.iter_mut().find(|h| h.is(HeaderName::Via)) else {
        return;
    };
    let rest: Vec<String> = split_list(&line.value)
        .iter()
        .skip(1)
        .map(|s| s.to_string())
        .collect();
    let mut value = via.to_string();
    for other in rest {
        value.push_str(", ");
        value.push_str(&other);
    }
    line.value = value;
}

/// Removes the top Via entry (a response travelling back through a proxy layer).
#[cfg(test)]
pub(crate) fn pop_via(headers: &mut Headers) {
    let Some(pos) = headers.0.iter().position(|h| h.is(HeaderName::Via)) else {
        return;
    };
    let rest: Vec<String> = split_list(&headers.0[pos].value)
        .iter()
        .skip(1)
        .map(|s| s.to_string())
        .collect();
    if rest.is_empty() {
        headers.0.remove(pos);
    } else {
        headers.0[pos].value = rest.join(", ");
    }
}

/// Parses `"Name" <uri>;params` or `uri;params` (header params then belong to the header).
pub(crate) fn parse_name_addr(text: &str) -> Option<NameAddr> {
    let text = text.trim();
    if let Some(open) = find_unquoted(text, '<') {
        let display = text[..open].trim();
        let close = open + text[open..].find('>')?;
        let uri = parse_uri(&text[open + 1..close])?;
        let params = text[close + 1..].trim();
        let params = params
            .strip_prefix(';')
            .map(parse_params)
            .unwrap_or_default();
        return Some(NameAddr {
            display_name: (!display.is_empty()).then(|| display.to_string()),
            uri,
            params,
        });
    }
    // addr-spec form: parameters after the URI are header parameters (RFC 3261 §20.10).
    let (uri, params) = match text.split_once(';') {
        Some((u, p)) => (u, parse_params(p)),
        None => (text, Params::default()),
    };
    Some(NameAddr {
        display_name: None,
        uri: parse_uri(uri)?,
        params,
    })
}

fn find_unquoted(text: &str, needle: char) -> Option<usize> {
    let mut in_quotes = false;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' && in_quotes {
            escaped = true;
        } else if c == '"' {
            in_quotes = !in_quotes;
        } else if c == needle && !in_quotes {
            return Some(i);
        }
    }
    None
}

/// Every entry of a list header (Record-Route, Route, Contact), in order; `None` if any is malformed.
pub(crate) fn name_addr_list(headers: &Headers, name: HeaderName) -> Option<Vec<NameAddr>> {
    headers
        .get_all(name)
        .flat_map(split_list)
        .map(parse_name_addr)
        .collect()
}

/// The From or To header.
pub(crate) fn party(headers: &Headers, name: HeaderName) -> Option<NameAddr> {
    parse_name_addr(headers.get(name)?)
}

/// The `tag` of From or To.
pub(crate) fn tag_of(headers: &Headers, name: HeaderName) -> Option<String> {
    party(headers, name).and_then(|p| p.tag().map(str::to_string))
}

/// Parses `CSeq: 4711 INVITE`.
pub(crate) fn parse_cseq(text: &str) -> Option<CSeq> {
    let mut parts = text.split_whitespace();
    let seq = parts.next()?.parse().ok()?;
    let method = Method::from_token(parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    Some(CSeq { seq, method })
}

/// The CSeq header of a message.
pub(crate) fn cseq(headers: &Headers) -> Option<CSeq> {
    parse_cseq(headers.get(HeaderName::CSeq)?)
}

fn write_headers(out: &mut String, headers: &Headers, body_len: usize) {
    for Header { name, value } in headers.iter() {
        if HeaderName::ContentLength.matches(name) {
            continue;
        }
        let _ = write!(out, "{name}: {value}\r\n");
    }
    let _ = write!(out, "Content-Length: {body_len}\r\n\r\n");
}

/// A request as wire bytes; Content-Length is always written from the body.
pub(crate) fn request_bytes(request: &Request) -> Vec<u8> {
    let mut head = format!("{} {} SIP/2.0\r\n", request.method, request.uri);
    write_headers(&mut head, &request.headers, request.body.len());
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(&request.body);
    bytes
}

/// A response as wire bytes; Content-Length is always written from the body.
pub(crate) fn response_bytes(response: &Response) -> Vec<u8> {
    let mut head = format!("SIP/2.0 {} {}\r\n", response.status, response.reason);
    write_headers(&mut head, &response.headers, response.body.len());
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(&response.body);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_via_list_with_compact_and_ipv6() {
        let mut headers = Headers::new();
        headers.push(
            "v",
            "SIP/2.0/UDP [2001:db8::1]:5070;branch=z9hG4bK1;rport, SIP/2.0/tcp proxy.example.com",
        );
        headers.push("Via", "SIP/2.0/UDP 10.0.0.1;received=10.0.0.2");
        let all = vias(&headers).expect("valid vias");
        assert_eq!(all.len(), 3);
        assert_eq!(all[0].port, Some(5070));
        assert_eq!(all[0].rport(), Some(None));
        assert_eq!(all[1].transport, "TCP");
        assert_eq!(all[2].received(), Some("10.0.0.2"));
    }

    #[test]
    fn replaces_only_the_top_via() {
        let mut headers = Headers::new();
        headers.push(
            "Via",
            "SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9hG4bK2",
        );
        let mut top = top_via(&headers).expect("top via");
        top.params.set("received", Some("1.2.3.4".into()));
        replace_top_via(&mut headers, &top);
        assert_eq!(
            headers.get(HeaderName::Via),
            Some("SIP/2.0/UDP a;branch=z9hG4bK1;received=1.2.3.4, SIP/2.0/UDP b;branch=z9hG4bK2")
        );
        pop_via(&mut headers);
        assert_eq!(
            headers.get(HeaderName::Via),
            Some("SIP/2.0/UDP b;branch=z9hG4bK2")
        );
    }

    #[test]
    fn parses_name_addr_forms() {
        let a =
            parse_name_addr(r#""Bob, the <builder>" <sip:bob@example.com;transport=tcp>;tag=abc"#)
                .expect("name-addr");
        assert_eq!(a.tag(), Some("abc"));
        assert_eq!(a.uri.params.value("transport"), Some("tcp"));
        let b = parse_name_addr("sip:alice@10.0.0.1:5062;tag=x").expect("addr-spec");
        assert_eq!(b.tag(), Some("x"));
        assert_eq!(b.uri.port, Some(5062));
        let list = split_list(r#"<sip:p1;lr>, "A,B" <sip:p2;lr>"#);
        assert_eq!(list.len(), 2);
    }

    #[test]
    fn garbage_is_rejected_not_panicked_on() {
        for bad in [
            "",
            "SIP/2.0/UDP",
            "SIP/3.0/UDP host",
            "SIP/2.0/UDP [::1",
            "SIP/2.0/UDP h:99999",
            "SIP/2.0/UDP a b",
        ] {
            assert!(parse_via(bad).is_none(), "{bad:?}");
        }
        for bad in ["", "<sip:a", "http://x", "sip:"] {
            assert!(parse_name_addr(bad).is_none(), "{bad:?}");
        }
        assert!(parse_cseq("abc INVITE").is_none());
        assert!(parse_cseq("1").is_none());
    }
}
