//! SIP over UDP: one receive task per socket; sends are non-blocking.

use std::net::SocketAddr;
use std::sync::Arc;

use sip_stack::transport::{ConnectionId, Transport};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::{Inbound, MAX_DATAGRAM};

/// One bound UDP socket; clones share it.
#[derive(Clone)]
pub struct UdpTransport {
    socket: Arc<UdpSocket>,
    local: SocketAddr,
    /// The receive loop, stopped when a reload moves the listener.
    receiver: tokio::task::AbortHandle,
}

impl UdpTransport {
    /// Binds the socket and spawns its receive loop. `index` identifies the
    /// socket in the [`ConnectionId`] of every message it receives.
    pub async fn bind(
        name: &str,
        addr: SocketAddr,
        index: u64,
        inbound: mpsc::Sender<Inbound>,
    ) -> std::io::Result<UdpTransport> {
        let socket = Arc::new(UdpSocket::bind(addr).await?);
        let local = socket.local_addr()?;
        tracing::info!(%local, "listening on UDP");
        let receiver = tokio::spawn(receive_loop(
            socket.clone(),
            ConnectionId(index),
            Arc::from(name),
            inbound,
        ))
        .abort_handle();
        Ok(UdpTransport {
            socket,
            local,
            receiver,
        })
    }

    /// Stops receiving; the socket closes once the last clone that may
    /// still send on it is dropped.
    pub fn stop_receiving(&self) {
        self.receiver.abort();
    }

    /// The bound address (with the real port when 0 was configured).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Sends one datagram without waiting. A full socket buffer drops it: SIP
    /// over UDP retransmits, and the stack must never wait on the network.
    pub fn send(&self, bytes: &[u8], destination: SocketAddr) {
        send_datagram(&self.socket, bytes, destination);
    }
}

fn send_datagram(socket: &UdpSocket, bytes: &[u8], destination: SocketAddr) {
    if let Err(error) = socket.try_send_to(bytes, destination) {
        // ECONNREFUSED from an earlier ICMP port-unreachable is normal on UDP.
        tracing::debug!(%destination, %error, "UDP send failed");
    }
}

async fn receive_loop(
    socket: Arc<UdpSocket>,
    id: ConnectionId,
    listener: Arc<str>,
    inbound: mpsc::Sender<Inbound>,
) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let (len, source) = match socket.recv_from(&mut buf).await {
            Ok(r) => r,
            Err(error) => {
                // Linux reports an earlier ICMP error on the next recv; carry on.
                tracing::debug!(%error, "UDP receive error");
                continue;
            }
        };
        let datagram = &buf[..len];
        if datagram
            .iter()
            .all(|b| matches!(b, b'\r' | b'\n' | b' ' | 0))
        {
            continue; // keep-alive (RFC 5626 CRLF) or empty
        }
        match sip::parse_datagram(datagram) {
            Ok(message) => {
                let item = Inbound {
                    message,
                    source,
                    transport: Transport::Udp,
                    connection: id,
                    listener: listener.clone(),
                };
                if inbound.try_send(item).is_err() {
                    tracing::warn!(%source, "stack queue full: dropping datagram");
                }
            }
            Err(error) => {
                tracing::info!(%source, %error, "malformed SIP datagram");
                let response = sip::error_response(datagram, &error);
                crate::http::metrics::sip::unparseable(response.as_ref().map(|r| r.status));
                if let Some(response) = response {
                    send_datagram(&socket, &response.to_bytes(), source);
                }
            }
        }
    }
}
