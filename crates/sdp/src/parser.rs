//! The SDP parser: tolerant where phones are sloppy, strict where a wrong
//! value would send media to the wrong place.
//!
//! Tolerated, because deployed phones do it:
//! - LF-only line ends, trailing spaces and tabs, blank lines (skipped);
//! - a missing `s=` (read as `-`) or `t=` (read as `0 0`); extra `t=` lines
//!   after the first are ignored (their `r=` lines are kept in `extra`);
//! - session-level lines in any order between `o=` and the first `m=`;
//! - zero formats on an `m=` line; unknown line letters and attributes
//!   (kept verbatim).
//!
//! Refused, with a [`ParseError`]:
//! - a body over [`MAX_SDP_BYTES`] or not UTF-8;
//! - no `v=0` first, no `o=`, a second `o=`, `s=`, `i=` or `c=` in one section;
//! - ports that are not numbers 0–65535, payload types outside 0–127 on an
//!   RTP `m=` line, `b=` values that are not numbers;
//! - `c=` lines that are not `IN IP4 <ipv4>` or `IN IP6 <ipv6>` (no host
//!   names, no multicast TTL suffix) — a non-`IN` network type is a 488;
//! - a media description with a non-zero port and no `c=` at either level.

use crate::attribute::parse_address;
use crate::error::ParseError;
use crate::model::{
    is_rtp_proto, Attribute, Bandwidth, Connection, Field, MediaDescription, Origin,
    SessionDescription, Timing,
};

/// The largest SDP body accepted, in bytes. A phone's offer is under 2 KiB.
pub const MAX_SDP_BYTES: usize = 16 * 1024;

/// Parses an SDP body.
pub fn parse(bytes: &[u8]) -> Result<SessionDescription, ParseError> {
    if bytes.len() > MAX_SDP_BYTES {
        return Err(ParseError::TooLarge {
            length: bytes.len(),
            limit: MAX_SDP_BYTES,
        });
    }
    let text = std::str::from_utf8(bytes).map_err(|_| ParseError::NotUtf8)?;
    let mut lines = text
        .split('\n')
        .enumerate()
        .map(|(i, line)| (i + 1, line.trim_end_matches([' ', '\t', '\r'])))
        .filter(|(_, line)| !line.is_empty())
        .map(|(number, line)| split_line(number, line));

    match lines.next().transpose()? {
        Some(('v', value, _)) if value.trim() == "0" => {}
        Some(('v', value, _)) => return Err(ParseError::UnsupportedVersion(value.to_string())),
        _ => return Err(ParseError::MissingVersion),
    }

    let mut origin = None;
    let mut session_name = None;
    let mut information = None;
    let mut extra = Vec::new();
    let mut connection = None;
    let mut bandwidths = Vec::new();
    let mut timing = None;
    let mut attributes = Vec::new();
    let mut media: Vec<MediaDescription> = Vec::new();

    for line in lines {
        let (kind, value, number) = line?;
        if let Some(current) = media.last_mut() {
            match kind {
                'm' => media.push(parse_media(value, number)?),
                'i' => set_once(&mut current.information, value.to_string(), kind, number)?,
                'c' => set_once(
                    &mut current.connection,
                    parse_connection(value, number)?,
                    kind,
                    number,
                )?,
                'b' => current.bandwidths.push(parse_bandwidth(value, number)?),
                'a' => current.attributes.push(parse_attribute(value, number)?),
                'v' | 'o' | 's' | 't' | 'r' | 'z' | 'u' | 'e' | 'p' => {
                    return Err(invalid(kind, number, "session-level line inside media"))
                }
                _ => current.extra.push(Field {
                    kind,
                    value: value.to_string(),
                }),
            }
            continue;
        }
        match kind {
            'v' => return Err(ParseError::DuplicateLine { kind, line: number }),
            'o' => set_once(&mut origin, parse_origin(value, number)?, kind, number)?,
            's' => set_once(&mut session_name, value.to_string(), kind, number)?,
            'i' => set_once(&mut information, value.to_string(), kind, number)?,
            'c' => set_once(
                &mut connection,
                parse_connection(value, number)?,
                kind,
                number,
            )?,
            'b' => bandwidths.push(parse_bandwidth(value, number)?),
            't' => {
                let parsed = parse_timing(value, number)?;
                timing.get_or_insert(parsed);
            }
            'a' => attributes.push(parse_attribute(value, number)?),
            'm' => media.push(parse_media(value, number)?),
            _ => extra.push(Field {
                kind,
                value: value.to_string(),
            }),
        }
    }

    // The serializer writes u=, e=, p= before c= and the rest after t=;
    // normalise to that order so a re-parse gives the same value.
    let (mut early, late): (Vec<Field>, Vec<Field>) =
        extra.into_iter().partition(|f| is_early_field(f.kind));
    early.extend(late);

    let sdp = SessionDescription {
        origin: origin.ok_or(ParseError::MissingLine('o'))?,
        session_name: session_name.unwrap_or_else(|| "-".to_string()),
        information,
        extra: early,
        connection,
        bandwidths,
        timing: timing.unwrap_or_default(),
        attributes,
        media,
    };
    if let Some(index) = sdp
        .media
        .iter()
        .position(|m| m.port != 0 && sdp.connection_of(m).is_none())
    {
        return Err(ParseError::MissingConnection(index));
    }
    Ok(sdp)
}

