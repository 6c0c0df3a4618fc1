//! SIP over TCP: framing by Content-Length, one reader and one writer task
//! per connection, and a registry so responses and later requests reuse the
//! connection a peer opened (RFC 3261 §18.2.2, §18.3).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sip_stack::transport::{ConnectionId, Transport};
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
}

impl TcpConnections {
    /// An empty registry feeding received messages to `inbound`.
    pub fn new(inbound: mpsc::Sender<Inbound>) -> TcpConnections {
        TcpConnections {
            registry: Arc::default(),
            next_id: Arc::new(AtomicU64::new(FIRST_TCP_ID)),
            inbound,
        }
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
                            tracing::info!(%destination, %error, "TCP connect failed")
                        }
                        Err(_) => tracing::info!(%destination, "TCP connect timed out"),
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
        tokio::spawn(write_loop(writer, rx));
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
                match sip::parse_stream(&buf) {
                    Ok(Some((message, used))) => {
                        buf.drain(..used);
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
                    Ok(None) => {
                        // Only whitespace left: keep-alive CRLFs.
                        if buf.iter().all(|b| matches!(b, b'\r' | b'\n')) {
                            buf.clear();
                        }
                        break;
                    }
                    Err(error) => {
                        // Framing is lost: answer if we can, then close.
                        tracing::info!(%remote, %error, "malformed SIP on TCP: closing");
                        if let Some(response) = sip::error_response(&buf, &error) {
                            let _ = reply.send(response.to_bytes()).await;
                        }
                        return;
                    }
                }
            }
            let start = buf.len();
            buf.resize(start + READ_CHUNK, 0);
            let read = tokio::time::timeout(IDLE_TIMEOUT, reader.read(&mut buf[start..])).await;
            match read {
                Ok(Ok(0)) | Err(_) => return,
                Ok(Ok(n)) => buf.truncate(start + n),
                Ok(Err(error)) => {
                    tracing::debug!(%remote, %error, "TCP read error");
                    return;
                }
            }
        }
    }
}

async fn write_loop(mut writer: OwnedWriteHalf, mut rx: mpsc::Receiver<Vec<u8>>) {
    while let Some(bytes) = rx.recv().await {
        if writer.write_all(&bytes).await.is_err() {
            break;
        }
    }
    let _ = writer.shutdown().await;
}
