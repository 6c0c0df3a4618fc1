//! Typed views of the attributes a telephony endpoint acts on.
//!
//! They are parsed on demand from [`Attribute`](crate::Attribute) values; an
//! attribute that does not parse is treated as absent, as RFC 8866 §5.13
//! asks for attributes a receiver does not understand.

use std::fmt;
use std::net::IpAddr;

use crate::model::Connection;

/// The media direction attributes (RFC 3264 §5.1, RFC 8866 §6.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum Direction {
    /// `a=sendrecv`, the default.
    #[default]
    SendRecv,
    /// `a=sendonly`: the author sends but does not want to receive (hold).
    SendOnly,
    /// `a=recvonly`: the author receives but does not send.
    RecvOnly,
    /// `a=inactive`: no media either way.
    Inactive,
}

impl Direction {
    /// The direction for an attribute name (`sendrecv`, ...), case-insensitive.
    pub fn from_name(name: &str) -> Option<Direction> {
        [
            Direction::SendRecv,
            Direction::SendOnly,
            Direction::RecvOnly,
            Direction::Inactive,
        ]
        .into_iter()
        .find(|d| d.name().eq_ignore_ascii_case(name))
    }

    /// The attribute name.
    pub fn name(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// The direction built from "sends" and "receives".
    pub fn from_flags(sends: bool, receives: bool) -> Direction {
        match (sends, receives) {
            (true, true) => Direction::SendRecv,
            (true, false) => Direction::SendOnly,
            (false, true) => Direction::RecvOnly,
            (false, false) => Direction::Inactive,
        }
    }

    /// True when the author of this direction sends media.
    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    /// True when the author of this direction receives media.
    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }

    /// The direction the other side answers with (RFC 3264 §6.1):
    /// sendonly ↔ recvonly, sendrecv and inactive stay.
    pub fn mirror(self) -> Direction {
        Direction::from_flags(self.receives(), self.sends())
    }

