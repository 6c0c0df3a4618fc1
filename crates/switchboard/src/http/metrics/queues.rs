//! Queue depths between the server's tasks, read at scrape time from the
//! senders' own counts (`max_capacity - capacity`): nothing is counted on
//! the paths that use the queues.
//!
//! Per-connection queues (agent writers) register a weak sender while
//! their connection lives; a scrape sums them and reports the fullest.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

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

/// Adds one registered queue to a load (nothing once its senders are gone).
type Reader = Box<dyn Fn(&mut QueueLoad) + Send>;

/// A set of per-connection queues, each registered while its connection lives.
pub struct WatchedQueues {
    next_id: AtomicU64,
    queues: Mutex<BTreeMap<u64, Reader>>,
}

impl std::fmt::Debug for WatchedQueues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchedQueues")
            .field("queues", &self.lock().len())
            .finish()
    }
}

/// Agent connections' writer queues (frames waiting for the socket).
pub static AGENT_WRITERS: WatchedQueues = WatchedQueues::new();

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

impl WatchedQueues {
    const fn new() -> WatchedQueues {
        WatchedQueues {
            next_id: AtomicU64::new(0),
            queues: Mutex::new(BTreeMap::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<u64, Reader>> {
        self.queues.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Watches `sender`'s queue until the returned guard is dropped; holds
    /// only a weak sender, so the queue still closes when its users are gone.
    pub fn watch<T: Send + 'static>(&'static self, sender: &mpsc::Sender<T>) -> QueueWatch {
        let weak = sender.downgrade();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let reader: Reader = Box::new(move |load| {
            if let Some(sender) = weak.upgrade() {
                load.add(&sender);
            }
        });
        self.lock().insert(id, reader);
        QueueWatch { set: self, id }
    }

    /// The set's load now.
    pub fn load(&self) -> QueueLoad {
        let mut load = QueueLoad::default();
        for reader in self.lock().values() {
            reader(&mut load);
        }
        load
    }
}

/// Keeps a queue in its set; dropping it takes the queue out.
#[derive(Debug)]
pub struct QueueWatch {
    set: &'static WatchedQueues,
    id: u64,
}

impl Drop for QueueWatch {
    fn drop(&mut self) {
        self.set.lock().remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watched_queues_add_up_until_their_watch_ends() {
        static SET: WatchedQueues = WatchedQueues::new();
        let (a, _a_rx) = mpsc::channel::<u8>(4);
        let (b, _b_rx) = mpsc::channel::<u8>(8);
        let watch_a = SET.watch(&a);
        let _watch_b = SET.watch(&b);
        a.try_send(1).expect("room");
        b.try_send(1).expect("room");
        b.try_send(2).expect("room");
        let load = SET.load();
        assert_eq!(
            load,
            QueueLoad {
                queued: 3,
                fullest: 2,
                capacity: 12
            }
        );
        drop(watch_a);
        assert_eq!(SET.load().capacity, 8);
    }
}
