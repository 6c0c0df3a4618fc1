//! Password guessing: failed authentications per source address, and bans.
//!
//! Pure bookkeeping, no I/O and no clock: callers pass `now`. Digest
//! admission ([`crate::admission`]) and the Agent RPC token check each keep
//! one [`AuthFailures`] and consult it only when a request carries
//! credentials or would be challenged, never on established calls.
//!
//! The choices, where no RFC speaks:
//!
//! - **Window**: a failure counts for 60 s after it happened (a sliding
//!   window, not fixed minutes an attacker could straddle). The failure that
//!   brings the count to `auth_max_failures` starts the ban; the request that
//!   failed is still answered as a wrong password.
//! - **A success does not clear failures**, neither the source's own nor
//!   anyone else's: otherwise one valid account of the attacker's own, used
//!   between guesses, would reset the count for ever. A user who mistyped
//!   once keeps that failure for a minute, which costs nothing.
//! - **During a ban nothing is checked**, so nothing is counted; when it ends
//!   the source starts from zero.
//! - **IPv6 counts per /64**, the smallest block a site is usually given: an
//!   attacker holding one can otherwise rotate through 2^64 addresses. IPv4
//!   and IPv4-mapped IPv6 count per address. The ban line names the address
//!   whose failure started the ban, so `fail2ban`'s `<HOST>` matches it.
//! - **Bounded memory**: at most [`MAX_SOURCES`] sources are tracked, each
//!   with at most `auth_max_failures` timestamps. When the table is full,
//!   entries with nothing left to remember go first, then the sources whose
//!   last failure is oldest; banned sources go last, so flooding the table
//!   with fresh addresses does not lift a ban. Room is made an eighth of the
//!   table at a time, so a flood costs one sweep per many insertions.
//! - `auth_ban_sec: 0` turns banning off (failures are not even kept).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::config::SipConfig;
use crate::transport::source_block;

/// How long a failure counts toward a ban.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Most sources tracked at once (a hostile network presents many).
pub const MAX_SOURCES: usize = 65_536;
/// Longest ban honoured: keeps `now + ban` far from `Instant`'s limits.
const MAX_BAN: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// The limits a tracker enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BanPolicy {
    /// Failures within [`FAILURE_WINDOW`] that start a ban.
    pub max_failures: u32,
    /// How long a ban lasts; zero turns banning off.
    pub ban: Duration,
    /// Most sources remembered at once.
    pub max_sources: usize,
}

impl BanPolicy {
    /// The limits `sip.auth_max_failures` and `sip.auth_ban_sec` set.
    pub fn from_config(sip: &SipConfig) -> BanPolicy {
        BanPolicy {
            max_failures: sip.auth_max_failures,
            ban: Duration::from_secs(sip.auth_ban_sec).min(MAX_BAN),
            max_sources: MAX_SOURCES,
        }
    }
}

/// What is remembered of one source (address, or IPv6 /64).
#[derive(Debug)]
struct SourceRecord {
    /// When its recent failures happened, oldest first; fewer than
    /// `max_failures` (reaching it starts a ban and clears them).
    failures: VecDeque<Instant>,
    /// End of its ban, if it was banned.
    banned_until: Option<Instant>,
}

impl SourceRecord {
    fn banned(&self, now: Instant) -> bool {
        self.banned_until.is_some_and(|until| now < until)
    }

    /// Forgets failures that no longer count.
    fn expire(&mut self, now: Instant) {
        while self
            .failures
            .front()
            .is_some_and(|&at| now.saturating_duration_since(at) >= FAILURE_WINDOW)
        {
            self.failures.pop_front();
        }
    }

    /// Whether forgetting this source would lose anything.
    fn matters(&self, now: Instant) -> bool {
        self.banned(now)
            || self
                .failures
                .back()
                .is_some_and(|&at| now.saturating_duration_since(at) < FAILURE_WINDOW)
    }
}

/// Failed authentications per source and the bans they led to (see the
/// module doc).
#[derive(Debug)]
pub struct AuthFailures {
    policy: BanPolicy,
    sources: HashMap<IpAddr, SourceRecord>,
}

impl AuthFailures {
    /// An empty tracker enforcing `policy`.
    pub fn new(policy: BanPolicy) -> AuthFailures {
        AuthFailures {
            policy,
            sources: HashMap::new(),
        }
    }

    /// Number of sources remembered.
    pub fn tracked(&self) -> usize {
        self.sources.len()
    }

