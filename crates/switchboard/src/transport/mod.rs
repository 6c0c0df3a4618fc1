//! SIP transports: tokio sockets that move bytes between peers and the stack.
//!
//! Transports parse what they receive (so a malformed message never reaches
//! the stack and is answered 400 right where it arrived) and send whatever
//! the stack emits. They hold no SIP state beyond TCP connection bookkeeping.

pub mod accept;
pub mod connection_limits;
pub mod generations;
mod rebind;
pub mod storm;
pub mod stream_deadline;
pub mod tcp;
pub mod timed_stream;
pub mod udp;

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use sip_stack::transport::{ConnectionId, Destination, Transport};
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::mpsc;

/// One peer, for per-source limits and bans: an IPv4 address (IPv4-mapped
/// IPv6 included), or an IPv6 address's /64 — the smallest block a site is
/// usually given, so an attacker holding one cannot rotate through 2^64
/// addresses to escape a per-address limit.
pub fn source_block(source: IpAddr) -> IpAddr {
    match source.to_canonical() {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !u128::from(u64::MAX);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
        v4 => v4,
    }
}

/// Connections the kernel may hold handshaken but not yet accepted (it caps
/// this at `net.core.somaxconn`): with the backlog of 128 that
/// `TcpListener::bind` asks for (tokio through mio, as the standard library
/// does) a burst overflowed the queue, and a client whose final ACK was
/// dropped there could end up closed on its side but established on ours
/// until the idle timeout.
const LISTEN_BACKLOG: u32 = 4096;

/// Binds a TCP listener on `addr` with `SO_REUSEADDR` and a backlog of
/// [`LISTEN_BACKLOG`]; the one setup of every listener (SIP over TCP,
/// Agent RPC, HTTP). Needs a tokio runtime.
pub fn bind_listener(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Gives back a map's buckets once most of them are empty (more than 64,
/// under a quarter used: shrunk to twice the entries), so that a storm of
/// connections does not leave its peak capacity behind.
pub fn shrink_after_storm<K: Eq + Hash, V>(map: &mut HashMap<K, V>) {
    let capacity = map.capacity();
    if capacity > 64 && map.len() * 4 < capacity {
        map.shrink_to(map.len() * 2);
    }
}

/// A parsed message with where it came from, on its way to the stack.
#[derive(Debug)]
pub struct Inbound {
    /// The message.
    pub message: sip::Message,
    /// The peer's address (the packet's source, or the TCP peer).
    pub source: SocketAddr,
    /// Which kind of transport carried it.
    pub transport: Transport,
    /// The UDP socket or TCP connection it arrived on; responses go back there.
    pub connection: ConnectionId,
    /// The configured name of the listener it arrived on (`match.transport`).
    pub listener: Arc<str>,
}

/// Bound on messages queued from transports to the stack: past it UDP drops
/// (the peer retransmits) and TCP readers wait (TCP flow control pushes back).
pub const INBOUND_QUEUE: usize = 8192;

/// Bound on transport failures queued for the stack.
pub const FAILURE_QUEUE: usize = 1024;

/// Largest datagram we accept; SIP over UDP must fit one IP datagram.
pub const MAX_DATAGRAM: usize = 65_535;

pub use rebind::RebindError;

/// Every listening transport, for the driver to send through.
#[derive(Clone)]
pub struct Transports {
    udp: Arc<Vec<udp::UdpTransport>>,
    tcp: tcp::TcpConnections,
    /// The UDP listeners as configured `(name, address)`, in socket order.
    udp_listeners: Arc<Vec<(String, SocketAddr)>>,
    /// The TCP listeners as configured, with what stops each accepting.
    tcp_listeners: Arc<Vec<rebind::TcpListening>>,
    /// Where a rebound UDP socket delivers what it receives.
    inbound: mpsc::Sender<Inbound>,
}

impl Transports {
    /// Binds every configured transport and starts its receive loop.
    /// Each listener is `(name, address)`; the TCP listeners share
    /// `tcp_limits`. Received messages go to `inbound`; destinations that
    /// could not be reached go to `failures`.
    pub async fn bind(
        udp_listeners: &[(String, SocketAddr)],
        tcp_listeners: &[(String, SocketAddr)],
        tcp_limits: tcp::TcpLimits,
        inbound: mpsc::Sender<Inbound>,
        failures: mpsc::Sender<Destination>,
    ) -> std::io::Result<Transports> {
        let mut udp_list = Vec::new();
        for (index, (name, addr)) in udp_listeners.iter().enumerate() {
            let transport =
                udp::UdpTransport::bind(name, *addr, index as u64, inbound.clone()).await?;
            udp_list.push(transport);
        }
        let tcp = tcp::TcpConnections::new(tcp_limits, inbound.clone(), failures);
        let mut tcp_list = Vec::new();
        for (name, addr) in tcp_listeners {
            let (_, accepting) = tcp.listen_stoppable(name, *addr).await?;
            tcp_list.push(rebind::TcpListening {
                name: name.clone(),
                addr: *addr,
                accepting,
            });
        }
        Ok(Transports {
            udp: Arc::new(udp_list),
            tcp,
            udp_listeners: Arc::new(udp_listeners.to_vec()),
            tcp_listeners: Arc::new(tcp_list),
            inbound,
        })
    }

    /// Local addresses of the UDP sockets, in configuration order.
    pub fn udp_local_addrs(&self) -> Vec<SocketAddr> {
        self.udp.iter().map(|u| u.local_addr()).collect()
    }

    /// Sends bytes the stack produced. For UDP the connection names the
    /// socket to send from (so replies leave from the port the request hit);
    /// for TCP it names the connection, falling back to any connection to the
    /// destination, then to a new one.
    pub fn send(
        &self,
        transport: Transport,
        connection: Option<ConnectionId>,
        destination: SocketAddr,
        bytes: Vec<u8>,
    ) {
        match transport {
            Transport::Udp => {
                let socket = connection
                    .and_then(|c| self.udp.get(c.0 as usize))
                    .or_else(|| self.udp.first());
                match socket {
                    Some(socket) => socket.send(&bytes, destination),
                    None => tracing::warn!(%destination, "no UDP transport to send from"),
                }
            }
            Transport::Tcp => self.tcp.send(connection, destination, bytes),
            Transport::Tls | Transport::Ws => {
                tracing::warn!(%destination, %transport, "transport not available: message dropped")
            }
        }
    }
}
