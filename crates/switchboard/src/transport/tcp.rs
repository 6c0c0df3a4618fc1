//! SIP over TCP: framing by Content-Length, one reader and one writer task
//! per connection, and a registry so responses and later requests reuse the
//! connection a peer opened (RFC 3261 §18.2.2, §18.3).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sip_stack::transport::{ConnectionId, Destination, Transport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use super::Inbound;

/// Bound on bytes-chunks queued for one connection's writer; a peer that
/// stops reading is disconnected rather than allowed to grow memory.
const WRITE_QUEUE: usize = 1024;
/// A connection with no traffic for this long is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// Outbound connection attempts give up after this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// TCP connection ids start high so they never collide with UDP socket indexes.
const FIRST_TCP_ID: u64 = 1 << 32;
/// Listener name given to connections we opened ourselves.
const OUTBOUND: &str = "outbound";
/// Read buffer growth step.
const READ_CHUNK: usize = 16 * 1024;

#[derive(Default)]
struct Registry {
    by_id: HashMap<u64, Connection>,
    by_remote: HashMap<SocketAddr, u64>,
}

struct Connection {
    remote: SocketAddr,
    writer: mpsc::Sender<Vec<u8>>,
}

/// All live TCP connections, inbound and outbound.
#[derive(Clone)]
pub struct TcpConnections {
    registry: Arc<Mutex<Registry>>,
    next_id: Arc<AtomicU64>,
    inbound: mpsc::Sender<Inbound>,
    failures: mpsc::Sender<Destination>,
}

impl TcpConnections {
    /// An empty registry feeding received messages to `inbound` and
    /// connections that could not be opened or written to `failures`.
    pub fn new(
        inbound: mpsc::Sender<Inbound>,
        failures: mpsc::Sender<Destination>,
    ) -> TcpConnections {
        TcpConnections {
            registry: Arc::default(),
            next_id: Arc::new(AtomicU64::new(FIRST_TCP_ID)),
            inbound,
            failures,
        }
    }

    /// Tells the stack that sending failed, so transactions waiting on this
    /// destination end now instead of at their timeout. Best effort: if the
    /// queue is full the transactions still end by timer.
    fn report_failure(&self, address: SocketAddr, connection: Option<ConnectionId>) {
        let _ = self.failures.try_send(Destination {
            address,
            transport: Transport::Tcp,
            connection,
        });
    }