    /// Whether `source` is banned at `now`: refuse it without checking
    /// anything it presents.
    pub fn is_banned(&self, source: IpAddr, now: Instant) -> bool {
        self.sources
            .get(&source_block(source))
            .is_some_and(|record| record.banned(now))
    }

    /// Counts a refused credential from `source`; when this failure starts
    /// its ban, logs the ban line (once per ban) and returns true.
    pub fn record_failure(&mut self, source: IpAddr, now: Instant) -> bool {
        if self.policy.ban.is_zero() {
            return false;
        }
        let key = source_block(source);
        if self.sources.len() >= self.policy.max_sources && !self.sources.contains_key(&key) {
            self.make_room(now);
        }
        let record = self.sources.entry(key).or_insert_with(|| SourceRecord {
            failures: VecDeque::new(),
            banned_until: None,
        });
        if record.banned(now) {
            return false;
        }
        record.banned_until = None;
        record.expire(now);
        record.failures.push_back(now);
        if record.failures.len() < self.policy.max_failures as usize {
            return false;
        }
        record.failures.clear();
        // `ban` is capped far below what `Instant` can hold.
        record.banned_until = now.checked_add(self.policy.ban);
        tracing::warn!("{}", self.ban_line(source));
        true
    }

    /// The line logged once per ban, the one fail2ban matches: it names the
    /// address whose failure started the ban (IPv6: its /64 is banned).
    fn ban_line(&self, source: IpAddr) -> String {
        format!(
            "auth ban: source={} failures={} ban_sec={}",
            source.to_canonical(),
            self.policy.max_failures,
            self.policy.ban.as_secs()
        )
    }

