//! Queue depths between the server's tasks, read at scrape time from the
//! senders' own counts (`max_capacity - capacity`): nothing is counted on
//! the paths that use the queues.
//!
//! Per-connection queues are read through the hub that lists the
//! connections (agent writers, XMPP streams); a scrape sums them and
//! reports the fullest.

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::mpsc;

/// The load of one queue, or of a set of per-connection queues.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueLoad {
    /// Items waiting, over every queue of the set.
    pub queued: usize,
    /// Items waiting in the fullest queue of the set.
    pub fullest: usize,
    /// The queues' bounds, added up.
    pub capacity: usize,
}

impl QueueLoad {
    /// Adds one bounded queue to the set.
    pub fn add<T>(&mut self, sender: &mpsc::Sender<T>) {
        let queued = sender.max_capacity() - sender.capacity();
        self.queued += queued;
        self.fullest = self.fullest.max(queued);
        self.capacity += sender.max_capacity();
    }
}

/// The call actors' SIP event queues, as the driver last summed them (it
/// holds every call's sender; it sums them once a second).
pub static CALL_EVENTS: PublishedLoad = PublishedLoad::new();

/// A [`QueueLoad`] one task publishes and a scrape reads, without a lock.
#[derive(Debug)]
pub struct PublishedLoad {
    queued: AtomicUsize,
    fullest: AtomicUsize,
    capacity: AtomicUsize,
}

impl PublishedLoad {
    const fn new() -> PublishedLoad {
        PublishedLoad {
            queued: AtomicUsize::new(0),
            fullest: AtomicUsize::new(0),
            capacity: AtomicUsize::new(0),
        }
    }

    /// Replaces the published load.
    pub fn publish(&self, load: QueueLoad) {
        self.queued.store(load.queued, Ordering::Relaxed);
        self.fullest.store(load.fullest, Ordering::Relaxed);
        self.capacity.store(load.capacity, Ordering::Relaxed);
    }

    /// The load last published.
    pub fn load(&self) -> QueueLoad {
        QueueLoad {
            queued: self.queued.load(Ordering::Relaxed),
            fullest: self.fullest.load(Ordering::Relaxed),
            capacity: self.capacity.load(Ordering::Relaxed),
        }
    }
}
