//! SIP over TCP: framing by Content-Length, one task per connection that
//! reads and writes, and a registry so responses and later requests reuse
//! the connection a peer opened (RFC 3261 §18.2.2, §18.3).
//!
//! # Hostile peers
//!
//! Every connection costs a descriptor, a task and some memory, so:
//!
//! - **At accept** a connection is closed at once when the listeners hold
//!   `sip.tcp_max_connections`, when its source address holds
//!   `sip.tcp_max_connections_per_ip`, or when the descriptors kept for
//!   signalling are spent ([`super::connection_limits`],
//!   [`crate::fd_limit`]). Accept errors pause the loop instead of spinning
//!   ([`super::accept`]).
//! - **While open** a connection is closed when it receives nothing for
//!   `sip.tcp_idle_timeout_sec` (CRLF keep-alives count; a double-CRLF ping
//!   is answered with a CRLF pong, RFC 5626), or when a message's headers,
//!   then its body, take longer than `sip.tcp_header_timeout_sec` each
//!   ([`super::stream_deadline`]). A peer that stops reading is closed once
//!   one write has stalled for [`WRITE_STALL`] or its queue is full.
//! - **Memory** held by an idle connection is its task, its write queue
//!   and its registry entries, about 2.5 KiB: reads go to a buffer on the
//!   stack, the connection's own buffer exists only while part of a message
//!   is pending and is freed once every buffered message is framed, and the
//!   registry's maps shrink after a storm. (Each connection used to reserve
//!   16 KiB at once and keep the largest buffer it ever needed.) What the
//!   allocator keeps after a storm is given back by [`super::storm`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sip_stack::transport::{ConnectionId, Destination, Transport};
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use super::accept::{next_admitted, AcceptBackoff};
use super::connection_limits::{ConnectionLimits, ConnectionPermit, RefusalLog};
use super::stream_deadline::{self, Expiry, Pending, StreamDeadline, StreamTimeouts};
use super::{shrink_after_storm, Inbound};
use crate::config::SipConfig;
use crate::fd_limit::{self, SignallingSlot};

/// Bound on bytes-chunks queued for one connection's writer; a peer that
/// stops reading is disconnected rather than allowed to grow memory.
const WRITE_QUEUE: usize = 1024;
/// A write that makes no progress for this long closes the connection.
pub const WRITE_STALL: Duration = Duration::from_secs(30);
/// How long a closing connection may take to flush what is queued.
const CLOSE_FLUSH: Duration = Duration::from_secs(2);
/// Outbound connection attempts give up after this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// TCP connection ids start high so they never collide with UDP socket indexes.
const FIRST_TCP_ID: u64 = 1 << 32;
/// Listener name given to connections we opened ourselves.
const OUTBOUND: &str = "outbound";
/// Bytes read per system call; most SIP messages fit in one.
const READ_CHUNK: usize = 4 * 1024;

/// The `sip.tcp_*` limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpLimits {
    /// Most connections accepted and open at once, all listeners together.
    pub max_connections: u32,
    /// Most of them from one source address.
    pub max_connections_per_ip: u32,
    /// Header (and body) and idle timeouts.
    pub timeouts: StreamTimeouts,
}

impl From<&SipConfig> for TcpLimits {
    fn from(sip: &SipConfig) -> TcpLimits {
        TcpLimits {
            max_connections: sip.tcp_max_connections,
            max_connections_per_ip: sip.tcp_max_connections_per_ip,
            timeouts: StreamTimeouts::from_secs(
                sip.tcp_header_timeout_sec,
                sip.tcp_idle_timeout_sec,
            ),
        }
    }
}

impl Default for TcpLimits {
    fn default() -> TcpLimits {
        TcpLimits::from(&SipConfig::default())
    }
}

#[derive(Default)]
struct Registry {
    by_id: HashMap<u64, Connection>,
    by_remote: HashMap<SocketAddr, u64>,
}

