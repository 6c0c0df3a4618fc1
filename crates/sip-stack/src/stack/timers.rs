//! The stack's deadline queue: every transaction and dialog timer, earliest first.
//!
//! Each owner (transaction or dialog) has at most one entry, at the deadline
//! it records in its own `scheduled`; a change of deadline moves the entry
//! and an owner that ends takes it out. The queue so holds live deadlines
//! only. A heap with lazy deletion would be simpler to update but keeps
//! every replaced deadline until it comes due, above all the 5-minute ring
//! guard of each INVITE answered within a second: on a busy server, hundreds
//! of thousands of dead entries in the way of every pop.
//!
//! Keys are kept small (a dialog owner is boxed) because the B-tree moves
//! them around in its nodes on every insert and removal.

use std::collections::BTreeSet;
use std::time::Instant;

use crate::dialog::DialogId;

/// Who a timer in the queue belongs to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum TimerOwner {
    Client(u64),
    Server(u64),
    Dialog(Box<DialogId>),
}

/// Deadlines with their owner (see the module doc).
#[derive(Debug, Default)]
pub(super) struct TimerQueue {
    entries: BTreeSet<(Instant, TimerOwner)>,
}

impl TimerQueue {
    /// Moves `owner`'s entry from `*scheduled` to `next` (either may be
    /// `None`: not queued, or no longer) and records `next` in `*scheduled`.
    pub(super) fn schedule(
        &mut self,
        owner: TimerOwner,
        scheduled: &mut Option<Instant>,
        next: Option<Instant>,
    ) {
        if *scheduled == next {
            return;
        }
        match (scheduled.take(), next) {
            (Some(old), Some(new)) => {
                self.entries.remove(&(old, owner.clone()));
                self.entries.insert((new, owner));
            }
            (Some(old), None) => {
                self.entries.remove(&(old, owner));
            }
            (None, Some(new)) => {
                self.entries.insert((new, owner));
            }
            (None, None) => {}
        }
        *scheduled = next;
    }

    /// The earliest deadline.
    pub(super) fn first(&self) -> Option<Instant> {
        self.entries.first().map(|(at, _)| *at)
    }

    /// Takes the earliest entry if it is due at `now`; its owner must then
    /// clear its `scheduled`.
    pub(super) fn pop_due(&mut self, now: Instant) -> Option<(Instant, TimerOwner)> {
        if self.first()? > now {
            return None;
        }
        self.entries.pop_first()
    }

    /// Number of queued deadlines.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }
}