/// True for the session-level letters written between `i=` and `c=`.
pub(crate) fn is_early_field(kind: char) -> bool {
    matches!(kind, 'u' | 'e' | 'p')
}

impl std::str::FromStr for SessionDescription {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s.as_bytes())
    }
}

fn split_line(number: usize, line: &str) -> Result<(char, &str, usize), ParseError> {
    let mut chars = line.chars();
    match (chars.next(), chars.next()) {
        (Some(kind), Some('=')) if kind.is_ascii_lowercase() => Ok((kind, &line[2..], number)),
        _ => Err(ParseError::InvalidLine { line: number }),
    }
}

fn invalid(kind: char, line: usize, detail: &'static str) -> ParseError {
    ParseError::InvalidField { kind, line, detail }
}

fn set_once<T>(slot: &mut Option<T>, value: T, kind: char, line: usize) -> Result<(), ParseError> {
    if slot.is_some() {
        return Err(ParseError::DuplicateLine { kind, line });
    }
    *slot = Some(value);
    Ok(())
}

fn parse_origin(value: &str, line: usize) -> Result<Origin, ParseError> {
    let fields: Vec<&str> = value.split_ascii_whitespace().collect();
    let [username, session_id, version, net_type, addr_type, address] = fields[..] else {
        return Err(invalid('o', line, "expected six fields"));
    };
    let version = version
        .parse()
        .map_err(|_| invalid('o', line, "version is not a number"))?;
    Ok(Origin {
        username: username.to_string(),
        session_id: session_id.to_string(),
        version,
        net_type: net_type.to_string(),
        addr_type: addr_type.to_string(),
        address: address.to_string(),
    })
}

fn parse_connection(value: &str, line: usize) -> Result<Connection, ParseError> {
    let fields: Vec<&str> = value.split_ascii_whitespace().collect();
    let [net_type, addr_type, address] = fields[..] else {
        return Err(invalid('c', line, "expected three fields"));
    };
    if net_type != "IN" {
        return Err(ParseError::UnsupportedNetType(net_type.to_string()));
    }
    parse_address(addr_type, address).ok_or(invalid(
        'c',
        line,
        "not an IP4 or IP6 unicast address of its type",
    ))
}

