//! Rendered texts by what was asked for, least recently used out first.
//!
//! Like the prompt slots: each entry is an async mutex its first caller
//! holds while the engine runs, so later callers of the same text wait and
//! then find the audio in place (same key → one render). The table is
//! bounded in entries and in the bytes of audio held.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::media::pacer::{PromptFrames, G711};

/// What makes two renders the same.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct RenderKey {
    pub engine: String,
    pub voice: String,
    pub text: String,
    /// Speed and gain in thousandths, so that equal settings compare equal.
    pub rate_milli: i32,
    pub volume_milli_db: i32,
}

/// A finished render: the samples, and the frames in each law once asked.
#[derive(Debug, Default)]
pub(super) struct Rendered {
    pub pcm: Option<Arc<[i16]>>,
    pub pcmu: Option<PromptFrames>,
    pub pcma: Option<PromptFrames>,
}

impl Rendered {
    /// The frames in `codec`, encoded on first use.
    pub fn frames(&mut self, pcm: &[i16], codec: G711) -> PromptFrames {
        let held = match codec {
            G711::Pcmu => &mut self.pcmu,
            G711::Pcma => &mut self.pcma,
        };
        held.get_or_insert_with(|| PromptFrames::encode(pcm, codec))
            .clone()
    }
}

/// One entry: what its loader holds while rendering.
pub(super) type Slot = Arc<tokio::sync::Mutex<Rendered>>;

#[derive(Debug)]
pub(super) struct RenderCache {
    max_entries: usize,
    max_bytes: usize,
    table: Mutex<Table>,
}

#[derive(Debug, Default)]
struct Table {
    /// Each slot with its last use and the bytes it holds.
    entries: HashMap<RenderKey, (Slot, u64, usize)>,
    tick: u64,
    bytes: usize,
}

impl RenderCache {
    /// At most `max_entries` renders and about `max_bytes` of audio.
    pub fn new(max_entries: usize, max_bytes: usize) -> RenderCache {
        RenderCache {
            max_entries,
            max_bytes,
            table: Mutex::new(Table::default()),
        }
    }

    /// The slot of `key`, created empty if new; marks it used.
    pub fn slot(&self, key: &RenderKey) -> Slot {
        if self.max_entries == 0 {
            return Slot::default();
        }
        // Held for a few map operations, never across an await.
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        table.tick += 1;
        let tick = table.tick;
        if let Some((slot, used, _)) = table.entries.get_mut(key) {
            *used = tick;
            return slot.clone();
        }
        while table.entries.len() >= self.max_entries {
            if !table.evict_oldest(None) {
                break;
            }
        }
        let slot = Slot::default();
        table.entries.insert(key.clone(), (slot.clone(), tick, 0));
        slot
    }

    /// Records that `key` now holds `bytes` of audio, evicting the least
    /// recently used others while the total is over the bound.
    pub fn account(&self, key: &RenderKey, bytes: usize) {
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        let Some((_, _, held)) = table.entries.get_mut(key) else {
            return;
        };
        let before = std::mem::replace(held, bytes);
        table.bytes = table.bytes - before + bytes;
        while table.bytes > self.max_bytes {
            if !table.evict_oldest(Some(key)) {
                break;
            }
        }
    }

    /// Number of renders held.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.table
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entries
            .len()
    }
}

impl Table {
    /// Drops the least recently used entry other than `keep`; false when
    /// there is none.
    fn evict_oldest(&mut self, keep: Option<&RenderKey>) -> bool {
        let oldest = self
            .entries
            .iter()
            .filter(|(key, _)| Some(*key) != keep)
            .min_by_key(|(_, (_, used, _))| *used)
            .map(|(key, _)| key.clone());
        let Some(oldest) = oldest else {
            return false;
        };
        if let Some((_, _, bytes)) = self.entries.remove(&oldest) {
            self.bytes -= bytes;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> RenderKey {
        RenderKey {
            engine: "e".into(),
            voice: "v".into(),
            text: text.into(),
            rate_milli: 1000,
            volume_milli_db: 0,
        }
    }

    #[test]
    fn same_key_same_slot_and_any_difference_another() {
        let cache = RenderCache::new(8, 1 << 20);
        let a = cache.slot(&key("a"));
        assert!(Arc::ptr_eq(&a, &cache.slot(&key("a"))));
        let mut faster = key("a");
        faster.rate_milli = 1100;
        assert!(!Arc::ptr_eq(&a, &cache.slot(&faster)));
    }

    #[test]
    fn entries_and_bytes_are_bounded_oldest_out_first() {
        let cache = RenderCache::new(2, 100);
        let a = cache.slot(&key("a"));
        cache.slot(&key("b"));
        cache.slot(&key("a"));
        cache.slot(&key("c"));
        assert_eq!(cache.len(), 2);
        assert!(Arc::ptr_eq(&a, &cache.slot(&key("a"))), "b went, not a");
        cache.account(&key("a"), 60);
        cache.slot(&key("c"));
        cache.account(&key("c"), 60);
        assert_eq!(cache.len(), 1, "a evicted for the bytes");
        assert!(!Arc::ptr_eq(&a, &cache.slot(&key("a"))));
        // One render above the bound is still kept on its own.
        let cache = RenderCache::new(2, 10);
        cache.slot(&key("big"));
        cache.account(&key("big"), 50);
        assert_eq!(cache.len(), 1);
        let uncached = RenderCache::new(0, 10);
        assert!(!Arc::ptr_eq(
            &uncached.slot(&key("x")),
            &uncached.slot(&key("x"))
        ));
    }
}
