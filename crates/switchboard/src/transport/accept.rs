//! What an accept loop does after `accept()` fails; sans-IO.
//!
//! Most accept errors concern one connection that died in the backlog
//! (ECONNABORTED and the like): the loop goes on at once. The others,
//! chiefly EMFILE/ENFILE (no descriptor left), leave the pending connection
//! in the backlog, so the listener stays readable and a loop that retried
//! at once would spin a core while achieving nothing. Those pause the loop,
//! doubling from [`FIRST_PAUSE`] to [`LONGEST_PAUSE`] while they last, and
//! are logged once per episode: "out of file descriptors" for EMFILE/ENFILE
//! (see [`crate::fd_limit`]), the error itself otherwise.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};

use super::connection_limits::{ConnectionLimits, ConnectionPermit, RefusalLog};
use crate::fd_limit;

/// The accept loop of every TCP listener (SIP over TCP, Agent RPC, HTTP):
/// accepts on `listener` until a connection is admitted by `limits`, and
/// returns it with its permit. Failed accepts go through `backoff`;
/// refused connections are closed at once and logged through `refusals`
/// (at most one warning per interval). `name` names the listener in logs.
pub async fn next_admitted(
    listener: &TcpListener,
    limits: &ConnectionLimits,
    backoff: &mut AcceptBackoff,
    refusals: &mut RefusalLog,
    name: &str,
) -> (TcpStream, SocketAddr, ConnectionPermit) {
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                let pause = backoff.failed(&error, name);
                if !pause.is_zero() {
                    tokio::time::sleep(pause).await;
                }
                continue;
            }
        };
        backoff.succeeded(name);
        match limits.admit(remote.ip()) {
            Ok(permit) => return (stream, remote, permit),
            Err(refusal) => {
                tracing::debug!(
                    listener = name,
                    %remote,
                    reason = refusal.reason(),
                    "connection refused"
                );
                if let Some(count) = refusals.note(Instant::now()) {
                    tracing::warn!(
                        listener = name,
                        %remote,
                        refused = count,
                        open = limits.total(),
                        reason = refusal.reason(),
                        "connections closed at accept"
                    );
                }
                drop(stream);
            }
        }
    }
}

/// Pause after the first resource error of an episode.
pub const FIRST_PAUSE: Duration = Duration::from_millis(10);
/// Longest pause between two attempts while the errors last.
pub const LONGEST_PAUSE: Duration = Duration::from_secs(1);

/// An accept loop's state between errors.
#[derive(Debug, Default)]
pub struct AcceptBackoff {
    pause: Option<Duration>,
}

impl AcceptBackoff {
    /// An accept succeeded: the episode, if any, is over.
    pub fn succeeded(&mut self, listener: &str) {
        if self.pause.take().is_some() {
            tracing::info!(listener, "accepting connections again");
        }
    }

    /// An accept failed with `error`; how long to wait before the next.
    pub fn failed(&mut self, error: &io::Error, listener: &str) -> Duration {
        if is_connection_error(error) {
            tracing::debug!(listener, %error, "a connection was lost before accept");
            return Duration::ZERO;
        }
        let pause = match self.pause {
            None => {
                if fd_limit::is_exhausted(error) {
                    tracing::warn!(
                        listener,
                        %error,
                        "out of file descriptors: new connections wait in the backlog"
                    );
                } else {
                    tracing::warn!(listener, %error, "accept failed: pausing");
                }
                FIRST_PAUSE
            }
            Some(pause) => (pause * 2).min(LONGEST_PAUSE),
        };
        self.pause = Some(pause);
        pause
    }
}

/// Errors that concern only the connection being accepted (or none, for
/// EINTR: mio's accept4 does not retry it). WouldBlock never gets here:
/// tokio's `accept` waits for readiness again on it.
fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::io::Errno;

    #[test]
    fn descriptor_exhaustion_backs_off_doubling_up_to_a_second_then_resets() {
        let emfile = io::Error::from_raw_os_error(Errno::MFILE.raw_os_error());
        let mut backoff = AcceptBackoff::default();
        let pauses: Vec<Duration> = (0..10).map(|_| backoff.failed(&emfile, "t")).collect();
        assert_eq!(pauses[0], FIRST_PAUSE);
        assert_eq!(pauses[1], FIRST_PAUSE * 2);
        assert!(pauses.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(pauses[9], LONGEST_PAUSE);
        backoff.succeeded("t");
        assert_eq!(backoff.failed(&emfile, "t"), FIRST_PAUSE);
    }

    #[test]
    fn a_connection_lost_in_the_backlog_does_not_pause() {
        let mut backoff = AcceptBackoff::default();
        let aborted = io::Error::from(io::ErrorKind::ConnectionAborted);
        assert_eq!(backoff.failed(&aborted, "t"), Duration::ZERO);
        let other = io::Error::from_raw_os_error(Errno::NOBUFS.raw_os_error());
        assert_eq!(backoff.failed(&other, "t"), FIRST_PAUSE);
    }
}