fn parse_bandwidth(value: &str, line: usize) -> Result<Bandwidth, ParseError> {
    let (kind, amount) =
        value
            .split_once(':')
            .ok_or(invalid('b', line, "expected <type>:<value>"))?;
    if !is_token(kind) {
        return Err(invalid('b', line, "bad bandwidth type"));
    }
    let value = amount
        .trim()
        .parse()
        .map_err(|_| invalid('b', line, "value is not a number"))?;
    Ok(Bandwidth {
        kind: kind.to_string(),
        value,
    })
}

fn parse_timing(value: &str, line: usize) -> Result<Timing, ParseError> {
    let fields: Vec<&str> = value.split_ascii_whitespace().collect();
    let [start, stop] = fields[..] else {
        return Err(invalid('t', line, "expected two fields"));
    };
    let number = |s: &str| {
        s.parse::<u64>()
            .map_err(|_| invalid('t', line, "time is not a number"))
    };
    Ok(Timing {
        start: number(start)?,
        stop: number(stop)?,
    })
}

fn parse_attribute(value: &str, line: usize) -> Result<Attribute, ParseError> {
    let (name, value) = match value.split_once(':') {
        Some((name, value)) => (name, Some(value.to_string())),
        None => (value, None),
    };
    if !is_token(name) {
        return Err(invalid('a', line, "bad attribute name"));
    }
    Ok(Attribute {
        name: name.to_string(),
        value,
    })
}

fn parse_media(value: &str, line: usize) -> Result<MediaDescription, ParseError> {
    let mut fields = value.split_ascii_whitespace();
    let media =
        fields
            .next()
            .filter(|m| is_token(m))
            .ok_or(invalid('m', line, "bad media type"))?;
    let port_field = fields.next().ok_or(invalid('m', line, "missing port"))?;
    let (port, port_count) = match port_field.split_once('/') {
        Some((port, count)) => (port, Some(count)),
        None => (port_field, None),
    };
    let port = parse_u16(port).ok_or(invalid('m', line, "bad port"))?;
    let port_count = match port_count {
        Some(count) => Some(parse_u16(count).filter(|c| *c > 0).ok_or(invalid(
            'm',
            line,
            "bad port count",
        ))?),
        None => None,
    };
    let proto =
        fields
            .next()
            .filter(|p| is_token(p))
            .ok_or(invalid('m', line, "missing transport"))?;
    let formats: Vec<String> = fields.map(str::to_string).collect();
    if is_rtp_proto(proto)
        && formats
            .iter()
            .any(|f| crate::attribute::parse_payload_type(f).is_none())
    {
        return Err(invalid('m', line, "payload type not a number 0-127"));
    }
    Ok(MediaDescription {
        media: media.to_string(),
        port,
        port_count,
        proto: proto.to_string(),
        formats,
        information: None,
        connection: None,
        bandwidths: Vec::new(),
        extra: Vec::new(),
        attributes: Vec::new(),
    })
}

