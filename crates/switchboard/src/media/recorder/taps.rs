//! A set of recorder taps fed from one point of the media path that more
//! than one thread reaches: everything sent toward a party (the pacer's
//! frames and the relay's packets from a joined call) or everything
//! received from it.
//!
//! The call adds and removes taps while the media path pushes, and several
//! recordings may run at once, so the set is a small list behind a mutex.
//! The media path never waits for it: [`TapSet::push`] reads one atomic
//! flag (the common case, no recording, ends there) and otherwise only
//! *tries* the lock; when the call happens to hold it at that moment the
//! frame is dropped and counted ([`TapSet::contended`]), exactly as a full
//! recorder queue drops one. The pushes themselves are
//! [`RecorderTap::push`]: no allocation, no syscall. The call's side takes
//! the lock normally; it waits at most for one push in progress.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError, TryLockError};
use std::time::Instant;

use super::RecorderTap;
use crate::media::pacer::G711;

/// One recording fed from the set.
#[derive(Debug)]
struct Entry {
    tap: RecorderTap,
    codec: G711,
    payload_type: u8,
}

/// Recorder taps fed from one point of the media path; see the module doc.
#[derive(Debug, Default)]
pub struct TapSet {
    active: AtomicBool,
    entries: Mutex<Vec<Entry>>,
    contended: AtomicU64,
}

impl TapSet {
    /// Feeds `tap` with this point's audio of `payload_type` (in `codec`).
    pub fn add(&self, tap: RecorderTap, codec: G711, payload_type: u8) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.push(Entry {
            tap,
            codec,
            payload_type,
        });
        self.active.store(true, Ordering::Release);
    }

    /// Stops feeding every tap of `recording` ([`RecorderTap::recording`]).
    pub fn remove(&self, recording: u64) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.retain(|e| e.tap.recording() != recording);
        self.active.store(!entries.is_empty(), Ordering::Release);
    }

    /// Whether no tap is fed.
    pub fn is_empty(&self) -> bool {
        !self.active.load(Ordering::Acquire)
    }

    /// Hands one packet's payload of `payload_type`, which arrived (or left)
    /// at `at`, to every tap that takes that payload type. Never waits,
    /// never allocates.
    pub fn push(&self, at: Instant, payload_type: u8, payload: &[u8]) {
        if !self.active.load(Ordering::Relaxed) {
            return;
        }
        let entries = match self.entries.try_lock() {
            Ok(entries) => entries,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => {
                self.contended.fetch_add(1, Ordering::Relaxed);
                return;
            }
        };
        for entry in entries.iter().filter(|e| e.payload_type == payload_type) {
            entry.tap.push(at, entry.codec, payload);
        }
    }

    /// Frames dropped because the call was changing the set at that moment.
    pub fn contended(&self) -> u64 {
        self.contended.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::recorder::{Channel, Layout, Recorder};

    #[test]
    fn taps_of_a_payload_type_are_fed_until_removed() {
        let dir = tempfile::tempdir().expect("temp dir");
        let t0 = Instant::now();
        let open = |name: &str| {
            Recorder::start_with(&dir.path().join(name), t0, Layout::Stereo, false).expect("start")
        };
        let (a, b) = (open("a.wav"), open("b.wav"));
        let set = TapSet::default();
        assert!(set.is_empty());
        set.push(t0, 0, &[0xff; 160]);
        set.add(a.tap(Channel::Left), G711::Pcmu, 0);
        set.add(b.tap(Channel::Right), G711::Pcmu, 8);
        assert!(!set.is_empty());
        set.push(t0, 0, &[0xff; 160]);
        set.remove(a.tap(Channel::Left).recording());
        set.push(t0, 0, &[0xff; 160]);
        set.push(t0, 8, &[0xd5; 160]);
        set.remove(b.tap(Channel::Left).recording());
        assert!(set.is_empty());
        let deadline = Instant::now() + std::time::Duration::from_secs(2);
        while a.frames_written() + b.frames_written() < 2 && Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!((a.frames_written(), b.frames_written()), (1, 1));
        assert_eq!(set.contended(), 0);
    }

    #[test]
    fn a_held_set_drops_instead_of_waiting() {
        let set = TapSet::default();
        let dir = tempfile::tempdir().expect("temp dir");
        let recorder =
            Recorder::start(&dir.path().join("held.wav"), Instant::now()).expect("start");
        set.add(recorder.tap(Channel::Left), G711::Pcmu, 0);
        let held = set.entries.lock().expect("lock");
        set.push(Instant::now(), 0, &[0xff; 160]);
        drop(held);
        assert_eq!(set.contended(), 1);
    }
}
