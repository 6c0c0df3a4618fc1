//! A bounded table of per-prompt slots, least recently used out first.
//!
//! Each slot is an async mutex that a loader holds while it checks, fetches
//! and decodes its prompt: a second loader of the same prompt waits and then
//! finds the frames in place. Eviction only drops the table's reference; a
//! loader still holding the slot finishes normally and its result is simply
//! not kept.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::media::pacer::G711;

/// Where a prompt comes from, as the cache identifies it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum SourceKey {
    /// A canonical path under the playback directory.
    File(PathBuf),
    /// An HTTP URL as parsed (normalised) by `Url`.
    Http(String),
}

/// A prompt slot: the cached value, if any, behind the loaders' lock.
pub(super) type Slot<T> = Arc<tokio::sync::Mutex<Option<T>>>;

#[derive(Debug)]
pub(super) struct Slots<T> {
    capacity: usize,
    table: Mutex<Table<T>>,
}

#[derive(Debug)]
struct Table<T> {
    /// Each slot with the tick of its last use.
    entries: HashMap<(SourceKey, u8), (Slot<T>, u64)>,
    tick: u64,
}

impl<T> Slots<T> {
    /// A table keeping at most `capacity` slots (0: none).
    pub(super) fn new(capacity: usize) -> Slots<T> {
        Slots {
            capacity,
            table: Mutex::new(Table {
                entries: HashMap::new(),
                tick: 0,
            }),
        }
    }

    /// The slot of `source` in `codec`, created empty if new; marks it used.
    pub(super) fn slot(&self, source: SourceKey, codec: G711) -> Slot<T> {
        if self.capacity == 0 {
            return Arc::new(tokio::sync::Mutex::new(None));
        }
        // The table is only touched for a few map operations, never across
        // an await; a panic while holding it cannot leave it inconsistent.
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        table.tick += 1;
        let tick = table.tick;
        let key = (source, codec.payload_type());
        if let Some((slot, used)) = table.entries.get_mut(&key) {
            *used = tick;
            return slot.clone();
        }
        if table.entries.len() >= self.capacity {
            let oldest = table
                .entries
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(key, _)| key.clone());
            if let Some(oldest) = oldest {
                table.entries.remove(&oldest);
            }
        }
        let slot = Slot::default();
        table.entries.insert(key, (slot.clone(), tick));
        slot
    }

    /// Number of prompts currently held.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.table
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entries
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> SourceKey {
        SourceKey::File(PathBuf::from(name))
    }

    #[test]
    fn same_source_and_law_share_a_slot_other_laws_do_not() {
        let slots = Slots::<u32>::new(4);
        let a = slots.slot(key("a"), G711::Pcmu);
        assert!(Arc::ptr_eq(&a, &slots.slot(key("a"), G711::Pcmu)));
        assert!(!Arc::ptr_eq(&a, &slots.slot(key("a"), G711::Pcma)));
        assert!(!Arc::ptr_eq(
            &a,
            &slots.slot(SourceKey::Http("a".into()), G711::Pcmu)
        ));
    }

    #[test]
    fn the_least_recently_used_slot_is_evicted() {
        let slots = Slots::<u32>::new(2);
        let a = slots.slot(key("a"), G711::Pcmu);
        let _b = slots.slot(key("b"), G711::Pcmu);
        slots.slot(key("a"), G711::Pcmu);
        slots.slot(key("c"), G711::Pcmu);
        assert_eq!(slots.len(), 2);
        assert!(Arc::ptr_eq(&a, &slots.slot(key("a"), G711::Pcmu)));
        // "b" was the oldest: a fresh slot now.
        let b_again = slots.slot(key("b"), G711::Pcmu);
        assert!(!Arc::ptr_eq(&_b, &b_again));
    }

    #[test]
    fn zero_capacity_keeps_nothing() {
        let slots = Slots::<u32>::new(0);
        let a = slots.slot(key("a"), G711::Pcmu);
        assert!(!Arc::ptr_eq(&a, &slots.slot(key("a"), G711::Pcmu)));
        assert_eq!(slots.len(), 0);
    }
}
