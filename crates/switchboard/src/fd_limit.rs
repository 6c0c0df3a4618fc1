//! The process's file-descriptor limit, raised at start, and the share of it
//! kept for media so that signalling storms cannot starve calls.
//!
//! Every SIP or Agent RPC TCP connection and every RTP or RTCP socket costs
//! one descriptor, and all of them come out of one per-process limit
//! (`RLIMIT_NOFILE`). The soft limit a service starts with (1024 under
//! systemd) is far below what the server can hold, so [`configure`] raises
//! it to the hard limit at start and logs both.
//!
//! Raising it is not enough: a storm of idle TCP connections can still take
//! every descriptor, and the next call then fails to bind an RTP port
//! although the port is free. So the limit is split in three
//! ([`DescriptorShares::split`]):
//!
//! - **media**: [`PER_PORT_PAIR`] descriptors for every RTP/RTCP port pair
//!   of `media.rtp_ports` (the two sockets, and the file of a recording the
//!   call may write), so that every pair the range offers can be in use at
//!   once; but never more than half the limit, so a wide range on a small
//!   limit does not shut signalling out;
//! - **other**: [`OTHER_DESCRIPTORS`] (at most a quarter of the limit) for
//!   what is neither: listeners, the runtime's own, logs, prompt files
//!   being read, DNS lookups;
//! - **signalling**: the rest. Each SIP TCP connection (accepted or opened
//!   by us) and each Agent RPC connection holds a [`SignallingSlot`] from
//!   [`SIGNALLING`]; with no slot left a new connection is closed at accept
//!   and an outbound one is not attempted, whatever the configured
//!   connection limits still allow.
//!
//! The budget counts our own connections with an atomic counter rather than
//! reading `/proc/self/fd` at each accept: in a storm that directory has an
//! entry per connection, and listing it per accept would cost O(n²).
//!
//! Should descriptors run out all the same (the system-wide limit, a leak),
//! the accept loops and the RTP port pool say "out of file descriptors"
//! ([`is_exhausted`]) instead of a misleading "port in use", and the accept
//! loops back off rather than spin on a listener that stays readable.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::io::Errno;
use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

use crate::config::Config;
use crate::media::ports;

/// Descriptors kept per RTP/RTCP port pair: its two sockets and one for a
/// recording file (a recorded call writes one file for at least one pair).
pub const PER_PORT_PAIR: u64 = 3;

/// Descriptors kept for everything that is neither a connection nor an RTP
/// socket (capped at a quarter of the limit).
pub const OTHER_DESCRIPTORS: u64 = 256;

/// The process's budget for signalling connections.
pub static SIGNALLING: DescriptorBudget = DescriptorBudget::unlimited();

/// A slot in [`SIGNALLING`] for one new connection, or `None` when the
/// budget is spent.
pub fn signalling_slot() -> Option<SignallingSlot<'static>> {
    SIGNALLING.try_acquire()
}

/// How the descriptor limit is shared out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DescriptorShares {
    /// The soft limit the shares add up to.
    pub limit: u64,
    /// Kept for RTP/RTCP sockets and recordings.
    pub media: u64,
    /// Kept for listeners, files and the runtime.
    pub other: u64,
    /// What signalling connections may hold together.
    pub signalling: u64,
}

impl DescriptorShares {
    /// Splits `limit` for a port range of `rtp_pairs` pairs (see the module doc).
    pub fn split(limit: u64, rtp_pairs: u32) -> DescriptorShares {
        let media = (PER_PORT_PAIR * u64::from(rtp_pairs)).min(limit / 2);
        let other = OTHER_DESCRIPTORS.min(limit / 4);
        DescriptorShares {
            limit,
            media,
            other,
            signalling: limit.saturating_sub(media + other),
        }
    }
}

/// A count of connections held against a ceiling; lock-free, so accept
/// loops and connection tasks on any thread share it.
#[derive(Debug)]
pub struct DescriptorBudget {
    limit: AtomicU64,
    in_use: AtomicU64,
    /// Most slots held at once since [`DescriptorBudget::take_peak`].
    peak: AtomicU64,
}

impl DescriptorBudget {
    /// A budget that refuses nothing until [`DescriptorBudget::set_limit`].
    pub const fn unlimited() -> DescriptorBudget {
        DescriptorBudget {
            limit: AtomicU64::new(u64::MAX),
            in_use: AtomicU64::new(0),
            peak: AtomicU64::new(0),
        }
    }

    /// Sets the ceiling; slots already held stay valid.
    pub fn set_limit(&self, limit: u64) {
        self.limit.store(limit, Ordering::Relaxed);
    }

    /// Slots held now.
    pub fn in_use(&self) -> u64 {
        self.in_use.load(Ordering::Relaxed)
    }

    /// The most slots held at once since the last call (or since start),
    /// so that a watcher that looks now and then still sees a short storm.
    pub fn take_peak(&self) -> u64 {
        self.peak.swap(self.in_use(), Ordering::Relaxed)
    }

    /// Takes a slot unless the ceiling is reached; the slot is returned
    /// when dropped.
    pub fn try_acquire(&self) -> Option<SignallingSlot<'_>> {
        let limit = self.limit.load(Ordering::Relaxed);
        let held = self
            .in_use
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |n| {
                (n < limit).then_some(n + 1)
            })
            .ok()?;
        self.peak.fetch_max(held + 1, Ordering::Relaxed);
        Some(SignallingSlot { budget: self })
    }
}