    /// Binds a listener and spawns its accept loop.
    pub async fn listen(&self, name: &str, addr: SocketAddr) -> std::io::Result<SocketAddr> {
        let listener = TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        tracing::info!(%local, "listening on TCP");
        let this = self.clone();
        let name: Arc<str> = Arc::from(name);
        tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, remote)) => {
                        this.start(stream, remote, name.clone());
                    }
                    Err(error) => {
                        tracing::warn!(%error, "TCP accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        });
        Ok(local)
    }

    /// Queues bytes on the named connection, else on any connection to the
    /// destination, else on a new outbound connection.
    pub fn send(&self, connection: Option<ConnectionId>, destination: SocketAddr, bytes: Vec<u8>) {
        let writer = {
            let registry = self.lock();
            connection
                .and_then(|c| registry.by_id.get(&c.0))
                .or_else(|| {
                    registry
                        .by_remote
                        .get(&destination)
                        .and_then(|id| registry.by_id.get(id))
                })
                .map(|c| c.writer.clone())
        };
        match writer {
            Some(writer) => {
                if writer.try_send(bytes).is_err() {
                    tracing::warn!(%destination, "TCP write queue full or closed: message dropped");
                    self.report_failure(destination, connection);
                }
            }
            None => {
                let this = self.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(destination))
                        .await
                    {
                        Ok(Ok(stream)) => {
                            let writer = this.start(stream, destination, Arc::from(OUTBOUND));
                            let _ = writer.try_send(bytes);
                        }
                        Ok(Err(error)) => {
                            tracing::info!(%destination, %error, "TCP connect failed");
                            this.report_failure(destination, None);
                        }
                        Err(_) => {
                            tracing::info!(%destination, "TCP connect timed out");
                            this.report_failure(destination, None);
                        }
                    }
                });
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        // A poisoned registry only means a task panicked mid-update of plain maps.
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn start(
        &self,
        stream: TcpStream,
        remote: SocketAddr,
        listener: Arc<str>,
    ) -> mpsc::Sender<Vec<u8>> {
        let _ = stream.set_nodelay(true);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (reader, writer) = stream.into_split();
        let (tx, rx) = mpsc::channel(WRITE_QUEUE);
        {
            let mut registry = self.lock();
            registry.by_id.insert(
                id,
                Connection {
                    remote,
                    writer: tx.clone(),
                },
            );
            registry.by_remote.insert(remote, id);
        }
        tracing::debug!(%remote, id, "TCP connection up");
        let this = self.clone();
        tokio::spawn(async move {
            if write_loop(writer, rx).await.is_err() {
                this.report_failure(remote, Some(ConnectionId(id)));
            }
        });
        let this = self.clone();
        let reply = tx.clone();
        tokio::spawn(async move {
            this.read_loop(reader, remote, ConnectionId(id), listener, reply)
                .await;
            this.forget(id);
            tracing::debug!(%remote, id, "TCP connection closed");
        });
        tx
    }

    fn forget(&self, id: u64) {
        let mut registry = self.lock();
        if let Some(conn) = registry.by_id.remove(&id) {
            if registry.by_remote.get(&conn.remote) == Some(&id) {
                registry.by_remote.remove(&conn.remote);
            }
        }
    }

    async fn read_loop(
        &self,
        mut reader: OwnedReadHalf,
        remote: SocketAddr,
        id: ConnectionId,
        listener: Arc<str>,
        reply: mpsc::Sender<Vec<u8>>,
    ) {
        let mut buf: Vec<u8> = Vec::with_capacity(READ_CHUNK);
        loop {
            // Frame every complete message already buffered.
            loop {
                match sip::parse_stream_frame(&buf) {
                    Ok(Some(frame)) => {
                        match frame.message {
                            Ok(message) => {
                                let item = Inbound {
                                    message,
                                    source: remote,
                                    transport: Transport::Tcp,
                                    connection: id,
                                    listener: listener.clone(),
                                };
                                if self.inbound.send(item).await.is_err() {
                                    return; // stack gone: shutting down
                                }
                            }
                            Err(error) => {
                                // Framed but invalid: answer it and read on.
                                tracing::info!(%remote, %error, "malformed SIP on TCP");
                                let bytes = &buf[..frame.consumed];
                                if let Some(response) = sip::error_response(bytes, &error) {
                                    let _ = reply.send(response.to_bytes()).await;
                                }
                            }
                        }
                        buf.drain(..frame.consumed);
                    }
                    Ok(None) => {
                        // Only whitespace left: keep-alive CRLFs.
                        if buf.iter().all(|b| matches!(b, b'\r' | b'\n')) {
                            buf.clear();
                        }
                        break;
                    }
                    Err(error) => {
                        // Framing is lost: answer if we can, then close.
                        tracing::info!(%remote, %error, "unframeable SIP on TCP: closing");
                        if let Some(response) = sip::error_response(&buf, &error) {
                            let _ = reply.send(response.to_bytes()).await;
                        }
                        return;
                    }
                }
            }
            // Read into spare capacity: nothing is zeroed or truncated per read.
            buf.reserve(READ_CHUNK);
            let read = tokio::time::timeout(IDLE_TIMEOUT, reader.read_buf(&mut buf)).await;
            match read {
                Ok(Ok(0)) | Err(_) => return,
                Ok(Ok(_)) => {}
                Ok(Err(error)) => {
                    tracing::debug!(%remote, %error, "TCP read error");
                    return;
                }
            }
        }
    }
}

