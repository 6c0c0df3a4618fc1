//! SIP URIs (RFC 3261 §19.1) and the host part shared with Via.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::params::Params;

/// URI schemes Switchboard routes. Anything else is answered 416.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `sip:`
    Sip,
    /// `sips:`
    Sips,
    /// `tel:` (RFC 3966): kept so that a tel URI in From/To parses.
    Tel,
}

impl Scheme {
    /// The scheme as written, without the colon.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Sip => "sip",
            Scheme::Sips => "sips",
            Scheme::Tel => "tel",
        }
    }
}

/// The host of a URI or Via: a name, or an IPv4 or IPv6 address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// A domain name, kept as written.
    Domain(String),
    /// An IPv4 address.
    V4(Ipv4Addr),
    /// An IPv6 address (written in brackets).
    V6(Ipv6Addr),
}

impl From<std::net::IpAddr> for Host {
    /// The host of a URI, Via or Contact for a socket address we hold.
    fn from(ip: std::net::IpAddr) -> Host {
        match ip {
            std::net::IpAddr::V4(a) => Host::V4(a),
            std::net::IpAddr::V6(a) => Host::V6(a),
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Domain(d) => f.write_str(d),
            Host::V4(a) => write!(f, "{a}"),
            Host::V6(a) => write!(f, "[{a}]"),
        }
    }
}

/// A `sip:`, `sips:` or `tel:` URI.
///
/// `user` and `password` hold the text as written (escapes not decoded) so
/// that a URI serializes back to the same bytes; compare with [`Uri::user_unescaped`].
/// For `tel:` URIs the number is in `user` and `host` is an empty domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uri {
    /// The scheme.
    pub scheme: Scheme,
    /// The user part (before `@`), escapes kept.
    pub user: Option<String>,
    /// The password after `user:`, escapes kept.
    pub password: Option<String>,
    /// The host.
    pub host: Host,
    /// The port, when written.
    pub port: Option<u16>,
    /// URI parameters (`;transport=tcp;lr`), in order.
    pub params: Params,
    /// URI headers (`?Subject=x&Priority=urgent`), as written.
    pub headers: Vec<(String, String)>,
}

impl Uri {
    /// A plain `sip:user@host[:port]` URI.
    pub fn sip(user: Option<&str>, host: Host, port: Option<u16>) -> Uri {
        Uri {
            scheme: Scheme::Sip,
            user: user.map(str::to_string),
            password: None,
            host,
            port,
            params: Params::default(),
            headers: Vec::new(),
        }
    }

    /// The user part with `%XX` escapes decoded (lossy for non-UTF-8).
    pub fn user_unescaped(&self) -> Option<String> {
        self.user.as_deref().map(unescape)
    }
}

/// Decodes `%XX` escapes; malformed escapes are kept as written.
pub fn unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.scheme.as_str())?;
        if self.scheme == Scheme::Tel {
            f.write_str(self.user.as_deref().unwrap_or(""))?;
        } else {
            if let Some(user) = &self.user {
                f.write_str(user)?;
                if let Some(pw) = &self.password {
                    write!(f, ":{pw}")?;
                }
                f.write_str("@")?;
            }
            write!(f, "{}", self.host)?;
            if let Some(port) = self.port {
                write!(f, ":{port}")?;
            }
        }
        write!(f, "{}", self.params)?;
        for (i, (name, value)) in self.headers.iter().enumerate() {
            let sep = if i == 0 { '?' } else { '&' };
            write!(f, "{sep}{name}={value}")?;
        }
        Ok(())
    }
}
