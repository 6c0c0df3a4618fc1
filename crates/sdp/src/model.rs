//! The session description model (RFC 8866 §5).
//!
//! Fields keep what the peer wrote, as strings where we never interpret
//! them (origin username, session name, unknown lines) and typed where a
//! wrong value would hurt us (ports, payload types, connection addresses).
//! Attributes are kept in order and unknown ones are preserved, so an SDP
//! that passes through us re-serializes with nothing lost. Typed views of
//! the attributes we use live in [`crate::attribute`].

use std::net::IpAddr;

use crate::attribute::{Direction, Fmtp, Rtcp, Rtpmap};

/// A whole SDP body: session-level lines and the media descriptions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    /// The `o=` line.
    pub origin: Origin,
    /// The `s=` line; `-` when the peer left it out.
    pub session_name: String,
    /// The session-level `i=` line.
    pub information: Option<String>,
    /// Rarely used lines kept verbatim: `u=`, `e=`, `p=` are written after
    /// `i=`, any other (`r=`, `z=`, `k=`, unknown letters) after `t=`.
    pub extra: Vec<Field>,
    /// The session-level `c=` line, the default for every media description.
    pub connection: Option<Connection>,
    /// Session-level `b=` lines.
    pub bandwidths: Vec<Bandwidth>,
    /// The `t=` line; `0 0` when the peer left it out.
    pub timing: Timing,
    /// Session-level `a=` lines, in order.
    pub attributes: Vec<Attribute>,
    /// The `m=` sections, in order.
    pub media: Vec<MediaDescription>,
}

/// The `o=` line: who made this SDP and which version of it this is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The user's login, or `-`.
    pub username: String,
    /// The session id, numeric by the RFC but kept as written.
    pub session_id: String,
    /// The version, incremented by the author on every change.
    pub version: u64,
    /// The network type, `IN`.
    pub net_type: String,
    /// The address type, `IP4` or `IP6`.
    pub addr_type: String,
    /// The address or host name of the originator (not used for media).
    pub address: String,
}

/// A single line kept verbatim: its type letter and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The type letter (`u`, `e`, `p`, `r`, `z`, `k`, ...).
    pub kind: char,
    /// Everything after the `=`.
    pub value: String,
}

/// A `c=` line: where media is sent. Only unicast `IN` addresses are accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connection {
    /// The address; its family gives the address type (`IP4`/`IP6`).
    pub address: IpAddr,
}

impl Connection {
    /// True for `0.0.0.0` (and `::`), the old (RFC 2543) way of putting a call on hold.
    pub fn is_hold(&self) -> bool {
        self.address.is_unspecified()
    }
}

/// A `b=<type>:<kbps>` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bandwidth {
    /// The bandwidth type (`AS`, `CT`, `TIAS`, ...).
    pub kind: String,
    /// The value, in the unit the type defines.
    pub value: u64,
}

/// A `t=<start> <stop>` line; phones send `t=0 0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Timing {
    /// Start time (NTP seconds), 0 for unbounded.
    pub start: u64,
    /// Stop time (NTP seconds), 0 for unbounded.
    pub stop: u64,
}

/// An `a=<name>` or `a=<name>:<value>` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// The attribute name.
    pub name: String,
    /// The value after the colon, `None` for a property attribute.
    pub value: Option<String>,
}

impl Attribute {
    /// A property attribute such as `a=sendrecv`.
    pub fn flag(name: impl Into<String>) -> Self {
        Attribute {
            name: name.into(),
            value: None,
        }
    }

    /// A value attribute such as `a=ptime:20`.
    pub fn value(name: impl Into<String>, value: impl Into<String>) -> Self {
        Attribute {
            name: name.into(),
            value: Some(value.into()),
        }
    }
}

/// One `m=` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDescription {
    /// The media type: `audio`, `video`, `application`, ...
    pub media: String,
    /// The transport port; 0 means the stream is refused or disabled.
    pub port: u16,
    /// The `/<count>` after the port, when written.
    pub port_count: Option<u16>,
    /// The transport protocol, e.g. `RTP/AVP`.
    pub proto: String,
    /// The formats; for RTP profiles, payload type numbers 0–127.
    pub formats: Vec<String>,
    /// The media-level `i=` line.
    pub information: Option<String>,
    /// The media-level `c=` line, overriding the session-level one.
    pub connection: Option<Connection>,
    /// Media-level `b=` lines.
    pub bandwidths: Vec<Bandwidth>,
    /// Other media-level lines (`k=`, unknown letters), written after `b=`.
    pub extra: Vec<Field>,
    /// Media-level `a=` lines, in order.
    pub attributes: Vec<Attribute>,
}