struct Connection {
    remote: SocketAddr,
    writer: mpsc::Sender<Vec<u8>>,
}

/// What keeps a connection's place in the limits; dropped when it closes.
enum Held {
    /// An accepted connection: its listener's counts and a descriptor slot.
    Inbound { _permit: ConnectionPermit },
    /// One we opened: a descriptor slot only.
    Outbound { _slot: SignallingSlot<'static> },
}

/// All live TCP connections, inbound and outbound.
#[derive(Clone)]
pub struct TcpConnections {
    registry: Arc<Mutex<Registry>>,
    next_id: Arc<AtomicU64>,
    inbound: mpsc::Sender<Inbound>,
    failures: mpsc::Sender<Destination>,
    limits: ConnectionLimits,
    timeouts: StreamTimeouts,
    /// Rate limit for the log of slow senders cut off.
    slow_senders: Arc<Mutex<RefusalLog>>,
}

impl TcpConnections {
    /// An empty registry under `limits`, feeding received messages to
    /// `inbound` and connections that could not be opened or written to
    /// `failures`.
    pub fn new(
        limits: TcpLimits,
        inbound: mpsc::Sender<Inbound>,
        failures: mpsc::Sender<Destination>,
    ) -> TcpConnections {
        TcpConnections {
            registry: Arc::default(),
            next_id: Arc::new(AtomicU64::new(FIRST_TCP_ID)),
            inbound,
            failures,
            limits: ConnectionLimits::new(
                limits.max_connections,
                Some(limits.max_connections_per_ip),
            ),
            timeouts: limits.timeouts,
            slow_senders: Arc::default(),
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
        self.listen_stoppable(name, addr)
            .await
            .map(|(local, _)| local)
    }

    /// [`listen`](Self::listen), with the handle that stops accepting
    /// (connections already accepted go on), for a reload that moves it.
    pub async fn listen_stoppable(
        &self,
        name: &str,
        addr: SocketAddr,
    ) -> std::io::Result<(SocketAddr, tokio::task::AbortHandle)> {
        let listener = super::bind_listener(addr)?;
        let local = listener.local_addr()?;
        tracing::info!(%local, "listening on TCP");
        let this = self.clone();
        let name: Arc<str> = Arc::from(name);
        let accepting = tokio::spawn(async move { this.accept_loop(listener, name).await });
        Ok((local, accepting.abort_handle()))
    }

    async fn accept_loop(self, listener: TcpListener, name: Arc<str>) {
        let mut backoff = AcceptBackoff::default();
        let mut refusals = RefusalLog::default();
        loop {
            let (stream, remote, permit) =
                next_admitted(&listener, &self.limits, &mut backoff, &mut refusals, &name).await;
            self.start(
                stream,
                remote,
                name.clone(),
                Held::Inbound { _permit: permit },
            );
        }
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
            None => self.connect(destination, bytes),
        }
    }

    /// Opens a connection to `destination` and sends `bytes` on it.
    fn connect(&self, destination: SocketAddr, bytes: Vec<u8>) {
        let Some(slot) = fd_limit::signalling_slot() else {
            tracing::warn!(
                %destination,
                "out of file descriptors for signalling: TCP connection not opened"
            );
            self.report_failure(destination, None);
            return;
        };
        let this = self.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(destination)).await {
                Ok(Ok(stream)) => {
                    let writer = this.start(
                        stream,
                        destination,
                        Arc::from(OUTBOUND),
                        Held::Outbound { _slot: slot },
                    );
                    let _ = writer.try_send(bytes);
                }
                Ok(Err(error)) => {
                    if fd_limit::is_exhausted(&error) {
                        tracing::warn!(%destination, %error, "out of file descriptors: TCP connect failed");
                    } else {
                        tracing::info!(%destination, %error, "TCP connect failed");
                    }
                    this.report_failure(destination, None);
                }
                Err(_) => {
                    tracing::info!(%destination, "TCP connect timed out");
                    this.report_failure(destination, None);
                }
            }
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        // A poisoned registry only means a task panicked mid-update of plain maps.
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a connection and spawns its task; returns its writer.
    fn start(
        &self,
        stream: TcpStream,
        remote: SocketAddr,
        listener: Arc<str>,
        held: Held,
    ) -> mpsc::Sender<Vec<u8>> {
        let _ = stream.set_nodelay(true);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
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
        let reply = tx.clone();
        tokio::spawn(async move {
            this.run(stream, remote, ConnectionId(id), listener, reply, rx)
                .await;
            drop(held);
            tracing::debug!(%remote, id, "TCP connection closed");
        });
        tx
    }

