//! Moving SIP listeners on reload: a listener whose configured address
//! changed is bound anew in place (same name, same position, so a UDP
//! socket keeps its connection id), and the old one stops once every new
//! one is bound. Adding, removing or reordering listeners needs a restart.

use std::net::SocketAddr;
use std::sync::Arc;

use super::{udp, Transports};

/// A TCP listener as configured, and what stops it accepting.
pub(super) struct TcpListening {
    pub(super) name: String,
    pub(super) addr: SocketAddr,
    pub(super) accepting: tokio::task::AbortHandle,
}

/// Why listeners were not moved; nothing changed then.
#[derive(Debug, thiserror::Error)]
pub enum RebindError {
    /// The set or order of listeners differs: only addresses can move.
    #[error("adding, removing or renaming SIP transports needs a restart")]
    NeedsRestart,
    /// A new address could not be bound.
    #[error("transports.{name}: cannot bind {addr}: {error}")]
    Bind {
        /// The listener.
        name: String,
        /// The address asked for.
        addr: SocketAddr,
        /// What the system said.
        error: std::io::Error,
    },
}

impl Transports {
    /// The transports with every listener whose address differs from
    /// `udp_listeners` / `tcp_listeners` (same names, same order) bound
    /// anew; `None` when no address changed. The moved listeners of `self`
    /// stop receiving once all new ones are bound; on error nothing moved.
    pub async fn rebind(
        &self,
        udp_listeners: &[(String, SocketAddr)],
        tcp_listeners: &[(String, SocketAddr)],
    ) -> Result<Option<Transports>, RebindError> {
        let same_names = |old: &mut dyn Iterator<Item = &str>, new: &[(String, SocketAddr)]| {
            old.eq(new.iter().map(|(name, _)| name.as_str()))
        };
        if !same_names(
            &mut self.udp_listeners.iter().map(|(n, _)| n.as_str()),
            udp_listeners,
        ) || !same_names(
            &mut self.tcp_listeners.iter().map(|l| l.name.as_str()),
            tcp_listeners,
        ) {
            return Err(RebindError::NeedsRestart);
        }
        let mut udp_new = self.udp.as_ref().clone();
        let mut udp_moved = Vec::new();
        let mut tcp_new = Vec::new();
        let mut tcp_moved = Vec::new();
        let undo =
            |udp_moved: &[usize], udp_new: &[udp::UdpTransport], tcp_new: &[TcpListening]| {
                for &index in udp_moved {
                    udp_new[index].stop_receiving();
                }
                for (listening, old) in tcp_new.iter().zip(self.tcp_listeners.iter()) {
                    if listening.addr != old.addr {
                        listening.accepting.abort();
                    }
                }
            };
        for (index, ((name, addr), (_, old))) in udp_listeners
            .iter()
            .zip(self.udp_listeners.iter())
            .enumerate()
        {
            if addr == old {
                continue;
            }
            match udp::UdpTransport::bind(name, *addr, index as u64, self.inbound.clone()).await {
                Ok(transport) => {
                    udp_new[index] = transport;
                    udp_moved.push(index);
                }
                Err(error) => {
                    undo(&udp_moved, &udp_new, &[]);
                    return Err(bind_error(name, *addr, error));
                }
            }
        }
        for ((name, addr), old) in tcp_listeners.iter().zip(self.tcp_listeners.iter()) {
            if *addr == old.addr {
                tcp_new.push(TcpListening {
                    name: name.clone(),
                    addr: *addr,
                    accepting: old.accepting.clone(),
                });
                continue;
            }
            match self.tcp.listen_stoppable(name, *addr).await {
                Ok((_, accepting)) => {
                    tcp_new.push(TcpListening {
                        name: name.clone(),
                        addr: *addr,
                        accepting,
                    });
                    tcp_moved.push(old);
                }
                Err(error) => {
                    undo(&udp_moved, &udp_new, &tcp_new);
                    return Err(bind_error(name, *addr, error));
                }
            }
        }
        if udp_moved.is_empty() && tcp_moved.is_empty() {
            return Ok(None);
        }
        for &index in &udp_moved {
            tracing::info!(
                listener = %udp_listeners[index].0,
                from = %self.udp[index].local_addr(),
                to = %udp_new[index].local_addr(),
                "UDP listener moved"
            );
            self.udp[index].stop_receiving();
        }
        for old in tcp_moved {
            tracing::info!(listener = %old.name, from = %old.addr, "TCP listener moved");
            old.accepting.abort();
        }
        Ok(Some(Transports {
            udp: Arc::new(udp_new),
            tcp: self.tcp.clone(),
            udp_listeners: Arc::new(udp_listeners.to_vec()),
            tcp_listeners: Arc::new(tcp_new),
            inbound: self.inbound.clone(),
        }))
    }
}

fn bind_error(name: &str, addr: SocketAddr, error: std::io::Error) -> RebindError {
    RebindError::Bind {
        name: name.to_owned(),
        addr,
        error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::mpsc;

    fn loopback(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    async fn bound(
        udp: &[(String, SocketAddr)],
    ) -> (Transports, mpsc::Receiver<super::super::Inbound>) {
        let (inbound, received) = mpsc::channel(8);
        let (failures, _) = mpsc::channel(8);
        let transports = Transports::bind(udp, &[], Default::default(), inbound, failures)
            .await
            .expect("bind");
        (transports, received)
    }

    #[tokio::test]
    async fn only_addresses_move_and_a_taken_one_moves_nothing() {
        let listeners = vec![("udp".to_string(), loopback(0))];
        let (transports, mut received) = bound(&listeners).await;
        assert!(matches!(transports.rebind(&listeners, &[]).await, Ok(None)));
        let renamed = vec![("other".to_string(), loopback(0))];
        assert!(matches!(
            transports.rebind(&renamed, &[]).await,
            Err(RebindError::NeedsRestart)
        ));
        let taken = std::net::UdpSocket::bind(loopback(0)).expect("bind");
        let taken_addr = taken.local_addr().expect("address");
        let moved = vec![("udp".to_string(), taken_addr)];
        assert!(matches!(
            transports.rebind(&moved, &[]).await,
            Err(RebindError::Bind { .. })
        ));
        // The listener still receives where it was.
        let old = transports.udp_local_addrs()[0];
        let peer = tokio::net::UdpSocket::bind(loopback(0))
            .await
            .expect("bind");
        let options =
            "OPTIONS sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK1\r\n\
                       From: <sip:t@127.0.0.1>;tag=1\r\nTo: <sip:a@127.0.0.1>\r\nCall-ID: c1\r\n\
                       CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";
        peer.send_to(options.as_bytes(), old).await.expect("send");
        let wait = std::time::Duration::from_secs(5);
        let got = tokio::time::timeout(wait, received.recv()).await;
        assert!(matches!(got, Ok(Some(_))), "the old socket still receives");
        drop(taken);
        let moved = transports
            .rebind(&moved, &[])
            .await
            .expect("free now")
            .expect("moved");
        assert_eq!(moved.udp_local_addrs(), vec![taken_addr]);
    }
}