    /// Frees an eighth of the table: forgotten sources first, then the
    /// longest quiet, then the bans ending soonest.
    fn make_room(&mut self, now: Instant) {
        self.sources.retain(|_, record| record.matters(now));
        let target = self
            .policy
            .max_sources
            .saturating_sub((self.policy.max_sources / 8).max(1));
        if self.sources.len() <= target {
            return;
        }
        // Banned sources sort after every unbanned one, by ban end;
        // unbanned ones by their last failure.
        let mut order: Vec<(bool, Instant, IpAddr)> = self
            .sources
            .iter()
            .map(|(&key, record)| match record.banned_until {
                Some(until) if until > now => (true, until, key),
                _ => (false, record.failures.back().copied().unwrap_or(now), key),
            })
            .collect();
        let excess = self.sources.len() - target;
        order.select_nth_unstable(excess - 1);
        for (_, _, key) in &order[..excess] {
            self.sources.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(max_failures: u32, ban_sec: u64) -> BanPolicy {
        BanPolicy {
            max_failures,
            ban: Duration::from_secs(ban_sec),
            max_sources: MAX_SOURCES,
        }
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("test address")
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn the_last_allowed_failure_starts_the_ban_and_it_ends() {
        let t0 = Instant::now();
        let mut failures = AuthFailures::new(policy(3, 300));
        let a = ip("192.0.2.1");
        assert!(!failures.record_failure(a, t0));
        assert!(!failures.record_failure(a, t0 + secs(1)));
        assert!(!failures.is_banned(a, t0 + secs(1)));
        assert!(failures.record_failure(a, t0 + secs(2)));
        assert!(failures.is_banned(a, t0 + secs(2)));
        assert!(failures.is_banned(a, t0 + secs(301)));
        // More failures during the ban start nothing new (logged once).
        assert!(!failures.record_failure(a, t0 + secs(3)));
        assert!(!failures.is_banned(a, t0 + secs(302)));
        // After the ban the count starts from zero.
        assert!(!failures.record_failure(a, t0 + secs(303)));
        assert!(!failures.record_failure(a, t0 + secs(304)));
        assert!(failures.record_failure(a, t0 + secs(305)));
    }

    #[test]
    fn the_ban_line_is_what_fail2ban_matches() {
        let failures = AuthFailures::new(policy(5, 300));
        assert_eq!(
            failures.ban_line(ip("203.0.113.7")),
            "auth ban: source=203.0.113.7 failures=5 ban_sec=300"
        );
        // An IPv4-mapped IPv6 source is named as the IPv4 address it is.
        assert_eq!(
            failures.ban_line(ip("::ffff:192.0.2.5")),
            "auth ban: source=192.0.2.5 failures=5 ban_sec=300"
        );
    }

    #[test]
    fn failures_older_than_the_window_do_not_count() {
        let t0 = Instant::now();
        let mut failures = AuthFailures::new(policy(3, 300));
        let a = ip("192.0.2.1");
        assert!(!failures.record_failure(a, t0));
        assert!(!failures.record_failure(a, t0 + secs(30)));
        // The first is exactly a window old: it no longer counts.
        assert!(!failures.record_failure(a, t0 + secs(60)));
        assert!(!failures.is_banned(a, t0 + secs(60)));
        // The second and third are within a window of this one.
        assert!(failures.record_failure(a, t0 + secs(60) + Duration::from_millis(999)));
    }

    #[test]
    fn sources_are_independent() {
        let t0 = Instant::now();
        let mut failures = AuthFailures::new(policy(2, 300));
        let (a, b) = (ip("192.0.2.1"), ip("192.0.2.2"));
        assert!(!failures.record_failure(a, t0));
        assert!(!failures.record_failure(b, t0));
        assert!(failures.record_failure(a, t0));
        assert!(failures.is_banned(a, t0));
        assert!(!failures.is_banned(b, t0));
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        let t0 = Instant::now();
        let mut failures = AuthFailures::new(policy(2, 300));
        assert!(!failures.record_failure(ip("2001:db8:1:2::1"), t0));
        assert!(failures.record_failure(ip("2001:db8:1:2:ffff::9"), t0));
        assert!(failures.is_banned(ip("2001:db8:1:2:abcd::1"), t0));
        assert!(!failures.is_banned(ip("2001:db8:1:3::1"), t0));

        assert!(!failures.record_failure(ip("::ffff:192.0.2.5"), t0));
        assert!(failures.record_failure(ip("192.0.2.5"), t0));
        assert!(failures.is_banned(ip("::ffff:192.0.2.5"), t0));
        assert!(!failures.is_banned(ip("192.0.2.6"), t0));
    }

    #[test]
    fn zero_ban_seconds_turns_banning_off() {
        let t0 = Instant::now();
        let mut failures = AuthFailures::new(policy(1, 0));
        let a = ip("192.0.2.1");
        assert!(!failures.record_failure(a, t0));
        assert!(!failures.is_banned(a, t0));
        assert_eq!(failures.tracked(), 0);
    }

    #[test]
    fn a_full_table_forgets_the_quiet_first_and_keeps_bans() {
        let t0 = Instant::now();
        let mut failures = AuthFailures::new(BanPolicy {
            max_sources: 16,
            ..policy(2, 300)
        });
        let banned = ip("198.51.100.1");
        failures.record_failure(banned, t0);
        assert!(failures.record_failure(banned, t0));
        // A flood of sources, one failure each, a second apart.
        for i in 0..200u32 {
            let source = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            failures.record_failure(source, t0 + secs(u64::from(i)));
            assert!(failures.tracked() <= 16);
        }
        assert!(failures.is_banned(banned, t0 + secs(199)));
        // The newest sources are still counted: one more failure bans.
        let newest = ip("10.0.0.199");
        assert!(failures.record_failure(newest, t0 + secs(199)));
    }

    #[test]
    fn a_full_table_of_bans_evicts_the_one_ending_first() {
        let t0 = Instant::now();
        let mut failures = AuthFailures::new(BanPolicy {
            max_sources: 4,
            ..policy(1, 300)
        });
        for i in 0..5u8 {
            let source = IpAddr::from([192, 0, 2, i]);
            assert!(failures.record_failure(source, t0 + secs(u64::from(i))));
        }
        let now = t0 + secs(5);
        assert_eq!(failures.tracked(), 4);
        assert!(!failures.is_banned(ip("192.0.2.0"), now));
        for i in 1..5u8 {
            assert!(failures.is_banned(IpAddr::from([192, 0, 2, i]), now));
        }
    }

    #[test]
    fn expired_entries_are_purged_when_room_is_needed() {
        let t0 = Instant::now();
        let mut failures = AuthFailures::new(BanPolicy {
            max_sources: 8,
            ..policy(3, 300)
        });
        for i in 0..8u8 {
            failures.record_failure(IpAddr::from([192, 0, 2, i]), t0);
        }
        assert_eq!(failures.tracked(), 8);
        failures.record_failure(ip("198.51.100.1"), t0 + secs(61));
        assert_eq!(failures.tracked(), 1);
    }
}