    /// Reads and writes one connection until either side ends, then lets
    /// what is queued go out (bounded) and closes.
    async fn run(
        &self,
        stream: TcpStream,
        remote: SocketAddr,
        id: ConnectionId,
        listener: Arc<str>,
        reply: mpsc::Sender<Vec<u8>>,
        rx: mpsc::Receiver<Vec<u8>>,
    ) {
        let (reader, writer) = stream.into_split();
        let write = write_loop(writer, rx);
        tokio::pin!(write);
        let read = self.read_loop(reader, remote, id, listener, reply);
        tokio::pin!(read);
        let written = tokio::select! {
            () = &mut read => {
                // No new sends; the writer ends once what is queued is out.
                self.forget(id.0);
                tokio::time::timeout(CLOSE_FLUSH, &mut write).await.unwrap_or(Ok(()))
            }
            written = &mut write => {
                self.forget(id.0);
                written
            }
        };
        if let Err(error) = written {
            tracing::info!(%remote, %error, "TCP write failed: closing");
            self.report_failure(remote, Some(id));
        }
    }

    fn forget(&self, id: u64) {
        let mut registry = self.lock();
        let Some(conn) = registry.by_id.remove(&id) else {
            return;
        };
        if registry.by_remote.get(&conn.remote) == Some(&id) {
            registry.by_remote.remove(&conn.remote);
        }
        shrink_after_storm(&mut registry.by_id);
        shrink_after_storm(&mut registry.by_remote);
    }

    async fn read_loop(
        &self,
        reader: OwnedReadHalf,
        remote: SocketAddr,
        id: ConnectionId,
        listener: Arc<str>,
        reply: mpsc::Sender<Vec<u8>>,
    ) {
        // Allocated only while part of a message is pending.
        let mut buf: Vec<u8> = Vec::new();
        let mut deadline = StreamDeadline::new(self.timeouts, Instant::now());
        // One timer for the connection, moved only when the deadline does.
        let (mut at, _) = deadline.next();
        let timer = tokio::time::sleep_until(at.into());
        tokio::pin!(timer);
        loop {
            let (next, expiry) = deadline.next();
            if next != at {
                at = next;
                timer.as_mut().reset(at.into());
            }
            tokio::select! {
                // Readiness first, as a timeout around it would poll it.
                biased;
                ready = reader.readable() => {
                    if let Err(error) = ready {
                        tracing::debug!(%remote, %error, "TCP read error");
                        return;
                    }
                }
                () = &mut timer => {
                    tracing::debug!(%remote, reason = expiry.reason(), "closing TCP connection");
                    if expiry != Expiry::Idle {
                        self.log_slow_sender(remote, expiry);
                    }
                    return;
                }
            }
            match read_into(&reader, &mut buf) {
                Ok(0) => return,
                Ok(_) => {}
                Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(error) => {
                    tracing::debug!(%remote, %error, "TCP read error");
                    return;
                }
            }
            // Boxed: framing's state (a message on its way to the stack) is
            // large, and an idle connection should not carry it.
            let framed = Box::pin(self.frame(&mut buf, remote, id, &listener, &reply)).await;
            let Some(completed) = framed else {
                return;
            };
            let pending = Pending::of(&buf);
            deadline.on_received(Instant::now(), completed, pending);
            // Keep no more memory than the pending bytes need.
            if pending == Pending::Nothing {
                buf.shrink_to_fit();
            } else if buf.capacity() > 2 * buf.len().max(READ_CHUNK) {
                buf.shrink_to(buf.len().max(READ_CHUNK));
            }
        }
    }

