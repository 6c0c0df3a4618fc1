//! A TCP connection whose reads and writes fail once a deadline has passed.
//!
//! The listeners axum serves (Agent RPC, HTTP) hand each connection to a
//! task we do not own; the only way to close one from outside is to make
//! its I/O fail, which axum answers by dropping the connection. So the
//! Agent RPC upgrade deadline and the HTTP connection lifetime are both a
//! [`TimedStream`]: the deadline is checked on every read, write and flush
//! (and wakes the task when it passes, so a silent peer is closed too), an
//! optional flag lifts it for good (a completed WebSocket upgrade), an
//! optional [`Lease`] lets a request handler move it later (a recording
//! download needs minutes where a probe needs milliseconds), and the
//! stream holds the connection's place in its listener's limits until it
//! is dropped.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

/// A later deadline for one connection, shared between its stream and the
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

/// A TCP stream with a deadline, holding `P` (the connection's slot in its
/// listener's limits) for as long as it lives.
pub struct TimedStream<P> {
    stream: TcpStream,
    /// `None` once lifted.
    deadline: Option<Pin<Box<Sleep>>>,
    /// Once set, the deadline is lifted for good.
    lift: Option<Arc<AtomicBool>>,
    /// Later deadlines handlers ask for.
    lease: Option<Lease>,
    /// Why the connection is closed at the deadline, for the log and the error.
    reason: &'static str,
    _held: P,
}

impl<P: Unpin> TimedStream<P> {
    /// `stream` fails its I/O `timeout` from now, with `reason`, unless
    /// [`TimedStream::lifted_by`] lifts the deadline first.
    pub fn new(stream: TcpStream, timeout: Duration, reason: &'static str, held: P) -> Self {
        TimedStream {
            stream,
            deadline: Some(Box::pin(tokio::time::sleep(timeout))),
            lift: None,
            lease: None,
            reason,
            _held: held,
        }
    }

    /// Lifts the deadline once `flag` is set (e.g. by the upgrade handler).
    pub fn lifted_by(mut self, flag: Arc<AtomicBool>) -> Self {
        self.lift = Some(flag);
        self
    }

    /// Lets handlers move the deadline later through a [`Lease`].
    pub fn leased(mut self) -> Self {
        self.lease = Some(Lease::default());
        self
    }

    /// The handle handlers move the deadline with, when [`TimedStream::leased`].
    pub fn lease(&self) -> Option<&Lease> {
        self.lease.as_ref()
    }

    /// An error once the deadline has passed (and arms the task's wake-up
    /// for it otherwise).
    fn check(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        let Some(deadline) = self.deadline.as_mut() else {
            return Ok(());
        };
        if let Some(until) = self.lease.as_ref().and_then(Lease::take) {
            if until > deadline.deadline() {
                deadline.as_mut().reset(until);
            }
        }
        if self
            .lift
            .as_ref()
            .is_some_and(|f| f.load(Ordering::Acquire))
        {
            self.deadline = None;
            return Ok(());
        }
        if deadline.as_mut().poll(cx).is_ready() {
            tracing::debug!(reason = self.reason, "connection closed at its deadline");
            return Err(io::Error::new(io::ErrorKind::TimedOut, self.reason));
        }
        Ok(())
    }
}

impl<P: Unpin> AsyncRead for TimedStream<P> {
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

impl<P: Unpin> AsyncWrite for TimedStream<P> {
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