fn parse_u16(s: &str) -> Option<u16> {
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// RFC 8866 `token`: visible ASCII except the separators it excludes.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`{|}~/".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n";

    fn with(tail: &str) -> Result<SessionDescription, ParseError> {
        parse(format!("{HEAD}{tail}").as_bytes())
    }

    #[test]
    fn minimal_offer_parses() {
        let sdp = with("m=audio 4000 RTP/AVP 0 8\r\n").unwrap();
        assert_eq!(sdp.origin.version, 1);
        assert_eq!(sdp.media[0].port, 4000);
        assert_eq!(sdp.media[0].formats, ["0", "8"]);
        assert_eq!(
            sdp.to_string(),
            format!("{HEAD}m=audio 4000 RTP/AVP 0 8\r\n")
        );
    }

    #[test]
    fn missing_and_duplicate_lines_are_errors() {
        assert_eq!(parse(b""), Err(ParseError::MissingVersion));
        assert_eq!(
            parse(b"o=- 1 1 IN IP4 h\n"),
            Err(ParseError::MissingVersion)
        );
        assert_eq!(
            parse(b"v=1\no=- 1 1 IN IP4 h\n"),
            Err(ParseError::UnsupportedVersion("1".into()))
        );
        assert_eq!(parse(b"v=0\ns=-\n"), Err(ParseError::MissingLine('o')));
        assert_eq!(
            with("o=- 1 1 IN IP4 h\r\n"),
            Err(ParseError::DuplicateLine { kind: 'o', line: 6 })
        );
        assert_eq!(
            with("c=IN IP4 192.0.2.2\r\n"),
            Err(ParseError::DuplicateLine { kind: 'c', line: 6 })
        );
        assert_eq!(
            with("m=audio 1 RTP/AVP 0\r\nt=0 0\r\n")
                .unwrap_err()
                .status(),
            400
        );
    }

    #[test]
    fn malformed_fields_are_errors() {
        let bad = [
            "m=audio 70000 RTP/AVP 0\r\n",
            "m=audio -1 RTP/AVP 0\r\n",
            "m=audio 4000 RTP/AVP 128\r\n",
            "m=audio 4000 RTP/AVP PCMU\r\n",
            "m=audio 4000/0 RTP/AVP 0\r\n",
            "m=audio 4000\r\n",
            "m=audio 4000 RTP/AVP 0\r\nc=IN IP4 example.com\r\n",
            "m=audio 4000 RTP/AVP 0\r\nc=IN IP4 224.2.1.1/127\r\n",
            "m=audio 4000 RTP/AVP 0\r\nc=IN IP6 192.0.2.1\r\n",
            "m=audio 4000 RTP/AVP 0\r\nc=IN IP4 ::1\r\n",
            "b=AS:lots\r\n",
            "a=\r\n",
            "a=bad name:1\r\n",
            "x\r\n",
            "A=foo\r\n",
        ];
        for tail in bad {
            let err = with(tail).expect_err(tail);
            assert_eq!(err.status(), 400, "{tail}: {err}");
        }
        assert_eq!(
            with("m=audio 4000 RTP/AVP 0\r\nc=ATM NSAP 47.0091\r\n"),
            Err(ParseError::UnsupportedNetType("ATM".into()))
        );
    }

    #[test]
    fn media_needs_a_connection_unless_refused() {
        let text =
            "v=0\no=- 1 1 IN IP4 h\ns=-\nt=0 0\nm=audio 0 RTP/AVP 0\nm=audio 4000 RTP/AVP 0\n";
        assert_eq!(
            parse(text.as_bytes()),
            Err(ParseError::MissingConnection(1))
        );
        let fixed = format!("{text}c=IN IP6 2001:db8::1\n");
        let sdp = parse(fixed.as_bytes()).unwrap();
        assert_eq!(
            sdp.connection_of(&sdp.media[1]).unwrap().address,
            "2001:db8::1".parse::<std::net::IpAddr>().unwrap()
        );
    }

    #[test]
    fn size_and_encoding_are_checked() {
        let big = vec![b'a'; MAX_SDP_BYTES + 1];
        assert!(matches!(parse(&big), Err(ParseError::TooLarge { .. })));
        assert_eq!(parse(b"v=0\n\xff"), Err(ParseError::NotUtf8));
    }

    #[test]
    fn missing_s_and_t_are_tolerated() {
        let sdp =
            parse(b"v=0\no=- 1 1 IN IP4 h\nc=IN IP4 192.0.2.1\nm=audio 4000 RTP/AVP 0\n").unwrap();
        assert_eq!(sdp.session_name, "-");
        assert_eq!(sdp.timing, Timing { start: 0, stop: 0 });
    }

    #[test]
    fn rare_lines_are_kept_in_serializer_order() {
        let sdp = with("z=2882844526 -1h\r\nu=http://example.com\r\nk=prompt\r\n").unwrap();
        let kinds: Vec<char> = sdp.extra.iter().map(|f| f.kind).collect();
        assert_eq!(kinds, ['u', 'z', 'k']);
        assert_eq!(parse(&sdp.to_bytes()), Ok(sdp));
    }
}