    /// Says, at most once per interval, that slow senders were cut off: a
    /// slowloris storm must not flood the log.
    fn log_slow_sender(&self, remote: SocketAddr, expiry: Expiry) {
        let due = self
            .slow_senders
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .note(Instant::now());
        if let Some(count) = due {
            tracing::info!(
                %remote,
                closed = count,
                reason = expiry.reason(),
                "SIP TCP connections closed for sending too slowly"
            );
        }
    }

    /// Answers keep-alives and hands every complete message in `buf` to the
    /// stack, removing them; whether any message was complete, or `None`
    /// when the connection must close.
    async fn frame(
        &self,
        buf: &mut Vec<u8>,
        remote: SocketAddr,
        id: ConnectionId,
        listener: &Arc<str>,
        reply: &mpsc::Sender<Vec<u8>>,
    ) -> Option<bool> {
        let mut completed = false;
        loop {
            let keepalives = stream_deadline::keepalives(buf);
            for _ in 0..keepalives.pings {
                // A full queue means the peer is not reading: no pong then.
                let _ = reply.try_send(stream_deadline::PONG.to_vec());
            }
            buf.drain(..keepalives.consumed);
            match sip::parse_stream_frame(buf) {
                Ok(Some(frame)) => {
                    completed = true;
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
                                return None; // stack gone: shutting down
                            }
                        }
                        Err(error) => {
                            // Framed but invalid: answer it and read on.
                            tracing::info!(%remote, %error, "malformed SIP on TCP");
                            let response = sip::error_response(&buf[..frame.consumed], &error);
                            let status = response.as_ref().map(|r| r.status);
                            crate::http::metrics::sip::unparseable(status);
                            if let Some(response) = response {
                                let _ = reply.send(response.to_bytes()).await;
                            }
                        }
                    }
                    buf.drain(..frame.consumed);
                }
                Ok(None) => return Some(completed),
                Err(error) => {
                    // Framing is lost: answer if we can, then close.
                    tracing::info!(%remote, %error, "unframeable SIP on TCP: closing");
                    let response = sip::error_response(buf, &error);
                    crate::http::metrics::sip::unparseable(response.as_ref().map(|r| r.status));
                    if let Some(response) = response {
                        let _ = reply.send(response.to_bytes()).await;
                    }
                    return None;
                }
            }
        }
    }
}

/// Reads what is ready into a buffer on the stack and appends it to `buf`:
/// a connection that closes, or sends a keep-alive, allocates nothing. (Not
/// inline in the read loop, whose future would then carry the chunk.)
fn read_into(reader: &OwnedReadHalf, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    let mut chunk = [0u8; READ_CHUNK];
    let read = reader.try_read(&mut chunk)?;
    buf.extend_from_slice(&chunk[..read]);
    Ok(read)
}

async fn write_loop(
    mut writer: OwnedWriteHalf,
    mut rx: mpsc::Receiver<Vec<u8>>,
) -> std::io::Result<()> {
    let stalled = || std::io::Error::new(std::io::ErrorKind::TimedOut, "peer stopped reading");
    while let Some(bytes) = rx.recv().await {
        tokio::time::timeout(WRITE_STALL, writer.write_all(&bytes))
            .await
            .map_err(|_| stalled())??;
    }
    tokio::time::timeout(CLOSE_FLUSH, writer.shutdown())
        .await
        .map_err(|_| stalled())?
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

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
        (TcpConnections::new(TcpLimits::default(), tx, ftx), rx, frx)
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