/// One connection's place in a [`DescriptorBudget`], held as long as its
/// socket is open.
#[derive(Debug)]
pub struct SignallingSlot<'a> {
    budget: &'a DescriptorBudget,
}

impl Drop for SignallingSlot<'_> {
    fn drop(&mut self) {
        self.budget.in_use.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Whether an error means the process or the system has no descriptor left
/// (EMFILE, ENFILE).
pub fn is_exhausted(error: &io::Error) -> bool {
    error.raw_os_error().is_some_and(|code| {
        code == Errno::MFILE.raw_os_error() || code == Errno::NFILE.raw_os_error()
    })
}

/// Raises the soft descriptor limit to the hard one, shares it out for the
/// config's RTP range and sets [`SIGNALLING`]; logs what it did. Call once
/// at start, before anything opens connections.
pub fn configure(config: &Config) {
    let limit = raise_soft_limit();
    let shares = DescriptorShares::split(limit, ports::pairs_in(config.media.rtp_ports));
    SIGNALLING.set_limit(shares.signalling);
    tracing::info!(
        limit = shares.limit,
        media = shares.media,
        other = shares.other,
        signalling = shares.signalling,
        open = open_descriptors(),
        "descriptor shares: media keeps its share, signalling connections get the rest"
    );
    let configured =
        u64::from(config.sip.tcp_max_connections) + u64::from(config.agent_rpc.max_connections);
    if shares.signalling < configured {
        tracing::warn!(
            signalling = shares.signalling,
            configured,
            "the descriptor limit, not sip.tcp_max_connections + agent_rpc.max_connections, \
             bounds connections: raise the hard limit (LimitNOFILE=) to allow them all"
        );
    }
}

/// Sets the soft `RLIMIT_NOFILE` to the hard limit (or to the kernel's
/// `nr_open` when the hard limit is infinite) and returns the soft limit in
/// force afterwards.
fn raise_soft_limit() -> u64 {
    let before = getrlimit(Resource::Nofile);
    let target = before.maximum.or_else(nr_open);
    let soft = match (before.current, target) {
        (Some(current), Some(target)) if current < target => {
            let raised = Rlimit {
                current: Some(target),
                maximum: before.maximum,
            };
            match setrlimit(Resource::Nofile, raised) {
                Ok(()) => target,
                Err(error) => {
                    tracing::warn!(%error, current, target, "cannot raise the descriptor limit");
                    current
                }
            }
        }
        (Some(current), _) => current,
        (None, _) => nr_open().unwrap_or(u64::from(u32::MAX)),
    };
    tracing::info!(
        soft_before = ?before.current,
        hard = ?before.maximum,
        soft,
        "descriptor limit (RLIMIT_NOFILE): the soft limit is set to the hard one"
    );
    soft
}

/// The kernel's ceiling on any process's descriptor limit.
fn nr_open() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Descriptors the process has open now, for the log.
fn open_descriptors() -> Option<usize> {
    std::fs::read_dir("/proc/self/fd")
        .ok()
        .map(|dir| dir.count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_keeps_its_range_and_signalling_gets_the_rest() {
        // A hard limit of 1 M and the default 5,000-pair range.
        let big = DescriptorShares::split(1 << 20, 5000);
        assert_eq!(big.media, 15_000);
        assert_eq!(big.other, OTHER_DESCRIPTORS);
        assert_eq!(big.signalling, (1 << 20) - 15_000 - OTHER_DESCRIPTORS);
        // systemd's 1024 soft limit left unraised: media gets half, not all.
        let small = DescriptorShares::split(1024, 5000);
        assert_eq!(
            (small.media, small.other, small.signalling),
            (512, 256, 256)
        );
        // A tiny limit: every share capped, nothing negative.
        let tiny = DescriptorShares::split(10, 5000);
        assert_eq!(tiny.media + tiny.other + tiny.signalling, 10);
        assert_eq!(DescriptorShares::split(0, 10).signalling, 0);
    }

    #[test]
    fn slots_are_refused_at_the_ceiling_and_returned_on_drop() {
        let budget = DescriptorBudget::unlimited();
        budget.set_limit(2);
        let a = budget.try_acquire().expect("first");
        let b = budget.try_acquire().expect("second");
        assert!(budget.try_acquire().is_none(), "the ceiling holds");
        assert_eq!(budget.in_use(), 2);
        drop(a);
        let c = budget.try_acquire().expect("a slot came back");
        // Lowering the ceiling below what is held refuses new slots only.
        budget.set_limit(1);
        assert!(budget.try_acquire().is_none());
        drop((b, c));
        assert_eq!(budget.in_use(), 0);
        assert!(budget.try_acquire().is_some());
        // The high-water mark survives the slots, until it is taken.
        assert_eq!(budget.take_peak(), 2);
        assert_eq!(budget.take_peak(), 0);
    }

    #[test]
    fn emfile_and_enfile_are_exhaustion_other_errors_are_not() {
        let emfile = io::Error::from_raw_os_error(Errno::MFILE.raw_os_error());
        let enfile = io::Error::from_raw_os_error(Errno::NFILE.raw_os_error());
        let in_use = io::Error::from_raw_os_error(Errno::ADDRINUSE.raw_os_error());
        assert!(is_exhausted(&emfile));
        assert!(is_exhausted(&enfile));
        assert!(!is_exhausted(&in_use));
        assert!(!is_exhausted(&io::Error::other("no errno")));
    }
}
