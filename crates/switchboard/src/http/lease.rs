//! An HTTP connection whose lifetime a handler can stretch.
//!
//! Every HTTP connection ends at a deadline, so a slow or silent client
//! gives its slot back: reads and writes fail once it has passed (and the
//! task is woken for it, so an idle connection is closed too), which axum
//! answers by dropping the connection. Probes need milliseconds, but a
//! recording download may need minutes: its handler stretches the
//! connection's [`Lease`] in proportion to the file's size, and closes the
//! connection after that response so the longer lifetime serves nothing else.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

use crate::transport::connection_limits::ConnectionPermit;

/// The deadline of one connection, shared between its stream and the
/// request handlers (as axum connect info).
#[derive(Debug, Clone, Default)]
pub struct Lease(Arc<Mutex<Option<Instant>>>);

impl Lease {
    /// Moves the connection's deadline to `until`, if that is later.
    pub fn extend_to(&self, until: Instant) {
        let mut pending = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if pending.is_none_or(|p| p < until) {
            *pending = Some(until);
        }
    }

    /// The extension asked for since the last call, if any.
    fn take(&self) -> Option<Instant> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// A TCP stream failing its I/O after its deadline, holding the
/// connection's place in the listener's limits for as long as it lives.
pub struct LeasedStream {
    stream: TcpStream,
    deadline: Pin<Box<Sleep>>,
    lease: Lease,
    _held: ConnectionPermit,
}

impl LeasedStream {
    /// `stream`, closed at `deadline` unless its lease is extended.
    pub fn new(stream: TcpStream, deadline: Instant, held: ConnectionPermit) -> LeasedStream {
        LeasedStream {
            stream,
            deadline: Box::pin(tokio::time::sleep_until(deadline)),
            lease: Lease::default(),
            _held: held,
        }
    }

    /// The handle handlers stretch the deadline with.
    pub fn lease(&self) -> &Lease {
        &self.lease
    }

    /// An error once the deadline has passed (arming the wake-up otherwise).
    fn check(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        if let Some(until) = self.lease.take() {
            if until > self.deadline.deadline() {
                self.deadline.as_mut().reset(until);
            }
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            tracing::debug!("HTTP connection closed at the end of its lifetime");
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "HTTP connection lifetime over",
            ));
        }
        Ok(())
    }
}

impl AsyncRead for LeasedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check(cx)?;
        Pin::new(&mut this.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for LeasedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check(cx)?;
        Pin::new(&mut this.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check(cx)?;
        Pin::new(&mut this.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check(cx)?;
        Pin::new(&mut this.stream).poll_flush(cx)
    }

    /// Never refused: closing is what the deadline wants.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}
