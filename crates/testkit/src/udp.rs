//! Raw SIP over UDP for tests that need exact bytes on the wire.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// A UDP socket on 127.0.0.1 that sends raw SIP and collects responses.
pub struct RawUdp {
    socket: UdpSocket,
}

impl RawUdp {
    /// Binds an ephemeral port.
    pub fn bind() -> RawUdp {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind test UDP socket");
        RawUdp { socket }
    }

    /// This socket's address, for Via and Contact.
    pub fn local_addr(&self) -> SocketAddr {
        self.socket
            .local_addr()
            .expect("bound socket has an address")
    }

    /// Sends one datagram.
    pub fn send(&self, bytes: &[u8], to: SocketAddr) {
        self.socket.send_to(bytes, to).expect("send test datagram");
    }

    /// Waits up to `timeout` for one datagram that parses as SIP.
    pub fn recv(&self, timeout: Duration) -> Option<sip::Message> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let bytes = self.recv_raw(left)?;
            if let Ok(m) = sip::parse_datagram(&bytes) {
                return Some(m);
            }
        }
    }

    /// Waits up to `timeout` for one datagram, whatever it holds.
    pub fn recv_raw(&self, timeout: Duration) -> Option<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        let mut buf = vec![0u8; 65_535];
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            self.socket
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .ok()?;
            match self.socket.recv_from(&mut buf) {
                Ok((n, _)) => return Some(buf[..n].to_vec()),
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut =>
                {
                    return None
                }
                // ICMP errors from earlier sends surface here; keep waiting.
                Err(_) => continue,
            }
        }
    }

    /// Waits for a response whose CSeq matches `cseq` ("1 OPTIONS"), skipping others.
    pub fn recv_response(&self, call_id: &str, timeout: Duration) -> Option<sip::Response> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            if let Some(sip::Message::Response(r)) = self.recv(left) {
                if r.call_id() == Some(call_id) {
                    return Some(r);
                }
            }
        }
    }

    /// Drains anything already queued, so later waits see only fresh traffic.
    pub fn drain(&self) {
        let _ = self.socket.set_nonblocking(true);
        let mut buf = vec![0u8; 65_535];
        while self.socket.recv_from(&mut buf).is_ok() {}
        let _ = self.socket.set_nonblocking(false);
    }
}

/// An OPTIONS request from `from` to `to` with the given Call-ID.
pub fn options_request(from: SocketAddr, to: SocketAddr, call_id: &str) -> Vec<u8> {
    format!(
        "OPTIONS sip:{to} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {from};branch=z9hG4bK-{call_id};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:test@{from}>;tag=t-{call_id}\r\n\
         To: <sip:{to}>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 OPTIONS\r\n\
         Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}
