//! Our `o=` line across a dialog (RFC 3264 §5, §8).
//!
//! One [`OriginState`] lives as long as the SIP session. The session id
//! never changes. The version works like this, exactly:
//! - the first SDP issued carries the version given to [`OriginState::new`];
//! - every later SDP that differs from the previously issued one in
//!   anything other than the `o=` version (an address, a port, a codec, a
//!   direction, any attribute) carries the previous version plus one;
//! - an SDP identical to the previous one (a re-INVITE answered with the
//!   same media, a session refresh) carries the same version, so the peer
//!   can tell nothing changed.

use std::net::IpAddr;

use crate::model::{Origin, SessionDescription};

/// The origin we put in our SDPs, and the last SDP we issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginState {
    username: String,
    session_id: u64,
    version: u64,
    last: Option<SessionDescription>,
}

impl OriginState {
    /// A new session: `o=<username> <session_id> <version> ...` on the first SDP.
    /// RFC 8866 suggests an NTP timestamp for both numbers.
    pub fn new(username: impl Into<String>, session_id: u64, version: u64) -> Self {
        OriginState {
            username: username.into(),
            session_id,
            version,
            last: None,
        }
    }

    /// The session id.
    pub fn session_id(&self) -> u64 {
        self.session_id
    }

    /// The version carried by the last SDP issued (or the first one to be issued).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The last SDP issued, to send again when nothing changed.
    pub fn last(&self) -> Option<&SessionDescription> {
        self.last.as_ref()
    }

    /// Writes our `o=` line (address `address`) into `sdp`, bumping the
    /// version when `sdp` differs from the last SDP issued, and remembers it.
    pub fn issue(&mut self, mut sdp: SessionDescription, address: IpAddr) -> SessionDescription {
        let mut origin = Origin {
            username: self.username.clone(),
            session_id: self.session_id.to_string(),
            version: self.version,
            net_type: "IN".to_string(),
            addr_type: match address {
                IpAddr::V4(_) => "IP4",
                IpAddr::V6(_) => "IP6",
            }
            .to_string(),
            address: address.to_string(),
        };
        sdp.origin = origin.clone();
        if self.last.as_ref().is_some_and(|last| *last != sdp) {
            self.version = self.version.wrapping_add(1);
            origin.version = self.version;
            sdp.origin = origin;
        }
        self.last = Some(sdp.clone());
        sdp
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Timing;

    fn body(name: &str) -> SessionDescription {
        SessionDescription {
            origin: Origin {
                username: "x".into(),
                session_id: "x".into(),
                version: 99,
                net_type: "IN".into(),
                addr_type: "IP4".into(),
                address: "x".into(),
            },
            session_name: name.into(),
            information: None,
            extra: Vec::new(),
            connection: None,
            bandwidths: Vec::new(),
            timing: Timing::default(),
            attributes: Vec::new(),
            media: Vec::new(),
        }
    }

    #[test]
    fn version_moves_only_when_the_body_changes() {
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        let mut state = OriginState::new("sb", 42, 7);
        let first = state.issue(body("a"), v6);
        assert_eq!(first.origin.to_string(), "sb 42 7 IN IP6 2001:db8::1");
        assert_eq!(state.issue(body("a"), v6).origin.version, 7);
        assert_eq!(state.issue(body("b"), v6).origin.version, 8);
        // A new address is a change too.
        let v4: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(state.issue(body("b"), v4).origin.version, 9);
        assert_eq!(state.session_id(), 42);
        assert_eq!(state.last().unwrap().origin.addr_type, "IP4");
    }

    #[test]
    fn version_wraps_instead_of_panicking() {
        let mut state = OriginState::new("sb", 1, u64::MAX);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        state.issue(body("a"), ip);
        assert_eq!(state.issue(body("b"), ip).origin.version, 0);
    }
}
