//! When a stream connection (SIP over TCP) is closed for saying too little,
//! and how its keep-alives are answered; sans-IO, driven with `now`.
//!
//! Two clocks run on every connection:
//!
//! - **idle**: any bytes received count as traffic, CRLF keep-alives
//!   included (RFC 5626 §3.5.1). A connection that receives nothing for
//!   `sip.tcp_idle_timeout_sec` is closed.
//! - **message**: from the first byte of a message until its header
//!   section is complete, at most `sip.tcp_header_timeout_sec`; then its
//!   body gets as long again. A peer that sends a byte now and then
//!   (slowloris) keeps the idle clock happy but not this one, so it cannot
//!   hold a connection and a growing buffer for ever.
//!
//! The keep-alive of RFC 5626 is a double CRLF ("ping") between messages,
//! which the server answers with a single CRLF ("pong"); [`keepalives`]
//! finds the pings in what was received and how many bytes they take.

use std::time::{Duration, Instant};

/// Longest timeout honoured; larger configured values are cut to it so
/// that `now + timeout` cannot overflow.
const LONGEST: Duration = Duration::from_secs(365 * 24 * 3600);

/// A configured timeout of `secs` seconds, cut to a year so that
/// `now + timeout` cannot overflow.
pub fn capped_secs(secs: u64) -> Duration {
    Duration::from_secs(secs).min(LONGEST)
}

/// The RFC 5626 pong, sent for every ping.
pub const PONG: &[u8] = b"\r\n";

/// The two timeouts of a stream connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamTimeouts {
    /// Most time from a message's first byte until its headers are
    /// complete, and again from there until its body is.
    pub message: Duration,
    /// Most time without receiving anything.
    pub idle: Duration,
}

impl StreamTimeouts {
    /// Timeouts from configured seconds (cut to a year).
    pub fn from_secs(message: u64, idle: u64) -> StreamTimeouts {
        StreamTimeouts {
            message: capped_secs(message),
            idle: capped_secs(idle),
        }
    }
}

/// What the read buffer holds once every complete message is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pending {
    /// Nothing, or only keep-alive bytes.
    Nothing,
    /// Part of a header section.
    Headers,
    /// A complete header section and part of its body.
    Body,
}

impl Pending {
    /// Classifies the bytes left in a read buffer after framing.
    pub fn of(buf: &[u8]) -> Pending {
        let start = sip::leading_crlf_len(buf);
        let rest = &buf[start..];
        if rest.is_empty() {
            Pending::Nothing
        } else if sip::head_len(rest).is_some() {
            Pending::Body
        } else {
            Pending::Headers
        }
    }
}

/// Why a connection's deadline closes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// Nothing received for the idle timeout.
    Idle,
    /// A header section still incomplete after the message timeout.
    Headers,
    /// A body still incomplete after the message timeout.
    Body,
}

impl Expiry {
    /// What the log says.
    pub fn reason(self) -> &'static str {
        match self {
            Expiry::Idle => "idle timeout",
            Expiry::Headers => "headers incomplete in time (slow sender)",
            Expiry::Body => "body incomplete in time (slow sender)",
        }
    }
}

/// The deadline of one stream connection.
#[derive(Debug, Clone)]
pub struct StreamDeadline {
    timeouts: StreamTimeouts,
    last_traffic: Instant,
    /// The part of a message being received, and since when.
    receiving: Option<(Pending, Instant)>,
}

impl StreamDeadline {
    /// A connection that opened at `now`, with nothing received yet.
    pub fn new(timeouts: StreamTimeouts, now: Instant) -> StreamDeadline {
        StreamDeadline {
            timeouts,
            last_traffic: now,
            receiving: None,
        }
    }

    /// Bytes arrived at `now`; `completed` says whether they finished at
    /// least one message, `pending` what is left in the buffer after it.
    pub fn on_received(&mut self, now: Instant, completed: bool, pending: Pending) {
        self.last_traffic = now;
        self.receiving = match (pending, self.receiving) {
            (Pending::Nothing, _) => None,
            // The same part of the same message, still arriving.
            (part, Some((was, since))) if part == was && !completed => Some((part, since)),
            (part, _) => Some((part, now)),
        };
    }

    /// When the connection is to be closed if nothing else arrives, and why.
    pub fn next(&self) -> (Instant, Expiry) {
        let idle = (self.last_traffic + self.timeouts.idle, Expiry::Idle);
        let message = match self.receiving {
            Some((Pending::Headers, since)) => {
                Some((since + self.timeouts.message, Expiry::Headers))
            }
            Some((Pending::Body, since)) => Some((since + self.timeouts.message, Expiry::Body)),
            _ => None,
        };
        match message {
            Some(message) if message.0 < idle.0 => message,
            _ => idle,
        }
    }
}

/// The keep-alive bytes at the start of a read buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeepAlives {
    /// Double-CRLF pings among them, each owed a [`PONG`].
    pub pings: usize,
    /// Bytes to drop from the front of the buffer.
    pub consumed: usize,
}

