//! IP networks written as `a.b.c.d/n`, `x:y::z/n` or a bare address.
//!
//! Parsed once at config load into a network and a mask so that matching an
//! incoming request's source address is two integer operations. Host bits are
//! allowed and ignored (`127.0.0.1/8` is `127.0.0.0/8`), as Diagox configs use
//! that form.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// An IPv4 or IPv6 network: an address prefix of a given length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    family: Family,
    network: u128,
    mask: u128,
    prefix_len: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Family {
    V4,
    V6,
}

/// Why a network could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    /// The address part is not an IPv4 or IPv6 address.
    #[error("address {0:?} is not IPv4 or IPv6")]
    Address(String),
    /// The prefix length is not a number or too large for the address family.
    #[error("prefix length {0:?} is not between 0 and {1}")]
    PrefixLength(String, u8),
}

impl Cidr {
    /// The network containing exactly one address.
    pub fn host(ip: IpAddr) -> Cidr {
        match ip {
            IpAddr::V4(_) => Cidr::new(ip, 32),
            IpAddr::V6(_) => Cidr::new(ip, 128),
        }
    }

    /// The network of `prefix_len` leading bits of `ip` (clamped to the family's width).
    pub fn new(ip: IpAddr, prefix_len: u8) -> Cidr {
        let (family, bits, width) = match ip {
            IpAddr::V4(v4) => (Family::V4, u128::from(u32::from(v4)), 32u8),
            IpAddr::V6(v6) => (Family::V6, u128::from(v6), 128u8),
        };
        let prefix_len = prefix_len.min(width);
        // The top `prefix_len` bits of a `width`-bit number.
        let mask = if prefix_len == 0 {
            0
        } else {
            (u128::MAX << (128 - u32::from(prefix_len))) >> (128 - u32::from(width))
        };
        Cidr {
            family,
            network: bits & mask,
            mask,
            prefix_len,
        }
    }

    /// Number of leading bits that are fixed; longer is more specific.
    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// The network address (host bits cleared).
    pub fn network(&self) -> IpAddr {
        match self.family {
            // The network of a V4 Cidr fits 32 bits by construction.
            Family::V4 => IpAddr::V4(Ipv4Addr::from(self.network as u32)),
            Family::V6 => IpAddr::V6(Ipv6Addr::from(self.network)),
        }
    }

    /// Whether `ip` lies in this network. IPv4-mapped IPv6 addresses
    /// (`::ffff:10.0.0.1`, as a dual-stack socket reports them) count as IPv4.
    #[inline]
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.family, ip.to_canonical()) {
            (Family::V4, IpAddr::V4(v4)) => u128::from(u32::from(v4)) & self.mask == self.network,
            (Family::V6, IpAddr::V6(v6)) => u128::from(v6) & self.mask == self.network,
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Cidr, CidrError> {
        let s = s.trim();
        let (addr, len) = match s.split_once('/') {
            Some((addr, len)) => (addr, Some(len)),
            None => (s, None),
        };
        let ip: IpAddr = addr
            .parse()
            .map_err(|_| CidrError::Address(addr.to_string()))?;
        let width = if ip.is_ipv4() { 32 } else { 128 };
        match len {
            None => Ok(Cidr::host(ip)),
            Some(len) => match len.parse::<u8>() {
                Ok(n) if n <= width => Ok(Cidr::new(ip, n)),
                _ => Err(CidrError::PrefixLength(len.to_string(), width)),
            },
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network(), self.prefix_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    #[test]
    fn v4_prefix_matches_inside_only() {
        let net: Cidr = "10.0.0.0/8".parse().expect("valid");
        assert!(net.contains(ip("10.1.2.3")));
        assert!(net.contains(ip("10.255.255.255")));
        assert!(!net.contains(ip("11.0.0.0")));
        assert!(!net.contains(ip("::1")));
    }

    #[test]
    fn host_bits_are_ignored() {
        let net: Cidr = "127.0.0.1/8".parse().expect("valid");
        assert_eq!(net.to_string(), "127.0.0.0/8");
        assert!(net.contains(ip("127.9.9.9")));
    }

    #[test]
    fn bare_address_is_a_host_route() {
        let net: Cidr = "192.0.2.7".parse().expect("valid");
        assert_eq!(net.prefix_len(), 32);
        assert!(net.contains(ip("192.0.2.7")));
        assert!(!net.contains(ip("192.0.2.8")));
        let net6: Cidr = "2001:db8::7".parse().expect("valid");
        assert_eq!(net6.prefix_len(), 128);
        assert!(net6.contains(ip("2001:db8::7")));
        assert!(!net6.contains(ip("2001:db8::8")));
    }

    #[test]
    fn v6_prefix() {
        let net: Cidr = "2001:db8::/32".parse().expect("valid");
        assert!(net.contains(ip("2001:db8:ffff::1")));
        assert!(!net.contains(ip("2001:db9::1")));
        assert!(!net.contains(ip("10.0.0.1")));
        let odd: Cidr = "2001:db8::/33".parse().expect("valid");
        assert!(odd.contains(ip("2001:db8:7fff::1")));
        assert!(!odd.contains(ip("2001:db8:8000::1")));
    }

    #[test]
    fn zero_length_matches_whole_family() {
        let all4: Cidr = "0.0.0.0/0".parse().expect("valid");
        assert!(all4.contains(ip("203.0.113.9")));
        assert!(!all4.contains(ip("2001:db8::1")));
        let all6: Cidr = "::/0".parse().expect("valid");
        assert!(all6.contains(ip("2001:db8::1")));
        assert!(!all6.contains(ip("203.0.113.9")));
    }

    #[test]
    fn v4_mapped_source_matches_v4_network() {
        let net: Cidr = "10.0.0.0/8".parse().expect("valid");
        assert!(net.contains(ip("::ffff:10.0.0.1")));
    }

    #[test]
    fn rejects_garbage() {
        assert!(matches!(
            "10.0.0/8".parse::<Cidr>(),
            Err(CidrError::Address(_))
        ));
        assert!(matches!(
            "10.0.0.0/33".parse::<Cidr>(),
            Err(CidrError::PrefixLength(..))
        ));
        assert!(matches!(
            "::/129".parse::<Cidr>(),
            Err(CidrError::PrefixLength(..))
        ));
        assert!(matches!(
            "10.0.0.0/x".parse::<Cidr>(),
            Err(CidrError::PrefixLength(..))
        ));
    }
}