impl MediaDescription {
    /// True when the transport is an RTP profile (`RTP/AVP`, `RTP/SAVP`, ...),
    /// whose formats are payload types.
    pub fn is_rtp(&self) -> bool {
        is_rtp_proto(&self.proto)
    }

    /// The values of every attribute named `name`, in order.
    pub fn attribute_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        attribute_values(&self.attributes, name)
    }

    /// The payload types listed on the `m=` line (formats that are numbers 0–127).
    pub fn payload_types(&self) -> impl Iterator<Item = u8> + '_ {
        self.formats
            .iter()
            .filter_map(|f| f.parse::<u8>().ok().filter(|pt| *pt <= 127))
    }

    /// The `a=rtpmap` for payload type `pt`, or the RFC 3551 static mapping
    /// when there is none (0 is PCMU/8000, 8 is PCMA/8000, ...).
    pub fn rtpmap(&self, pt: u8) -> Option<Rtpmap> {
        self.attribute_values("rtpmap")
            .filter_map(Rtpmap::parse)
            .find(|map| map.payload_type == pt)
            .or_else(|| Rtpmap::static_payload(pt))
    }

    /// The `a=fmtp` parameters for payload type `pt`.
    pub fn fmtp(&self, pt: u8) -> Option<Fmtp> {
        self.attribute_values("fmtp")
            .filter_map(Fmtp::parse)
            .find(|fmtp| fmtp.payload_type == pt)
    }

    /// `a=ptime` in milliseconds: the packet time this side wants to receive.
    pub fn ptime(&self) -> Option<u32> {
        self.attribute_values("ptime").find_map(parse_millis)
    }

    /// `a=maxptime` in milliseconds.
    pub fn maxptime(&self) -> Option<u32> {
        self.attribute_values("maxptime").find_map(parse_millis)
    }

    /// The media-level direction attribute, if any.
    pub fn direction(&self) -> Option<Direction> {
        direction_of(&self.attributes)
    }

    /// The `a=rtcp` attribute (RFC 3605), if any.
    pub fn rtcp(&self) -> Option<Rtcp> {
        self.attribute_values("rtcp").find_map(Rtcp::parse)
    }
}

impl SessionDescription {
    /// The session-level direction attribute, if any.
    pub fn direction(&self) -> Option<Direction> {
        direction_of(&self.attributes)
    }

    /// The connection that applies to `media`: its own `c=`, else the session's.
    pub fn connection_of(&self, media: &MediaDescription) -> Option<Connection> {
        media.connection.or(self.connection)
    }

    /// The direction that applies to `media`: media level, else session level,
    /// else `sendrecv` (RFC 3264 §5.1).
    pub fn direction_of(&self, media: &MediaDescription) -> Direction {
        media
            .direction()
            .or_else(|| self.direction())
            .unwrap_or_default()
    }

    /// True when `media` is on hold: `sendonly`/`inactive`, or an old-style
    /// `c=0.0.0.0` hold (RFC 3264 §8.4).
    pub fn is_hold(&self, media: &MediaDescription) -> bool {
        matches!(
            self.direction_of(media),
            Direction::SendOnly | Direction::Inactive
        ) || self.connection_of(media).is_some_and(|c| c.is_hold())
    }

    /// Serializes to the wire form: CRLF line ends, RFC 8866 line order.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_string().into_bytes()
    }
}

pub(crate) fn is_rtp_proto(proto: &str) -> bool {
    proto
        .split('/')
        .any(|part| part.eq_ignore_ascii_case("RTP"))
}

fn attribute_values<'a>(
    attributes: &'a [Attribute],
    name: &'a str,
) -> impl Iterator<Item = &'a str> + 'a {
    attributes
        .iter()
        .filter(move |a| a.name.eq_ignore_ascii_case(name))
        .filter_map(|a| a.value.as_deref())
}

fn direction_of(attributes: &[Attribute]) -> Option<Direction> {
    attributes
        .iter()
        .filter(|a| a.value.is_none())
        .find_map(|a| Direction::from_name(&a.name))
}

fn parse_millis(value: &str) -> Option<u32> {
    // Some phones write "a=ptime:20.0"; take the integer part.
    let value = value.trim();
    let whole = value.split_once('.').map_or(value, |(whole, _)| whole);
    whole.parse().ok().filter(|ms| *ms > 0)
}
