//! Calls counted for `/metrics`: started, answered and finished, by who
//! controls them and how they ended. Fixed tables of relaxed atomics,
//! touched a few times per call (never per packet), read at scrape time.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::cdr::Disposition;
use crate::control::ControllerKind;

/// Who controls a call, as a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Controlled {
    /// An Agent RPC agent.
    Agent,
    /// A Rayo client.
    Rayo,
    /// Nobody: a call bridged by its route, or refused before any actor ran.
    None,
}

impl Controlled {
    /// Every value, in label and declaration order (`ALL[c as usize] == c`).
    pub const ALL: [Controlled; 3] = [Controlled::Agent, Controlled::Rayo, Controlled::None];

    /// The label value (and the call record's `controller`).
    pub fn as_str(self) -> &'static str {
        match self {
            Controlled::Agent => "agent",
            Controlled::Rayo => "rayo",
            Controlled::None => "none",
        }
    }

    /// The label of a call offered to `kind`; `outbound` calls without one
    /// were dialed by a Rayo client (the only ones that dial).
    pub fn of(kind: Option<ControllerKind>, outbound: bool) -> Controlled {
        match kind {
            Some(ControllerKind::Agent) => Controlled::Agent,
            Some(ControllerKind::Rayo) => Controlled::Rayo,
            None if outbound => Controlled::Rayo,
            None => Controlled::None,
        }
    }
}

/// The server's call counters; one per server, shared by every call.
#[derive(Debug, Default)]
pub struct CallTotals {
    started: [AtomicU64; CONTROLLED],
    answered: [AtomicU64; CONTROLLED],
    /// Indexed by `[controlled as usize][disposition as usize]`.
    finished: [[AtomicU64; DISPOSITIONS]; CONTROLLED],
}

const CONTROLLED: usize = Controlled::ALL.len();
const DISPOSITIONS: usize = Disposition::ALL.len();

impl CallTotals {
    /// A call actor started (an admitted INVITE, or a dial).
    pub fn started(&self, controlled: Controlled) {
        self.started[controlled as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// A call was answered.
    pub fn answered(&self, controlled: Controlled) {
        self.answered[controlled as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// A call ended, or an INVITE was refused, with `disposition`.
    pub fn finished(&self, controlled: Controlled, disposition: Disposition) {
        self.finished[controlled as usize][disposition as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Calls started under `controlled`.
    pub fn started_count(&self, controlled: Controlled) -> u64 {
        self.started[controlled as usize].load(Ordering::Relaxed)
    }

    /// Calls answered under `controlled`.
    pub fn answered_count(&self, controlled: Controlled) -> u64 {
        self.answered[controlled as usize].load(Ordering::Relaxed)
    }

    /// Calls finished under `controlled` with `disposition`.
    pub fn finished_count(&self, controlled: Controlled, disposition: Disposition) -> u64 {
        self.finished[controlled as usize][disposition as usize].load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_count_lands_in_its_own_cell() {
        let totals = CallTotals::default();
        totals.started(Controlled::Agent);
        totals.started(Controlled::Agent);
        totals.answered(Controlled::Agent);
        totals.finished(Controlled::Agent, Disposition::Answered);
        totals.finished(Controlled::None, Disposition::Refused);
        assert_eq!(totals.started_count(Controlled::Agent), 2);
        assert_eq!(totals.started_count(Controlled::Rayo), 0);
        assert_eq!(totals.answered_count(Controlled::Agent), 1);
        assert_eq!(
            totals.finished_count(Controlled::Agent, Disposition::Answered),
            1
        );
        assert_eq!(
            totals.finished_count(Controlled::None, Disposition::Refused),
            1
        );
        assert_eq!(
            totals.finished_count(Controlled::Agent, Disposition::Refused),
            0
        );
    }

    #[test]
    fn all_controllers_are_listed_at_their_index() {
        for (i, controlled) in Controlled::ALL.into_iter().enumerate() {
            assert_eq!(controlled as usize, i, "{}", controlled.as_str());
        }
    }

    #[test]
    fn labels_of_controllers() {
        assert_eq!(
            Controlled::of(Some(ControllerKind::Agent), false),
            Controlled::Agent
        );
        assert_eq!(Controlled::of(None, true), Controlled::Rayo);
        assert_eq!(Controlled::of(None, false).as_str(), "none");
    }
}
