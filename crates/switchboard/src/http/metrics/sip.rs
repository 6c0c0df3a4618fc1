//! SIP message counters: the driver publishes a copy of the stack's
//! [`StackStats`] at each 100 ms load sample, and a scrape reads the
//! latest copy (at most one sample old).
//!
//! One process runs one SIP driver, so the copy lives in a static; the
//! driver never waits for it (a scrape holding the lock skips one publish,
//! and the next sample catches up).
//!
//! A message that does not parse never reaches the stack: the transport
//! that read it answers it itself (400, 413, 416, 505) and counts it here
//! with [`unparseable`]; a scrape adds those answers to the stack's
//! responses.

use std::fmt;
use std::sync::{LazyLock, Mutex, TryLockError};

use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::MetricType;
use sip_stack::{MethodCounts, StackStats, StatusCounts};

use super::{counter, gauge};

/// The latest counters the driver published; `None` before the first.
static PUBLISHED: Mutex<Option<StackStats>> = Mutex::new(None);

/// Publishes the stack's counters; called by the driver at each load sample.
/// Never blocks: if a scrape is reading, this copy is skipped.
pub fn publish(stats: StackStats) {
    match PUBLISHED.try_lock() {
        Ok(mut published) => *published = Some(stats),
        Err(TryLockError::Poisoned(poisoned)) => *poisoned.into_inner() = Some(stats),
        Err(TryLockError::WouldBlock) => {}
    }
}

/// The latest published counters (zeros before the driver's first batch).
pub fn latest() -> StackStats {
    let published = match PUBLISHED.lock() {
        Ok(published) => *published,
        Err(poisoned) => *poisoned.into_inner(),
    };
    published.unwrap_or_default()
}

/// What the transports refused before the stack saw it.
#[derive(Debug, Clone, Copy, Default)]
struct Unparseable {
    /// Datagrams and stream messages that did not parse as SIP.
    received: u64,
    /// The error responses sent for them, by status.
    answered: StatusCounts,
}

/// The transports' count of unparseable messages: every socket task bumps
/// it, only on its parse-error path, so the lock costs well-formed traffic
/// nothing.
static UNPARSEABLE: LazyLock<Mutex<Unparseable>> = LazyLock::new(Mutex::default);

/// Counts a message a transport could not parse, and the status of the
/// error response it sent (`None` when there was nowhere to send one).
pub fn unparseable(answered: Option<u16>) {
    let mut counts = UNPARSEABLE.lock().unwrap_or_else(|e| e.into_inner());
    counts.received += 1;
    if let Some(status) = answered {
        counts.answered.add(status);
    }
}

/// Writes the SIP families.
pub(super) fn encode(e: &mut DescriptorEncoder) -> Result<(), fmt::Error> {
    let stats = latest();
    let unparseable = *UNPARSEABLE.lock().unwrap_or_else(|e| e.into_inner());
    let mut responses_sent = stats.responses_sent;
    responses_sent += &unparseable.answered;
    by_method(
        e,
        "sip_requests_received",
        "SIP requests received, retransmissions included, by method (extensions as \"other\").",
        &stats.requests_received,
    )?;
    by_method(
        e,
        "sip_requests_sent",
        "SIP requests sent, retransmissions included, by method (extensions as \"other\").",
        &stats.requests_sent,
    )?;
    by_code(
        e,
        "sip_responses_received",
        "SIP responses received, retransmissions included, by status code (uncommon codes by class, e.g. \"4xx\").",
        &stats.responses_received,
    )?;
    by_code(
        e,
        "sip_responses_sent",
        "SIP responses sent, retransmissions and the answers to unparseable messages included, by status code (uncommon codes by class, e.g. \"4xx\").",
        &responses_sent,
    )?;
    counter(
        e,
        "sip_retransmissions",
        "SIP requests and responses sent again (timer retransmissions, answers to retransmitted requests, repeated ACKs).",
        stats.retransmissions_sent,
    )?;
    counter(
        e,
        "sip_unparseable_messages",
        "Datagrams or stream messages received that did not parse as SIP (answered 400, 413, 416 or 505 when they carry a Via).",
        unparseable.received,
    )?;
    gauge(
        e,
        "sip_transactions",
        "SIP transactions alive (client and server).",
        stats.transactions as i64,
    )?;
    gauge(e, "sip_dialogs", "SIP dialogs alive.", stats.dialogs as i64)
}

fn by_method(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    counts: &MethodCounts,
) -> Result<(), fmt::Error> {
    let mut family = e.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (method, count) in counts.iter() {
        let labels = [("method", method)];
        ConstCounter::new(count).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

/// Codes never seen are left out, so a scrape lists the codes in use.
fn by_code(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    counts: &StatusCounts,
) -> Result<(), fmt::Error> {
    let mut family = e.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (code, count) in counts.iter().filter(|(_, count)| *count > 0) {
        let labels = [("code", code.as_str())];
        ConstCounter::new(count).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}