    /// The part of `self` that `other` also allows (both flags must hold).
    pub fn intersect(self, other: Direction) -> Direction {
        Direction::from_flags(
            self.sends() && other.sends(),
            self.receives() && other.receives(),
        )
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `a=rtpmap:<pt> <encoding>/<clock rate>[/<channels>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rtpmap {
    /// The payload type, 0–127.
    pub payload_type: u8,
    /// The encoding name as written (compare case-insensitively).
    pub encoding: String,
    /// The RTP clock rate in Hz.
    pub clock_rate: u32,
    /// The channel count, when written.
    pub channels: Option<u16>,
}

impl Rtpmap {
    /// Parses the value of an `a=rtpmap` attribute.
    pub fn parse(value: &str) -> Option<Rtpmap> {
        let (pt, rest) = value.trim().split_once(' ')?;
        let payload_type = parse_payload_type(pt)?;
        let mut parts = rest.trim().split('/');
        let encoding = parts.next().filter(|e| !e.is_empty())?.to_string();
        let clock_rate = parts.next()?.parse().ok()?;
        let channels = match parts.next() {
            Some(c) => Some(c.parse().ok()?),
            None => None,
        };
        if parts.next().is_some() {
            return None;
        }
        Some(Rtpmap {
            payload_type,
            encoding,
            clock_rate,
            channels,
        })
    }

    /// The RFC 3551 static mapping for `pt` (audio payload types only).
    pub fn static_payload(pt: u8) -> Option<Rtpmap> {
        let (encoding, clock_rate) = match pt {
            0 => ("PCMU", 8000),
            3 => ("GSM", 8000),
            4 => ("G723", 8000),
            8 => ("PCMA", 8000),
            9 => ("G722", 8000),
            13 => ("CN", 8000),
            18 => ("G729", 8000),
            _ => return None,
        };
        Some(Rtpmap {
            payload_type: pt,
            encoding: encoding.to_string(),
            clock_rate,
            channels: None,
        })
    }

    /// True when this maps `encoding`/`clock_rate` in mono (channels absent or 1).
    pub fn is(&self, encoding: &str, clock_rate: u32) -> bool {
        self.encoding.eq_ignore_ascii_case(encoding)
            && self.clock_rate == clock_rate
            && self.channels.unwrap_or(1) == 1
    }
}

impl fmt::Display for Rtpmap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}/{}",
            self.payload_type, self.encoding, self.clock_rate
        )?;
        if let Some(channels) = self.channels {
            write!(f, "/{channels}")?;
        }
        Ok(())
    }
}

/// `a=fmtp:<pt> <parameters>`; the parameters are kept as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fmtp {
    /// The payload type, 0–127.
    pub payload_type: u8,
    /// The format parameters, e.g. `0-16` for telephone-event.
    pub parameters: String,
}

impl Fmtp {
    /// Parses the value of an `a=fmtp` attribute.
    pub fn parse(value: &str) -> Option<Fmtp> {
        let value = value.trim();
        let (pt, parameters) = value.split_once(' ').unwrap_or((value, ""));
        Some(Fmtp {
            payload_type: parse_payload_type(pt)?,
            parameters: parameters.trim().to_string(),
        })
    }
}

/// `a=rtcp:<port> [IN IP4|IP6 <address>]` (RFC 3605).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rtcp {
    /// The RTCP port.
    pub port: u16,
    /// The RTCP address, when it differs from the media connection.
    pub connection: Option<Connection>,
}

impl Rtcp {
    /// Parses the value of an `a=rtcp` attribute.
    pub fn parse(value: &str) -> Option<Rtcp> {
        let mut parts = value.split_ascii_whitespace();
        let port = parts.next()?.parse().ok()?;
        let connection = match (parts.next(), parts.next(), parts.next()) {
            (None, _, _) => None,
            (Some("IN"), Some(addr_type), Some(address)) => {
                Some(parse_address(addr_type, address)?)
            }
            _ => return None,
        };
        if parts.next().is_some() {
            return None;
        }
        Some(Rtcp { port, connection })
    }
}

/// A payload type: decimal 0–127, no sign, no leading `+`.
pub(crate) fn parse_payload_type(s: &str) -> Option<u8> {
    if s.is_empty() || s.len() > 3 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok().filter(|pt| *pt <= 127)
}

/// An `IP4`/`IP6` address whose family matches its type.
pub(crate) fn parse_address(addr_type: &str, address: &str) -> Option<Connection> {
    let address: IpAddr = address.parse().ok()?;
    let matches = match address {
        IpAddr::V4(_) => addr_type.eq_ignore_ascii_case("IP4"),
        IpAddr::V6(_) => addr_type.eq_ignore_ascii_case("IP6"),
    };
    matches.then_some(Connection { address })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directions_mirror_and_intersect() {
        assert_eq!(Direction::SendOnly.mirror(), Direction::RecvOnly);
        assert_eq!(Direction::RecvOnly.mirror(), Direction::SendOnly);
        assert_eq!(Direction::Inactive.mirror(), Direction::Inactive);
        assert_eq!(Direction::SendRecv.mirror(), Direction::SendRecv);
        assert_eq!(
            Direction::SendRecv.intersect(Direction::RecvOnly),
            Direction::RecvOnly
        );
        assert_eq!(
            Direction::SendOnly.intersect(Direction::RecvOnly),
            Direction::Inactive
        );
        assert_eq!(Direction::from_name("SENDONLY"), Some(Direction::SendOnly));
        assert_eq!(Direction::from_name("sendrecv2"), None);
    }

    #[test]
    fn rtpmap_parses_and_prints() {
        let map = Rtpmap::parse("101 telephone-event/8000").unwrap();
        assert_eq!(map.payload_type, 101);
        assert!(map.is("TELEPHONE-EVENT", 8000));
        assert_eq!(map.to_string(), "101 telephone-event/8000");
        let opus = Rtpmap::parse("111 opus/48000/2").unwrap();
        assert_eq!(opus.channels, Some(2));
        assert!(!opus.is("opus", 48000));
        assert_eq!(opus.to_string(), "111 opus/48000/2");
        assert_eq!(Rtpmap::parse("128 PCMU/8000"), None);
        assert_eq!(Rtpmap::parse("0 PCMU"), None);
        assert_eq!(Rtpmap::parse("0 PCMU/x"), None);
        assert_eq!(Rtpmap::parse("0 PCMU/8000/1/2"), None);
        assert_eq!(Rtpmap::static_payload(8).unwrap().encoding, "PCMA");
        assert_eq!(Rtpmap::static_payload(96), None);
    }

    #[test]
    fn fmtp_and_rtcp_parse() {
        let fmtp = Fmtp::parse("96 0-16").unwrap();
        assert_eq!((fmtp.payload_type, fmtp.parameters.as_str()), (96, "0-16"));
        assert_eq!(Fmtp::parse("x 0-15"), None);
        assert_eq!(Rtcp::parse("53021").unwrap().port, 53021);
        let rtcp = Rtcp::parse("53021 IN IP4 126.16.64.4").unwrap();
        assert_eq!(
            rtcp.connection.unwrap().address,
            "126.16.64.4".parse::<IpAddr>().unwrap()
        );
        assert_eq!(Rtcp::parse("53021 IN IP6 126.16.64.4"), None);
        assert_eq!(Rtcp::parse("70000"), None);
    }

    #[test]
    fn payload_types_are_strict() {
        assert_eq!(parse_payload_type("0"), Some(0));
        assert_eq!(parse_payload_type("127"), Some(127));
        assert_eq!(parse_payload_type("128"), None);
        assert_eq!(parse_payload_type("+1"), None);
        assert_eq!(parse_payload_type(""), None);
        assert_eq!(parse_payload_type("0008"), None);
    }
}