async fn write_loop(
    mut writer: OwnedWriteHalf,
    mut rx: mpsc::Receiver<Vec<u8>>,
) -> std::io::Result<()> {
    while let Some(bytes) = rx.recv().await {
        writer.write_all(&bytes).await?;
    }
    writer.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTIONS: &str = "OPTIONS sip:a@127.0.0.1 SIP/2.0\r\n\
        Via: SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bK-x\r\n\
        From: <sip:b@127.0.0.1>;tag=1\r\nTo: <sip:a@127.0.0.1>\r\n\
        Call-ID: tcp-test\r\nCSeq: 1 OPTIONS\r\nContent-Length: 4\r\n\r\nbody";

    fn connections() -> (
        TcpConnections,
        mpsc::Receiver<Inbound>,
        mpsc::Receiver<Destination>,
    ) {
        let (tx, rx) = mpsc::channel(16);
        let (ftx, frx) = mpsc::channel(16);
        (TcpConnections::new(tx, ftx), rx, frx)
    }

    async fn next<T>(rx: &mut mpsc::Receiver<T>) -> T {
        tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("within 5 s")
            .expect("channel open")
    }

    #[tokio::test]
    async fn frames_split_and_pipelined_messages_and_replies_on_the_same_connection() {
        let (conns, mut inbound, _failures) = connections();
        let local = conns
            .listen("tcp", "127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("listen");
        let mut peer = TcpStream::connect(local).await.expect("connect");
        let two = format!("\r\n{OPTIONS}{OPTIONS}");
        let (first, rest) = two.as_bytes().split_at(40);
        peer.write_all(first).await.expect("write");
        tokio::time::sleep(Duration::from_millis(20)).await;
        peer.write_all(rest).await.expect("write");
        // A framed but invalid message in between is answered, not fatal.
        let bad = OPTIONS.replace("CSeq: 1 OPTIONS", "CSeq: x OPTIONS");
        peer.write_all(bad.as_bytes()).await.expect("write");
        peer.write_all(OPTIONS.as_bytes()).await.expect("write");

        let a = next(&mut inbound).await;
        let b = next(&mut inbound).await;
        assert_eq!(a.message.body(), b"body");
        assert_eq!(b.message.body(), b"body");
        assert_eq!(a.connection, b.connection);
        assert_eq!(&*a.listener, "tcp");
        let c = next(&mut inbound).await;
        assert_eq!(
            c.connection, a.connection,
            "connection survived the bad message"
        );

        // Read the whole 400 (it ends with an empty line: no body).
        let mut answer = Vec::new();
        while !answer.ends_with(b"\r\n\r\n") {
            let mut byte = [0u8; 1];
            tokio::time::timeout(Duration::from_secs(5), peer.read_exact(&mut byte))
                .await
                .expect("within 5 s")
                .expect("read");
            answer.push(byte[0]);
        }
        assert!(answer.starts_with(b"SIP/2.0 400 "));

        conns.send(Some(a.connection), a.source, b"reply".to_vec());
        let mut got = [0u8; 5];
        tokio::time::timeout(Duration::from_secs(5), peer.read_exact(&mut got))
            .await
            .expect("within 5 s")
            .expect("read");
        assert_eq!(&got, b"reply");
    }

    #[tokio::test]
    async fn unreachable_destination_is_reported_to_the_stack() {
        let (conns, _inbound, mut failures) = connections();
        // A port that was just free: nothing listens there.
        let closed = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind")
            .local_addr()
            .expect("addr");
        conns.send(None, closed, b"hello".to_vec());
        let failure = next(&mut failures).await;
        assert_eq!(failure.address, closed);
        assert_eq!(failure.transport, Transport::Tcp);
        assert_eq!(failure.connection, None);
    }
}
