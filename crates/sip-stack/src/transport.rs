//! Transports, connections and where a message goes.
//!
//! The stack never opens a socket; it only says where bytes must go. For
//! connection-oriented transports it names the connection a request arrived
//! on, because RFC 3261 §18.2.2 sends responses back over that connection.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

/// The transport a message travels over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP: unreliable, so transactions retransmit.
    Udp,
    /// TCP: reliable, no retransmissions.
    Tcp,
    /// TLS over TCP: reliable.
    Tls,
    /// WebSocket (RFC 7118): reliable.
    Ws,
}

impl Transport {
    /// Whether the transport delivers reliably (and so transactions do not retransmit).
    pub fn is_reliable(self) -> bool {
        !matches!(self, Transport::Udp)
    }

    /// The token written in the Via header (`UDP`, `TCP`, `TLS`, `WS`).
    pub fn via_token(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
            Transport::Ws => "WS",
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.via_token())
    }
}

/// A connection the driver owns (TCP, TLS, WebSocket), named by the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub u64);

/// Where a message is sent: address, transport and, when one is known, the
/// connection to use. With `connection: None` on a reliable transport the
/// driver reuses or opens a connection to `address`; if the named connection
/// has closed, it may do the same (RFC 3261 §18.2.2) or report the failure
/// with [`SipStack::handle_transport_error`](crate::SipStack::handle_transport_error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Destination {
    /// The remote address.
    pub address: SocketAddr,
    /// The transport.
    pub transport: Transport,
    /// The connection to send on, if bound to one.
    pub connection: Option<ConnectionId>,
}

/// The RFC 3261 timer base values (§17.1.1.1, Table 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerConfig {
    /// RTT estimate, first retransmit interval (default 500 ms).
    pub t1: Duration,
    /// Cap on retransmit intervals for non-INVITE requests and INVITE responses (default 4 s).
    pub t2: Duration,
    /// Longest time a message stays in the network (default 5 s).
    pub t4: Duration,
}

impl Default for TimerConfig {
    fn default() -> TimerConfig {
        TimerConfig {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

impl TimerConfig {
    /// 64·T1: Timers B, F, H, J, L, M and the 2xx give-up time.
    pub fn transaction_timeout(&self) -> Duration {
        self.t1 * 64
    }

    /// Timer D: wait for response retransmissions after a non-2xx final
    /// (at least 32 s on unreliable transports, 0 on reliable ones).
    pub fn timer_d(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            Duration::from_secs(32).max(self.t1 * 64)
        }
    }

    /// Timer J: 64·T1 on unreliable transports, 0 on reliable ones.
    pub fn timer_j(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            self.transaction_timeout()
        }
    }

    /// Timers I and K: T4 on unreliable transports, 0 on reliable ones.
    pub fn linger(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            self.t4
        }
    }
}