/// Finds the pings in the CR/LF bytes that start `buf`. A run that ends the
/// buffer keeps up to three trailing bytes that may yet become a ping with
/// the next read; a run followed by a message is consumed whole.
pub fn keepalives(buf: &[u8]) -> KeepAlives {
    let run = sip::leading_crlf_len(buf);
    let (mut pings, mut at, mut after_last) = (0, 0, 0);
    while at + 4 <= run {
        if &buf[at..at + 4] == b"\r\n\r\n" {
            pings += 1;
            at += 4;
            after_last = at;
        } else {
            at += 1;
        }
    }
    let consumed = if run < buf.len() || run - after_last > 3 {
        run
    } else {
        after_last
    };
    KeepAlives { pings, consumed }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn deadline(at: Instant) -> StreamDeadline {
        StreamDeadline::new(StreamTimeouts::from_secs(10, 600), at)
    }

    #[test]
    fn a_silent_connection_expires_idle_and_any_traffic_pushes_that_back() {
        let t0 = Instant::now();
        let mut d = deadline(t0);
        assert_eq!(d.next(), (t0 + 600 * S, Expiry::Idle));
        // A keep-alive at 500 s: nothing pending afterwards.
        d.on_received(t0 + 500 * S, false, Pending::Nothing);
        assert_eq!(d.next(), (t0 + 1100 * S, Expiry::Idle));
        // A whole message at 700 s.
        d.on_received(t0 + 700 * S, true, Pending::Nothing);
        assert_eq!(d.next(), (t0 + 1300 * S, Expiry::Idle));
    }

    #[test]
    fn a_slowloris_runs_out_of_header_time_whatever_it_trickles() {
        let t0 = Instant::now();
        let mut d = deadline(t0);
        d.on_received(t0 + 5 * S, false, Pending::Headers);
        for s in 6..15 {
            d.on_received(t0 + s * S, false, Pending::Headers);
            assert_eq!(d.next(), (t0 + 15 * S, Expiry::Headers));
        }
    }

    #[test]
    fn the_body_gets_its_own_time_from_the_end_of_the_headers() {
        let t0 = Instant::now();
        let mut d = deadline(t0);
        d.on_received(t0, false, Pending::Headers);
        d.on_received(t0 + 9 * S, false, Pending::Body);
        assert_eq!(d.next(), (t0 + 19 * S, Expiry::Body));
        d.on_received(t0 + 12 * S, false, Pending::Body);
        assert_eq!(d.next(), (t0 + 19 * S, Expiry::Body));
        // Complete, and the next message's headers begin in the same read.
        d.on_received(t0 + 13 * S, true, Pending::Headers);
        assert_eq!(d.next(), (t0 + 23 * S, Expiry::Headers));
        // Complete, and nothing left.
        d.on_received(t0 + 14 * S, true, Pending::Nothing);
        assert_eq!(d.next(), (t0 + 614 * S, Expiry::Idle));
    }

    #[test]
    fn a_message_timeout_longer_than_idle_never_outlives_idle() {
        let t0 = Instant::now();
        let mut d = StreamDeadline::new(StreamTimeouts::from_secs(60, 5), t0);
        d.on_received(t0, false, Pending::Headers);
        assert_eq!(d.next(), (t0 + 5 * S, Expiry::Idle));
    }

    #[test]
    fn huge_configured_timeouts_do_not_overflow() {
        let t0 = Instant::now();
        let mut d = StreamDeadline::new(StreamTimeouts::from_secs(u64::MAX, u64::MAX), t0);
        d.on_received(t0, false, Pending::Headers);
        assert_eq!(d.next().0, t0 + LONGEST);
    }

    #[test]
    fn pending_tells_headers_from_body() {
        assert_eq!(Pending::of(b""), Pending::Nothing);
        assert_eq!(Pending::of(b"\r\n\r\n\r\n"), Pending::Nothing);
        assert_eq!(
            Pending::of(b"\r\nOPTIONS sip:a SIP/2.0\r\nVia: x\r\n"),
            Pending::Headers
        );
        assert_eq!(
            Pending::of(b"INVITE sip:a SIP/2.0\r\nContent-Length: 9\r\n\r\nv=0"),
            Pending::Body
        );
        assert_eq!(
            Pending::of(b"INVITE sip:a SIP/2.0\nContent-Length: 9\n\nv=0"),
            Pending::Body
        );
        // A bare-LF header line ended by a CRLF empty line, as the parser
        // accepts it.
        assert_eq!(
            Pending::of(b"INVITE sip:a SIP/2.0\nContent-Length: 9\n\r\nv=0"),
            Pending::Body
        );
    }

    #[test]
    fn pings_are_counted_and_a_partial_one_waits_for_the_next_read() {
        let k = |b: &[u8]| keepalives(b);
        assert_eq!(
            k(b""),
            KeepAlives {
                pings: 0,
                consumed: 0
            }
        );
        assert_eq!(
            k(b"\r\n\r\n"),
            KeepAlives {
                pings: 1,
                consumed: 4
            }
        );
        assert_eq!(
            k(b"\r\n\r\n\r\n\r\n"),
            KeepAlives {
                pings: 2,
                consumed: 8
            }
        );
        // Half a ping, or a client's single-CRLF pong: kept for now.
        assert_eq!(
            k(b"\r\n"),
            KeepAlives {
                pings: 0,
                consumed: 0
            }
        );
        assert_eq!(
            k(b"\r\n\r\n\r"),
            KeepAlives {
                pings: 1,
                consumed: 4
            }
        );
        // A pong then a ping.
        assert_eq!(
            k(b"\r\n\r\n\r\n"),
            KeepAlives {
                pings: 1,
                consumed: 4
            }
        );
        // Stray line feeds that can never be a ping are dropped.
        assert_eq!(
            k(b"\n\n\n\n\n"),
            KeepAlives {
                pings: 0,
                consumed: 5
            }
        );
        // A ping right before a message: answered, and the run consumed.
        assert_eq!(
            k(b"\r\n\r\nOPTIONS"),
            KeepAlives {
                pings: 1,
                consumed: 4
            }
        );
        assert_eq!(
            k(b"\r\nOPTIONS"),
            KeepAlives {
                pings: 0,
                consumed: 2
            }
        );
        assert_eq!(
            k(b"OPTIONS"),
            KeepAlives {
                pings: 0,
                consumed: 0
            }
        );
    }
}
